"""The losses computed in numpy: MAPE, MSLE, Poisson, LogCosh, Hinge, SquaredHinge,
CategoricalHinge, KLDivergence, CosineSimilarity."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad

import pynncore
from pynncore import layers, losses

NAMES = ["mape", "msle", "poisson", "log_cosh", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence",
         "cosine_similarity"]


def _data(name, rng, shape=(7, 5)):
    if name in ("hinge", "squared_hinge"):
        return rng.integers(0, 2, shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    if name == "categorical_hinge":
        return np.eye(shape[1], dtype=np.float32)[rng.integers(0, shape[1], shape[0])], rng.standard_normal(shape).astype(np.float32)
    if name in ("kl_divergence", "poisson"):
        y = rng.random(shape).astype(np.float32)
        p = (rng.random(shape) * 0.9 + 0.05).astype(np.float32)
        return y / y.sum(axis=1, keepdims=True) if name == "kl_divergence" else y * 3, p
    if name == "msle":
        return (rng.random(shape) * 4).astype(np.float32), (rng.random(shape) * 4 + 0.1).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_values_gradients_and_weights(name, rng):
    loss = losses.get(name)
    y, p = _data(name, rng)
    w = rng.random(7).astype(np.float32)
    value, grad = loss.value_and_grad(y, p, sample_weight=w)

    def f(pp):
        per = loss._rows(y.astype(np.float64), pp)[0]
        return float((per * w).sum() / per.size)

    assert value == pytest.approx(f(p.astype(np.float64)), rel=1e-6, abs=1e-7)
    assert_grad_close(grad, numeric_grad(f, p.astype(np.float64)), what=name)
    none = losses.get(name).__class__(reduction="none")
    assert none(y, p).shape == (7,)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("name", NAMES)
def test_agree_with_keras_and_train_like_keras(name, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    y, p = _data(name, rng)
    kloss = keras.losses.get(name)
    want = float(np.mean(np.asarray(kloss(y, p))))  # the per-sample function; averaged here
    assert float(losses.get(name)(y, p)) == pytest.approx(want, rel=1e-5, abs=1e-6)
    x = rng.standard_normal((7, 4)).astype(np.float32)
    act = "softmax" if name == "kl_divergence" else ("softplus" if name in ("poisson", "msle") else None)
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation=act)])
    pm = pynncore.Sequential([pynncore.Input((4,)), layers.Dense(5, activation=act)])
    pm.set_weights([np.asarray(v) for v in km.get_weights()])
    km.compile(optimizer=keras.optimizers.SGD(0.05), loss=name)
    pm.compile(optimizer=pynncore.optimizers.SGD(0.05), loss=name)
    for _ in range(3):
        kl = km.train_on_batch(x, y)
        pl = pm.train_on_batch(x, y)
    assert pl == pytest.approx(float(kl), rel=1e-4, abs=1e-5)
    for a, b in zip(pm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)


def test_config_round_trip_and_errors(tmp_path, rng):
    for name in NAMES:
        loss = losses.get(name)
        again = losses.get({"class_name": type(loss).__name__, "config": loss.get_config()})
        assert type(again) is type(loss) and again.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="only axis=-1 is supported"):
        losses.CosineSimilarity(axis=0)
    m = pynncore.Sequential([pynncore.Input((3,)), layers.Dense(2)])
    m.compile(optimizer="sgd", loss=losses.LogCosh())
    m.fit(rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32), verbose=0)
    path = str(tmp_path / "m.safetensors")
    m.save(path)
    assert isinstance(pynncore.load_model(path).loss, losses.LogCosh)
