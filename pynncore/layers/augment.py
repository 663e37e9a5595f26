"""Random image augmentation layers (Keras 3 names, arguments and numbers), channels-last
images ``(N, H, W, C)``.

Geometric: RandomCrop, RandomTranslation, RandomRotation, RandomZoom. Colour: RandomContrast,
RandomBrightness. Each draws its transformation in training (one per image; one per batch
for RandomCrop, as in Keras) and is the identity at inference (RandomCrop: a centered crop to
the target's aspect ratio resized to the target). ``get_random_transformation`` and
``transform_images`` expose the draw and its application separately, with Keras's structures
(e.g. ``{"translations": (N, 2)}``), so a given transformation can be replayed.

The three affine layers resample each image once, as Keras's ``affine_transform``: output pixel
``(y, x)`` reads the input at ``(b0 x + b1 y + b2, a0 x + a1 y + a2)`` with
``[a0, a1, a2, b0, b1, b2]`` the layer's matrix, nearest (round half to even) or bilinear
taps, and out-of-range taps filled by ``fill_mode``:

    reflect   d c b a | a b c d | d c b a
    wrap      a b c d | a b c d | a b c d
    nearest   a a a a | a b c d | d d d d
    constant  k k k k | a b c d | k k k k     (k = fill_value, per tap)

Every transformation is linear in the image for fixed parameters (up to the clipping of the
colour layers), so the backward pass is its transpose.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from pynncore.layers.base import Layer
from pynncore.layers.preprocessing import (
    _INTERPOLATIONS,
    _TargetSizeLayer,
    _check_data_format,
    _check_images,
    _crop_backward,
    _resize,
)

__all__ = [
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
]

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _is_number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float, np.integer, np.floating))
        and bool(np.isfinite(value))
    )


def _check_seed(who: str, seed: Any) -> Optional[int]:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"{who}: seed must be an integer or None. Received: seed={seed!r}")
    return None if seed is None else int(seed)


def _factor_range(who: str, name: str, factor: Any, low: float, high: float, open_low: bool = False) -> tuple:
    """``(lower, upper)`` of a factor given as one number ``f`` (``(-|f|, |f|)``, clamped at
    ``low``) or as a pair; every number must lie in ``[low, high]`` (``(low, high]`` when
    ``open_low``)."""
    left = "(" if open_low else "["
    expected = f"a number or a pair of numbers in {left}{low}, {high}]"

    def inside(v: Any) -> bool:
        return _is_number(v) and (v > low if open_low else v >= low) and v <= high

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(inside(v) for v in factor):
            raise ValueError(f"{who}: {name} must be {expected}. Received: {name}={factor!r}")
        lower, upper = sorted(float(v) for v in factor)
        return lower, upper
    if not inside(factor):
        raise ValueError(f"{who}: {name} must be {expected}. Received: {name}={factor!r}")
    f = abs(float(factor))
    return max(-f, low), f


def _as_config_factor(factor: Any) -> Any:
    if factor is None:
        return None
    if isinstance(factor, (tuple, list)):
        return tuple(float(v) for v in factor)
    return float(factor)


def _check_value_range(who: str, value_range: Any) -> tuple:
    if (
        not isinstance(value_range, (tuple, list))
        or len(value_range) != 2
        or not all(_is_number(v) for v in value_range)
    ):
        raise ValueError(
            f"{who}: value_range must be a pair of numbers (low, high). Received: value_range={value_range!r}"
        )
    low, high = sorted(float(v) for v in value_range)
    return low, high


# -- resampling ----------------------------------------------------------------------------


def _fix_index(index: np.ndarray, size: int, fill_mode: str) -> np.ndarray:
    """Maps integer source indices into ``[0, size)`` by the fill mode (constant taps are
    clamped here and masked by the caller)."""
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "reflect":
        return (np.abs((2 * index + 1 + 2 * size) % (4 * size) - 2 * size) - 1) // 2
    return np.clip(index, 0, size - 1)


def _taps(coord: np.ndarray, size: int, interpolation: str, fill_mode: str) -> list:
    """``[(index in [0, size), inside, weight)]`` of one axis' sampling positions."""
    if interpolation == "nearest":
        nodes = [(np.rint(coord).astype(np.int64), np.float32(1.0))]
    else:
        lower = np.floor(coord)
        upper_weight = (coord - lower).astype(np.float32)
        lower = lower.astype(np.int64)
        nodes = [(lower, np.float32(1.0) - upper_weight), (lower + 1, upper_weight)]
    return [(_fix_index(i, size, fill_mode), (i >= 0) & (i < size), w) for i, w in nodes]


