"""Image augmentation layers RandomCrop, RandomTranslation, RandomRotation, RandomZoom,
RandomContrast and RandomBrightness: float64 numpy references of each transformation, Keras 3
(torch backend) fed the same transformation, finite differences, the random draws, configs
and bad input; and Keras's Convolution* alias names."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad
from _ref import ref_affine_transform, ref_resize

import pynncore
from pynncore import layers
from pynncore.saving import deserialize_layer, serialize_layer

os.environ.setdefault("KERAS_BACKEND", "torch")

# Keras's torch-backend variables implement numpy's old __array__ protocol; not our warning.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

FILL_MODES = ["reflect", "wrap", "constant", "nearest"]
INTERPOLATIONS = ["bilinear", "nearest"]


def _np(t):
    keras = pytest.importorskip("keras")
    return np.asarray(keras.ops.convert_to_numpy(t))


def _copy(transformation):
    """A deep copy (Keras's torch backend writes into the matrices it is given)."""
    if isinstance(transformation, dict):
        return {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in transformation.items()}
    return transformation


def _rotation_ref_matrix(angles_deg, h, w):
    rows = []
    cx, cy = (w - 1) / 2, (h - 1) / 2
    for deg in angles_deg:
        t = math.radians(float(deg))
        # output (x, y) -> input: rotate (x - cx, y - cy) by t and move back
        rows.append([math.cos(t), -math.sin(t), cx - cx * math.cos(t) + cy * math.sin(t),
                     math.sin(t), math.cos(t), cy - cx * math.sin(t) - cy * math.cos(t)])
    return rows


def _ref_matrix(name, t, h, w):
    """Float64 matrices of each layer's transformation, from its parameters."""
    if name == "RandomTranslation":
        return [[1, 0, -dx, 0, 1, -dy] for dx, dy in np.asarray(t["translations"], np.float64)]
    if name == "RandomRotation":
        return _rotation_ref_matrix(t["angle"], h, w)
    zy = np.asarray(t["height_zoom"], np.float64).ravel()
    zx = np.asarray(t["width_zoom"], np.float64).ravel()
    return [[a, 0, (w - 1) / 2 * (1 - a), 0, b, (h - 1) / 2 * (1 - b)] for a, b in zip(zx, zy)]


AFFINE = {
    "RandomTranslation": lambda **kw: layers.RandomTranslation((-0.4, 0.3), 0.5, **kw),
    "RandomRotation": lambda **kw: layers.RandomRotation(0.5, **kw),
    "RandomZoom": lambda **kw: layers.RandomZoom((-0.5, 0.6), (-0.3, 0.4), **kw),
}
KERAS_AFFINE = {
    "RandomTranslation": lambda keras, **kw: keras.layers.RandomTranslation((-0.4, 0.3), 0.5, **kw),
    "RandomRotation": lambda keras, **kw: keras.layers.RandomRotation(0.5, **kw),
    "RandomZoom": lambda keras, **kw: keras.layers.RandomZoom((-0.5, 0.6), (-0.3, 0.4), **kw),
}


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("name", sorted(AFFINE))
def test_affine_layers_reference_and_keras(name, interpolation, fill_mode, rng):
    x = rng.standard_normal((5, 7, 6, 2)).astype(np.float32)
    kw = dict(fill_mode=fill_mode, interpolation=interpolation, fill_value=0.75)
    layer = AFFINE[name](seed=11, **kw)
    t = layer.get_random_transformation(x, seed=4)
    y = layer.transform_images(x, t)
    assert y.shape == x.shape and y.dtype == np.float32
    want = ref_affine_transform(x, _ref_matrix(name, t, 7, 6), interpolation, fill_mode, 0.75)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    keras = pytest.importorskip("keras")
    kl = KERAS_AFFINE[name](keras, **kw)
    np.testing.assert_allclose(y, _np(kl.transform_images(x.copy(), _copy(t), training=True)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(AFFINE))
def test_affine_layers_known_transformations(name):
    x = np.arange(2 * 4 * 5 * 1, dtype=np.float32).reshape(2, 4, 5, 1)
    layer = AFFINE[name](fill_mode="constant", interpolation="nearest", fill_value=-1.0)
    if name == "RandomTranslation":  # one row down, two columns left
        t = {"translations": np.array([[-2.0, 1.0], [0.0, 0.0]], np.float32)}
        want = np.full_like(x, -1.0)
        want[0, 1:, :3] = x[0, :3, 2:]
        want[1] = x[1]
    elif name == "RandomRotation":  # a half turn of each image about its centre
        m = np.asarray(_rotation_ref_matrix([180.0, -180.0], 4, 5), np.float32)
        t = {"rotation_matrix": np.concatenate([m, np.zeros((2, 2), np.float32)], axis=1)}
        want = x[:, ::-1, ::-1]
    else:  # zoom 1: the identity; zoom 3 about the centre column of a width-5 image
        t = {"height_zoom": np.array([[1.0], [1.0]], np.float32), "width_zoom": np.array([[1.0], [3.0]], np.float32)}
        want = x.copy()
        want[1] = -1.0
        want[1, :, 2] = x[1, :, 2]  # columns 0, 1, 3, 4 read -4, -1, 5, 8: outside
    np.testing.assert_array_equal(layer.transform_images(x, t), want)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("name", sorted(AFFINE))
def test_affine_layers_gradient(name, interpolation, fill_mode, rng):
    x = rng.standard_normal((2, 4, 5, 1))
    layer = AFFINE[name](fill_mode=fill_mode, interpolation=interpolation, fill_value=0.5, seed=2)
    t = layer.get_random_transformation(x, seed=9)
    layer._draw = lambda shape, gen: _copy(t)  # replay the same transformation in forward
    y, ctx = layer.forward(x.astype(np.float32), training=True)
    r = rng.standard_normal(y.shape)
    m = _ref_matrix(name, t, 4, 5)
    want = numeric_grad(lambda xx: float((ref_affine_transform(xx, m, interpolation, fill_mode, 0.5) * r).sum()), x)
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what=f"{name} dx")


@pytest.mark.parametrize("name", sorted(AFFINE))
def test_affine_layers_random_draws(name, rng):
    x = rng.standard_normal((64, 6, 8, 1)).astype(np.float32)
    layer = AFFINE[name](seed=3)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    np.testing.assert_array_equal(layer(x, training=False), x)
    y1, _ = layer.forward(x, training=True)
    y2, _ = layer.forward(x, training=True)
    assert not np.array_equal(y1, y2)  # every call draws again
    assert not np.array_equal(y1[0], y1[1])  # one draw per image
    np.testing.assert_array_equal(AFFINE[name](seed=3).forward(x, training=True)[0], y1)  # the seed fixes the draws
    t = AFFINE[name](seed=3).get_random_transformation(x)
    np.testing.assert_allclose(layer.transform_images(x, t), y1)
    if name == "RandomTranslation":
        dx, dy = t["translations"][:, 0] / 8, t["translations"][:, 1] / 6
        assert dy.min() >= -0.4 and dy.max() <= 0.3 and dx.min() >= -0.5 and dx.max() <= 0.5
        assert dy.min() < -0.2 and dy.max() > 0.1  # spread over the range
    elif name == "RandomRotation":
        assert t["angle"].min() >= -180 and t["angle"].max() <= 180 and np.ptp(t["angle"]) > 180
    else:
        zy, zx = t["height_zoom"].ravel(), t["width_zoom"].ravel()
        assert zy.min() >= 0.5 and zy.max() <= 1.6 and zx.min() >= 0.7 and zx.max() <= 1.4
        assert not np.array_equal(zx, zy)
    assert layer.get_random_transformation(x, training=False) is None


def test_random_zoom_without_width_factor_keeps_aspect_ratio(rng):
    x = rng.standard_normal((8, 5, 5, 1)).astype(np.float32)
    t = layers.RandomZoom(0.3, seed=1).get_random_transformation(x)
    np.testing.assert_array_equal(t["height_zoom"], t["width_zoom"])
    assert t["height_zoom"].min() >= 0.7 and t["height_zoom"].max() <= 1.3


# -- RandomCrop ----------------------------------------------------------------------------------


def test_random_crop_training_reference_keras_and_gradient(rng):
    x = rng.standard_normal((3, 7, 9, 2)).astype(np.float32)
    layer = layers.RandomCrop(4, 5, seed=6)
    corners = set()
    for _ in range(40):
        t = layer.get_random_transformation(x)
        top, left = t
        assert 0 <= top <= 3 and 0 <= left <= 4
        corners.add(t)
    assert len(corners) > 8  # uniform over the 4 x 5 corners
    y = layer.transform_images(x, (2, 3))
    np.testing.assert_array_equal(y, x[:, 2:6, 3:8])  # one location for the whole batch
    keras = pytest.importorskip("keras")
    np.testing.assert_array_equal(_np(keras.layers.RandomCrop(4, 5).transform_images(x, (2, 3), training=True)), y)
    y, ctx = layer.forward(x, training=True)
    assert y.shape == (3, 4, 5, 2)
    assert any(np.array_equal(y, x[:, a : a + 4, b : b + 5]) for a in range(4) for b in range(5))
    r = rng.standard_normal(y.shape)
    top, left = ctx[0][:2]
    want = numeric_grad(lambda xx: float((xx[:, top : top + 4, left : left + 5] * r).sum()), x.astype(np.float64))
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomCrop dx")
    y1 = layers.RandomCrop(4, 5, seed=6).forward(x, training=True)[0]
    y2 = layers.RandomCrop(4, 5, seed=6).forward(x, training=True)[0]
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("size", [(4, 5), (3, 9), (8, 4), (10, 12)], ids=str)
def test_random_crop_inference_and_small_images(size, rng):
    x = rng.standard_normal((2, 7, 9, 2)).astype(np.float32)
    layer = layers.RandomCrop(*size, seed=1)
    y = layer(x)  # inference: centered crop to the aspect ratio, resized
    np.testing.assert_allclose(y, ref_resize(x, *size, "bilinear", crop=True), rtol=1e-5, atol=1e-5)
    assert layer(pynncore.Input((7, 9, 2))).shape == (None,) + size + (2,)
    keras = pytest.importorskip("keras")
    # Keras documents this inference output (its 3.15 code returns the input unchanged):
    # the crop-to-aspect-ratio resize.
    np.testing.assert_allclose(y, _np(keras.layers.Resizing(*size, crop_to_aspect_ratio=True)(x)), rtol=1e-5, atol=1e-5)
    kt = keras.layers.RandomCrop(*size).get_random_transformation(x, training=False)
    assert tuple(int(v) for v in kt) == layer.get_random_transformation(x, training=False)
    if size[0] > 7 or size[1] > 9:  # too small to crop: resized in training too
        yt, ctx = layer.forward(x, training=True)
        np.testing.assert_allclose(yt, y, rtol=1e-6, atol=1e-6)
        r = rng.standard_normal(yt.shape)
        want = numeric_grad(
            lambda xx: float((ref_resize(xx, *size, "bilinear", crop=True) * r).sum()), x.astype(np.float64)
        )
        assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomCrop resize dx")


# -- RandomContrast, RandomBrightness -----------------------------------------------------------


def test_random_contrast_reference_keras_and_gradient(rng):
    x = (rng.random((4, 5, 6, 3)) * 255).astype(np.float32)
    layer = layers.RandomContrast((0.5, 0.8), seed=1)
    t = {"contrast_factor": np.array([0.5, 1.0, 1.7, 0.2], np.float32).reshape(4, 1, 1, 1)}
    y = layer.transform_images(x, t)
    xd = x.astype(np.float64)
    mean = xd.mean(axis=(1, 2), keepdims=True)
    want = np.clip((xd - mean) * t["contrast_factor"] + mean, 0, 255)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-3)
    assert (y == 255).any() and (y == 0).any()  # factor 1.7 clips
    np.testing.assert_allclose(y[1], x[1], rtol=1e-6, atol=1e-4)  # factor 1: unchanged
    keras = pytest.importorskip("keras")
    kt = {"contrast_factor": keras.ops.convert_to_tensor(t["contrast_factor"])}
    ky = _np(keras.layers.RandomContrast(0.5).transform_images(keras.ops.convert_to_tensor(x), kt))
    np.testing.assert_allclose(y, ky, rtol=1e-5, atol=1e-3)
    small = (rng.random((2, 3, 4, 2)) * 2.0).astype(np.float64)
    layer = layers.RandomContrast(0.9, value_range=(0.2, 1.8), seed=4)
    tt = {"contrast_factor": np.array([0.4, 1.6], np.float32)}
    layer._draw = lambda shape, gen: _copy(tt)
    ys, ctx = layer.forward(small.astype(np.float32), training=True)
    r = rng.standard_normal(ys.shape)
    c = tt["contrast_factor"].astype(np.float64).reshape(2, 1, 1, 1)

    def f(xx):
        m = xx.mean(axis=(1, 2), keepdims=True)
        return float((np.clip((xx - m) * c + m, 0.2, 1.8) * r).sum())

    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), numeric_grad(f, small), what="RandomContrast dx")


