"""Advanced activation layers: ReLU, LeakyReLU, ELU, PReLU, Softmax."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from pynncore import constraints as _constraints
from pynncore import regularizers as _regularizers
from pynncore.layers.base import Layer, shape_str
from pynncore.layers.core import _serialize

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"]


def _f32(x: Any) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _real(layer: Layer, name: str, value: Any, minimum: Optional[float] = None) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if not ok or not np.isfinite(float(value)) or (minimum is not None and float(value) < minimum):
        want = "a finite number" if minimum is None else f"a finite number >= {minimum}"
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': {name} must be {want}. Received: {name}={value!r}"
        )
    return float(value)


class ReLU(Layer):
    """Rectified linear unit with optional cap, leak and threshold (Keras ``ReLU``).

    ``y = min(x, max_value)`` for ``x >= threshold``, else ``negative_slope * (x - threshold)``.
    """

    supports_masking = True

    def __init__(self, max_value: Optional[float] = None, negative_slope: float = 0.0, threshold: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _real(self, "max_value", max_value, 0.0)
        self.negative_slope = _real(self, "negative_slope", negative_slope, 0.0)
        self.threshold = _real(self, "threshold", threshold, 0.0)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = _f32(x)
        t = np.float32(self.threshold)
        pos = x >= t
        y = np.where(pos, x, np.float32(self.negative_slope) * (x - t)).astype(np.float32)
        slope = np.where(pos, np.float32(1.0), np.float32(self.negative_slope)).astype(np.float32)
        if self.max_value is not None:
            cap = x >= np.float32(self.max_value)
            y = np.where(cap, np.float32(self.max_value), y).astype(np.float32)
            slope = np.where(cap, np.float32(0.0), slope).astype(np.float32)
        return y, (slope if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        return _f32(dy) * ctx if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(max_value=self.max_value, negative_slope=self.negative_slope, threshold=self.threshold)
        return config


class LeakyReLU(Layer):
    """``y = x`` for ``x >= 0``, ``negative_slope * x`` otherwise (the older ``alpha=`` keyword
    is accepted as a synonym)."""

    supports_masking = True

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _real(self, "negative_slope", negative_slope, 0.0)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = _f32(x)
        pos = x >= 0
        y = np.where(pos, x, np.float32(self.negative_slope) * x).astype(np.float32)
        return y, (pos if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        dy = _f32(dy)
        return np.where(ctx, dy, np.float32(self.negative_slope) * dy).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


class ELU(Layer):
    """``y = x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    supports_masking = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.alpha = _real(self, "alpha", alpha)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = _f32(x)
        pos = x > 0
        e = np.expm1(np.minimum(x, np.float32(0.0)))
        y = np.where(pos, x, np.float32(self.alpha) * e).astype(np.float32)
        return y, ((pos, e) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        pos, e = ctx
        dy = _f32(dy)
        return np.where(pos, dy, dy * np.float32(self.alpha) * (e + np.float32(1.0))).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


class PReLU(Layer):
    """Parametric ReLU: ``y = x`` for ``x >= 0``, ``alpha * x`` otherwise, with a trainable
    ``alpha`` of shape ``input_shape[1:]`` (size 1 along ``shared_axes``)."""

    supports_masking = True

    def __init__(self, alpha_initializer: Any = "zeros", alpha_regularizer: Any = None,
                 alpha_constraint: Any = None, shared_axes: Optional[Sequence[int]] = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer
        self.alpha_regularizer = _regularizers.get(alpha_regularizer)
        self.alpha_constraint = _constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, (int, np.integer)) else list(shared_axes)
            if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) or a < 1 for a in axes):
                raise ValueError(
                    f"PReLU '{self.name}': shared_axes must be positive axis indices (axis 0 is the "
                    f"batch). Received: shared_axes={shared_axes!r}"
                )
            self.shared_axes = [int(a) for a in axes]
        self.alpha = None

    def build(self, input_shape: tuple) -> None:
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            if a > len(shape):
                raise ValueError(
                    f"PReLU '{self.name}': shared axis {a} is out of range for an input of rank "
                    f"{len(input_shape)}. Received: shape={shape_str(input_shape)}"
                )
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(
                f"PReLU '{self.name}': every non-shared axis needs a known size. "
                f"Received: shape={shape_str(input_shape)}"
            )
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer, self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        self.built = True

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = _f32(x)
        a = self.alpha.value
        try:
            np.broadcast_shapes(x.shape[1:], a.shape)
        except ValueError:
            raise ValueError(
                f"PReLU '{self.name}': expected samples of shape compatible with alpha "
                f"{a.shape}. Received: shape={x.shape}"
            ) from None
        if x.ndim - 1 != a.ndim:
            raise ValueError(
                f"PReLU '{self.name}': expected an input of rank {a.ndim + 1}. Received: shape={x.shape}"
            )
        neg = np.minimum(x, np.float32(0.0))
        y = (np.maximum(x, np.float32(0.0)) + a * neg).astype(np.float32)
        return y, ((x >= 0, neg) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        pos, neg = ctx
        dy = _f32(dy)
        a = self.alpha
        if a.trainable and self.trainable:
            g = (dy * neg).astype(np.float64)
            axes = (0,) + tuple(i + 1 for i, d in enumerate(a.shape) if d == 1 and g.shape[i + 1] != 1)
            a.grad += g.sum(axis=axes).reshape(a.shape).astype(np.float32)
        if not need_dx:
            return None
        return np.where(pos, dy, dy * a.value).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            alpha_initializer=_serialize(self.alpha_initializer),
            alpha_regularizer=_serialize(self.alpha_regularizer),
            alpha_constraint=_constraints.config_of(self.alpha_constraint),
            shared_axes=self.shared_axes,
        )
        return config


