#!/usr/bin/env python3
"""The PyTorch half of the benchmark harness: the same workloads as `examples/bench.rs`.

    python bench/torch_bench.py MODE [--threads T] [--epochs E] [--batch B] [--hidden H] [--rows N]
        MODE: W1 | W2 | W3 | W4 | W5 | W6 | custom

Prints one JSON line with the same fields as the mlp side. PyTorch eager, float32, the data
as tensors in memory, a shuffled batch per step gathered with index_select. The optimizers get
mlp's (Keras's) hyperparameters so both sides do the same arithmetic: RMSprop alpha 0.9 and
eps 1e-7, Adam eps 1e-7 (torch's own defaults are alpha 0.99 / eps 1e-8). Weights start
Glorot-uniform with zero biases, as in mlp and Keras.
"""

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def data_dir():
    # MLP_DATA_DIR is the data root (mnist/ and titanic/ inside), as for the tests; a directory
    # holding the IDX files themselves works too.
    root = os.environ.get("MLP_DATA_DIR") or os.path.join(ROOT, "..", "shared", "data")
    sub = os.path.join(root, "mnist")
    return sub if os.path.isdir(sub) else root


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(prefix, kind, idx):
    d = data_dir()
    for name in (f"{prefix}-{kind}-{idx}-ubyte", f"{prefix}-{kind}.{idx}-ubyte"):
        for ext in (".gz", ""):
            for sub in ("", "mnist"):
                p = os.path.join(d, sub, name + ext)
                if os.path.exists(p):
                    return p
    sys.exit(f"MNIST file {prefix}-{kind}-{idx}-ubyte(.gz) not found under {d}")


def load(split):
    import torch

    prefix = "train" if split == "train" else "t10k"
    x = read_idx(find(prefix, "images", "idx3")).reshape(-1, 784).astype(np.float32) / 255.0
    y = read_idx(find(prefix, "labels", "idx1")).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def proc_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(x for i, x in enumerate(v) if i not in (3, 4))


def own_jiffies():
    with open("/proc/self/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


class Noise:
    """CPU time other processes used during a measurement, in cores (USER_HZ = 100)."""

    def __init__(self):
        self.t, self.busy, self.own = time.perf_counter(), proc_busy(), own_jiffies()

    def other_cores(self):
        wall = time.perf_counter() - self.t
        other = (proc_busy() - self.busy) - (own_jiffies() - self.own)
        return max(0.0, other / 100.0 / wall)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


WORKLOADS = {
    "W1": ([784, 512, 10], "rmsprop", 1e-3, 128, 5),
    "W2": ([784, 512, 128, 64, 10], "adam", 1e-3, 1000, 10),
    "W3": ([784, 128, 10], "momentum", 0.01, 32, 3),
    "W4": ([784, 2048, 2048, 10], "adam", 1e-3, 256, 2),
}


def train_flops(dims, n):
    f = 0.0
    for i in range(len(dims) - 1):
        mac = n * dims[i] * dims[i + 1]
        f += 2.0 * mac * (2 if i == 0 else 3)
    return f


def infer_flops(dims, n):
    return sum(2.0 * n * dims[i] * dims[i + 1] for i in range(len(dims) - 1))


def build(dims, seed):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers = []
    for i in range(len(dims) - 1):
        lin = nn.Linear(dims[i], dims[i + 1])
        nn.init.xavier_uniform_(lin.weight)
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    # The output layer gives logits: softmax is fused into CrossEntropyLoss (training) and
    # applied explicitly when predicting probabilities.
    return nn.Sequential(*layers)


def optimizer(name, lr, params):
    import torch

    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    raise ValueError(name)


def train(name, dims, opt_name, lr, batch, epochs, args):
    import torch
    import torch.nn.functional as F

    x, y = load("train")
    if args.rows and args.rows < x.shape[0]:
        x, y = x[: args.rows].contiguous(), y[: args.rows].contiguous()
    xt, yt = load("test")
    model = build(dims, args.seed)
    opt = optimizer(opt_name, lr, model.parameters())
    n = x.shape[0]
    g = torch.Generator().manual_seed(args.seed)
    secs, losses = [], []
    noise = Noise()
    t_fit = time.perf_counter()
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=g)
        loss_sum, correct = 0.0, 0
        for s in range(0, n, batch):
            idx = perm[s : s + batch]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            # The same running figures mlp's loop keeps (Keras's progress numbers).
            loss_sum += loss.item() * len(idx)
            correct += int((out.argmax(1) == yb).sum())
        secs.append(time.perf_counter() - t0)
        losses.append(loss_sum / n)
    fit_s = time.perf_counter() - t_fit
    other = noise.other_cores()
    with torch.inference_mode():
        acc = float((model(xt).argmax(1) == yt).float().mean())
    flops = train_flops(dims, n)
    med = statistics.median(secs)
    return {
        "impl": "pytorch",
        "workload": name,
        "spec": "-".join(map(str, dims)),
        "optimizer": opt_name,
        "batch": batch,
        "rows": n,
        "threads": torch.get_num_threads(),
        "epochs": len(secs),
        "epoch_seconds": secs,
        "median_epoch_s": med,
        "first_epoch_s": secs[0],
        "fit_s": fit_s,
        "train_loss": losses[-1],
        "test_acc": acc,
        "flops_per_epoch": flops,
        "gflops": flops / med / 1e9,
        "peak_rss_mib": peak_rss_mib(),
        "other_cores": other,
        "loadavg": loadavg(),
    }


