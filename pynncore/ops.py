"""The native kernels as functions on numpy arrays, without the framework.

Inputs may be anything numpy can turn into an array of the right rank; results are float32
numpy arrays. Outputs passed as ``out`` are written in place and must already be float32
and C-contiguous with the right shape: they are never silently copied.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from pynncore import _core, _memory

__all__ = [
    "ACTIVATIONS",
    "activation",
    "activation_grad",
    "activation_grad_needs_x",
    "celu",
    "elu",
    "exponential",
    "gelu",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "matmul",
    "mish",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
    "threshold",
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
        alpha: leaky_relu's negative slope (default 0.2), elu's and celu's alpha (default 1.0),
            hard_shrink's and soft_shrink's threshold (default 0.5) or squareplus's b (default 4).
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
    ax = _axis_index(x, axis, name)
    if ax == x.ndim - 1:
        return _core.activation_forward(name, x, out)
    moved = np.ascontiguousarray(np.moveaxis(x, ax, -1))  # may be a view of x: not in place
    return _into(np.moveaxis(_core.activation_forward(name, moved), -1, ax), out, name)


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


def celu(x: Any, alpha: float = 1.0, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` where ``x > 0``, else ``alpha * (exp(x / alpha) - 1)`` (alpha > 0)."""
    return activation("celu", x, out, alpha=alpha)


