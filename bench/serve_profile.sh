#!/usr/bin/env bash
# Where a request's time goes in `mlp serve`: the server pinned to one core, wrk (32 connections)
# on another, `perf record` on the server for DUR seconds; prints the requests/s, then the share of
# the server's CPU samples by part — forward pass, JSON, HTTP, allocator, kernel — and so the
# microseconds each part costs a request (share × core-seconds / requests).
#
#   MLP_DATA_DIR=/work/shared/data DUR=10 bench/serve_profile.sh [keras|tabular] [json|binary] [--batching on|off]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODEL="${1:-keras}" KIND="${2:-json}"
shift $(($# < 2 ? $# : 2))
DATA_DIR="${MLP_DATA_DIR:-$ROOT/../shared/data}"
DUR="${DUR:-10}" SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}" PORT="${PORT:-18081}" CONNS="${CONNS:-32}"
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
WORK=$(mktemp -d) pid=""
trap 'kill -TERM "$pid" 2>/dev/null || true; rm -rf "$WORK"' EXIT
source bench/serve_fixtures.sh
export $(body_env "$MODEL" "$KIND")

taskset -c "$SERVER_CPU" "$MLP" serve "$WORK/$MODEL.safetensors" --port "$PORT" --no-watch "$@" 2>"$WORK/log" &
pid=$!
until grep -q "listening on" "$WORK/log"; do sleep 0.05; done
url="http://127.0.0.1:$PORT/v2/models/$MODEL/infer"
taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s -s "$WORK/post.lua" "$url" >/dev/null
cpu0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
perf record -e cpu-clock -F 2999 -g -p "$pid" -o "$WORK/perf.data" -- sleep "$DUR" 2>/dev/null &
perfpid=$!
out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DUR}s" -s "$WORK/post.lua" "$url")
wait "$perfpid" || true
cpu1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
rps=$(echo "$out" | awk '$1 == "Requests/sec:" { print $2 }')
errs=$(echo "$out" | awk '/Non-2xx|Socket errors/' | tr '\n' ' ')
ticks=$(getconf CLK_TCK)
echo "$MODEL $KIND $*: $rps requests/s at $CONNS connections ${errs:+($errs)}; server CPU $(awk -v c=$((cpu1 - cpu0)) -v t="$ticks" -v d="$DUR" 'BEGIN { printf "%.0f%%", 100 * c / t / d }') of a core"
echo
echo "| part | share of the server's samples | µs per request |"
echo "|---|---:|---:|"
# Each sample counts once, for the innermost frame that names a part (self time by symbol).
perf report -i "$WORK/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null |
  awk -v rps="$rps" -v cpu=$((cpu1 - cpu0)) -v t="$ticks" -v d="$DUR" '
    /^ *[0-9.]+%/ {
      pct = $1 + 0; sym = $0
      if (sym ~ /\[k\]/) part = "kernel: TCP on loopback, epoll, syscalls, scheduler"
      else if (sym ~ /gemm|matmul|Dense|forward|relu|softmax|activation/) part = "forward pass (gemm, activations)"
      else if (sym ~ /serde_json|serde::de|lexical|parse_|Flat|visit_/) part = "JSON parsing"
      else if (sym ~ /ryu|serialize|to_writer|format_/) part = "JSON writing"
      else if (sym ~ /malloc|free|realloc|cfree|_int_|alloc::/) part = "allocator"
      else if (sym ~ /hyper|http|axum|tower|matchit|tokio|mio/) part = "HTTP and runtime (hyper, axum, tokio)"
      else if (sym ~ /memcpy|memmove|memset/) part = "copies (memcpy, memset)"
      else part = "other"
      share[part] += pct
    }
    END {
      core = cpu / t / d
      for (p in share) printf "| %s | %.1f%% | %.1f |\n", p, share[p], share[p] / 100 * core * 1e6 / rps
    }' | sort -t'|' -k3 -rn
echo
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg); perf cpu-clock samples at 2999 Hz over ${DUR}s)"
