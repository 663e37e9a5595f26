"""Spatial reshaping layers, channels-last: ZeroPadding1D/2D/3D, Cropping1D/2D/3D,
UpSampling1D/2D/3D.

Each is one vectorised numpy expression (slicing, padding, repeat, a reshaped sum): no Python
loop over samples or pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pynncore.layers._spatial import check_data_format, check_spatial_rank
from pynncore.layers.base import Layer, shape_str

__all__ = ["Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
           "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Permute", "RepeatVector"]


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _pairs(layer: Layer, value: Any, nd: int, name: str) -> tuple:
    """Keras's forms: an int (all sides), ``nd`` ints (symmetric per axis), or ``nd`` pairs
    (1-D: an int or one pair). Returns ``nd`` (before, after) pairs of non-negative ints."""
    cls = type(layer).__name__
    bad = ValueError(
        f"{cls} '{layer.name}': {name} must be a non-negative int, a tuple of {nd} non-negative "
        f"ints" + (", or a tuple of 2 non-negative ints" if nd == 1 else f" or {nd} pairs of them")
        + f". Received: {name}={value!r}"
    )
    if _is_int(value):
        pairs = ((int(value), int(value)),) * nd
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise bad from None
        if nd == 1 and len(items) == 2 and all(_is_int(v) for v in items):
            pairs = ((int(items[0]), int(items[1])),)
        elif nd > 1 and len(items) == nd and all(_is_int(v) for v in items):
            pairs = tuple((int(v), int(v)) for v in items)
        elif len(items) == nd:
            try:
                pairs = tuple(tuple(p) for p in items)
            except TypeError:
                raise bad from None
            if any(len(p) != 2 or not all(_is_int(v) for v in p) for p in pairs):
                raise bad
            pairs = tuple((int(a), int(b)) for a, b in pairs)
        else:
            raise bad
    if any(v < 0 for p in pairs for v in p):
        raise ValueError(
            f"{cls} '{layer.name}': {name} must be non-negative. Received: {name}={value!r}"
        )
    return pairs


class _Spatial(Layer):
    _nd = 2

    def _check_rank(self, shape: tuple) -> None:
        check_spatial_rank(self, shape, self._nd)

    def build(self, input_shape: tuple) -> None:
        self.compute_output_shape(tuple(input_shape))
        self.built = True


class _ZeroPadding(_Spatial):
    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.padding = _pairs(self, padding, self._nd, "padding")
        if self._nd >= 2:
            self.data_format = check_data_format(self, data_format)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_rank(input_shape)
        out = [input_shape[0]]
        for d, (a, b) in zip(input_shape[1:-1], self.padding):
            out.append(None if d is None else d + a + b)
        return tuple(out) + (input_shape[-1],)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        self._check_rank(x.shape)
        y = np.pad(np.asarray(x, dtype=np.float32), ((0, 0),) + self.padding + ((0, 0),))
        return y, (x.shape if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if not need_dx:
            return None
        index = (slice(None),) + tuple(slice(a, a + d) for (a, _), d in zip(self.padding, ctx[1:-1]))
        return np.ascontiguousarray(dy[index], dtype=np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        if self._nd == 1:
            config["padding"] = list(self.padding[0])
        else:
            config["padding"] = [list(p) for p in self.padding]
            config["data_format"] = self.data_format
        return config


class ZeroPadding1D(_ZeroPadding):
    """Pads sequences ``(N, steps, C)`` with zeros: ``padding`` an int or ``(left, right)``."""

    _nd = 1


class ZeroPadding2D(_ZeroPadding):
    """Pads images ``(N, H, W, C)`` with zeros: ``padding`` an int, ``(sym_h, sym_w)`` or
    ``((top, bottom), (left, right))``.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import ZeroPadding2D
        >>> ZeroPadding2D(((1, 0), (2, 1)))(np.ones((1, 3, 3, 2))).shape
        (1, 4, 6, 2)
    """

    _nd = 2


class ZeroPadding3D(_ZeroPadding):
    """Pads volumes ``(N, D, H, W, C)`` with zeros: ``padding`` an int, ``(sym_d, sym_h, sym_w)``
    or ``((front, back), (top, bottom), (left, right))``; default 1 on every side.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import ZeroPadding3D
        >>> ZeroPadding3D(((1, 0), (2, 1), (0, 0)))(np.ones((1, 3, 3, 3, 2))).shape
        (1, 4, 6, 3, 2)
    """

    _nd = 3

    def __init__(self, padding: Any = ((1, 1), (1, 1), (1, 1)), data_format: str | None = None, **kwargs: Any):
        super().__init__(padding, data_format, **kwargs)


class _Cropping(_Spatial):
    _default: Any = 0

    def __init__(self, cropping: Any = None, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.cropping = _pairs(self, self._default if cropping is None else cropping, self._nd, "cropping")
        if self._nd >= 2:
            self.data_format = check_data_format(self, data_format)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_rank(input_shape)
        out = [input_shape[0]]
        for d, (a, b) in zip(input_shape[1:-1], self.cropping):
            if d is not None and a + b >= d:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': cropping {self.cropping} removes all of "
                    f"an axis; expected cropping smaller than the input's spatial size. "
                    f"Received: shape={shape_str(input_shape)}"
                )
            out.append(None if d is None else d - a - b)
        return tuple(out) + (input_shape[-1],)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        self.compute_output_shape(x.shape)
        index = (slice(None),) + tuple(slice(a, d - b) for (a, b), d in zip(self.cropping, x.shape[1:-1]))
        y = np.ascontiguousarray(np.asarray(x, dtype=np.float32)[index])
        return y, (x.shape if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if not need_dx:
            return None
        return np.pad(np.asarray(dy, dtype=np.float32), ((0, 0),) + self.cropping + ((0, 0),))

    def get_config(self) -> dict:
        config = super().get_config()
        if self._nd == 1:
            config["cropping"] = list(self.cropping[0])
        else:
            config["cropping"] = [list(p) for p in self.cropping]
            config["data_format"] = self.data_format
        return config


class Cropping1D(_Cropping):
    """Crops sequences ``(N, steps, C)``: ``cropping`` an int or ``(left, right)``, default (1, 1)."""

    _nd = 1
    _default = (1, 1)


class Cropping2D(_Cropping):
    """Crops images ``(N, H, W, C)``: ``cropping`` an int, ``(sym_h, sym_w)`` or
    ``((top, bottom), (left, right))``, default no cropping."""

    _nd = 2
    _default = ((0, 0), (0, 0))


class Cropping3D(_Cropping):
    """Crops volumes ``(N, D, H, W, C)``: ``cropping`` an int, ``(sym_d, sym_h, sym_w)`` or
    ``((front, back), (top, bottom), (left, right))``, default 1 on every side (Keras).

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Cropping3D
        >>> Cropping3D(((1, 0), (0, 2), (1, 1)))(np.ones((1, 4, 5, 6, 2))).shape
        (1, 3, 3, 4, 2)
    """

    _nd = 3
    _default = ((1, 1), (1, 1), (1, 1))


class _UpSampling(_Spatial):
    def _size(self, size: Any) -> tuple:
        nd = self._nd
        if _is_int(size):
            out = (int(size),) * nd
        else:
            try:
                out = tuple(size)
            except TypeError:
                out = ()
            if len(out) != nd or not all(_is_int(v) for v in out):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': size must be a positive int or a tuple "
                    f"of {nd} positive ints. Received: size={size!r}"
                )
            out = tuple(int(v) for v in out)
        if any(v <= 0 for v in out):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': size must be positive. Received: size={size!r}"
            )
        return out

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_rank(input_shape)
        out = [input_shape[0]]
        for d, s in zip(input_shape[1:-1], self._factors):
            out.append(None if d is None else d * s)
        return tuple(out) + (input_shape[-1],)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        self._check_rank(x.shape)
        y = np.asarray(x, dtype=np.float32)
        for axis, s in enumerate(self._factors, start=1):
            if s > 1:
                y = np.repeat(y, s, axis=axis)
        return np.ascontiguousarray(y), (x.shape if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if not need_dx:
            return None
        shape = ctx
        split = [shape[0]]
        for d, s in zip(shape[1:-1], self._factors):
            split += [d, s]
        g = np.asarray(dy, dtype=np.float32).reshape(tuple(split) + (shape[-1],))
        return np.ascontiguousarray(g.sum(axis=tuple(range(2, 2 * self._nd + 1, 2)), dtype=np.float32))


class UpSampling1D(_UpSampling):
    """Repeats each step of ``(N, steps, C)`` ``size`` times (default 2)."""

    _nd = 1

    def __init__(self, size: Any = 2, **kwargs: Any):
        super().__init__(**kwargs)
        self._factors = self._size(size)
        self.size = self._factors[0]

    def get_config(self) -> dict:
        config = super().get_config()
        config["size"] = self.size
        return config


def _bilinear_matrix(n_in: int, scale: int) -> np.ndarray:
    """(n_in * scale, n_in) float64 interpolation weights of half-pixel bilinear resizing
    (source position (o + 0.5) / scale - 0.5, clamped at the edges), as Keras's
    ``ops.image.resize(..., "bilinear")`` and PyTorch's ``align_corners=False``."""
    n_out = n_in * scale
    src = np.maximum((np.arange(n_out) + 0.5) / scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = src - i0
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1.0 - w1)
    np.add.at(m, (rows, i1), w1)
    return m


