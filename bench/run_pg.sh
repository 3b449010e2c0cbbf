#!/usr/bin/env bash
# The PostgreSQL benchmark, from a fresh machine to bench/RESULTS.md in one command:
# PostgreSQL -> Parquet and Parquet -> PostgreSQL, hygge vs DuckDB's postgres extension,
# ConnectorX (read) and psql's raw binary COPY (one stream, the single-stream limit).
#
#   bash bench/run_pg.sh                          # 10M rows, both scenarios
#   ROWS=1000000 RUNS=1 bash bench/run_pg.sh      # quick check
#   SCENARIOS=read bash bench/run_pg.sh           # PostgreSQL -> Parquet only
#
# Needs PostgreSQL reachable with psql (default 127.0.0.1:5432, user postgres, no password);
# the benchmark uses the database hygge_bench only (created if missing): public.<entity> as
# the source (loaded once), and one schema <tool>_out per writing tool.
#
# Environment:
#   ROWS, RUNS (3), WARMUP (1), SKIP_BUILD=1, PYTHON   as in run.sh
#   HYGGE_BIN     a hygge binary built elsewhere (e.g. a clean checkout of a commit); no build
#   SCENARIOS     read,write (default both)
#   READ_TOOLS    subset of hygge,hygge_nofsync,duckdb,connectorx,psql (default all)
#   WRITE_TOOLS   subset of hygge,duckdb,psql (default all)
#   PG_HOST, PG_PORT, PG_USER, PG_DB   the server and database (127.0.0.1, 5432, postgres, hygge_bench)
#   PG_SSLMODE    every tool's sslmode (default disable: no TLS on the local connection;
#                 prefer or require to measure with TLS)
#   HYGGE_PG_POOL (4), HYGGE_PG_BATCH (home default), HYGGE_CONCURRENCY (4), HYGGE_FILE_ROWS
#                 hygge's project: connection pool_size, home/store batch_size, concurrency,
#                 Parquet store batch_size (default: one file per entity)
#   CX_PARTITIONS ConnectorX partition_num on id (default 1: one query per table, no partitioning)
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
ROWS="${ROWS:-10000000}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-1}"
SCENARIOS="${SCENARIOS:-read,write}"
READ_TOOLS="${READ_TOOLS:-hygge,hygge_nofsync,duckdb,connectorx,psql}"
WRITE_TOOLS="${WRITE_TOOLS:-hygge,duckdb,psql}"
export CX_PARTITIONS="${CX_PARTITIONS:-1}"
# DuckDB's postgres extension cannot be downloaded here; PyPI ships it for DuckDB <= 1.5.5
# only, so the PostgreSQL peers get their own venv, with this DuckDB (the Parquet -> Parquet
# benchmark's bench/.venv keeps the newest DuckDB).
DUCKDB_PG_VERSION="${DUCKDB_PG_VERSION:-1.5.5}"
VENV="$BENCH/.venv-pg"
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
import duckdb, duckdb_extension_postgres_scanner, connectorx, pyarrow, numpy, sys
sys.exit(duckdb.__version__ != '$DUCKDB_PG_VERSION')" 2>/dev/null; then
  say "installing duckdb==$DUCKDB_PG_VERSION and its postgres extension, connectorx, pyarrow, numpy into $VENV"
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet "duckdb==$DUCKDB_PG_VERSION" \
    "duckdb-extension-postgres-scanner==$DUCKDB_PG_VERSION" connectorx pyarrow numpy
fi
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is needed (apt-get install time)" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is needed (apt-get install postgresql-client)" >&2; exit 1; }
PGSSLMODE="${PG_SSLMODE:-disable}" psql -X -h "${PG_HOST:-127.0.0.1}" -p "${PG_PORT:-5432}" -U "${PG_USER:-postgres}" -d postgres \
  -tAc 'SELECT 1' >/dev/null || { echo "PostgreSQL is not reachable (PG_HOST, PG_PORT, PG_USER)" >&2; exit 1; }

# 2. hygge ------------------------------------------------------------------------------
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  say "building hygge (release)"
  (cd "$ROOT" && cargo build --release -p hygge --locked)
fi
if [[ -x "$HYGGE" ]]; then
  "$HYGGE" --version >&2
else
  echo "WARNING: no hygge binary at $HYGGE: its runs will be reported as failed" >&2
fi

# 3. data -------------------------------------------------------------------------------
DATA_DIR="$BENCH/data/rows_$ROWS"
if [[ -f "$DATA_DIR/_manifest.json" ]] &&
   "$PY" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["rows"] != int(sys.argv[2]))' \
     "$DATA_DIR/_manifest.json" "$ROWS"; then
  echo "  data: $DATA_DIR (exists)" >&2
else
  say "generating $ROWS rows into $DATA_DIR"
  "$PY" "$BENCH/generate.py" --rows "$ROWS" --out "$DATA_DIR"
fi

# 4. runs (bench_pg.py loads the data set into PostgreSQL first, when not there yet) -------
status=0
say "PostgreSQL: $SCENARIOS on $ROWS rows, $WARMUP warm-up + $RUNS runs each"
"$PY" "$BENCH/bench_pg.py" --data "$DATA_DIR" --scenarios "$SCENARIOS" \
  --read-tools "$READ_TOOLS" --write-tools "$WRITE_TOOLS" \
  --runs "$RUNS" --warmup "$WARMUP" --hygge-bin "$HYGGE" >/dev/null || status=$?
if [[ "$status" -ne 0 && "$status" -ne 3 ]]; then  # 3: ran, but some runs failed
  echo "bench_pg.py crashed (exit $status)" >&2
  exit "$status"
fi

# 5. report (the newest Parquet -> Parquet, scale and PostgreSQL results) ------------------
say "report"
"$PY" "$BENCH/report.py" >/dev/null
cat "$BENCH/RESULTS.md"
if [[ "$status" -ne 0 ]]; then
  echo "some runs FAILED (see above and bench/out/logs/)" >&2
fi
exit "$status"
