"""Keras layers the engine has: `Dense`, `Dropout` (once the engine has it) and `Input`."""

__all__ = ["Dense", "Dropout", "Input", "InputLayer", "Layer"]

_ACTIVATIONS = {None: "linear", "identity": "linear", "logistic": "sigmoid"}


class Layer:
    """A layer of a `Sequential` model: a part of the engine's layer spec."""

    input_dim = None

    def spec(self):
        raise NotImplementedError


def _input_dim(input_shape, input_dim):
    if input_dim is not None:
        return int(input_dim)
    if input_shape is not None:
        shape = tuple(input_shape)
        if len(shape) != 1:
            raise ValueError(f"input_shape must be (features,) for an MLP, got {input_shape}")
        return int(shape[0])
    return None


class Dense(Layer):
    """A fully connected layer: `Dense(512, activation="relu", input_shape=(784,))`."""

    def __init__(self, units, activation=None, kernel_initializer="glorot_uniform", input_shape=None, input_dim=None, name=None, **kwargs):
        if kwargs.pop("use_bias", True) is not True:
            raise ValueError("use_bias=False is not available: every engine layer has biases")
        if kwargs:
            raise TypeError(f"Dense() got unsupported arguments: {', '.join(sorted(kwargs))}")
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        self.units = units
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.input_dim = _input_dim(input_shape, input_dim)
        self.name = name

    def spec(self):
        act = _ACTIVATIONS.get(self.activation, self.activation)
        if not isinstance(act, str):
            raise TypeError(f"activation must be a name, e.g. 'relu', got {self.activation!r}")
        init = self.kernel_initializer
        return f"{self.units}:{act}" + (f":{init}" if init and init != "glorot_uniform" else "")


class Dropout(Layer):
    """Drops a fraction `rate` of the previous layer's outputs while training (`dropout(rate)` in the
    engine's spec; an engine without dropout refuses the spec with a ValueError)."""

    def __init__(self, rate, name=None):
        if not 0 <= rate < 1:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.name = name

    def spec(self):
        return f"dropout({self.rate})"


class InputLayer(Layer):
    """The input width: `Input(shape=(784,))`."""

    def __init__(self, shape=None, input_shape=None, name=None):
        self.input_dim = _input_dim(shape if shape is not None else input_shape, None)
        self.name = name

    def spec(self):
        return None


def Input(shape=None, name=None):
    """`keras.Input(shape=(features,))`."""
    return InputLayer(shape=shape, name=name)
