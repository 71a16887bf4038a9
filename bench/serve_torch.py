#!/usr/bin/env python3
"""The Python server a user would otherwise deploy, for bench/serve.sh: FastAPI + uvicorn around a
PyTorch MLP of the same shape, answering the same KServe V2 requests as `mlp serve`
(`POST /v2/models/NAME/infer`, `GET /v2/health/ready`): JSON tensors, and the binary tensor data
extension `tritonclient.http` sends by default (read with numpy.frombuffer, answered in binary when
`binary_data_output` is asked for).

    python bench/serve_torch.py --port P --name NAME --inputs N --layers 512:relu,10:softmax [--pixels]

One worker, one torch thread (as mlp serves one request per core), inference mode, float32.
"""

import argparse

import json

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--name", required=True)
ap.add_argument("--inputs", type=int, required=True)
ap.add_argument("--layers", required=True)
ap.add_argument("--pixels", action="store_true", help="divide inputs by 255, as mlp's image models do")
args = ap.parse_args()

torch.set_num_threads(1)
mods, width = [], args.inputs
for spec in args.layers.split(","):
    units, act = spec.split(":")
    mods.append(torch.nn.Linear(width, int(units)))
    mods.append({"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh(), "softmax": torch.nn.Softmax(dim=1)}[act])
    width = int(units)
net = torch.nn.Sequential(*mods).eval()

app = FastAPI()


@app.get("/v2/health/ready")
def ready():
    return {"ready": True}


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: Request):
    if name != args.name:
        return JSONResponse({"error": f"unknown model {name}"}, status_code=404)
    body = await request.body()
    hlen = request.headers.get("inference-header-content-length")
    head = int(hlen) if hlen is not None else len(body)
    req = json.loads(body[:head])
    inp = req["inputs"][0]
    if "data" in inp:
        x = torch.tensor(inp["data"], dtype=torch.float32).reshape(inp["shape"])
    else:
        raw = np.frombuffer(body, dtype="<f4", count=inp["parameters"]["binary_data_size"] // 4, offset=head)
        x = torch.from_numpy(raw.reshape(inp["shape"]).copy())
    if args.pixels:
        x = x / 255.0
    with torch.inference_mode():
        y = net(x)
    out = {"name": "output", "datatype": "FP32", "shape": list(y.shape)}
    answer = {"model_name": name, "model_version": "1", "outputs": [out]}
    if not req.get("parameters", {}).get("binary_data_output"):
        out["data"] = y.flatten().tolist()
        return answer
    raw = y.numpy().astype("<f4").tobytes()
    out["parameters"] = {"binary_data_size": len(raw)}
    head = json.dumps(answer).encode()
    return Response(
        head + raw,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(head))},
    )


uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
