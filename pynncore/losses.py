"""Losses as classes with Keras 3 names, defaults, string aliases and reduction.

A loss reduces per-sample values (the mean over the last axis, as Keras computes them) with
``sum_over_batch_size``: ``sum(sample_weight * value) / number_of_values``. The value and its
gradient come from one native call, computed stably (fused log-softmax and log-sigmoid for
``from_logits=True``; Keras's clipping to ``[1e-7, 1 - 1e-7]`` for probabilities).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import _core

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Huber",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "get",
]

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced value.

    Args:
        name: name shown in logs.
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"`` (weighted mean)
            or ``"none"`` (per-sample values).
    """

    kernel = ""

    def __init__(self, name: Optional[str] = None, reduction: Optional[str] = "sum_over_batch_size", dtype: Any = None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}. Received: {reduction!r}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction

    # kernel parameters of the subclass
    def _params(self) -> dict:
        return {}

    def _prepare(self, y_true: Any, y_pred: Any) -> tuple:
        yp = np.asarray(y_pred)
        if yp.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: y_pred must be real numbers. Received: dtype={yp.dtype}")
        yp = np.require(yp, dtype=np.float32, requirements=["C", "A"])
        yt = np.asarray(y_true)
        if yt.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: y_true must be real numbers. Received: dtype={yt.dtype}")
        if yp.ndim == 0:
            yp = yp.reshape(1, 1)
        if yp.ndim == 1:
            yp = yp.reshape(-1, 1)
        yt = self._match_target(yt, yp)
        return yt, yp

    def _match_target(self, yt: np.ndarray, yp: np.ndarray) -> np.ndarray:
        # Keras squeezes or expands y_true to the rank of y_pred.
        if yt.ndim == yp.ndim - 1:
            yt = yt.reshape(yt.shape + (1,))
        if yt.shape != yp.shape:
            raise ValueError(
                f"{self.name}: y_true and y_pred must have the same shape. "
                f"Received: y_true.shape={yt.shape}, y_pred.shape={yp.shape}"
            )
        return np.require(yt, dtype=np.float32, requirements=["C", "A"])

    def _rows_weights(self, sample_weight: Any, yp: np.ndarray) -> tuple:
        n = yp.shape[0]
        rows = int(np.prod(yp.shape[:-1], dtype=np.int64))
        if sample_weight is None:
            return rows, None
        w = np.asarray(sample_weight, dtype=np.float32)
        if w.ndim == 0:
            w = np.full(n, w, np.float32)
        if w.shape[0] != n or w.size not in (n, rows):
            raise ValueError(
                f"{self.name}: sample_weight must have one value per sample ({n}). Received: shape={w.shape}"
            )
        per_row = np.repeat(w.reshape(n), rows // max(n, 1)) if w.size == n else w.reshape(rows)
        return rows, np.ascontiguousarray(per_row, dtype=np.float32)

    def _run(self, y_true: Any, y_pred: Any, sample_weight: Any, want_grad: bool) -> tuple:
        yt, yp = self._prepare(y_true, y_pred)
        rows, w = self._rows_weights(sample_weight, yp)
        per = np.empty(rows, np.float32)
        grad = np.empty(yp.shape, np.float32) if want_grad else None
        if want_grad:
            scale = self._grad_scale(rows, w)
        else:
            scale = None
        _core.loss(self.kernel, yt.reshape(rows, -1) if yt.ndim > 1 else yt, yp.reshape(rows, -1), per,
                   None if grad is None else grad.reshape(rows, -1), scale, **self._params())
        value = self._reduce(per, w)
        return value, grad, per.reshape(yp.shape[:-1])

    def _grad_scale(self, rows: int, w: Optional[np.ndarray]) -> Optional[np.ndarray]:
        if self.reduction in ("sum_over_batch_size",):
            denom = float(rows) if rows else 1.0
        elif self.reduction == "mean":
            denom = float(w.sum()) if w is not None else float(rows)
            denom = denom if denom > 0 else 1.0
        else:  # sum / none: gradient of the sum
            denom = 1.0
        if w is None:
            return np.full(rows, 1.0 / denom, np.float32)
        return (w / np.float32(denom)).astype(np.float32)

    def _reduce(self, per: np.ndarray, w: Optional[np.ndarray]) -> Any:
        values = per.astype(np.float64) if w is None else per.astype(np.float64) * w
        if self.reduction == "none" or self.reduction is None:
            return values.astype(np.float32)
        if self.reduction == "sum":
            return float(values.sum())
        if self.reduction == "mean":
            denom = float(w.sum()) if w is not None else float(per.size)
            return float(values.sum() / denom) if denom > 0 else 0.0
        return float(values.sum() / per.size) if per.size else 0.0

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        value, _, _ = self._run(y_true, y_pred, sample_weight, want_grad=False)
        return value

    def value_and_grad(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> tuple:
        """The reduced loss and its gradient with respect to ``y_pred`` (same shape)."""
        if self.reduction in ("none", None):
            raise ValueError(f"{self.name}: a loss with reduction='none' has no scalar gradient")
        value, grad, _ = self._run(y_true, y_pred, sample_weight, want_grad=True)
        return value, grad

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)


def _snake(name: str) -> str:
    import re

    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


class MeanSquaredError(Loss):
    """``mean((y_true - y_pred) ** 2, axis=-1)``."""

    kernel = "mean_squared_error"


class MeanAbsoluteError(Loss):
    """``mean(abs(y_true - y_pred), axis=-1)``."""

    kernel = "mean_absolute_error"


class Huber(Loss):
    """Quadratic for ``|error| <= delta``, linear beyond. Args: delta (default 1.0)."""

    kernel = "huber"

    def __init__(self, delta: float = 1.0, reduction: Optional[str] = "sum_over_batch_size", name: str = "huber_loss", dtype: Any = None):
        super().__init__(name=name, reduction=reduction)
        if not float(delta) > 0:
            raise ValueError(f"Huber: delta must be > 0. Received: {delta}")
        self.delta = float(delta)

    def _params(self) -> dict:
        return {"delta": self.delta}

    def get_config(self) -> dict:
        return {**super().get_config(), "delta": self.delta}


class _Crossentropy(Loss):
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, reduction: Optional[str] = "sum_over_batch_size", name: Optional[str] = None, axis: int = -1, dtype: Any = None):
        super().__init__(name=name, reduction=reduction)
        if axis != -1:
            raise ValueError(f"{self.name}: only axis=-1 is supported. Received: axis={axis}")
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"{self.name}: label_smoothing must be in [0, 1]. Received: {label_smoothing}")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = axis

    def _params(self) -> dict:
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "axis": self.axis}


