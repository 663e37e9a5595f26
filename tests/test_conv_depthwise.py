"""DepthwiseConv1D/2D and SeparableConv1D/2D against float64 numpy references, finite
differences and Keras 3."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad
from _keras_train import train_side_by_side

import pynncore
from pynncore import layers
from pynncore.models import Sequential

# --- float64 references -----------------------------------------------------------------------


def _axis_geometry(size, k, s, d, padding):
    """(output size, padding before) along one axis, from Keras's rules."""
    keff = (k - 1) * d + 1
    if padding == "valid":
        return (size - keff) // s + 1, 0
    out = -(-size // s)
    return out, max((out - 1) * s + keff - size, 0) // 2


def ref_depthwise(x, kernel, bias, strides, padding, dilation):
    """y[n, o..., c * M + m] = sum_taps x[n, o * s - p + t * d, c] * kernel[t..., c, m] (+ bias),
    float64; 1-D and 2-D (channels last)."""
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    rank = x.ndim - 2
    if rank == 1:
        y = ref_depthwise(x[:, None], kernel[None], bias, (1,) + tuple(strides), padding, (1,) + tuple(dilation))
        return y[:, 0]
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    (oh, ph), (ow, pw) = (_axis_geometry(sz, k, s, d, padding) for sz, k, s, d in zip((h, w), (kh, kw), strides, dilation))
    y = np.zeros((n, oh, ow, c, m))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    r = i * strides[0] - ph + a * dilation[0]
                    q = j * strides[1] - pw + b * dilation[1]
                    if 0 <= r < h and 0 <= q < w:
                        y[:, i, j] += x[:, r, q, :, None] * kernel[a, b]
    y = y.reshape(n, oh, ow, c * m)
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y


def ref_separable(x, depthwise, pointwise, bias, strides, padding, dilation):
    """The depthwise reference without bias, then a 1x1 convolution with the bias, float64."""
    t = ref_depthwise(x, depthwise, None, strides, padding, dilation)
    pw = np.asarray(pointwise, np.float64)
    y = t @ pw.reshape(pw.shape[-2:])
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y


ACTS = {
    None: lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
}

# (class name, kwargs, input shape): strides, padding, dilation, depth_multiplier 1 and 2, batch 1.
CASES = [
    ("DepthwiseConv2D", dict(kernel_size=3), (2, 6, 5, 3)),
    ("DepthwiseConv2D", dict(kernel_size=(3, 2), padding="same", depth_multiplier=2, activation="relu"), (2, 5, 6, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2), (1, 7, 6, 2)),
    ("DepthwiseConv2D", dict(kernel_size=2, dilation_rate=2, activation="elu", use_bias=False), (2, 6, 6, 4)),
    ("DepthwiseConv2D", dict(kernel_size=(2, 3), strides=(2, 1), depth_multiplier=3, activation="tanh"), (1, 5, 7, 2)),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, padding="same"), (2, 9, 3)),
    ("DepthwiseConv1D", dict(kernel_size=2, strides=2, dilation_rate=1, activation="elu"), (1, 8, 4)),
    ("DepthwiseConv1D", dict(kernel_size=3, dilation_rate=2, use_bias=False), (2, 9, 2)),
    ("SeparableConv2D", dict(filters=4, kernel_size=3), (2, 6, 5, 3)),
    ("SeparableConv2D", dict(filters=3, kernel_size=3, padding="same", depth_multiplier=2, activation="relu"), (1, 5, 5, 2)),
    ("SeparableConv2D", dict(filters=5, kernel_size=(2, 3), strides=2, padding="same", activation="elu"), (2, 7, 6, 3)),
    ("SeparableConv2D", dict(filters=2, kernel_size=2, dilation_rate=2, depth_multiplier=2, use_bias=False), (2, 6, 5, 2)),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, padding="same", depth_multiplier=2, activation="tanh"), (2, 9, 3)),
    ("SeparableConv1D", dict(filters=3, kernel_size=2, strides=2, dilation_rate=1), (1, 8, 2)),
]
IDS = [f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)]


def _make(cls, kwargs, shape, rng):
    """The layer built for ``shape`` with random weights (a random bias too)."""
    layer = getattr(layers, cls)(**kwargs)
    layer.build((None,) + shape[1:])
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.weights])
    return layer