def _affine_sample(x: np.ndarray, matrix: np.ndarray, interpolation: str, fill_mode: str, fill_value: float) -> tuple:
    """Resamples images ``(N, H, W, C)`` through per-image matrices ``(N, >= 6)``
    ``[a0, a1, a2, b0, b1, b2, ...]``; returns the float32 result and the taps
    ``[(flat source index (N, H, W), weight (N, H, W))]`` of the backward pass."""
    n, h, w, c = x.shape
    m = np.asarray(matrix, dtype=np.float32).reshape(n, -1)
    a0, a1, a2, b0, b1, b2 = (m[:, k, None, None] for k in range(6))
    rows = np.arange(h, dtype=np.float32)[None, :, None]
    cols = np.arange(w, dtype=np.float32)[None, None, :]
    src_y = (rows * b1 + cols * b0) + b2
    src_x = (rows * a1 + cols * a0) + a2
    flat = x.reshape(n * h * w, c)
    base = (np.arange(n, dtype=np.int64) * (h * w))[:, None, None]
    constant = fill_mode == "constant"
    fill = np.float32(fill_value)
    y = np.zeros((n, h, w, c), np.float32)
    taps = []
    for iy, vy, wy in _taps(src_y, h, interpolation, fill_mode):
        for ix, vx, wx in _taps(src_x, w, interpolation, fill_mode):
            index = base + iy * w + ix
            weight = np.broadcast_to(np.float32(wy * wx), index.shape)
            values = flat[index]
            if constant:
                inside = vy & vx
                values = np.where(inside[..., None], values, fill)
                weight = np.where(inside, weight, np.float32(0.0))
            y += np.asarray(np.float32(wy * wx))[..., None] * values
            taps.append((index, weight))
    return y, (taps, x.shape)


def _affine_backward(ctx: tuple, dy: np.ndarray) -> np.ndarray:
    taps, shape = ctx
    n, h, w, c = shape
    g = np.asarray(dy, dtype=np.float64).reshape(n, h, w, c)
    lanes = np.arange(c, dtype=np.int64)
    dx = np.zeros(n * h * w * c, np.float64)
    for index, weight in taps:
        dx += np.bincount(
            (index[..., None] * c + lanes).ravel(),
            weights=(weight[..., None].astype(np.float64) * g).ravel(),
            minlength=dx.size,
        )
    return dx.reshape(shape).astype(np.float32)


# -- bases -----------------------------------------------------------------------------------


class _RandomImageLayer(Layer):
    """Base of the augmentation layers: seed, data format, the training switch and the
    replayable ``get_random_transformation`` / ``transform_images`` pair.

    Subclasses implement ``_draw(shape)`` (a transformation for images of that shape),
    ``_apply(x, transformation)`` returning ``(y, ctx)`` and ``_backward(ctx, dy)``."""

    supports_masking = False

    def __init__(self, seed: Optional[int] = None, data_format: Optional[str] = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.seed = _check_seed(self._who, seed)
        self.data_format = _check_data_format(self._who, data_format)
        self._rng = np.random.default_rng(self.seed)

    @property
    def _who(self) -> str:
        return f"{type(self).__name__} '{self.name}'"

    def _images(self, images: Any) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32)
        _check_images(self._who, x)
        return x

    def get_random_transformation(self, data: Any, training: bool = True, seed: Optional[int] = None) -> Any:
        """The transformation the next training call would apply to ``data`` (images, or a
        dict with ``"images"``); None when not training. ``seed`` draws from a fresh
        generator with that seed instead of the layer's."""
        images = self._images(data["images"] if isinstance(data, dict) else data)
        if not training:
            return None
        rng = self._rng if seed is None else np.random.default_rng(_check_seed(self._who, seed))
        return self._draw(images.shape, rng)

    def transform_images(self, images: Any, transformation: Any, training: bool = True) -> np.ndarray:
        """``images`` with ``transformation`` applied (unchanged when not training or when
        ``transformation`` is None)."""
        x = self._images(images)
        if not training or transformation is None:
            return x
        return self._apply(x, transformation)[0]

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = self._images(x)
        if not training:
            return x, None
        return self._apply(x, self._draw(x.shape, self._rng))

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        if ctx is None:
            return np.asarray(dy, dtype=np.float32)
        return self._backward(ctx, dy)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(seed=self.seed, data_format=self.data_format)
        return config


