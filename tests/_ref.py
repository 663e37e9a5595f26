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


# ---------------------------------------------------------------------------------------------
# Activations (Keras 3 semantics), float64.
#
# ref_activation(name, z) is f(z) for the pre-activation z; ref_activation_grad(name, z) is
# (f'(z), C) and ref_activation_grad_from_y(name, y) is (f'(f^-1(y)), C) for activations whose
# backward pass reads the output y. C >= |f'| is the sum of the magnitudes of the terms f' is
# made of: the scale of the rounding error of any float32 evaluation of the formula, used as
# the backward tolerance (where f' crosses zero, e.g. gelu' at z = -0.75, a relative
# tolerance on f' alone could not be met by any float32 code).
#
# Every formula is written to be accurate in float64 over the whole float32 range and gives
# the mathematical limits at +-inf (gelu(-inf) = 0, sigmoid(-inf) = 0, ...) and NaN for NaN.

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_C = 0.044715
ACTIVATION_DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}

_erf64 = np.frompyfunc(math.erf, 1, 1)
_erfc64 = np.frompyfunc(math.erfc, 1, 1)


def _f64(z) -> np.ndarray:
    return np.asarray(z, dtype=np.float64)


def _sigmoid64(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _times_decaying(z: np.ndarray, g: np.ndarray) -> np.ndarray:
    """z * g(z) for a g that decays to 0 at -inf: 0 there instead of -inf * 0 = NaN."""
    return np.where(np.isneginf(z), 0.0, z * g)


def _softplus64(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _sech2(z: np.ndarray) -> np.ndarray:
    """1 - tanh(z)^2 without cancellation: 4 / (e^z + e^-z)^2 (0 for |z| -> inf)."""
    a = np.abs(z)
    e = np.exp(-2.0 * a)
    return 4.0 * e / (1.0 + e) ** 2


def ref_activation(name: str, z, alpha: float | None = None, approximate: bool = False):
    """f(z) in float64 (elementwise; softmax / log_softmax: see ref_softmax)."""
    z = _f64(z)
    if alpha is None:
        alpha = ACTIVATION_DEFAULT_ALPHA.get(name)
    with np.errstate(all="ignore"):
        if name == "linear":
            return z.copy()
        if name == "relu":
            return np.maximum(z, 0.0)
        if name == "relu6":
            return np.minimum(np.maximum(z, 0.0), 6.0)
        if name == "sigmoid":
            return _sigmoid64(z)
        if name == "hard_sigmoid":
            return np.minimum(np.maximum(z + 3.0, 0.0), 6.0) / 6.0
        if name == "tanh":
            return np.tanh(z)
        if name == "leaky_relu":
            neg = alpha * z if alpha != 0 else np.where(np.isnan(z), z, 0.0)
            return np.where(z > 0, z, neg)
        if name == "elu":
            return np.where(z > 0, z, alpha * np.expm1(z))
        if name == "selu":
            return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(z))
        if name == "softplus":
            return _softplus64(z)
        if name == "softsign":
            return np.where(np.isinf(z), np.sign(z), z / (1.0 + np.abs(z)))
        if name == "gelu" and not approximate:
            # z/2 (1 + erf(z / sqrt2)) = z/2 erfc(-z / sqrt2): accurate in the negative tail.
            phi = _erfc64(-z / math.sqrt(2.0)).astype(np.float64)
            return 0.5 * _times_decaying(z, phi)
        if name == "gelu":
            # z/2 (1 + tanh(u)) = z sigmoid(2u), u = sqrt(2/pi) (z + 0.044715 z^3).
            v = 2.0 * math.sqrt(2.0 / math.pi) * (z + GELU_TANH_C * z**3)
            return _times_decaying(z, _sigmoid64(v))
        if name in ("silu", "swish"):
            return _times_decaying(z, _sigmoid64(z))
        if name == "exponential":
            return np.exp(z)
        if name == "mish":
            return _times_decaying(z, np.tanh(_softplus64(z)))
    raise ValueError(f"ref_activation: unknown elementwise activation {name!r}")


def ref_activation_grad(name: str, z, alpha: float | None = None, approximate: bool = False):
    """(f'(z), C) in float64; see the section comment. relu'(0) = 0, and at the kinks of
    leaky_relu / elu the left slope is used."""
    z = _f64(z)
    if alpha is None:
        alpha = ACTIVATION_DEFAULT_ALPHA.get(name)
    nan = np.isnan(z)
    # Infinite z: the formulas below reach the limits at +-1e300 (finite, so z * 0 = 0).
    zc = np.clip(z, -1e300, 1e300)
    with np.errstate(all="ignore"):
        if name == "linear":
            d = np.ones_like(z)
            c = d
        elif name == "relu":
            d = (z > 0).astype(np.float64)
            c = d
        elif name == "relu6":
            d = ((z > 0) & (z < 6)).astype(np.float64)
            c = d
        elif name == "sigmoid":
            d = _sigmoid64(zc) * _sigmoid64(-zc)
            c = d
        elif name == "hard_sigmoid":
            d = ((z > -3) & (z < 3)) / 6.0
            c = d
        elif name == "tanh":
            d = _sech2(zc)
            c = d
        elif name == "leaky_relu":
            d = np.where(z > 0, 1.0, alpha)
            c = np.abs(d)
        elif name == "elu":
            d = np.where(z > 0, 1.0, alpha * np.exp(zc))
            c = np.abs(d)
        elif name == "selu":
            d = SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(zc))
            c = d
        elif name == "softplus":
            d = _sigmoid64(zc)
            c = d
        elif name == "softsign":
            d = 1.0 / (1.0 + np.abs(zc)) ** 2
            c = d
        elif name == "gelu" and not approximate:
            cdf = 0.5 * _erfc64(-zc / math.sqrt(2.0)).astype(np.float64)
            zpdf = zc * np.exp(-0.5 * zc * zc) / math.sqrt(2.0 * math.pi)
            d = cdf + zpdf
            c = cdf + np.abs(zpdf)
        elif name == "gelu":
            k = 2.0 * math.sqrt(2.0 / math.pi)
            v = k * (zc + GELU_TANH_C * zc**3)
            dv = k * (1.0 + 3.0 * GELU_TANH_C * zc * zc)
            s, om = _sigmoid64(v), _sigmoid64(-v)
            w = zc * s * om * dv
            d = s + np.where(np.isfinite(w), w, 0.0)
            c = s + np.abs(np.where(np.isfinite(w), w, 0.0))
        elif name in ("silu", "swish"):
            s, om = _sigmoid64(zc), _sigmoid64(-zc)
            d = s + zc * s * om
            c = s + np.abs(zc * s * om)
        elif name == "exponential":
            d = np.exp(z)
            c = d
        elif name == "mish":
            sp = _softplus64(zc)
            t = np.tanh(sp)
            w = zc * _sigmoid64(zc) * _sech2(sp)
            d = t + w
            c = np.abs(t) + np.abs(w)
        else:
            raise ValueError(f"ref_activation_grad: unknown elementwise activation {name!r}")
    d = np.where(nan, np.nan, d)
    return d, np.where(nan, np.nan, c)


