#!/usr/bin/env bash
# Serving benchmark: `mlp serve` against FastAPI + uvicorn + PyTorch (bench/serve_torch.py), side by
# side in one run, both answering the same KServe V2 JSON request (one row) on loopback, measured
# with wrk. The server is pinned to one core and wrk to another (taskset).
#
#   bench/serve.sh            # DUR=10 seconds per measurement; SERVER_CPU=0 LOAD_CPU=1
#
# Models: the Keras seed network (784-512-10, one epoch on MNIST from $MLP_DATA_DIR, default
# ../shared/data) and a tiny tabular one (builtin circles, 2-32-2). For each server: time from exec
# to the first 200 from /v2/health/ready, single-connection p50/p99 and requests/s, requests/s and
# p99 at 32 connections, peak RSS (VmHWM). PyTorch comes from $MLP_BENCH_VENV (default ../bench-venv)
# with fastapi and uvicorn installed. Prints a Markdown table.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DATA_DIR="${MLP_DATA_DIR:-$ROOT/../shared/data}"
VENV="${MLP_BENCH_VENV:-$ROOT/../bench-venv}"
DUR="${DUR:-10}" SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}" PORT="${PORT:-18080}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
"$VENV/bin/python" -c "import torch, fastapi, uvicorn" || { echo "needs torch, fastapi, uvicorn in $VENV" >&2; exit 1; }

cargo build --release -p mlp-cli --quiet
MLP="$ROOT/target/release/mlp"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "making the models ..." >&2
"$MLP" train --data "$DATA_DIR/mnist" --layers 512:relu,10:softmax --optimizer rmsprop --lr 0.001 \
  --batch-size 128 --epochs 1 --out "$WORK/keras.safetensors" -q >&2
"$MLP" train --data builtin:circles --layers 32:relu,2:softmax --epochs 5 --out "$WORK/tabular.safetensors" -q >&2
python3 - "$WORK" <<'PY'
import json, random, sys
random.seed(1)
w = sys.argv[1]
px = [float(random.randrange(256)) for _ in range(784)]
for name, data in [("keras", px), ("tabular", [0.3, -0.7])]:
    body = {"inputs": [{"name": "input", "shape": [1, len(data)], "datatype": "FP32", "data": data}]}
    open(f"{w}/{name}.json", "w").write(json.dumps(body))
PY
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY"), "r")
wrk.body = f:read("*a")
f:close()
LUA

# wrk's latency figure in ms ("123.45us", "1.20ms", "2.00s").
ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }

run_wrk() { # connections name -> "p50 p99 rps errors"
  local out
  out=$(BODY="$WORK/$2.json" taskset -c "$LOAD_CPU" wrk -t1 -c"$1" -d"${DUR}s" --latency -s "$WORK/post.lua" \
    "http://127.0.0.1:$PORT/v2/models/$2/infer")
  local p50 p99 rps errs
  p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  rps=$(echo "$out" | awk '$1 == "Requests/sec:" { printf "%.0f", $2 }')
  errs=$(echo "$out" | awk '/Non-2xx/ { print $NF } /Socket errors/ { print }' | tr '\n' ' ')
  echo "$(ms "$p50") $(ms "$p99") $rps ${errs:-0}"
}

echo "| model | server | ready (ms) | p50 1 conn (ms) | p99 1 conn (ms) | req/s 1 conn | req/s 32 conn | p99 32 conn (ms) | peak RSS (MiB) | errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
for model in keras tabular; do
  if [ "$model" = keras ]; then inputs=784 layers=512:relu,10:softmax pixels=--pixels; else inputs=2 layers=32:relu,2:softmax pixels=; fi
  for server in "mlp serve" "mlp serve --batching on" "FastAPI+uvicorn+PyTorch"; do
    case "$server" in
      "mlp serve") cmd=("$MLP" serve "$WORK/$model.safetensors" --port "$PORT" --no-watch) ;;
      "mlp serve --batching on") cmd=("$MLP" serve "$WORK/$model.safetensors" --port "$PORT" --no-watch --batching on) ;;
      *) cmd=("$VENV/bin/python" bench/serve_torch.py --port "$PORT" --name "$model" --inputs "$inputs" --layers "$layers" $pixels) ;;
    esac
    started=$(python3 bench/serve_ready.py "$PORT" taskset -c "$SERVER_CPU" "${cmd[@]}")
    pid=$(echo "$started" | python3 -c "import json,sys; print(json.load(sys.stdin)['pid'])")
    ready=$(echo "$started" | python3 -c "import json,sys; print('%.0f' % json.load(sys.stdin)['ready_ms'])")
    DUR=2 run_wrk 4 "$model" >/dev/null # warm-up
    read -r p50 p99 rps1 e1 <<<"$(run_wrk 1 "$model")"
    read -r _ p99_32 rps32 e32 <<<"$(run_wrk 32 "$model")"
    rss=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    echo "| $model | $server | $ready | $p50 | $p99 | $rps1 | $rps32 | $p99_32 | $rss | $e1 / $e32 |"
  done
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; DUR=${DUR}s per measurement"
