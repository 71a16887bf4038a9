#!/usr/bin/env bash
# The benchmark harness: mlp against PyTorch on the same workloads, same data, same threads.
#
#   bench/run.sh [--quick] [--runs N] [--threads T] [--only W1,W3,...] [--no-sweep] [--no-profile]
#                [--sweep] [--profile] [--no-write] [--quiet-wait SECONDS]
#
# Builds the release example, measures the sgemm peak, then runs every workload --runs times
# (default 3), alternating mlp and PyTorch, each in its own process; then the W1 profile and
# the scaling sweep. Raw JSON lands in bench/results/<date>/ (git-ignored); a full run (not
# --quick, not --no-write) rewrites the generated section of BENCHMARKS.md, bench/scaling.csv
# and bench/scaling.png. PyTorch comes from the virtual environment $MLP_BENCH_VENV (default
# ../bench-venv next to the repository), created and filled with pip when torch is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

DATA_DIR="${MLP_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/../shared/data}"
RUNS=3 QUICK=0 THREADS=2 ONLY="W1,W2,W3,W4,W5,W6" SWEEP="" PROFILE="" WRITE=1 QUIET_WAIT=60
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --sweep) SWEEP=1 ;;
    --no-sweep) SWEEP=0 ;;
    --profile) PROFILE=1 ;;
    --no-profile) PROFILE=0 ;;
    --no-write) WRITE=0 ;;
    --quiet-wait) QUIET_WAIT="$2"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then
  RUNS=1
  : "${SWEEP:=0}" "${PROFILE:=0}"
  WRITE=0
fi
: "${SWEEP:=1}" "${PROFILE:=1}"

# --- PyTorch ----------------------------------------------------------------------------------
VENV=${MLP_BENCH_VENV:-$ROOT/../bench-venv}
if ! "$VENV/bin/python" -c 'import torch, numpy' 2>/dev/null; then
  echo "== installing PyTorch into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet torch numpy
fi
PY="$VENV/bin/python"
if [ "$SWEEP" = 1 ] && ! "$PY" -c 'import matplotlib' 2>/dev/null; then
  echo "== installing matplotlib into $VENV (for the scaling plot)" >&2
  "$VENV/bin/pip" install --quiet matplotlib
fi

# --- mlp --------------------------------------------------------------------------------------
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
echo "== cargo build --release (example bench, mlp CLI)" >&2
cargo build --release --example bench >&2
cargo build --release -p mlp-cli >&2 || echo "(the mlp CLI did not build; W6 will say so)" >&2
BENCH="$TARGET/release/examples/bench"
MLP_BIN="$TARGET/release/mlp"

OUT="$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
RAW="$OUT/raw.jsonl"
: > "$RAW"
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"

# --- the machine ------------------------------------------------------------------------------
"$PY" - "$OUT/machine.json" "$THREADS" "$RUNS" "$QUICK" <<'EOF'
import json, os, platform, subprocess, sys, datetime
lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
info = dict(l.split(":", 1) for l in lscpu.splitlines() if ":" in l)
info = {k.strip(): v.strip() for k, v in info.items()}
flags = info.get("Flags", "").split()
import torch
m = {
    "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    "cpu": info.get("Model name", "?"),
    "cpus": int(info.get("CPU(s)", "0") or 0),
    "hypervisor": info.get("Hypervisor vendor", ""),
    "isa": [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                        "avx512_fp16", "amx_bf16", "amx_tile") if f in flags],
    "l2": info.get("L2 cache", ""), "l3": info.get("L3 cache", ""),
    "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    "kernel": platform.release(),
    "rustc": subprocess.run(["rustc", "-V"], capture_output=True, text=True).stdout.strip(),
    "torch": torch.__version__,
    "python": platform.python_version(),
    "threads": int(sys.argv[2]), "runs": int(sys.argv[3]), "quick": sys.argv[4] == "1",
    "loadavg_start": open("/proc/loadavg").read().split()[:3],
}
json.dump(m, open(sys.argv[1], "w"), indent=1)
print(f"== {m['cpu']} ({m['cpus']} CPUs; {' '.join(m['isa'])}), {m['rustc']}, torch {m['torch']}", file=sys.stderr)
EOF

# Waits (up to $QUIET_WAIT s) until other processes use < 0.3 cores over 2 s, so that runs start
# on a quiet machine; every JSON line records how busy the machine was during the run anyway.
wait_quiet() {
  local waited=0
  while :; do
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat); sleep 2
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat)
    if [ $((b - a)) -lt 60 ] || [ "$waited" -ge "$QUIET_WAIT" ]; then
      [ "$waited" -ge "$QUIET_WAIT" ] && echo "   (machine still busy after ${QUIET_WAIT}s: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
      return 0
    fi
    waited=$((waited + 2))
  done
}

# Runs one measurement and appends its JSON line(s) with the run number.
measure() {
  local run="$1"; shift
  wait_quiet
  local line
  if ! line=$("$@" 2>"$OUT/last.stderr"); then
    echo "   FAILED: $* (see $OUT/last.stderr)" >&2; cat "$OUT/last.stderr" >&2; return 0
  fi
  printf '%s\n' "$line" | "$PY" bench/tag.py "$RAW" run="$run"
}

epochs_for() {  # quick mode: fewer epochs
  if [ "$QUICK" = 1 ]; then
    case "$1" in W1) echo "--epochs 2" ;; W2) echo "--epochs 3" ;; W3) echo "--epochs 1" ;; W4) echo "--epochs 1" ;; *) echo "--runs 5" ;; esac
  fi
}

