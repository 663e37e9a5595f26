"""Muon, ScheduleFreeAdamW and LossScaleOptimizer: each against its published rule in float64
numpy and against Keras 3 (torch backend); flat state, save/load resumption, fit, config and
bad arguments.

Muon (Keras 3's keras/src/optimizers/muon.py; Jordan et al., Liu et al. 2025), step ``t``:
  2-D weights not excluded:  m = momentum m + g;  u = g + momentum m (nesterov) or m
      NS(u): X = u (transposed when tall) / (||u||_F + 1e-7); ns_steps times
             A = X X^T;  X = a X + (b A + c A A) X
      p -= lr NS(u) sqrt(max(rows, cols)) rms_rate
  other weights (AdamW):  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
      p -= lr adam_lr_ratio sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + epsilon)
  decay first: p -= p wd lr (wd = weight_decay for Muon weights, adam_weight_decay for AdamW).

ScheduleFreeAdamW (Defazio et al., 2024), weights y, momentum z (starts at y), step ``t``:
  y -= y weight_decay lr;  lr_t = lr min(t / warmup_steps, 1)
  v = b2 v + (1 - b2) g^2;  z' = z - lr_t g / (sqrt(v / (1 - b2^t)) + epsilon)
  x = (y - (1 - b1) z) / b1;  x' = (1 - 1/t) x + z' / t;  y' = (1 - b1) z' + b1 x'

LossScaleOptimizer: the gradients handed over are those of the scaled loss; non-finite ones
skip the step and halve the scale, else they are unscaled and the inner optimizer steps, and
every dynamic_growth_steps such steps in a row double the scale.
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
KERAS_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras comparison runs with KERAS_BACKEND=torch")
    return keras


def _lr_at(lr, iterations):
    return float(lr(iterations)) if callable(lr) else lr


class _RefSteps:
    """What every reference step starts with: Keras's gradient clipping (``self.clip``), the
    learning rate at the current iteration (``self.lr``) and the 1-based step ``self.t``."""

    def _start(self, grads):
        flat = ref_clip_gradients(grads, *self.clip)
        lr = _lr_at(self.lr, self.t)
        self.t += 1
        return flat, lr, self.t


def _close(values, refs, rtol):
    for v, r in zip(values, refs):
        np.testing.assert_allclose(v, r, rtol=rtol, atol=rtol * max(1.0, float(np.abs(r).max(initial=0.0))))


def _close_moves(values, refs, starts, rtol):
    """Final weights against the reference's as moves from their float64 starting values, so
    that small steps are checked to ``rtol`` of the largest move, not of the weights' size."""
    moves = [np.asarray(v, np.float64) - np.asarray(s, F32) for v, s in zip(values, starts)]
    ref_moves = [np.asarray(r, np.float64) - s for r, s in zip(refs, starts)]
    scale = max(float(np.abs(m).max(initial=0.0)) for m in ref_moves)
    assert scale > 0
    for m, r in zip(moves, ref_moves):
        np.testing.assert_allclose(m, r, rtol=rtol, atol=rtol * scale)


# --- Muon ---------------------------------------------------------------------------------------


def ref_newton_schulz(u, steps, a, b, c):
    """The quintic Newton-Schulz iteration on a float64 matrix, shorter side first."""
    tall = u.shape[0] > u.shape[1]
    x = u.T if tall else u
    x = x / (np.linalg.norm(x) + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


class RefMuon(_RefSteps):
    """Muon over float64 variables, each flagged Muon (False) or AdamW (True)."""

    def __init__(self, values, adamw, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315, adam_lr_ratio=1,
                 momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2, clipnorm=None, global_clipnorm=None,
                 clipvalue=None, **_):
        self.start = [np.array(v, np.float64) for v in values]
        self.p = [x.copy() for x in self.start]
        self.m = [np.zeros_like(p) for p in self.p]
        self.v = [np.zeros_like(p) for p in self.p]
        self.adamw = adamw
        self.lr, self.b1, self.b2, self.awd, self.eps, self.wd = (
            learning_rate, adam_beta_1, adam_beta_2, adam_weight_decay, epsilon, weight_decay)
        self.abc, self.ratio, self.mom, self.steps, self.nesterov, self.rms = (
            (muon_a, muon_b, muon_c), adam_lr_ratio, momentum, ns_steps, nesterov, rms_rate)
        self.clip = (clipnorm, global_clipnorm, clipvalue)
        self.t = 0

    def step(self, grads):
        flat, lr, t = self._start(grads)
        for i, g in enumerate(flat):
            p, m, g = self.p[i], self.m[i], g.reshape(self.p[i].shape)
            wd = self.awd if self.adamw[i] else self.wd
            if wd:
                p -= p * wd * lr
            if self.adamw[i]:
                m[...] = self.b1 * m + (1 - self.b1) * g
                self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
                p -= lr * self.ratio * np.sqrt(1 - self.b2**t) / (1 - self.b1**t) * m / (np.sqrt(self.v[i]) + self.eps)
                continue
            m[...] = self.mom * m + g
            u = g + self.mom * m if self.nesterov else m
            o = ref_newton_schulz(u, self.steps, *self.abc)
            p -= lr * o * (1.0 if self.rms is None else np.sqrt(max(p.shape)) * self.rms)


MUON_VARS = [
    ("dense/kernel", (6, 4)),
    ("dense/bias", (4,)),
    ("tall/kernel", (17, 3)),
    ("embedding/embeddings", (5, 3)),
    ("conv/kernel", (2, 2, 3, 4)),
    ("out/kernel", (4, 2)),
    ("scalar", ()),
]

MUON_CASES = [
    {},
    {"learning_rate": 0.05},
    {"learning_rate": 0.02, "nesterov": False, "momentum": 0.8},
    {"learning_rate": 0.02, "exclude_layers": ["^out"], "adam_lr_ratio": 0.1, "weight_decay": 0.1, "adam_weight_decay": 0.02},
    {"learning_rate": 0.02, "exclude_embeddings": False, "rms_rate": None, "weight_decay": None},
    {"learning_rate": 0.02, "ns_steps": 2, "muon_a": 2.0, "muon_b": -1.5, "muon_c": 0.5, "epsilon": 1e-3},
    {"learning_rate": 0.02, "clipnorm": 0.5},
    {"learning_rate": 0.02, "global_clipnorm": 1.0, "adam_beta_1": 0.5, "adam_beta_2": 0.9},
    {"learning_rate": schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5), "clipvalue": 0.2},
]


