"""pynncore.ops.matmul against the float64 reference in tests/_ref.py.

C = alpha * op(A) @ op(B) + beta * C with op(A): (M, K), op(B): (K, N), C: (M, N).
Every numeric test runs on every CPU path this machine supports (the `cpu_path` fixture);
the size grids also run at 1 and 2 library threads (the `num_threads` fixture).
"""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from _ref import (
    EPS32,
    assert_close_gemm,
    check_matmul,
    gemm_error_bound,
    gemm_tolerance,
    ref_matmul,
)

import pynncore
from pynncore import ops

TRANSPOSES = [
    pytest.param(False, False, id="NN"),
    pytest.param(False, True, id="NT"),
    pytest.param(True, False, id="TN"),
    pytest.param(True, True, id="TT"),
]

ODD_SIZES = [1, 3, 7, 17, 33, 65, 129, 257]

# (M, N, K). The grid crosses the kernels' boundaries: register tiles of 4x8 (generic),
# 6x16 (avx2) and 12x32 (avx512); the unpacked path (M <= 16; K <= 512 with M*N*K <= 128**3;
# M <= 256 with K <= 2048 when A is transposed, K <= 784 or N <= 256; M <= 2048 with N <= 256
# and K <= 784; not for a transposed A with M < N at several threads), where a transposed B is packed a micro-panel at a time by the thread that
# uses it; KC = 1024 (avx512), 384 (avx2) or 256 (generic) split into equal blocks; MC = 240,
# 480 or 512; NC = 4096; two threads from 2*M*N*K >= 2e6 flops on, split over M when M >= N
# and over N otherwise.
SHAPES = [
    # vectors and skinny products
    (1, 1, 1),
    (1, 257, 33),
    (257, 1, 7),
    (1, 1, 1100),
    (2, 100, 64),
    (3, 10, 1000),
    (4, 25, 300),
    (5, 1000, 3),
    (129, 17, 300),
    (300, 10, 784),
    # K around KC
    (13, 17, 255),
    (13, 17, 256),
    (13, 17, 257),
    (25, 33, 513),
    (12, 31, 1100),
    (13, 17, 384),
    (13, 17, 385),
    (30, 70, 769),
    (130, 260, 784),
    # M around MR, the unpacked/packed switch, the thread split, MC and 2*MC
    (11, 40, 65),
    (12, 40, 65),
    (13, 40, 65),
    (24, 40, 65),
    (25, 40, 65),
    (47, 40, 65),
    (48, 40, 65),
    (49, 40, 65),
    (95, 100, 64),
    (96, 100, 64),
    (97, 100, 64),
    (769, 17, 257),
    (1537, 33, 65),
    # N around NR, the masked tails and NC
    (7, 15, 40),
    (7, 16, 40),
    (7, 17, 40),
    (9, 25, 40),
    (9, 31, 40),
    (9, 32, 40),
    (9, 33, 40),
    (9, 100, 40),
    (3, 4100, 19),
    (13, 4100, 257),
    # unpacked/packed switch and two threads on the unpacked path
    (8, 8, 512),
    (8, 8, 513),
    (25, 33, 512),
    (128, 128, 128),
    (100, 90, 128),
    (40, 200, 128),
    (5, 1000, 300),
    (1000, 5, 300),
    # the mid-sized unpacked products of dense layers and the packed ones beside them
    (200, 300, 1100),
    (1000, 200, 700),
    (260, 300, 65),
    (2100, 40, 65),
    # several blocks in every dimension
    (130, 130, 130),
    (200, 300, 513),
]

# One product that crosses MC, NC and KC at once; heavy, so only at 2 threads.
LARGE_SHAPES = [(769, 4100, 257)]


def _shape_id(shape) -> str:
    m, n, k = shape
    return f"M{m}-N{n}-K{k}"


def _operands(rng, m, n, k, transpose_a, transpose_b, dtype=np.float32):
    """Random A, B stored so that op(A) is (M, K) and op(B) is (K, N)."""
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
    return a, b


def _all_of(*fragments: str) -> str:
    """A regex for pytest.raises(match=...) requiring every fragment, in any order."""
    return "(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments)


def _check_new_result(result, a, b, m, n) -> None:
    assert isinstance(result, np.ndarray), f"expected a new ndarray, got {result!r}"
    assert result.dtype == np.float32
    assert result.shape == (m, n)
    assert result.flags.c_contiguous
    assert result.flags.writeable
    for x in (a, b):
        if isinstance(x, np.ndarray):
            assert not np.shares_memory(result, x)


# ---------------------------------------------------------------------------------------------
# The reference and its tolerance


