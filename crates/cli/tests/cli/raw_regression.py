#!/usr/bin/env python3
"""Raw-scale regression CSVs (targets in the 100 000s, features of mixed scales) and the
scikit-learn figures `defaults.rs` compares `mlp train` with no flags against.

    python raw_regression.py csv DIR       # writes DIR/NAME-train.csv and DIR/NAME-test.csv
    python raw_regression.py golden        # prints raw_regression.json (needs scikit-learn)

The generator uses only the standard library (random.Random, whose sequence is fixed across
Python versions), so the Rust test writes the very files the golden figures were measured on.
"""

import csv
import json
import math
import os
import random
import sys

OCEAN = ["<1H OCEAN", "INLAND", "NEAR BAY", "NEAR OCEAN", "ISLAND"]
OCEAN_BONUS = {"<1H OCEAN": 20000.0, "INLAND": -45000.0, "NEAR BAY": 35000.0, "NEAR OCEAN": 30000.0, "ISLAND": 90000.0}


def housing(rng):
    """California-housing-like: eight numbers from 1e-1 to 3e4 and a text category."""
    inc = math.exp(rng.gauss(1.2, 0.45))
    age = float(rng.randint(1, 52))
    rooms = max(1.5, rng.gauss(5.4, 1.6))
    bedrms = max(0.6, rng.gauss(1.08, 0.15))
    pop = math.exp(rng.gauss(7.0, 0.8))
    occup = max(1.0, rng.gauss(3.0, 0.8))
    lat = rng.uniform(32.5, 41.9)
    lon = rng.uniform(-124.3, -114.3)
    ocean = OCEAN[min(int(rng.random() ** 1.6 * len(OCEAN)), len(OCEAN) - 1)]
    la = math.exp(-((lat - 34.0) ** 2 + (lon + 118.3) ** 2) / 2.0)
    sf = math.exp(-((lat - 37.8) ** 2 + (lon + 122.3) ** 2) / 1.5)
    value = (
        30000.0
        + 38000.0 * inc
        + 900.0 * age
        - 9000.0 * occup
        + 12000.0 * math.sin(rooms)
        - 15000.0 * (bedrms - 1.08) * 5
        + 4.0 * math.sqrt(pop)
        + 130000.0 * la
        + 110000.0 * sf
        + OCEAN_BONUS[ocean]
        + rng.gauss(0.0, 22000.0)
    )
    value = min(max(value, 14999.0), 500001.0)
    row = [round(inc, 4), age, round(rooms, 4), round(bedrms, 4), round(pop, 1), round(occup, 4),
           round(lat, 2), round(lon, 2), ocean, round(value, 1)]
    return row


HOUSING_COLUMNS = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup",
                   "Latitude", "Longitude", "ocean_proximity", "median_house_value"]


def plant(rng):
    """An output in the 100 000s from quantities on scales 1e-3 to 1e4, one interaction."""
    temp = rng.uniform(280.0, 360.0)
    pressure = math.exp(rng.gauss(8.5, 0.6))
    catalyst = rng.uniform(0.001, 0.05)
    hours = rng.uniform(0.5, 48.0)
    purity = rng.uniform(0.80, 0.999)
    value = (
        150000.0
        + 2500.0 * (temp - 320.0)
        - 60.0 * (temp - 320.0) ** 2
        + 0.9 * pressure * purity
        + 2.5e6 * catalyst * (1.0 - math.exp(-hours / 12.0))
        + 300000.0 * (purity - 0.9)
        + rng.gauss(0.0, 12000.0)
    )
    return [round(temp, 2), round(pressure, 1), round(catalyst, 5), round(hours, 3), round(purity, 4),
            round(value, 1)]


PLANT_COLUMNS = ["temperature_k", "pressure_pa", "catalyst_frac", "hours", "purity", "output"]

# name → (row generator, columns, seed, training rows, test rows)
DATASETS = {
    "housing": (housing, HOUSING_COLUMNS, 14, 4000, 1000),
    "plant": (plant, PLANT_COLUMNS, 15, 3000, 1000),
}


def rows(name):
    gen, columns, seed, n_train, n_test = DATASETS[name]
    rng = random.Random(seed)
    data = [gen(rng) for _ in range(n_train + n_test)]
    return columns, data[:n_train], data[n_train:]


def write_csvs(out):
    os.makedirs(out, exist_ok=True)
    for name in DATASETS:
        columns, train, test = rows(name)
        for part, data in (("train", train), ("test", test)):
            with open(os.path.join(out, f"{name}-{part}.csv"), "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(columns)
                w.writerows(data)


def golden():
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.metrics import r2_score
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    # MLPRegressor's 200 iterations end "not converged" on these sets; that is its default run.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    out = {}
    for name in DATASETS:
        columns, train, test = rows(name)
        text = [j for j, v in enumerate(train[0][:-1]) if isinstance(v, str)]
        nums = [j for j in range(len(columns) - 1) if j not in text]

        def frame(data):
            return np.array([r[:-1] for r in data], dtype=object), np.array([r[-1] for r in data], dtype=float)

        (xtr, ytr), (xte, yte) = frame(train), frame(test)
        scores = {}
        for kind in ("pipeline", "pipeline_scaled_target"):
            r2s = []
            for seed in range(5):
                pre = ColumnTransformer(
                    [("num", StandardScaler(), nums)] + ([("cat", OneHotEncoder(), text)] if text else [])
                )
                mlp = MLPRegressor(random_state=seed)
                if kind == "pipeline_scaled_target":
                    mlp = TransformedTargetRegressor(regressor=mlp, transformer=StandardScaler())
                model = make_pipeline(pre, mlp)
                model.fit(xtr, ytr)
                r2s.append(float(r2_score(yte, model.predict(xte))))
            scores[kind] = {"test_r2_mean": float(np.mean(r2s)), "test_r2_per_seed": r2s}
        out[name] = scores
    import sklearn

    out["_about"] = (
        "scikit-learn %s: ColumnTransformer(StandardScaler on the numbers, OneHotEncoder on the text) + "
        "MLPRegressor() with its defaults, seeds 0-4; `pipeline` on the raw target, `pipeline_scaled_target` "
        "inside TransformedTargetRegressor(StandardScaler). Written by raw_regression.py golden." % sklearn.__version__
    )
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "csv":
        write_csvs(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "golden":
        golden()
    else:
        sys.exit(__doc__)
