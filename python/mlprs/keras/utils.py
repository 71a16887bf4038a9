"""Keras utilities: `to_categorical` and `set_random_seed`."""

import numpy as np

__all__ = ["to_categorical", "set_random_seed"]

_seed = None


def to_categorical(y, num_classes=None, dtype="float32"):
    """Class indices as one-hot rows."""
    y = np.asarray(y, dtype=np.int64).ravel()
    if y.size and y.min() < 0:
        raise ValueError("class indices must be >= 0")
    n = int(num_classes) if num_classes is not None else (int(y.max()) + 1 if y.size else 0)
    if y.size and y.max() >= n:
        raise ValueError(f"a class index is {y.max()} but num_classes is {n}")
    out = np.zeros((y.size, n), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out


def set_random_seed(seed):
    """The seed of every later `fit` (weights, validation split, shuffles), as the CLI's `--seed`."""
    global _seed
    _seed = int(seed)
    np.random.seed(_seed)


def seed():
    return _seed