@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.5, 2.0), (0.0, 1.5)], ids=str)
def test_ref_matches_explicit_sum(transpose_a, transpose_b, alpha, beta):
    rng = np.random.default_rng(7)
    m, n, k = 3, 4, 5
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b, dtype=np.float64)
    c = rng.standard_normal((m, n))
    opa = a.T if transpose_a else a
    opb = b.T if transpose_b else b
    expected = np.empty((m, n))
    for i in range(m):
        for j in range(n):
            s = 0.0
            for p in range(k):
                s += float(opa[i, p]) * float(opb[p, j])
            expected[i, j] = alpha * s + beta * c[i, j]
    got = ref_matmul(a, b, transpose_a, transpose_b, alpha, beta, c)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_ref_beta_zero_ignores_nan_c():
    a = np.ones((2, 3))
    b = np.ones((3, 2))
    c = np.full((2, 2), np.nan)
    np.testing.assert_array_equal(ref_matmul(a, b, beta=0.0, c=c), np.full((2, 2), 3.0))


@pytest.mark.parametrize("k", [1, 33, 257, 1100, 4100])
@pytest.mark.parametrize("relative", [1e-2, 1e-3])
def test_tolerance_rejects_perturbed_element(k, relative):
    rng = np.random.default_rng(k)
    a = rng.standard_normal((16, k)).astype(np.float32)
    b = rng.standard_normal((k, 24)).astype(np.float32)
    ref = ref_matmul(a, b)
    bound = gemm_error_bound(a, b)
    got = ref.astype(np.float32)
    assert_close_gemm(got, ref, bound, k)  # the rounded reference itself passes
    idx = np.unravel_index(np.argmax(np.abs(ref)), ref.shape)
    got[idx] = np.float32(ref[idx] * (1.0 + relative))
    with pytest.raises(AssertionError, match="outside the float32 GEMM tolerance"):
        assert_close_gemm(got, ref, bound, k)


@pytest.mark.parametrize("k", [1, 33, 257, 1100, 4100])
def test_tolerance_rejects_wrong_transpose(k):
    rng = np.random.default_rng(k + 1)
    a = rng.standard_normal((8, k)).astype(np.float32)
    b = rng.standard_normal((8, k)).astype(np.float32)
    wrong = (a @ b[:, ::-1].T).astype(np.float32) if k > 1 else (a @ b.T + 1).astype(np.float32)
    with pytest.raises(AssertionError):
        check_matmul(wrong, a, b, transpose_b=True)


@pytest.mark.parametrize("k", [1, 17, 256, 1100, 4100])
@pytest.mark.parametrize("data", ["normal", "uniform01", "float64"])
def test_tolerance_accepts_float32_accumulation(k, data):
    rng = np.random.default_rng(k)
    if data == "normal":
        a = rng.standard_normal((6, k)).astype(np.float32)
        b = rng.standard_normal((k, 10)).astype(np.float32)
    elif data == "uniform01":
        a = rng.random((6, k)).astype(np.float32)
        b = rng.random((k, 10)).astype(np.float32)
    else:
        a = rng.random((6, k))
        b = rng.random((k, 10))
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    # numpy's float32 GEMM (blocked, FMA) and a strictly sequential float32 sum.
    check_matmul(a32 @ b32, a, b)
    products = a32[:, :, None] * b32[None, :, :]
    sequential = np.cumsum(products, axis=1, dtype=np.float32)[:, -1, :]
    check_matmul(sequential, a, b)


def test_tolerance_checks_nonfinite_positions():
    ref = np.array([[1.0, np.nan], [np.inf, -np.inf]])
    bound = np.ones_like(ref)
    assert_close_gemm(ref.astype(np.float32), ref, bound, 4)
    for wrong in (
        [[np.nan, np.nan], [np.inf, -np.inf]],
        [[1, 0], [np.inf, -np.inf]],
        [[1, np.nan], [-np.inf, -np.inf]],
        [[1, np.nan], [np.inf, 5]],
    ):
        with pytest.raises(AssertionError, match="positions differ"):
            assert_close_gemm(np.array(wrong, dtype=np.float32), ref, bound, 4)


# ---------------------------------------------------------------------------------------------
# Sizes


@pytest.mark.parametrize("size", ODD_SIZES, ids=lambda s: f"n{s}")
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_odd_square(cpu_path, num_threads, transpose_a, transpose_b, size, rng):
    a, b = _operands(rng, size, size, size, transpose_a, transpose_b)
    result = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    _check_new_result(result, a, b, size, size)
    check_matmul(result, a, b, transpose_a, transpose_b)


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_shapes(cpu_path, num_threads, transpose_a, transpose_b, shape, rng):
    m, n, k = shape
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)
    result = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    _check_new_result(result, a, b, m, n)
    check_matmul(result, a, b, transpose_a, transpose_b)


@pytest.mark.parametrize("shape", LARGE_SHAPES, ids=_shape_id)
@pytest.mark.parametrize(
    "transpose_a, transpose_b",
    [pytest.param(False, False, id="NN"), pytest.param(True, True, id="TT")],
)
def test_matmul_large(cpu_path, restore_num_threads, transpose_a, transpose_b, shape, rng):
    pynncore.set_num_threads(2)
    m, n, k = shape
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)
    out = np.full((m, n), np.nan, dtype=np.float32)
    result = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, out=out)
    assert result is out
    check_matmul(result, a, b, transpose_a, transpose_b)