def _ids(prefix, cases):
    return ["-".join([prefix] + [k for k in c if k != "learning_rate"] + (["schedule"] if callable(c.get("learning_rate")) else []))
            for c in cases]


def _muon_flags(kwargs):
    """The weights of MUON_VARS that take the AdamW step, as Keras decides it."""
    import re

    flags = []
    for path, shape in MUON_VARS:
        adamw = len(shape) != 2 or (kwargs.get("exclude_embeddings", True) and "embedding" in path.lower())
        flags.append(adamw or any(re.search(k, path) for k in kwargs.get("exclude_layers", [])))
    return flags


@pytest.mark.parametrize("kwargs", MUON_CASES, ids=_ids("muon", MUON_CASES))
def test_muon_steps_match_reference(kwargs, rng):
    opt = optimizers.Muon(**kwargs)
    flags = _muon_flags(kwargs)
    vs, ref = steps_beside_reference(opt, lambda values: RefMuon(values, flags, **kwargs), [s for _, s in MUON_VARS], rng, 5,
                                     names=[path for path, _ in MUON_VARS])
    assert opt._use_adamw == flags
    assert opt.iterations == 5
    _close_moves([v.value for v in vs], ref.p, ref.start, rtol=2e-3)
    state = opt.get_state()
    np.testing.assert_allclose(state["momentum"], np.concatenate([m.reshape(-1) for m in ref.m]), rtol=1e-4, atol=1e-6)
    # the velocity holds the AdamW weights' moments and stays zero for the Muon weights
    np.testing.assert_allclose(state["velocity"], np.concatenate([v.reshape(-1) for v in ref.v]), rtol=1e-4, atol=1e-8)


def test_newton_schulz_is_near_orthogonal(rng):
    """The quintic iteration maps every singular value into about [0.7, 1.2] and keeps the
    singular vectors (the orthogonal polar factor up to those values)."""
    opt = optimizers.Muon()
    for shape in ((8, 8), (5, 12), (12, 5), (1, 7)):
        u = rng.standard_normal(shape).astype(F32)
        o = opt._newton_schulz(u)
        assert o.shape == shape and o.dtype == F32
        s = np.linalg.svd(o.astype(np.float64), compute_uv=False)
        assert s.min() > 0.65 and s.max() < 1.25, s
        np.testing.assert_allclose(o, ref_newton_schulz(u.astype(np.float64), 5, 3.4445, -4.7750, 2.0315), rtol=1e-4, atol=1e-5)
        polar = np.linalg.svd(u.astype(np.float64), full_matrices=False)
        np.testing.assert_allclose(polar[0].T @ o @ polar[2].T, np.diag(np.diag(polar[0].T @ o @ polar[2].T)), atol=1e-4)


def test_muon_variable_selection():
    model = Sequential([
        layers.Embedding(10, 4, input_shape=(3,), name="embedding"),  # names fixed: automatic ones
        layers.Conv1D(5, 2, name="conv1d"),  # depend on the layers created before
        layers.Flatten(),
        layers.Dense(6, name="hidden"),
        layers.Dense(2, name="head"),
    ])
    model.build((None, 3))
    model.compile(optimizers.Muon(exclude_layers=["head"]), "mse")
    model.train_on_batch(np.zeros((2, 3), np.int64), np.zeros((2, 2), F32))
    chosen = {v.path: use for v, use in zip(model.optimizer.variables, model.optimizer._use_adamw)}
    assert chosen == {
        "embedding/embeddings": True, "conv1d/kernel": True, "conv1d/bias": True,
        "hidden/kernel": False, "hidden/bias": True, "head/kernel": True, "head/bias": True,
    }


# --- ScheduleFreeAdamW ----------------------------------------------------------------------------


class RefScheduleFree(_RefSteps):
    """Schedule-Free AdamW over float64 variables (the published rule)."""

    def __init__(self, values, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0,
                 weight_decay=None, clipnorm=None, global_clipnorm=None, clipvalue=None, **_):
        self.start = [np.array(v, np.float64) for v in values]
        self.y = [x.copy() for x in self.start]
        self.z = [y.copy() for y in self.y]
        self.v = [np.zeros_like(y) for y in self.y]
        self.lr, self.b1, self.b2, self.eps, self.warmup, self.wd = learning_rate, beta_1, beta_2, epsilon, warmup_steps, weight_decay
        self.clip = (clipnorm, global_clipnorm, clipvalue)
        self.t = 0

    def step(self, grads):
        flat, lr, t = self._start(grads)
        b1, b2 = self.b1, self.b2
        lr_t = lr * min(t / self.warmup, 1.0) if self.warmup else lr
        for i, g in enumerate(flat):
            y, z, g = self.y[i], self.z[i], g.reshape(self.y[i].shape)
            if self.wd:
                y -= y * self.wd * lr
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            z_new = z - lr_t * g / (np.sqrt(self.v[i] / (1 - b2**t)) + self.eps)
            x = (y - (1 - b1) * z) / b1
            x = (1 - 1 / t) * x + z_new / t
            self.y[i] = (1 - b1) * z_new + b1 * x
            self.z[i] = z_new


