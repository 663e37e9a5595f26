"""pynncore: Keras-style neural networks on fast native CPU kernels.

The hot loops (GEMM, and the layers built on it) are C++ with OpenMP and SIMD kernels chosen
at import for the CPU; this package is the thin Python layer over them.
"""

from pynncore import _core, ops
from pynncore._config import get_config, get_num_threads, set_num_threads, show_config

__version__: str = _core.__version__

__all__ = [
    "__version__",
    "get_config",
    "get_num_threads",
    "ops",
    "set_num_threads",
    "show_config",
]
