"""Exponential moving average of the weights (``use_ema``, ``ema_momentum``,
``ema_overwrite_frequency``), ``finalize_variable_values`` and ``callbacks.SwapEMAWeights``,
against a float64 numpy restatement of Keras 3's rule and against Keras 3 (torch backend).

Keras 3 (keras/src/optimizers/base_optimizer.py), after each update and before constraints:

  m = 0 if iterations == 0 else ema_momentum       (iterations before this step)
  average = m * average + (1 - m) * weight
  if ema_overwrite_frequency and (iterations + 1) % ema_overwrite_frequency == 0:
      weight = average
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import callbacks, layers, optimizers, saving
from pynncore.layers.base import Variable
from pynncore.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")

F32 = np.float32
SHAPES = [(3, 7), (7,), (17, 1), (1,), (5, 33)]
ALL = sorted(optimizers._ALIASES)


def _variables(rng):
    return [Variable(rng.standard_normal(s).astype(F32), f"w{i}") for i, s in enumerate(SHAPES)]


def _step(opt, vs, rng):
    for v in vs:
        v.grad[...] = rng.standard_normal(v.value.shape)
    opt.apply()


def _model(seed=0):
    pynncore.utils.set_random_seed(seed)
    return Sequential([layers.Dense(6, activation="tanh", input_shape=(5,)), layers.Dense(3, activation="softmax")])


def _data(rng, n=48):
    return rng.standard_normal((n, 5)).astype(F32), rng.integers(0, 3, n)


# --- the rule against float64 numpy ------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("momentum", [0.99, 0.5, 0.0, 1.0])
def test_average_follows_keras_rule(name, momentum, rng):
    vs = _variables(rng)
    opt = optimizers.get({"class_name": type(optimizers.get(name)).__name__,
                          "config": {"use_ema": True, "ema_momentum": momentum}})
    opt.build(vs)
    ref = None
    for step in range(6):
        _step(opt, vs, rng)
        p = np.concatenate([v.value.reshape(-1) for v in vs]).astype(np.float64)
        ref = p.copy() if step == 0 else momentum * ref + (1.0 - momentum) * p
        np.testing.assert_allclose(opt.get_state()["average"], ref, rtol=1e-5, atol=1e-6)
    # the alignment gaps of the flat buffer stay zero
    average = opt._state["average"]
    assert float(np.abs(average).sum()) == pytest.approx(float(np.abs(opt._compact(average)).sum()), rel=1e-6)


@pytest.mark.parametrize("frequency", [1, 2, 3])
def test_overwrite_frequency_follows_keras_rule(frequency, rng):
    vs = _variables(rng)
    lr, momentum = 0.1, 0.8
    opt = optimizers.SGD(lr, use_ema=True, ema_momentum=momentum, ema_overwrite_frequency=frequency)
    opt.build(vs)
    p = np.concatenate([v.value.reshape(-1) for v in vs]).astype(np.float64)
    avg = np.zeros_like(p)
    for it in range(7):
        grads = [rng.standard_normal(v.value.shape).astype(F32) for v in vs]
        for v, g in zip(vs, grads):
            v.grad[...] = g
        opt.apply()
        p = p - lr * np.concatenate([g.reshape(-1) for g in grads])
        m = 0.0 if it == 0 else momentum
        avg = m * avg + (1.0 - m) * p
        if (it + 1) % frequency == 0:
            p = avg.copy()
        got = np.concatenate([v.value.reshape(-1) for v in vs])
        np.testing.assert_allclose(got, p, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(opt.get_state()["average"], avg, rtol=1e-5, atol=1e-6)
        if (it + 1) % frequency == 0:
            np.testing.assert_array_equal(got, opt.get_state()["average"])


def test_without_ema_there_is_no_average_and_finalize_does_nothing(rng):
    vs = _variables(rng)
    opt = optimizers.Adam()
    opt.build(vs)
    _step(opt, vs, rng)
    before = [v.value.copy() for v in vs]
    opt.finalize_variable_values(vs)
    assert "average" not in opt.get_state()
    for a, v in zip(before, vs):
        np.testing.assert_array_equal(a, v.value)


def test_finalize_variable_values(rng):
    vs = _variables(rng)
    opt = optimizers.RMSprop(use_ema=True, ema_momentum=0.7)
    opt.build(vs)
    for _ in range(3):
        _step(opt, vs, rng)
    average = opt.get_state()["average"]
    # in another order: matched by variable, not by position
    opt.finalize_variable_values(vs[::-1])
    np.testing.assert_array_equal(np.concatenate([v.value.reshape(-1) for v in vs]), average)
    with pytest.raises(ValueError, match="finalize_variable_values expected the 5 variables"):
        opt.finalize_variable_values(vs[:2])
    with pytest.raises(ValueError, match="does not update"):
        opt.finalize_variable_values(vs[:4] + [Variable(np.zeros(3, F32), "other")])
    with pytest.raises(ValueError, match="built"):
        optimizers.SGD(use_ema=True).finalize_variable_values([])


# --- arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({"ema_momentum": 1.5}, "ema_momentum"),
    ({"ema_momentum": -0.1}, "ema_momentum"),
    ({"ema_momentum": "high"}, "ema_momentum"),
    ({"ema_overwrite_frequency": 0}, "ema_overwrite_frequency"),
    ({"ema_overwrite_frequency": -2}, "ema_overwrite_frequency"),
    ({"ema_overwrite_frequency": 2.5}, "ema_overwrite_frequency"),
    ({"ema_overwrite_frequency": True}, "ema_overwrite_frequency"),
    ({"ema_overwrite_frequency": "3"}, "ema_overwrite_frequency"),
])
@pytest.mark.parametrize("name", ["SGD", "Adam", "Lamb"])
def test_bad_ema_arguments(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(optimizers, name)(use_ema=True, **kwargs)


def test_ema_arguments_are_only_checked_with_use_ema():
    # as in Keras: the EMA arguments are not read without use_ema
    assert optimizers.SGD(ema_momentum=1.5).ema_momentum == 1.5


@pytest.mark.parametrize("name", ALL)
def test_config_round_trip(name):
    cls = type(optimizers.get(name))
    opt = cls(use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=4)
    cfg = opt.get_config()
    assert (cfg["use_ema"], cfg["ema_momentum"], cfg["ema_overwrite_frequency"]) == (True, 0.9, 4)
    again = cls.from_config(cfg)
    assert again.get_config() == cfg
    assert optimizers.get({"class_name": cls.__name__, "config": cfg}).get_config() == cfg
    default = cls().get_config()
    assert (default["use_ema"], default["ema_momentum"], default["ema_overwrite_frequency"]) == (False, 0.99, None)


# --- models: fit, save / load, backups -----------------------------------------------------------


def test_fit_ends_with_the_averages(rng):
    x, y = _data(rng)
    model = _model()
    model.compile(optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9), "sparse_categorical_crossentropy")
    seen = []
    spy = callbacks.LambdaCallback(on_train_end=lambda logs: seen.append(model.get_weights()))
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=[spy])
    opt = model.optimizer
    assert opt.iterations == 6
    flat = np.concatenate([w.reshape(-1) for w in seen[0]])
    np.testing.assert_array_equal(flat, opt.get_state()["average"])
    # train_on_batch leaves the weights alone
    raw = model.get_weights()
    model.train_on_batch(x, y)
    assert not np.array_equal(np.concatenate([w.reshape(-1) for w in model.get_weights()]), opt.get_state()["average"])
    assert any(not np.array_equal(a, b) for a, b in zip(raw, model.get_weights()))


@pytest.mark.parametrize("name", ["SGD", "Adam", "Nadam"])
def test_save_load_resumes_identically(name, tmp_path, rng):
    x, y = _data(rng)
    model = _model()
    model.compile(getattr(optimizers, name)(0.05, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=5),
                  "sparse_categorical_crossentropy")
    for i in range(4):
        model.train_on_batch(x[i * 12:(i + 1) * 12], y[i * 12:(i + 1) * 12])
    path = str(tmp_path / "m.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    np.testing.assert_array_equal(loaded.optimizer.get_state()["average"], model.optimizer.get_state()["average"])
    for m in (model, loaded):
        for i in range(4):
            m.train_on_batch(x[i * 12:(i + 1) * 12], y[i * 12:(i + 1) * 12])
        m.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.optimizer.get_state()["average"], model.optimizer.get_state()["average"])


def test_training_state_backup_resumes_identically(tmp_path, rng):
    x, y = _data(rng)

    def make():
        m = _model()
        m.compile(optimizers.SGD(0.1, momentum=0.9, use_ema=True, ema_momentum=0.9), "sparse_categorical_crossentropy")
        return m

    a, b = make(), make()
    for i in range(3):
        a.train_on_batch(x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16])
    path = str(tmp_path / "state.safetensors")
    saving.save_training_state(a, path, {"epoch": 0})
    b.train_on_batch(x[:4], y[:4])  # build, and state to be replaced
    assert saving.restore_training_state(b, path)["epoch"] == 0
    np.testing.assert_array_equal(b.optimizer.get_state()["average"], a.optimizer.get_state()["average"])
    for m in (a, b):
        m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_backup_and_restore_resumes_an_interrupted_fit(tmp_path, rng):
    x, y = _data(rng)

    def make():
        m = _model()
        m.compile(optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=4),
                  "sparse_categorical_crossentropy")
        return m

    full = make()
    full.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)

    class Interrupt(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    backup = str(tmp_path / "backup")
    part = make()
    with pytest.raises(KeyboardInterrupt):
        part.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0,
                 callbacks=[callbacks.BackupAndRestore(backup), Interrupt()])
    resumed = make()
    resumed.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0, callbacks=[callbacks.BackupAndRestore(backup)])
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


# --- SwapEMAWeights ------------------------------------------------------------------------------


def _ema_model(frequency=None):
    m = _model()
    m.compile(optimizers.SGD(0.2, momentum=0.5, use_ema=True, ema_momentum=0.7, ema_overwrite_frequency=frequency),
              "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def test_swap_validation_sees_the_ema_weights(rng):
    x, y = _data(rng)
    xv, yv = _data(rng, 20)
    plain, swapped = _ema_model(), _ema_model()
    hp = plain.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0, validation_data=(xv, yv))
    hs = swapped.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0, validation_data=(xv, yv),
                     callbacks=[callbacks.SwapEMAWeights()])
    # fit ends with the EMA weights, the ones the swapped validation used
    ev = swapped.evaluate(xv, yv, return_dict=True, verbose=0)
    assert hs.history["val_loss"][0] == pytest.approx(ev["loss"], rel=1e-6)
    assert hs.history["val_accuracy"][0] == pytest.approx(ev["accuracy"])
    assert hs.history["loss"] == hp.history["loss"]
    assert hp.history["val_loss"][0] != pytest.approx(ev["loss"], rel=1e-6)
    for a, b in zip(plain.get_weights(), swapped.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_swap_on_epoch_for_later_callbacks(rng):
    x, y = _data(rng)
    xv, yv = _data(rng, 20)
    ref, swapped = _ema_model(), _ema_model()
    averages, seen, val = [], [], []
    ref.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, callbacks=[callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: averages.append(ref.optimizer.get_state()["average"].copy()))])
    spy = callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append(np.concatenate([w.reshape(-1) for w in swapped.get_weights()])))
    h = swapped.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, validation_data=(xv, yv),
                    callbacks=[callbacks.SwapEMAWeights(swap_on_epoch=True), spy])
    for a, s in zip(averages, seen):
        np.testing.assert_array_equal(a, s)
    # training went on from the trained weights, and ended with the averages
    for a, b in zip(ref.get_weights(), swapped.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(h.history["val_loss"]) == 3


def test_swap_in_evaluate(rng):
    x, y = _data(rng)
    model = _ema_model()
    for i in range(3):
        model.train_on_batch(x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16])
    raw = model.get_weights()
    got = model.evaluate(x, y, return_dict=True, verbose=0, callbacks=[callbacks.SwapEMAWeights()])
    for a, b in zip(raw, model.get_weights()):  # swapped back
        np.testing.assert_array_equal(a, b)
    model.optimizer.finalize_variable_values(model.optimizer.variables)
    want = model.evaluate(x, y, return_dict=True, verbose=0)
    assert got == want


def test_swap_needs_an_ema_optimizer(rng):
    x, y = _data(rng)
    model = _model()
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    with pytest.raises(ValueError, match="use_ema=True"):
        model.evaluate(x, y, verbose=0, callbacks=[callbacks.SwapEMAWeights()])
    assert callbacks.SwapEMAWeights().swap_on_epoch is False


# --- Keras 3 ------------------------------------------------------------------------------------

KERAS_CASES = [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("Adam", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("Adamax", {"learning_rate": 0.02}),
]
EMA_CASES = [{"ema_momentum": 0.9}, {"ema_momentum": 0.8, "ema_overwrite_frequency": 3}, {}]


def _keras_pair(keras, constraint=None):
    k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh", kernel_constraint=constraint),
                          keras.layers.Dense(3, activation="softmax")])
    p = Sequential([layers.Dense(6, activation="tanh", input_shape=(5,), kernel_constraint=constraint),
                    layers.Dense(3, activation="softmax")])
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    return k, p


def _assert_same_as_keras(keras, k, p):
    for wk, wp in zip(k.get_weights(), p.get_weights()):
        np.testing.assert_allclose(wp, np.asarray(wk), rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(p.optimizer.get_state()["average"], _keras_average(keras, k.optimizer),
                               rtol=1e-4, atol=2e-6)


def _keras_average(keras, opt):
    return np.concatenate([keras.ops.convert_to_numpy(a).reshape(-1) for a in opt._model_variables_moving_average])


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("ema", EMA_CASES, ids=["m0.9", "m0.8-freq3", "default"])
@pytest.mark.parametrize("name, kwargs", KERAS_CASES, ids=[c[0] for c in KERAS_CASES])
def test_train_on_batch_matches_keras(name, kwargs, ema, rng):
    keras = pytest.importorskip("keras")
    k, p = _keras_pair(keras)
    k.compile(getattr(keras.optimizers, name)(use_ema=True, **kwargs, **ema), "sparse_categorical_crossentropy")
    p.compile(getattr(optimizers, name)(use_ema=True, **kwargs, **ema), "sparse_categorical_crossentropy")
    x, y = _data(rng, 16)
    for _ in range(7):
        k.train_on_batch(x, y)
        p.train_on_batch(x, y)
        _assert_same_as_keras(keras, k, p)
    assert p.optimizer.get_config()["ema_overwrite_frequency"] == k.optimizer.get_config()["ema_overwrite_frequency"]
    assert p.optimizer.get_config()["ema_momentum"] == k.optimizer.get_config()["ema_momentum"]


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("ema", EMA_CASES[:2], ids=["m0.9", "m0.8-freq3"])
@pytest.mark.parametrize("name, kwargs", KERAS_CASES[:3], ids=[c[0] for c in KERAS_CASES[:3]])
def test_fit_matches_keras(name, kwargs, ema, rng):
    keras = pytest.importorskip("keras")
    k, p = _keras_pair(keras)
    k.compile(getattr(keras.optimizers, name)(use_ema=True, **kwargs, **ema), "sparse_categorical_crossentropy")
    p.compile(getattr(optimizers, name)(use_ema=True, **kwargs, **ema), "sparse_categorical_crossentropy")
    x, y = _data(rng)
    xv, yv = _data(rng, 20)
    hk = k.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, validation_data=(xv, yv),
               callbacks=[keras.callbacks.SwapEMAWeights()])
    hp = p.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, validation_data=(xv, yv),
               callbacks=[callbacks.SwapEMAWeights()])
    for wk, wp in zip(k.get_weights(), p.get_weights()):
        np.testing.assert_allclose(wp, np.asarray(wk), rtol=1e-4, atol=2e-6)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(hp.history[key], hk.history[key], rtol=2e-4, atol=1e-5, err_msg=key)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_constraints_apply_after_the_average_as_in_keras(rng):
    keras = pytest.importorskip("keras")
    k, p = _keras_pair(keras, "non_neg")
    kw = {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.6, "ema_overwrite_frequency": 2}
    k.compile(keras.optimizers.SGD(**kw), "sparse_categorical_crossentropy")
    p.compile(optimizers.SGD(**kw), "sparse_categorical_crossentropy")
    x, y = _data(rng, 16)
    for _ in range(5):
        k.train_on_batch(x, y)
        p.train_on_batch(x, y)
    assert (p.optimizer.get_state()["average"][:30] < 0).any()  # kernel averages of values before the projection
    _assert_same_as_keras(keras, k, p)
