"""ZeroPadding, Cropping, UpSampling and SpatialDropout layers: references, finite-difference
gradients, Keras 3, configs and errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import check_layer_against_reference

import pynncore
from pynncore import layers
from pynncore.models import Sequential


def ref_pad(x, pads):
    return np.pad(np.asarray(x, np.float64), ((0, 0),) + tuple(pads) + ((0, 0),))


def ref_crop(x, crops):
    idx = (slice(None),) + tuple(slice(a, d - b) for (a, b), d in zip(crops, x.shape[1:-1]))
    return np.asarray(x, np.float64)[idx]


def ref_upsample(x, size):
    out = np.asarray(x, np.float64)
    for axis, s in enumerate(size, start=1):
        idx = np.arange(out.shape[axis] * s) // s  # output position i reads input i // s
        out = np.take(out, idx, axis=axis)
    return out


def ref_bilinear(x, size):
    """Half-pixel bilinear resize, written per output pixel from the formula."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    out = np.zeros((n, h * size[0], w * size[1], c))

    def taps(o, s, n_in):
        src = max((o + 0.5) / s - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        return i0, min(i0 + 1, n_in - 1), src - i0

    for i in range(h * size[0]):
        a0, a1, wa = taps(i, size[0], h)
        for j in range(w * size[1]):
            b0, b1, wb = taps(j, size[1], w)
            out[:, i, j] = ((1 - wa) * ((1 - wb) * x[:, a0, b0] + wb * x[:, a0, b1])
                            + wa * ((1 - wb) * x[:, a1, b0] + wb * x[:, a1, b1]))
    return out


CASES = [
    (layers.ZeroPadding1D, {"padding": 2}, (2, 5, 3), lambda x: ref_pad(x, [(2, 2)])),
    (layers.ZeroPadding1D, {"padding": (0, 3)}, (1, 4, 2), lambda x: ref_pad(x, [(0, 3)])),
    (layers.ZeroPadding2D, {"padding": 1}, (2, 3, 4, 3), lambda x: ref_pad(x, [(1, 1), (1, 1)])),
    (layers.ZeroPadding2D, {"padding": (2, 0)}, (1, 3, 3, 2), lambda x: ref_pad(x, [(2, 2), (0, 0)])),
    (layers.ZeroPadding2D, {"padding": ((1, 0), (2, 3))}, (2, 3, 2, 5), lambda x: ref_pad(x, [(1, 0), (2, 3)])),
    (layers.Cropping1D, {}, (2, 5, 3), lambda x: ref_crop(x, [(1, 1)])),
    (layers.Cropping1D, {"cropping": (0, 2)}, (2, 5, 3), lambda x: ref_crop(x, [(0, 2)])),
    (layers.Cropping2D, {"cropping": 1}, (2, 4, 5, 3), lambda x: ref_crop(x, [(1, 1), (1, 1)])),
    (layers.Cropping2D, {"cropping": ((2, 0), (1, 3))}, (1, 5, 7, 2), lambda x: ref_crop(x, [(2, 0), (1, 3)])),
    (layers.UpSampling1D, {"size": 3}, (2, 4, 3), lambda x: ref_upsample(x, (3,))),
    (layers.UpSampling2D, {}, (2, 3, 2, 3), lambda x: ref_upsample(x, (2, 2))),
    (layers.UpSampling2D, {"size": (1, 3)}, (1, 3, 3, 5), lambda x: ref_upsample(x, (1, 3))),
    (layers.UpSampling2D, {"size": (2, 3), "interpolation": "bilinear"}, (2, 3, 4, 3), lambda x: ref_bilinear(x, (2, 3))),
    (layers.UpSampling2D, {"size": 3, "interpolation": "bilinear"}, (1, 1, 2, 2), lambda x: ref_bilinear(x, (3, 3))),
]
IDS = [f"{c.__name__}-{k}" for c, k, *_ in CASES]


@pytest.mark.parametrize("cls, kwargs, shape, ref", CASES, ids=IDS)
def test_forward_backward_and_shapes(cls, kwargs, shape, ref, rng):
    check_layer_against_reference(cls(**kwargs), rng.standard_normal(shape).astype(np.float32), ref, rng)


@pytest.mark.parametrize("cls, kwargs, shape, ref", CASES, ids=IDS)
def test_get_config_round_trip(cls, kwargs, shape, ref, rng):
    layer = cls(**kwargs)
    clone = cls.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(clone(x), layer(x))


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"ZeroPadding2D 'zp': padding must be non-negative. Received: padding=-1"):
        layers.ZeroPadding2D(-1, name="zp")
    with pytest.raises(ValueError, match=r"ZeroPadding1D '.*': padding must be a non-negative int"):
        layers.ZeroPadding1D((1, 2, 3))
    with pytest.raises(ValueError, match=r"ZeroPadding2D '.*': padding must be"):
        layers.ZeroPadding2D(((1, 2), (1,)))
    with pytest.raises(ValueError, match=r"Cropping2D 'c': cropping must be non-negative"):
        layers.Cropping2D(((0, -1), (0, 0)), name="c")
    with pytest.raises(ValueError, match=r"Cropping1D 'c1': cropping .* removes all of an axis.*Received: shape=\((None|2), 3, 4\)"):
        layers.Cropping1D((2, 1), name="c1")(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="removes all of an axis"):
        Sequential([pynncore.Input((4, 4, 1)), layers.Cropping2D(((0, 0), (2, 2)))])
    with pytest.raises(ValueError, match=r"UpSampling2D 'u': size must be positive"):
        layers.UpSampling2D((2, 0), name="u")
    with pytest.raises(ValueError, match=r"UpSampling1D '.*': size must be a positive int"):
        layers.UpSampling1D((2, 2))
    with pytest.raises(ValueError, match="interpolation must be 'nearest' or 'bilinear'"):
        layers.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match=r"expected a 4-D input \(batch, height, width, channels\). Received: shape=\((None|2), 3, 4\)"):
        layers.ZeroPadding2D()(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"expected a 3-D input"):
        layers.UpSampling1D()(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="channels_last"):
        layers.Cropping2D(data_format="channels_first")