SHAPES = [(3, 5), (7,), (1,), (), (2, 4, 3), (17, 2)]

SF_CASES = [
    {},
    {"learning_rate": 0.05},
    {"learning_rate": 0.05, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3},
    {"learning_rate": 0.05, "warmup_steps": 3},
    {"learning_rate": 0.05, "beta_1": 1.0},
    {"learning_rate": 0.05, "weight_decay": 0.1},
    {"learning_rate": 0.05, "clipnorm": 0.5},
    {"learning_rate": 0.05, "global_clipnorm": 1.0},
    {"learning_rate": schedules.ExponentialDecay(0.5, decay_steps=2, decay_rate=0.5), "clipvalue": 0.2, "warmup_steps": 2},
]


@pytest.mark.parametrize("kwargs", SF_CASES, ids=_ids("sfadamw", SF_CASES))
def test_schedule_free_steps_match_reference(kwargs, rng):
    opt = optimizers.ScheduleFreeAdamW(**kwargs)
    vs, ref = steps_beside_reference(opt, lambda values: RefScheduleFree(values, **kwargs), SHAPES, rng, 6)
    _close_moves([v.value for v in vs], ref.y, ref.start, rtol=1e-3)
    # float32's 1 - beta_2 is off by 1.3e-5 relative for beta_2 = 0.999, as in Keras
    state = opt.get_state()
    _close([state["momentum"], state["velocity"]], [np.concatenate([a.reshape(-1) for a in ref.z]),
                                                    np.concatenate([a.reshape(-1) for a in ref.v])], rtol=3e-5)


def test_schedule_free_average_is_the_mean_of_the_z_iterates(rng):
    """Without decay, x = (y - (1 - beta_1) z) / beta_1 is the plain mean of z_1 .. z_t and the
    momentum slot starts at the weights."""
    vs = [Variable(rng.standard_normal((4, 3)), "w")]
    opt = optimizers.ScheduleFreeAdamW(learning_rate=0.1, beta_1=0.8)
    opt.build(vs)
    np.testing.assert_array_equal(opt.get_state()["momentum"], vs[0].value.reshape(-1))
    zs = []
    for _ in range(7):
        vs[0].grad[...] = rng.standard_normal((4, 3))
        opt.apply()
        zs.append(opt.get_state()["momentum"].astype(np.float64))
    x = (vs[0].value.reshape(-1).astype(np.float64) - 0.2 * zs[-1]) / 0.8
    np.testing.assert_allclose(x, np.mean(zs, axis=0), rtol=1e-5, atol=1e-5)


def test_schedule_free_finalize_keeps_y_and_writes_ema(rng):
    """As in Keras, ending fit changes nothing but the EMA weights (use_ema)."""
    x = rng.standard_normal((16, 3)).astype(F32)
    y = rng.standard_normal((16, 2)).astype(F32)
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(optimizers.ScheduleFreeAdamW(0.05), "mse")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    opt = model.optimizer
    before = [w.copy() for w in model.get_weights()]
    opt.finalize_variable_values(opt.variables)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    ema = Sequential([layers.Dense(2, input_shape=(3,))])
    ema.compile(optimizers.ScheduleFreeAdamW(0.05, use_ema=True, ema_momentum=0.5), "mse")
    ema.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    np.testing.assert_array_equal(ema.optimizer._compact(ema.optimizer._params), ema.optimizer.get_state()["average"])


# --- LossScaleOptimizer ---------------------------------------------------------------------------


def _pair(inner_factory, rng, **lso_kwargs):
    values = [rng.standard_normal(s) for s in SHAPES]
    plain = [Variable(x, f"w{i}") for i, x in enumerate(values)]
    wrapped = [Variable(x, f"w{i}") for i, x in enumerate(values)]
    opt = inner_factory()
    lso = optimizers.LossScaleOptimizer(inner_factory(), **lso_kwargs)
    opt.build(plain)
    lso.build(wrapped)
    return opt, lso, plain, wrapped


@pytest.mark.parametrize(
    "inner",
    [
        lambda: optimizers.SGD(0.1, momentum=0.9),
        lambda: optimizers.Adam(0.01, weight_decay=0.01, global_clipnorm=1.0),
        lambda: optimizers.Nadam(0.01, use_ema=True),
        lambda: optimizers.Adafactor(0.05),
        lambda: optimizers.Muon(0.02),
        lambda: optimizers.ScheduleFreeAdamW(0.05, warmup_steps=2),
    ],
    ids=["sgd", "adam", "nadam-ema", "adafactor", "muon", "sfadamw"],
)
def test_loss_scale_finite_steps_equal_the_inner_optimizer(inner, rng):
    """Gradients of the scaled loss (exact for a power-of-two scale) give exactly the inner
    optimizer's updates and state."""
    opt, lso, plain, wrapped = _pair(inner, rng, initial_scale=2.0**12, dynamic_growth_steps=3)
    scales = []
    for _ in range(7):
        for p, w in zip(plain, wrapped):
            g = rng.standard_normal(p.value.shape).astype(F32)
            p.grad[...] = g
            w.grad[...] = g * F32(lso.dynamic_scale)
        opt.apply()
        lso.apply()
        scales.append(lso.dynamic_scale)
    assert scales == [2.0**12] * 2 + [2.0**13] * 3 + [2.0**14] * 2
    assert lso.iterations == opt.iterations == 7 and lso.step_counter == 1
    for p, w in zip(plain, wrapped):
        np.testing.assert_array_equal(p.value, w.value)
    inner_state = lso.inner_optimizer.get_state()
    for k, v in opt.get_state().items():
        np.testing.assert_array_equal(inner_state[k], v)


