"""Shared fixtures: the data directory (MLP_DATA_DIR, else ../shared/data beside the repository),
the `mlp` binary (target/release, built when missing) and one MNIST load reused by every test."""

import gzip
import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def data_dir():
    d = os.environ.get("MLP_DATA_DIR")
    return pathlib.Path(d) if d else REPO.parent / "shared" / "data"


def _idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


@pytest.fixture(scope="session")
def mnist():
    """(x_train, y_train, x_test, y_test): pixels scaled to [0, 1] in float32 as the engine's IDX
    reader scales them (f32 division by 255), labels as int64. Missing data fails loudly."""
    d = data_dir() / "mnist"
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    missing = [n for n in names if not (d / n).exists()]
    if missing:
        pytest.fail(f"MNIST is required for this test: {', '.join(missing)} missing in {d} (set MLP_DATA_DIR)")
    xs = [_idx(d / n) for n in names]
    scale = lambda a: a.reshape(a.shape[0], -1).astype(np.float32) / np.float32(255)
    return scale(xs[0]), xs[1].astype(np.int64), scale(xs[2]), xs[3].astype(np.int64)


@pytest.fixture(scope="session")
def mlp_bin():
    """The `mlp` command: target/release/mlp, built when it is missing."""
    exe = REPO / "target" / "release" / "mlp"
    if not exe.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "mlp-cli"], cwd=REPO, check=True)
    return exe
