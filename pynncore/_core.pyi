"""Typed stub of the native extension module pynncore._core."""

from types import NotImplementedType

import numpy as np
import numpy.typing as npt

__version__: str
cuda_built: bool
openmp_enabled: bool

def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def get_cpu_path() -> str: ...
def set_cpu_path(name: str) -> None: ...
def cpu_paths_available() -> list[str]: ...
def gemm_kernel() -> str: ...
def matmul(
    a: object,
    b: object,
    transpose_a: bool = False,
    transpose_b: bool = False,
    out: npt.NDArray[np.float32] | None = None,
    alpha: float = 1.0,
    beta: float = 0.0,
) -> npt.NDArray[np.float32] | NotImplementedType: ...
def fma_peak_gflops(num_threads: int, seconds: float = 0.2) -> float: ...

# --- activations ---

def activation_forward(
    name: str,
    x: npt.NDArray[np.float32],
    out: npt.NDArray[np.float32] | None = None,
    bias: npt.NDArray[np.float32] | None = None,
    alpha: float | None = None,
    approximate: bool = False,
) -> npt.NDArray[np.float32]: ...
def activation_backward(
    name: str,
    x: npt.NDArray[np.float32] | None,
    y: npt.NDArray[np.float32] | None,
    dy: npt.NDArray[np.float32],
    dx: npt.NDArray[np.float32] | None = None,
    alpha: float | None = None,
    approximate: bool = False,
) -> npt.NDArray[np.float32]: ...
def activation_backward_needs_x(name: str) -> bool: ...
def activation_names() -> list[str]: ...
def vector_math(
    name: str, x: npt.NDArray[np.float32], out: npt.NDArray[np.float32] | None = None
) -> npt.NDArray[np.float32]: ...

# --- losses and optimizer updates ---
