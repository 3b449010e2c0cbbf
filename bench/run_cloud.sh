#!/usr/bin/env bash
# The cloud object storage benchmark, from a fresh machine to bench/RESULTS.md in one command:
# Parquet -> Azurite (Azure Blob) and Parquet -> moto (S3), hygge vs Polars and DuckDB
# writing the same data to the same server, plus hygge alone on a smaller data set (peak RSS
# must not grow with the data).
#
#   bash bench/run_cloud.sh                        # 10M rows (and 2.5M for the scale check)
#   ROWS=1000000 SCALE_ROWS=250000 RUNS=1 bash bench/run_cloud.sh   # quick check
#   TARGETS=s3 TOOLS=hygge,polars bash bench/run_cloud.sh
#
# Starts its own Azurite and moto server (installed as scripts/test.sh installs them, under
# ~/.cache/hygge) on 127.0.0.1:$AZURITE_PORT and :$MOTO_PORT, in memory, and stops them on
# exit. Both run on this machine: their CPU is part of every tool's run alike.
#
# Environment:
#   ROWS, RUNS (3), WARMUP (1), SKIP_BUILD=1, PYTHON, HYGGE_BIN   as in run.sh / run_pg.sh
#   SCALE_ROWS    rows of the scale check's data set (default ROWS/4; 0: no scale check)
#   TARGETS       azurite,s3 (default both)
#   TOOLS         subset of hygge,polars,duckdb (default all)
#   AZURITE_PORT (10300), MOTO_PORT (5300)
#   HYGGE_FILE_ROWS, HYGGE_CONCURRENCY   hygge's project: store batch_size (default: one file
#                 per entity), concurrency (default 4)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
ROWS="${ROWS:-10000000}"
SCALE_ROWS="${SCALE_ROWS:-$((ROWS / 4))}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-1}"
TARGETS="${TARGETS:-azurite,s3}"
TOOLS="${TOOLS:-hygge,polars,duckdb}"
AZURITE_PORT="${AZURITE_PORT:-10300}"
MOTO_PORT="${MOTO_PORT:-5300}"
AZURITE_VERSION=3.35.0
MOTO_VERSION=5.2.5
# DuckDB cannot download its httpfs and azure extensions here; PyPI ships them for DuckDB
# <= 1.5.5, so the cloud peers get their own venv with this DuckDB.
DUCKDB_CLOUD_VERSION="${DUCKDB_CLOUD_VERSION:-1.5.5}"
VENV="$BENCH/.venv-cloud"
PY="$VENV/bin/python"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
HYGGE="${HYGGE_BIN:-$TARGET_DIR/release/hygge}"
[[ -n "${HYGGE_BIN:-}" ]] && SKIP_BUILD=1

say() { printf '\n== %s\n' "$*" >&2; }

# 1. Python environment -----------------------------------------------------------------
if [[ ! -x "$PY" ]]; then
  say "creating $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
if ! "$PY" -c "
import duckdb, duckdb_extension_httpfs, duckdb_extension_azure, polars, pyarrow, numpy, azure.storage.blob, sys
sys.exit(duckdb.__version__ != '$DUCKDB_CLOUD_VERSION')" 2>/dev/null; then
  say "installing polars, pyarrow, numpy, azure-storage-blob, duckdb==$DUCKDB_CLOUD_VERSION and its httpfs and azure extensions into $VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check polars pyarrow numpy azure-storage-blob \
    "duckdb==$DUCKDB_CLOUD_VERSION" "duckdb-extension-httpfs==$DUCKDB_CLOUD_VERSION" \
    "duckdb-extension-azure==$DUCKDB_CLOUD_VERSION"
fi
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is needed (apt-get install time)" >&2; exit 1; }

