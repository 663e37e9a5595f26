"""Random image augmentation layers (Keras 3 names, arguments and numbers), channels-last
images ``(N, H, W, C)``.

Geometric: RandomCrop, RandomTranslation, RandomRotation, RandomZoom, RandomShear,
RandomPerspective. Colour: RandomContrast, RandomBrightness, RandomGrayscale, RandomInvert,
Solarization, RandomPosterization, RandomColorDegeneration, RandomSaturation, RandomHue,
RandomSharpness, RandomColorJitter, and the deterministic AutoContrast and Equalization.
Regions and mixing: RandomErasing, RandomGaussianBlur, MixUp, CutMix. Policies: RandAugment, AugMix.
Each random layer draws its transformation in training (one per image; one per batch for
RandomCrop, as in Keras) and is the identity at inference (RandomCrop: a centered crop to the
target's aspect ratio resized to the target; AutoContrast acts in both; Equalization, like
Keras's, in training only).
``get_random_transformation`` and ``transform_images`` expose the draw and its application
separately, with Keras's structures (e.g. ``{"translations": (N, 2)}``), so a given
transformation can be replayed.

The four affine layers resample each image once, as Keras's ``affine_transform``: output pixel
``(y, x)`` reads the input at ``(b0 x + b1 y + b2, a0 x + a1 y + a2)`` with
``[a0, a1, a2, b0, b1, b2]`` the layer's matrix, nearest (round half to even) or bilinear
taps, and out-of-range taps filled by ``fill_mode``:

    reflect   d c b a | a b c d | d c b a
    wrap      a b c d | a b c d | a b c d
    nearest   a a a a | a b c d | d d d d
    constant  k k k k | a b c d | k k k k     (k = fill_value, per tap)

RandomPerspective samples the same way through a homography ``[a0, ..., b2, c0, c1]``, both
coordinates divided by ``c0 x + c1 y + 1``, always with the constant fill.

For fixed parameters the geometric, mixing and most colour transformations are linear in the
image (up to clipping), so the backward pass is its transpose; AutoContrast, RandomSaturation
and RandomHue are piecewise linear and differentiate through their extremes, and the piecewise
constant RandomPosterization and Equalization pass no gradient, as in Keras.
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
    "AugMix",
    "AutoContrast",
    "CutMix",
    "Equalization",
    "MixUp",
    "RandAugment",
    "RandomBrightness",
    "RandomColorDegeneration",
    "RandomColorJitter",
    "RandomContrast",
    "RandomCrop",
    "RandomErasing",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomHue",
    "RandomInvert",
    "RandomPerspective",
    "RandomPosterization",
    "RandomRotation",
    "RandomSaturation",
    "RandomSharpness",
    "RandomShear",
    "RandomTranslation",
    "RandomZoom",
    "Solarization",
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
    ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (projective when ``c0, c1`` are given and nonzero);
    returns the float32 result and the taps ``[(flat source index (N, H, W), weight (N, H, W))]``
    of the backward pass."""
    n, h, w, c = x.shape
    m = np.asarray(matrix, dtype=np.float32).reshape(n, -1)
    a0, a1, a2, b0, b1, b2 = (m[:, k, None, None] for k in range(6))
    rows = np.arange(h, dtype=np.float32)[None, :, None]
    cols = np.arange(w, dtype=np.float32)[None, None, :]
    src_y = (rows * b1 + cols * b0) + b2
    src_x = (rows * a1 + cols * a0) + a2
    if m.shape[1] >= 8 and np.any(m[:, 6:8]):  # projective: divide by c0 x + c1 y + 1
        k = (rows * m[:, 7, None, None] + cols * m[:, 6, None, None]) + np.float32(1.0)
        src_y, src_x = src_y / k, src_x / k
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


def _per_image_pairs(transformation: Any, key: str, n: int, who: str) -> np.ndarray:
    """``transformation[key]`` as float32 ``(n, 2)``, refused with its shape otherwise."""
    pairs = np.asarray(transformation[key], dtype=np.float32)
    if pairs.shape != (n, 2):
        raise ValueError(f"{who}: transformation['{key}'] must have shape ({n}, 2). Received: shape={pairs.shape}")
    return pairs


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
        t = _per_image_pairs(transformation, "translations", shape[0], self._who)
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


class RandomShear(_AffineLayer):
    """Shears each image of a batch by random amounts in training (Keras 3 ``RandomShear``):
    ``sx`` and ``sy`` are drawn uniform in the x and y factor ranges and both flipped in sign
    together with probability 1/2, so output pixel ``(y, x)`` reads the input at
    ``(sy x + y, x + sx y)`` (no recentring, as in Keras); the identity at inference.

    Args:
        x_factor: a number ``f`` (range ``[-f, f]``) or a pair ``(lower, upper)``, each in
            ``[0, 1]``: the horizontal shear, as the shift in columns per row.
        y_factor: the same for the vertical shear (shift in rows per column).
        interpolation, fill_mode, fill_value, data_format, seed: as in ``RandomTranslation``.

    Call arguments:
        inputs: images ``(N, H, W, C)``; training: shear only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for factors out of [0, 1], an unknown fill_mode or interpolation, or
            inputs of rank != 4.

    Example:
        >>> RandomShear(0.2, 0.1, seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    def __init__(
        self,
        x_factor: Any = 0.0,
        y_factor: Any = 0.0,
        interpolation: str = "bilinear",
        fill_mode: str = "reflect",
        fill_value: float = 0.0,
        data_format: Optional[str] = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ):
        super().__init__(
            fill_mode=fill_mode,
            interpolation=interpolation,
            seed=seed,
            fill_value=fill_value,
            data_format=data_format,
            **kwargs,
        )
        self._x_range = self._shear_range("x_factor", x_factor)
        self._y_range = self._shear_range("y_factor", y_factor)
        self.x_factor = _as_config_factor(x_factor)
        self.y_factor = _as_config_factor(y_factor)

    def _shear_range(self, name: str, factor: Any) -> tuple:
        lower, upper = _factor_range(self._who, name, factor, 0.0, 1.0)
        if not isinstance(factor, (tuple, list)):
            lower = -upper  # one number f: the range [-f, f], as Keras
        return lower, upper

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        n = shape[0]
        sign = np.where(rng.uniform(size=(n, 1)) > 0.5, -1.0, 1.0)
        shear_y = rng.uniform(*self._y_range, size=(n, 1))
        shear_x = rng.uniform(*self._x_range, size=(n, 1))
        shear = (np.concatenate([shear_x, shear_y], axis=1) * sign).astype(np.float32)
        return {"shear_factor": shear, "input_shape": tuple(shape)}

    def _matrix(self, transformation: Any, shape: tuple) -> np.ndarray:
        s = _per_image_pairs(transformation, "shear_factor", shape[0], self._who)
        one, zero = np.ones(shape[0], np.float32), np.zeros(shape[0], np.float32)
        return np.stack([one, s[:, 0], zero, s[:, 1], one, zero], axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(x_factor=self.x_factor, y_factor=self.y_factor)
        return config


def _homography(start_points: Any, end_points: Any) -> np.ndarray:
    """``(N, 8)`` projective matrices ``[a0, a1, a2, b0, b1, b2, c0, c1]`` taking each end point
    ``(x, y)`` (output) to its start point (input): ``((a0 x + a1 y + a2) / k,
    (b0 x + b1 y + b2) / k)`` with ``k = c0 x + c1 y + 1``; solved in float64."""
    start = np.asarray(start_points, np.float64)
    end = np.asarray(end_points, np.float64)
    n = start.shape[0]
    ex, ey, sx, sy = end[..., 0], end[..., 1], start[..., 0], start[..., 1]
    one, zero = np.ones_like(ex), np.zeros_like(ex)
    x_rows = np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], axis=-1)
    y_rows = np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], axis=-1)
    system = np.stack([x_rows, y_rows], axis=2).reshape(n, 8, 8)
    target = np.stack([sx, sy], axis=2).reshape(n, 8, 1)
    return np.linalg.solve(system, target)[..., 0].astype(np.float32)


class RandomPerspective(_AffineLayer):
    """Warps each image of a batch through a random perspective in training (Keras 3
    ``RandomPerspective``): an image is warped with probability ``p`` drawn uniform in the
    factor range; its corners ``(0, 0), (W - 1, 0), (0, H - 1), (W - 1, H - 1)`` (start
    points) move to ``start * (1 + d)`` (end points) with each ``d`` uniform in
    ``[-scale / 2, scale / 2]``, and output pixel ``(y, x)`` reads the input through the
    homography taking the end points to the start points; points outside the image read
    ``fill_value``. The identity at inference.

    Args:
        factor: a number ``f`` (range ``[0, f]``) or a pair ``(lower, upper)``, each in
            ``[0, 1]``: the probability of warping an image.
        scale: the strength of the warp, in ``[0, 1]``.
        interpolation: ``"bilinear"`` or ``"nearest"``.
        fill_value, seed, data_format: as in ``RandomTranslation``.

    Call arguments:
        inputs: images ``(N, H, W, C)``; training: warp only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor or scale out of [0, 1], an unknown interpolation, or inputs
            of rank != 4.

    Example:
        >>> RandomPerspective(scale=0.3, seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    def __init__(
        self,
        factor: Any = 1.0,
        scale: float = 1.0,
        interpolation: str = "bilinear",
        fill_value: float = 0.0,
        seed: Optional[int] = None,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(
            fill_mode="constant",
            interpolation=interpolation,
            seed=seed,
            fill_value=fill_value,
            data_format=data_format,
            **kwargs,
        )
        self._range = _factor_range(self._who, "factor", factor, 0.0, 1.0)
        if not (_is_number(scale) and 0.0 <= scale <= 1.0):
            raise ValueError(f"{self._who}: scale must be a number in [0, 1]. Received: scale={scale!r}")
        self.factor = _as_config_factor(factor)
        self.scale = float(scale)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        n, h, w = shape[:3]
        probability = rng.uniform(*self._range, size=n)
        apply = rng.uniform(size=n) < probability
        half = 0.5 * self.scale
        warp = rng.uniform(-half, half, size=(n, 4, 2))
        corners = np.array([[0.0, 0.0], [w - 1.0, 0.0], [0.0, h - 1.0], [w - 1.0, h - 1.0]])
        start = np.broadcast_to(corners, (n, 4, 2)).astype(np.float32)
        end = (start + start * warp).astype(np.float32)
        return {"apply_perspective": apply, "start_points": start, "end_points": end, "input_shape": tuple(shape)}

    def _points(self, transformation: Any, key: str, n: int) -> np.ndarray:
        points = np.asarray(transformation[key], dtype=np.float32)
        if points.shape != (n, 4, 2):
            raise ValueError(
                f"{self._who}: transformation['{key}'] must have shape ({n}, 4, 2). Received: shape={points.shape}"
            )
        return points

    def _matrix(self, transformation: Any, shape: tuple) -> np.ndarray:
        n = shape[0]
        start = self._points(transformation, "start_points", n)
        end = self._points(transformation, "end_points", n)
        return _homography(start, end)

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        apply = _per_image_mask(transformation["apply_perspective"], x.shape[0], self._who, "apply_perspective")
        y, ctx = super()._apply(x, transformation)
        return np.where(apply, y, x), (ctx, apply)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        sample_ctx, apply = ctx
        g = np.asarray(dy, dtype=np.float32)
        return np.where(apply, _affine_backward(sample_ctx, g), g)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["fill_mode"]  # always constant, as in Keras
        config.update(factor=self.factor, scale=self.scale)
        return config


# -- colour layers -----------------------------------------------------------------------------


def _coin(rng: np.random.Generator, n: int, prob_range: tuple) -> np.ndarray:
    """Keras's per-image choice: a probability uniform in ``prob_range``, then a uniform draw
    in ``[0, 1)`` below it."""
    probability = rng.uniform(prob_range[0], prob_range[1], size=n)
    return rng.uniform(0.0, 1.0, size=n) < probability


class _PixelLayer(_RandomImageLayer):
    """Base of the layers below: ``value_range`` and the channel counts they accept."""

    _CHANNELS: Optional[tuple] = None

    def __init__(self, value_range: Any = (0, 255), seed: Optional[int] = None, **kwargs: Any):
        super().__init__(seed=seed, data_format=kwargs.pop("data_format", None), **kwargs)
        self._value_range = _check_value_range(self._who, value_range)
        self.value_range = tuple(float(v) for v in value_range)

    def _images(self, images: Any) -> np.ndarray:
        x = super()._images(images)
        self._check_channels(x.shape)
        return x

    def _check_channels(self, shape: tuple) -> None:
        c = shape[-1]
        if self._CHANNELS is not None and c is not None and c not in self._CHANNELS:
            expected = " or ".join(str(v) for v in self._CHANNELS)
            raise ValueError(
                f"{self._who}: expected images with {expected} channels (RGB). Received: shape={tuple(shape)}"
            )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        if len(shape) == 4:
            self._check_channels(shape)
        return shape

    def _clip(self, pre: np.ndarray) -> tuple:
        lo, hi = self._value_range
        inside = (pre >= lo) & (pre <= hi)
        return np.clip(pre, lo, hi).astype(np.float32), inside

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(value_range=self.value_range)
        return config


class _ColorLayer(_PixelLayer):
    """Base of the layers with a ``factor`` range within ``_FACTOR_BOUNDS``."""

    _FACTOR_BOUNDS = (-1.0, 1.0)

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: Optional[int] = None, **kwargs: Any):
        super().__init__(value_range, seed, **kwargs)
        self._range = _factor_range(self._who, "factor", factor, *self._FACTOR_BOUNDS)
        self.factor = _as_config_factor(factor)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor)
        return config