def _reference(layer, kwargs, weights):
    """``f(x, *weights)`` in float64 for the layer's configuration."""
    act = ACTS[kwargs.get("activation")]
    geo = (layer.strides, layer.padding, layer.dilation_rate)
    use_bias = layer.use_bias
    if type(layer).__name__.startswith("Depthwise"):
        return lambda x, k, *b: act(ref_depthwise(x, k, b[0] if use_bias else None, *geo))
    return lambda x, dk, pk, *b: act(ref_separable(x, dk, pk, b[0] if use_bias else None, *geo))


@pytest.mark.parametrize("cls, kwargs, shape", CASES, ids=IDS)
def test_forward_matches_numpy_reference(cls, kwargs, shape, rng, cpu_path):
    layer = _make(cls, kwargs, shape, rng)
    x = rng.standard_normal(shape).astype(np.float32)
    want = _reference(layer, kwargs, None)(x, *layer.get_weights())
    for training in (False, True):
        y, _ = layer.forward(x, training=training)
        assert y.dtype == np.float32 and y.shape == want.shape
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + want.shape[1:]
    assert layer(pynncore.Input(shape[1:])).shape == (None,) + want.shape[1:]


@pytest.mark.parametrize("cls, kwargs, shape", CASES, ids=IDS)
def test_gradients_match_finite_differences(cls, kwargs, shape, rng):
    if kwargs.get("activation") == "relu":
        kwargs = dict(kwargs, activation="tanh")  # smooth, so central differences are exact enough
    layer = _make(cls, kwargs, shape, rng)
    x = rng.standard_normal(shape).astype(np.float32)
    weights = [w.astype(np.float64) for w in layer.get_weights()]
    ref = _reference(layer, kwargs, None)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    for w in layer.weights:
        w.grad[...] = 0
    dx = layer.backward(ctx, r.astype(np.float32))
    x64 = x.astype(np.float64)
    assert_grad_close(dx, numeric_grad(lambda v: float((ref(v, *weights) * r).sum()), x64), what="dx")
    for i, var in enumerate(layer.weights):

        def loss(v, i=i):
            ws = list(weights)
            ws[i] = v
            return float((ref(x64, *ws) * r).sum())

        assert_grad_close(var.grad, numeric_grad(loss, weights[i]), what=var.name)


def test_backward_without_input_gradient_and_frozen(rng):
    layer = _make("SeparableConv2D", dict(filters=3, kernel_size=2, activation="tanh"), (2, 4, 4, 2), rng)
    x = rng.standard_normal((2, 4, 4, 2)).astype(np.float32)
    y, ctx = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    for w in layer.weights:
        w.grad[...] = 0
    assert layer.backward(ctx, dy, need_dx=False) is None
    grads = [w.grad.copy() for w in layer.weights]
    assert all(np.abs(g).sum() > 0 for g in grads)
    for w in layer.weights:
        w.grad[...] = 0
    dx = layer.backward(ctx, dy, need_dx=True)
    for w, g in zip(layer.weights, grads):
        np.testing.assert_allclose(w.grad, g, rtol=1e-6, atol=1e-7)
    layer.trainable = False
    for w in layer.weights:
        w.grad[...] = 0
    np.testing.assert_allclose(layer.backward(ctx, dy), dx, rtol=1e-6, atol=1e-7)
    assert all(not w.grad.any() for w in layer.weights)


def test_weight_layouts_and_names():
    dw = layers.DepthwiseConv2D((3, 2), depth_multiplier=2)
    dw.build((None, 6, 6, 5))
    assert [(w.name, w.shape) for w in dw.weights] == [("kernel", (3, 2, 5, 2)), ("bias", (10,))]
    assert dw.depthwise_kernel is dw.kernel
    sep = layers.SeparableConv1D(7, 3, depth_multiplier=3, use_bias=False)
    sep.build((None, 9, 2))
    assert [(w.name, w.shape) for w in sep.weights] == [("depthwise_kernel", (3, 2, 3)), ("pointwise_kernel", (1, 6, 7))]


# --- Keras 3 ----------------------------------------------------------------------------------

_keras_warning = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _np(keras, v):
    return np.asarray(keras.ops.convert_to_numpy(v))


