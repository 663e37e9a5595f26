"""Activations, forward and backward, against the float64 references in tests/_ref.py.

forward:   y = f(x + bias)             (bias over the last axis; in place with out=x)
backward:  dx = dy * f'(z)             reading z = x + bias or y = f(z), whichever the
                                       activation's backward pass reads
softmax / log_softmax over the last axis.

Tolerances (eps = 2^-23, ulp(v) = float32 spacing at v; every bound also allows TINY32 =
1.2e-38 for results in the subnormal range):

* forward: |y - f(z)| <= k ulp(f(z)), with k per activation below (TOLERANCE_ULP): the worst
  cases measured on 6 million inputs (normal, uniform to +-30, log-uniform magnitudes) on
  every CPU path, raised by about a quarter: 0 for the piecewise-linear ones, 1-3 for those
  built on exp/log/tanh, 4-6.5 for silu, mish and gelu (erfc). The tanh-approximated gelu's k
  is multiplied by 1 + 2 |v| (1 - sigmoid(v)), v = 2 sqrt(2/pi)(z + 0.044715 z^3): rounding
  v in float32 moves z sigmoid(v) by that much in the negative tail, for any float32 code.
* backward: |dx - dy f'| <= k_b eps |dy| C (BACKWARD_K, measured the same way), with
  C >= |f'| the sum of the magnitudes of the terms of f' (tests/_ref.py), so the bound holds
  where f' crosses zero.
* softmax: 4 ulp(y) + y eps (2 sqrt(cols) + 4) (the row sum, as for GEMM in _ref.py);
  log_softmax: 3 ulp(y) + ulp(z - max) + eps (2 sqrt(cols) + 4) min(1, log sum);
  backward: eps (2 sqrt(cols) + 4) C.
* vector math: the maximum errors in ulp measured over every 13th float32 bit pattern (330
  million inputs per function, every path; kernels/simd/activation_impl.h lists them),
  rounded up, in VECTOR_MATH_ULP.
* finite differences: the float64 central difference of the reference forward agrees with
  the float32 backward within |dy| (k_b eps C + 4 eps max(1, |y|) + 1e-9), the middle term
  covering backward passes that read the rounded float32 y.
* PyTorch: rtol 2e-5, atol 1e-6 (PyTorch's own float32 approximations are looser than
  ours); 3e-6 for the tanh-approximated gelu's gradient, where PyTorch's 1 + tanh(u)
  rounds to 0 below z = -4.5 while the gradient is still about -1.5e-6 at z = -5.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from dataclasses import dataclass

import numpy as np
import pytest
from _ref import (
    EPS32,
    TINY32,
    assert_close_ref,
    float32_ulp,
    ref_activation,
    ref_activation_grad,
    ref_activation_grad_from_y,
    ref_softmax,
    ref_softmax_grad,
)

import pynncore
from pynncore import _core, ops

ELEMENTWISE = (
    "elu exponential gelu hard_sigmoid leaky_relu linear mish relu relu6 selu sigmoid silu "
    "softplus softsign swish tanh"
).split()
ROWWISE = ("softmax", "log_softmax")

# Forward tolerance in ulp, and backward k_b (in eps * |dy| * C).
TOLERANCE_ULP = {
    "linear": 0, "relu": 0, "relu6": 0, "leaky_relu": 1, "hard_sigmoid": 1.5, "sigmoid": 3,
    "tanh": 2, "elu": 2, "selu": 2.5, "softplus": 2.5, "softsign": 2, "gelu": 6.5, "gelu_tanh": 2.75,
    "silu": 4, "swish": 4, "exponential": 1, "mish": 5.5,
}  # fmt: skip
BACKWARD_K = {
    "linear": 0, "relu": 0, "relu6": 0, "leaky_relu": 1, "hard_sigmoid": 1, "sigmoid": 1.5,
    "tanh": 1.5, "elu": 1, "selu": 1.5, "softplus": 1.5, "softsign": 3, "gelu": 3,
    "gelu_tanh": 3, "silu": 3.5, "swish": 3.5, "exponential": 1, "mish": 4,
}  # fmt: skip
NEEDS_X = {"gelu", "silu", "swish", "mish", "softsign"}

SIZES = [0, 1, 3, 7, 17, 33, 1000, 100003]


@dataclass(frozen=True)
class Case:
    """An activation and its keyword parameters (as sorted (key, value) pairs: hashable)."""

    name: str
    items: tuple = ()

    @property
    def params(self) -> dict:
        return dict(self.items)

    @property
    def id(self) -> str:
        return self.name + "".join(f"-{k}={v}" for k, v in self.items)

    @property
    def key(self) -> str:
        """Tolerance key."""
        return "gelu_tanh" if self.params.get("approximate") else self.name

    @property
    def alpha(self):
        return self.params.get("alpha")

    @property
    def approximate(self) -> bool:
        return bool(self.params.get("approximate", False))


CASES = [
    Case("linear"),
    Case("relu"),
    Case("relu6"),
    Case("sigmoid"),
    Case("hard_sigmoid"),
    Case("tanh"),
    Case("leaky_relu"),
    Case("leaky_relu", (("alpha", 0.01),)),
    Case("elu"),
    Case("elu", (("alpha", 0.5),)),
    Case("selu"),
    Case("softplus"),
    Case("softsign"),
    Case("gelu"),
    Case("gelu", (("approximate", True),)),
    Case("silu"),
    Case("exponential"),
    Case("mish"),
]
CASE_PARAMS = [pytest.param(c, id=c.id) for c in CASES]


def _seed(*parts) -> int:
    return zlib.crc32(repr(parts).encode())


@functools.cache
def _inputs(size: int, seed: int) -> np.ndarray:
    """Normal(0, 2.5) values with a quarter drawn uniformly from [-20, 20] (the tails)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size) * 2.5
    k = size // 4
    x[:k] = rng.uniform(-20.0, 20.0, k)
    rng.shuffle(x)
    x = x.astype(np.float32)
    x.flags.writeable = False
    return x