def test_random_brightness_reference_keras_and_gradient(rng):
    x = rng.random((4, 3, 5, 3)).astype(np.float32)
    layer = layers.RandomBrightness((-0.5, 0.5), value_range=(0, 1), seed=1)
    t = {"rgb_delta": np.array([0.0, 0.3, -0.4, 0.9], np.float32).reshape(4, 1, 1, 1)}
    y = layer.transform_images(x, t)
    np.testing.assert_allclose(y, np.clip(x.astype(np.float64) + t["rgb_delta"], 0, 1), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y[0], x[0])
    keras = pytest.importorskip("keras")
    kl = keras.layers.RandomBrightness(0.5, value_range=(0, 1))
    ky = _np(kl.transform_images(keras.ops.convert_to_tensor(x), _copy(t)))
    np.testing.assert_allclose(y, ky, rtol=1e-6, atol=1e-6)
    layer._draw = lambda shape, gen: _copy(t)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    want = numeric_grad(lambda xx: float((np.clip(xx + t["rgb_delta"], 0, 1) * r).sum()), x.astype(np.float64))
    assert_grad_close(layer.backward(ctx, r.astype(np.float32)), want, what="RandomBrightness dx")


def test_color_layers_random_draws(rng):
    x = (rng.random((200, 4, 4, 3)) * 255).astype(np.float32)
    contrast = layers.RandomContrast(0.3, seed=2)
    c = contrast.get_random_transformation(x)["contrast_factor"].ravel()
    assert c.min() >= 0.7 and c.max() <= 1.3 and c.min() < 0.75 and c.max() > 1.25
    c = layers.RandomContrast((0.1, 0.6), seed=2).get_random_transformation(x)["contrast_factor"].ravel()
    assert c.min() >= 0.9 and c.max() <= 1.6 and c.min() < 0.95 and c.max() > 1.5
    brightness = layers.RandomBrightness(0.2, seed=2)
    d = brightness.get_random_transformation(x)["rgb_delta"].ravel()
    assert d.min() >= -51 and d.max() <= 51 and d.min() < -45 and d.max() > 45  # 0.2 * 255
    d = layers.RandomBrightness((0.1, 0.3), value_range=(-1, 1), seed=2).get_random_transformation(x)["rgb_delta"]
    assert d.min() >= 0.2 and d.max() <= 0.6
    for layer in (contrast, brightness):
        np.testing.assert_array_equal(layer(x), x)  # inference: identity
        y1, y2 = layer.forward(x, training=True)[0], layer.forward(x, training=True)[0]
        assert not np.array_equal(y1, y2)
        assert y1.min() >= 0 and y1.max() <= 255
        first, second = (type(layer).from_config(layer.get_config()) for _ in range(2))
        np.testing.assert_array_equal(first.forward(x, training=True)[0], second.forward(x, training=True)[0])


