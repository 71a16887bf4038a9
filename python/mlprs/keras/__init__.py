"""Keras's model API on the mlp engine, for the seed recipes:

    from mlprs import keras
    from mlprs.keras.layers import Dense
    model = keras.Sequential([Dense(512, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, keras.utils.to_categorical(y), epochs=5, batch_size=128, validation_split=0.2)
"""

from . import callbacks, layers, optimizers, utils
from .layers import Dense, Dropout, Input
from .models import Sequential, load_model
from . import models

__all__ = ["Sequential", "Dense", "Dropout", "Input", "load_model", "callbacks", "layers", "models", "optimizers", "utils"]
