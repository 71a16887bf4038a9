"""scikit-learn estimators on the mlp engine: `MLPClassifier` and `MLPRegressor`, with
scikit-learn's parameter names, defaults and fitted attributes.

Differences from scikit-learn's own MLPs, all additive unless noted:

* `solver` takes every optimizer the engine has (`mlprs.optimizer_names()`), a superset of
  'sgd' and 'adam'; 'lbfgs' raises a ValueError naming the available ones until the engine has it
  (then it runs full batch, `max_iter` counting L-BFGS iterations, 20 per engine epoch).
* Extras: `class_weight` (None, 'balanced' or a dict), `dropout` (a rate after every hidden layer,
  passed to the engine's layer spec), `device` ('cpu', 'cuda'), `n_jobs` (threads; None or -1:
  every core).
* `validation_loss_curve_`: the validation loss per epoch, whenever validation data exists
  (`early_stopping=True`).
* `learning_rate='invscaling'` is not available (ValueError); 'adaptive' divides the rate by 5
  after two epochs without improvement, as scikit-learn does.
* `partial_fit` continues from the current weights; the optimizer's moment estimates start afresh
  at each call.
* A pandas DataFrame with text, category or boolean columns goes through the engine's table
  pipeline (one-hot categories, imputed missing cells, standardization), stored in the model
  file like `mlp train` stores a CSV file's; an all-numeric DataFrame is used as numbers.
"""

import json
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data

from . import _core
from ._engine import Engine

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid"}


