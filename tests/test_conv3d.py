"""3-D layers: Conv3D, MaxPooling3D, AveragePooling3D, GlobalMax/GlobalAveragePooling3D,
ZeroPadding3D, Cropping3D and UpSampling3D against float64 references, finite differences and
Keras 3."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import check_kernel_bias_gradients, check_layer_against_reference
from _keras_train import train_side_by_side

import pynncore
from pynncore import layers
from pynncore.models import Sequential

# --- float64 references ------------------------------------------------------------------------


def _axis(n_in, k, s, d, padding):
    """Output size and padding before along one axis (Keras: the odd padding at the end)."""
    keff = (k - 1) * d + 1
    if padding == "same":
        out = -(-n_in // s)
        return out, max((out - 1) * s + keff - n_in, 0) // 2
    return (n_in - keff) // s + 1, 0


def ref_conv3d(x, w, b=None, strides=(1, 1, 1), dilation=(1, 1, 1), padding="valid", act=None):
    """Direct 3-D convolution in float64: one einsum per kernel offset over a zero-padded input."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, c = x.shape[0], x.shape[-1]
    ks, cg, f = w.shape[:3], w.shape[3], w.shape[4]
    groups = c // cg
    outs, pads = zip(*(_axis(x.shape[1 + i], ks[i], strides[i], dilation[i], padding) for i in range(3)))
    widths = [(0, 0)]
    for i in range(3):
        need = (outs[i] - 1) * strides[i] + (ks[i] - 1) * dilation[i] + 1
        widths.append((pads[i], max(need - x.shape[1 + i] - pads[i], 0)))
    xp = np.pad(x, widths + [(0, 0)])
    y = np.zeros((n,) + tuple(outs) + (f,))
    fg = f // groups
    for a in range(ks[0]):
        for bb in range(ks[1]):
            for cc in range(ks[2]):
                d0, h0, w0 = a * dilation[0], bb * dilation[1], cc * dilation[2]
                patch = xp[
                    :,
                    d0 : d0 + (outs[0] - 1) * strides[0] + 1 : strides[0],
                    h0 : h0 + (outs[1] - 1) * strides[1] + 1 : strides[1],
                    w0 : w0 + (outs[2] - 1) * strides[2] + 1 : strides[2],
                ]
                for g in range(groups):
                    y[..., g * fg : (g + 1) * fg] += np.einsum(
                        "ndhwc,cf->ndhwf", patch[..., g * cg : (g + 1) * cg], w[a, bb, cc, :, g * fg : (g + 1) * fg]
                    )
    if b is not None:
        y = y + np.asarray(b, np.float64)
    return act(y) if act is not None else y


def ref_pool3d(x, mode, pool, strides, padding):
    """Pooled output by a loop over output voxels (windows clipped to the volume)."""
    x = np.asarray(x, np.float64)
    outs, pads = zip(*(_axis(x.shape[1 + i], pool[i], strides[i], 1, padding) for i in range(3)))
    y = np.zeros((x.shape[0],) + tuple(outs) + (x.shape[-1],))
    for idx in np.ndindex(*outs):
        sl = tuple(
            slice(max(o * s - p, 0), min(o * s - p + k, size))
            for o, s, p, k, size in zip(idx, strides, pads, pool, x.shape[1:4])
        )
        win = x[(slice(None),) + sl]
        y[(slice(None),) + idx] = win.max(axis=(1, 2, 3)) if mode == "max" else win.mean(axis=(1, 2, 3))
    return y


def ref_max_pool3d_grad(x, dy, pool, strides, padding):
    """Max-pooling input gradient: each window's gradient to its first maximum (row-major)."""
    x = np.asarray(x, np.float64)
    outs, pads = zip(*(_axis(x.shape[1 + i], pool[i], strides[i], 1, padding) for i in range(3)))
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[-1]):
            for idx in np.ndindex(*outs):
                lo = [max(o * s - p, 0) for o, s, p in zip(idx, strides, pads)]
                hi = [min(o * s - p + k, size) for o, s, p, k, size in zip(idx, strides, pads, pool, x.shape[1:4])]
                win = x[n, lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2], c]
                at = np.unravel_index(int(np.argmax(win)), win.shape)
                dx[n, lo[0] + at[0], lo[1] + at[1], lo[2] + at[2], c] += dy[(n,) + idx + (c,)]
    return dx


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


