"""Pixel-value augmentation layers RandomGrayscale, RandomInvert, Solarization,
RandomPosterization, AutoContrast, RandomColorDegeneration, RandomSharpness, RandomSaturation,
RandomHue, RandomErasing, RandomGaussianBlur, Equalization, MixUp and CutMix: float64 numpy
references of each transformation, Keras 3 (torch backend) on the same transformation and on
deterministic training calls, finite differences, the statistics of the random draws, configs,
saved models and bad input."""

from __future__ import annotations

import colorsys
import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad

import pynncore
from pynncore import layers
from pynncore.saving import deserialize_layer, serialize_layer

os.environ.setdefault("KERAS_BACKEND", "torch")

# Keras's torch-backend variables implement numpy's old __array__ protocol; not our warning.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

VALUE_RANGES = [(0, 255), (0, 1), (-1, 1)]


def _keras():
    return pytest.importorskip("keras")


def _np(t):
    return np.asarray(_keras().ops.convert_to_numpy(t))


def _tensors(transformation):
    keras = _keras()
    if isinstance(transformation, dict):
        return {k: keras.ops.convert_to_tensor(np.array(v, copy=True)) for k, v in transformation.items()}
    return keras.ops.convert_to_tensor(np.array(transformation, copy=True))


def _images(rng, shape, value_range):
    lo, hi = value_range
    return (lo + rng.random(shape) * (hi - lo)).astype(np.float32)


def _pinned(layer, transformation):
    """The layer with its random draw replaced by ``transformation``."""
    layer._draw = lambda shape, gen: {k: np.array(v, copy=True) for k, v in transformation.items()} if isinstance(
        transformation, dict
    ) else np.array(transformation, copy=True)
    return layer


# -- float64 references --------------------------------------------------------------------------


def ref_gray(x):
    x = np.asarray(x, np.float64)
    if x.shape[-1] == 1:
        return x
    return np.repeat(0.2989 * x[..., :1] + 0.587 * x[..., 1:2] + 0.114 * x[..., 2:3], 3, axis=-1)


def ref_to_255(x, value_range):
    lo, hi = value_range
    return (np.asarray(x, np.float64) - lo) / (hi - lo) * 255.0


def ref_from_255(u, value_range):
    lo, hi = value_range
    return u / 255.0 * (hi - lo) + lo


def ref_solarize(x, additions, thresholds, value_range):
    r = np.clip(ref_to_255(x, value_range) + np.reshape(additions, (-1, 1, 1, 1)), 0.0, 255.0)
    return ref_from_255(np.where(r < np.reshape(thresholds, (-1, 1, 1, 1)), r, 255.0 - r), value_range)


def ref_posterize(x, bits, value_range):
    levels = np.floor(np.clip(ref_to_255(x, value_range), 0.0, 255.0))
    step = 2.0 ** (8 - np.reshape(bits, (-1, 1, 1, 1)))
    return ref_from_255(np.floor(levels / step) * step, value_range)


def ref_auto_contrast(x, value_range):
    lo, hi = value_range
    x = np.asarray(x, np.float64)
    m = x.min(axis=(1, 2), keepdims=True)
    big = x.max(axis=(1, 2), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = lo + (hi - lo) * (x - m) / (big - m)
    return np.where(big == m, x, y)


def ref_smooth(x):
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    kernel = np.ones((3, 3)) / 13.0
    kernel[1, 1] = 5.0 / 13.0
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            out[:, i, j, :] = np.einsum("nabc,ab->nc", padded[:, i : i + 3, j : j + 3, :], kernel)
    return out


def ref_sharpen(x, factor, value_range):
    s = 2.0 * np.reshape(np.asarray(factor, np.float64), (-1, 1, 1, 1))
    x = np.asarray(x, np.float64)
    return np.clip(x + (1.0 - s) * (ref_smooth(x) - x), *value_range)


def ref_degenerate(x, factor, value_range):
    f = np.reshape(np.asarray(factor, np.float64), (-1, 1, 1, 1))
    x = np.asarray(x, np.float64)
    return np.clip(x + f * (ref_gray(x) - x), *value_range)


# -- RandomGrayscale -------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [3, 1])
def test_random_grayscale_reference_keras_and_gradient(channels, rng):
    x = _images(rng, (4, 5, 6, channels), (0, 255))
    chosen = np.array([True, False, True, False]).reshape(4, 1, 1, 1)
    layer = layers.RandomGrayscale(0.5, seed=1)
    y = layer.transform_images(x, chosen)
    want = np.where(chosen, ref_gray(x), x)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(y[1], x[1])
    if channels == 3:
        assert np.all(y[0, ..., 0] == y[0, ..., 2])
    keras = _keras()
    ky = _np(keras.layers.RandomGrayscale(0.5).transform_images(keras.ops.convert_to_tensor(x), _tensors(chosen)))
    np.testing.assert_allclose(y, ky, rtol=1e-6, atol=1e-4)
    # training with factor 1 (every image) and 0 (none) is deterministic, in Keras too
    for factor in (1.0, 0.0):
        want = ref_gray(x) if factor == 1.0 else x
        ours = layers.RandomGrayscale(factor, seed=3)(x, training=True)
        np.testing.assert_allclose(ours, want, rtol=1e-6, atol=1e-4)
        theirs = _np(keras.layers.RandomGrayscale(factor, seed=3)(x, training=True))
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-4)
    # gradient of the pinned transformation
    layer = _pinned(layers.RandomGrayscale(0.5), chosen)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((np.where(chosen, ref_gray(xx), xx) * r).sum()), x.astype(np.float64) / 255)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomGrayscale dx")


def test_random_grayscale_rate(rng):
    x = _images(rng, (4000, 2, 2, 3), (0, 255))
    for factor in (0.3, 0.8):
        y = layers.RandomGrayscale(factor, seed=4)(x, training=True)
        changed = np.any(y != x, axis=(1, 2, 3))
        assert abs(changed.mean() - factor) < 0.03, (factor, changed.mean())
        np.testing.assert_allclose(y[changed], ref_gray(x[changed]), rtol=1e-6, atol=1e-4)