class _BaseMLP(BaseEstimator):
    _classifier = False

    def _hidden(self):
        h = self.hidden_layer_sizes
        h = list(h) if hasattr(h, "__iter__") and not isinstance(h, str) else [h]
        for v in h:
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"hidden_layer_sizes must be > 0, got {self.hidden_layer_sizes}.")
        return [int(v) for v in h]

    def _spec(self, out):
        act = _ACTIVATIONS.get(self.activation, self.activation)
        if not isinstance(act, str):
            raise ValueError(f"activation must be a string, got {self.activation!r}")
        items = []
        for h in self._hidden():
            items.append(f"{h}:{act}")
            if self.dropout:
                items.append(f"dropout({float(self.dropout)})")
        items.append(out)
        return ",".join(items)

    def _optimizer(self):
        lr = float(self.learning_rate_init)
        if not lr > 0:
            raise ValueError(f"learning_rate_init must be > 0, got {self.learning_rate_init}.")
        names = _core.optimizer_names()
        s = self.solver
        if s == "sgd":
            m = float(self.momentum)
            name = ("nesterov" if self.nesterovs_momentum else "momentum") if m > 0 else "sgd"
            return name, {"lr": lr, "momentum": m}
        if s not in names:
            raise ValueError(
                f"solver={s!r} is not available in this engine; available solvers: {', '.join(names)}"
            )
        if s == "lbfgs":
            # Full batch with the engine's (torch's) settings; learning_rate_init is an SGD/Adam setting.
            return s, {}
        params = {"lr": lr, "momentum": float(self.momentum), "eps": float(self.epsilon)}
        params.update(beta1=float(self.beta_1), beta2=float(self.beta_2))
        return s, params

    def _schedule(self):
        if self.solver != "sgd" or self.learning_rate == "constant":
            return {"name": "constant"}
        if self.learning_rate == "adaptive":
            return {"name": "reduce_on_plateau", "factor": 0.2, "patience": 2, "min_delta": float(self.tol), "min_lr": 1e-6}
        raise ValueError(
            f"learning_rate={self.learning_rate!r} is not available; use 'constant' or 'adaptive'"
        )

    def _seed(self):
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool) and rs >= 0:
            return int(rs)
        return int(check_random_state(rs).randint(0, 2**31 - 1))

    def _batch(self, n):
        if self.batch_size == "auto":
            return max(1, min(200, n))
        bs = int(self.batch_size)
        if bs < 1 or bs > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        return max(1, min(bs, n))

    # -- fitting ---------------------------------------------------------------------------------

    def _intake(self, X, y, reset):
        """X (float32, C order) and y, checked; for a DataFrame with text columns, the encoded
        features and the fitted pipeline."""
        if _core.is_dataframe(X) and _core.needs_table(X):
            if not reset and getattr(self, "_table_input", None) is None:
                raise ValueError("this model was fitted on numbers; give it numbers, not a DataFrame with text columns")
            return self._table_intake(X, y, reset)
        if reset:
            self._table_input = None
        elif getattr(self, "_table_input", None) is not None:
            raise ValueError("this model was fitted on a DataFrame with text columns; give it such a DataFrame")
        X, y = validate_data(
            self, X, y, reset=reset, dtype=np.float32, order="C", multi_output=not self._classifier,
            y_numeric=not self._classifier,
        )
        return X, y, None

    def _table_intake(self, X, y, reset):
        if y is None:
            raise ValueError("requires y to be passed, but the target y is None")
        target = str(getattr(y, "name", None) or "target")
        y = np.asarray(y)
        columns = [str(c) for c in X.columns]
        if target in columns:
            target = target + "_target"
        if reset:
            self.feature_names_in_ = np.asarray(columns, dtype=object)
            self.n_features_in_ = len(columns)
        elif list(self.feature_names_in_) != columns:
            raise ValueError("the DataFrame's columns differ from the ones seen in fit")
        cols, rows = _core.frame_rows(X, (target, list(y.ravel())))
        x, _, _, spec, labels = _core._engine.encode_table(cols, rows, target, classes=self._classifier, impute=True)
        # The target went through the table pipeline so that the file's pipeline knows it (for
        # `mlp evaluate`); the estimator keeps its own labels (classes_) and maps to the file's.
        self._table_input = spec
        self._table_classes = labels
        return x, y, spec

    def _request(self, n, loss, out, n_classes, incremental, features, input_spec, classes, class_weights, batch_progress):
        bs = self._batch(n)
        opt, params = self._optimizer()
        if not (isinstance(self.max_iter, numbers.Integral) and self.max_iter > 0):
            raise ValueError(f"max_iter must be > 0, got {self.max_iter}.")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}.")
        if not (0 <= float(self.dropout) < 1):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")
        early = bool(self.early_stopping) and not incremental
        if early:
            monitor = "val_accuracy" if self._classifier else "val_r2"
            stopping = {"monitor": monitor, "min_delta": float(self.tol), "patience": int(self.n_iter_no_change) + 1, "restore_best_weights": True}
        else:
            stopping = {"monitor": "loss", "min_delta": float(self.tol), "patience": int(self.n_iter_no_change) + 1, "restore_best_weights": False}
        n_jobs = self.n_jobs
        threads = 0 if n_jobs is None or n_jobs < 0 else int(n_jobs)
        return {
            "layers": self._spec(out),
            # scikit-learn's penalty is alpha/2 · ‖W‖² per batch of n rows (gradient alpha·W/n); the
            # engine's l2 adds 2·l2·W to each step's gradient.
            "l2": float(self.alpha) / (2.0 * bs),
            "optimizer": opt,
            "optimizer_params": params,
            "loss": loss,
            "n_classes": n_classes,
            "features": features,
            "input": input_spec,
            "classes": classes,
            "device": self.device,
            "batch_progress": batch_progress,
            "fit": {
                # An L-BFGS "epoch" is one full-batch step of up to 20 iterations: max_iter counts iterations.
                "epochs": 1 if incremental else (-(-int(self.max_iter) // 20) if opt == "lbfgs" else int(self.max_iter)),
                "batch_size": bs,
                "shuffle": bool(self.shuffle),
                "seed": self._seed(),
                "validation_split": float(self.validation_fraction) if early else 0.0,
                "early_stopping": None if incremental else stopping,
                "class_weights": class_weights,
                "threads": threads,
                "schedule": self._schedule(),
            },
        }

    def _progress(self):
        if not self.verbose:
            return None

        def report(kind, epoch, metrics, *rest):
            if kind == "epoch":
                self._printed = getattr(self, "_printed", 0) + 1
                line = f"Iteration {self._iter_base + epoch}, loss = {metrics['loss']:.8f}"
                if "val_loss" in metrics:
                    line += f", validation loss = {metrics['val_loss']:.8f}"
                print(line)
            return False

        return report

    def _run(self, X, y, sample_weight, incremental, classes=None):
        first = not hasattr(self, "_engine") or not (incremental or self.warm_start)
        X, y, input_spec = self._intake(X, y, reset=first)
        n = X.shape[0]
        labels, values, n_classes, out, loss, class_names, class_weights = self._targets(y, first, classes)
        self._perm = None
        if input_spec is not None and self._classifier:
            # Train in the order of the file's class labels (what `mlp evaluate` decodes with).
            file_labels = list(self._table_classes)
            perm = np.array([file_labels.index(str(c)) for c in self.classes_])
            labels = np.ascontiguousarray(perm[labels], dtype=np.int64)
            if class_weights is not None:
                w = [1.0] * len(file_labels)
                for i, j in enumerate(perm):
                    w[j] = class_weights[i]
                class_weights = w
            class_names, n_classes, self._perm = file_labels, len(file_labels), perm
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(_check_sample_weight(sample_weight, X, dtype=np.float32))
            if self._classifier:
                alive = np.unique(labels[sample_weight > 0])
                if alive.size < 2:
                    raise ValueError("only one class has samples of positive weight; a classifier needs two classes")
            if np.all(sample_weight == 1):
                sample_weight = None
        features = None
        if input_spec is None:
            names = getattr(self, "feature_names_in_", None)
            features = [str(c) for c in names] if names is not None else [f"x{i + 1}" for i in range(X.shape[1])]
        request = self._request(
            n, loss, out, n_classes, incremental, features,
            json.loads(input_spec) if input_spec else None, class_names, class_weights, False,
        )
        init = None if first else self._engine
        self._iter_base = 0 if first else self.n_iter_
        engine, pending = _core.train(request, X, labels=labels, values=values, sample_weight=sample_weight, init=init, progress=self._progress())
        self._engine = engine
        self._fitted(engine, n, first, incremental, request)
        if pending is not None:
            raise pending
        return self

    def _fitted(self, engine, n, first, incremental, request):
        params = engine.params()
        self.coefs_ = [w for w, _ in params]
        self.intercepts_ = [b for _, b in params]
        epochs, stop = _core.history_of(engine)
        losses = [e["loss"] for e in epochs]
        val_loss = [e["val_loss"] for e in epochs if "val_loss" in e]
        base_iter = 0 if first else self.n_iter_
        base_t = 0 if first else self.t_
        self.loss_curve_ = losses if first else list(self.loss_curve_) + losses
        self.n_iter_ = base_iter + len(epochs)
        n_train = n - int(round(n * request["fit"]["validation_split"]))
        self.t_ = base_t + n_train * len(epochs)
        early = request["fit"]["validation_split"] > 0
        self.validation_loss_curve_ = val_loss if val_loss else None
        if early:
            key = "val_accuracy" if self._classifier else "val_r2"
            self.validation_scores_ = [e[key] for e in epochs if key in e]
            self.best_validation_score_ = max(self.validation_scores_) if self.validation_scores_ else None
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None
        self.n_layers_ = len(self._hidden()) + 2
        self.n_outputs_ = engine.output_dim
        if (
            not incremental
            and stop.get("reason") == "completed"
            and len(epochs) == request["fit"]["epochs"]
        ):
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
            )

    # -- prediction --------------------------------------------------------------------------------

    def _outputs(self, X, proba=False):
        # Attribute lookups in __dict__, not check_is_fitted/hasattr: one row through the engine
        # costs tens of microseconds, and this path should add no more than a few.
        state = self.__dict__
        engine = state.get("_engine")
        if engine is None:
            check_is_fitted(self)
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet.")
        if state.get("_table_input") is not None:
            if not _core.is_dataframe(X):
                raise ValueError("this model was fitted on a DataFrame with text columns; give it such a DataFrame")
            cols, rows = _core.frame_rows(X)
            return engine.predict_rows(cols, rows, proba)
        if (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in _FLOATS
            and X.shape[0]
            and X.shape[1] == state["n_features_in_"]
            and "feature_names_in_" not in state
        ):
            # The fast path for arrays (validate_data costs ~100 µs); the engine refuses NaN and inf
            # with a message naming the row and column.
            if X.dtype != np.float32 or not X.flags.c_contiguous:
                X = np.ascontiguousarray(X, dtype=np.float32)
            return engine.predict(X, proba)
        X = validate_data(self, X, reset=False, dtype=np.float32, order="C")
        return engine.predict(X, proba)

    # -- files and pickling --------------------------------------------------------------------------

    def save(self, path):
        """Writes the fitted model as the safetensors model file the `mlp` command reads."""
        check_is_fitted(self)
        self._engine.save(str(path))

    def __getstate__(self):
        state = super().__getstate__()
        if isinstance(state.get("_engine"), Engine):
            state = dict(state)
            state["_engine"] = bytes(state["_engine"].to_bytes())
        return state

    def __setstate__(self, state):
        if isinstance(state.get("_engine"), (bytes, bytearray)):
            state = dict(state)
            state["_engine"] = Engine.from_bytes(state["_engine"])
        super().__setstate__(state)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_engine")


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier on the mlp engine, with scikit-learn's parameters.

    Binary problems get one logistic output unit and binary cross-entropy, more classes a softmax
    layer and categorical cross-entropy (`out_activation_` says which).
    """

    _classifier = True

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        class_weight=None,
        dropout=0.0,
        device="cpu",
        n_jobs=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.class_weight = class_weight
        self.dropout = dropout
        self.device = device
        self.n_jobs = n_jobs

    def _targets(self, y, first, classes):
        check_classification_targets(y)
        y = column_or_1d(y, warn=True)
        if first:
            if classes is not None:
                self.classes_ = unique_labels(classes)
            else:
                self.classes_ = unique_labels(y)
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"`classes={classes}` is not the same as on the last call to partial_fit, was: {self.classes_}")
        unseen = np.setdiff1d(unique_labels(y), self.classes_)
        if unseen.size:
            raise ValueError(f"y has classes not in `self.classes_` (seen in the first fit): {list(unseen)}")
        k = len(self.classes_)
        if k < 2:
            raise ValueError(
                f"MLPClassifier needs samples of at least 2 classes in the data, but the data contains only one class: {self.classes_[0]!r}"
            )
        labels = np.ascontiguousarray(np.searchsorted(self.classes_, y), dtype=np.int64)
        if k == 2:
            out, loss, self.out_activation_ = "1:sigmoid", "binary_crossentropy", "logistic"
        else:
            out, loss, self.out_activation_ = f"{k}:softmax", "categorical_crossentropy", "softmax"
        cw = self.class_weight
        if cw is None:
            weights = None
        elif isinstance(cw, str) and cw == "balanced":
            present = np.unique(labels)
            w = np.zeros(k)
            w[present] = compute_class_weight("balanced", classes=self.classes_[present], y=y)
            weights = [float(v) for v in w]
        elif isinstance(cw, dict):
            weights = [float(cw.get(c, 1.0)) for c in self.classes_]
        else:
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {cw!r}")
        return labels, None, k, out, loss, [str(c) for c in self.classes_], weights

    def fit(self, X, y, sample_weight=None):
        """Trains on X, y for at most `max_iter` epochs (continuing from the current weights when
        `warm_start` is set)."""
        return self._run(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over X, y; the first call needs `classes` (every label y will ever hold)."""
        if not hasattr(self, "_engine") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._run(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of `classes_`."""
        p = self._outputs(X, proba=True)
        perm = self.__dict__.get("_perm")
        return p if perm is None else p[:, perm]

    def predict_log_proba(self, X):
        """The logarithm of `predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each row."""
        p = self.predict_proba(X)
        return self.classes_[np.argmax(p, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor on the mlp engine: identity outputs, squared error."""

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        device="cpu",
        n_jobs=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.device = device
        self.n_jobs = n_jobs

    def _targets(self, y, first, classes):
        if self.loss != "squared_error":
            raise ValueError(f"loss={self.loss!r} is not available; MLPRegressor supports 'squared_error'")
        y = np.asarray(y, dtype=np.float32)
        if first:
            self._y_1d = y.ndim == 1
        values = np.ascontiguousarray(y.reshape(y.shape[0], -1), dtype=np.float32)
        self.out_activation_ = "identity"
        return None, values, None, f"{values.shape[1]}:linear", "mse", None, None

    def fit(self, X, y, sample_weight=None):
        """Trains on X, y for at most `max_iter` epochs."""
        return self._run(X, y, sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X, y."""
        return self._run(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predicted values: shape (n,) for a single target, else (n, n_targets)."""
        p = np.asarray(self._outputs(X), dtype=np.float64)
        return p.ravel() if p.shape[1] == 1 else p

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
