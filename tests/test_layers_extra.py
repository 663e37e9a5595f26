"""Advanced activation layers (ReLU, LeakyReLU, ELU, PReLU, Softmax), RepeatVector, Permute and
Identity: float64 references, finite-difference gradients, Keras 3, configs, saving, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, check_layer_against_reference, numeric_grad

import pynncore
from pynncore import layers
from pynncore.models import Sequential


def ref_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    x = np.asarray(x, np.float64)
    y = np.where(x >= threshold, x, negative_slope * (x - threshold))
    return y if max_value is None else np.where(x >= max_value, max_value, y)


def ref_leaky(x, s):
    x = np.asarray(x, np.float64)
    return np.where(x >= 0, x, s * x)


def ref_elu(x, a):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


def ref_softmax(x, axis):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_permute(x, dims):
    return np.transpose(np.asarray(x, np.float64), (0,) + tuple(dims))


CASES = [
    (layers.ReLU, {}, (3, 7), lambda x: ref_relu(x)),
    (layers.ReLU, {"max_value": 0.6, "negative_slope": 0.2, "threshold": 0.3}, (2, 3, 5), lambda x: ref_relu(x, 0.6, 0.2, 0.3)),
    (layers.LeakyReLU, {}, (3, 7), lambda x: ref_leaky(x, 0.3)),
    (layers.LeakyReLU, {"negative_slope": 0.05}, (2, 3, 5), lambda x: ref_leaky(x, 0.05)),
    (layers.ELU, {}, (3, 7), lambda x: ref_elu(x, 1.0)),
    (layers.ELU, {"alpha": 0.4}, (2, 3, 5), lambda x: ref_elu(x, 0.4)),
    (layers.Softmax, {}, (3, 7), lambda x: ref_softmax(x, -1)),
    (layers.Softmax, {"axis": 1}, (2, 3, 5), lambda x: ref_softmax(x, 1)),
    (layers.Softmax, {"axis": [1, 2]}, (2, 3, 5), lambda x: ref_softmax(x, (1, 2))),
    (layers.RepeatVector, {"n": 3}, (2, 5), lambda x: np.repeat(np.asarray(x, np.float64)[:, None], 3, axis=1)),
    (layers.Permute, {"dims": (2, 1)}, (2, 3, 5), lambda x: ref_permute(x, (2, 1))),
    (layers.Permute, {"dims": (3, 1, 2)}, (2, 3, 4, 5), lambda x: ref_permute(x, (3, 1, 2))),
    (layers.Identity, {}, (2, 3, 5), lambda x: np.asarray(x, np.float64)),
]
IDS = [f"{c.__name__}-{k}" for c, k, *_ in CASES]


def _input(rng, shape):
    x = rng.standard_normal(shape)
    # keep finite differences away from the kinks at 0, 0.3 and 0.6
    x[np.abs(x) < 1e-3] += 0.01
    for k in (0.3, 0.6):
        x[np.abs(x - k) < 1e-3] += 0.01
    return x.astype(np.float32)


@pytest.mark.parametrize("cls, kwargs, shape, ref", CASES, ids=IDS)
def test_forward_backward_and_shapes(cls, kwargs, shape, ref, rng):
    check_layer_against_reference(cls(**kwargs), _input(rng, shape), ref, rng, rtol=1e-5)


@pytest.mark.parametrize("cls, kwargs, shape, ref", CASES, ids=IDS)
def test_get_config_round_trip(cls, kwargs, shape, ref, rng):
    layer = cls(**kwargs)
    clone = cls.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(clone(x), layer(x))


def test_leaky_relu_accepts_alpha():
    assert layers.LeakyReLU(alpha=0.1).negative_slope == pytest.approx(0.1)


@pytest.mark.parametrize("shared_axes", [None, [1], [1, 2]])
def test_prelu_forward_and_gradients(shared_axes, rng):
    layer = layers.PReLU(alpha_initializer="random_uniform", shared_axes=shared_axes)
    x = _input(rng, (3, 4, 5))
    layer(x)
    a = rng.standard_normal(layer.alpha.shape).astype(np.float32)
    layer.set_weights([a])

    def ref(v, av):
        v = np.asarray(v, np.float64)
        return np.maximum(v, 0) + av * np.minimum(v, 0)

    y, ctx = layer.forward(x, training=True)
    np.testing.assert_allclose(y, ref(x, a.astype(np.float64)), rtol=1e-6, atol=1e-6)
    r = rng.standard_normal(y.shape)
    layer.alpha.grad[...] = 1.0  # gradients accumulate
    dx = layer.backward(ctx, r.astype(np.float32))
    assert_grad_close(dx, numeric_grad(lambda v: float((ref(v, a) * r).sum()), x.astype(np.float64)), what="dx")
    da = numeric_grad(lambda av: float((ref(x, av) * r).sum()), a.astype(np.float64))
    assert_grad_close(layer.alpha.grad - 1.0, da, what="dalpha")


def test_softmax_mask_matches_keras_semantics(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    mask = rng.random((2, 3, 4)) > 0.3
    mask[0, 0] = False  # a fully masked row gives zeros
    y, ctx = layers.Softmax().forward(x, training=True, mask=mask)
    want = np.where(mask, np.exp(x), 0.0)
    with np.errstate(invalid="ignore"):
        want = np.nan_to_num(want / want.sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-7)
    dx = layers.Softmax().backward(ctx, rng.standard_normal(x.shape).astype(np.float32))
    assert np.all(dx[~mask] == 0)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"RepeatVector 'rv': n must be an integer >= 1. Received: n=0"):
        layers.RepeatVector(0, name="rv")
    with pytest.raises(ValueError, match=r"RepeatVector 'rv2': expected an input of rank 2"):
        layers.RepeatVector(2, name="rv2")(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"Permute 'p': dims must be a permutation of 1..2 .* Received: dims=\(0, 1\)"):
        layers.Permute((0, 1), name="p")
    with pytest.raises(ValueError, match=r"Permute 'p2': expected an input of rank 3 .* Received: shape=\(None, 3\)"):
        layers.Permute((2, 1), name="p2")(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"ReLU 'r': negative_slope must be a finite number >= 0.0. Received: negative_slope=-1"):
        layers.ReLU(negative_slope=-1, name="r")
    with pytest.raises(ValueError, match=r"ReLU 'r2': max_value must be"):
        layers.ReLU(max_value=-0.5, name="r2")
    with pytest.raises(ValueError, match=r"ReLU 'r3': threshold must be a finite number >= 0.0. Received: threshold=-0.1"):
        layers.ReLU(threshold=-0.1, name="r3")
    with pytest.raises(ValueError, match=r"LeakyReLU 'l': negative_slope must be"):
        layers.LeakyReLU(negative_slope="x", name="l")
    with pytest.raises(ValueError, match=r"ELU 'e': alpha must be a finite number"):
        layers.ELU(alpha=float("nan"), name="e")
    with pytest.raises(ValueError, match=r"PReLU 'pr': shared_axes must be positive"):
        layers.PReLU(shared_axes=[0], name="pr")
    with pytest.raises(ValueError, match=r"PReLU 'pr2': shared axis 3 is out of range"):
        layers.PReLU(shared_axes=[3], name="pr2")(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Softmax 's': axis must be an int or a list of ints"):
        layers.Softmax(axis="x", name="s")
    with pytest.raises(ValueError, match=r"Softmax 's2': axis 3 is out of range"):
        layers.Softmax(axis=3, name="s2")(np.ones((2, 3)))


def _model(rng):
    m = Sequential([
        pynncore.Input((4, 3)),
        layers.Permute((2, 1)),
        layers.Flatten(),
        layers.Dense(5),
        layers.PReLU(alpha_initializer="random_uniform"),
        layers.LeakyReLU(0.2),
        layers.RepeatVector(2),
        layers.ELU(0.5),
        layers.ReLU(max_value=3.0, negative_slope=0.1),
        layers.Identity(),
        layers.Flatten(),
        layers.Dense(3),
        layers.Softmax(),
    ])
    return m


def test_model_trains_saves_and_loads(tmp_path, rng):
    m = _model(rng)
    m.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = rng.standard_normal((8, 4, 3)).astype(np.float32)
    t = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    for _ in range(3):
        m.train_on_batch(x, t)
    path = tmp_path / "m.pnc"
    m.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), m.predict(x, verbose=0))


# --- Keras 3 -----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("cls, kwargs, shape, ref", CASES, ids=IDS)
def test_matches_keras(cls, kwargs, shape, ref, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = rng.standard_normal(shape).astype(np.float32)
    klayer = getattr(keras.layers, cls.__name__)(**kwargs)
    want = keras.ops.convert_to_numpy(klayer(x))
    np.testing.assert_allclose(cls(**kwargs)(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_model_matches_keras_after_training(rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    kl = keras.layers
    km = keras.Sequential([
        keras.Input((4, 3)), kl.Permute((2, 1)), kl.Flatten(), kl.Dense(5),
        kl.PReLU(alpha_initializer="random_uniform"), kl.LeakyReLU(0.2), kl.RepeatVector(2), kl.ELU(0.5),
        kl.ReLU(max_value=3.0, negative_slope=0.1), kl.Identity(), kl.Flatten(), kl.Dense(3), kl.Softmax(),
    ])
    m = _model(rng)
    m.set_weights(km.get_weights())
    x = rng.standard_normal((8, 4, 3)).astype(np.float32)
    t = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    np.testing.assert_allclose(m.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    m.compile(optimizer=pynncore.optimizers.SGD(0.1), loss="categorical_crossentropy")
    for _ in range(3):
        km.train_on_batch(x, t)
        m.train_on_batch(x, t)
    for a, b in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