# 2. the emulators (ours, on our own ports; stopped on exit) -------------------------------
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
mkdir -p "$BENCH/out/logs"
AZURITE_PID=""
MOTO_PID=""
if [[ ",$TARGETS," == *,azurite,* ]]; then
  port_up "$AZURITE_PORT" && { echo "port $AZURITE_PORT is taken: set AZURITE_PORT" >&2; exit 1; }
  dir="${HYGGE_AZURITE_DIR:-$HOME/.cache/hygge/azurite}"
  if [[ ! -x "$dir/node_modules/.bin/azurite-blob" ]]; then
    say "installing azurite@$AZURITE_VERSION into $dir"
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --silent "azurite@$AZURITE_VERSION" >/dev/null)
  fi
  log="$BENCH/out/logs/cloud_azurite.log"
  # In memory (as the tests run it), no telemetry (no outbound traffic).
  "$dir/node_modules/.bin/azurite-blob" --silent --inMemoryPersistence --blobHost 127.0.0.1 \
    --blobPort "$AZURITE_PORT" --skipApiVersionCheck --loose --disableTelemetry >"$log" 2>&1 &
  AZURITE_PID=$!
  EMULATOR_PIDS+=("$AZURITE_PID")
  wait_port "$AZURITE_PORT" Azurite "$log"
fi
if [[ ",$TARGETS," == *,s3,* ]]; then
  port_up "$MOTO_PORT" && { echo "port $MOTO_PORT is taken: set MOTO_PORT" >&2; exit 1; }
  venv="${HYGGE_MOTO_VENV:-$HOME/.cache/hygge/venv-moto}"
  if [[ ! -x "$venv/bin/moto_server" ]]; then
    say "installing moto[server]==$MOTO_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  log="$BENCH/out/logs/cloud_moto.log"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$log" 2>&1 &
  MOTO_PID=$!
  EMULATOR_PIDS+=("$MOTO_PID")
  wait_port "$MOTO_PORT" "The moto S3 server" "$log"
fi

# 3. hygge ------------------------------------------------------------------------------
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  say "building hygge (release)"
  (cd "$ROOT" && cargo build --release -p hygge --locked)
fi
if [[ -x "$HYGGE" ]]; then
  "$HYGGE" --version >&2
else
  echo "WARNING: no hygge binary at $HYGGE: its runs will be reported as failed" >&2
fi

# 4. data -------------------------------------------------------------------------------
ensure_data() {
  local rows="$1" dir="$BENCH/data/rows_$1"
  if [[ -f "$dir/_manifest.json" ]] &&
     "$PY" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["rows"] != int(sys.argv[2]))' \
       "$dir/_manifest.json" "$rows"; then
    echo "  data: $dir (exists)" >&2
  else
    say "generating $rows rows into $dir"
    "$PY" "$BENCH/generate.py" --rows "$rows" --out "$dir"
  fi
  DATA_DIR="$dir"
}
ensure_data "$ROWS"; data="$DATA_DIR"
scale_args=()
if [[ "$SCALE_ROWS" -gt 0 && "$SCALE_ROWS" -ne "$ROWS" ]]; then
  ensure_data "$SCALE_ROWS"; scale_args=(--scale-data "$DATA_DIR")
fi

# 5. runs -------------------------------------------------------------------------------
status=0
say "cloud: $TOOLS → $TARGETS on $ROWS rows (hygge also on $SCALE_ROWS), $WARMUP warm-up + $RUNS runs each"
"$PY" "$BENCH/bench_cloud.py" --data "$data" "${scale_args[@]}" --targets "$TARGETS" --tools "$TOOLS" \
  --runs "$RUNS" --warmup "$WARMUP" --hygge-bin "$HYGGE" \
  --azurite-url "http://127.0.0.1:$AZURITE_PORT/devstoreaccount1" --s3-endpoint "http://127.0.0.1:$MOTO_PORT" \
  ${AZURITE_PID:+--azurite-pid "$AZURITE_PID"} ${MOTO_PID:+--moto-pid "$MOTO_PID"} >/dev/null || status=$?
if [[ "$status" -ne 0 && "$status" -ne 3 ]]; then  # 3: ran, but some runs failed
  echo "bench_cloud.py crashed (exit $status)" >&2
  exit "$status"
fi

# 6. report (the newest Parquet -> Parquet, scale, PostgreSQL and cloud results) -----------
say "report"
"$PY" "$BENCH/report.py" >/dev/null
cat "$BENCH/RESULTS.md"
if [[ "$status" -ne 0 ]]; then
  echo "some runs FAILED (see above and bench/out/logs/)" >&2
fi
exit "$status"
