"""BatchNormalization, GroupNormalization, LayerNormalization, RMSNormalization and
UnitNormalization."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import constraints as _constraints
from pynncore import ops
from pynncore import regularizers as _regularizers
from pynncore.layers.base import Layer, shape_str
from pynncore.layers.core import _serialize

__all__ = [
    "BatchNormalization",
    "GroupNormalization",
    "LayerNormalization",
    "RMSNormalization",
    "UnitNormalization",
]


class BatchNormalization(Layer):
    """Normalizes each channel (the ``axis``, last by default) with batch statistics in
    training and with moving averages at inference, then scales by ``gamma`` and shifts by
    ``beta``.

    In training: ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the mean and the
    (biased) variance of the batch over every axis but ``axis``, and
    ``moving = moving * momentum + batch_stat * (1 - momentum)``. At inference, and in training
    when the layer is frozen (``trainable=False``, as in Keras 3), the moving statistics replace
    the batch ones. Weights in Keras order: gamma, beta, moving_mean, moving_variance.

    Forward and backward run in the native kernels (``pynncore.ops.batch_norm_train`` /
    ``batch_norm_grad``): statistics from one pass with float64 accumulation, a fused
    normalize-scale-shift, and a fused backward. Inputs ``(N, C)``, ``(N, L, C)`` and
    ``(N, H, W, C)`` normalize over the last axis in place; another ``axis`` is moved last.

    Args:
        axis: the channel axis (an integer; -1 for channels-last).
        momentum: moving-average momentum, default 0.99.
        epsilon: added to the variance, default 1e-3.
        center, scale: whether to learn beta and gamma.
        *_initializer, *_regularizer: as in Keras.
    """

    supports_masking = True

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, np.integer)):
            raise TypeError(f"BatchNormalization '{self.name}': axis must be an integer. Received: {axis!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"BatchNormalization '{self.name}': momentum must be in [0, 1]. Received: {momentum}")
        if not float(epsilon) > 0.0:
            raise ValueError(f"BatchNormalization '{self.name}': epsilon must be > 0. Received: {epsilon}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint = _constraints.get(beta_constraint)
        self.gamma_constraint = _constraints.get(gamma_constraint)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape: tuple) -> None:
        ndim = len(input_shape)
        axis = self.axis if self.axis >= 0 else ndim + self.axis
        if not 1 <= axis < ndim or input_shape[axis] is None:
            raise ValueError(
                f"BatchNormalization '{self.name}': axis={self.axis} is not a known channel axis of "
                f"an input of shape {shape_str(input_shape)}"
            )
        self._axis = axis
        c = int(input_shape[axis])
        if self.scale:
            self.gamma = self.add_weight("gamma", (c,), self.gamma_initializer, self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", (c,), self.beta_initializer, self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", (c,), self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight(
            "moving_variance", (c,), self.moving_variance_initializer, trainable=False
        )
        self.built = True

    def _channels_last(self, x: np.ndarray) -> np.ndarray:
        """``x`` as (rows, channels); channels moved last when the axis is elsewhere."""
        if x.ndim - 1 != self._axis:
            x = np.moveaxis(x, self._axis, -1)
        return np.ascontiguousarray(x, dtype=np.float32).reshape(-1, x.shape[-1])

    def _restore(self, rows: np.ndarray, like_shape: tuple) -> np.ndarray:
        moved = list(like_shape)
        c = moved.pop(self._axis)
        out = rows.reshape(tuple(moved) + (c,))
        if len(like_shape) - 1 != self._axis:
            out = np.ascontiguousarray(np.moveaxis(out, -1, self._axis))
        return out

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        c = self.moving_mean.shape[0]
        if x.ndim <= self._axis or x.shape[self._axis] != c:
            raise ValueError(
                f"BatchNormalization '{self.name}': expected {c} channels on axis {self.axis}. "
                f"Received: shape={x.shape}"
            )
        rows = self._channels_last(x)
        gamma = self.gamma.value if self.scale else None
        beta = self.beta.value if self.center else None
        # Keras 3: a frozen layer (trainable=False) normalizes with the moving statistics even
        # in training.
        if training and self.trainable and rows.shape[0] > 0:
            y, mean, var, inv_std = ops.batch_norm_train(rows, gamma, beta, self.epsilon)
            m = np.float32(self.momentum)
            self.moving_mean.value[...] = self.moving_mean.value * m + mean * (1 - m)
            self.moving_variance.value[...] = self.moving_variance.value * m + var * (1 - m)
            return self._restore(y, x.shape), ("batch", rows, mean, inv_std, x.shape)
        y = ops.batch_norm(rows, self.moving_mean.value, self.moving_variance.value, gamma, beta, self.epsilon)
        if not training:
            return self._restore(y, x.shape), None
        inv_std = (1.0 / np.sqrt(self.moving_variance.value.astype(np.float64) + self.epsilon)).astype(np.float32)
        return self._restore(y, x.shape), ("moving", rows, self.moving_mean.value.copy(), inv_std, x.shape)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        kind, rows, mean, inv_std, shape = ctx
        g = self._channels_last(dy)
        gamma = self.gamma.value if self.scale else None
        if kind == "moving":
            # y = (x - mean) * inv_std * gamma + beta with constant statistics.
            if self.trainable:
                if self.scale and self.gamma.trainable:
                    xh = (rows - mean) * inv_std
                    self.gamma.grad += (g * xh).sum(axis=0, dtype=np.float64).astype(np.float32)
                if self.center and self.beta.trainable:
                    self.beta.grad += g.sum(axis=0, dtype=np.float64).astype(np.float32)
            if not need_dx:
                return None
            scale = inv_std if gamma is None else inv_std * gamma
            return self._restore((g * scale).astype(np.float32), shape)
        dx, dgamma, dbeta = ops.batch_norm_grad(rows, g, mean, inv_std, gamma, need_dx=need_dx)
        if self.trainable:
            if self.scale and self.gamma.trainable:
                self.gamma.grad += dgamma
            if self.center and self.beta.trainable:
                self.beta.grad += dbeta
        if not need_dx:
            return None
        return self._restore(dx, shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            axis=self.axis,
            momentum=self.momentum,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=_serialize(self.beta_initializer),
            gamma_initializer=_serialize(self.gamma_initializer),
            moving_mean_initializer=_serialize(self.moving_mean_initializer),
            moving_variance_initializer=_serialize(self.moving_variance_initializer),
            beta_regularizer=_serialize(self.beta_regularizer),
            gamma_regularizer=_serialize(self.gamma_regularizer),
            beta_constraint=_constraints.config_of(self.beta_constraint),
            gamma_constraint=_constraints.config_of(self.gamma_constraint),
        )
        return config


def _axes(axis: Any, ndim: int, who: str) -> tuple:
    axes = [axis] if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else list(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -ndim <= int(a) < ndim or int(a) % ndim == 0:
            raise ValueError(f"{who}: axis must name non-batch axes of an input of rank {ndim}. Received: axis={axis!r}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{who}: axis lists an axis twice. Received: axis={axis!r}")
    return tuple(sorted(out))


class _AffineNormalization(Layer):
    """Shared parts of the normalizations followed by ``* gamma + beta``: the ``epsilon``,
    ``center``/``scale`` and gamma/beta arguments, their weights and their config."""

    def __init__(
        self,
        epsilon: float,
        center: bool,
        scale: bool,
        beta_initializer: Any,
        gamma_initializer: Any,
        beta_regularizer: Any,
        gamma_regularizer: Any,
        beta_constraint: Any,
        gamma_constraint: Any,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': epsilon must be a number > 0. Received: epsilon={epsilon!r}"
            )
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint = _constraints.get(beta_constraint)
        self.gamma_constraint = _constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    def _add_affine_weights(self, dims: tuple) -> None:
        if self.scale:
            self.gamma = self.add_weight("gamma", dims, self.gamma_initializer, self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", dims, self.beta_initializer, self.beta_regularizer,
                                        constraint=self.beta_constraint)

    def _affine_grads(self, dy64: np.ndarray, xhat: np.ndarray, sum_axes: tuple) -> None:
        """Adds ``sum(dy * xhat)`` to gamma's and ``sum(dy)`` to beta's gradient."""
        if not self.trainable:
            return
        if self.gamma is not None and self.gamma.trainable:
            self.gamma.grad += (dy64 * xhat).sum(axis=sum_axes).reshape(self.gamma.shape).astype(np.float32)
        if self.beta is not None and self.beta.trainable:
            self.beta.grad += dy64.sum(axis=sum_axes).reshape(self.beta.shape).astype(np.float32)

    def _affine_config(self) -> dict:
        return dict(
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=_serialize(self.beta_initializer),
            gamma_initializer=_serialize(self.gamma_initializer),
            beta_regularizer=_serialize(self.beta_regularizer),
            gamma_regularizer=_serialize(self.gamma_regularizer),
            beta_constraint=_constraints.config_of(self.beta_constraint),
            gamma_constraint=_constraints.config_of(self.gamma_constraint),
        )


def _normalized_input_grad(g: np.ndarray, xhat: np.ndarray, inv: np.ndarray, axes: tuple) -> np.ndarray:
    """Gradient of ``xhat = (x - mean) * inv`` (statistics over ``axes``) given ``g = dL/dxhat``:
    ``inv * (g - mean(g) - xhat * mean(g * xhat))``."""
    m1 = g.mean(axis=axes, keepdims=True)
    m2 = (g * xhat).mean(axis=axes, keepdims=True)
    return inv * (g - m1 - xhat * m2)


class LayerNormalization(_AffineNormalization):
    """Normalizes each sample over ``axis`` (the last by default), then scales by ``gamma``
    and shifts by ``beta`` (Keras 3 ``LayerNormalization``):

        y = (x - mean) / sqrt(var + epsilon) * gamma + beta

    with the mean and the biased variance of each sample over the normalized axes (float64
    statistics). ``gamma`` and ``beta`` have the shape of those axes.

    Args:
        axis: an integer or a list of non-batch axes.
        epsilon: added to the variance, default 1e-3.
        center, scale: whether to learn beta and gamma.
        *_initializer, *_regularizer, *_constraint: as in Keras.
    """

    supports_masking = True

    def __init__(
        self,
        axis: Any = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        self.axis = axis if isinstance(axis, (int, np.integer)) else list(axis)
        self._axes: tuple = ()

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        self._axes = _axes(self.axis, len(shape), f"LayerNormalization '{self.name}'")
        dims = tuple(shape[a] for a in self._axes)
        if any(d is None for d in dims):
            raise ValueError(
                f"LayerNormalization '{self.name}': the normalized axes need known sizes. Received: shape={shape_str(shape)}"
            )
        self._add_affine_weights(dims)
        self._ndim = len(shape)
        self.built = True

    def _broadcast(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        return v.reshape(tuple(x.shape[i] if i in self._axes else 1 for i in range(x.ndim)))

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != self._ndim:
            raise ValueError(
                f"LayerNormalization '{self.name}': expected an input of rank {self._ndim}. Received: shape={x.shape}"
            )
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=self._axes, keepdims=True)
        var = ((x64 - mean) ** 2).mean(axis=self._axes, keepdims=True)
        inv = 1.0 / np.sqrt(var + self.epsilon)
        xhat = (x64 - mean) * inv
        y = xhat
        if self.gamma is not None:
            y = y * self._broadcast(self.gamma.value.astype(np.float64), x)
        if self.beta is not None:
            y = y + self._broadcast(self.beta.value.astype(np.float64), x)
        return y.astype(np.float32), ((xhat, inv) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        xhat, inv = ctx
        dy64 = np.asarray(dy, dtype=np.float64)
        self._affine_grads(dy64, xhat, tuple(i for i in range(dy64.ndim) if i not in self._axes))
        if not need_dx:
            return None
        g = dy64 * self._broadcast(self.gamma.value.astype(np.float64), dy64) if self.gamma is not None else dy64
        return _normalized_input_grad(g, xhat, inv, self._axes).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(axis=self.axis, **self._affine_config())
        return config


class GroupNormalization(_AffineNormalization):
    """Splits the channels (``axis``) into ``groups`` and normalizes each group of each
    sample over its channels and every other non-batch axis (Keras 3 ``GroupNormalization``):

        y = (x - mean_g) / sqrt(var_g + epsilon) * gamma + beta

    with the mean and the biased variance of each (sample, group) in float64. ``gamma`` and
    ``beta`` have one entry per channel. ``groups=-1`` puts every channel in its own group
    (instance normalization); ``groups=1`` is layer normalization over all axes.

    Args:
        groups: number of groups; must divide the number of channels (-1: one per channel).
        axis: the channel axis (an integer, not the batch axis).
        epsilon: added to the variance, default 1e-3.
        center, scale: whether to learn beta and gamma.
        *_initializer, *_regularizer, *_constraint: as in Keras.

    Call arguments:
        inputs: array ``(N, ..., C)`` (or with the channels at ``axis``).

    Returns:
        Array of the input's shape.

    Raises:
        ValueError: when ``groups`` does not divide the number of channels or exceeds it.

    Example:
        >>> y = GroupNormalization(groups=2)(np.ones((4, 5, 6), np.float32))
    """

    supports_masking = True

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        who = f"GroupNormalization '{self.name}'"
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or (groups < 1 and groups != -1):
            raise ValueError(f"{who}: groups must be a positive integer or -1. Received: groups={groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{who}: axis must be an integer. Received: axis={axis!r}")
        self.groups = int(groups)
        self.axis = int(axis)
        self._groups = self.groups

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        who = f"GroupNormalization '{self.name}'"
        self._axis = _axes(self.axis, len(shape), who)[0]
        dim = shape[self._axis]
        if dim is None:
            raise ValueError(f"{who}: the channel axis needs a known size. Received: shape={shape_str(shape)}")
        groups = dim if self.groups == -1 else self.groups
        if groups > dim:
            raise ValueError(
                f"{who}: groups must not exceed the number of channels ({dim}). Received: groups={groups}"
            )
        if dim % groups:
            raise ValueError(
                f"{who}: groups must divide the number of channels ({dim}). Received: groups={groups}"
            )
        self._groups = groups
        self._add_affine_weights((dim,))
        self._ndim = len(shape)
        self.built = True

    def _grouped(self, a: np.ndarray) -> np.ndarray:
        """``(N, ..., C, ...)`` -> ``(N, S, G, C // G)`` with the channel axis moved last."""
        a = np.moveaxis(a, self._axis, -1)
        return a.reshape(a.shape[0], -1, self._groups, a.shape[-1] // self._groups)

    def _ungrouped(self, a: np.ndarray, shape: tuple) -> np.ndarray:
        moved = shape[: self._axis] + shape[self._axis + 1 :] + (shape[self._axis],)
        return np.ascontiguousarray(np.moveaxis(a.reshape(moved), -1, self._axis))

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != self._ndim:
            raise ValueError(
                f"GroupNormalization '{self.name}': expected an input of rank {self._ndim}. Received: shape={x.shape}"
            )
        xg = self._grouped(x.astype(np.float64))
        mean = xg.mean(axis=(1, 3), keepdims=True)
        var = ((xg - mean) ** 2).mean(axis=(1, 3), keepdims=True)
        inv = 1.0 / np.sqrt(var + self.epsilon)
        xhat = (xg - mean) * inv
        y = xhat
        if self.gamma is not None:
            y = y * self.gamma.value.astype(np.float64).reshape(self._groups, -1)
        if self.beta is not None:
            y = y + self.beta.value.astype(np.float64).reshape(self._groups, -1)
        out = self._ungrouped(y, x.shape).astype(np.float32)
        return out, ((xhat, inv, x.shape) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        xhat, inv, shape = ctx
        dyg = self._grouped(np.asarray(dy, dtype=np.float64))
        self._affine_grads(dyg, xhat, (0, 1))
        if not need_dx:
            return None
        g = dyg * self.gamma.value.astype(np.float64).reshape(self._groups, -1) if self.gamma is not None else dyg
        return self._ungrouped(_normalized_input_grad(g, xhat, inv, (1, 3)), shape).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(groups=self.groups, axis=self.axis, **self._affine_config())
        return config


class UnitNormalization(Layer):
    """Scales each slice of the input over ``axis`` to unit L2 norm (Keras 3
    ``UnitNormalization``)::

        y = x / max(sqrt(sum(x**2 over axis)), epsilon)

    with Keras's ``epsilon = 1e-12``, so an all-zero slice stays zero. Computed in float64.
    Where the norm exceeds epsilon the backward pass is
    ``dx = (dy - y * sum(dy * y over axis)) / norm``; below it the scale is the constant
    ``1 / epsilon``.

    Args:
        axis: an integer or a list of integers, the axes to normalize over (``-1``: the last;
            negative values count from the end). As in Keras, any axis of the input may be
            named, the batch axis included.

    Call arguments:
        inputs: array of any shape with the named axes.

    Returns:
        Array of the input's shape.

    Raises:
        ValueError: ``axis`` is not an integer or a non-empty list of integers, names an axis
            twice, or names an axis the input does not have.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import UnitNormalization
        >>> UnitNormalization()(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """

    supports_masking = True
    epsilon = 1e-12

    def __init__(self, axis: Any = -1, **kwargs: Any):
        super().__init__(**kwargs)

        def is_int(a: Any) -> bool:
            return isinstance(a, (int, np.integer)) and not isinstance(a, bool)

        if is_int(axis):
            self.axis: Any = int(axis)
        elif isinstance(axis, (list, tuple)) and axis and all(is_int(a) for a in axis):
            self.axis = [int(a) for a in axis]
        else:
            raise ValueError(
                f"UnitNormalization '{self.name}': axis must be an integer or a non-empty list of "
                f"integers. Received: axis={axis!r}"
            )

    def _axes(self, ndim: int) -> tuple:
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        if any(not -ndim <= a < ndim for a in axes):
            raise ValueError(
                f"UnitNormalization '{self.name}': axis {self.axis} is out of range for an input of "
                f"rank {ndim}"
            )
        out = tuple(sorted(a % ndim for a in axes))
        if len(set(out)) != len(out):
            raise ValueError(f"UnitNormalization '{self.name}': axis names an axis twice. Received: axis={self.axis!r}")
        return out

    def build(self, input_shape: tuple) -> None:
        self._axes(len(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._axes(len(input_shape))
        return tuple(input_shape)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        axes = self._axes(x.ndim)
        x64 = x.astype(np.float64)
        norm = np.sqrt(np.square(x64).sum(axis=axes, keepdims=True))
        inv = 1.0 / np.maximum(norm, self.epsilon)
        y64 = x64 * inv
        return y64.astype(np.float32), ((axes, y64, inv, norm > self.epsilon) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        axes, y64, inv, active = ctx
        dy64 = np.asarray(dy, dtype=np.float64)
        proj = (dy64 * y64).sum(axis=axes, keepdims=True) * active
        return (inv * (dy64 - y64 * proj)).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config


class RMSNormalization(Layer):
    """Root-mean-square normalization (Zhang & Sennrich, 2019; Keras 3 ``RMSNormalization``):
    divides each sample by the root mean square of its values over ``axis`` and multiplies by a
    learned ``scale``::

        y = x * rsqrt(mean(x**2 over axis) + epsilon) * scale

    Unlike LayerNormalization it neither subtracts the mean nor adds an offset. ``scale`` has
    the shape of the normalized axes and starts at ones (Keras's weight ``scale``). Statistics
    and gradients are computed in float64; with ``r = rsqrt(mean(x**2) + epsilon)`` and
    ``xhat = x * r`` the backward pass is
    ``dx = r * (g - xhat * mean(g * xhat))`` for ``g = dy * scale``, and
    ``dscale = sum(dy * xhat)`` over the other axes.

    Args:
        axis: an integer or a list of non-batch axes to normalize over (-1: the last).
        epsilon: added to the mean square, a number > 0 (default 1e-6).

    Call arguments:
        inputs: array ``(N, ...)`` with the named axes.

    Returns:
        Array of the input's shape.

    Raises:
        ValueError: ``epsilon`` is not a positive number; ``axis`` names the batch axis, an axis
            the input does not have, or an axis twice; the input's rank differs from the one
            the layer was built for.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import RMSNormalization
        >>> RMSNormalization()(np.array([[3.0, 4.0]])).astype(np.float64).round(4).tolist()
        [[0.8485, 1.1314]]
    """

    supports_masking = True

    def __init__(self, axis: Any = -1, epsilon: float = 1e-6, **kwargs: Any):
        super().__init__(**kwargs)
        who = f"RMSNormalization '{self.name}'"
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.integer, np.floating)) \
                or not epsilon > 0 or not np.isfinite(epsilon):
            raise ValueError(f"{who}: epsilon must be a finite number > 0. Received: epsilon={epsilon!r}")
        if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis: Any = int(axis)
        elif isinstance(axis, (list, tuple)) and axis and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis
        ):
            self.axis = [int(a) for a in axis]
        else:
            raise ValueError(
                f"{who}: axis must be an integer or a non-empty list of integers. Received: axis={axis!r}"
            )
        self.epsilon = float(epsilon)
        self.scale = None
        self._axes: tuple = ()
        self._ndim = None

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        who = f"RMSNormalization '{self.name}'"
        self._axes = _axes(self.axis, len(shape), who)
        dims = tuple(shape[a] for a in self._axes)
        if any(d is None for d in dims):
            raise ValueError(f"{who}: the normalized axes need known sizes. Received: shape={shape_str(shape)}")
        self.scale = self.add_weight("scale", dims, "ones")
        self._ndim = len(shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        _axes(self.axis, len(input_shape), f"RMSNormalization '{self.name}'")
        return tuple(input_shape)

    def _scale64(self, ndim: int) -> np.ndarray:
        shape = [1] * ndim
        for a, d in zip(self._axes, self.scale.shape):
            shape[a] = d
        return self.scale.value.astype(np.float64).reshape(shape)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        want = tuple(self.scale.shape)
        if x.ndim != self._ndim or tuple(x.shape[a] for a in self._axes) != want:
            raise ValueError(
                f"RMSNormalization '{self.name}': expected an input of rank {self._ndim} with sizes "
                f"{want} on axes {self._axes}. Received: shape={x.shape}"
            )
        x64 = x.astype(np.float64)
        r = 1.0 / np.sqrt(np.square(x64).mean(axis=self._axes, keepdims=True) + self.epsilon)
        xhat = x64 * r
        y = (xhat * self._scale64(x.ndim)).astype(np.float32)
        return y, ((xhat, r) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        xhat, r = ctx
        dy64 = np.asarray(dy, dtype=np.float64)
        if self.trainable and self.scale.trainable:
            other = tuple(i for i in range(dy64.ndim) if i not in self._axes)
            self.scale.grad += (dy64 * xhat).sum(axis=other).reshape(self.scale.shape).astype(np.float32)
        if not need_dx:
            return None
        g = dy64 * self._scale64(dy64.ndim)
        return (r * (g - xhat * (g * xhat).mean(axis=self._axes, keepdims=True))).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon)
        return config