def _to_f32_range(r: np.ndarray) -> np.ndarray:
    """Float64 values beyond float32's overflow threshold become +-inf, as float32 rounds them."""
    limit = 2.0**128 - 2.0**103
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(r) >= limit, np.copysign(np.inf, r), r)


def _gelu_tanh_v(z: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return 2.0 * math.sqrt(2.0 / math.pi) * (z + 0.044715 * z**3)


def _sensitivity(case: Case, z: np.ndarray) -> np.ndarray:
    """2 |v| (1 - sigmoid(v)) for the tanh-approximated gelu, 0 for the others: how much
    rounding v = 2 sqrt(2/pi)(z + 0.044715 z^3) in float32 magnifies relative errors of
    z sigmoid(v) in the negative tail. Tolerances are multiplied by 1 + this."""
    if case.key != "gelu_tanh":
        return np.zeros_like(z)
    v = _gelu_tanh_v(z)
    with np.errstate(all="ignore"):
        s = np.where(v >= 0, 1.0 / (1.0 + np.exp(-np.abs(v))), 1.0 / (1.0 + np.exp(-np.abs(v))))
        one_minus = np.where(v >= 0, 1.0 - s, s)  # sigmoid(-|v|)
        extra = 2.0 * np.abs(v) * one_minus
    return np.where(np.isfinite(extra), extra, 0.0)


def forward_reference(case: Case, z32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f(z), tolerance) for float32 pre-activations z32."""
    z = z32.astype(np.float64)
    ref = _to_f32_range(ref_activation(case.name, z, case.alpha, case.approximate))
    with np.errstate(invalid="ignore"):  # 0 * inf at infinite references (not compared)
        tol = TOLERANCE_ULP[case.key] * (1.0 + _sensitivity(case, z)) * float32_ulp(ref)
    return ref, tol + TINY32


def backward_reference(case: Case, z32, y32, dy32) -> tuple[np.ndarray, np.ndarray]:
    """(dy f'(z), tolerance) from what the backward pass reads: z32 or y32."""
    if case.name in NEEDS_X:
        d, c = ref_activation_grad(case.name, z32, case.alpha, case.approximate)
    elif case.name == "linear":
        d = c = np.ones(np.shape(dy32))
    else:
        d, c = ref_activation_grad_from_y(case.name, y32, case.alpha)
    dy = dy32.astype(np.float64)
    with np.errstate(all="ignore"):
        ref = _to_f32_range(dy * d)
        k = BACKWARD_K[case.key] * (1.0 + _sensitivity(case, z32.astype(np.float64)))
        tol = k * EPS32 * np.abs(dy) * c + TINY32
    return ref, np.where(np.isfinite(tol), tol, 0.0)


@functools.cache
def _forward_case(case: Case, size: int):
    x = _inputs(size, _seed("x", size))
    ref, tol = forward_reference(case, x)
    return x, ref, tol


@functools.cache
def _backward_case(case: Case, size: int):
    x, ref_y, _ = _forward_case(case, size)
    y32 = ref_y.astype(np.float32)
    dy = np.random.default_rng(_seed("dy", size)).standard_normal(size).astype(np.float32)
    ref, tol = backward_reference(case, x, y32, dy)
    return x, y32, dy, ref, tol


def _grad(case: Case, x, y, dy, out=None):
    return ops.activation_grad(case.name, x=x, y=y, dy=dy, out=out, **case.params)


# ---------------------------------------------------------------------------------------------
# The references


def test_reference_helpers_reject_wrong_values():
    ref = np.array([1.0, np.nan, np.inf, 0.5])
    assert_close_ref(ref.astype(np.float32), ref, float32_ulp(ref), "identity")
    with pytest.raises(AssertionError, match="NaN positions differ"):
        assert_close_ref(np.array([1, 1, np.inf, 0.5], np.float32), ref, 1e-3, "nan")
    with pytest.raises(AssertionError, match="outside tolerance"):
        wrong = np.float32(0.5) + np.float32(2 * float32_ulp(0.5))
        assert_close_ref(
            np.array([1, np.nan, np.inf, wrong], np.float32), ref, float32_ulp(ref), "ulp"
        )


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_reference_gradient_matches_finite_differences(case):
    """The float64 derivative references (from z, and from y where the kernel reads y)
    against central differences of the float64 forward reference."""
    rng = np.random.default_rng(_seed("ref-fd", case.id))
    z = rng.uniform(-8, 8, 2000)
    z = z[np.min(np.abs(z[:, None] - np.array([0.0, -3.0, 3.0, 6.0])), axis=1) > 1e-3]
    h = 1e-6
    fd = (ref_activation(case.name, z + h, case.alpha, case.approximate)
          - ref_activation(case.name, z - h, case.alpha, case.approximate)) / (2 * h)  # fmt: skip
    d, c = ref_activation_grad(case.name, z, case.alpha, case.approximate)
    np.testing.assert_allclose(d, fd, rtol=1e-7, atol=1e-8)
    assert np.all(c >= np.abs(d))
    if case.name not in NEEDS_X and case.name != "linear":
        y = ref_activation(case.name, z, case.alpha, case.approximate)
        dy_, _ = ref_activation_grad_from_y(case.name, y, case.alpha)
        np.testing.assert_allclose(dy_, d, rtol=1e-9, atol=1e-12)


def test_reference_softmax_grad_matches_finite_differences():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((4, 9))
    dy = rng.standard_normal((4, 9))
    h = 1e-6
    for log in (False, True):
        y = ref_softmax(z, log)
        dx, _ = ref_softmax_grad(y, dy, log)
        fd = np.empty_like(z)
        for j in range(z.shape[1]):
            e = np.zeros_like(z)
            e[:, j] = h
            fd[:, j] = np.sum(dy * (ref_softmax(z + e, log) - ref_softmax(z - e, log)), axis=1) / (
                2 * h
            )
        np.testing.assert_allclose(dx, fd, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# Elementwise activations: sizes, paths, threads


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"n{s}")
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_forward_sizes(case, size, cpu_path, num_threads):
    x, ref, tol = _forward_case(case, size)
    out = np.full(size, np.nan, dtype=np.float32)
    result = ops.activation(case.name, x, out=out, **case.params)
    assert result is out
    assert_close_ref(out, ref, tol, f"{case.id} forward n={size} on {cpu_path}")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"n{s}")
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_backward_sizes(case, size, cpu_path, num_threads):
    x, y32, dy, ref, tol = _backward_case(case, size)
    out = np.full(size, np.nan, dtype=np.float32)
    result = _grad(case, x, y32, dy, out=out)
    assert result is out
    assert_close_ref(out, ref, tol, f"{case.id} backward n={size} on {cpu_path}")


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_in_place_and_threads_bitwise(case, cpu_path, restore_num_threads):
    # Large enough for two threads in every pass (the cheapest split from 131072 elements).
    size = 300007
    x = _inputs(size, _seed("x", size))
    y32 = ops.activation(case.name, x, **case.params)
    dy = np.random.default_rng(_seed("dy", size)).standard_normal(size).astype(np.float32)
    pynncore.set_num_threads(1)
    y1 = ops.activation(case.name, x, **case.params)
    dx1 = _grad(case, x, y32, dy)
    pynncore.set_num_threads(2)
    y2 = ops.activation(case.name, x, **case.params)
    dx2 = _grad(case, x, y32, dy)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(dx1, dx2)
    # In place: out is x, and dx is dy.
    buf = x.copy()
    assert ops.activation(case.name, buf, out=buf, **case.params) is buf
    np.testing.assert_array_equal(buf, y1)
    g = dy.copy()
    assert _grad(case, x, y32, g, out=g) is g
    np.testing.assert_array_equal(g, dx1)


BIAS_SHAPES = [(1, 1), (7, 3), (5, 17), (4, 64), (3, 100), (2, 3, 20), (1000, 101), (8001, 17)]


@pytest.mark.parametrize("shape", BIAS_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_forward_with_bias(case, shape, cpu_path, restore_num_threads):
    pynncore.set_num_threads(2)
    rng = np.random.default_rng(_seed("bias", case.id, shape))
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    bias = rng.standard_normal(shape[-1]).astype(np.float32)
    z = x + bias  # the float32 sum, as the kernel forms it
    ref, tol = forward_reference(case, z)
    got = ops.activation(case.name, x, bias=bias, **case.params)
    assert got.shape == shape and got.dtype == np.float32
    assert_close_ref(got, ref, tol, f"{case.id} forward with bias {shape}")
    # In place gives the same bits; the bias is left alone.
    bias_before = bias.copy()
    buf = x.copy()
    ops.activation(case.name, buf, out=buf, bias=bias, **case.params)
    np.testing.assert_array_equal(buf, got)
    np.testing.assert_array_equal(bias, bias_before)
    # The same with the bias folded in first.
    np.testing.assert_array_equal(ops.activation(case.name, z, **case.params), got)


EXTREMES = np.array(
    [0.0, -0.0, 1e-40, -1e-40, 1e-20, -1e-20, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 6.0, 80.0, -80.0,
     88.7, -88.7, 89.0, -89.0, 100.0, -100.0, 1e4, -1e4, 1e30, -1e30, 3.4e38, -3.4e38,
     np.inf, -np.inf, np.nan],
    dtype=np.float32,
)  # fmt: skip


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_extreme_inputs(case, cpu_path):
    # Each value at every lane position of a vector (and in the masked tail).
    x = np.tile(EXTREMES, 17)
    ref, tol = forward_reference(case, x)
    y = ops.activation(case.name, x, **case.params)
    assert_close_ref(y, ref, tol, f"{case.id} forward on extreme inputs")
    dy = np.ones_like(x)
    ref_dx, tol_dx = backward_reference(case, x, ref.astype(np.float32), dy)
    dx = _grad(case, x, ref.astype(np.float32), dy)
    assert_close_ref(dx, ref_dx, tol_dx, f"{case.id} backward on extreme inputs")
    # The limits are the mathematical ones: NaN only from NaN.
    assert np.array_equal(np.isnan(y), np.isnan(x))
    if case.name != "linear":  # linear's gradient reads neither x nor y: dx = dy
        assert np.array_equal(np.isnan(dx), np.isnan(x))


def test_limits_spelled_out(cpu_path):
    inf = np.float32(np.inf)
    x = np.array([-inf, inf], dtype=np.float32)
    expect = {
        "relu": [0, inf], "relu6": [0, 6], "sigmoid": [0, 1], "hard_sigmoid": [0, 1],
        "tanh": [-1, 1], "leaky_relu": [-inf, inf], "elu": [-1, inf], "softplus": [0, inf],
        "softsign": [-1, 1], "gelu": [0, inf], "silu": [0, inf], "exponential": [0, inf],
        "mish": [0, inf], "linear": [-inf, inf],
    }  # fmt: skip
    for name, want in expect.items():
        np.testing.assert_array_equal(ops.activation(name, x), np.array(want, np.float32), name)
    np.testing.assert_array_equal(ops.gelu(x, approximate=True), [0, inf])
    np.testing.assert_array_equal(ops.leaky_relu(x, negative_slope=0.0), [0, inf])
    np.testing.assert_allclose(ops.selu(x)[0], -1.05070098 * 1.67326324, rtol=2 * EPS32)
    for name in ("sigmoid", "tanh", "gelu", "silu", "mish", "softplus", "softsign"):
        g = ops.activation_grad(name, x=x, dy=np.ones(2, np.float32))
        assert not np.isnan(g).any(), name
    nan = np.full(5, np.nan, dtype=np.float32)
    for name in ELEMENTWISE:
        assert np.isnan(ops.activation(name, nan)).all(), name
        assert np.isnan(ops.activation_grad(name, x=nan, dy=np.ones(5, np.float32))).all() or (
            name == "linear"
        ), name


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_finite_difference_gradient(case, cpu_path):
    """Central differences of the float64 reference forward against the float32 backward."""
    rng = np.random.default_rng(_seed("fd", case.id))
    x = rng.uniform(-8, 8, 4001).astype(np.float32)
    kinks = np.array([0.0, -3.0, 3.0, 6.0])
    x = x[np.min(np.abs(x[:, None] - kinks), axis=1) > 1e-3]
    z = x.astype(np.float64)
    h = 1e-6 * np.maximum(1.0, np.abs(z))
    fd = (ref_activation(case.name, z + h, case.alpha, case.approximate)
          - ref_activation(case.name, z - h, case.alpha, case.approximate)) / (2 * h)  # fmt: skip
    dy = rng.standard_normal(x.size).astype(np.float32)
    y = ops.activation(case.name, x, **case.params)
    dx = _grad(case, x, y, dy)
    _, c = ref_activation_grad(case.name, z, case.alpha, case.approximate)
    reads_y = case.name not in NEEDS_X
    tol = np.abs(dy) * (
        BACKWARD_K[case.key] * (1 + _sensitivity(case, z)) * EPS32 * c
        + (4 * EPS32 * np.maximum(1.0, np.abs(y)) if reads_y else 0.0)
        + 1e-9
    )
    assert_close_ref(dx, dy * fd, tol, f"{case.id} backward vs finite differences")


def test_backward_reads_the_documented_array():
    for name in ELEMENTWISE + list(ROWWISE):
        assert ops.activation_grad_needs_x(name) == (name in NEEDS_X), name
    assert ops.activation_grad_needs_x(None) is False
    x = np.linspace(-3, 3, 13, dtype=np.float32)
    dy = np.ones_like(x)
    # With only x given, y is computed first for the activations that read y.
    for name in ELEMENTWISE:
        with_x = ops.activation_grad(name, x=x, dy=dy)
        if name not in NEEDS_X:
            with_y = ops.activation_grad(name, y=ops.activation(name, x), dy=dy)
            np.testing.assert_array_equal(with_x, with_y, name)


def test_swish_is_silu_and_none_is_linear():
    x = np.linspace(-5, 5, 101, dtype=np.float32)
    np.testing.assert_array_equal(ops.activation("swish", x), ops.silu(x))
    np.testing.assert_array_equal(ops.swish(x), ops.silu(x))
    np.testing.assert_array_equal(ops.activation(None, x), x)
    # the activations added with Keras 3.4-3.6 are tested in test_activation_more.py
    more = {"celu", "hard_shrink", "hard_silu", "hard_swish", "hard_tanh", "log_sigmoid", "soft_shrink",
            "sparse_plus", "sparse_sigmoid", "squareplus", "tanh_shrink"}
    assert set(ops.ACTIVATIONS) == set(ELEMENTWISE) | set(ROWWISE) | more


def test_convenience_functions_match_activation():
    x = np.linspace(-7, 7, 57, dtype=np.float32).reshape(3, 19)
    for name in ELEMENTWISE:
        fn = getattr(ops, name)
        np.testing.assert_array_equal(fn(x), ops.activation(name, x), name)
    np.testing.assert_array_equal(
        ops.leaky_relu(x, 0.3), ops.activation("leaky_relu", x, alpha=0.3)
    )
    np.testing.assert_array_equal(
        ops.activation("leaky_relu", x, negative_slope=0.3), ops.leaky_relu(x, negative_slope=0.3)
    )
    np.testing.assert_array_equal(ops.elu(x, alpha=0.7), ops.activation("elu", x, alpha=0.7))
    np.testing.assert_array_equal(ops.gelu(x, True), ops.activation("gelu", x, approximate=True))
    np.testing.assert_array_equal(ops.softmax(x), ops.activation("softmax", x))
    np.testing.assert_array_equal(ops.log_softmax(x), ops.activation("log_softmax", x))


def test_inputs_are_converted_once_and_left_alone():
    base = np.linspace(-4, 4, 40).reshape(5, 8)  # float64
    for x in (base, base.tolist(), base.T.copy().T, base[:, ::-1][:, ::-1], base.astype(">f4"),
              base.astype(np.int64), base.astype(np.float16)):  # fmt: skip
        before = np.array(x, copy=True)
        got = ops.gelu(x)
        assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == (5, 8)
        z = np.asarray(x, dtype=np.float32)
        r, t = forward_reference(Case("gelu"), z)
        assert_close_ref(got, r, t, f"gelu of {type(x).__name__}")
        np.testing.assert_array_equal(np.asarray(x), before)
    strided = np.linspace(-4, 4, 80, dtype=np.float32)[::2]
    np.testing.assert_array_equal(ops.relu(strided), np.maximum(strided, 0))
    assert ops.relu(True).dtype == np.float32 and ops.relu(3).shape == ()
    assert ops.relu([]).shape == (0,)


# ---------------------------------------------------------------------------------------------
# softmax and log_softmax

# Rows no wider than a vector run several rows at a time across the lanes: row counts on both
# sides of 4, 8 and 16 rows, widths up to and just past 4, 8 and 16 columns.
SOFTMAX_SHAPES = [(1, 1), (3, 7), (5, 17), (2, 33), (7, 1000), (64, 513), (1, 100003), (40, 3000),
                  (128, 10), (33, 16), (17, 8), (9, 4), (37, 5), (15, 9), (100, 2)]


def _softmax_tolerance(log: bool, z: np.ndarray, ref: np.ndarray) -> np.ndarray:
    cols = z.shape[-1]
    rel = EPS32 * (2.0 * math.sqrt(cols) + 4.0)
    if not log:
        return 4 * float32_ulp(ref) + rel * np.abs(ref) + TINY32
    with np.errstate(invalid="ignore"):  # inf - inf in rows that are NaN anyway
        t = z - np.max(z, axis=-1, keepdims=True)
        ls = -np.max(ref, axis=-1, keepdims=True)  # log of the row sum
        return 3 * float32_ulp(ref) + float32_ulp(t) + rel * np.minimum(1.0, ls) + TINY32


@pytest.mark.parametrize("with_bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", ROWWISE)
def test_softmax_forward_backward(name, shape, with_bias, cpu_path, num_threads):
    log = name == "log_softmax"
    rng = np.random.default_rng(_seed(name, shape, with_bias))
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    bias = rng.standard_normal(shape[-1]).astype(np.float32) if with_bias else None
    z = x + bias if with_bias else x
    ref = ref_softmax(z, log)
    out = np.full(shape, np.nan, dtype=np.float32)
    assert ops.activation(name, x, out=out, bias=bias) is out
    assert_close_ref(
        out, ref, _softmax_tolerance(log, z.astype(np.float64), ref), f"{name} {shape}"
    )
    buf = x.copy()
    ops.activation(name, buf, out=buf, bias=bias)
    np.testing.assert_array_equal(buf, out)

    y32 = ref.astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    ref_dx, c = ref_softmax_grad(y32, dy, log)
    tol = EPS32 * (2.0 * math.sqrt(shape[-1]) + 4.0) * c + TINY32
    dx = ops.activation_grad(name, y=y32, dy=dy)
    assert_close_ref(dx, ref_dx, tol, f"{name} backward {shape}")
    assert ops.activation_grad(name, y=y32, dy=dy, out=dy) is dy
    np.testing.assert_array_equal(dy, dx)


def test_softmax_extreme_rows(cpu_path):
    inf, nan = np.inf, np.nan
    rows = [
        [0.0, -1e4, -1e4, 1e4, 1e4 - 1],  # large spread, two maxima within 1
        [1e4, 1e4, 1e4, 1e4, 1e4],
        [-80.0, 80.0, 0.0, -80.0, 80.0],
        [0.0, -inf, -inf, 1.0, -inf],  # -inf entries are 0
        [3.4e38, -3.4e38, 0.0, 1.0, 2.0],
        [30.0, 0.0, 0.0, 0.0, 0.0],  # one dominant entry: log_softmax ~ -4 * e^-30
        [1.0, 2.0, nan, 3.0, 4.0],  # NaN row
        [1.0, inf, 0.0, 0.0, 0.0],  # +inf gives a NaN row, as in numpy and PyTorch
        [-inf, -inf, -inf, -inf, -inf],
    ]
    x = np.array(rows, dtype=np.float32)
    for name in ROWWISE:
        log = name == "log_softmax"
        ref = _to_f32_range(ref_softmax(x, log))
        got = ops.activation(name, x)
        assert_close_ref(got, ref, _softmax_tolerance(log, x.astype(np.float64), ref), name)
        # The dominant row of log_softmax keeps its relative accuracy far below 1.
        if log:
            assert abs(got[5, 0] / ref[5, 0] - 1) < 4 * EPS32
    # Wide rows: every lane position and the masked tail.
    wide = np.tile(x[:6], (1, 13))
    for name in ROWWISE:
        log = name == "log_softmax"
        ref = _to_f32_range(ref_softmax(wide, log))
        tol = _softmax_tolerance(log, wide.astype(np.float64), ref)
        assert_close_ref(ops.activation(name, wide), ref, tol, f"{name} wide")


def test_softmax_axis_and_shapes():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    for name in ROWWISE:
        log = name == "log_softmax"
        fn = getattr(ops, name)
        for axis in (-1, 2, 0, 1, -2):
            ref = np.moveaxis(
                ref_softmax(np.moveaxis(x.astype(np.float64), axis, -1), log), -1, axis
            )
            got = fn(x, axis=axis)
            assert got.shape == x.shape and got.flags.c_contiguous
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
        out = np.empty_like(x)
        assert fn(x, axis=0, out=out) is out
        np.testing.assert_array_equal(out, fn(x, axis=0))
        assert fn(np.zeros((2, 0), np.float32)).shape == (2, 0)
        assert fn(np.zeros((0, 3), np.float32)).shape == (0, 3)
        np.testing.assert_allclose(
            fn(np.array([1.0, 2.0])), ref_softmax(np.array([1.0, 2.0]), log), rtol=1e-6
        )
    # A single element along the axis: softmax 1, log_softmax 0.
    col = np.array([[3.0], [-2.0]], dtype=np.float32)
    np.testing.assert_array_equal(ops.softmax(col), np.ones((2, 1), np.float32))
    np.testing.assert_array_equal(ops.log_softmax(col), np.zeros((2, 1), np.float32))
    # A view that is contiguous after moving the axis is not overwritten.
    v = np.arange(5, dtype=np.float32).reshape(5, 1)
    before = v.copy()
    ops.softmax(v, axis=0)
    np.testing.assert_array_equal(v, before)


# ---------------------------------------------------------------------------------------------
# Vector math under the activations

VECTOR_MATH_ULP = {
    "exp": 1.0, "expm1": 1.5, "log": 1.0, "log1p": 1.5, "tanh": 1.75, "erf": 2.25, "erfc": 4.25,
}  # fmt: skip


@functools.cache
def _math_samples(fn: str):
    rng = np.random.default_rng(_seed("vm", fn))
    mag = np.exp(rng.uniform(np.log(1e-30), np.log(120.0), 60000))
    x = np.concatenate([mag, -mag, rng.uniform(-12, 12, 60000), rng.uniform(-1, 1, 20000)])
    if fn in ("log", "log1p"):
        x = np.concatenate(
            [np.abs(x), np.exp(rng.uniform(-87, 88, 40000)), rng.uniform(-1, 0, 9000)]
        )
    x = x.astype(np.float32)
    z = x.astype(np.float64)
    with np.errstate(all="ignore"):
        ref = {
            "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
            "erf": lambda v: np.frompyfunc(math.erf, 1, 1)(v).astype(np.float64),
            "erfc": lambda v: np.frompyfunc(math.erfc, 1, 1)(v).astype(np.float64),
        }[fn](z)  # fmt: skip
    return x, _to_f32_range(ref)


@pytest.mark.parametrize("fn", list(VECTOR_MATH_ULP))
def test_vector_math_ulp(fn, cpu_path):
    x, ref = _math_samples(fn)
    got = _core.vector_math(fn, x)
    assert_close_ref(got, ref, VECTOR_MATH_ULP[fn] * float32_ulp(ref), f"{fn} on {cpu_path}")
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45], dtype=np.float32)
    d = float(special[5])  # the smallest subnormal, 2^-149
    want = {
        "exp": [1, 1, np.inf, 0, np.nan, 1, 1],
        "expm1": [0, -0.0, np.inf, -1, np.nan, d, -d],
        "log": [-np.inf, -np.inf, np.inf, np.nan, np.nan, math.log(d), np.nan],
        "log1p": [0, -0.0, np.inf, np.nan, np.nan, d, -d],
        "tanh": [0, -0.0, 1, -1, np.nan, d, -d],
        "erf": [0, -0.0, 1, -1, np.nan, d, -d],  # 2/sqrt(pi) d rounds to d
        "erfc": [1, 1, 0, 2, np.nan, 1, 1],
    }[fn]  # fmt: skip
    got = _core.vector_math(fn, special)
    want = np.array(want, dtype=np.float64)
    assert_close_ref(got, want, VECTOR_MATH_ULP[fn] * float32_ulp(want), f"{fn} special values")


