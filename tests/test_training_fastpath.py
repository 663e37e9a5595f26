"""The two-call training path for chains of Dense layers (pynncore._training) gives the numbers
of the layer-by-layer path, and steps aside whenever it does not apply."""

from __future__ import annotations

import numpy as np
import pytest

import pynncore
from pynncore import _core, _training, layers


def _mlp(acts, sizes=(9, 13, 7, 4), seed=0, **dense_kw):
    pynncore.utils.set_random_seed(seed)
    m = pynncore.Sequential([pynncore.Input((sizes[0],))])
    for units, act in zip(sizes[1:], acts):
        m.add(layers.Dense(units, activation=act, bias_initializer="random_normal", **dense_kw))
    return m


def _train_both(make, compile_kw, x, y, steps=4, monkeypatch=None, **fit_kw):
    """Weights and losses after `steps` train_on_batch calls, fast path vs general path."""
    out = []
    for fast in (True, False):
        m = make()
        m.compile(**compile_kw)
        if not fast:
            monkeypatch.setattr(_training, "train_step", lambda *a: None)
        losses = [m.train_on_batch(x, y, **fit_kw) for _ in range(steps)]
        monkeypatch.undo()
        out.append((m, losses))
    return out


CASES = [
    (("relu", "tanh", "softmax"), "sparse_categorical_crossentropy", "adam"),
    (("elu", "gelu", "linear"), "mse", "sgd"),
    (("leaky_relu", "swish", "sigmoid"), "binary_crossentropy", "rmsprop"),
    (("selu", "softplus", "log_softmax"), "mae", "nadam"),
]


@pytest.mark.parametrize("acts, loss, opt", CASES, ids=[c[1] for c in CASES])
def test_fast_path_matches_the_layer_path(cpu_path, acts, loss, opt, rng, monkeypatch):
    x = rng.standard_normal((21, 9)).astype(np.float32)
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, 4, 21)
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (21, 4)).astype(np.float32)
    else:
        y = rng.standard_normal((21, 4)).astype(np.float32)
    m0 = _mlp(acts)
    m0.compile(optimizer=opt, loss=loss)
    m0.train_on_batch(x, y)
    assert m0._training_plan.steps is not None  # the fast path ran
    metrics = ["mae"] if loss in ("mse", "mae") else ["accuracy"]
    (fast, lf), (slow, ls) = _train_both(lambda: _mlp(acts), {"optimizer": opt, "loss": loss, "metrics": metrics},
                                         x, y, monkeypatch=monkeypatch)
    np.testing.assert_allclose(lf, ls, rtol=2e-5, atol=1e-6)
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


def test_frozen_layers_regularizers_and_fit(rng, monkeypatch):
    def make():
        m = _mlp(("relu", "tanh", "linear"), kernel_regularizer="l2")
        m.layers[1].trainable = False
        return m

    x = rng.standard_normal((30, 9)).astype(np.float32)
    y = rng.standard_normal((30, 4)).astype(np.float32)
    (fast, lf), (slow, ls) = _train_both(make, {"optimizer": "adam", "loss": "mse"}, x, y, monkeypatch=monkeypatch)
    np.testing.assert_allclose(lf, ls, rtol=2e-5)
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    frozen_before = make().layers[1].get_weights()
    for a, b in zip(fast.layers[1].get_weights(), frozen_before):
        np.testing.assert_array_equal(a, b)
    # the frozen layer's weights are not the optimizer's: the others' gradients are overwritten
    assert fast._training_plan.steps is not None and fast._training_plan.overwrite is True


