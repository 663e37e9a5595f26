"""Pooling layers, channels-last: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D and global pooling.

Windowed pooling runs in the native kernels (``pynncore.ops.max_pool2d`` and friends: SIMD over
channels, threads over the batch). 3-D pooling is separable: a 2-D pooling of every depth slice
(depth folded into the batch), then a 1-D pooling over depth with height, width and channels
folded into the channels. Both steps use the same ``'same'`` padding rule per axis, the count of
a clipped average window is the product of its per-axis counts, and the first maximum in
(depth, height, width) order is the first maximum of the first depth slice holding it, so the
result and its gradient are those of the direct 3-D pooling. Global pooling is one numpy
reduction over the spatial axes.

Adaptive pooling (``AdaptiveAveragePooling1D/2D/3D``, ``AdaptiveMaxPooling1D/2D/3D``) maps any
spatial size ``L`` to a fixed ``output_size`` ``O`` with Keras's (and PyTorch's) bins: output
cell ``i`` covers ``[floor(i * L / O), ceil((i + 1) * L / O))`` on each axis. The average is
separable: one ``(O, L)`` averaging matrix per axis, applied axis by axis (its transpose gives
the backward pass). The maximum gathers every window into one axis, takes the first maximum in
(depth, height, width) order and routes the gradient to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pynncore import ops
from pynncore.layers._spatial import check_data_format, check_spatial_rank
from pynncore.layers.base import Layer, shape_str

__all__ = [
    "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D",
    "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D",
    "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
]


def _size_tuple(layer: Layer, value: Any, n: int, name: str) -> tuple:
    """An int or `n` ints, each positive, as a tuple (errors name the layer)."""
    try:
        return ops._int_tuple(value, n, name, f"{type(layer).__name__} '{layer.name}'")
    except ValueError:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': {name} must be a positive int or a tuple of "
            f"{n} positive ints. Received: {name}={value!r}"
        ) from None


class _Pooling(Layer):
    """Windowed max or average pooling over `nd` spatial axes (1: (N, L, C), 2: (N, H, W, C))."""

    _nd = 2
    _mode = "max"

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        nd = self._nd
        self.pool_size = _size_tuple(self, pool_size, nd, "pool_size")
        self.strides = self.pool_size if strides is None else _size_tuple(self, strides, nd, "strides")
        pad = padding.lower() if isinstance(padding, str) else padding
        if pad not in ("valid", "same"):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': padding must be 'valid' or 'same'. "
                f"Received: padding={padding!r}"
            )
        self.padding = pad
        self.data_format = check_data_format(self, data_format)

    def _check_shape(self, shape: tuple) -> None:
        nd = self._nd
        check_spatial_rank(self, shape, nd)
        spatial = shape[1 : 1 + nd]
        if self.padding == "valid" and any(
            d is not None and k > d for d, k in zip(spatial, self.pool_size)
        ):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': pool_size {self.pool_size} is larger than "
                f"the input's spatial size {tuple(spatial)} with padding='valid'; expected "
                f"pool_size <= input size. Received: shape={shape_str(shape)}"
            )
        if any(d is not None and d <= 0 for d in spatial):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': expected positive spatial sizes. "
                f"Received: shape={shape_str(shape)}"
            )

    def build(self, input_shape: tuple) -> None:
        self._check_shape(tuple(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_shape(tuple(input_shape))
        out = [input_shape[0]]
        for d, k, s in zip(input_shape[1 : 1 + self._nd], self.pool_size, self.strides):
            if d is None:
                out.append(None)
            elif self.padding == "same":
                out.append((d + s - 1) // s)
            else:
                out.append((d - k) // s + 1)
        return tuple(out) + (input_shape[-1],)

    def _args(self) -> tuple:
        return self.pool_size, self.strides, self.padding

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._check_shape(x.shape)
        nd = self._nd
        if nd == 3:
            return self._forward3d(x, training)
        if self._mode == "max":
            y = (ops.max_pool1d if nd == 1 else ops.max_pool2d)(x, *self._args())
            return y, ((x, y) if training else None)
        y = (ops.avg_pool1d if nd == 1 else ops.avg_pool2d)(x, *self._args())
        return y, (x.shape if training else None)

    def _forward3d(self, x: np.ndarray, training: bool) -> tuple:
        """(N, D, H, W, C): 2-D pooling of each depth slice, then 1-D pooling over depth."""
        n, d, h, w, c = x.shape
        pd, ph, pw = self.pool_size
        sd, sh, sw = self.strides
        x4 = x.reshape(n * d, h, w, c)
        pool2 = ops.max_pool2d if self._mode == "max" else ops.avg_pool2d
        pool1 = ops.max_pool1d if self._mode == "max" else ops.avg_pool1d
        y2 = pool2(x4, (ph, pw), (sh, sw), self.padding)
        t = y2.reshape(n, d, -1)
        y1 = pool1(t, pd, sd, self.padding)
        y = y1.reshape((n, y1.shape[1]) + y2.shape[1:])
        return y, ((x4, y2, t, y1, x.shape) if training else None)

    def _backward3d(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        x4, y2, t, y1, shape = ctx
        pd, ph, pw = self.pool_size
        sd, sh, sw = self.strides
        g1 = dy.reshape(y1.shape)
        if self._mode == "max":
            gt = ops.max_pool1d_grad(t, y1, g1, pd, sd, self.padding)
            dx4 = ops.max_pool2d_grad(x4, y2, gt.reshape(y2.shape), (ph, pw), (sh, sw), self.padding)
        else:
            gt = ops.avg_pool1d_grad(g1, t.shape, pd, sd, self.padding)
            dx4 = ops.avg_pool2d_grad(gt.reshape(y2.shape), x4.shape, (ph, pw), (sh, sw), self.padding)
        return dx4.reshape(shape)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if not need_dx:
            return None
        dy = np.ascontiguousarray(dy, dtype=np.float32)
        if self._nd == 3:
            return self._backward3d(ctx, dy)
        if self._mode == "max":
            x, y = ctx
            grad = ops.max_pool1d_grad if self._nd == 1 else ops.max_pool2d_grad
            return grad(x, y, dy, *self._args())
        grad = ops.avg_pool1d_grad if self._nd == 1 else ops.avg_pool2d_grad
        return grad(dy, ctx, *self._args())

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            pool_size=list(self.pool_size) if self._nd > 1 else self.pool_size[0],
            strides=list(self.strides) if self._nd > 1 else self.strides[0],
            padding=self.padding,
            data_format=self.data_format,
        )
        return config


class MaxPooling2D(_Pooling):
    """Max pooling of images ``(N, H, W, C)`` over ``pool_size`` windows.

    Args:
        pool_size: int or ``(ph, pw)``, default ``(2, 2)``.
        strides: int, ``(sh, sw)`` or None (the pool size).
        padding: ``'valid'`` or ``'same'`` (output ``ceil(H / sh)``; padding never wins).
        data_format: ``'channels_last'`` (or None).

    Call arguments:
        inputs: ``(N, H, W, C)``.

    Returns:
        ``(N, OH, OW, C)``. In training, each window's gradient goes to its first maximum
        (row-major), as in Keras and PyTorch.

    Raises:
        ValueError: wrong rank, non-positive sizes, unknown padding, or a pool larger than the
            input with ``'valid'``.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import MaxPooling2D
        >>> MaxPooling2D()(np.zeros((1, 5, 5, 3))).shape
        (1, 2, 2, 3)
    """

    _nd, _mode = 2, "max"


class AveragePooling2D(_Pooling):
    """Average pooling of images ``(N, H, W, C)``; ``'same'`` padding is not counted (Keras).

    Arguments as ``MaxPooling2D``.
    """

    _nd, _mode = 2, "avg"


class MaxPooling1D(_Pooling):
    """Max pooling of sequences ``(N, steps, C)`` over ``pool_size`` steps (default 2)."""

    _nd, _mode = 1, "max"


class AveragePooling1D(_Pooling):
    """Average pooling of sequences ``(N, steps, C)``; ``'same'`` padding is not counted."""

    _nd, _mode = 1, "avg"


class MaxPooling3D(_Pooling):
    """Max pooling of volumes ``(N, D, H, W, C)`` over ``pool_size`` windows.

    Args:
        pool_size: int or ``(pd, ph, pw)``, default ``(2, 2, 2)``.
        strides: int, ``(sd, sh, sw)`` or None (the pool size).
        padding: ``'valid'`` or ``'same'`` (output ``ceil(size / stride)`` per axis; padding
            never wins).
        data_format: ``'channels_last'`` (or None).

    Call arguments:
        inputs: ``(N, D, H, W, C)``.

    Returns:
        ``(N, OD, OH, OW, C)``. In training, each window's gradient goes to its first maximum
        in (depth, height, width) order, as MaxPooling2D does.

    Raises:
        ValueError: wrong rank, non-positive sizes, unknown padding, or a pool larger than the
            input with ``'valid'``.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import MaxPooling3D
        >>> MaxPooling3D()(np.zeros((1, 5, 4, 3, 2))).shape
        (1, 2, 2, 1, 2)
    """

    _nd, _mode = 3, "max"


class AveragePooling3D(_Pooling):
    """Average pooling of volumes ``(N, D, H, W, C)``; ``'same'`` padding is not counted (Keras).

    Arguments as ``MaxPooling3D``.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import AveragePooling3D
        >>> AveragePooling3D(2, padding="same")(np.ones((1, 5, 4, 3, 2))).shape
        (1, 3, 2, 2, 2)
    """

    _nd, _mode = 3, "avg"


class _GlobalPooling(Layer):
    """Max or mean over every spatial axis of ``(N, ..., C)``; ``keepdims`` keeps them as 1."""

    _nd = 2
    _mode = "max"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = check_data_format(self, data_format)
        self.keepdims = bool(keepdims)

    def _check_shape(self, shape: tuple) -> None:
        check_spatial_rank(self, shape, self._nd)

    def build(self, input_shape: tuple) -> None:
        self._check_shape(tuple(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_shape(tuple(input_shape))
        if self.keepdims:
            return (input_shape[0],) + (1,) * self._nd + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._check_shape(x.shape)
        n, c = x.shape[0], x.shape[-1]
        flat = x.reshape(n, -1, c)
        if flat.shape[1] == 0:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': expected a non-empty spatial extent. "
                f"Received: shape={x.shape}"
            )
        if self._mode == "max":
            y = flat.max(axis=1)
            ctx = (flat, y, x.shape) if training else None
        else:
            y = flat.mean(axis=1, dtype=np.float64).astype(np.float32)
            ctx = x.shape if training else None
        out_shape = (n,) + (1,) * self._nd + (c,) if self.keepdims else (n, c)
        return y.reshape(out_shape), ctx

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if not need_dx:
            return None
        if self._mode == "max":
            flat, y, shape = ctx
            g = np.asarray(dy, dtype=np.float32).reshape(y.shape)
            # Keras reduces with max: ties share the gradient equally (a NaN maximum goes to
            # the NaN entries).
            hit = (flat == y[:, None, :]) | (np.isnan(flat) & np.isnan(y)[:, None, :])
            count = hit.sum(axis=1, dtype=np.float32)
            return (hit * (g / count)[:, None, :]).astype(np.float32).reshape(shape)
        shape = ctx
        n, c = shape[0], shape[-1]
        spatial = int(np.prod(shape[1:-1], dtype=np.int64))
        g = np.asarray(dy, dtype=np.float32).reshape(n, 1, c) * np.float32(1.0 / spatial)
        return np.ascontiguousarray(np.broadcast_to(g, (n, spatial, c))).reshape(shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class GlobalMaxPooling2D(_GlobalPooling):
    """Maximum over height and width: ``(N, H, W, C)`` to ``(N, C)`` (``keepdims``: ``(N, 1, 1, C)``)."""

    _nd, _mode = 2, "max"


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: ``(N, H, W, C)`` to ``(N, C)`` (``keepdims``: ``(N, 1, 1, C)``)."""

    _nd, _mode = 2, "avg"


