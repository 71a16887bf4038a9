"""What both front ends share: array intake, DataFrame encoding, the training call, progress."""

import json
import sys
import time

import numpy as np

from . import _engine

__all__ = ["as_f32", "optimizer_names", "train", "Progress", "is_dataframe", "frame_rows"]


def as_f32(x, what="X"):
    """`x` as a 2-D float32 C-contiguous array: the array itself when it already is one (the
    engine then reads it in place), else one conversion."""
    a = np.asarray(x)
    if a.ndim == 1:
        a = a.reshape(-1, 1) if what != "X" else a.reshape(1, -1)
    if a.ndim != 2:
        raise ValueError(f"{what} must be 2-dimensional, got shape {a.shape}")
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=np.float32)
    return a


def optimizer_names():
    """The optimizers this engine build has, e.g. ['sgd', 'momentum', ..., 'adamw']."""
    return [n.strip() for n in _engine.optimizer_names().split(",")]


def check_optimizer(name):
    names = optimizer_names()
    if name not in names:
        raise ValueError(
            f"solver/optimizer {name!r} is not available in this engine; available: {', '.join(names)}"
        )


def is_dataframe(x):
    return type(x).__module__.split(".")[0] == "pandas" and hasattr(x, "columns") and hasattr(x, "dtypes")


def needs_table(df):
    """Whether a DataFrame needs the engine's table preprocessing (it has text, category or boolean
    columns); an all-numeric one goes in as numbers."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return any(is_bool_dtype(dt) or not is_numeric_dtype(dt) for dt in df.dtypes)


def _cell(v):
    if v is None:
        return ""
    try:
        if v != v:  # NaN, pandas NA
            return ""
    except (TypeError, ValueError):
        return ""
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


def frame_rows(df, extra=None):
    """A DataFrame (plus an optional extra column `(name, values)`) as column names and rows of text
    cells, the form the engine's table pipeline reads (missing cells are empty)."""
    columns = [str(c) for c in df.columns]
    cols = [[_cell(v) for v in df[c].tolist()] for c in df.columns]
    if extra is not None:
        columns.append(extra[0])
        cols.append([_cell(v) for v in extra[1]])
    rows = [list(r) for r in zip(*cols)] if cols else []
    return columns, rows


def train(request, x, labels=None, values=None, sample_weight=None, valid=None, init=None, progress=None):
    """Runs the engine's training; returns the engine. A KeyboardInterrupt (Ctrl-C) that stopped
    training is raised after `on_model` could keep the model trained so far, via the returned pair."""
    vx = vl = vv = None
    if valid is not None:
        vx, vl, vv = valid
    engine, pending = _engine.fit(
        json.dumps(request),
        x,
        labels=labels,
        values=values,
        sample_weight=sample_weight,
        valid_x=vx,
        valid_labels=vl,
        valid_values=vv,
        init=init,
        progress=progress,
    )
    return engine, pending


def history_of(engine):
    """The engine's history as (list of per-epoch metric dicts, stop reason dict)."""
    text = engine.history_json()
    if text is None:
        return [], {}
    h = json.loads(text)
    epochs = []
    for rec in h["epochs"]:
        m = dict(rec["metrics"])
        m["epoch"] = rec["epoch"]
        m["lr"] = rec["lr"]
        epochs.append(m)
    return epochs, h.get("stop", {})


class Progress:
    """Keras's `verbose=1` display: one bar per epoch, redrawn at most 10 times a second, ending
    with the epoch's metrics; `verbose=2` prints one line per epoch."""

    def __init__(self, epochs, verbose=1, keys=None, stream=None):
        self.epochs = epochs
        self.verbose = verbose
        self.keys = keys
        self.stream = stream or sys.stdout
        self.last = 0.0
        self.start = time.perf_counter()

    def _metrics(self, metrics):
        keys = self.keys if self.keys is not None else sorted(metrics)
        return " - ".join(f"{k}: {metrics[k]:.4f}" for k in keys if k in metrics)

    def batch(self, epoch, batch, batches, loss, accuracy):
        now = time.perf_counter()
        if batch == 1:
            self.start = now
            if self.verbose == 1:
                self.stream.write(f"Epoch {epoch}/{self.epochs}\n")
        if self.verbose != 1 or (now - self.last < 0.1 and batch != batches):
            return
        self.last = now
        width = 20
        done = int(width * batch / batches)
        bar = "━" * done + ("━" if done < width else "") + " " * max(0, width - done - 1)
        m = {"loss": loss}
        if accuracy is not None:
            m["accuracy"] = accuracy
        step = (now - self.start) / batch
        self.stream.write(
            f"\r{batch:>{len(str(batches))}}/{batches} {bar} {now - self.start:.0f}s {step * 1e3:.0f}ms/step - "
            f"{self._metrics(m)}"
        )
        self.stream.flush()

    def epoch(self, epoch, metrics, seconds, batches):
        if self.verbose == 1:
            self.stream.write(
                f"\r{batches}/{batches} {'━' * 20} {seconds:.0f}s {seconds / max(batches, 1) * 1e3:.0f}ms/step - "
                f"{self._metrics(metrics)}\n"
            )
        elif self.verbose == 2:
            self.stream.write(f"Epoch {epoch}/{self.epochs} - {seconds:.0f}s - {self._metrics(metrics)}\n")
        self.stream.flush()