@_keras_warning
@pytest.mark.parametrize("cls, kwargs, shape", CASES, ids=IDS)
def test_outputs_match_keras(cls, kwargs, shape, rng):
    keras = _keras()
    layer = _make(cls, kwargs, shape, rng)
    kl = getattr(keras.layers, cls)(**kwargs)
    kl.build((None,) + shape[1:])
    assert [tuple(w.shape) for w in kl.weights] == [w.shape for w in layer.weights]
    kl.set_weights(layer.get_weights())
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(layer(x), _np(keras, kl(x)), rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape((None,) + shape[1:]) == tuple(kl.compute_output_shape((None,) + shape[1:]))


@_keras_warning
@pytest.mark.parametrize("rank", [1, 2])
def test_train_on_batch_matches_keras(rank, rng):
    keras = _keras()
    shape = (7, 3) if rank == 1 else (6, 5, 3)
    d, s = ("DepthwiseConv1D", "SeparableConv1D") if rank == 1 else ("DepthwiseConv2D", "SeparableConv2D")

    def stack(lib):
        return [
            getattr(lib.layers, d)(3, depth_multiplier=2, padding="same", activation="tanh"),
            getattr(lib.layers, s)(4, 2, strides=2, depth_multiplier=2, activation="relu"),
            lib.layers.Flatten(),
            lib.layers.Dense(2),
        ]

    kmodel = keras.Sequential([keras.Input(shape)] + stack(keras))
    pmodel = Sequential([pynncore.Input(shape)] + stack(pynncore))
    pmodel.set_weights([_np(keras, w) for w in kmodel.weights])
    kmodel.compile(keras.optimizers.SGD(0.05), "mse")
    pmodel.compile(pynncore.optimizers.SGD(0.05), "mse")
    x = rng.standard_normal((5,) + shape).astype(np.float32)
    y = rng.standard_normal((5, 2)).astype(np.float32)
    train_side_by_side(kmodel, pmodel, x, y, 3)


@_keras_warning
@pytest.mark.parametrize("cls", ["DepthwiseConv2D", "SeparableConv2D", "DepthwiseConv1D", "SeparableConv1D"])
def test_config_keys_match_keras(cls):
    keras = _keras()
    args = (2, 3) if cls.startswith("Separable") else (3,)
    ours = getattr(layers, cls)(*args).get_config()
    theirs = getattr(keras.layers, cls)(*args).get_config()
    assert set(ours) == set(theirs)
    for key in ("depth_multiplier", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
                "use_bias", "filters"):
        assert ours.get(key) == theirs.get(key), key


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ["DepthwiseConv2D", "SeparableConv2D", "DepthwiseConv1D", "SeparableConv1D"])
def test_bad_arguments_name_layer_and_value(cls):
    make = getattr(layers, cls)
    pre = (2,) if cls.startswith("Separable") else ()
    cases = [
        (dict(depth_multiplier=0), "depth_multiplier=0"),
        (dict(depth_multiplier=-2), "depth_multiplier=-2"),
        (dict(depth_multiplier=1.5), "depth_multiplier=1.5"),
        (dict(padding="full"), "padding='full'"),
        (dict(padding="causal"), "padding='causal'"),
        (dict(data_format="channels_first"), "data_format='channels_first'"),
        (dict(strides=0), "strides=0"),
        (dict(dilation_rate=(1, 1, 1)), "dilation_rate"),
    ]
    for kwargs, received in cases:
        with pytest.raises(ValueError, match=f"{cls} 'bad'.*Received: {received}"):
            make(*pre, 3, name="bad", **kwargs)
    for k in (0, -1):
        with pytest.raises(ValueError, match=f"{cls} 'bad'.*kernel_size.*integer >= 1.*Received: kernel_size={k}"):
            make(*pre, k, name="bad")
    if pre:
        with pytest.raises(ValueError, match=f"{cls} 'bad': filters must be a positive integer. Received: filters=0"):
            make(0, 3, name="bad")
    with pytest.raises(TypeError, match="groups"):
        make(*pre, 3, groups=2)


