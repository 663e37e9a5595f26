"""Losses as classes with Keras 3 names, defaults, string aliases and reduction.

A loss reduces per-sample values (the mean over the last axis, as Keras computes them) with
``sum_over_batch_size``: ``sum(sample_weight * value) / number_of_values``. The value and its
gradient come from one native call, computed stably (fused log-softmax and log-sigmoid for
``from_logits=True``; Keras's clipping to ``[1e-7, 1 - 1e-7]`` for probabilities).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional

import numpy as np

from pynncore import _core

__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
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
        if self.kernel:
            _core.loss(self.kernel, yt.reshape(rows, -1) if yt.ndim > 1 else yt, yp.reshape(rows, -1), per,
                       None if grad is None else grad.reshape(rows, -1), scale, **self._params())
        else:  # losses computed in numpy (float64), see _RowLoss
            values, dvalues = self._rows(yt.reshape(rows, -1).astype(np.float64), yp.reshape(rows, -1).astype(np.float64))
            per[...] = values
            if grad is not None:
                grad.reshape(rows, -1)[...] = dvalues * scale.astype(np.float64)[:, None]
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


_EPS = 1e-7  # Keras's backend.epsilon()


class _RowLoss(Loss):
    """A loss whose per-row value and gradient are computed in numpy (float64):
    ``_rows(y_true, y_pred)`` on ``(rows, C)`` arrays returns the values ``(rows,)`` and their
    derivatives with respect to ``y_pred`` ``(rows, C)``."""

    kernel = ""

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size", name: Optional[str] = None, dtype: Any = None):
        super().__init__(name=name or self._default_name, reduction=reduction)

    def _rows(self, yt: np.ndarray, yp: np.ndarray) -> tuple:
        raise NotImplementedError


class MeanAbsolutePercentageError(_RowLoss):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7))`` over the last axis."""

    _default_name = "mean_absolute_percentage_error"

    def _rows(self, yt, yp):
        den = np.maximum(np.abs(yt), _EPS)
        c = yt.shape[1]
        return 100.0 * np.mean(np.abs(yt - yp) / den, axis=1), 100.0 * np.sign(yp - yt) / den / c


class MeanSquaredLogarithmicError(_RowLoss):
    """``mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2)``."""

    _default_name = "mean_squared_logarithmic_error"

    def _rows(self, yt, yp):
        pc = np.maximum(yp, _EPS)
        d = np.log(pc + 1.0) - np.log(np.maximum(yt, _EPS) + 1.0)
        c = yt.shape[1]
        return np.mean(d * d, axis=1), 2.0 * d / (pc + 1.0) * (yp > _EPS) / c


class Poisson(_RowLoss):
    """``mean(y_pred - y_true * log(y_pred + 1e-7))``."""

    _default_name = "poisson"

    def _rows(self, yt, yp):
        c = yt.shape[1]
        return np.mean(yp - yt * np.log(yp + _EPS), axis=1), (1.0 - yt / (yp + _EPS)) / c


class LogCosh(_RowLoss):
    """``mean(log(cosh(y_pred - y_true)))``, computed as ``x + softplus(-2x) - log 2``."""

    _default_name = "log_cosh"

    def _rows(self, yt, yp):
        x = yp - yt
        c = yt.shape[1]
        return np.mean(x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0), axis=1), np.tanh(x) / c


def _hinge_labels(yt: np.ndarray) -> np.ndarray:
    """Labels of 0 and 1 only become -1 and 1, as in Keras."""
    return 2.0 * yt - 1.0 if np.all((yt == 0) | (yt == 1)) else yt


class Hinge(_RowLoss):
    """``mean(max(1 - y_true * y_pred, 0))`` with labels -1/1 (0/1 labels are converted)."""

    _default_name = "hinge"

    def _rows(self, yt, yp):
        y = _hinge_labels(yt)
        m = np.maximum(1.0 - y * yp, 0.0)
        return np.mean(m, axis=1), -y * (m > 0) / yt.shape[1]


class SquaredHinge(_RowLoss):
    """``mean(max(1 - y_true * y_pred, 0)^2)`` with labels -1/1 (0/1 labels are converted)."""

    _default_name = "squared_hinge"

    def _rows(self, yt, yp):
        y = _hinge_labels(yt)
        m = np.maximum(1.0 - y * yp, 0.0)
        return np.mean(m * m, axis=1), -2.0 * y * m / yt.shape[1]


