"""The Keras seed recipe on MNIST (784-512-10, rmsprop, 5 epochs, batch 128, validation_split=0.2)
reaches the same test accuracy as `mlp train` with the same seed, and its model file scores the
same in `mlp evaluate`. Needs the MNIST IDX files (MLP_DATA_DIR, else ../shared/data): missing data
fails the test."""

import json
import subprocess

import pytest

from mlprs import keras
from mlprs.keras.layers import Dense

from conftest import data_dir

SEED = 4


@pytest.fixture(scope="module")
def keras_run(mnist):
    x_train, y_train, x_test, y_test = mnist
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([Dense(512, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, keras.utils.to_categorical(y_train, 10), epochs=5, batch_size=128, validation_split=0.2, verbose=0)
    loss, acc = model.evaluate(x_test, keras.utils.to_categorical(y_test, 10), verbose=0)
    return model, history, acc


def cli_json(mlp_bin, *args):
    out = subprocess.run([str(mlp_bin), *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_keras_seed_recipe_matches_the_cli(keras_run, mlp_bin, tmp_path):
    model, history, acc = keras_run
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in history.history.values())
    assert acc >= 0.975, f"test accuracy {acc:.4f}"
    mnist_dir = str(data_dir() / "mnist")
    out = tmp_path / "cli.safetensors"
    cli_json(
        mlp_bin, "train", "--data", mnist_dir, "--layers", "512:relu,10:softmax", "--optimizer", "rmsprop",
        "--lr", "0.001", "--batch-size", "128", "--epochs", "5", "--validation-split", "0.2",
        "--seed", str(SEED), "--out", str(out), "--log-format", "json", "--quiet",
    )
    cli = cli_json(mlp_bin, "evaluate", str(out), "--data", mnist_dir, "--json")
    assert abs(cli["metrics"]["accuracy"] - acc) < 1e-9, f"CLI {cli['accuracy']:.4f} vs Python {acc:.4f}"


def test_the_keras_model_file_scores_the_same_in_mlp_evaluate(keras_run, mlp_bin, tmp_path, mnist):
    model, _, acc = keras_run
    path = tmp_path / "keras.safetensors"
    model.save(path, image_shape=(28, 28))
    cli = cli_json(mlp_bin, "evaluate", str(path), "--data", str(data_dir() / "mnist"), "--json")
    assert abs(cli["metrics"]["accuracy"] - acc) < 1e-9
    again = keras.models.load_model(path)
    x_test = mnist[2][:500]
    assert (again.predict(x_test) == model.predict(x_test)).all()
