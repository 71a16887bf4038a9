"""`Sequential`: Keras's model calls (compile, fit, evaluate, predict, summary, save) on the engine."""

import numpy as np

from .. import _core
from .._engine import Engine, summary_of
from . import optimizers as _optimizers
from . import utils as _utils
from .callbacks import Callback, EarlyStopping, History
from .layers import Dense, InputLayer, Layer

__all__ = ["Sequential", "load_model"]

_CLASS_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy")


class Sequential:
    """A stack of layers: `Sequential([Dense(512, activation="relu", input_shape=(784,)), Dense(10,
    activation="softmax")])`. Weights are created by the first `fit` (from the seed of
    `keras.utils.set_random_seed`, else a random one); later `fit` calls continue from them."""

    def __init__(self, layers=None, name="sequential"):
        self.layers = []
        self.name = name
        self._engine = None
        self._input_dim = None
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self.stop_training = False
        self.history = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if not isinstance(layer, Layer):
            raise TypeError(f"expected a layer (Dense, Dropout, Input), got {layer!r}")
        if layer.input_dim is not None:
            if self.layers and not isinstance(self.layers[-1], InputLayer):
                raise ValueError("only the first layer may set the input shape")
            self._input_dim = layer.input_dim
        self.layers.append(layer)
        self._engine = None

    def _spec(self):
        items = [layer.spec() for layer in self.layers]
        items = [s for s in items if s]
        if not items:
            raise ValueError("the model has no layers; add Dense layers first")
        return ",".join(items)

    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Sets the optimizer (a name or an optimizer object), the loss (a Keras name) and the
        metrics reported by `fit` and `evaluate` (e.g. ["accuracy"])."""
        self.optimizer = _optimizers.get(optimizer)
        if not isinstance(loss, str):
            raise TypeError(f"loss must be a Keras loss name, e.g. 'categorical_crossentropy', got {loss!r}")
        self.loss = loss.lower()
        self.metrics = [{"acc": "accuracy"}.get(m, m) for m in (metrics or [])]

    # -- targets --------------------------------------------------------------------------------

    def _out_units(self):
        dense = [layer for layer in self.layers if isinstance(layer, Dense)]
        return dense[-1].units

    def _targets(self, y):
        """(labels, values, n_classes) for the engine from Keras targets."""
        y = np.asarray(y)
        units = self._out_units()
        if self.loss == "categorical_crossentropy":
            y2 = y.reshape(len(y), -1)
            if y2.shape[1] != units:
                raise ValueError(f"targets of shape {y.shape} for an output layer of {units} units; use to_categorical")
            hot = (y2.max(axis=1) == 1) & (y2.sum(axis=1) == 1)
            if hot.all():
                return np.ascontiguousarray(y2.argmax(axis=1), dtype=np.int64), None, units
            return None, _core.as_f32(y2, "y"), None
        if self.loss == "sparse_categorical_crossentropy":
            return np.ascontiguousarray(y.ravel(), dtype=np.int64), None, units
        if self.loss == "binary_crossentropy" and units == 1:
            return np.ascontiguousarray(y.ravel(), dtype=np.int64), None, 2
        return None, _core.as_f32(y.reshape(len(y), -1), "y"), None

    def _classes(self, n_classes):
        return [str(i) for i in range(n_classes)] if n_classes else None

    # -- training -------------------------------------------------------------------------------

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        seed=None,
        device="cpu",
        threads=0,
    ):
        """Trains for `epochs` epochs; returns a `History`. `validation_split` holds out a
        stratified, shuffled fraction (as `mlp train --validation-split`), not Keras's last rows.
        `seed`, `device` and `threads` are this package's extras."""
        if self.optimizer is None or self.loss is None:
            raise RuntimeError("call compile(optimizer=..., loss=...) before fit")
        x = _core.as_f32(x)
        if self._input_dim is not None and x.shape[1] != self._input_dim:
            raise ValueError(f"x has {x.shape[1]} features but the model's input_shape is ({self._input_dim},)")
        labels, values, n_classes = self._targets(y)
        valid = None
        if validation_data is not None:
            vx, vy = validation_data[0], validation_data[1]
            vl, vv, _ = self._targets(vy)
            valid = (_core.as_f32(vx), vl, vv)
        callbacks = list(callbacks or [])
        stopping = [c for c in callbacks if isinstance(c, EarlyStopping)]
        if len(stopping) > 1:
            raise ValueError("give at most one EarlyStopping")
        own = [c for c in callbacks if not isinstance(c, EarlyStopping)]
        if seed is None:
            seed = _utils.seed()
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        cw = None
        if class_weight is not None:
            if n_classes is None:
                raise ValueError("class_weight needs class targets")
            cw = [float(class_weight.get(i, 1.0)) for i in range(n_classes)]
        sw = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float32)
        opt, params = self.optimizer.engine()
        verbose = 1 if verbose == "auto" else int(verbose)
        request = {
            "layers": self._spec(),
            "optimizer": opt,
            "optimizer_params": params,
            "loss": self.loss,
            "n_classes": n_classes,
            "classes": self._classes(n_classes),
            "device": device,
            "batch_progress": verbose == 1 or bool(own),
            "fit": {
                "epochs": int(epochs),
                "batch_size": int(batch_size or 32),
                "shuffle": bool(shuffle),
                "seed": int(seed),
                "validation_split": float(validation_split) if valid is None else 0.0,
                "early_stopping": stopping[0].engine() if stopping else None,
                "class_weights": cw,
                "threads": int(threads),
            },
        }
        history = History()
        keys = self._keys()
        bar = _core.Progress(int(epochs), verbose, keys=keys)
        for c in own + [history]:
            c.set_model(self)
        self.stop_training = False
        state = {"batches": 0}

        def progress(kind, epoch, *rest):
            if kind == "batch":
                batch, batches, loss, acc = rest
                state["batches"] = batches
                if batch == 1:
                    for c in own:
                        c.on_epoch_begin(epoch - 1)
                bar.batch(epoch, batch, batches, loss, acc)
                if own:
                    logs = {"loss": loss, **({"accuracy": acc} if acc is not None else {})}
                    for c in own:
                        c.on_train_batch_end(batch - 1, logs)
            else:
                metrics, seconds, _lr = rest
                logs = {k: metrics[k] for k in keys if k in metrics}
                bar.epoch(epoch, logs, seconds, state["batches"])
                for c in own + [history]:
                    c.on_epoch_end(epoch - 1, logs)
            return self.stop_training

        for c in own:
            c.on_train_begin()
        history.params = {"epochs": int(epochs), "verbose": verbose}
        engine, pending = _core.train(
            request, x, labels=labels, values=values, sample_weight=sw, valid=valid, init=self._engine, progress=progress
        )
        self._engine = engine
        self._input_dim = x.shape[1]
        self.history = history
        for c in own:
            c.on_train_end()
        if stopping:
            epochs_run, stop = _core.history_of(engine)
            if stop.get("reason") == "early_stopping":
                stopping[0].stopped_epoch = stop.get("epoch", 0) - 1
        if pending is not None:
            raise pending
        return history

    def _keys(self):
        keys = ["loss"] + [m for m in self.metrics if m != "loss"]
        return keys + ["val_" + k for k in keys]

    # -- use ------------------------------------------------------------------------------------

    def _fitted(self):
        if self._engine is None:
            raise RuntimeError("the model has no weights yet; call fit (or load a model file) first")
        return self._engine

    def predict(self, x, batch_size=None, verbose=0):
        """The outputs for every row (probabilities for softmax/sigmoid outputs)."""
        return self._fitted().predict(_core.as_f32(x))

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
        """The loss and the compiled metrics on x, y: `[loss, accuracy]` (or the loss alone without
        metrics, or a dict with `return_dict=True`)."""
        engine = self._fitted()
        labels, values, _ = self._targets(y) if self.loss else (None, None, None)
        m = engine.evaluate(_core.as_f32(x), labels=labels, values=values)
        out = {k: m[k] for k in ["loss"] + self.metrics if k in m}
        if verbose not in (0, "0"):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in out.items()))
        if return_dict:
            return out
        vals = list(out.values())
        return vals[0] if len(vals) == 1 else vals

    def summary(self, print_fn=None):
        """Prints Keras's table: each layer's output shape and parameter count."""
        if self._engine is not None:
            text = self._engine.summary()
        elif self._input_dim is not None:
            text = summary_of(self._input_dim, self._spec())
        else:
            raise ValueError("the model's input width is unknown: give the first layer input_shape=(n,), or fit first")
        (print_fn or print)(text.rstrip("\n"))

    def get_weights(self):
        """Kernels `(inputs, units)` and biases, layer after layer, as Keras lists them."""
        out = []
        for w, b in self._fitted().params():
            out += [w, b]
        return out

    def save(self, path, image_shape=None):
        """Writes the safetensors model file `mlp evaluate` and `mlp predict` read. With
        `image_shape=(rows, cols)` the file records that the inputs are image pixels scaled to
        [0, 1] (x / 255), as `mlp train` records for MNIST, so `mlp evaluate --data mnist/` reads it."""
        engine = self._fitted()
        if image_shape is not None:
            engine = engine.with_pixels(*image_shape)
        engine.save(str(path))

    def count_params(self):
        return sum(a.size for a in self.get_weights())


def load_model(path):
    """A `Sequential` from a model file (written by `save`, `MLPClassifier.save` or `mlp train`),
    compiled with the file's loss, ready to predict, evaluate or train further."""
    engine = Engine.load(str(path))
    layers = []
    for i, item in enumerate(engine.layers.split(",")):
        units, act = item.split(":")[:2]
        layers.append(Dense(int(units), activation=act, input_dim=engine.input_dim if i == 0 else None))
    model = Sequential(layers)
    model._engine = engine
    model.optimizer = _optimizers.get("rmsprop")
    model.loss = engine.loss
    model.metrics = ["accuracy"] if engine.classes else []
    return model