class UpSampling2D(_UpSampling):
    """Upsampling of ``(N, H, W, C)`` by ``size`` (default ``(2, 2)``).

    ``interpolation='nearest'`` makes each pixel a ``size[0] x size[1]`` block;
    ``'bilinear'`` interpolates with half-pixel centers and clamped edges (Keras 3's image
    resize, PyTorch's ``align_corners=False``), as two small matrix products per image.
    """

    _nd = 2

    def __init__(self, size: Any = (2, 2), data_format: str | None = None, interpolation: str = "nearest", **kwargs: Any):
        super().__init__(**kwargs)
        self._factors = self._size(size)
        self.size = self._factors
        self.data_format = check_data_format(self, data_format)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"UpSampling2D '{self.name}': interpolation must be 'nearest' or 'bilinear'. "
                f"Received: interpolation={interpolation!r}"
            )
        self.interpolation = interpolation

    def _matrices(self, shape: tuple) -> tuple:
        return tuple(_bilinear_matrix(d, s).astype(np.float32) for d, s in zip(shape[1:3], self._factors))

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        if self.interpolation == "nearest":
            return super().forward(x, training)
        self._check_rank(np.shape(x))
        x = np.asarray(x, dtype=np.float32)
        mh, mw = self._matrices(x.shape)
        y = np.einsum("oh,nhwc,pw->nopc", mh, x, mw, optimize=True)
        return np.ascontiguousarray(y, dtype=np.float32), (x.shape if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if self.interpolation == "nearest":
            return super().backward(ctx, dy, need_dx)
        if not need_dx:
            return None
        mh, mw = self._matrices(ctx)
        g = np.asarray(dy, dtype=np.float32)
        return np.ascontiguousarray(np.einsum("oh,nopc,pw->nhwc", mh, g, mw, optimize=True), dtype=np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(size=list(self.size), data_format=self.data_format, interpolation=self.interpolation)
        return config


class UpSampling3D(_UpSampling):
    """Nearest-neighbour upsampling of ``(N, D, H, W, C)``: each voxel becomes a
    ``size[0] x size[1] x size[2]`` block (default ``(2, 2, 2)``).

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import UpSampling3D
        >>> UpSampling3D((1, 2, 3))(np.ones((1, 2, 2, 2, 3))).shape
        (1, 2, 4, 6, 3)
    """

    _nd = 3

    def __init__(self, size: Any = (2, 2, 2), data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._factors = self._size(size)
        self.size = self._factors
        self.data_format = check_data_format(self, data_format)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(size=list(self.size), data_format=self.data_format)
        return config


class RepeatVector(Layer):
    """Repeats a ``(N, features)`` input ``n`` times: ``(N, n, features)``."""

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"RepeatVector '{self.name}': n must be an integer >= 1. Received: n={n!r}")
        self.n = int(n)

    def _check(self, shape: tuple) -> None:
        if len(shape) != 2:
            raise ValueError(
                f"RepeatVector '{self.name}': expected an input of rank 2 (batch, features). "
                f"Received: shape={tuple(shape)}"
            )

    def build(self, input_shape: tuple) -> None:
        self._check(tuple(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        self._check(np.shape(x))
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.ascontiguousarray(np.broadcast_to(x[:, None, :], (x.shape[0], self.n, x.shape[1]))), None

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Any:
        return np.asarray(dy, dtype=np.float32).sum(axis=1, dtype=np.float32) if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config["n"] = self.n
        return config


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` is a permutation of ``1..rank-1`` (1-based, the
    batch axis is never moved)."""

    supports_masking = True

    def __init__(self, dims: Any, **kwargs: Any):
        super().__init__(**kwargs)
        try:
            d = tuple(int(v) for v in dims)
        except (TypeError, ValueError):
            d = None
        if d is None or sorted(d) != list(range(1, len(d) + 1)):
            raise ValueError(
                f"Permute '{self.name}': dims must be a permutation of 1..{len(d) if d else 'rank-1'} "
                f"(the batch axis 0 is excluded). Received: dims={dims!r}"
            )
        self.dims = d

    def _check(self, shape: tuple) -> None:
        if len(shape) != len(self.dims) + 1:
            raise ValueError(
                f"Permute '{self.name}': expected an input of rank {len(self.dims) + 1} for "
                f"dims={self.dims}. Received: shape={tuple(shape)}"
            )

    def build(self, input_shape: tuple) -> None:
        self._check(tuple(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        self._check(np.shape(x))
        return np.ascontiguousarray(np.transpose(x, (0,) + self.dims), dtype=np.float32), None

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Any:
        if not need_dx:
            return None
        inv = np.argsort((0,) + self.dims)
        return np.ascontiguousarray(np.transpose(dy, tuple(int(i) for i in inv)), dtype=np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config