def test_loss_scale_skips_non_finite_steps(rng):
    """Golden sequence: a non-finite gradient anywhere skips the whole step (weights, state and
    iterations stay) and halves the scale; the count of finite steps restarts."""
    opt, lso, plain, wrapped = _pair(lambda: optimizers.Adam(0.01), rng, initial_scale=8.0, dynamic_growth_steps=2)
    bad = {1: np.inf, 2: np.nan, 5: -np.inf}
    expected = [(1, 1, 8.0), (1, 0, 4.0), (1, 0, 2.0), (2, 1, 2.0), (3, 0, 4.0), (3, 0, 2.0), (4, 1, 2.0)]
    for step, (iterations, counter, scale) in enumerate(expected):
        before = [w.value.copy() for w in wrapped]
        state = lso.get_state()
        for p, w in zip(plain, wrapped):
            g = rng.standard_normal(p.value.shape).astype(F32)
            p.grad[...] = g
            w.grad[...] = g * F32(lso.dynamic_scale)
        if step in bad:
            wrapped[-1].grad.reshape(-1)[-1] = bad[step]
        else:
            opt.apply()
        lso.apply()
        assert (lso.iterations, lso.step_counter, lso.dynamic_scale) == (iterations, counter, scale)
        if step in bad:
            for b, w in zip(before, wrapped):
                np.testing.assert_array_equal(b, w.value)
            for k in ("momentum", "velocity"):
                np.testing.assert_array_equal(lso.get_state()[k], state[k])
        for p, w in zip(plain, wrapped):
            np.testing.assert_array_equal(p.value, w.value)


def test_loss_scale_delegates_learning_rate_ema_and_scale_loss(rng):
    inner = optimizers.SGD(0.1, use_ema=True)
    lso = optimizers.LossScaleOptimizer(inner, initial_scale=4.0)
    assert lso.learning_rate == pytest.approx(0.1) and lso.use_ema and lso.name == "loss_scale_optimizer"
    lso.learning_rate = 0.5
    assert inner.learning_rate == 0.5
    assert lso.scale_loss(1.5) == 6.0
    x = rng.standard_normal((16, 3)).astype(F32)
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(lso, "mse")
    model.fit(x, x[:, :2], epochs=1, batch_size=4, verbose=0)
    # fit ends with the inner optimizer's moving averages in the weights
    np.testing.assert_array_equal(inner._compact(inner._params), inner.get_state()["average"])
    with pytest.raises(RuntimeError, match="build"):
        optimizers.LossScaleOptimizer(optimizers.SGD()).apply()


@pytest.mark.parametrize("inner", ["sgd", "adam", "nadam", "muon"])
def test_loss_scale_fit_equals_inner_optimizer_fit(inner, rng):
    """model.fit with the wrapper (loss scaled, unscaled before the step) trains exactly as the
    bare inner optimizer, through both the Dense-chain and the general path."""
    x = rng.standard_normal((32, 4)).astype(F32)
    y = rng.integers(0, 3, 32)
    for make in (
        lambda: Sequential([layers.Dense(5, activation="tanh", input_shape=(4,)), layers.Dense(3, activation="softmax")]),
        lambda: Sequential([layers.Dense(5, activation="relu", input_shape=(4,), kernel_regularizer="l2"),
                            layers.BatchNormalization(), layers.Dense(3, activation="softmax")]),
    ):
        pynncore.utils.set_random_seed(4)
        a = make()
        pynncore.utils.set_random_seed(4)
        b = make()
        a.compile(optimizers.get(inner), "sparse_categorical_crossentropy")
        b.compile(optimizers.LossScaleOptimizer(optimizers.get(inner), dynamic_growth_steps=3), "sparse_categorical_crossentropy")
        ha = a.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
        hb = b.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
        assert ha.history["loss"] == hb.history["loss"]
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)
        assert b.optimizer.dynamic_scale == 2.0**15 * 4 and b.optimizer.iterations == 8


# --- flat state, save/load, fit -------------------------------------------------------------------