# ---------------------------------------------------------------------------------------------
# Errors


def _all_of(*fragments: str) -> str:
    return "(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments)


def test_unknown_name_lists_valid_names():
    x = np.zeros(3, np.float32)
    msg = _all_of("unknown activation 'nope'", "valid names:", "elu", "gelu", "softmax", "tanh")
    with pytest.raises(ValueError, match=msg):
        ops.activation("nope", x)
    with pytest.raises(ValueError, match=msg):
        ops.activation_grad("nope", x=x, dy=x)
    with pytest.raises(ValueError, match=msg):
        _core.activation_forward("nope", x)
    with pytest.raises(TypeError, match=_all_of("name must be an activation name", "int")):
        ops.activation(3, x)
    with pytest.raises(TypeError, match=_all_of("name must be an activation name", "list")):
        ops.activation_grad(["relu"], y=x, dy=x)
    with pytest.raises(ValueError, match="unknown vector math function 'sin'"):
        _core.vector_math("sin", x)


def test_wrong_dtypes():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match=_all_of("activation: x", "real numeric", "complex64")):
        ops.activation("relu", x.astype(np.complex64))
    with pytest.raises(TypeError, match=_all_of("activation: x", "real numeric", "<U1")):
        ops.activation("relu", ["a"])
    with pytest.raises(TypeError, match=_all_of("activation_forward: x", "float32", "float64")):
        _core.activation_forward("relu", x.astype(np.float64))
    with pytest.raises(TypeError, match=_all_of("activation_forward: x", "numpy.ndarray", "list")):
        _core.activation_forward("relu", [1.0])
    with pytest.raises(TypeError, match=_all_of("activation_forward: out", "float32", "float64")):
        ops.activation("relu", x, out=np.zeros((2, 3)))
    with pytest.raises(TypeError, match=_all_of("activation_backward: dx", "float32", "int32")):
        ops.activation_grad("relu", y=x, dy=x, out=np.zeros((2, 3), np.int32))
    with pytest.raises(TypeError, match=_all_of("activation_forward: bias", "float32", "float64")):
        _core.activation_forward("relu", x, None, np.zeros(3))


