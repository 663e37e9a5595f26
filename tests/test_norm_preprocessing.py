"""LayerNormalization, Rescaling, Normalization (adapt) and GaussianNoise."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad

import pynncore
from pynncore import layers


def _ref_layernorm(x, gamma, beta, axes, eps):
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


@pytest.mark.parametrize("shape, axis", [((4, 7), -1), ((3, 5, 6), -1), ((3, 5, 6), [1, 2]), ((2, 4, 3, 5), [1, 3])],
                         ids=str)
def test_layer_normalization_matches_reference_and_finite_differences(shape, axis, rng):
    layer = layers.LayerNormalization(axis=axis, gamma_initializer="random_normal", beta_initializer="random_normal")
    x = rng.standard_normal(shape).astype(np.float32) * 3 + 1
    layer(x)
    axes = tuple(sorted(a % len(shape) for a in ([axis] if isinstance(axis, int) else axis)))
    g, b = layer.gamma.value.astype(np.float64), layer.beta.value.astype(np.float64)
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_allclose(y, _ref_layernorm(x, g, b, axes, 1e-3), rtol=1e-5, atol=1e-5)
    w = rng.standard_normal(shape)
    for v in layer.weights:
        v.grad[...] = 0
    dx = layer.backward(ctx, w.astype(np.float32))

    def loss(xx, gg=g, bb=b):
        return float((_ref_layernorm(xx, gg, bb, axes, 1e-3) * w).sum())

    x64 = x.astype(np.float64)
    assert_grad_close(dx, numeric_grad(loss, x64), what="dx")
    assert_grad_close(layer.gamma.grad, numeric_grad(lambda gg: loss(x64, gg, b), g.copy()), what="dgamma")
    assert_grad_close(layer.beta.grad, numeric_grad(lambda bb: loss(x64, g, bb), b.copy()), what="dbeta")


def test_rescaling_gaussian_noise_and_normalization(rng):
    x = rng.random((6, 4)).astype(np.float32) * 255
    r = layers.Rescaling(1 / 255, offset=-0.5)
    np.testing.assert_allclose(r(x), x.astype(np.float64) / 255 - 0.5, rtol=1e-6, atol=1e-6)
    y, ctx = r.forward(x, training=True)
    np.testing.assert_allclose(r.backward(ctx, np.ones_like(x)), np.full(x.shape, 1 / 255), rtol=1e-6)
    noise = layers.GaussianNoise(0.5, seed=3)
    np.testing.assert_array_equal(noise(x), x)  # inference: identity
    big = np.zeros((200, 200), np.float32)
    noisy, _ = noise.forward(big, training=True)
    assert abs(float(noisy.std()) - 0.5) < 0.01 and abs(float(noisy.mean())) < 0.01
    norm = layers.Normalization()
    data = rng.standard_normal((500, 3)) * [1.0, 5.0, 0.1] + [2.0, -1.0, 0.0]
    norm.adapt(data)
    out = norm(data.astype(np.float32))
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-4)
    inv = layers.Normalization(mean=norm.adapt_mean.value, variance=norm.adapt_variance.value, invert=True)
    np.testing.assert_allclose(inv(out), data, rtol=1e-4, atol=1e-4)
    # adapt over batches equals adapt over the whole array; axis=None gives one scalar pair
    batched = layers.Normalization()
    batched.adapt([data[:200], data[200:]])
    np.testing.assert_allclose(batched.adapt_mean.value, norm.adapt_mean.value, rtol=1e-6)
    scalar = layers.Normalization(axis=None)
    scalar.adapt(data)
    assert scalar.adapt_mean.shape == () and np.isclose(scalar.adapt_mean.value, data.mean())


def test_bad_arguments():
    with pytest.raises(ValueError, match="LayerNormalization '.*': epsilon must be a number > 0"):
        layers.LayerNormalization(epsilon=0)
    with pytest.raises(ValueError, match="axis must name non-batch axes of an input of rank 2. Received: axis=0"):
        layers.LayerNormalization(axis=0)(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="Rescaling '.*': scale must be a finite number"):
        layers.Rescaling("x")
    with pytest.raises(ValueError, match="GaussianNoise '.*': stddev must be a finite number >= 0. Received: stddev=-1"):
        layers.GaussianNoise(-1)
    with pytest.raises(ValueError, match="give both mean and variance, or neither"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="adapt data contains NaN"):
        layers.Normalization().adapt(np.array([[np.nan, 1.0]]))


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_agree_with_keras_in_a_trained_model(rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    data = (rng.standard_normal((40, 6)) * 3 + 1).astype(np.float32)
    y = rng.standard_normal((40, 2)).astype(np.float32)

    def build(L, inp):
        norm = L.Normalization()
        norm.adapt(data)
        return [inp((6,)), norm, L.Rescaling(0.5, offset=0.1), L.Dense(8), L.LayerNormalization(),
                L.Dense(2)]

    km = keras.Sequential(build(keras.layers, keras.Input))
    pm = pynncore.Sequential(build(layers, pynncore.Input))
    for kl, pl in zip(km.layers, pm.layers):
        if isinstance(pl, (layers.Dense, layers.LayerNormalization)):
            pl.set_weights([np.asarray(w) for w in kl.get_weights()])
    np.testing.assert_allclose(pm.predict(data, verbose=0), np.asarray(km.predict(data, verbose=0)), rtol=1e-4, atol=1e-4)
    km.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    pm.compile(optimizer=pynncore.optimizers.SGD(0.05), loss="mse")
    for _ in range(3):
        kl = km.train_on_batch(data, y)
        pl = pm.train_on_batch(data, y)
    assert pl == pytest.approx(float(kl), rel=1e-4)
    for kl_, pl_ in zip(km.layers, pm.layers):
        if isinstance(pl_, (layers.Dense, layers.LayerNormalization)):
            for a, b in zip(pl_.get_weights(), kl_.get_weights()):
                np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)