class BinaryCrossentropy(_Crossentropy):
    """Binary cross-entropy for targets in [0, 1]; ``from_logits`` for raw scores."""

    kernel = "binary_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, reduction: Optional[str] = "sum_over_batch_size", name: str = "binary_crossentropy", dtype: Any = None):
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing, reduction=reduction, name=name, axis=axis)


class CategoricalCrossentropy(_Crossentropy):
    """Cross-entropy for one-hot (or soft) targets over the last axis."""

    kernel = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, reduction: Optional[str] = "sum_over_batch_size", name: str = "categorical_crossentropy", dtype: Any = None):
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing, reduction=reduction, name=name, axis=axis)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy for integer class labels ``(N,)`` or ``(N, 1)`` against ``(N, C)``."""

    kernel = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False, ignore_class: Any = None, reduction: Optional[str] = "sum_over_batch_size", name: str = "sparse_categorical_crossentropy", dtype: Any = None):
        super().__init__(name=name, reduction=reduction)
        if ignore_class is not None:
            raise ValueError(f"{self.name}: ignore_class is not supported. Received: {ignore_class!r}")
        self.from_logits = bool(from_logits)

    def _params(self) -> dict:
        return {"from_logits": self.from_logits}

    def _match_target(self, yt: np.ndarray, yp: np.ndarray) -> np.ndarray:
        expected = yp.shape[:-1]
        if yt.shape == expected + (1,):
            yt = yt.reshape(expected)
        if yt.shape != expected:
            raise ValueError(
                f"{self.name}: expected integer labels of shape {expected} for y_pred of shape "
                f"{yp.shape}. Received: y_true.shape={yt.shape}"
            )
        if yt.dtype.kind == "f":
            if not np.all(np.isfinite(yt)) or np.any(yt != np.rint(yt)):
                raise ValueError(f"{self.name}: labels must be whole numbers")
        return np.ascontiguousarray(yt, dtype=np.int64).reshape(-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits}


_ALIASES = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "huber": Huber,
    "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_CLASSES = {c.__name__: c for c in set(_ALIASES.values())}


def get(identifier: Any) -> Loss:
    """Resolves a name (``"mse"``, ``"binary_crossentropy"``, ...), a class name, a config dict,
    a ``Loss`` class or instance.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown loss '{identifier}'. Valid names: {', '.join(sorted(_ALIASES))}"
            )
        return cls()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown loss class {identifier.get('class_name')!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    raise TypeError(f"loss must be a name or a pynncore.losses.Loss. Received: {identifier!r}")