class GlobalMaxPooling3D(_GlobalPooling):
    """Maximum over depth, height and width: ``(N, D, H, W, C)`` to ``(N, C)`` (``keepdims``:
    ``(N, 1, 1, 1, C)``); ties share the gradient equally, as in Keras."""

    _nd, _mode = 3, "max"


class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over depth, height and width: ``(N, D, H, W, C)`` to ``(N, C)`` (``keepdims``:
    ``(N, 1, 1, 1, C)``)."""

    _nd, _mode = 3, "avg"


class GlobalMaxPooling1D(_GlobalPooling):
    """Maximum over steps: ``(N, steps, C)`` to ``(N, C)`` (``keepdims``: ``(N, 1, C)``)."""

    _nd, _mode = 1, "max"


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over steps: ``(N, steps, C)`` to ``(N, C)`` (``keepdims``: ``(N, 1, C)``).

    With a mask ``(N, steps)`` (e.g. from ``Embedding(mask_zero=True)``) the mean runs over
    the unmasked steps only, as in Keras; the output carries no mask.
    """

    _nd, _mode = 1, "avg"
    consumes_mask = True

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
        return None

    def forward(self, x: np.ndarray, training: bool = False, mask: np.ndarray | None = None) -> tuple:
        if mask is None:
            return super().forward(x, training)
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._check_shape(x.shape)
        w = np.asarray(mask)
        if w.shape != x.shape[:2]:
            raise ValueError(
                f"GlobalAveragePooling1D '{self.name}': expected a mask of shape {x.shape[:2]} "
                f"(batch, steps). Received: mask shape={w.shape}"
            )
        w = w.astype(np.float32)
        count = w.sum(axis=1, keepdims=True)  # (N, 1); a fully masked row gives NaN, as in Keras
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = (w / count)[:, :, None]  # (N, steps, 1)
        y = (x * scale).sum(axis=1, dtype=np.float64).astype(np.float32)
        if self.keepdims:
            y = y[:, None, :]
        return y, (("masked", scale, x.shape) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if isinstance(ctx, tuple) and ctx and isinstance(ctx[0], str):
            if not need_dx:
                return None
            _, scale, shape = ctx
            g = np.asarray(dy, dtype=np.float32).reshape(shape[0], 1, shape[2])
            return np.ascontiguousarray(g * scale, dtype=np.float32)
        return super().backward(ctx, dy, need_dx)


# Keras's short aliases.
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
MaxPool3D = MaxPooling3D
AvgPool3D = AveragePooling3D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool3D = GlobalAveragePooling3D


def adaptive_bins(length: int, out: int) -> tuple:
    """Start and end (exclusive) of each of the ``out`` adaptive pooling windows over
    ``length`` positions: ``floor(i * length / out)`` and ``ceil((i + 1) * length / out)``."""
    i = np.arange(out, dtype=np.int64)
    starts = (i * length) // out
    ends = -((-(i + 1) * length) // out)
    return starts, ends


class _AdaptivePooling(Layer):
    """Average or max pooling of ``(N, <nd spatial axes>, C)`` to the spatial size
    ``output_size`` whatever the input's size (see the module docstring for the bins)."""

    _nd = 2
    _mode = "max"

    def __init__(self, output_size: Any, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        nd = self._nd
        who = f"{type(self).__name__} '{self.name}'"
        if isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
            sizes: Any = (int(output_size),) * nd
        elif isinstance(output_size, (list, tuple)) and len(output_size) == nd and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in output_size
        ):
            sizes = tuple(int(v) for v in output_size)
        else:
            raise TypeError(
                f"{who}: output_size must be an integer or a tuple of {nd} integers. "
                f"Received: output_size={output_size!r}"
            )
        if any(v <= 0 for v in sizes):
            raise ValueError(f"{who}: output_size must be positive. Received: output_size={output_size!r}")
        self.output_size = sizes
        self.data_format = check_data_format(self, data_format)

    def _check_shape(self, shape: tuple) -> None:
        check_spatial_rank(self, shape, self._nd)
        if any(d is not None and d <= 0 for d in shape[1:-1]):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': expected positive spatial sizes. "
                f"Received: shape={shape_str(shape)}"
            )

    def build(self, input_shape: tuple) -> None:
        self._check_shape(tuple(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_shape(tuple(input_shape))
        return (input_shape[0],) + self.output_size + (input_shape[-1],)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._check_shape(x.shape)
        if self._mode == "avg":
            y = x.astype(np.float64)
            for a, o in enumerate(self.output_size, start=1):
                y = _apply_along(_average_matrix(x.shape[a], o), y, a)
            return np.ascontiguousarray(y, dtype=np.float32), (x.shape if training else None)
        return self._max_forward(x, training)

    def _max_forward(self, x: np.ndarray, training: bool) -> tuple:
        nd, n, c = self._nd, x.shape[0], x.shape[-1]
        spatial = x.shape[1:-1]
        index, valid, widths = [], None, []
        for a, (length, o) in enumerate(zip(spatial, self.output_size)):
            starts, ends = adaptive_bins(length, o)
            w = int((ends - starts).max())
            k = np.arange(w, dtype=np.int64)
            idx = np.minimum(starts[:, None] + k, length - 1)  # (O, W)
            ok = k < (ends - starts)[:, None]
            shape = [1] * (2 * nd)
            shape[2 * a], shape[2 * a + 1] = o, w
            index.append(idx.reshape(shape))
            valid = ok.reshape(shape) if valid is None else valid & ok.reshape(shape)
            widths.append(w)
        # (N, O1, W1, ..., Ok, Wk, C) -> (N, O1, ..., Ok, C, W1 * ... * Wk)
        win = x[(slice(None), *index, slice(None))]
        win = np.where(valid[None, ..., None], win, np.float32(-np.inf))
        order = [0] + [1 + 2 * a for a in range(nd)] + [1 + 2 * nd] + [2 + 2 * a for a in range(nd)]
        win = win.transpose(order).reshape((n,) + self.output_size + (c, int(np.prod(widths))))
        arg = win.argmax(axis=-1)
        y = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
        if not training:
            return np.ascontiguousarray(y), None
        # Input position of each maximum: unravel the window offset, add the window start.
        offs = np.unravel_index(arg, tuple(widths))
        flat = np.zeros(arg.shape, dtype=np.int64)
        for a, (length, o) in enumerate(zip(spatial, self.output_size)):
            starts, _ = adaptive_bins(length, o)
            shape = [1] * (nd + 2)
            shape[a + 1] = o
            flat = flat * length + starts.reshape(shape) + offs[a]
        flat = (np.arange(n, dtype=np.int64).reshape((n,) + (1,) * (nd + 1)) * int(np.prod(spatial))
                + flat) * c + np.arange(c, dtype=np.int64)
        return np.ascontiguousarray(y), (flat, x.shape)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if not need_dx:
            return None
        dy = np.asarray(dy, dtype=np.float32)
        if self._mode == "avg":
            shape = ctx
            g = dy.astype(np.float64)
            for a, o in enumerate(self.output_size, start=1):
                g = _apply_along(_average_matrix(shape[a], o).T, g, a)
            return np.ascontiguousarray(g, dtype=np.float32)
        flat, shape = ctx
        size = int(np.prod(shape))
        dx = np.bincount(flat.reshape(-1), weights=dy.reshape(-1), minlength=size)
        return dx.astype(np.float32).reshape(shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(output_size=list(self.output_size), data_format=self.data_format)
        return config


def _average_matrix(length: int, out: int) -> np.ndarray:
    """``(out, length)`` float64 matrix whose row ``i`` averages adaptive window ``i``."""
    starts, ends = adaptive_bins(length, out)
    pos = np.arange(length)
    inside = (pos >= starts[:, None]) & (pos < ends[:, None])
    return inside / (ends - starts)[:, None].astype(np.float64)


def _apply_along(m: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """Applies the matrix ``m`` (out, len) to axis ``axis`` of ``x``."""
    return np.moveaxis(np.tensordot(m, x, axes=([1], [axis])), 0, axis)


_ADAPTIVE_DOC = """Adaptive {kind} pooling of {layout} to the spatial size ``output_size`` (Keras 3
    ``Adaptive{Kind}Pooling{nd}D``), whatever the input's spatial size.

    Output cell ``i`` of an axis of size ``L`` pools the input positions
    ``floor(i * L / O)`` to ``ceil((i + 1) * L / O) - 1`` (windows may overlap by one position,
    and ``O > L`` repeats positions). {detail}

    Args:
        output_size: an integer or a tuple of {nd} positive integers, the output's spatial size.
        data_format: ``"channels_last"`` (or None).

    Call arguments:
        inputs: array {layout}.

    Returns:
        Array ``(N, *output_size, C)``.

    Raises:
        TypeError: ``output_size`` is not an integer or a tuple of {nd} integers.
        ValueError: ``output_size`` is not positive, another ``data_format``, or an input that is
            not {rank}-D or has an empty spatial axis.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Adaptive{Kind}Pooling{nd}D
        >>> Adaptive{Kind}Pooling{nd}D({example})(np.ones({shape})).shape
        {out}
    """


def _adaptive_doc(kind: str, nd: int) -> str:
    layout = {1: "``(N, L, C)``", 2: "``(N, H, W, C)``", 3: "``(N, D, H, W, C)``"}[nd]
    detail = (
        "The gradient goes to the first maximum of each window."
        if kind == "max"
        else "The gradient of each output is shared equally by its window's positions."
    )
    shape = {1: "(2, 7, 3)", 2: "(2, 7, 5, 3)", 3: "(2, 7, 5, 4, 3)"}[nd]
    out = {1: "(2, 3, 3)", 2: "(2, 3, 3, 3)", 3: "(2, 3, 3, 3, 3)"}[nd]
    return _ADAPTIVE_DOC.format(kind=kind, Kind=kind.capitalize() if kind == "max" else "Average", nd=nd,
                                layout=layout, detail=detail, rank=nd + 2, example=3, shape=shape, out=out)


class AdaptiveAveragePooling1D(_AdaptivePooling):
    __doc__ = _adaptive_doc("average", 1)
    _nd, _mode = 1, "avg"


class AdaptiveAveragePooling2D(_AdaptivePooling):
    __doc__ = _adaptive_doc("average", 2)
    _nd, _mode = 2, "avg"


class AdaptiveAveragePooling3D(_AdaptivePooling):
    __doc__ = _adaptive_doc("average", 3)
    _nd, _mode = 3, "avg"


class AdaptiveMaxPooling1D(_AdaptivePooling):
    __doc__ = _adaptive_doc("max", 1)
    _nd, _mode = 1, "max"


class AdaptiveMaxPooling2D(_AdaptivePooling):
    __doc__ = _adaptive_doc("max", 2)
    _nd, _mode = 2, "max"


class AdaptiveMaxPooling3D(_AdaptivePooling):
    __doc__ = _adaptive_doc("max", 3)
    _nd, _mode = 3, "max"