class CategoricalHinge(_RowLoss):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` per row."""

    _default_name = "categorical_hinge"

    def _rows(self, yt, yp):
        neg_terms = (1.0 - yt) * yp
        j = np.argmax(neg_terms, axis=1)
        rows = np.arange(yt.shape[0])
        v = neg_terms[rows, j] - np.sum(yt * yp, axis=1) + 1.0
        active = (v > 0)[:, None]
        g = -yt.copy()
        g[rows, j] += 1.0 - yt[rows, j]
        return np.maximum(v, 0.0), g * active


class KLDivergence(_RowLoss):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to [1e-7, 1]."""

    _default_name = "kl_divergence"

    def _rows(self, yt, yp):
        tc, pc = np.clip(yt, _EPS, 1.0), np.clip(yp, _EPS, 1.0)
        inside = (yp >= _EPS) & (yp <= 1.0)
        return np.sum(tc * np.log(tc / pc), axis=1), -tc / pc * inside


class CosineSimilarity(_RowLoss):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred))`` over the last axis (-1 for
    parallel vectors); ``axis`` other than -1 is not supported."""

    _default_name = "cosine_similarity"

    def __init__(self, axis: int = -1, reduction: Optional[str] = "sum_over_batch_size", name: Optional[str] = None,
                 dtype: Any = None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        if axis != -1:
            raise ValueError(f"{self.name}: only axis=-1 is supported. Received: axis={axis!r}")
        self.axis = axis

    def _rows(self, yt, yp):
        def unit(v):
            inv = np.minimum(1.0 / np.sqrt(np.maximum(np.sum(v * v, axis=1, keepdims=True), 1e-300)), 1.0 / _EPS)
            return v * inv, inv

        tn, _ = unit(yt)
        pn, inv = unit(yp)
        dot = np.sum(tn * pn, axis=1, keepdims=True)
        small = inv >= 1.0 / _EPS  # the norm was clamped: y_pred / epsilon, a linear map
        grad = np.where(small, -tn / _EPS, -(tn - pn * dot) * inv)
        return -dot[:, 0], grad

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config


_ONE_MINUS_EPS = float(np.float32(1.0 - _EPS))  # the upper clip bound as float32 holds it


def _real(value: Any, what: str, who: str, low: float, high: float = math.inf) -> float:
    """`value` as a float in ``[low, high]``; a bool, a non-number or NaN raises."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= float(value) <= high:
        bounds = f"[{low}, {high}]" if high != math.inf else f">= {low}"
        raise ValueError(f"{who}: expected `{what}` to be a number {bounds}. Received: {what}={value!r}")
    return float(value)


def _power_and_slope(base: np.ndarray, gamma: float) -> tuple:
    """``base ** gamma`` and its derivative ``gamma * base ** (gamma - 1)`` for ``base >= 0``;
    the derivative is 0 where ``base == 0`` unless ``gamma == 1`` (it is infinite there for
    ``gamma < 1``, and 0 for ``gamma == 0`` or ``gamma > 1``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        power = np.power(base, gamma)
        if gamma == 0.0:
            return power, np.zeros_like(base)
        if gamma == 1.0:
            return power, np.ones_like(base)
        slope = np.where(base > 0, gamma * np.power(np.where(base > 0, base, 1.0), gamma - 1.0), 0.0)
    return power, slope


def _sigmoid(z: np.ndarray) -> tuple:
    """``sigmoid(z)`` and its derivative, without overflow for any finite `z`."""
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return s, s * (1.0 - s)


class _FocalLoss(_RowLoss):
    """Arguments shared by the focal cross-entropies: `gamma`, `from_logits`,
    `label_smoothing`, `axis` (only -1)."""

    def __init__(self, gamma: float, from_logits: bool, label_smoothing: float, axis: int, reduction: Optional[str],
                 name: Optional[str], dtype: Any = None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        who = type(self).__name__
        if isinstance(axis, bool) or axis != -1:
            raise ValueError(f"{who}: only axis=-1 is supported. Received: axis={axis!r}")
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"{who}: expected `from_logits` to be a bool. Received: from_logits={from_logits!r}")
        self.gamma = _real(gamma, "gamma", who, 0.0)
        self.label_smoothing = _real(label_smoothing, "label_smoothing", who, 0.0, 1.0)
        self.from_logits = bool(from_logits)
        self.axis = axis

    def get_config(self) -> dict:
        return {**super().get_config(), "gamma": self.gamma, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class BinaryFocalCrossentropy(_FocalLoss):
    """Binary cross-entropy scaled by a focal factor that down-weights easy examples
    (Lin et al., 2018), averaged over the last axis.

    Per position, with ``p`` the probability (``sigmoid(y_pred)`` when `from_logits`) and
    ``t`` the label smoothed towards 0.5 (``t * (1 - s) + s / 2``)::

        bce   = -(t * log(clip(p)) + (1 - t) * log(1 - clip(p)))     clip to [1e-7, 1 - 1e-7]
        p_t   = t * p + (1 - t) * (1 - p)
        loss  = (1 - p_t) ** gamma * bce        (times alpha * t + (1 - alpha) * (1 - t)
                                                 with apply_class_balancing)

    as Keras 3 computes it (the sigmoid is applied before clipping, so saturated logits give
    the clipped value, never Inf or NaN). With ``gamma=0`` and no class balancing it is the
    binary cross-entropy.

    Args:
        apply_class_balancing: weigh class 1 by `alpha` and class 0 by ``1 - alpha``.
        alpha: in ``[0, 1]``; default 0.25.
        gamma: focusing parameter ``>= 0``; default 2.0.
        from_logits: `y_pred` holds logits rather than probabilities.
        label_smoothing: in ``[0, 1]``.
        axis: only -1.
        reduction: as :class:`Loss`.
        name: default ``"binary_focal_crossentropy"``.

    Raises:
        ValueError: an argument outside its range, or ``axis != -1``.

    Example:
        >>> loss = BinaryFocalCrossentropy(gamma=2.0)
        >>> round(loss([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]), 4)
        0.2678
    """

    _default_name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25, gamma: float = 2.0,
                 from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: Optional[str] = "sum_over_batch_size", name: str = "binary_focal_crossentropy",
                 dtype: Any = None):
        super().__init__(gamma, from_logits, label_smoothing, axis, reduction, name, dtype)
        if not isinstance(apply_class_balancing, (bool, np.bool_)):
            raise TypeError(
                f"BinaryFocalCrossentropy: expected `apply_class_balancing` to be a bool. "
                f"Received: apply_class_balancing={apply_class_balancing!r}"
            )
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = _real(alpha, "alpha", "BinaryFocalCrossentropy", 0.0, 1.0)

    def _rows(self, yt, yp):
        t = yt * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing if self.label_smoothing else yt
        p, dp = _sigmoid(yp) if self.from_logits else (yp, 1.0)
        c = np.clip(p, _EPS, _ONE_MINUS_EPS)
        inside = (p >= _EPS) & (p <= _ONE_MINUS_EPS)
        bce = -(t * np.log(c) + (1.0 - t) * np.log1p(-c))
        dbce = np.where(inside, (1.0 - t) / (1.0 - c) - t / c, 0.0)
        focal, dfocal = _power_and_slope(1.0 - (t * p + (1.0 - t) * (1.0 - p)), self.gamma)
        value = focal * bce
        grad = focal * dbce + dfocal * (1.0 - 2.0 * t) * bce
        if self.apply_class_balancing:
            weight = t * self.alpha + (1.0 - t) * (1.0 - self.alpha)
            value, grad = weight * value, weight * grad
        n = yt.shape[1]
        return np.mean(value, axis=1), grad * dp / n

    def get_config(self) -> dict:
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha}


class CategoricalFocalCrossentropy(_FocalLoss):
    """Categorical cross-entropy scaled by the focal factor ``alpha * (1 - p) ** gamma``
    (Lin et al., 2018), summed over the classes (last axis).

    Per row, with ``q`` the probabilities (``softmax(y_pred)`` when `from_logits`) and ``t``
    the one-hot labels smoothed as ``t * (1 - s) + s / C``::

        o    = clip(q / sum(q), 1e-7, 1 - 1e-7)
        loss = sum(alpha * (1 - o) ** gamma * (-t * log(o)))

    as Keras 3 computes it. A row of all-zero probabilities (Keras gives NaN) is taken as
    clipped zeros, with a zero gradient.

    Args:
        alpha: a number ``>= 0``, or one per class (a list of length ``C``); default 0.25.
        gamma: focusing parameter ``>= 0``; default 2.0.
        from_logits: `y_pred` holds logits rather than probabilities.
        label_smoothing: in ``[0, 1]``.
        axis: only -1.
        reduction: as :class:`Loss`.
        name: default ``"categorical_focal_crossentropy"``.

    Raises:
        ValueError: an argument outside its range, ``axis != -1``, or per-class `alpha`
            whose length is not the number of classes (at the call).

    Example:
        >>> loss = CategoricalFocalCrossentropy()
        >>> round(loss([[0, 1, 0], [0, 0, 1]], [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]]), 4)
        0.3381
    """

    _default_name = "categorical_focal_crossentropy"

    def __init__(self, alpha: Any = 0.25, gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "categorical_focal_crossentropy", dtype: Any = None):
        super().__init__(gamma, from_logits, label_smoothing, axis, reduction, name, dtype)
        who = "CategoricalFocalCrossentropy"
        if isinstance(alpha, (list, tuple, np.ndarray)):
            values = list(np.asarray(alpha).reshape(-1).tolist()) if isinstance(alpha, np.ndarray) else list(alpha)
            if not values:
                raise ValueError(f"{who}: expected `alpha` to be a number or a non-empty list. Received: alpha={alpha!r}")
            self.alpha = [_real(a, "alpha", who, 0.0) for a in values]
        else:
            self.alpha = _real(alpha, "alpha", who, 0.0)

    def _rows(self, yt, yp):
        n = yt.shape[1]
        alpha = np.asarray(self.alpha, dtype=np.float64)
        if alpha.ndim and alpha.size != n:
            raise ValueError(
                f"{self.name}: expected one alpha per class ({n}). Received: {alpha.size} values"
            )
        t = yt * (1.0 - self.label_smoothing) + self.label_smoothing / n if self.label_smoothing else yt
        if self.from_logits:
            e = np.exp(yp - np.max(yp, axis=1, keepdims=True))
            q = e / np.sum(e, axis=1, keepdims=True)
        else:
            q = yp
        total = np.sum(q, axis=1, keepdims=True)
        total = np.where(total == 0, 1.0, total)
        out = q / total
        o = np.clip(out, _EPS, _ONE_MINUS_EPS)
        inside = (out >= _EPS) & (out <= _ONE_MINUS_EPS)
        focal, dfocal = _power_and_slope(1.0 - o, self.gamma)
        log_o = np.log(o)
        value = np.sum(alpha * focal * (-t * log_o), axis=1)
        # d value / d out, then through out = q / total (and the softmax)
        g = np.where(inside, alpha * t * (dfocal * log_o - focal / o), 0.0)
        dq = (g - np.sum(g * out, axis=1, keepdims=True)) / total
        if self.from_logits:
            dq = q * (dq - np.sum(q * dq, axis=1, keepdims=True))
        return value, dq

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


def _per_sample(loss: Loss, y_true: Any, y_pred: Any) -> np.ndarray:
    _, _, per = loss._run(y_true, y_pred, None, want_grad=False)
    return per


def binary_focal_crossentropy(y_true: Any, y_pred: Any, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1) -> np.ndarray:
    """Per-sample values of :class:`BinaryFocalCrossentropy`, shape ``y_pred.shape[:-1]``."""
    loss = BinaryFocalCrossentropy(apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                                   from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
    return _per_sample(loss, y_true, y_pred)


def categorical_focal_crossentropy(y_true: Any, y_pred: Any, alpha: Any = 0.25, gamma: float = 2.0,
                                   from_logits: bool = False, label_smoothing: float = 0.0,
                                   axis: int = -1) -> np.ndarray:
    """Per-sample values of :class:`CategoricalFocalCrossentropy`, shape ``y_pred.shape[:-1]``."""
    loss = CategoricalFocalCrossentropy(alpha=alpha, gamma=gamma, from_logits=from_logits,
                                        label_smoothing=label_smoothing, axis=axis)
    return _per_sample(loss, y_true, y_pred)


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
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "poisson": Poisson,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "KLD": KLDivergence,
    "cosine_similarity": CosineSimilarity,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
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