echo "== sgemm peak through mlp::backend::cpu::matmul ($THREADS threads)" >&2
measure 0 "$BENCH" peak --threads "$THREADS"

IFS=, read -r -a WORKLOADS <<< "$ONLY"
for run in $(seq 1 "$RUNS"); do
  for w in "${WORKLOADS[@]}"; do
    [ "$w" = W6 ] && continue
    echo "== $w, run $run/$RUNS" >&2
    # shellcheck disable=SC2046
    mlp_cmd=("$BENCH" "$w" --threads "$THREADS" $(epochs_for "$w"))
    # shellcheck disable=SC2046
    torch_cmd=("$PY" bench/torch_bench.py "$w" --threads "$THREADS" $(epochs_for "$w"))
    if [ $((run % 2)) = 1 ]; then
      measure "$run" "${mlp_cmd[@]}"; measure "$run" "${torch_cmd[@]}"
    else
      measure "$run" "${torch_cmd[@]}"; measure "$run" "${mlp_cmd[@]}"
    fi
  done
done

if [[ ",$ONLY," == *",W6,"* ]]; then
  echo "== W6 cold start" >&2
  W6DIR="$OUT/w6"
  measure 1 "$PY" bench/torch_bench.py W6 --threads "$THREADS" --runs 10 --workdir "$W6DIR"
  # `mlp predict MODEL --input one_row.csv`, when the CLI has it and a model file is at hand.
  if [ -x "$MLP_BIN" ] && "$MLP_BIN" predict --help 2>&1 | grep -qi 'usage'; then
    if [ -z "${MLP_W6_MODEL:-}" ]; then
      # A W1 model to load: one epoch is enough, W6 times loading and one prediction, not accuracy.
      MLP_W6_MODEL="$W6DIR/w1.safetensors"
      mkdir -p "$W6DIR"
      "$MLP_BIN" train --data "$DATA_DIR/mnist" --layers 512:relu,10:softmax --optimizer rmsprop --lr 0.001 \
        --batch-size 128 --epochs 1 --out "$MLP_W6_MODEL" --quiet >&2 || true
    fi
    if [ -n "${MLP_W6_MODEL:-}" ] && [ -e "$MLP_W6_MODEL" ]; then
      measure 1 "$PY" bench/torch_bench.py W6-mlp --runs 10 --mlp "$MLP_BIN" --mlp-model "$MLP_W6_MODEL" \
        --workdir "$W6DIR"
    else
      echo '{"impl": "mlp", "workload": "W6", "na": "n/a: mlp predict exists but no saved mlp model was given (set MLP_W6_MODEL)", "run": 1}' >> "$RAW"
    fi
  else
    echo '{"impl": "mlp", "workload": "W6", "na": "n/a: mlp predict not available", "run": 1}' >> "$RAW"
  fi
fi

if [ "$PROFILE" = 1 ]; then
  echo "== W1 profile (timed backend, 3 epochs)" >&2
  wait_quiet
  "$BENCH" profile --threads "$THREADS" --epochs 3 > "$OUT/profile.json"
  if command -v perf >/dev/null && perf record -e cpu-clock -o /dev/null true >/dev/null 2>&1; then
    echo "== W1 perf record (cpu-clock sampling, 2 epochs)" >&2
    wait_quiet
    perf record -e cpu-clock -F 999 -o "$OUT/perf.data" -- "$BENCH" W1 --threads "$THREADS" --epochs 2 \
      > /dev/null 2> "$OUT/perf.stderr" || true
    perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -40 > "$OUT/perf.txt" || true
    rm -f "$OUT/perf.data"
  fi
fi

if [ "$SWEEP" = 1 ]; then
  SW="$OUT/sweep.jsonl"
  sweep_point() {  # $1 = axis, rest = custom-mode flags
    local axis="$1"; shift
    for impl in mlp torch; do
      wait_quiet
      if [ "$impl" = mlp ]; then
        line=$("$BENCH" custom --threads "$THREADS" --epochs 2 "$@" 2>/dev/null) || continue
      else
        line=$("$PY" bench/torch_bench.py custom --threads "$THREADS" --epochs 2 "$@" 2>/dev/null) || continue
      fi
      printf '%s\n' "$line" | "$PY" bench/tag.py "$SW" axis="$axis"
    done
  }
  echo "== scaling sweep (784→H→10 RMSProp, 2 epochs per point, the last one counted)" >&2
  if [ "$QUICK" = 1 ]; then  # a smoke test of the sweep
    BATCHES="128 1024" WIDTHS="128 512" SIZES="15000 60000"
  else
    BATCHES="32 64 128 256 512 1024 2048 4096" WIDTHS="64 128 256 512 1024 2048 4096" SIZES="7500 15000 30000 60000"
  fi
  for b in $BATCHES; do sweep_point batch --batch "$b"; done
  for h in $WIDTHS; do sweep_point hidden --hidden "$h"; done
  for n in $SIZES; do sweep_point rows --rows "$n"; done
fi

echo "== report" >&2
REPORT_ARGS=("$OUT")
[ "$WRITE" = 1 ] && REPORT_ARGS+=(--write "$ROOT/BENCHMARKS.md" --sweep-out "$ROOT/bench")
"$PY" bench/report.py "${REPORT_ARGS[@]}"
echo "== raw results: $OUT" >&2
