"""The native kernels as functions on numpy arrays, without the framework.

Inputs may be anything numpy can turn into an array of the right rank; results are float32
numpy arrays. Outputs passed as ``out`` are written in place and must already be float32
and C-contiguous with the right shape: they are never silently copied.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pynncore import _core

__all__ = [
    "ACTIVATIONS",
    "activation",
    "activation_grad",
    "activation_grad_needs_x",
    "elu",
    "exponential",
    "gelu",
    "hard_sigmoid",
    "leaky_relu",
    "linear",
    "log_softmax",
    "matmul",
    "mish",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]

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

ACTIVATIONS: tuple[str, ...] = tuple(_core.activation_names())


def _is_f32_array(x: Any) -> bool:
    """True for a native float32, C-contiguous, aligned ndarray (what the kernels read)."""
    return (
        isinstance(x, np.ndarray)
        and x.dtype == np.float32
        and x.flags.c_contiguous
        and x.flags.aligned
    )


def _as_f32_array(x: Any, name: str, fn: str) -> np.ndarray:
    """`x` as a float32, C-contiguous, aligned ndarray: as is when it already is one, else a copy."""
    if _is_f32_array(x):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{fn}: {name} must be a real numeric array; got dtype {arr.dtype}")
    return np.require(arr, dtype=np.float32, requirements=["C", "A"])


def _activation_name(name: Any, fn: str) -> str:
    if name is None:  # Keras: activation=None is linear
        return "linear"
    if not isinstance(name, str):
        raise TypeError(
            f"{fn}: name must be an activation name (str); got {name!r} of type"
            f" {type(name).__name__}. Valid names: {', '.join(ACTIVATIONS)}"
        )
    return name


def _alpha(name: str, alpha: float | None, negative_slope: float | None, fn: str) -> float | None:
    if negative_slope is None:
        return alpha
    if name != "leaky_relu":
        raise ValueError(f"{fn}: negative_slope applies only to leaky_relu; got name={name!r}")
    if alpha is not None:
        raise ValueError(
            f"{fn}: pass the slope of leaky_relu once, as negative_slope or alpha; got both"
            f" (negative_slope={negative_slope}, alpha={alpha})"
        )
    return negative_slope


def activation(
    name: str | None,
    x: Any,
    out: np.ndarray | None = None,
    bias: Any = None,
    *,
    alpha: float | None = None,
    negative_slope: float | None = None,
    approximate: bool = False,
) -> np.ndarray:
    """Applies an activation function element-wise: ``out = f(x + bias)`` in float32.

    Keras 3 semantics and names: ``linear`` (also ``None``), ``relu``, ``relu6``, ``sigmoid``,
    ``hard_sigmoid``, ``tanh``, ``leaky_relu``, ``elu``, ``selu``, ``softplus``, ``softsign``,
    ``gelu``, ``silu`` (alias ``swish``), ``exponential``, ``mish``, and ``softmax`` /
    ``log_softmax`` over the last axis. One pass adds the bias and applies the function (the
    epilogue of a Dense layer); it may run in place (``out=x``).

    Args:
        name: the activation.
        x: array of any shape; anything numpy can turn into a real array (converted once to
            float32 C-contiguous when it is not already).
        out: optional float32 C-contiguous array of the shape of `x`, written in place and
            returned; may be `x` itself. Never silently copied.
        bias: optional ``(x.shape[-1],)`` vector added before the activation.
        alpha: leaky_relu's negative slope (default 0.2) or elu's alpha (default 1.0).
        negative_slope: Keras's name for leaky_relu's alpha.
        approximate: gelu only: the tanh approximation instead of the exact erf form.

    Returns:
        float32 array of the shape of `x` (`out` itself when given).

    Raises:
        ValueError: an unknown name (the message lists the valid ones), a bias of the wrong
            shape, a parameter the activation does not take, or an `out` of the wrong shape or
            layout, or overlapping `x` without being `x`.
        TypeError: a complex/object/string `x`, or an `out` that is not a float32 ndarray.

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> ops.activation("relu", [[-1.0, 2.0]], bias=[0.5, 0.5]).tolist()
        [[0.0, 2.5]]
    """
    fn = "activation"
    name = _activation_name(name, fn)
    a = _alpha(name, alpha, negative_slope, fn)
    try:  # float32 C-contiguous inputs go straight to the kernel
        return _core.activation_forward(name, x, out, bias, a, approximate)
    except (TypeError, ValueError):
        if _is_f32_array(x) and (bias is None or _is_f32_array(bias)):
            raise  # not a conversion problem: the message stands
    x = _as_f32_array(x, "x", fn)
    if bias is not None:
        bias = _as_f32_array(bias, "bias", fn)
    return _core.activation_forward(name, x, out, bias, a, approximate)


def activation_grad(
    name: str | None,
    x: Any = None,
    y: Any = None,
    *,
    dy: Any,
    out: np.ndarray | None = None,
    alpha: float | None = None,
    negative_slope: float | None = None,
    approximate: bool = False,
) -> np.ndarray:
    """Backward pass of an activation: ``dx = dy * f'(x)``, for softmax the row-wise product.

    Each activation reads either its input `x` (the pre-activation, including any bias) or its
    output ``y = f(x)``, whichever gives the cheaper stable formula:
    ``activation_grad_needs_x(name)`` says which. Passing the one it reads avoids recomputing
    anything; when only `x` is given for an activation that reads `y`, `y` is computed first.

    Args:
        name: the activation (see `activation`).
        x: the pre-activation, shape of `dy`.
        y: the output ``f(x)``, shape of `dy`.
        dy: gradient of the loss with respect to `y`.
        out: optional float32 C-contiguous array for `dx`, written in place; may be `dy`.
        alpha, negative_slope, approximate: as in `activation`. leaky_relu and elu need a
            slope ``>= 0`` here.

    Returns:
        float32 ``dx`` of the shape of `dy` (`out` itself when given).

    Raises:
        ValueError: the array the activation reads is missing, shapes differ, or as in
            `activation`.
        TypeError: as in `activation`.

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> ops.activation_grad("relu", y=[0.0, 2.0], dy=[1.0, 1.0]).tolist()
        [0.0, 1.0]
    """
    fn = "activation_grad"
    name = _activation_name(name, fn)
    a = _alpha(name, alpha, negative_slope, fn)
    dy = _as_f32_array(dy, "dy", fn)
    if x is not None:
        x = _as_f32_array(x, "x", fn)
    if y is not None:
        y = _as_f32_array(y, "y", fn)
    elif x is not None and name != "linear" and not _core.activation_backward_needs_x(name):
        y = _core.activation_forward(name, x, None, None, a, approximate)
    return _core.activation_backward(name, x, y, dy, out, a, approximate)


def activation_grad_needs_x(name: str | None) -> bool:
    """True when the backward pass of `name` reads `x` (the pre-activation), False when it
    reads the output `y` (or nothing, for linear). A layer whose forward pass runs in place
    keeps only `y`, which is enough for every activation but gelu, silu/swish, mish and
    softsign."""
    return _core.activation_backward_needs_x(_activation_name(name, "activation_grad_needs_x"))


def _softmax_like(name: str, x: Any, axis: int, out: np.ndarray | None) -> np.ndarray:
    x = _as_f32_array(x, "x", name)
    if x.ndim == 0:
        raise ValueError(f"{name}: x must have at least 1 dimension; got a 0-d array")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for x of shape {x.shape}")
    if axis % x.ndim == x.ndim - 1:
        return _core.activation_forward(name, x, out)
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))  # may be a view of x: not in place
    result = np.moveaxis(_core.activation_forward(name, moved), -1, axis)
    if out is None:
        return np.ascontiguousarray(result)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32:
        raise TypeError(f"{name}: out must be a float32 numpy.ndarray; got {type(out).__name__}")
    if out.shape != x.shape:
        raise ValueError(f"{name}: out must have shape {x.shape}; got shape {out.shape}")
    out[...] = result
    return out


def linear(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` unchanged, as float32."""
    return activation("linear", x, out)


