"""Lion and Lamb: fused native updates (ops.lion_update, ops.lamb_update) and the optimizer
classes, against the published rules in float64 numpy and against Keras 3 (torch backend).

The references below restate Keras 3's `update_step` of keras/src/optimizers/lion.py and
lamb.py with the base optimizer's gradient clipping and decoupled weight decay
(``p -= p * weight_decay * lr`` before the rule):

  Lion  c = b1 m + (1 - b1) g;  p -= lr sign(c);  m = b2 m + (1 - b2) g
  Lamb  m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2)
        u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
        r = ||p|| / ||u|| per variable (1 when either norm is 0);  p -= lr r u
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from _optim_checks import assert_fit_learns, assert_resumes_identically, assert_save_load_resumes
from _ref import ref_clip_gradients, ref_grad_transform

import pynncore
from pynncore import _core, layers, ops, optimizers
from pynncore.layers.base import Variable
from pynncore.models import Sequential
from pynncore.optimizers import schedules

F32 = np.float32


# --- float64 references -------------------------------------------------------------------------


def ref_lion(p, g, m, lr, beta_1=0.9, beta_2=0.99, weight_decay=0.0):
    """One Lion step of one variable in place (float64 arrays)."""
    p -= p * weight_decay * lr
    p -= lr * np.sign(beta_1 * m + (1.0 - beta_1) * g)
    m[...] = beta_2 * m + (1.0 - beta_2) * g


def ref_lamb(p, g, m, v, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0):
    """One Lamb step of one variable in place (float64 arrays); returns the trust ratio."""
    p -= p * weight_decay * lr
    m += (g - m) * (1.0 - beta_1)
    v += (g * g - v) * (1.0 - beta_2)
    u = (m / (1.0 - beta_1**t)) / (np.sqrt(v / (1.0 - beta_2**t)) + epsilon)
    w_norm, u_norm = np.linalg.norm(p), np.linalg.norm(u)
    r = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
    p -= lr * r * u
    return r


class RefOptimizer:
    """Keras 3's optimizer loop over several float64 variables: clipnorm (per variable) or
    global_clipnorm, then clipvalue, the learning rate at `iterations`, decay and the rule."""

    def __init__(self, rule, values, learning_rate, clipnorm=None, global_clipnorm=None, clipvalue=None, **hp):
        self.rule, self.hp = rule, hp
        self.lr = learning_rate
        self.clipnorm, self.global_clipnorm, self.clipvalue = clipnorm, global_clipnorm, clipvalue
        self.p = [np.array(v, np.float64).reshape(-1) for v in values]
        self.m = [np.zeros_like(p) for p in self.p]
        self.v = [np.zeros_like(p) for p in self.p]
        self.iterations = 0

    def step(self, grads):
        g = ref_clip_gradients(grads, self.clipnorm, self.global_clipnorm, self.clipvalue)
        lr = float(self.lr(self.iterations)) if callable(self.lr) else self.lr
        self.iterations += 1
        for i, gi in enumerate(g):
            if self.rule == "lion":
                ref_lion(self.p[i], gi, self.m[i], lr, **self.hp)
            else:
                ref_lamb(self.p[i], gi, self.m[i], self.v[i], self.iterations, lr, **self.hp)


# --- the fused native updates -------------------------------------------------------------------

# Variables of one arena: (offset, size). Sizes past 2 * 16384 and a total past 65536 split
# the work into several fixed blocks and across two threads; 0 and 1 are the edge cases.
LAYOUT = [(0, 1), (16, 100003), (100032, 7), (100048, 0), (100048, 40000), (140048, 33)]
ARENA = 140096  # gaps between the variables stay untouched


def _arena(rng, scale=1.0, fill=7.0):
    """float32 arena with random values in the variables and `fill` in the gaps."""
    x = np.full(ARENA, fill, F32)
    for o, n in LAYOUT:
        x[o : o + n] = rng.standard_normal(n) * scale
    return x


def _segments():
    return np.array([o for o, _ in LAYOUT], np.int64), np.array([n for _, n in LAYOUT], np.int64)


NATIVE_CASES = [
    ("defaults", {}),
    ("weight_decay", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("clip_scale", {"learning_rate": 0.01, "grad_scale": 0.5, "clip_value": 0.3}),
    ("betas", {"learning_rate": 0.02, "beta_1": 0.5, "beta_2": 0.8, "weight_decay": 0.01}),
]


@pytest.mark.parametrize("hp", [c[1] for c in NATIVE_CASES], ids=[c[0] for c in NATIVE_CASES])
def test_lion_update_matches_rule(hp, cpu_path, num_threads, rng):
    assert _core.optim_kernel() == cpu_path
    p, m = _arena(rng), _arena(rng, 0.1)
    p_ref, m_ref = p.astype(np.float64), m.astype(np.float64)
    rule = {k: hp[k] for k in ("beta_1", "beta_2", "weight_decay") if k in hp}
    lr = hp.get("learning_rate", 0.001)
    for _ in range(4):
        g = rng.standard_normal(ARENA).astype(F32)
        ops.lion_update(p, g, m, **hp)
        ref_lion(p_ref, ref_grad_transform(g.astype(np.float64), hp), m_ref, lr, **rule)
    np.testing.assert_allclose(m, m_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p, p_ref, rtol=1e-5, atol=1e-5 * lr + 1e-6)


def test_lion_sign_of_zero_and_nan():
    p = np.ones(4, F32)
    m = np.zeros(4, F32)
    ops.lion_update(p, [0.0, 1.0, -1.0, np.nan], m, learning_rate=0.5)
    np.testing.assert_array_equal(p[:3], [1.0, 0.5, 1.5])  # sign(0) = 0 leaves p as it is
    assert np.isnan(p[3]) and np.isnan(m[3])


@pytest.mark.parametrize("hp", [c[1] for c in NATIVE_CASES], ids=[c[0] for c in NATIVE_CASES])
def test_lamb_update_matches_rule_per_variable(hp, cpu_path, num_threads, rng):
    assert _core.optim_kernel() == cpu_path
    p, m, v = _arena(rng), _arena(rng, 0.0), _arena(rng, 0.0)
    offsets, sizes = _segments()
    refs = [(p[o : o + n].astype(np.float64), np.zeros(n), np.zeros(n)) for o, n in LAYOUT]
    rule = {k: hp[k] for k in ("beta_1", "beta_2", "weight_decay") if k in hp}
    lr = hp.get("learning_rate", 0.001)
    for t in range(1, 5):
        g = _arena(rng, fill=3.0)
        ratios = ops.lamb_update(p, g, m, v, offsets, sizes, step=t, **hp)
        assert ratios.dtype == np.float64 and ratios.shape == (len(LAYOUT),)
        for (o, n), (pr, mr, vr), r in zip(LAYOUT, refs, ratios):
            gt = ref_grad_transform(g[o : o + n].astype(np.float64), hp)
            r_ref = ref_lamb(pr, gt, mr, vr, t, lr, **rule)
            assert r == pytest.approx(r_ref, rel=1e-5), (o, n, t)
    used = np.zeros(ARENA, bool)
    for (o, n), (pr, mr, vr) in zip(LAYOUT, refs):
        used[o : o + n] = True
        np.testing.assert_allclose(m[o : o + n], mr, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(v[o : o + n], vr, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(p[o : o + n], pr, rtol=1e-5, atol=1e-5 * lr)
    # elements outside every variable are left as they are
    assert (p[~used] == 7.0).all() and (m[~used] == 7.0).all() and (v[~used] == 7.0).all()


def test_lamb_without_segments_is_one_variable(rng):
    p = rng.standard_normal((5, 3)).astype(F32)
    g = rng.standard_normal((5, 3)).astype(F32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    pr, mr, vr = p.astype(np.float64).reshape(-1), np.zeros(15), np.zeros(15)
    r = ops.lamb_update(p, g, m, v, step=1, learning_rate=0.1)
    r_ref = ref_lamb(pr, g.astype(np.float64).reshape(-1), mr, vr, 1, 0.1)
    assert r.shape == (1,) and r[0] == pytest.approx(r_ref, rel=1e-6)
    np.testing.assert_allclose(p.reshape(-1), pr, rtol=1e-6, atol=1e-7)


def test_lamb_trust_ratio_is_one_for_zero_norms():
    p, g = np.zeros(6, F32), np.ones(6, F32)
    m, v = np.zeros(6, F32), np.zeros(6, F32)
    r = ops.lamb_update(p, g, m, v, [0, 3], [3, 3], step=1, learning_rate=0.1)
    np.testing.assert_array_equal(r, [1.0, 1.0])  # ||p|| = 0: plain Adam-like step
    np.testing.assert_allclose(p, -0.1 / (1 + 1e-7), rtol=1e-6)
    p2, m2, v2 = np.ones(3, F32), np.zeros(3, F32), np.zeros(3, F32)
    r = ops.lamb_update(p2, np.zeros(3), m2, v2, step=1, learning_rate=0.1)
    assert r[0] == 1.0 and (p2 == 1.0).all()  # ||u|| = 0: nothing moves


def test_lamb_result_does_not_depend_on_threads_or_deterministic_mode(restore_num_threads, rng):
    offsets, sizes = _segments()
    start = [_arena(rng), _arena(rng, 0.1), np.abs(_arena(rng, 0.1))]
    grads = [_arena(rng) for _ in range(3)]
    was = pynncore.get_deterministic()
    results = []
    try:
        for det in (False, True):
            pynncore.set_deterministic(det)
            for threads in (1, 2):
                pynncore.set_num_threads(threads)
                p, m, v = (x.copy() for x in start)
                ratios = [ops.lamb_update(p, g, m, v, offsets, sizes, step=t + 1, learning_rate=0.01)
                          for t, g in enumerate(grads)]
                results.append((p, m, v, np.stack(ratios)))
    finally:
        pynncore.set_deterministic(was)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_late_steps_use_step_dependent_factors(rng):
    p = rng.standard_normal(40).astype(F32)
    m = (rng.standard_normal(40) * 0.1).astype(F32)
    v = (np.abs(rng.standard_normal(40)) * 0.1).astype(F32)
    g = rng.standard_normal(40).astype(F32)
    for t in (1000, 10**7):  # beta**t underflows to 0 at the second
        pc, mc, vc = p.copy(), m.copy(), v.copy()
        pr, mr, vr = (x.astype(np.float64) for x in (p, m, v))
        ops.lamb_update(pc, g, mc, vc, step=t, learning_rate=0.01)
        ref_lamb(pr, g.astype(np.float64), mr, vr, t, 0.01)
        np.testing.assert_allclose(pc, pr, rtol=1e-5, atol=1e-7)


# --- native argument errors ---------------------------------------------------------------------


def _lamb_arrays(n=8):
    return np.ones(n, F32), np.ones(n, F32), np.zeros(n, F32), np.zeros(n, F32)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda p, g, m, v: ops.lion_update(p, g, m, beta_1=1.5), ValueError, r"lion_update: beta_1 must be in \[0, 1\]; got 1.5"),
        (lambda p, g, m, v: ops.lion_update(p, g, m, beta_2=-0.1), ValueError, r"beta_2 must be in \[0, 1\]"),
        (lambda p, g, m, v: ops.lion_update(p, g, m, learning_rate=np.inf), ValueError, "learning_rate must be a finite number"),
        (lambda p, g, m, v: ops.lion_update(p, g, m[:4]), ValueError, r"m must have as many elements as params \(8"),
        (lambda p, g, m, v: ops.lion_update(p, g, p), ValueError, "m shares memory with params"),
        (lambda p, g, m, v: ops.lion_update(p, g, m.astype(np.float64)), TypeError, "m must have dtype float32"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, step=1, beta_1=1.0), ValueError, r"lamb_update: beta_1 must be in \[0, 1\); got 1"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, step=1, beta_2=1.0), ValueError, r"beta_2 must be in \[0, 1\)"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, step=1, epsilon=np.nan), ValueError, "epsilon must be a finite number"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, step=0), ValueError, "step must be >= 1"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, [0, 4], [5, 4], step=1), ValueError,
         "segments must be in increasing order and must not overlap; segment 0 ends at 5, segment 1 starts at 4"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, [4], [5], step=1), ValueError, r"segment 0 \[4, 9\) is outside \[0, 8\)"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, [0], [-1], step=1), ValueError, r"sizes\[0\] must be >= 0; got -1"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, [0, 4], [4], step=1), ValueError, "2 offsets and 1 sizes"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, [0], step=1), ValueError, "give both offsets and sizes, or neither; got only offsets"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, [0.0], [8], step=1), TypeError, "offsets must be integers; got dtype float64"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, [[0]], [[8]], step=1), ValueError, "offsets must be 1-D; got shape"),
        (lambda p, g, m, v: ops.lamb_update(p, g, m, v, step=1, clip_value=np.nan), ValueError, "clip_value must not be NaN"),
    ],
)
def test_native_errors_name_the_argument_and_leave_state_untouched(call, exc, match):
    p, g, m, v = _lamb_arrays()
    with pytest.raises(exc, match=match):
        call(p, g, m, v)
    assert (p == 1).all() and (m == 0).all() and (v == 0).all()


def test_lamb_zero_variables_is_a_no_op():
    p, g, m, v = _lamb_arrays()
    r = ops.lamb_update(p, g, m, v, np.zeros(0, np.int64), np.zeros(0, np.int64), step=1)
    assert r.shape == (0,) and (p == 1).all() and (m == 0).all()


# --- the optimizer classes ----------------------------------------------------------------------

SHAPES = [(3, 5), (7,), (1,), (130, 300), (17, 2)]  # 39000 elements: two blocks, one variable

CLASS_CASES = [
    ("lion", {"learning_rate": 0.01}),
    ("lion", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.9, "weight_decay": 0.05}),
    ("lion", {"learning_rate": 0.01, "clipnorm": 0.5}),
    ("lion", {"learning_rate": 0.01, "global_clipnorm": 1.0, "weight_decay": 0.1}),
    ("lion", {"learning_rate": schedules.ExponentialDecay(0.02, decay_steps=2, decay_rate=0.5), "clipvalue": 0.2}),
    ("lamb", {"learning_rate": 0.01}),
    ("lamb", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-4, "weight_decay": 0.05}),
    ("lamb", {"learning_rate": 0.01, "clipnorm": 0.5}),
    ("lamb", {"learning_rate": 0.01, "global_clipnorm": 1.0, "weight_decay": 0.1}),
    ("lamb", {"learning_rate": schedules.ExponentialDecay(0.02, decay_steps=2, decay_rate=0.5), "clipvalue": 0.2}),
]


def _case_id(case):
    name, kw = case
    return "-".join([name] + [k for k in kw if k != "learning_rate"] + (["schedule"] if callable(kw["learning_rate"]) else []))


@pytest.mark.parametrize("name, kwargs", CLASS_CASES, ids=[_case_id(c) for c in CLASS_CASES])
def test_optimizer_steps_match_reference(name, kwargs, cpu_path, rng):
    values = [rng.standard_normal(s) for s in SHAPES]
    vs = [Variable(x, f"w{i}") for i, x in enumerate(values)]
    opt = {"lion": optimizers.Lion, "lamb": optimizers.Lamb}[name](**kwargs)
    opt.build(vs)
    hp = {k: kwargs[k] for k in ("beta_1", "beta_2", "epsilon", "weight_decay") if k in kwargs}
    clips = {k: kwargs[k] for k in ("clipnorm", "global_clipnorm", "clipvalue") if k in kwargs}
    ref = RefOptimizer(name, values, kwargs["learning_rate"], **clips, **hp)
    for _ in range(5):
        grads = [rng.standard_normal(s) * 0.5 for s in SHAPES]
        for v, g in zip(vs, grads):
            v.grad[...] = g
        opt.apply()
        ref.step(grads)
    assert opt.iterations == 5
    lr = 0.02
    for v, pr in zip(vs, ref.p):
        np.testing.assert_allclose(v.value.reshape(-1), pr, rtol=2e-5, atol=1e-4 * lr)


def test_aliases_config_and_get():
    for alias, cls in (("lion", optimizers.Lion), ("lamb", optimizers.Lamb)):
        assert type(optimizers.get(alias)) is cls
        assert type(optimizers.get(alias.upper())) is cls
        assert type(optimizers.get(cls.__name__)) is cls
        assert cls.__name__ in optimizers.__all__ and getattr(pynncore.optimizers, cls.__name__) is cls
    lion = optimizers.Lion()
    assert (lion.learning_rate, lion.beta_1, lion.beta_2, lion.weight_decay, lion.name) == (0.001, 0.9, 0.99, None, "lion")
    lamb = optimizers.Lamb()
    assert (lamb.learning_rate, lamb.beta_1, lamb.beta_2, lamb.epsilon, lamb.name) == (0.001, 0.9, 0.999, 1e-7, "lamb")
    sched = schedules.CosineDecay(0.1, decay_steps=10)
    for opt in (
        optimizers.Lion(learning_rate=0.01, beta_1=0.8, beta_2=0.95, weight_decay=0.1, clipnorm=1.0, name="l1"),
        optimizers.Lamb(learning_rate=sched, beta_1=0.7, beta_2=0.9, epsilon=1e-5, global_clipnorm=2.0, clipvalue=0.5),
    ):
        cfg = opt.get_config()
        again = type(opt).from_config(cfg)
        assert again.get_config() == cfg
        via_get = optimizers.get({"class_name": type(opt).__name__, "config": cfg})
        assert type(via_get) is type(opt) and via_get.get_config() == cfg
    assert again.learning_rate == pytest.approx(sched(0))


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: optimizers.Lion(learning_rate=-0.1), ValueError, "learning_rate"),
        (lambda: optimizers.Lamb(learning_rate=-0.1), ValueError, "learning_rate"),
        (lambda: optimizers.Lion(beta_1=0.0), ValueError, r"Lion: beta_1 must be in \(0, 1\]. Received: beta_1=0.0"),
        (lambda: optimizers.Lion(beta_1=1.5), ValueError, r"Lion: beta_1 must be in \(0, 1\]"),
        (lambda: optimizers.Lion(beta_2=-0.1), ValueError, r"Lion: beta_2 must be in \[0, 1\]. Received: beta_2=-0.1"),
        (lambda: optimizers.Lion(beta_2=1.01), ValueError, "beta_2"),
        (lambda: optimizers.Lamb(beta_1=1.0), ValueError, r"Lamb: beta_1 must be in \[0, 1\). Received: beta_1=1.0"),
        (lambda: optimizers.Lamb(beta_1=-0.5), ValueError, "beta_1"),
        (lambda: optimizers.Lamb(beta_2=1.0), ValueError, r"Lamb: beta_2 must be in \[0, 1\)"),
        (lambda: optimizers.Lamb(beta_2=float("nan")), ValueError, "beta_2"),
        (lambda: optimizers.Lamb(epsilon=-1e-3), ValueError, "Lamb: epsilon must be a finite number >= 0"),
        (lambda: optimizers.Lion(beta_1="high"), TypeError, "Lion: beta_1 must be a float. Received: beta_1='high'"),
        (lambda: optimizers.Lamb(clipnorm=1.0, global_clipnorm=1.0), ValueError, "clipnorm or global_clipnorm"),
        (lambda: optimizers.Lion(clipvalue=0.0), ValueError, "clipvalue must be > 0"),
        (lambda: optimizers.Lamb(momentum=0.9), TypeError, "unexpected keyword"),
    ],
)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("name", ["lion", "lamb"])
def test_flat_state_round_trip_resumes_identically(name, rng):
    vs = [Variable(rng.standard_normal(s), f"w{i}") for i, s in enumerate(SHAPES)]
    opt = optimizers.get(name)
    opt.build(vs)
    for _ in range(3):
        for v in vs:
            v.grad[...] = rng.standard_normal(v.value.shape)
        opt.apply()
    state = opt.get_state()
    size = sum(int(np.prod(s)) for s in SHAPES)
    assert set(state) == {"iterations"} | set(opt._active_slots())
    assert all(state[k].shape == (size,) for k in state if k != "iterations")
    ws = [Variable(v.value.copy(), f"c{i}") for i, v in enumerate(vs)]
    again = optimizers.get(name)
    again.build(ws)
    again.set_state(state)
    assert_resumes_identically(opt, again, vs, ws, rng)


@pytest.mark.parametrize("name", ["lion", "lamb"])
def test_model_save_load_resumes_training_identically(name, tmp_path, rng):
    x = rng.standard_normal((64, 4)).astype(F32)
    y = rng.integers(0, 3, 64)
    model = Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(name, "sparse_categorical_crossentropy")
    assert_save_load_resumes(model, x, y, str(tmp_path / "m.pnc"), batch_size=16, iterations=8)


@pytest.mark.parametrize("name", ["lion", "lamb"])
def test_fit_learns(name, rng):
    assert_fit_learns(optimizers.get(name).__class__(learning_rate=0.01), rng)


# --- Keras 3 --------------------------------------------------------------------------------------

KERAS_CASES = [
    ("Lion", {"learning_rate": 0.01}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.95, "weight_decay": 0.05}),
    ("Lion", {"learning_rate": 0.01, "clipnorm": 0.1}),
    ("Lion", {"learning_rate": 0.01, "global_clipnorm": 0.1}),
    ("Lion", {"learning_rate": 0.01, "clipvalue": 0.01}),
    ("Lamb", {"learning_rate": 0.01}),
    ("Lamb", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-5, "weight_decay": 0.05}),
    ("Lamb", {"learning_rate": 0.01, "clipnorm": 0.1}),
    ("Lamb", {"learning_rate": 0.01, "global_clipnorm": 0.1}),
    ("Lamb", {"learning_rate": 0.01, "clipvalue": 0.01}),
]


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("opt, kwargs", KERAS_CASES, ids=[f"{o}-{'-'.join(k for k in kw if k != 'learning_rate')}" for o, kw in KERAS_CASES])
def test_train_on_batch_matches_keras(opt, kwargs, cpu_path, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras comparison runs with KERAS_BACKEND=torch")
    k = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(3, activation="softmax")])
    p = Sequential([layers.Dense(6, activation="tanh", input_shape=(5,)), layers.Dense(3, activation="softmax")])
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    k.compile(getattr(keras.optimizers, opt)(**kwargs), "sparse_categorical_crossentropy")
    p.compile(getattr(pynncore.optimizers, opt)(**kwargs), "sparse_categorical_crossentropy")
    x = rng.standard_normal((16, 5)).astype(F32)
    y = rng.integers(0, 3, 16)
    losses = np.array([[float(m.train_on_batch(x, y)) for m in (k, p)] for _ in range(5)])
    np.testing.assert_allclose(losses[:, 1], losses[:, 0], rtol=1e-4, atol=1e-6)
    flat_k = np.concatenate([np.asarray(w).ravel() for w in k.get_weights()])
    flat_p = np.concatenate([w.ravel() for w in p.get_weights()])
    np.testing.assert_allclose(flat_p, flat_k, rtol=1e-4, atol=2e-6)