def test_layer_used_twice_takes_the_general_path(rng, monkeypatch):
    def make():
        pynncore.utils.set_random_seed(1)
        shared = layers.Dense(6, activation="tanh", name="shared")
        inp = pynncore.Input((6,))
        out = layers.Dense(2)(shared(shared(inp)))
        return pynncore.Model(inp, out)

    x = rng.standard_normal((10, 6)).astype(np.float32)
    y = rng.standard_normal((10, 2)).astype(np.float32)
    (fast, lf), (slow, ls) = _train_both(make, {"optimizer": "sgd", "loss": "mse"}, x, y, monkeypatch=monkeypatch)
    assert fast._training_plan.steps is None  # its two gradients must add up
    np.testing.assert_allclose(lf, ls, rtol=2e-5)
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize(
    "extra",
    [lambda: layers.Dropout(0.3, seed=2), lambda: layers.BatchNormalization(),
     lambda: layers.Dense(4, activity_regularizer="l2"), lambda: layers.Activation("relu")],
    ids=["dropout", "batchnorm", "activity_regularizer", "activation_layer"],
)
def test_other_models_take_the_general_path(extra, rng):
    m = pynncore.Sequential([pynncore.Input((5,)), layers.Dense(4), extra(), layers.Dense(2)])
    m.compile(optimizer="sgd", loss="mse")
    x = rng.standard_normal((8, 5)).astype(np.float32)
    assert np.isfinite(m.train_on_batch(x, np.zeros((8, 2), np.float32)))
    assert m._training_plan.steps is None


def test_sample_weights_take_the_general_path(rng, monkeypatch):
    x = rng.standard_normal((8, 9)).astype(np.float32)
    y = rng.standard_normal((8, 4)).astype(np.float32)
    calls = []
    real = _training.train_step
    monkeypatch.setattr(_training, "train_step", lambda *a: calls.append(1) or real(*a))
    m = _mlp(("relu", "relu", "linear"))
    m.compile(optimizer="sgd", loss="mse")
    m.train_on_batch(x, y, sample_weight=np.ones(8))
    assert calls == []
    m.train_on_batch(x, y)
    assert calls == [1]


def test_binding_rejects_bad_buffers(rng):
    w1 = rng.standard_normal((3, 4)).astype(np.float32)
    w2 = rng.standard_normal((4, 2)).astype(np.float32)
    b1 = np.zeros(4, np.float32)
    la = [(w1, b1, "tanh", None, False), (w2, None, "linear", None, False)]
    x = rng.standard_normal((5, 3)).astype(np.float32)
    hs, zs = _core.dense_chain_train_forward(x, la)
    assert [h.shape for h in hs] == [(5, 4), (5, 2)] and zs == [None, None]
    np.testing.assert_allclose(hs[1], np.tanh(x.astype(np.float64) @ w1 + b1) @ w2, rtol=1e-5, atol=1e-6)
    g1, gb1, g2 = np.zeros_like(w1), np.zeros_like(b1), np.zeros_like(w2)
    dy = rng.standard_normal((5, 2)).astype(np.float32)
    _core.dense_chain_train_backward(x, la, hs, zs, dy.copy(), [(g1, gb1), (g2, None)], False)
    dz1 = (dy.astype(np.float64) @ w2.T) * (1 - hs[0].astype(np.float64) ** 2)
    np.testing.assert_allclose(g2, hs[0].T.astype(np.float64) @ dy, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g1, x.T.astype(np.float64) @ dz1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gb1, dz1.sum(axis=0), rtol=1e-5, atol=1e-6)
    bad = [
        (dict(dy=np.zeros((5, 3), np.float32)), ValueError, r"dy must have shape \(5, 2\)"),
        (dict(grads=[(g1, gb1)]), ValueError, "one entry per layer"),
        (dict(grads=[(g1, gb1), (g2, np.zeros(2, np.float32))]), ValueError, "bias gradient given for a layer without bias"),
        (dict(grads=[(g1, gb1), (np.zeros((2, 4), np.float32), None)]), ValueError, r"layer 1 kernel gradient must have shape \(4, 2\)"),
        (dict(grads=[(g1, gb1), (w2, None)]), ValueError, "overlaps a weight array"),
        (dict(grads=[(g1, g1.reshape(-1)[:4]), (g2, None)]), ValueError, "must not overlap"),
        (dict(hs=[hs[0], hs[0]]), ValueError, r"layer 1 output must have shape \(5, 2\)"),
        (dict(grads=[("no", None), (g2, None)]), TypeError, "must be a numpy.ndarray"),
    ]
    for change, exc, match in bad:
        args = dict(x=x, layers=la, hs=hs, zs=zs, dy=dy.copy(), grads=[(g1, gb1), (g2, None)], accumulate=True)
        args.update(change)
        with pytest.raises(exc, match=match):
            _core.dense_chain_train_backward(**args)
    ro = g2.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _core.dense_chain_train_backward(x, la, hs, zs, dy.copy(), [(g1, gb1), (ro, None)], True)
