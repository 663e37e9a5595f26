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

from pynncore import _core, ops

__all__ = [
    "CTC",
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalGeneralizedCrossEntropy",
    "CategoricalHinge",
    "Circle",
    "CosineSimilarity",
    "Dice",
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
    "Tversky",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
    "circle",
    "ctc",
    "dice",
    "get",
    "tversky",
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
        if type(y_pred) is np.ndarray and y_pred.dtype == np.float32 and y_pred.flags.c_contiguous and y_pred.flags.aligned:
            yp = y_pred  # a model's output: already what the kernels take
        else:
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
        rows = math.prod(yp.shape[:-1])
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
            width = yp.shape[-1]  # y_true has y_pred's shape here (see _match_target)
            values, dvalues = self._rows(yt.reshape(rows, width).astype(np.float64),
                                         yp.reshape(rows, width).astype(np.float64))
            per[...] = values
            if grad is not None:
                grad.reshape(rows, width)[...] = dvalues * scale.astype(np.float64)[:, None]
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
            return _uniform_scale(rows, denom)
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


_UNIFORM_SCALES: dict = {}


def _uniform_scale(rows: int, denom: float) -> np.ndarray:
    """A read-only ``(rows,)`` array of ``1 / denom``, kept for the batch sizes in use (a training
    loop asks for the same one every step)."""
    key = (rows, denom)
    arr = _UNIFORM_SCALES.get(key)
    if arr is None:
        if len(_UNIFORM_SCALES) >= 32:
            _UNIFORM_SCALES.clear()
        arr = np.full(rows, 1.0 / denom, np.float32)
        arr.flags.writeable = False
        _UNIFORM_SCALES[key] = arr
    return arr


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


def _check_axes(axis: Any, who: str) -> Optional[tuple]:
    """`axis` as None or a tuple of ints (an int becomes a one-element tuple)."""
    if axis is None:
        return None
    values = axis if isinstance(axis, (list, tuple)) else (axis,)
    for a in values:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise ValueError(f"{who}: expected `axis` to be None, an integer or a tuple of integers. Received: axis={axis!r}")
    if not values:
        raise ValueError(f"{who}: expected `axis` to name at least one axis. Received: axis={axis!r}")
    return tuple(int(a) for a in values)


class _OverlapLoss(Loss):
    """``1 - k * I / (lam * I + a * T + b * P + eps)`` with ``I = sum(y_true * y_pred)``,
    ``T = sum(y_true)``, ``P = sum(y_pred)`` over `axis` (all axes when None, which gives one
    value for the whole batch). Dice and Tversky are this formula with their coefficients.

    A sample weight of shape ``(N,)`` multiplies the values as Keras broadcasts it: a single
    value (``axis=None``) becomes ``N`` weighted copies; values that keep the batch axis are
    weighted per sample.
    """

    def _coefficients(self) -> tuple:
        raise NotImplementedError

    def _axes(self, ndim: int) -> tuple:
        if self.axis is None:
            return tuple(range(ndim))
        for a in self.axis:
            if not -ndim <= a < ndim:
                raise ValueError(
                    f"{self.name}: expected `axis` entries in [{-ndim}, {ndim}) for y_pred of rank {ndim}. "
                    f"Received: axis={self.axis!r}"
                )
        axes = sorted({a % ndim for a in self.axis})
        if len(axes) != len(self.axis):
            raise ValueError(f"{self.name}: `axis` repeats an axis. Received: axis={self.axis!r}")
        return tuple(axes)

    def _run(self, y_true: Any, y_pred: Any, sample_weight: Any, want_grad: bool) -> tuple:
        yp = np.asarray(y_pred)
        yt = np.asarray(y_true)
        for what, arr in (("y_pred", yp), ("y_true", yt)):
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"{self.name}: {what} must be real numbers. Received: dtype={arr.dtype}")
        if yt.ndim == yp.ndim - 1:
            yt = yt.reshape(yt.shape + (1,))
        elif yp.ndim == yt.ndim - 1 and yt.shape[-1] == 1:
            yt = yt.reshape(yt.shape[:-1])
        if yt.shape != yp.shape:
            raise ValueError(
                f"{self.name}: y_true and y_pred must have the same shape. "
                f"Received: y_true.shape={yt.shape}, y_pred.shape={yp.shape}"
            )
        t = yt.astype(np.float64)
        p = yp.astype(np.float32).astype(np.float64)
        axes = self._axes(p.ndim)
        k, lam, a, b = self._coefficients()
        inter = np.sum(t * p, axis=axes, keepdims=True)
        den = lam * inter + a * np.sum(t, axis=axes, keepdims=True) + b * np.sum(p, axis=axes, keepdims=True) + _EPS
        values = 1.0 - k * inter / den  # keepdims shape
        shape = tuple(n for i, n in enumerate(p.shape) if i not in axes)
        weight = self._value_weights(sample_weight, values, p.shape, axes)
        weighted = values if weight is None else values * weight
        count = weighted.size
        if self.reduction in ("none", None):
            value = (weighted.reshape(shape) if weight is None or weighted.size == values.size
                     else weighted.reshape(-1)).astype(np.float32)
        elif self.reduction == "sum":
            value = float(weighted.sum())
        elif self.reduction == "mean" and weight is not None:
            total = float(np.broadcast_to(weight, weighted.shape).sum())
            value = float(weighted.sum() / total) if total > 0 else 0.0
        else:
            value = float(weighted.sum() / count) if count else 0.0
        grad = None
        if want_grad:
            if self.reduction == "sum" or count == 0:
                scale = 1.0
            elif self.reduction == "mean" and weight is not None:
                total = float(np.broadcast_to(weight, weighted.shape).sum())
                scale = 1.0 / total if total > 0 else 0.0
            else:
                scale = 1.0 / count
            # each value's coefficient in the reduced loss, summed over its weighted copies
            coef = np.full(values.shape, scale) if weight is None else self._copies(weight, values.shape) * scale
            dvalue = -k * (t * den - inter * (lam * t + b)) / (den * den)
            grad = (coef * dvalue).astype(np.float32)
        return value, grad, values.reshape(shape).astype(np.float32)

    def _value_weights(self, sample_weight: Any, values: np.ndarray, shape: tuple, axes: tuple) -> Optional[np.ndarray]:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight)
        if w.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: sample_weight must be real numbers. Received: dtype={w.dtype}")
        w = w.astype(np.float64)
        if w.ndim == 0:
            return w
        n = shape[0] if shape else 0
        if w.size != n:
            raise ValueError(f"{self.name}: sample_weight must have one value per sample ({n}). Received: shape={w.shape}")
        if values.size == 1:  # a single value: one weighted copy per sample
            return w.reshape(n)
        if 0 in axes:
            raise ValueError(
                f"{self.name}: per-sample weights need values that keep the batch axis; axis={self.axis!r} reduces it"
            )
        return w.reshape((n,) + (1,) * (values.ndim - 1))

    @staticmethod
    def _copies(weight: np.ndarray, shape: tuple) -> np.ndarray:
        """The total weight each value of `shape` receives (a single value: the sum of all)."""
        if weight.ndim == 1 and int(np.prod(shape)) == 1:
            return np.full(shape, weight.sum())
        return np.broadcast_to(weight, shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": None if self.axis is None else list(self.axis)}


class Dice(_OverlapLoss):
    """Dice loss ``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + 1e-7)``.

    The sums run over `axis`; with ``axis=None`` (the default, as in Keras) over the whole
    batch, giving one value.

    Args:
        reduction: as :class:`Loss`.
        name: default ``"dice"``.
        axis: None, an int or a tuple of ints: the axes summed over. ``(1, 2, 3)`` on
            ``(N, H, W, C)`` gives one value per sample.

    Raises:
        ValueError: a bad `axis` (or one outside y_pred's rank, at the call).

    Example:
        >>> round(Dice()([[1.0, 0.0], [1.0, 1.0]], [[0.5, 0.5], [1.0, 0.0]]), 4)
        0.4
    """

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size", name: str = "dice", axis: Any = None,
                 dtype: Any = None):
        super().__init__(name=name, reduction=reduction)
        self.axis = _check_axes(axis, "Dice")

    def _coefficients(self) -> tuple:
        return 2.0, 0.0, 1.0, 1.0


