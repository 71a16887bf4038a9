#!/usr/bin/env python3
"""Test accuracy of the Keras seed's MNIST recipe over seeds, in mlp and in PyTorch's identical loop.

    python bench/keras_parity.py [--seeds 20] [--first 0] [--out results.json]
    python bench/keras_parity.py --side pytorch --out torch.json      # one side now …
    python bench/keras_parity.py --side mlp --with torch.json         # … the other later, then the table

The recipe: 784-512(ReLU)-10(softmax), Glorot-uniform weights and zero biases, RMSprop lr 1e-3
(rho 0.9, eps 1e-7: Keras's; torch's own defaults are alpha 0.99, eps 1e-8), batch 128, 5 epochs,
20% of the 60 000 training rows held out for validation (so 48 000 trained on), pixels / 255.
mlp runs `target/release/mlp train` with exactly those flags; the torch side holds out a seeded
random 20% too, reshuffles every epoch and averages the cross-entropy over each batch as mlp does.
Each side's seed S drives its own weights, split and shuffles: the two sides see different draws,
which is the point, the question being whether the two distributions of accuracy differ.

Prints a Markdown table (mean, standard deviation, min, max per side) and Welch's t-test of the
difference of the means. Needs numpy, scipy and torch (the bench venv has them); MNIST under
$MLP_DATA_DIR/mnist (default ../shared/data/mnist).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import torch_bench  # noqa: E402  (the MNIST reader and the torch model shared with the speed benchmark)


def mnist_dir():
    return torch_bench.data_dir()


def run_mlp(seed, binary):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m.safetensors")
        d = mnist_dir()
        cmd = [
            binary, "train", "--data", d, "--test", d,
            "--layers", "512:relu,10:softmax", "--optimizer", "rmsprop", "--lr", "0.001",
            "--batch-size", "128", "--epochs", "5", "--validation-split", "0.2",
            "--seed", str(seed), "--out", out, "--log-format", "json", "-q",
        ]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"mlp failed (seed {seed}): {res.stderr.strip()}")
        report = json.loads(res.stdout.strip().splitlines()[-1])
        return report["test"]["accuracy"]


_DATA = {}


def run_torch(seed):
    import torch
    import torch.nn.functional as F

    if not _DATA:
        _DATA["train"], _DATA["test"] = torch_bench.load("train"), torch_bench.load("test")
    (x_all, y_all), (xt, yt) = _DATA["train"], _DATA["test"]
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(x_all.shape[0], generator=g)
    n_valid = round(0.2 * x_all.shape[0])
    train_idx = order[n_valid:]
    x, y = x_all.index_select(0, train_idx).contiguous(), y_all.index_select(0, train_idx).contiguous()
    model = torch_bench.build([784, 512, 10], seed)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    n = x.shape[0]
    for _ in range(5):
        perm = torch.randperm(n, generator=g)
        for s in range(0, n, 128):
            idx = perm[s : s + 128]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x.index_select(0, idx)), y.index_select(0, idx))
            loss.backward()
            opt.step()
    with torch.inference_mode():
        return float((model(xt).argmax(1) == yt).float().mean())


def summary(v):
    return {
        "n": len(v),
        "mean": statistics.fmean(v),
        "std": statistics.stdev(v) if len(v) > 1 else 0.0,
        "min": min(v),
        "max": max(v),
    }


def welch(a, b):
    from scipy import stats

    t, p = stats.ttest_ind(a, b, equal_var=False)
    return float(t), float(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--mlp", default=os.path.join(ROOT, "target", "release", "mlp"))
    ap.add_argument("--out", help="also write every figure as JSON here")
    ap.add_argument("--side", choices=["both", "mlp", "pytorch"], default="both", help="run one side only")
    ap.add_argument("--with", dest="other", help="the other side's figures, from an earlier --out")
    args = ap.parse_args()
    sides = ["mlp", "pytorch"] if args.side == "both" else [args.side]
    if "mlp" in sides and not os.access(args.mlp, os.X_OK):
        sys.exit(f"{args.mlp} is missing: run `cargo build --release -p mlp-cli` first")
    import torch

    seeds = list(range(args.first, args.first + args.seeds))
    load_start = open("/proc/loadavg").read().split()[0]
    acc = {side: [] for side in sides}
    t0 = time.time()
    for s in seeds:
        for side in sides:
            acc[side].append(run_mlp(s, args.mlp) if side == "mlp" else run_torch(s))
        print(f"seed {s}: " + "  ".join(f"{k} {v[-1]:.4f}" for k, v in acc.items()), file=sys.stderr, flush=True)
        load_end = open("/proc/loadavg").read().split()[0]
        if args.out:
            # Rewritten after every seed, so a run cut short keeps what it measured.
            with open(args.out, "w") as f:
                done = seeds[: len(acc[sides[0]])]
                json.dump({"seeds": done, "accuracy": acc, "load": [load_start, load_end]}, f, indent=1)
    if args.other:
        with open(args.other) as f:
            other = json.load(f)
        for k, v in other["accuracy"].items():
            acc.setdefault(k, v)
        print(f"(the {', '.join(other['accuracy'])} figures from {args.other}, load average "
              f"{' → '.join(other.get('load', ['?', '?']))})")
    if len(acc) < 2:
        print(json.dumps(summary(acc[sides[0]])))
        return
    t, p = welch(acc["mlp"], acc["pytorch"])
    rows = {k: summary(v) for k, v in acc.items()}
    print(f"Keras MNIST recipe, seeds {seeds[0]}-{seeds[-1]}, test accuracy (%); torch {torch.__version__}, "
          f"load average {load_start} → {load_end}, {time.time() - t0:.0f} s in all\n")
    print("| side | seeds | mean | std | min | max |")
    print("|---|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['n']} | {100 * r['mean']:.2f} | {100 * r['std']:.2f} | {100 * r['min']:.2f} | {100 * r['max']:.2f} |")
    diff = rows["mlp"]["mean"] - rows["pytorch"]["mean"]
    print(f"\nmlp − pytorch: {100 * diff:+.3f} points; Welch's t = {t:.2f}, two-sided p = {p:.3f}"
          f" ({'a difference at the 5% level' if p < 0.05 else 'no significant difference at the 5% level'})")


if __name__ == "__main__":
    main()
