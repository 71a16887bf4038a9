"""A loaded model file: predictions with the fitted preprocessing, and its metadata."""

import json

import numpy as np

from . import _core
from ._engine import Engine

__all__ = ["Model", "load"]


class Model:
    """A model file (from `mlp train`, `MLPClassifier.save` or `Sequential.save`) ready to predict.

    `predict` takes numbers (a 2-D array, or a DataFrame for a model trained on a table, whose
    text columns are encoded as at training time) and returns the network's outputs: class
    probabilities for a classifier, values for a regression.
    """

    def __init__(self, engine):
        self._engine = engine

    @property
    def classes(self):
        """The class labels in output order, or None for a regression."""
        return self._engine.classes

    @property
    def meta(self):
        """The file's metadata (architecture, loss, input pipeline, training settings) as a dict."""
        return json.loads(self._engine.meta_json())

    def predict(self, x):
        """The network's outputs (probabilities for a classifier) as a float32 array."""
        if _core.is_dataframe(x) and (self._engine.input_kind == "table"):
            cols, rows = _core.frame_rows(x)
            return self._engine.predict_rows(cols, rows)
        return self._engine.predict(_core.as_f32(x))

    def predict_classes(self, x):
        """The most probable class label of each row (`classes` entries)."""
        p = self.predict(x)
        idx = (p[:, 0] >= 0.5).astype(int) if p.shape[1] == 1 else np.argmax(p, axis=1)
        return np.asarray(self.classes, dtype=object)[idx] if self.classes else idx

    def summary(self):
        """The Keras-style summary table, as text."""
        return self._engine.summary()

    def save(self, path):
        """Writes the model file."""
        self._engine.save(str(path))

    def __reduce__(self):
        return (_from_bytes, (bytes(self._engine.to_bytes()),))


def _from_bytes(data):
    return Model(Engine.from_bytes(data))


def load(path):
    """Reads a model file as a `Model`."""
    return Model(Engine.load(str(path)))
