#!/usr/bin/env bash
# Serving benchmark: `mlp serve` against FastAPI + uvicorn + PyTorch (bench/serve_torch.py), side by
# side in one run, both answering the same KServe V2 requests (one row) on loopback, measured with
# wrk: the JSON request, and the binary tensor request `tritonclient.http` sends by default (a JSON
# header, then the row as little-endian FP32, `Inference-Header-Content-Length`, binary output
# asked for). The server is pinned to one core and wrk to another (taskset).
#
#   MLP_BENCH_VENV=/work/bench-venv MLP_DATA_DIR=/work/shared/data DUR=10 bench/serve.sh
#
# Models (bench/serve_fixtures.sh): the Keras seed network (784-512-10, one epoch on MNIST from
# $MLP_DATA_DIR, default ../shared/data) asked with random pixels (`keras`) and with an MNIST test
# digit (`digit`), and a tiny tabular one (2-32-2). For each server: time from exec
# to the first 200 from /v2/health/ready, single-connection p50/p99 and requests/s, requests/s and
# p99 at 32 connections, peak RSS (VmHWM). `mlp serve` runs with batching off and on; a first row
# measures `GET /v2/health/live` on it — no body, no model: the floor of HTTP on this machine.
# PyTorch comes from $MLP_BENCH_VENV (default ../bench-venv) with fastapi, uvicorn and numpy.
# Prints a Markdown table, then the load average and the CPU time the hypervisor stole.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DATA_DIR="${MLP_DATA_DIR:-$ROOT/../shared/data}"
VENV="${MLP_BENCH_VENV:-$ROOT/../bench-venv}"
DUR="${DUR:-10}" SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}" PORT="${PORT:-18080}"
MODELS="${MODELS:-keras digit tabular}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
"$VENV/bin/python" -c "import torch, fastapi, uvicorn, numpy" || { echo "needs torch, fastapi, uvicorn, numpy in $VENV" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source bench/serve_fixtures.sh

# wrk's latency figure in ms ("123.45us", "1.20ms", "2.00s").
ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }

run_wrk() { # connections model kind [path] -> "p50 p99 rps errors"
  local out path="${4:-/v2/models/$2/infer}" script=(-s "$WORK/post.lua")
  [ "$3" = get ] && script=()
  out=$(env $(body_env "$2" "$3") taskset -c "$LOAD_CPU" wrk -t1 -c"$1" -d"${DUR}s" --latency "${script[@]}" \
    "http://127.0.0.1:$PORT$path")
  local p50 p99 rps errs
  p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  rps=$(echo "$out" | awk '$1 == "Requests/sec:" { printf "%.0f", $2 }')
  errs=$(echo "$out" | awk '/Non-2xx/ { print $NF } /Socket errors/ { print }' | tr '\n' ' ')
  echo "$(ms "$p50") $(ms "$p99") $rps ${errs:-0}"
}

# One request answered right (200, an output tensor), or the run stops: wrk counts only statuses.
check_answer() { # model kind
  local hdr=() body hlen
  if [ "$2" = binary ]; then body="$WORK/$1.bin" hlen=$(cat "$WORK/$1.hlen")
    hdr=(-H "Content-Type: application/octet-stream" -H "Inference-Header-Content-Length: $hlen")
  else body="$WORK/$1.json"; hdr=(-H "Content-Type: application/json"); fi
  curl -sf -o "$WORK/answer" -D "$WORK/answer.head" "${hdr[@]}" --data-binary "@$body" \
    "http://127.0.0.1:$PORT/v2/models/$1/infer" || { echo "the $2 request failed" >&2; exit 1; }
  grep -q '"outputs"' "$WORK/answer" || { echo "no outputs in the answer to the $2 request" >&2; exit 1; }
  if [ "$2" = binary ]; then
    grep -qi '^inference-header-content-length:' "$WORK/answer.head" || { echo "the binary answer has no Inference-Header-Content-Length" >&2; exit 1; }
  fi
}

steal() { awk '$1 == "cpu" { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
read -r steal0 total0 <<<"$(steal)"
load0=$(cut -d' ' -f1-3 /proc/loadavg)

echo "| model | server | request | ready (ms) | p50 1 conn (ms) | p99 1 conn (ms) | req/s 1 conn | req/s 32 conn | p99 32 conn (ms) | peak RSS (MiB) | errors |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
first=1
for model in $MODELS; do
  if [ "$model" != tabular ]; then inputs=784 layers=512:relu,10:softmax pixels=--pixels; else inputs=2 layers=32:relu,2:softmax pixels=; fi
  for server in "mlp serve" "mlp serve --batching on" "FastAPI+uvicorn+PyTorch"; do
    case "$server" in
      "mlp serve") cmd=("$MLP" serve "$WORK/$model.safetensors" --port "$PORT" --no-watch --batching off) ;;
      "mlp serve --batching on") cmd=("$MLP" serve "$WORK/$model.safetensors" --port "$PORT" --no-watch --batching on) ;;
      *) cmd=("$VENV/bin/python" bench/serve_torch.py --port "$PORT" --name "$model" --inputs "$inputs" --layers "$layers" $pixels) ;;
    esac
    started=$(python3 bench/serve_ready.py "$PORT" taskset -c "$SERVER_CPU" "${cmd[@]}")
    pid=$(echo "$started" | python3 -c "import json,sys; print(json.load(sys.stdin)['pid'])")
    ready=$(echo "$started" | python3 -c "import json,sys; print('%.0f' % json.load(sys.stdin)['ready_ms'])")
    if [ "$first" = 1 ]; then # the floor: the cheapest request the server answers
      first=0
      DUR=2 run_wrk 4 "$model" get /v2/health/live >/dev/null
      read -r p50 p99 rps1 e1 <<<"$(run_wrk 1 "$model" get /v2/health/live)"
      read -r _ p99_32 rps32 e32 <<<"$(run_wrk 32 "$model" get /v2/health/live)"
      echo "| — | $server | GET /v2/health/live | | $p50 | $p99 | $rps1 | $rps32 | $p99_32 | | $e1 / $e32 |"
    fi
    for kind in json binary; do
      check_answer "$model" "$kind"
      DUR=2 run_wrk 4 "$model" "$kind" >/dev/null # warm-up
      read -r p50 p99 rps1 e1 <<<"$(run_wrk 1 "$model" "$kind")"
      read -r _ p99_32 rps32 e32 <<<"$(run_wrk 32 "$model" "$kind")"
      rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
      echo "| $model | $server | $kind | $ready | $p50 | $p99 | $rps1 | $rps32 | $p99_32 | $rss | $e1 / $e32 |"
    done
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
done
read -r steal1 total1 <<<"$(steal)"
echo
echo "load average at the start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; DUR=${DUR}s per measurement;" \
  "CPU time stolen by the hypervisor during the run: $(awk -v s=$((steal1 - steal0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.1f%%", t ? 100 * s / t : 0 }')"