class Tversky(_OverlapLoss):
    """Tversky loss ``1 - TP / (TP + alpha * FP + beta * FN + 1e-7)`` (Salehi et al., 2017),
    with, as Keras computes them, ``TP = sum(y_true * y_pred)``,
    ``FP = sum(y_true * (1 - y_pred))`` and ``FN = sum((1 - y_true) * y_pred)`` over `axis`.

    Args:
        alpha: weight of the ``FP`` term; default 0.5.
        beta: weight of the ``FN`` term; default 0.5 (with both 0.5 it is the Dice loss up to
            the epsilon).
        reduction: as :class:`Loss`.
        name: default ``"tversky"``.
        axis: as :class:`Dice`.

    Raises:
        ValueError: `alpha` or `beta` not a finite number, or a bad `axis`.

    Example:
        >>> round(Tversky(alpha=0.3, beta=0.7)([[1.0, 0.0]], [[0.6, 0.4]]), 4)
        0.4
    """

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "tversky", axis: Any = None, dtype: Any = None):
        super().__init__(name=name, reduction=reduction)
        self.alpha = _finite(alpha, "alpha", "Tversky")
        self.beta = _finite(beta, "beta", "Tversky")
        self.axis = _check_axes(axis, "Tversky")

    def _coefficients(self) -> tuple:
        # I + alpha * (T - I) + beta * (P - I)
        return 1.0, 1.0 - self.alpha - self.beta, self.alpha, self.beta

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