# --- spatial dropout ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls, shape", [(layers.SpatialDropout1D, (64, 9, 16)), (layers.SpatialDropout2D, (32, 4, 5, 16))])
def test_spatial_dropout_drops_whole_channels(cls, shape, rng):
    layer = cls(0.4, seed=3)
    x = rng.random(shape).astype(np.float32) + 1
    np.testing.assert_array_equal(layer(x), x)  # identity at inference
    y, ctx = layer.forward(x, training=True)
    kept = y != 0
    flat = kept.reshape(shape[0], -1, shape[-1])
    assert (flat.all(axis=1) | ~flat.any(axis=1)).all()  # each (sample, channel) all or nothing
    np.testing.assert_allclose(y[kept], x[kept] / 0.6, rtol=1e-6)
    assert 0.25 < 1 - flat[:, 0].mean() < 0.55
    dy = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(ctx, dy), dy * (kept / np.float32(0.6)), rtol=1e-6)
    with pytest.raises(ValueError, match=rf"{cls.__name__} '.*': expected a {len(shape)}-D input"):
        layer.forward(np.zeros((2, 3)), training=True)
    with pytest.raises(ValueError, match="rate must be a float in"):
        cls(1.5)
    clone = cls.from_config(layer.get_config())
    assert clone.rate == 0.4 and clone.seed == 3 and "noise_shape" not in layer.get_config()


def test_model_with_spatial_layers_trains_saves_and_loads(tmp_path, rng):
    x = rng.standard_normal((16, 6, 6, 2)).astype(np.float32)
    y = rng.standard_normal((16, 3)).astype(np.float32)
    model = Sequential([
        pynncore.Input((6, 6, 2)),
        layers.ZeroPadding2D(((1, 0), (0, 1))),
        layers.Cropping2D(((0, 1), (1, 0))),
        layers.UpSampling2D((2, 1)),
        layers.SpatialDropout2D(0.2, seed=1),
        layers.Reshape((12, 12)),
        layers.ZeroPadding1D(1),
        layers.Cropping1D((1, 2)),
        layers.UpSampling1D(2),
        layers.SpatialDropout1D(0.1),
        layers.Flatten(),
        layers.Dense(3),
    ])
    model.compile("adam", "mse")
    h = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    path = str(tmp_path / "spatial.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# --- Keras 3 -----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("cls, kwargs, shape, ref", CASES, ids=IDS)
def test_matches_keras(cls, kwargs, shape, ref, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = rng.standard_normal(shape).astype(np.float32)
    klayer = getattr(keras.layers, cls.__name__)(**kwargs)
    want = keras.ops.convert_to_numpy(klayer(x))
    np.testing.assert_allclose(cls(**kwargs)(x), want, rtol=1e-6, atol=1e-6)
