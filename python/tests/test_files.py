"""The model file both ways: trained in Python → `mlp evaluate`/`mlp predict` give Python's numbers;
trained by `mlp train` → loads in Python and predicts what `mlp predict` prints."""

import csv
import json
import pickle
import subprocess

import numpy as np

import mlprs
from mlprs import MLPClassifier, MLPRegressor


def run(mlp_bin, *args):
    return subprocess.run([str(mlp_bin), *args], check=True, capture_output=True, text=True).stdout


def write_csv(path, x, y, target):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{i + 1}" for i in range(x.shape[1])] + [target])
        for row, t in zip(x, y):
            w.writerow([repr(float(v)) for v in row] + [t])


def proba_columns(text, k):
    rows = list(csv.DictReader(text.splitlines()))
    return np.array([[float(r[f"p_{c}"]) for c in range(k)] for r in rows])


def test_python_model_in_the_cli(mlp_bin, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] ** 2 > 0.5).astype(int) + (x[:, 2] > 1)
    clf = MLPClassifier((16,), max_iter=50, random_state=0).fit(x, y)
    model, data = tmp_path / "m.safetensors", tmp_path / "d.csv"
    clf.save(model)
    write_csv(data, x, y, "label")
    ev = json.loads(run(mlp_bin, "evaluate", str(model), "--data", str(data), "--json"))
    assert abs(ev["metrics"]["accuracy"] - clf.score(x, y)) < 1e-12
    cli = proba_columns(run(mlp_bin, "predict", str(model), "--input", str(data), "--proba"), 3)
    assert np.abs(cli - clf.predict_proba(x)).max() < 1e-6
    # And back: the file loads in Python with the same numbers, as does a pickle.
    again = mlprs.load(model)
    assert (again.predict(x) == clf._engine.predict(x)).all()
    assert (pickle.loads(pickle.dumps(clf)).predict_proba(x) == clf.predict_proba(x)).all()


def test_cli_model_in_python(mlp_bin, tmp_path):
    model, data = tmp_path / "spirals.safetensors", tmp_path / "spirals.csv"
    run(mlp_bin, "train", "--data", "builtin:spirals", "--epochs", "30", "--seed", "3", "--out", str(model), "--quiet")
    # The CLI's built-in spirals standardize their features: feed raw numbers through the file's scaling.
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(200, 2)).astype(np.float32)
    write_csv(data, x, [0] * len(x), "label")
    cli = proba_columns(run(mlp_bin, "predict", str(model), "--input", str(data), "--proba"), 2)
    m = mlprs.load(model)
    assert m.classes == ["0", "1"]
    assert np.abs(m.predict(x) - cli).max() < 1e-6
    assert (m.predict_classes(x) == np.where(cli[:, 1] > cli[:, 0], "1", "0")).all()


def test_regressor_file_round_trip(mlp_bin, tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(x, y)
    model, data = tmp_path / "r.safetensors", tmp_path / "r.csv"
    reg.save(model)
    write_csv(data, x, y, "y")
    ev = json.loads(run(mlp_bin, "evaluate", str(model), "--data", str(data), "--json"))
    assert abs(ev["metrics"]["r2"] - reg.score(x, y)) < 1e-5
