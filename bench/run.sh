#!/usr/bin/env bash
# The hygge benchmark, from a fresh machine to bench/RESULTS.md in one command.
#
#   bash bench/run.sh                        # 10M rows: hygge vs DuckDB, Polars, pyarrow
#   ROWS=1000000 RUNS=1 bash bench/run.sh    # quick check
#   SCALE=100 bash bench/run.sh              # hygge alone on 10M and 100M rows (peak RSS)
#
# Environment:
#   ROWS      rows of the comparison data set (default 10000000)
#   RUNS      measured runs per tool (default 3); WARMUP warm-up rounds (default 1)
#   TOOLS     comma-separated subset of hygge,hygge_nofsync,hygge_reencode,duckdb,polars,pyarrow
#             (compare mode; hygge_reencode: `copy_row_groups: false`, every value decoded)
#   SCALE     millions of rows for the scale mode (SCALE=100: 100,000,000 rows); in that
#             mode only hygge runs, on ROWS rows and on SCALE million rows, same invocation
#   SCALE_ROWS  the scale data set's rows exactly (instead of SCALE)
#   SKIP_BUILD=1  use the existing target/release/hygge
#   HYGGE_FILE_ROWS, HYGGE_READ_BATCH, HYGGE_ROW_GROUP, HYGGE_CONCURRENCY  hygge project
#             knobs: store batch_size, home batch_size, store row_group_size, concurrency
#   PYTHON    the interpreter that creates the venv (default python3)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
ROWS="${ROWS:-10000000}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-1}"
TOOLS="${TOOLS:-hygge,hygge_nofsync,hygge_reencode,duckdb,polars,pyarrow}"
SCALE="${SCALE:-}"
SCALE_ROWS="${SCALE_ROWS:-}"
if [[ -n "$SCALE" && -z "$SCALE_ROWS" ]]; then SCALE_ROWS=$((SCALE * 1000000)); fi
VENV="$BENCH/.venv"
PY="$VENV/bin/python"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
HYGGE="$TARGET_DIR/release/hygge"

say() { printf '\n== %s\n' "$*" >&2; }

# 1. Python environment -----------------------------------------------------------------
if [[ ! -x "$PY" ]]; then
  say "creating $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
if ! "$PY" -c 'import polars, duckdb, pyarrow, numpy' 2>/dev/null; then
  say "installing polars duckdb pyarrow numpy into $VENV"
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet polars duckdb pyarrow numpy
fi
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is needed (apt-get install time)" >&2; exit 1; }

# 2. hygge ------------------------------------------------------------------------------
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  say "building hygge (release)"
  (cd "$ROOT" && cargo build --release -p hygge --locked)
fi
[[ -x "$HYGGE" ]] || { echo "no hygge binary at $HYGGE" >&2; exit 1; }
"$HYGGE" --version >&2

# 3. data -------------------------------------------------------------------------------
# A data set is generated once and kept: bench/data/rows_<N>/ (gitignored).
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

# 4. runs -------------------------------------------------------------------------------
status=0
if [[ -n "$SCALE_ROWS" ]]; then
  ensure_data "$ROWS"; small="$DATA_DIR"
  ensure_data "$SCALE_ROWS"; big="$DATA_DIR"
  say "scale: hygge on $ROWS and $SCALE_ROWS rows, $WARMUP warm-up + $RUNS runs each"
  "$PY" "$BENCH/bench.py" --mode scale --data "$small" --data "$big" --tools hygge \
    --runs "$RUNS" --warmup "$WARMUP" --hygge-bin "$HYGGE" >/dev/null || status=$?
else
  ensure_data "$ROWS"
  say "compare: $TOOLS on $ROWS rows, $WARMUP warm-up + $RUNS runs each"
  "$PY" "$BENCH/bench.py" --mode compare --data "$DATA_DIR" --tools "$TOOLS" \
    --runs "$RUNS" --warmup "$WARMUP" --hygge-bin "$HYGGE" >/dev/null || status=$?
fi
if [[ "$status" -ne 0 && "$status" -ne 3 ]]; then  # 3: ran, but some runs failed
  echo "bench.py crashed (exit $status)" >&2
  exit "$status"
fi

# 5. report -----------------------------------------------------------------------------
say "report"
"$PY" "$BENCH/report.py" >/dev/null
cat "$BENCH/RESULTS.md"
if [[ "$status" -ne 0 ]]; then
  echo "some runs FAILED (see above and bench/out/logs/)" >&2
fi
exit "$status"
