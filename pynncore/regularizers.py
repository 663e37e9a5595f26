"""Weight penalties with Keras 3 names and defaults, and their gradients.

A regularizer maps a weight array to a scalar penalty that the trainer adds to the loss;
``gradient(x)`` is the derivative of that penalty with respect to ``x`` (same shape,
float32), which the trainer adds to the weight's gradient. Penalties are summed in float64
and returned as Python floats.

    reg = L2(0.01)
    loss += reg(kernel)
    grad_kernel += reg.gradient(kernel)
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np

from pynncore import _lookup

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "OrthogonalRegularizer",
    "Regularizer",
    "deserialize",
    "get",
    "serialize",
]


def _check_factor(value: Any, name: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{who}: expected `{name}` to be a non-negative finite float. Received: {name}={value!r}")
    return float(value)


def _as_weights(x: Any, who: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{who}: expected a real numeric array. Received an array of dtype {arr.dtype}")
    return arr


class Regularizer:
    """Base class: ``__call__(x) -> float`` penalty and ``gradient(x) -> ndarray``.

    Subclasses implement both plus ``get_config``; ``from_config`` rebuilds one.
    """

    def __call__(self, x: Any) -> float:
        return 0.0

    def gradient(self, x: Any) -> np.ndarray:
        """Return d(penalty)/dx as a float32 array of the shape of `x`."""
        return np.zeros(np.shape(x), dtype=np.float32)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments as a JSON-friendly dict."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        """Build a regularizer from the dict that :meth:`get_config` returned."""
        return cls(**config)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``.

    The class defaults are 0 (as in Keras); the string ``"l1_l2"`` gives
    ``L1L2(l1=0.01, l2=0.01)``.

    Args:
        l1: L1 factor (>= 0; ``None`` means 0).
        l2: L2 factor (>= 0; ``None`` means 0).

    Raises:
        ValueError: a negative, infinite, NaN or non-numeric factor.

    Example:
        >>> L1L2(l1=0.1, l2=0.5)([1.0, -2.0])
        2.8
    """

    def __init__(self, l1: float | None = 0.0, l2: float | None = 0.0) -> None:
        self.l1 = _check_factor(0.0 if l1 is None else l1, "l1", type(self).__name__)
        self.l2 = _check_factor(0.0 if l2 is None else l2, "l2", type(self).__name__)

    def __call__(self, x: Any) -> float:
        arr = _as_weights(x, type(self).__name__).astype(np.float64, copy=False)
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.abs(arr).sum())
        if self.l2:
            penalty += self.l2 * float(np.square(arr).sum())
        return penalty

    def gradient(self, x: Any) -> np.ndarray:
        """``l1 * sign(x) + 2 * l2 * x`` (the subgradient 0 is used at ``x == 0``)."""
        arr = _as_weights(x, type(self).__name__).astype(np.float64, copy=False)
        grad = np.zeros(arr.shape, dtype=np.float64)
        if self.l1:
            grad += self.l1 * np.sign(arr)
        if self.l2:
            grad += 2.0 * self.l2 * arr
        return grad.astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)``; gradient ``l1 * sign(x)``.

    Args:
        l1: the factor (>= 0); ``None`` means the default 0.01.

    Example:
        >>> L1(0.5)([1.0, -3.0])
        2.0
    """

    def __init__(self, l1: float | None = 0.01) -> None:
        super().__init__(l1=0.01 if l1 is None else l1, l2=0.0)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x**2)``; gradient ``2 * l2 * x``.

    Args:
        l2: the factor (>= 0); ``None`` means the default 0.01.

    Example:
        >>> L2(0.5)([1.0, -3.0])
        5.0
    """

    def __init__(self, l2: float | None = 0.01) -> None:
        super().__init__(l1=0.0, l2=0.01 if l2 is None else l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Penalises non-orthogonal rows (or columns) of a 2-D weight.

    With ``N`` the weight with each row scaled to unit length (``mode="rows"``; columns
    with ``mode="columns"``) and ``G = N @ N.T``, the penalty is
    ``factor * 0.5 * sum_{i != j} |G_ij| / (n * (n - 1) / 2)``: ``factor`` times the mean
    absolute cosine between distinct rows. A weight with fewer than two rows has penalty 0.

    Args:
        factor: the factor (>= 0).
        mode: ``"rows"`` or ``"columns"``.

    Raises:
        ValueError: a bad `factor` or `mode`, or (when called) input that is not 2-D.

    Example:
        >>> OrthogonalRegularizer(factor=1.0)([[1.0, 0.0], [0.0, 2.0]])
        0.0
    """

    _TINY = 1e-12

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = _check_factor(factor, "factor", "OrthogonalRegularizer")
        if mode not in ("rows", "columns"):
            raise ValueError(
                f"OrthogonalRegularizer: expected `mode` to be 'rows' or 'columns'. Received: mode={mode!r}"
            )
        self.mode = mode

    def _rows(self, x: Any) -> np.ndarray:
        arr = _as_weights(x, "OrthogonalRegularizer")
        if arr.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer: expected a 2-D weight. Received: shape={arr.shape}")
        arr = arr.astype(np.float64, copy=False)
        return arr if self.mode == "rows" else arr.T

    def _parts(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        norms = np.sqrt(np.square(rows).sum(axis=1, keepdims=True))
        safe = np.maximum(norms, self._TINY)
        unit = rows / safe
        gram = unit @ unit.T
        np.fill_diagonal(gram, 0.0)
        n = rows.shape[0]
        scale = self.factor * 0.5 / (n * (n - 1) / 2.0)
        return unit, gram, safe, scale

    def __call__(self, x: Any) -> float:
        rows = self._rows(x)
        if rows.shape[0] < 2:
            return 0.0
        _, gram, _, scale = self._parts(rows)
        return scale * float(np.abs(gram).sum())

    def gradient(self, x: Any) -> np.ndarray:
        """The derivative of the penalty through the row normalisation (float32)."""
        rows = self._rows(x)
        if rows.shape[0] < 2:
            return np.zeros(np.shape(x), dtype=np.float32)
        unit, gram, safe, scale = self._parts(rows)
        # d/dN of sum|G_ij| with G = N N^T and symmetric sign(G): 2 sign(G) N.
        g_unit = 2.0 * scale * (np.sign(gram) @ unit)
        # Through N_i = x_i / |x_i|: project out the radial part and divide by |x_i|.
        radial = (g_unit * unit).sum(axis=1, keepdims=True)
        grad = (g_unit - radial * unit) / safe
        if self.mode == "columns":
            grad = grad.T
        return np.ascontiguousarray(grad, dtype=np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


_REGISTRY: dict[str, Callable[[], Regularizer]] = {
    "L1": L1,
    "L2": L2,
    "L1L2": L1L2,
    "OrthogonalRegularizer": OrthogonalRegularizer,
    "l1": L1,
    "l2": L2,
    "l1l2": L1L2,
    "l1_l2": lambda: L1L2(l1=0.01, l2=0.01),
    "orthogonal_regularizer": OrthogonalRegularizer,
}
_CLASS_NAMES = {"L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer}


def serialize(regularizer: Regularizer) -> dict[str, Any]:
    """Return ``{"class_name": ..., "config": ...}``."""
    if not isinstance(regularizer, Regularizer):
        raise TypeError(f"regularizers.serialize: expected a Regularizer. Received: {regularizer!r}")
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Regularizer:
    """Build a regularizer from ``{"class_name": ..., "config": {...}}``.

    Raises:
        ValueError: a dict without ``class_name``, or an unknown class name.
    """
    return _lookup.deserialize(config, custom_objects, _CLASS_NAMES, "regularizer")


def get(identifier: Any) -> Regularizer | Callable[..., Any] | None:
    """Resolve a regularizer from a name, a config dict, a class or an instance.

    Names: ``"l1"`` (``L1(0.01)``), ``"l2"`` (``L2(0.01)``), ``"l1_l2"``
    (``L1L2(0.01, 0.01)``), ``"l1l2"`` (``L1L2()``, zero factors), ``"orthogonal_regularizer"``
    and the class names.

    Args:
        identifier: ``None``, a string, a dict, a :class:`Regularizer` class or a callable.

    Returns:
        A regularizer, or ``None``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones) or an identifier
            that is none of the above.

    Example:
        >>> get("l2")
        L2(l2=0.01)
    """
    return _lookup.get(identifier, _REGISTRY, Regularizer, deserialize, "regularizer")
