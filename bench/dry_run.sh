#!/usr/bin/env bash
# How long `hygge go --dry-run` takes on a generated project of many entities
# (default 200, in entity files merged over defaults). Writes bench/DRYRUN.md.
#
#   bash bench/dry_run.sh            # 200 entities, 10 runs
#   ENTITIES=1000 bash bench/dry_run.sh
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
ENTITIES="${ENTITIES:-200}"
RUNS="${RUNS:-10}"
HYGGE="${CARGO_TARGET_DIR:-$ROOT/target}/release/hygge"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  (cd "$ROOT" && cargo build --release -p hygge --locked)
fi
P="$BENCH/out/dry_run_$ENTITIES"
rm -rf "$P"
mkdir -p "$P/flows/many/entities"
printf 'name: dry_run\noptions:\n  concurrency: 8\n' > "$P/hygge.yml"
cat > "$P/flows/many/flow.yml" <<'YML'
home:
  type: parquet
  path: ${SRC:-data/source}
store:
  type: parquet
  path: ${DST:-data/lake}
  compression: zstd
run_type: full_drop
defaults:
  batch_size: 50000
YML
for i in $(seq 1 "$ENTITIES"); do
  printf 'name: table_%04d\nstore:\n  compression: snappy\n' "$i" > "$P/flows/many/entities/table_$(printf %04d "$i").yml"
done
"$HYGGE" go --project-dir "$P" --dry-run > /dev/null  # warm the page cache
times=()
for _ in $(seq 1 "$RUNS"); do
  s=$(date +%s.%N)
  "$HYGGE" go --project-dir "$P" --dry-run > /dev/null
  e=$(date +%s.%N)
  times+=("$(echo "$e - $s" | bc -l)")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
{
  echo "# hygge go --dry-run on a project of $ENTITIES entities"
  echo
  echo "Written $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/dry_run.sh\` ($(nproc) cores, $("$HYGGE" --version))."
  echo
  echo "One flow, $ENTITIES entity files merged over \`defaults\`, \`\${VAR:-default}\` paths;"
  echo "whole-process wall time of \`hygge go --dry-run\` (validation of every file and the plan),"
  echo "$RUNS runs after one warm-up."
  echo
  echo "| entities | median s | min s | max s |"
  echo "|---:|---:|---:|---:|"
  printf '| %d | %.3f | %.3f | %.3f |\n' "$ENTITIES" "$median" \
    "$(printf '%s\n' "${times[@]}" | sort -n | head -1)" "$(printf '%s\n' "${times[@]}" | sort -n | tail -1)"
} > "$BENCH/DRYRUN.md"
cat "$BENCH/DRYRUN.md"
