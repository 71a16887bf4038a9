#!/usr/bin/env bash
# Folds side by side or one after another? `mlp cv` on T threads either trains T folds at once,
# one thread each (--jobs T, the default), or one fold at a time on all T threads (--jobs 1).
# This measures both for a small and a bigger net and checks that they print the same scores.
#
#   bench/cv_parallel.sh [RUNS] [THREADS]      (defaults 3 and 2; prints the median wall time)
#
# The figures in BENCHMARKS.md ("Cross-validation: folds in parallel") come from this script.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS="${1:-3}" THREADS="${2:-2}"
cargo build --release -q -p mlp-cli
MLP="$ROOT/target/release/mlp"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

small=(--data 'builtin:circles?n=20000&noise=0.15' --layers 16:relu,2:softmax --epochs 50 --batch-size 32)
big=(--data 'builtin:spirals?n=8000' --layers 256:relu,256:relu,2:softmax --epochs 12 --batch-size 128)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run() { # name jobs args...
  local name=$1 jobs=$2; shift 2
  local times=()
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$MLP" cv "$@" --folds 4 --threads "$THREADS" --jobs "$jobs" --log-format json -q > "$TMP/$name-$jobs.json"
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
  done
  printf '%s\n' "${times[@]}" | median
}

printf '%-6s %-30s %12s %12s %8s\n' net "" "jobs=1 (s)" "jobs=$THREADS (s)" speedup
for net in small big; do
  declare -n args=$net
  seq_t=$(run "$net" 1 "${args[@]}")
  par_t=$(run "$net" "$THREADS" "${args[@]}")
  cmp -s "$TMP/$net-1.json" "$TMP/$net-$THREADS.json" || { echo "scores differ between --jobs 1 and --jobs $THREADS" >&2; exit 1; }
  printf '%-6s %-30s %12.2f %12.2f %7.2fx\n' "$net" "${args[3]}" "$seq_t" "$par_t" "$(echo "$seq_t / $par_t" | bc -l)"
done
echo "4 folds, $THREADS threads, median of $RUNS runs; scores identical both ways"