# -- configs, models, errors --------------------------------------------------------------------


ALL = [
    lambda: layers.RandomCrop(3, 4, seed=1),
    lambda: layers.RandomTranslation((-0.1, 0.2), 0.3, fill_mode="wrap", interpolation="nearest", seed=2),
    lambda: layers.RandomRotation((-0.2, 0.1), fill_mode="constant", fill_value=0.5, seed=3),
    lambda: layers.RandomZoom(0.2, (-0.1, 0.3), fill_mode="nearest", seed=4),
    lambda: layers.RandomZoom(0.2),
    lambda: layers.RandomShear(0.2, (0.1, 0.3), fill_mode="constant", fill_value=0.5, seed=3),
    lambda: layers.RandomShear((0.0, 0.4), interpolation="nearest", fill_mode="wrap"),
    lambda: layers.RandomShear(),
    lambda: layers.RandomPerspective((0.2, 0.8), 0.5, interpolation="nearest", fill_value=0.5, seed=2),
    lambda: layers.RandomPerspective(),
    lambda: layers.RandomColorJitter((0, 1), brightness_factor=0.2, hue_factor=(0.1, 0.3), seed=6),
    lambda: layers.RandAugment((0, 1), num_ops=3, factor=(0.1, 0.4), interpolation="nearest", seed=7),
    lambda: layers.RandomContrast(0.4, value_range=(0, 1), seed=5),
    lambda: layers.RandomBrightness((-0.2, 0.1), value_range=(-1, 1), seed=6),
]


