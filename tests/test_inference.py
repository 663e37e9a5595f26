"""The Dense-chain inference fast path (pynncore._inference, _core.dense_chain_forward)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import pynncore
from pynncore import _core, _inference, activations, layers


def _ref_forward(x, specs):
    """float64 reference: specs are (kernel, bias, fn) with fn a float64 activation."""
    h = x.astype(np.float64)
    for kernel, bias, fn in specs:
        h = h @ kernel.astype(np.float64)
        if bias is not None:
            h = h + bias.astype(np.float64)
        h = fn(h)
    return h


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


REF_ACTS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "softmax": _softmax,
    "log_softmax": lambda z: np.log(_softmax(z)),
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)),
}


def _mlp(sizes, acts, use_bias=True, seed=0):
    pynncore.utils.set_random_seed(seed)
    model = pynncore.Sequential([pynncore.Input((sizes[0],))])
    for units, act in zip(sizes[1:], acts):
        model.add(layers.Dense(units, activation=act, use_bias=use_bias, bias_initializer="random_normal"))
    return model


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 17, 32])
@pytest.mark.parametrize("acts", [("relu", "relu", "softmax"), ("tanh", "elu", "linear"), ("sigmoid", "log_softmax")])
def test_fast_path_matches_float64_reference(cpu_path, rows, acts, rng):
    sizes = [37, 260, 33, 10][: len(acts) + 1]
    model = _mlp(sizes, acts)
    x = rng.standard_normal((rows, sizes[0])).astype(np.float32)
    model.predict(x[:1], verbose=0)
    assert _inference.run(model, x) is not None
    got = model.predict(x, verbose=0)
    specs = [(l.kernel.value, l.bias.value, REF_ACTS[a]) for l, a in zip(model.layers, acts)]
    np.testing.assert_allclose(got, _ref_forward(x, specs), rtol=1e-4, atol=1e-5)
    # The general path (layer by layer) gives the same numbers.
    np.testing.assert_allclose(got, model.forward(x)[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model(x), got, rtol=0, atol=0)
    np.testing.assert_allclose(model.predict_on_batch(x), got, rtol=0, atol=0)


def test_fast_path_without_bias_and_with_activation_layers_and_dropout(rng):
    pynncore.utils.set_random_seed(1)
    model = pynncore.Sequential(
        [
            pynncore.Input((20,)),
            layers.Dense(64, use_bias=False),
            layers.Activation("leaky_relu"),
            layers.Dropout(0.5),
            layers.Dense(8, activation=activations.get("gelu").with_params(approximate=True)),
        ]
    )
    x = rng.standard_normal((3, 20)).astype(np.float32)
    model.predict(x, verbose=0)
    assert _inference.run(model, x) is not None
    np.testing.assert_allclose(model.predict(x, verbose=0), model.forward(x)[0], rtol=1e-6, atol=1e-6)


def test_functional_chain_uses_fast_path(rng):
    inp = pynncore.Input((12,))
    out = layers.Dense(5, activation="softmax")(layers.Dense(30, activation="relu")(inp))
    model = pynncore.Model(inp, out)
    x = rng.standard_normal((2, 12)).astype(np.float32)
    assert _inference.run(model, x) is not None
    np.testing.assert_allclose(model.predict(x, verbose=0), model.forward(x)[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "extra",
    [
        lambda: layers.BatchNormalization(),
        lambda: layers.Activation("relu"),  # after a non-linear Dense: not fused
    ],
    ids=["batchnorm", "activation_after_relu"],
)
def test_other_layers_take_the_general_path(extra, rng):
    model = pynncore.Sequential([pynncore.Input((6,)), layers.Dense(4, activation="relu"), extra()])
    x = rng.standard_normal((3, 6)).astype(np.float32)
    model.predict(x, verbose=0)
    assert _inference.run(model, x) is None
    np.testing.assert_allclose(model.predict(x, verbose=0), model.forward(x)[0], rtol=0, atol=0)


def test_fast_path_sees_new_weights_and_activations(rng):
    model = _mlp([8, 16, 3], ["relu", "linear"])
    model.compile(optimizer="sgd", loss="mse")
    x = rng.standard_normal((4, 8)).astype(np.float32)
    before = model.predict(x, verbose=0)
    model.fit(x, rng.standard_normal((4, 3)).astype(np.float32), epochs=2, verbose=0)
    after = model.predict(x, verbose=0)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, model.forward(x)[0], rtol=1e-6, atol=1e-6)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.zeros((4, 3), np.float32))
    model.layers[-1].activation = activations.get("sigmoid")
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.full((4, 3), 0.5, np.float32))


def test_sequential_add_after_predict_rebuilds_the_plan(rng):
    model = pynncore.Sequential([pynncore.Input((5,)), layers.Dense(4)])
    x = rng.standard_normal((2, 5)).astype(np.float32)
    assert model.predict(x, verbose=0).shape == (2, 4)
    model.add(layers.Dense(3, activation="softmax"))
    y = model.predict(x, verbose=0)
    assert y.shape == (2, 3)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)


def test_wrong_feature_count_names_the_layer(rng):
    model = _mlp([8, 4], ["relu"])
    model.predict(np.zeros((1, 8), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"Dense '.*': expected input with 8 features"):
        model.predict(np.zeros((1, 9), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"expected input with 8 features"):
        model(np.zeros((2, 5), np.float32))


def test_concurrent_predict_matches_serial(rng):
    model = _mlp([64, 300, 100, 10], ["relu", "tanh", "softmax"])
    xs = [rng.standard_normal((1 + i % 4, 64)).astype(np.float32) for i in range(16)]
    expected = [model.predict(x, verbose=0) for x in xs]
    mismatches = []

    def worker(tid):
        for it in range(200):
            k = (tid + it) % len(xs)
            if not np.array_equal(model.predict(xs[k], verbose=0), expected[k]):
                mismatches.append((tid, it))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mismatches == []


# -- the binding's own checks ------------------------------------------------------------------

def _layer(i, o, bias=True, act="relu"):
    k = np.ones((i, o), np.float32)
    return (k, np.zeros(o, np.float32) if bias else None, act, None, False)


def test_binding_out_argument_and_empty_batch():
    x = np.ones((3, 4), np.float32)
    out = np.empty((3, 2), np.float32)
    assert _core.dense_chain_forward(x, [_layer(4, 5), _layer(5, 2, act="linear")], out) is out
    np.testing.assert_array_equal(out, np.full((3, 2), 20.0))
    assert _core.dense_chain_forward(np.ones((0, 4), np.float32), [_layer(4, 5)]).shape == (0, 5)


@pytest.mark.parametrize(
    "x, layers_arg, exc, match",
    [
        (np.ones((2, 4), np.float64), [_layer(4, 3)], TypeError, "x must be an aligned float32"),
        (np.ones((2, 4, 1), np.float32), [_layer(4, 3)], ValueError, "x must be 2-D"),
        (np.ones((4, 2), np.float32).T, [_layer(4, 3)], ValueError, "C-contiguous"),
        (np.ones((2, 4), np.float32), [], ValueError, "at least one layer"),
        (np.ones((2, 4), np.float32), [_layer(5, 3)], ValueError, "layer 0 kernel must have 4 rows"),
        (np.ones((2, 4), np.float32), [_layer(4, 3), _layer(4, 2)], ValueError, "layer 1 kernel must have 3 rows"),
        (np.ones((2, 4), np.float32), [(np.ones((4, 3), np.float32), np.ones(2, np.float32), "relu", None, False)], ValueError, r"bias must have shape \(3,\)"),
        (np.ones((2, 4), np.float32), [(np.ones((4, 3), np.float32), None, "nope", None, False)], ValueError, "nope"),
        (np.ones((2, 4), np.float32), [(np.ones((4, 3), np.float32), None, "relu", 0.5, False)], ValueError, "takes no alpha"),
        (np.ones((2, 4), np.float32), [(np.ones((4, 3), np.float32), None, "relu")], TypeError, "must be a tuple"),
        (np.ones((2, 4), np.float32), [(np.ones((4, 3), np.int32), None, "relu", None, False)], TypeError, "kernel must be an aligned float32"),
        (np.ones((2, 4), np.float32), [(np.ones((4, 0), np.float32), None, "relu", None, False)], ValueError, "no columns"),
    ],
)
def test_binding_rejects_bad_arguments(x, layers_arg, exc, match):
    with pytest.raises(exc, match=match):
        _core.dense_chain_forward(x, layers_arg)


def test_binding_rejects_bad_or_overlapping_out():
    x = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"out must have shape \(2, 3\)"):
        _core.dense_chain_forward(x, [_layer(4, 3)], np.empty((2, 2), np.float32))
    big = np.ones(16, np.float32)
    xx = big[:8].reshape(2, 4)
    with pytest.raises(ValueError, match="out overlaps x"):
        _core.dense_chain_forward(xx, [_layer(4, 3)], big[2:8].reshape(2, 3))
    k = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="overlaps a weight"):
        _core.dense_chain_forward(x, [(k, None, "relu", None, False)], k[:2])


def test_call_and_predict_on_batch_return_new_arrays_and_respect_training(rng):
    model = _mlp([6, 9, 4], ["relu", "softmax"])
    model.add(layers.Dropout(0.5, seed=1))
    x = rng.standard_normal((3, 6)).astype(np.float32)
    model(x)  # builds
    a, b = model(x), model.predict_on_batch(x)
    assert a is not b and not np.shares_memory(a, b) and not np.shares_memory(a, x)
    a[...] = 7.0  # the caller owns the result
    np.testing.assert_array_equal(model(x), b)
    # training=True runs Dropout (the fast path only serves inference).
    dropped = model(x, training=True)
    assert np.any(dropped == 0.0) and not np.array_equal(dropped, b)
