"""Keras callbacks: `EarlyStopping` (run by the engine), `History`, and `Callback` for your own."""

__all__ = ["Callback", "EarlyStopping", "History"]


class Callback:
    """Subclass and override any of these; set `self.model.stop_training = True` to stop."""

    model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


class EarlyStopping(Callback):
    """Stops when `monitor` has not improved by more than `min_delta` for `patience` epochs; with
    `restore_best_weights` the model ends with its best epoch's weights. Runs inside the engine."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", restore_best_weights=False, start_from_epoch=0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if start_from_epoch:
            raise ValueError("start_from_epoch is not available")
        self.monitor = {"acc": "accuracy", "val_acc": "val_accuracy"}.get(monitor, monitor)
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.verbose = verbose
        self.mode = mode
        self.restore_best_weights = bool(restore_best_weights)
        self.stopped_epoch = 0

    def engine(self):
        # The engine stops once `patience` epochs in a row failed to improve; Keras's patience=0
        # (stop at the first epoch without improvement) is the engine's patience 1.
        return {
            "monitor": self.monitor,
            "min_delta": self.min_delta,
            "patience": max(1, self.patience),
            "restore_best_weights": self.restore_best_weights,
        }


class History(Callback):
    """What `fit` returns: `history` maps each metric (`loss`, `accuracy`, `val_loss`, ...) to its
    per-epoch values; `epoch` lists the epochs (0-based, as Keras)."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.params = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
