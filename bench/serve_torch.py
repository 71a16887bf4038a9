#!/usr/bin/env python3
"""The Python server a user would otherwise deploy, for bench/serve.sh: FastAPI + uvicorn around a
PyTorch MLP of the same shape, answering the same KServe V2 JSON requests as `mlp serve`
(`POST /v2/models/NAME/infer`, `GET /v2/health/ready`).

    python bench/serve_torch.py --port P --name NAME --inputs N --layers 512:relu,10:softmax [--pixels]

One worker, one torch thread (as mlp serves one request per core), inference mode, float32.
"""

import argparse

import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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
    req = await request.json()
    inp = req["inputs"][0]
    x = torch.tensor(inp["data"], dtype=torch.float32).reshape(inp["shape"])
    if args.pixels:
        x = x / 255.0
    with torch.inference_mode():
        y = net(x)
    return {
        "model_name": name,
        "model_version": "1",
        "outputs": [{"name": "output", "datatype": "FP32", "shape": list(y.shape), "data": y.flatten().tolist()}],
    }


uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
