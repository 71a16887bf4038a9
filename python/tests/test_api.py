"""The details of the Python API: errors of the right kind with the engine's message, parameters,
fitted attributes, threads, copies and latency."""

import threading
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import mlprs
from mlprs import MLPClassifier, MLPRegressor, keras
from mlprs.keras.layers import Dense, Dropout


def data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 1)


def test_errors_are_python_exceptions_with_the_engine_message():
    x, y = data()
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(x)
    with pytest.raises(ValueError, match="newton.*available solvers: sgd, .*adam"):
        MLPClassifier(solver="newton").fit(x, y)
    if "lbfgs" in mlprs.optimizer_names():
        assert MLPClassifier(solver="lbfgs", max_iter=40, random_state=0).fit(x, y).score(x, y) > 0.8
    else:
        with pytest.raises(ValueError, match="lbfgs.*available solvers: sgd, .*adam"):
            MLPClassifier(solver="lbfgs").fit(x, y)
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier(activation="swishy", max_iter=1).fit(x, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPClassifier(hidden_layer_sizes=(0,)).fit(x, y)
    with pytest.raises(ValueError, match="invalid learning rate"):
        model = keras.Sequential([Dense(3, activation="softmax", input_shape=(5,))])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=-1.0), loss="sparse_categorical_crossentropy")
        model.fit(x, y, verbose=0)
    with pytest.raises(TypeError, match="C-contiguous"):
        mlprs._engine.fit('{"layers": "1:linear", "optimizer": "adam", "loss": "mse"}', x[:, ::2], values=np.zeros((len(x), 1), np.float32))
    clf = MLPClassifier(max_iter=5).fit(x, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(x[:, :3])
    with pytest.raises(OSError):
        mlprs.load("/nonexistent/model.safetensors")
    with pytest.raises(ValueError, match="device"):
        MLPClassifier(device="tpu", max_iter=1).fit(x, y)


def test_fitted_attributes_and_params():
    x, y = data()
    clf = MLPClassifier((16, 8), max_iter=20, early_stopping=True, n_iter_no_change=50, random_state=0, class_weight="balanced")
    clf.fit(x, y)
    assert [w.shape for w in clf.coefs_] == [(5, 16), (16, 8), (8, 3)]
    assert [b.shape for b in clf.intercepts_] == [(16,), (8,), (3,)]
    assert clf.n_iter_ == 20 and clf.n_layers_ == 4 and clf.out_activation_ == "softmax"
    assert len(clf.validation_scores_) == 20 and len(clf.validation_loss_curve_) == 20
    assert clf.best_loss_ is None and clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.t_ == 20 * 360
    assert clone(clf).get_params() == clf.get_params()
    assert clf.set_params(alpha=0.1).alpha == 0.1
    p = clf.predict_proba(x)
    assert p.shape == (len(x), 3) and np.allclose(p.sum(axis=1), 1)


def test_partial_fit_and_warm_start_continue():
    x, y = data()
    clf = MLPClassifier((16,), random_state=0)
    for _ in range(3):
        clf.partial_fit(x, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    assert clf.loss_curve_[2] < clf.loss_curve_[0]
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0)
    reg.fit(x, x[:, 0]).fit(x, x[:, 0])
    assert reg.n_iter_ == 10


def test_numeric_dataframe_keeps_column_names():
    x, y = data()
    df = pd.DataFrame(x, columns=list("abcde"))
    clf = MLPClassifier(max_iter=5).fit(df, y)
    assert list(clf.feature_names_in_) == list("abcde")
    assert (clf.predict(df) == clf.predict(x)).all()


def test_dropout_goes_to_the_engine_spec():
    x, y = data()
    try:
        clf = MLPClassifier((16,), dropout=0.2, max_iter=3).fit(x, y)
    except ValueError as e:
        # An engine without dropout refuses the spec item by name.
        assert "dropout" in str(e)
    else:
        assert clf.predict(x).shape == (len(x),)


def test_float32_c_arrays_are_not_copied_before_the_engine():
    from mlprs._core import as_f32

    x = np.zeros((4, 3), np.float32)
    assert as_f32(x) is x
    assert as_f32(np.zeros((4, 3))).dtype == np.float32
    assert as_f32(np.asfortranarray(x)).flags.c_contiguous


def test_fit_releases_the_gil():
    x = np.random.default_rng(0).normal(size=(20000, 50)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    ticks = []
    clf = MLPClassifier((256,), max_iter=3, random_state=0, n_jobs=1)
    t = threading.Thread(target=lambda: clf.fit(x, y))
    t.start()
    while t.is_alive():
        ticks.append(1)
        time.sleep(0.001)
    t.join()
    # The main thread kept running (a held GIL would allow a handful of switches at most).
    assert len(ticks) > 20 and clf.n_iter_ == 3


def test_single_row_predict_costs_microseconds():
    x, y = data()
    clf = MLPClassifier((64,), max_iter=2).fit(x, y)
    row = x[:1]
    m = mlprs.Model(clf._engine)
    for _ in range(100):
        m.predict(row)
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        clf._engine.predict(row)
    engine = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for _ in range(n):
        m.predict(row)
    wrapped = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for _ in range(n):
        clf.predict_proba(row)
    est = (time.perf_counter() - t) / n
    print(f"one row: engine call {engine * 1e6:.1f} µs, Model.predict {wrapped * 1e6:.1f} µs, predict_proba {est * 1e6:.1f} µs")
    assert wrapped - engine < 20e-6 and est < 200e-6


def test_keras_summary_history_and_early_stopping(capsys):
    x, y = data()
    model = keras.Sequential([Dense(16, activation="relu", input_shape=(5,)), Dense(3, activation="softmax")])
    model.summary()
    assert "Total params: 147" in capsys.readouterr().out
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = model.fit(x, keras.utils.to_categorical(y, 3), epochs=500, validation_split=0.25, callbacks=[stop], seed=0, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/500" in out and "val_accuracy" in out
    assert len(h.history["loss"]) < 500 and stop.stopped_epoch > 0
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}

    class Stopper(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.model.stop_training = True

    h = model.fit(x, keras.utils.to_categorical(y, 3), epochs=50, callbacks=[Stopper()], verbose=0)
    assert len(h.history["loss"]) == 3
    with pytest.raises(ValueError, match="dropout|layer"):
        try:
            d = keras.Sequential([Dense(8, activation="relu", input_shape=(5,)), Dropout(0.5), Dense(3, activation="softmax")])
            d.compile(optimizer="adam", loss="categorical_crossentropy")
            d.fit(x, keras.utils.to_categorical(y, 3), epochs=1, verbose=0)
        except ValueError:
            raise
        else:
            raise ValueError("dropout trained: the engine has it")
