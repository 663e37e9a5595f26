"""Float64 numpy references for the ops, and the float32 comparison helpers.

GEMM:
    C = alpha * op(A) @ op(B) + beta * C,   op(X) = X.T when its transpose flag is set
    op(A): (M, K), op(B): (K, N), C: (M, N)

The reference follows BLAS conventions: beta == 0 never reads C (NaN in C does not
propagate) and alpha == 0 never reads A and B.

Tolerance for a float32 GEMM result. With u = eps32 / 2 the unit roundoff, each element of a
float32 product accumulated over K terms in any order satisfies

    |C - C_exact| <= ~K * u * (|alpha| * |op(A)| @ |op(B)| + |beta| * |C_in|)

(Higham, "Accuracy and Stability of Numerical Algorithms", 3.5). That worst case is reached
only by adversarial data; rounding errors of random data behave like a random walk and grow
like sqrt(K). The helper allows eps32 * (2 * sqrt(K) + 4) times that elementwise bound: the
sqrt(K) term covers the accumulation, the constant covers converting non-float32 inputs to
float32 and the alpha/beta epilogue. Sequential float32 accumulation of uniform [0, 1) data
(the least favourable ordering) stays below a quarter of this for K up to 16000. Because the
bound is per element and proportional to |A| @ |B|, a relative error of 1e-4 in one large
element is already rejected.
"""

from __future__ import annotations

import math

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)
TINY32 = float(np.finfo(np.float32).tiny)


def _op(x: np.ndarray, transpose: bool) -> np.ndarray:
    return x.T if transpose else x


def _operands(a, b, transpose_a: bool, transpose_b: bool) -> tuple[np.ndarray, np.ndarray]:
    opa = _op(np.asarray(a, dtype=np.float64), transpose_a)
    opb = _op(np.asarray(b, dtype=np.float64), transpose_b)
    if opa.ndim != 2 or opb.ndim != 2:
        raise ValueError(f"reference needs 2-D operands, got {opa.shape} and {opb.shape}")
    if opa.shape[1] != opb.shape[0]:
        raise ValueError(f"reference: inner dimensions differ: {opa.shape} @ {opb.shape}")
    return opa, opb


def _ieee_product(opa: np.ndarray, opb: np.ndarray) -> np.ndarray:
    """op(A) @ op(B) with every product formed, so Inf * 0 and NaN follow IEEE rules.

    BLAS libraries may skip zero entries; this spells out the sum. Small inputs only.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return (opa[:, :, None] * opb[None, :, :]).sum(axis=1)


def ref_matmul(
    a,
    b,
    transpose_a: bool = False,
    transpose_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    c=None,
) -> np.ndarray:
    """Float64 reference for alpha * op(a) @ op(b) + beta * c, shape (M, N)."""
    opa, opb = _operands(a, b, transpose_a, transpose_b)
    m, n = opa.shape[0], opb.shape[1]
    if alpha == 0 or opa.shape[1] == 0:
        result = np.zeros((m, n), dtype=np.float64)
    elif np.isfinite(opa).all() and np.isfinite(opb).all():
        result = float(alpha) * (opa @ opb)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            result = float(alpha) * _ieee_product(opa, opb)
    if beta != 0:
        if c is None:
            raise ValueError("reference: beta != 0 needs c")
        c64 = np.asarray(c, dtype=np.float64)
        if c64.shape != (m, n):
            raise ValueError(f"reference: c has shape {c64.shape}, expected {(m, n)}")
        with np.errstate(invalid="ignore", over="ignore"):
            result = result + float(beta) * c64
    return result


def gemm_error_bound(
    a,
    b,
    transpose_a: bool = False,
    transpose_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    c=None,
) -> np.ndarray:
    """Elementwise |alpha| * |op(a)| @ |op(b)| + |beta| * |c| in float64, shape (M, N)."""
    opa, opb = _operands(a, b, transpose_a, transpose_b)
    m, n = opa.shape[0], opb.shape[1]
    if alpha == 0 or opa.shape[1] == 0:
        bound = np.zeros((m, n), dtype=np.float64)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            bound = abs(float(alpha)) * (np.abs(opa) @ np.abs(opb))
    if beta != 0:
        bound = bound + abs(float(beta)) * np.abs(np.asarray(c, dtype=np.float64))
    return bound


def gemm_tolerance(k: int, bound: np.ndarray) -> np.ndarray:
    """Allowed elementwise |got - ref| for a float32 GEMM with inner dimension k."""
    return EPS32 * (2.0 * math.sqrt(k) + 4.0) * bound + TINY32


def assert_close_gemm(got, ref: np.ndarray, bound: np.ndarray, k: int) -> None:
    """Checks a float32 GEMM result against the float64 reference.

    Non-finite reference entries must be reproduced exactly (NaN where NaN, +Inf where +Inf,
    -Inf where -Inf); finite ones must lie within gemm_tolerance(k, bound).

    Raises:
        AssertionError: naming the worst element, its value, the reference and the tolerance.
    """
    assert isinstance(got, np.ndarray), f"expected an ndarray, got {type(got).__name__}"
    assert got.dtype == np.float32, f"expected float32, got {got.dtype}"
    assert got.shape == ref.shape, f"expected shape {ref.shape}, got {got.shape}"
    got64 = got.astype(np.float64)
    for name, pred in (("NaN", np.isnan), ("+Inf", np.isposinf), ("-Inf", np.isneginf)):
        mismatch = pred(got64) != pred(ref)
        if mismatch.any():
            idx = tuple(int(i) for i in np.argwhere(mismatch)[0])
            raise AssertionError(
                f"{name} positions differ from the reference ({int(mismatch.sum())} elements);"
                f" first at {idx}: got {got64[idx]!r}, reference {ref[idx]!r}"
            )
    finite = np.isfinite(ref)
    if not finite.any():
        return
    tol = gemm_tolerance(k, bound)
    err = np.where(finite, np.abs(got64 - np.where(finite, ref, 0.0)), 0.0)
    bad = err > tol
    if bad.any():
        excess = np.where(bad, err / tol, 0.0)
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(excess), excess.shape))
        raise AssertionError(
            f"{int(bad.sum())} of {ref.size} elements outside the float32 GEMM tolerance"
            f" (K={k}); worst at {idx}: got {got64[idx]!r}, reference {ref[idx]!r},"
            f" |error| {err[idx]:.3e} > tolerance {tol[idx]:.3e}"
        )


def check_matmul(
    got,
    a,
    b,
    transpose_a: bool = False,
    transpose_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
    c=None,
) -> None:
    """Compares a float32 result of alpha * op(a) @ op(b) + beta * c with the reference.

    `c` is the content of `out` before the call (a copy), used only when beta != 0.
    """
    ref = ref_matmul(a, b, transpose_a, transpose_b, alpha, beta, c)
    bound = gemm_error_bound(a, b, transpose_a, transpose_b, alpha, beta, c)
    k = np.shape(a)[0] if transpose_a else np.shape(a)[1]
    assert_close_gemm(got, ref, bound, k)
