#!/usr/bin/env bash
# The playground's speed in the browser: epochs per second of TF Playground's default setup
# (circle, 500 points, ratio 50%, 2-4-2-1 tanh, squared error, SGD at 0.03, batch 10), trained in
# the page's Web Worker by the WebAssembly build, with the page's frames per second measured at
# the same time; headless Debian Chromium driven by Selenium (crates/cli/tests/playground/browser.py).
# TF Playground itself trains one epoch per animation frame: ~58 epochs/s at 60 Hz.
#
#   bench/playground.sh [SECONDS] [RUNS]      (defaults 10 and 3; prints a Markdown table)
#
# Needs what scripts/test sets up: wasm-bindgen-cli, chromium + chromium-driver, and selenium in
# $MLP_TEST_PYTHON (default ~/.cache/mlp-test-venv/bin/python). The figures in BENCHMARKS.md
# ("The playground in the browser") come from this script.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_EACH="${1:-10}" RUNS="${2:-3}"
PY="${MLP_TEST_PYTHON:-$HOME/.cache/mlp-test-venv/bin/python}"
scripts/web >/dev/null
# MLP_BIN: an `mlp` already built (scripts/test passes the one its tests used); else built now.
if [ -n "${MLP_BIN:-}" ]; then MLP="$MLP_BIN"; else cargo build --release -q -p mlp-cli; MLP="$ROOT/target/release/mlp"; fi
TMP=$(mktemp -d)
"$MLP" playground --port 0 --dir web/dist > "$TMP/url" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 50); do grep -q http "$TMP/url" && break; sleep 0.1; done
URL=$(grep -o 'http://[^ ]*' "$TMP/url")
echo "| run | epochs/s (Worker) | frames/s median (min) | × TF Playground's ~58 epochs/s |"
echo "|---|---|---|---|"
for i in $(seq "$RUNS"); do
  line=$("$PY" crates/cli/tests/playground/browser.py bench "$URL" "$SECONDS_EACH" | head -1)
  "$PY" - "$i" "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
print(f"| {sys.argv[1]} | {r['epochs_per_s']} | {r['fps_median']} ({r['fps_min']}) | {r['epochs_per_s'] / 58:.0f}× |")
PY
done
echo
echo "load average: $(cat /proc/loadavg); $(chromium --version 2>/dev/null | head -1)"
