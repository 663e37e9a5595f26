"""Conv3DTranspose (channels-last volumes) checked five ways: against a float64 scatter-form
reference, by finite differences of the input, kernel and bias gradients, against Keras 3
(outputs with shared weights, output shapes, weights after train_on_batch steps), by config
round trips and by its bad-input errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import check_kernel_bias_gradients, check_layer_against_reference
from _keras_train import train_side_by_side
from test_conv import _transpose_geom
from test_conv1d_transpose import ACTS

import pynncore
from pynncore import layers as L


def ref_conv3d_transpose(x, kernel, bias, strides, padding, dilation, output_padding, activation="linear"):
    """Each input voxel (i, j, l) scatters ``x[:, i, j, l] @ kernel[a, b, c].T`` to output voxel
    ``(i*sd + a*dd - pd, j*sh + b*dh - ph, l*sw + c*dw - pw)`` when it lies inside the output."""
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    n = x.shape[0]
    ks, filters = kernel.shape[:3], kernel.shape[3]
    ops = (None,) * 3 if output_padding is None else output_padding
    geo = [_transpose_geom(x.shape[1 + i], ks[i], strides[i], dilation[i], padding, ops[i]) for i in range(3)]
    outs = tuple(g[0] for g in geo)
    pads = tuple(g[1] for g in geo)
    y = np.zeros((n,) + outs + (filters,))
    for i, j, l in np.ndindex(*x.shape[1:4]):
        for a, b, c in np.ndindex(*ks):
            o = (i * strides[0] + a * dilation[0] - pads[0], j * strides[1] + b * dilation[1] - pads[1],
                 l * strides[2] + c * dilation[2] - pads[2])
            if all(0 <= o[t] < outs[t] for t in range(3)):
                y[:, o[0], o[1], o[2]] += x[:, i, j, l] @ kernel[a, b, c].T
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return ACTS[activation](y)


def _ref_of(layer):
    def ref(x, kernel, bias):
        return ref_conv3d_transpose(x, kernel, bias, layer.strides, layer.padding, layer.dilation_rate,
                                    layer.output_padding, layer.activation.name)

    return ref


CASES = [
    # (input shape, kwargs)
    ((2, 2, 3, 3, 3), dict(filters=4, kernel_size=3, strides=2, padding="same")),
    ((1, 3, 2, 4, 2), dict(filters=3, kernel_size=(3, 2, 2), strides=(2, 1, 3), padding="valid", activation="tanh")),
    ((2, 3, 3, 2, 2), dict(filters=2, kernel_size=2, strides=3, padding="valid", output_padding=(2, 1, 0))),
    ((1, 2, 3, 3, 2), dict(filters=2, kernel_size=(4, 3, 2), strides=(3, 2, 2), padding="same", output_padding=1,
                           activation="sigmoid")),
    ((1, 3, 4, 3, 2), dict(filters=3, kernel_size=(2, 3, 2), dilation_rate=(2, 1, 2), padding="same", use_bias=False)),
    ((2, 3, 3, 3, 3), dict(filters=2, kernel_size=(3, 2, 3), dilation_rate=(1, 2, 1), activation="relu")),
    ((1, 1, 3, 2, 2), dict(filters=2, kernel_size=(1, 3, 3), strides=(1, 2, 1))),
    ((1, 4, 1, 3, 1), dict(filters=3, kernel_size=(5, 1, 2), strides=(2, 3, 1), padding="same")),
]


def _id(case):
    shape, kw = case
    return "x".join(map(str, shape[1:4])) + "-" + "-".join(f"{k}={v}" for k, v in kw.items() if k != "filters")


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_matches_reference_and_finite_differences(case, rng):
    shape, kw = case
    layer = L.Conv3DTranspose(**kw)
    x = rng.standard_normal(shape).astype(np.float32)
    layer(x)
    layer.set_weights([(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in layer.weights])
    ref = _ref_of(layer)
    w = layer.kernel.value
    b = layer.bias.value if layer.use_bias else None
    check_layer_against_reference(layer, x, lambda v: ref(v, w, b), rng, rtol=1e-5, atol=1e-5)
    y = check_kernel_bias_gradients(layer, x, ref, rng)
    np.testing.assert_allclose(y, ref(x, w, b), rtol=1e-5, atol=1e-5)
    # Inference (fused bias and activation) gives the same values as training.
    np.testing.assert_allclose(layer(x), y, rtol=1e-6, atol=1e-6)


def test_zero_batch_and_unit_depth_matches_2d(rng):
    layer = L.Conv3DTranspose(3, (1, 3, 2), strides=(1, 2, 2), padding="same")
    assert layer(np.zeros((0, 2, 3, 4, 2), np.float32)).shape == (0, 2, 6, 8, 3)
    x = rng.standard_normal((2, 1, 3, 4, 2)).astype(np.float32)
    two_d = L.Conv2DTranspose(3, (3, 2), strides=2, padding="same")
    two_d(x[:, 0])
    layer.set_weights([(rng.standard_normal(layer.kernel.shape)).astype(np.float32), np.arange(3, dtype=np.float32)])
    two_d.set_weights([layer.kernel.value[0], layer.bias.value])
    np.testing.assert_allclose(layer(x)[:, 0], two_d(x[:, 0]), rtol=1e-6, atol=1e-6)


def test_non_contiguous_and_float64_input(rng):
    layer = L.Conv3DTranspose(2, 2, strides=2)
    x = rng.standard_normal((2, 3, 4, 3, 6))
    view = x[..., ::2]
    assert not view.flags.c_contiguous
    got = layer(view)
    want = ref_conv3d_transpose(view, layer.kernel.value, layer.bias.value, (2, 2, 2), "valid", (1, 1, 1), None)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


_keras_warning = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@_keras_warning
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_matches_keras(case, rng):
    keras = _keras()
    shape, kw = case
    x = rng.standard_normal(shape).astype(np.float32)
    kl = keras.layers.Conv3DTranspose(**kw, bias_initializer="random_normal")
    pl = L.Conv3DTranspose(**kw)
    want = keras.ops.convert_to_numpy(kl(x))
    pl(x)
    assert [tuple(w.shape) for w in kl.weights] == [w.shape for w in pl.weights]
    assert tuple(kl.compute_output_shape((None,) + shape[1:])) == pl.compute_output_shape((None,) + shape[1:])
    pl.set_weights([np.asarray(w) for w in kl.get_weights()])
    np.testing.assert_allclose(pl(x), want, rtol=1e-5, atol=1e-5)


@_keras_warning
@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[3], CASES[5]], ids=_id)
def test_training_matches_keras(case, rng):
    keras = _keras()
    shape, kw = case
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal((shape[0], 1)).astype(np.float32)
    km = keras.Sequential([keras.Input(shape[1:]), keras.layers.Conv3DTranspose(**kw), keras.layers.Flatten(),
                           keras.layers.Dense(1)])
    pm = pynncore.Sequential([pynncore.Input(shape[1:]), L.Conv3DTranspose(**kw), L.Flatten(), L.Dense(1)])
    pm.set_weights([np.asarray(w) for w in km.get_weights()])
    km.compile(keras.optimizers.Adam(0.01), "mse")
    pm.compile(pynncore.optimizers.Adam(0.01), "mse")
    train_side_by_side(km, pm, x, y, steps=3)


@_keras_warning
@pytest.mark.parametrize("size", [1, 2, 5])
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_output_shapes_match_keras(case, size):
    keras = _keras()
    _, kw = case
    shape = (None, size, size + 1, size + 2, 2)
    k_shape = keras.layers.Conv3DTranspose(**kw).compute_output_shape(shape)
    layer = L.Conv3DTranspose(**kw)
    assert layer.compute_output_shape(shape) == tuple(k_shape)
    assert layer(pynncore.Input(shape[1:])).shape == tuple(k_shape)


def test_config_round_trip_and_defaults():
    layer = L.Conv3DTranspose(4, 3)
    assert (layer.strides, layer.padding, layer.output_padding, layer.dilation_rate) == (
        (1, 1, 1), "valid", None, (1, 1, 1))
    assert layer.data_format == "channels_last" and layer.use_bias and layer.activation.name == "linear"
    layer = L.Conv3DTranspose(4, (3, 2, 5), strides=(2, 1, 3), padding="same", output_padding=(1, 0, 2),
                              activation="relu", use_bias=False, kernel_initializer="he_normal",
                              kernel_regularizer="l2", bias_constraint="non_neg", name="up3")
    config = layer.get_config()
    assert "groups" not in config
    again = L.Conv3DTranspose.from_config(config)
    assert again.get_config() == config
    assert again.output_padding == (1, 0, 2) and again.kernel_size == (3, 2, 5) and again.strides == (2, 1, 3)
    listed = dict(config, kernel_size=[3, 2, 5], strides=[2, 1, 3], output_padding=[1, 0, 2], dilation_rate=[1, 1, 1])
    assert L.Conv3DTranspose.from_config(listed).get_config() == config


def test_deserialize_by_name_and_alias():
    from pynncore.saving import deserialize_layer

    config = L.Conv3DTranspose(2, 3, strides=2, name="t3").get_config()
    for name in ("Conv3DTranspose", "Convolution3DTranspose"):
        layer = deserialize_layer({"class_name": name, "config": dict(config)})
        assert type(layer) is L.Conv3DTranspose and layer.get_config() == config
    assert L.Convolution3DTranspose is L.Conv3DTranspose


def test_kernel_has_keras_layout_regularizer_and_constraint():
    layer = L.Conv3DTranspose(5, (4, 3, 2), kernel_regularizer="l2", kernel_constraint="non_neg")
    layer(np.zeros((1, 3, 2, 2, 2), np.float32))
    assert layer.kernel.shape == (4, 3, 2, 5, 2) and layer.bias.shape == (5,)
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert layer.kernel.regularizer is layer.kernel_regularizer and layer.kernel_regularizer is not None
    assert layer.kernel.constraint is layer.kernel_constraint and layer.kernel_constraint is not None
    assert layer.bias.regularizer is None


def test_frozen_layer_leaves_gradients_alone(rng):
    layer = L.Conv3DTranspose(2, 2, strides=2)
    x = rng.standard_normal((1, 2, 2, 2, 3)).astype(np.float32)
    layer(x)
    layer.trainable = False
    y, ctx = layer.forward(x, training=True)
    assert layer.backward(ctx, np.ones_like(y), need_dx=False) is None
    dx = layer.backward(ctx, np.ones_like(y))
    assert dx.shape == x.shape
    assert not layer.kernel.grad.any() and not layer.bias.grad.any()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: L.Conv3DTranspose(0, 3), "filters must be a positive integer"),
        (lambda: L.Conv3DTranspose(2, 0), "kernel_size"),
        (lambda: L.Conv3DTranspose(2, (3, 3)), "kernel_size"),
        (lambda: L.Conv3DTranspose(2, 3, strides=(1, 0, 1)), "strides"),
        (lambda: L.Conv3DTranspose(2, 3, padding="causal"), "padding must be one of 'valid', 'same'"),
        (lambda: L.Conv3DTranspose(2, 3, strides=2, output_padding=2), "output_padding must be smaller than strides"),
        (lambda: L.Conv3DTranspose(2, 3, strides=(2, 2, 1), output_padding=(1, 1, 1)),
         "output_padding must be smaller than strides"),
        (lambda: L.Conv3DTranspose(2, 3, output_padding=-1), "output_padding"),
        (lambda: L.Conv3DTranspose(2, 3, data_format="channels_first"), "channels_last"),
        (lambda: L.Conv3DTranspose(2, 3, dilation_rate=0), "dilation_rate"),
    ],
)
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_raise():
    with pytest.raises(TypeError, match="groups"):
        L.Conv3DTranspose(4, 3, groups=2)
    layer = L.Conv3DTranspose(4, 3, name="up3")
    with pytest.raises(ValueError, match=r"Conv3DTranspose 'up3': expected input of rank 5 \(N, D, H, W, C\)"):
        layer(np.zeros((2, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="rank 5"):
        layer(pynncore.Input((4, 5, 2)))
    with pytest.raises(ValueError, match="channel dimension"):
        layer.compute_output_shape((None, 2, 2, 2, None))
    layer(np.zeros((2, 2, 3, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected input with 3 channels .*Received: shape=\(2, 2, 3, 4, 2\)"):
        layer(np.zeros((2, 2, 3, 4, 2), np.float32))
    with pytest.raises(TypeError, match="numeric"):
        layer(np.array([[[[["a"]]]]]))
