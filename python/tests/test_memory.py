"""fit reads float32 C-contiguous arrays in place: training on a 240 MB array in a child process
raises its peak memory by far less than one copy of the array would (the engine's batches are
gathered straight from numpy's buffer), through the scikit-learn API (its validation rows a
split of X) and the Keras API (its validation_data the second half of the array)."""

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import resource, sys, numpy as np
    from mlprs import MLPClassifier
    from mlprs.keras import Sequential, layers
    from mlprs.keras.optimizers import Adam
    rng = np.random.default_rng(0)
    n, d = 120_000, 500
    x = rng.standard_normal((n, d), dtype=np.float32)  # 240 MB, drawn as float32: no float64 temporary
    y = (x[:, 0] > 0).astype(np.int64)
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
    before = peak()
    if sys.argv[1] == "sklearn":
        clf = MLPClassifier((8,), batch_size=500, max_iter=2, tol=0, early_stopping=True, random_state=0).fit(x, y)
        acc = clf.score(x[:2000], y[:2000])
        assert len(clf.validation_scores_) == 2, clf.validation_scores_
    else:
        model = Sequential([layers.Dense(8, activation="relu", input_shape=(d,)), layers.Dense(2, activation="softmax")])
        model.compile(optimizer=Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        half = n // 2  # two views of x, neither a copy: training rows and validation rows
        h = model.fit(x[:half], y[:half], epochs=4, batch_size=500, validation_data=(x[half:], y[half:]), verbose=0)
        assert len(h.history["val_accuracy"]) == 4 and h.history["val_accuracy"][-1] > 0.8, h.history
        acc = model.evaluate(x[:2000], y[:2000], verbose=0)[1]
    print(x.nbytes / 2**20, before, peak(), acc)
    """
)


def run(api):
    out = subprocess.run([sys.executable, "-c", CHILD, api], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    size, before, after, acc = map(float, out.stdout.split()[-4:])
    return size, after - before, acc


def test_sklearn_fit_makes_no_copy_of_a_float32_array():
    size, grew, acc = run("sklearn")
    assert acc > 0.8, acc  # it learned (chance is 0.5)
    assert grew < 0.25 * size, f"peak memory grew {grew:.0f} MiB training on a {size:.0f} MiB array"


def test_keras_fit_makes_no_copy_of_a_float32_array():
    size, grew, acc = run("keras")
    assert acc > 0.8, acc
    assert grew < 0.25 * size, f"peak memory grew {grew:.0f} MiB training on a {size:.0f} MiB array"
