"""Metrics with the Keras 3 API: stateful objects that accumulate over batches.

``update_state(y_true, y_pred, sample_weight=None)`` adds a batch, ``result()`` returns the
value over everything seen since the last ``reset_state()`` as a Python float. State is kept
in float64, so long epochs do not lose precision.

:func:`get` resolves what users pass to ``compile(metrics=[...])`` the way Keras 3's
``compile`` does, including the metric's name as it appears in ``History.history``: a string
identifier is kept as the name (``"mse"`` logs ``mse``, ``"acc"`` logs ``acc``), and
``"accuracy"``/``"acc"`` become binary, categorical or sparse categorical accuracy.

Example:
    >>> m = BinaryAccuracy()
    >>> m.update_state([[1], [0]], [[0.9], [0.8]])
    >>> m.update_state([[0]], [[0.1]])
    >>> round(m.result(), 4)
    0.6667
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from pynncore import losses as _losses

__all__ = [
    "BinaryCrossentropy",
    "BinaryIoU",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Hinge",
    "IoU",
    "KLDivergence",
    "MeanIoU",
    "OneHotIoU",
    "OneHotMeanIoU",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "AUC",
    "F1Score",
    "FBetaScore",
    "R2Score",
    "FalseNegatives",
    "FalsePositives",
    "LogCoshError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "TrueNegatives",
    "TruePositives",
    "PrecisionAtRecall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "PearsonCorrelation",
    "ConcordanceCorrelation",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "Mean",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "Sum",
    "TopKCategoricalAccuracy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "concordance_correlation",
    "deserialize",
    "get",
    "mean_absolute_error",
    "mean_squared_error",
    "pearson_correlation",
    "serialize",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        prev_lower = i > 0 and (name[i - 1].islower() or name[i - 1].isdigit())
        next_lower = i + 1 < len(name) and name[i + 1].islower()
        if ch.isupper() and i > 0 and (prev_lower or (next_lower and name[i - 1].isupper())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _array(x: Any, what: str, who: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{who}: expected {what} to be a real numeric array. Received an array of dtype {arr.dtype}")
    return arr


def _match_rank(a: np.ndarray, b: np.ndarray, expand_rank_1: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Drop or add a trailing axis of size 1 when the ranks of `a` and `b` differ by one."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        if b.ndim == 1 and expand_rank_1:
            b = b[..., None]
        else:
            a = a[..., 0]
    elif b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        if a.ndim == 1 and expand_rank_1:
            a = a[..., None]
        else:
            b = b[..., 0]
    return a, b


def _check_same_shape(y_true: np.ndarray, y_pred: np.ndarray, who: str) -> None:
    try:
        np.broadcast_shapes(y_true.shape, y_pred.shape)
    except ValueError:
        raise ValueError(
            f"{who}: y_true and y_pred have incompatible shapes: y_true.shape={y_true.shape}, "
            f"y_pred.shape={y_pred.shape}"
        ) from None


def _divide(num: Any, den: Any) -> Any:
    """``num / den`` with 0 where ``den == 0`` (Keras's divide_no_nan)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    np.divide(num, den, out=out, where=den != 0)
    return out


# ---------------------------------------------------------------------------------------------
# Stateless metric functions: one value per sample (the last axis is reduced).


def accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample fraction of positions where ``y_true == y_pred`` exactly."""
    t = _array(y_true, "y_true", "accuracy").astype(np.float64)
    p = _array(y_pred, "y_pred", "accuracy").astype(np.float64)
    t, p = _match_rank(t, p)
    _check_same_shape(t, p, "accuracy")
    return np.mean(t == p, axis=-1)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """Per-sample fraction of positions where ``(y_pred > threshold) == y_true``."""
    t = _array(y_true, "y_true", "binary_accuracy").astype(np.float64)
    p = _array(y_pred, "y_pred", "binary_accuracy").astype(np.float64)
    t, p = _match_rank(t, p)
    _check_same_shape(t, p, "binary_accuracy")
    return np.mean(t == (p > threshold), axis=-1)


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """``argmax(y_true) == argmax(y_pred)`` along the last axis (one-hot labels)."""
    t = _array(y_true, "y_true", "categorical_accuracy")
    p = _array(y_pred, "y_pred", "categorical_accuracy")
    if t.shape != p.shape:
        raise ValueError(
            f"categorical_accuracy: expected one-hot y_true of the shape of y_pred. Received: y_true.shape={t.shape}, "
            f"y_pred.shape={p.shape}"
        )
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError(f"categorical_accuracy: y_pred needs a non-empty class axis. Received: shape={p.shape}")
    return (np.argmax(t, axis=-1) == np.argmax(p, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """``y_true == argmax(y_pred)`` with integer labels of shape ``(N,)`` or ``(N, 1)``."""
    t = _array(y_true, "y_true", "sparse_categorical_accuracy")
    p = _array(y_pred, "y_pred", "sparse_categorical_accuracy")
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError(f"sparse_categorical_accuracy: y_pred needs a non-empty class axis. Received: shape={p.shape}")
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = t[..., 0]
    if t.shape != p.shape[:-1]:
        raise ValueError(
            f"sparse_categorical_accuracy: expected integer labels of shape {p.shape[:-1]} (or with a trailing 1) "
            f"for y_pred of shape {p.shape}. Received: y_true.shape={np.shape(y_true)}"
        )
    return (t.astype(np.float64) == np.argmax(p, axis=-1)).astype(np.float64)


def _in_top_k(labels: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Whether the score of each row's label is among its `k` largest (ties count as in)."""
    scores = scores.reshape(-1, scores.shape[-1]).astype(np.float64)
    labels = labels.reshape(-1).astype(np.int64)
    num_classes = scores.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"top-k accuracy: labels must be in [0, {num_classes}). Received labels in [{labels.min()}, {labels.max()}]"
        )
    if k >= num_classes:
        return np.ones(labels.shape, dtype=np.float64)
    kth = np.partition(scores, num_classes - k, axis=-1)[:, num_classes - k]
    target = scores[np.arange(labels.size), labels]
    return (target >= kth).astype(np.float64)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """Whether the true class (argmax of one-hot `y_true`) is in the top `k` of `y_pred`."""
    t = _array(y_true, "y_true", "top_k_categorical_accuracy")
    p = _array(y_pred, "y_pred", "top_k_categorical_accuracy")
    if t.shape != p.shape or p.ndim == 0:
        raise ValueError(
            f"top_k_categorical_accuracy: expected one-hot y_true of the shape of y_pred. "
            f"Received: y_true.shape={t.shape}, y_pred.shape={p.shape}"
        )
    labels = np.argmax(t, axis=-1)
    return _in_top_k(labels, p, k).reshape(labels.shape)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """Whether the integer label is in the top `k` of `y_pred`."""
    t = _array(y_true, "y_true", "sparse_top_k_categorical_accuracy")
    p = _array(y_pred, "y_pred", "sparse_top_k_categorical_accuracy")
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = t[..., 0]
    if p.ndim == 0 or t.shape != p.shape[:-1]:
        raise ValueError(
            f"sparse_top_k_categorical_accuracy: expected labels of shape {p.shape[:-1]} for y_pred of shape "
            f"{p.shape}. Received: y_true.shape={np.shape(y_true)}"
        )
    return _in_top_k(t, p, k).reshape(t.shape)


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean((y_true - y_pred)**2)`` over the last axis."""
    t = _array(y_true, "y_true", "mean_squared_error").astype(np.float64)
    p = _array(y_pred, "y_pred", "mean_squared_error").astype(np.float64)
    t, p = _match_rank(t, p)
    _check_same_shape(t, p, "mean_squared_error")
    return np.mean(np.square(t - p), axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """``mean(|y_true - y_pred|)`` over the last axis."""
    t = _array(y_true, "y_true", "mean_absolute_error").astype(np.float64)
    p = _array(y_pred, "y_pred", "mean_absolute_error").astype(np.float64)
    t, p = _match_rank(t, p)
    _check_same_shape(t, p, "mean_absolute_error")
    return np.mean(np.abs(t - p), axis=-1)


# ---------------------------------------------------------------------------------------------
# Base classes


class Metric:
    """Base class of stateful metrics.

    Subclasses implement ``update_state``, ``result`` and ``reset_state``, and extend
    ``get_config`` with their own arguments. Calling a metric updates it and returns the
    new result.

    Args:
        name: the name shown in logs; default the snake_case class name.
        dtype: kept for Keras compatibility (state is always float64; results are floats).

    Attributes:
        name: the name used as the key in ``History.history`` and in logs.
    """

    #: "up" when larger is better, "down" when smaller is; None when unknown. Callbacks in
    #: ``mode="auto"`` read it.
    _direction: str | None = None

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: expected `name` to be a string. Received: name={name!r}")
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype if dtype is None or isinstance(dtype, str) else np.dtype(dtype).name

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state()")

    def result(self) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement result()")

    def reset_state(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments as a JSON-friendly dict."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        """Build a metric from the dict that :meth:`get_config` returned."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _samplewise(
    values: np.ndarray, sample_weight: Any, reduce: Callable[..., np.ndarray], who: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Reduce `values` to one value per sample and apply `sample_weight` (Keras's rules)."""
    weight = None
    if sample_weight is not None:
        weight = _array(sample_weight, "sample_weight", who).astype(np.float64)
        values, weight = _match_rank(values, weight)
        if values.ndim > weight.ndim:
            values = reduce(values, axis=tuple(range(weight.ndim, values.ndim)))
        try:
            weight = np.broadcast_to(weight, values.shape)
        except ValueError:
            raise ValueError(
                f"{who}: sample_weight of shape {np.shape(sample_weight)} does not broadcast to the values of "
                f"shape {values.shape}"
            ) from None
        values = values * weight
        if weight.ndim > 1:
            weight = reduce(weight, axis=tuple(range(1, weight.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, weight


class Sum(Metric):
    """The (weighted) sum of the values passed to ``update_state(values, sample_weight)``.

    Example:
        >>> m = Sum()
        >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
        >>> m.result()
        4.0
    """

    def __init__(self, name: str = "sum", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        arr = _array(values, "values", type(self).__name__).astype(np.float64)
        arr, _ = _samplewise(arr, sample_weight, np.sum, type(self).__name__)
        self.total += float(np.sum(arr))

    def result(self) -> float:
        return float(self.total)

    def reset_state(self) -> None:
        self.total = 0.0


class Mean(Metric):
    """The (weighted) running mean of the values passed to ``update_state``.

    Values of rank > 1 are first averaged per sample (over all axes but the first). With a
    `sample_weight`, the result is ``sum(w * v) / sum(w)``; a scalar weight weighs the
    batch's mean as one sample. The trainer uses it to track the loss.

    Example:
        >>> m = Mean()
        >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
        >>> m.result()
        2.0
    """

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        if type(values) is float and type(sample_weight) is int:  # a batch's loss, per step
            self.total += values * sample_weight
            self.count += float(sample_weight)
            return
        who = f"{type(self).__name__} '{self.name}'"
        arr = _array(values, "values", who).astype(np.float64)
        arr, weight = _samplewise(arr, sample_weight, np.mean, who)
        self.total += float(np.sum(arr))
        if weight is not None:
            self.count += float(np.sum(weight))
        else:
            self.count += float(arr.shape[0]) if arr.ndim >= 1 else 1.0

    def result(self) -> float:
        if self.count == 0:
            return 0.0
        return float(self.total / self.count)

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0


class MeanMetricWrapper(Mean):
    """The running mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    Args:
        fn: returns one value per sample (or per position; extra axes are averaged).
        name: default ``"mean_metric_wrapper"`` (``compile`` names it after the function).
        dtype: kept for Keras compatibility.
        **kwargs: passed to `fn` on each update.

    Example:
        >>> m = MeanMetricWrapper(mean_absolute_error, name="mae")
        >>> m.update_state([[1.0, 2.0]], [[2.0, 2.0]])
        >>> m.result()
        0.5
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None, dtype: Any = None, **kwargs: Any) -> None:
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: expected a callable `fn`. Received: fn={fn!r}")
        super().__init__(name=name or "mean_metric_wrapper", dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        fn = self._fn
        fn_name = getattr(fn, "__name__", None)
        config: dict[str, Any] = {"fn": fn_name if _FUNCTIONS.get(fn_name) is fn else fn}
        return {**super().get_config(), **config, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        config = dict(config)
        fn = config.pop("fn", None)
        if isinstance(fn, str):
            if fn not in _FUNCTIONS:
                raise ValueError(
                    f"MeanMetricWrapper: unknown metric function {fn!r}. "
                    f"Valid names are: {', '.join(sorted(_FUNCTIONS))}"
                )
            fn = _FUNCTIONS[fn]
        return cls(fn, **config)


class _FixedFunctionMetric(MeanMetricWrapper):
    """A MeanMetricWrapper whose function is fixed by the class (config has no ``fn``)."""

    _function: Callable[..., Any] = staticmethod(accuracy)
    _default_name = "metric"

    def __init__(self, name: str | None = None, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(type(self)._function, name=name or self._default_name, dtype=dtype, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)


class Accuracy(_FixedFunctionMetric):
    """How often `y_pred` equals `y_true` exactly (for class indices, not probabilities).

    Example:
        >>> m = Accuracy()
        >>> m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
        >>> m.result()
        0.75
    """

    _function = staticmethod(accuracy)
    _default_name = "accuracy"
    _direction = "up"

    def __init__(self, name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)


class BinaryAccuracy(_FixedFunctionMetric):
    """How often ``y_pred > threshold`` matches binary labels.

    Args:
        name: default ``"binary_accuracy"``.
        dtype: kept for Keras compatibility.
        threshold: in ``(0, 1)``; default 0.5.

    Raises:
        ValueError: a `threshold` outside ``(0, 1)``.

    Example:
        >>> m = BinaryAccuracy()
        >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
        >>> m.result()
        0.75
    """

    _function = staticmethod(binary_accuracy)
    _default_name = "binary_accuracy"
    _direction = "up"

    def __init__(self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 < threshold < 1:
            raise ValueError(
                f"BinaryAccuracy: expected `threshold` in the interval (0, 1). Received: threshold={threshold!r}"
            )
        super().__init__(name=name, dtype=dtype, threshold=float(threshold))
        self.threshold = float(threshold)


class CategoricalAccuracy(_FixedFunctionMetric):
    """How often the argmax of `y_pred` matches the argmax of one-hot `y_true`.

    Example:
        >>> m = CategoricalAccuracy()
        >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> m.result()
        0.5
    """

    _function = staticmethod(categorical_accuracy)
    _default_name = "categorical_accuracy"
    _direction = "up"

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)


class SparseCategoricalAccuracy(_FixedFunctionMetric):
    """How often the argmax of `y_pred` matches integer labels (``(N,)`` or ``(N, 1)``).

    Example:
        >>> m = SparseCategoricalAccuracy()
        >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
        >>> m.result()
        0.5
    """

    _function = staticmethod(sparse_categorical_accuracy)
    _default_name = "sparse_categorical_accuracy"
    _direction = "up"

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)


def _check_k(k: Any, who: str) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"{who}: expected `k` to be an integer >= 1. Received: k={k!r}")
    return int(k)


class TopKCategoricalAccuracy(_FixedFunctionMetric):
    """How often the true class (one-hot `y_true`) is among the `k` highest predictions.

    Ties at the k-th score count as in the top `k`.

    Args:
        k: default 5.

    Example:
        >>> m = TopKCategoricalAccuracy(k=1)
        >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> m.result()
        0.5
    """

    _function = staticmethod(top_k_categorical_accuracy)
    _default_name = "top_k_categorical_accuracy"
    _direction = "up"

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Any = None) -> None:
        k = _check_k(k, type(self).__name__)
        super().__init__(name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """How often the integer label is among the `k` highest predictions.

    Args:
        k: default 5.
    """

    _function = staticmethod(sparse_top_k_categorical_accuracy)
    _default_name = "sparse_top_k_categorical_accuracy"

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(k=k, name=name, dtype=dtype)


class MeanSquaredError(_FixedFunctionMetric):
    """Running mean of the per-sample mean squared error.

    Example:
        >>> m = MeanSquaredError()
        >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
        >>> m.result()
        0.25
    """

    _function = staticmethod(mean_squared_error)
    _default_name = "mean_squared_error"
    _direction = "down"

    def __init__(self, name: str = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)


class MeanAbsoluteError(_FixedFunctionMetric):
    """Running mean of the per-sample mean absolute error.

    Example:
        >>> m = MeanAbsoluteError()
        >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
        >>> m.result()
        0.25
    """

    _function = staticmethod(mean_absolute_error)
    _default_name = "mean_absolute_error"
    _direction = "down"

    def __init__(self, name: str = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)


class RootMeanSquaredError(Mean):
    """``sqrt`` of the (weighted) mean squared error over everything seen.

    Example:
        >>> m = RootMeanSquaredError()
        >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
        >>> m.result()
        0.5
    """

    _direction = "down"

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        who = f"RootMeanSquaredError '{self.name}'"
        t = _array(y_true, "y_true", who).astype(np.float64)
        p = _array(y_pred, "y_pred", who).astype(np.float64)
        t, p = _match_rank(t, p)
        _check_same_shape(t, p, who)
        super().update_state(np.square(p - t), sample_weight=sample_weight)

    def result(self) -> float:
        return math.sqrt(super().result())


# ---------------------------------------------------------------------------------------------
# Confusion-matrix metrics

_NEG_INF = -1e10
_EPSILON = 1e-7  # Keras's backend.epsilon()


def _parse_thresholds(thresholds: Any, default: float, who: str) -> tuple[list[float], bool]:
    """Return (thresholds as a list, whether a single value was given)."""
    if thresholds is None:
        return [default], True
    single = isinstance(thresholds, numbers.Real) and not isinstance(thresholds, bool)
    values = [thresholds] if single else list(thresholds)
    for t in values:
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 <= t <= 1:
            raise ValueError(f"{who}: threshold values must be numbers in [0, 1]. Received: thresholds={thresholds!r}")
    if not values:
        raise ValueError(f"{who}: expected at least one threshold. Received: thresholds={thresholds!r}")
    return [float(t) for t in values], single


def _position_weights(sample_weight: Any, shape: tuple, who: str) -> np.ndarray:
    """`sample_weight` broadcast to `shape` (ones when None); a weight array of one rank less
    gives one weight per sample, shared by its positions."""
    if sample_weight is None:
        return np.ones(shape)
    w = _array(sample_weight, "sample_weight", who).astype(np.float64)
    if w.ndim == len(shape) - 1:
        w = w[..., None]
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(
            f"{who}: sample_weight of shape {np.shape(sample_weight)} does not broadcast to y_pred of shape {shape}"
        ) from None


class _ConfusionMetric(Metric):
    """Weighted true/false positive/negative counts at one or more thresholds.

    A prediction is positive when ``y_pred > threshold``; a label is positive when it is
    non-zero. All positions of the batch count (they are flattened); `sample_weight` is
    per sample (broadcast over the other axes) or of the shape of `y_pred`.
    """

    _direction = "up"

    def __init__(
        self,
        thresholds: Any = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        who = type(self).__name__
        if top_k is not None:
            top_k = _check_k(top_k, who)
        if class_id is not None and (
            isinstance(class_id, bool) or not isinstance(class_id, numbers.Integral) or class_id < 0
        ):
            raise ValueError(
                f"{who}: expected `class_id` to be None or an integer >= 0. Received: class_id={class_id!r}"
            )
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = None if class_id is None else int(class_id)
        self.thresholds, self._single = _parse_thresholds(thresholds, 0.5 if top_k is None else _NEG_INF, who)
        self._t = np.asarray(self.thresholds, dtype=np.float64)
        self.reset_state()

    def reset_state(self) -> None:
        n = len(self.thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.true_negatives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def _prepare(self, y_true: Any, y_pred: Any, sample_weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        who = f"{type(self).__name__} '{self.name}'"
        p = _array(y_pred, "y_pred", who).astype(np.float64)
        t = _array(y_true, "y_true", who)
        p, t = _match_rank(p, t)
        if t.shape != p.shape:
            raise ValueError(
                f"{who}: y_true and y_pred must have the same shape. "
                f"Received: y_true.shape={t.shape}, y_pred.shape={p.shape}"
            )
        w = _position_weights(sample_weight, p.shape, who)
        if self.top_k is not None:
            if p.ndim == 0:
                raise ValueError(f"{who}: top_k needs y_pred with a class axis. Received: shape={p.shape}")
            order = np.argsort(-p, axis=-1, kind="stable")
            keep = np.zeros(p.shape, dtype=bool)
            np.put_along_axis(keep, order[..., : self.top_k], True, axis=-1)
            p = np.where(keep, p, _NEG_INF)
        if self.class_id is not None:
            if p.ndim < 2 or self.class_id >= p.shape[-1]:
                raise ValueError(
                    f"{who}: class_id={self.class_id} needs y_pred of shape (N, C) with C > class_id. "
                    f"Received: shape={p.shape}"
                )
            p, t, w = p[..., self.class_id], t[..., self.class_id], w[..., self.class_id]
        return t.reshape(-1) != 0, p.reshape(-1), w.reshape(-1)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        label, pred, weight = self._prepare(y_true, y_pred, sample_weight)
        pos = pred[None, :] > self._t[:, None]  # (thresholds, positions)
        wl = weight * label
        wn = weight * ~label
        self.true_positives += pos @ wl
        self.false_positives += pos @ wn
        self.false_negatives += wl.sum() - pos @ wl
        self.true_negatives += wn.sum() - pos @ wn

    def _finish(self, values: np.ndarray) -> Any:
        return float(values[0]) if self._single else [float(v) for v in values]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_ConfusionMetric):
    """``tp / (tp + fp)`` at `thresholds` (0 when nothing was predicted positive).

    Args:
        thresholds: a float or a list of floats in ``[0, 1]``; default 0.5 (or, with
            `top_k`, every kept prediction counts). With a list, :meth:`result` returns a
            list.
        top_k: only the `top_k` highest predictions of each row can be positive.
        class_id: only this class (last axis) counts.
        name: default ``"precision"``.

    Example:
        >>> m = Precision()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> round(m.result(), 4)
        0.6667
    """

    def result(self) -> Any:
        return self._finish(_divide(self.true_positives, self.true_positives + self.false_positives))


class Recall(_ConfusionMetric):
    """``tp / (tp + fn)`` at `thresholds` (0 when there were no positive labels).

    Arguments as :class:`Precision`; the default name is ``"recall"``.

    Example:
        >>> m = Recall()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> round(m.result(), 4)
        0.6667
    """

    def result(self) -> Any:
        return self._finish(_divide(self.true_positives, self.true_positives + self.false_negatives))


class AUC(_ConfusionMetric):
    """Area under the ROC or precision-recall curve, from counts at fixed thresholds.

    Args:
        num_thresholds: number of thresholds (> 1), evenly spaced in ``[0, 1]`` with the end
            points nudged outwards by 1e-7 so that predictions of exactly 0 and 1 are counted.
        curve: ``"ROC"`` or ``"PR"``.
        summation_method: ``"interpolation"`` (trapezoids for ROC; for PR, precision
            interpolated between thresholds as in Davis & Goadrich, 2006), ``"minoring"``
            or ``"majoring"`` (lower / upper Riemann sums).
        name: default ``"auc"``.
        thresholds: explicit thresholds in ``[0, 1]`` instead of `num_thresholds` (the end
            points are added).
        from_logits: apply a sigmoid to `y_pred` first.

    Example:
        >>> m = AUC(num_thresholds=3)
        >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
        >>> m.result()
        0.75
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: Any = None,
        thresholds: Sequence[float] | None = None,
        from_logits: bool = False,
    ) -> None:
        who = "AUC"
        curve_u = curve.upper() if isinstance(curve, str) else curve
        if curve_u not in ("ROC", "PR"):
            raise ValueError(f"{who}: expected `curve` to be 'ROC' or 'PR'. Received: curve={curve!r}")
        method = summation_method.lower() if isinstance(summation_method, str) else summation_method
        if method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(
                f"{who}: expected `summation_method` to be 'interpolation', 'minoring' or 'majoring'. "
                f"Received: summation_method={summation_method!r}"
            )
        if thresholds is not None:
            inner, _ = _parse_thresholds(list(thresholds), 0.5, who)
            inner = sorted(inner)
            self._init_num_thresholds = None
        else:
            if (
                isinstance(num_thresholds, bool)
                or not isinstance(num_thresholds, numbers.Integral)
                or num_thresholds <= 1
            ):
                raise ValueError(
                    f"{who}: expected `num_thresholds` to be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds!r}"
                )
            n = int(num_thresholds)
            inner = [(i + 1) / (n - 1) for i in range(n - 2)]
            self._init_num_thresholds = n
        all_thresholds = [0.0 - 1e-7, *inner, 1.0 + 1e-7]
        self.num_thresholds = len(all_thresholds)
        self.curve = curve_u
        self.summation_method = method
        self.from_logits = bool(from_logits)
        self._user_thresholds = None if thresholds is None else list(inner)
        Metric.__init__(self, name=name, dtype=dtype)
        self.init_thresholds = None
        self.top_k = None
        self.class_id = None
        self.thresholds = all_thresholds
        self._single = False
        self._t = np.asarray(all_thresholds, dtype=np.float64)
        self.reset_state()

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if self.from_logits:
            p = _array(y_pred, "y_pred", f"AUC '{self.name}'").astype(np.float64)
            y_pred = 0.5 * (1.0 + np.tanh(0.5 * p))  # a sigmoid that does not overflow
        super().update_state(y_true, y_pred, sample_weight)

    def _pr_interpolated(self) -> float:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        p = tp + fp
        d_tp = tp[:-1] - tp[1:]
        d_p = p[:-1] - p[1:]
        # Between neighbouring thresholds TP grows linearly with P: TP = slope * P + intercept,
        # so precision TP / P integrates in closed form over the bucket.
        slope = _divide(d_tp, np.maximum(d_p, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increments = _divide(slope * (d_tp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return float(increments.sum())

    def result(self) -> float:
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._pr_interpolated()
        recall = _divide(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide(fp, fp + tn), recall
        else:
            x, y = recall, _divide(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def get_config(self) -> dict[str, Any]:
        config = {
            "name": self.name,
            "dtype": self.dtype,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "from_logits": self.from_logits,
        }
        if self._user_thresholds is not None:
            config["thresholds"] = list(self._user_thresholds)
        else:
            config["num_thresholds"] = self._init_num_thresholds
        return config


def _check_fraction(value: Any, what: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{who}: expected `{what}` to be a number in [0, 1]. Received: {what}={value!r}")
    return float(value)


class _ConstrainedCurveMetric(_ConfusionMetric):
    """The best value of one rate among the thresholds where another rate reaches a target.

    Counts are kept at `num_thresholds` thresholds ``0, 1/(n-1), ..., 1`` (only 0.5 when
    ``num_thresholds=1``) as Keras does: predictions are clipped to ``[0, 1]`` and a
    prediction is positive at threshold ``j / (n-1)`` when ``ceil(p * (n-1)) - 1 >= j``
    (``p > j / (n-1)``, computed in float32). The result is the largest `dependent` rate among
    thresholds whose `constrained` rate is ``>= value``, or 0 when none is.
    """

    _target = ""  # the name of the target argument ("recall", "precision", ...)
    _rates: tuple[str, str] = ("sensitivity", "precision")  # the constrained rate, the maximized one

    def __init__(self, value: Any, num_thresholds: int = 200, class_id: int | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        who = type(self).__name__
        value = _check_fraction(value, self._target, who)
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, numbers.Integral) or num_thresholds < 1:
            raise ValueError(
                f"{who}: expected `num_thresholds` to be an integer > 0. Received: num_thresholds={num_thresholds!r}"
            )
        n = int(num_thresholds)
        thresholds = [0.5] if n == 1 else [0.0, *[(i + 1) / (n - 1) for i in range(n - 2)], 1.0]
        super().__init__(thresholds=thresholds, class_id=class_id, name=name, dtype=dtype)
        self.num_thresholds = n
        self.value = value
        setattr(self, self._target, value)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if self.num_thresholds == 1:
            super().update_state(y_true, y_pred, sample_weight)
            return
        label, pred, weight = self._prepare(y_true, y_pred, sample_weight)
        n = self.num_thresholds
        p32 = np.clip(pred, 0.0, 1.0).astype(np.float32)
        bucket = (np.ceil(p32 * np.float32(n - 1)) - np.float32(1.0)).astype(np.int64)
        counted = bucket >= 0
        wl = weight * label
        wn = weight * ~label

        def above(w: np.ndarray) -> np.ndarray:
            per_bucket = np.bincount(bucket[counted], weights=w[counted], minlength=n)
            return np.cumsum(per_bucket[::-1])[::-1]

        tp, fp = above(wl), above(wn)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += wl.sum() - tp
        self.true_negatives += wn.sum() - fp

    def result(self) -> float:
        constrained, dependent = (getattr(self, f"_{rate}")() for rate in self._rates)
        feasible = constrained >= self.value
        return float(np.max(np.where(feasible, dependent, 0.0), initial=0.0))

    def _sensitivity(self) -> np.ndarray:
        return _divide(self.true_positives, self.true_positives + self.false_negatives)

    def _specificity(self) -> np.ndarray:
        return _divide(self.true_negatives, self.true_negatives + self.false_positives)

    def _precision(self) -> np.ndarray:
        return _divide(self.true_positives, self.true_positives + self.false_positives)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self._target: self.value}


_CURVE_ARGS = """
    Args:
        {target}: the target rate, in ``[0, 1]``.
        num_thresholds: number of thresholds evenly spaced in ``[0, 1]`` (an integer > 0;
            1 means the single threshold 0.5); default 200.
        class_id: only this class (last axis of ``(N, C)`` predictions) counts.
        name: default ``"{name}"``.
        dtype: kept for Keras compatibility.

    Raises:
        ValueError: `{target}` outside ``[0, 1]``, `num_thresholds` not an integer > 0,
            `class_id` not an integer >= 0; at update, shapes that differ or a `class_id`
            outside the class axis.
"""


class PrecisionAtRecall(_ConstrainedCurveMetric):
    __doc__ = """The best precision among the thresholds where the recall is ``>= recall``.
    """ + _CURVE_ARGS.format(target="recall", name="precision_at_recall") + """
    Example:
        >>> m = PrecisionAtRecall(0.5, num_thresholds=5)
        >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
        >>> m.result()
        0.5
    """

    _target = "recall"
    _rates = ("sensitivity", "precision")  # constrained, dependent

    def __init__(self, recall: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(recall, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


class RecallAtPrecision(_ConstrainedCurveMetric):
    __doc__ = """The best recall among the thresholds where the precision is ``>= precision``.
    """ + _CURVE_ARGS.format(target="precision", name="recall_at_precision") + """
    Example:
        >>> m = RecallAtPrecision(0.8, num_thresholds=5)
        >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
        >>> m.result()
        0.5
    """

    _target = "precision"
    _rates = ("precision", "sensitivity")  # constrained, dependent

    def __init__(self, precision: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(precision, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


class SensitivityAtSpecificity(_ConstrainedCurveMetric):
    __doc__ = """The best sensitivity (recall) among the thresholds where the specificity
    ``tn / (tn + fp)`` is ``>= specificity``.
    """ + _CURVE_ARGS.format(target="specificity", name="sensitivity_at_specificity") + """
    Example:
        >>> m = SensitivityAtSpecificity(0.5, num_thresholds=5)
        >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
        >>> m.result()
        0.5
    """

    _target = "specificity"
    _rates = ("specificity", "sensitivity")  # constrained, dependent

    def __init__(self, specificity: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(specificity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


class SpecificityAtSensitivity(_ConstrainedCurveMetric):
    __doc__ = """The best specificity ``tn / (tn + fp)`` among the thresholds where the
    sensitivity (recall) is ``>= sensitivity``.
    """ + _CURVE_ARGS.format(target="sensitivity", name="specificity_at_sensitivity") + """
    Example:
        >>> m = SpecificityAtSensitivity(0.5, num_thresholds=5)
        >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
        >>> round(m.result(), 4)
        0.6667
    """

    _target = "sensitivity"
    _rates = ("sensitivity", "specificity")  # constrained, dependent

    def __init__(self, sensitivity: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(sensitivity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Correlations


def _correlation_inputs(y_true: Any, y_pred: Any, axis: Any, who: str) -> tuple[np.ndarray, np.ndarray, tuple]:
    """`y_true` and `y_pred` as float64 arrays of one shape (ranks matched as Keras does) and
    `axis` as a tuple of non-negative axes."""
    t = _array(y_true, "y_true", who).astype(np.float64)
    p = _array(y_pred, "y_pred", who).astype(np.float64)
    t, p = _match_rank(t, p)
    try:
        t, p = np.broadcast_arrays(t, p)
    except ValueError:
        raise ValueError(
            f"{who}: y_true and y_pred have incompatible shapes: y_true.shape={t.shape}, y_pred.shape={p.shape}"
        ) from None
    axes = _check_axes(axis, who)
    if p.ndim == 0:
        raise ValueError(f"{who}: expected arrays of rank >= 1. Received: y_pred.shape={p.shape}")
    resolved = tuple(sorted({_class_axis(a, p.ndim, who) for a in axes}))
    if len(resolved) != len(axes):
        raise ValueError(f"{who}: `axis` repeats an axis. Received: axis={axis!r}")
    if any(p.shape[a] == 0 for a in resolved):
        raise ValueError(f"{who}: expected a non-empty axis to reduce. Received: y_pred.shape={p.shape}")
    return t, p, resolved


def _check_axes(axis: Any, who: str) -> tuple[int, ...]:
    values = axis if isinstance(axis, (list, tuple)) else (axis,)
    if not values or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in values):
        raise ValueError(f"{who}: expected `axis` to be an integer or a tuple of integers. Received: axis={axis!r}")
    return tuple(int(a) for a in values)


def pearson_correlation(y_true: Any, y_pred: Any, axis: Any = -1) -> np.ndarray:
    """Pearson's correlation of `y_true` and `y_pred` along `axis` (population standard
    deviations; NaN where either is constant), as Keras 3 computes it.

    Example:
        >>> np.round(pearson_correlation([[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5], [1, 0.9, 0.2]]), 4)
        array([1.    , 0.9934])
    """
    t, p, axes = _correlation_inputs(y_true, y_pred, axis, "pearson_correlation")
    with np.errstate(divide="ignore", invalid="ignore"):
        tc = t - t.mean(axis=axes, keepdims=True)
        pc = p - p.mean(axis=axes, keepdims=True)
        tc = tc / tc.std(axis=axes, keepdims=True)
        pc = pc / pc.std(axis=axes, keepdims=True)
        return np.mean(tc * pc, axis=axes)


def concordance_correlation(y_true: Any, y_pred: Any, axis: Any = -1) -> np.ndarray:
    """Lin's concordance correlation along `axis`, as Keras 3 computes it::

        mean(2 * (y_true - mean(y_pred)) * (y_pred - mean(y_pred))
             / (var(y_true) + var(y_pred) + (mean(y_true) - mean(y_pred)) ** 2 + 1e-7))

    (Keras centres `y_true` on the mean of `y_pred` in the cross term; this follows it.)

    Example:
        >>> np.round(concordance_correlation([[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5], [1, 0.9, 0.2]]), 4)
        array([0.9756, 0.9877])
    """
    t, p, axes = _correlation_inputs(y_true, y_pred, axis, "concordance_correlation")
    t_mean = t.mean(axis=axes, keepdims=True)
    p_mean = p.mean(axis=axes, keepdims=True)
    norm = (t - t_mean).var(axis=axes, keepdims=True) + (p - p_mean).var(axis=axes, keepdims=True)
    norm = norm + (t_mean - p_mean) ** 2
    return np.mean(2.0 * (t - p_mean) * (p - p_mean) / (norm + _EPSILON), axis=axes)


class _CorrelationMetric(_FixedFunctionMetric):
    """The running (weighted) mean of a correlation computed along `axis` for each update."""

    _direction = "up"

    def __init__(self, name: str | None = None, dtype: Any = None, axis: Any = -1) -> None:
        axes = _check_axes(axis, type(self).__name__)
        axis = axes[0] if isinstance(axis, numbers.Integral) else axes
        super().__init__(name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis if isinstance(self.axis, int) else list(self.axis)}


_CORRELATION_DOC = """Running mean of :func:`{fn}` along `axis` (one value per row for
    ``axis=-1``; a batch of rank 1 gives one value for the batch). Larger is better.

    Args:
        name: default ``"{fn}"``.
        dtype: kept for Keras compatibility.
        axis: an integer or a tuple of integers; default -1.

    Raises:
        ValueError: a bad `axis`; at update, shapes that do not match.

    Example:
        >>> m = {cls}()
        >>> m.update_state([[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5], [1, 0.9, 0.2]])
        >>> round(m.result(), 4)
        {value}
    """


class PearsonCorrelation(_CorrelationMetric):
    __doc__ = _CORRELATION_DOC.format(fn="pearson_correlation", cls="PearsonCorrelation", value="0.9967")
    _function = staticmethod(pearson_correlation)
    _default_name = "pearson_correlation"


class ConcordanceCorrelation(_CorrelationMetric):
    __doc__ = _CORRELATION_DOC.format(fn="concordance_correlation", cls="ConcordanceCorrelation", value="0.9816")
    _function = staticmethod(concordance_correlation)
    _default_name = "concordance_correlation"


# ---------------------------------------------------------------------------------------------
# Resolution of identifiers

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        accuracy,
        binary_accuracy,
        categorical_accuracy,
        sparse_categorical_accuracy,
        top_k_categorical_accuracy,
        sparse_top_k_categorical_accuracy,
        mean_squared_error,
        mean_absolute_error,
        pearson_correlation,
        concordance_correlation,
    )
}

class _Count(_ConfusionMetric):
    """One of the weighted confusion counts at `thresholds` (a float, or a list giving a list
    of counts); a prediction is positive when ``y_pred > threshold``."""

    _count = ""

    def __init__(self, thresholds: Any = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def result(self) -> Any:
        return self._finish(getattr(self, self._count))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("top_k")
        config.pop("class_id")
        return config


class TruePositives(_Count):
    """Weighted count of positive labels predicted positive."""

    _count = "true_positives"


class FalsePositives(_Count):
    """Weighted count of negative labels predicted positive."""

    _count = "false_positives"
    _direction = "down"


class TrueNegatives(_Count):
    """Weighted count of negative labels predicted negative."""

    _count = "true_negatives"


class FalseNegatives(_Count):
    """Weighted count of positive labels predicted negative."""

    _count = "false_negatives"
    _direction = "down"


def _check_axis(axis: Any, who: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise ValueError(f"{who}: expected `axis` to be an integer. Received: axis={axis!r}")
    return int(axis)


def _check_flag(value: Any, what: str, who: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{who}: expected `{what}` to be a bool. Received: {what}={value!r}")
    return bool(value)


def _class_axis(axis: int, ndim: int, who: str, what: str = "y_pred") -> int:
    """`axis` of an array of rank `ndim` as a non-negative index."""
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{who}: expected `axis` in [{-ndim}, {ndim}) for {what} of rank {ndim}. Received: axis={axis}"
        )
    return axis % ndim


def _dense_rows(y_true: Any, y_pred: Any, who: str, axis: int = -1) -> tuple[np.ndarray, np.ndarray, tuple]:
    """`y_true` and `y_pred` as float64 ``(rows, C)`` arrays with the reduced axis `axis` last
    (ranks matched as Keras does, shapes broadcast), and the shape of the per-sample values."""
    t = _array(y_true, "y_true", who).astype(np.float64)
    p = _array(y_pred, "y_pred", who).astype(np.float64)
    t, p = _match_rank(t, p)
    try:
        t, p = np.broadcast_arrays(t, p)
    except ValueError:
        raise ValueError(
            f"{who}: y_true and y_pred have incompatible shapes: y_true.shape={t.shape}, y_pred.shape={p.shape}"
        ) from None
    if p.ndim == 0:
        t, p = t.reshape(1), p.reshape(1)
    ax = _class_axis(axis, p.ndim, who)
    t, p = np.moveaxis(t, ax, -1), np.moveaxis(p, ax, -1)
    shape = p.shape[:-1]
    if p.shape[-1] == 0:
        raise ValueError(
            f"{who}: expected a non-empty axis {axis} to reduce. Received: y_pred.shape={np.shape(y_pred)}"
        )
    rows = int(np.prod(shape, dtype=np.int64))
    return t.reshape(rows, p.shape[-1]), p.reshape(rows, p.shape[-1]), shape


def _loss_values(make_loss: Callable[..., Any], y_true: Any, y_pred: Any, who: str, axis: int = -1,
                 **options: Any) -> np.ndarray:
    """Per-sample values of the loss ``make_loss(**options)``, reduced over `axis`: the native
    kernel for the cross-entropies, the loss's float64 rows otherwise."""
    t, p, shape = _dense_rows(y_true, y_pred, who, axis)
    if not t.shape[0]:
        return np.zeros(shape)
    loss = make_loss(**options)
    values = loss._run(t, p, None, want_grad=False)[2] if loss.kernel else loss._rows(t, p)[0]
    return np.asarray(values, dtype=np.float64).reshape(shape)


def _cosine_values(y_true: Any, y_pred: Any, who: str, axis: int = -1) -> np.ndarray:
    """``sum(l2_normalize(y_true) * l2_normalize(y_pred))`` over `axis` (the loss negated)."""
    return -_loss_values(_losses.CosineSimilarity, y_true, y_pred, who, axis)


def _whole_labels(values: np.ndarray, what: str, who: str) -> np.ndarray:
    """Class ids given as numbers, as int64; NaN, Inf or fractions raise."""
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.rint(np.where(np.isfinite(values), values, 0)))
        if bad.any():
            raise ValueError(
                f"{who}: expected {what} to hold integer class ids. Received: {float(values[bad].reshape(-1)[0])!r}"
            )
    return values.astype(np.int64)


def _sparse_values(y_true: Any, y_pred: Any, who: str, from_logits: bool = False, ignore_class: int | None = None,
                   axis: int = -1) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-sample sparse categorical cross-entropy (class axis `axis` of `y_pred`) and, with
    `ignore_class`, the mask of the labels that count (ignored ones have the value 0)."""
    p = _array(y_pred, "y_pred", who)
    t = _array(y_true, "y_true", who)
    if p.ndim == 0:
        raise ValueError(f"{who}: expected y_pred with a class axis. Received: y_pred.shape={p.shape}")
    ax = _class_axis(axis, p.ndim, who)
    if t.ndim == p.ndim and t.shape[ax] == 1:
        t = np.squeeze(t, axis=ax)
    p = np.moveaxis(p, ax, -1)
    shape, num_classes = p.shape[:-1], p.shape[-1]
    if t.shape != shape:
        raise ValueError(
            f"{who}: expected integer labels of shape {shape} for y_pred of shape {np.shape(y_pred)} "
            f"(class axis {axis}). Received: y_true.shape={np.shape(y_true)}"
        )
    labels = _whole_labels(t, "y_true", who)
    valid = None if ignore_class is None else labels != ignore_class
    counted = labels if valid is None else labels[valid]
    if counted.size and (counted.min() < 0 or counted.max() >= num_classes):
        raise ValueError(
            f"{who}: expected labels in [0, {num_classes}) (the size of the class axis of y_pred). "
            f"Received labels in [{counted.min()}, {counted.max()}]"
        )
    if valid is not None:
        labels = np.where(valid, labels, 0)
    rows = int(np.prod(shape, dtype=np.int64))
    if not rows:
        return np.zeros(shape), valid
    loss = _losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    values = np.asarray(loss._run(labels.reshape(rows), p.reshape(rows, num_classes), None, want_grad=False)[2],
                        dtype=np.float64).reshape(shape)
    return (values, valid) if valid is None else (np.where(valid, values, 0.0), valid)


def _sparse_mean_values(y_true: Any, y_pred: Any, who: str, **options: Any) -> np.ndarray:
    return _sparse_values(y_true, y_pred, who, **options)[0]


def _metric_function(values: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``fn(y_true, y_pred, **options)``: the per-sample `values`, errors naming `name`."""

    def fn(y_true: Any, y_pred: Any, **options: Any) -> np.ndarray:
        return values(y_true, y_pred, name, **options)

    fn.__name__ = name
    return fn


class _RowLossMetric(_FixedFunctionMetric):
    """Running (weighted) mean of per-sample values ``_values(y_true, y_pred, who, **options)``,
    the options being the metric's arguments (kept in its config)."""

    _direction = "down"
    _values: Callable[..., Any]

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self._init(name, dtype)

    def _init(self, name: str | None, dtype: Any, **options: Any) -> None:
        values = type(self)._values
        MeanMetricWrapper.__init__(self, _metric_function(values, self._default_name),
                                   name=name or self._default_name, dtype=dtype, **options)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        who = f"{type(self).__name__} '{self.name}'"
        values = type(self)._values(y_true, y_pred, who, **self._fn_kwargs)
        Mean.update_state(self, values, sample_weight=sample_weight)


class MeanAbsolutePercentageError(_RowLossMetric):
    """Running mean of ``100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7))`` per sample."""

    _values = staticmethod(functools.partial(_loss_values, _losses.MeanAbsolutePercentageError))
    _default_name = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(_RowLossMetric):
    """Running mean of the per-sample mean squared logarithmic error."""

    _values = staticmethod(functools.partial(_loss_values, _losses.MeanSquaredLogarithmicError))
    _default_name = "mean_squared_logarithmic_error"


class LogCoshError(_RowLossMetric):
    """Running mean of the per-sample mean of ``log(cosh(y_pred - y_true))``."""

    _values = staticmethod(functools.partial(_loss_values, _losses.LogCosh))
    _default_name = "logcosh"


def _crossentropy_options(who: str, from_logits: Any, label_smoothing: Any) -> dict[str, Any]:
    return {"from_logits": _check_flag(from_logits, "from_logits", who),
            "label_smoothing": _losses._real(label_smoothing, "label_smoothing", who, 0.0, 1.0)}


class BinaryCrossentropy(_RowLossMetric):
    """Running mean of the binary cross-entropy of each sample (the mean over the last axis),
    as :class:`pynncore.losses.BinaryCrossentropy` computes it.

    Args:
        name: default ``"binary_crossentropy"``.
        dtype: kept for Keras compatibility.
        from_logits: `y_pred` holds logits rather than probabilities.
        label_smoothing: in ``[0, 1]``; labels become ``y * (1 - s) + s / 2``.

    Call arguments (``update_state``):
        y_true: labels in ``[0, 1]``, the shape of `y_pred` (or with one axis less or more of
            size 1).
        y_pred: probabilities (or logits), e.g. ``(N, 1)`` or ``(N, K)``.
        sample_weight: a scalar, one weight per sample ``(N,)``, or per value.

    Raises:
        ValueError: a bad argument, incompatible shapes.

    Example:
        >>> m = BinaryCrossentropy()
        >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
        >>> round(m.result(), 4)
        0.8149
    """

    _values = staticmethod(functools.partial(_loss_values, _losses.BinaryCrossentropy))
    _default_name = "binary_crossentropy"

    def __init__(self, name: str = "binary_crossentropy", dtype: Any = None, from_logits: bool = False,
                 label_smoothing: float = 0) -> None:
        self._init(name, dtype, **_crossentropy_options("BinaryCrossentropy", from_logits, label_smoothing))
        self.from_logits = self._fn_kwargs["from_logits"]
        self.label_smoothing = self._fn_kwargs["label_smoothing"]


class CategoricalCrossentropy(_RowLossMetric):
    """Running mean of the categorical cross-entropy of each sample, for one-hot (or soft)
    labels, over the class axis `axis`.

    Args:
        name: default ``"categorical_crossentropy"``.
        dtype: kept for Keras compatibility.
        from_logits: `y_pred` holds logits rather than probabilities.
        label_smoothing: in ``[0, 1]``; labels become ``y * (1 - s) + s / C``.
        axis: the class axis; default -1.

    Call arguments (``update_state``):
        y_true: one-hot labels, the shape of `y_pred`.
        y_pred: probabilities (or logits), e.g. ``(N, C)``.
        sample_weight: a scalar, one weight per sample ``(N,)``, or per value.

    Raises:
        ValueError: a bad argument, different shapes, an `axis` outside the rank.

    Example:
        >>> m = CategoricalCrossentropy()
        >>> m.update_state([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
        >>> round(m.result(), 4)
        1.1769
    """

    _values = staticmethod(functools.partial(_loss_values, _losses.CategoricalCrossentropy))
    _default_name = "categorical_crossentropy"

    def __init__(self, name: str = "categorical_crossentropy", dtype: Any = None, from_logits: bool = False,
                 label_smoothing: float = 0, axis: int = -1) -> None:
        who = "CategoricalCrossentropy"
        self._init(name, dtype, **_crossentropy_options(who, from_logits, label_smoothing), axis=_check_axis(axis, who))
        self.from_logits = self._fn_kwargs["from_logits"]
        self.label_smoothing = self._fn_kwargs["label_smoothing"]
        self.axis = self._fn_kwargs["axis"]


class SparseCategoricalCrossentropy(_RowLossMetric):
    """Running mean of the cross-entropy of integer labels against class scores.

    With `ignore_class`, labels equal to it give the value 0; as in Keras, they are also left
    out of the count when a `sample_weight` is passed (their weight becomes 0), and counted
    as zeros otherwise.

    Args:
        name: default ``"sparse_categorical_crossentropy"``.
        dtype: kept for Keras compatibility.
        from_logits: `y_pred` holds logits rather than probabilities.
        ignore_class: ``None`` or an integer label to leave out.
        axis: the class axis of `y_pred`; default -1.

    Call arguments (``update_state``):
        y_true: integer labels, the shape of `y_pred` without the class axis (or with it of
            size 1).
        y_pred: probabilities (or logits), e.g. ``(N, C)``.
        sample_weight: a scalar, one weight per sample ``(N,)``, or per label.

    Raises:
        ValueError: a bad argument, a label shape that does not fit `y_pred`, labels that are
            not whole numbers or lie outside ``[0, C)``.

    Example:
        >>> m = SparseCategoricalCrossentropy()
        >>> m.update_state([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
        >>> round(m.result(), 4)
        1.1769
    """

    _values = staticmethod(_sparse_mean_values)
    _default_name = "sparse_categorical_crossentropy"

    def __init__(self, name: str = "sparse_categorical_crossentropy", dtype: Any = None, from_logits: bool = False,
                 ignore_class: int | None = None, axis: int = -1) -> None:
        who = "SparseCategoricalCrossentropy"
        if ignore_class is not None and (
            isinstance(ignore_class, bool) or not isinstance(ignore_class, numbers.Integral)
        ):
            raise ValueError(
                f"{who}: expected `ignore_class` to be None or an integer. Received: ignore_class={ignore_class!r}"
            )
        self._init(name, dtype, from_logits=_check_flag(from_logits, "from_logits", who),
                   ignore_class=None if ignore_class is None else int(ignore_class), axis=_check_axis(axis, who))
        self.from_logits = self._fn_kwargs["from_logits"]
        self.ignore_class = self._fn_kwargs["ignore_class"]
        self.axis = self._fn_kwargs["axis"]

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        who = f"{type(self).__name__} '{self.name}'"
        values, valid = _sparse_values(y_true, y_pred, who, **self._fn_kwargs)
        if valid is not None and sample_weight is not None:
            w = _array(sample_weight, "sample_weight", who).astype(np.float64)
            if w.ndim < valid.ndim:
                w = w.reshape(w.shape + (1,) * (valid.ndim - w.ndim))
            try:
                sample_weight = w * valid
            except ValueError:
                raise ValueError(
                    f"{who}: sample_weight of shape {np.shape(sample_weight)} does not broadcast to the labels "
                    f"of shape {valid.shape}"
                ) from None
        Mean.update_state(self, values, sample_weight=sample_weight)


class KLDivergence(_RowLossMetric):
    """Running mean of ``sum(y_true * log(y_true / y_pred))`` per sample (both clipped to
    ``[1e-7, 1]``).

    Example:
        >>> m = KLDivergence()
        >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
        >>> round(m.result(), 4)
        0.4581
    """

    _values = staticmethod(functools.partial(_loss_values, _losses.KLDivergence))
    _default_name = "kl_divergence"


class Poisson(_RowLossMetric):
    """Running mean of ``mean(y_pred - y_true * log(y_pred + 1e-7))`` per sample.

    Example:
        >>> m = Poisson()
        >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
        >>> round(m.result(), 4)
        0.5
    """

    _values = staticmethod(functools.partial(_loss_values, _losses.Poisson))
    _default_name = "poisson"


class Hinge(_RowLossMetric):
    """Running mean of ``mean(max(1 - y_true * y_pred, 0))`` per sample; labels of 0 and 1
    only (over the whole batch) are taken as -1 and 1.

    Example:
        >>> m = Hinge()
        >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
        >>> round(m.result(), 4)
        1.3
    """

    _values = staticmethod(functools.partial(_loss_values, _losses.Hinge))
    _default_name = "hinge"


class SquaredHinge(_RowLossMetric):
    """Running mean of ``mean(max(1 - y_true * y_pred, 0) ** 2)`` per sample; labels of 0
    and 1 only are taken as -1 and 1.

    Example:
        >>> m = SquaredHinge()
        >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
        >>> round(m.result(), 4)
        1.86
    """

    _values = staticmethod(functools.partial(_loss_values, _losses.SquaredHinge))
    _default_name = "squared_hinge"


class CategoricalHinge(_RowLossMetric):
    """Running mean of ``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` per
    sample.

    Example:
        >>> m = CategoricalHinge()
        >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
        >>> round(m.result(), 4)
        1.4
    """

    _values = staticmethod(functools.partial(_loss_values, _losses.CategoricalHinge))
    _default_name = "categorical_hinge"


class CosineSimilarity(_RowLossMetric):
    """Running mean of the cosine similarity ``sum(l2_normalize(y_true) * l2_normalize(y_pred))``
    over `axis` (1 for parallel vectors; norms below 1e-7 are taken as 1e-7). Larger is
    better.

    Args:
        name: default ``"cosine_similarity"``.
        dtype: kept for Keras compatibility.
        axis: the axis along which the similarity is computed; default -1.

    Example:
        >>> m = CosineSimilarity()
        >>> m.update_state([[0, 1], [1, 1]], [[1, 0], [1, 1]])
        >>> round(m.result(), 4)
        0.5
    """

    _direction = "up"
    _values = staticmethod(_cosine_values)
    _default_name = "cosine_similarity"

    def __init__(self, name: str = "cosine_similarity", dtype: Any = None, axis: int = -1) -> None:
        self._init(name, dtype, axis=_check_axis(axis, "CosineSimilarity"))
        self.axis = self._fn_kwargs["axis"]


# ---------------------------------------------------------------------------------------------
# F-scores and R2


_F_AVERAGES = (None, "micro", "macro", "weighted")


class _PerColumnMetric(Metric):
    """A metric over 2-D inputs ``(N, C)`` whose state holds one value per column; `C` is
    fixed by the first update and kept by ``reset_state``."""

    _state: tuple[str, ...] = ()
    _columns = "columns"

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self._width: int | None = None
        self.reset_state()

    def reset_state(self) -> None:
        for attr in self._state:
            setattr(self, attr, np.zeros(self._width or 0))

    def _inputs(self, y_true: Any, y_pred: Any, who: str, match_rank: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """`y_true` and `y_pred` as float64 ``(N, C)`` arrays of one shape, `C` as before."""
        t = _array(y_true, "y_true", who).astype(np.float64)
        p = _array(y_pred, "y_pred", who).astype(np.float64)
        if match_rank:
            t, p = _match_rank(t, p)
        if t.ndim != 2 or p.ndim != 2:
            raise ValueError(
                f"{who}: expected 2D inputs with shape (batch_size, output_dim). "
                f"Received: y_true.shape={t.shape}, y_pred.shape={p.shape}"
            )
        if t.shape != p.shape:
            raise ValueError(
                f"{who}: y_true and y_pred must have the same shape. "
                f"Received: y_true.shape={t.shape}, y_pred.shape={p.shape}"
            )
        if self._width is None:
            self._width = p.shape[1]
            self.reset_state()
        elif p.shape[1] != self._width:
            raise ValueError(
                f"{who}: expected {self._width} {self._columns}, as in the first update. "
                f"Received: y_pred.shape={p.shape}"
            )
        return t, p


def _row_weights(sample_weight: Any, n: int, who: str) -> np.ndarray | None:
    """`sample_weight` as one weight per row ``(n, 1)``: a scalar, ``(n,)`` or ``(n, 1)``."""
    if sample_weight is None:
        return None
    w = _array(sample_weight, "sample_weight", who).astype(np.float64)
    if w.ndim == 0:
        return np.full((n, 1), float(w))
    if w.shape not in ((n,), (n, 1)):
        raise ValueError(
            f"{who}: expected sample_weight of shape ({n},) (one weight per sample). "
            f"Received: sample_weight.shape={w.shape}"
        )
    return w.reshape(n, 1)


class FBetaScore(_PerColumnMetric):
    """The F-beta score, the weighted harmonic mean of precision and recall, per class::

        f = (1 + beta**2) * precision * recall / (beta**2 * precision + recall)

    Precision and recall come from weighted true positives, false positives and false
    negatives counted per class (last axis) over every batch since the last reset, with
    ``1e-7`` added to each denominator as in Keras. It suits multi-class and multi-label
    classification; inputs are 2-D ``(N, C)`` and `C` may not change between updates.

    Args:
        average: ``None`` (one score per class: :meth:`result` returns an array of shape
            ``(C,)``), ``"micro"`` (one score from the counts summed over classes),
            ``"macro"`` (the mean of the per-class scores) or ``"weighted"`` (their mean
            weighted by each class's weighted count of true labels).
        beta: weight of recall, a number ``> 0``; default 1.0.
        threshold: a prediction counts as positive when ``y_pred > threshold``, a number in
            ``(0, 1]``; with ``None`` (default) the largest value of each row is positive
            (all tied largest values, and never a value with ``|y_pred| <= 1e-9``).
        name: default ``"fbeta_score"``.
        dtype: kept for Keras compatibility.

    Call arguments (``update_state``):
        y_true: labels ``(N, C)`` (0/1; fractional labels count fractionally).
        y_pred: scores ``(N, C)``.
        sample_weight: a scalar or one weight per sample, ``(N,)`` or ``(N, 1)``.

    Returns:
        :meth:`result` gives a float, or a float64 array ``(C,)`` for ``average=None``
        (empty before the first update).

    Raises:
        ValueError: a bad argument; inputs that are not 2-D, of different shapes, or with a
            number of classes other than the first update's; a bad `sample_weight` shape.

    Example:
        >>> m = FBetaScore(beta=2.0, threshold=0.5)
        >>> m.update_state([[1, 1, 1], [1, 0, 0], [1, 1, 0]],
        ...                [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
        >>> np.round(m.result(), 4).tolist()
        [0.3846, 0.9091, 0.8333]
    """

    _direction = "up"
    _state = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")
    _columns = "classes"

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str = "fbeta_score",
        dtype: Any = None,
    ) -> None:
        who = type(self).__name__
        if not (average is None or isinstance(average, str)) or average not in _F_AVERAGES:
            raise ValueError(
                f"{who}: expected `average` to be one of None, 'micro', 'macro', 'weighted'. "
                f"Received: average={average!r}"
            )
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not float(beta) > 0:
            raise ValueError(f"{who}: expected `beta` to be a number > 0. Received: beta={beta!r}")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 < float(threshold) <= 1
        ):
            raise ValueError(
                f"{who}: expected `threshold` to be None or a number in (0, 1]. Received: threshold={threshold!r}"
            )
        super().__init__(name=name, dtype=dtype)
        self.average = average
        self.beta = float(beta)
        self.threshold = None if threshold is None else float(threshold)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        who = f"{type(self).__name__} '{self.name}'"
        t, p = self._inputs(y_true, y_pred, who)
        w = _row_weights(sample_weight, p.shape[0], who)
        if self.threshold is None:
            top = np.max(p, axis=-1, keepdims=True) if p.shape[1] else p
            predicted = (p >= top) & (np.abs(p) > 1e-9)
        else:
            predicted = p > self.threshold
        pred = predicted.astype(np.float64)

        def weighted_sum(v: np.ndarray) -> np.ndarray:
            return np.sum(v if w is None else v * w, axis=0)

        self.true_positives = self.true_positives + weighted_sum(pred * t)
        self.false_positives = self.false_positives + weighted_sum(pred * (1.0 - t))
        self.false_negatives = self.false_negatives + weighted_sum((1.0 - pred) * t)
        self.intermediate_weights = self.intermediate_weights + weighted_sum(t)

    def result(self) -> Any:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = tp / (tp + fp + _EPSILON)
        recall = tp / (tp + fn + _EPSILON)
        b2 = self.beta**2
        score = (1.0 + b2) * precision * recall / (b2 * precision + recall + _EPSILON)
        if self.average is None:
            return np.asarray(score, dtype=np.float64)
        if self.average == "weighted":
            support = self.intermediate_weights
            return float(np.sum(score * support / (support.sum() + _EPSILON)))
        return float(np.mean(score)) if np.size(score) else 0.0

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score, the harmonic mean of precision and recall: :class:`FBetaScore` with
    ``beta=1``.

    Args:
        average: ``None``, ``"micro"``, ``"macro"`` or ``"weighted"`` (see
            :class:`FBetaScore`).
        threshold: ``None`` (the row's largest value is positive) or a number in ``(0, 1]``.
        name: default ``"f1_score"``.
        dtype: kept for Keras compatibility.

    Example:
        >>> m = F1Score(threshold=0.5)
        >>> m.update_state([[1, 1, 1], [1, 0, 0], [1, 1, 0]],
        ...                [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
        >>> np.round(m.result(), 4).tolist()
        [0.5, 0.8, 0.6667]
    """

    def __init__(
        self, average: str | None = None, threshold: float | None = None, name: str = "f1_score", dtype: Any = None
    ) -> None:
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["beta"]
        return config


_R2_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(_PerColumnMetric):
    """The coefficient of determination, ``1 - sum((y - y_hat)**2) / sum((y - mean(y))**2)``,
    per output column over every batch since the last reset (weighted sums).

    A column whose residual sum is positive while its total sum of squares is 0 scores 0,
    as in Keras (a constant column predicted exactly gives NaN, also as in Keras).
    With ``num_regressors = k > 0`` the adjusted score ``1 - (1 - r2) * (n - 1) / (n - k - 1)``
    is returned, `n` being the number of values seen (all entries of `y_true`, as Keras
    counts); when ``k >= n - 1`` a warning is given and the plain score is returned.

    Args:
        class_aggregation: ``"uniform_average"`` (default: the mean over columns),
            ``"variance_weighted_average"`` (weighted by each column's total sum of squares)
            or ``None`` (an array with one score per column).
        num_regressors: number of independent regressors for the adjusted score, an integer
            ``>= 0``; default 0 (plain R2).
        name: default ``"r2_score"``.
        dtype: kept for Keras compatibility.

    Call arguments (``update_state``):
        y_true: targets ``(N, C)``; ``(N,)`` is expanded when `y_pred` is ``(N, 1)``.
        y_pred: predictions ``(N, C)``.
        sample_weight: a scalar, ``(N,)`` (one per sample) or anything broadcastable to
            ``(N, C)``.

    Raises:
        ValueError: a bad argument; inputs that are not 2-D or of different shapes, or a
            number of columns other than the first update's.

    Example:
        >>> m = R2Score()
        >>> m.update_state([[1], [4], [3]], [[2], [4], [4]])
        >>> round(m.result(), 4)
        0.5714
    """

    _direction = "up"
    _state = ("sum", "squared_sum", "total_mse", "count")
    _columns = "output columns"

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str = "r2_score",
        dtype: Any = None,
    ) -> None:
        who = type(self).__name__
        if not (class_aggregation is None or isinstance(class_aggregation, str)) or (
            class_aggregation not in _R2_AGGREGATIONS
        ):
            raise ValueError(
                f"{who}: expected `class_aggregation` to be one of None, 'uniform_average', "
                f"'variance_weighted_average'. Received: class_aggregation={class_aggregation!r}"
            )
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, numbers.Integral) or num_regressors < 0:
            raise ValueError(
                f"{who}: expected `num_regressors` to be an integer >= 0. Received: num_regressors={num_regressors!r}"
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        super().reset_state()
        self.num_samples = 0

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        who = f"R2Score '{self.name}'"
        t, p = self._inputs(y_true, y_pred, who, match_rank=True)
        w = _position_weights(sample_weight, p.shape, who)
        self.sum = self.sum + np.sum(w * t, axis=0)
        self.squared_sum = self.squared_sum + np.sum(w * t * t, axis=0)
        self.total_mse = self.total_mse + np.sum(w * (t - p) ** 2, axis=0)
        self.count = self.count + np.sum(w, axis=0)
        self.num_samples += t.size

    def result(self) -> Any:
        if self._width is None:
            return 0.0 if self.class_aggregation is not None else np.zeros(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1.0 - self.total_mse / total
            raw = np.where(np.isinf(raw), 0.0, raw)
            if self.class_aggregation == "uniform_average":
                score: Any = float(np.mean(raw))
            elif self.class_aggregation == "variance_weighted_average":
                score = float(np.sum(total * raw) / np.sum(total))
            else:
                score = raw
        k, n = self.num_regressors, self.num_samples
        if k:
            if k > n - 1:
                warnings.warn(
                    "R2Score: more independent predictors than data points in the adjusted R2 score; "
                    "returning the plain R2 score.",
                    stacklevel=2,
                )
            elif k == n - 1:
                warnings.warn(
                    "R2Score: division by zero in the adjusted R2 score; returning the plain R2 score.", stacklevel=2
                )
            else:
                adjusted = 1.0 - (1.0 - np.asarray(score)) * (n - 1.0) / (n - k - 1.0)
                score = float(adjusted) if np.ndim(adjusted) == 0 else adjusted
        return score

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


# ---------------------------------------------------------------------------------------------
# Intersection over union


def _check_num_classes(num_classes: Any, who: str) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"{who}: expected `num_classes` to be an integer >= 1. Received: num_classes={num_classes!r}")
    return int(num_classes)


class _IoUBase(Metric):
    """A running confusion matrix ``total_cm[true, predicted]`` of weighted class-id counts
    over every batch since the last reset (float64, so fractional weights count as given)."""

    _direction = "up"

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        who = type(self).__name__
        self.num_classes = _check_num_classes(num_classes, who)
        if ignore_class is not None and (
            isinstance(ignore_class, bool) or not isinstance(ignore_class, numbers.Integral)
        ):
            raise ValueError(
                f"{who}: expected `ignore_class` to be None or an integer. Received: ignore_class={ignore_class!r}"
            )
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.sparse_y_true = _check_flag(sparse_y_true, "sparse_y_true", who)
        self.sparse_y_pred = _check_flag(sparse_y_pred, "sparse_y_pred", who)
        self.axis = _check_axis(axis, who)
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        self.total_cm = np.zeros((self.num_classes, self.num_classes))

    def _class_ids(self, values: Any, sparse: bool, what: str, who: str) -> np.ndarray:
        arr = _array(values, what, who)
        if not sparse:
            if arr.ndim == 0 or arr.shape[_class_axis(self.axis, arr.ndim, who, what)] == 0:
                raise ValueError(
                    f"{who}: expected dense {what} with a non-empty class axis {self.axis}. "
                    f"Received: {what}.shape={arr.shape}"
                )
            arr = np.argmax(arr, axis=self.axis)
        return _whole_labels(arr, what, who).reshape(-1)

    def _predicted(self, y_pred: Any, who: str) -> Any:
        return y_pred

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        who = f"{type(self).__name__} '{self.name}'"
        t = self._class_ids(y_true, self.sparse_y_true, "y_true", who)
        p = self._class_ids(self._predicted(y_pred, who), self.sparse_y_pred, "y_pred", who)
        if t.size != p.size:
            raise ValueError(
                f"{who}: expected as many class ids in y_pred as in y_true ({t.size}). Received: "
                f"y_true.shape={np.shape(y_true)}, y_pred.shape={np.shape(y_pred)} ({p.size} class ids)"
            )
        if sample_weight is None:
            w = np.ones(t.size)
        else:
            w = _array(sample_weight, "sample_weight", who).astype(np.float64).reshape(-1)
            if w.size == 1:
                w = np.full(t.size, w[0])
            elif w.size != t.size:
                raise ValueError(
                    f"{who}: expected a scalar sample_weight or one weight per class id ({t.size}). "
                    f"Received: sample_weight.shape={np.shape(sample_weight)}"
                )
        if self.ignore_class is not None:
            keep = t != self.ignore_class
            t, p, w = t[keep], p[keep], w[keep]
        c = self.num_classes
        for ids, what in ((t, "y_true"), (p, "y_pred")):
            if ids.size and (ids.min() < 0 or ids.max() >= c):
                raise ValueError(
                    f"{who}: expected {what} class ids in [0, {c}) (num_classes={c}). "
                    f"Received class ids in [{ids.min()}, {ids.max()}]"
                )
        self.total_cm = self.total_cm + np.bincount(t * c + p, weights=w, minlength=c * c).reshape(c, c)

    def _class_iou(self, target_class_ids: Sequence[int]) -> float:
        cm = self.total_cm
        true_positives = np.diag(cm)
        denominator = (cm.sum(axis=0) + cm.sum(axis=1) - true_positives)[list(target_class_ids)]
        true_positives = true_positives[list(target_class_ids)]
        valid = denominator > 1e-9
        iou = np.where(valid, true_positives / (denominator + _EPSILON), 0.0)
        return float(iou.sum() / (valid.sum() + _EPSILON))


def _check_target_class_ids(target_class_ids: Any, num_classes: int, who: str) -> list[int]:
    ids = list(target_class_ids) if isinstance(target_class_ids, (list, tuple, np.ndarray)) else None
    if not ids or any(
        isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < num_classes for i in ids
    ):
        raise ValueError(
            f"{who}: expected `target_class_ids` to be a non-empty list of integers in [0, {num_classes}). "
            f"Received: target_class_ids={target_class_ids!r}"
        )
    return [int(i) for i in ids]


class IoU(_IoUBase):
    """Intersection over union, ``tp / (tp + fp + fn)`` per class, averaged over
    `target_class_ids`, from a running confusion matrix.

    Class ids are integers (or, with ``sparse_y_true=False`` / ``sparse_y_pred=False``, the
    argmax over `axis` of dense scores); all positions of a batch count. Classes whose
    ``tp + fp + fn`` is 0 are left out of the mean, and ``1e-7`` is added to denominators,
    as in Keras.

    Args:
        num_classes: number of classes ``C >= 1`` (the matrix is ``(C, C)``).
        target_class_ids: the classes whose IoU is averaged, integers in ``[0, C)``.
        name: default ``"io_u"``.
        dtype: kept for Keras compatibility.
        ignore_class: ``None`` or a label value (e.g. -1 or 255 for "void") whose positions
            are left out.
        sparse_y_true: `y_true` holds class ids (default) rather than dense scores.
        sparse_y_pred: `y_pred` holds class ids (default) rather than dense scores.
        axis: the class axis of dense inputs; default -1.

    Call arguments (``update_state``):
        y_true: class ids of any shape (or dense scores, see `sparse_y_true`).
        y_pred: class ids with as many entries (or dense scores).
        sample_weight: a scalar or one weight per class id (any shape of that size).

    Raises:
        ValueError: a bad argument; class ids that are not whole numbers or lie outside
            ``[0, C)`` (Keras drops these silently), sizes that differ.

    Weights are kept as given: Keras's default integer ``dtype`` truncates fractional
    weights (it warns), so results agree with Keras for integer weights, or for any weights
    with ``dtype="float32"`` there.

    Example:
        >>> m = IoU(num_classes=2, target_class_ids=[0])
        >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
        >>> round(m.result(), 4)
        0.3333
    """

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Sequence[int],
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)
        self.target_class_ids = _check_target_class_ids(target_class_ids, self.num_classes, type(self).__name__)

    def result(self) -> float:
        return self._class_iou(self.target_class_ids)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of binary labels against scores: ``y_pred >= threshold`` is class 1, else class 0.

    Args:
        target_class_ids: ``[0]``, ``[1]`` or ``[0, 1]`` (default: the mean of both).
        threshold: a number; default 0.5.
        name: default ``"binary_io_u"``.
        dtype: kept for Keras compatibility.

    Raises:
        ValueError: a bad argument; labels other than 0 and 1.

    Example:
        >>> m = BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
        >>> m.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7])
        >>> round(m.result(), 4)
        0.3333
    """

    def __init__(
        self, target_class_ids: Sequence[int] = (0, 1), threshold: float = 0.5, name: str | None = None,
        dtype: Any = None
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or math.isnan(threshold):
            raise ValueError(f"BinaryIoU: expected `threshold` to be a number. Received: threshold={threshold!r}")
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = float(threshold)

    def _predicted(self, y_pred: Any, who: str) -> Any:
        return (_array(y_pred, "y_pred", who) >= self.threshold).astype(np.int64)

    def get_config(self) -> dict[str, Any]:
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class MeanIoU(IoU):
    """The mean of the per-class IoU over all ``num_classes`` classes (those with
    ``tp + fp + fn > 0``). Arguments as :class:`IoU` without `target_class_ids`; the default
    name is ``"mean_io_u"``.

    Example:
        >>> m = MeanIoU(num_classes=2)
        >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
        >>> round(m.result(), 4)
        0.3333
    """

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        num_classes = _check_num_classes(num_classes, type(self).__name__)
        super().__init__(num_classes, list(range(num_classes)), name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """:class:`IoU` for one-hot `y_true` (the argmax over `axis` is the class id) and, by
    default, dense `y_pred` scores; the default name is ``"one_hot_io_u"``.

    Example:
        >>> m = OneHotIoU(num_classes=3, target_class_ids=[0, 2])
        >>> m.update_state([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]],
        ...                [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]])
        >>> round(m.result(), 4)
        0.1667
    """

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Sequence[int],
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """:class:`MeanIoU` for one-hot `y_true` and, by default, dense `y_pred` scores; the
    default name is ``"one_hot_mean_io_u"``.

    Example:
        >>> m = OneHotMeanIoU(num_classes=3)
        >>> m.update_state([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]],
        ...                [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]])
        >>> round(m.result(), 4)
        0.1111
    """

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


_CLASSES: tuple[type[Metric], ...] = (
    BinaryCrossentropy,
    BinaryIoU,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    IoU,
    KLDivergence,
    MeanIoU,
    OneHotIoU,
    OneHotMeanIoU,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    AUC,
    F1Score,
    FBetaScore,
    R2Score,
    FalseNegatives,
    FalsePositives,
    LogCoshError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    TrueNegatives,
    TruePositives,
    PrecisionAtRecall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    PearsonCorrelation,
    ConcordanceCorrelation,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    Mean,
    MeanAbsoluteError,
    MeanMetricWrapper,
    MeanSquaredError,
    Precision,
    Recall,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    Sum,
    TopKCategoricalAccuracy,
)

_REGISTRY: dict[str, type[Metric]] = {}
for _cls in _CLASSES:
    _REGISTRY[_cls.__name__] = _cls
    _REGISTRY[_snake(_cls.__name__)] = _cls
_REGISTRY.update({"mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
                  "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
                  "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
                  "logcosh": LogCoshError, "fbeta_score": FBetaScore, "bce": BinaryCrossentropy,
                  "BCE": BinaryCrossentropy})
_CONSTRUCTIBLE = sorted(k for k, v in _REGISTRY.items() if v is not MeanMetricWrapper)

_ACCURACY_BY_LOSS = {
    "binarycrossentropy": binary_accuracy,
    "bce": binary_accuracy,
    "categoricalcrossentropy": categorical_accuracy,
    "cce": categorical_accuracy,
    "sparsecategoricalcrossentropy": sparse_categorical_accuracy,
    "scce": sparse_categorical_accuracy,
}


def _loss_key(loss: Any) -> str | None:
    if loss is None:
        return None
    name = (
        loss
        if isinstance(loss, str)
        else getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    )
    return str(name).replace("_", "").lower()


class _CompileAccuracy(MeanMetricWrapper):
    """``"accuracy"``/``"acc"`` from ``compile``: binary, categorical or sparse accuracy.

    The choice follows the loss when it is a cross-entropy; otherwise it is made at the
    first update from the shapes, with Keras 3's rule: a last axis of size 1 in `y_pred`
    means binary; integer labels (`y_true` of lower rank, or with a last axis of 1) mean
    sparse; anything else is categorical.
    """

    _direction = "up"

    def __init__(self, name: str = "accuracy", dtype: Any = None, loss: Any = None) -> None:
        chosen = _ACCURACY_BY_LOSS.get(_loss_key(loss) or "")
        super().__init__(chosen or binary_accuracy, name=name, dtype=dtype)
        self._chosen = chosen
        self._loss = loss if isinstance(loss, str) else None

    @property
    def chosen_function(self) -> Callable[..., Any] | None:
        """The accuracy function in use (None until the first update when the loss did not decide)."""
        return self._chosen

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if self._chosen is None:
            t_shape, p_shape = np.shape(y_true), np.shape(y_pred)
            t_last = t_shape[-1] if t_shape else 1
            p_last = p_shape[-1] if p_shape else 1
            if p_last == 1:
                self._chosen = binary_accuracy
            elif len(t_shape) < len(p_shape) or t_last == 1:
                self._chosen = sparse_categorical_accuracy
            else:
                self._chosen = categorical_accuracy
            self._fn = self._chosen
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "loss": self._loss}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)


def serialize(metric: Metric) -> dict[str, Any]:
    """Return ``{"class_name": ..., "config": ...}`` for a metric."""
    if not isinstance(metric, Metric):
        raise TypeError(f"metrics.serialize: expected a Metric. Received: {metric!r}")
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Metric:
    """Build a metric from ``{"class_name": ..., "config": {...}}``.

    Raises:
        ValueError: a dict without ``class_name``, or an unknown class name.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"metrics.deserialize: expected a dict with a 'class_name' key. Received: {config!r}")
    name = config["class_name"]
    if custom_objects and name in custom_objects:
        cls = custom_objects[name]
    elif name == "_CompileAccuracy":
        cls = _CompileAccuracy
    else:
        cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"Unknown metric class: {name!r}. Valid names are: {', '.join(_CONSTRUCTIBLE)}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier: Any, loss_name: Any = None) -> Metric | None:
    """Resolve a ``compile(metrics=[...])`` entry into a metric object, as Keras 3 does.

    - ``"accuracy"`` / ``"acc"`` (any case): binary accuracy for a binary cross-entropy
      loss, categorical for categorical cross-entropy, sparse categorical for sparse
      categorical cross-entropy; with another or no loss, Keras 3's shape rule at the first
      update (a `y_pred` with last axis 1 is binary, integer labels are sparse, otherwise
      categorical).
    - Other strings: class names (``"Precision"``), their snake_case forms
      (``"binary_accuracy"``, ``"mean_squared_error"``, ``"auc"``) and ``"mse"``, ``"MSE"``,
      ``"mae"``, ``"MAE"``; a new metric with default arguments.
    - A string identifier becomes the metric's name, as in Keras 3's ``History``:
      ``"acc"`` logs ``acc``, ``"mse"`` logs ``mse``, ``"accuracy"`` logs ``accuracy``.
    - A :class:`Metric` instance is returned as is (its name is kept); a Metric class is
      instantiated; a dict is deserialized; any other callable ``fn(y_true, y_pred)`` is
      wrapped in :class:`MeanMetricWrapper` named after the function.

    Args:
        identifier: the entry of ``metrics=[...]``; ``None`` gives ``None``.
        loss_name: the compiled loss (a name such as ``"binary_crossentropy"``, or a loss
            object or function whose name is used); only consulted for accuracy.

    Returns:
        A fresh metric for anything but an instance, or ``None``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones) or an identifier
            that is none of the above.

    Example:
        >>> get("mse").name
        'mse'
        >>> get("acc", loss_name="binary_crossentropy").chosen_function.__name__
        'binary_accuracy'
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _CompileAccuracy(name=identifier, loss=loss_name)
        cls = _REGISTRY.get(identifier)
        if cls is None or cls is MeanMetricWrapper:
            raise ValueError(
                f"Unknown metric: {identifier!r}. Valid names are: accuracy, acc, {', '.join(_CONSTRUCTIBLE)}"
            )
        try:
            metric = cls()
        except TypeError:
            raise ValueError(
                f"Metric {identifier!r} needs arguments ({cls.__name__}: {inspect.signature(cls)}); "
                f"pass an instance, e.g. metrics=[{cls.__name__}(...)]"
            ) from None
        metric.name = identifier
        return metric
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(
            identifier, name=getattr(identifier, "__name__", None) or _snake(type(identifier).__name__)
        )
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