FACTORIES = {
    "muon": lambda: optimizers.Muon(learning_rate=0.02, exclude_layers=["w1"]),
    "sfadamw": lambda: optimizers.ScheduleFreeAdamW(learning_rate=0.05, weight_decay=0.01, warmup_steps=2),
    "lso": lambda: optimizers.LossScaleOptimizer(optimizers.Nadam(0.01), initial_scale=4.0, dynamic_growth_steps=2),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_flat_state_round_trip_resumes_identically(name, rng):
    make = FACTORIES[name]
    vs = [Variable(rng.standard_normal(s), f"w{i}") for i, s in enumerate(SHAPES)]
    opt = make()
    opt.build(vs)
    take_random_steps(opt, vs, rng, 3)
    state = opt.get_state()
    ws = [Variable(v.value.copy(), f"w{i}") for i, v in enumerate(vs)]
    again = type(opt).from_config(opt.get_config())
    again.build(ws)
    with pytest.raises(ValueError, match="missing"):
        again.set_state({k: v for k, v in state.items() if k not in ("velocity", "dynamic_scale")})
    again.set_state(state)
    assert again.iterations == 3
    assert_resumes_identically(opt, again, vs, ws, rng, steps=3)


def test_loss_scale_state_checks(rng):
    vs = [Variable(np.ones(3), "w")]
    lso = optimizers.LossScaleOptimizer(optimizers.SGD())
    lso.build(vs)
    state = lso.get_state()
    assert set(state) == {"iterations", "dynamic_scale", "step_counter"} and state["dynamic_scale"] == 2.0**15
    with pytest.raises(ValueError, match="'dynamic_scale' missing or not one finite number"):
        lso.set_state({**state, "dynamic_scale": np.array([np.nan], F32)})
    with pytest.raises(ValueError, match="'step_counter' missing"):
        lso.set_state({k: v for k, v in state.items() if k != "step_counter"})
    with pytest.raises(ValueError, match="dynamic_scale must be > 0 and step_counter an integer >= 0"):
        lso.set_state({**state, "step_counter": np.array([1.5], F32)})
    lso.set_state({**state, "dynamic_scale": np.array([64.0], F32), "step_counter": np.array([3.0], F32)})
    assert (lso.dynamic_scale, lso.step_counter) == (64.0, 3)


def _conv_model():
    return Sequential([
        layers.Conv2D(3, 2, activation="relu", input_shape=(5, 5, 2)),
        layers.Flatten(),
        layers.Dense(4, activation="relu"),
        layers.Dense(3, activation="softmax", name="head"),
    ])


SAVED = [
    "muon",
    "schedulefreeadamw",
    {"class_name": "Muon", "config": {"learning_rate": 0.02, "exclude_layers": ["head"], "use_ema": True}},
    {"class_name": "ScheduleFreeAdamW", "config": {"learning_rate": 0.01, "warmup_steps": 3, "weight_decay": 0.01}},
    {"class_name": "LossScaleOptimizer", "config": {
        "inner_optimizer": {"class_name": "Nadam", "config": {"learning_rate": 0.01}},
        "initial_scale": 1024.0, "dynamic_growth_steps": 3}},
]


@pytest.mark.parametrize("opt", SAVED, ids=["muon", "sfadamw", "muon-config-ema", "sfadamw-config", "lso-nadam"])
def test_save_load_resumes_training_identically(opt, tmp_path, rng):
    model = _conv_model()
    model.compile(optimizers.get(opt), "sparse_categorical_crossentropy")
    data = rng.standard_normal((32, 5, 5, 2)).astype(F32), rng.integers(0, 3, 32)
    assert_save_load_resumes(model, *data, str(tmp_path / "m.pnc"), batch_size=8, iterations=8)


@pytest.mark.parametrize(
    "make",
    [lambda: optimizers.Muon(learning_rate=0.02), lambda: optimizers.ScheduleFreeAdamW(learning_rate=0.02),
     lambda: optimizers.LossScaleOptimizer(optimizers.Adam(0.02))],
    ids=["muon", "sfadamw", "lso"],
)
def test_fit_learns(make, rng):
    assert_fit_learns(make(), rng)


# --- config, aliases, bad arguments ---------------------------------------------------------------


def test_aliases_defaults_and_config_round_trip():
    for names, cls in ((("muon", "Muon", "MUON"), optimizers.Muon),
                       (("schedulefreeadamw", "ScheduleFreeAdamW"), optimizers.ScheduleFreeAdamW)):
        for name in names:
            assert type(optimizers.get(name)) is cls
    for name in ("Muon", "ScheduleFreeAdamW", "LossScaleOptimizer"):
        assert name in optimizers.__all__ and getattr(pynncore.optimizers, name) is getattr(optimizers, name)
    m = optimizers.Muon()
    assert (m.learning_rate, m.adam_beta_1, m.adam_beta_2, m.adam_weight_decay, m.epsilon, m.weight_decay,
            m.exclude_layers, m.exclude_embeddings, m.muon_a, m.muon_b, m.muon_c, m.adam_lr_ratio, m.momentum,
            m.ns_steps, m.nesterov, m.rms_rate, m.name) == (
        0.001, 0.9, 0.999, 0.004, 1e-7, 0.004, [], True, 3.4445, -4.775, 2.0315, 1, 0.95, 5, True, 0.2, "muon")
    s = optimizers.ScheduleFreeAdamW()
    assert (s.learning_rate, s.beta_1, s.beta_2, s.epsilon, s.warmup_steps, s.weight_decay, s.name) == (
        0.0025, 0.9, 0.999, 1e-8, 0, None, "schedule_free_adam_w")
    sched = schedules.CosineDecay(0.1, decay_steps=10)
    for opt in (
        optimizers.Muon(learning_rate=sched, exclude_layers=["out", "emb.*"], exclude_embeddings=False, muon_a=3.0,
                        muon_b=-4.0, muon_c=2.0, adam_lr_ratio=0.1, momentum=0.9, ns_steps=3, nesterov=False,
                        rms_rate=None, weight_decay=None, adam_weight_decay=0.1, clipnorm=1.0, name="m1"),
        optimizers.ScheduleFreeAdamW(learning_rate=sched, beta_1=0.8, beta_2=0.99, epsilon=1e-6, warmup_steps=10,
                                     weight_decay=0.01, use_ema=True, ema_overwrite_frequency=3),
        optimizers.LossScaleOptimizer(optimizers.Muon(exclude_layers=["x"]), initial_scale=128.0, dynamic_growth_steps=7,
                                      name="lso"),
    ):
        cfg = opt.get_config()
        again = type(opt).from_config(cfg)
        assert again.get_config() == cfg
        via_get = optimizers.get({"class_name": type(opt).__name__, "config": cfg})
        assert type(via_get) is type(opt) and via_get.get_config() == cfg
    assert isinstance(via_get.inner_optimizer, optimizers.Muon) and via_get.inner_optimizer.exclude_layers == ["x"]


@pytest.mark.filterwarnings(KERAS_WARNING)
def test_configs_match_keras():
    keras = _keras()
    pairs = [
        (optimizers.Muon(), keras.optimizers.Muon()),
        (optimizers.ScheduleFreeAdamW(), keras.optimizers.ScheduleFreeAdamW()),
    ]
    for ours, theirs in pairs:
        a, b = ours.get_config(), theirs.get_config()
        for key in a:
            assert a[key] == pytest.approx(b[key]) if isinstance(a[key], float) else a[key] == b[key], key
    lso = optimizers.LossScaleOptimizer(optimizers.Adam())
    klso = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam())
    a, b = lso.get_config(), klso.get_config()
    assert set(a) == set(b) and a["initial_scale"] == b["initial_scale"] and a["name"] == b["name"]
    assert a["dynamic_growth_steps"] == b["dynamic_growth_steps"]
    # a config Keras wrote loads here
    loaded = optimizers.get({"class_name": "LossScaleOptimizer", "config": b})
    assert isinstance(loaded.inner_optimizer, optimizers.Adam) and loaded.initial_scale == 2.0**15
    assert loaded.learning_rate == pytest.approx(0.001)


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: optimizers.Muon(adam_beta_1=1.0), ValueError, r"Muon: adam_beta_1 must be in \[0, 1\). Received: adam_beta_1=1.0"),
        (lambda: optimizers.Muon(adam_beta_2="x"), TypeError, "Muon: adam_beta_2 must be a float. Received: adam_beta_2='x'"),
        (lambda: optimizers.Muon(momentum=1.5), ValueError, r"Muon: momentum must be in \[0, 1\]"),
        (lambda: optimizers.Muon(epsilon=-1.0), ValueError, "Muon: epsilon must be a finite number >= 0"),
        (lambda: optimizers.Muon(weight_decay=-0.1), ValueError, "Muon: weight_decay must be a finite number >= 0"),
        (lambda: optimizers.Muon(adam_weight_decay=float("nan")), ValueError, "adam_weight_decay"),
        (lambda: optimizers.Muon(adam_lr_ratio=-1), ValueError, "adam_lr_ratio must be a finite number >= 0"),
        (lambda: optimizers.Muon(rms_rate=-0.2), ValueError, "rms_rate must be a finite number >= 0"),
        (lambda: optimizers.Muon(muon_a=float("inf")), ValueError, "Muon: muon_a must be a finite number. Received: muon_a=inf"),
        (lambda: optimizers.Muon(muon_c=None), TypeError, "muon_c must be a float"),
        (lambda: optimizers.Muon(ns_steps=2.5), ValueError, "Muon: ns_steps must be an integer >= 0. Received: ns_steps=2.5"),
        (lambda: optimizers.Muon(ns_steps=-1), ValueError, "ns_steps must be an integer >= 0"),
        (lambda: optimizers.Muon(nesterov="yes"), TypeError, "Muon: nesterov must be a bool. Received: nesterov='yes'"),
        (lambda: optimizers.Muon(exclude_embeddings=1), TypeError, "exclude_embeddings must be a bool"),
        (lambda: optimizers.Muon(exclude_layers="dense"), TypeError,
         "Muon: exclude_layers must be a list of strings. Received: exclude_layers='dense'"),
        (lambda: optimizers.Muon(exclude_layers=["ok", 3]), TypeError, "exclude_layers must be a list of strings"),
        (lambda: optimizers.Muon(exclude_layers=["("]), ValueError, r"exclude_layers entry '\(' is not a valid regular expression"),
        (lambda: optimizers.Muon(beta_1=0.9), TypeError, "unexpected keyword"),
        (lambda: optimizers.ScheduleFreeAdamW(beta_1=0.0), ValueError,
         r"ScheduleFreeAdamW: beta_1 must be in \(0, 1\]. Received: beta_1=0.0"),
        (lambda: optimizers.ScheduleFreeAdamW(beta_2=1.0), ValueError, r"beta_2 must be in \[0, 1\)"),
        (lambda: optimizers.ScheduleFreeAdamW(beta_1=[0.9]), TypeError, "beta_1 must be a float"),
        (lambda: optimizers.ScheduleFreeAdamW(epsilon=0.0), ValueError,
         "ScheduleFreeAdamW: epsilon must be a finite number > 0. Received: epsilon=0.0"),
        (lambda: optimizers.ScheduleFreeAdamW(warmup_steps=-1), ValueError,
         "ScheduleFreeAdamW: warmup_steps must be an integer >= 0. Received: warmup_steps=-1"),
        (lambda: optimizers.ScheduleFreeAdamW(warmup_steps=True), ValueError, "warmup_steps"),
        (lambda: optimizers.ScheduleFreeAdamW(learning_rate=-1.0), ValueError, "learning_rate"),
        (lambda: optimizers.ScheduleFreeAdamW(clipvalue=-1.0), ValueError, "clipvalue must be > 0"),
        (lambda: optimizers.LossScaleOptimizer("adam"), TypeError,
         "LossScaleOptimizer: inner_optimizer must be a pynncore.optimizers.Optimizer. Received: 'adam'"),
        (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), initial_scale=0.0), ValueError,
         "LossScaleOptimizer: initial_scale must be a finite number > 0. Received: initial_scale=0.0"),
        (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), initial_scale="big"), TypeError, "initial_scale must be a float"),
        (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), dynamic_growth_steps=0), ValueError,
         "LossScaleOptimizer: dynamic_growth_steps must be an integer >= 1. Received: dynamic_growth_steps=0"),
        (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), dynamic_growth_steps=2.0), ValueError, "dynamic_growth_steps"),
        (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), dynamic=False), ValueError, "no longer supports dynamic=False"),
        (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), clipnorm=1.0), ValueError,
         "LossScaleOptimizer does not support clipnorm. Instead, set clipnorm on the inner_optimizer"),
        (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), learning_rate=0.1), ValueError,
         "LossScaleOptimizer does not support arguments: learning_rate"),
        (lambda: optimizers.get("LossScaleOptimizer"), ValueError, "needs an inner optimizer"),
        (lambda: optimizers.LossScaleOptimizer.from_config({"initial_scale": 2.0}), ValueError, "expected an 'inner_optimizer' entry"),
    ],
)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_base_defaults_from_old_configs_are_accepted():
    lso = optimizers.LossScaleOptimizer(optimizers.SGD(), clipnorm=None, use_ema=False, ema_momentum=0.99, dynamic=True)
    assert lso.get_config()["initial_scale"] == 2.0**15


