"""mlprs: multilayer perceptrons on the mlp engine (Rust), with scikit-learn's and Keras's habits.

* `mlprs.sklearn`: `MLPClassifier`, `MLPRegressor` (also importable from here).
* `mlprs.keras`: `Sequential`, `layers.Dense`, `optimizers`, `callbacks.EarlyStopping`, `utils.to_categorical`.
* `mlprs.load(path)`: a model file written by `mlp train` or by this package.
"""

from . import _engine
from ._core import optimizer_names
from ._model import Model, load

__version__ = _engine.__version__
__all__ = ["MLPClassifier", "MLPRegressor", "Model", "load", "optimizer_names", "__version__"]


def __getattr__(name):
    # scikit-learn is imported only when its estimators are asked for.
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import sklearn

        return getattr(sklearn, name)
    raise AttributeError(f"module 'mlprs' has no attribute {name!r}")