@pytest.mark.parametrize("make", ALL)
def test_configs_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == dict(config, name=again.name)
    spec = serialize_layer(layer)
    assert type(deserialize_layer(spec)) is type(layer)
    keras = pytest.importorskip("keras")
    keras_config = {k: v for k, v in config.items() if k not in ("dtype", "trainable", "name")}
    kl = getattr(keras.layers, type(layer).__name__)(**keras_config)  # the arguments Keras takes
    assert set(keras_config) <= set(kl.get_config())


def test_keras_defaults_and_config_accepted():
    keras = pytest.importorskip("keras")
    for name, args in (("RandomRotation", (0.2,)), ("RandomZoom", (0.2,)), ("RandomTranslation", (0.1, 0.2)),
                       ("RandomContrast", (0.2,)), ("RandomBrightness", (0.2,)), ("RandomCrop", (3, 4))):
        ours = getattr(layers, name)(*args).get_config()
        theirs = getattr(keras.layers, name)(*args).get_config()
        for key in ("fill_mode", "interpolation", "fill_value", "data_format"):
            if key in theirs:
                assert ours[key] == theirs[key], (name, key)
        if "value_range" in theirs:
            assert tuple(ours["value_range"]) == tuple(theirs["value_range"])
        # a Keras config (factor stored as (lower, upper)) builds the same layer
        built = getattr(layers, name).from_config({k: v for k, v in theirs.items() if k != "dtype"})
        assert built.get_config()["seed"] == theirs["seed"]


