"""Deterministic mode: the same seed gives bitwise identical training at 1 and 2 threads."""

from __future__ import annotations

import numpy as np
import pytest

from _rel_cases import deterministic_training_hash as train

import pynncore
from pynncore import ops, optimizers


def test_set_get_deterministic_and_config(deterministic):
    assert pynncore.get_deterministic() is True
    assert pynncore.get_config()["deterministic"] is True
    pynncore.set_deterministic(False)
    assert pynncore.get_deterministic() is False
    with pytest.raises(TypeError, match="set_deterministic: expected True or False; got 1"):
        pynncore.set_deterministic(1)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: optimizers.Adam(learning_rate=1e-3, global_clipnorm=0.5),
        lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, clipnorm=0.1),
    ],
    ids=["adam_global_clipnorm", "sgd_clipnorm"],
)
def test_training_is_bitwise_identical_at_1_and_2_threads(make_optimizer, deterministic, restore_num_threads):
    h1 = train(1, make_optimizer())
    h2 = train(2, make_optimizer())
    assert h1 == h2
    assert train(2, make_optimizer()) == h2  # and run to run


def test_sum_of_squares_fixed_order(deterministic, restore_num_threads, cpu_path):
    rng = np.random.default_rng(0)
    for n in (1, 17, 16384, 16385, 200_003, 1_000_000):
        x = (rng.standard_normal(n) * rng.uniform(0.1, 1e3)).astype(np.float32)
        pynncore.set_num_threads(1)
        s1 = ops.sum_of_squares(x)
        pynncore.set_num_threads(2)
        s2 = ops.sum_of_squares(x)
        assert s1 == s2, n
        ref = float(np.sum(x.astype(np.float64) ** 2))
        assert s1 == pytest.approx(ref, rel=1e-12)


def test_segment_sum_of_squares_fixed_order(deterministic, restore_num_threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(300_001).astype(np.float32)
    offsets = np.array([0, 5, 70_000, 70_000, 233_333, 300_001], np.int64)
    pynncore.set_num_threads(1)
    a = ops.segment_sum_of_squares(x, offsets)
    pynncore.set_num_threads(2)
    b = ops.segment_sum_of_squares(x, offsets)
    np.testing.assert_array_equal(a, b)
    ref = [np.sum(x[offsets[i] : offsets[i + 1]].astype(np.float64) ** 2) for i in range(5)]
    np.testing.assert_allclose(a, ref, rtol=1e-12)
    # one segment equals the whole-array sum in this mode
    assert ops.segment_sum_of_squares(x, np.array([0, x.size], np.int64))[0] == ops.sum_of_squares(x)


@pytest.mark.parametrize("shape", [(1, 300, 500), (7, 129, 33), (64, 256, 512), (300, 300, 300), (513, 100, 1025), (40, 1000, 40)])
def test_gemm_independent_of_thread_count(shape, restore_num_threads, cpu_path):
    """GEMM never splits k between threads: each element's sum order is fixed."""
    m, k, n = shape
    rng = np.random.default_rng(m * 7 + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    for ta, tb in ((False, False), (True, False), (False, True)):
        aa = np.ascontiguousarray(a.T) if ta else a
        bb = np.ascontiguousarray(b.T) if tb else b
        pynncore.set_num_threads(1)
        c1 = ops.matmul(aa, bb, transpose_a=ta, transpose_b=tb)
        pynncore.set_num_threads(2)
        c2 = ops.matmul(aa, bb, transpose_a=ta, transpose_b=tb)
        np.testing.assert_array_equal(c1, c2)
