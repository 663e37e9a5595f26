"""Ftrl: the fused native update (ops.ftrl_update) and the optimizer class, against Keras 3's
rule in float64 numpy and against Keras 3 itself (torch backend).

The reference restates Keras 3's `update_step` of keras/src/optimizers/ftrl.py with the base
optimizer's gradient clipping and decoupled weight decay (``p -= p * weight_decay * lr``
before the rule). With ``k = -learning_rate_power``:

  a' = a + g^2;  linear += g + 2 l2_shrinkage p - (a'^k - a^k) / lr * p
  p = (clip(linear, -l1, l1) - linear) / (a'^k / lr + 2 (l2 + beta / (2 lr)));  a = a'
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from _keras_train import train_side_by_side
from _optim_checks import assert_fit_learns, assert_resumes_identically, assert_save_load_resumes
from _ref import ref_clip_gradients, ref_grad_transform

import pynncore
from pynncore import _core, layers, ops, optimizers
from pynncore.layers.base import Variable
from pynncore.models import Sequential
from pynncore.optimizers import schedules

F32 = np.float32


def ref_ftrl(p, g, acc, lin, lr, learning_rate_power=-0.5, l1=0.0, l2=0.0, shrinkage=0.0, beta=0.0, weight_decay=0.0):
    """One Ftrl step of one variable in place (float64 arrays)."""
    p -= p * weight_decay * lr
    k = -learning_rate_power
    new_acc = acc + g * g
    lin += g + 2.0 * shrinkage * p - (new_acc**k - acc**k) / lr * p
    quad = new_acc**k / lr + 2.0 * (l2 + beta / (2.0 * lr))
    p[...] = (np.clip(lin, -l1, l1) - lin) / quad
    acc[...] = new_acc


# keyword names of ops.ftrl_update / the class -> the reference's
_REF_NAMES = {
    "learning_rate_power": "learning_rate_power",
    "l1_regularization_strength": "l1",
    "l2_regularization_strength": "l2",
    "l2_shrinkage_regularization_strength": "shrinkage",
    "beta": "beta",
    "weight_decay": "weight_decay",
}


def _ref_hp(kwargs):
    return {_REF_NAMES[k]: v for k, v in kwargs.items() if k in _REF_NAMES}


class RefFtrl:
    """Keras 3's optimizer loop over several float64 variables: clipnorm (per variable) or
    global_clipnorm, then clipvalue, the learning rate at `iterations`, decay and the rule."""

    def __init__(self, values, learning_rate, initial_accumulator_value=0.1, clipnorm=None, global_clipnorm=None, clipvalue=None, **hp):
        self.lr, self.hp = learning_rate, _ref_hp(hp)
        self.clipnorm, self.global_clipnorm, self.clipvalue = clipnorm, global_clipnorm, clipvalue
        self.p = [np.array(v, np.float64).reshape(-1) for v in values]
        self.acc = [np.full_like(p, initial_accumulator_value) for p in self.p]
        self.lin = [np.zeros_like(p) for p in self.p]
        self.iterations = 0

    def step(self, grads):
        g = ref_clip_gradients(grads, self.clipnorm, self.global_clipnorm, self.clipvalue)
        lr = float(self.lr(self.iterations)) if callable(self.lr) else self.lr
        self.iterations += 1
        for i, gi in enumerate(g):
            ref_ftrl(self.p[i], gi, self.acc[i], self.lin[i], lr, **self.hp)


# --- the fused native update -------------------------------------------------------------------

N = 70001  # past 65536: two threads when they are allowed; odd, so the loops have a tail

NATIVE_CASES = [
    ("defaults", {}),
    ("l1", {"learning_rate": 0.05, "l1_regularization_strength": 0.3}),
    ("l2", {"learning_rate": 0.05, "l2_regularization_strength": 0.2}),
    ("shrinkage", {"learning_rate": 0.05, "l2_shrinkage_regularization_strength": 0.1, "l1_regularization_strength": 0.01}),
    ("beta", {"learning_rate": 0.05, "beta": 0.5, "l2_regularization_strength": 0.01}),
    ("power", {"learning_rate": 0.05, "learning_rate_power": -0.3, "l1_regularization_strength": 0.05}),
    ("power0", {"learning_rate": 0.05, "learning_rate_power": 0.0}),
    ("decay_clip", {"learning_rate": 0.05, "weight_decay": 0.1, "grad_scale": 0.5, "clip_value": 0.3}),
]


@pytest.mark.parametrize("hp", [c[1] for c in NATIVE_CASES], ids=[c[0] for c in NATIVE_CASES])
def test_ftrl_update_matches_rule(hp, cpu_path, num_threads, rng):
    assert _core.optim_kernel() == cpu_path
    p = rng.standard_normal(N).astype(F32)
    acc = np.full(N, 0.1, F32)
    lin = np.zeros(N, F32)
    p_ref, acc_ref, lin_ref = p.astype(np.float64), acc.astype(np.float64), lin.astype(np.float64)
    lr = hp.get("learning_rate", 0.001)
    for _ in range(4):
        g = rng.standard_normal(N).astype(F32)
        ops.ftrl_update(p, g, acc, lin, **hp)
        ref_ftrl(p_ref, ref_grad_transform(g.astype(np.float64), hp), acc_ref, lin_ref, lr, **_ref_hp(hp))
    np.testing.assert_allclose(acc, acc_ref, rtol=1e-5)
    np.testing.assert_allclose(lin, lin_ref, rtol=2e-4, atol=1e-3 * np.abs(lin_ref).max())
    np.testing.assert_allclose(p, p_ref, rtol=2e-4, atol=1e-5 * np.abs(p_ref).max())


def test_zero_accumulator_without_gradient_keeps_the_weight():
    """a' = 0 with no l2 / beta: Keras divides 0 by 0; the weight keeps its (decayed) value,
    so the zero padding of the flat buffers stays zero."""
    p = np.array([0.0, 2.0, 1.0], F32)
    acc = np.array([0.0, 0.0, 0.0], F32)
    lin = np.zeros(3, F32)
    ops.ftrl_update(p, [0.0, 0.0, 1.0], acc, lin, learning_rate=0.5, weight_decay=0.1)
    assert p[0] == 0.0 and p[1] == pytest.approx(2.0 * 0.95)
    p_ref, acc_ref, lin_ref = np.array([1.0]), np.zeros(1), np.zeros(1)
    ref_ftrl(p_ref, np.ones(1), acc_ref, lin_ref, 0.5, weight_decay=0.1)
    assert p[2] == pytest.approx(p_ref[0], rel=1e-6)
    np.testing.assert_array_equal(lin[:2], 0.0)


def _arrays(n=8):
    return np.ones(n, F32), np.ones(n, F32), np.full(n, 0.1, F32), np.zeros(n, F32)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"learning_rate": 0.0}, ValueError, "ftrl_update: learning_rate must be > 0; got 0"),
        ({"learning_rate": np.inf}, ValueError, "learning_rate must be a finite number"),
        ({"learning_rate_power": 0.5}, ValueError, "learning_rate_power must be <= 0; got 0.5"),
        ({"learning_rate_power": np.nan}, ValueError, "learning_rate_power must be a finite number"),
        ({"l1_regularization_strength": -1.0}, ValueError, "l1_regularization_strength must be >= 0; got -1"),
        ({"l2_regularization_strength": -1.0}, ValueError, "l2_regularization_strength must be >= 0"),
        ({"l2_shrinkage_regularization_strength": -1.0}, ValueError, "l2_shrinkage_regularization_strength must be >= 0"),
        ({"beta": np.inf}, ValueError, "beta must be a finite number"),
        ({"clip_value": np.nan}, ValueError, "clip_value must not be NaN"),
    ],
)
def test_native_errors_name_the_argument_and_leave_state_untouched(kwargs, exc, match):
    p, g, acc, lin = _arrays()
    with pytest.raises(exc, match=match):
        ops.ftrl_update(p, g, acc, lin, **kwargs)
    assert (p == 1).all() and (acc == F32(0.1)).all() and (lin == 0).all()


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda p, g, a, z: ops.ftrl_update(p, g, a[:4], z), ValueError, r"accumulator must have as many elements as params \(8"),
        (lambda p, g, a, z: ops.ftrl_update(p, g, a, a), ValueError, "linear shares memory with accumulator"),
        (lambda p, g, a, z: ops.ftrl_update(p, g, a, z.astype(np.float64)), TypeError, "linear must have dtype float32"),
        (lambda p, g, a, z: ops.ftrl_update(p, g, a, None), TypeError, "linear must be a numpy.ndarray"),
    ],
)
def test_native_array_errors(call, exc, match):
    p, g, acc, lin = _arrays()
    with pytest.raises(exc, match=match):
        call(p, g, acc, lin)
    assert (p == 1).all() and (lin == 0).all()


# --- the optimizer class ------------------------------------------------------------------------

SHAPES = [(3, 5), (7,), (1,), (130, 300), (17, 2)]

CLASS_CASES = [
    {"learning_rate": 0.05},
    {"learning_rate": 0.05, "l1_regularization_strength": 0.2, "l2_regularization_strength": 0.1},
    {"learning_rate": 0.05, "l2_shrinkage_regularization_strength": 0.05, "beta": 0.3, "initial_accumulator_value": 0.5},
    {"learning_rate": 0.05, "learning_rate_power": -0.7, "weight_decay": 0.1},
    {"learning_rate": 0.05, "clipnorm": 0.5},
    {"learning_rate": 0.05, "global_clipnorm": 1.0, "l1_regularization_strength": 0.01},
    {"learning_rate": schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5), "clipvalue": 0.2},
]


def _case_id(kw):
    return "-".join(["ftrl"] + [k for k in kw if k != "learning_rate"] + (["schedule"] if callable(kw["learning_rate"]) else []))


@pytest.mark.parametrize("kwargs", CLASS_CASES, ids=[_case_id(c) for c in CLASS_CASES])
def test_optimizer_steps_match_reference(kwargs, cpu_path, rng):
    values = [rng.standard_normal(s) for s in SHAPES]
    vs = [Variable(x, f"w{i}") for i, x in enumerate(values)]
    opt = optimizers.Ftrl(**kwargs)
    opt.build(vs)
    ref = RefFtrl(values, **kwargs)
    for _ in range(5):
        grads = [rng.standard_normal(s) * 0.5 for s in SHAPES]
        for v, g in zip(vs, grads):
            v.grad[...] = g
        opt.apply()
        ref.step(grads)
    assert opt.iterations == 5
    for v, pr in zip(vs, ref.p):
        np.testing.assert_allclose(v.value.reshape(-1), pr, rtol=2e-4, atol=1e-5 * max(1.0, np.abs(pr).max()))
    # the padding between the variables stays zero
    mask = np.ones(opt._params.size, bool)
    for o, v in zip(opt._offsets, vs):
        mask[o : o + v.value.size] = False
    assert (opt._params[mask] == 0).all() and (opt._state["linear"][mask] == 0).all()


def test_alias_defaults_config_and_get():
    assert type(optimizers.get("ftrl")) is optimizers.Ftrl
    assert type(optimizers.get("FTRL")) is optimizers.Ftrl
    assert type(optimizers.get("Ftrl")) is optimizers.Ftrl
    assert "Ftrl" in optimizers.__all__ and pynncore.optimizers.Ftrl is optimizers.Ftrl
    opt = optimizers.Ftrl()
    assert (
        opt.learning_rate, opt.learning_rate_power, opt.initial_accumulator_value, opt.l1_regularization_strength,
        opt.l2_regularization_strength, opt.l2_shrinkage_regularization_strength, opt.beta, opt.weight_decay, opt.name,
    ) == (0.001, -0.5, 0.1, 0.0, 0.0, 0.0, 0.0, None, "ftrl")
    sched = schedules.CosineDecay(0.1, decay_steps=10)
    for opt in (
        optimizers.Ftrl(learning_rate=0.01, learning_rate_power=-0.2, initial_accumulator_value=0.3, l1_regularization_strength=0.1,
                        l2_regularization_strength=0.2, l2_shrinkage_regularization_strength=0.05, beta=0.4,
                        weight_decay=0.1, clipnorm=1.0, name="f1"),
        optimizers.Ftrl(learning_rate=sched, global_clipnorm=2.0, clipvalue=0.5, use_ema=True, ema_momentum=0.9),
    ):
        cfg = opt.get_config()
        for key in ("learning_rate_power", "initial_accumulator_value", "l1_regularization_strength",
                    "l2_regularization_strength", "l2_shrinkage_regularization_strength", "beta"):
            assert cfg[key] == getattr(opt, key)
        again = optimizers.Ftrl.from_config(cfg)
        assert again.get_config() == cfg
        via_get = optimizers.get({"class_name": "Ftrl", "config": cfg})
        assert type(via_get) is optimizers.Ftrl and via_get.get_config() == cfg
    assert again.learning_rate == pytest.approx(sched(0))


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_config_matches_keras_keys():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    ours = set(optimizers.Ftrl().get_config())
    theirs = set(keras.optimizers.Ftrl().get_config())
    assert {"learning_rate_power", "initial_accumulator_value", "l1_regularization_strength", "l2_regularization_strength",
            "l2_shrinkage_regularization_strength", "beta"} <= ours & theirs


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: optimizers.Ftrl(learning_rate=-0.1), ValueError, "learning_rate"),
        (lambda: optimizers.Ftrl(learning_rate_power=0.5), ValueError,
         r"Ftrl: learning_rate_power must be a finite number <= 0. Received: learning_rate_power=0.5"),
        (lambda: optimizers.Ftrl(learning_rate_power=float("nan")), ValueError, "learning_rate_power"),
        (lambda: optimizers.Ftrl(learning_rate_power="x"), TypeError, "Ftrl: learning_rate_power must be a float. Received: learning_rate_power='x'"),
        (lambda: optimizers.Ftrl(initial_accumulator_value=-0.1), ValueError,
         r"Ftrl: initial_accumulator_value must be a finite number >= 0. Received: initial_accumulator_value=-0.1"),
        (lambda: optimizers.Ftrl(l1_regularization_strength=-1), ValueError, "l1_regularization_strength must be a finite number >= 0"),
        (lambda: optimizers.Ftrl(l2_regularization_strength=-1), ValueError, "l2_regularization_strength must be a finite number >= 0"),
        (lambda: optimizers.Ftrl(l2_shrinkage_regularization_strength=-1), ValueError, "l2_shrinkage_regularization_strength"),
        (lambda: optimizers.Ftrl(l1_regularization_strength=None), TypeError, "l1_regularization_strength must be a float"),
        (lambda: optimizers.Ftrl(beta=float("inf")), ValueError, "Ftrl: beta must be a finite number. Received: beta=inf"),
        (lambda: optimizers.Ftrl(beta=[1]), TypeError, "Ftrl: beta must be a float"),
        (lambda: optimizers.Ftrl(clipnorm=1.0, global_clipnorm=1.0), ValueError, "clipnorm or global_clipnorm"),
        (lambda: optimizers.Ftrl(clipvalue=0.0), ValueError, "clipvalue must be > 0"),
        (lambda: optimizers.Ftrl(momentum=0.9), TypeError, "unexpected keyword"),
    ],
)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_zero_learning_rate_step_is_an_error():
    vs = [Variable(np.ones((2, 3)), "w")]
    opt = optimizers.Ftrl(learning_rate=0.0)
    opt.build(vs)
    vs[0].grad[...] = 1.0
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        opt.apply()
    np.testing.assert_array_equal(vs[0].value, 1.0)


def test_flat_state_round_trip_resumes_identically(rng):
    vs = [Variable(rng.standard_normal(s), f"w{i}") for i, s in enumerate(SHAPES)]
    opt = optimizers.Ftrl(learning_rate=0.05, l1_regularization_strength=0.01)
    opt.build(vs)
    for _ in range(3):
        for v in vs:
            v.grad[...] = rng.standard_normal(v.value.shape)
        opt.apply()
    state = opt.get_state()
    size = sum(int(np.prod(s)) for s in SHAPES)
    assert set(state) == {"iterations", "accumulator", "linear"}
    assert all(state[k].shape == (size,) for k in state if k != "iterations")
    ws = [Variable(v.value.copy(), f"c{i}") for i, v in enumerate(vs)]
    again = optimizers.Ftrl.from_config(opt.get_config())
    again.build(ws)
    again.set_state(state)
    assert_resumes_identically(opt, again, vs, ws, rng)


@pytest.mark.parametrize("opt", ["ftrl", {"class_name": "Ftrl", "config": {"learning_rate": 0.05, "l2_regularization_strength": 0.01, "use_ema": True}}])
def test_model_save_load_resumes_training_identically(opt, tmp_path, rng):
    x = rng.standard_normal((64, 4)).astype(F32)
    y = rng.integers(0, 3, 64)
    model = Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizers.get(opt), "sparse_categorical_crossentropy")
    assert type(model.optimizer) is optimizers.Ftrl
    assert_save_load_resumes(model, x, y, str(tmp_path / "m.pnc"), batch_size=16, iterations=8)


def test_fit_learns(rng):
    assert_fit_learns(optimizers.Ftrl(learning_rate=0.5), rng)


# --- Keras 3 --------------------------------------------------------------------------------------

KERAS_CASES = [
    {"learning_rate": 0.05},
    {"learning_rate": 0.05, "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02},
    {"learning_rate": 0.05, "l2_shrinkage_regularization_strength": 0.02, "beta": 0.2},
    {"learning_rate": 0.05, "learning_rate_power": -0.3, "initial_accumulator_value": 0.5, "weight_decay": 0.05},
    {"learning_rate": 0.05, "clipnorm": 0.1},
    {"learning_rate": 0.05, "global_clipnorm": 0.1},
    {"learning_rate": 0.05, "clipvalue": 0.01},
]


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("kwargs", KERAS_CASES, ids=[_case_id(c) for c in KERAS_CASES])
def test_train_on_batch_matches_keras(kwargs, cpu_path, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras comparison runs with KERAS_BACKEND=torch")
    k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(3, activation="softmax")])
    p = Sequential([layers.Dense(6, activation="tanh", input_shape=(5,)), layers.Dense(3, activation="softmax")])
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    k.compile(keras.optimizers.Ftrl(**kwargs), "sparse_categorical_crossentropy")
    p.compile(optimizers.Ftrl(**kwargs), "sparse_categorical_crossentropy")
    x = rng.standard_normal((16, 5)).astype(F32)
    y = rng.integers(0, 3, 16)
    train_side_by_side(k, p, x, y, steps=6)