def test_augmentation_layers_in_a_trained_and_saved_model(tmp_path, rng):
    inp = pynncore.Input((8, 8, 3))
    h = layers.RandomCrop(6, 6, seed=1)(inp)
    h = layers.RandomTranslation(0.1, 0.1, seed=2)(h)
    h = layers.RandomRotation(0.05, seed=3)(h)
    h = layers.RandomZoom(0.1, seed=4)(h)
    h = layers.RandomShear(0.1, 0.1, seed=7)(h)
    h = layers.RandomContrast(0.2, value_range=(0, 1), seed=5)(h)
    h = layers.RandomBrightness(0.1, value_range=(0, 1), seed=6)(h)
    h = layers.Conv2D(2, 3)(h)
    out = layers.Dense(1)(layers.Flatten()(h))
    model = pynncore.Model(inp, out)
    model.compile(pynncore.optimizers.SGD(0.01), "mse")
    x = rng.random((16, 8, 8, 3)).astype(np.float32)
    yv = rng.standard_normal((16, 1)).astype(np.float32)
    history = model.fit(x, yv, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    before = model.predict(x, verbose=0)
    path = tmp_path / "aug.pnc"
    model.save(str(path))
    np.testing.assert_array_equal(pynncore.load_model(str(path)).predict(x, verbose=0), before)


BAD_ARGUMENTS = [
    (
        lambda: layers.RandomRotation(1.5),
        r"RandomRotation '.*': factor must be a number or a pair of numbers in \[-1.0, 1.0\]\. Received: factor=1.5",
    ),
    (
        lambda: layers.RandomRotation((0.1, 0.2, 0.3)),
        r"factor must be .*Received: factor=\(0.1, 0.2, 0.3\)",
    ),
    (
        lambda: layers.RandomRotation("big"),
        r"factor must be .*Received: factor='big'",
    ),
    (
        lambda: layers.RandomTranslation(0.1, (-1.2, 0.0)),
        r"RandomTranslation '.*': width_factor must be .*Received: width_factor=\(-1.2, 0.0\)",
    ),
    (
        lambda: layers.RandomZoom(-1.0),
        r"RandomZoom '.*': height_factor must be a number or a pair of numbers in \(-1.0, 1.0\]\. Received: height_factor=-1.0",
    ),
    (
        lambda: layers.RandomZoom(0.1, 2.0),
        r"width_factor must be .*Received: width_factor=2.0",
    ),
    (
        lambda: layers.RandomContrast(-0.1),
        r"RandomContrast '.*': factor must be a number or a pair of numbers in \[0.0, 1.0\]\. Received: factor=-0.1",
    ),
    (
        lambda: layers.RandomContrast(0.1, value_range=(0, 1, 2)),
        r"value_range must be a pair of numbers \(low, high\)\. Received: value_range=\(0, 1, 2\)",
    ),
    (
        lambda: layers.RandomBrightness(1.1),
        r"RandomBrightness '.*': factor must be .*Received: factor=1.1",
    ),
    (
        lambda: layers.RandomBrightness(0.1, value_range=5),
        r"value_range must be a pair of numbers .*Received: value_range=5",
    ),
    (
        lambda: layers.RandomRotation(0.1, fill_mode="mirror"),
        r"RandomRotation '.*': fill_mode must be one of \['reflect', 'wrap', 'constant', 'nearest'\]\. Received: fill_mode='mirror'",
    ),
    (
        lambda: layers.RandomZoom(0.1, interpolation="bicubic"),
        r"interpolation must be one of \['nearest', 'bilinear'\]\. Received: interpolation='bicubic'",
    ),
    (
        lambda: layers.RandomTranslation(0.1, 0.1, fill_value=float("nan")),
        r"fill_value must be a finite number\. Received: fill_value=nan",
    ),
    (
        lambda: layers.RandomRotation(0.1, data_format="channels_first"),
        r"RandomRotation '.*': only data_format='channels_last' is supported\. Received: data_format='channels_first'",
    ),
    (
        lambda: layers.RandomCrop(2, 2, data_format="channels_first"),
        r"only data_format='channels_last' is supported",
    ),
    (
        lambda: layers.RandomContrast(0.1, data_format="channels_first"),
        r"only data_format='channels_last' is supported",
    ),
    (
        lambda: layers.RandomCrop(0, 2),
        r"RandomCrop '.*': height must be a positive integer\. Received: height=0",
    ),
]


@pytest.mark.parametrize("make, pattern", BAD_ARGUMENTS)
def test_bad_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_seeds():
    for make in (lambda: layers.RandomRotation(0.1, seed="a"), lambda: layers.RandomCrop(2, 2, seed=1.5),
                 lambda: layers.RandomBrightness(0.1, seed=True)):
        with pytest.raises(TypeError, match=r"seed must be an integer or None\. Received: seed="):
            make()


@pytest.mark.parametrize("make", ALL)
def test_wrong_rank_and_bad_transformations(make):
    layer = make()
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"{name} '.*': expected images of shape \(N, H, W, C\)\. Received: shape=\(5, 6, 2\)"):
        layer(np.ones((5, 6, 2), np.float32), training=True)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, H, W, C\)"):
        layer(np.ones((2, 5, 6, 2, 1), np.float32))


