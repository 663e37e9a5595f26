"""Loss kernels (pynncore.ops.loss / loss_and_grad, _core.loss) against float64 references.

The references below restate Keras 3's loss functions in float64 numpy, with Keras's float32
clip bounds ([float32(1e-7), float32(1 - 1e-7)] = [1.00000001e-7, 0.99999988]), and their
analytic gradients with respect to y_pred. The reference gradients are themselves checked
against central finite differences of the reference losses, so the kernel is compared with
an independently verified derivative. A few values are also pinned to the numbers the Keras
documentation prints.

Tolerances. Float32 has unit roundoff u = 6e-8. Each loss term takes a handful of rounded
operations (a subtraction, a log or exp accurate to about an ulp, a division), and a row's
mean or sum adds at most C * u relative error (C <= 33 here, 2e-6). Losses therefore agree to
rtol 1e-5 plus atol 1e-6 (for losses near 0). Gradients take one more division and, for the
crossentropies, a difference of two terms, so they agree to rtol 1e-4 plus 1e-5 of the
largest gradient magnitude. A wrong factor, sign or clip is off by orders of magnitude more.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from pynncore import _core, ops

EPS = float(np.float32(1e-7))
HI = float(np.float32(1.0 - 1e-7))

LOSS_RTOL, LOSS_ATOL = 1e-5, 1e-6
GRAD_RTOL, GRAD_ATOL_REL = 1e-4, 1e-5

SHAPES = [(0, 1), (0, 3), (1, 1), (1, 3), (3, 7), (7, 33), (33, 1), (33, 7), (3, 33)]
# Large enough (>= 65536 elements) for the kernel to split rows across two threads.
LARGE_SHAPE = (2049, 33)

CASES = [
    ("mean_squared_error", {}),
    ("mean_absolute_error", {}),
    ("huber", {}),
    ("huber", {"delta": 0.5}),
    ("binary_crossentropy", {}),
    ("binary_crossentropy", {"from_logits": True}),
    ("binary_crossentropy", {"label_smoothing": 0.1}),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.2}),
    ("categorical_crossentropy", {}),
    ("categorical_crossentropy", {"from_logits": True}),
    ("categorical_crossentropy", {"label_smoothing": 0.1}),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.3}),
    ("sparse_categorical_crossentropy", {}),
    ("sparse_categorical_crossentropy", {"from_logits": True}),
]


def _case_id(case) -> str:
    name, kw = case
    return name + "".join(f"-{k}={v}" for k, v in kw.items())


# ---------------------------------------------------------------------------------------------
# float64 references
# ---------------------------------------------------------------------------------------------


def _smoothed(name: str, y: np.ndarray, ls: float) -> np.ndarray:
    if ls == 0:
        return y
    if name == "binary_crossentropy":
        return y * (1 - ls) + 0.5 * ls
    return y * (1 - ls) + ls / y.shape[-1]


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def ref_loss(name, y, z, from_logits=False, delta=1.0, label_smoothing=0.0) -> np.ndarray:
    """Per-sample Keras loss of float64 (N, C) targets y (one-hot for sparse) and inputs z."""
    y = _smoothed(name, np.asarray(y, np.float64), label_smoothing)
    z = np.asarray(z, np.float64)
    e = z - y
    if name == "mean_squared_error":
        return (e * e).mean(axis=-1)
    if name == "mean_absolute_error":
        return np.abs(e).mean(axis=-1)
    if name == "huber":
        a = np.abs(e)
        return np.where(a <= delta, 0.5 * e * e, delta * a - 0.5 * delta * delta).mean(axis=-1)
    if name == "binary_crossentropy":
        if from_logits:
            terms = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        else:
            q = np.clip(z, EPS, HI)
            terms = -(y * np.log(q) + (1 - y) * np.log(1 - q))
        return terms.mean(axis=-1)
    # categorical and sparse categorical
    if from_logits:
        return (y * (_logsumexp(z) - z)).sum(axis=-1)
    q = z / z.sum(axis=-1, keepdims=True)
    return -(y * np.log(np.clip(q, EPS, HI))).sum(axis=-1)


def ref_grad(name, y, z, from_logits=False, delta=1.0, label_smoothing=0.0) -> np.ndarray:
    """d ref_loss[i] / d z[i, :], float64 (N, C)."""
    y = _smoothed(name, np.asarray(y, np.float64), label_smoothing)
    z = np.asarray(z, np.float64)
    c = z.shape[-1]
    e = z - y
    if name == "mean_squared_error":
        return 2 * e / c
    if name == "mean_absolute_error":
        return np.sign(e) / c
    if name == "huber":
        return np.where(np.abs(e) <= delta, e, delta * np.sign(e)) / c
    if name == "binary_crossentropy":
        if from_logits:
            return (0.5 * (1 + np.tanh(0.5 * z)) - y) / c  # sigmoid without overflow
        inside = (z >= EPS) & (z <= HI)
        q = np.clip(z, EPS, HI)
        return np.where(inside, (1 - y) / (1 - q) - y / q, 0.0) / c
    if from_logits:
        softmax = np.exp(z - _logsumexp(z))
        return softmax * y.sum(axis=-1, keepdims=True) - y
    s = z.sum(axis=-1, keepdims=True)
    q = z / s
    inside = (q >= EPS) & (q <= HI)
    dq = np.where(inside, -y / np.clip(q, EPS, HI), 0.0)
    return (dq - (dq * q).sum(axis=-1, keepdims=True)) / s


def one_hot(labels: np.ndarray, c: int) -> np.ndarray:
    return np.eye(c, dtype=np.float64)[np.asarray(labels, np.int64).reshape(-1)]


def make_inputs(name: str, kw: dict, n: int, c: int, rng: np.random.Generator):
    """(y_true as passed to the kernel, y_true as float64 one-hot/targets, y_pred float32)."""
    logits = kw.get("from_logits", False)
    if name in ("mean_squared_error", "mean_absolute_error", "huber"):
        y = rng.standard_normal((n, c)).astype(np.float32)
        z = rng.standard_normal((n, c)).astype(np.float32)
        return y, y.astype(np.float64), z
    if name == "binary_crossentropy":
        y = rng.uniform(0, 1, (n, c)).astype(np.float32)
        y[:, ::2] = np.round(y[:, ::2])  # hard and soft targets
        z = (
            (3 * rng.standard_normal((n, c))).astype(np.float32)
            if logits
            else rng.uniform(0.02, 0.98, (n, c)).astype(np.float32)
        )
        return y, y.astype(np.float64), z
    z = (
        (3 * rng.standard_normal((n, c))).astype(np.float32)
        if logits
        else rng.uniform(0.05, 1.0, (n, c)).astype(np.float32)  # rows not normalised
    )
    labels = rng.integers(0, c, n)
    if name == "sparse_categorical_crossentropy":
        return labels, one_hot(labels, c), z
    y = one_hot(labels, c)
    if n > 1:
        y[1::2] = rng.dirichlet(np.ones(c), size=len(y[1::2]))  # soft targets too
    y = y.astype(np.float32)
    return y, y.astype(np.float64), z


def assert_close(got, ref, rtol: float, atol: float, what: str) -> None:
    got = np.asarray(got)
    assert got.dtype == np.float32, f"{what}: expected float32, got {got.dtype}"
    assert got.shape == ref.shape, f"{what}: expected shape {ref.shape}, got {got.shape}"
    if ref.size == 0:
        return
    err = np.abs(got.astype(np.float64) - ref)
    tol = atol + rtol * np.abs(ref)
    bad = ~(err <= tol)  # NaN counts as bad
    if bad.any():
        idx = np.unravel_index(int(np.argmax(np.where(bad, err / tol, 0) + bad)), ref.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {ref.size} elements out of tolerance; worst at"
            f" {tuple(int(i) for i in idx)}: got {got[idx]!r}, reference {ref[idx]!r},"
            f" tolerance {tol[idx]:.3g}"
        )


def grad_atol(ref: np.ndarray) -> float:
    return GRAD_ATOL_REL * max(1.0, float(np.abs(ref).max())) if ref.size else 0.0


# ---------------------------------------------------------------------------------------------
# the references
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_reference_gradient_matches_finite_differences(case, rng):
    name, kw = case
    n, c = 3, 4
    _, y, z32 = make_inputs(name, kw, n, c, rng)
    z = z32.astype(np.float64)
    if name in ("mean_absolute_error", "huber"):
        # keep |e| away from the kinks at 0 and delta
        e = z - y
        mag = np.abs(e)
        mag = np.where(mag < 0.05, mag + 0.1, mag)
        mag = np.where(np.abs(mag - kw.get("delta", 1.0)) < 0.05, mag + 0.1, mag)
        z = y + np.sign(e) * mag
    analytic = ref_grad(name, y, z, **kw)
    numeric = np.empty_like(z)
    for i in range(n):
        for j in range(c):
            h = 1e-6 * max(1.0, abs(z[i, j]))
            zp, zm = z.copy(), z.copy()
            zp[i, j] += h
            zm[i, j] -= h
            numeric[i, j] = (ref_loss(name, y, zp, **kw)[i] - ref_loss(name, y, zm, **kw)[i]) / (
                2 * h
            )
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_reference_matches_keras_documented_values():
    # Values printed in the Keras 3 docstrings of these losses.
    y_true = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    y_pred = [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]
    np.testing.assert_allclose(
        ref_loss("categorical_crossentropy", y_true, y_pred), [0.0513, 2.303], atol=1e-3
    )
    yt, yp = [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]]
    np.testing.assert_allclose(ref_loss("binary_crossentropy", yt, yp), [0.916, 0.714], atol=1e-3)
    assert ref_loss("huber", yt, yp).mean() == pytest.approx(0.155)
    assert ref_loss("mean_squared_error", yt, [[1.0, 1.0], [1.0, 0.0]]).mean() == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------
# the kernel against the references
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_loss_and_grad_match_reference(case, cpu_path, num_threads, rng):
    name, kw = case
    shapes = SHAPES + [LARGE_SHAPE]
    label_dtypes = [np.int32, np.int64] if name == "sparse_categorical_crossentropy" else [None]
    for n, c in shapes:
        for label_dtype in label_dtypes:
            y_in, y, z = make_inputs(name, kw, n, c, rng)
            if label_dtype is not None:
                y_in = y_in.astype(label_dtype)
            ref = ref_loss(name, y, z, **kw)
            ref_g = ref_grad(name, y, z, **kw)
            what = f"{_case_id(case)} shape=({n}, {c})"

            assert_close(ops.loss(name, y_in, z, **kw), ref, LOSS_RTOL, LOSS_ATOL, what + " loss")

            per_sample, grad = ops.loss_and_grad(name, y_in, z, **kw)
            assert_close(per_sample, ref, LOSS_RTOL, LOSS_ATOL, what + " loss_and_grad loss")
            assert_close(grad, ref_g, GRAD_RTOL, grad_atol(ref_g), what + " grad")

            scale = rng.uniform(-2, 2, n).astype(np.float32)
            _, grad = ops.loss_and_grad(name, y_in, z, row_scale=scale, **kw)
            scaled = ref_g * scale.astype(np.float64)[:, None]
            assert_close(grad, scaled, GRAD_RTOL, grad_atol(scaled), what + " row_scale grad")


def test_core_loss_writes_outputs_in_place_and_never_reads_them(rng):
    y = rng.uniform(0, 1, (5, 4)).astype(np.float32)
    z = rng.uniform(0.1, 0.9, (5, 4)).astype(np.float32)
    per_sample = np.full(5, np.nan, np.float32)
    grad = np.full((5, 4), np.nan, np.float32)
    assert _core.loss("binary_crossentropy", y, z, per_sample, grad) is None
    assert_close(per_sample, ref_loss("binary_crossentropy", y, z), LOSS_RTOL, LOSS_ATOL, "loss")
    ref_g = ref_grad("binary_crossentropy", y, z)
    assert_close(grad, ref_g, GRAD_RTOL, grad_atol(ref_g), "grad")
    out, g_out = np.empty(5, np.float32), np.empty((5, 4), np.float32)
    r1, r2 = ops.loss_and_grad("binary_crossentropy", y, z, out=out, grad_out=g_out)
    assert r1 is out and r2 is g_out


def test_kernel_matches_keras_documented_values():
    y_true = np.array([[0, 1, 0], [0, 0, 1]], np.float32)
    y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]], np.float32)
    np.testing.assert_allclose(
        ops.loss("categorical_crossentropy", y_true, y_pred), [0.0513, 2.303], atol=1e-3
    )
    np.testing.assert_allclose(
        ops.loss("sparse_categorical_crossentropy", [1, 2], y_pred), [0.0513, 2.303], atol=1e-3
    )
    yt, yp = [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]]
    np.testing.assert_allclose(ops.loss("binary_crossentropy", yt, yp), [0.916, 0.714], atol=1e-3)
    np.testing.assert_allclose(ops.loss("huber", yt, yp), [0.18, 0.13], atol=1e-6)
    np.testing.assert_allclose(ops.loss("mse", yt, yp), [0.36, 0.26], atol=1e-6)
    np.testing.assert_allclose(ops.loss("mae", yt, yp), [0.6, 0.5], atol=1e-6)


# ---------------------------------------------------------------------------------------------
# saturated inputs, clipping, kinks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]
)
def test_saturated_logits_give_finite_exact_values(name, cpu_path):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], np.float32)
    labels = np.array([1, 2, 0])
    y = (
        one_hot(labels, 3)
        if name != "binary_crossentropy"
        else np.array([[0, 1, 1], [0, 0, 1], [1, 0, 0]], np.float64)
    )
    y_in = labels if name == "sparse_categorical_crossentropy" else y.astype(np.float32)
    per_sample, grad = ops.loss_and_grad(name, y_in, z, from_logits=True)
    assert np.isfinite(per_sample).all() and np.isfinite(grad).all()
    ref = ref_loss(name, y, z, from_logits=True)
    ref_g = ref_grad(name, y, z, from_logits=True)
    assert_close(per_sample, ref, LOSS_RTOL, LOSS_ATOL, name)
    assert_close(grad, ref_g, GRAD_RTOL, 1e-6, name + " grad")
    if name != "binary_crossentropy":
        # row 0: label 1 has logit -1e4 against 1e4: loss 2e4; row 1: right class, loss 0
        assert per_sample[0] == pytest.approx(2e4, rel=1e-6)
        assert per_sample[1] == 0.0


def test_binary_crossentropy_clips_probabilities_like_keras():
    y = np.array([[1, 1, 0, 0, 1, 0, 1]], np.float32)
    p = np.array([[1.0, 0.0, 1.0, 0.0, 1e-9, 1 - 1e-9, HI]], np.float32)
    per_sample, grad = ops.loss_and_grad("binary_crossentropy", y, p)
    hi32 = np.float32(HI)
    terms = np.array(
        [
            -np.log(np.float64(hi32)),  # p = 1, y = 1: clipped to 1 - eps
            -np.log(EPS),  # p = 0, y = 1
            -np.log(1 - np.float64(hi32)),  # p = 1, y = 0
            -np.log(1 - EPS),  # p = 0, y = 0
            -np.log(EPS),
            -np.log(1 - np.float64(hi32)),  # 1 - 1e-9 rounds to 1.0 in float32
            -np.log(np.float64(hi32)),  # exactly the upper bound: not clipped
        ]
    )
    assert per_sample[0] == pytest.approx(terms.mean(), rel=1e-6)
    # zero gradient where clipped; the bound itself passes it: d/dp -log p = -1/p, over C = 7
    np.testing.assert_array_equal(grad[0, :6], 0.0)
    assert grad[0, 6] == pytest.approx(-1 / np.float64(hi32) / 7, rel=1e-6)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_categorical_probabilities_exactly_zero_or_one(name):
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]], np.float32)
    labels = np.array([0, 0, 2])
    y = one_hot(labels, 3)
    y_in = labels if name == "sparse_categorical_crossentropy" else y.astype(np.float32)
    per_sample, grad = ops.loss_and_grad(name, y_in, p)
    assert np.isfinite(per_sample).all() and np.isfinite(grad).all()
    assert per_sample[0] == pytest.approx(-np.log(HI), rel=1e-5)  # right and certain
    assert per_sample[1] == pytest.approx(-np.log(EPS), rel=1e-6)  # wrong and certain
    assert per_sample[2] == pytest.approx(-np.log(HI), rel=1e-5)  # row normalised to sum 1
    # every q is clipped (0 or 1): zero gradient everywhere
    np.testing.assert_array_equal(grad, 0.0)
    assert_close(per_sample, ref_loss(name, y, p), LOSS_RTOL, LOSS_ATOL, name)


def test_categorical_probabilities_row_summing_to_zero_gives_nan_like_keras():
    per_sample = ops.loss("categorical_crossentropy", [[1.0, 0.0]], [[0.0, 0.0]])
    assert np.isnan(per_sample[0])


def test_mae_and_huber_gradient_at_zero_error_is_zero():
    y = np.array([[0.5, -1.0, 2.0]], np.float32)
    for name in ("mean_absolute_error", "huber"):
        _, grad = ops.loss_and_grad(name, y, y.copy())
        np.testing.assert_array_equal(grad, 0.0)
    # huber: quadratic inside delta (inclusive), linear outside
    _, grad = ops.loss_and_grad("huber", [[0.0, 0.0, 0.0]], [[0.5, -0.5, 3.0]], delta=0.5)
    np.testing.assert_allclose(grad, [[0.5 / 3, -0.5 / 3, 0.5 / 3]], rtol=1e-6)


def test_sparse_logits_equal_categorical_with_one_hot(rng):
    z = (4 * rng.standard_normal((9, 5))).astype(np.float32)
    labels = rng.integers(0, 5, 9)
    a, ga = ops.loss_and_grad("sparse_categorical_crossentropy", labels, z, from_logits=True)
    b, gb = ops.loss_and_grad("categorical_crossentropy", one_hot(labels, 5), z, from_logits=True)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ga, gb, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# shapes accepted by ops
# ---------------------------------------------------------------------------------------------


def test_column_vectors_and_higher_rank(rng):
    y = rng.uniform(0, 1, 6).astype(np.float32)
    z = rng.uniform(0.1, 0.9, 6).astype(np.float32)
    ref = ref_loss("binary_crossentropy", y[:, None], z[:, None])
    for yt, yp in ((y, z), (y[:, None], z), (y, z[:, None]), (y[:, None], z[:, None])):
        per_sample, grad = ops.loss_and_grad("binary_crossentropy", yt, yp)
        assert per_sample.shape == (6,) and grad.shape == np.shape(yp)
        assert_close(per_sample, ref, LOSS_RTOL, LOSS_ATOL, "column")

    z3 = (2 * rng.standard_normal((4, 3, 5))).astype(np.float32)
    labels = rng.integers(0, 5, (4, 3))
    per_sample, grad = ops.loss_and_grad(
        "sparse_categorical_crossentropy", labels, z3, from_logits=True
    )
    assert per_sample.shape == (4, 3) and grad.shape == (4, 3, 5)
    flat = z3.reshape(-1, 5)
    y = one_hot(labels, 5)
    assert_close(
        per_sample.reshape(-1),
        ref_loss("categorical_crossentropy", y, flat, from_logits=True),
        LOSS_RTOL,
        LOSS_ATOL,
        "rank 3",
    )
    ref_g = ref_grad("categorical_crossentropy", y, flat, from_logits=True)
    assert_close(grad.reshape(-1, 5), ref_g, GRAD_RTOL, grad_atol(ref_g), "rank 3 grad")


def test_inputs_are_converted(rng):
    # float64, non-contiguous, integer and (N, 1) labels, integral float labels, lists
    z = rng.uniform(0.1, 1.0, (6, 8))[:, ::2]
    labels = rng.integers(0, 4, 6)
    ref = ref_loss("sparse_categorical_crossentropy", one_hot(labels, 4), z.astype(np.float32))
    for lab in (
        labels,
        labels.astype(np.uint8),
        labels[:, None],
        labels.astype(np.float64),
        labels.tolist(),
        labels.astype(np.int16),
    ):
        assert_close(
            ops.loss("sparse_categorical_crossentropy", lab, z), ref, LOSS_RTOL, LOSS_ATOL, "conv"
        )


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


def test_out_of_range_labels_are_rejected_before_writing():
    z = np.full((3, 4), 0.25, np.float32)
    for bad in (4, -1, 100):
        labels = np.array([0, bad, 1], np.int64)
        per_sample = np.full(3, 7.0, np.float32)
        grad = np.full((3, 4), 7.0, np.float32)
        msg = rf"label {bad} \(row 1\) is out of range.*\[0, 4\).*4 classes"
        with pytest.raises(ValueError, match=msg):
            _core.loss("sparse_categorical_crossentropy", labels, z, per_sample, grad)
        assert (per_sample == 7.0).all() and (grad == 7.0).all()
        with pytest.raises(ValueError, match=msg):
            ops.loss("sparse_categorical_crossentropy", labels.astype(np.int32), z)


def test_unknown_loss_name():
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'.*'mean_squared_error'"):
        ops.loss("hinge", [[1.0]], [[1.0]])
    with pytest.raises(TypeError, match="name must be a string"):
        ops.loss(3, [[1.0]], [[1.0]])


@pytest.mark.parametrize(
    "name, kw, match",
    [
        ("mse", {"from_logits": True}, "from_logits=True applies only to the crossentropy"),
        ("huber", {"delta": 0.0}, "delta must be a finite number > 0; got 0"),
        ("huber", {"delta": -1.0}, "delta must be a finite number > 0"),
        ("mae", {"label_smoothing": 0.1}, "label_smoothing applies only to binary"),
        ("sparse_categorical_crossentropy", {"label_smoothing": 0.1}, "label_smoothing applies"),
        ("binary_crossentropy", {"label_smoothing": 1.5}, r"label_smoothing must be in \[0, 1\]"),
        ("categorical_crossentropy", {"label_smoothing": -0.1}, "label_smoothing must be in"),
    ],
)
def test_bad_parameters(name, kw, match):
    y = [[0.0, 1.0]] if name != "sparse_categorical_crossentropy" else [1]
    with pytest.raises(ValueError, match=match):
        ops.loss(name, y, [[0.5, 0.5]], **kw)


def test_shape_errors_name_both_shapes():
    with pytest.raises(
        ValueError, match=r"y_true must have the shape of y_pred \(2, 3\); got shape \(2, 4\)"
    ):
        ops.loss("mse", np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(
        ValueError, match=r"labels\) must have shape \(2,\) or \(2, 1\).*got shape \(3,\)"
    ):
        ops.loss("sparse_categorical_crossentropy", [0, 1, 2], np.ones((2, 3)))
    with pytest.raises(
        ValueError, match=r"y_pred must have shape \(N, C\) with one column per class"
    ):
        ops.loss("sparse_categorical_crossentropy", [0, 1], np.ones(2))
    with pytest.raises(ValueError, match=r"row_scale must have shape \(2,\); got shape \(3,\)"):
        ops.loss_and_grad("mse", np.zeros((2, 3)), np.zeros((2, 3)), row_scale=np.ones(3))
    with pytest.raises(ValueError, match="at least one column"):
        ops.loss("mse", np.zeros((2, 0)), np.zeros((2, 0)))
    with pytest.raises(ValueError, match="got a scalar"):
        ops.loss("mse", 1.0, 1.0)
    with pytest.raises(ValueError, match="must hold integer class labels; got 1.5"):
        ops.loss("sparse_categorical_crossentropy", [0, 1.5], np.ones((2, 3)))


def test_type_errors():
    with pytest.raises(
        TypeError, match="y_pred must be a real numeric array; got dtype complex128"
    ):
        ops.loss("mse", [[1.0]], np.array([[1j]]))
    with pytest.raises(TypeError, match="y_true must hold integer class labels; got dtype <U1"):
        ops.loss("sparse_categorical_crossentropy", ["a"], np.ones((1, 2)))
    y = np.zeros((2, 3), np.float32)
    ps = np.empty(2, np.float32)
    with pytest.raises(TypeError, match="y_pred must have dtype float32; got dtype float64"):
        _core.loss("mse", y, y.astype(np.float64), ps)
    with pytest.raises(
        TypeError,
        match="y_true must be a numpy.ndarray of dtype float32; got an object of type list",
    ):
        _core.loss("mse", [[0.0] * 3] * 2, y, ps)
    with pytest.raises(
        TypeError, match=r"y_true \(labels\) must have dtype int32 or int64; got dtype float32"
    ):
        _core.loss("sparse_categorical_crossentropy", np.zeros(2, np.float32), y, ps)
    with pytest.raises(TypeError, match="per_sample must have dtype float32; got dtype float64"):
        _core.loss("mse", y, y, np.empty(2))
    with pytest.raises(TypeError, match="out must have dtype float32; got dtype float64"):
        ops.loss("mse", y, y, out=np.empty(2))
    with pytest.raises(TypeError, match="grad_out must be a numpy.ndarray"):
        ops.loss_and_grad("mse", y, y, grad_out=[0.0])


def test_output_layout_errors():
    y = np.zeros((4, 3), np.float32)
    ps = np.empty(4, np.float32)
    with pytest.raises(ValueError, match=r"per_sample must have shape \(4,\); got shape \(5,\)"):
        _core.loss("mse", y, y, np.empty(5, np.float32))
    with pytest.raises(
        ValueError, match=r"grad must have the shape of y_pred \(4, 3\); got shape \(3, 4\)"
    ):
        _core.loss("mse", y, y, ps, np.empty((3, 4), np.float32))
    with pytest.raises(ValueError, match="per_sample must be C-contiguous"):
        _core.loss("mse", y, y, np.empty(8, np.float32)[::2])
    with pytest.raises(ValueError, match="grad_out must be C-contiguous"):
        ops.loss_and_grad("mse", y, y, grad_out=np.empty((3, 4), np.float32).T)
    ro = np.empty(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="per_sample is read-only"):
        _core.loss("mse", y, y, ro)
    with pytest.raises(ValueError, match="out is read-only"):
        ops.loss("mse", y, y, out=ro)
    with pytest.raises(ValueError, match="y_pred must be C-contiguous"):
        _core.loss("mse", y, y.T.copy().T, ps)
    # an output sharing memory with an input is refused, not silently computed wrong
    z = np.random.default_rng(0).uniform(0.1, 0.9, (4, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="grad shares memory with y_pred"):
        _core.loss("categorical_crossentropy", y, z, ps, z)
    with pytest.raises(ValueError, match="per_sample shares memory with y_true"):
        _core.loss("mse", y, z, y.reshape(-1)[:4])
    with pytest.raises(ValueError, match="per_sample shares memory with grad"):
        g = np.empty((4, 3), np.float32)
        _core.loss("mse", y, z, g.reshape(-1)[:4], g)


def test_error_messages_name_the_loss():
    with pytest.raises(ValueError, match=re.escape("categorical_crossentropy: y_true must have")):
        ops.loss("categorical_crossentropy", np.zeros((2, 2)), np.ones((2, 3)))
