"""Lambda: forward on numpy arrays against float64 numpy and Keras 3, shape inference, masks,
arguments, where training through it is allowed and the error where it is not, config, and
the refusal to save."""

from __future__ import annotations

import numpy as np
import pytest

import pynncore
from pynncore import layers as L
from pynncore.models import Model, Sequential


def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def _square_plus_one(x):
    return x**2 + 1.0


# -- forward and shapes -------------------------------------------------------------------------


def test_forward_matches_float64_reference_and_keras(rng):
    keras = pytest.importorskip("keras")
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    layer = L.Lambda(_square_plus_one)
    y = layer(x)
    assert y.dtype == np.float32 and y.flags.c_contiguous
    np.testing.assert_allclose(y, x.astype(np.float64) ** 2 + 1.0, rtol=1e-6)
    np.testing.assert_allclose(y, _np(keras.layers.Lambda(_square_plus_one)(x)), rtol=1e-6)
    scaled = L.Lambda(lambda x, k: x * k, arguments={"k": 3.0})
    np.testing.assert_allclose(scaled(x), x * 3.0, rtol=1e-6)
    kscaled = keras.layers.Lambda(lambda x, k: x * k, arguments={"k": 3.0})
    np.testing.assert_allclose(scaled(x), _np(kscaled(x)), rtol=1e-6)


def test_several_inputs_and_outputs(rng):
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(L.Lambda(lambda xs: xs[0] * xs[1])([a, b]), a * b, rtol=1e-6)
    split = L.Lambda(lambda x: [x[:, :1], x[:, 1:]])
    lo, hi = split(a)
    np.testing.assert_array_equal(lo, a[:, :1])
    np.testing.assert_array_equal(hi, a[:, 1:])
    p, q = pynncore.Input((4,)), pynncore.Input((4,))
    prod = L.Lambda(lambda xs: xs[0] * xs[1])([p, q])
    first, rest = L.Lambda(lambda x: [x[:, :1], x[:, 1:]])(prod)
    assert first.shape == (None, 1) and rest.shape == (None, 3)
    model = Model([p, q], [first, rest])
    out = model.predict([a, b], verbose=0)
    np.testing.assert_allclose(out[1], (a * b)[:, 1:], rtol=1e-6)


@pytest.mark.parametrize(
    "fn, shape",
    [
        (lambda x: x[:, :2], (4,)),
        (lambda x: x.reshape(x.shape[0], -1), (3, 4)),
        (lambda x: x.sum(axis=1), (None, 3)),
        (lambda x: x.mean(axis=-1), (None, 3)),
        (lambda x: x[..., None] * 2.0, (None, 2)),
    ],
)
def test_output_shape_inference_matches_keras(fn, shape):
    keras = pytest.importorskip("keras")
    got = L.Lambda(fn)(pynncore.Input(shape)).shape
    want = keras.layers.Lambda(fn).compute_output_shape((None, *shape))
    assert got == tuple(want)


def test_explicit_output_shapes(rng):
    x = pynncore.Input((3, 4))
    assert L.Lambda(lambda x: x, output_shape=(12,))(x).shape == (None, 12)
    assert L.Lambda(lambda x: x, output_shape=lambda s: (s[0], s[1] * s[2]))(x).shape == (None, 12)
    assert [t.shape for t in L.Lambda(lambda x: [x, x], output_shape=[(3, 4), (4, 3)])(x)] == [(None, 3, 4), (None, 4, 3)]
    keras = pytest.importorskip("keras")
    assert tuple(keras.layers.Lambda(lambda x: x, output_shape=(12,)).compute_output_shape((None, 3, 4))) == (None, 12)


def test_training_and_mask_parameters_and_masks(rng):
    seen: dict = {}

    def fn(x, training=None, mask=None):
        seen.update(training=training, mask=None if mask is None else mask.copy())
        return x * (2.0 if training else 1.0)

    tokens = pynncore.Input((5,))
    emb = L.Embedding(7, 3, mask_zero=True)(tokens)
    out = L.Lambda(fn, mask=lambda x, m: m)(emb)
    pooled = L.GlobalAveragePooling1D()(out)
    model = Model(tokens, pooled)
    x = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 1]], np.float32)
    pred = model.predict(x, verbose=0)
    np.testing.assert_array_equal(seen["mask"], x != 0)
    assert not seen["training"]
    weights = model.layers[1].get_weights()[0]
    want = np.stack([weights[x[i].astype(int)][x[i] != 0].mean(axis=0) for i in range(2)])
    np.testing.assert_allclose(pred, want, rtol=1e-6)  # the mask passed on masks the pooling
    # mask=None: no mask downstream, as Keras
    model2 = Model(tokens, L.GlobalAveragePooling1D()(L.Lambda(lambda x: x)(emb)))
    np.testing.assert_allclose(model2.predict(x, verbose=0), weights[x.astype(int)].mean(axis=1), rtol=1e-6)
    fixed = L.Lambda(lambda x: x, mask=np.array([True, False]))
    assert fixed.compute_mask(np.ones((2, 3))).tolist() == [True, False]
    assert L.Lambda(lambda x: x).compute_mask(np.ones((2, 3)), np.ones((2,), bool)) is None
    L.Lambda(fn)(np.ones((1, 2)), training=True)
    assert seen["training"] is True


# -- training -----------------------------------------------------------------------------------