def test_transformations_that_do_not_fit_are_refused():
    x = np.ones((2, 5, 6, 1), np.float32)
    with pytest.raises(ValueError, match=r"RandomCrop '.*': the crop corner must lie in \[0, 2\] x \[0, 2\]\. Received: transformation=\(3, 0\)"):
        layers.RandomCrop(3, 4).transform_images(x, (3, 0))
    with pytest.raises(ValueError, match=r"transformation\['translations'\] must have shape \(2, 2\)\. Received: shape=\(3, 2\)"):
        layers.RandomTranslation(0.1, 0.1).transform_images(x, {"translations": np.zeros((3, 2), np.float32)})
    with pytest.raises(ValueError, match=r"transformation\['contrast_factor'\] must hold one value per image \(2\)\. Received: 3 values"):
        layers.RandomContrast(0.1).transform_images(x, {"contrast_factor": np.ones(3, np.float32)})


# -- Keras's Convolution* aliases -----------------------------------------------------------------

CONV_ALIASES = {
    "Convolution1D": "Conv1D",
    "Convolution2D": "Conv2D",
    "Convolution3D": "Conv3D",
    "Convolution1DTranspose": "Conv1DTranspose",
    "Convolution2DTranspose": "Conv2DTranspose",
    "Convolution3DTranspose": "Conv3DTranspose",
    "SeparableConvolution1D": "SeparableConv1D",
    "SeparableConvolution2D": "SeparableConv2D",
}


@pytest.mark.parametrize("alias", sorted(CONV_ALIASES))
def test_convolution_aliases(alias):
    cls = getattr(layers, CONV_ALIASES[alias])
    assert getattr(layers, alias) is cls
    assert alias in layers.__all__
    config = cls(3, 2, name=f"{alias.lower()}_layer").get_config()
    for class_name in (alias, CONV_ALIASES[alias]):
        layer = deserialize_layer({"class_name": class_name, "config": dict(config)})
        assert type(layer) is cls and layer.get_config() == config
    keras = pytest.importorskip("keras")
    assert getattr(keras.layers, alias) is getattr(keras.layers, CONV_ALIASES[alias])