ZERO_SHAPES = [(0, 5, 7), (5, 0, 7), (5, 7, 0), (0, 0, 7), (0, 5, 0), (5, 0, 0), (0, 0, 0)]


@pytest.mark.parametrize("shape", ZERO_SHAPES, ids=_shape_id)
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_zero_size(cpu_path, transpose_a, transpose_b, shape, rng):
    m, n, k = shape
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)
    result = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    _check_new_result(result, a, b, m, n)
    np.testing.assert_array_equal(result, np.zeros((m, n), dtype=np.float32))

    # With out: beta * out (K == 0), and NaN in out is not read when beta == 0.
    c = rng.standard_normal((m, n)).astype(np.float32)
    out = c.copy()
    result = ops.matmul(
        a, b, transpose_a=transpose_a, transpose_b=transpose_b, out=out, alpha=2.0, beta=-0.5
    )
    assert result is out
    np.testing.assert_array_equal(out, (np.float32(-0.5) * c).astype(np.float32))
    out = np.full((m, n), np.nan, dtype=np.float32)
    result = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, out=out)
    assert result is out
    np.testing.assert_array_equal(out, np.zeros((m, n), dtype=np.float32))


def test_matmul_k_zero_large_output(cpu_path):
    a = np.empty((300, 0), dtype=np.float32)
    b = np.empty((0, 4100), dtype=np.float32)
    out = np.full((300, 4100), np.nan, dtype=np.float32)
    assert ops.matmul(a, b, out=out) is out
    assert not out.any()


# ---------------------------------------------------------------------------------------------
# Layouts and dtypes of the inputs


def _fill_view(view: np.ndarray, values: np.ndarray) -> np.ndarray:
    view[...] = values
    return view


def _layout_step_slices(x):
    m, k = x.shape
    big = np.full((2 * m + 1, 3 * k + 2), np.nan, dtype=np.float32)
    return _fill_view(big[1::2, 2::3][:m, :k], x)


def _layout_row_padded(x):
    # unit inner stride, row stride larger than the row: usable without a copy
    m, k = x.shape
    big = np.full((m, k + 5), np.nan, dtype=np.float32)
    return _fill_view(big[:, 3 : 3 + k], x)


def _layout_col_padded(x):
    # column-major view with padding: inner stride is the long one
    m, k = x.shape
    big = np.full((k, m + 4), np.nan, dtype=np.float32)
    return _fill_view(big[:, 1 : 1 + m].T, x)


def _layout_unaligned(x):
    raw = np.zeros(x.size * 4 + 1, dtype=np.uint8)
    view = raw[1:].view(np.float32).reshape(x.shape)
    return _fill_view(view, x)


def _layout_readonly(x):
    y = x.copy()
    y.flags.writeable = False
    return y


LAYOUTS = {
    "step_slices": _layout_step_slices,
    "row_padded": _layout_row_padded,
    "col_padded": _layout_col_padded,
    "transposed_view": lambda x: np.ascontiguousarray(x.T).T,
    "fortran": np.asfortranarray,
    "neg_rows": lambda x: x[::-1].copy()[::-1],
    "neg_cols": lambda x: x[:, ::-1].copy()[:, ::-1],
    "neg_both": lambda x: x[::-1, ::-1].copy()[::-1, ::-1],
    "big_endian": lambda x: x.astype(">f4"),
    "broadcast_row": lambda x: np.broadcast_to(x[:1], x.shape),
    "broadcast_col": lambda x: np.broadcast_to(x[:, :1], x.shape),
    "unaligned": _layout_unaligned,
    "readonly": _layout_readonly,
}


@pytest.mark.parametrize("shape", [(19, 23, 37), (70, 50, 150)], ids=_shape_id)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_input_layouts(cpu_path, transpose_a, transpose_b, layout, shape, rng):
    m, n, k = shape
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)
    # a gets this layout and b the next one in LAYOUTS, so every layout is seen on both
    # operands, next to a different partner each time.
    names = list(LAYOUTS)
    a_in = LAYOUTS[layout](a)
    b_in = LAYOUTS[names[(names.index(layout) + 1) % len(names)]](b)
    a_before, b_before = np.array(a_in), np.array(b_in)

    result = ops.matmul(a_in, b_in, transpose_a=transpose_a, transpose_b=transpose_b)
    _check_new_result(result, a_in, b_in, m, n)
    check_matmul(result, a_before, b_before, transpose_a, transpose_b)
    # Copying or using a strided view in place gives the same bits.
    contiguous = ops.matmul(
        np.ascontiguousarray(a_in, dtype=np.float32),
        np.ascontiguousarray(b_in, dtype=np.float32),
        transpose_a=transpose_a,
        transpose_b=transpose_b,
    )
    np.testing.assert_array_equal(result, contiguous)
    np.testing.assert_array_equal(a_in, a_before)
    np.testing.assert_array_equal(b_in, b_before)


