"""pynncore: Keras-style neural networks on fast native CPU kernels.

The hot loops (GEMM, activations, losses, optimizer updates) are C++ with threads and SIMD
kernels chosen at import for the CPU; this package is the thin Python layer over them, with the
Keras 3 API: ``Sequential``/``Model``, layers, losses, optimizers, metrics and callbacks.
"""

from pynncore import _core, ops
from pynncore._config import (
    get_config,
    get_deterministic,
    get_num_threads,
    set_deterministic,
    set_num_threads,
    show_config,
)

from pynncore import (  # noqa: E402  (the framework modules use _core above)
    activations,
    backend,
    callbacks,
    constraints,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from pynncore.layers import Input, InputSpec  # noqa: E402
from pynncore.models import Model, Sequential  # noqa: E402
from pynncore.saving import load_model, register_serializable  # noqa: E402
from pynncore.trainer import Trainer  # noqa: E402

__version__: str = _core.__version__

__all__ = [
    "Input",
    "InputSpec",
    "Model",
    "Sequential",
    "Trainer",
    "__version__",
    "activations",
    "backend",
    "callbacks",
    "constraints",
    "get_config",
    "get_deterministic",
    "get_num_threads",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "models",
    "ops",
    "optimizers",
    "register_serializable",
    "regularizers",
    "set_deterministic",
    "set_num_threads",
    "show_config",
    "utils",
]
