"""Same weights, same numbers as Keras 3 (torch backend), when Keras is installed."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import pynncore  # noqa: E402
from pynncore import layers  # noqa: E402
from pynncore.models import Sequential  # noqa: E402

# Keras's torch-backend variables implement numpy's old __array__ protocol; not our warning.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

ACTS = ["relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign", "gelu", "swish", "leaky_relu", "relu6", "hard_sigmoid", "exponential", "mish", "linear"]


def _pair(acts, in_dim, units):
    k = keras.Sequential([keras.Input((in_dim,))] + [keras.layers.Dense(u, activation=a) for u, a in zip(units, acts)])
    p = Sequential([layers.Dense(units[0], activation=acts[0], input_shape=(in_dim,))] + [layers.Dense(u, activation=a) for u, a in zip(units[1:], acts[1:])])
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    return k, p


@pytest.mark.parametrize("act", ACTS)
def test_dense_activation_outputs_match_keras(act, rng):
    k, p = _pair([act, "linear"], 7, [9, 3])
    x = rng.standard_normal((11, 7)).astype(np.float32) * 2
    np.testing.assert_allclose(p.predict(x, verbose=0), np.asarray(k.predict(x, verbose=0)), rtol=2e-5, atol=2e-6)


LOSSES = [
    ("mse", "MeanSquaredError", {}, lambda r, n: (r.standard_normal((n, 3)), r.standard_normal((n, 3)))),
    ("mae", "MeanAbsoluteError", {}, lambda r, n: (r.standard_normal((n, 3)), r.standard_normal((n, 3)))),
    ("huber", "Huber", {}, lambda r, n: (r.standard_normal((n, 3)) * 2, r.standard_normal((n, 3)))),
    ("binary_crossentropy", "BinaryCrossentropy", {}, lambda r, n: (r.integers(0, 2, (n, 1)), r.random((n, 1)))),
    ("bce_logits", "BinaryCrossentropy", {"from_logits": True}, lambda r, n: (r.integers(0, 2, (n, 2)), r.standard_normal((n, 2)) * 5)),
    ("categorical_crossentropy", "CategoricalCrossentropy", {}, lambda r, n: (np.eye(4)[r.integers(0, 4, n)], r.dirichlet(np.ones(4), n))),
    ("cce_logits_smooth", "CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, lambda r, n: (np.eye(4)[r.integers(0, 4, n)], r.standard_normal((n, 4)) * 3)),
    ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy", {}, lambda r, n: (r.integers(0, 4, n), r.dirichlet(np.ones(4), n))),
    ("scce_logits", "SparseCategoricalCrossentropy", {"from_logits": True}, lambda r, n: (r.integers(0, 4, n), r.standard_normal((n, 4)) * 3)),
]


@pytest.mark.parametrize("case, cls, kwargs, make", LOSSES, ids=[c for c, *_ in LOSSES])
def test_loss_values_match_keras(case, cls, kwargs, make, rng):
    yt, yp = make(rng, 17)
    yt = np.asarray(yt, np.int64 if cls.startswith("Sparse") else np.float32)
    yp = np.asarray(yp, np.float32)
    w = rng.random(17).astype(np.float32)
    kl = getattr(keras.losses, cls)(**kwargs)
    pl = getattr(pynncore.losses, cls)(**kwargs)
    kv = float(keras.ops.convert_to_numpy(kl(yt, yp)))
    kw = float(keras.ops.convert_to_numpy(kl(yt, yp, sample_weight=w)))
    assert pl(yt, yp) == pytest.approx(kv, rel=1e-5, abs=1e-6)
    assert pl(yt, yp, sample_weight=w) == pytest.approx(kw, rel=1e-5, abs=1e-6)


OPTS = [
    ("SGD", {"learning_rate": 0.05}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"learning_rate": 0.05}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.01}),
    ("Adamax", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "clipnorm": 0.1}),
    ("Adam", {"learning_rate": 0.01, "global_clipnorm": 0.1}),
    ("SGD", {"learning_rate": 0.1, "clipvalue": 0.01}),
]


@pytest.mark.parametrize("opt, kwargs", OPTS, ids=[f"{o}-{'-'.join(k for k in kw if k != 'learning_rate')}" for o, kw in OPTS])
def test_train_on_batch_matches_keras(opt, kwargs, rng):
    k, p = _pair(["tanh", "softmax"], 5, [6, 3])
    k.compile(getattr(keras.optimizers, opt)(**kwargs), "sparse_categorical_crossentropy")
    p.compile(getattr(pynncore.optimizers, opt)(**kwargs), "sparse_categorical_crossentropy")
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    for _ in range(5):
        lk = float(k.train_on_batch(x, y))
        lp = float(p.train_on_batch(x, y))
        assert lp == pytest.approx(lk, rel=1e-4, abs=1e-6)
    for wk, wp in zip(k.get_weights(), p.get_weights()):
        np.testing.assert_allclose(wp, np.asarray(wk), rtol=1e-4, atol=2e-6)


def test_fit_history_matches_keras_without_shuffle(rng):
    k, p = _pair(["relu", "sigmoid"], 4, [8, 1])
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, :1] + x[:, 1:2] > 0).astype(np.float32)
    k.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    p.compile(pynncore.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    hk = k.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    hp = p.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    assert set(hp.history) == set(hk.history)
    for key in hk.history:
        np.testing.assert_allclose(hp.history[key], hk.history[key], rtol=2e-4, atol=1e-5, err_msg=key)