def hard_silu(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``x * relu6(x + 3) / 6`` (also called hard_swish)."""
    return activation("hard_silu", x, out)


hard_swish = hard_silu


def hard_tanh(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` clipped to [-1, 1]."""
    return activation("hard_tanh", x, out)


def log_sigmoid(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return activation("log_sigmoid", x, out)


def hard_shrink(x: Any, threshold: float = 0.5, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` where ``|x| > threshold``, else 0 (threshold >= 0)."""
    return activation("hard_shrink", x, out, alpha=threshold)


def soft_shrink(x: Any, threshold: float = 0.5, out: np.ndarray | None = None) -> np.ndarray:
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else 0."""
    return activation("soft_shrink", x, out, alpha=threshold)


def sparse_plus(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """0 for ``x <= -1``, ``(x + 1)^2 / 4`` for ``|x| < 1``, ``x`` for ``x >= 1``."""
    return activation("sparse_plus", x, out)


def sparse_sigmoid(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``(x + 1) / 2`` clipped to [0, 1]."""
    return activation("sparse_sigmoid", x, out)


def squareplus(x: Any, b: float = 4.0, out: np.ndarray | None = None) -> np.ndarray:
    """``(x + sqrt(x^2 + b)) / 2`` (b >= 0)."""
    return activation("squareplus", x, out, alpha=b)


def tanh_shrink(x: Any, out: np.ndarray | None = None) -> np.ndarray:
    """``x - tanh(x)``."""
    return activation("tanh_shrink", x, out)


def softmax(x: Any, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """``exp(x - max) / sum(exp(x - max))`` along `axis` (the last axis runs in place, others
    are moved there and back)."""
    return _softmax_like("softmax", x, axis, out)


def log_softmax(x: Any, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """``x - max - log(sum(exp(x - max)))`` along `axis`."""
    return _softmax_like("log_softmax", x, axis, out)


# --- activations along an axis or with required arguments (numpy, no native kernel) -----------


def _axis_index(x: np.ndarray, axis: Any, fn: str) -> int:
    """``axis`` as an index in ``[0, x.ndim)`` (``x`` has at least one dimension)."""
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have at least 1 dimension; got a 0-d array")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fn}: axis must be an integer. Received: axis={axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis {axis} is out of range for x of shape {x.shape}")
    return int(axis) % x.ndim


def _real_scalar(value: Any, name: str, fn: str) -> np.float32:
    """A real, non-NaN Python or numpy scalar as float32 (the precision ``x`` is compared in)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a real number. Received: {name}={value!r}")
    if np.isnan(value):
        raise ValueError(f"{fn}: {name} must not be NaN. Received: {name}={value!r}")
    return np.float32(value)


def _into(result: np.ndarray, out: np.ndarray | None, fn: str) -> np.ndarray:
    """``result`` (float32), copied into ``out`` when one is given."""
    if out is None:
        return np.ascontiguousarray(result, dtype=np.float32)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32:
        raise TypeError(f"{fn}: out must be a float32 numpy.ndarray; got {type(out).__name__}")
    if out.shape != result.shape:
        raise ValueError(f"{fn}: out must have shape {result.shape}; got shape {out.shape}")
    out[...] = result
    return out


def _glu_halves(x: Any, axis: Any, fn: str) -> tuple:
    """``(x, a, b, axis index)``: float32 `x` and its two halves along `axis`."""
    x = _as_f32_array(x, "x", fn)
    ax = _axis_index(x, axis, fn)
    if x.shape[ax] % 2:
        raise ValueError(
            f"{fn}: the size of axis {axis} must be even (x is split into two halves). "
            f"Received: x.shape={x.shape}"
        )
    a, b = np.split(x, 2, axis=ax)
    return x, a, b, ax


def glu(x: Any, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """Gated linear unit: ``a * sigmoid(b)`` where ``a, b`` are the halves of `x` along `axis`.

    Args:
        x: real array whose `axis` has an even size.
        axis: the axis that is split (default the last).
        out: optional float32 array of the output's shape, written in place.

    Returns:
        float32 array of the shape of `x` with `axis` halved.

    Raises:
        ValueError: an odd size along `axis`, an `axis` out of range, a 0-d `x`, or an `out`
            of the wrong shape.
        TypeError: a non-real `x`, a non-integer `axis`, or an `out` that is not float32.

    Example:
        >>> from pynncore import ops
        >>> ops.glu([[1.0, 2.0, 0.0, 0.0]]).tolist()
        [[0.5, 1.0]]
    """
    _, a, b, _ = _glu_halves(x, axis, "glu")
    return _into(a * activation("sigmoid", b), out, "glu")


def _glu_grad(x: Any, dy: np.ndarray, axis: int = -1) -> np.ndarray:
    """dL/dx of glu: ``[dy * s, dy * a * s * (1 - s)]`` along `axis`, ``s = sigmoid(b)``."""
    _, a, b, ax = _glu_halves(x, axis, "glu")
    s = activation("sigmoid", b)
    da = dy * s
    return np.ascontiguousarray(np.concatenate([da, da * a * (np.float32(1.0) - s)], axis=ax))


def sparsemax(x: Any, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    """Euclidean projection of each slice along `axis` onto the probability simplex:
    ``max(x - tau, 0)`` with ``tau`` chosen so that the slice sums to 1 (Martins & Astudillo,
    2016). The largest entries keep the gaps between them; the rest are exactly 0.

    With the entries sorted in decreasing order ``z_(1) >= z_(2) >= ...``, the support size is
    the largest ``k`` with ``1 + k z_(k) > z_(1) + ... + z_(k)``, and
    ``tau = (z_(1) + ... + z_(k) - 1) / k``. Each slice is first shifted by its maximum (the
    result does not change) so that the partial sums stay small.

    Args:
        x: real array with at least one dimension.
        axis: the axis of the distributions (default the last).
        out: optional float32 array of the shape of `x`, written in place.

    Returns:
        float32 array of the shape of `x`; every slice along `axis` is >= 0 and sums to 1.

    Raises:
        ValueError: an `axis` out of range, a 0-d `x`, or an `out` of the wrong shape.
        TypeError: a non-real `x`, a non-integer `axis`, or an `out` that is not float32.

    Example:
        >>> from pynncore import ops
        >>> ops.sparsemax([[2.0, 1.0, -1.0]]).tolist()
        [[1.0, 0.0, 0.0]]
    """
    fn = "sparsemax"
    x = _as_f32_array(x, "x", fn)
    ax = _axis_index(x, axis, fn)
    if x.size == 0:
        return _into(np.zeros_like(x), out, fn)
    z = np.moveaxis(x, ax, -1)
    z = z - z.max(axis=-1, keepdims=True)
    desc = -np.sort(-z, axis=-1)
    sums = np.cumsum(desc, axis=-1)
    ranks = np.arange(1, z.shape[-1] + 1, dtype=np.float32)
    k = np.count_nonzero(1 + ranks * desc > sums, axis=-1)[..., None]  # >= 1: the maximum is in
    tau = (np.take_along_axis(sums, np.maximum(k, 1) - 1, axis=-1) - 1) / np.maximum(k, 1)
    y = np.maximum(z - tau.astype(np.float32), np.float32(0.0))
    return _into(np.moveaxis(y, -1, ax), out, fn)


def _sparsemax_grad(y: np.ndarray, dy: np.ndarray, axis: int = -1) -> np.ndarray:
    """dL/dx of sparsemax from its output: ``s * (dy - mean of dy over the support)`` along
    `axis`, where ``s`` marks the entries with ``y > 0``."""
    ax = _axis_index(y, axis, "sparsemax")
    support = (y > 0).astype(np.float32)
    k = np.maximum(support.sum(axis=ax, keepdims=True), np.float32(1.0))
    mean = (dy * support).sum(axis=ax, keepdims=True) / k
    return np.ascontiguousarray(support * (dy - mean), dtype=np.float32)


def threshold(x: Any, threshold: float, default_value: float, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` where ``x > threshold``, else ``default_value`` (Keras 3 ``threshold``; the
    comparison is made in float32).

    Args:
        x: real array.
        threshold: real number, not NaN.
        default_value: real number, not NaN, written where ``x <= threshold`` (and where `x`
            is NaN).
        out: optional float32 array of the shape of `x`, written in place.

    Returns:
        float32 array of the shape of `x`.

    Raises:
        TypeError: a non-real `x`, `threshold` or `default_value`, or an `out` that is not
            float32.
        ValueError: a NaN `threshold` or `default_value`, or an `out` of the wrong shape.

    Example:
        >>> from pynncore import ops
        >>> ops.threshold([-1.0, 0.0, 1.0, 2.0], 1.0, 0.0).tolist()
        [0.0, 0.0, 0.0, 2.0]
    """
    fn = "threshold"
    x = _as_f32_array(x, "x", fn)
    t = _real_scalar(threshold, "threshold", fn)
    d = _real_scalar(default_value, "default_value", fn)
    return _into(np.where(x > t, x, d), out, fn)


def _threshold_grad(x: np.ndarray, dy: np.ndarray, threshold: float, default_value: float = 0.0) -> np.ndarray:
    """dL/dx of threshold: ``dy`` where ``x > threshold``, else 0."""
    t = _real_scalar(threshold, "threshold", "threshold")
    return np.where(x > t, dy, np.float32(0.0)).astype(np.float32)


# --- losses and optimizer updates --------------------------------------------------------------

__all__ += [
    "adadelta_update",
    "adagrad_update",
    "adam_update",
    "adamax_update",
    "adamw_update",
    "lamb_update",
    "ftrl_update",
    "lion_update",
    "loss",
    "loss_and_grad",
    "nadam_update",
    "rmsprop_update",
    "segment_sum_of_squares",
    "sgd_update",
    "sum_of_squares",
]

_SPARSE_LOSS = "sparse_categorical_crossentropy"


def _as_f32_input(x: Any, name: str, fn: str) -> np.ndarray:
    """`x` as an aligned float32 C-contiguous array (a copy only when it is not one already)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{fn}: {name} must be a real numeric array; got dtype {arr.dtype}")
    return np.require(arr, dtype=np.float32, requirements=["C", "A"])


def _as_labels(x: Any, pred_shape: tuple, fn: str) -> np.ndarray:
    """Integer class labels of shape ``pred_shape[:-1]`` (or with a trailing 1), flattened."""
    shape = pred_shape[:-1]
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        bad = arr != np.floor(arr)
        if bad.any():
            value = arr[np.unravel_index(int(np.argmax(bad)), arr.shape)].item()
            raise ValueError(f"{fn}: y_true must hold integer class labels; got {value!r}")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "u" or (arr.dtype.kind == "i" and arr.dtype.itemsize not in (4, 8)):
        arr = arr.astype(np.int64)
    elif arr.dtype.kind != "i":
        raise TypeError(f"{fn}: y_true must hold integer class labels; got dtype {arr.dtype}")
    if arr.shape == shape + (1,):
        arr = arr.reshape(shape)
    if arr.shape != shape:
        raise ValueError(
            f"{fn}: y_true (labels) must have shape {shape} or {shape + (1,)} for y_pred of"
            f" shape {pred_shape}; got shape {arr.shape}"
        )
    return np.require(arr, requirements=["C", "A"]).reshape(-1)


def _same_rank(y_true: np.ndarray, y_pred_shape: tuple) -> np.ndarray:
    """Keras's squeeze_or_expand_to_same_rank: drop or add a trailing axis of length 1."""
    if y_true.ndim == len(y_pred_shape) + 1 and y_true.shape[-1] == 1:
        return y_true.reshape(y_true.shape[:-1])
    if len(y_pred_shape) == y_true.ndim + 1 and y_pred_shape[-1] == 1:
        return y_true.reshape(y_true.shape + (1,))
    return y_true


def _check_written(a: Any, shape: tuple, name: str, fn: str) -> np.ndarray:
    """An output array: float32, C-contiguous, writable, of `shape`; never converted."""
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{fn}: {name} must be a numpy.ndarray of dtype float32; got {type(a).__name__}"
        )
    if a.dtype != np.float32:
        raise TypeError(f"{fn}: {name} must have dtype float32; got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{fn}: {name} must have shape {shape}; got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(
            f"{fn}: {name} must be C-contiguous (it is written in place, never copied);"
            " got a non-contiguous array"
        )
    if not a.flags.writeable:
        raise ValueError(f"{fn}: {name} is read-only; it must be writable")
    return a


def _loss_call(
    name: str,
    y_true: Any,
    y_pred: Any,
    row_scale: Any,
    from_logits: bool,
    delta: float,
    label_smoothing: float,
    out: np.ndarray | None,
    grad_out: np.ndarray | None,
    want_grad: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    fn = name if isinstance(name, str) else "loss"
    if not isinstance(name, str):
        raise TypeError(f"loss: name must be a string; got {type(name).__name__}")
    y_pred = _as_f32_input(y_pred, "y_pred", fn)
    if y_pred.ndim == 0:
        raise ValueError(f"{fn}: y_pred must have shape (N, C) or (N,); got a scalar")
    pred_shape = y_pred.shape
    # (N,) is one column per sample; (N, ..., C) is flattened to rows of C.
    sample_shape = pred_shape if y_pred.ndim == 1 else pred_shape[:-1]
    flat = y_pred.ndim > 2
    if name == _SPARSE_LOSS:
        if y_pred.ndim < 2:
            raise ValueError(
                f"{fn}: y_pred must have shape (N, C) with one column per class; got shape"
                f" {pred_shape}"
            )
        y_true = _as_labels(y_true, pred_shape, fn)
    else:
        y_true = _same_rank(_as_f32_input(y_true, "y_true", fn), pred_shape)
        if y_true.shape != pred_shape:
            raise ValueError(
                f"{fn}: y_true must have the shape of y_pred {pred_shape}; got shape {y_true.shape}"
            )
    if row_scale is not None:
        row_scale = _as_f32_input(row_scale, "row_scale", fn)
        if row_scale.shape != sample_shape:
            raise ValueError(
                f"{fn}: row_scale must have shape {sample_shape}; got shape {row_scale.shape}"
            )
    if out is None:
        out = np.empty(sample_shape, dtype=np.float32)
    else:
        _check_written(out, sample_shape, "out", fn)
    if want_grad:
        if grad_out is None:
            grad_out = np.empty(pred_shape, dtype=np.float32)
        else:
            _check_written(grad_out, pred_shape, "grad_out", fn)
    if flat:
        c = pred_shape[-1]
        args = (
            y_true.reshape(-1) if name == _SPARSE_LOSS else y_true.reshape(-1, c),
            y_pred.reshape(-1, c),
            out.reshape(-1),
            None if grad_out is None else grad_out.reshape(-1, c),
            None if row_scale is None else row_scale.reshape(-1),
        )
    else:
        args = (y_true, y_pred, out, grad_out, row_scale)
    _core.loss(
        name,
        *args,
        from_logits=from_logits,
        delta=delta,
        label_smoothing=label_smoothing,
    )
    return out, grad_out


def loss(
    name: str,
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    delta: float = 1.0,
    label_smoothing: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Per-sample loss with Keras 3 semantics (no reduction over samples).

    The loss of each sample is the mean over the last axis for ``mean_squared_error``,
    ``mean_absolute_error``, ``huber`` and ``binary_crossentropy``, and the sum over classes
    for ``categorical_crossentropy`` and ``sparse_categorical_crossentropy``, exactly as
    ``keras.losses.<name>(y_true, y_pred)`` returns it. Probabilities are clipped to
    ``[1e-7, 1 - 1e-7]`` (categorical ones after normalising each row to sum 1); logits use
    the numerically stable forms.

    Args:
        name: ``"mean_squared_error"`` (``"mse"``), ``"mean_absolute_error"`` (``"mae"``),
            ``"huber"``, ``"binary_crossentropy"``, ``"categorical_crossentropy"`` or
            ``"sparse_categorical_crossentropy"``.
        y_true: targets of y_pred's shape (a trailing axis of length 1 may be added or
            dropped), or integer class labels of shape ``(N,)`` / ``(N, 1)`` for the sparse
            loss (float labels must be whole numbers).
        y_pred: predictions ``(N, C)``, ``(N,)`` (one column) or ``(N, ..., C)``.
        from_logits: y_pred holds logits (crossentropy losses only).
        delta: Huber threshold (> 0).
        label_smoothing: in ``[0, 1]``, binary and categorical crossentropy only.
        out: optional float32 C-contiguous output of the per-sample shape, written in place.

    Returns:
        float32 array of shape ``(N,)`` (``(N, ...)`` for higher-rank y_pred).

    Raises:
        TypeError: non-numeric input, or `out` that is not a float32 ndarray.
        ValueError: unknown name, mismatched shapes, a label outside ``[0, C)`` (the message
            names the label and ``C``), or a parameter the loss does not take.

    Example:
        >>> from pynncore import ops
        >>> ops.loss("mse", [[0.0, 1.0]], [[1.0, 1.0]])
        array([0.5], dtype=float32)
    """
    per_sample, _ = _loss_call(
        name, y_true, y_pred, None, from_logits, delta, label_smoothing, out, None, False
    )
    return per_sample


def loss_and_grad(
    name: str,
    y_true: Any,
    y_pred: Any,
    *,
    row_scale: Any = None,
    from_logits: bool = False,
    delta: float = 1.0,
    label_smoothing: float = 0.0,
    out: np.ndarray | None = None,
    grad_out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample loss and its gradient with respect to y_pred, in one pass.

    ``grad[i] = row_scale[i] * d loss[i] / d y_pred[i]``: with
    ``row_scale = sample_weight / N`` it is the gradient of the weighted mean loss. Where
    Keras clips a probability the gradient is zero. Arguments as for `loss`, plus:

    Args:
        row_scale: optional per-sample factor of shape ``(N,)`` (``(N, ...)``); 1 if None.
        grad_out: optional float32 C-contiguous array of y_pred's shape, written in place.

    Returns:
        ``(per_sample, grad)``: float32 arrays of shapes ``(N,)`` and y_pred's shape.

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> loss, grad = ops.loss_and_grad("sparse_categorical_crossentropy", [1],
        ...                                np.zeros((1, 2)), from_logits=True)
        >>> grad
        array([[ 0.5, -0.5]], dtype=float32)
    """
    return _loss_call(
        name, y_true, y_pred, row_scale, from_logits, delta, label_smoothing, out, grad_out, True
    )


# Each update below is described once, by its signature: after params and grads come its
# state slots (None for an absent optional slot), then its hyper-parameters (keyword-only,
# with Keras 3's defaults). The native function of the same name takes the same arguments
# under the same names, so _update passes them on by name.
def _update(args: dict[str, Any], native: Callable[..., Any]) -> Any:
    """Calls `native` with `args`, the arguments an update received (its ``locals()`` on
    entry); grads becomes a float32 array first."""
    args["grads"] = _as_f32_input(args["grads"], "grads", native.__name__)
    return native(**args)


def sgd_update(
    params: np.ndarray,
    grads: Any,
    momentum_buf: np.ndarray | None = None,
    *,
    learning_rate: float = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None:
    """One Keras SGD step in place: ``m = momentum * m - lr * g; p += m``.

    With ``nesterov`` the parameter moves by ``momentum * m - lr * g``; without a momentum
    buffer (``momentum`` must then be 0) by ``-lr * g``.

    Every update here works the same way: `params` and the state slots are float32
    C-contiguous arrays of one size (any shape; typically flat views of one arena holding a
    whole model) updated in place, never copied; `grads` is anything numpy converts to an
    array of that size. Before the rule, the gradient becomes
    ``clip(grads * grad_scale, -clip_value, clip_value)`` (``clip_value <= 0`` or ``inf``:
    no clipping; `grad_scale` carries clipnorm / global_clipnorm / loss scaling, see
    `sum_of_squares`) and ``params *= 1 - learning_rate * weight_decay`` (Keras's decoupled
    weight decay). Defaults are Keras 3's.

    Raises:
        TypeError: an array that is not a float32 ndarray (the message names it).
        ValueError: arrays of different sizes, non-contiguous, read-only or sharing memory,
            a missing slot, or an invalid hyper-parameter (NaN, momentum outside [0, 1]).

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> p = np.ones(3, np.float32)
        >>> ops.sgd_update(p, np.full(3, 0.5), learning_rate=0.1)
        >>> p
        array([0.95, 0.95, 0.95], dtype=float32)
    """
    return _update(locals(), _core.sgd_update)


def rmsprop_update(
    params: np.ndarray,
    grads: Any,
    velocity: np.ndarray,
    momentum_buf: np.ndarray | None = None,
    average_grad: np.ndarray | None = None,
    *,
    learning_rate: float = 0.001,
    rho: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None:
    """One Keras RMSprop step in place.

    ``v = rho * v + (1 - rho) * g**2``; centered (when `average_grad` is given)
    ``a = rho * a + (1 - rho) * g`` and ``d = v - a**2 + epsilon``, else ``d = v + epsilon``;
    ``inc = lr * g / sqrt(d)``; with `momentum_buf` (needed when ``momentum > 0``)
    ``b = momentum * b + inc; p -= b``, else ``p -= inc``. Arrays, gradient transform and
    errors as in `sgd_update`.
    """
    return _update(locals(), _core.rmsprop_update)


def adagrad_update(
    params: np.ndarray,
    grads: Any,
    accumulator: np.ndarray,
    *,
    learning_rate: float = 0.001,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None:
    """One Keras Adagrad step in place: ``acc += g**2; p -= lr * g / sqrt(acc + epsilon)``.

    Keras starts the accumulator at ``initial_accumulator_value`` (0.1): fill it before the
    first step. Arrays, gradient transform and errors as in `sgd_update`.
    """
    return _update(locals(), _core.adagrad_update)


def adadelta_update(
    params: np.ndarray,
    grads: Any,
    accum_grad: np.ndarray,
    accum_var: np.ndarray,
    *,
    learning_rate: float = 0.001,
    rho: float = 0.95,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None:
    """One Keras Adadelta step in place.

    ``ag = rho * ag + (1 - rho) * g**2``;
    ``dx = -sqrt(av + epsilon) * g / sqrt(ag + epsilon)``;
    ``av = rho * av + (1 - rho) * dx**2``; ``p += lr * dx``. Arrays, gradient transform and
    errors as in `sgd_update`.
    """
    return _update(locals(), _core.adadelta_update)


def adam_update(
    params: np.ndarray,
    grads: Any,
    m: np.ndarray,
    v: np.ndarray,
    vhat: np.ndarray | None = None,
    *,
    step: int,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None:
    """One Keras Adam step in place; `step` is the 1-based number of this update.

    ``m += (g - m) * (1 - beta_1); v += (g**2 - v) * (1 - beta_2)``; with `vhat` (amsgrad)
    ``vhat = max(vhat, v)`` replaces v below;
    ``p -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``.
    Note that epsilon is added to ``sqrt(v)`` before the bias correction of v (Keras's
    "epsilon hat"), not after as in PyTorch. Arrays, gradient transform and errors as in
    `sgd_update`.
    """
    return _update(locals(), _core.adam_update)


def adamw_update(
    params: np.ndarray,
    grads: Any,
    m: np.ndarray,
    v: np.ndarray,
    vhat: np.ndarray | None = None,
    *,
    step: int,
    learning_rate: float = 0.001,
    weight_decay: float = 0.004,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None:
    """One Keras AdamW step in place: `adam_update` with Keras's default weight_decay 0.004.

    The decay ``params -= params * weight_decay * learning_rate`` comes before the Adam rule.
    """
    return _update(locals(), _core.adam_update)


def adamax_update(
    params: np.ndarray,
    grads: Any,
    m: np.ndarray,
    u: np.ndarray,
    *,
    step: int,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None:
    """One Keras Adamax step in place; `step` is 1-based.

    ``m += (g - m) * (1 - beta_1); u = max(beta_2 * u, |g|)``;
    ``p -= lr * m / ((1 - beta_1**t) * (u + epsilon))``. Arrays, gradient transform and
    errors as in `sgd_update`.
    """
    return _update(locals(), _core.adamax_update)


def nadam_update(
    params: np.ndarray,
    grads: Any,
    m: np.ndarray,
    v: np.ndarray,
    *,
    step: int,
    u_product: float,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> float:
    """One Keras 3 Nadam step in place; returns the new `u_product` for the next step.

    Keras 3's momentum schedule: ``u_t = beta_1 * (1 - 0.5 * 0.96**t)``. `u_product` is
    ``u_1 * ... * u_{t-1}`` (1.0 before the first step) and the result is
    ``u_1 * ... * u_t``. With ``P_t`` that product:
    ``m += (g - m) * (1 - beta_1); v += (g**2 - v) * (1 - beta_2)``;
    ``m_hat = u_{t+1} * m / (1 - P_t * u_{t+1}) + (1 - u_t) * g / (1 - P_t)``;
    ``p -= lr * m_hat / (sqrt(v / (1 - beta_2**t)) + epsilon)``. Arrays, gradient transform
    and errors as in `sgd_update`.

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> p, m, v = np.ones(4, np.float32), np.zeros(4, np.float32), np.zeros(4, np.float32)
        >>> u = 1.0
        >>> for t in (1, 2):
        ...     u = ops.nadam_update(p, np.ones(4), m, v, step=t, u_product=u)
    """
    return _update(locals(), _core.nadam_update)


def ftrl_update(
    params: np.ndarray,
    grads: Any,
    accumulator: np.ndarray,
    linear: np.ndarray,
    *,
    learning_rate: float = 0.001,
    learning_rate_power: float = -0.5,
    l1_regularization_strength: float = 0.0,
    l2_regularization_strength: float = 0.0,
    l2_shrinkage_regularization_strength: float = 0.0,
    beta: float = 0.0,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None:
    """One Keras FTRL step in place.

    With ``k = -learning_rate_power`` and ``x`` the parameters after the decay:
    ``a' = accumulator + g**2``;
    ``linear += g + 2 * l2_shrinkage * x - (a'**k - accumulator**k) / lr * x``;
    ``q = a'**k / lr + 2 * (l2 + beta / (2 * lr))``;
    ``params = (clip(linear, -l1, l1) - linear) / q``; ``accumulator = a'``. Keras starts
    `accumulator` at ``initial_accumulator_value`` (0.1) and `linear` at 0. `learning_rate`
    must be > 0. Arrays, gradient transform and errors as in `sgd_update`.

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> p, z = np.zeros(2, np.float32), np.zeros(2, np.float32)
        >>> acc = np.full(2, 0.1, np.float32)
        >>> ops.ftrl_update(p, [1.0, -1.0], acc, z, learning_rate=0.1)
    """
    return _update(locals(), _core.ftrl_update)


def lion_update(
    params: np.ndarray,
    grads: Any,
    m: np.ndarray,
    *,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.99,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None:
    """One Keras Lion step in place.

    ``c = beta_1 * m + (1 - beta_1) * g; p -= lr * sign(c)`` (``sign(0) = 0``), then
    ``m = beta_2 * m + (1 - beta_2) * g``. Arrays, gradient transform and errors as in
    `sgd_update`.

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> p, m = np.ones(3, np.float32), np.zeros(3, np.float32)
        >>> ops.lion_update(p, [0.5, -2.0, 0.0], m, learning_rate=0.1)
        >>> p
        array([0.9, 1.1, 1. ], dtype=float32)
    """
    return _update(locals(), _core.lion_update)


def lamb_update(
    params: np.ndarray,
    grads: Any,
    m: np.ndarray,
    v: np.ndarray,
    offsets: Any = None,
    sizes: Any = None,
    *,
    step: int,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> np.ndarray:
    """One Keras Lamb step in place over several variables of one arena; `step` is 1-based.

    Variable ``s`` is ``params.ravel()[offsets[s] : offsets[s] + sizes[s]]`` (increasing,
    non-overlapping; elements outside every variable are left as they are); both None: the
    whole array is one variable. Per variable:
    ``m += (g - m) * (1 - beta_1); v += (g**2 - v) * (1 - beta_2)``;
    ``u = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon)``;
    ``r = ||p|| / ||u||`` (1 when either norm is 0); ``p -= lr * r * u``. The norms are
    summed over fixed blocks in a fixed order, so the result does not depend on the thread
    count. Arrays, gradient transform and errors as in `sgd_update`.

    Returns:
        float64 array of the trust ratios ``r``, one per variable.
    """
    fn = "lamb_update"
    if (offsets is None) != (sizes is None):
        given = "offsets" if sizes is None else "sizes"
        raise ValueError(f"{fn}: give both offsets and sizes, or neither; got only {given}")
    if offsets is None:
        offsets, sizes = [0], [np.size(params)]
    return _core.lamb_update(
        params, _as_f32_input(grads, "grads", fn), m, v,
        _int64_input(offsets, "offsets", fn), _int64_input(sizes, "sizes", fn),
        step=step, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
        weight_decay=weight_decay, grad_scale=grad_scale, clip_value=clip_value,
    )


def _int64_input(x: Any, name: str, fn: str) -> np.ndarray:
    """Integer `x` as an aligned int64 C-contiguous array; TypeError naming `name` otherwise."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{fn}: {name} must be integers; got dtype {arr.dtype}")
    return np.require(arr, dtype=np.int64, requirements=["C", "A"])


def sum_of_squares(x: Any) -> float:
    """``sum(x**2)`` over all elements, accumulated in double, threaded for large arrays.

    For Keras's ``global_clipnorm``: with ``norm = sqrt(sum of sum_of_squares(g))`` over all
    gradients, pass ``grad_scale = clipnorm / max(norm, clipnorm)`` to an update.

    Example:
        >>> from pynncore import ops
        >>> ops.sum_of_squares([3.0, 4.0])
        25.0
    """
    return _core.sum_of_squares(_as_f32_input(x, "x", "sum_of_squares"))


def segment_sum_of_squares(x: Any, offsets: Any) -> np.ndarray:
    """Sums of squares of the segments ``[offsets[s], offsets[s + 1])`` of ``x.ravel()``.

    One call gives every tensor's squared norm when `x` is a flat arena of gradients and
    `offsets` the tensors' start positions followed by the end (Keras's per-variable
    ``clipnorm``).

    Returns:
        float64 array of ``len(offsets) - 1`` sums.

    Raises:
        ValueError: offsets decreasing or outside ``[0, x.size]`` (the message names them).
    """
    fn = "segment_sum_of_squares"
    return _core.segment_sum_of_squares(
        _as_f32_input(x, "x", fn), _int64_input(offsets, "offsets", fn)
    )


# --- convolutions ------------------------------------------------------------------------------
# Channels-last data: (N, H, W, C) for 2-D, (N, L, C) for 1-D; kernels in Keras's layouts,
# (KH, KW, C/groups, F) and (K, C/groups, F); Conv2DTranspose (KH, KW, F, C). groups is
# C / kernel.shape[-2]. Conv1D runs as Conv2D with H = 1.

__all__ += [
    "conv1d",
    "conv1d_backward",
    "conv2d",
    "conv2d_backward",
    "conv2d_transpose",
    "conv_output_size",
    "conv_transpose_output_size",
]


def _conv_tuple(value: Any, rank: int, name: str, fn: str, minimum: int = 1) -> tuple:
    """An int or a sequence of `rank` ints, each >= minimum, as a tuple."""
    items = (value,) * rank if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        items = None
    if (
        items is None
        or len(items) != rank
        or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum for v in items)
    ):
        raise ValueError(
            f"{fn}: {name} must be an integer >= {minimum} or a tuple of {rank} such integers. "
            f"Received: {name}={value!r}"
        )
    return tuple(int(v) for v in items)


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> tuple:
    """``(output size, padding before)`` of a convolution along one axis, as Keras computes it.

    ``padding`` is ``"valid"`` (none), ``"same"`` (output ``ceil(size / stride)``, the odd
    padding pixel at the end) or ``"causal"`` (all padding before). A ``"valid"`` output size
    below 1 (kernel larger than the input) is returned as is; callers raise.
    """
    keff = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (size - keff) // stride + 1 if size >= keff else 0, 0
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + keff - size, 0)
        return out, total // 2
    if padding == "causal":
        return (size - 1) // stride + 1 if size > 0 else 0, keff - 1
    raise ValueError(f"padding must be 'valid', 'same' or 'causal'. Received: padding={padding!r}")


def conv_transpose_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None = None) -> tuple:
    """``(output size, padding before)`` of a transposed convolution along one axis (Keras 3).

    The padding returned is that of the convolution whose input gradient this is.
    """
    keff = (kernel - 1) * dilation + 1
    if padding == "valid":
        op = max(keff, stride) - keff if output_padding is None else output_padding
        left, right = keff - 1, keff - 1 + op
    elif padding == "same":
        pad_len = stride + keff - 2 if output_padding is None else keff + keff % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, keff - 1)
        right = pad_len - left
    else:
        raise ValueError(f"padding must be 'valid' or 'same'. Received: padding={padding!r}")
    out = (size - 1) * stride + left + right - keff + 2 if size > 0 else 0
    return out, keff - 1 - left


def _as_f32_nd(x: Any, ndim: int, name: str, fn: str, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{fn}: {name} must be a real numeric array; got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D {what}; got shape {arr.shape}")
    return np.require(arr, dtype=np.float32, requirements=["C", "A"])


def _conv_act(activation: Any) -> tuple:
    """(kernel name, kernel keyword arguments) of an activation given as None/name/function."""
    from pynncore import activations as _activations

    act = _activations.get(activation)
    if not act.native:
        raise ValueError(
            f"activation '{act.name}' has no native kernel to fuse into the convolution: apply "
            f"ops.{act.name} to its output. Received: activation={activation!r}"
        )
    return act.name, act._kernel_kw


def _conv_plan(xs: tuple, ks: tuple, strides: Any, padding: Any, dilation_rate: Any, rank: int, fn: str) -> tuple:
    """Output spatial sizes and padding of a forward convolution; checks channels and sizes."""
    s = _conv_tuple(strides, rank, "strides", fn)
    d = _conv_tuple(dilation_rate, rank, "dilation_rate", fn)
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same", "causal") or (
        padding.lower() == "causal" and rank != 1
    ):
        allowed = "'valid', 'same' or 'causal'" if rank == 1 else "'valid' or 'same'"
        raise ValueError(f"{fn}: padding must be {allowed}. Received: padding={padding!r}")
    padding = padding.lower()
    c, cg, f = xs[-1], ks[-2], ks[-1]
    if cg < 1 or c % cg:
        raise ValueError(
            f"{fn}: the input's {c} channels (last axis of shape {xs}) must be a multiple of the "
            f"kernel's {cg} input channels (kernel shape {ks})"
        )
    groups = c // cg
    if f % groups:
        raise ValueError(f"{fn}: {f} filters are not divisible by groups={groups} (kernel shape {ks})")
    outs, pads = [], []
    for i in range(rank):
        o, p = conv_output_size(xs[1 + i], ks[i], s[i], d[i], padding)
        if o < 1 and xs[0] > 0 or xs[1 + i] < 1:
            raise ValueError(
                f"{fn}: the kernel {ks[:rank]} (dilation {d}) is larger than the input {xs[1:-1]} "
                f"with padding='{padding}'"
            )
        outs.append(o)
        pads.append(p)
    return tuple(outs), tuple(pads), s, d


def conv2d(
    x: Any,
    kernel: Any,
    bias: Any = None,
    strides: Any = 1,
    padding: str = "valid",
    dilation_rate: Any = 1,
    activation: Any = None,
) -> np.ndarray:
    """2-D convolution on channels-last data: ``activation(conv(x, kernel) + bias)``.

    Args:
        x: ``(N, H, W, C)``.
        kernel: ``(KH, KW, C / groups, F)`` (groups is inferred from the channel counts).
        bias: optional ``(F,)``.
        strides, dilation_rate: int or pair of ints.
        padding: ``"valid"`` or ``"same"`` (Keras's rule: extra padding at the bottom/right).
        activation: None (linear), a name or a ``pynncore.activations`` function.

    Returns:
        float32 ``(N, OH, OW, F)``.

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> ops.conv2d(np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 4)), padding="same").shape
        (1, 5, 5, 4)
    """
    fn = "conv2d"
    x = _as_f32_nd(x, 4, "x", fn, "(N, H, W, C)")
    kernel = _as_f32_nd(kernel, 4, "kernel", fn, "(KH, KW, C/groups, F)")
    (oh, ow), pads, s, d = _conv_plan(x.shape, kernel.shape, strides, padding, dilation_rate, 2, fn)
    b = None if bias is None else _as_f32_nd(bias, 1, "bias", fn, "(F,)")
    name, kw = _conv_act(activation)
    y = _memory.empty_f32((x.shape[0], oh, ow, kernel.shape[3]))
    _core.conv2d_forward(x, kernel, b, y, s, d, pads, name, **kw)
    return y


def conv1d(
    x: Any,
    kernel: Any,
    bias: Any = None,
    strides: Any = 1,
    padding: str = "valid",
    dilation_rate: Any = 1,
    activation: Any = None,
) -> np.ndarray:
    """1-D convolution on ``(N, L, C)`` with a ``(K, C / groups, F)`` kernel; see ``conv2d``.

    ``padding`` may also be ``"causal"`` (all padding before the sequence). Returns
    ``(N, OL, F)``.
    """
    fn = "conv1d"
    x = _as_f32_nd(x, 3, "x", fn, "(N, L, C)")
    kernel = _as_f32_nd(kernel, 3, "kernel", fn, "(K, C/groups, F)")
    (ol,), (pad,), (s,), (d,) = _conv_plan(x.shape, kernel.shape, strides, padding, dilation_rate, 1, fn)
    b = None if bias is None else _as_f32_nd(bias, 1, "bias", fn, "(F,)")
    name, kw = _conv_act(activation)
    y = _memory.empty_f32((x.shape[0], 1, ol, kernel.shape[2]))
    _core.conv2d_forward(x[:, None], kernel[None], b, y, (1, s), (1, d), (0, pad), name, **kw)
    return y[:, 0]


def conv2d_backward(
    x: Any,
    kernel: Any,
    dy: Any,
    strides: Any = 1,
    padding: str = "valid",
    dilation_rate: Any = 1,
    need_dx: bool = True,
) -> tuple:
    """Gradients of ``conv2d`` (without activation) for the output gradient ``dy``.

    Returns:
        ``(dx, dkernel, dbias)``: ``(N, H, W, C)`` (None unless ``need_dx``),
        ``(KH, KW, C / groups, F)`` and ``(F,)``.
    """
    fn = "conv2d_backward"
    x = _as_f32_nd(x, 4, "x", fn, "(N, H, W, C)")
    kernel = _as_f32_nd(kernel, 4, "kernel", fn, "(KH, KW, C/groups, F)")
    (oh, ow), pads, s, d = _conv_plan(x.shape, kernel.shape, strides, padding, dilation_rate, 2, fn)
    dy = _as_f32_nd(dy, 4, "dy", fn, "(N, OH, OW, F)")
    want = (x.shape[0], oh, ow, kernel.shape[3])
    if dy.shape != want:
        raise ValueError(f"{fn}: dy must have the output's shape {want}; got shape {dy.shape}")
    dx = np.empty_like(x) if need_dx else None
    dk = np.empty_like(kernel)
    db = _memory.empty_f32(kernel.shape[3])
    _core.conv2d_backward(x, kernel, dy, dx, dk, db, s, d, pads)
    return dx, dk, db


def conv1d_backward(
    x: Any,
    kernel: Any,
    dy: Any,
    strides: Any = 1,
    padding: str = "valid",
    dilation_rate: Any = 1,
    need_dx: bool = True,
) -> tuple:
    """Gradients of ``conv1d`` (without activation): ``(dx, dkernel, dbias)``."""
    fn = "conv1d_backward"
    x = _as_f32_nd(x, 3, "x", fn, "(N, L, C)")
    kernel = _as_f32_nd(kernel, 3, "kernel", fn, "(K, C/groups, F)")
    (ol,), (pad,), (s,), (d,) = _conv_plan(x.shape, kernel.shape, strides, padding, dilation_rate, 1, fn)
    dy = _as_f32_nd(dy, 3, "dy", fn, "(N, OL, F)")
    want = (x.shape[0], ol, kernel.shape[2])
    if dy.shape != want:
        raise ValueError(f"{fn}: dy must have the output's shape {want}; got shape {dy.shape}")
    dx = np.empty_like(x) if need_dx else None
    dk = np.empty_like(kernel)
    db = _memory.empty_f32(kernel.shape[2])
    _core.conv2d_backward(
        x[:, None], kernel[None], dy[:, None], None if dx is None else dx[:, None], dk[None], db, (1, s), (1, d), (0, pad)
    )
    return dx, dk, db


def conv2d_transpose(
    x: Any,
    kernel: Any,
    bias: Any = None,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    dilation_rate: Any = 1,
    activation: Any = None,
) -> np.ndarray:
    """Transposed 2-D convolution (Keras's ``Conv2DTranspose``) on channels-last data.

    Args:
        x: ``(N, H, W, C)``.
        kernel: ``(KH, KW, F, C)`` (Keras's layout: filters before input channels).
        bias: optional ``(F,)``.
        output_padding: None (Keras's default) or int / pair added at the end of each axis.

    Returns:
        float32 ``(N, OH, OW, F)`` with ``OH = H * stride`` for ``"same"`` and
        ``(H - 1) * stride + max(KH_eff, stride)`` for ``"valid"``.
    """
    fn = "conv2d_transpose"
    x = _as_f32_nd(x, 4, "x", fn, "(N, H, W, C)")
    kernel = _as_f32_nd(kernel, 4, "kernel", fn, "(KH, KW, F, C)")
    s = _conv_tuple(strides, 2, "strides", fn)
    d = _conv_tuple(dilation_rate, 2, "dilation_rate", fn)
    op = None if output_padding is None else _conv_tuple(output_padding, 2, "output_padding", fn, minimum=0)
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{fn}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
    if kernel.shape[3] != x.shape[3]:
        raise ValueError(
            f"{fn}: the kernel {kernel.shape} expects {kernel.shape[3]} input channels (last axis); "
            f"got x of shape {x.shape}"
        )
    outs, pads = [], []
    for i in range(2):
        o, p = conv_transpose_output_size(x.shape[1 + i], kernel.shape[i], s[i], d[i], padding.lower(), None if op is None else op[i])
        outs.append(max(o, 0))
        pads.append(p)
    b = None if bias is None else _as_f32_nd(bias, 1, "bias", fn, "(F,)")
    name, kw = _conv_act(activation)
    y = _memory.empty_f32((x.shape[0], outs[0], outs[1], kernel.shape[2]))
    _core.conv2d_backward(None, kernel, x, y, None, None, s, d, tuple(pads), bias_dx=b, activation=name, **kw)
    return y

# --- pooling and batch normalization -----------------------------------------------------------

__all__ += [
    "avg_pool1d",
    "avg_pool1d_grad",
    "avg_pool2d",
    "avg_pool2d_grad",
    "batch_norm",
    "batch_norm_grad",
    "batch_norm_train",
    "max_pool1d",
    "max_pool1d_grad",
    "max_pool2d",
    "max_pool2d_grad",
]


def _int_tuple(value: Any, n: int, name: str, fn: str) -> tuple[int, ...]:
    """An int or a sequence of `n` ints, each positive, as a tuple of `n` ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = (int(value),) * n
    else:
        try:
            out = tuple(value)
        except TypeError:
            out = None
        if (
            out is None
            or len(out) != n
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in out)
        ):
            raise ValueError(f"{fn}: {name} must be an int or a tuple of {n} ints; got {value!r}")
        out = tuple(int(v) for v in out)
    if any(v <= 0 for v in out):
        raise ValueError(f"{fn}: {name} must be positive; got {value!r}")
    return out


def _pool_args(fn: str, nd: int, pool_size: Any, strides: Any, padding: Any) -> tuple:
    pool = _int_tuple(pool_size, nd, "pool_size", fn)
    stride = pool if strides is None else _int_tuple(strides, nd, "strides", fn)
    pad = padding.lower() if isinstance(padding, str) else padding
    if pad not in ("valid", "same"):
        raise ValueError(f"{fn}: padding must be 'valid' or 'same'; got {padding!r}")
    return pool, stride, pad


def _pool_input(x: Any, nd: int, fn: str) -> np.ndarray:
    arr = _as_f32_array(x, "x", fn)
    if arr.ndim != nd + 2:
        layout = "(N, L, C)" if nd == 1 else "(N, H, W, C)"
        raise ValueError(f"{fn}: x must be {nd + 2}-D {layout}; got shape {arr.shape}")
    return arr


def _pool(mode: str, nd: int, x: Any, pool_size: Any, strides: Any, padding: str, fn: str) -> np.ndarray:
    pool, stride, pad = _pool_args(fn, nd, pool_size, strides, padding)
    arr = _pool_input(x, nd, fn)
    if nd == 1:
        y = _core.pool2d_forward(mode, arr[:, None], 1, pool[0], 1, stride[0], pad)
        return y.reshape(y.shape[0], y.shape[2], y.shape[3])
    return _core.pool2d_forward(mode, arr, pool[0], pool[1], stride[0], stride[1], pad)


def _pool_grad(
    mode: str, nd: int, dy: Any, x_shape: Any, x: Any, y: Any, pool_size: Any, strides: Any, padding: str, fn: str
) -> np.ndarray:
    pool, stride, pad = _pool_args(fn, nd, pool_size, strides, padding)
    shape = tuple(int(d) for d in x_shape)
    if len(shape) != nd + 2:
        raise ValueError(f"{fn}: the input shape must have {nd + 2} entries; got {shape}")
    g = _as_f32_array(dy, "dy", fn)
    xa = None if x is None else _pool_input(x, nd, fn)
    ya = None if y is None else _as_f32_array(y, "y", fn)
    if nd == 1:
        s4 = (shape[0], 1, shape[1], shape[2])

        def up(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[:, None]

        if g.ndim != 3:
            raise ValueError(f"{fn}: dy must be 3-D (N, L, C); got shape {g.shape}")
        if ya is not None and ya.ndim != 3:
            raise ValueError(f"{fn}: y must be 3-D (N, L, C); got shape {ya.shape}")
        dx = _core.pool2d_backward(mode, up(g), s4, 1, pool[0], 1, stride[0], pad, up(xa), up(ya))
        return dx.reshape(shape)
    return _core.pool2d_backward(mode, g, shape, pool[0], pool[1], stride[0], stride[1], pad, xa, ya)


def max_pool2d(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> np.ndarray:
    """Max pooling of channels-last images ``(N, H, W, C)`` (Keras ``MaxPooling2D`` semantics).

    Args:
        x: ``(N, H, W, C)`` array.
        pool_size: int or ``(ph, pw)``.
        strides: int, ``(sh, sw)``, or None (the pool size).
        padding: ``'valid'`` (windows inside the image) or ``'same'`` (output ``ceil(H / sh)``;
            padding never wins a maximum).

    Returns:
        float32 ``(N, OH, OW, C)``. A NaN in a window gives NaN.

    Raises:
        ValueError: wrong rank, non-positive sizes, unknown padding, or a pool larger than the
            input with ``'valid'``.

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> ops.max_pool2d(np.arange(16.0).reshape(1, 4, 4, 1), 2)[..., 0]
        array([[[ 5.,  7.],
                [13., 15.]]], dtype=float32)
    """
    return _pool("max", 2, x, pool_size, strides, padding, "max_pool2d")


def avg_pool2d(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> np.ndarray:
    """Average pooling of ``(N, H, W, C)``; with ``'same'`` the padding is not counted (Keras).

    Arguments, result and errors as ``max_pool2d``.
    """
    return _pool("avg", 2, x, pool_size, strides, padding, "avg_pool2d")


def max_pool1d(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> np.ndarray:
    """Max pooling of sequences ``(N, L, C)`` over the steps axis (Keras ``MaxPooling1D``)."""
    return _pool("max", 1, x, pool_size, strides, padding, "max_pool1d")


def avg_pool1d(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> np.ndarray:
    """Average pooling of sequences ``(N, L, C)``; ``'same'`` padding is not counted."""
    return _pool("avg", 1, x, pool_size, strides, padding, "avg_pool1d")


def max_pool2d_grad(x: Any, y: Any, dy: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> np.ndarray:
    """Gradient of ``max_pool2d`` with respect to `x`, given its output `y` and ``dy``.

    Each window's gradient goes to the first position (row-major) holding its maximum, as in
    PyTorch and Keras; ties never split it.
    """
    xa = _pool_input(x, 2, "max_pool2d_grad")
    return _pool_grad("max", 2, dy, xa.shape, xa, y, pool_size, strides, padding, "max_pool2d_grad")


def avg_pool2d_grad(dy: Any, x_shape: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> np.ndarray:
    """Gradient of ``avg_pool2d`` with respect to its input of shape `x_shape`."""
    return _pool_grad("avg", 2, dy, x_shape, None, None, pool_size, strides, padding, "avg_pool2d_grad")


def max_pool1d_grad(x: Any, y: Any, dy: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> np.ndarray:
    """Gradient of ``max_pool1d`` with respect to `x` (first maximum of each window)."""
    xa = _pool_input(x, 1, "max_pool1d_grad")
    return _pool_grad("max", 1, dy, xa.shape, xa, y, pool_size, strides, padding, "max_pool1d_grad")


def avg_pool1d_grad(dy: Any, x_shape: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> np.ndarray:
    """Gradient of ``avg_pool1d`` with respect to its input of shape `x_shape`."""
    return _pool_grad("avg", 1, dy, x_shape, None, None, pool_size, strides, padding, "avg_pool1d_grad")


def _channel_vec(v: Any, c: int, name: str, fn: str) -> np.ndarray | None:
    if v is None:
        return None
    arr = _as_f32_array(v, name, fn)
    if arr.shape != (c,):
        raise ValueError(f"{fn}: {name} must have shape ({c},) (one value per channel); got shape {arr.shape}")
    return arr


def batch_norm(
    x: Any, mean: Any, variance: Any, gamma: Any = None, beta: Any = None, epsilon: float = 1e-3
) -> np.ndarray:
    """Inference batch normalization over the last axis:
    ``(x - mean) * gamma / sqrt(variance + epsilon) + beta`` (gamma/beta None: 1/0)."""
    fn = "batch_norm"
    xa = _as_f32_array(x, "x", fn)
    if xa.ndim < 1:
        raise ValueError(f"{fn}: x must have a channel axis (last); got a 0-d array")
    c = xa.shape[-1]
    return _core.batch_norm_forward_infer(
        xa,
        _channel_vec(mean, c, "mean", fn),
        _channel_vec(variance, c, "variance", fn),
        _channel_vec(gamma, c, "gamma", fn),
        _channel_vec(beta, c, "beta", fn),
        float(epsilon),
    )


def batch_norm_train(x: Any, gamma: Any = None, beta: Any = None, epsilon: float = 1e-3) -> tuple:
    """Training batch normalization with the batch's statistics over every axis but the last.

    Returns:
        ``(y, mean, variance, inv_std)``: float32; ``variance`` is the biased batch variance
        (Keras 3 uses it for the moving average) and ``inv_std = 1 / sqrt(variance + epsilon)``.
        Statistics are accumulated in float64 from one pass over `x`.
    """
    fn = "batch_norm_train"
    xa = _as_f32_array(x, "x", fn)
    if xa.ndim < 1:
        raise ValueError(f"{fn}: x must have a channel axis (last); got a 0-d array")
    c = xa.shape[-1]
    return _core.batch_norm_forward_train(
        xa, _channel_vec(gamma, c, "gamma", fn), _channel_vec(beta, c, "beta", fn), float(epsilon)
    )


def batch_norm_grad(x: Any, dy: Any, mean: Any, inv_std: Any, gamma: Any = None, need_dx: bool = True) -> tuple:
    """Gradients of ``batch_norm_train``: ``(dx or None, dgamma, dbeta)`` from its `mean` and
    `inv_std`, in one pass for the sums and one fused pass for ``dx``."""
    fn = "batch_norm_grad"
    xa = _as_f32_array(x, "x", fn)
    if xa.ndim < 1:
        raise ValueError(f"{fn}: x must have a channel axis (last); got a 0-d array")
    c = xa.shape[-1]
    return _core.batch_norm_backward(
        xa,
        _as_f32_array(dy, "dy", fn),
        _channel_vec(mean, c, "mean", fn),
        _channel_vec(inv_std, c, "inv_std", fn),
        _channel_vec(gamma, c, "gamma", fn),
        need_dx=bool(need_dx),
    )

# --- recurrent layers ----------------------------------------------------------------------------

_RNN_CELLS = {"simple_rnn": 0, "lstm": 1, "gru": 2}


class RNNContext:
    """What a training-mode recurrent forward pass keeps for its backward pass."""

    __slots__ = ("cell", "args", "x", "kernel", "recurrent_kernel", "mask", "rec_mask", "saved",
                 "h_prev", "c_prev", "return_sequences", "has_bias")

    def __init__(self, **kw: Any):
        for k, v in kw.items():
            setattr(self, k, v)


def _rnn_act(act: Any, fn: str, what: str) -> tuple:
    from pynncore import activations as _activations

    try:
        a = _activations.get(act)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{fn}: {what} is not a known activation: {e}") from None
    if not a.native:
        raise ValueError(f"{fn}: {what} '{a.name}' has no native kernel for recurrent cells")
    alpha = a._kernel_kw.get("alpha")
    return a.name, (None if alpha is None else float(alpha))


def _rnn_input(x: Any, name: str, fn: str, ndim: int, optional: bool = False) -> Any:
    if x is None:
        if optional:
            return None
        raise ValueError(f"{fn}: {name} is required")
    arr = np.asarray(x)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{fn}: {name} must hold real numbers; got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{fn}: {name} must have {ndim} dimensions; got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _rnn_mask(mask: Any, fn: str) -> Any:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"{fn}: mask must have shape (batch, timesteps); got shape {m.shape}")
    if m.dtype != np.bool_:
        m = m != 0
    return np.ascontiguousarray(m)


def _rnn_forward(cell: str, x: Any, kernel: Any, recurrent_kernel: Any, bias: Any, h0: Any,
                 c0: Any, mask: Any, activation: Any, recurrent_activation: Any,
                 reset_after: bool, return_sequences: bool, training: bool,
                 recurrent_dropout_mask: Any) -> tuple:
    fn = cell
    x = _rnn_input(x, "x", fn, 3)
    k = _rnn_input(kernel, "kernel", fn, 2)
    rk = _rnn_input(recurrent_kernel, "recurrent_kernel", fn, 2)
    b = None if bias is None else np.ascontiguousarray(np.asarray(bias, dtype=np.float32))
    h0 = _rnn_input(h0, "initial h", fn, 2, optional=True)
    c0 = _rnn_input(c0, "initial c", fn, 2, optional=True)
    m = _rnn_mask(mask, fn)
    rm = _rnn_input(recurrent_dropout_mask, "recurrent_dropout_mask", fn, 2, optional=True)
    a, aa = _rnn_act(activation, fn, "activation")
    r, ra = _rnn_act(recurrent_activation, fn, "recurrent_activation")
    args = (_RNN_CELLS[cell], a, aa, r, ra, bool(reset_after))
    y, h, c, saved, hp, cp = _core.rnn_forward(*args, x, k, rk, b, h0, c0, m, rm,
                                               bool(return_sequences), bool(training))
    ctx = None
    if training:
        ctx = RNNContext(cell=cell, args=args, x=x, kernel=k, recurrent_kernel=rk, mask=m,
                         rec_mask=rm, saved=saved, h_prev=hp, c_prev=cp,
                         return_sequences=bool(return_sequences), has_bias=b is not None)
    return y, h, c, ctx


def _rnn_backward(ctx: RNNContext, dy: Any, dh: Any, dc: Any, dkernel: Any,
                  drecurrent_kernel: Any, dbias: Any, need_dx: bool) -> tuple:
    if not isinstance(ctx, RNNContext):
        raise TypeError(
            "recurrent backward: ctx must be the context returned by a training-mode forward "
            f"call (training=True). Received: {type(ctx).__name__}"
        )
    fn = f"{ctx.cell}_backward"
    n, t, _ = ctx.x.shape
    dy = _rnn_input(dy, "dy", fn, 3 if ctx.return_sequences else 2, optional=True)
    dh = _rnn_input(dh, "dh", fn, 2, optional=True)
    dc = _rnn_input(dc, "dc", fn, 2, optional=True)
    if dkernel is None:
        dkernel = _memory.zeros_f32(ctx.kernel.shape)
    if drecurrent_kernel is None:
        drecurrent_kernel = _memory.zeros_f32(ctx.recurrent_kernel.shape)
    if dbias is None and ctx.has_bias:
        g = ctx.recurrent_kernel.shape[1]
        dbias = _memory.zeros_f32((2, g) if ctx.cell == "gru" and ctx.args[5] else (g,))
    dx, dh0, dc0 = _core.rnn_backward(*ctx.args, ctx.x, ctx.kernel, ctx.recurrent_kernel,
                                      ctx.mask, ctx.rec_mask, ctx.saved, ctx.h_prev, ctx.c_prev,
                                      dy, ctx.return_sequences, dh, dc, dkernel,
                                      drecurrent_kernel, dbias, bool(need_dx))
    return dx, dh0, dc0, dkernel, drecurrent_kernel, dbias


def simple_rnn(x: Any, kernel: Any, recurrent_kernel: Any, bias: Any = None,
               initial_state: Any = None, mask: Any = None, activation: Any = "tanh",
               return_sequences: bool = False, training: bool = False,
               recurrent_dropout_mask: Any = None) -> tuple:
    """SimpleRNN over a whole sequence: ``h_t = activation(x_t K + h_{t-1} R + b)``.

    Args:
        x: ``(N, T, I)``; kernel ``(I, U)``; recurrent_kernel ``(U, U)``; bias ``(U,)`` or None.
        initial_state: None (zeros) or ``(N, U)``.
        mask: None or boolean ``(N, T)``: masked steps keep the state and repeat the output.
        return_sequences: output every step ``(N, T, U)`` instead of the last ``(N, U)``.
        training: also return the context for ``simple_rnn_backward``.
        recurrent_dropout_mask: None or ``(N, U)`` multiplying the state entering the GEMM.

    Returns:
        ``(y, h, ctx)``; ctx is None unless training.
    """
    y, h, _, ctx = _rnn_forward("simple_rnn", x, kernel, recurrent_kernel, bias, initial_state,
                                None, mask, activation, "sigmoid", False, return_sequences,
                                training, recurrent_dropout_mask)
    return y, h, ctx


def simple_rnn_backward(ctx: RNNContext, dy: Any = None, dh: Any = None, dkernel: Any = None,
                        drecurrent_kernel: Any = None, dbias: Any = None,
                        need_dx: bool = True) -> tuple:
    """Gradients of ``simple_rnn``: returns ``(dx, dh0, dkernel, drecurrent_kernel, dbias)``.

    ``dy`` is the gradient of ``y`` and ``dh`` of the final state (None: zeros). Gradient
    arrays passed in are accumulated into (``+=``); missing ones are allocated.
    """
    dx, dh0, _, dk, drk, db = _rnn_backward(ctx, dy, dh, None, dkernel, drecurrent_kernel, dbias,
                                            need_dx)
    return dx, dh0, dk, drk, db


def lstm(x: Any, kernel: Any, recurrent_kernel: Any, bias: Any = None, initial_state: Any = None,
         mask: Any = None, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
         return_sequences: bool = False, training: bool = False,
         recurrent_dropout_mask: Any = None) -> tuple:
    """LSTM over a whole sequence with Keras layouts (gates i, f, c, o).

    kernel ``(I, 4U)``, recurrent_kernel ``(U, 4U)``, bias ``(4U,)`` or None;
    initial_state None or ``[h0, c0]`` each ``(N, U)``. Other arguments as ``simple_rnn``.

    Returns:
        ``(y, h, c, ctx)``; ctx is None unless training.
    """
    h0 = c0 = None
    if initial_state is not None:
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != 2:
            raise ValueError("lstm: initial_state must be [h0, c0]")
        h0, c0 = initial_state
    return _rnn_forward("lstm", x, kernel, recurrent_kernel, bias, h0, c0, mask, activation,
                        recurrent_activation, False, return_sequences, training,
                        recurrent_dropout_mask)


def lstm_backward(ctx: RNNContext, dy: Any = None, dh: Any = None, dc: Any = None,
                  dkernel: Any = None, drecurrent_kernel: Any = None, dbias: Any = None,
                  need_dx: bool = True) -> tuple:
    """Gradients of ``lstm``: returns ``(dx, dh0, dc0, dkernel, drecurrent_kernel, dbias)``."""
    return _rnn_backward(ctx, dy, dh, dc, dkernel, drecurrent_kernel, dbias, need_dx)


def gru(x: Any, kernel: Any, recurrent_kernel: Any, bias: Any = None, initial_state: Any = None,
        mask: Any = None, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
        reset_after: bool = True, return_sequences: bool = False, training: bool = False,
        recurrent_dropout_mask: Any = None) -> tuple:
    """GRU over a whole sequence with Keras layouts (gates z, r, h).

    kernel ``(I, 3U)``, recurrent_kernel ``(U, 3U)``, bias ``(2, 3U)`` with reset_after (input
    and recurrent biases) or ``(3U,)`` without; initial_state None or ``(N, U)``.

    Returns:
        ``(y, h, ctx)``; ctx is None unless training.
    """
    y, h, _, ctx = _rnn_forward("gru", x, kernel, recurrent_kernel, bias, initial_state, None,
                                mask, activation, recurrent_activation, reset_after,
                                return_sequences, training, recurrent_dropout_mask)
    return y, h, ctx


def gru_backward(ctx: RNNContext, dy: Any = None, dh: Any = None, dkernel: Any = None,
                 drecurrent_kernel: Any = None, dbias: Any = None, need_dx: bool = True) -> tuple:
    """Gradients of ``gru``: returns ``(dx, dh0, dkernel, drecurrent_kernel, dbias)``."""
    dx, dh0, _, dk, drk, db = _rnn_backward(ctx, dy, dh, None, dkernel, drecurrent_kernel, dbias,
                                            need_dx)
    return dx, dh0, dk, drk, db


__all__ += ["RNNContext", "gru", "gru_backward", "lstm", "lstm_backward", "simple_rnn",
            "simple_rnn_backward"]


# --- embedding ---------------------------------------------------------------------------------


def _embedding_ids(ids: Any, v: int, who: str) -> np.ndarray:
    """``ids`` as a C-contiguous float32/int32/int64 array the kernels read as is.

    float32 and int32/int64 arrays pass unchanged (the kernel checks each id); other dtypes
    are checked here, then converted to int64, so no conversion can turn a bad id into a
    good one (1.5 -> 1, 2**64 - 1 -> -1).
    """
    arr = np.asarray(ids)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{who}: expected integer ids. Received: dtype={arr.dtype}")
    if arr.dtype.isnative and arr.dtype in (np.float32, np.int32, np.int64):
        return np.require(arr, requirements=["C", "A"])
    if arr.size:
        flat = arr.reshape(-1)
        if arr.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                bad = ~(np.isfinite(flat) & (flat == np.floor(flat)) & (flat >= 0) & (flat < v))
        else:
            bad = (flat < 0) | (flat >= v)
        if bad.any():
            _raise_bad_id(who, v, arr, int(np.argmax(bad)))
    return arr.astype(np.int64)


def _raise_bad_id(who: str, v: int, ids: np.ndarray, pos: int) -> None:
    value = ids.reshape(-1)[pos]
    text = str(int(value)) if np.isfinite(value) and float(value).is_integer() else repr(float(value))
    raise ValueError(
        f"{who}: expected integer ids in [0, {v}). Received: {text} at flat position {pos} "
        f"of ids with shape {ids.shape}"
    )


def _embedding_lookup(table: np.ndarray, ids: np.ndarray, who: str) -> np.ndarray:
    """``table[ids]`` of shape ``ids.shape + (D,)``; ``ids`` from ``_embedding_ids``."""
    v, d = table.shape
    out = _memory.empty_f32((ids.size, d))
    bad = _core.embedding_lookup(table, ids, out)
    if bad >= 0:
        _raise_bad_id(who, v, ids, bad)
    return out.reshape(ids.shape + (d,))


def _embedding_grad(grad: np.ndarray, ids: np.ndarray, dy: np.ndarray, who: str) -> None:
    v, d = grad.shape
    bad = _core.embedding_grad(grad, ids, dy)
    if bad >= 0:
        _raise_bad_id(who, v, ids, bad)


def embedding(table: Any, ids: Any) -> np.ndarray:
    """Embedding lookup: ``table[ids]``, shape ``ids.shape + (D,)``.

    Args:
        table: float32 ``(V, D)`` (other real dtypes are converted once).
        ids: integer ids in ``[0, V)`` of any shape: integer arrays, or floats holding
            integer values.

    Raises:
        ValueError: an id that is not an integer in ``[0, V)`` (the message gives its value
            and position); nothing is read out of bounds.
        TypeError: non-numeric ids.

    Example:
        >>> import numpy as np
        >>> from pynncore import ops
        >>> ops.embedding(np.eye(3, dtype=np.float32), [[2, 0]]).tolist()
        [[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]]
    """
    fn = "embedding"
    t = _as_f32_matrix(table, "table", fn)
    return _embedding_lookup(t, _embedding_ids(ids, t.shape[0], fn), fn)


def embedding_grad(grad: np.ndarray, ids: Any, dy: Any) -> np.ndarray:
    """Adds the rows of ``dy`` into ``grad[ids]`` in place (repeated ids accumulate).

    The gradient of ``embedding`` with respect to the table: ``grad[ids.flat[i]] += dy[i]``.

    Args:
        grad: float32 C-contiguous ``(V, D)``, updated in place.
        ids: ids in ``[0, V)`` of any shape (``n = ids.size``).
        dy: ``(n, D)`` or ``ids.shape + (D,)``.

    Returns:
        ``grad``.

    Raises:
        ValueError: a bad id (nothing is written), or ``dy`` of the wrong size.
    """
    fn = "embedding_grad"
    if not (isinstance(grad, np.ndarray) and grad.dtype == np.float32 and grad.ndim == 2 and grad.flags.c_contiguous):
        raise ValueError(f"{fn}: grad must be a C-contiguous float32 (V, D) array; it is updated in place")
    v, d = grad.shape
    ids_arr = _embedding_ids(ids, v, fn)
    dy_arr = np.asarray(dy)
    if dy_arr.size != ids_arr.size * d or (dy_arr.ndim and dy_arr.shape[-1] != d):
        raise ValueError(
            f"{fn}: dy must have shape ({ids_arr.size}, {d}) or ids.shape + ({d},). "
            f"Received: shape={dy_arr.shape}"
        )
    dy2 = np.ascontiguousarray(dy_arr, dtype=np.float32).reshape(ids_arr.size, d)
    _embedding_grad(grad, ids_arr, dy2, fn)
    return grad


__all__ += ["embedding", "embedding_grad"]


# Connectionist temporal classification ------------------------------------------------------------
#
# For one sample with labels l (length L), the extended sequence l' = (b, l1, b, l2, ..., lL, b) of
# S = 2L + 1 states interleaves the blank b. With log-probabilities y[t, k] = log_softmax(logits[t])[k],
# the forward and backward variables (log space, both including the emission at t) are
#     alpha[0, 0] = y[0, b],  alpha[0, 1] = y[0, l1]
#     alpha[t, s] = y[t, l'_s] + lse(alpha[t-1, s], alpha[t-1, s-1], alpha[t-1, s-2] if skip[s])
#     beta[T'-1, S-1] = y[T'-1, b],  beta[T'-1, S-2] = y[T'-1, lL]
#     beta[t, s]  = y[t, l'_s] + lse(beta[t+1, s], beta[t+1, s+1], beta[t+1, s+2] if skip[s+2])
# where skip[s] holds for a label state whose label differs from the one two states before, and T'
# is the sample's output length. The loss is -log p(l) = -lse(alpha[T'-1, S-1], alpha[T'-1, S-2]),
# and its gradient with respect to the logits is
#     softmax(logits[t])[k] - sum_{s: l'_s = k} exp(alpha[t, s] + beta[t, s] - y[t, l'_s] + loss).
# A sample that no alignment fits (too many labels and repeats for T') has an infinite loss and a
# zero gradient.


def _lse(*xs: np.ndarray) -> np.ndarray:
    """Elementwise log(sum(exp(x))) over a few arrays; all -inf gives -inf."""
    top = xs[0]
    for x in xs[1:]:
        top = np.maximum(top, x)
    safe = np.where(np.isfinite(top), top, 0.0)
    total = np.exp(xs[0] - safe)
    for x in xs[1:]:
        total += np.exp(x - safe)
    with np.errstate(divide="ignore"):
        return np.log(total) + safe


def _ctc_integers(x: Any, name: str, fn: str, ndim: int) -> np.ndarray:
    """Whole numbers (integers, or floats without a fraction) as int64 of rank `ndim`."""
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)):
            raise ValueError(f"{fn}: expected `{name}` to hold whole numbers. Received: {arr.ravel()[:8]}")
    elif arr.dtype.kind not in "biu":
        raise TypeError(f"{fn}: expected `{name}` to hold integers. Received: dtype={arr.dtype}")
    if arr.ndim != ndim:
        want = "(batch_size, max_length)" if ndim == 2 else "(batch_size,)"
        raise ValueError(f"{fn}: expected `{name}` of shape {want}. Received: {name}.shape={arr.shape}")
    return arr.astype(np.int64)


def _ctc_logits(x: Any, name: str, fn: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{fn}: expected `{name}` to be real numbers. Received: dtype={arr.dtype}")
    if arr.ndim != 3:
        raise ValueError(
            f"{fn}: expected `{name}` of shape (batch_size, max_length, num_classes). "
            f"Received: {name}.shape={arr.shape}"
        )
    if arr.shape[2] < 1:
        raise ValueError(f"{fn}: expected `{name}` with at least one class. Received: {name}.shape={arr.shape}")
    # the computation runs in float64 on the float32 values, as the model produced them
    return arr.astype(np.float32).astype(np.float64)


def _ctc_lengths(x: Any, name: str, n: int, limit: int, what: str, fn: str) -> np.ndarray:
    arr = _ctc_integers(x, name, fn, 1)
    if arr.shape[0] != n:
        raise ValueError(f"{fn}: expected `{name}` of shape ({n},). Received: {name}.shape={arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > limit):
        raise ValueError(
            f"{fn}: expected `{name}` in [0, {limit}] ({what}). "
            f"Received values in [{arr.min()}, {arr.max()}]"
        )
    return arr


def _ctc_mask_index(mask_index: Any, num_classes: int, fn: str) -> int:
    if isinstance(mask_index, (bool, np.bool_)) or not isinstance(mask_index, (int, np.integer)):
        raise TypeError(f"{fn}: expected `mask_index` to be an integer. Received: mask_index={mask_index!r}")
    if not 0 <= int(mask_index) < num_classes:
        raise ValueError(
            f"{fn}: expected `mask_index` in [0, {num_classes}) for {num_classes} classes. "
            f"Received: mask_index={mask_index}"
        )
    return int(mask_index)


def _ctc_check_labels(labels: np.ndarray, lengths: np.ndarray, num_classes: int, blank: int, fn: str) -> None:
    """Labels inside each sample's length must be classes other than the blank."""
    inside = np.arange(labels.shape[1])[None, :] < lengths[:, None]
    used = labels[inside]
    if used.size and (used.min() < 0 or used.max() >= num_classes):
        raise ValueError(
            f"{fn}: expected labels in [0, {num_classes}) for y_pred with {num_classes} classes. "
            f"Received labels in [{used.min()}, {used.max()}]"
        )
    if np.any(used == blank):
        row = int(np.argmax(np.any(inside & (labels == blank), axis=1)))
        raise ValueError(
            f"{fn}: the mask (blank) index {blank} is padding and cannot be a label; labels must come "
            f"first in each row and padding after them. Received row {row}: {labels[row].tolist()}"
        )


def _ctc_nll(labels: np.ndarray, label_length: np.ndarray, logits: np.ndarray, logit_length: np.ndarray,
             blank: int, want_grad: bool) -> tuple:
    """-log p(labels | logits) per sample (float64 ``(N,)``) and, with `want_grad`, its gradient
    with respect to the logits (float64 ``(N, T, C)``). Arguments are validated already."""
    n, t_max, c = logits.shape
    shifted = logits - np.max(logits, axis=2, keepdims=True)
    logz = np.log(np.sum(np.exp(shifted), axis=2, keepdims=True))
    logp = shifted - logz  # (N, T, C)
    width = 2 * labels.shape[1] + 1
    states = np.arange(width)
    ext = np.full((n, width), blank, np.int64)
    inside = np.arange(labels.shape[1])[None, :] < label_length[:, None]
    ext[:, 1::2] = np.where(inside, labels, blank)
    valid = states[None, :] < 2 * label_length[:, None] + 1
    skip = np.zeros((n, width), bool)
    skip[:, 3::2] = ext[:, 3::2] != ext[:, 1:-2:2]
    neg = -np.inf
    if t_max:
        emit = np.take_along_axis(logp, np.broadcast_to(ext[:, None, :], (n, t_max, width)), axis=2)
        emit = np.where(valid[:, None, :], emit, neg)
    else:
        emit = np.zeros((n, 0, width))

    def back(a: np.ndarray, k: int) -> np.ndarray:  # a[:, s - k], -inf before the start
        out = np.full_like(a, neg)
        out[:, k:] = a[:, :-k]
        return out

    def ahead(a: np.ndarray, k: int) -> np.ndarray:  # a[:, s + k], -inf past the end
        out = np.full_like(a, neg)
        out[:, :-k] = a[:, k:]
        return out

    alpha = np.full((n, t_max, width), neg)
    if t_max:
        alpha[:, 0, :2] = emit[:, 0, :2]
    for t in range(1, t_max):
        prev = alpha[:, t - 1]
        alpha[:, t] = _lse(prev, back(prev, 1), np.where(skip, back(prev, 2), neg)) + emit[:, t]

    rows = np.arange(n)
    last_t = np.maximum(logit_length - 1, 0)
    end = 2 * label_length
    final = alpha[rows, last_t] if t_max else np.full((n, width), neg)
    log_like = _lse(final[rows, end], np.where(label_length > 0, final[rows, np.maximum(end - 1, 0)], neg))
    empty = logit_length == 0  # no frames: only the empty label sequence fits, with probability 1
    log_like = np.where(empty, np.where(label_length == 0, 0.0, neg), log_like)
    nll = 0.0 - log_like  # no -0.0 for a certain sequence
    if not want_grad:
        return nll, None

    start = np.full((n, width), neg)  # beta at each sample's last step, before its emission
    start[rows, end] = 0.0
    has_labels = label_length > 0
    start[rows[has_labels], end[has_labels] - 1] = 0.0
    skip_ahead = np.zeros_like(skip)
    skip_ahead[:, :-2] = skip[:, 2:]
    beta = np.full((n, t_max, width), neg)
    cur = np.full((n, width), neg)
    for t in range(t_max - 1, -1, -1):
        nxt = _lse(cur, ahead(cur, 1), np.where(skip_ahead, ahead(cur, 2), neg))
        nxt = np.where((t == logit_length - 1)[:, None], start, nxt)
        nxt = np.where((t >= logit_length)[:, None], neg, nxt)
        cur = nxt + emit[:, t]
        beta[:, t] = cur

    finite = np.isfinite(log_like)
    with np.errstate(invalid="ignore"):
        post = alpha + beta - np.where(np.isfinite(emit), emit, 0.0)
    post = np.where(np.isfinite(post), post, neg) - np.where(finite, log_like, 0.0)[:, None, None]
    occupancy = np.exp(post)  # (N, T, S): probability of being in state s at time t
    one_hot = np.zeros((n, width, c))
    one_hot[rows[:, None], states[None, :], ext] = 1.0
    occupancy_by_class = np.einsum("nts,nsc->ntc", occupancy, one_hot)
    active = (np.arange(t_max)[None, :] < logit_length[:, None]) & finite[:, None]
    grad = (np.exp(logp) - occupancy_by_class) * active[:, :, None]
    return nll, grad


def _ctc_inputs(target: Any, output: Any, target_length: Any, output_length: Any, mask_index: Any,
                fn: str, target_name: str = "target", output_name: str = "output") -> tuple:
    logits = _ctc_logits(output, output_name, fn)
    n, t_max, c = logits.shape
    labels = _ctc_integers(target, target_name, fn, 2)
    if labels.shape[0] != n:
        raise ValueError(
            f"{fn}: expected `{target_name}` with one row per sample ({n}). "
            f"Received: {target_name}.shape={labels.shape}, {output_name}.shape={logits.shape}"
        )
    label_length = _ctc_lengths(target_length, "target_length", n, labels.shape[1],
                                "at most the number of target columns", fn)
    logit_length = _ctc_lengths(output_length, "output_length", n, t_max,
                                "at most the number of output timesteps", fn)
    blank = _ctc_mask_index(mask_index, c, fn)
    _ctc_check_labels(labels, label_length, c, blank, fn)
    return labels, label_length, logits, logit_length, blank


def ctc_loss(target: Any, output: Any, target_length: Any, output_length: Any, mask_index: int = 0) -> np.ndarray:
    """Connectionist temporal classification loss per sample, as ``keras.ops.ctc_loss``.

    ``-log p(target | output)``: the probability summed over every alignment of the labels to the
    timesteps (labels separated by optional blanks, each one repeated over consecutive steps),
    with the per-step class probabilities ``softmax(output)``. Computed in float64 with the
    forward recursion in log space.

    Args:
        target: integer labels ``(N, L)``; row ``i`` holds ``target_length[i]`` labels, then
            anything (padding).
        output: logits ``(N, T, C)``, not softmax-normalized.
        target_length: ``(N,)`` label counts in ``[0, L]``.
        output_length: ``(N,)`` timesteps to use in ``[0, T]``.
        mask_index: the blank class; default 0.

    Returns:
        float32 ``(N,)``; ``inf`` where no alignment fits (more labels and repeats than steps).

    Raises:
        ValueError: wrong ranks or batch sizes, lengths out of range, labels outside ``[0, C)``
            or equal to `mask_index`, `mask_index` outside ``[0, C)``.
        TypeError: non-numeric arrays, a non-integer `mask_index`.

    Example:
        >>> round(float(ctc_loss([[1]], np.zeros((1, 2, 2)), [1], [2])[0]), 4)  # 3 of 4 paths fit
        0.2877
    """
    fn = "ctc_loss"
    args = _ctc_inputs(target, output, target_length, output_length, mask_index, fn)
    labels, label_length, logits, logit_length, blank = args
    nll, _ = _ctc_nll(labels, label_length, logits, logit_length, blank, want_grad=False)
    return nll.astype(np.float32)


def _ctc_greedy(x: np.ndarray, lengths: np.ndarray, merge_repeated: bool, blank: int) -> tuple:
    n, t_max, _ = x.shape
    ids = np.argmax(x, axis=2)
    best = np.max(x, axis=2)
    beyond = np.arange(t_max)[None, :] >= lengths[:, None]
    ids = np.where(beyond, blank, ids)
    best = np.where(beyond, 0.0, best)
    if merge_repeated and t_max > 1:
        repeat = np.zeros_like(beyond)
        repeat[:, 1:] = ids[:, 1:] == ids[:, :-1]
        ids = np.where(repeat, blank, ids)
    keep = ids != blank
    order = np.argsort(np.where(keep, np.arange(t_max)[None, :], t_max), axis=1, kind="stable")
    decoded = np.take_along_axis(np.where(keep, ids, -1), order, axis=1)
    scores = -np.sum(best.astype(np.float32), axis=1, dtype=np.float32)
    return decoded[None].astype(np.int32), scores[:, None]


def _ctc_beam(logp: np.ndarray, length: int, beam_width: int, top_paths: int, blank: int) -> tuple:
    """Prefix beam search over one sample's log-probabilities ``(T, C)``: each prefix keeps the
    log-probability of the alignments ending in a label and of those ending in a blank."""
    neg = -np.inf
    c = logp.shape[1]
    t_max = logp.shape[0]
    beams: dict = {}
    if t_max and length:
        first = logp[0]
        order = np.argsort(first, kind="stable")[::-1][: min(c, beam_width)]
        for k in order.tolist():
            if k == blank:
                beams[()] = [neg, float(first[k])]
            else:
                beams[(k,)] = [float(first[k]), neg]
    else:
        beams[()] = [neg, 0.0]
    for t in range(1, min(length, t_max)):
        row = logp[t].tolist()
        grown: dict = {}

        def add(prefix: tuple, slot: int, value: float) -> None:
            entry = grown.get(prefix)
            if entry is None:
                grown[prefix] = entry = [neg, neg]
            entry[slot] = float(np.logaddexp(entry[slot], value))

        for prefix, (in_label, in_blank) in beams.items():
            total = float(np.logaddexp(in_label, in_blank))
            add(prefix, 1, total + row[blank])
            tail = prefix[-1] if prefix else -1
            for k in range(c):
                if k == blank:
                    continue
                if k == tail:
                    add(prefix, 0, in_label + row[k])  # a repeat of the last label merges into it
                    add(prefix + (k,), 0, in_blank + row[k])  # after a blank it is a new label
                else:
                    add(prefix + (k,), 0, total + row[k])
        ranked = sorted(grown.items(), key=lambda kv: -np.logaddexp(*kv[1]))
        beams = dict(ranked[:beam_width])
    ranked = sorted(beams.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:top_paths]
    paths = np.full((top_paths, t_max), -1, np.int32)
    scores = np.full(top_paths, neg, np.float32)
    for i, (prefix, (in_label, in_blank)) in enumerate(ranked):
        paths[i, : len(prefix)] = prefix
        scores[i] = np.logaddexp(in_label, in_blank)
    return paths, scores


def _positive_int(value: Any, name: str, fn: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{fn}: expected `{name}` to be a positive integer. Received: {name}={value!r}")
    return int(value)


def ctc_decode(inputs: Any, sequence_lengths: Any, strategy: str = "greedy", beam_width: int = 100,
               top_paths: int = 1, merge_repeated: bool = True, mask_index: int = 0) -> tuple:
    """Decodes the output of a CTC model, as ``keras.ops.ctc_decode``.

    ``"greedy"`` takes the most likely class at each step, merges repeats (with
    `merge_repeated`) and drops the blanks. ``"beam_search"`` keeps the `beam_width` most
    likely label prefixes of the softmax probabilities, each with the probability of its
    alignments ending in a label and in a blank, and returns the `top_paths` best.

    Args:
        inputs: logits ``(N, T, C)``, not softmax-normalized.
        sequence_lengths: ``(N,)`` timesteps to decode in ``[0, T]``; a length of 0 decodes to
            the empty sequence (Keras's beam search reads the first step even then).
        strategy: ``"greedy"`` (default) or ``"beam_search"``.
        beam_width: prefixes kept by beam search; default 100.
        top_paths: sequences returned by beam search; default 1 (greedy returns 1).
        merge_repeated: greedy only: merge repeated classes; default True.
        mask_index: the blank class; default 0.

    Returns:
        ``(decoded, scores)``: int32 ``(P, N, T)`` with each sequence's labels first and ``-1``
        after them (``P = 1`` for greedy, `top_paths` for beam search); float32 ``(N, P)``:
        greedy gives minus the sum of the chosen logits, beam search the log-probability of
        each sequence (``-inf`` for paths beyond the ones found).

    Raises:
        ValueError: wrong ranks, lengths out of range, an unknown strategy, a bad `beam_width`,
            `top_paths` or `mask_index`.

    Example:
        >>> x = np.log([[[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]])
        >>> ctc_decode(x, [4])[0][0, 0].tolist()
        [1, 2, -1, -1]
    """
    fn = "ctc_decode"
    x = _ctc_logits(inputs, "inputs", fn)
    n, t_max, c = x.shape
    lengths = _ctc_lengths(sequence_lengths, "sequence_lengths", n, t_max, "at most the number of timesteps", fn)
    blank = _ctc_mask_index(mask_index, c, fn)
    if strategy == "greedy":
        return _ctc_greedy(x.astype(np.float32), lengths, bool(merge_repeated), blank)
    if strategy != "beam_search":
        raise ValueError(f"{fn}: expected `strategy` 'greedy' or 'beam_search'. Received: strategy={strategy!r}")
    beam_width = _positive_int(beam_width, "beam_width", fn)
    top_paths = _positive_int(top_paths, "top_paths", fn)
    shifted = x - np.max(x, axis=2, keepdims=True)
    logp = shifted - np.log(np.sum(np.exp(shifted), axis=2, keepdims=True))
    decoded = np.full((top_paths, n, t_max), -1, np.int32)
    scores = np.full((n, top_paths), -np.inf, np.float32)
    for i in range(n):
        decoded[:, i], scores[i] = _ctc_beam(logp[i], int(lengths[i]), beam_width, top_paths, blank)
    return decoded, scores


__all__ += ["ctc_decode", "ctc_loss"]
