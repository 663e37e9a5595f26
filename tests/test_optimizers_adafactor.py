"""Adafactor: the optimizer against Keras 3's rule in float64 numpy and against Keras 3 itself
(torch backend); flat state, save/load resumption, config and bad arguments.

The reference restates Keras 3's `update_step` of keras/src/optimizers/adafactor.py with the
base optimizer's gradient clipping and decoupled weight decay (``p -= p * weight_decay * lr``
before the rule). With ``t`` the 1-based step and ``rms(x) = sqrt(mean(x^2))``:

  lr_t = min(lr, 1/sqrt(t)) (relative_step, constant lr);  rho = min(lr_t, 1/sqrt(t))
  alpha = max(epsilon_2, rms(p)) rho;  beta = 1 - t^beta_2_decay;  s = g^2 + epsilon_1
  rank >= 2: r = beta r + (1 - beta) mean(s, -1);  c = beta c + (1 - beta) mean(s, -2)
             v = r / mean(r) (outer) c over the last two axes
  rank < 2:  v = beta v + (1 - beta) s
  u = g / sqrt(v);  p -= alpha u / max(1, rms(u) / clip_threshold)
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from _keras_train import train_side_by_side
from _optim_checks import assert_fit_learns, assert_resumes_identically, assert_save_load_resumes, steps_beside_reference, take_random_steps
from _ref import ref_clip_gradients

import pynncore
from pynncore import layers, optimizers
from pynncore.layers.base import Variable
from pynncore.models import Sequential
from pynncore.optimizers import schedules

F32 = np.float32


def _rms64(x):
    return np.sqrt(np.mean(np.square(x)))


class RefAdafactor:
    """Keras 3's Adafactor over several float64 variables: clipnorm (per variable) or
    global_clipnorm, then clipvalue, the learning rate at `iterations`, decay and the rule."""

    def __init__(self, values, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True, weight_decay=None, clipnorm=None, global_clipnorm=None,
                 clipvalue=None):
        self.lr = learning_rate
        self.decay, self.eps1, self.eps2, self.threshold = beta_2_decay, epsilon_1, epsilon_2, clip_threshold
        self.relative, self.wd = relative_step, weight_decay or 0.0
        self.clipnorm, self.global_clipnorm, self.clipvalue = clipnorm, global_clipnorm, clipvalue
        self.p = [np.array(v, np.float64) for v in values]
        self.v = [np.zeros_like(p) for p in self.p]
        self.r = [np.zeros(p.shape[:-1]) if p.ndim >= 2 else None for p in self.p]
        self.c = [np.zeros(p.shape[:-2] + p.shape[-1:]) if p.ndim >= 2 else None for p in self.p]
        self.iterations = 0

    def step(self, grads):
        flat = ref_clip_gradients(grads, self.clipnorm, self.global_clipnorm, self.clipvalue)
        lr = float(self.lr(self.iterations)) if callable(self.lr) else self.lr
        self.iterations += 1
        t = float(self.iterations)
        lr_t = min(lr, 1 / np.sqrt(t)) if self.relative and not callable(self.lr) else lr
        rho = min(lr_t, 1 / np.sqrt(t))
        beta = 1 - t**self.decay
        for i, g in enumerate(flat):
            p = self.p[i]
            g = g.reshape(p.shape)
            p -= p * self.wd * lr
            alpha = max(self.eps2, _rms64(p)) * rho
            s = g * g + self.eps1
            if p.ndim >= 2:
                self.r[i] = beta * self.r[i] + (1 - beta) * s.mean(axis=-1)
                self.c[i] = beta * self.c[i] + (1 - beta) * s.mean(axis=-2)
                r = self.r[i] / self.r[i].mean(axis=-1, keepdims=True)
                self.v[i] = np.einsum("...i,...j->...ij", r, self.c[i])
            else:
                self.v[i] = beta * self.v[i] + (1 - beta) * s
            u = g / np.sqrt(self.v[i])
            p -= alpha * u / max(1.0, _rms64(u) / self.threshold)


SHAPES = [(3, 5), (7,), (1,), (), (2, 4, 3), (17, 2), (2, 2, 3, 4)]

CLASS_CASES = [
    {},
    {"learning_rate": 0.5},
    {"learning_rate": 0.05, "relative_step": False},
    {"learning_rate": 0.5, "relative_step": False, "beta_2_decay": -0.5, "epsilon_2": 0.1},
    {"learning_rate": 0.05, "clip_threshold": 0.1, "epsilon_1": 1e-3},
    {"learning_rate": 0.05, "weight_decay": 0.1},
    {"learning_rate": 0.05, "clipnorm": 0.5},
    {"learning_rate": 0.05, "global_clipnorm": 1.0},
    {"learning_rate": schedules.ExponentialDecay(0.5, decay_steps=2, decay_rate=0.5), "clipvalue": 0.2},
]


def _case_id(kw):
    lr = kw.get("learning_rate")
    return "-".join(["adafactor"] + [k for k in kw if k != "learning_rate"] + (["schedule"] if callable(lr) else []))


@pytest.mark.parametrize("kwargs", CLASS_CASES, ids=[_case_id(c) for c in CLASS_CASES])
def test_optimizer_steps_match_reference(kwargs, rng):
    opt = optimizers.Adafactor(**kwargs)
    vs, ref = steps_beside_reference(opt, lambda values: RefAdafactor(values, **kwargs), SHAPES, rng, 6)
    assert opt.iterations == 6
    for v, pr in zip(vs, ref.p):
        np.testing.assert_allclose(v.value, pr, rtol=2e-5, atol=1e-6 * max(1.0, np.abs(pr).max()))
    # the factors of the rank >= 2 weights, concatenated in weight order, and the velocity
    state = opt.get_state()
    np.testing.assert_allclose(state["factored_row"], np.concatenate([r.reshape(-1) for r in ref.r if r is not None]),
                               rtol=1e-5)
    np.testing.assert_allclose(state["factored_col"], np.concatenate([c.reshape(-1) for c in ref.c if c is not None]),
                               rtol=1e-5)
    np.testing.assert_allclose(state["velocity"], np.concatenate([v.reshape(-1) for v in ref.v]), rtol=1e-5)
    # the padding between the variables stays zero
    mask = np.ones(opt._params.size, bool)
    for o, v in zip(opt._offsets, vs):
        mask[o : o + v.value.size] = False
    assert (opt._params[mask] == 0).all() and (opt._state["velocity"][mask] == 0).all()


def test_factored_state_sizes():
    vs = [Variable(np.ones(s), f"w{i}") for i, s in enumerate(SHAPES)]
    opt = optimizers.Adafactor()
    opt.build(vs)
    rows = sum(int(np.prod(s[:-1])) for s in SHAPES if len(s) >= 2)
    cols = sum(int(np.prod(s[:-2])) * s[-1] for s in SHAPES if len(s) >= 2)
    state = opt.get_state()
    assert state["factored_row"].shape == (rows,) and state["factored_col"].shape == (cols,)
    assert set(state) == {"iterations", "velocity", "factored_row", "factored_col"}


def test_alias_defaults_config_and_get():
    for name in ("adafactor", "Adafactor", "ADAFACTOR"):
        assert type(optimizers.get(name)) is optimizers.Adafactor
    assert "Adafactor" in optimizers.__all__ and pynncore.optimizers.Adafactor is optimizers.Adafactor
    opt = optimizers.Adafactor()
    assert (
        opt.learning_rate, opt.beta_2_decay, opt.epsilon_1, opt.epsilon_2, opt.clip_threshold, opt.relative_step,
        opt.weight_decay, opt.clipnorm, opt.clipvalue, opt.global_clipnorm, opt.use_ema, opt.name,
    ) == (0.001, -0.8, 1e-30, 1e-3, 1.0, True, None, None, None, None, False, "adafactor")
    sched = schedules.CosineDecay(0.1, decay_steps=10)
    for opt in (
        optimizers.Adafactor(learning_rate=0.01, beta_2_decay=-0.5, epsilon_1=1e-20, epsilon_2=1e-2, clip_threshold=2.0,
                             relative_step=False, weight_decay=0.1, clipnorm=1.0, name="a1"),
        optimizers.Adafactor(learning_rate=sched, global_clipnorm=2.0, clipvalue=0.5, use_ema=True, ema_momentum=0.9,
                             ema_overwrite_frequency=3),
    ):
        cfg = opt.get_config()
        for key in ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step"):
            assert cfg[key] == getattr(opt, key)
        again = optimizers.Adafactor.from_config(cfg)
        assert again.get_config() == cfg
        via_get = optimizers.get({"class_name": "Adafactor", "config": cfg})
        assert type(via_get) is optimizers.Adafactor and via_get.get_config() == cfg
    assert again.learning_rate == pytest.approx(sched(0))


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_config_matches_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    ours = optimizers.Adafactor().get_config()
    theirs = keras.optimizers.Adafactor().get_config()
    for key in ("learning_rate", "beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step",
                "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
                "ema_overwrite_frequency", "name"):
        assert ours[key] == pytest.approx(theirs[key]) if isinstance(ours[key], float) else ours[key] == theirs[key], key


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: optimizers.Adafactor(learning_rate=-0.1), ValueError, "learning_rate"),
        (lambda: optimizers.Adafactor(beta_2_decay=0.5), ValueError,
         r"Adafactor: beta_2_decay must be a finite number <= 0. Received: beta_2_decay=0.5"),
        (lambda: optimizers.Adafactor(beta_2_decay=float("nan")), ValueError, "beta_2_decay"),
        (lambda: optimizers.Adafactor(beta_2_decay="x"), TypeError, "Adafactor: beta_2_decay must be a float. Received: beta_2_decay='x'"),
        (lambda: optimizers.Adafactor(epsilon_1=-1e-30), ValueError,
         r"Adafactor: epsilon_1 must be a finite number >= 0. Received: epsilon_1=-1e-30"),
        (lambda: optimizers.Adafactor(epsilon_2=float("inf")), ValueError, "epsilon_2 must be a finite number >= 0"),
        (lambda: optimizers.Adafactor(epsilon_2=None), TypeError, "epsilon_2 must be a float"),
        (lambda: optimizers.Adafactor(clip_threshold=0.0), ValueError,
         r"Adafactor: clip_threshold must be a finite number > 0. Received: clip_threshold=0.0"),
        (lambda: optimizers.Adafactor(clip_threshold=[1]), TypeError, "clip_threshold must be a float"),
        (lambda: optimizers.Adafactor(relative_step="yes"), TypeError,
         "Adafactor: relative_step must be a bool. Received: relative_step='yes'"),
        (lambda: optimizers.Adafactor(clipnorm=1.0, global_clipnorm=1.0), ValueError, "clipnorm or global_clipnorm"),
        (lambda: optimizers.Adafactor(clipvalue=0.0), ValueError, "clipvalue must be > 0"),
        (lambda: optimizers.Adafactor(use_ema=True, ema_momentum=2.0), ValueError, "ema_momentum"),
        (lambda: optimizers.Adafactor(beta_1=0.9), TypeError, "unexpected keyword"),
    ],
)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_flat_state_round_trip_resumes_identically(rng):
    vs = [Variable(rng.standard_normal(s), f"w{i}") for i, s in enumerate(SHAPES)]
    opt = optimizers.Adafactor(learning_rate=0.05, weight_decay=0.01)
    opt.build(vs)
    take_random_steps(opt, vs, rng, 3)
    state = opt.get_state()
    ws = [Variable(v.value.copy(), f"c{i}") for i, v in enumerate(vs)]
    again = optimizers.Adafactor.from_config(opt.get_config())
    again.build(ws)
    for key in ("factored_row", "factored_col"):
        broken = {k: v for k, v in state.items() if k != key}
        with pytest.raises(ValueError, match=f"optimizer state '{key}' missing or of the wrong size"):
            again.set_state(broken)
        with pytest.raises(ValueError, match=f"'{key}'.*expected {state[key].size} values"):
            again.set_state({**state, key: state[key][:-1]})
    again.set_state(state)
    assert again.iterations == 3
    assert_resumes_identically(opt, again, vs, ws, rng)


def _conv_model():
    return Sequential([
        layers.Conv2D(3, 2, activation="relu", input_shape=(5, 5, 2)),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])


SAVED = ["adafactor", {"class_name": "Adafactor", "config": {"learning_rate": 0.05, "weight_decay": 0.01, "use_ema": True}}]


@pytest.mark.parametrize("opt", SAVED, ids=["alias", "config-ema"])
def test_conv_model_save_load_resumes_training_identically(opt, tmp_path, rng):
    """Conv2D's rank-4 kernel has factored moments; they are saved and restored."""
    model = _conv_model()
    model.compile(optimizers.get(opt), "sparse_categorical_crossentropy")
    assert isinstance(model.optimizer, optimizers.Adafactor)
    data = rng.standard_normal((32, 5, 5, 2)).astype(F32), rng.integers(0, 3, 32)
    assert_save_load_resumes(model, *data, str(tmp_path / "m.pnc"), batch_size=8, iterations=8)