EDGE_VIEWS = {
    # Arrays with a length-1 axis count as contiguous whatever that axis's stride is.
    "row_negative_stride": lambda x: x[::-1][-1:],
    "row_zero_stride": lambda x: np.lib.stride_tricks.as_strided(x, (1, x.shape[1]), (0, 4)),
    "row_of_wide_array": lambda x: x[-1:],
    "column_of_wide_array": lambda x: x[:, 2:3],
    "column_negative_stride": lambda x: x[::-1, 2:3],
}


@pytest.mark.parametrize("view", list(EDGE_VIEWS))
@pytest.mark.parametrize("transpose_a", [False, True], ids=["N", "T"])
def test_matmul_length_one_axis_views(cpu_path, transpose_a, view, rng):
    store = rng.standard_normal((9, 13)).astype(np.float32)
    a = EDGE_VIEWS[view](store)  # (1, 13) or (9, 1)
    k = a.shape[0] if transpose_a else a.shape[1]
    b = rng.standard_normal((k, 6)).astype(np.float32)
    a_before = np.array(a)
    result = ops.matmul(a, b, transpose_a=transpose_a)
    check_matmul(result, a_before, b, transpose_a, False)
    # The same view as the right operand: (5, M) @ op(a), op(a) of shape (M, K).
    c = rng.standard_normal((5, a.shape[1] if transpose_a else a.shape[0])).astype(np.float32)
    result = ops.matmul(c, a, transpose_b=transpose_a)
    check_matmul(result, c, a_before, False, transpose_a)


def test_matmul_out_row_with_negative_stride(cpu_path, rng):
    a = rng.standard_normal((1, 40)).astype(np.float32)
    b = rng.standard_normal((40, 7)).astype(np.float32)
    out = np.zeros((3, 7), dtype=np.float32)[::-1][:1]  # (1, 7), C-contiguous by numpy's rules
    assert out.flags.c_contiguous
    assert ops.matmul(a, b, out=out) is out
    check_matmul(out, a, b)


def _dtype_operands(rng, kind, shape_a, shape_b):
    if kind in ("float64", "float16"):
        return (
            rng.standard_normal(shape_a).astype(kind),
            rng.standard_normal(shape_b).astype(kind),
        )
    if kind in ("int8", "int32", "int64"):
        return (
            rng.integers(-20, 21, size=shape_a).astype(kind),
            rng.integers(-20, 21, size=shape_b).astype(kind),
        )
    if kind == "uint8":
        return (
            rng.integers(0, 41, size=shape_a).astype(kind),
            rng.integers(0, 41, size=shape_b).astype(kind),
        )
    if kind == "bool":
        return rng.random(shape_a) < 0.5, rng.random(shape_b) < 0.5
    if kind == "list_float":
        return rng.standard_normal(shape_a).tolist(), rng.standard_normal(shape_b).tolist()
    if kind == "list_int":
        return (
            rng.integers(-9, 10, size=shape_a).tolist(),
            rng.integers(-9, 10, size=shape_b).tolist(),
        )
    if kind == "tuple_float32":
        a = rng.standard_normal(shape_a).astype(np.float32)
        return tuple(map(tuple, a.tolist())), rng.standard_normal(shape_b).astype(np.float32)
    if kind == "float64_fortran":
        return (
            np.asfortranarray(rng.standard_normal(shape_a)),
            rng.standard_normal(shape_b)[:, ::-1],
        )
    if kind == "mixed_float64_int32":
        return rng.standard_normal(shape_a), rng.integers(-20, 21, size=shape_b).astype(np.int32)
    raise AssertionError(kind)


DTYPE_KINDS = [
    "float64",
    "float16",
    "int8",
    "int32",
    "int64",
    "uint8",
    "bool",
    "list_float",
    "list_int",
    "tuple_float32",
    "float64_fortran",
    "mixed_float64_int32",
]


@pytest.mark.parametrize("kind", DTYPE_KINDS)
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_input_dtypes(transpose_a, transpose_b, kind, rng):
    m, n, k = 21, 34, 45
    shape_a = (k, m) if transpose_a else (m, k)
    shape_b = (n, k) if transpose_b else (k, n)
    a, b = _dtype_operands(rng, kind, shape_a, shape_b)
    a_before, b_before = np.array(a), np.array(b)

    result = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    _check_new_result(result, a, b, m, n)
    check_matmul(result, a_before, b_before, transpose_a, transpose_b)
    # Conversion is a cast to float32, so the result equals the float32 call bit for bit.
    as_float32 = ops.matmul(
        np.asarray(a).astype(np.float32),
        np.asarray(b).astype(np.float32),
        transpose_a=transpose_a,
        transpose_b=transpose_b,
    )
    np.testing.assert_array_equal(result, as_float32)
    np.testing.assert_array_equal(np.array(a), a_before)
    np.testing.assert_array_equal(np.array(b), b_before)


# ---------------------------------------------------------------------------------------------
# alpha, beta and out

ALPHA_BETA = [
    pytest.param(alpha, beta, id=f"alpha{alpha:g}-beta{beta:g}")
    for alpha, beta in [
        (1.0, 0.0),
        (2.5, 0.0),
        (-0.5, 0.0),
        (1.0, 1.0),
        (-0.5, 1.0),
        (0.3, -2.0),
        (1.0, 0.25),
        (0.0, 1.0),
        (0.0, -0.5),
        (0.0, 0.0),
    ]
]


