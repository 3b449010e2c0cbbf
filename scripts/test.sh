#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit, conformance, end to end
# through the real `hygge` binary). Installs what is missing. Used by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

# Toolchain components the checks need (rustup ships them; a minimal profile may not).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

# PostgreSQL for the postgres home/store tests (127.0.0.1:5432, user postgres, trust).
# Started if installed but stopped, installed from Debian's packages if missing. Those tests
# fail (never skip) when the server cannot be reached.
pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p 5432
  else
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}
ensure_postgres() {
  [[ -n "${HYGGE_TEST_PG:-}" ]] && return 0 # the caller points the tests at its own server
  pg_up && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "PostgreSQL is not installed: installing it from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  local version
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && return 0; sleep 1; done
  echo "PostgreSQL did not start on 127.0.0.1:5432; the postgres tests need it" >&2
  return 1
}
ensure_postgres

# pysqlbridge (PyPI, pure Python): a read-only SQL Server façade over CSV files that speaks
# real TDS with TLS, for the mssql home tests. Lives in a venv of its own (kept between
# runs); the tests find it through HYGGE_PYSQLBRIDGE and fail (never skip) without it.
PYSQLBRIDGE_VERSION=2.1.3
ensure_pysqlbridge() {
  [[ -n "${HYGGE_PYSQLBRIDGE:-}" ]] && return 0 # the caller points the tests at its own
  local venv="${HYGGE_TDS_VENV:-$HOME/.cache/hygge/venv-tds}"
  local bin="$venv/bin/pysqlbridge"
  if [[ ! -x "$bin" ]] || ! "$venv/bin/python" -c \
    "import importlib.metadata as m, sys; sys.exit(m.version('pysqlbridge') != '$PYSQLBRIDGE_VERSION')" \
    2>/dev/null; then
    echo "installing pysqlbridge==$PYSQLBRIDGE_VERSION into $venv" >&2
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then # no python3, or no venv/ensurepip
      echo "python3 -m venv failed: installing python3-venv from Debian's packages" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
      rm -rf "$venv"
      python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "pysqlbridge==$PYSQLBRIDGE_VERSION"
  fi
  "$bin" --help >/dev/null
  export HYGGE_PYSQLBRIDGE="$bin"
}
ensure_pysqlbridge

# Polars (PyPI), the original hygge's CSV/NDJSON reader: the reference of the differential
# tests (crates/hygge/tests/polars_differential.rs); with pyarrow and DuckDB, the readers
# the schema drift test reads an evolved Parquet folder with (schema_drift_e2e.rs). A venv
# of its own (kept between runs); the tests find its python through HYGGE_POLARS_PYTHON
# and fail (never skip) without it.
POLARS_VERSION=2.1.0
PYARROW_VERSION=26.0.1
PY_DUCKDB_VERSION=1.5.6
ensure_polars() {
  [[ -n "${HYGGE_POLARS_PYTHON:-}" ]] && return 0 # the caller points the tests at its own
  local venv="${HYGGE_POLARS_VENV:-$HOME/.cache/hygge/venv-polars}"
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c \
    "import importlib.metadata as m, sys; sys.exit(m.version('polars') != '$POLARS_VERSION' or m.version('pyarrow') != '$PYARROW_VERSION' or m.version('duckdb') != '$PY_DUCKDB_VERSION')" \
    2>/dev/null; then
    echo "installing polars==$POLARS_VERSION pyarrow==$PYARROW_VERSION duckdb==$PY_DUCKDB_VERSION into $venv" >&2
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then # no python3, or no venv/ensurepip
      echo "python3 -m venv failed: installing python3-venv from Debian's packages" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
      rm -rf "$venv"
      python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "polars==$POLARS_VERSION" \
      "pyarrow==$PYARROW_VERSION" "duckdb==$PY_DUCKDB_VERSION"
  fi
  "$venv/bin/python" -c "import polars, pyarrow, duckdb" >/dev/null
  export HYGGE_POLARS_PYTHON="$venv/bin/python"
}
ensure_polars

