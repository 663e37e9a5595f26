"""Preprocessing layers that are part of a model: Rescaling and Normalization (with adapt)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore.layers.base import Layer, shape_str

__all__ = ["Normalization", "Rescaling"]

_EPSILON = 1e-7  # Keras's backend.epsilon(), the smallest standard deviation Normalization divides by


class Rescaling(Layer):
    """``y = x * scale + offset`` (e.g. ``Rescaling(1 / 255)`` for 8-bit images)."""

    supports_masking = True

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        for name, v in (("scale", scale), ("offset", offset)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
                raise ValueError(f"Rescaling '{self.name}': {name} must be a finite number. Received: {name}={v!r}")
        self.scale = float(scale)
        self.offset = float(offset)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x, dtype=np.float32)
        return (x * np.float32(self.scale) + np.float32(self.offset)).astype(np.float32), None

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        return (np.asarray(dy, dtype=np.float32) * np.float32(self.scale)) if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset)
        return config


class Normalization(Layer):
    """Standardizes features with a mean and variance given or learned from data by
    ``adapt`` (Keras 3 ``Normalization``):

        y = (x - mean) / max(sqrt(variance), 1e-7)        (invert=True: the inverse map)

    The statistics are per index of ``axis`` (the last by default; ``None`` for one scalar
    mean and variance) and are saved with the model as non-trainable weights.

    Args:
        axis: an integer, a tuple of integers, or None.
        mean, variance: statistics to use instead of ``adapt`` (broadcast to the axis).
        invert: apply the inverse transformation.
    """

    supports_masking = True

    def __init__(self, axis: Any = -1, mean: Any = None, variance: Any = None, invert: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError(
                f"Normalization '{self.name}': give both mean and variance, or neither (and call adapt). "
                f"Received: mean={mean!r}, variance={variance!r}"
            )
        if axis is None:
            self.axis: tuple = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = (int(axis),)
        else:
            self.axis = tuple(int(a) for a in axis)
        self.invert = bool(invert)
        self._init_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self._init_variance = None if variance is None else np.asarray(variance, dtype=np.float64)
        self.adapt_mean = self.adapt_variance = None
        self._ndim: Optional[int] = None

    def _stat_shape(self, shape: tuple) -> tuple:
        ndim = len(shape)
        axes = []
        for a in self.axis:
            if not -ndim <= a < ndim or a % ndim == 0:
                raise ValueError(
                    f"Normalization '{self.name}': axis must name non-batch axes of an input of rank {ndim}. "
                    f"Received: axis={self.axis}"
                )
            axes.append(a % ndim)
        self._axes = tuple(sorted(axes))
        dims = tuple(shape[a] for a in self._axes)
        if any(d is None for d in dims):
            raise ValueError(f"Normalization '{self.name}': the axis sizes must be known. Received: shape={shape_str(shape)}")
        return dims

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        dims = self._stat_shape(shape)
        self._ndim = len(shape)
        self.adapt_mean = self.add_weight("mean", dims, "zeros", trainable=False)
        self.adapt_variance = self.add_weight("variance", dims, "ones", trainable=False)
        if self._init_mean is not None:
            self.adapt_mean.value[...] = np.broadcast_to(self._init_mean, dims)
            self.adapt_variance.value[...] = np.broadcast_to(self._init_variance, dims)
        self.built = True

    def adapt(self, data: Any, batch_size: Any = None, steps: Any = None) -> None:
        """Sets the mean and variance to those of ``data`` (an array, or an iterable of array
        batches), over every axis but ``axis``."""
        if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
            batches = [np.asarray(data, dtype=np.float64)]
        else:
            batches = [np.asarray(b[0] if isinstance(b, tuple) else b, dtype=np.float64) for b in data]
        if not batches or any(b.ndim == 0 for b in batches):
            raise ValueError(f"Normalization '{self.name}': adapt needs data with a batch axis")
        if not self.built:
            self.build((None,) + batches[0].shape[1:])
        count = 0
        total = None
        for b in batches:
            if b.ndim != self._ndim:
                raise ValueError(
                    f"Normalization '{self.name}': expected data of rank {self._ndim}. Received: shape={b.shape}"
                )
            if not np.isfinite(b).all():
                raise ValueError(f"Normalization '{self.name}': adapt data contains NaN or infinite values")
            red = tuple(i for i in range(b.ndim) if i not in self._axes)
            n = int(np.prod([b.shape[i] for i in red]))
            s1, s2 = b.sum(axis=red), (b * b).sum(axis=red)
            total = (s1, s2) if total is None else (total[0] + s1, total[1] + s2)
            count += n
        mean = total[0] / count
        var = np.maximum(total[1] / count - mean * mean, 0.0)
        self.adapt_mean.value[...] = np.asarray(mean).reshape(self.adapt_mean.shape)
        self.adapt_variance.value[...] = np.asarray(var).reshape(self.adapt_variance.shape)

    def _stats(self, x: np.ndarray) -> tuple:
        shape = tuple(x.shape[i] if i in self._axes else 1 for i in range(x.ndim))
        mean = self.adapt_mean.value.reshape(shape)
        std = np.maximum(np.sqrt(self.adapt_variance.value), np.float32(_EPSILON)).reshape(shape)
        return mean, std

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != self._ndim:
            raise ValueError(f"Normalization '{self.name}': expected an input of rank {self._ndim}. Received: shape={x.shape}")
        mean, std = self._stats(x)
        y = mean + x * std if self.invert else (x - mean) / std
        return y.astype(np.float32), (std if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        dy = np.asarray(dy, dtype=np.float32)
        return (dy * ctx if self.invert else dy / ctx).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        axis: Any = None if not self.axis else (self.axis[0] if len(self.axis) == 1 else list(self.axis))
        config.update(axis=axis, invert=self.invert)
        if self._init_mean is not None:
            config.update(mean=self._init_mean.tolist(), variance=self._init_variance.tolist())
        return config
