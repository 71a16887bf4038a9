"""Python's tritonclient[http], unmodified, against `mlp serve`: readiness, metadata, binary and
JSON inputs, binary and JSON outputs, classification. Run by crates/cli/tests/serve.rs as
`python triton.py HOST:PORT MODEL DIR`; DIR holds rows.json, want.json (mlp predict's
probabilities) and labels.json. Prints `tritonclient: ok` when every answer is within 1e-6."""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, model, folder = sys.argv[1], sys.argv[2], sys.argv[3]
rows = np.array(json.load(open(f"{folder}/rows.json")), dtype=np.float32)
want = np.array(json.load(open(f"{folder}/want.json")), dtype=np.float64)
labels = json.load(open(f"{folder}/labels.json"))

client = httpclient.InferenceServerClient(url=url)
assert client.is_server_live(), "not live"
assert client.is_server_ready(), "not ready"
assert client.is_model_ready(model), "model not ready"
assert not client.is_model_ready("no-such-model"), "an unknown model is ready"
meta = client.get_model_metadata(model)
assert meta["inputs"][0]["name"] == "input" and meta["inputs"][0]["shape"] == [-1, rows.shape[1]], meta
assert meta["outputs"][0]["datatype"] == "FP32", meta
server = client.get_server_metadata()
assert "binary_tensor_data" in server["extensions"], server

for binary_in in (True, False):
    for binary_out in (True, False):
        inp = httpclient.InferInput("input", list(rows.shape), "FP32")
        inp.set_data_from_numpy(rows, binary_data=binary_in)
        out = httpclient.InferRequestedOutput("output", binary_data=binary_out)
        result = client.infer(model, [inp], outputs=[out], request_id="r1")
        got = result.as_numpy("output").astype(np.float64)
        assert got.shape == want.shape, (got.shape, want.shape)
        err = np.abs(got - want).max()
        assert err <= 1e-6, f"binary_in={binary_in} binary_out={binary_out}: max error {err}"

# The default: no outputs named (the server is asked for binary outputs), FP64 input.
inp = httpclient.InferInput("input", list(rows.shape), "FP64")
inp.set_data_from_numpy(rows.astype(np.float64))
got = client.infer(model, [inp]).as_numpy("output").astype(np.float64)
assert np.abs(got - want).max() <= 1e-6

# Classification: top-1 "score:index:label" is mlp predict's label.
inp = httpclient.InferInput("input", list(rows.shape), "FP32")
inp.set_data_from_numpy(rows)
out = httpclient.InferRequestedOutput("output", binary_data=True, class_count=1)
top = client.infer(model, [inp], outputs=[out]).as_numpy("output")
for r, cell in enumerate(top.reshape(-1)):
    score, index, label = cell.decode().split(":")
    assert label == labels[r], (r, cell, labels[r])
    assert abs(float(score) - want[r, int(index)]) <= 1e-6

# Errors arrive as exceptions carrying the server's message.
bad = httpclient.InferInput("input", [1, rows.shape[1] + 1], "FP32")
bad.set_data_from_numpy(np.zeros((1, rows.shape[1] + 1), dtype=np.float32))
try:
    client.infer(model, [bad])
    raise SystemExit("a wrong shape was accepted")
except InferenceServerException as e:
    assert "shape" in str(e), str(e)

print("tritonclient: ok")