_keras_warning = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

_ACTS = {None: None, "relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z))}

# --- Conv3D ------------------------------------------------------------------------------------

CONV_CASES = [
    # (input shape, kwargs)
    ((2, 4, 5, 6, 3), dict(filters=4, kernel_size=3)),
    ((2, 5, 4, 6, 2), dict(filters=3, kernel_size=3, padding="same", activation="relu")),
    ((1, 7, 6, 5, 2), dict(filters=3, kernel_size=(3, 2, 2), strides=(2, 1, 2), padding="same")),
    ((2, 6, 7, 5, 3), dict(filters=2, kernel_size=(2, 3, 2), strides=(3, 2, 1), activation="tanh")),
    ((1, 7, 6, 6, 2), dict(filters=3, kernel_size=2, dilation_rate=(2, 1, 2), padding="same")),
    ((2, 7, 5, 6, 2), dict(filters=2, kernel_size=(3, 2, 2), dilation_rate=(3, 2, 1), use_bias=False)),
    ((1, 3, 4, 3, 1), dict(filters=2, kernel_size=(4, 3, 1), padding="same", activation="sigmoid")),
    ((2, 5, 4, 4, 4), dict(filters=4, kernel_size=(1, 3, 3), groups=2, padding="same")),
    ((1, 5, 5, 5, 2), dict(filters=3, kernel_size=(3, 1, 1), strides=(2, 2, 2), padding="same")),
    ((1, 1, 5, 5, 2), dict(filters=2, kernel_size=(1, 3, 3))),
]
CONV_IDS = [f"conv3d-{i}" for i in range(len(CONV_CASES))]


def _conv_ref(layer, x, w, b):
    return ref_conv3d(x, w, b, layer.strides, layer.dilation_rate, layer.padding, _ACTS[layer.activation.name if layer.activation.name != "linear" else None])


def _built_conv(shape, kwargs, rng):
    layer = layers.Conv3D(**kwargs)
    layer.build((None,) + shape[1:])
    layer.kernel.assign(rng.standard_normal(layer.kernel.shape).astype(np.float32) * 0.5)
    if layer.use_bias:
        layer.bias.assign(rng.standard_normal(layer.filters).astype(np.float32) * 0.3)
    return layer


@pytest.mark.parametrize("shape, kwargs", CONV_CASES, ids=CONV_IDS)
def test_conv3d_forward_matches_reference(shape, kwargs, rng):
    layer = _built_conv(shape, kwargs, rng)
    x = rng.standard_normal(shape).astype(np.float32)
    w = layer.kernel.value.astype(np.float64)
    b = layer.bias.value.astype(np.float64) if layer.use_bias else None
    want = _conv_ref(layer, x, w, b)
    y = layer(x)
    assert y.shape == want.shape and y.dtype == np.float32 and y.flags.c_contiguous
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-5)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + want.shape[1:]
    assert layer(pynncore.Input(shape[1:])).shape == (None,) + want.shape[1:]
    y_train, _ = layer.forward(x, training=True)
    np.testing.assert_allclose(y_train, y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape, kwargs", CONV_CASES, ids=CONV_IDS)
def test_conv3d_gradients_match_finite_differences(shape, kwargs, rng):
    layer = _built_conv(shape, kwargs, rng)
    x = rng.standard_normal(shape).astype(np.float32)
    check_kernel_bias_gradients(layer, x, lambda v, w, b: _conv_ref(layer, v, w, b), rng)


def test_conv3d_frozen_layer_leaves_gradients_alone(rng):
    layer = layers.Conv3D(2, 2, trainable=False)
    x = rng.standard_normal((1, 3, 4, 3, 2)).astype(np.float32)
    layer.build((None, 3, 4, 3, 2))
    y, ctx = layer.forward(x, training=True)
    dx = layer.backward(ctx, np.ones_like(y))
    assert dx.shape == x.shape and np.abs(dx).sum() > 0
    assert not layer.kernel.grad.any() and not layer.bias.grad.any()


def test_conv3d_noncontiguous_float64_and_zero_batch(rng):
    layer = layers.Conv3D(3, 2, padding="same")
    layer.build((None, 4, 4, 3, 2))
    x = rng.standard_normal((2, 4, 8, 3, 2))[:, ::-1, ::2]  # strided float64
    w = layer.kernel.value.astype(np.float64)
    np.testing.assert_allclose(layer(x), ref_conv3d(x, w, np.zeros(3), padding="same"), rtol=2e-5, atol=2e-5)
    y, ctx = layer.forward(np.zeros((0, 4, 4, 3, 2), np.float32), training=True)
    assert y.shape == (0, 4, 4, 3, 3)
    assert layer.backward(ctx, y).shape == (0, 4, 4, 3, 2)


@_keras_warning
@pytest.mark.parametrize("shape, kwargs", CONV_CASES, ids=CONV_IDS)
def test_conv3d_matches_keras(shape, kwargs, rng):
    keras = _keras()
    kl = keras.layers.Conv3D(**kwargs)
    kl.build((None,) + shape[1:])
    weights = [rng.standard_normal(tuple(v.shape)).astype(np.float32) * 0.5 for v in kl.weights]
    for v, a in zip(kl.weights, weights):
        v.assign(a)
    x = rng.standard_normal(shape).astype(np.float32)
    ky = np.asarray(keras.ops.convert_to_numpy(kl(x)))
    pl = layers.Conv3D(**kwargs)
    pl.build((None,) + shape[1:])
    pl.set_weights(weights)
    py = pl(x)
    assert py.shape == ky.shape
    assert pl.compute_output_shape((None,) + shape[1:])[1:] == tuple(kl.compute_output_shape((None,) + shape[1:])[1:])
    np.testing.assert_allclose(py, ky, rtol=1e-4, atol=1e-5)


# --- windowed pooling --------------------------------------------------------------------------

POOL_CASES = [
    # (input shape, pool_size, strides, padding)
    ((2, 4, 4, 4, 3), 2, None, "valid"),
    ((1, 5, 7, 6, 2), (2, 3, 2), None, "valid"),
    ((2, 5, 7, 6, 2), (3, 2, 2), (2, 1, 2), "same"),
    ((1, 7, 5, 6, 3), (2, 2, 3), (3, 2, 1), "same"),
    ((2, 6, 5, 7, 1), 3, (1, 2, 2), "valid"),
    ((1, 3, 3, 3, 2), (3, 1, 2), 1, "same"),
    ((1, 1, 2, 3, 2), 1, None, "valid"),
]
POOL_IDS = [f"pool-{i}" for i in range(len(POOL_CASES))]


def _triple(v):
    return (v,) * 3 if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape, pool, strides, padding", POOL_CASES, ids=POOL_IDS)
def test_pool3d_matches_reference_and_finite_differences(mode, shape, pool, strides, padding, rng):
    cls = layers.MaxPooling3D if mode == "max" else layers.AveragePooling3D
    layer = cls(pool, strides=strides, padding=padding)
    p3 = _triple(pool)
    s3 = p3 if strides is None else _triple(strides)
    x = rng.standard_normal(shape).astype(np.float32)
    check_layer_against_reference(layer, x, lambda v: ref_pool3d(v, mode, p3, s3, padding), rng)


@pytest.mark.parametrize("shape, pool, strides, padding", POOL_CASES, ids=POOL_IDS)
def test_max_pool3d_gradient_goes_to_first_maximum(shape, pool, strides, padding, rng):
    """Ties (integer-valued inputs) send each window's gradient to its first maximum in
    (depth, height, width) order, as MaxPooling2D does."""
    p3 = _triple(pool)
    s3 = p3 if strides is None else _triple(strides)
    x = rng.integers(0, 3, size=shape).astype(np.float32)
    layer = layers.MaxPooling3D(pool, strides=strides, padding=padding)
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, ref_pool3d(x, "max", p3, s3, padding))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(ctx, dy)
    np.testing.assert_allclose(dx, ref_max_pool3d_grad(x, dy.astype(np.float64), p3, s3, padding), rtol=1e-6, atol=1e-6)