def test_fit_learns(rng):
    assert_fit_learns(optimizers.Adafactor(learning_rate=0.05), rng)


# --- Keras 3 --------------------------------------------------------------------------------------

KERAS_CASES = [
    {},
    {"learning_rate": 0.5},
    {"learning_rate": 0.05, "relative_step": False, "weight_decay": 0.05},
    {"learning_rate": 0.5, "beta_2_decay": -0.5, "epsilon_2": 0.01, "clip_threshold": 0.5},
    {"learning_rate": 0.05, "clipnorm": 0.1},
    {"learning_rate": 0.05, "global_clipnorm": 0.1},
    {"learning_rate": 0.05, "clipvalue": 0.01},
    {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 2},
    {"learning_rate": "schedule"},
]


def _keras_kwargs(keras, kwargs, lib):
    if kwargs.get("learning_rate") != "schedule":
        return kwargs
    return {**kwargs, "learning_rate": lib.ExponentialDecay(0.5, decay_steps=2, decay_rate=0.5)}


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("kwargs", KERAS_CASES, ids=[_case_id(c) + ("-schedule" if c.get("learning_rate") == "schedule" else "") for c in KERAS_CASES])
@pytest.mark.parametrize("arch", ["dense", "conv"])
def test_train_on_batch_matches_keras(kwargs, arch, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras comparison runs with KERAS_BACKEND=torch")
    if arch == "dense":
        k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(3, activation="softmax")])
        p = Sequential([layers.Dense(6, activation="tanh", input_shape=(5,)), layers.Dense(3, activation="softmax")])
        x = rng.standard_normal((16, 5)).astype(F32)
    else:
        k = keras.Sequential([keras.Input((5, 5, 2)), keras.layers.Conv2D(3, 2, activation="relu"), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
        p = _conv_model()
        x = rng.standard_normal((16, 5, 5, 2)).astype(F32)
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    k.compile(keras.optimizers.Adafactor(**_keras_kwargs(keras, kwargs, keras.optimizers.schedules)), "sparse_categorical_crossentropy")
    p.compile(optimizers.Adafactor(**_keras_kwargs(keras, kwargs, schedules)), "sparse_categorical_crossentropy")
    y = rng.integers(0, 3, 16)
    train_side_by_side(k, p, x, y, steps=6)