class _AffineLayer(_RandomImageLayer):
    """Base of the layers that resample each image through an affine matrix."""

    def __init__(
        self,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: Optional[int] = None,
        fill_value: float = 0.0,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if fill_mode not in _FILL_MODES:
            raise ValueError(
                f"{self._who}: fill_mode must be one of {list(_FILL_MODES)}. Received: fill_mode={fill_mode!r}"
            )
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"{self._who}: interpolation must be one of {list(_INTERPOLATIONS)}. "
                f"Received: interpolation={interpolation!r}"
            )
        if not _is_number(fill_value):
            raise ValueError(f"{self._who}: fill_value must be a finite number. Received: fill_value={fill_value!r}")
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = float(fill_value)

    def _matrix(self, transformation: Any, shape: tuple) -> np.ndarray:
        raise NotImplementedError

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        matrix = self._matrix(transformation, x.shape)
        return _affine_sample(x, matrix, self.interpolation, self.fill_mode, self.fill_value)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        return _affine_backward(ctx, dy)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(fill_mode=self.fill_mode, interpolation=self.interpolation, fill_value=self.fill_value)
        return config


def _per_image(value: Any, n: int, who: str, key: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32).reshape(-1)
    if arr.size != n:
        raise ValueError(
            f"{who}: transformation[{key!r}] must hold one value per image ({n}). Received: {arr.size} values"
        )
    return arr


# -- geometric layers --------------------------------------------------------------------------


