"""Keras optimizer objects with their hyperparameters, mapped onto the engine's optimizers."""

from .._core import check_optimizer, optimizer_names

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "get"]


class Optimizer:
    """An engine optimizer by name with hyperparameters (engine field names: lr, beta1, ...)."""

    def __init__(self, name, **params):
        check_optimizer(name)
        self.name = name
        self.params = params

    @property
    def learning_rate(self):
        return self.params.get("lr")

    def engine(self):
        """(engine optimizer name, hyperparameters) for a training request."""
        return self.name, dict(self.params)

    def get_config(self):
        return {"name": self.name, **self.params}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        name = ("nesterov" if nesterov else "momentum") if momentum else "sgd"
        super().__init__(name, lr=float(learning_rate), momentum=float(momentum))


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
        super().__init__("rmsprop", lr=float(learning_rate), rho=float(rho), momentum=float(momentum), eps=float(epsilon), centered=bool(centered))


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        super().__init__("amsgrad" if amsgrad else "adam", lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2), eps=float(epsilon))


class AdamW(Optimizer):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        super().__init__("adamw", lr=float(learning_rate), weight_decay=float(weight_decay), beta1=float(beta_1), beta2=float(beta_2), eps=float(epsilon), amsgrad=bool(amsgrad))


class Adagrad(Optimizer):
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
        super().__init__("adagrad", lr=float(learning_rate), initial_accumulator=float(initial_accumulator_value), eps=float(epsilon))


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad}


def get(identifier):
    """An optimizer from a name (`"rmsprop"`, any of `mlprs.optimizer_names()`) or an object."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        name = identifier.lower()
        if name in _BY_NAME:
            return _BY_NAME[name]()
        if name in optimizer_names():
            return Optimizer(name)
        check_optimizer(name)
    raise TypeError(f"optimizer must be a name or an optimizer object, got {identifier!r}")