class _ColorLayerInKerasOrder(_ColorLayer):
    """A ``_ColorLayer`` with the argument order of most Keras colour layers:
    ``(factor, value_range, data_format, seed)``."""

    def __init__(
        self,
        factor: Any,
        value_range: Any = (0, 255),
        data_format: Optional[str] = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ):
        super().__init__(factor, value_range, seed, data_format=data_format, **kwargs)


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


# -- pixel-value layers ------------------------------------------------------------------------

# Luma weights of Keras's ``rgb_to_grayscale`` (torchvision's).
_GRAY_WEIGHTS = np.array([0.2989, 0.587, 0.114], np.float32)


def _check_unit_number(who: str, name: str, value: Any) -> float:
    if not (_is_number(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{who}: {name} must be a number in [0, 1]. Received: {name}={value!r}")
    return float(value)


def _to_255(x: np.ndarray, value_range: tuple) -> np.ndarray:
    """``x`` mapped linearly from ``value_range`` to ``[0, 255]`` (float32, in Keras's order of
    operations so that integer levels land where Keras puts them)."""
    lo, hi = value_range
    if (lo, hi) == (0.0, 255.0):
        return x
    return (x - np.float32(lo)) / np.float32(hi - lo) * np.float32(255.0)


def _from_255(x: np.ndarray, value_range: tuple) -> np.ndarray:
    lo, hi = value_range
    if (lo, hi) == (0.0, 255.0):
        return x
    return x / np.float32(255.0) * np.float32(hi - lo) + np.float32(lo)


def _grayscale(x: np.ndarray) -> np.ndarray:
    """Luma ``(N, H, W, 1)`` of RGB images (a copy of one-channel images)."""
    if x.shape[-1] == 1:
        return x.copy()
    return (x[..., 0:1] * _GRAY_WEIGHTS[0] + x[..., 1:2] * _GRAY_WEIGHTS[1]) + x[..., 2:3] * _GRAY_WEIGHTS[2]


def _grayscale_backward(g: np.ndarray) -> np.ndarray:
    """Transpose of ``_grayscale`` for a gradient ``(N, H, W, 1)``."""
    return g * _GRAY_WEIGHTS.astype(g.dtype)


def _per_image_mask(value: Any, n: int, who: str, key: str) -> np.ndarray:
    arr = np.asarray(value).reshape(-1)
    if arr.size != n:
        raise ValueError(
            f"{who}: transformation[{key!r}] must hold one value per image ({n}). Received: {arr.size} values"
        )
    return arr.astype(bool).reshape(n, 1, 1, 1)


class RandomGrayscale(_PixelLayer):
    """Turns each image of a batch to grayscale with probability ``factor`` in training (Keras 3
    ``RandomGrayscale``): a chosen RGB image gets the luma
    ``0.2989 R + 0.587 G + 0.114 B`` in all three channels (one-channel images are unchanged);
    the identity at inference.

    Args:
        factor: probability in ``[0, 1]`` that an image is converted.
        data_format: only ``"channels_last"`` (or None) is supported.
        seed: integer seed of the layer's random generator (None: nondeterministic).

    Call arguments:
        inputs: images ``(N, H, W, C)`` with ``C`` 1 or 3.
        training: convert only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor outside ``[0, 1]``, inputs of rank != 4 or with a channel
            count other than 1 or 3.

    Example:
        >>> RandomGrayscale(1.0)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    _CHANNELS = (1, 3)

    def __init__(
        self, factor: float = 0.5, data_format: Optional[str] = None, seed: Optional[int] = None, **kwargs: Any
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _check_unit_number(self._who, "factor", factor)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> np.ndarray:
        return (rng.uniform(0.0, 1.0, size=shape[0]) < self.factor).reshape(-1, 1, 1, 1)

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        chosen = _per_image_mask(transformation, x.shape[0], self._who, "should_apply")
        return np.where(chosen, _grayscale(x), x).astype(np.float32), (chosen, x.shape[-1])

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        chosen, channels = ctx
        g = np.asarray(dy, dtype=np.float32)
        if channels == 1:
            return g
        gray = _grayscale_backward(g.sum(axis=-1, keepdims=True))
        return np.where(chosen, gray, g).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["value_range"]
        config.update(factor=self.factor)
        return config


class RandomInvert(_ColorLayer):
    """Inverts the colours of some images of a batch in training (Keras 3 ``RandomInvert``):
    each image draws a probability ``p`` uniform in the factor range and is inverted when a
    second uniform draw in ``[0, 1)`` falls below ``p``; an inverted image is
    ``value_range[1] - x`` (Keras's formula: the complement within ``value_range`` when its
    low end is 0). The identity at inference.

    Args:
        factor: a number ``f`` (range ``[0, f]``) or a pair ``(lower, upper)``, each in
            ``[0, 1]``: the range of the inversion probability.
        value_range: ``(low, high)`` of the inputs.
        seed: integer seed of the layer's random generator (None: nondeterministic).
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: invert only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of range, a bad value_range or inputs of rank != 4.

    Example:
        >>> float(RandomInvert((1.0, 1.0))(np.zeros((2, 5, 5, 3), np.float32), training=True).max())
        255.0
    """

    _FACTOR_BOUNDS = (0.0, 1.0)

    def __init__(
        self,
        factor: Any = 1.0,
        value_range: Any = (0, 255),
        seed: Optional[int] = None,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(factor, value_range, seed, data_format=data_format, **kwargs)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        return {"apply_inversion": _coin(rng, shape[0], self._range)}

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        chosen = _per_image_mask(transformation["apply_inversion"], x.shape[0], self._who, "apply_inversion")
        y = np.where(chosen, np.float32(self._value_range[1]) - x, x).astype(np.float32)
        return y, chosen

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        g = np.asarray(dy, dtype=np.float32)
        return np.where(ctx, -g, g)


class Solarization(_PixelLayer):
    """Solarizes each image of a batch in training (Keras 3 ``Solarization``): on the image
    mapped from ``value_range`` to ``[0, 255]``, ``r = clip(x + a, 0, 255)`` and the output is
    ``r`` where ``r < t`` and ``255 - r`` elsewhere, mapped back to ``value_range``. The
    addition ``a`` and threshold ``t`` are drawn per image uniformly from the factor ranges
    times 255 (Keras's documented ranges; Keras 3.15's code leaves the lower ends unscaled).
    With the defaults every pixel is inverted. The identity at inference.

    Args:
        addition_factor: a number ``f`` (range ``[0, f]``) or a pair ``(lower, upper)``,
            each in ``[0, 1]``, as fractions of 255.
        threshold_factor: the same for the threshold.
        value_range: ``(low, high)`` of the inputs.
        seed: integer seed of the layer's random generator (None: nondeterministic).
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: solarize only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for factors out of range, a bad value_range or inputs of rank != 4.

    Example:
        >>> float(Solarization(value_range=(0, 1))(np.zeros((2, 5, 5, 3), np.float32), training=True).max())
        1.0
    """

    def __init__(
        self,
        addition_factor: Any = 0.0,
        threshold_factor: Any = 0.0,
        value_range: Any = (0, 255),
        seed: Optional[int] = None,
        **kwargs: Any,
    ):
        super().__init__(value_range, seed, **kwargs)
        self._addition_range = _factor_range(self._who, "addition_factor", addition_factor, 0.0, 1.0)
        self._threshold_range = _factor_range(self._who, "threshold_factor", threshold_factor, 0.0, 1.0)
        self.addition_factor = _as_config_factor(addition_factor)
        self.threshold_factor = _as_config_factor(threshold_factor)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        size = (shape[0], 1, 1, 1)
        lo, hi = self._addition_range
        additions = rng.uniform(lo * 255.0, hi * 255.0, size=size).astype(np.float32)
        lo, hi = self._threshold_range
        thresholds = rng.uniform(lo * 255.0, hi * 255.0, size=size).astype(np.float32)
        return {"additions": additions, "thresholds": thresholds}

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        n = x.shape[0]
        a = _per_image(transformation["additions"], n, self._who, "additions").reshape(n, 1, 1, 1)
        t = _per_image(transformation["thresholds"], n, self._who, "thresholds").reshape(n, 1, 1, 1)
        shifted = _to_255(x, self._value_range) + a
        r = np.clip(shifted, np.float32(0.0), np.float32(255.0))
        kept = r < t
        y = _from_255(np.where(kept, r, np.float32(255.0) - r), self._value_range).astype(np.float32)
        slope = np.where((shifted >= 0.0) & (shifted <= 255.0), np.where(kept, 1.0, -1.0), 0.0)
        return y, slope.astype(np.float32)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        return ctx * np.asarray(dy, dtype=np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(addition_factor=self.addition_factor, threshold_factor=self.threshold_factor)
        return config


class RandomPosterization(_PixelLayer):
    """Keeps the ``b`` most significant bits of each 8-bit channel value in training (Keras 3
    ``RandomPosterization``): the image is mapped from ``value_range`` to ``[0, 255]``,
    truncated to integers (values outside are clipped first), its low ``8 - b`` bits are
    cleared, and it is mapped back. ``b`` is the factor when its range is one number, else an
    integer drawn per image uniformly from ``[lower, upper)`` (Keras's ``randint``, upper end
    excluded). Piecewise constant: no gradient passes in training. The identity at inference.

    Args:
        factor: an integer ``f`` (range ``[1, f]``) or a pair ``(lower, upper)`` of
            integers, each in ``[1, 8]``: the number of bits kept.
        value_range: ``(low, high)`` of the inputs.
        data_format: only ``"channels_last"`` (or None) is supported.
        seed: integer seed of the layer's random generator (None: nondeterministic).

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: posterize only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor that is not an integer in ``[1, 8]`` (or a pair of them), a
            bad value_range or inputs of rank != 4.

    Example:
        >>> float(RandomPosterization((2, 2))(np.full((1, 2, 2, 1), 200.0, np.float32), training=True).max())
        192.0
    """

    def __init__(
        self,
        factor: Any,
        value_range: Any = (0, 255),
        data_format: Optional[str] = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ):
        super().__init__(value_range, seed, data_format=data_format, **kwargs)

        def whole(v: Any) -> bool:
            return _is_number(v) and float(v) == int(v) and 1 <= v <= 8

        values = factor if isinstance(factor, (tuple, list)) else (factor,)
        if not (len(values) in (1, 2) and all(whole(v) for v in values)):
            raise ValueError(
                f"{self._who}: factor must be an integer or a pair of integers in [1, 8]. Received: factor={factor!r}"
            )
        bits = sorted(int(v) for v in values)
        self._range = (bits[0], bits[1]) if len(bits) == 2 else (1, bits[0])
        self.factor = tuple(int(v) for v in factor) if isinstance(factor, (tuple, list)) else int(factor)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        lo, hi = self._range
        bits = np.full(shape[0], lo) if lo == hi else rng.integers(lo, hi, size=shape[0])
        return {"shift_factor": (8 - bits).astype(np.uint8)}

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        n = x.shape[0]
        shift = np.asarray(transformation["shift_factor"]).reshape(-1)
        if shift.size != n or not np.all((shift >= 0) & (shift <= 7)):
            raise ValueError(
                f"{self._who}: transformation['shift_factor'] must hold one integer in [0, 7] per image ({n}). "
                f"Received: {shift.tolist()}"
            )
        shift = shift.astype(np.uint8).reshape(n, 1, 1, 1)
        levels = np.clip(_to_255(x, self._value_range), 0.0, 255.0).astype(np.uint8)
        kept = np.left_shift(np.right_shift(levels, shift), shift).astype(np.float32)
        return _from_255(kept, self._value_range).astype(np.float32), x.shape

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        return np.zeros(ctx, np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor)
        return config


class _FixedPixelLayer(_PixelLayer):
    """Base of the pixel layers that draw nothing (no seed): applied in training, and at
    inference too when ``_AT_INFERENCE``."""

    _AT_INFERENCE = False

    def __init__(self, value_range: Any = (0, 255), **kwargs: Any):
        super().__init__(value_range, None, **kwargs)

    def get_random_transformation(self, data: Any, training: bool = True, seed: Optional[int] = None) -> None:
        """None: the layer draws nothing."""
        self._images(data["images"] if isinstance(data, dict) else data)
        return None

    def transform_images(self, images: Any, transformation: Any = None, training: bool = True) -> np.ndarray:
        """``images`` transformed when ``training`` (Keras's default) or when the layer acts at
        inference too; ``transformation`` is ignored."""
        x = self._images(images)
        return self._apply(x, None)[0] if training or self._AT_INFERENCE else x

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = self._images(x)
        if not (training or self._AT_INFERENCE):
            return x, None
        y, ctx = self._apply(x, None)
        return y, (ctx if training else None)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["seed"]
        return config


class AutoContrast(_FixedPixelLayer):
    """Stretches each channel of each image to the full ``value_range`` (Keras 3
    ``AutoContrast``): ``y = low + (high - low) (x - m) / (M - m)`` with ``m`` and ``M`` the
    channel's minimum and maximum over the image; a constant channel is unchanged. Applied in
    training and at inference alike (it draws nothing); gradients pass through ``m`` and ``M``
    as well (split evenly between tied extremes).

    Args:
        value_range: ``(low, high)`` of the inputs and outputs.
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a bad value_range or inputs of rank != 4.

    Example:
        >>> AutoContrast()(np.array([[[[10.0], [20.0]]]], np.float32)).ravel()
        array([  0., 255.], dtype=float32)
    """

    _AT_INFERENCE = True

    def __init__(self, value_range: Any = (0, 255), **kwargs: Any):
        super().__init__(value_range, **kwargs)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        if not need_dx:
            return None
        if ctx is None:
            raise ValueError(f"{self._who}: backward needs the context of a training forward pass")
        return self._backward(ctx, dy)

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        u = _to_255(x, self._value_range)
        low = u.min(axis=(1, 2), keepdims=True)
        high = u.max(axis=(1, 2), keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.float32(255.0) / (high - low)
            stretched = np.clip(u * scale + (-low * scale), np.float32(0.0), np.float32(255.0))
            y = _from_255(stretched, self._value_range)
        y = np.where(np.isnan(y), x, y).astype(np.float32)
        return y, x

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        x = ctx.astype(np.float64)
        g = np.asarray(dy, dtype=np.float64)
        lo, hi = self._value_range
        low = x.min(axis=(1, 2), keepdims=True)
        high = x.max(axis=(1, 2), keepdims=True)
        spread = high - low
        flat = spread == 0
        inv = np.where(flat, 0.0, (hi - lo) / np.where(flat, 1.0, spread))
        w = np.where(flat, 0.0, (x - low) / np.where(flat, 1.0, spread))
        at_min = x == low
        at_max = x == high
        to_min = (g * (1.0 - w)).sum(axis=(1, 2), keepdims=True) * inv / at_min.sum(axis=(1, 2), keepdims=True)
        to_max = (g * w).sum(axis=(1, 2), keepdims=True) * inv / at_max.sum(axis=(1, 2), keepdims=True)
        dx = np.where(flat, g, inv * g - at_min * to_min - at_max * to_max)
        return dx.astype(np.float32)



class RandomColorDegeneration(_ColorLayerInKerasOrder):
    """Blends each RGB image of a batch towards its grayscale version by a random factor in
    training (Keras 3 ``RandomColorDegeneration``): ``y = clip(x + f (gray - x), *value_range)``
    with ``gray`` the luma ``0.2989 R + 0.587 G + 0.114 B`` and ``f`` drawn per image uniformly
    from the factor range (0: unchanged, 1: grayscale, negative: more colourful); the
    identity at inference.

    Args:
        factor: a number ``f`` (range ``[-|f|, |f|]``) or a pair ``(lower, upper)``, each in
            ``[-1, 1]``.
        value_range: ``(low, high)`` the outputs are clipped to.
        data_format: only ``"channels_last"`` (or None) is supported.
        seed: integer seed of the layer's random generator (None: nondeterministic).

    Call arguments:
        inputs: RGB images ``(N, H, W, 3)``.
        training: change the colours only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of range, a bad value_range, inputs of rank != 4 or
            without 3 channels.

    Example:
        >>> RandomColorDegeneration(0.5, seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    _CHANNELS = (3,)
    _FACTOR_BOUNDS = (-1.0, 1.0)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        f = rng.uniform(self._range[0], self._range[1], size=(shape[0], 1, 1, 1))
        return {"factor": f.astype(np.float32)}

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        n = x.shape[0]
        f = _per_image(transformation["factor"], n, self._who, "factor").reshape(n, 1, 1, 1)
        y, inside = self._clip(x + f * (_grayscale(x) - x))
        return y, (f, inside)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        f, inside = ctx
        g = np.where(inside, np.asarray(dy, dtype=np.float32), np.float32(0.0))
        return ((np.float32(1.0) - f) * g + f * _grayscale_backward(g.sum(axis=-1, keepdims=True))).astype(np.float32)


def _smooth(x: np.ndarray) -> np.ndarray:
    """Per-channel 3x3 filter ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`` with zero padding
    ("same"); symmetric, so it is its own transpose."""
    n, h, w, c = x.shape
    padded = np.zeros((n, h + 2, w + 2, c), x.dtype)
    padded[:, 1:-1, 1:-1] = x
    ring = np.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            if dy != 1 or dx != 1:
                ring += padded[:, dy : dy + h, dx : dx + w]
    one = x.dtype.type(1.0 / 13.0)
    return ring * one + x * x.dtype.type(5.0 / 13.0)


class RandomSharpness(_ColorLayerInKerasOrder):
    """Sharpens or blurs each image of a batch by a random amount in training (Keras 3
    ``RandomSharpness``): with ``s = 2 f``, ``f`` drawn per image uniformly from the factor
    range, ``y = clip(x + (1 - s) (smooth(x) - x), *value_range)`` where ``smooth`` is the
    per-channel 3x3 filter ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`` with zero padding
    (``f = 0.5``: unchanged, below: blurred, above: sharpened); the identity at inference.

    Args:
        factor: a number ``f`` (range ``[0, f]``) or a pair ``(lower, upper)``, each in
            ``[0, 1]``.
        value_range: ``(low, high)`` the outputs are clipped to.
        data_format: only ``"channels_last"`` (or None) is supported.
        seed: integer seed of the layer's random generator (None: nondeterministic).

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: change the sharpness only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of range, a bad value_range or inputs of rank != 4.

    Example:
        >>> RandomSharpness(0.8, seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    _FACTOR_BOUNDS = (0.0, 1.0)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        return {"factor": rng.uniform(self._range[0], self._range[1], size=shape[0]).astype(np.float32)}

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        n = x.shape[0]
        s = _per_image(transformation["factor"], n, self._who, "factor").reshape(n, 1, 1, 1) * np.float32(2.0)
        y, inside = self._clip(x + (np.float32(1.0) - s) * (_smooth(x) - x))
        return y, (s, inside)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        s, inside = ctx
        g = np.where(inside, np.asarray(dy, dtype=np.float32), np.float32(0.0))
        return (s * g + (np.float32(1.0) - s) * _smooth(g)).astype(np.float32)


# -- hue and saturation --------------------------------------------------------------------------


def _rgb_to_hsv(x: np.ndarray) -> tuple:
    """Hue, saturation and value planes of RGB images in ``[0, 1]`` (Keras's ``rgb_to_hsv``:
    hue in ``[0, 1)``, taken from the red formula where red is the maximum, else green's, else
    blue's)."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    value = np.maximum(np.maximum(r, g), b)
    chroma = value - np.minimum(np.minimum(r, g), b)
    one = x.dtype.type(1.0)
    safe_chroma = np.where(chroma > 0, chroma, one)
    saturation = np.where(value > 0, chroma / np.where(value > 0, value, one), x.dtype.type(0.0))
    norm = one / (x.dtype.type(6.0) * safe_chroma)
    hue = np.where(value == g, norm * (b - r) + x.dtype.type(2.0 / 6.0), norm * (r - g) + x.dtype.type(4.0 / 6.0))
    hue = np.where(value == r, norm * (g - b), hue)
    hue = np.where(chroma > 0, hue, x.dtype.type(0.0)) + (hue < 0)
    return hue.astype(x.dtype), saturation, value


def _hsv_to_rgb(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    dh = np.remainder(hue, 1.0) * 6.0
    weights = (
        np.clip(np.abs(dh - 3.0) - 1.0, 0.0, 1.0),
        np.clip(2.0 - np.abs(dh - 2.0), 0.0, 1.0),
        np.clip(2.0 - np.abs(dh - 4.0), 0.0, 1.0),
    )
    return np.stack([value * ((1.0 - saturation) + saturation * w) for w in weights], axis=-1)


def _extreme_one_hot(x: np.ndarray, pick: Any) -> np.ndarray:
    """One-hot ``(..., 3)`` of the channel ``pick`` (np.argmax or np.argmin) selects."""
    return np.eye(3, dtype=np.float64)[pick(x, axis=-1)]


class _HsvLayer(_ColorLayerInKerasOrder):
    """Base of RandomSaturation and RandomHue: RGB images mapped from ``value_range`` to
    ``[0, 1]``, changed in HSV and mapped back."""

    _CHANNELS = (3,)
    _FACTOR_BOUNDS = (0.0, 1.0)

    def _unit(self, x: np.ndarray) -> np.ndarray:
        lo, hi = self._value_range
        return (x - np.float32(lo)) / np.float32(hi - lo)

    def _back(self, y: np.ndarray) -> np.ndarray:
        lo, hi = self._value_range
        return (y * np.float32(hi - lo) + np.float32(lo)).astype(np.float32)


class RandomSaturation(_HsvLayer):
    """Scales the saturation of each RGB image of a batch by a random amount in training
    (Keras 3 ``RandomSaturation``): with ``f`` drawn per image uniformly from the factor range,
    the HSV saturation ``S`` becomes ``clip(S k, 0, 1)`` with ``k = f / (1 - f + 1e-7)``
    (``f = 0.5``: unchanged, 0: grayscale, 1: fully saturated); hue and value are kept. The
    identity at inference.

    Keras 3.15 clips ``S k`` to ``value_range`` instead of ``[0, 1]`` (the same for
    ``value_range=(0, 1)``) and draws a single number ``f`` from ``[-f, f]``; this layer
    follows Keras's documentation: ``[0, f]``. Negative ends of a pair (as in the configs
    Keras saves) act as in Keras: ``k < 0`` gives grayscale.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (range ``[0, f]``) or a pair ``(lower, upper)``,
            each in ``[-1, 1]``.
        value_range: ``(low, high)`` of the inputs.
        data_format: only ``"channels_last"`` (or None) is supported.
        seed: integer seed of the layer's random generator (None: nondeterministic).

    Call arguments:
        inputs: RGB images ``(N, H, W, 3)``.
        training: change the saturation only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of range, a bad value_range, inputs of rank != 4 or
            without 3 channels.

    Example:
        >>> RandomSaturation((0.0, 0.0))(np.array([[[[255.0, 0.0, 0.0]]]], np.float32), training=True).ravel()
        array([255., 255., 255.], dtype=float32)
    """

    _FACTOR_BOUNDS = (-1.0, 1.0)

    def __init__(
        self,
        factor: Any,
        value_range: Any = (0, 255),
        data_format: Optional[str] = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ):
        super().__init__(factor, value_range, data_format, seed, **kwargs)
        if not isinstance(factor, (tuple, list)):
            if factor < 0:
                raise ValueError(
                    f"{self._who}: factor must be a number in [0, 1] or a pair of numbers in [-1, 1]. "
                    f"Received: factor={factor!r}"
                )
            self._range = (0.0, float(factor))

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        f = rng.uniform(self._range[0], self._range[1], size=shape[0])
        return {"factor": (f / (1.0 - f + 1e-7)).astype(np.float32)}

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        n = x.shape[0]
        k = _per_image(transformation["factor"], n, self._who, "factor").reshape(n, 1, 1)
        u = self._unit(x)
        hue, saturation, value = _rgb_to_hsv(u)
        y = _hsv_to_rgb(hue, np.clip(saturation * k, np.float32(0.0), np.float32(1.0)), value)
        return self._back(y), (u, k)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        # y_c = V - t (V - x_c) with t = min(k, V / (V - m)) (V, m: the largest and smallest
        # channel), so dy_c = (1 - t) dV + t dx_c - (V - x_c) dt.
        u, k = ctx
        x = u.astype(np.float64)
        g = np.asarray(dy, dtype=np.float64)
        value, low = x.max(axis=-1, keepdims=True), x.min(axis=-1, keepdims=True)
        chroma = value - low
        k = np.asarray(k, np.float64)[..., None]
        capped = k * chroma > value
        safe = np.where(chroma > 0, chroma, 1.0)
        t = np.where(capped, value / safe, k)
        dx = t * g
        to_value = ((1.0 - t) * g).sum(axis=-1, keepdims=True)
        weighted = ((value - x) * g).sum(axis=-1, keepdims=True)
        # t = V / (V - m) where capped: dt/dV = -m / (V - m)^2, dt/dm = V / (V - m)^2
        to_value = to_value - np.where(capped, -low / safe**2, 0.0) * weighted
        to_low = -np.where(capped, value / safe**2, 0.0) * weighted
        dx += to_value * _extreme_one_hot(x, np.argmax) + to_low * _extreme_one_hot(x, np.argmin)
        return dx.astype(np.float32)


class RandomHue(_HsvLayer):
    """Rotates the hue of each RGB image of a batch by a random amount in training (Keras 3
    ``RandomHue``): with ``f`` drawn per image uniformly from the factor range and a random
    sign, the HSV hue ``H`` becomes ``H + f / 2`` wrapped into ``[0, 1]``; saturation and value
    are kept and the result is clipped to ``value_range``. ``f = 1`` turns the hue half a
    circle whatever the sign. The identity at inference.

    Args:
        factor: a number ``f`` (range ``[0, f]``) or a pair ``(lower, upper)``, each in
            ``[0, 1]``.
        value_range: ``(low, high)`` of the inputs.
        data_format: only ``"channels_last"`` (or None) is supported.
        seed: integer seed of the layer's random generator (None: nondeterministic).

    Call arguments:
        inputs: RGB images ``(N, H, W, 3)``.
        training: change the hue only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of range, a bad value_range, inputs of rank != 4 or
            without 3 channels.

    Example:
        >>> RandomHue((1.0, 1.0))(np.array([[[[255.0, 0.0, 0.0]]]], np.float32), training=True).ravel()
        array([  0., 255., 255.], dtype=float32)
    """

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        n = shape[0]
        sign = np.where(rng.uniform(0.0, 1.0, size=n) > 0.5, -1.0, 1.0)
        f = rng.uniform(self._range[0], self._range[1], size=n)
        return {"factor": (sign * f * 0.5).astype(np.float32)}

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        n = x.shape[0]
        delta = _per_image(transformation["factor"], n, self._who, "factor").reshape(n, 1, 1)
        u = self._unit(x)
        hue, saturation, value = _rgb_to_hsv(u)
        hue = hue + delta
        hue = np.where(hue > 1.0, hue - np.float32(1.0), hue)
        hue = np.where(hue < 0.0, hue + np.float32(1.0), hue)
        pre = _hsv_to_rgb(hue, saturation, value)
        y = np.clip(pre, np.float32(0.0), np.float32(1.0))
        return self._back(y), (u, hue, (pre >= 0.0) & (pre <= 1.0))

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        # y_c = V - C (1 - w_c(H')) with C = V - m and H' = H + delta: dy_c = dV - (1 - w_c) dC
        # + C w_c'(H') dH, and H = num / (6 C) + offset, num the difference of two channels.
        u, new_hue, inside = ctx
        x = u.astype(np.float64)
        g = np.where(inside, np.asarray(dy, dtype=np.float64), 0.0)
        top, bottom = _extreme_one_hot(x, np.argmax), _extreme_one_hot(x, np.argmin)
        value, low = x.max(axis=-1, keepdims=True), x.min(axis=-1, keepdims=True)
        chroma = value - low
        r, gr, b = x[..., 0:1], x[..., 1:2], x[..., 2:3]
        # the channel difference behind the hue, by Keras's priority red > green > blue
        red_max, green_max = value == r, (value == gr) & (value != r)
        num = np.where(red_max, gr - b, np.where(green_max, b - r, r - gr))
        dnum = np.where(red_max, [0.0, 1.0, -1.0], np.where(green_max, [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]))
        dchroma = top - bottom
        safe = np.where(chroma > 0, chroma, 1.0)
        dhue = np.where(chroma > 0, (dnum - num / safe * dchroma) / (6.0 * safe), 0.0)  # (..., 3): d H / d x_j
        dh = np.remainder(np.asarray(new_hue, np.float64), 1.0)[..., None] * 6.0
        weight = np.concatenate(
            [
                np.clip(np.abs(dh - 3.0) - 1.0, 0.0, 1.0),
                np.clip(2.0 - np.abs(dh - 2.0), 0.0, 1.0),
                np.clip(2.0 - np.abs(dh - 4.0), 0.0, 1.0),
            ],
            axis=-1,
        )
        slope = np.concatenate(
            [
                np.where(np.abs(np.abs(dh - 3.0) - 1.5) < 0.5, 6.0 * np.sign(dh - 3.0), 0.0),
                np.where(np.abs(np.abs(dh - 2.0) - 1.5) < 0.5, -6.0 * np.sign(dh - 2.0), 0.0),
                np.where(np.abs(np.abs(dh - 4.0) - 1.5) < 0.5, -6.0 * np.sign(dh - 4.0), 0.0),
            ],
            axis=-1,
        )
        # dx_j = sum_c g_c dy_c/dx_j
        dx = g.sum(axis=-1, keepdims=True) * top
        dx -= (g * (1.0 - weight)).sum(axis=-1, keepdims=True) * dchroma
        dx += (g * chroma * slope).sum(axis=-1, keepdims=True) * dhue
        return dx.astype(np.float32)


# -- erasing, blurring, equalization, mixing -------------------------------------------------------


class _ChainLayer(_PixelLayer):
    """Base of the layers applying other augmentation layers in turn: ``_steps(transformation)``
    lists ``(layer, its transformation)``; the backward pass runs the chain in reverse."""

    def _chain(self) -> list:
        raise NotImplementedError

    def _steps(self, transformation: Any) -> list:
        raise NotImplementedError

    def _check_channels(self, shape: tuple) -> None:
        for op in self._chain():
            if isinstance(op, _PixelLayer):
                op._check_channels(shape)

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        ctxs = []
        for op, op_transformation in self._steps(transformation):
            x, ctx = op._apply(x, op_transformation)
            ctxs.append((op, ctx))
        return x, ctxs

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        g = np.asarray(dy, dtype=np.float32)
        for op, op_ctx in reversed(ctx):
            g = op._backward(op_ctx, g)
        return g


class RandomColorJitter(_ChainLayer):
    """Applies, in training, RandomBrightness, RandomContrast, RandomSaturation and RandomHue
    in that order, each present when its factor is not None (Keras 3 ``RandomColorJitter``),
    with one draw per image for each; the identity at inference. The transformation is a dict
    ``{"brightness", "contrast", "saturation", "hue"}`` of the parts' transformations.

    Args:
        value_range: ``(low, high)`` of the pixel values.
        brightness_factor, contrast_factor, saturation_factor, hue_factor: the factor of each
            part as that layer takes it, or None to leave the part out.
        seed: integer seed of the layer's random generator (None: nondeterministic).
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)`` (3 channels when saturation or hue is present);
        training: jitter only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor a part refuses (naming the argument), a bad value_range, or
            inputs of rank != 4.

    Example:
        >>> RandomColorJitter((0, 1), brightness_factor=0.2, seed=1)(np.ones((2, 5, 5, 3), np.float32)).shape
        (2, 5, 5, 3)
    """

    _PARTS = (
        ("brightness", "brightness_factor", RandomBrightness),
        ("contrast", "contrast_factor", RandomContrast),
        ("saturation", "saturation_factor", RandomSaturation),
        ("hue", "hue_factor", RandomHue),
    )

    def __init__(
        self,
        value_range: Any = (0, 255),
        brightness_factor: Any = None,
        contrast_factor: Any = None,
        saturation_factor: Any = None,
        hue_factor: Any = None,
        seed: Optional[int] = None,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(value_range, seed, data_format=data_format, **kwargs)
        factors = {
            "brightness_factor": brightness_factor,
            "contrast_factor": contrast_factor,
            "saturation_factor": saturation_factor,
            "hue_factor": hue_factor,
        }
        self._parts = []
        for key, argument, part_class in self._PARTS:
            factor = factors[argument]
            if factor is not None:
                try:
                    part = part_class(factor, value_range=value_range, name=f"{self.name}_{key}")
                except ValueError as err:
                    raise ValueError(f"{self._who}: bad {argument} ({err}). Received: {argument}={factor!r}") from None
                self._parts.append((key, part))
            setattr(self, argument, _as_config_factor(factor))

    def _chain(self) -> list:
        return [part for _, part in self._parts]

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        return {key: part._draw(shape, rng) for key, part in self._parts}

    def _steps(self, transformation: Any) -> list:
        missing = [key for key, _ in self._parts if key not in transformation]
        if missing:
            raise ValueError(
                f"{self._who}: transformation must hold the {missing[0]!r} part. "
                f"Received keys: {sorted(transformation)}"
            )
        return [(part, transformation[key]) for key, part in self._parts]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({argument: getattr(self, argument) for _, argument, _ in self._PARTS})
        return config


def _box_masks(rng: np.random.Generator, shape: tuple, width_ratio: np.ndarray, height_ratio: np.ndarray) -> tuple:
    """Boxes ``ratio * size`` wide/high at uniform positions, as Keras's RandomErasing and
    CutMix draw them: returns the masks ``(N, H, W, 1)`` of the pixels with
    ``x0 <= x < x1`` and ``y0 <= y < y1`` and the corners ``(x0, x1, y0, y1)`` (float32)."""
    n, h, w = shape[:3]
    corners = []
    for ratio, size in ((width_ratio, w), (height_ratio, h)):
        length = (np.asarray(ratio, np.float32) * np.float32(size)).astype(np.float32)
        start = rng.uniform(0.0, 1.0, size=n).astype(np.float32) * (np.float32(size) - length)
        corners += [start, start + length]
    x0, x1, y0, y1 = (c.reshape(n, 1, 1, 1) for c in corners)
    rows = np.arange(h, dtype=np.float32).reshape(1, h, 1, 1)
    cols = np.arange(w, dtype=np.float32).reshape(1, 1, w, 1)
    masks = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
    return masks, tuple(corners)


def _per_pixel_mask(value: Any, shape: tuple, who: str, key: str) -> np.ndarray:
    mask = np.asarray(value)
    if mask.ndim != 4 or mask.shape[:3] != tuple(shape[:3]) or mask.shape[3] not in (1, shape[3]):
        raise ValueError(
            f"{who}: transformation[{key!r}] must have shape {tuple(shape)} (or a last dimension of 1). "
            f"Received: shape={mask.shape}"
        )
    return mask.astype(bool)


def _permutation(value: Any, n: int, who: str) -> np.ndarray:
    order = np.asarray(value).reshape(-1)
    if order.size != n or sorted(order.tolist()) != list(range(n)):
        raise ValueError(
            f"{who}: transformation['permutation_order'] must be a permutation of range({n}). "
            f"Received: {order.tolist()}"
        )
    return order.astype(np.int64)


class RandomErasing(_PixelLayer):
    """Erases a random box of some images of a batch in training (Keras 3 ``RandomErasing``).

    Each image draws a probability uniform in the factor range and is erased when a second
    uniform draw in ``[0, 1)`` falls below it. Its box is ``sqrt(a) W`` wide and ``sqrt(b) H``
    high (``a``, ``b`` uniform in ``scale``) at a uniform position; its pixels take
    ``fill_value`` (a number, or one per channel) or, with None, Gaussian noise times
    ``value_range[1]``, clipped to ``value_range``. The identity at inference; gradients pass
    to the pixels that are kept.

    Args:
        factor: a number ``f`` (range ``[0, f]``) or a pair ``(lower, upper)``, each in
            ``[0, 1]``: the range of the erasing probability.
        scale: a number ``s`` (range ``[0, s]``) or a pair, each in ``[0, 1]``: the range of
            the box's squared side fractions.
        fill_value: None (noise), a number or a list of one number per channel.
        value_range: ``(low, high)`` of the inputs; fill values are clipped to it.
        seed: integer seed of the layer's random generator (None: nondeterministic).
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: erase only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor or scale out of range, a bad fill_value or value_range, or
            inputs of rank != 4.

    Example:
        >>> layer = RandomErasing((1.0, 1.0), scale=(1.0, 1.0), fill_value=0.0)
        >>> float(layer(np.ones((2, 4, 4, 1), np.float32), training=True).max())
        0.0
    """

    def __init__(
        self,
        factor: Any = 1.0,
        scale: Any = (0.02, 0.33),
        fill_value: Any = None,
        value_range: Any = (0, 255),
        seed: Optional[int] = None,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(value_range, seed, data_format=data_format, **kwargs)
        self._range = _factor_range(self._who, "factor", factor, 0.0, 1.0)
        self._scale = _factor_range(self._who, "scale", scale, 0.0, 1.0)
        listed = isinstance(fill_value, (tuple, list)) and len(fill_value) > 0
        if fill_value is not None and not _is_number(fill_value):
            if not (listed and all(_is_number(v) for v in fill_value)):
                raise ValueError(
                    f"{self._who}: fill_value must be None, a number or a list of numbers (one per channel). "
                    f"Received: fill_value={fill_value!r}"
                )
        self.factor = _as_config_factor(factor)
        self.scale = _as_config_factor(scale)
        if listed:
            fill_value = [float(v) for v in fill_value]
        self.fill_value = fill_value if fill_value is None or listed else float(fill_value)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        n = shape[0]
        sides = np.sqrt(rng.uniform(self._scale[0], self._scale[1], size=(n, 2))).astype(np.float32)
        masks, _ = _box_masks(rng, shape, sides[:, 0], sides[:, 1])
        apply = _coin(rng, n, self._range)
        lo, hi = self._value_range
        if self.fill_value is None:
            fill = rng.standard_normal(shape).astype(np.float32) * np.float32(hi)
        else:
            fill = np.broadcast_to(self._fill_values(shape), shape)
        fill = np.clip(fill, lo, hi).astype(np.float32)
        return {"apply_erasing": apply, "batch_masks": np.repeat(masks, shape[3], axis=3), "fill_value": fill}

    def _fill_values(self, shape: tuple) -> np.ndarray:
        fill = np.asarray(self.fill_value, np.float32).reshape(-1)
        if fill.size not in (1, shape[3]):
            raise ValueError(
                f"{self._who}: fill_value must hold 1 or {shape[3]} values (one per channel). "
                f"Received: fill_value={self.fill_value!r}"
            )
        return fill

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        n = x.shape[0]
        apply = _per_image_mask(transformation["apply_erasing"], n, self._who, "apply_erasing")
        erased = apply & _per_pixel_mask(transformation["batch_masks"], x.shape, self._who, "batch_masks")
        fill = np.asarray(transformation["fill_value"], np.float32)
        try:
            fill = np.broadcast_to(fill, x.shape)
        except ValueError:
            raise ValueError(
                f"{self._who}: transformation['fill_value'] must broadcast to {x.shape}. Received: shape={fill.shape}"
            ) from None
        return np.where(erased, fill, x).astype(np.float32), erased

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        return np.where(ctx, np.float32(0.0), np.asarray(dy, dtype=np.float32))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor, scale=self.scale, fill_value=self.fill_value)
        return config


def _gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """Keras's 1-D Gaussian taps ``exp(-((i - (size - 1) / 2) / sigma)^2 / 2)``, normalized."""
    offsets = np.arange(size, dtype=np.float32) - np.float32((size - 1) / 2)
    taps = np.exp(np.float32(-0.5) * (offsets / np.float32(sigma)) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def _separable_filter(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per-channel correlation of ``x (N, H, W, C)`` with ``outer(rows, cols)``, zero padding,
    same size (odd, symmetric taps: the filter is its own transpose)."""
    n, h, w, c = x.shape
    ph, pw = len(rows) // 2, len(cols) // 2
    padded = np.zeros((n, h + 2 * ph, w + 2 * pw, c), x.dtype)
    padded[:, ph : ph + h, pw : pw + w] = x
    across = np.zeros((n, h + 2 * ph, w, c), x.dtype)
    for j, tap in enumerate(cols):
        across += padded[:, :, j : j + w] * x.dtype.type(tap)
    out = np.zeros_like(x)
    for i, tap in enumerate(rows):
        out += across[:, i : i + h] * x.dtype.type(tap)
    return out


class RandomGaussianBlur(_PixelLayer):
    """Blurs some images of a batch with a Gaussian filter in training (Keras 3
    ``RandomGaussianBlur``).

    Each image draws a probability uniform in the factor range and is blurred when a second
    uniform draw in ``[0, 1)`` falls below it. One pair of standard deviations
    ``(sigma_x, sigma_y)`` is drawn per batch, each uniform in the sigma range (plus 1e-6); the
    filter is ``outer(g_y, g_x)`` of normalized Gaussian taps over ``kernel_size`` points, applied
    per channel with zero padding. In training every image is then clipped to
    ``value_range``. The identity at inference.

    Args:
        factor: a number ``f`` (range ``[0, f]``) or a pair ``(lower, upper)``, each in
            ``[0, 1]``: the range of the blurring probability.
        kernel_size: an odd positive integer, or a pair ``(width taps, height taps)``.
        sigma: a number ``s`` (range ``[0, s]``) or a pair of non-negative numbers.
        value_range: ``(low, high)`` of the inputs.
        data_format: only ``"channels_last"`` (or None) is supported.
        seed: integer seed of the layer's random generator (None: nondeterministic).

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: blur only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor or sigma out of range, an even or non-positive kernel_size,
            a bad value_range, or inputs of rank != 4.

    Example:
        >>> RandomGaussianBlur(seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    def __init__(
        self,
        factor: Any = 1.0,
        kernel_size: Any = 3,
        sigma: Any = 1.0,
        value_range: Any = (0, 255),
        data_format: Optional[str] = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ):
        super().__init__(value_range, seed, data_format=data_format, **kwargs)
        self._range = _factor_range(self._who, "factor", factor, 0.0, 1.0)
        sizes = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
        if len(sizes) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 and v % 2 == 1 for v in sizes
        ):
            raise ValueError(
                f"{self._who}: kernel_size must be an odd positive integer or a pair of them. "
                f"Received: kernel_size={kernel_size!r}"
            )
        self._sigma = _factor_range(self._who, "sigma", sigma, 0.0, math.inf)
        self.factor = _as_config_factor(factor)
        self.kernel_size = tuple(int(v) for v in sizes)
        self.sigma = _as_config_factor(sigma)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        apply = _coin(rng, shape[0], self._range)
        sigmas = rng.uniform(self._sigma[0], self._sigma[1], size=2).astype(np.float32) + np.float32(1e-6)
        return {"should_apply_blur": apply, "blur_factor": sigmas}

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        apply = _per_image_mask(transformation["should_apply_blur"], x.shape[0], self._who, "should_apply_blur")
        sigmas = np.asarray(transformation["blur_factor"], np.float32).reshape(-1)
        if sigmas.size != 2 or not np.all(sigmas > 0):
            raise ValueError(
                f"{self._who}: transformation['blur_factor'] must hold two positive values (sigma_x, sigma_y). "
                f"Received: {sigmas.tolist()}"
            )
        taps = (_gaussian_kernel(self.kernel_size[1], sigmas[1]), _gaussian_kernel(self.kernel_size[0], sigmas[0]))
        y, inside = self._clip(np.where(apply, _separable_filter(x, *taps), x))
        return y, (apply, taps, inside)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        apply, taps, inside = ctx
        g = np.where(inside, np.asarray(dy, dtype=np.float32), np.float32(0.0))
        return np.where(apply, _separable_filter(g, *taps), g).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor, kernel_size=self.kernel_size, sigma=self.sigma)
        return config


class Equalization(_FixedPixelLayer):
    """Equalizes the histogram of each channel in training (Keras 3 ``Equalization``).

    Per channel, over the whole batch as Keras does: values mapped from ``value_range`` to
    ``[0, 255]`` fall in ``bins`` bins (``int(v (bins - 1) / 255)``); with ``cdf`` the
    cumulative histogram and ``c0`` its first nonzero entry, bin ``b`` maps to
    ``round((cdf[b] - c0) 255 / (cdf[-1] - c0))``, and the result goes back to ``value_range``.
    A channel whose values fill a single bin is unchanged. Piecewise constant: no gradient
    passes in training. The identity at inference.

    Args:
        value_range: ``(low, high)`` of the inputs.
        bins: number of histogram bins (a positive integer).
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: equalize only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a bad value_range or bins, or inputs of rank != 4.

    Example:
        >>> Equalization()(np.array([[[[10.0], [20.0]]]], np.float32), training=True).ravel()
        array([  0., 255.], dtype=float32)
    """

    def __init__(self, value_range: Any = (0, 255), bins: int = 256, data_format: Optional[str] = None, **kwargs: Any):
        super().__init__(value_range, data_format=data_format, **kwargs)
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
            raise ValueError(f"{self._who}: bins must be a positive integer. Received: bins={bins!r}")
        self.bins = int(bins)

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        lo, hi = self._value_range
        scale = np.float32(255.0 / (hi - lo))
        u = x * scale + np.float32(-lo) * scale
        top = self.bins - 1
        y = np.empty_like(u)
        for c in range(x.shape[-1]):
            channel = u[..., c]
            index = np.clip((channel * np.float32(top) / np.float32(255.0)).astype(np.int64), 0, top)
            hist = np.bincount(index.ravel(), minlength=self.bins)
            if np.count_nonzero(hist) <= 1:
                y[..., c] = channel
                continue
            cdf = np.cumsum(hist)
            first = cdf[np.nonzero(cdf)[0][0]]
            spread = cdf[-1] - first
            table = np.float32((cdf - first) * 255) / np.float32(spread if spread != 0 else 1)
            table = np.clip(np.round(table), 0, 255).astype(np.float32)
            lookup = np.clip(channel / np.float32(255.0) * np.float32(top), 0, top).astype(np.int64)
            y[..., c] = table[lookup]
        back = np.float32((hi - lo) / 255.0)
        return (y * back + np.float32(lo)).astype(np.float32), x.shape

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        return np.zeros(ctx, np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(bins=self.bins)
        return config


class _MixingLayer(_RandomImageLayer):
    """Base of MixUp and CutMix: images mixed with a permutation of the batch, and
    ``transform_labels`` mixing the labels ``(N, K)`` the same way."""

    def transform_labels(self, labels: Any, transformation: Any, training: bool = True) -> np.ndarray:
        """``w * labels + (1 - w) * labels[permutation]`` with the transformation's
        ``mix_weight`` ``w`` (unchanged when not training or without a transformation)."""
        y = np.asarray(labels, dtype=np.float32)
        if not training or transformation is None:
            return y
        if y.ndim < 1:
            raise ValueError(f"{self._who}: labels must have a batch dimension. Received: shape={y.shape}")
        n = y.shape[0]
        order = _permutation(transformation["permutation_order"], n, self._who)
        w = _per_image(transformation["mix_weight"], n, self._who, "mix_weight").reshape((n,) + (1,) * (y.ndim - 1))
        return (w * y + (np.float32(1.0) - w) * y[order]).astype(np.float32)

    def _scatter_back(self, order: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Transpose of ``x[order]``."""
        out = np.zeros_like(g)
        np.add.at(out, order, g)
        return out


class MixUp(_MixingLayer):
    """Mixes each image of a batch with another one in training (Keras 3 ``MixUp``):
    ``y = w x + (1 - w) x[p]`` with ``p`` a random permutation of the batch and ``w`` drawn per
    image from ``Beta(alpha, alpha)``; ``transform_labels`` mixes one-hot labels alike (a
    model sees only its images: mix the labels with the same transformation outside it). The
    identity at inference.

    Args:
        alpha: the Beta distribution's parameter (a positive number).
        data_format: only ``"channels_last"`` (or None) is supported.
        seed: integer seed of the layer's random generator (None: nondeterministic).

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: mix only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a non-positive alpha or inputs of rank != 4.

    Example:
        >>> MixUp(seed=1)(np.ones((4, 5, 5, 3), np.float32), training=True).shape
        (4, 5, 5, 3)
    """

    def __init__(
        self, alpha: float = 0.2, data_format: Optional[str] = None, seed: Optional[int] = None, **kwargs: Any
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not (_is_number(alpha) and alpha > 0):
            raise ValueError(f"{self._who}: alpha must be a positive number. Received: alpha={alpha!r}")
        self.alpha = float(alpha)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        n = shape[0]
        return {
            "mix_weight": rng.beta(self.alpha, self.alpha, size=n).astype(np.float32),
            "permutation_order": rng.permutation(n).astype(np.int64),
        }

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        n = x.shape[0]
        order = _permutation(transformation["permutation_order"], n, self._who)
        w = _per_image(transformation["mix_weight"], n, self._who, "mix_weight").reshape(n, 1, 1, 1)
        return (w * x + (np.float32(1.0) - w) * x[order]).astype(np.float32), (order, w)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        order, w = ctx
        g = np.asarray(dy, dtype=np.float32)
        return (w * g + self._scatter_back(order, (np.float32(1.0) - w) * g)).astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(alpha=self.alpha)
        return config


class CutMix(_MixingLayer):
    """Pastes a box of another image of the batch into each image in training (Keras 3
    ``CutMix``). One ``alpha`` is drawn per batch uniformly from the factor range (plus 1e-6),
    then per image ``w`` from ``Beta(alpha, alpha)``; the box is ``sqrt(1 - w)`` times the
    width and height at a uniform position, and its pixels come from ``x[p]`` with ``p`` a
    random permutation of the batch. The transformation's ``mix_weight`` is the kept area's
    fraction, which ``transform_labels`` uses to mix the labels. The identity at inference.

    Args:
        factor: a number ``f`` (range ``[0, f]``) or a pair ``(lower, upper)``, each in
            ``[0, 1]``: the range of ``alpha``.
        seed: integer seed of the layer's random generator (None: nondeterministic).
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``.
        training: mix only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of range or inputs of rank != 4.

    Example:
        >>> CutMix(seed=1)(np.ones((4, 5, 5, 3), np.float32), training=True).shape
        (4, 5, 5, 3)
    """

    def __init__(self, factor: Any = 1.0, seed: Optional[int] = None, data_format: Optional[str] = None, **kwargs: Any):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self._range = _factor_range(self._who, "factor", factor, 0.0, 1.0)
        self.factor = _as_config_factor(factor)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        n, h, w = shape[:3]
        alpha = rng.uniform(self._range[0], self._range[1]) + 1e-6
        ratio = np.sqrt(1.0 - rng.beta(alpha, alpha, size=n)).astype(np.float32)
        masks, (x0, x1, y0, y1) = _box_masks(rng, shape, ratio, ratio)
        kept = np.float32(1.0) - (x1 - x0) * (y1 - y0) / np.float32(w * h)
        return {
            "permutation_order": rng.permutation(n).astype(np.int64),
            "batch_masks": np.repeat(masks, shape[3], axis=3),
            "mix_weight": kept.astype(np.float32),
        }

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        order = _permutation(transformation["permutation_order"], x.shape[0], self._who)
        pasted = _per_pixel_mask(transformation["batch_masks"], x.shape, self._who, "batch_masks")
        pasted = np.broadcast_to(pasted, x.shape)
        return np.where(pasted, x[order], x).astype(np.float32), (order, pasted)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        order, pasted = ctx
        g = np.asarray(dy, dtype=np.float32)
        return (np.where(pasted, np.float32(0.0), g) + self._scatter_back(order, np.where(pasted, g, np.float32(0.0))))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor)
        return config


def _check_count(who: str, name: str, value: Any, low: int) -> int:
    """``value`` as an int, refused unless it is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{who}: {name} must be an integer >= {low}. Received: {name}={value!r}")
    return int(value)


class _PolicyLayer(_ChainLayer):
    """Base of RandAugment and AugMix: the operations they pick from, all built from one
    ``factor`` and ``interpolation``."""

    def _policy_operations(self, factor: Any, interpolation: str) -> dict:
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"{self._who}: interpolation must be one of {list(_INTERPOLATIONS)}. "
                f"Received: interpolation={interpolation!r}"
            )
        f = _factor_range(self._who, "factor", factor, 0.0, 1.0)
        self.factor = _as_config_factor(factor)
        self.interpolation = interpolation
        geometric = dict(interpolation=interpolation)
        colour = dict(value_range=self.value_range)
        return {
            "random_shear": RandomShear(f, f, **geometric),
            "random_translation": RandomTranslation(f, f, **geometric),
            "random_rotation": RandomRotation(f, **geometric),
            "random_brightness": RandomBrightness(f, **colour),
            "random_color_degeneration": RandomColorDegeneration(f, **colour),
            "random_contrast": RandomContrast(f, **colour),
            "random_sharpness": RandomSharpness(f, **colour),
            "random_posterization": RandomPosterization(max(1, int(8 * f[1])), **colour),
            "solarization": Solarization(f, f, **colour),
            "auto_contrast": AutoContrast(**colour),
            "equalization": Equalization(**colour),
        }

    def _chain(self) -> list:
        return list(self._ops.values())

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor, interpolation=self.interpolation)
        return config


class RandAugment(_PolicyLayer):
    """RandAugment (Keras 3 ``RandAugment``): in training, ``num_ops`` rounds each apply one
    operation, picked uniformly per batch, to the whole batch, out of RandomShear,
    RandomTranslation, RandomRotation, RandomBrightness, RandomColorDegeneration,
    RandomContrast, RandomSharpness, RandomPosterization, Solarization, AutoContrast and
    Equalization, all built from ``factor``; each operation's draw is made once per call and
    reused if it is picked again. The identity at inference. The transformation is
    ``{"transforms": {name: transformation}, "layer_idxes": (num_ops,)}``.

    Args:
        value_range: ``(low, high)`` of the pixel values.
        num_ops: how many operations to apply, an integer >= 0.
        factor: a number ``f`` (range ``[0, f]``) or a pair ``(lower, upper)``, each in
            ``[0, 1]``: the factor every operation takes (RandomPosterization:
            ``max(1, int(8 upper))`` bits).
        interpolation: ``"bilinear"`` or ``"nearest"``, of the geometric operations.
        seed: integer seed of the layer's random generator (None: nondeterministic).
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``; training: augment only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of [0, 1], a bad num_ops, value_range or interpolation,
            or inputs of rank != 4.

    Example:
        >>> RandAugment(seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    _OPERATIONS = (
        "random_shear",
        "random_translation",
        "random_rotation",
        "random_brightness",
        "random_color_degeneration",
        "random_contrast",
        "random_sharpness",
        "random_posterization",
        "solarization",
        "auto_contrast",
        "equalization",
    )

    def __init__(
        self,
        value_range: Any = (0, 255),
        num_ops: int = 2,
        factor: Any = 0.5,
        interpolation: str = "bilinear",
        seed: Optional[int] = None,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(value_range, seed, data_format=data_format, **kwargs)
        self.num_ops = _check_count(self._who, "num_ops", num_ops, 0)
        self._ops = self._policy_operations(factor, interpolation)

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        picks = rng.integers(0, len(self._OPERATIONS), size=self.num_ops)
        transforms = {
            name: None if isinstance(op, _FixedPixelLayer) else op._draw(shape, rng) for name, op in self._ops.items()
        }
        return {"transforms": transforms, "layer_idxes": picks}

    def _steps(self, transformation: Any) -> list:
        picks = np.asarray(transformation["layer_idxes"]).reshape(-1)
        if picks.size != self.num_ops or not np.all((picks >= 0) & (picks < len(self._OPERATIONS))):
            raise ValueError(
                f"{self._who}: transformation['layer_idxes'] must hold {self.num_ops} integers in "
                f"[0, {len(self._OPERATIONS)}). Received: {picks.tolist()}"
            )
        names = [self._OPERATIONS[int(pick)] for pick in picks]
        return [(self._ops[name], transformation["transforms"][name]) for name in names]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_ops=self.num_ops)
        return config


class AugMix(_PolicyLayer):
    """AugMix (Keras 3 ``AugMix``): in training, ``num_chains`` chains each apply up to
    ``chain_depth`` operations to the whole batch (each step picks uniformly one of the
    operations or none), and the result is
    ``clip(m x + (1 - m) sum_i w_i chain_i(x), *value_range)`` with chain weights ``w``
    drawn from a Dirichlet(``alpha``) and ``m`` from a Beta(``alpha``, ``alpha``), once per
    batch. The operations are RandomShear, RandomTranslation, RandomRotation,
    RandomPosterization, Solarization, AutoContrast, Equalization and, with ``all_ops``,
    RandomBrightness, RandomColorDegeneration, RandomContrast and RandomSharpness, all built
    from ``factor``. The identity at inference. The transformation is
    ``{"chain_mixing_weights": (num_chains,), "weight_sample": (), "chain_transforms":
    [[{"layer_name", "transformation"}, ...] per chain]}``.

    Args:
        value_range: ``(low, high)`` of the pixel values.
        num_chains: how many chains to mix, an integer >= 1.
        chain_depth: the most operations per chain, an integer >= 0.
        factor: a number ``f`` (range ``[0, f]``) or a pair ``(lower, upper)``, each in
            ``[0, 1]``: the factor every operation takes (RandomPosterization:
            ``max(1, int(8 upper))`` bits).
        alpha: the concentration of the Dirichlet and Beta draws, a finite number > 0.
        all_ops: also use the four colour operations above.
        interpolation: ``"bilinear"`` or ``"nearest"``, of the geometric operations.
        seed: integer seed of the layer's random generator (None: nondeterministic).
        data_format: only ``"channels_last"`` (or None) is supported.

    Call arguments:
        inputs: images ``(N, H, W, C)``; training: augment only when True.

    Returns:
        float32 array of the input's shape.

    Raises:
        ValueError: for a factor out of [0, 1], a bad num_chains, chain_depth, alpha, all_ops,
            value_range or interpolation, or inputs of rank != 4.

    Example:
        >>> AugMix(seed=1)(np.ones((2, 5, 5, 3), np.float32), training=True).shape
        (2, 5, 5, 3)
    """

    _OPERATIONS = (
        "random_shear",
        "random_translation",
        "random_rotation",
        "random_posterization",
        "solarization",
        "auto_contrast",
        "equalization",
        "random_brightness",
        "random_color_degeneration",
        "random_contrast",
        "random_sharpness",
    )
    _COLOUR_ONLY = ("random_brightness", "random_color_degeneration", "random_contrast", "random_sharpness")

    def __init__(
        self,
        value_range: Any = (0, 255),
        num_chains: int = 3,
        chain_depth: int = 3,
        factor: Any = 0.3,
        alpha: float = 1.0,
        all_ops: bool = True,
        interpolation: str = "bilinear",
        seed: Optional[int] = None,
        data_format: Optional[str] = None,
        **kwargs: Any,
    ):
        super().__init__(value_range, seed, data_format=data_format, **kwargs)
        self.num_chains = _check_count(self._who, "num_chains", num_chains, 1)
        self.chain_depth = _check_count(self._who, "chain_depth", chain_depth, 0)
        if not _is_number(alpha) or alpha <= 0:
            raise ValueError(f"{self._who}: alpha must be a finite number > 0. Received: alpha={alpha!r}")
        if not isinstance(all_ops, (bool, np.bool_)):
            raise ValueError(f"{self._who}: all_ops must be a bool. Received: all_ops={all_ops!r}")
        self.alpha = float(alpha)
        self.all_ops = bool(all_ops)
        ops = self._policy_operations(factor, interpolation)
        self._names = [name for name in self._OPERATIONS if self.all_ops or name not in self._COLOUR_ONLY]
        self._ops = {name: ops[name] for name in self._names}

    def _draw(self, shape: tuple, rng: np.random.Generator) -> dict:
        gamma = rng.gamma(self.alpha, size=self.num_chains)
        weights = (gamma / gamma.sum()).astype(np.float32)
        weight_sample = np.float32(rng.beta(self.alpha, self.alpha))
        chains = []
        for _ in range(self.num_chains):
            steps = []
            for _ in range(self.chain_depth):
                pick = int(rng.integers(0, len(self._names) + 1))
                if pick == len(self._names):  # no operation at this step
                    continue
                name = self._names[pick]
                op = self._ops[name]
                steps.append(
                    {"layer_name": name, "transformation": None if isinstance(op, _FixedPixelLayer) else op._draw(shape, rng)}
                )
            chains.append(steps)
        return {"chain_mixing_weights": weights, "weight_sample": weight_sample, "chain_transforms": chains}

    def _mixing(self, transformation: Any) -> tuple:
        weights = np.asarray(transformation["chain_mixing_weights"], dtype=np.float32).reshape(-1)
        chains = transformation["chain_transforms"]
        if weights.size != self.num_chains or len(chains) != self.num_chains:
            raise ValueError(
                f"{self._who}: transformation['chain_mixing_weights'] and ['chain_transforms'] must each "
                f"hold {self.num_chains} entries (num_chains). Received: {weights.size} and {len(chains)}"
            )
        weight_sample = np.asarray(transformation["weight_sample"], dtype=np.float32)
        if weight_sample.size != 1:
            raise ValueError(
                f"{self._who}: transformation['weight_sample'] must be a scalar. Received: shape={weight_sample.shape}"
            )
        return weights, np.float32(weight_sample.reshape(())), chains

    def _steps(self, chain: Any) -> list:
        steps = []
        for step in chain:
            name = step["layer_name"]
            if name not in self._ops:
                raise ValueError(
                    f"{self._who}: transformation layer_name must be one of {self._names}. Received: {name!r}"
                )
            steps.append((self._ops[name], step["transformation"]))
        return steps

    def _apply(self, x: np.ndarray, transformation: Any) -> tuple:
        weights, weight_sample, chains = self._mixing(transformation)
        mixed = np.zeros_like(x)
        chain_ctxs = []
        for weight, chain in zip(weights, chains):
            y, ctx = super()._apply(x, chain)
            mixed += y * weight
            chain_ctxs.append(ctx)
        y, inside = self._clip(weight_sample * x + (1 - weight_sample) * mixed)
        return y, (weights, weight_sample, chain_ctxs, inside)

    def _backward(self, ctx: Any, dy: np.ndarray) -> np.ndarray:
        weights, weight_sample, chain_ctxs, inside = ctx
        g = np.where(inside, np.asarray(dy, dtype=np.float32), np.float32(0))
        dx = weight_sample * g
        for weight, chain_ctx in zip(weights, chain_ctxs):
            dx = dx + (1 - weight_sample) * weight * super()._backward(chain_ctx, g)
        return dx.astype(np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_chains=self.num_chains,
            chain_depth=self.chain_depth,
            alpha=self.alpha,
            all_ops=self.all_ops,
        )
        return config