# The cloud store emulators, on 127.0.0.1: Azurite (npm) for Azure Blob / ADLS, a moto
# server (PyPI) for S3. Installed under ~/.cache/hygge (kept between runs), started when not
# already listening, and stopped when this script exits (only what it started). The tests
# find them through HYGGE_TEST_AZURITE and HYGGE_TEST_S3 and fail (never skip) without them.
# No GCS emulator supports object_store's XML API: the gcs store has unit tests only.
AZURITE_VERSION=3.35.0
MOTO_VERSION=5.2.5
AZURITE_PORT="${HYGGE_AZURITE_PORT:-10000}"
MOTO_PORT="${HYGGE_MOTO_PORT:-5055}"
EMULATOR_PIDS=()
stop_emulators() {
  for pid in "${EMULATOR_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_emulators EXIT
port_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 60); do port_up "$1" && return 0; sleep 0.5; done
  echo "$2 did not start on 127.0.0.1:$1 (log: $3)" >&2
  cat "$3" >&2 || true
  return 1
}
ensure_azurite() {
  [[ -n "${HYGGE_TEST_AZURITE:-}" ]] && return 0 # the caller points the tests at its own
  export HYGGE_TEST_AZURITE="http://127.0.0.1:$AZURITE_PORT/devstoreaccount1"
  port_up "$AZURITE_PORT" && return 0
  local dir="${HYGGE_AZURITE_DIR:-$HOME/.cache/hygge/azurite}"
  local bin="$dir/node_modules/.bin/azurite-blob"
  if [[ ! -x "$bin" ]] || [[ "$(node -p "require('$dir/node_modules/azurite/package.json').version" 2>/dev/null)" != "$AZURITE_VERSION" ]]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "npm is missing: installing nodejs and npm from Debian's packages" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
    fi
    echo "installing azurite@$AZURITE_VERSION into $dir" >&2
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --silent "azurite@$AZURITE_VERSION" >/dev/null)
  fi
  local log="${TMPDIR:-/tmp}/hygge-azurite.log"
  # --disableTelemetry: no outbound traffic; in memory: nothing left between runs.
  "$bin" --silent --inMemoryPersistence --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" \
    --skipApiVersionCheck --loose --disableTelemetry >"$log" 2>&1 &
  EMULATOR_PIDS+=("$!")
  wait_port "$AZURITE_PORT" Azurite "$log"
}
ensure_moto() {
  [[ -n "${HYGGE_TEST_S3:-}" ]] && return 0 # the caller points the tests at its own
  export HYGGE_TEST_S3="http://127.0.0.1:$MOTO_PORT"
  port_up "$MOTO_PORT" && return 0
  local venv="${HYGGE_MOTO_VENV:-$HOME/.cache/hygge/venv-moto}"
  if [[ ! -x "$venv/bin/moto_server" ]] || ! "$venv/bin/python" -c \
    "import importlib.metadata as m, sys; sys.exit(m.version('moto') != '$MOTO_VERSION')" \
    2>/dev/null; then
    echo "installing moto[server]==$MOTO_VERSION into $venv" >&2
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
      rm -rf "$venv"
      python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  local log="${TMPDIR:-/tmp}/hygge-moto.log"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$log" 2>&1 &
  EMULATOR_PIDS+=("$!")
  wait_port "$MOTO_PORT" "The moto S3 server" "$log"
}
ensure_azurite
ensure_moto

# The in-process TDS test server (mssql-mock-tds) builds against OpenSSL, and its TLS tests
# make a certificate with the openssl command.
if ! dpkg -s libssl-dev pkg-config openssl >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config openssl >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The connectors are features that really compile off: a files-only hygge builds.
cargo check -p hygge --no-default-features --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

# The live SQL Server tests are #[ignore]d (no SQL Server can run here): run them where one
# is set, and say plainly that they did not run otherwise.
if [[ -n "${MSSQL_TEST_CONNECTION_STRING:-}" ]]; then
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast --run-ignored only \
      -E 'test(/live/) & !test(/gcs_live|s3_live|azure_live|open_mirroring_live/)'
  else
    cargo test --workspace --locked --no-fail-fast -- --ignored live \
      --skip gcs_live --skip s3_live --skip azure_live --skip open_mirroring_live
  fi
else
  echo "SKIPPED: the live SQL Server tests (crates/hygge/tests/mssql_live.rs and the mssql store conformance suite, #[ignore]d) need MSSQL_TEST_CONNECTION_STRING; they did not run" >&2
fi

# The live GCS store test is #[ignore]d (no GCS emulator works with object_store here).
if [[ -n "${HYGGE_TEST_GCS_BUCKET:-}" ]]; then
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run -p hygge-connectors --locked --no-fail-fast --run-ignored only -E 'test(/gcs_live/)'
  else
    cargo test -p hygge-connectors --locked --no-fail-fast -- --ignored gcs_live
  fi
else
  echo "SKIPPED: the live GCS store test (crates/hygge-connectors/tests/cloud_store_conformance.rs, gcs_live, #[ignore]d) needs HYGGE_TEST_GCS_BUCKET and Google credentials; it did not run" >&2
fi

# The live S3 and Azure Storage suites (store and home conformance on a real account) are
# #[ignore]d like the GCS one: run where their variables are set, SKIPPED otherwise.
run_live() { # <env var> <test name> <what it needs>
  if [[ -n "${!1:-}" ]]; then
    if cargo nextest --version >/dev/null 2>&1; then
      cargo nextest run -p hygge-connectors --locked --no-fail-fast --run-ignored only -E "test(/$2/)"
    else
      cargo test -p hygge-connectors --locked --no-fail-fast -- --ignored "$2"
    fi
  else
    echo "SKIPPED: the live $2 suites (crates/hygge-connectors/tests/cloud_store_conformance.rs, #[ignore]d) need $3; they did not run" >&2
  fi
}
run_live HYGGE_TEST_S3_LIVE_BUCKET s3_live "HYGGE_TEST_S3_LIVE_BUCKET and AWS credentials"
run_live HYGGE_TEST_AZURE_ACCOUNT_URL azure_live "HYGGE_TEST_AZURE_ACCOUNT_URL, HYGGE_TEST_AZURE_CONTAINER and Azure credentials"

# The live Open Mirroring test (#[ignore]d: it needs a Fabric mirrored database).
if [[ -n "${HYGGE_TEST_OPEN_MIRRORING_MIRROR:-}" ]]; then
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run -p hygge --locked --no-fail-fast --run-ignored only -E 'test(/open_mirroring_live/)'
  else
    cargo test -p hygge --locked --no-fail-fast --test open_mirroring_e2e -- --ignored open_mirroring_live
  fi
else
  echo "SKIPPED: the live Open Mirroring test (crates/hygge/tests/open_mirroring_e2e.rs, open_mirroring_live, #[ignore]d) needs HYGGE_TEST_OPEN_MIRRORING_WORKSPACE, HYGGE_TEST_OPEN_MIRRORING_MIRROR and Azure credentials; it did not run" >&2
fi
