"""Titanic through a pandas DataFrame: text columns are one-hot encoded and missing ages imputed by
the engine's table pipeline, the column names kept, and the saved file scores the same in
`mlp evaluate` on the CSV file."""

import json
import subprocess

import pandas as pd
import pytest

from mlprs import MLPClassifier

from conftest import data_dir

DROP = ["PassengerId", "Name", "Ticket", "Cabin"]


@pytest.fixture(scope="module")
def titanic():
    path = data_dir() / "titanic" / "train.csv"
    if not path.exists():
        pytest.fail(f"the Titanic data is required for this test: {path} is missing (set MLP_DATA_DIR)")
    return path, pd.read_csv(path)


def test_titanic_dataframe(titanic, mlp_bin, tmp_path):
    path, df = titanic
    X, y = df.drop(columns=DROP + ["Survived"]), df["Survived"]
    train = df.sample(frac=0.8, random_state=0)
    test = df.drop(train.index)
    clf = MLPClassifier((32,), max_iter=100, early_stopping=True, random_state=0)
    clf.fit(train.drop(columns=DROP + ["Survived"]), train["Survived"])
    assert list(clf.feature_names_in_) == list(X.columns) and clf.n_features_in_ == X.shape[1]
    acc = clf.score(test.drop(columns=DROP + ["Survived"]), test["Survived"])
    assert acc >= 0.78, acc
    assert clf.validation_loss_curve_ and len(clf.validation_scores_) == clf.n_iter_
    # The file carries the fitted pipeline: `mlp evaluate` reads the raw CSV rows with it.
    model = tmp_path / "titanic.safetensors"
    clf.save(model)
    test_csv = tmp_path / "test.csv"
    test.drop(columns=DROP).to_csv(test_csv, index=False)
    out = subprocess.run([str(mlp_bin), "evaluate", str(model), "--data", str(test_csv), "--json"], check=True, capture_output=True, text=True)
    assert abs(json.loads(out.stdout)["metrics"]["accuracy"] - acc) < 1e-9