def ref_activation_grad_from_y(name: str, y, alpha: float | None = None):
    """(f'(z), C) in float64 from the output y = f(z), for activations whose backward pass
    reads y."""
    y = _f64(y)
    if alpha is None:
        alpha = ACTIVATION_DEFAULT_ALPHA.get(name)
    nan = np.isnan(y)
    with np.errstate(all="ignore"):
        if name == "relu":
            d = (y > 0).astype(np.float64)
            c = d
        elif name == "relu6":
            d = ((y > 0) & (y < 6)).astype(np.float64)
            c = d
        elif name == "sigmoid":
            d = y * (1.0 - y)
            c = np.abs(y)
        elif name == "hard_sigmoid":
            d = ((y > 0) & (y < 1)) / 6.0
            c = d
        elif name == "tanh":
            d = (1.0 - y) * (1.0 + y)
            c = 1.0 + np.abs(y)
        elif name == "leaky_relu":
            d = np.where(y > 0, 1.0, alpha)
            c = np.abs(d)
        elif name == "elu":
            d = np.where(y > 0, 1.0, y + alpha)
            c = np.where(y > 0, 1.0, np.abs(y) + abs(alpha))
        elif name == "selu":
            d = np.where(y > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA)
            c = np.where(y > 0, SELU_SCALE, np.abs(y) + SELU_SCALE * SELU_ALPHA)
        elif name == "softplus":
            d = -np.expm1(-y)
            c = np.abs(d)
        elif name == "exponential":
            d = y.copy()
            c = np.abs(d)
        else:
            raise ValueError(f"ref_activation_grad_from_y: {name!r} does not read y")
    return np.where(nan, np.nan, d), np.where(nan, np.nan, c)


