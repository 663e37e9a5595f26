"""RMSNormalization, SpatialDropout3D, EinsumDense and adaptive pooling: float64 numpy
references, finite differences, Keras 3 (torch backend) outputs and training, configs and
bad input."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad
from _keras_train import train_side_by_side

import pynncore
from pynncore import layers

os.environ.setdefault("KERAS_BACKEND", "torch")

# Keras's torch-backend variables implement numpy's old __array__ protocol; not our warning.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _np(t):
    keras = pytest.importorskip("keras")
    return np.asarray(keras.ops.convert_to_numpy(t))


def _roundtrip_config(layer):
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    return again


# -- RMSNormalization -----------------------------------------------------------------------------


def _ref_rms(x, scale, axes, eps):
    x = np.asarray(x, np.float64)
    shape = [1] * x.ndim
    for a, d in zip(axes, np.shape(scale)):
        shape[a] = d
    ms = np.mean(x * x, axis=axes, keepdims=True)
    return x / np.sqrt(ms + eps) * np.reshape(scale, shape)


@pytest.mark.parametrize(
    "shape, axis, axes",
    [((3, 7), -1, (1,)), ((2, 5, 6), -1, (2,)), ((2, 3, 4, 5), [2, 3], (2, 3)), ((2, 4, 3), 1, (1,)),
     ((1, 1), -1, (1,))],
    ids=str,
)
def test_rms_normalization_reference_and_finite_differences(shape, axis, axes, rng):
    layer = layers.RMSNormalization(axis=axis, epsilon=1e-3)
    x = (rng.standard_normal(shape) * 2 + 0.3).astype(np.float32)
    layer(x)
    assert layer.scale.shape == tuple(shape[a] for a in axes)
    np.testing.assert_array_equal(layer.scale.value, 1.0)
    layer.scale.assign(rng.standard_normal(layer.scale.shape))
    s = layer.scale.value.astype(np.float64)
    y, ctx = layer.forward(x, training=True)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, _ref_rms(x, s, axes, 1e-3), rtol=1e-5, atol=1e-6)
    r = rng.standard_normal(shape)
    layer.scale.grad[...] = 0.5
    dx = layer.backward(ctx, r.astype(np.float32))

    def loss(xx, ss=s):
        return float((_ref_rms(xx, ss, axes, 1e-3) * r).sum())

    x64 = x.astype(np.float64)
    assert_grad_close(dx, numeric_grad(loss, x64), what="dx")
    assert_grad_close(layer.scale.grad - 0.5, numeric_grad(lambda ss: loss(x64, ss), s.copy()), what="dscale")
    assert layer.backward(ctx, r.astype(np.float32), need_dx=False) is None
    assert layer(pynncore.Input(shape[1:])).shape == (None,) + shape[1:]


@pytest.mark.parametrize("shape, axis", [((4, 9), -1), ((3, 5, 6), -1), ((2, 3, 4, 5), [2, 3])], ids=str)
def test_rms_normalization_matches_keras(shape, axis, rng):
    keras = pytest.importorskip("keras")
    x = rng.standard_normal(shape).astype(np.float32)
    k = keras.layers.RMSNormalization(axis=axis)
    k.build(x.shape)
    k.set_weights([rng.standard_normal(k.scale.shape).astype(np.float32)])
    p = layers.RMSNormalization(axis=axis)
    p(x)
    assert [w.shape for w in p.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    assert [w.name for w in p.weights] == [w.name for w in k.weights] == ["scale"]
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    np.testing.assert_allclose(p(x), _np(k(x)), rtol=1e-5, atol=1e-6)


def test_rms_normalization_training_matches_keras(rng):
    keras = pytest.importorskip("keras")
    kin = keras.Input((5, 6))
    k = keras.Model(kin, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.RMSNormalization()(
        keras.layers.Dense(6)(kin)))))
    pin = pynncore.Input((5, 6))
    p = pynncore.Model(pin, layers.Dense(2)(layers.Flatten()(layers.RMSNormalization()(layers.Dense(6)(pin)))))
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    k.compile(keras.optimizers.Adam(0.05), "mse")
    p.compile(pynncore.optimizers.Adam(0.05), "mse")
    x = rng.standard_normal((8, 5, 6)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    train_side_by_side(k, p, x, y, steps=4)
    assert not np.allclose(p.layers[2].get_weights()[0], 1.0)  # the scale was trained


def test_rms_normalization_config_and_errors():
    layer = layers.RMSNormalization(axis=[1, 2], epsilon=1e-4, name="rms")
    again = _roundtrip_config(layer)
    assert (again.axis, again.epsilon) == ([1, 2], 1e-4)
    assert layers.RMSNormalization().get_config()["epsilon"] == 1e-6
    for eps in (0.0, -1.0, float("nan"), "1e-3", True):
        with pytest.raises(ValueError, match=r"RMSNormalization '.*': epsilon must be a finite number > 0\. Received: epsilon="):
            layers.RMSNormalization(epsilon=eps)
    for axis in ("x", [], [1.5], None):
        with pytest.raises(ValueError, match=r"axis must be an integer or a non-empty list of integers\. Received: axis="):
            layers.RMSNormalization(axis=axis)
    with pytest.raises(ValueError, match=r"axis must name non-batch axes of an input of rank 2\. Received: axis=0"):
        layers.RMSNormalization(axis=0)(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"axis must name non-batch axes of an input of rank 2\. Received: axis=2"):
        layers.RMSNormalization(axis=2)(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"axis lists an axis twice"):
        layers.RMSNormalization(axis=[1, -1])(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"the normalized axes need known sizes"):
        layers.RMSNormalization(axis=1)(pynncore.Input((None, 3)))
    built = layers.RMSNormalization()
    built(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected an input of rank 2 with sizes \(3,\) on axes \(1,\)\. Received: shape=\(2, 4\)"):
        built(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"Received: shape=\(2, 1, 3\)"):
        built.forward(np.ones((2, 1, 3), np.float32))
    with pytest.raises(TypeError, match="expected a real numeric input"):
        built(np.array([["a", "b", "c"]]))


# -- SpatialDropout3D -----------------------------------------------------------------------------


def test_spatial_dropout3d_drops_whole_channels(rng):
    layer = layers.SpatialDropout3D(0.4, seed=3)
    x = (rng.random((16, 2, 3, 4, 5)) + 0.5).astype(np.float32)
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    y, ctx = layer.forward(x, training=True)
    ratio = layer.backward(ctx, np.ones_like(x))
    np.testing.assert_allclose(y, x * ratio, rtol=1e-6)
    # One draw per (sample, channel), shared by every voxel: 0 or 1 / (1 - rate).
    np.testing.assert_array_equal(ratio, np.broadcast_to(ratio[:, :1, :1, :1, :], ratio.shape))
    kept = ratio[:, 0, 0, 0, :]
    assert set(np.unique(kept)) <= {0.0, np.float32(1 / 0.6)}
    assert 0.2 < (kept == 0).mean() < 0.6
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(ctx, dy), dy * ratio, rtol=1e-6)
    assert layer.backward(ctx, dy, need_dx=False) is None
    assert layers.SpatialDropout3D(0.4, seed=3).forward(x, training=True)[0].tolist() == y.tolist()
    assert layer.compute_output_shape((None, 2, 3, 4, 5)) == (None, 2, 3, 4, 5)


def test_spatial_dropout3d_matches_keras_statistics(rng):
    keras = pytest.importorskip("keras")
    x = np.ones((64, 2, 2, 2, 8), np.float32)
    k = _np(keras.layers.SpatialDropout3D(0.25, seed=1)(x, training=True))
    p = layers.SpatialDropout3D(0.25, seed=1)(x, training=True)
    for out in (k, p):
        np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1, :1, :1, :], out.shape))
        assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
        assert 0.15 < (out == 0).mean() < 0.35
    np.testing.assert_array_equal(layers.SpatialDropout3D(0.25)(x), _np(keras.layers.SpatialDropout3D(0.25)(x)))


def test_spatial_dropout3d_config_and_errors():
    layer = layers.SpatialDropout3D(0.3, seed=7, name="sd3")
    again = _roundtrip_config(layer)
    assert (again.rate, again.seed, again.data_format) == (0.3, 7, "channels_last")
    assert "noise_shape" not in layer.get_config()
    with pytest.raises(ValueError, match=r"SpatialDropout3D '.*': expected a 5-D input \(batch, depth, height, width, channels\)\. Received: shape=\(None, 3, 4, 5\)"):
        layers.SpatialDropout3D(0.3)(np.ones((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"expected a 5-D input"):
        layers.SpatialDropout3D(0.3)(pynncore.Input((3, 4, 5)))
    with pytest.raises(ValueError, match=r"rate must be a float in \[0, 1\)\. Received: rate=1\.0"):
        layers.SpatialDropout3D(1.0)
    with pytest.raises(ValueError, match=r"only data_format='channels_last'.*Received: data_format='channels_first'"):
        layers.SpatialDropout3D(0.3, data_format="channels_first")


# -- EinsumDense ----------------------------------------------------------------------------------

# (equation, output_shape, bias_axes, one sample's input shape, kernel shape, bias shape, output shape)
EINSUM_CASES = [
    ("ab,bc->ac", 4, "c", (3,), (3, 4), (4,), (4,)),
    ("abc,cd->abd", (None, 4), "d", (5, 3), (3, 4), (4,), (5, 4)),
    ("abc,cde->abde", (None, 2, 4), "de", (5, 3), (3, 2, 4), (2, 4), (5, 2, 4)),
    ("abcd,cde->abe", (5, 4), "be", (5, 3, 2), (3, 2, 4), (5, 4), (5, 4)),
    ("abc,dc->abd", (None, 4), None, (5, 3), (4, 3), None, (5, 4)),
    ("abcd,dbe->ace", (2, 3), "e", (4, 2, 3), (3, 4, 3), (3,), (2, 3)),
    ("...b,bc->...c", 4, "c", (2, 3, 3), (3, 4), (4,), (2, 3, 4)),
    ("...ab,bc->...ac", (5, 4), "ac", (5, 3), (3, 4), (5, 4), (5, 4)),
    ("ab...,bc->ac...", 4, "c", (3, 2, 5), (3, 4), (4, 1, 1), (4, 2, 5)),
    ("abc,bcd->abd", (5, 4), "bd", (5, 3), (5, 3, 4), (5, 4), (5, 4)),
    ("abc,cd->ad", 4, "d", (3, 2), (2, 4), (4,), (4,)),
]
EINSUM_IDS = [c[0] for c in EINSUM_CASES]


def _ref_einsum(layer, x, w, b):
    y = np.einsum(layer.equation, np.asarray(x, np.float64), w)
    if b is not None:
        y = y + b
    return np.tanh(y)


@pytest.mark.parametrize("case", EINSUM_CASES, ids=EINSUM_IDS)
def test_einsum_dense_reference_and_finite_differences(case, rng):
    equation, out_shape, bias_axes, sample, kshape, bshape, yshape = case
    layer = layers.EinsumDense(equation, out_shape, activation="tanh", bias_axes=bias_axes,
                               bias_initializer="random_normal")
    x = rng.standard_normal((3,) + sample).astype(np.float32)
    layer(x)
    assert layer.kernel.shape == kshape
    assert (layer.bias.shape if layer.bias is not None else None) == bshape
    assert layer.compute_output_shape((None,) + sample) == (None,) + yshape
    assert layer(pynncore.Input(sample)).shape == (None,) + yshape
    x64 = x.astype(np.float64)
    w = layer.kernel.value.astype(np.float64)
    b = layer.bias.value.astype(np.float64) if layer.bias is not None else None
    y, ctx = layer.forward(x, training=True)
    assert y.dtype == np.float32 and y.flags.c_contiguous and y.shape == (3,) + yshape
    np.testing.assert_allclose(y, _ref_einsum(layer, x, w, b), rtol=1e-5, atol=1e-6)
    r = rng.standard_normal(y.shape)
    for v in layer.weights:
        v.grad[...] = 0.5
    dx = layer.backward(ctx, r.astype(np.float32))
    assert dx.shape == x.shape and dx.dtype == np.float32

    def loss(xx, ww, bb):
        return float((_ref_einsum(layer, xx, ww, bb) * r).sum())

    assert_grad_close(dx, numeric_grad(lambda v: loss(v, w, b), x64), what="dx")
    assert_grad_close(layer.kernel.grad - 0.5, numeric_grad(lambda v: loss(x64, v, b), w), what="dkernel")
    if b is not None:
        assert_grad_close(layer.bias.grad - 0.5, numeric_grad(lambda v: loss(x64, w, v), b), what="dbias")
    assert layer.backward(ctx, r.astype(np.float32), need_dx=False) is None


@pytest.mark.parametrize("case", EINSUM_CASES, ids=EINSUM_IDS)
def test_einsum_dense_matches_keras(case, rng):
    keras = pytest.importorskip("keras")
    equation, out_shape, bias_axes, sample, *_ = case
    x = rng.standard_normal((4,) + sample).astype(np.float32)
    k = keras.layers.EinsumDense(equation, out_shape, bias_axes=bias_axes, activation="relu",
                                 bias_initializer="random_normal")
    k.build((None,) + sample)
    p = layers.EinsumDense(equation, out_shape, bias_axes=bias_axes, activation="relu")
    p.build((None,) + sample)
    assert [w.shape for w in p.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    assert [w.name for w in p.weights] == [w.name for w in k.weights]
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    np.testing.assert_allclose(p(x), _np(k(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("equation, out_shape, bias_axes, sample", [
    ("abc,cde->abde", (5, 2, 3), "de", (5, 4)),
    ("...b,bc->...c", 3, "c", (4, 5)),
    ("abc,bcd->abd", (5, 3), "bd", (5, 4)),
])
def test_einsum_dense_training_matches_keras(equation, out_shape, bias_axes, sample, rng):
    keras = pytest.importorskip("keras")
    kin = keras.Input(sample)
    kout = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.EinsumDense(
        equation, out_shape, bias_axes=bias_axes, activation="tanh", bias_initializer="random_normal")(kin)))
    k = keras.Model(kin, kout)
    pin = pynncore.Input(sample)
    pout = layers.Dense(2)(layers.Flatten()(layers.EinsumDense(equation, out_shape, bias_axes=bias_axes,
                                                                activation="tanh")(pin)))
    p = pynncore.Model(pin, pout)
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    k.compile(keras.optimizers.SGD(0.1), "mse")
    p.compile(pynncore.optimizers.SGD(0.1), "mse")
    x = rng.standard_normal((8,) + sample).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    train_side_by_side(k, p, x, y, steps=4)


def test_einsum_dense_kernel_initializer_uses_keras_fans():
    # "abc,cde->abde" with kernel (c, d, e) = (64, 8, 16): fan_in = 64, fan_out = 128 (Keras's
    # einsum fans), where the convolution rule would give 8 * 64 and 8 * 16.
    layer = layers.EinsumDense("abc,cde->abde", (None, 8, 16), kernel_initializer=pynncore.initializers.GlorotUniform(seed=1))
    layer.build((None, 5, 64))
    limit = np.sqrt(6.0 / (64 + 128))
    w = layer.kernel.value
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    assert abs(w.std() - limit / np.sqrt(3)) < 0.05 * limit
    keras = pytest.importorskip("keras")
    k = keras.layers.EinsumDense("abc,cde->abde", (None, 8, 16), kernel_initializer=keras.initializers.GlorotUniform(seed=1))
    k.build((None, 5, 64))
    assert abs(float(np.asarray(k.kernel).std()) - float(w.std())) < 0.05 * limit
    # Other initializers keep their own rule.
    ones = layers.EinsumDense("abc,cde->abde", (None, 8, 16), kernel_initializer="ones")
    ones.build((None, 5, 64))
    np.testing.assert_array_equal(ones.kernel.value, 1.0)


def test_einsum_dense_regularizer_and_model_fit(rng):
    inp = pynncore.Input((4, 3))
    out = layers.Dense(1)(layers.Flatten()(layers.EinsumDense("abc,cd->abd", (None, 5), bias_axes="d",
                                                               kernel_regularizer="l2", activation="relu")(inp)))
    model = pynncore.Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((32, 4, 3)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None]
    hist = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_einsum_dense_config_roundtrip():
    layer = layers.EinsumDense("abc,cd->abd", output_shape=[None, 4], activation="relu", bias_axes="d",
                               kernel_initializer="he_normal", kernel_regularizer="l2", kernel_constraint="non_neg",
                               name="ed")
    config = layer.get_config()
    assert config["equation"] == "abc,cd->abd" and config["output_shape"] == [None, 4]
    assert config["bias_axes"] == "d" and config["activation"] == "relu"
    again = _roundtrip_config(layer)
    x = np.ones((2, 3, 5), np.float32)
    layer(x)
    again(x)
    again.set_weights(layer.get_weights())
    np.testing.assert_array_equal(again(x), layer(x))
    assert layers.EinsumDense("ab,bc->ac", 3).get_config()["output_shape"] == [3]
    with pytest.raises(ValueError, match=r"output_shape \(None, 4\) does not fit equation '...b,bc->...c': expected 1 entries"):
        layers.EinsumDense("...b,bc->...c", (None, 4))(x)


@pytest.mark.parametrize("equation, match", [
    ("ab,bc", r"invalid einsum equation 'ab,bc'; expected the form 'ab,bc->ac'"),
    ("ab->ac", r"invalid einsum equation"),
    ("ab,bc,cd->ad", r"invalid einsum equation"),
    ("a1,1c->ac", r"invalid einsum equation"),
    ("...ab,bc->ac", r"invalid einsum equation"),
    ("a...,bc->ac...", r"invalid einsum equation"),
    ("abb,bc->ac", r"each operand of the equation must name an axis at most once"),
    ("ab,bcx->ac", r"kernel axis 'x' of equation 'ab,bcx->ac' is in neither the input 'ab' nor the output 'ac'"),
    ("ab,bc->acz", r"output axis 'z' of equation 'ab,bc->acz' is in neither the input 'ab' nor the kernel 'bc'"),
])
def test_einsum_dense_bad_equation(equation, match):
    with pytest.raises(ValueError, match=r"EinsumDense '.*': " + match):
        layers.EinsumDense(equation, 4)


def test_einsum_dense_bad_arguments_and_inputs():
    with pytest.raises(TypeError, match=r"equation must be a string\. Received: equation=3"):
        layers.EinsumDense(3, 4)
    with pytest.raises(TypeError, match=r"output_shape must be an integer or a tuple of integers and None\. Received: output_shape='4'"):
        layers.EinsumDense("ab,bc->ac", "4")
    with pytest.raises(ValueError, match=r"output_shape sizes must be positive\. Received: output_shape=\(0,\)"):
        layers.EinsumDense("ab,bc->ac", (0,))
    with pytest.raises(ValueError, match=r"bias axis 'b' is not part of the output spec 'ac'"):
        layers.EinsumDense("ab,bc->ac", 4, bias_axes="b")
    with pytest.raises(ValueError, match=r"bias_axes must be a non-empty string"):
        layers.EinsumDense("ab,bc->ac", 4, bias_axes="")
    with pytest.raises(ValueError, match=r"expects an input of rank 3\. Received: shape=\(None, 4\)"):
        layers.EinsumDense("abc,cd->abd", (None, 4))(pynncore.Input((4,)))
    with pytest.raises(ValueError, match=r"expects an input of rank at least 2\. Received: shape=\(None,\)"):
        layers.EinsumDense("...b,bc->...c", 4)(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"output_shape \(4,\) does not fit equation 'abc,cd->abd': expected 2 entries"):
        layers.EinsumDense("abc,cd->abd", 4)(pynncore.Input((5, 3)))
    with pytest.raises(ValueError, match=r"input and output sizes differ on the shared axis 'b'.*the input has 5, output_shape gives 6"):
        layers.EinsumDense("abc,cd->abd", (6, 4))(pynncore.Input((5, 3)))
    with pytest.raises(ValueError, match=r"the size of kernel axis 'c' of equation 'abc,cd->abd' is not known"):
        layers.EinsumDense("abc,cd->abd", (None, 4))(pynncore.Input((5, None)))
    layer = layers.EinsumDense("abc,cd->abd", (None, 4))
    layer(np.ones((2, 5, 3), np.float32))
    layer(np.ones((2, 7, 3), np.float32))  # a free axis may change size
    with pytest.raises(ValueError, match=r"expected an input of shape \(None, None, 3\) for equation 'abc,cd->abd'\. Received: shape=\(2, 5, 4\)"):
        layer(np.ones((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"Received: shape=\(2, 5, 3, 1\)"):
        layer.forward(np.ones((2, 5, 3, 1), np.float32))


# -- Adaptive pooling -----------------------------------------------------------------------------


def _bins(length, out):
    return [(int(np.floor(i * length / out)), int(np.ceil((i + 1) * length / out))) for i in range(out)]


def _ref_adaptive(x, out_size, mode):
    x = np.asarray(x, np.float64)
    nd = x.ndim - 2
    bins = [_bins(x.shape[1 + a], out_size[a]) for a in range(nd)]
    y = np.empty((x.shape[0],) + tuple(out_size) + (x.shape[-1],))
    for cell in itertools.product(*[range(o) for o in out_size]):
        sl = tuple(slice(*bins[a][i]) for a, i in enumerate(cell))
        win = x[(slice(None),) + sl + (slice(None),)].reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None),) + cell + (slice(None),)] = win.max(axis=1) if mode == "max" else win.mean(axis=1)
    return y


ADAPTIVE_CASES = [
    (1, (7, 3), 3), (1, (10, 2), (4,)), (1, (3, 2), 5), (1, (6, 1), 6),
    (2, (7, 5, 3), (3, 2)), (2, (4, 4, 2), 2), (2, (3, 5, 2), (4, 5)), (2, (1, 6, 2), (2, 4)),
    (3, (5, 4, 3, 2), (2, 3, 2)), (3, (2, 3, 4, 1), 3),
]


def _adaptive(mode, nd):
    return getattr(layers, f"Adaptive{'Max' if mode == 'max' else 'Average'}Pooling{nd}D")


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("nd, sample, out", ADAPTIVE_CASES, ids=str)
def test_adaptive_pooling_reference_and_finite_differences(mode, nd, sample, out, rng):
    layer = _adaptive(mode, nd)(out)
    size = (out,) * nd if isinstance(out, int) else tuple(out)
    x = rng.standard_normal((2,) + sample).astype(np.float32)
    y, ctx = layer.forward(x, training=True)
    want = _ref_adaptive(x, size, mode)
    assert y.dtype == np.float32 and y.flags.c_contiguous and y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(layer(x), y)
    assert layer.compute_output_shape((None,) + sample) == (None,) + size + (sample[-1],)
    assert layer(pynncore.Input((None,) * nd + (sample[-1],))).shape == (None,) + size + (sample[-1],)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(ctx, r.astype(np.float32))
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert_grad_close(dx, numeric_grad(lambda v: float((_ref_adaptive(v, size, mode) * r).sum()),
                                       x.astype(np.float64)), what="dx")
    assert layer.backward(ctx, r.astype(np.float32), need_dx=False) is None


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("nd, sample, out", ADAPTIVE_CASES, ids=str)
def test_adaptive_pooling_matches_keras(mode, nd, sample, out, rng):
    keras = pytest.importorskip("keras")
    x = rng.standard_normal((3,) + sample).astype(np.float32)
    k = getattr(keras.layers, _adaptive(mode, nd).__name__)(out, data_format="channels_last")
    np.testing.assert_allclose(_adaptive(mode, nd)(out)(x), _np(k(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_adaptive_pooling_training_matches_keras(mode, rng):
    keras = pytest.importorskip("keras")
    name = _adaptive(mode, 2).__name__
    kin = keras.Input((5, 7, 2))
    kout = keras.layers.Dense(2)(keras.layers.Flatten()(getattr(keras.layers, name)((3, 2), data_format="channels_last")(
        keras.layers.Dense(3)(kin))))
    k = keras.Model(kin, kout)
    pin = pynncore.Input((5, 7, 2))
    p = pynncore.Model(pin, layers.Dense(2)(layers.Flatten()(_adaptive(mode, 2)((3, 2))(layers.Dense(3)(pin)))))
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    k.compile(keras.optimizers.SGD(0.1), "mse")
    p.compile(pynncore.optimizers.SGD(0.1), "mse")
    x = rng.standard_normal((6, 5, 7, 2)).astype(np.float32)
    y = rng.standard_normal((6, 2)).astype(np.float32)
    train_side_by_side(k, p, x, y, steps=3)


def test_adaptive_max_pooling_gradient_goes_to_first_maximum():
    x = np.array([[[1.0], [3.0], [3.0], [0.0]]], np.float32)
    layer = layers.AdaptiveMaxPooling1D(1)
    y, ctx = layer.forward(x, training=True)
    assert y.tolist() == [[[3.0]]]
    assert layer.backward(ctx, np.ones_like(y)).ravel().tolist() == [0.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_adaptive_pooling_config_and_errors(nd):
    for mode in ("avg", "max"):
        cls = _adaptive(mode, nd)
        layer = cls(2 if nd == 1 else [2] * nd, name=f"ap{mode}{nd}")
        again = _roundtrip_config(layer)
        assert again.output_size == (2,) * nd and again.data_format == "channels_last"
        assert layer.get_config()["output_size"] == [2] * nd
        name = cls.__name__
        with pytest.raises(TypeError, match=rf"{name} '.*': output_size must be an integer or a tuple of {nd} integers\. Received: output_size=\(1, 2, 3, 4\)"):
            cls((1, 2, 3, 4))
        with pytest.raises(TypeError, match=r"output_size must be an integer"):
            cls(2.5)
        with pytest.raises(TypeError, match=r"output_size must be an integer"):
            cls(True)
        with pytest.raises(ValueError, match=rf"{name} '.*': output_size must be positive\. Received: output_size=0"):
            cls(0)
        with pytest.raises(ValueError, match=r"only data_format='channels_last'.*Received: data_format='channels_first'"):
            cls(2, data_format="channels_first")
        with pytest.raises(ValueError, match=rf"{name} '.*': expected a {nd + 2}-D input .*Received: shape=\(None, 3\)"):
            cls(2)(np.ones((2, 3), np.float32))
        with pytest.raises(ValueError, match=rf"expected a {nd + 2}-D input"):
            cls(2)(pynncore.Input((4,) * (nd + 2)))
        with pytest.raises(ValueError, match=r"expected positive spatial sizes"):
            cls(2)(np.ones((2,) + (0,) * nd + (3,), np.float32))


# -- zero-size and non-contiguous inputs -----------------------------------------------------------


@pytest.mark.parametrize("make, sample", [
    (lambda: layers.RMSNormalization(), (4,)),
    (lambda: layers.SpatialDropout3D(0.5, seed=1), (2, 3, 2, 4)),
    (lambda: layers.EinsumDense("abc,cde->abde", (None, 2, 4), bias_axes="de"), (5, 3)),
    (lambda: layers.EinsumDense("abc,bcd->abd", (5, 4), bias_axes="bd"), (5, 3)),
    (lambda: layers.EinsumDense("...b,bc->...c", 4), (2, 3)),
    (lambda: layers.AdaptiveAveragePooling2D(2), (5, 3, 2)),
    (lambda: layers.AdaptiveMaxPooling3D((2, 1, 3)), (3, 4, 5, 2)),
], ids=["rms", "sd3", "einsum", "einsum_shared", "einsum_ellipsis", "aap2", "amp3"])
def test_zero_batch_and_non_contiguous_input(make, sample, rng):
    layer = make()
    x = rng.standard_normal((2,) + sample).astype(np.float32)
    base = layer(x)
    y, ctx = layer.forward(np.zeros((0,) + sample, np.float32), training=True)
    assert y.shape == (0,) + base.shape[1:]
    assert layer.backward(ctx, y).shape == (0,) + sample
    # A strided view (every other sample of a larger batch) gives the same result.
    big = np.repeat(x, 2, axis=0)[::2]
    assert not big.flags.c_contiguous
    np.testing.assert_array_equal(layer(big), base)