# --- Keras 3 --------------------------------------------------------------------------------------


def _keras_lr(lr, lib):
    return lib.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5) if lr == "schedule" else lr


def _dense_pair(keras, rng, embedding=False):
    if embedding:
        k = keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(10, 4, name="embedding"),
                              keras.layers.Flatten(), keras.layers.Dense(6, activation="tanh", name="hidden"),
                              keras.layers.Dense(3, activation="softmax", name="head")])
        p = Sequential([layers.Embedding(10, 4, input_shape=(3,), name="embedding"), layers.Flatten(),
                        layers.Dense(6, activation="tanh", name="hidden"), layers.Dense(3, activation="softmax", name="head")])
        x = rng.integers(0, 10, (16, 3))
    else:
        k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, activation="tanh", name="hidden"),
                              keras.layers.Dense(3, activation="softmax", name="head")])
        p = Sequential([layers.Dense(7, activation="tanh", input_shape=(5,), name="hidden"),
                        layers.Dense(3, activation="softmax", name="head")])
        x = rng.standard_normal((16, 5)).astype(F32)
    p.build((None,) + x.shape[1:])
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    return k, p, x, rng.integers(0, 3, 16)


MUON_KERAS_CASES = [
    {},
    {"learning_rate": 0.05},
    {"learning_rate": 0.05, "nesterov": False, "momentum": 0.8, "rms_rate": None},
    {"learning_rate": 0.02, "exclude_layers": ["head"], "adam_lr_ratio": 0.5, "weight_decay": 0.1, "adam_weight_decay": 0.05},
    {"learning_rate": 0.02, "ns_steps": 3, "clipnorm": 0.1},
    {"learning_rate": 0.02, "global_clipnorm": 0.1},
    {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 2},
    {"learning_rate": "schedule"},
]