def _finite(value: Any, what: str, who: str) -> float:
    """`value` as a float; a bool, a non-number, NaN or Inf raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{who}: expected `{what}` to be a finite number. Received: {what}={value!r}")
    return float(value)


def _integer_labels(yt: np.ndarray, n: int, who: str) -> np.ndarray:
    """Labels of shape ``(N,)`` or ``(N, 1)`` as int64 ``(N,)``: whole numbers, else ValueError."""
    if yt.ndim == 2 and yt.shape[1] == 1:
        yt = yt.reshape(-1)
    if yt.shape != (n,):
        raise ValueError(f"{who}: expected integer labels of shape ({n},) or ({n}, 1). Received: y_true.shape={yt.shape}")
    if yt.dtype.kind == "f" and (not np.all(np.isfinite(yt)) or np.any(yt != np.rint(yt))):
        raise ValueError(f"{who}: expected y_true to hold whole-number labels")
    return yt.astype(np.int64)


class CategoricalGeneralizedCrossEntropy(_RowLoss):
    """Generalized cross-entropy ``(1 - p ** q) / q`` (Zhang and Sabuncu, 2018), ``p`` the
    probability `y_pred` gives the true class; robust to noisy labels (``q -> 0`` tends to
    the cross-entropy, ``q = 1`` is the mean absolute error of the true class).

    `y_true` holds integer class ids, shape ``(N,)`` or ``(N, 1)``; `y_pred` probabilities
    ``(N, C)``.

    Args:
        q: in the open interval ``(0, 1)``; default 0.5.
        reduction: as :class:`Loss`.
        name: default ``"categorical_generalized_cross_entropy"``.

    Raises:
        ValueError: `q` outside ``(0, 1)``; labels outside ``[0, C)`` or not whole numbers.

    Example:
        >>> round(CategoricalGeneralizedCrossEntropy()([0, 1], [[0.64, 0.36], [0.19, 0.81]]), 4)
        0.3
    """

    _default_name = "categorical_generalized_cross_entropy"

    def __init__(self, q: float = 0.5, reduction: Optional[str] = "sum_over_batch_size",
                 name: str = "categorical_generalized_cross_entropy", dtype: Any = None):
        who = "CategoricalGeneralizedCrossEntropy"
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 < float(q) < 1.0:
            raise ValueError(f"{who}: expected `q` to be a number in the interval (0, 1). Received: q={q!r}")
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.q = float(q)

    def _match_target(self, yt: np.ndarray, yp: np.ndarray) -> np.ndarray:
        if yp.ndim != 2:
            raise ValueError(f"{self.name}: expected y_pred of shape (N, C). Received: y_pred.shape={yp.shape}")
        labels = _integer_labels(yt, yp.shape[0], self.name)
        c = yp.shape[1]
        if labels.size and (labels.min() < 0 or labels.max() >= c):
            raise ValueError(
                f"{self.name}: expected labels in [0, {c}). Received labels in [{labels.min()}, {labels.max()}]"
            )
        one_hot = np.zeros(yp.shape, np.float32)
        one_hot[np.arange(labels.size), labels] = 1.0
        return one_hot

    def _rows(self, yt, yp):
        p = np.sum(yp * yt, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            power = np.power(p, self.q)
            slope = -np.power(p, self.q - 1.0)
        return (1.0 - power) / self.q, slope[:, None] * yt

    def get_config(self) -> dict:
        return {**super().get_config(), "q": self.q}


class Circle(Loss):
    """Circle loss (Sun et al., 2020) between integer labels and L2-normalized embeddings.

    For the batch's embeddings ``E`` ``(N, D)`` and labels ``y`` ``(N,)``, with the cosine
    distances ``d = max(1 - E @ E.T, 0)`` and ``m`` the margin::

        pos = -gamma * max(m + d, 0) * (m - d)              over pairs of the same label
        neg = gamma * max(1 + m - d, 0) * (1 - m - d)       over pairs of different labels
        loss_i = softplus(logsumexp_j(pos_ij) + logsumexp_j(neg_ij))

    (self-pairs leave the positives with `remove_diagonal`). As in Keras, a sample whose loss
    is 0 (no positive or no negative pair) is masked out: ``sum_over_batch_size`` divides by
    the number of samples with a loss above 0 (``mean`` by their total weight). Each loss depends on every row of `y_pred`, so
    the gradient reaches all embeddings.

    Args:
        gamma: scale of the similarities; default 80.
        margin: relaxation factor; default 0.4.
        remove_diagonal: drop self-similarities from the positive pairs; default True.
        reduction: as :class:`Loss`.
        name: default ``"circle"``.

    Raises:
        ValueError: `gamma` or `margin` not a finite number, `remove_diagonal` not a bool;
            labels not of shape ``(N,)``/``(N, 1)`` or not whole numbers.

    Example:
        >>> e = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
        >>> round(Circle(gamma=2.0)([0, 0, 1], e), 4)
        0.6141
    """

    def __init__(self, gamma: float = 80.0, margin: float = 0.4, remove_diagonal: bool = True,
                 reduction: Optional[str] = "sum_over_batch_size", name: str = "circle", dtype: Any = None):
        super().__init__(name=name, reduction=reduction)
        self.gamma = _finite(gamma, "gamma", "Circle")
        self.margin = _finite(margin, "margin", "Circle")
        if not isinstance(remove_diagonal, (bool, np.bool_)):
            raise ValueError(f"Circle: expected `remove_diagonal` to be a bool. Received: remove_diagonal={remove_diagonal!r}")
        self.remove_diagonal = bool(remove_diagonal)

    def _run(self, y_true: Any, y_pred: Any, sample_weight: Any, want_grad: bool) -> tuple:
        yp = np.asarray(y_pred)
        yt = np.asarray(y_true)
        if yp.dtype.kind not in "biuf" or yt.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: y_true and y_pred must be real numbers. Received: dtypes {yt.dtype}, {yp.dtype}")
        if yp.ndim != 2:
            raise ValueError(f"{self.name}: expected embeddings y_pred of shape (N, D). Received: y_pred.shape={yp.shape}")
        n = yp.shape[0]
        labels = _integer_labels(yt, n, self.name)
        e = yp.astype(np.float32).astype(np.float64)
        rows, w = self._rows_weights(sample_weight, yp)
        w64 = None if w is None else w.astype(np.float64)
        per, dist_grad = self._pairs(labels, e, labels, e)
        # Keras masks the samples whose (float32) loss is 0 out of the reduction
        mask = (per.astype(np.float32) > 0).astype(np.float64)
        valid = float(mask.sum())
        sw = mask if w64 is None else mask * w64
        weighted = per * sw
        if self.reduction in ("none", None):
            value = weighted.astype(np.float32)
            denom = None
        elif self.reduction == "sum":
            denom = 1.0
        elif self.reduction == "mean":
            denom = float(sw.sum())
        else:
            denom = valid
        if denom is not None:
            value = float(weighted.sum() / denom) if denom > 0 else 0.0
        grad = None
        if want_grad:
            coef = sw / denom if denom else np.zeros(n)
            grad = dist_grad(coef).astype(np.float32)
        return value, grad, per.astype(np.float32)

    def _pairs(self, labels: np.ndarray, e: np.ndarray, ref_labels: np.ndarray, ref: np.ndarray) -> tuple:
        """Per-sample losses of the queries `e` against the references `ref`, and a function
        from each sample's coefficient in the total to the gradient of that total with respect
        to the embeddings when the references are the queries themselves."""
        n = labels.size
        if n == 0:
            return np.zeros(0), lambda coef: np.zeros_like(e)
        m, g = self.margin, self.gamma
        sim = e @ ref.T
        d = np.maximum(1.0 - sim, 0.0)
        pos_mask = labels[:, None] == ref_labels[None, :]
        neg_mask = ~pos_mask
        if self.remove_diagonal:
            pos_mask = pos_mask & ~np.eye(n, ref_labels.size, dtype=bool)
        pos_w = np.maximum((m + d) * pos_mask, 0.0)
        neg_w = np.maximum((1.0 + m - d) * neg_mask, 0.0)
        pos = np.where(pos_mask, -g * pos_w * (m - d), -np.inf)
        neg = np.where(neg_mask, g * neg_w * (1.0 - m - d), -np.inf)

        def logsumexp(x):
            top = np.max(x, axis=1, keepdims=True)
            safe = np.where(np.isfinite(top), top, 0.0)
            with np.errstate(divide="ignore"):
                lse = np.log(np.sum(np.exp(x - safe), axis=1, keepdims=True)) + safe
            soft = np.where(np.isfinite(lse), np.exp(x - np.where(np.isfinite(lse), lse, 0.0)), 0.0)
            return lse[:, 0], soft

        lp, ap = logsumexp(pos)
        ln, an = logsumexp(neg)
        z = lp + ln
        finite = np.isfinite(z)
        zf = np.where(finite, z, 0.0)
        per = np.where(finite, np.logaddexp(0.0, zf), 0.0)
        sig = np.where(finite, 0.5 * (1.0 + np.tanh(0.5 * zf)), 0.0)

        def gradient(coef: np.ndarray) -> np.ndarray:
            # d pos / d d and d neg / d d, elementwise
            dpos = -g * ((pos_mask & (m + d > 0)) * (m - d) - pos_w)
            dneg = -g * ((neg_mask & (1.0 + m - d > 0)) * (1.0 - m - d) + neg_w)
            gd = (coef * sig)[:, None] * (ap * dpos + an * dneg)
            gs = -gd * (sim < 1.0)
            return gs @ ref + gs.T @ e

        return per, gradient

    def get_config(self) -> dict:
        return {**super().get_config(), "gamma": self.gamma, "margin": self.margin,
                "remove_diagonal": self.remove_diagonal}



class CTC(Loss):
    """Connectionist temporal classification loss (Graves et al., 2006), as ``keras.losses.CTC``.

    Trains a model whose output at each timestep scores the classes (a blank at index 0 and the
    labels ``1 .. C - 1``) on label sequences that are not aligned with the timesteps, as in
    speech, handwriting or OCR. Each sample's loss is ``-log p(labels | y_pred)``, summed over
    every alignment of its labels to the ``T`` timesteps (optional blanks between labels, each
    label repeated over consecutive steps, a blank required between equal neighbours), with the
    step probabilities ``softmax(y_pred)``. Value and gradient come from the forward-backward
    recursions in float64 log space (see :func:`pynncore.ops.ctc_loss`).

    As in Keras, `y_pred` holds logits (a softmax output also trains, being passed through a
    second softmax), `y_true` is ``(N, L)`` with the labels of each row first and 0 (the blank)
    as padding after them, so each label count is the number of nonzero entries, and all ``T``
    steps are used. A sample that no alignment fits (more labels and repeats than steps) has an
    infinite loss, as in Keras, and contributes no gradient.

    Args:
        reduction: as :class:`Loss`, over the per-sample values ``(N,)``.
        name: default ``"ctc"``.

    Raises:
        ValueError: `y_true` not of rank 2 or `y_pred` not of rank 3, different batch sizes,
            labels outside ``[0, C)``, a label after the padding starts.
        TypeError: non-numeric arrays.

    Example:
        >>> round(CTC()([[1, 0]], np.zeros((1, 2, 2))), 4)  # 3 of the 4 paths give "1"
        0.2877
    """

    def __init__(self, reduction: Optional[str] = "sum_over_batch_size", name: str = "ctc", dtype: Any = None):
        super().__init__(name=name, reduction=reduction)

    def _run(self, y_true: Any, y_pred: Any, sample_weight: Any, want_grad: bool) -> tuple:
        who = f"CTC '{self.name}'"
        logits = np.asarray(y_pred)
        if logits.dtype.kind in "biuf" and logits.ndim != 3:
            raise ValueError(
                f"{who}: expected logits y_pred of shape (batch_size, max_length, num_classes). "
                f"Received: y_pred.shape={logits.shape}"
            )
        labels = np.asarray(y_true)
        if labels.dtype.kind in "biuf" and labels.ndim != 2:
            raise ValueError(
                f"{who}: expected y_true of shape (batch_size, max_length) holding integer labels. "
                f"Received: y_true.shape={labels.shape}"
            )
        if labels.dtype.kind in "biuf":
            label_length = np.count_nonzero(labels, axis=-1)
        else:
            label_length = np.zeros(labels.shape[:1], np.int64)  # the type error is raised below
        steps = np.full(logits.shape[:1], logits.shape[1] if logits.ndim == 3 else 0, np.int64)
        args = ops._ctc_inputs(labels, logits, label_length, steps, 0, who, "y_true", "y_pred")
        nll, dlogits = ops._ctc_nll(*args, want_grad=want_grad)
        n = nll.shape[0]
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float32)
            if w.size == 1 and w.ndim <= 1:
                w = np.full(n, w.reshape(()), np.float32)
            if w.shape not in ((n,), (n, 1)):
                raise ValueError(f"{who}: sample_weight must have one value per sample ({n}). Received: shape={w.shape}")
            w = np.ascontiguousarray(w.reshape(n))
        per = nll.astype(np.float32)
        grad = None
        if want_grad:
            scale = self._grad_scale(n, w).astype(np.float64)
            grad = (dlogits * scale[:, None, None]).astype(np.float32)
        return self._reduce(per, w), grad, per

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}


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


def ctc(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample values of :class:`CTC`, shape ``(N,)``: `y_true` ``(N, L)`` labels padded
    with 0, `y_pred` logits ``(N, T, C)``."""
    return CTC(reduction="none")._run(y_true, y_pred, None, want_grad=False)[2]