# (130, 70, 2300): packed path with several blocks of k, so later blocks accumulate into C.
@pytest.mark.parametrize("shape", [(33, 47, 65), (70, 50, 300), (130, 70, 2300)], ids=_shape_id)
@pytest.mark.parametrize("alpha, beta", ALPHA_BETA)
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_alpha_beta_out(cpu_path, transpose_a, transpose_b, alpha, beta, shape, rng):
    m, n, k = shape
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)
    if beta == 0:
        c = np.full((m, n), np.nan, dtype=np.float32)  # must not be read
    else:
        c = rng.standard_normal((m, n)).astype(np.float32)
    out = c.copy()
    result = ops.matmul(
        a, b, transpose_a=transpose_a, transpose_b=transpose_b, out=out, alpha=alpha, beta=beta
    )
    assert result is out
    check_matmul(out, a, b, transpose_a, transpose_b, alpha, beta, c)
    if alpha == 0:
        expected = (np.float32(beta) * c).astype(np.float32) if beta != 0 else np.zeros_like(c)
        np.testing.assert_allclose(out, expected, rtol=2 * EPS32, atol=0)


@pytest.mark.parametrize("beta", [0.0, 1.0, -2.0])
def test_matmul_alpha_zero_does_not_read_inputs(cpu_path, beta, rng):
    a = rng.standard_normal((20, 30)).astype(np.float32)
    b = rng.standard_normal((30, 40)).astype(np.float32)
    a[3, 4] = np.nan
    b[5, 6] = np.inf
    c = rng.standard_normal((20, 40)).astype(np.float32)
    out = c.copy()
    assert ops.matmul(a, b, out=out, alpha=0.0, beta=beta) is out
    np.testing.assert_allclose(out, np.float32(beta) * c, rtol=2 * EPS32, atol=0)


@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
@pytest.mark.parametrize("alpha", [2.0, -0.75], ids=str)
def test_matmul_alpha_without_out(cpu_path, transpose_a, transpose_b, alpha, rng):
    a, b = _operands(rng, 40, 35, 90, transpose_a, transpose_b)
    result = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, alpha=alpha)
    _check_new_result(result, a, b, 40, 35)
    check_matmul(result, a, b, transpose_a, transpose_b, alpha)


@pytest.mark.parametrize(
    "alpha, beta",
    [(2, 1), (np.float32(0.5), np.float64(-1.0)), (np.int64(3), 0)],
    ids=["python_int", "numpy_float", "numpy_int"],
)
def test_matmul_scalar_types(alpha, beta, rng):
    a = rng.standard_normal((9, 11)).astype(np.float32)
    b = rng.standard_normal((11, 13)).astype(np.float32)
    c = rng.standard_normal((9, 13)).astype(np.float32)
    out = c.copy()
    assert ops.matmul(a, b, out=out, alpha=alpha, beta=beta) is out
    check_matmul(out, a, b, False, False, float(alpha), float(beta), c)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 40, 7), (40, 1, 7), (33, 17, 5)], ids=_shape_id)
def test_matmul_returns_out_itself(cpu_path, shape, rng):
    m, n, k = shape
    a, b = _operands(rng, m, n, k, False, False)
    out = np.zeros((m, n), dtype=np.float32)
    address = out.__array_interface__["data"][0]
    result = ops.matmul(a, b, out=out)
    assert result is out
    assert out.__array_interface__["data"][0] == address
    check_matmul(out, a, b)


def test_matmul_out_unaligned_is_rejected_or_correct(cpu_path, rng):
    # A C-contiguous float32 out at an odd address: either written correctly or refused
    # with a message that says why; never left half-written.
    a = rng.standard_normal((30, 20)).astype(np.float32)
    b = rng.standard_normal((20, 45)).astype(np.float32)
    out = np.zeros(30 * 45 * 4 + 1, dtype=np.uint8)[1:].view(np.float32).reshape(30, 45)
    assert out.flags.c_contiguous and not out.flags.aligned
    try:
        result = ops.matmul(a, b, out=out)
    except ValueError as e:
        assert re.search("(?i)align", str(e)), str(e)
        assert not out.any()
    else:
        assert result is out
        check_matmul(out, a, b)


# ---------------------------------------------------------------------------------------------
# out overlapping the inputs


