# Sourced by bench/serve.sh and bench/serve_profile.sh: the `mlp` binary they measure, the two
# models, the request bodies and wrk's script. Expects ROOT, DATA_DIR and WORK to be set.
#
# Models: the Keras seed network (784-512-10, one epoch on MNIST from $DATA_DIR) and a tiny tabular
# one (builtin circles, 2-32-2). `keras` is asked with 784 random pixels (every one non-zero but
# 1 in 256), `digit` is the same network asked with the first MNIST test image (85% black
# pixels), which is what a digit reader's clients send and what the zero-skipping product is for.
# Bodies: NAME.json (JSON data) and NAME.bin with NAME.hlen (the length of its JSON header), byte
# for byte what tritonclient.http's
# InferenceServerClient.generate_request_body gives. post.lua posts $BODY, as binary when $HLEN
# is set.

# MLP_BIN: an `mlp` built elsewhere (to compare builds); by default this checkout's, built now.
if [ -n "${MLP_BIN:-}" ]; then MLP="$MLP_BIN"; else cargo build --release -p mlp-cli --quiet; MLP="$ROOT/target/release/mlp"; fi

echo "making the models ..." >&2
"$MLP" train --data "$DATA_DIR/mnist" --layers 512:relu,10:softmax --optimizer rmsprop --lr 0.001 \
  --batch-size 128 --epochs 1 --out "$WORK/keras.safetensors" -q >&2
cp "$WORK/keras.safetensors" "$WORK/digit.safetensors"
"$MLP" train --data builtin:circles --layers 32:relu,2:softmax --epochs 5 --out "$WORK/tabular.safetensors" -q >&2
python3 - "$WORK" "$DATA_DIR/mnist/t10k-images-idx3-ubyte.gz" <<'PY'
import gzip, json, random, struct, sys
random.seed(1)
w = sys.argv[1]
px = [float(random.randrange(256)) for _ in range(784)]
digit = [float(v) for v in gzip.open(sys.argv[2]).read()[16:16 + 784]]
for name, data in [("keras", px), ("digit", digit), ("tabular", [0.3, -0.7])]:
    tensor = {"name": "input", "shape": [1, len(data)], "datatype": "FP32"}
    open(f"{w}/{name}.json", "w").write(json.dumps({"inputs": [dict(tensor, data=data)]}))
    raw = struct.pack(f"<{len(data)}f", *data)
    head = json.dumps({"inputs": [dict(tensor, parameters={"binary_data_size": len(raw)})],
                       "parameters": {"binary_data_output": True}}, separators=(",", ":")).encode()
    open(f"{w}/{name}.bin", "wb").write(head + raw)
    open(f"{w}/{name}.hlen", "w").write(str(len(head)))
PY
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
local f = io.open(os.getenv("BODY"), "rb")
wrk.body = f:read("*a")
f:close()
local hlen = os.getenv("HLEN")
if hlen ~= nil and hlen ~= "" then
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = hlen
else
  wrk.headers["Content-Type"] = "application/json"
end
LUA

body_env() { # model kind -> BODY=... HLEN=... for wrk and curl
  if [ "$2" = binary ]; then echo "BODY=$WORK/$1.bin HLEN=$(cat "$WORK/$1.hlen")"; else echo "BODY=$WORK/$1.json HLEN="; fi
}
