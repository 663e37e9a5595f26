"""Layers against float64 numpy references: forward values and finite-difference gradients."""

from __future__ import annotations

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad

import pynncore
from pynncore import layers

ACTS_REF = {
    None: lambda z: z,
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "softmax": lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "swish": lambda z: z / (1.0 + np.exp(-z)),
    "gelu": lambda z: 0.5 * z * (1.0 + np.vectorize(__import__("math").erf)(z / np.sqrt(2.0))),
}


def _dense_ref(x, w, b, act):
    z = x.astype(np.float64) @ w.astype(np.float64)
    if b is not None:
        z = z + b
    return ACTS_REF[act](z)


@pytest.mark.parametrize("act", list(ACTS_REF), ids=str)
@pytest.mark.parametrize("shape", [(1, 3), (7, 5), (2, 4, 6)], ids=str)
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_forward_and_gradients(act, shape, use_bias, rng):
    units = 4
    layer = layers.Dense(units, activation=act, use_bias=use_bias)
    x = rng.standard_normal(shape).astype(np.float32)
    layer.build((None,) + shape[1:])
    if use_bias:
        layer.bias.value[...] = rng.standard_normal(units).astype(np.float32) * 0.5
    w = layer.kernel.value.copy()
    b = layer.bias.value.copy() if use_bias else None

    y = layer(x)
    np.testing.assert_allclose(y, _dense_ref(x, w, b, act), rtol=2e-5, atol=2e-6)

    r = rng.standard_normal(y.shape)
    y_t, ctx = layer.forward(x, training=True)
    np.testing.assert_allclose(y_t, y, rtol=1e-6, atol=1e-7)
    layer.kernel.grad[...] = 0
    if use_bias:
        layer.bias.grad[...] = 0
    dx = layer.backward(ctx, r.astype(np.float32))

    x64 = x.astype(np.float64)
    assert_grad_close(dx, numeric_grad(lambda v: float((_dense_ref(v, w, b, act) * r).sum()), x64), what="dx")
    assert_grad_close(layer.kernel.grad, numeric_grad(lambda v: float((_dense_ref(x64, v, b, act) * r).sum()), w.astype(np.float64)), what="dW")
    if use_bias:
        assert_grad_close(layer.bias.grad, numeric_grad(lambda v: float((_dense_ref(x64, w, v, act) * r).sum()), b.astype(np.float64)), what="db")


def test_dense_accepts_other_dtypes_and_layouts(rng):
    layer = layers.Dense(3)
    x = rng.standard_normal((6, 5))
    y64 = layer(x)  # float64 input
    y_f = layer(np.asfortranarray(x))
    y_ro = x.copy()
    y_ro.flags.writeable = False
    y_b = layer(np.broadcast_to(x[:1], (6, 5)))
    assert y64.dtype == np.float32
    np.testing.assert_array_equal(y64, y_f)
    np.testing.assert_array_equal(layer(y_ro), y64)
    np.testing.assert_allclose(y_b, np.repeat(layer(x[:1]), 6, axis=0), rtol=1e-6)


def test_dense_errors():
    with pytest.raises(ValueError, match="units must be a positive integer. Received: units=-2"):
        layers.Dense(-2)
    with pytest.raises(ValueError, match="units"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="Unknown activation 'relux'.*relu"):
        layers.Dense(2, activation="relux")
    d = layers.Dense(2, name="d1")
    d(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"Dense 'd1': expected input with 4 features.*\(3, 5\)"):
        d(np.ones((3, 5)))
    with pytest.raises(TypeError, match="dtype"):
        d(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(ValueError, match=r"weight 'kernel' expected shape \(4, 2\).*\(2, 4\)"):
        d.set_weights([np.ones((2, 4)), np.ones(2)])
    with pytest.raises(ValueError, match="expected 2 weight arrays"):
        d.set_weights([np.ones((4, 2))])


def test_dense_weights_in_keras_layout():
    d = layers.Dense(5)
    d.build((None, 3))
    k, b = d.get_weights()
    assert k.shape == (3, 5) and b.shape == (5,)
    d.set_weights([np.arange(15, dtype=np.float32).reshape(3, 5), np.ones(5)])
    np.testing.assert_array_equal(d(np.eye(3)), np.arange(15).reshape(3, 5) + 1)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softmax", "gelu"])
def test_activation_layer_gradient(act, rng):
    layer = layers.Activation(act)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_allclose(y, ACTS_REF[act](x.astype(np.float64)), rtol=2e-5, atol=2e-6)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(ctx, r.astype(np.float32))
    assert_grad_close(dx, numeric_grad(lambda v: float((ACTS_REF[act](v) * r).sum()), x.astype(np.float64)))


def test_dropout_training_and_inference(rng):
    layer = layers.Dropout(0.25, seed=3)
    x = np.ones((400, 50), np.float32)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    y, mask = layer.forward(x, training=True)
    kept = y != 0
    assert 0.70 < kept.mean() < 0.80
    np.testing.assert_allclose(y[kept], 1.0 / 0.75, rtol=1e-6)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(mask, dy), dy * y, rtol=1e-6)
    a = layers.Dropout(0.5, seed=11).forward(x, training=True)[0]
    b = layers.Dropout(0.5, seed=11).forward(x, training=True)[0]
    np.testing.assert_array_equal(a, b)  # same seed, same mask


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", None])
def test_dropout_rate_errors(rate):
    with pytest.raises(ValueError, match=r"rate must be a float in \[0, 1\)"):
        layers.Dropout(rate)