@pytest.mark.parametrize("cls", ["DepthwiseConv2D", "SeparableConv2D", "DepthwiseConv1D", "SeparableConv1D"])
def test_bad_inputs_name_layer_expected_and_received(cls, rng):
    rank = 1 if cls.endswith("1D") else 2
    pre = (2,) if cls.startswith("Separable") else ()
    layer = getattr(layers, cls)(*pre, 3, name="lay")
    shape = (2,) + (5,) * rank + (3,)
    layer(rng.standard_normal(shape).astype(np.float32))
    wrong_rank = (2, 5, 5, 5, 3) if rank == 2 else (2, 5, 5, 3)
    with pytest.raises(ValueError, match=rf"{cls} 'lay': expected input of rank {rank + 2} .*Received: shape=\(2, 5, 5, "):
        layer(np.zeros(wrong_rank, np.float32))
    with pytest.raises(ValueError, match=rf"{cls} 'lay': expected input with 3 channels .*Received: shape=\(2, 5, .*4\)"):
        layer(np.zeros(shape[:-1] + (4,), np.float32))
    with pytest.raises(ValueError, match=rf"{cls} 'lay'.*larger than the input.*Received: shape=\(1, 2"):
        layer(np.zeros((1,) + (2,) * rank + (3,), np.float32))
    with pytest.raises(ValueError, match=rf"{cls} 'lay'.*channel dimension.*must be known"):
        getattr(layers, cls)(*pre, 3, name="lay").build((None,) * (rank + 2))
    fresh = getattr(layers, cls)(*pre, 3, name="lay")
    with pytest.raises(ValueError, match=rf"{cls} 'lay': expected input of rank {rank + 2}"):
        fresh(np.zeros((2, 3), np.float32))


# --- config, save/load -----------------------------------------------------------------------


@pytest.mark.parametrize("cls, kwargs, shape", CASES, ids=IDS)
def test_config_round_trip(cls, kwargs, shape, rng):
    kwargs = dict(kwargs, depthwise_initializer="he_normal", depthwise_regularizer="l2",
                  depthwise_constraint="non_neg", bias_constraint="max_norm", activity_regularizer="l1")
    if cls.startswith("Separable"):
        kwargs.update(pointwise_initializer="ones", pointwise_regularizer="l1", pointwise_constraint="unit_norm")
    layer = getattr(layers, cls)(**kwargs)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    for key in ("kernel_size", "strides", "dilation_rate", "depth_multiplier", "padding", "use_bias"):
        assert getattr(clone, key) == getattr(layer, key)
    assert config["data_format"] == "channels_last"
    layer.build((None,) + shape[1:])
    clone.build((None,) + shape[1:])
    clone.set_weights(layer.get_weights())
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(clone(x), layer(x))


def test_model_save_load_and_regularizer_loss(tmp_path, rng):
    model = Sequential([
        pynncore.Input((6, 6, 2)),
        layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", depthwise_regularizer="l2"),
        layers.SeparableConv2D(3, 2, strides=2, pointwise_regularizer="l1", activation="relu"),
        layers.Flatten(),
        layers.Dense(1),
    ])
    model.compile("sgd", "mse")
    x = rng.standard_normal((4, 6, 6, 2)).astype(np.float32)
    y = rng.standard_normal((4, 1)).astype(np.float32)
    pred = model.predict(x, verbose=0)
    mse = float(np.mean((pred - y) ** 2))
    dk, pk = model.layers[0].kernel.value, model.layers[1].pointwise_kernel.value
    penalty = 0.01 * float(np.sum(dk.astype(np.float64) ** 2)) + 0.01 * float(np.abs(pk).sum())
    assert model.evaluate(x, y, verbose=0) == pytest.approx(mse + penalty, rel=1e-4)
    model.train_on_batch(x, y)
    path = tmp_path / "m.pnc"
    model.save(str(path))
    loaded = pynncore.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(l).__name__ for l in loaded.layers[:2]] == ["DepthwiseConv2D", "SeparableConv2D"]


def test_constraint_applies_in_keras_layout(rng):
    model = Sequential([pynncore.Input((5, 5, 2)), layers.DepthwiseConv2D(2, depthwise_constraint="non_neg"),
                        layers.Flatten(), layers.Dense(1)])
    model.compile(pynncore.optimizers.SGD(1.0), "mse")
    model.train_on_batch(rng.standard_normal((3, 5, 5, 2)).astype(np.float32), np.full((3, 1), 50.0, np.float32))
    assert (model.layers[0].kernel.value >= 0).all()

