"""On scikit-learn's digits, breast_cancer and wine, our MLPClassifier's test accuracy is no lower
than scikit-learn's MLPClassifier with the same hyperparameters, minus 0.5 points."""

import warnings

import pytest
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlprs import MLPClassifier

SETTINGS = dict(hidden_layer_sizes=(100,), max_iter=200, random_state=0)


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "wine"])
def test_accuracy_matches_scikit_learn(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for label, cls in [("ours", MLPClassifier), ("sklearn", SkMLP)]:
            model = make_pipeline(StandardScaler(), cls(**SETTINGS)).fit(Xtr, ytr)
            scores[label] = model.score(Xte, yte)
    print(name, scores)
    assert scores["ours"] >= scores["sklearn"] - 0.005, scores
