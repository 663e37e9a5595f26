"""Optimizer classes: aliases, arguments, learning-rate schedules, state round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pynncore import optimizers
from pynncore.layers.base import Variable
from pynncore.optimizers import schedules


def test_schedules_follow_their_formulas():
    e = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert e(0) == 0.1 and e(10) == pytest.approx(0.05) and e(5) == pytest.approx(0.1 * 0.5**0.5)
    es = schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert es(19) == pytest.approx(0.05)
    i = schedules.InverseTimeDecay(1.0, 2, 0.5)
    assert i(4) == pytest.approx(1.0 / 2.0)
    p = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [p(0), p(10), p(11), p(20), p(21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    c = schedules.CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert c(0) == pytest.approx(1.0) and c(100) == pytest.approx(0.1) and c(200) == pytest.approx(0.1)
    assert c(50) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    w = schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=5)
    assert w(0) == 0.0 and w(5) == pytest.approx(1.0) and w(2) == pytest.approx(0.4)
    for s in (e, es, i, p, c, w):
        back = schedules.deserialize(schedules.serialize(s))
        assert type(back) is type(s) and [back(t) for t in (0, 7, 33)] == [s(t) for t in (0, 7, 33)]


def test_schedule_errors():
    with pytest.raises(ValueError, match="decay_steps must be > 0"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="one more entry"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0])
    with pytest.raises(ValueError, match="Unknown learning-rate schedule"):
        schedules.deserialize({"class_name": "os.system", "config": {}})


def test_optimizer_uses_schedule_per_iteration():
    v = Variable(np.zeros(3), "w")
    opt = optimizers.SGD(learning_rate=schedules.PiecewiseConstantDecay([1], [1.0, 0.1]))
    opt.build([v])
    for lr in (1.0, 1.0, 0.1):
        assert opt.learning_rate == lr
        v.grad[...] = 1.0
        before = v.value.copy()
        opt.apply()
        np.testing.assert_allclose(before - v.value, lr, rtol=1e-6)


def test_get_aliases_and_errors():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(optimizers.get("SGD"), optimizers.SGD)
    assert isinstance(optimizers.get(optimizers.RMSprop), optimizers.RMSprop)
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'.*adam"):
        optimizers.get("adamm")
    with pytest.raises(TypeError):
        optimizers.get(3)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.Adam(learning_rate=-1.0)
    with pytest.raises(ValueError, match="clipnorm or global_clipnorm"):
        optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(RuntimeError, match="build"):
        optimizers.Adam().apply()


def test_config_and_state_round_trip():
    opt = optimizers.Adam(learning_rate=0.01, beta_1=0.8, amsgrad=True, clipvalue=0.5)
    again = optimizers.Adam.from_config(opt.get_config())
    assert again.get_config() == opt.get_config()
    v = Variable(np.ones(4), "w")
    opt.build([v])
    v.grad[...] = 0.3
    opt.apply()
    state = opt.get_state()
    w = Variable(np.ones(4), "w2")
    again.build([w])
    again.set_state(state)
    assert again.iterations == 1
    with pytest.raises(ValueError, match="missing or of the wrong size"):
        again.set_state({"iterations": 1})


@pytest.mark.parametrize(
    "name", ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamw", "adamax", "nadam", "lion", "lamb", "ftrl", "adafactor", "muon",
             "schedulefreeadamw"]
)
def test_flat_buffers_align_weights_and_keep_the_saved_layout(name):
    # Weights of odd sizes each start on a 64-byte boundary of the flat buffers; the gaps
    # stay zero through updates and the saved state holds exactly the weights' values.
    rng = np.random.default_rng(3)
    shapes = [(3, 5), (7,), (1,), (17, 2)]
    vs = [Variable(rng.normal(size=s), f"w{i}") for i, s in enumerate(shapes)]
    opt = optimizers.get(name)
    opt.build(vs)
    for v in vs:
        assert v.value.ctypes.data % 64 == 0 and v.grad.ctypes.data % 64 == 0
    for _ in range(3):
        for v in vs:
            v.grad[...] = rng.normal(size=v.value.shape)
        opt.apply()
    used = np.zeros(opt._params.size, bool)
    for o, v in zip(opt._offsets, vs):
        used[o : o + v.value.size] = True
    assert not np.any(opt._params[~used]) and not np.any(opt._grads[~used])
    state = opt.get_state()
    size = sum(int(np.prod(s)) for s in shapes)
    for k, arr in state.items():
        # Nadam also keeps a scalar; Adafactor the factors of its rank-2 weights
        if k not in ("iterations", "factored_row", "factored_col") and np.ndim(arr):
            assert arr.shape == (size,)
    # Restoring into a fresh optimizer over fresh variables continues identically.
    ws = [Variable(v.value.copy(), f"c{i}") for i, v in enumerate(vs)]
    again = optimizers.get(name)
    again.build(ws)
    again.set_state(state)
    g = [rng.normal(size=v.value.shape) for v in vs]
    for v, w, gi in zip(vs, ws, g):
        v.grad[...] = gi
        w.grad[...] = gi
    opt.apply()
    again.apply()
    for v, w in zip(vs, ws):
        np.testing.assert_array_equal(v.value, w.value)


def test_variables_are_cache_line_aligned():
    v = Variable(np.arange(10.0).reshape(2, 5), "w")
    assert v.value.ctypes.data % 64 == 0 and v.grad.ctypes.data % 64 == 0
    assert v.value.dtype == np.float32 and v.value.flags.c_contiguous
    np.testing.assert_array_equal(v.value, np.arange(10.0).reshape(2, 5))