class Softmax(Layer):
    """Softmax over ``axis`` (an int or a list of ints). With ``mask`` (broadcastable to the
    input; False marks excluded entries), excluded entries get probability 0 as in Keras."""

    supports_masking = True
    consumes_mask = True

    def __init__(self, axis: Any = -1, **kwargs: Any):
        super().__init__(**kwargs)
        axes = [axis] if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
        if not isinstance(axes, (list, tuple)) or not axes or any(
            isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes
        ):
            raise ValueError(f"Softmax '{self.name}': axis must be an int or a list of ints. Received: axis={axis!r}")
        self.axis = int(axis) if isinstance(axis, (int, np.integer)) else [int(a) for a in axes]

    def _axes(self, ndim: int) -> tuple:
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(
                    f"Softmax '{self.name}': axis {a} is out of range for an input of rank {ndim}"
                )
        return tuple(sorted({a % ndim for a in axes}))

    def forward(self, x: np.ndarray, training: bool = False, mask: Any = None) -> tuple:
        x = _f32(x)
        axes = self._axes(x.ndim)
        if mask is not None:
            m = np.asarray(mask, dtype=bool)
            try:
                m = np.broadcast_to(m, x.shape)
            except ValueError:
                raise ValueError(
                    f"Softmax '{self.name}': mask of shape {m.shape} does not broadcast to the "
                    f"input shape {x.shape}"
                ) from None
            # Keras adds a large negative value to excluded entries.
            x = (x + np.where(m, np.float32(0.0), np.float32(-1e9))).astype(np.float32)
        z = x - x.max(axis=axes, keepdims=True)
        e = np.exp(z)
        y = (e / e.sum(axis=axes, keepdims=True)).astype(np.float32)
        if mask is not None:
            y = (y * m).astype(np.float32)
        return y, ((y, axes) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        y, axes = ctx
        dy = _f32(dy)
        return (y * (dy - (dy * y).sum(axis=axes, keepdims=True))).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config
