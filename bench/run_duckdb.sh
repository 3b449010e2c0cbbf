#!/usr/bin/env bash
# The DuckDB benchmark, from a fresh machine to bench/RESULTS.md in one command: Parquet ->
# DuckDB and DuckDB -> Parquet, hygge vs DuckDB itself (the Python duckdb package).
#
#   bash bench/run_duckdb.sh                     # 10M rows, both scenarios
#   ROWS=1000000 RUNS=1 bash bench/run_duckdb.sh # quick check
#   SCENARIOS=export bash bench/run_duckdb.sh    # DuckDB -> Parquet only (or SCENARIOS=load)
#
# Environment:
#   ROWS, RUNS (3), WARMUP (1), SKIP_BUILD=1, PYTHON, HYGGE_BIN   as in run.sh
#   SCENARIOS        comma-separated subset of load,export (default both)
#   TOOLS            comma-separated subset of hygge,duckdb (default both; without hygge
#                    nothing is built)
#   HYGGE_CONCURRENCY   hygge's concurrency (default 4)
#   HYGGE_FILE_ROWS     export: hygge's store batch_size (default: rows per entity, one file)
#   HYGGE_READ_BATCH    export: the duckdb home's batch_size (default: the home's own)
#   DUCKDB_VERSION      the duckdb package (default 1.5.6, the DuckDB bundled in hygge)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
ROWS="${ROWS:-10000000}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-1}"
SCENARIOS="${SCENARIOS:-load,export}"
TOOLS="${TOOLS:-hygge,duckdb}"
# The peer is the DuckDB that hygge bundles (duckdb-rs, DuckDB 1.5.6), so both sides run
# the same engine and read each other's files. bench/.venv keeps the newest DuckDB for
# run.sh's Parquet -> Parquet comparison, so this pin gets a venv of its own.
DUCKDB_VERSION="${DUCKDB_VERSION:-1.5.6}"
VENV="$BENCH/.venv-duckdb"
PY="$VENV/bin/python"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
HYGGE="${HYGGE_BIN:-$TARGET_DIR/release/hygge}"
[[ -n "${HYGGE_BIN:-}" ]] && SKIP_BUILD=1
[[ ",$TOOLS," != *,hygge,* ]] && SKIP_BUILD=1

say() { printf '\n== %s\n' "$*" >&2; }

# 1. tools --------------------------------------------------------------------------------
if [[ ! -x "$PY" ]]; then
  say "creating $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
if ! "$PY" -c "import sys, duckdb, pyarrow, numpy
sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
  say "installing duckdb==$DUCKDB_VERSION pyarrow numpy into $VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$PY" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION" pyarrow numpy
fi
if [[ ! -x /usr/bin/time ]]; then
  say "installing time (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

# 2. hygge --------------------------------------------------------------------------------
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  say "building hygge (release)"
  (cd "$ROOT" && cargo build --release -p hygge --locked)
fi
if [[ ",$TOOLS," == *,hygge,* ]]; then
  "$HYGGE" --version >&2
fi

# 3. data ---------------------------------------------------------------------------------
DATA_DIR="$BENCH/data/rows_$ROWS"
if [[ -f "$DATA_DIR/_manifest.json" ]] &&
   "$PY" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["rows"] != int(sys.argv[2]))' \
     "$DATA_DIR/_manifest.json" "$ROWS"; then
  echo "  data: $DATA_DIR (exists)" >&2
else
  say "generating $ROWS rows into $DATA_DIR"
  "$PY" "$BENCH/generate.py" --rows "$ROWS" --out "$DATA_DIR"
fi

# 4. runs -----------------------------------------------------------------------------------
status=0
say "DuckDB ($SCENARIOS): $ROWS rows, $WARMUP warm-up + $RUNS runs each"
"$PY" "$BENCH/bench_duckdb.py" --data "$DATA_DIR" --runs "$RUNS" --warmup "$WARMUP" \
  --scenarios "$SCENARIOS" --tools "$TOOLS" --hygge-bin "$HYGGE" >/dev/null || status=$?
if [[ "$status" -ne 0 && "$status" -ne 3 ]]; then
  echo "bench_duckdb.py crashed (exit $status)" >&2
  exit "$status"
fi

# 5. report ---------------------------------------------------------------------------------
say "report"
"$PY" "$BENCH/report.py" >/dev/null
cat "$BENCH/RESULTS.md"
[[ "$status" -ne 0 ]] && echo "some runs FAILED (see above and bench/out/logs/)" >&2
exit "$status"
