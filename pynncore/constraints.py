"""Weight constraints with Keras 3 names, defaults and formulas.

A constraint maps a weight array to its projection; the optimizer applies it to every weight
that has one right after each update (as Keras does), so ``Dense(kernel_constraint=MaxNorm(3))``
keeps every column of the kernel within norm 3 throughout training.

    c = MaxNorm(max_value=2, axis=0)
    kernel[...] = c(kernel)
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np

from pynncore import _lookup

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "deserialize",
    "get",
    "serialize",
]

EPSILON = 1e-7  # Keras's backend.epsilon()


def _axis(axis: Any, who: str) -> Any:
    if isinstance(axis, (list, tuple)) and all(isinstance(a, numbers.Integral) for a in axis):
        return tuple(int(a) for a in axis)
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return int(axis)
    raise ValueError(f"{who}: axis must be an integer or a list of integers. Received: axis={axis!r}")


def _number(value: Any, name: str, who: str, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < low:
        raise ValueError(f"{who}: {name} must be a finite number >= {low:g}. Received: {name}={value!r}")
    return float(value)


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weights (the identity here)."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Constraint":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _norms(w: np.ndarray, axis: Any) -> np.ndarray:
    w64 = np.asarray(w, dtype=np.float64)
    return np.sqrt(np.sum(w64 * w64, axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Scales each weight vector along ``axis`` down to norm ``max_value`` when it is larger.

    ``axis=0`` for a Dense kernel ``(in, out)`` constrains each unit's incoming weights; for a
    Conv2D kernel ``(kh, kw, in, filters)`` use ``axis=[0, 1, 2]``.
    """

    def __init__(self, max_value: float = 2, axis: Any = 0):
        self.max_value = _number(max_value, "max_value", "MaxNorm")
        self.axis = _axis(axis, "MaxNorm")

    def __call__(self, w: np.ndarray) -> np.ndarray:
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0.0, self.max_value)
        return (np.asarray(w, dtype=np.float64) * (desired / (EPSILON + norms))).astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Negative weights become zero."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(w, dtype=np.float32), np.float32(0.0))


class UnitNorm(Constraint):
    """Each weight vector along ``axis`` is scaled to norm 1."""

    def __init__(self, axis: Any = 0):
        self.axis = _axis(axis, "UnitNorm")

    def __call__(self, w: np.ndarray) -> np.ndarray:
        norms = _norms(w, self.axis)
        return (np.asarray(w, dtype=np.float64) / (EPSILON + norms)).astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Each weight vector's norm moves into ``[min_value, max_value]``; ``rate`` < 1 moves it
    only part of the way per step: ``norm' = rate * clip(norm, min, max) + (1 - rate) * norm``."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Any = 0):
        self.min_value = _number(min_value, "min_value", "MinMaxNorm")
        self.max_value = _number(max_value, "max_value", "MinMaxNorm")
        if self.max_value < self.min_value:
            raise ValueError(
                f"MinMaxNorm: max_value must be >= min_value. Received: min_value={min_value!r}, "
                f"max_value={max_value!r}"
            )
        self.rate = _number(rate, "rate", "MinMaxNorm")
        self.axis = _axis(axis, "MinMaxNorm")

    def __call__(self, w: np.ndarray) -> np.ndarray:
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1.0 - self.rate) * norms
        return (np.asarray(w, dtype=np.float64) * (desired / (EPSILON + norms))).astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


_CLASS_NAMES: dict[str, type] = {"Constraint": Constraint, "MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm,
                                 "NonNeg": NonNeg, "UnitNorm": UnitNorm}
_REGISTRY: dict[str, Callable[[], Constraint]] = {
    **_CLASS_NAMES,
    "max_norm": MaxNorm,
    "min_max_norm": MinMaxNorm,
    "non_neg": NonNeg,
    "unit_norm": UnitNorm,
}

# Keras's lower-case aliases are also importable as callables: constraints.max_norm(3).
max_norm = MaxNorm
min_max_norm = MinMaxNorm
non_neg = NonNeg
unit_norm = UnitNorm


def serialize(constraint: Constraint) -> dict[str, Any]:
    """Return ``{"class_name": ..., "config": ...}``."""
    if not isinstance(constraint, Constraint):
        raise TypeError(f"constraints.serialize: expected a Constraint. Received: {constraint!r}")
    return {"class_name": type(constraint).__name__, "config": constraint.get_config()}


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Constraint:
    """Build a constraint from ``{"class_name": ..., "config": {...}}`` (registered classes only)."""
    return _lookup.deserialize(config, custom_objects, _CLASS_NAMES, "constraint")


def get(identifier: Any) -> Constraint | Callable[..., Any] | None:
    """Resolve a constraint from ``None``, a name (``"max_norm"``, ``"non_neg"``,
    ``"unit_norm"``, ``"min_max_norm"`` or a class name), a config dict, a class, an instance or
    any callable taking and returning a weight array.

    Raises:
        ValueError: an unknown name (the message lists the valid ones) or an identifier that is
            none of the above.

    Example:
        >>> get("max_norm")
        MaxNorm(max_value=2.0, axis=0)
    """
    return _lookup.get(identifier, _REGISTRY, Constraint, deserialize, "constraint")


def config_of(constraint: Any) -> Any:
    """A layer config's value for ``constraint``: None, or its serialized form."""
    if constraint is None:
        return None
    if isinstance(constraint, Constraint):
        return serialize(constraint)
    raise ValueError(
        f"A constraint that is a plain function cannot be saved in a model config. Received: {constraint!r}; "
        "use a pynncore.constraints.Constraint subclass"
    )