def test_flatten_and_reshape(rng):
    x = rng.standard_normal((4, 2, 3, 5)).astype(np.float32)
    f = layers.Flatten()
    y, ctx = f.forward(x, training=True)
    assert y.shape == (4, 30)
    np.testing.assert_array_equal(f.backward(ctx, y), x)
    r = layers.Reshape((5, -1))
    y, ctx = r.forward(x, training=True)
    assert y.shape == (4, 5, 6)
    np.testing.assert_array_equal(r.backward(ctx, y), x)
    assert r.compute_output_shape((None, 2, 3, 5)) == (None, 5, 6)
    with pytest.raises(ValueError, match="cannot reshape"):
        layers.Reshape((7, -1)).forward(x)
    with pytest.raises(ValueError, match="at most one -1"):
        layers.Reshape((-1, -1))


def _bn_ref(x, gamma, beta, eps):
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def test_batchnorm_training_gradients_and_moving_stats(rng):
    layer = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = (rng.standard_normal((16, 3)) * 2 + 1).astype(np.float32)
    layer.build((None, 3))
    layer.gamma.value[...] = [1.5, 0.5, 2.0]
    layer.beta.value[...] = [0.1, -0.2, 0.3]
    g, b = layer.gamma.value.astype(np.float64), layer.beta.value.astype(np.float64)
    y, ctx = layer.forward(x, training=True)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, _bn_ref(x64, g, b, 1e-3), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.value, 0.1 * x64.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.value, 0.9 + 0.1 * x64.var(0), rtol=1e-5)
    r = rng.standard_normal(y.shape)
    layer.gamma.grad[...] = 0
    layer.beta.grad[...] = 0
    dx = layer.backward(ctx, r.astype(np.float32))
    assert_grad_close(dx, numeric_grad(lambda v: float((_bn_ref(v, g, b, 1e-3) * r).sum()), x64), what="dx")
    assert_grad_close(layer.gamma.grad, numeric_grad(lambda v: float((_bn_ref(x64, v, b, 1e-3) * r).sum()), g), what="dgamma")
    assert_grad_close(layer.beta.grad, numeric_grad(lambda v: float((_bn_ref(x64, g, v, 1e-3) * r).sum()), b), what="dbeta")
    # inference uses the moving statistics
    mm, mv = layer.moving_mean.value.astype(np.float64), layer.moving_variance.value.astype(np.float64)
    np.testing.assert_allclose(layer(x), g * (x64 - mm) / np.sqrt(mv + 1e-3) + b, rtol=1e-4, atol=1e-5)


def test_batchnorm_channel_axis_on_images(rng):
    layer = layers.BatchNormalization()
    x = rng.standard_normal((2, 4, 4, 3)).astype(np.float32)
    layer.build((None, 4, 4, 3))
    y, _ = layer.forward(x, training=True)
    flat = y.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(flat.mean(0), 0, atol=1e-5)
    assert [w.shape for w in layer.get_weights()] == [(3,)] * 4
    with pytest.raises(ValueError, match="expected 3 channels"):
        layer(np.ones((2, 4, 4, 5)))


class _ZeroMask(layers.Layer):
    """Marks timesteps whose features are all zero as padding."""

    def forward(self, x, training=False):
        return x, None

    def backward(self, ctx, dy, need_dx=True):
        return dy

    def compute_mask(self, x, mask=None):
        return np.any(x != 0, axis=-1)


class _MaskedMean(layers.Layer):
    """Mean over the unmasked timesteps; records the mask it was given."""

    consumes_mask = True

    def forward(self, x, training=False, mask=None):
        self.seen = mask
        w = np.ones(x.shape[:2], np.float32) if mask is None else mask.astype(np.float32)
        return (x * w[..., None]).sum(1) / np.maximum(w.sum(1, keepdims=True), 1), None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@pytest.mark.parametrize("functional", [False, True])
def test_mask_flows_through_masking_layers_to_consumer(functional):
    x = np.ones((2, 4, 3), np.float32)
    x[0, 2:] = 0
    stack = [_ZeroMask(), layers.Dense(3, kernel_initializer="identity", use_bias=False), _MaskedMean()]
    if functional:
        inp = pynncore.Input((4, 3))
        t = inp
        for layer in stack:
            t = layer(t)
        model = pynncore.Model(inp, t)
    else:
        model = pynncore.Sequential([pynncore.Input((4, 3))] + stack)
    y = model.predict(x, verbose=0)
    np.testing.assert_array_equal(stack[-1].seen, [[True, True, False, False], [True] * 4])
    np.testing.assert_allclose(y, np.ones((2, 3)), rtol=1e-6)


def test_mask_stops_at_layer_without_masking_support():
    x = np.zeros((1, 2, 3), np.float32)
    flat = layers.Flatten()
    assert flat.compute_mask(x, np.ones((1, 2), bool)) is None
    assert layers.Dense(2).compute_mask(x, np.ones((1, 2), bool)) is not None


@pytest.mark.parametrize(
    "cls, expected",
    [
        ("Dense", "dense"),
        ("MaxPooling2D", "max_pooling2d"),
        ("Conv2DTranspose", "conv2d_transpose"),
        ("GlobalAveragePooling1D", "global_average_pooling1d"),
        ("ZeroPadding2D", "zero_padding2d"),
        ("GRU", "gru"),
        ("BatchNormalization", "batch_normalization"),
    ],
)
def test_default_names_follow_keras(cls, expected):
    name = getattr(layers, cls).__mro__[0].__name__
    from pynncore.layers.base import _to_snake_case

    assert _to_snake_case(name) == expected
