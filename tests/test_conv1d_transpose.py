"""Conv1DTranspose: a float64 numpy reference (scatter form), finite-difference gradients of
the input, kernel and bias, Keras 3 parity (outputs, shapes, training steps), config round
trip and bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import layers as L

from _gradcheck import assert_grad_close, check_layer_against_reference, numeric_grad
from test_conv import _transpose_geom

ACTS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


def ref_conv1d_transpose(x, kernel, bias, strides, padding, dilation, output_padding, activation="linear"):
    """Each input step i scatters ``x[:, i] @ kernel[j].T`` to output step ``i*s + j*d - pad``."""
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    n, length, _ = x.shape
    k, filters, _ = kernel.shape
    out_len, pad = _transpose_geom(length, k, strides, dilation, padding, output_padding)
    y = np.zeros((n, out_len, filters))
    for i in range(length):
        for j in range(k):
            o = i * strides + j * dilation - pad
            if 0 <= o < out_len:
                y[:, o] += x[:, i] @ kernel[j].T
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return ACTS[activation](y)


def _ref_of(layer, x, kernel=None, bias=None):
    op = None if layer.output_padding is None else layer.output_padding[0]
    kernel = layer.kernel.value if kernel is None else kernel
    if bias is None and layer.use_bias:
        bias = layer.bias.value
    return ref_conv1d_transpose(x, kernel, bias, layer.strides[0], layer.padding, layer.dilation_rate[0], op,
                                layer.activation.name)


CASES = [
    dict(filters=4, kernel_size=3, strides=2, padding="same"),
    dict(filters=3, kernel_size=3, strides=2, padding="valid", activation="tanh"),
    dict(filters=2, kernel_size=2, strides=3, padding="valid", output_padding=2),
    dict(filters=2, kernel_size=4, strides=3, padding="same", output_padding=1, activation="sigmoid"),
    dict(filters=3, kernel_size=3, strides=1, padding="same", dilation_rate=2, use_bias=False),
    dict(filters=5, kernel_size=1, strides=1, padding="valid", activation="relu"),
    dict(filters=2, kernel_size=5, strides=2, padding="same"),
]


def _id(kw):
    return "-".join(f"{k}={v}" for k, v in kw.items() if k != "filters")


@pytest.mark.parametrize("kw", CASES, ids=_id)
@pytest.mark.parametrize("length", [1, 4, 7])
def test_matches_reference_and_finite_differences(kw, length, rng):
    layer = L.Conv1DTranspose(**kw)
    x = rng.standard_normal((2, length, 3)).astype(np.float32)
    layer(x)
    layer.set_weights([(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in layer.weights])
    check_layer_against_reference(layer, x, lambda v: _ref_of(layer, v), rng, rtol=1e-5, atol=1e-5)
    # kernel and bias gradients
    for w in layer.weights:
        w.grad[...] = 0.0
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    layer.backward(ctx, r.astype(np.float32), need_dx=False)
    k0 = layer.kernel.value.astype(np.float64)
    want_dk = numeric_grad(lambda k: float((_ref_of(layer, x, kernel=k) * r).sum()), k0)
    assert_grad_close(layer.kernel.grad, want_dk, what="dkernel")
    if layer.use_bias:
        want_db = numeric_grad(lambda b: float((_ref_of(layer, x, bias=b) * r).sum()), layer.bias.value)
        assert_grad_close(layer.bias.grad, want_db, what="dbias")


def test_zero_batch_and_unit_height_view(rng):
    layer = L.Conv1DTranspose(3, 3, strides=2, padding="same")
    assert layer(np.zeros((0, 5, 2), np.float32)).shape == (0, 10, 3)
    x = rng.standard_normal((2, 5, 2)).astype(np.float32)
    two_d = L.Conv2DTranspose(3, (1, 3), strides=(1, 2), padding="same")
    two_d(x[:, None])
    two_d.set_weights([layer.kernel.value[None], layer.bias.value])
    np.testing.assert_array_equal(layer(x), two_d(x[:, None])[:, 0])


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("kw", CASES, ids=_id)
def test_matches_keras(kw, rng):
    keras = _keras()
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    y = rng.standard_normal((4, 1)).astype(np.float32)
    km = keras.Sequential([keras.Input((6, 3)), keras.layers.Conv1DTranspose(**kw), keras.layers.Flatten(),
                           keras.layers.Dense(1)])
    pm = pynncore.Sequential([pynncore.Input((6, 3)), L.Conv1DTranspose(**kw), L.Flatten(), L.Dense(1)])
    kl, pl = km.layers[0], pm.layers[0]
    assert [tuple(w.shape) for w in kl.weights] == [w.shape for w in pl.weights]
    assert tuple(kl.compute_output_shape((None, 6, 3))) == pl.compute_output_shape((None, 6, 3))
    pm.set_weights([np.asarray(w) for w in km.get_weights()])
    np.testing.assert_allclose(pl(x), keras.ops.convert_to_numpy(kl(x)), rtol=1e-5, atol=1e-5)
    km.compile(keras.optimizers.Adam(0.01), "mse")
    pm.compile(pynncore.optimizers.Adam(0.01), "mse")
    for _ in range(3):
        assert float(pm.train_on_batch(x, y)) == pytest.approx(float(km.train_on_batch(x, y)), rel=1e-4, abs=1e-6)
    for wk, wp in zip(km.get_weights(), pm.get_weights()):
        np.testing.assert_allclose(wp, np.asarray(wk), rtol=1e-3, atol=2e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("length", [1, 2, 5, 8])
@pytest.mark.parametrize("kw", CASES, ids=_id)
def test_output_shapes_match_keras(kw, length):
    keras = _keras()
    k_shape = keras.layers.Conv1DTranspose(**kw).compute_output_shape((None, length, 3))
    layer = L.Conv1DTranspose(**kw)
    assert layer.compute_output_shape((None, length, 3)) == tuple(k_shape)
    assert layer(pynncore.Input((length, 3))).shape == tuple(k_shape)


def test_config_round_trip_and_defaults():
    layer = L.Conv1DTranspose(4, 3)
    assert (layer.strides, layer.padding, layer.output_padding, layer.dilation_rate) == ((1,), "valid", None, (1,))
    assert layer.data_format == "channels_last" and layer.use_bias and layer.activation.name == "linear"
    layer = L.Conv1DTranspose(4, 5, strides=3, padding="same", output_padding=2, dilation_rate=1,
                              activation="relu", use_bias=False, kernel_initializer="he_normal",
                              kernel_regularizer="l2", bias_constraint="non_neg", name="up")
    config = layer.get_config()
    again = L.Conv1DTranspose.from_config(config)
    assert again.get_config() == config
    assert again.output_padding == (2,) and again.kernel_size == (5,) and again.strides == (3,)


def test_kernel_has_keras_layout(rng):
    layer = L.Conv1DTranspose(5, 4)
    layer(np.zeros((1, 3, 2), np.float32))
    assert layer.kernel.shape == (4, 5, 2) and layer.bias.shape == (5,)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: L.Conv1DTranspose(0, 3), "filters must be a positive integer"),
        (lambda: L.Conv1DTranspose(2, 0), "kernel_size"),
        (lambda: L.Conv1DTranspose(2, (3, 3)), "kernel_size"),
        (lambda: L.Conv1DTranspose(2, 3, strides=0), "strides"),
        (lambda: L.Conv1DTranspose(2, 3, padding="causal"), "padding must be one of 'valid', 'same'"),
        (lambda: L.Conv1DTranspose(2, 3, strides=2, output_padding=2), "output_padding must be smaller than strides"),
        (lambda: L.Conv1DTranspose(2, 3, output_padding=-1), "output_padding"),
        (lambda: L.Conv1DTranspose(2, 3, data_format="channels_first"), "channels_last"),
        (lambda: L.Conv1DTranspose(2, 3, dilation_rate=0), "dilation_rate"),
    ],
)
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_raise(rng):
    with pytest.raises(TypeError, match="groups"):
        L.Conv1DTranspose(4, 3, groups=2)
    layer = L.Conv1DTranspose(4, 3, name="up1")
    with pytest.raises(ValueError, match=r"Conv1DTranspose 'up1': expected input of rank 3 \(N, L, C\)"):
        layer(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="rank 3"):
        layer(pynncore.Input((4, 5, 2)))
    layer(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="expected input with 3 channels"):
        layer(np.zeros((2, 5, 2), np.float32))
    with pytest.raises(TypeError, match="numeric"):
        layer(np.array([[["a"]]]))