def relu(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``max(x, 0)``."""
    return activation("relu", x, out)


def relu6(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``min(max(x, 0), 6)``."""
    return activation("relu6", x, out)


def sigmoid(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``1 / (1 + exp(-x))``, accurate in both tails."""
    return activation("sigmoid", x, out)


def hard_sigmoid(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``relu6(x + 3) / 6`` (Keras 3)."""
    return activation("hard_sigmoid", x, out)


def tanh(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """Hyperbolic tangent."""
    return activation("tanh", x, out)


def leaky_relu(x: Any, negative_slope: float = 0.2, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` where ``x > 0``, else ``negative_slope * x``."""
    return activation("leaky_relu", x, out, alpha=negative_slope)


def elu(x: Any, alpha: float = 1.0, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return activation("elu", x, out, alpha=alpha)


def selu(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``scale * elu(x, alpha)`` with alpha 1.67326324 and scale 1.05070098."""
    return activation("selu", x, out)


def softplus(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``log(1 + exp(x))``, computed without overflow."""
    return activation("softplus", x, out)


def softsign(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``x / (1 + |x|)``."""
    return activation("softsign", x, out)


def gelu(x: Any, approximate: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """``x/2 (1 + erf(x / sqrt 2))``, or Keras's tanh approximation with ``approximate=True``."""
    return activation("gelu", x, out, approximate=approximate)


def silu(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``x * sigmoid(x)`` (also called swish)."""
    return activation("silu", x, out)


swish = silu


def exponential(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``exp(x)``."""
    return activation("exponential", x, out)


def mish(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``x * tanh(softplus(x))``."""
    return activation("mish", x, out)


def softmax(x: Any, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """``exp(x - max) / sum(exp(x - max))`` along `axis` (the last axis runs in place, others
    are moved there and back)."""
    return _softmax_like("softmax", x, axis, out)


def log_softmax(x: Any, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """``x - max - log(sum(exp(x - max)))`` along `axis`."""
    return _softmax_like("log_softmax", x, axis, out)


# --- losses and optimizer updates --------------------------------------------------------------