def ref_softmax(z, log: bool = False) -> np.ndarray:
    """softmax (or log_softmax) over the last axis in float64, with the row max subtracted.

    A row holding NaN or +inf is NaN, as is a row of -inf only (numpy's x - max)."""
    z = _f64(z)
    with np.errstate(all="ignore"):
        m = np.max(z, axis=-1, keepdims=True)
        t = z - m
        e = np.exp(t)
        # The row sum as k (entries equal to the max, each exp(0) = 1) + the rest, so that
        # log1p(k - 1 + rest) keeps log_softmax of a dominant entry (about -rest) accurate;
        # forming 1 + rest first would round rest away.
        k = np.sum(t == 0, axis=-1, keepdims=True)
        rest = np.sum(np.where(t < 0, e, 0.0), axis=-1, keepdims=True)
        rest = np.where(np.isnan(t).any(axis=-1, keepdims=True), np.nan, rest)
        if log:
            return t - np.log1p((k - 1.0) + rest)
        return e / (k + rest)


def ref_softmax_grad(y, dy, log: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(dx, C) in float64 from the output y and dy, over the last axis.

    softmax: dx = y (dy - <dy, y>);  log_softmax: dx = dy - exp(y) sum(dy).
    C bounds the rounding scale: y (|dy| + <|dy|, y>), resp. |dy| + exp(y) sum|dy|."""
    y, dy = _f64(y), _f64(dy)
    with np.errstate(all="ignore"):
        if log:
            p = np.exp(y)
            dx = dy - p * np.sum(dy, axis=-1, keepdims=True)
            c = np.abs(dy) + p * np.sum(np.abs(dy), axis=-1, keepdims=True)
        else:
            dx = y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
            c = np.abs(y) * (np.abs(dy) + np.sum(np.abs(dy * y), axis=-1, keepdims=True))
    return dx, c


def float32_ulp(ref) -> np.ndarray:
    """Spacing of float32 numbers at each value of `ref` (float64), subnormals included."""
    a = np.abs(_f64(ref))
    with np.errstate(all="ignore"):
        e = np.floor(np.log2(np.maximum(a, 2.0**-126)))
    return 2.0 ** (e - 23)


def assert_close_ref(got, ref, tol, what: str) -> None:
    """Elementwise check of a float32 result against a float64 reference.

    NaN / +Inf / -Inf must sit exactly where the reference has them; finite values must
    satisfy |got - ref| <= tol (an array or scalar, broadcast against ref).

    Raises:
        AssertionError: naming `what`, the worst element, its value, the reference, the
            tolerance and the number of failures.
    """
    got = np.asarray(got)
    ref = _f64(ref)
    assert got.shape == ref.shape, f"{what}: expected shape {ref.shape}, got {got.shape}"
    g = got.astype(np.float64).ravel()
    r = ref.ravel()
    for label, pred in (("NaN", np.isnan), ("+Inf", np.isposinf), ("-Inf", np.isneginf)):
        bad = pred(g) != pred(r)
        if bad.any():
            i = int(np.argmax(bad))
            raise AssertionError(
                f"{what}: {label} positions differ from the reference ({int(bad.sum())} of"
                f" {r.size}); first at flat index {i}: got {g[i]!r}, reference {r[i]!r}"
            )
    finite = np.isfinite(r)
    if not finite.any():
        return
    t = np.broadcast_to(np.asarray(tol, dtype=np.float64), ref.shape).ravel()
    with np.errstate(invalid="ignore"):
        err = np.where(finite, np.abs(g - np.where(finite, r, 0.0)), 0.0)
        bad = err > t
    if bad.any():
        excess = np.where(bad, err / np.maximum(t, 1e-300), 0.0)
        i = int(np.argmax(excess))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {r.size} elements outside tolerance; worst at flat"
            f" index {i}: got {g[i]!r}, reference {r[i]!r}, |error| {err[i]:.3e} >"
            f" tolerance {t[i]:.3e}"
        )


def ref_clip_gradients(grads, clipnorm=None, global_clipnorm=None, clipvalue=None) -> list:
    """Keras 3's gradient clipping of a list of float64 gradients: clipnorm (each gradient by
    its own norm) or global_clipnorm (all by their global norm), then clipvalue."""
    g = [np.array(x, np.float64).reshape(-1) for x in grads]
    if clipnorm is not None:
        g = [x * clipnorm / max(np.linalg.norm(x), clipnorm) for x in g]
    if global_clipnorm is not None:
        norm = np.sqrt(sum(np.sum(x * x) for x in g))
        g = [x * global_clipnorm / max(norm, global_clipnorm) for x in g]
    if clipvalue is not None:
        g = [np.clip(x, -clipvalue, clipvalue) for x in g]
    return g


def ref_grad_transform(g: np.ndarray, hp: dict) -> np.ndarray:
    """The native updates' gradient transform: ``clip(g * grad_scale, -clip_value, clip_value)``
    (no clipping for clip_value <= 0), with the keyword arguments `hp` of the update."""
    g = g * hp.get("grad_scale", 1.0)
    clip = hp.get("clip_value", 0.0)
    return np.clip(g, -clip, clip) if clip > 0 else g


def ref_resize(x, h: int, w: int, interpolation: str, crop: bool = False) -> np.ndarray:
    """Images ``(N, H, W, C)`` resized to ``(h, w)`` as Keras's ``Resizing`` (torch backend, no
    antialiasing): nearest takes ``floor((o + 0.5) * in / out)``, bilinear the two pixels around
    ``(o + 0.5) * in / out - 0.5``; ``crop`` first cuts the centered window with the aspect
    ratio ``h : w``."""
    x = np.asarray(x, np.float64)
    n, ih, iw, c = x.shape
    if crop:
        ch = max(min(ih, int(iw * h / w)), 1)
        cw = max(min(iw, int(ih * w / h)), 1)
        top, left = (ih - ch) // 2, (iw - cw) // 2
        x = x[:, top : top + ch, left : left + cw]
        ih, iw = ch, cw
    out = np.zeros((n, h, w, c))

    def taps(o, size_in, size_out):
        s = size_in / size_out
        if interpolation == "nearest":
            return [(min(int(np.floor((o + 0.5) * s)), size_in - 1), 1.0)]
        p = max((o + 0.5) * s - 0.5, 0.0)
        i0 = min(int(np.floor(p)), size_in - 1)
        i1 = min(i0 + 1, size_in - 1)
        return [(i0, 1.0 - (p - i0)), (i1, p - i0)]

    for i in range(h):
        for j in range(w):
            for a, wa in taps(i, ih, h):
                for b, wb in taps(j, iw, w):
                    out[:, i, j] += wa * wb * x[:, a, b]
    return out


def _source_index(k, size, fill_mode):
    """Index of the pixel that integer position k stands for, or None (constant fill)."""
    if 0 <= k < size:
        return k
    if fill_mode == "constant":
        return None
    if fill_mode == "nearest":
        return min(max(k, 0), size - 1)
    if fill_mode == "wrap":
        return k % size
    k = k % (2 * size)  # reflect: the image and its mirror image repeat with period 2 * size
    return k if k < size else 2 * size - 1 - k


def ref_affine_transform(x, matrix, interpolation: str, fill_mode: str, fill_value: float = 0.0) -> np.ndarray:
    """Images ``(N, H, W, C)`` resampled as Keras's ``ops.image.affine_transform``: output pixel
    ``(i, j)`` of image ``b`` reads the input at ``(b0 j + b1 i + b2, a0 j + a1 i + a2)`` with
    ``matrix[b] = [a0, a1, a2, b0, b1, b2, ...]``, nearest (half to even) or bilinear taps, and
    taps outside the image taken by ``fill_mode`` (constant: ``fill_value``)."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    out = np.zeros_like(x)
    for b in range(n):
        a0, a1, a2, b0, b1, b2 = (float(v) for v in matrix[b][:6])
        for i in range(h):
            for j in range(w):
                sy, sx = b0 * j + b1 * i + b2, a0 * j + a1 * i + a2
                if interpolation == "nearest":
                    taps_y, taps_x = [(round(sy), 1.0)], [(round(sx), 1.0)]
                else:
                    fy, fx = math.floor(sy), math.floor(sx)
                    taps_y = [(fy, 1.0 - (sy - fy)), (fy + 1, sy - fy)]
                    taps_x = [(fx, 1.0 - (sx - fx)), (fx + 1, sx - fx)]
                for ky, wy in taps_y:
                    for kx, wx in taps_x:
                        iy, ix = _source_index(ky, h, fill_mode), _source_index(kx, w, fill_mode)
                        value = fill_value if iy is None or ix is None else x[b, iy, ix]
                        out[b, i, j] += wy * wx * value
    return out
