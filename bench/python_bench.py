"""Python benchmark: fit time and test accuracy on MNIST of mlprs's MLPClassifier against
scikit-learn's MLPClassifier and a plain PyTorch loop, measured side by side in one run.

    /work/bench-venv/bin/python bench/python_bench.py [--epochs 10] [--repeats 3] [--data ../shared/data/mnist]

Every contender trains the same network with the same hyperparameters: Adam (lr 0.001, betas 0.9 /
0.999), batch 200 (scikit-learn's 'auto'), L2 alpha 1e-4 as scikit-learn defines it, a fixed
number of epochs (tol=0 with n_iter_no_change beyond the epochs, so nothing stops early), on the 60 000
training images scaled to [0, 1]; accuracy is on the 10 000 test images. The PyTorch loop is what a
user writes by hand: nn.Sequential, Adam with weight_decay = alpha / batch (scikit-learn's penalty
gradient), a shuffled index per epoch, every core. Single-row prediction latency is measured too.
Prints a Markdown table.
"""

import argparse
import gzip
import os
import pathlib
import platform
import statistics
import time
import warnings

import numpy as np


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(d):
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    xs = [idx(d / n) for n in names]
    scale = lambda a: a.reshape(a.shape[0], -1).astype(np.float32) / np.float32(255)
    return scale(xs[0]), xs[1].astype(np.int64), scale(xs[2]), xs[3].astype(np.int64)


def latency(fn, row, n=2000):
    for _ in range(50):
        fn(row)
    t = time.perf_counter()
    for _ in range(n):
        fn(row)
    return (time.perf_counter() - t) / n


def sk_params(hidden, epochs, seed):
    return dict(hidden_layer_sizes=hidden, solver="adam", alpha=1e-4, batch_size=200, learning_rate_init=1e-3,
                max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, random_state=seed, shuffle=True)


def run_mlprs(hidden, epochs, seed, data):
    from mlprs import MLPClassifier

    x, y, xt, yt = data
    clf = MLPClassifier(**sk_params(hidden, epochs, seed))
    t = time.perf_counter()
    clf.fit(x, y)
    fit = time.perf_counter() - t
    row = xt[:1]
    # The engine call alone (the extension's Engine.predict: no estimator code around it), which
    # predict_proba should exceed by a few microseconds at most.
    ENGINE_ALONE.append(latency(clf._engine.predict, row))
    return fit, clf.score(xt, yt), latency(clf.predict_proba, row)


ENGINE_ALONE = []


def run_sklearn(hidden, epochs, seed, data):
    from sklearn.neural_network import MLPClassifier

    x, y, xt, yt = data
    clf = MLPClassifier(**sk_params(hidden, epochs, seed))
    t = time.perf_counter()
    clf.fit(x, y)
    fit = time.perf_counter() - t
    return fit, clf.score(xt, yt), latency(clf.predict_proba, xt[:1], n=500)


def run_torch(hidden, epochs, seed, data):
    import torch
    from torch import nn

    x, y, xt, yt = data
    torch.manual_seed(seed)
    layers, width = [], x.shape[1]
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4 / 200)
    loss_fn = nn.CrossEntropyLoss()
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    t = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), 200):
            b = perm[i : i + 200]
            opt.zero_grad()
            loss = loss_fn(model(X[b]), Y[b])
            loss.backward()
            opt.step()
    fit = time.perf_counter() - t
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean()

        def one(row):
            with torch.no_grad():
                return torch.softmax(model(torch.from_numpy(row)), 1).numpy()

        lat = latency(one, xt[:1])
    return fit, float(acc), lat


def main():
    here = pathlib.Path(__file__).resolve().parents[1]
    default = pathlib.Path(os.environ.get("MLP_DATA_DIR", here.parent / "shared" / "data")) / "mnist"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=pathlib.Path, default=default)
    ap.add_argument("--configs", default="512,100", help="hidden widths, one network each")
    ap.add_argument("--repeats", type=int, default=1, help="rounds of all contenders, in turn; the table gives medians")
    args = ap.parse_args()
    data = load(args.data)
    warnings.simplefilter("ignore")
    import torch

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average before: "
          f"{os.getloadavg()[0]:.2f}; torch {torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"MNIST 60 000 train / 10 000 test, {args.epochs} epochs, Adam lr 1e-3, batch 200, alpha 1e-4, seed {args.seed}, "
          f"{args.repeats} round(s) of the contenders in turn\n")
    print("| network | contender | fit (s), median | range | s/epoch | test accuracy | 1-row predict (µs) | speed-up of mlprs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    contenders = [("mlprs MLPClassifier", run_mlprs), ("scikit-learn MLPClassifier", run_sklearn), ("PyTorch loop", run_torch)]
    for width in [int(w) for w in args.configs.split(",")]:
        hidden = (width,)
        runs = {name: [] for name, _ in contenders}
        # Rounds of every contender in turn, so that a slow spell of a shared host falls on all of them.
        for _ in range(args.repeats):
            for name, fn in contenders:
                runs[name].append(fn(hidden, args.epochs, args.seed, data))
        ours = statistics.median(r[0] for r in runs[contenders[0][0]])
        for name, fn in contenders:
            fits = [r[0] for r in runs[name]]
            fit, (_, acc, lat) = statistics.median(fits), runs[name][-1]
            speed = "—" if fn is run_mlprs else f"{fit / ours:.1f}×"
            print(f"| 784-{width}-10 | {name} | {fit:.1f} | {min(fits):.1f}–{max(fits):.1f} | {fit / args.epochs:.2f} | "
                  f"{100 * acc:.2f}% | {lat * 1e6:.0f} | {speed} |", flush=True)
    print("\nmlprs's 1-row figure is predict_proba; the extension's Engine.predict alone on the same row took "
          + ", ".join(f"{t * 1e6:.0f} µs" for t in ENGINE_ALONE[args.repeats - 1 :: args.repeats]) + " (one per network, in the table's order)")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
