"""The native kernels as functions on numpy arrays, without the framework.

Inputs may be anything numpy can turn into an array of the right rank; results are float32
numpy arrays. Outputs passed as ``out`` are written in place and must already be float32
and C-contiguous with the right shape: they are never silently copied.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pynncore import _core

__all__ = ["matmul"]

_REAL_KINDS = "biuf"


def _as_f32_matrix(x: Any, name: str, fn: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{fn}: {name} must be a real numeric array; got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{fn}: {name} must be 2-D; got ndim={arr.ndim} with shape {arr.shape}")
    # Aligned, native-order, C-contiguous float32: the layout the kernel binding reads in place.
    return np.require(arr, dtype=np.float32, requirements=["C", "A"])


def matmul(
    a: Any,
    b: Any,
    transpose_a: bool = False,
    transpose_b: bool = False,
    out: np.ndarray | None = None,
    alpha: float = 1.0,
    beta: float = 0.0,
) -> np.ndarray:
    """Matrix product ``alpha * op(a) @ op(b) + beta * out`` in float32.

    ``op(x)`` is ``x.T`` when the matching ``transpose_`` flag is set. Float32 arrays with one
    unit-stride axis (C order, Fortran order, row slices, ``.T`` views) are used in place;
    anything else numpy can turn into a 2-D real array is converted with a copy.

    Args:
        a: ``(M, K)``, or ``(K, M)`` with ``transpose_a``.
        b: ``(K, N)``, or ``(N, K)`` with ``transpose_b``.
        transpose_a, transpose_b: use the transpose of `a` / `b`.
        out: optional float32 C-contiguous ``(M, N)`` array written in place and returned.
        alpha, beta: scale factors; ``beta != 0`` needs `out` (its old contents are ``C``).
            With ``beta == 0`` the old contents of `out` are never read.

    Returns:
        float32 ``(M, N)`` array (`out` itself when given).

    Raises:
        TypeError: complex, object, string input, or an `out` that is not a float32 ndarray.
        ValueError: an input that is not 2-D, inner dimensions that differ (both shapes are
            named), or an `out` of the wrong shape or layout.

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> ops.matmul(np.ones((2, 3)), np.ones((3, 4))).shape
        (2, 4)
    """
    r = _core.matmul(a, b, transpose_a, transpose_b, out, alpha, beta)
    if r is NotImplemented:
        a = _as_f32_matrix(a, "a", "matmul")
        b = _as_f32_matrix(b, "b", "matmul")
        r = _core.matmul(a, b, transpose_a, transpose_b, out, alpha, beta)
    return r


# --- activations -------------------------------------------------------------------------------

# --- losses and optimizer updates --------------------------------------------------------------
