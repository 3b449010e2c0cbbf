#!/usr/bin/env bash
# The SQLite benchmark, from a fresh machine to bench/RESULTS.md in one command: Parquet ->
# SQLite, hygge vs the sqlite3 shell importing the same rows as CSV.
#
#   bash bench/run_sqlite.sh                     # 10M rows
#   ROWS=1000000 RUNS=1 bash bench/run_sqlite.sh # quick check
#
# Environment:
#   ROWS, RUNS (3), WARMUP (1), SKIP_BUILD=1, PYTHON, HYGGE_BIN   as in run.sh
#   HYGGE_CONCURRENCY   hygge's concurrency (default 4)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
ROWS="${ROWS:-10000000}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-1}"
VENV="$BENCH/.venv"
PY="$VENV/bin/python"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
HYGGE="${HYGGE_BIN:-$TARGET_DIR/release/hygge}"
[[ -n "${HYGGE_BIN:-}" ]] && SKIP_BUILD=1

say() { printf '\n== %s\n' "$*" >&2; }

# 1. tools --------------------------------------------------------------------------------
if [[ ! -x "$PY" ]]; then
  say "creating $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
if ! "$PY" -c "import pyarrow, numpy" 2>/dev/null; then
  say "installing pyarrow numpy into $VENV"
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet pyarrow numpy
fi
if ! command -v sqlite3 >/dev/null || [[ ! -x /usr/bin/time ]]; then
  say "installing sqlite3 and time (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq sqlite3 time >/dev/null
fi

# 2. hygge --------------------------------------------------------------------------------
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  say "building hygge (release)"
  (cd "$ROOT" && cargo build --release -p hygge --locked)
fi
"$HYGGE" --version >&2

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
say "SQLite: $ROWS rows, $WARMUP warm-up + $RUNS runs each"
"$PY" "$BENCH/bench_sqlite.py" --data "$DATA_DIR" --runs "$RUNS" --warmup "$WARMUP" \
  --hygge-bin "$HYGGE" --sqlite3 "$(command -v sqlite3)" >/dev/null || status=$?
if [[ "$status" -ne 0 && "$status" -ne 3 ]]; then
  echo "bench_sqlite.py crashed (exit $status)" >&2
  exit "$status"
fi

# 5. report ---------------------------------------------------------------------------------
say "report"
"$PY" "$BENCH/report.py" >/dev/null
cat "$BENCH/RESULTS.md"
[[ "$status" -ne 0 ]] && echo "some runs FAILED (see above and bench/out/logs/)" >&2
exit "$status"
