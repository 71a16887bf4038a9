"""Two spirals and make_circles through both APIs: the scikit-learn estimator and Keras's Sequential."""

import numpy as np
import pytest
from sklearn.datasets import make_circles

from mlprs import MLPClassifier, keras
from mlprs.keras.layers import Dense


def spirals(n=500, noise=0.2, seed=0):
    """Two interleaved spirals, `n` points each (the classic benchmark of Lang and Witbrock)."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    a = np.column_stack([t * np.cos(t), t * np.sin(t)]) / (3 * np.pi)
    x = np.vstack([a, -a]) + rng.normal(0, noise / (3 * np.pi), (2 * n, 2))
    return x.astype(np.float32), np.repeat([0, 1], n)


def circles():
    x, y = make_circles(1000, noise=0.05, factor=0.5, random_state=0)
    return x.astype(np.float32), y


DATA = {"spirals": (spirals, 0.97), "circles": (circles, 0.99)}


@pytest.mark.parametrize("name", DATA)
def test_sklearn_api(name):
    make, target = DATA[name]
    x, y = make()
    clf = MLPClassifier((64, 64), learning_rate_init=0.01, max_iter=300, random_state=0).fit(x, y)
    assert clf.score(x, y) >= target
    assert clf.out_activation_ == "logistic" and clf.classes_.tolist() == [0, 1]
    assert len(clf.loss_curve_) == clf.n_iter_ and clf.t_ == clf.n_iter_ * len(x)


@pytest.mark.parametrize("name", DATA)
def test_keras_api(name):
    make, target = DATA[name]
    x, y = make()
    model = keras.Sequential([Dense(64, activation="relu", input_shape=(2,)), Dense(64, activation="relu"), Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=200, batch_size=32, seed=0, verbose=0)
    assert set(history.history) == {"loss", "accuracy"} and len(history.history["loss"]) == 200
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc >= target, acc
    assert model.predict(x).shape == (len(x), 2)