def _same_training(ours, theirs, x, y, steps=3):
    for _ in range(steps):
        lo, lk = float(ours.train_on_batch(x, y)), float(theirs.train_on_batch(x, y))
        assert lo == pytest.approx(lk, rel=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, _np(b), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_lambdas_first_train_as_keras(rng):
    keras = pytest.importorskip("keras")

    def build(lib):
        model = lib.Sequential([
            lib.Input((3, 4)),
            lib.layers.Flatten(),
            lib.layers.Lambda(_square_plus_one),
            lib.layers.Lambda(lambda x, k: x * k, arguments={"k": 0.5}),
            lib.layers.Dense(2),
        ])
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        return model

    ours, theirs = build(pynncore), build(keras)
    theirs.set_weights(ours.get_weights())
    x = rng.standard_normal((8, 3, 4)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    _same_training(ours, theirs, x, y)


def test_functional_lambda_on_inputs_and_after_frozen_layers_trains(rng):
    a, b = pynncore.Input((4,)), pynncore.Input((3,))
    frozen = L.Dense(3, trainable=False)
    xa = L.Lambda(lambda x: np.tanh(x))(frozen(a))
    xb = L.Lambda(lambda x: x * 2.0)(b)
    out = L.Dense(1)(L.Concatenate()([xa, xb]))
    model = Model([a, b], out)
    model.compile("sgd", "mse")
    xs = [rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)]
    before = [w.copy() for w in model.get_weights()]
    model.fit(xs, np.ones((6, 1), np.float32), epochs=2, verbose=0)
    after = model.get_weights()
    np.testing.assert_array_equal(after[0], before[0])  # the frozen Dense
    assert not np.allclose(after[2], before[2])  # the trained Dense


@pytest.mark.parametrize("functional", [False, True])
def test_training_through_lambda_into_trainable_layers_raises(functional, rng):
    keras = pytest.importorskip("keras")
    layers = [L.Dense(3), L.Lambda(_square_plus_one, name="sq"), L.Dense(2)]
    if functional:
        inp = pynncore.Input((4,))
        t = inp
        for layer in layers:
            t = layer(t)
        model = Model(inp, t)
    else:
        model = Sequential([pynncore.Input((4,)), *layers])
    model.compile("sgd", "mse")
    x = rng.standard_normal((5, 4)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="Lambda 'sq': gradients cannot pass back.*Layer subclass"):
        model.train_on_batch(x, np.zeros((5, 2), np.float32))
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    # prediction works, as in Keras
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Lambda(_square_plus_one),
                               keras.layers.Dense(2)])
    kmodel.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), _np(kmodel(x)), rtol=1e-5, atol=1e-6)


def test_gradient_with_respect_to_the_input_raises(rng):
    model = Sequential([pynncore.Input((4,)), L.Lambda(_square_plus_one, name="sq0"), L.Dense(2)])
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y, ctx = model.forward(x, training=True)
    assert model.backward(ctx, np.ones_like(y), need_dx=False) is None
    with pytest.raises(ValueError, match="Lambda 'sq0'.*gradient with respect to the model input"):
        model.backward(ctx, np.ones_like(y), need_dx=True)


# -- config, saving -----------------------------------------------------------------------------


def test_get_config_mirrors_keras_and_round_trips():
    keras = pytest.importorskip("keras")
    layer = L.Lambda(_square_plus_one, output_shape=(3,), arguments={"k": 1}, name="lam")
    config = layer.get_config()
    kconfig = keras.layers.Lambda(_square_plus_one, output_shape=(3,), arguments={"k": 1}, name="lam").get_config()
    assert {"function", "output_shape", "arguments", "name", "trainable", "dtype"} <= set(kconfig)
    assert set(config) <= set(kconfig)
    assert config["function"] is _square_plus_one and config["output_shape"] == (3,) and config["arguments"] == {"k": 1}
    again = L.Lambda.from_config(config)
    assert again.get_config() == config
    assert set(L.Lambda(_square_plus_one).get_config()) == {"name", "trainable", "dtype", "function", "arguments"}


@pytest.mark.parametrize("how", ["save", "to_json", "nested"])
def test_saving_a_model_with_lambda_raises_before_writing(how, tmp_path):
    inner = Sequential([pynncore.Input((4,)), L.Lambda(_square_plus_one, name="inner_lambda"), L.Dense(2)])
    model = inner if how != "nested" else Sequential([pynncore.Input((4,)), inner])
    path = tmp_path / "m.pnc"
    with pytest.raises(ValueError, match="Lambda 'inner_lambda': .*not saved.*register_keras_serializable.*save_weights"):
        if how == "to_json":
            model.to_json()
        else:
            model.save(str(path))
    assert not path.exists()
    model.save_weights(str(tmp_path / "w.weights.h5"))


def test_bad_arguments_and_results():
    with pytest.raises(TypeError, match="Lambda 'b1': function must be callable. Received: function=3"):
        L.Lambda(3, name="b1")
    for bad in ((2, -1), "3", (2.5,), [(2,), 3], (True,)):
        with pytest.raises(ValueError, match="Lambda 'b2': output_shape must be"):
            L.Lambda(_square_plus_one, output_shape=bad, name="b2")
    with pytest.raises(TypeError, match="Lambda 'b3': arguments must be a dict"):
        L.Lambda(_square_plus_one, arguments=[1], name="b3")
    with pytest.raises(TypeError, match="Layer 'b4': expected a real numeric result of the Lambda function. Received: dtype=<U1"):
        L.Lambda(lambda x: np.array(["a"]), name="b4")(np.ones((2, 2)))
    with pytest.raises(ValueError, match="Lambda 'b5': could not infer the output shape.*ZeroDivisionError.*output_shape"):
        L.Lambda(lambda x: 1 / 0, name="b5")(pynncore.Input((3,)))
    with pytest.raises(ValueError, match="Lambda 'b6': the rank of the output depends"):
        L.Lambda(lambda x: np.zeros((1,) * x.shape[0]), name="b6")(pynncore.Input((3,)))