def test_pool3d_backward_without_dx_and_aliases(rng):
    layer = layers.MaxPooling3D()
    _, ctx = layer.forward(rng.standard_normal((1, 2, 2, 2, 1)), training=True)
    assert layer.backward(ctx, np.ones((1, 1, 1, 1, 1), np.float32), need_dx=False) is None
    assert layers.MaxPool3D is layers.MaxPooling3D and layers.AvgPool3D is layers.AveragePooling3D
    assert layers.GlobalMaxPool3D is layers.GlobalMaxPooling3D
    assert layers.GlobalAvgPool3D is layers.GlobalAveragePooling3D
    assert layers.MaxPooling3D().pool_size == (2, 2, 2) and layers.AveragePooling3D(3).strides == (3, 3, 3)


def _same_padding_is_symmetric(shape, pool, strides):
    pool, strides = _triple(pool), _triple(pool if strides is None else strides)
    totals = [max((-(-n // s) - 1) * s + k - n, 0) for n, k, s in zip(shape[1:4], pool, strides)]
    return all(t % 2 == 0 for t in totals)


# Keras's torch backend pads an asymmetric 'same' average pooling by replicating the edge values,
# so they count; Keras's documented rule (and its other backends) leaves padding out of the mean,
# as this library does. Average pooling is compared with Keras where 'same' padding is symmetric
# and with the float64 reference above everywhere.
KERAS_POOL_CASES = [("max",) + c for c in POOL_CASES] + [
    ("avg",) + c for c in POOL_CASES if c[3] == "valid" or _same_padding_is_symmetric(c[0], c[1], c[2])
] + [
    ("avg", (2, 7, 5, 9, 3), 3, (2, 1, 2), "same"),
    ("avg", (1, 6, 4, 6, 2), 2, None, "same"),
]


@_keras_warning
@pytest.mark.parametrize("mode, shape, pool, strides, padding", KERAS_POOL_CASES, ids=[f"keras-{c[0]}-{i}" for i, c in enumerate(KERAS_POOL_CASES)])
def test_pool3d_matches_keras_forward_and_backward(mode, shape, pool, strides, padding, rng):
    keras = _keras()
    torch = pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip("needs the torch backend of Keras")
    name = "MaxPooling3D" if mode == "max" else "AveragePooling3D"
    x = rng.standard_normal(shape).astype(np.float32)
    kl = getattr(keras.layers, name)(pool, strides=strides, padding=padding)
    xt = torch.tensor(x, requires_grad=True)
    yt = kl(xt)
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(dy))
    pl = getattr(layers, name)(pool, strides=strides, padding=padding)
    y, ctx = pl.forward(x, training=True)
    assert y.shape == tuple(yt.shape)
    assert pl.compute_output_shape((None,) + shape[1:])[1:] == tuple(kl.compute_output_shape((None,) + shape[1:])[1:])
    np.testing.assert_allclose(y, yt.detach().cpu().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pl.backward(ctx, dy), xt.grad.cpu().numpy(), rtol=1e-5, atol=1e-6)


# --- global pooling ----------------------------------------------------------------------------


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_global_pool3d_matches_reference_and_finite_differences(mode, keepdims, rng):
    cls = layers.GlobalMaxPooling3D if mode == "max" else layers.GlobalAveragePooling3D
    x = rng.standard_normal((2, 3, 4, 5, 3)).astype(np.float32)

    def ref(v):
        v = np.asarray(v, np.float64)
        return v.max(axis=(1, 2, 3), keepdims=keepdims) if mode == "max" else v.mean(axis=(1, 2, 3), keepdims=keepdims)

    check_layer_against_reference(cls(keepdims=keepdims), x, ref, rng)


@_keras_warning
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["GlobalMaxPooling3D", "GlobalAveragePooling3D"])
def test_global_pool3d_matches_keras(name, keepdims, rng):
    keras = _keras()
    x = rng.standard_normal((2, 3, 1, 5, 4)).astype(np.float32)
    ky = np.asarray(keras.ops.convert_to_numpy(getattr(keras.layers, name)(keepdims=keepdims)(x)))
    py = getattr(layers, name)(keepdims=keepdims)(x)
    assert py.shape == ky.shape
    np.testing.assert_allclose(py, ky, rtol=1e-6, atol=1e-6)


# --- padding, cropping, upsampling -------------------------------------------------------------


def ref_zero_padding3d(x, pads):
    x = np.asarray(x, np.float64)
    (a0, b0), (a1, b1), (a2, b2) = pads
    n, d, h, w, c = x.shape
    y = np.zeros((n, d + a0 + b0, h + a1 + b1, w + a2 + b2, c))
    y[:, a0 : a0 + d, a1 : a1 + h, a2 : a2 + w] = x
    return y


def ref_cropping3d(x, crops):
    x = np.asarray(x, np.float64)
    (a0, b0), (a1, b1), (a2, b2) = crops
    n, d, h, w, c = x.shape
    return x[:, a0 : d - b0, a1 : h - b1, a2 : w - b2]


def ref_upsampling3d(x, size):
    x = np.asarray(x, np.float64)
    n, d, h, w, c = x.shape
    i = np.arange(d * size[0]) // size[0]
    j = np.arange(h * size[1]) // size[1]
    k = np.arange(w * size[2]) // size[2]
    return x[:, i[:, None, None], j[None, :, None], k[None, None, :]]


RESHAPE_CASES = [
    ("ZeroPadding3D", dict(), lambda v: ref_zero_padding3d(v, ((1, 1),) * 3)),
    ("ZeroPadding3D", dict(padding=2), lambda v: ref_zero_padding3d(v, ((2, 2),) * 3)),
    ("ZeroPadding3D", dict(padding=(1, 0, 2)), lambda v: ref_zero_padding3d(v, ((1, 1), (0, 0), (2, 2)))),
    ("ZeroPadding3D", dict(padding=((1, 0), (0, 2), (3, 1))), lambda v: ref_zero_padding3d(v, ((1, 0), (0, 2), (3, 1)))),
    ("Cropping3D", dict(), lambda v: ref_cropping3d(v, ((1, 1),) * 3)),
    ("Cropping3D", dict(cropping=(0, 1, 2)), lambda v: ref_cropping3d(v, ((0, 0), (1, 1), (2, 2)))),
    ("Cropping3D", dict(cropping=((1, 0), (0, 2), (2, 1))), lambda v: ref_cropping3d(v, ((1, 0), (0, 2), (2, 1)))),
    ("UpSampling3D", dict(), lambda v: ref_upsampling3d(v, (2, 2, 2))),
    ("UpSampling3D", dict(size=(1, 3, 2)), lambda v: ref_upsampling3d(v, (1, 3, 2))),
    ("UpSampling3D", dict(size=3), lambda v: ref_upsampling3d(v, (3, 3, 3))),
]
RESHAPE_IDS = [f"{c[0]}-{i}" for i, c in enumerate(RESHAPE_CASES)]


@pytest.mark.parametrize("name, kwargs, ref", RESHAPE_CASES, ids=RESHAPE_IDS)
def test_reshaping3d_matches_reference_and_finite_differences(name, kwargs, ref, rng):
    x = rng.standard_normal((2, 3, 4, 5, 2)).astype(np.float32)
    check_layer_against_reference(getattr(layers, name)(**kwargs), x, ref, rng)


@_keras_warning
@pytest.mark.parametrize("name, kwargs, ref", RESHAPE_CASES, ids=RESHAPE_IDS)
def test_reshaping3d_matches_keras(name, kwargs, ref, rng):
    keras = _keras()
    x = rng.standard_normal((2, 4, 4, 5, 2)).astype(np.float32)
    ky = np.asarray(keras.ops.convert_to_numpy(getattr(keras.layers, name)(**kwargs)(x)))
    py = getattr(layers, name)(**kwargs)(x)
    assert py.shape == ky.shape
    np.testing.assert_array_equal(py, ky)


# --- training against Keras --------------------------------------------------------------------


@_keras_warning
def test_conv3d_model_train_on_batch_matches_keras(rng):
    keras = _keras()
    kmodel = keras.Sequential([
        keras.Input((5, 6, 6, 2)),
        keras.layers.Conv3D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling3D(2, padding="same"),
        keras.layers.Conv3D(3, (2, 2, 1), strides=(1, 2, 1), dilation_rate=1),
        keras.layers.GlobalAveragePooling3D(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    pmodel = Sequential([
        pynncore.Input((5, 6, 6, 2)),
        layers.Conv3D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling3D(2, padding="same"),
        layers.Conv3D(3, (2, 2, 1), strides=(1, 2, 1), dilation_rate=1),
        layers.GlobalAveragePooling3D(),
        layers.Dense(3, activation="softmax"),
    ])
    pmodel.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kmodel.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    pmodel.compile(pynncore.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    x = rng.standard_normal((4, 5, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, 4)
    train_side_by_side(kmodel, pmodel, x, y, 4)


@_keras_warning
def test_avg_pool3d_model_train_on_batch_matches_keras(rng):
    keras = _keras()
    kmodel = keras.Sequential([
        keras.Input((4, 5, 3, 1)),
        keras.layers.ZeroPadding3D(((1, 0), (0, 1), (1, 1))),
        keras.layers.Conv3D(3, 2, activation="tanh"),
        keras.layers.UpSampling3D((1, 2, 1)),
        keras.layers.Cropping3D(((0, 1), (1, 1), (0, 0))),
        keras.layers.AveragePooling3D(3, strides=1, padding="same"),
        keras.layers.GlobalMaxPooling3D(),
        keras.layers.Dense(1),
    ])
    pmodel = Sequential([
        pynncore.Input((4, 5, 3, 1)),
        layers.ZeroPadding3D(((1, 0), (0, 1), (1, 1))),
        layers.Conv3D(3, 2, activation="tanh"),
        layers.UpSampling3D((1, 2, 1)),
        layers.Cropping3D(((0, 1), (1, 1), (0, 0))),
        layers.AveragePooling3D(3, strides=1, padding="same"),
        layers.GlobalMaxPooling3D(),
        layers.Dense(1),
    ])
    pmodel.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kmodel.compile(keras.optimizers.Adam(0.01), "mse")
    pmodel.compile(pynncore.optimizers.Adam(0.01), "mse")
    x = rng.standard_normal((3, 4, 5, 3, 1)).astype(np.float32)
    y = rng.standard_normal((3, 1)).astype(np.float32)
    train_side_by_side(kmodel, pmodel, x, y, 3)


# --- config and save/load ----------------------------------------------------------------------

CONFIG_CASES = [
    lambda: layers.Conv3D(4, (3, 2, 1), strides=(2, 1, 1), padding="same", dilation_rate=(1, 2, 1), groups=2,
                          activation="relu", use_bias=False, kernel_initializer="he_normal",
                          kernel_regularizer=pynncore.regularizers.L2(0.01), name="cfg3d"),
    lambda: layers.Conv3D(2, 3, bias_regularizer="l1", activity_regularizer="l2", kernel_constraint="max_norm"),
    lambda: layers.MaxPooling3D((2, 3, 1), strides=(1, 2, 1), padding="same"),
    lambda: layers.AveragePooling3D(3, padding="valid"),
    lambda: layers.GlobalMaxPooling3D(keepdims=True),
    lambda: layers.GlobalAveragePooling3D(),
    lambda: layers.ZeroPadding3D(((1, 0), (2, 2), (0, 3))),
    lambda: layers.Cropping3D((1, 0, 2)),
    lambda: layers.UpSampling3D((2, 1, 3)),
]


@pytest.mark.parametrize("make", CONFIG_CASES, ids=[f"cfg-{i}" for i in range(len(CONFIG_CASES))])
def test_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


@_keras_warning
@pytest.mark.parametrize("name", ["Conv3D", "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D",
                                  "GlobalAveragePooling3D", "ZeroPadding3D", "Cropping3D", "UpSampling3D"])
def test_config_keys_match_keras(name):
    keras = _keras()
    args = {"Conv3D": (2, 3), "AveragePooling3D": (2,)}.get(name, ())
    want = set(getattr(keras.layers, name)(*args).get_config())
    got = set(getattr(layers, name)(*args).get_config())
    assert want - got <= {"dtype", "trainable", "lora_rank", "lora_alpha"} and got - want <= {"dtype", "trainable"}


def test_model_save_load_round_trip(tmp_path, rng):
    model = Sequential([
        pynncore.Input((4, 6, 5, 2)),
        layers.ZeroPadding3D(1),
        layers.Conv3D(4, 3, strides=(1, 2, 1), activation="relu"),
        layers.MaxPooling3D((2, 1, 2), padding="same"),
        layers.UpSampling3D((1, 2, 1)),
        layers.Cropping3D(((0, 0), (0, 1), (0, 0))),
        layers.AveragePooling3D(2, strides=1),
        layers.Conv3D(3, 1, groups=1, padding="same"),
        layers.GlobalAveragePooling3D(),
        layers.Dense(2),
    ])
    model.compile("adam", "mse")
    x = rng.standard_normal((3, 4, 6, 5, 2)).astype(np.float32)
    model.train_on_batch(x, np.zeros((3, 2), np.float32))
    path = tmp_path / "conv3d.pnc"
    model.save(str(path))
    loaded = pynncore.load_model(str(path))
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: layers.Conv3D(0, 3), "Conv3D .*filters must be a positive integer"),
        (lambda: layers.Conv3D(4, (3, 3)), r"Conv3D .*kernel_size must be .* tuple of 3"),
        (lambda: layers.Conv3D(4, 3, strides=(1, 0, 1)), "Conv3D .*strides must be"),
        (lambda: layers.Conv3D(4, 3, dilation_rate=0), "Conv3D .*dilation_rate must be"),
        (lambda: layers.Conv3D(4, 3, padding="causal"), "Conv3D .*padding must be one of 'valid', 'same'"),
        (lambda: layers.Conv3D(5, 3, groups=2), "Conv3D .*filters must be divisible by groups"),
        (lambda: layers.Conv3D(4, 3, data_format="channels_first"), "Conv3D .*channels_last"),
        (lambda: layers.MaxPooling3D((2, 2)), "MaxPooling3D .*pool_size must be"),
        (lambda: layers.AveragePooling3D(2, strides=0), "AveragePooling3D .*strides must be"),
        (lambda: layers.MaxPooling3D(2, padding="full"), "MaxPooling3D .*padding must be 'valid' or 'same'"),
        (lambda: layers.GlobalAveragePooling3D(data_format="channels_first"), "GlobalAveragePooling3D .*channels_last"),
        (lambda: layers.ZeroPadding3D((1, 2)), "ZeroPadding3D .*padding must be"),
        (lambda: layers.ZeroPadding3D(-1), "ZeroPadding3D .*non-negative"),
        (lambda: layers.Cropping3D(((1, 0), (1,), (0, 0))), "Cropping3D .*cropping must be"),
        (lambda: layers.UpSampling3D((2, 2)), "UpSampling3D .*size must be"),
        (lambda: layers.UpSampling3D(0), "UpSampling3D .*size must be positive"),
    ],
)
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_conv3d_bad_inputs_name_layer_expected_and_received():
    conv = layers.Conv3D(4, 3, name="c3d")
    with pytest.raises(
        ValueError, match=r"Conv3D 'c3d': expected input of rank 5 \(N, D, H, W, C\). Received: shape=\(None, 5, 5, 3\)"
    ):
        conv(np.ones((2, 5, 5, 3), np.float32))
    with pytest.raises(
        ValueError,
        match=r"Conv3D 'c3d': the kernel \(size \(3, 3, 3\), dilated \(3, 3, 3\)\) is larger than the input with "
        r"padding='valid'; expected spatial sizes of at least \(3, 3, 3\). Received: shape=\(None, 2, 5, 5, 3\)",
    ):
        conv(np.ones((1, 2, 5, 5, 3), np.float32))
    dilated = layers.Conv3D(2, 2, dilation_rate=(1, 1, 3), name="dil")
    with pytest.raises(ValueError, match=r"Conv3D 'dil': the kernel .* dilated \(2, 2, 4\).* Received: shape=\(None, 4, 4, 3, 1\)"):
        dilated(np.ones((1, 4, 4, 3, 1), np.float32))
    conv(np.ones((1, 3, 4, 5, 3), np.float32))
    with pytest.raises(
        ValueError, match=r"Conv3D 'c3d': expected input with 3 channels \(last axis\). Received: shape=\(1, 3, 4, 5, 2\)"
    ):
        conv(np.ones((1, 3, 4, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"Conv3D 'g': the input's channels must be divisible by groups=2"):
        layers.Conv3D(4, 1, groups=2, name="g")(np.ones((1, 2, 2, 2, 3), np.float32))
    with pytest.raises(ValueError, match="Conv3D 'big'"):
        Sequential([pynncore.Input((2, 4, 4, 1)), layers.Conv3D(2, 3, name="big")])


@pytest.mark.parametrize("name", ["MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D", "GlobalAveragePooling3D",
                                  "ZeroPadding3D", "Cropping3D", "UpSampling3D"])
def test_wrong_rank_names_layer_expected_and_received(name):
    layer = getattr(layers, name)(name="lay")
    with pytest.raises(
        ValueError,
        match=rf"{name} 'lay': expected a 5-D input \(batch, depth, height, width, channels\). Received: shape=\((None|2), 4, 4, 3\)",
    ):
        layer(np.ones((2, 4, 4, 3), np.float32))


def test_pool_and_crop_larger_than_input_raise():
    with pytest.raises(
        ValueError,
        match=r"MaxPooling3D 'mp': pool_size \(2, 3, 2\) is larger than the input's spatial size \(4, 2, 4\) with "
        r"padding='valid'; expected pool_size <= input size. Received: shape=\((None|1), 4, 2, 4, 1\)",
    ):
        layers.MaxPooling3D((2, 3, 2), name="mp")(np.ones((1, 4, 2, 4, 1), np.float32))
    assert layers.MaxPooling3D((2, 3, 2), padding="same")(np.ones((1, 4, 2, 4, 1), np.float32)).shape == (1, 2, 1, 2, 1)
    with pytest.raises(ValueError, match=r"Cropping3D 'cr': cropping .* removes all of an axis.* Received: shape=\((None|1), 2, 5, 5, 1\)"):
        layers.Cropping3D(1, name="cr")(np.ones((1, 2, 5, 5, 1), np.float32))


@pytest.mark.parametrize(
    "cls, expected",
    [("Conv3D", "conv3d"), ("MaxPooling3D", "max_pooling3d"), ("AveragePooling3D", "average_pooling3d"),
     ("GlobalMaxPooling3D", "global_max_pooling3d"), ("GlobalAveragePooling3D", "global_average_pooling3d"),
     ("ZeroPadding3D", "zero_padding3d"), ("Cropping3D", "cropping3d"), ("UpSampling3D", "up_sampling3d")],
)
def test_default_names_follow_keras(cls, expected):
    keras = _keras()
    args = {"Conv3D": (2, 3), "AveragePooling3D": (2,)}.get(cls, ())
    for name in (getattr(keras.layers, cls)(*args).name, getattr(layers, cls)(*args).name):
        assert name == expected or name.startswith(expected + "_")