def inference(args):
    import torch

    xt, yt = load("test")
    dims = [784, 512, 10]
    model = build(dims, args.seed).eval()
    runs = args.runs or 20
    noise = Noise()
    with torch.inference_mode():

        def predict(x):
            return torch.softmax(model(x), dim=1)

        def full_pass():
            return torch.cat([predict(xt[s : s + 1000]) for s in range(0, xt.shape[0], 1000)])

        full_pass()
        batch_times = []
        for _ in range(runs):
            t = time.perf_counter()
            full_pass()
            batch_times.append(time.perf_counter() - t)
        rows = [xt[i % xt.shape[0]].unsqueeze(0) for i in range(2000)]
        for r in rows[:100]:
            predict(r)
        lat = []
        for r in rows:
            t = time.perf_counter()
            predict(r)
            lat.append(time.perf_counter() - t)
        acc = float((full_pass().argmax(1) == yt).float().mean())
    med = statistics.median(batch_times)
    return {
        "impl": "pytorch",
        "workload": "W5",
        "threads": torch.get_num_threads(),
        "rows": xt.shape[0],
        "batch_seconds": batch_times,
        "median_pass_s": med,
        "rows_per_s": xt.shape[0] / med,
        "gflops": infer_flops(dims, xt.shape[0]) / med / 1e9,
        "latency_us_median": statistics.median(lat) * 1e6,
        "latency_calls": len(lat),
        "test_acc_untrained": acc,
        "peak_rss_mib": peak_rss_mib(),
        "other_cores": noise.other_cores(),
        "loadavg": loadavg(),
    }


COLD = r"""
import sys, torch
from torch import nn
torch.set_num_threads(int(sys.argv[3]))
m = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
m.load_state_dict(torch.load(sys.argv[1]))
row = [float(v) for v in open(sys.argv[2]).read().split(",")]
with torch.inference_mode():
    p = torch.softmax(m(torch.tensor([row])), dim=1)
print(int(p.argmax()))
"""


def cold_start(args):
    """W6: wall time of a fresh `python -c` that imports torch, loads the W1 model and predicts one row."""
    import torch

    xt, _ = load("test")
    tmp = args.workdir or tempfile.mkdtemp(prefix="mlp-bench-w6-")
    os.makedirs(tmp, exist_ok=True)
    model_path = os.path.join(tmp, "w1.pt")
    row_path = os.path.join(tmp, "one_row.csv")
    torch.save(build([784, 512, 10], args.seed).state_dict(), model_path)
    with open(row_path, "w") as f:
        f.write(",".join(f"{v:.6g}" for v in xt[0].tolist()) + "\n")
    cmd = [sys.executable, "-c", COLD, model_path, row_path, str(args.threads)]
    subprocess.run(cmd, check=True, capture_output=True)  # warm the page cache
    times = []
    for _ in range(args.runs or 10):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return {
        "impl": "pytorch",
        "workload": "W6",
        "threads": args.threads,
        "runs": len(times),
        "seconds": times,
        "median_ms": statistics.median(times) * 1e3,
        "model": model_path,
        "row_csv": row_path,
        "loadavg": loadavg(),
    }


def cold_start_mlp(args):
    """W6, mlp side: wall time of `mlp predict MODEL --input one_row_mlp.csv`: the same test image as
    PyTorch's row, written the way `mlp predict` reads CSV for an MNIST model (a header, pixels 0-255)."""
    xt, _ = load("test")
    os.makedirs(args.workdir, exist_ok=True)
    row_path = os.path.join(args.workdir, "one_row_mlp.csv")
    with open(row_path, "w") as f:
        f.write(",".join(f"p{i}" for i in range(784)) + "\n")
        f.write(",".join(str(int(round(v * 255))) for v in xt[0].tolist()) + "\n")
    cmd = [args.mlp, "predict", args.mlp_model, "--input", row_path]
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(args.runs or 10):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return {
        "impl": "mlp",
        "workload": "W6",
        "runs": len(times),
        "seconds": times,
        "median_ms": statistics.median(times) * 1e3,
        "command": " ".join(cmd),
        "loadavg": loadavg(),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--rows", type=int)
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", help="W6: where to write the model and the one-row CSV")
    ap.add_argument("--mlp", help="W6-mlp: the mlp binary")
    ap.add_argument("--mlp-model", help="W6-mlp: a saved mlp model of the W1 network")
    ap.add_argument("--json", action="store_true", help="accepted for symmetry with the mlp side")
    args = ap.parse_args()

    if args.mode == "W6-mlp":
        print(json.dumps(cold_start_mlp(args)))
        return

    import torch

    torch.set_num_threads(args.threads)
    if args.mode == "W5":
        out = inference(args)
    elif args.mode == "W6":
        out = cold_start(args)
    elif args.mode == "custom":
        dims = [784, args.hidden, 10]
        out = train("custom", dims, "rmsprop", 1e-3, args.batch or 128, args.epochs or 2, args)
        out["hidden"] = args.hidden
    elif args.mode in WORKLOADS:
        dims, opt, lr, batch, epochs = WORKLOADS[args.mode]
        out = train(args.mode, dims, opt, lr, args.batch or batch, args.epochs or epochs, args)
    else:
        sys.exit(f"unknown mode {args.mode}")
    out["torch_version"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