@pytest.mark.parametrize("n", [33, 130], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("case", ["out_is_a", "out_is_b", "out_is_a_beta", "a_b_out_same"])
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_out_overlaps_inputs(cpu_path, transpose_a, transpose_b, case, n, rng):
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a0, b0 = a.copy(), b.copy()
    kwargs = dict(transpose_a=transpose_a, transpose_b=transpose_b)
    if case == "out_is_a":
        result = ops.matmul(a, b, out=a, **kwargs)
        assert result is a
        check_matmul(a, a0, b0, transpose_a, transpose_b)
        np.testing.assert_array_equal(b, b0)
    elif case == "out_is_b":
        result = ops.matmul(a, b, out=b, **kwargs)
        assert result is b
        check_matmul(b, a0, b0, transpose_a, transpose_b)
        np.testing.assert_array_equal(a, a0)
    elif case == "out_is_a_beta":
        result = ops.matmul(a, b, out=a, alpha=1.5, beta=0.5, **kwargs)
        assert result is a
        check_matmul(a, a0, b0, transpose_a, transpose_b, 1.5, 0.5, a0)
    else:
        result = ops.matmul(a, a, out=a, **kwargs)
        assert result is a
        check_matmul(a, a0, a0, transpose_a, transpose_b)


@pytest.mark.parametrize("n", [33, 130], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_out_partially_overlaps_inputs(cpu_path, transpose_a, transpose_b, n, rng):
    # a, b and out are windows of one buffer: out covers the second half of a and the
    # first quarter of b.
    size = n * n
    buf = rng.standard_normal(2 * size + size // 4).astype(np.float32)
    a = buf[:size].reshape(n, n)
    b = buf[size + size // 4 :].reshape(n, n)
    out = buf[size // 2 : size // 2 + size].reshape(n, n)
    assert np.shares_memory(out, a) and np.shares_memory(out, b)
    a0, b0, c0 = a.copy(), b.copy(), out.copy()
    result = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, out=out, beta=-1.0)
    assert result is out
    check_matmul(out, a0, b0, transpose_a, transpose_b, 1.0, -1.0, c0)


@pytest.mark.parametrize("n", [33, 130], ids=lambda n: f"n{n}")
@pytest.mark.parametrize("transpose_a", [False, True], ids=["N", "T"])
def test_matmul_input_is_transposed_view_of_out(cpu_path, transpose_a, n, rng):
    out = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a = out.T  # Fortran-order view of out's memory
    a0 = np.array(a)
    result = ops.matmul(a, b, transpose_a=transpose_a, out=out)
    assert result is out
    check_matmul(out, a0, b, transpose_a, False)


@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_does_not_modify_inputs(cpu_path, transpose_a, transpose_b, rng):
    a, b = _operands(rng, 70, 90, 150, transpose_a, transpose_b)
    a_view = _layout_step_slices(a)
    b64 = b.astype(np.float64)
    a0, b0 = a_view.copy(), b64.copy()
    out = rng.standard_normal((70, 90)).astype(np.float32)
    ops.matmul(a_view, b64, transpose_a=transpose_a, transpose_b=transpose_b, out=out, beta=0.5)
    ops.matmul(a_view, b64, transpose_a=transpose_a, transpose_b=transpose_b)
    np.testing.assert_array_equal(a_view, a0)
    np.testing.assert_array_equal(b64, b0)
    assert b64.dtype == np.float64


# ---------------------------------------------------------------------------------------------
# NaN and Inf


@pytest.mark.parametrize("shape", [(17, 33, 65), (70, 50, 150)], ids=_shape_id)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("where", ["a", "b", "both"])
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_nonfinite_inputs(cpu_path, transpose_a, transpose_b, where, value, shape, rng):
    m, n, k = shape
    opa = rng.standard_normal((m, k)).astype(np.float32)
    opb = rng.standard_normal((k, n)).astype(np.float32)
    if where in ("a", "both"):
        i, p = int(rng.integers(m)), int(rng.integers(k))
        opa[i, p] = value
        opb[p, int(rng.integers(n))] = 0.0  # Inf * 0 -> NaN in one column
    if where in ("b", "both"):
        p, j = int(rng.integers(k)), int(rng.integers(n))
        opb[p, j] = value
        opa[int(rng.integers(m)), p] = 0.0
    a = np.ascontiguousarray(opa.T) if transpose_a else opa
    b = np.ascontiguousarray(opb.T) if transpose_b else opb
    result = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    ref = ref_matmul(a, b, transpose_a, transpose_b)
    assert not np.isfinite(ref).all()
    check_matmul(result, a, b, transpose_a, transpose_b)


# ---------------------------------------------------------------------------------------------
# Threads


def test_matmul_concurrent_python_threads(num_threads):
    rng = np.random.default_rng(2024)
    n, repeats = 300, 8
    jobs = []
    for _ in range(2):
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        c = rng.standard_normal((n, n)).astype(np.float32)
        expected = {}
        for ta in (False, True):
            for tb in (False, True):
                expected[ta, tb] = (
                    ref_matmul(a, b, ta, tb, 1.0, 0.5, c),
                    gemm_error_bound(a, b, ta, tb, 1.0, 0.5, c),
                )
        jobs.append((a, b, c, expected))

    results = [[] for _ in jobs]
    errors = []
    start = threading.Barrier(len(jobs))

    def worker(index):
        a, b, c, _ = jobs[index]
        try:
            start.wait()
            for r in range(repeats):
                ta, tb = bool(r & 1), bool(r & 2)
                out = c.copy()
                ops.matmul(a, b, transpose_a=ta, transpose_b=tb, out=out, beta=0.5)
                results[index].append(((ta, tb), out))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for (_, _, _, expected), done in zip(jobs, results):
        assert len(done) == repeats
        for key, out in done:
            ref, bound = expected[key]
            assert_close_gemm(out, ref, bound, n)


# ---------------------------------------------------------------------------------------------
# Errors


def test_error_inner_dimension_mismatch():
    a = np.ones((3, 4), dtype=np.float32)
    b = np.ones((5, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=_all_of("(3, 4)", "(5, 2)")):
        ops.matmul(a, b)


@pytest.mark.parametrize(
    "shape_a, shape_b, transpose_a, transpose_b",
    [
        ((4, 3), (5, 2), True, False),  # op(a) = (3, 4)
        ((3, 4), (2, 5), False, True),  # op(b) = (5, 2)
        ((4, 3), (2, 5), True, True),
        ((3, 4), (4, 2), True, False),  # fits only without the transpose
        ((3, 4), (4, 2), False, True),
    ],
    ids=["TN", "NT", "TT", "TN_fits_NN", "NT_fits_NN"],
)
def test_error_inner_dimension_mismatch_transposed(shape_a, shape_b, transpose_a, transpose_b):
    a = np.ones(shape_a, dtype=np.float32)
    b = np.ones(shape_b, dtype=np.float32)
    fa = re.escape(str(shape_a)) + "|" + re.escape(str(shape_a[::-1]))
    fb = re.escape(str(shape_b)) + "|" + re.escape(str(shape_b[::-1]))
    with pytest.raises(ValueError, match=f"(?s)(?=.*(?:{fa}))(?=.*(?:{fb}))"):
        ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)


NDIM_CASES = [
    pytest.param(np.ones(4, dtype=np.float32), r"\(4,\)|ndim\W*1|1-?D", id="1d"),
    pytest.param(np.ones((2, 3, 4), dtype=np.float32), r"\(2, 3, 4\)|ndim\W*3|3-?D", id="3d"),
    pytest.param(np.float32(2.0), r"\(\)|ndim\W*0|0-?D", id="0d"),
    pytest.param([[[1.0]]], r"\(1, 1, 1\)|ndim\W*3|3-?D", id="nested_list_3d"),
]


@pytest.mark.parametrize("bad, pattern", NDIM_CASES)
@pytest.mark.parametrize("position", ["a", "b"])
def test_error_wrong_ndim(bad, pattern, position):
    good = np.ones((4, 4), dtype=np.float32)
    args = (bad, good) if position == "a" else (good, bad)
    with pytest.raises(ValueError, match=pattern):
        ops.matmul(*args)


DTYPE_ERROR_CASES = [
    pytest.param(np.ones((3, 3), dtype=np.complex64), "complex64", id="complex64"),
    pytest.param(np.ones((3, 3), dtype=np.complex128), "complex128", id="complex128"),
    pytest.param(np.ones((3, 3)).astype(object), "object", id="object"),
    pytest.param(np.full((3, 3), "1"), r"<U1|str|unicode", id="str"),
    pytest.param(np.full((3, 3), b"1"), r"S1|bytes", id="bytes"),
]


@pytest.mark.parametrize("bad, pattern", DTYPE_ERROR_CASES)
@pytest.mark.parametrize("position", ["a", "b"])
def test_error_unsupported_dtype(bad, pattern, position):
    good = np.ones((3, 3), dtype=np.float32)
    args = (bad, good) if position == "a" else (good, bad)
    with pytest.raises(TypeError, match=pattern):
        ops.matmul(*args)


def test_error_complex_list():
    with pytest.raises(TypeError, match="complex"):
        ops.matmul([[1 + 2j, 0], [0, 1]], np.eye(2, dtype=np.float32))


def _bad_outs():
    m, n = 3, 5
    base = np.zeros((m, 2 * n), dtype=np.float32)
    return [
        pytest.param(np.zeros((m, n), dtype=np.float64), ("float32", "float64"), id="float64"),
        pytest.param(np.zeros((m, n), dtype=np.float16), ("float32", "float16"), id="float16"),
        pytest.param(np.zeros((m, n), dtype=np.int32), ("float32", "int32"), id="int32"),
        pytest.param(base[:, ::2], ("contiguous",), id="strided"),
        pytest.param(base[:, :n], ("contiguous",), id="row_padded"),
        pytest.param(np.zeros((m, n), dtype=np.float32, order="F"), ("contiguous",), id="fortran"),
        pytest.param(np.zeros((n, m), dtype=np.float32), ("(3, 5)", "(5, 3)"), id="shape_swapped"),
        pytest.param(np.zeros((m, n + 1), dtype=np.float32), ("(3, 5)", "(3, 6)"), id="shape_wide"),
        pytest.param(np.zeros(m * n, dtype=np.float32), ("(3, 5)", "(15,)"), id="shape_1d"),
        pytest.param(np.zeros((1, m, n), dtype=np.float32), ("(3, 5)", "(1, 3, 5)"), id="shape_3d"),
        pytest.param([[0.0] * n for _ in range(m)], ("array", "list"), id="list"),
    ]


@pytest.mark.parametrize("bad_out, fragments", _bad_outs())
def test_error_bad_out(bad_out, fragments):
    a = np.ones((3, 4), dtype=np.float32)
    b = np.ones((4, 5), dtype=np.float32)
    before = np.array(bad_out, copy=True)
    with pytest.raises((ValueError, TypeError), match=_all_of("out", *fragments)):
        ops.matmul(a, b, out=bad_out)
    # Rejected before anything is written.
    np.testing.assert_array_equal(np.asarray(bad_out), before)


def test_error_out_readonly():
    a = np.ones((3, 4), dtype=np.float32)
    b = np.ones((4, 5), dtype=np.float32)
    out = np.zeros((3, 5), dtype=np.float32)
    out.flags.writeable = False
    with pytest.raises((ValueError, TypeError), match="(?i)(?=.*out)(?=.*(writ|read))"):
        ops.matmul(a, b, out=out)
    assert not out.any()


def test_big_endian_out_is_rejected_or_correct(rng):
    # '>f4' is not native float32: it must be rejected, or written as correct values.
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 5)).astype(np.float32)
    out = np.zeros((3, 5), dtype=">f4")
    try:
        result = ops.matmul(a, b, out=out)
    except (ValueError, TypeError) as e:
        assert "out" in str(e)
        assert not out.any()
    else:
        assert result is out
        check_matmul(out.astype(np.float32), a, b)


@pytest.mark.parametrize("beta", [1.0, -0.5, 1e-30])
def test_error_beta_without_out(beta):
    a = np.ones((3, 4), dtype=np.float32)
    b = np.ones((4, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=_all_of("beta", "out")):
        ops.matmul(a, b, beta=beta)


def test_error_does_not_change_later_results(cpu_path, rng):
    a = rng.standard_normal((20, 30)).astype(np.float32)
    b = rng.standard_normal((30, 25)).astype(np.float32)
    with pytest.raises(ValueError):
        ops.matmul(a, b.T)
    with pytest.raises(ValueError):
        ops.matmul(a, b, out=np.zeros((20, 24), dtype=np.float32))
    check_matmul(ops.matmul(a, b), a, b)


# ---------------------------------------------------------------------------------------------
# PyTorch


@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_matmul_matches_torch(transpose_a, transpose_b, rng):
    torch = pytest.importorskip("torch")
    m, n, k = 129, 65, 257
    a, b = _operands(rng, m, n, k, transpose_a, transpose_b)
    ta = torch.from_numpy(a)
    tb = torch.from_numpy(b)
    expected = torch.matmul(ta.T if transpose_a else ta, tb.T if transpose_b else tb).numpy()
    result = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    bound = gemm_error_bound(a, b, transpose_a, transpose_b)
    # Both are within the tolerance of the exact product, so within twice of each other.
    diff = np.abs(result.astype(np.float64) - expected.astype(np.float64))
    assert (diff <= 2 * gemm_tolerance(k, bound)).all(), float(diff.max())
    check_matmul(result, a, b, transpose_a, transpose_b)


# Products with 1-4 rows and B not transposed take the GEMV-shaped kernel: column chunks of
# 16, 8 and 4 vectors, then register-tile tails. Widths cover each chunk boundary on every
# path (4, 8 and 16 floats per vector), with the columns split across two threads.
FEW_ROWS_N = [1, 15, 16, 33, 64, 100, 128, 255, 256, 257, 300, 520, 1000]


@pytest.mark.parametrize("m", [1, 2, 3, 4], ids=lambda m: f"m{m}")
@pytest.mark.parametrize("transpose_a", [False, True], ids=["N", "T"])
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.5, 2.0)], ids=str)
def test_matmul_few_rows(cpu_path, num_threads, transpose_a, alpha, beta, m, rng):
    for n in FEW_ROWS_N:
        for k in (1, 7, 300):
            a, b = _operands(rng, m, n, k, transpose_a, False)
            if beta == 0:
                c = np.full((m, n), np.nan, dtype=np.float32)  # must not be read
            else:
                c = rng.standard_normal((m, n)).astype(np.float32)
            out = c.copy()
            ops.matmul(a, b, transpose_a=transpose_a, out=out, alpha=alpha, beta=beta)
            check_matmul(out, a, b, transpose_a, False, alpha, beta, c)


@pytest.mark.parametrize("m", [1, 4], ids=lambda m: f"m{m}")
def test_matmul_few_rows_strided_operands(cpu_path, num_threads, m, rng):
    # Column slices of larger arrays: lda and ldb larger than the logical widths.
    k, n = 300, 260
    big_a = rng.standard_normal((m, k + 5)).astype(np.float32)
    big_b = rng.standard_normal((k, n + 9)).astype(np.float32)
    a, b = big_a[:, :k], big_b[:, :n]
    out = np.full((m, n), np.nan, dtype=np.float32)
    ops.matmul(a, b, out=out)
    check_matmul(out, a, b, False, False, 1.0, 0.0, None)