class RandomCrop(_TargetSizeLayer):
    """Crops images ``(N, H, W, C)`` to ``(N, height, width, C)`` at a random location in
    training (Keras 3 ``RandomCrop``: one location for the whole batch, the top-left corner
    uniform over ``[0, H - height] x [0, W - width]``).

    At inference, and in training when an image is smaller than the target in either
    dimension, the largest centered window with the target's aspect ratio is cut out and
    resized bilinearly to the target (Keras's documented behaviour; ``Resizing`` with
    ``crop_to_aspect_ratio=True``). The backward pass puts the gradient back into the window.

    Args:
        height, width: output size.
        seed: integer seed of the layer's random generator (None: nondeterministic).
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: crop at random only when True.

    Returns:
        float32 array ``(N, height, width, C)``.

    Raises:
        ValueError: for non-positive sizes or inputs of rank != 4.

    Example:
        >>> RandomCrop(2, 3, seed=1)(np.ones((4, 5, 6, 1), np.float32), training=True).shape
        (4, 2, 3, 1)
    """

    supports_masking = False

    def __init__(
        self, height: int, width: int, seed: Optional[int] = None, data_format: Optional[str] = None, **kwargs: Any
    ):
        super().__init__(height, width, data_format, **kwargs)
        self.seed = _check_seed(f"RandomCrop '{self.name}'", seed)
        self._rng = np.random.default_rng(self.seed)

    def _fits(self, shape: tuple) -> bool:
        return shape[1] >= self.height and shape[2] >= self.width

    def get_random_transformation(self, data: Any, training: bool = True, seed: Optional[int] = None) -> tuple:
        """``(top, left)`` of the crop: random in training when the images are large enough,
        else the corner of the centered window with the target's aspect ratio."""
        x = np.asarray(data["images"] if isinstance(data, dict) else data, dtype=np.float32)
        _check_images(f"RandomCrop '{self.name}'", x)
        h, w = x.shape[1], x.shape[2]
        if training and self._fits(x.shape):
            rng = self._rng if seed is None else np.random.default_rng(_check_seed(f"RandomCrop '{self.name}'", seed))
            return int(rng.integers(0, h - self.height + 1)), int(rng.integers(0, w - self.width + 1))
        ch = max(min(h, int(float(w * self.height) / self.width)), 1)
        cw = max(min(w, int(float(h * self.width) / self.height)), 1)
        return int(float(h - ch) / 2), int(float(w - cw) / 2)

    def _crop(self, x: np.ndarray, transformation: Any, training: bool) -> tuple:
        if not (training and self._fits(x.shape)):
            return _resize(x, self.height, self.width, "bilinear", True)
        top, left = (int(v) for v in transformation)
        if not (0 <= top <= x.shape[1] - self.height and 0 <= left <= x.shape[2] - self.width):
            raise ValueError(
                f"RandomCrop '{self.name}': the crop corner must lie in [0, {x.shape[1] - self.height}] x "
                f"[0, {x.shape[2] - self.width}]. Received: transformation={transformation!r}"
            )
        y = np.ascontiguousarray(x[:, top : top + self.height, left : left + self.width, :])
        return y, ((top, left, self.height, self.width), None, None, x.shape)

    def transform_images(self, images: Any, transformation: Any, training: bool = True) -> np.ndarray:
        """``images`` cropped at ``transformation = (top, left)`` in training; the centered
        aspect-ratio crop resized to the target otherwise."""
        x = np.asarray(images, dtype=np.float32)
        _check_images(f"RandomCrop '{self.name}'", x)
        return self._crop(x, transformation, training)[0]

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x, dtype=np.float32)
        _check_images(f"RandomCrop '{self.name}'", x)
        corner = self.get_random_transformation(x, training=training)
        y, ctx = self._crop(x, corner, training)
        return y, (ctx if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        return _crop_backward(ctx, dy) if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(seed=self.seed)
        return config


class RandomTranslation(_AffineLayer):
    """Shifts each image ``(H, W, C)`` of a batch at random in training (Keras 3
    ``RandomTranslation``): by ``dy = u * H`` rows and ``dx = v * W`` columns with ``u`` and
    ``v`` uniform in the height and width factor ranges (positive: down and right), so output
    pixel ``(i, j)`` reads input ``(i - dy, j - dx)``; the identity at inference.

    Args:
        height_factor, width_factor: a number ``f`` (range ``[-|f|, |f|]``) or a pair
            ``(lower, upper)``, each in ``[-1, 1]``, as fractions of the image size.
        fill_mode: ``"reflect"``, ``"wrap"``, ``"constant"`` or ``"nearest"``.
        interpolation: ``"bilinear"`` or ``"nearest"``.
        seed: integer seed of the layer's random generator (None: nondeterministic).
        fill_value: value of the points outside the image with ``fill_mode="constant"``.
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: translate only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for factors out of range, an unknown fill_mode or interpolation, or
            inputs of rank != 4.

    Example:
        >>> RandomTranslation(0.2, 0.1, seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: Optional[int] = None,
        fill_value: float = 0.0,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self._height_range = _factor_range(self._who, "height_factor", height_factor, -1.0, 1.0)
        self._width_range = _factor_range(self._who, "width_factor", width_factor, -1.0, 1.0)
        self.height_factor = _as_config_factor(height_factor)
        self.width_factor = _as_config_factor(width_factor)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        n, h, w = shape[:3]
        dy = rng.uniform(*self._height_range, size=(n, 1)) * h
        dx = rng.uniform(*self._width_range, size=(n, 1)) * w
        return {"translations": np.concatenate([dx, dy], axis=1).astype(np.float32), "input_shape": tuple(shape)}

    def _matrix(self, transformation: Any, shape: tuple) -> np.ndarray:
        t = np.asarray(transformation["translations"], dtype=np.float32)
        if t.shape != (shape[0], 2):
            raise ValueError(
                f"{self._who}: transformation['translations'] must have shape ({shape[0]}, 2). "
                f"Received: shape={t.shape}"
            )
        one, zero = np.ones(shape[0], np.float32), np.zeros(shape[0], np.float32)
        return np.stack([one, zero, -t[:, 0], zero, one, -t[:, 1]], axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


class RandomRotation(_AffineLayer):
    """Rotates each image of a batch about its centre by a random angle in training (Keras 3
    ``RandomRotation``): the angle is ``u * 360`` degrees with ``u`` uniform in the factor
    range, positive counter-clockwise; the identity at inference. With
    ``(cx, cy) = ((W - 1) / 2, (H - 1) / 2)``, output pixel ``(y, x)`` reads the input at
    ``(sin t (x - cx) + cos t (y - cy) + cy, cos t (x - cx) - sin t (y - cy) + cx)``.

    Args:
        factor: a number ``f`` (range ``[-|f|, |f|]``) or a pair ``(lower, upper)``, each in
            ``[-1, 1]``, in fractions of a full turn.
        fill_mode, interpolation, seed, fill_value, data_format: as in ``RandomTranslation``.

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: rotate only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of range, an unknown fill_mode or interpolation, or
            inputs of rank != 4.

    Example:
        >>> RandomRotation(0.1, seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    def __init__(
        self,
        factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: Optional[int] = None,
        fill_value: float = 0.0,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self._range = _factor_range(self._who, "factor", factor, -1.0, 1.0)
        self.factor = _as_config_factor(factor)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        n, h, w = shape[:3]
        angle = (rng.uniform(self._range[0], self._range[1], size=n) * 360.0).astype(np.float32)
        return {
            "angle": angle,
            "rotation_matrix": _rotation_matrix(angle, h, w),
            "image_height": h,
            "image_width": w,
            "batch_size": n,
        }

    def _matrix(self, transformation: Any, shape: tuple) -> np.ndarray:
        m = np.asarray(transformation["rotation_matrix"], dtype=np.float32).reshape(-1, 8)
        if m.shape[0] != shape[0]:
            raise ValueError(
                f"{self._who}: transformation['rotation_matrix'] must have shape ({shape[0]}, 8). "
                f"Received: shape={np.shape(transformation['rotation_matrix'])}"
            )
        return m

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor)
        return config


def _rotation_matrix(angle_degrees: np.ndarray, h: int, w: int) -> np.ndarray:
    """``(N, 8)`` matrices rotating about the image centre ``((W - 1) / 2, (H - 1) / 2)``."""
    t = np.asarray(angle_degrees, dtype=np.float32) * np.float32(math.pi / 180.0)
    cos, sin = np.cos(t), np.sin(t)
    cx, cy = np.float32(0.5 * (w - 1)), np.float32(0.5 * (h - 1))
    zero = np.zeros_like(t)
    a2 = cx - cx * cos + cy * sin
    b2 = cy - cx * sin - cy * cos
    return np.stack([cos, -sin, a2, sin, cos, b2, zero, zero], axis=1).astype(np.float32)


class RandomZoom(_AffineLayer):
    """Zooms each image of a batch about its centre by a random factor in training (Keras 3
    ``RandomZoom``): the vertical scale is ``zy = 1 + u`` with ``u`` uniform in the height
    factor range (positive: zoom out, negative: zoom in) and the horizontal scale ``zx`` the
    same from ``width_factor`` (None: ``zx = zy``, keeping the aspect ratio). Output pixel
    ``(y, x)`` reads the input at ``(zy y + (H - 1) / 2 (1 - zy), zx x + (W - 1) / 2 (1 - zx))``;
    the identity at inference.

    Args:
        height_factor: a number ``f`` (range ``[-|f|, |f|]``) or a pair ``(lower, upper)``,
            each in ``(-1, 1]``.
        width_factor: the same for the width, or None.
        fill_mode, interpolation, seed, fill_value, data_format: as in ``RandomTranslation``.

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: zoom only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for factors out of range, an unknown fill_mode or interpolation, or
            inputs of rank != 4.

    Example:
        >>> RandomZoom(0.2, seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any = None,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: Optional[int] = None,
        fill_value: float = 0.0,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self._height_range = _factor_range(self._who, "height_factor", height_factor, -1.0, 1.0, open_low=True)
        self._width_range = (
            None
            if width_factor is None
            else _factor_range(self._who, "width_factor", width_factor, -1.0, 1.0, open_low=True)
        )
        self.height_factor = _as_config_factor(height_factor)
        self.width_factor = _as_config_factor(width_factor)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        n = shape[0]
        lo, hi = self._height_range
        height_zoom = rng.uniform(1.0 + lo, 1.0 + hi, size=(n, 1)).astype(np.float32)
        if self._width_range is None:
            width_zoom = height_zoom
        else:
            lo, hi = self._width_range
            width_zoom = rng.uniform(1.0 + lo, 1.0 + hi, size=(n, 1)).astype(np.float32)
        return {"height_zoom": height_zoom, "width_zoom": width_zoom, "input_shape": tuple(shape)}

    def _matrix(self, transformation: Any, shape: tuple) -> np.ndarray:
        n, h, w = shape[:3]
        zy = _per_image(transformation["height_zoom"], n, self._who, "height_zoom")
        zx = _per_image(transformation["width_zoom"], n, self._who, "width_zoom")
        zero = np.zeros(n, np.float32)
        x_offset = np.float32((w - 1.0) / 2.0) * (np.float32(1.0) - zx)
        y_offset = np.float32((h - 1.0) / 2.0) * (np.float32(1.0) - zy)
        return np.stack([zx, zero, x_offset, zero, zy, y_offset], axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


# -- colour layers -----------------------------------------------------------------------------


class _ColorLayer(_RandomImageLayer):
    """Base of the layers that change pixel values within ``value_range``."""

    _KEY = ""

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: Optional[int] = None, **kwargs: Any):
        super().__init__(seed=seed, data_format=kwargs.pop("data_format", None), **kwargs)
        self._range = _factor_range(self._who, "factor", factor, *self._FACTOR_BOUNDS)
        self._value_range = _check_value_range(self._who, value_range)
        self.factor = _as_config_factor(factor)
        self.value_range = tuple(float(v) for v in value_range)

    def _clip(self, pre: np.ndarray) -> tuple:
        lo, hi = self._value_range
        inside = (pre >= lo) & (pre <= hi)
        return np.clip(pre, lo, hi).astype(np.float32), inside

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor, value_range=self.value_range)
        return config


class RandomContrast(_ColorLayer):
    """Scales the contrast of each image of a batch by a random factor in training (Keras 3
    ``RandomContrast``): per channel, ``y = clip((x - mean) * c + mean, *value_range)`` with
    ``mean`` the channel's mean over the image and ``c`` drawn per image uniformly from
    ``[1 - lower, 1 + upper]``; the identity at inference.

    A single number ``f`` gives ``lower = upper = f`` (the range ``[1 - f, 1 + f]`` that
    Keras documents; Keras 3.15's code draws from ``[1, 1 + f]`` in that case).

    Args:
        factor: a number or a pair ``(lower, upper)``, each in ``[0, 1]``.
        value_range: ``(low, high)`` the outputs are clipped to.
        seed: integer seed of the layer's random generator (None: nondeterministic).

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: change the contrast only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of range, a bad value_range or inputs of rank != 4.

    Example:
        >>> RandomContrast(0.3, seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    _FACTOR_BOUNDS = (0.0, 1.0)

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: Optional[int] = None, **kwargs: Any):
        super().__init__(factor, value_range, seed, **kwargs)
        if not isinstance(factor, (tuple, list)):
            self._range = (self._range[1], self._range[1])

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        lower, upper = self._range
        c = rng.uniform(1.0 - lower, 1.0 + upper, size=(shape[0], 1, 1, 1)).astype(np.float32)
        return {"contrast_factor": c}

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        n = x.shape[0]
        c = _per_image(transformation["contrast_factor"], n, self._who, "contrast_factor").astype(np.float64)
        c = c.reshape(n, 1, 1, 1)
        xd = x.astype(np.float64)
        mean = xd.mean(axis=(1, 2), keepdims=True)
        y, inside = self._clip((xd - mean) * c + mean)
        return y, (c, inside)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        c, inside = ctx
        g = np.where(inside, np.asarray(dy, dtype=np.float64), 0.0)
        return (c * g + (1.0 - c) * g.mean(axis=(1, 2), keepdims=True)).astype(np.float32)


class RandomBrightness(_ColorLayer):
    """Shifts the brightness of each image of a batch by a random amount in training (Keras 3
    ``RandomBrightness``): ``y = clip(x + d, *value_range)`` with ``d = u * (high - low)``
    and ``u`` drawn per image uniformly from the factor range; the identity at inference.

    Args:
        factor: a number ``f`` (range ``[-|f|, |f|]``) or a pair ``(lower, upper)``, each in
            ``[-1, 1]``, as fractions of the value range.
        value_range: ``(low, high)`` of the inputs; the outputs are clipped to it.
        seed: integer seed of the layer's random generator (None: nondeterministic).

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: change the brightness only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of range, a bad value_range or inputs of rank != 4.

    Example:
        >>> RandomBrightness(0.2, value_range=(0, 1), seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    _FACTOR_BOUNDS = (-1.0, 1.0)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        lo, hi = self._value_range
        u = rng.uniform(self._range[0], self._range[1], size=(shape[0], 1, 1, 1))
        return {"rgb_delta": (u * (hi - lo)).astype(np.float32)}

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        n = x.shape[0]
        d = _per_image(transformation["rgb_delta"], n, self._who, "rgb_delta").reshape(n, 1, 1, 1)
        y, inside = self._clip(x + d)
        return y, inside

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        return np.where(ctx, np.asarray(dy, dtype=np.float32), np.float32(0.0))