def dice(y_true: Any, y_pred: Any, axis: Any = None) -> np.ndarray:
    """Values of :class:`Dice` before any reduction: one value for ``axis=None``, else one
    per position left after summing over `axis`."""
    return Dice(axis=axis, reduction="none")._run(y_true, y_pred, None, want_grad=False)[2]


def tversky(y_true: Any, y_pred: Any, alpha: float = 0.5, beta: float = 0.5, axis: Any = None) -> np.ndarray:
    """Values of :class:`Tversky` before any reduction (as :func:`dice`)."""
    return Tversky(alpha=alpha, beta=beta, axis=axis, reduction="none")._run(y_true, y_pred, None, want_grad=False)[2]


def categorical_generalized_cross_entropy(y_true: Any, y_pred: Any, q: float) -> np.ndarray:
    """Per-sample values of :class:`CategoricalGeneralizedCrossEntropy`, shape ``(N,)``."""
    return _per_sample(CategoricalGeneralizedCrossEntropy(q=q), y_true, y_pred)


def circle(y_true: Any, y_pred: Any, ref_labels: Any = None, ref_embeddings: Any = None,
           remove_diagonal: bool = True, gamma: float = 80, margin: float = 0.4) -> np.ndarray:
    """Per-sample values of :class:`Circle`, shape ``(N,)``, with the pairs taken against
    `ref_embeddings` ``(M, D)`` labelled `ref_labels` ``(M,)`` (default: the batch itself)."""
    loss = Circle(gamma=gamma, margin=margin, remove_diagonal=remove_diagonal)
    if ref_labels is None and ref_embeddings is None:
        return _per_sample(loss, y_true, y_pred)
    e = np.asarray(y_pred)
    if e.dtype.kind not in "biuf" or e.ndim != 2:
        raise ValueError(f"circle: expected embeddings y_pred of shape (N, D). Received: y_pred.shape={e.shape}")
    labels = _integer_labels(np.asarray(y_true), e.shape[0], "circle")
    ref = e if ref_embeddings is None else np.asarray(ref_embeddings)
    if ref.dtype.kind not in "biuf" or ref.ndim != 2 or ref.shape[1] != e.shape[1]:
        raise ValueError(
            f"circle: expected ref_embeddings of shape (M, {e.shape[1]}). Received: shape={ref.shape}"
        )
    ref_ids = labels if ref_labels is None else _integer_labels(np.asarray(ref_labels), ref.shape[0], "circle")
    if ref_ids.size != ref.shape[0]:
        raise ValueError(
            f"circle: expected one reference label per reference embedding ({ref.shape[0]}). "
            f"Received: {ref_ids.size} labels"
        )
    e64 = e.astype(np.float32).astype(np.float64)
    ref64 = ref.astype(np.float32).astype(np.float64)
    per, _ = loss._pairs(labels, e64, ref_ids, ref64)
    return per.astype(np.float32)


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
    "dice": Dice,
    "tversky": Tversky,
    "categorical_generalized_cross_entropy": CategoricalGeneralizedCrossEntropy,
    "circle": Circle,
    "ctc": CTC,
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