@pytest.mark.filterwarnings(KERAS_WARNING)
@pytest.mark.parametrize("kwargs", MUON_KERAS_CASES, ids=_ids("muon", MUON_KERAS_CASES[:-1]) + ["muon-schedule"])
@pytest.mark.parametrize("embedding", [False, True], ids=["dense", "embedding"])
def test_muon_train_on_batch_matches_keras(kwargs, embedding, rng):
    keras = _keras()
    k, p, x, y = _dense_pair(keras, rng, embedding)
    lr = kwargs.get("learning_rate", 0.001)
    k.compile(keras.optimizers.Muon(**{**kwargs, "learning_rate": _keras_lr(lr, keras.optimizers.schedules)}),
              "sparse_categorical_crossentropy")
    p.compile(optimizers.Muon(**{**kwargs, "learning_rate": _keras_lr(lr, schedules)}), "sparse_categorical_crossentropy")
    train_side_by_side(k, p, x, y, steps=6)


@pytest.mark.filterwarnings(KERAS_WARNING)
@pytest.mark.parametrize("kwargs", MUON_CASES, ids=_ids("muon", MUON_CASES))
def test_muon_steps_match_keras_apply(kwargs, rng):
    """Keras's Muon.apply on variables of the same paths and shapes and identical gradients."""
    keras = _keras()
    values = [rng.standard_normal(s).astype(F32) for _, s in MUON_VARS]
    vs = [Variable(x, path) for x, (path, _) in zip(values, MUON_VARS)]
    kvs = [keras.Variable(x, name=path.replace("/", "_")) for x, (path, _) in zip(values, MUON_VARS)]
    for v, (path, _) in zip(kvs, MUON_VARS):
        v._path = path
    opt = optimizers.Muon(**kwargs)
    kwargs = dict(kwargs)
    if callable(kwargs.get("learning_rate")):
        kwargs["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)
    kopt = keras.optimizers.Muon(**kwargs)
    opt.build(vs)
    for _ in range(5):
        grads = [(rng.standard_normal(v.value.shape) * 0.5).astype(F32) for v in vs]
        for v, g in zip(vs, grads):
            v.grad[...] = g
        opt.apply()
        kopt.apply([keras.ops.convert_to_tensor(g) for g in grads], kvs)
    assert [kopt._should_use_adamw(v) for v in kvs] == opt._use_adamw
    _close_moves([v.value for v in vs], [np.asarray(v.numpy(), np.float64) for v in kvs], values, rtol=2e-3)


SF_KERAS_CASES = [
    {},
    {"learning_rate": 0.05},
    {"learning_rate": 0.05, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3, "warmup_steps": 3},
    {"learning_rate": 0.05, "weight_decay": 0.1},
    {"learning_rate": 0.05, "clipnorm": 0.5},
    {"learning_rate": 0.05, "global_clipnorm": 1.0},
    {"learning_rate": 0.05, "clipvalue": 0.2},
    {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.5},
]


@pytest.mark.filterwarnings(KERAS_WARNING)
@pytest.mark.parametrize("kwargs", SF_KERAS_CASES, ids=_ids("sfadamw", SF_KERAS_CASES))
def test_schedule_free_steps_match_keras_stateless_apply(kwargs, rng):
    """Several steps against Keras's ScheduleFreeAdamW through ``stateless_apply`` (the
    published rule on every backend; see the class docstring for the stateful torch path)."""
    keras = _keras()
    values = [rng.standard_normal(s).astype(F32) for s in SHAPES]
    vs = [Variable(x, f"w{i}") for i, x in enumerate(values)]
    kvs = [keras.Variable(x) for x in values]
    opt = optimizers.ScheduleFreeAdamW(**kwargs)
    kopt = keras.optimizers.ScheduleFreeAdamW(**kwargs)
    opt.build(vs)
    kopt.build(kvs)
    kstate = [v.value for v in kopt.variables]
    kweights = [v.value for v in kvs]
    for _ in range(6):
        grads = [(rng.standard_normal(v.value.shape) * 0.5).astype(F32) for v in vs]
        for v, g in zip(vs, grads):
            v.grad[...] = g
        opt.apply()
        kweights, kstate = kopt.stateless_apply(kstate, [keras.ops.convert_to_tensor(g) for g in grads], kweights)
    _close_moves([v.value for v in vs], [keras.ops.convert_to_numpy(w).astype(np.float64) for w in kweights], values, rtol=1e-3)
    if kwargs.get("use_ema"):
        kaverage = [keras.ops.convert_to_numpy(s) for v, s in zip(kopt.variables, kstate) if "average" in v.path]
        np.testing.assert_allclose(opt.get_state()["average"], np.concatenate([a.reshape(-1) for a in kaverage]),
                                   rtol=2e-5, atol=2e-6)


@pytest.mark.filterwarnings(KERAS_WARNING)
@pytest.mark.parametrize("warmup_steps", [0, 4])
def test_schedule_free_first_train_on_batch_matches_keras(warmup_steps, rng):
    """Keras's model.train_on_batch (stateful apply) agrees on the first step, where the
    torch path's in-place momentum read makes no difference."""
    keras = _keras()
    k, p, x, y = _dense_pair(keras, rng)
    k.compile(keras.optimizers.ScheduleFreeAdamW(0.05, warmup_steps=warmup_steps), "sparse_categorical_crossentropy")
    p.compile(optimizers.ScheduleFreeAdamW(0.05, warmup_steps=warmup_steps), "sparse_categorical_crossentropy")
    train_side_by_side(k, p, x, y, steps=1)


@pytest.mark.filterwarnings(KERAS_WARNING)
@pytest.mark.parametrize("inner", ["adam", "sgd", "muon"])
def test_loss_scale_train_on_batch_matches_keras(inner, rng):
    keras = _keras()
    k, p, x, y = _dense_pair(keras, rng)
    kinner = {"adam": lambda: keras.optimizers.Adam(0.01), "sgd": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
              "muon": lambda: keras.optimizers.Muon(0.02)}[inner]
    pinner = {"adam": lambda: optimizers.Adam(0.01), "sgd": lambda: optimizers.SGD(0.1, momentum=0.9),
              "muon": lambda: optimizers.Muon(0.02)}[inner]
    kopt = keras.optimizers.LossScaleOptimizer(kinner(), initial_scale=2.0**8, dynamic_growth_steps=2)
    popt = optimizers.LossScaleOptimizer(pinner(), initial_scale=2.0**8, dynamic_growth_steps=2)
    k.compile(kopt, "sparse_categorical_crossentropy")
    p.compile(popt, "sparse_categorical_crossentropy")
    train_side_by_side(k, p, x, y, steps=5)
    assert popt.dynamic_scale == float(kopt.dynamic_scale) == 2.0**10
    assert popt.iterations == int(kopt.iterations) == 5 and popt.step_counter == int(kopt.step_counter)


@pytest.mark.filterwarnings(KERAS_WARNING)
def test_loss_scale_non_finite_steps_match_keras(rng):
    keras = _keras()
    values = [rng.standard_normal(s).astype(F32) for s in SHAPES]
    vs = [Variable(x, f"w{i}") for i, x in enumerate(values)]
    kvs = [keras.Variable(x) for x in values]
    opt = optimizers.LossScaleOptimizer(optimizers.Adam(0.01), initial_scale=16.0, dynamic_growth_steps=2)
    kopt = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.01), initial_scale=16.0, dynamic_growth_steps=2)
    opt.build(vs)
    for step in range(8):
        grads = [(rng.standard_normal(v.value.shape) * 16).astype(F32) for v in vs]
        if step in (2, 3, 6):
            grads[step % len(grads)].reshape(-1)[0] = np.nan if step == 3 else np.inf
        for v, g in zip(vs, grads):
            v.grad[...] = g
        opt.apply()
        kopt.apply([keras.ops.convert_to_tensor(g) for g in grads], kvs)
        assert opt.dynamic_scale == float(kopt.dynamic_scale)
        assert (opt.iterations, opt.step_counter) == (int(kopt.iterations), int(kopt.step_counter))
    _close_moves([v.value for v in vs], [np.asarray(v.numpy(), np.float64) for v in kvs], values, rtol=1e-3)
