"""GaussianDropout, AlphaDropout, ActivityRegularization and UnitNormalization: float64
references, finite-difference gradients, Keras 3 agreement (noise statistics for the random
layers, exact values otherwise), seeds, bad arguments, config and ONNX export."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import pynncore
from pynncore import layers
from pynncore.models import Model, Sequential
from pynncore.utils import set_random_seed

from _gradcheck import assert_grad_close, check_layer_against_reference, numeric_grad

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
ALPHA_P = -SELU_ALPHA * SELU_SCALE

# Keras's torch trainer converts its logs with np.array(tensor, copy=False)
KERAS_TRAIN_WARNING = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture
def keras():
    return pytest.importorskip("keras")


def _np(keras, t) -> np.ndarray:
    """A Keras output (a torch tensor with KERAS_BACKEND=torch) as a float64 array."""
    if hasattr(t, "detach"):
        t = t.detach().cpu().numpy()
    return np.asarray(t, dtype=np.float64)


def _alpha_ab(rate: float) -> tuple:
    a = ((1.0 - rate) * (1.0 + rate * ALPHA_P**2)) ** -0.5
    return a, -a * ALPHA_P * rate


# -- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [layers.GaussianDropout, layers.AlphaDropout])
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.5", None, True, [0.5]])
def test_bad_rate(cls, rate):
    with pytest.raises(ValueError, match=rf"{cls.__name__} '.*': rate must be a float in \[0, 1\)\. Received: rate="):
        cls(rate)


@pytest.mark.parametrize("cls", [layers.GaussianDropout, layers.AlphaDropout])
def test_bad_seed(cls):
    with pytest.raises(TypeError, match=rf"{cls.__name__} '.*': expected `seed` to be a non-negative integer. Received: seed='1'"):
        cls(0.1, seed="1")
    with pytest.raises(ValueError, match=rf"{cls.__name__} '.*': expected `seed` to be a non-negative integer. Received: seed=-3"):
        cls(0.1, seed=-3)


@pytest.mark.parametrize("noise_shape", [(0, 3), "abc", (2.5,), (None, True), 3])
def test_alpha_dropout_bad_noise_shape(noise_shape):
    with pytest.raises(ValueError, match=r"AlphaDropout '.*': noise_shape must be a list of positive integers and None"):
        layers.AlphaDropout(0.1, noise_shape=noise_shape)


def test_alpha_dropout_noise_shape_must_broadcast():
    x = np.ones((4, 3), np.float32)
    for ns in [(None, 2), (None, 3, 1)]:
        layer = layers.AlphaDropout(0.1, noise_shape=ns, seed=0)
        with pytest.raises(ValueError, match=r"AlphaDropout '.*': noise_shape=.* does not broadcast to the input. Received: shape=\(4, 3\)"):
            layer.forward(x, training=True)


@pytest.mark.parametrize("kw", [{"l1": -0.1}, {"l2": "a"}, {"l1": float("inf")}, {"l2": float("nan")}, {"l1": True}])
def test_activity_regularization_bad_factor(kw):
    (name, value), = kw.items()
    with pytest.raises(ValueError, match=rf"ActivityRegularization '.*': expected `{name}` to be a non-negative finite float. Received: {name}="):
        layers.ActivityRegularization(**kw)


@pytest.mark.parametrize("axis", ["a", 1.5, [], [1, "x"], None, True, (1, 2.0)])
def test_unit_normalization_bad_axis_type(axis):
    with pytest.raises(ValueError, match=r"UnitNormalization '.*': axis must be an integer or a non-empty list of integers. Received: axis="):
        layers.UnitNormalization(axis=axis)


def test_unit_normalization_axis_out_of_range_or_repeated():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"UnitNormalization '.*': axis 2 is out of range for an input of rank 2"):
        layers.UnitNormalization(axis=2)(x)
    with pytest.raises(ValueError, match=r"axis \[-3\] is out of range for an input of rank 2"):
        layers.UnitNormalization(axis=[-3])(pynncore.Input((3,)))
    with pytest.raises(ValueError, match=r"UnitNormalization '.*': axis names an axis twice. Received: axis=\[1, -1\]"):
        layers.UnitNormalization(axis=[1, -1])(x)
    built = layers.UnitNormalization(axis=2)
    built(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="out of range for an input of rank 2"):
        built.forward(x)


# -- inference is the identity, seeds -------------------------------------------------------------

IDENTITY_AT_INFERENCE = [
    lambda: layers.GaussianDropout(0.4, seed=1),
    lambda: layers.AlphaDropout(0.3, seed=2),
    lambda: layers.AlphaDropout(0.3, noise_shape=(None, 1, None)),
    lambda: layers.ActivityRegularization(l1=0.3, l2=0.1),
]


@pytest.mark.parametrize("make", IDENTITY_AT_INFERENCE)
def test_inference_is_identity(make, rng, keras):
    x = rng.standard_normal((5, 4, 3)).astype(np.float32)
    layer = make()
    np.testing.assert_array_equal(layer(x), x)
    y, ctx = layer.forward(x, training=False)
    np.testing.assert_array_equal(y, x)
    model = Sequential([pynncore.Input((4, 3)), make()])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    mask = np.ones((5, 4), bool)
    assert layer.compute_mask(x, mask) is mask  # masks pass through
    # Keras: the same layer with the same arguments is the identity at inference too
    config = {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "trainable")}
    klayer = getattr(keras.layers, type(layer).__name__)(**config)
    np.testing.assert_array_equal(_np(keras, klayer(x, training=False)), x)


@pytest.mark.parametrize("cls", [layers.GaussianDropout, layers.AlphaDropout])
def test_rate_zero_is_identity_in_training(cls, rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    layer = cls(0.0, seed=1)
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(ctx, dy), dy)


@pytest.mark.parametrize("cls", [layers.GaussianDropout, layers.AlphaDropout])
def test_seeded_reproducibility(cls, rng):
    x = rng.standard_normal((6, 7)).astype(np.float32)
    a, b, c = cls(0.3, seed=5), cls(0.3, seed=5), cls(0.3, seed=6)
    ya = [a.forward(x, training=True)[0] for _ in range(2)]
    yb = [b.forward(x, training=True)[0] for _ in range(2)]
    for u, v in zip(ya, yb):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(ya[0], ya[1])  # a new draw at every call
    assert not np.array_equal(ya[0], c.forward(x, training=True)[0])
    # unseeded layers draw from the global generator, which set_random_seed resets
    outs = []
    for _ in range(2):
        set_random_seed(11)
        outs.append(cls(0.3).forward(x, training=True)[0])
    np.testing.assert_array_equal(outs[0], outs[1])
    # the seed survives a config round trip
    d = cls.from_config(a.get_config())
    np.testing.assert_array_equal(d.forward(x, training=True)[0], cls(0.3, seed=5).forward(x, training=True)[0])


# -- GaussianDropout -------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_gaussian_dropout_statistics_match_keras(rate, rng, keras):
    x = np.ones((400, 500), np.float32)
    std = math.sqrt(rate / (1 - rate))
    noise, ctx = layers.GaussianDropout(rate, seed=3).forward(x, training=True)
    kout = _np(keras, keras.layers.GaussianDropout(rate, seed=3)(x, training=True))
    for sample in (noise.astype(np.float64), kout):
        assert abs(sample.mean() - 1.0) < 0.01 * max(std, 1.0)
        assert abs(sample.std() / std - 1.0) < 0.01
        within = np.mean(np.abs(sample - 1.0) < std)  # Gaussian: 68.27% within one stddev
        assert abs(within - 0.6827) < 0.006
        skew = np.mean(((sample - 1.0) / std) ** 3)
        assert abs(skew) < 0.03
    np.testing.assert_array_equal(ctx, noise)  # x = 1: the output is the noise itself


def test_gaussian_dropout_backward_uses_the_same_noise(rng):
    x = (rng.standard_normal((5, 3, 4)) + 3.0).astype(np.float32)  # away from 0
    layer = layers.GaussianDropout(0.25, seed=9)
    y, ctx = layer.forward(x, training=True)
    assert y.dtype == np.float32 and y.shape == x.shape
    noise = y.astype(np.float64) / x
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx = layer.backward(ctx, dy)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, dy * noise, rtol=1e-5, atol=1e-6)
    assert layer.backward(ctx, dy, need_dx=False) is None
    # the output is linear in x for a fixed noise: dx is the gradient of sum(y * dy)
    assert_grad_close(dx, numeric_grad(lambda v: float((v * noise * dy).sum()), x.astype(np.float64)))


# -- AlphaDropout ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_alpha_dropout_values_and_backward(rate, rng):
    x = rng.standard_normal((40, 30)).astype(np.float32)
    layer = layers.AlphaDropout(rate, seed=4)
    y, factor = layer.forward(x, training=True)
    assert y.dtype == np.float32 and y.shape == x.shape
    a, b = _alpha_ab(rate)
    keep = factor > 0
    want = a * (x.astype(np.float64) * keep + ALPHA_P * (1 - keep)) + b
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(factor[keep], a, rtol=1e-7)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx = layer.backward(factor, dy)
    np.testing.assert_allclose(dx, dy * a * keep, rtol=1e-6, atol=1e-7)
    assert_grad_close(
        dx, numeric_grad(lambda v: float(((a * (v * keep + ALPHA_P * (1 - keep)) + b) * dy).sum()), x.astype(np.float64))
    )


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_alpha_dropout_statistics_match_keras(rate, rng, keras):
    # Inputs of zero mean and unit variance keep both; the dropped entries all take the value
    # a * alpha' + b, the kept ones a * x + b.
    x = rng.standard_normal((500, 400)).astype(np.float32)
    a, b = _alpha_ab(rate)
    ours, _ = layers.AlphaDropout(rate, seed=8).forward(x, training=True)
    theirs = _np(keras, keras.layers.AlphaDropout(rate, seed=8)(x, training=True))
    for out in (ours.astype(np.float64), theirs):
        kept = np.isclose(out, a * x + b, rtol=1e-5, atol=1e-6)
        dropped = np.isclose(out, a * ALPHA_P + b, rtol=1e-5, atol=1e-6)
        assert np.all(kept | dropped)
        assert abs(dropped.mean() - rate) < 0.005
        assert abs(out.mean()) < 0.01
        assert abs(out.var() - 1.0) < 0.015
    # the same mean and variance per input value: E[y] and Var[y] for a constant input
    c = np.full((400, 500), 0.7, np.float32)
    mean = a * ((1 - rate) * 0.7 + rate * ALPHA_P) + b
    var = a**2 * rate * (1 - rate) * (0.7 - ALPHA_P) ** 2
    ours, _ = layers.AlphaDropout(rate, seed=1).forward(c, training=True)
    theirs = _np(keras, keras.layers.AlphaDropout(rate, seed=1)(c, training=True))
    for out in (ours.astype(np.float64), theirs):
        assert abs(out.mean() - mean) < 4 * math.sqrt(var / out.size)
        assert abs(out.var() / var - 1.0) < 0.02


def test_alpha_dropout_noise_shape(rng, keras):
    x = rng.standard_normal((64, 5, 6)).astype(np.float32)
    a, b = _alpha_ab(0.4)
    layer = layers.AlphaDropout(0.4, noise_shape=(None, 1, 6), seed=2)
    y, factor = layer.forward(x, training=True)
    assert factor.shape == (64, 1, 6)
    dropped = np.isclose(y, a * ALPHA_P + b, rtol=1e-5, atol=1e-6)
    # one draw per (sample, feature), shared along axis 1 (Keras's noise_shape)
    assert np.all(dropped == dropped[:, :1, :])
    ky = _np(keras, keras.layers.AlphaDropout(0.4, noise_shape=(None, 1, 6), seed=2)(x, training=True))
    kd = np.isclose(ky, a * ALPHA_P + b, rtol=1e-5, atol=1e-6)
    assert np.all(kd == kd[:, :1, :])
    assert abs(dropped[:, 0].mean() - 0.4) < 0.06 and abs(kd[:, 0].mean() - 0.4) < 0.06
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(factor, dy), dy * np.where(dropped, 0.0, a), rtol=1e-6, atol=1e-7)


# -- ActivityRegularization --------------------------------------------------------------------------


def _penalty64(y: np.ndarray, l1: float, l2: float) -> float:
    """Keras 3: l1 * sum|y| + l2 * sum y^2, divided by the batch size."""
    y = np.asarray(y, np.float64)
    return (l1 * np.abs(y).sum() + l2 * np.square(y).sum()) / y.shape[0]


def _dense_reg_models(keras, l1, l2, functional, rng):
    """The same Dense(3) -> ActivityRegularization model in pynncore and in Keras."""
    kernel = rng.standard_normal((5, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    if functional:
        inp = pynncore.Input((5,))
        out = layers.ActivityRegularization(l1=l1, l2=l2)(layers.Dense(3)(inp))
        ours = Model(inp, layers.Dense(2)(out))
    else:
        ours = Sequential([pynncore.Input((5,)), layers.Dense(3), layers.ActivityRegularization(l1=l1, l2=l2), layers.Dense(2)])
    kin = keras.Input((5,))
    kout = keras.layers.Dense(2)(keras.layers.ActivityRegularization(l1=l1, l2=l2)(keras.layers.Dense(3)(kin)))
    theirs = keras.Model(kin, kout)
    weights = [kernel, bias, rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32)]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs, weights


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
@pytest.mark.parametrize("l1, l2", [(0.1, 0.0), (0.0, 0.3), (0.05, 0.2)])
def test_activity_regularization_penalty_and_gradient(l1, l2, functional, rng, keras):
    import torch

    ours, theirs, (kernel, bias, *_rest) = _dense_reg_models(keras, l1, l2, functional, rng)
    x = rng.standard_normal((7, 5)).astype(np.float32)
    y, ctx = ours.forward(x, training=True)
    h = x.astype(np.float64) @ kernel + bias
    penalty = ours.activity_penalty(ctx)
    assert penalty == pytest.approx(_penalty64(h, l1, l2), rel=1e-6)
    # Keras records the same loss for the layer's output
    xt = torch.tensor(x, requires_grad=True)
    theirs(xt, training=True)
    (kloss,) = theirs.losses
    assert penalty == pytest.approx(float(kloss.detach()), rel=1e-5)
    # gradient of the penalty alone (zero output gradient): input and Dense kernel
    for w in ours.weights:
        w.grad[...] = 0
    dx = ours.backward(ctx, np.zeros_like(y), need_dx=True)
    kloss.backward()
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert_grad_close(dx, numeric_grad(lambda v: _penalty64(v @ kernel + bias, l1, l2), x.astype(np.float64)), what="dx")
    dense = next(l for l in ours.layers if isinstance(l, layers.Dense))
    assert_grad_close(
        dense.kernel.grad,
        numeric_grad(lambda k: _penalty64(x.astype(np.float64) @ k + bias, l1, l2), kernel.astype(np.float64)),
        what="dkernel",
    )


@KERAS_TRAIN_WARNING
@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_activity_regularization_training_loss_matches_keras(functional, rng, keras):
    ours, theirs, _ = _dense_reg_models(keras, 0.02, 0.05, functional, rng)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    t = rng.standard_normal((16, 2)).astype(np.float32)
    ours.compile(optimizer=pynncore.optimizers.SGD(0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    for _ in range(3):  # the loss includes the penalty, and the updates follow its gradient
        assert ours.train_on_batch(x, t) == pytest.approx(float(theirs.train_on_batch(x, t)), rel=1e-5)
    for w, kw in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(w, kw, rtol=1e-5, atol=1e-6)


@KERAS_TRAIN_WARNING
def test_dense_activity_regularizer_matches_keras(rng, keras):
    # the mechanism ActivityRegularization uses: a layer's activity_regularizer (Keras 3
    # divides its penalty by the batch size)
    reg = pynncore.regularizers.L1L2(l1=0.01, l2=0.03)
    ours = Sequential([pynncore.Input((4,)), layers.Dense(3, activity_regularizer=reg)])
    kreg = keras.regularizers.L1L2(l1=0.01, l2=0.03)
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activity_regularizer=kreg)])
    theirs.set_weights(ours.get_weights())
    x = rng.standard_normal((9, 4)).astype(np.float32)
    t = rng.standard_normal((9, 3)).astype(np.float32)
    ours.compile(optimizer=pynncore.optimizers.SGD(0.05), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    for _ in range(2):
        assert ours.train_on_batch(x, t) == pytest.approx(float(theirs.train_on_batch(x, t)), rel=1e-5)
    for w, kw in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(w, kw, rtol=1e-5, atol=1e-6)


def test_activity_regularization_is_an_identity_layer(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    layer = layers.ActivityRegularization(l1=0.5, l2=None)
    assert layer.l2 == 0.0
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(ctx, dy), dy)
    assert layer.activity_regularizer(x) == pytest.approx(0.5 * float(np.abs(x.astype(np.float64)).sum()))
    assert layer.count_params() == 0
    # an empty batch adds nothing
    model = Sequential([pynncore.Input((3,)), layers.ActivityRegularization(l1=1.0)])
    _, ctx = model.forward(np.zeros((0, 3), np.float32), training=True)
    assert model.activity_penalty(ctx) == 0.0


# -- UnitNormalization ---------------------------------------------------------------------------------


def _unit_norm64(x: np.ndarray, axes: tuple) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.sqrt((x * x).sum(axis=axes, keepdims=True)), 1e-12)


UNIT_AXES = [(-1, (2,)), (1, (1,)), ([1, 2], (1, 2)), ([-1, 1], (1, 2)), (0, (0,)), ([0, 2], (0, 2))]


@pytest.mark.parametrize("axis, axes", UNIT_AXES, ids=[str(a) for a, _ in UNIT_AXES])
def test_unit_normalization_values_and_gradient(axis, axes, rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    layer = layers.UnitNormalization(axis=axis)
    check_layer_against_reference(layer, x, lambda v: _unit_norm64(v, axes), rng)


@pytest.mark.parametrize("axis, axes", UNIT_AXES, ids=[str(a) for a, _ in UNIT_AXES])
def test_unit_normalization_matches_keras(axis, axes, rng, keras):
    import torch

    x = (rng.standard_normal((3, 4, 5)) * 3).astype(np.float32)
    x[1] = 0.0  # all-zero slices stay zero (the norm is clipped at epsilon)
    x[2, 1] = 1e-14  # a norm below epsilon: scaled by 1 / epsilon
    layer = layers.UnitNormalization(axis=axis)
    y, ctx = layer.forward(x, training=True)
    xt = torch.tensor(x, requires_grad=True)
    ky = keras.layers.UnitNormalization(axis=axis)(xt)
    np.testing.assert_allclose(y, _np(keras, ky), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(y, _unit_norm64(x, axes), rtol=1e-6, atol=1e-7)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    (ky * torch.tensor(dy)).sum().backward()
    kdx = xt.grad.numpy()
    dx = layer.backward(ctx, dy)
    # Where the norm is clipped at epsilon the scale is the constant 1 / epsilon, so dx is
    # dy / epsilon; Keras's torch gradient is NaN there (rsqrt's derivative overflows to inf
    # and is multiplied by the zero gradient of the clipped branch).
    norm = np.sqrt((x.astype(np.float64) ** 2).sum(axis=axes, keepdims=True))
    clipped = np.broadcast_to(norm < 1e-12, x.shape)
    assert not np.isnan(kdx[~clipped]).any()
    np.testing.assert_allclose(dx[~clipped], kdx[~clipped], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx[clipped], dy[clipped].astype(np.float64) * 1e12, rtol=1e-6)


def test_unit_normalization_below_epsilon(rng):
    x = np.zeros((2, 3), np.float32)
    x[1] = [1e-14, -2e-14, 3e-14]
    layer = layers.UnitNormalization()
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_array_equal(y[0], 0.0)
    np.testing.assert_allclose(y[1], x[1].astype(np.float64) * 1e12, rtol=1e-6)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    # below epsilon the scale is the constant 1 / epsilon
    np.testing.assert_allclose(layer.backward(ctx, dy), dy.astype(np.float64) * 1e12, rtol=1e-6)
    assert layer.backward(ctx, dy, need_dx=False) is None


def test_unit_normalization_norms_and_shapes(rng):
    x = rng.standard_normal((6, 2, 3, 4)).astype(np.float32)
    y = layers.UnitNormalization(axis=[1, 3])(x)
    np.testing.assert_allclose(np.sqrt((y.astype(np.float64) ** 2).sum(axis=(1, 3))), 1.0, rtol=1e-6)
    layer = layers.UnitNormalization(axis=(2, -1))
    assert layer.axis == [2, -1]
    assert layer(pynncore.Input((2, 3, 4))).shape == (None, 2, 3, 4)
    assert layer.compute_output_shape((None, 2, 3, 4)) == (None, 2, 3, 4)


# -- config, models, ONNX -------------------------------------------------------------------------------

CONFIGS = [
    lambda: layers.GaussianDropout(0.35, seed=4, name="gd"),
    lambda: layers.AlphaDropout(0.15, noise_shape=(None, 1), seed=None),
    lambda: layers.ActivityRegularization(l1=0.01, l2=0.02),
    lambda: layers.UnitNormalization(axis=[1, -1]),
    lambda: layers.UnitNormalization(),
]


@pytest.mark.parametrize("make", CONFIGS)
def test_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    again = type(layer).from_config(config)
    assert again.get_config() == config
    for key in set(config) - {"name", "trainable", "dtype"}:  # each argument is an attribute
        value = getattr(layer, key)
        assert (list(value) if isinstance(value, tuple) else value) == config[key]


def test_model_fit_with_every_layer(rng, tmp_path):
    set_random_seed(0)
    model = Sequential([
        pynncore.Input((6,)),
        layers.Dense(8, activation="selu"),
        layers.AlphaDropout(0.1),
        layers.GaussianDropout(0.2, seed=1),
        layers.ActivityRegularization(l2=1e-3),
        layers.UnitNormalization(),
        layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = x[:, :1] * 0.5
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    path = str(tmp_path / "m.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(l).__name__ for l in loaded.layers][1:5] == [
        "AlphaDropout", "GaussianDropout", "ActivityRegularization", "UnitNormalization"]


def test_onnx_export(rng, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = Sequential([
        pynncore.Input((4, 5)),
        layers.Dense(6),
        layers.GaussianDropout(0.3),
        layers.AlphaDropout(0.2),
        layers.GaussianNoise(0.5),
        layers.ActivityRegularization(l1=0.1),
        layers.UnitNormalization(axis=[1, 2]),
        layers.Dense(3),
        layers.UnitNormalization(),
    ])
    path = str(tmp_path / "m.onnx")
    model.export_onnx(path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for n in (1, 5):
        x = rng.standard_normal((n, 4, 5)).astype(np.float32)
        x[0, :, :] = 0.0  # all-zero sample: the clipped norm
        got = sess.run(None, {"input": x})[0]
        np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