# -- RandomInvert ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value_range", VALUE_RANGES)
def test_random_invert_reference_keras_and_gradient(value_range, rng):
    x = _images(rng, (4, 3, 5, 2), value_range)
    t = {"apply_inversion": np.array([True, False, False, True])}
    layer = layers.RandomInvert(value_range=value_range, seed=1)
    y = layer.transform_images(x, t)
    want = np.where(t["apply_inversion"].reshape(4, 1, 1, 1), value_range[1] - x.astype(np.float64), x)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-5)
    keras = _keras()
    kl = keras.layers.RandomInvert(value_range=value_range)
    np.testing.assert_allclose(y, _np(kl.transform_images(keras.ops.convert_to_tensor(x), _tensors(t))), atol=1e-5)
    # a probability range (1, 1) inverts every image, (0, 0) none: deterministic in Keras too
    for factor, want in (((1.0, 1.0), value_range[1] - x.astype(np.float64)), ((0.0, 0.0), x)):
        ours = layers.RandomInvert(factor, value_range=value_range, seed=2)(x, training=True)
        np.testing.assert_allclose(ours, want, rtol=1e-6, atol=1e-5)
        theirs = _np(keras.layers.RandomInvert(factor, value_range=value_range, seed=2)(x, training=True))
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    layer = _pinned(layers.RandomInvert(value_range=value_range), t)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    mask = t["apply_inversion"].reshape(4, 1, 1, 1)
    want = numeric_grad(lambda xx: float((np.where(mask, value_range[1] - xx, xx) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomInvert dx")


def test_random_invert_rate(rng):
    x = _images(rng, (4000, 2, 2, 1), (0, 255))
    for factor, rate in ((1.0, 0.5), ((0.2, 0.6), 0.4), (0.5, 0.25), ((0.9, 0.9), 0.9)):
        layer = layers.RandomInvert(factor, seed=5)
        p = layer.get_random_transformation(x)["apply_inversion"]
        assert p.shape == (4000,) and p.dtype == bool
        assert abs(p.mean() - rate) < 0.03, (factor, p.mean())
        y = layer(x, training=True)
        inverted = np.all(y == 255.0 - x, axis=(1, 2, 3))
        assert abs(inverted.mean() - rate) < 0.03


# -- Solarization ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value_range", VALUE_RANGES)
def test_solarization_reference_keras_and_gradient(value_range, rng):
    x = _images(rng, (4, 5, 4, 3), value_range)
    t = {
        "additions": np.array([0.0, 30.0, 60.0, 100.0], np.float32).reshape(4, 1, 1, 1),
        "thresholds": np.array([0.0, 128.0, 200.0, 255.0], np.float32).reshape(4, 1, 1, 1),
    }
    layer = layers.Solarization(value_range=value_range, seed=1)
    y = layer.transform_images(x, t)
    scale = (value_range[1] - value_range[0]) / 255
    np.testing.assert_allclose(y, ref_solarize(x, t["additions"], t["thresholds"], value_range), atol=2e-4 * 255 * scale)
    keras = _keras()
    kl = keras.layers.Solarization(value_range=value_range)
    ky = _np(kl.transform_images(keras.ops.convert_to_tensor(x), _tensors(t)))
    np.testing.assert_allclose(y, ky, atol=1e-5 * 255 * scale)
    # the defaults (no addition, threshold 0) invert every pixel, in Keras too
    ours = layers.Solarization(value_range=value_range, seed=2)(x, training=True)
    np.testing.assert_allclose(ours, value_range[0] + value_range[1] - x.astype(np.float64), atol=1e-4 * 255 * scale)
    theirs = _np(keras.layers.Solarization(value_range=value_range, seed=2)(x, training=True))
    np.testing.assert_allclose(ours, theirs, atol=1e-5 * 255 * scale)
    # pinned factors (a, a) give a fixed addition and threshold
    ours = layers.Solarization((0.2, 0.2), (0.5, 0.5), value_range=value_range, seed=3)(x, training=True)
    np.testing.assert_allclose(ours, ref_solarize(x, 51.0, 127.5, value_range), atol=2e-4 * 255 * scale)
    layer = _pinned(layers.Solarization(value_range=value_range), t)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((ref_solarize(xx, t["additions"], t["thresholds"], value_range) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="Solarization dx")


def test_solarization_draws(rng):
    x = _images(rng, (3000, 2, 2, 1), (0, 255))
    layer = layers.Solarization((0.1, 0.3), 0.6, seed=4)
    t = layer.get_random_transformation(x)
    a, th = t["additions"].ravel(), t["thresholds"].ravel()
    assert t["additions"].shape == (3000, 1, 1, 1)
    assert a.min() >= 25.5 and a.max() <= 76.5 and abs(a.mean() - 51.0) < 1.0
    assert th.min() >= 0.0 and th.max() <= 153.0 and abs(th.mean() - 76.5) < 2.5
    again = layers.Solarization((0.1, 0.3), 0.6, seed=4).get_random_transformation(x)
    np.testing.assert_array_equal(again["additions"], t["additions"])


# -- RandomPosterization ---------------------------------------------------------------------------


@pytest.mark.parametrize("value_range", VALUE_RANGES)
def test_random_posterization_reference_keras_and_gradient(value_range, rng):
    x = _images(rng, (4, 5, 4, 3), value_range)
    t = {"shift_factor": np.array([7, 4, 1, 0], np.uint8)}
    layer = layers.RandomPosterization(4, value_range=value_range, seed=1)
    y = layer.transform_images(x, t)
    np.testing.assert_allclose(y, ref_posterize(x, 8 - t["shift_factor"], value_range), rtol=1e-6, atol=1e-5)
    keras = _keras()
    kl = keras.layers.RandomPosterization(4, value_range=value_range)
    np.testing.assert_array_equal(y, _np(kl.transform_images(keras.ops.convert_to_tensor(x), _tensors(t))))
    # a one-number range (b, b) keeps b bits in every image, in Keras too
    ours = layers.RandomPosterization((3, 3), value_range=value_range, seed=2)(x, training=True)
    np.testing.assert_allclose(ours, ref_posterize(x, 3, value_range), rtol=1e-6, atol=1e-5)
    theirs = _np(keras.layers.RandomPosterization((3, 3), value_range=value_range, seed=2)(x, training=True))
    np.testing.assert_array_equal(ours, theirs)
    # piecewise constant: no gradient in training (Keras's cast to uint8 cuts it too)
    y, ctx = _pinned(layers.RandomPosterization(4, value_range=value_range), t).forward(x, training=True)
    np.testing.assert_array_equal(layer.backward(ctx, np.ones_like(y)), np.zeros_like(x))


def test_random_posterization_integer_levels():
    levels = np.arange(256, dtype=np.float32).reshape(1, 16, 16, 1)
    for bits in range(1, 9):
        y = layers.RandomPosterization((bits, bits))(levels, training=True)
        step = 2 ** (8 - bits)
        np.testing.assert_array_equal(y, np.floor(levels / step) * step)
    # values outside value_range are clipped before the truncation
    y = layers.RandomPosterization((2, 2))(np.array([-5.0, 300.0, 100.7], np.float32).reshape(1, 1, 3, 1), training=True)
    np.testing.assert_array_equal(y.ravel(), [0.0, 192.0, 64.0])


def test_random_posterization_draws(rng):
    x = _images(rng, (6000, 1, 1, 1), (0, 255))
    bits = 8 - layers.RandomPosterization((2, 6), seed=5).get_random_transformation(x)["shift_factor"].astype(int)
    counts = np.bincount(bits, minlength=9)
    assert counts[[0, 1, 6, 7, 8]].sum() == 0  # Keras's randint: [2, 6), upper end excluded
    np.testing.assert_allclose(counts[2:6] / 6000, 0.25, atol=0.03)
    bits = 8 - layers.RandomPosterization(3, seed=5).get_random_transformation(x)["shift_factor"].astype(int)
    assert set(np.unique(bits)) == {1, 2}
    bits = 8 - layers.RandomPosterization((5, 5), seed=5).get_random_transformation(x)["shift_factor"].astype(int)
    assert set(np.unique(bits)) == {5}


# -- AutoContrast ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value_range", VALUE_RANGES)
def test_auto_contrast_reference_keras_and_gradient(value_range, rng):
    lo, hi = value_range
    x = _images(rng, (3, 4, 5, 3), (lo + 0.2 * (hi - lo), lo + 0.7 * (hi - lo)))
    x[1, ..., 2] = lo + 0.5 * (hi - lo)  # a constant channel is unchanged
    layer = layers.AutoContrast(value_range=value_range)
    want = ref_auto_contrast(x, value_range)
    tol = 2e-6 * (hi - lo)
    for y in (layer(x), layer(x, training=True), layer.transform_images(x, None, training=False)):
        np.testing.assert_allclose(y, want, rtol=1e-6, atol=tol)
    np.testing.assert_array_equal(layer(x)[1, ..., 2], x[1, ..., 2])
    assert np.allclose(layer(x).min(axis=(1, 2))[[0, 2]], lo) and np.allclose(layer(x).max(axis=(1, 2))[[0, 2]], hi)
    assert layer.get_random_transformation(x) is None
    keras = _keras()
    kl = keras.layers.AutoContrast(value_range=value_range)
    np.testing.assert_allclose(layer(x), _np(kl(x)), rtol=1e-6, atol=tol)
    np.testing.assert_allclose(layer(x), _np(kl(x, training=False)), rtol=1e-6, atol=tol)
    x[1, ..., 2] += np.linspace(0.0, 0.1 * (hi - lo), 20, dtype=np.float32).reshape(4, 5)  # differentiable
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((ref_auto_contrast(xx, value_range) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="AutoContrast dx")


def test_auto_contrast_gradient_with_tied_extremes():
    x = np.array([1.0, 3.0, 1.0, 2.0, 3.0, 3.0], np.float32).reshape(1, 2, 3, 1)
    layer = layers.AutoContrast(value_range=(0, 1))
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_allclose(y.ravel(), [0, 1, 0, 0.5, 1, 1])
    g = np.array([1.0, 0.0, 0.0, 2.0, 0.0, 0.0], np.float32).reshape(x.shape)
    dx = layer.backward(ctx, g).ravel()
    # dy/dx: 1/(M - m) at the middle pixel, the rest split over the tied extremes
    d = 1.0 / 2.0
    to_min = -(1.0 * 1 + 2.0 * (1 - 0.5)) * d / 2
    to_max = -(2.0 * 0.5) * d / 3
    np.testing.assert_allclose(dx, [d + to_min, to_max, to_min, 2 * d, to_max, to_max], rtol=1e-6)
    np.testing.assert_allclose(dx.sum(), 0.0, atol=1e-6)  # shifting all pixels changes nothing
    flat = np.full((1, 2, 2, 1), 0.3, np.float32)  # a constant channel passes its gradient unchanged
    y, ctx = layer.forward(flat, training=True)
    np.testing.assert_array_equal(y, flat)
    np.testing.assert_array_equal(layer.backward(ctx, g[:, :, :2]), g[:, :, :2])
    with pytest.raises(ValueError, match=r"AutoContrast '.*': backward needs the context of a training forward pass"):
        layer.backward(None, g)


# -- RandomColorDegeneration -----------------------------------------------------------------------


@pytest.mark.parametrize("value_range", VALUE_RANGES)
def test_random_color_degeneration_reference_keras_and_gradient(value_range, rng):
    x = _images(rng, (4, 3, 5, 3), value_range)
    t = {"factor": np.array([0.0, 0.5, -0.7, 1.0], np.float32).reshape(4, 1, 1, 1)}
    layer = layers.RandomColorDegeneration(0.5, value_range=value_range, seed=1)
    y = layer.transform_images(x, t)
    tol = 1e-6 * (value_range[1] - value_range[0])
    np.testing.assert_allclose(y, ref_degenerate(x, t["factor"], value_range), rtol=1e-5, atol=tol)
    np.testing.assert_array_equal(y[0], x[0])
    assert (y[2] == value_range[0]).any() or (y[2] == value_range[1]).any()  # factor -0.7 clips
    keras = _keras()
    kl = keras.layers.RandomColorDegeneration(0.5, value_range=value_range)
    np.testing.assert_allclose(y, _np(kl.transform_images(keras.ops.convert_to_tensor(x), _tensors(t))), atol=tol)
    ours = layers.RandomColorDegeneration((0.4, 0.4), value_range=value_range, seed=2)(x, training=True)
    np.testing.assert_allclose(ours, ref_degenerate(x, [0.4] * 4, value_range), rtol=1e-5, atol=tol)
    theirs = _np(keras.layers.RandomColorDegeneration((0.4, 0.4), value_range=value_range, seed=2)(x, training=True))
    np.testing.assert_allclose(ours, theirs, atol=tol)
    layer = _pinned(layers.RandomColorDegeneration(0.5, value_range=value_range), t)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((ref_degenerate(xx, t["factor"], value_range) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomColorDegeneration dx")


# -- RandomSharpness -------------------------------------------------------------------------------


@pytest.mark.parametrize("value_range", VALUE_RANGES)
def test_random_sharpness_reference_keras_and_gradient(value_range, rng):
    x = _images(rng, (4, 5, 6, 2), value_range)
    t = {"factor": np.array([0.0, 0.5, 0.2, 1.0], np.float32)}
    layer = layers.RandomSharpness(0.5, value_range=value_range, seed=1)
    y = layer.transform_images(x, t)
    tol = 2e-6 * (value_range[1] - value_range[0])
    np.testing.assert_allclose(y, ref_sharpen(x, t["factor"], value_range), rtol=1e-5, atol=tol)
    np.testing.assert_allclose(y[1], x[1], rtol=1e-6, atol=tol)  # factor 0.5: unchanged
    keras = _keras()
    kl = keras.layers.RandomSharpness(0.5, value_range=value_range)
    np.testing.assert_allclose(y, _np(kl.transform_images(keras.ops.convert_to_tensor(x), _tensors(t))), atol=tol)
    ours = layers.RandomSharpness((0.9, 0.9), value_range=value_range, seed=2)(x, training=True)
    np.testing.assert_allclose(ours, ref_sharpen(x, [0.9] * 4, value_range), rtol=1e-5, atol=tol)
    theirs = _np(keras.layers.RandomSharpness((0.9, 0.9), value_range=value_range, seed=2)(x, training=True))
    np.testing.assert_allclose(ours, theirs, atol=tol)
    layer = _pinned(layers.RandomSharpness(0.5, value_range=value_range), t)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((ref_sharpen(xx, t["factor"], value_range) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomSharpness dx")


# -- RandomSaturation, RandomHue -------------------------------------------------------------------


def ref_hsv_map(x, value_range, change):
    """Each pixel through Python's colorsys HSV (float64), ``(h, s, v) -> change(h, s, v, i)``
    for image ``i``, on values mapped from ``value_range`` to [0, 1] and back."""
    lo, hi = value_range
    u = (np.asarray(x, np.float64) - lo) / (hi - lo)
    out = np.empty_like(u)
    for i, j, k in np.ndindex(u.shape[:3]):
        h, s, v = colorsys.rgb_to_hsv(*u[i, j, k])
        out[i, j, k] = colorsys.hsv_to_rgb(*change(h, s, v, i))
    return out * (hi - lo) + lo


def ref_saturate(x, multipliers, value_range):
    return ref_hsv_map(x, value_range, lambda h, s, v, i: (h, min(max(s * multipliers[i], 0.0), 1.0), v))


def ref_hue(x, shifts, value_range):
    lo, hi = value_range
    y = ref_hsv_map(x, value_range, lambda h, s, v, i: ((h + shifts[i]) % 1.0, s, v))
    return np.clip(y, lo, hi)


HSV = {
    "RandomSaturation": (ref_saturate, [0.0, 0.6, 1.0, 3.0]),
    "RandomHue": (ref_hue, [0.0, 0.15, -0.4, 0.5]),
}


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1)])
@pytest.mark.parametrize("name", sorted(HSV))
def test_hsv_layers_reference_keras_and_gradient(name, value_range, rng):
    ref, values = HSV[name]
    x = _images(rng, (4, 3, 4, 3), value_range)
    t = {"factor": np.array(values, np.float32)}
    layer = getattr(layers, name)(0.5, value_range=value_range, seed=1)
    y = layer.transform_images(x, t)
    tol = 2e-6 * (value_range[1] - value_range[0])
    np.testing.assert_allclose(y, ref(x, values, value_range), rtol=1e-5, atol=tol)
    np.testing.assert_allclose(y[0 if name == "RandomHue" else 2], x[0 if name == "RandomHue" else 2], atol=tol)
    if value_range[0] == 0:  # Keras's HSV conversion assumes non-negative values
        keras = _keras()
        kl = getattr(keras.layers, name)(0.5, value_range=value_range)
        ky = _np(kl.transform_images(keras.ops.convert_to_tensor(x), _tensors(t)))
        # Keras clips the saturation to value_range, not [0, 1]: only multipliers <= 1 agree at (0, 255)
        same = slice(None, 3) if name == "RandomSaturation" and value_range == (0, 255) else slice(None)
        np.testing.assert_allclose(y[same], ky[same], atol=tol * 5)
    layer = _pinned(getattr(layers, name)(0.5, value_range=value_range), t)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((ref(xx, values, value_range) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what=f"{name} dx")


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1)])
def test_hsv_layers_deterministic_training(value_range, rng):
    keras = _keras()
    x = _images(rng, (3, 4, 3, 3), value_range)
    tol = 5e-6 * (value_range[1] - value_range[0])
    # saturation factor 0: every channel takes the image's value (its largest channel)
    ours = layers.RandomSaturation((0.0, 0.0), value_range=value_range, seed=1)(x, training=True)
    np.testing.assert_allclose(ours, np.repeat(x.max(axis=-1, keepdims=True), 3, axis=-1), atol=tol)
    theirs = _np(keras.layers.RandomSaturation((0.0, 0.0), value_range=value_range, seed=1)(x, training=True))
    np.testing.assert_allclose(ours, theirs, atol=tol)
    # factor 0.5: unchanged
    ours = layers.RandomSaturation((0.5, 0.5), value_range=value_range, seed=1)(x, training=True)
    np.testing.assert_allclose(ours, x, atol=tol)
    # hue factor 1: half a turn whichever sign is drawn
    ours = layers.RandomHue((1.0, 1.0), value_range=value_range, seed=2)(x, training=True)
    np.testing.assert_allclose(ours, ref_hue(x, [0.5] * 3, value_range), atol=tol)
    theirs = _np(keras.layers.RandomHue((1.0, 1.0), value_range=value_range, seed=2)(x, training=True))
    np.testing.assert_allclose(ours, theirs, atol=tol)


def test_hsv_layers_draws(rng):
    x = _images(rng, (4000, 1, 1, 3), (0, 255))
    k = layers.RandomSaturation((0.2, 0.6), seed=3).get_random_transformation(x)["factor"]
    f = k / (1.0 + k)  # k = f / (1 - f)
    assert k.shape == (4000,) and f.min() >= 0.2 - 1e-6 and f.max() <= 0.6 + 1e-6 and abs(f.mean() - 0.4) < 0.01
    k = layers.RandomSaturation(0.5, seed=3).get_random_transformation(x)["factor"]
    assert k.min() >= 0.0 and k.max() <= 1.0 + 1e-6 and (k < 0.1).any()
    d = layers.RandomHue((0.2, 0.6), seed=3).get_random_transformation(x)["factor"]
    assert np.all((np.abs(d) >= 0.1 - 1e-7) & (np.abs(d) <= 0.3 + 1e-7))
    assert abs((d > 0).mean() - 0.5) < 0.03  # either sign, evenly
    d = layers.RandomHue(0.4, seed=3).get_random_transformation(x)["factor"]
    assert np.abs(d).max() <= 0.2 + 1e-7 and abs(np.abs(d).mean() - 0.1) < 0.005


# -- RandomErasing ---------------------------------------------------------------------------------


def _box(h, w, top, left, height, width, channels):
    mask = np.zeros((h, w, channels), bool)
    mask[top : top + height, left : left + width] = True
    return mask


@pytest.mark.parametrize("value_range", [(0, 255), (-1, 1)])
def test_random_erasing_reference_keras_and_gradient(value_range, rng):
    lo, hi = value_range
    x = _images(rng, (3, 5, 6, 3), value_range)
    masks = np.stack([_box(5, 6, 1, 2, 3, 2, 3), _box(5, 6, 0, 0, 5, 6, 3), _box(5, 6, 4, 5, 1, 1, 3)])
    fill = np.clip(rng.standard_normal(x.shape) * hi, lo, hi).astype(np.float32)
    t = {"apply_erasing": np.array([True, False, True]), "batch_masks": masks, "fill_value": fill}
    layer = layers.RandomErasing(value_range=value_range, seed=1)
    y = layer.transform_images(x, t)
    erased = masks & t["apply_erasing"].reshape(3, 1, 1, 1)
    np.testing.assert_array_equal(y, np.where(erased, fill, x))
    keras = _keras()
    kl = keras.layers.RandomErasing(value_range=value_range)
    np.testing.assert_array_equal(y, _np(kl.transform_images(keras.ops.convert_to_tensor(x), _tensors(t))))
    # an always-applied full-size box with a constant (clipped) fill is deterministic, in Keras too
    for fill_value in (0.25, [hi + 7.0, lo, 0.5 * (lo + hi)]):
        args = dict(factor=(1.0, 1.0), scale=(1.0, 1.0), fill_value=fill_value, value_range=value_range, seed=2)
        ours = layers.RandomErasing(**args)(x, training=True)
        np.testing.assert_array_equal(ours, np.broadcast_to(np.clip(np.float32(fill_value), lo, hi), x.shape))
        np.testing.assert_array_equal(ours, _np(keras.layers.RandomErasing(**args)(x, training=True)))
    np.testing.assert_array_equal(layers.RandomErasing((0.0, 0.0), seed=3)(x, training=True), x)
    layer = _pinned(layers.RandomErasing(value_range=value_range), t)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((np.where(erased, fill, xx) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomErasing dx")


def test_random_erasing_draws(rng):
    n, h, w = 2000, 9, 12
    x = _images(rng, (n, h, w, 2), (0, 255))
    layer = layers.RandomErasing((0.2, 0.6), scale=(0.09, 0.25), seed=4)
    t = layer.get_random_transformation(x)
    assert abs(t["apply_erasing"].mean() - 0.4) < 0.03
    masks = t["batch_masks"]
    assert masks.shape == x.shape and np.array_equal(masks[..., 0], masks[..., 1])
    rows, cols = masks[..., 0].any(axis=2).sum(axis=1), masks[..., 0].any(axis=1).sum(axis=1)
    assert np.array_equal(masks[..., 0].sum(axis=(1, 2)), rows * cols)  # one rectangle
    # sides sqrt(a) W and sqrt(b) H with a, b in [0.09, 0.25]: 3.6..6 columns, 2.7..4.5 rows
    assert cols.min() >= 3 and cols.max() <= 6 and rows.min() >= 2 and rows.max() <= 5
    # box starts are uniform in [0, size - side], so index 0 is inside only for a start of exactly 0 (as in Keras)
    assert masks[..., 0].any(axis=0)[1:, 1:].all()
    fill = t["fill_value"]
    assert fill.min() == 0.0 and fill.max() == 255.0 and abs((fill == 0).mean() - 0.5) < 0.01  # N(0, 1) * 255
    changed = np.any(layer.transform_images(x, t) != x, axis=(1, 2, 3))
    np.testing.assert_array_equal(changed, t["apply_erasing"])  # the chosen images, and only they, change
    rates = [np.any(layer(x, training=True) != x, axis=(1, 2, 3)).mean() for _ in range(5)]
    assert abs(np.mean(rates) - 0.4) < 0.02


# -- RandomGaussianBlur ----------------------------------------------------------------------------


def ref_gaussian_blur(x, size_x, size_y, sigma_x, sigma_y):
    def taps(size, sigma):
        k = np.exp(-0.5 * ((np.arange(size) - (size - 1) / 2) / sigma) ** 2)
        return k / k.sum()

    kernel = np.outer(taps(size_y, sigma_y), taps(size_x, sigma_x))
    x = np.asarray(x, np.float64)
    py, px = size_y // 2, size_x // 2
    padded = np.pad(x, ((0, 0), (py, py), (px, px), (0, 0)))
    out = np.zeros_like(x)
    for i in range(size_y):
        for j in range(size_x):
            out += kernel[i, j] * padded[:, i : i + x.shape[1], j : j + x.shape[2]]
    return out


@pytest.mark.parametrize("kernel_size, sigmas", [(3, (0.7, 1.3)), (5, (2.0, 0.5)), ((3, 5), (1.1, 0.8))])
def test_random_gaussian_blur_reference_keras_and_gradient(kernel_size, sigmas, rng):
    value_range = (0, 1)
    x = _images(rng, (4, 6, 7, 2), value_range)
    x[0, 0, 0] = 1.4  # above value_range: clipped in training, blurred or not
    ks = kernel_size if isinstance(kernel_size, tuple) else (kernel_size, kernel_size)
    t = {"should_apply_blur": np.array([True, False, True, True]), "blur_factor": np.array(sigmas, np.float32)}
    layer = layers.RandomGaussianBlur(kernel_size=kernel_size, value_range=value_range, seed=1)
    y = layer.transform_images(x, t)
    blurred = ref_gaussian_blur(x, ks[0], ks[1], *sigmas)
    want = np.clip(np.where(t["should_apply_blur"].reshape(4, 1, 1, 1), blurred, x), *value_range)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    assert y[0, 0, 0, 0] <= 1.0 and y[1, 0, 0, 0] == x[1, 0, 0, 0]
    if ks[0] == ks[1]:  # Keras's torch backend builds only square kernels correctly
        keras = _keras()
        kl = keras.layers.RandomGaussianBlur(kernel_size=kernel_size, value_range=value_range)
        np.testing.assert_allclose(y, _np(kl.transform_images(keras.ops.convert_to_tensor(x), _tensors(t))), atol=1e-6)
        # always blurring with a one-point sigma range is deterministic (sigma + 1e-6), in Keras too
        # (Keras takes sigma ranges that start at or below 1)
        args = dict(factor=(1.0, 1.0), kernel_size=kernel_size, sigma=(0.8, 0.8), value_range=value_range)
        ours = layers.RandomGaussianBlur(**args, seed=2)(x, training=True)
        np.testing.assert_allclose(ours, np.clip(ref_gaussian_blur(x, ks[0], ks[1], 0.8 + 1e-6, 0.8 + 1e-6), 0, 1), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours, _np(keras.layers.RandomGaussianBlur(**args, seed=2)(x, training=True)), atol=1e-6)
    layer = _pinned(layers.RandomGaussianBlur(kernel_size=kernel_size, value_range=(-5, 5)), t)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    mask = t["should_apply_blur"].reshape(4, 1, 1, 1)
    want = numeric_grad(lambda xx: float((np.where(mask, ref_gaussian_blur(xx, ks[0], ks[1], *sigmas), xx) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomGaussianBlur dx")


def test_random_gaussian_blur_draws(rng):
    x = _images(rng, (3000, 3, 3, 1), (0, 255))
    layer = layers.RandomGaussianBlur((0.5, 0.9), sigma=(0.5, 3.0), seed=5)
    t = layer.get_random_transformation(x)
    assert t["should_apply_blur"].shape == (3000,) and abs(t["should_apply_blur"].mean() - 0.7) < 0.03
    sigmas = np.array([layer.get_random_transformation(x)["blur_factor"] for _ in range(500)])
    assert sigmas.shape == (500, 2) and sigmas.min() >= 0.5 and sigmas.max() <= 3.0 + 1e-5
    assert abs(sigmas.mean() - 1.75) < 0.1
    sigmas = layers.RandomGaussianBlur(sigma=0.6, seed=5).get_random_transformation(x)["blur_factor"]
    assert np.all((sigmas > 0) & (sigmas <= 0.6 + 1e-5))


# -- Equalization ----------------------------------------------------------------------------------


def ref_equalize(x, value_range, bins):
    lo, hi = value_range
    u = (np.asarray(x, np.float64) - lo) / (hi - lo) * 255.0
    out = np.empty_like(u)
    for c in range(u.shape[-1]):
        v = u[..., c]  # the histogram spans the whole batch
        index = np.clip(np.trunc(v * (bins - 1) / 255.0), 0, bins - 1).astype(int)
        hist = np.bincount(index.ravel(), minlength=bins)
        if np.count_nonzero(hist) <= 1:
            out[..., c] = v
            continue
        cdf = np.cumsum(hist)
        first = cdf[cdf > 0][0]
        table = np.clip(np.round((cdf - first) * 255.0 / (cdf[-1] - first)), 0, 255)
        out[..., c] = table[index]
    return out / 255.0 * (hi - lo) + lo


# Keras's torch-backend count_nonzero uses Tensor.T on 0-d tensors; not our warning.
@pytest.mark.filterwarnings("ignore:Tensor.T is deprecated:UserWarning")
@pytest.mark.parametrize("bins", [256, 17])
@pytest.mark.parametrize("value_range", VALUE_RANGES)
def test_equalization_reference_and_keras(value_range, bins, rng):
    lo, hi = value_range
    x = _images(rng, (3, 5, 6, 3), (lo, lo + 0.6 * (hi - lo)))
    x[..., 2] = lo + 0.1 * (hi - lo)  # one bin: unchanged
    layer = layers.Equalization(value_range=value_range, bins=bins)
    y = layer(x, training=True)
    tol = 1e-6 * (hi - lo)
    np.testing.assert_allclose(y, ref_equalize(x, value_range, bins), rtol=1e-6, atol=tol)
    np.testing.assert_allclose(y[..., 2], x[..., 2], rtol=1e-6, atol=tol)
    assert np.isclose(y[..., :2].min(), lo) and np.isclose(y[..., :2].max(), hi)  # stretched to the full range
    np.testing.assert_array_equal(layer.transform_images(x), y)  # Keras's default: training
    np.testing.assert_array_equal(layer(x), x)  # the identity at inference
    np.testing.assert_array_equal(layer.transform_images(x, training=False), x)
    keras = _keras()
    kl = keras.layers.Equalization(value_range=value_range, bins=bins)
    np.testing.assert_allclose(y, _np(kl.transform_images(keras.ops.convert_to_tensor(x), None)), rtol=1e-6, atol=tol)
    y, ctx = layer.forward(x, training=True)  # piecewise constant: no gradient
    np.testing.assert_array_equal(layer.backward(ctx, np.ones_like(y)), np.zeros_like(x))


def test_equalization_known_values():
    # 0..255 once each: the table is round(255 k / 255) = k, the identity
    levels = np.arange(256, dtype=np.float32).reshape(1, 16, 16, 1)
    np.testing.assert_array_equal(layers.Equalization()(levels, training=True), levels)
    x = np.array([10.0, 10.0, 20.0, 200.0], np.float32).reshape(1, 2, 2, 1)
    # cdf at the used bins 2, 3, 4 -> (0, 1, 2) * 255 / 2
    np.testing.assert_array_equal(layers.Equalization()(x, training=True).ravel(), [0.0, 0.0, 128.0, 255.0])


# -- MixUp, CutMix ---------------------------------------------------------------------------------


def test_mix_up_reference_keras_labels_and_gradient(rng):
    x = _images(rng, (4, 3, 5, 2), (0, 1))
    labels = np.eye(4, 3)[[0, 2, 1, 0]].astype(np.float32)
    t = {"mix_weight": np.array([0.1, 0.5, 0.9, 1.0], np.float32), "permutation_order": np.array([2, 0, 3, 1])}
    layer = layers.MixUp(seed=1)
    w = t["mix_weight"].astype(np.float64)
    y = layer.transform_images(x, t)
    want = w.reshape(4, 1, 1, 1) * x + (1 - w.reshape(4, 1, 1, 1)) * x[t["permutation_order"]]
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-7)
    mixed = layer.transform_labels(labels, t)
    np.testing.assert_allclose(mixed, w[:, None] * labels + (1 - w[:, None]) * labels[t["permutation_order"]], rtol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(layer.transform_labels(labels, t, training=False), labels)
    keras = _keras()
    kl = keras.layers.MixUp()
    np.testing.assert_allclose(y, _np(kl.transform_images(keras.ops.convert_to_tensor(x), _tensors(t))), atol=1e-7)
    np.testing.assert_allclose(mixed, _np(kl.transform_labels(keras.ops.convert_to_tensor(labels), _tensors(t))), atol=1e-7)
    # one image mixes only with itself: deterministic, in Keras too
    np.testing.assert_allclose(layers.MixUp(seed=2)(x[:1], training=True), x[:1], rtol=1e-6)
    np.testing.assert_allclose(_np(keras.layers.MixUp(seed=2)(x[:1], training=True)), x[:1], rtol=1e-6)
    layer = _pinned(layers.MixUp(), t)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    wr = w.reshape(4, 1, 1, 1)
    want = numeric_grad(lambda xx: float(((wr * xx + (1 - wr) * xx[t["permutation_order"]]) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="MixUp dx")


def test_mix_up_draws(rng):
    x = _images(rng, (4000, 1, 1, 1), (0, 1))
    for alpha in (0.2, 1.0, 3.0):
        t = layers.MixUp(alpha, seed=3).get_random_transformation(x)
        w = t["mix_weight"]
        assert w.min() >= 0 and w.max() <= 1 and abs(w.mean() - 0.5) < 0.02
        assert abs(w.var() - 1 / (4 * (2 * alpha + 1))) < 0.01  # Beta(alpha, alpha)
        assert sorted(t["permutation_order"].tolist()) == list(range(4000))


def test_cut_mix_reference_keras_labels_and_gradient(rng):
    x = _images(rng, (3, 5, 6, 2), (0, 1))
    labels = np.eye(3, dtype=np.float32)
    masks = np.stack([_box(5, 6, 1, 2, 3, 2, 2), _box(5, 6, 0, 0, 0, 0, 2), _box(5, 6, 0, 0, 5, 6, 2)])
    t = {
        "permutation_order": np.array([1, 2, 0]),
        "batch_masks": masks,
        "mix_weight": np.array([1 - 6 / 30, 1.0, 0.0], np.float32),
    }
    layer = layers.CutMix(seed=1)
    y = layer.transform_images(x, t)
    np.testing.assert_array_equal(y, np.where(masks, x[t["permutation_order"]], x))
    mixed = layer.transform_labels(labels, t)
    w = t["mix_weight"].astype(np.float64)[:, None]
    np.testing.assert_allclose(mixed, w * labels + (1 - w) * labels[t["permutation_order"]], rtol=1e-6, atol=1e-7)
    keras = _keras()
    kl = keras.layers.CutMix()
    np.testing.assert_array_equal(y, _np(kl.transform_images(keras.ops.convert_to_tensor(x), _tensors(t))))
    np.testing.assert_allclose(mixed, _np(kl.transform_labels(keras.ops.convert_to_tensor(labels), _tensors(t))), atol=1e-7)
    # one image pastes only itself: deterministic, in Keras too
    np.testing.assert_array_equal(layers.CutMix(seed=2)(x[:1], training=True), x[:1])
    np.testing.assert_array_equal(_np(keras.layers.CutMix(seed=2)(x[:1], training=True)), x[:1])
    layer = _pinned(layers.CutMix(), t)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((np.where(masks, xx[t["permutation_order"]], xx) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="CutMix dx")


def test_cut_mix_draws(rng):
    n, h, w = 3000, 8, 10
    x = _images(rng, (n, h, w, 1), (0, 1))
    t = layers.CutMix((0.5, 0.5), seed=4).get_random_transformation(x)
    masks = t["batch_masks"][..., 0]
    rows, cols = masks.any(axis=2).sum(axis=1), masks.any(axis=1).sum(axis=1)
    assert np.array_equal(masks.sum(axis=(1, 2)), rows * cols)  # one rectangle each
    kept = t["mix_weight"]
    assert kept.min() >= 0 and kept.max() <= 1
    # the kept fraction is the box's continuous area; the pasted pixels match it closely
    assert np.abs((1 - masks.mean(axis=(1, 2))) - kept).mean() < 0.1
    # box side sqrt(1 - w) with w ~ Beta(0.5, 0.5): the kept area w has mean 1/2 and variance 1/8
    assert abs(kept.mean() - 0.5) < 0.03 and abs(kept.var() - 0.125) < 0.01
    assert sorted(t["permutation_order"].tolist()) == list(range(n))


# -- draws, inference, configs ---------------------------------------------------------------------

RANDOM = {
    "RandomGrayscale": lambda **kw: layers.RandomGrayscale(0.6, **kw),
    "RandomInvert": lambda **kw: layers.RandomInvert((0.3, 0.9), **kw),
    "Solarization": lambda **kw: layers.Solarization(0.3, (0.2, 0.7), **kw),
    "RandomPosterization": lambda **kw: layers.RandomPosterization((2, 7), **kw),
    "RandomColorDegeneration": lambda **kw: layers.RandomColorDegeneration(0.8, **kw),
    "RandomSharpness": lambda **kw: layers.RandomSharpness((0.1, 0.9), **kw),
    "RandomSaturation": lambda **kw: layers.RandomSaturation((0.1, 0.9), **kw),
    "RandomHue": lambda **kw: layers.RandomHue(0.7, **kw),
    "RandomErasing": lambda **kw: layers.RandomErasing(**kw),
    "RandomGaussianBlur": lambda **kw: layers.RandomGaussianBlur(0.8, 5, (0.5, 2.0), **kw),
    "MixUp": lambda **kw: layers.MixUp(**kw),
    "CutMix": lambda **kw: layers.CutMix(**kw),
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_layers_inference_seeds_and_draws(name, rng):
    x = _images(rng, (64, 4, 5, 3), (0, 255))
    layer = RANDOM[name](seed=7)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    np.testing.assert_array_equal(layer(x, training=False), x)
    assert layer.get_random_transformation(x, training=False) is None
    np.testing.assert_array_equal(layer.backward(None, x), x)  # and gradients pass unchanged
    y1, y2 = layer(x, training=True), layer(x, training=True)
    assert not np.array_equal(y1, y2)  # a new draw per call
    assert y1.min() >= 0 and y1.max() <= 255
    first, second = RANDOM[name](seed=7), RANDOM[name](seed=7)
    np.testing.assert_array_equal(first(x, training=True), second(x, training=True))
    a = first.get_random_transformation(x, seed=11)
    b = second.get_random_transformation(x, seed=11)
    for u, v in zip(*(list(t.values()) if isinstance(t, dict) else [t] for t in (a, b))):
        np.testing.assert_array_equal(u, v)
    # a replayed draw reproduces the call
    replay = RANDOM[name](seed=8)
    t = replay.get_random_transformation(x)
    np.testing.assert_array_equal(RANDOM[name](seed=8)(x, training=True), replay.transform_images(x, t))
    assert layer.count_params() == 0 and layer.trainable_weights == []


def test_factor_draw_ranges(rng):
    x = _images(rng, (3000, 1, 1, 3), (0, 255))
    f = layers.RandomColorDegeneration(0.4, seed=1).get_random_transformation(x)["factor"].ravel()
    assert f.min() >= -0.4 and f.max() <= 0.4 and f.min() < -0.38 and f.max() > 0.38
    f = layers.RandomColorDegeneration((0.1, 0.3), seed=1).get_random_transformation(x)["factor"].ravel()
    assert f.min() >= 0.1 and f.max() <= 0.3 and abs(f.mean() - 0.2) < 0.01
    f = layers.RandomSharpness(0.6, seed=1).get_random_transformation(x)["factor"]
    assert f.shape == (3000,) and f.min() >= 0.0 and f.max() <= 0.6 and abs(f.mean() - 0.3) < 0.02


ALL = [
    lambda: layers.RandomGrayscale(0.3, seed=1),
    lambda: layers.RandomInvert((0.2, 0.5), value_range=(0, 1), seed=2),
    lambda: layers.Solarization((0.1, 0.2), 0.5, value_range=(-1, 1), seed=3),
    lambda: layers.RandomPosterization((2, 5), value_range=(0, 1), seed=4),
    lambda: layers.RandomPosterization(6),
    lambda: layers.AutoContrast(value_range=(0, 1)),
    lambda: layers.RandomColorDegeneration((-0.2, 0.5), value_range=(0, 1), seed=5),
    lambda: layers.RandomSharpness(0.7, seed=6),
    lambda: layers.RandomSaturation((0.2, 0.8), value_range=(0, 1), seed=7),
    lambda: layers.RandomHue(0.3, value_range=(-1, 1), seed=8),
    lambda: layers.RandomErasing((0.2, 0.9), scale=0.4, fill_value=0.5, value_range=(0, 1), seed=9),
    lambda: layers.RandomErasing(seed=9),
    lambda: layers.RandomGaussianBlur(0.6, kernel_size=(3, 5), sigma=(0.2, 1.5), value_range=(0, 1), seed=10),
    lambda: layers.Equalization(value_range=(0, 1), bins=32),
    lambda: layers.MixUp(0.5, seed=11),
    lambda: layers.CutMix((0.3, 0.7), seed=12),
]


@pytest.mark.parametrize("make", ALL)
def test_configs_round_trip(make, rng):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == dict(config, name=again.name)
    loaded = deserialize_layer(serialize_layer(layer))
    assert type(loaded) is type(layer)
    x = _images(rng, (6, 3, 4, 3), layer.value_range if hasattr(layer, "value_range") else (0, 255))
    if layer.get_config().get("seed") is not None or isinstance(layer, layers.AutoContrast):
        np.testing.assert_array_equal(loaded(x, training=True), type(layer).from_config(config)(x, training=True))
    np.testing.assert_array_equal(loaded(x), layer(x))
    keras = _keras()
    keras_config = {k: v for k, v in config.items() if k not in ("dtype", "trainable", "name")}
    kl = getattr(keras.layers, type(layer).__name__)(**keras_config)  # the arguments Keras takes
    assert set(keras_config) - {"seed"} <= set(kl.get_config())


@pytest.mark.parametrize(
    "name, args",
    [
        ("RandomGrayscale", ()),
        ("RandomInvert", ()),
        ("Solarization", ()),
        ("RandomPosterization", (4,)),
        ("AutoContrast", ()),
        ("RandomColorDegeneration", (0.5,)),
        ("RandomSharpness", (0.5,)),
        ("RandomSaturation", (0.5,)),
        ("RandomHue", (0.5,)),
        ("RandomErasing", ()),
        ("RandomGaussianBlur", ()),
        ("Equalization", ()),
        ("MixUp", ()),
        ("CutMix", ()),
    ],
)
def test_keras_defaults_and_config_accepted(name, args, rng):
    keras = _keras()
    ours = getattr(layers, name)(*args) if name in ("AutoContrast", "Equalization") else getattr(layers, name)(*args, seed=3)
    theirs = getattr(keras.layers, name)(*args)
    mine, their_config = ours.get_config(), theirs.get_config()
    assert mine["data_format"] == their_config["data_format"]
    if "value_range" in their_config:
        assert tuple(mine["value_range"]) == tuple(their_config["value_range"])
    # a Keras config (factors stored as (lower, upper)) builds a layer with those ranges
    built = getattr(layers, name).from_config({k: v for k, v in their_config.items() if k != "dtype"})
    ranges = (("factor", "_range"), ("addition_factor", "_addition_range"), ("threshold_factor", "_threshold_range"),
              ("scale", "_scale"), ("sigma", "_sigma"))
    for key, attr in ranges:
        if isinstance(their_config.get(key), (tuple, list)):
            assert getattr(built, attr) == tuple(float(v) for v in their_config[key]), (name, key)
            # the same range as the layer built from the same arguments (RandomSaturation
            # follows Keras's documented [0, f] for a single number f, Keras's code [-f, f])
            if name != "RandomSaturation":
                assert getattr(ours, attr) == getattr(built, attr), (name, key)
    if name == "RandomSaturation":
        assert ours._range == (0.0, 0.5) and built._range == (-0.5, 0.5)
    for key in ("factor", "alpha", "bins", "kernel_size", "fill_value"):
        if key in their_config and not isinstance(their_config[key], (tuple, list)):
            assert getattr(built, key) == getattr(ours, key) == their_config[key], (name, key)
    if name == "RandomGaussianBlur":
        assert built.kernel_size == ours.kernel_size == tuple(their_config["kernel_size"]) == (3, 3)


def test_layers_in_a_trained_and_saved_model(tmp_path, rng):
    inp = pynncore.Input((6, 6, 3))
    h = layers.RandomGrayscale(0.3, seed=1)(inp)
    h = layers.RandomInvert(0.3, value_range=(0, 1), seed=2)(h)
    h = layers.Solarization(0.1, (0.5, 0.9), value_range=(0, 1), seed=3)(h)
    h = layers.RandomColorDegeneration(0.3, value_range=(0, 1), seed=4)(h)
    h = layers.RandomSharpness(0.7, value_range=(0, 1), seed=5)(h)
    h = layers.AutoContrast(value_range=(0, 1))(h)
    h = layers.Conv2D(2, 3)(h)
    out = layers.Dense(1)(layers.Flatten()(h))
    model = pynncore.Model(inp, out)
    model.compile(pynncore.optimizers.SGD(0.01), "mse")
    x = rng.random((16, 6, 6, 3)).astype(np.float32)
    yv = rng.standard_normal((16, 1)).astype(np.float32)
    history = model.fit(x, yv, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    before = model.predict(x, verbose=0)
    path = tmp_path / "aug2.pnc"
    model.save(str(path))
    np.testing.assert_array_equal(pynncore.load_model(str(path)).predict(x, verbose=0), before)
    # the other layers, with a trainable layer before them so that their backward passes run
    inp = pynncore.Input((6, 6, 3))
    h = layers.Conv2D(3, 1, activation="sigmoid")(inp)
    for layer in (
        layers.RandomSaturation(0.8, value_range=(0, 1), seed=6),
        layers.RandomHue(0.5, value_range=(0, 1), seed=7),
        layers.RandomErasing(0.5, value_range=(0, 1), seed=8),
        layers.RandomGaussianBlur(0.5, value_range=(0, 1), seed=9),
        layers.MixUp(seed=10),
        layers.CutMix(seed=11),
        layers.RandomPosterization((2, 6), value_range=(0, 1), seed=12),
        layers.Equalization(value_range=(0, 1)),
    ):
        h = layer(h)
    model = pynncore.Model(inp, layers.Dense(1)(layers.Flatten()(h)))
    model.compile(pynncore.optimizers.SGD(0.01), "mse")
    history = model.fit(x, yv, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(layer.count_params() == 0 for layer in model.layers if "conv" not in layer.name and "dense" not in layer.name)
    # posterization and equalization pass no gradient: the Conv2D before them is not trained
    kernel = model.layers[1].get_weights()[0].copy()
    model.train_on_batch(x, yv)
    np.testing.assert_array_equal(model.layers[1].get_weights()[0], kernel)
    before = model.predict(x, verbose=0)
    model.save(str(path))
    np.testing.assert_array_equal(pynncore.load_model(str(path)).predict(x, verbose=0), before)


# -- errors ----------------------------------------------------------------------------------------

BAD_ARGUMENTS = [
    (lambda: layers.RandomGrayscale(1.5), r"RandomGrayscale '.*': factor must be a number in \[0, 1\]\. Received: factor=1.5"),
    (lambda: layers.RandomGrayscale((0.1, 0.2)), r"factor must be a number in \[0, 1\]\. Received: factor=\(0.1, 0.2\)"),
    (lambda: layers.RandomGrayscale(-0.1), r"Received: factor=-0.1"),
    (
        lambda: layers.RandomInvert(1.2),
        r"RandomInvert '.*': factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: factor=1.2",
    ),
    (lambda: layers.RandomInvert((-0.1, 0.5)), r"Received: factor=\(-0.1, 0.5\)"),
    (lambda: layers.RandomInvert(0.5, value_range=(0,)), r"value_range must be a pair of numbers \(low, high\)\. Received: value_range=\(0,\)"),
    (
        lambda: layers.Solarization(addition_factor=1.5),
        r"Solarization '.*': addition_factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: addition_factor=1.5",
    ),
    (lambda: layers.Solarization(threshold_factor=(0.1, 0.2, 0.3)), r"threshold_factor must be .*Received: threshold_factor=\(0.1, 0.2, 0.3\)"),
    (lambda: layers.Solarization(threshold_factor=-0.5), r"Received: threshold_factor=-0.5"),
    (lambda: layers.Solarization(value_range="0-255"), r"value_range must be a pair of numbers .*Received: value_range='0-255'"),
    (
        lambda: layers.RandomPosterization(0),
        r"RandomPosterization '.*': factor must be an integer or a pair of integers in \[1, 8\]\. Received: factor=0",
    ),
    (lambda: layers.RandomPosterization(9), r"Received: factor=9"),
    (lambda: layers.RandomPosterization(2.5), r"Received: factor=2.5"),
    (lambda: layers.RandomPosterization((1, 2, 3)), r"Received: factor=\(1, 2, 3\)"),
    (lambda: layers.RandomPosterization("4"), r"Received: factor='4'"),
    (lambda: layers.AutoContrast(value_range=(0, float("inf"))), r"AutoContrast '.*': value_range must be a pair of numbers"),
    (
        lambda: layers.RandomColorDegeneration(1.5),
        r"RandomColorDegeneration '.*': factor must be a number or a pair of numbers in \[-1.0, 1.0\]\. Received: factor=1.5",
    ),
    (
        lambda: layers.RandomSharpness((0.5, 1.1)),
        r"RandomSharpness '.*': factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: factor=\(0.5, 1.1\)",
    ),
    (lambda: layers.RandomSharpness(-0.2), r"Received: factor=-0.2"),
    (
        lambda: layers.RandomSaturation(-0.2),
        r"RandomSaturation '.*': factor must be a number in \[0, 1\] or a pair of numbers in \[-1, 1\]\. Received: factor=-0.2",
    ),
    (lambda: layers.RandomSaturation((0.2, 1.5)), r"RandomSaturation '.*': factor must be .*Received: factor=\(0.2, 1.5\)"),
    (
        lambda: layers.RandomHue(1.2),
        r"RandomHue '.*': factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: factor=1.2",
    ),
    (lambda: layers.RandomHue((0.1, 0.2), value_range=(1, 1, 1)), r"RandomHue '.*': value_range must be a pair"),
    (
        lambda: layers.RandomErasing(1.5),
        r"RandomErasing '.*': factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: factor=1.5",
    ),
    (lambda: layers.RandomErasing(scale=(0.1, 1.2)), r"RandomErasing '.*': scale must be .*Received: scale=\(0.1, 1.2\)"),
    (
        lambda: layers.RandomErasing(fill_value="noise"),
        r"fill_value must be None, a number or a list of numbers \(one per channel\)\. Received: fill_value='noise'",
    ),
    (lambda: layers.RandomErasing(fill_value=[]), r"Received: fill_value=\[\]"),
    (lambda: layers.RandomGaussianBlur(-0.1), r"RandomGaussianBlur '.*': factor must be .*Received: factor=-0.1"),
    (
        lambda: layers.RandomGaussianBlur(kernel_size=4),
        r"RandomGaussianBlur '.*': kernel_size must be an odd positive integer or a pair of them\. Received: kernel_size=4",
    ),
    (lambda: layers.RandomGaussianBlur(kernel_size=(3, 3, 3)), r"Received: kernel_size=\(3, 3, 3\)"),
    (lambda: layers.RandomGaussianBlur(kernel_size=-1), r"Received: kernel_size=-1"),
    (lambda: layers.RandomGaussianBlur(sigma=(-1.0, 1.0)), r"RandomGaussianBlur '.*': sigma must be .*Received: sigma=\(-1.0, 1.0\)"),
    (lambda: layers.RandomGaussianBlur(sigma="wide"), r"Received: sigma='wide'"),
    (lambda: layers.Equalization(bins=0), r"Equalization '.*': bins must be a positive integer\. Received: bins=0"),
    (lambda: layers.Equalization(bins=2.5), r"Received: bins=2.5"),
    (lambda: layers.Equalization(value_range=[1]), r"Equalization '.*': value_range must be a pair"),
    (lambda: layers.MixUp(0.0), r"MixUp '.*': alpha must be a positive number\. Received: alpha=0.0"),
    (lambda: layers.MixUp("a"), r"Received: alpha='a'"),
    (lambda: layers.CutMix(2.0), r"CutMix '.*': factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: factor=2.0"),
    (lambda: layers.MixUp(data_format="channels_first"), r"only data_format='channels_last' is supported"),
    (lambda: layers.RandomSharpness(0.2, data_format="channels_first"), r"only data_format='channels_last' is supported"),
    (lambda: layers.AutoContrast(data_format="channels_first"), r"only data_format='channels_last' is supported"),
    (lambda: layers.RandomGrayscale(data_format="channels_first"), r"only data_format='channels_last' is supported"),
]


@pytest.mark.parametrize("make, pattern", BAD_ARGUMENTS)
def test_bad_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_seeds():
    for make in (lambda: layers.RandomGrayscale(seed="a"), lambda: layers.Solarization(seed=1.5),
                 lambda: layers.RandomSharpness(0.1, seed=True)):
        with pytest.raises(TypeError, match=r"seed must be an integer or None\. Received: seed="):
            make()


@pytest.mark.parametrize("make", ALL)
def test_wrong_rank(make):
    layer = make()
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"{name} '.*': expected images of shape \(N, H, W, C\)\. Received: shape=\(5, 6, 3\)"):
        layer(np.ones((5, 6, 3), np.float32), training=True)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, H, W, C\)"):
        layer(np.ones((2, 5, 6, 3, 1), np.float32))


def test_channel_counts():
    x4 = np.ones((2, 3, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"RandomGrayscale '.*': expected images with 1 or 3 channels \(RGB\)\. Received: shape=\(2, 3, 3, 4\)"):
        layers.RandomGrayscale(1.0)(x4, training=True)
    with pytest.raises(ValueError, match=r"RandomColorDegeneration '.*': expected images with 3 channels \(RGB\)\. Received: shape=\(2, 3, 3, 1\)"):
        layers.RandomColorDegeneration(0.5)(np.ones((2, 3, 3, 1), np.float32), training=True)
    for make in (lambda: layers.RandomSaturation(0.5), lambda: layers.RandomHue(0.5)):
        with pytest.raises(ValueError, match=r"expected images with 3 channels \(RGB\)\. Received: shape=\(2, 3, 3, 4\)"):
            make()(x4, training=True)
    with pytest.raises(ValueError, match=r"expected images with 3 channels"):
        pynncore.Sequential([pynncore.Input((3, 3, 2)), layers.RandomColorDegeneration(0.5)])
    for make in ALL[1:]:  # the other layers take any channel count
        layer = make()
        if not isinstance(layer, (layers.RandomColorDegeneration, layers.RandomSaturation, layers.RandomHue)):
            assert layer(x4, training=True).shape == x4.shape


def test_bad_transformations():
    x = np.ones((2, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"transformation\['apply_inversion'\] must hold one value per image \(2\)\. Received: 3 values"):
        layers.RandomInvert().transform_images(x, {"apply_inversion": np.ones(3, bool)})
    with pytest.raises(ValueError, match=r"transformation\['should_apply'\] must hold one value per image \(2\)"):
        layers.RandomGrayscale().transform_images(x, np.ones((1, 1, 1, 1), bool))
    with pytest.raises(ValueError, match=r"transformation\['thresholds'\] must hold one value per image \(2\)"):
        layers.Solarization().transform_images(x, {"additions": np.zeros(2, np.float32), "thresholds": np.zeros(1, np.float32)})
    with pytest.raises(ValueError, match=r"transformation\['shift_factor'\] must hold one integer in \[0, 7\] per image \(2\)\. Received: \[9, 1\]"):
        layers.RandomPosterization(4).transform_images(x, {"shift_factor": np.array([9, 1])})
    with pytest.raises(ValueError, match=r"transformation\['factor'\] must hold one value per image \(2\)"):
        layers.RandomSharpness(0.5).transform_images(x, {"factor": np.zeros(5, np.float32)})
    masks = np.zeros((2, 3, 3, 3), bool)
    with pytest.raises(ValueError, match=r"RandomErasing '.*': transformation\['batch_masks'\] must have shape \(2, 3, 3, 3\) \(or a last dimension of 1\)\. Received: shape=\(2, 3, 4, 3\)"):
        layers.RandomErasing().transform_images(x, {"apply_erasing": np.ones(2, bool), "batch_masks": np.zeros((2, 3, 4, 3), bool), "fill_value": 0.0})
    with pytest.raises(ValueError, match=r"transformation\['fill_value'\] must broadcast to \(2, 3, 3, 3\)\. Received: shape=\(2, 2\)"):
        layers.RandomErasing().transform_images(x, {"apply_erasing": np.ones(2, bool), "batch_masks": masks, "fill_value": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"RandomErasing '.*': fill_value must hold 1 or 3 values \(one per channel\)\. Received: fill_value=\[1.0, 2.0\]"):
        layers.RandomErasing(fill_value=[1.0, 2.0])(x, training=True)
    with pytest.raises(ValueError, match=r"transformation\['blur_factor'\] must hold two positive values \(sigma_x, sigma_y\)\. Received: \[1.0\]"):
        layers.RandomGaussianBlur().transform_images(x, {"should_apply_blur": np.ones(2, bool), "blur_factor": np.ones(1)})
    for layer in (layers.MixUp(), layers.CutMix()):
        t = layer.get_random_transformation(x)
        t["permutation_order"] = np.array([0, 0])
        with pytest.raises(ValueError, match=r"transformation\['permutation_order'\] must be a permutation of range\(2\)\. Received: \[0, 0\]"):
            layer.transform_images(x, t)
        with pytest.raises(ValueError, match=r"permutation of range\(2\)"):
            layer.transform_labels(np.eye(2), t)
    with pytest.raises(ValueError, match=r"MixUp '.*': labels must have a batch dimension\. Received: shape=\(\)"):
        layers.MixUp().transform_labels(1.0, {"mix_weight": [1.0], "permutation_order": [0]})