def test_wrong_shapes():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(
        ValueError, match=_all_of("out must have the shape of x (2, 3)", "got shape (3, 2)")
    ):
        ops.activation("relu", x, out=np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=_all_of("bias must have shape (3,)", "got shape (2,)")):
        ops.activation("relu", x, bias=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match=_all_of("bias must have shape (3,)", "got shape (1, 3)")):
        ops.activation("relu", x, bias=np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="needs x with at least 1 dimension"):
        ops.activation("relu", np.float32(1.0), bias=np.zeros(1, np.float32))
    with pytest.raises(ValueError, match=_all_of("dx must have the shape of dy (2, 3)", "(6,)")):
        ops.activation_grad("relu", y=x, dy=x, out=np.zeros(6, np.float32))
    with pytest.raises(
        ValueError, match=_all_of("y must have the shape of dy (2, 3)", "got shape (3,)")
    ):
        ops.activation_grad("relu", y=np.zeros(3, np.float32), dy=x)
    with pytest.raises(ValueError, match="softmax works over the last axis"):
        ops.activation("softmax", np.float32(1.0))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        ops.softmax(x, axis=2)


def test_outputs_are_never_copied():
    x = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match=_all_of("out must be C-contiguous", "never copied")):
        ops.activation("relu", x[:, :3], out=np.zeros((4, 6), np.float32)[:, :3])
    fortran = np.zeros((4, 6), np.float32, order="F")
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        ops.activation("relu", x, out=fortran)
    readonly = np.zeros((4, 6), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        ops.activation("relu", x, out=readonly)
    with pytest.raises(ValueError, match="dx must be C-contiguous"):
        ops.activation_grad("tanh", y=x, dy=x, out=np.zeros((6, 4), np.float32).T)
    # Partial overlap between an output and an input.
    buf = np.zeros(20, np.float32)
    with pytest.raises(ValueError, match="out overlaps x without being the same memory"):
        ops.activation("relu", buf[:10], out=buf[5:15])
    with pytest.raises(ValueError, match="dx overlaps dy"):
        ops.activation_grad("relu", y=buf[10:], dy=buf[:10], out=buf[2:12])
    with pytest.raises(ValueError, match="out overlaps bias"):
        ops.activation("relu", buf[:10].reshape(2, 5), out=buf[:10].reshape(2, 5), bias=buf[6:11])


def test_parameter_errors():
    x = np.linspace(-1, 1, 5, dtype=np.float32)
    with pytest.raises(ValueError, match="relu takes no alpha"):
        ops.activation("relu", x, alpha=0.5)
    with pytest.raises(ValueError, match="approximate=True applies only to gelu; got tanh"):
        ops.activation("tanh", x, approximate=True)
    with pytest.raises(ValueError, match="negative_slope applies only to leaky_relu"):
        ops.activation("elu", x, negative_slope=0.1)
    with pytest.raises(ValueError, match="as negative_slope or alpha; got both"):
        ops.activation("leaky_relu", x, alpha=0.1, negative_slope=0.1)
    with pytest.raises(ValueError, match="alpha must be finite"):
        ops.elu(x, alpha=float("nan"))
    with pytest.raises(ValueError, match=_all_of("leaky_relu backward", "alpha >= 0", "-0.5")):
        ops.activation_grad("leaky_relu", y=x, dy=x, alpha=-0.5)
    with pytest.raises(ValueError, match=_all_of("gelu backward reads x", "x=None")):
        ops.activation_grad("gelu", y=x, dy=x)
    with pytest.raises(ValueError, match=_all_of("sigmoid backward reads y", "y=None")):
        _core.activation_backward("sigmoid", x, None, x)
    with pytest.raises(TypeError):
        ops.activation_grad("relu", x)  # dy is keyword-only and required
    # A negative slope is fine going forward (Keras ops allow it).
    np.testing.assert_allclose(ops.leaky_relu(x, -0.5), np.where(x > 0, x, -0.5 * x))


# ---------------------------------------------------------------------------------------------
# PyTorch


def _torch_fn(torch, case: Case):
    F = torch.nn.functional
    a = case.alpha
    return {
        "linear": lambda t: t,
        "relu": F.relu,
        "relu6": F.relu6,
        "sigmoid": torch.sigmoid,
        "hard_sigmoid": F.hardsigmoid,
        "tanh": torch.tanh,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.2 if a is None else a),
        "elu": lambda t: F.elu(t, 1.0 if a is None else a),
        "selu": F.selu,
        "softplus": F.softplus,
        "softsign": F.softsign,
        "gelu": lambda t: F.gelu(t, approximate="tanh" if case.approximate else "none"),
        "silu": F.silu,
        "exponential": torch.exp,
        "mish": F.mish,
        "softmax": lambda t: F.softmax(t, dim=-1),
        "log_softmax": lambda t: F.log_softmax(t, dim=-1),
    }[case.name]


@pytest.mark.parametrize("case", CASE_PARAMS + [pytest.param(Case(n), id=n) for n in ROWWISE])
def test_matches_torch(case, cpu_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(_seed("torch", case.id))
    x = (rng.standard_normal((97, 43)) * 3).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = _torch_fn(torch, case)(xt)
    yt.backward(torch.from_numpy(dy))
    y = ops.activation(case.name, x, **case.params)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=2e-5, atol=1e-6)
    dx = ops.activation_grad(case.name, x=x, y=y, dy=dy, **case.params)
    atol = 3e-6 if case.approximate else 1e-6
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=2e-5, atol=atol)
