"""Image augmentation layers RandomShear, RandomPerspective, RandomColorJitter and RandAugment:
float64 numpy references of the shear, the homography and the operation chains, Keras 3 (torch
backend) fed the same transformation, known warps, finite differences, the random draws,
Keras's defaults and bad input (config round trips: tests/test_layers_augment.py)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad
from _ref import ref_affine_transform
from test_layers_augment import _np
from test_layers_augment2 import ref_hue, ref_saturate

from pynncore import layers

os.environ.setdefault("KERAS_BACKEND", "torch")

pytestmark = pytest.mark.filterwarnings(  # Keras's torch-backend variables, not our warning
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
FILL_MODES = ["reflect", "wrap", "constant", "nearest"]
INTERPOLATIONS = ["bilinear", "nearest"]


def _shear_matrices(shear_factor):
    """Float64 ``[a0, a1, a2, b0, b1, b2]`` of each image: output ``(y, x)`` reads the input
    at ``(sy x + y, x + sx y)``."""
    return [[1.0, sx, 0.0, sy, 1.0, 0.0] for sx, sy in np.asarray(shear_factor, np.float64)]


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_random_shear_reference_and_keras(interpolation, fill_mode, rng):
    x = rng.standard_normal((5, 7, 6, 2)).astype(np.float32)
    kw = dict(fill_mode=fill_mode, interpolation=interpolation, fill_value=0.75)
    layer = layers.RandomShear(0.6, (0.2, 0.9), seed=11, **kw)
    t = layer.get_random_transformation(x, seed=4)
    assert t["shear_factor"].shape == (5, 2) and t["input_shape"] == x.shape
    y = layer.transform_images(x, t)
    assert y.shape == x.shape and y.dtype == np.float32
    want = ref_affine_transform(x, _shear_matrices(t["shear_factor"]), interpolation, fill_mode, 0.75)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    keras = pytest.importorskip("keras")
    kl = keras.layers.RandomShear(0.6, (0.2, 0.9), **kw)
    kt = {"shear_factor": t["shear_factor"].copy(), "input_shape": x.shape}
    np.testing.assert_allclose(y, _np(kl.transform_images(x.copy(), kt, training=True)), rtol=1e-5, atol=1e-5)


def test_random_shear_known_transformations():
    x = np.arange(3 * 4 * 5 * 1, dtype=np.float32).reshape(3, 4, 5, 1)
    layer = layers.RandomShear(1.0, 1.0, fill_mode="constant", interpolation="nearest", fill_value=-1.0)
    t = {"shear_factor": np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], np.float32)}
    want = np.full_like(x, -1.0)
    for i in range(4):
        for j in range(5):
            if j + i < 5:  # row i moved i columns left
                want[0, i, j] = x[0, i, j + i]
            if j - i >= 0:  # row i moved i columns right
                want[1, i, j] = x[1, i, j - i]
            if i + j < 4:  # column j moved j rows up
                want[2, i, j] = x[2, i + j, j]
    np.testing.assert_array_equal(layer.transform_images(x, t), want)
    zero = {"shear_factor": np.zeros((3, 2), np.float32)}
    np.testing.assert_array_equal(layer.transform_images(x, zero), x)
    np.testing.assert_array_equal(layer.transform_images(x, t, training=False), x)
    np.testing.assert_array_equal(layer.transform_images(x, None), x)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_random_shear_gradient(interpolation, fill_mode, rng):
    x = rng.standard_normal((2, 4, 5, 1))
    layer = layers.RandomShear(0.7, 0.5, fill_mode=fill_mode, interpolation=interpolation, fill_value=0.5, seed=2)
    t = layer.get_random_transformation(x, seed=9)
    layer._draw = lambda shape, gen: {k: np.array(v, copy=True) for k, v in t.items()}  # replay in forward
    y, ctx = layer.forward(x.astype(np.float32), training=True)
    r = rng.standard_normal(y.shape)
    m = _shear_matrices(t["shear_factor"])
    want = numeric_grad(lambda xx: float((ref_affine_transform(xx, m, interpolation, fill_mode, 0.5) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomShear dx")


def test_random_shear_random_draws(rng):
    x = rng.standard_normal((400, 6, 8, 1)).astype(np.float32)
    layer = layers.RandomShear((0.1, 0.4), 0.3, seed=3)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    np.testing.assert_array_equal(layer(x, training=False), x)
    assert layer.get_random_transformation(x, training=False) is None
    y1, _ = layer.forward(x, training=True)
    y2, _ = layer.forward(x, training=True)
    assert not np.array_equal(y1, y2)  # every call draws again
    assert not np.array_equal(y1[0], y1[1])  # one draw per image
    np.testing.assert_array_equal(layers.RandomShear((0.1, 0.4), 0.3, seed=3).forward(x, training=True)[0], y1)
    t = layers.RandomShear((0.1, 0.4), 0.3, seed=3).get_random_transformation(x)
    np.testing.assert_allclose(layer.transform_images(x, t), y1)
    sx, sy = t["shear_factor"][:, 0], t["shear_factor"][:, 1]
    # |sx| uniform in [0.1, 0.4]: the pair's range, flipped in sign with probability 1/2
    assert np.abs(sx).min() >= 0.1 and np.abs(sx).max() <= 0.4
    assert np.abs(sx).min() < 0.12 and np.abs(sx).max() > 0.38
    assert abs(np.abs(sx).mean() - 0.25) < 0.02
    # sy uniform in [-0.3, 0.3] (one number f: [-f, f]), then the same sign flip
    assert np.abs(sy).max() <= 0.3 and sy.min() < -0.27 and sy.max() > 0.27
    assert abs(sy.mean()) < 0.03 and abs(np.abs(sy).mean() - 0.15) < 0.02
    negative = sx < 0
    assert 0.4 < negative.mean() < 0.6
    # the flip is shared by both factors of an image
    both = layers.RandomShear((0.1, 0.4), (0.2, 0.5), seed=4).get_random_transformation(x)["shear_factor"]
    np.testing.assert_array_equal(np.sign(both[:, 0]), np.sign(both[:, 1]))
    assert np.abs(both[:, 1]).min() >= 0.2 and np.abs(both[:, 1]).max() <= 0.5


def test_random_shear_draws_seeded_and_default_identity(rng):
    x = rng.standard_normal((4, 5, 5, 3)).astype(np.float32)
    a = layers.RandomShear(0.2, 0.2, seed=1).get_random_transformation(x, seed=7)["shear_factor"]
    b = layers.RandomShear(0.2, 0.2, seed=2).get_random_transformation(x, seed=7)["shear_factor"]
    np.testing.assert_array_equal(a, b)  # a call seed replaces the layer's generator
    # the defaults (0, 0) shear nothing
    layer = layers.RandomShear()
    np.testing.assert_array_equal(layer.get_random_transformation(x)["shear_factor"], 0.0)
    np.testing.assert_allclose(layer.forward(x, training=True)[0], x, atol=0, rtol=0)


def test_random_shear_keras_defaults():
    keras = pytest.importorskip("keras")
    ours, theirs = layers.RandomShear().get_config(), keras.layers.RandomShear().get_config()
    for key in ("fill_mode", "interpolation", "fill_value", "data_format", "seed"):
        assert ours[key] == theirs[key], key
    # Keras stores a number f as the range (-f, f), which its own validation refuses; a pair
    # in [0, 1] from a Keras config builds the same ranges here
    built = layers.RandomShear.from_config(keras.layers.RandomShear((0.1, 0.3), (0.0, 0.2)).get_config()
                                           | {"dtype": "float32"})
    assert built._x_range == (0.1, 0.3) and built._y_range == (0.0, 0.2)


BAD_RANDOM_SHEAR = [
    (lambda: layers.RandomShear(1.5),
     r"RandomShear '.*': x_factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: x_factor=1.5"),
    (lambda: layers.RandomShear(0.1, -0.2),
     r"RandomShear '.*': y_factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: y_factor=-0.2"),
    (lambda: layers.RandomShear((-0.1, 0.2)), r"x_factor must be .*Received: x_factor=\(-0.1, 0.2\)"),
    (lambda: layers.RandomShear((0.1, 0.2, 0.3)), r"x_factor must be .*Received: x_factor=\(0.1, 0.2, 0.3\)"),
    (lambda: layers.RandomShear("big"), r"x_factor must be .*Received: x_factor='big'"),
    (lambda: layers.RandomShear(0.1, float("nan")), r"y_factor must be .*Received: y_factor=nan"),
    (lambda: layers.RandomShear(0.1, fill_mode="mirror"),
     r"RandomShear '.*': fill_mode must be one of \['reflect', 'wrap', 'constant', 'nearest'\]\. "
     r"Received: fill_mode='mirror'"),
    (lambda: layers.RandomShear(0.1, interpolation="bicubic"),
     r"RandomShear '.*': interpolation must be one of .*Received: interpolation='bicubic'"),
    (lambda: layers.RandomShear(0.1, fill_value="a"),
     r"RandomShear '.*': fill_value must be a finite number\. Received: fill_value='a'"),
    (lambda: layers.RandomShear(0.1, data_format="channels_first"),
     r"RandomShear '.*': only data_format='channels_last' is supported\. Received: data_format='channels_first'"),
]


def test_random_shear_bad_seed_inputs_and_transformations():
    with pytest.raises(TypeError, match=r"RandomShear '.*': seed must be an integer or None\. Received: seed='a'"):
        layers.RandomShear(0.1, seed="a")
    layer = layers.RandomShear(0.1, 0.1, seed=1)
    rank = r"RandomShear '.*': expected images of shape \(N, H, W, C\)\. Received: shape=\(5, 6, 2\)"
    with pytest.raises(ValueError, match=rank):
        layer(np.ones((5, 6, 2), np.float32), training=True)
    x = np.ones((3, 4, 5, 1), np.float32)
    shape = r"transformation\['shear_factor'\] must have shape \(3, 2\)\. Received: shape=\(2, 2\)"
    with pytest.raises(ValueError, match=shape):
        layer.transform_images(x, {"shear_factor": np.zeros((2, 2), np.float32)})


# -- RandomPerspective ---------------------------------------------------------------------------


def _ref_homography(start, end):
    """Float64 homography of each image taking its end points to its start points, by the
    direct linear transform: the null vector of the 8 x 9 point equations."""
    out = []
    for s, e in zip(np.asarray(start, np.float64), np.asarray(end, np.float64)):
        rows = []
        for (sx, sy), (ex, ey) in zip(s, e):
            rows.append([ex, ey, 1, 0, 0, 0, -sx * ex, -sx * ey, -sx])
            rows.append([0, 0, 0, ex, ey, 1, -sy * ex, -sy * ey, -sy])
        h = np.linalg.svd(np.array(rows))[2][-1]
        out.append(h[:8] / h[8])
    return np.array(out)


def _ref_perspective(x, matrices, apply, interpolation, fill_value):
    """Float64 images ``(N, H, W, C)``: output ``(i, j)`` reads the input at
    ``((b0 j + b1 i + b2) / k, (a0 j + a1 i + a2) / k)``, ``k = c0 j + c1 i + 1``, with
    nearest (half to even) or bilinear taps and ``fill_value`` outside; unwarped images kept."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    out = x.copy()
    for b in range(n):
        if not apply[b]:
            continue
        a0, a1, a2, b0, b1, b2, c0, c1 = matrices[b]
        out[b] = 0.0
        for i in range(h):
            for j in range(w):
                k = c0 * j + c1 * i + 1.0
                sy, sx = (b0 * j + b1 * i + b2) / k, (a0 * j + a1 * i + a2) / k
                if interpolation == "nearest":
                    taps = [(round(sy), round(sx), 1.0)]
                else:
                    fy, fx = math.floor(sy), math.floor(sx)
                    dy, dx = sy - fy, sx - fx
                    taps = [(fy, fx, (1 - dy) * (1 - dx)), (fy, fx + 1, (1 - dy) * dx),
                            (fy + 1, fx, dy * (1 - dx)), (fy + 1, fx + 1, dy * dx)]
                for ty, tx, weight in taps:
                    inside = 0 <= ty < h and 0 <= tx < w
                    out[b, i, j] += weight * (x[b, ty, tx] if inside else fill_value)
    return out


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_random_perspective_reference_and_keras(interpolation, rng):
    x = rng.standard_normal((6, 7, 9, 2)).astype(np.float32)
    layer = layers.RandomPerspective(0.7, 0.6, interpolation=interpolation, fill_value=0.3, seed=1)
    t = layer.get_random_transformation(x, seed=3)
    apply = np.asarray(t["apply_perspective"])
    assert apply.shape == (6,) and apply.any() and not apply.all()
    assert t["start_points"].shape == t["end_points"].shape == (6, 4, 2)
    y = layer.transform_images(x, t)
    assert y.shape == x.shape and y.dtype == np.float32
    m = _ref_homography(t["start_points"], t["end_points"])
    np.testing.assert_allclose(layer._matrix(t, x.shape), m, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y, _ref_perspective(x, m, apply, interpolation, 0.3), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(y[~apply], x[~apply])
    keras = pytest.importorskip("keras")
    kl = keras.layers.RandomPerspective(0.7, 0.6, interpolation=interpolation, fill_value=0.3)
    kt = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in t.items()}
    np.testing.assert_allclose(y, _np(kl.transform_images(x.copy(), kt, training=True)), rtol=1e-4, atol=1e-4)


