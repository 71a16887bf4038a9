"""scikit-learn's MLPClassifier(solver="lbfgs") accuracy on the data sets of tests/lbfgs_sklearn.rs,
the figure mlp's L-BFGS must reach. Run (scikit-learn 1.9 in /work/bench-venv):

    MLP_DATA_DIR=/work/shared/data /work/bench-venv/bin/python tests/golden/sklearn_lbfgs.py > tests/golden/sklearn_lbfgs.json

Both data sets are built exactly as the Rust test builds them: two spirals from a closed formula
(test rows: every fifth), and Titanic's train.csv (rows 1-600 to train, 601-891 to test) with
PassengerId, Name, Ticket and Cabin dropped, missing numbers imputed with the training mean and
missing categories with the most frequent one, categories one-hot, every feature standardized
with the training mean and standard deviation.
"""
import csv
import json
import math
import os
import sys

import numpy as np
import sklearn
from sklearn.neural_network import MLPClassifier

SEEDS = range(10)


def spirals():
    x, y = [], []
    for i in range(400):
        c, k = i % 2, i // 2
        t = 0.5 + 3.0 * math.pi * k / 200
        r = t / (3.0 * math.pi + 0.5)
        x.append([r * math.cos(t + c * math.pi) + 0.02 * math.sin(7.3 * i),
                  r * math.sin(t + c * math.pi) + 0.02 * math.cos(5.1 * i)])
        y.append(c)
    x, y = np.array(x), np.array(y)
    test = np.arange(400) % 5 == 4
    return x[~test], y[~test], x[test], y[test]


def titanic():
    root = os.environ.get("MLP_DATA_DIR") or os.path.join(os.path.dirname(__file__), "../../../shared/data")
    path = os.path.join(root, "titanic/train.csv")
    if not os.path.exists(path):
        sys.exit(f"missing {path}: set MLP_DATA_DIR to the shared data directory")
    rows = list(csv.DictReader(open(path)))
    train, test = rows[:600], rows[600:]
    numeric, categorical = ["Pclass", "Age", "SibSp", "Parch", "Fare"], ["Sex", "Embarked"]

    def fill(col):
        vals = [float(r[col]) for r in train if r[col] != ""]
        return sum(vals) / len(vals)

    fills = {c: fill(c) for c in numeric}
    cats = {}
    modes = {}
    for c in categorical:
        seen = [r[c] for r in train if r[c] != ""]
        cats[c] = sorted(set(seen))
        modes[c] = max(cats[c], key=seen.count)

    def features(r):
        f = [float(r[c]) if r[c] != "" else fills[c] for c in numeric]
        for c in categorical:
            v = r[c] if r[c] != "" else modes[c]
            f += [1.0 if v == k else 0.0 for k in cats[c]]
        return f

    xtr = np.array([features(r) for r in train])
    xte = np.array([features(r) for r in test])
    mean, std = xtr.mean(0), xtr.std(0)
    std[std == 0] = 1
    ytr = np.array([int(r["Survived"]) for r in train])
    yte = np.array([int(r["Survived"]) for r in test])
    return (xtr - mean) / std, ytr, (xte - mean) / std, yte


CASES = {
    "spirals": (spirals, dict(hidden_layer_sizes=(32,), activation="tanh")),
    "titanic": (titanic, dict(hidden_layer_sizes=(16,), activation="relu")),
}
out = {"sklearn_version": sklearn.__version__, "seeds": list(SEEDS)}
for name, (load, kw) in CASES.items():
    xtr, ytr, xte, yte = load()
    accs, train_accs, losses = [], [], []
    for seed in SEEDS:
        clf = MLPClassifier(solver="lbfgs", alpha=1e-4, max_iter=200, random_state=seed, **kw)
        clf.fit(xtr, ytr)
        accs.append(float(clf.score(xte, yte)))
        train_accs.append(float(clf.score(xtr, ytr)))
        losses.append(float(clf.loss_))
    out[name] = {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()},
                 "test_rows": int(len(yte)), "accuracies": accs, "mean_accuracy": float(np.mean(accs)),
                 "train_accuracies": train_accs, "mean_train_accuracy": float(np.mean(train_accs)),
                 "losses": losses, "mean_loss": float(np.mean(losses))}
print(json.dumps(out, indent=1))