def test_random_perspective_known_transformations():
    x = np.arange(2 * 4 * 5 * 1, dtype=np.float32).reshape(2, 4, 5, 1)
    layer = layers.RandomPerspective(interpolation="nearest", fill_value=-1.0)
    corners = np.array([[0, 0], [4, 0], [0, 3], [4, 3]], np.float32)
    start = np.stack([corners, corners])
    # image 0: the corners moved one column right, a shift; image 1: not moved, the identity
    end = np.stack([corners + [1.0, 0.0], corners])
    t = {"apply_perspective": np.array([True, True]), "start_points": start, "end_points": end}
    want = x.copy()
    want[0, :, 0] = -1.0
    want[0, :, 1:] = x[0, :, :-1]
    np.testing.assert_array_equal(layer.transform_images(x, t), want)
    t["apply_perspective"] = np.array([False, False])
    np.testing.assert_array_equal(layer.transform_images(x, t), x)
    np.testing.assert_array_equal(layer.transform_images(x, None), x)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_random_perspective_gradient(interpolation, rng):
    x = rng.standard_normal((4, 4, 5, 1))
    layer = layers.RandomPerspective((0.5, 0.5), 0.8, interpolation=interpolation, fill_value=0.5, seed=2)
    t = layer.get_random_transformation(x, seed=1)
    t["apply_perspective"] = np.array([True, False, True, True])
    layer._draw = lambda shape, gen: {k: np.array(v, copy=True) for k, v in t.items()}  # replay in forward
    y, ctx = layer.forward(x.astype(np.float32), training=True)
    r = rng.standard_normal(y.shape)
    m = _ref_homography(t["start_points"], t["end_points"])
    apply = t["apply_perspective"]
    want = numeric_grad(lambda xx: float((_ref_perspective(xx, m, apply, interpolation, 0.5) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomPerspective dx")


def test_random_perspective_random_draws(rng):
    x = rng.standard_normal((2000, 5, 7, 1)).astype(np.float32)
    layer = layers.RandomPerspective((0.6, 0.6), 0.4, seed=3)
    np.testing.assert_array_equal(layer(x[:8]), x[:8])  # inference: identity
    assert layer.get_random_transformation(x, training=False) is None
    t = layer.get_random_transformation(x)
    again = layers.RandomPerspective((0.6, 0.6), 0.4, seed=3).get_random_transformation(x)
    for key in ("apply_perspective", "start_points", "end_points"):
        np.testing.assert_array_equal(t[key], again[key])  # the seed fixes the draws
    assert abs(t["apply_perspective"].mean() - 0.6) < 0.04
    start, end = t["start_points"].astype(np.float64), t["end_points"].astype(np.float64)
    np.testing.assert_array_equal(start, np.broadcast_to([[0, 0], [6, 0], [0, 4], [6, 4]], (2000, 4, 2)))
    np.testing.assert_array_equal(end[:, 0], 0.0)  # the origin corner stays
    d = (end[:, 1:] - start[:, 1:])[start[:, 1:] > 0] / start[:, 1:][start[:, 1:] > 0]
    assert np.abs(d).max() <= 0.2 + 1e-6 and d.min() < -0.19 and d.max() > 0.19 and abs(d.mean()) < 0.01
    # the default factor 1.0 is the range [0, 1]: a warp probability uniform in it, 1/2 overall
    default = layers.RandomPerspective(seed=4).get_random_transformation(x)["apply_perspective"]
    assert abs(default.mean() - 0.5) < 0.04
    assert not layers.RandomPerspective(0.0, seed=5).get_random_transformation(x)["apply_perspective"].any()
    y1, _ = layer.forward(x[:16], training=True)
    y2, _ = layer.forward(x[:16], training=True)
    assert not np.array_equal(y1, y2)  # every call draws again


def test_random_perspective_keras_defaults():
    keras = pytest.importorskip("keras")
    ours, theirs = layers.RandomPerspective().get_config(), keras.layers.RandomPerspective().get_config()
    for key in ("scale", "interpolation", "fill_value", "data_format", "seed"):
        assert ours[key] == theirs[key], key
    assert "fill_mode" not in ours
    built = layers.RandomPerspective.from_config({k: v for k, v in theirs.items() if k != "dtype"})
    assert built._range == (0.0, 1.0) and built.scale == 1.0


BAD_RANDOM_PERSPECTIVE = [
    (lambda: layers.RandomPerspective(1.5),
     r"RandomPerspective '.*': factor must be a number or a pair of numbers in \[0.0, 1.0\]\. "
     r"Received: factor=1.5"),
    (lambda: layers.RandomPerspective((0.2, -0.1)), r"factor must be .*Received: factor=\(0.2, -0.1\)"),
    (lambda: layers.RandomPerspective(None), r"factor must be .*Received: factor=None"),
    (lambda: layers.RandomPerspective(0.5, 1.5),
     r"RandomPerspective '.*': scale must be a number in \[0, 1\]\. Received: scale=1.5"),
    (lambda: layers.RandomPerspective(0.5, "a"), r"scale must be a number in \[0, 1\]\. Received: scale='a'"),
    (lambda: layers.RandomPerspective(interpolation="bicubic"),
     r"RandomPerspective '.*': interpolation must be one of .*Received: interpolation='bicubic'"),
    (lambda: layers.RandomPerspective(fill_value=float("inf")), r"fill_value must be a finite number"),
    (lambda: layers.RandomPerspective(data_format="channels_first"),
     r"only data_format='channels_last' is supported\. Received: data_format='channels_first'"),
]


def test_random_perspective_bad_inputs_and_transformations():
    layer = layers.RandomPerspective(seed=1)
    with pytest.raises(ValueError, match=r"RandomPerspective '.*': expected images of shape \(N, H, W, C\)"):
        layer(np.ones((5, 6, 2), np.float32), training=True)
    x = np.ones((2, 4, 5, 1), np.float32)
    t = layer.get_random_transformation(x)
    bad = dict(t, end_points=np.zeros((2, 3, 2), np.float32))
    pattern = r"transformation\['end_points'\] must have shape \(2, 4, 2\)\. Received: shape=\(2, 3, 2\)"
    with pytest.raises(ValueError, match=pattern):
        layer.transform_images(x, bad)
    bad = dict(t, apply_perspective=np.ones(3, bool))
    pattern = r"transformation\['apply_perspective'\] must hold one value per image \(2\)\. Received: 3 values"
    with pytest.raises(ValueError, match=pattern):
        layer.transform_images(x, bad)


# -- RandomColorJitter ---------------------------------------------------------------------------


def _ref_jitter(x, t, value_range):
    """Float64 brightness shift, contrast about each image's channel means, then saturation and
    hue through colorsys, each clipped as its layer clips."""
    lo, hi = value_range
    y = np.asarray(x, np.float64)
    if "brightness" in t:
        y = np.clip(y + np.asarray(t["brightness"]["rgb_delta"], np.float64).reshape(-1, 1, 1, 1), lo, hi)
    if "contrast" in t:
        c = np.asarray(t["contrast"]["contrast_factor"], np.float64).reshape(-1, 1, 1, 1)
        mean = y.mean(axis=(1, 2), keepdims=True)
        y = np.clip((y - mean) * c + mean, lo, hi)
    if "saturation" in t:
        y = ref_saturate(y, np.asarray(t["saturation"]["factor"], np.float64).ravel(), value_range)
    if "hue" in t:
        y = ref_hue(y, np.asarray(t["hue"]["factor"], np.float64).ravel(), value_range)
    return y


JITTER = dict(brightness_factor=0.3, contrast_factor=(0.2, 0.5), saturation_factor=(0.3, 0.8), hue_factor=0.4)


@pytest.mark.parametrize("parts", [tuple(JITTER), ("brightness_factor", "contrast_factor"), ("hue_factor",)])
def test_random_color_jitter_reference_and_keras(parts, rng):
    x = rng.random((5, 6, 7, 3)).astype(np.float32)
    kw = {k: JITTER[k] for k in parts}
    layer = layers.RandomColorJitter((0, 1), seed=1, **kw)
    t = layer.get_random_transformation(x)
    assert sorted(t) == sorted(k[: -len("_factor")] for k in parts)
    y = layer.transform_images(x, t)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, _ref_jitter(x, t, (0, 1)), rtol=1e-5, atol=2e-6)
    keras = pytest.importorskip("keras")
    z = keras.ops.convert_to_tensor(x.copy())
    for key, part in (("brightness", "RandomBrightness"), ("contrast", "RandomContrast"),
                      ("saturation", "RandomSaturation"), ("hue", "RandomHue")):
        if key in t:  # Keras's jitter draws inside; its parts replay a given transformation
            kl = getattr(keras.layers, part)(JITTER[f"{key}_factor"], value_range=(0, 1))
            kt = {k: keras.ops.convert_to_tensor(np.array(v, copy=True)) for k, v in t[key].items()}
            z = kl.transform_images(z, kt, training=True)
    np.testing.assert_allclose(y, _np(z), rtol=1e-5, atol=1e-5)


def test_random_color_jitter_gradient(rng):
    x = (0.3 + 0.4 * rng.random((2, 3, 4, 3))).astype(np.float64)
    layer = layers.RandomColorJitter((0, 1), brightness_factor=0.1, contrast_factor=(0.1, 0.3), seed=2)
    t = layer.get_random_transformation(x)
    layer._draw = lambda shape, gen: t  # replay in forward
    y, ctx = layer.forward(x.astype(np.float32), training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((_ref_jitter(xx, t, (0, 1)) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomColorJitter dx")


def test_random_color_jitter_random_draws(rng):
    x = rng.random((300, 2, 2, 3)).astype(np.float32)
    layer = layers.RandomColorJitter((0, 1), seed=3, **JITTER)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    assert layer.get_random_transformation(x, training=False) is None
    t = layer.get_random_transformation(x)
    again = layers.RandomColorJitter((0, 1), seed=3, **JITTER).get_random_transformation(x)
    for key, part in t.items():
        for name, value in part.items():
            np.testing.assert_array_equal(value, again[key][name])  # the seed fixes the draws
    delta = t["brightness"]["rgb_delta"].ravel()
    assert delta.min() >= -0.3 and delta.max() <= 0.3 and delta.min() < -0.27 and delta.max() > 0.27
    contrast = t["contrast"]["contrast_factor"].ravel()
    assert contrast.min() >= 0.8 and contrast.max() <= 1.5 and np.ptp(contrast) > 0.6
    y1, _ = layer.forward(x, training=True)
    y2, _ = layer.forward(x, training=True)
    assert not np.array_equal(y1, y2)  # every call draws again
    nothing = layers.RandomColorJitter((0, 1), seed=4)
    assert nothing.get_random_transformation(x) == {}
    np.testing.assert_array_equal(nothing.forward(x, training=True)[0], x)


def test_random_color_jitter_keras_defaults():
    keras = pytest.importorskip("keras")
    ours = layers.RandomColorJitter(brightness_factor=0.2).get_config()
    theirs = keras.layers.RandomColorJitter(brightness_factor=0.2).get_config()
    for key in ("brightness_factor", "contrast_factor", "saturation_factor", "hue_factor", "seed", "data_format"):
        assert ours[key] == theirs[key], key
    assert tuple(ours["value_range"]) == tuple(theirs["value_range"])


BAD_RANDOM_COLOR_JITTER = [
    (lambda: layers.RandomColorJitter(brightness_factor=2.0),
     r"RandomColorJitter '.*': bad brightness_factor \(.*\)\. Received: brightness_factor=2.0"),
    (lambda: layers.RandomColorJitter(contrast_factor=(0.1, 0.2, 0.3)),
     r"bad contrast_factor .*Received: contrast_factor=\(0.1, 0.2, 0.3\)"),
    (lambda: layers.RandomColorJitter(saturation_factor=-1.0),
     r"bad saturation_factor .*Received: saturation_factor=-1.0"),
    (lambda: layers.RandomColorJitter(hue_factor="a"), r"bad hue_factor .*Received: hue_factor='a'"),
    (lambda: layers.RandomColorJitter((0,)), r"RandomColorJitter '.*': value_range must be a pair of numbers"),
    (lambda: layers.RandomColorJitter(data_format="channels_first"), r"only data_format='channels_last'"),
]


def test_random_color_jitter_bad_inputs_and_transformations():
    layer = layers.RandomColorJitter((0, 1), brightness_factor=0.1, hue_factor=0.2, seed=1)
    with pytest.raises(ValueError, match=r"RandomHue '.*': expected images with 3 channels \(RGB\)"):
        layer(np.ones((2, 3, 3, 1), np.float32), training=True)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, H, W, C\)"):
        layer(np.ones((3, 3, 3), np.float32), training=True)
    x = np.ones((2, 3, 3, 3), np.float32)
    t = layer.get_random_transformation(x)
    del t["hue"]
    with pytest.raises(ValueError, match=r"transformation must hold the 'hue' part\. Received keys: \['brightness'\]"):
        layer.transform_images(x, t)


# -- RandAugment ---------------------------------------------------------------------------------

OPERATIONS = ["random_shear", "random_translation", "random_rotation", "random_brightness",
              "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
              "solarization", "auto_contrast", "equalization"]


def _ref_rand_augment(x, t, picks, interpolation):
    """Float64 RandAugment restricted to shear, translation, brightness and contrast (reflect
    fill, value range (0, 255)), each applied in the picked order."""
    y = np.asarray(x, np.float64)
    for pick in picks:
        name, part = OPERATIONS[pick], t["transforms"][OPERATIONS[pick]]
        if name == "random_shear":
            y = ref_affine_transform(y, _shear_matrices(part["shear_factor"]), interpolation, "reflect")
        elif name == "random_translation":
            m = [[1, 0, -dx, 0, 1, -dy] for dx, dy in np.asarray(part["translations"], np.float64)]
            y = ref_affine_transform(y, m, interpolation, "reflect")
        elif name == "random_brightness":
            y = np.clip(y + np.asarray(part["rgb_delta"], np.float64).reshape(-1, 1, 1, 1), 0, 255)
        else:
            c = np.asarray(part["contrast_factor"], np.float64).reshape(-1, 1, 1, 1)
            mean = y.mean(axis=(1, 2), keepdims=True)
            y = np.clip((y - mean) * c + mean, 0, 255)
    return y


@pytest.mark.parametrize("picks", [[0, 3], [1, 5, 0], [5, 5]])
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_rand_augment_reference(picks, interpolation, rng):
    x = (rng.random((4, 6, 7, 3)) * 255).astype(np.float32)
    layer = layers.RandAugment(num_ops=len(picks), factor=(0.2, 0.6), interpolation=interpolation, seed=1)
    t = layer.get_random_transformation(x)
    t["layer_idxes"] = np.array(picks)
    y = layer.transform_images(x, t)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, _ref_rand_augment(x, t, picks, interpolation), rtol=1e-4, atol=2e-3)


# Keras's torch-backend count_nonzero (in Equalization) uses Tensor.T on 0-d tensors; not ours.
@pytest.mark.filterwarnings("ignore:Tensor.T is deprecated:UserWarning")
@pytest.mark.parametrize("pick", range(11))
def test_rand_augment_operations_against_keras(pick, rng):
    # Keras's RandAugment runs every operation on the torch backend and RandomBrightness adds
    # its delta in place, so the whole layer is not comparable; its operations, replayed in
    # the picked order on the same draws, are
    keras = pytest.importorskip("keras")
    x = (rng.random((4, 6, 7, 3)) * 255).astype(np.float32)
    picks = [pick, (pick + 4) % 11]
    layer = layers.RandAugment(factor=(0.2, 0.6), seed=2)
    t = layer.get_random_transformation(x)
    t["layer_idxes"] = np.array(picks)
    y = layer.transform_images(x, t)
    kl = keras.layers.RandAugment(factor=(0.2, 0.6))
    z = keras.ops.convert_to_tensor(x.copy())
    for p in picks:
        part = t["transforms"][OPERATIONS[p]]
        kt = None if part is None else {k: keras.ops.convert_to_tensor(np.array(v, copy=True)) for k, v in part.items()}
        z = getattr(kl, OPERATIONS[p]).transform_images(z, kt, training=True)
    np.testing.assert_allclose(y, _np(z), rtol=1e-4, atol=2e-3)


def test_rand_augment_gradient(rng):
    x = 60 + 120 * rng.random((2, 4, 5, 3))
    layer = layers.RandAugment(num_ops=3, factor=(0.1, 0.3), seed=3)
    t = layer.get_random_transformation(x)
    t["layer_idxes"] = np.array([0, 5, 1])
    layer._draw = lambda shape, gen: t  # replay in forward
    y, ctx = layer.forward(x.astype(np.float32), training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((_ref_rand_augment(xx, t, [0, 5, 1], "bilinear") * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandAugment dx")


def test_rand_augment_random_draws(rng):
    x = (rng.random((3, 5, 5, 3)) * 255).astype(np.float32)
    layer = layers.RandAugment(num_ops=3, seed=4)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    assert layer.get_random_transformation(x, training=False) is None
    t = layer.get_random_transformation(x)
    assert sorted(t["transforms"]) == sorted(OPERATIONS) and t["layer_idxes"].shape == (3,)
    assert t["transforms"]["auto_contrast"] is None and t["transforms"]["equalization"] is None
    again = layers.RandAugment(num_ops=3, seed=4).get_random_transformation(x)
    np.testing.assert_array_equal(t["layer_idxes"], again["layer_idxes"])  # the seed fixes the draws
    np.testing.assert_array_equal(t["transforms"]["random_shear"]["shear_factor"],
                                  again["transforms"]["random_shear"]["shear_factor"])
    picks = np.concatenate([layer.get_random_transformation(x)["layer_idxes"] for _ in range(1100)])
    counts = np.bincount(picks, minlength=11)
    assert counts.size == 11 and counts.min() > 220 and counts.max() < 380  # uniform over the 11
    # factor (lower, upper) is the range of every operation
    draws = [layer.get_random_transformation(x)["transforms"]["random_brightness"] for _ in range(100)]
    delta = np.concatenate([d["rgb_delta"].ravel() for d in draws])
    assert delta.min() >= 0.0 and delta.max() <= 0.5 * 255 and delta.max() > 0.45 * 255
    assert layers.RandAugment(factor=0.8)._ops["random_posterization"].factor == 6
    np.testing.assert_array_equal(layers.RandAugment(num_ops=0, seed=1).forward(x, training=True)[0], x)
    y1, _ = layer.forward(x, training=True)
    y2, _ = layer.forward(x, training=True)
    assert not np.array_equal(y1, y2)  # every call draws again


def test_rand_augment_keras_defaults():
    keras = pytest.importorskip("keras")
    ours, theirs = layers.RandAugment().get_config(), keras.layers.RandAugment().get_config()
    for key in ("num_ops", "interpolation", "seed", "data_format"):
        assert ours[key] == theirs[key], key
    assert tuple(ours["value_range"]) == tuple(theirs["value_range"])
    built = layers.RandAugment.from_config({k: v for k, v in theirs.items() if k != "dtype"})
    assert built.get_config()["factor"] == (0.0, 0.5) and ours["factor"] == 0.5


BAD_RAND_AUGMENT = [
    (lambda: layers.RandAugment(factor=1.5),
     r"RandAugment '.*': factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: factor=1.5"),
    (lambda: layers.RandAugment(num_ops=-1),
     r"RandAugment '.*': num_ops must be an integer >= 0\. Received: num_ops=-1"),
    (lambda: layers.RandAugment(num_ops=1.5), r"num_ops must be an integer >= 0\. Received: num_ops=1.5"),
    (lambda: layers.RandAugment(interpolation="bicubic"),
     r"RandAugment '.*': interpolation must be one of .*Received: interpolation='bicubic'"),
    (lambda: layers.RandAugment((0, 1, 2)), r"RandAugment '.*': value_range must be a pair of numbers"),
    (lambda: layers.RandAugment(data_format="channels_first"), r"only data_format='channels_last'"),
]


def test_rand_augment_bad_transformations():  # wrong ranks: tests/test_layers_augment.py
    x = np.ones((2, 3, 3, 3), np.float32)
    layer = layers.RandAugment(seed=1)
    pattern = r"transformation\['layer_idxes'\] must hold 2 integers in \[0, 11\)\. Received: \[0, 11\]"
    with pytest.raises(ValueError, match=pattern):
        layer.transform_images(x, dict(layer.get_random_transformation(x), layer_idxes=np.array([0, 11])))


@pytest.mark.parametrize(
    "make, pattern", BAD_RANDOM_SHEAR + BAD_RANDOM_PERSPECTIVE + BAD_RANDOM_COLOR_JITTER + BAD_RAND_AUGMENT
)
def test_bad_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()
