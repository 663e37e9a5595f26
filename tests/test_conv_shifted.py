"""Few-channel convolutions (at most 8 channels, one group, unit strides and dilations) on shifted
windows of the padded image: weight gradients, and forward passes with at least 16 filters and 8
floats per window row, against float64 references and against the im2col and direct paths, on
every CPU path, at 1 and 2 threads."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import _close, _geom, ref_conv2d, ref_conv2d_input_grad, ref_conv2d_kernel_grad

import pynncore
from pynncore import _core, ops


@pytest.fixture
def shifted(request):
    """Runs the test with the shifted-window kernels on (True) or off (False)."""
    previous = _core.set_conv_shifted_weights(request.param)
    try:
        yield request.param
    finally:
        _core.set_conv_shifted_weights(previous)


# (x shape, kernel (KH, KW), filters, padding). Rows of one kernel row's block (KW * C) below,
# at and above the register tile's height (4, 6, 12 on the three CPU paths); filter counts off
# the vector widths (masked column panels) and above one panel; asymmetric 'same' padding
# (even kernels); 'valid' outputs that leave input rows and columns unread; one-pixel outputs;
# one channel with many filters (one channel and at most 16 filters run the direct kernels).
CASES = [
    ((2, 9, 11, 3), (3, 3), 32, "same"),
    ((3, 7, 6, 3), (3, 3), 5, "valid"),
    ((1, 12, 10, 8), (3, 3), 40, "same"),
    ((2, 8, 9, 5), (2, 4), 17, "same"),
    ((2, 6, 13, 2), (5, 5), 70, "same"),
    ((4, 5, 5, 4), (1, 1), 33, "valid"),
    ((1, 6, 7, 7), (4, 3), 9, "valid"),
    ((2, 3, 3, 3), (3, 3), 16, "valid"),
    ((3, 10, 8, 1), (5, 5), 24, "same"),
    ((2, 1, 9, 6), (1, 3), 20, "same"),
]
IDS = [f"{c[0]}-k{c[1][0]}x{c[1][1]}-f{c[2]}-{c[3]}" for c in CASES]


@pytest.mark.parametrize("shifted", [True, False], indirect=True, ids=["shifted", "im2col"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_weight_gradients_match_reference(case, shifted, cpu_path, num_threads, rng):
    xs, k, f, padding = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(k + (xs[3], f)) / np.sqrt(k[0] * k[1] * xs[3])).astype(np.float32)
    out_hw, pads = _geom(xs, k, (1, 1), (1, 1), padding)
    dy = rng.standard_normal((xs[0],) + out_hw + (f,)).astype(np.float32)
    n_terms = xs[0] * out_hw[0] * out_hw[1]
    ref_dk = ref_conv2d_kernel_grad(x, dy, w.shape, (1, 1), pads, (1, 1))
    ref_db = dy.astype(np.float64).sum(axis=(0, 1, 2))
    none_dx, dk, db = ops.conv2d_backward(x, w, dy, padding=padding, need_dx=False)
    assert none_dx is None
    _close(dk, ref_dk, n_terms, "dkernel")
    _close(db, ref_db, n_terms, "dbias")
    # with the input gradient too: the weights as above, dx by the GEMM tiles
    dx, dk2, db2 = ops.conv2d_backward(x, w, dy, padding=padding)
    _close(dx, ref_conv2d_input_grad(dy, w, xs, (1, 1), pads, (1, 1)), k[0] * k[1] * f, "dx")
    if shifted:  # the same computation whether dx is wanted or not
        np.testing.assert_array_equal(dk2, dk)
        np.testing.assert_array_equal(db2, db)
    else:  # the im2col path tiles by image when it writes dx
        _close(dk2, ref_dk, n_terms, "dkernel with dx")
        _close(db2, ref_db, n_terms, "dbias with dx")


@pytest.mark.parametrize("case", CASES[:5], ids=IDS[:5])
def test_gradients_accumulate(case, rng):
    xs, k, f, padding = case
    x = rng.standard_normal(xs).astype(np.float32)
    out_hw, _ = _geom(xs, k, (1, 1), (1, 1), padding)
    dy = rng.standard_normal((xs[0],) + out_hw + (f,)).astype(np.float32)
    pad = (0, 0) if padding == "valid" else _geom(xs, k, (1, 1), (1, 1), padding)[1]
    dk = rng.standard_normal(k + (xs[3], f)).astype(np.float32)
    db = rng.standard_normal(f).astype(np.float32)
    dk0, db0 = dk.copy(), db.copy()
    _core.conv2d_backward(x, None, dy, None, dk, db, (1, 1), (1, 1), pad, accumulate=True)
    fresh_k, fresh_b = np.empty_like(dk), np.empty_like(db)
    _core.conv2d_backward(x, None, dy, None, fresh_k, fresh_b, (1, 1), (1, 1), pad)
    np.testing.assert_allclose(dk, dk0 + fresh_k, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(db, db0 + fresh_b, rtol=1e-6, atol=1e-5)


def test_shifted_and_im2col_paths_agree(rng):
    x = rng.standard_normal((16, 32, 32, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 64)).astype(np.float32)
    dy = rng.standard_normal((16, 32, 32, 64)).astype(np.float32)
    results = {}
    for on in (True, False):
        previous = _core.set_conv_shifted_weights(on)
        try:
            results[on] = ops.conv2d_backward(x, w, dy, padding="same", need_dx=False)[1:]
        finally:
            _core.set_conv_shifted_weights(previous)
    for a, b in zip(results[True], results[False]):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5 * float(np.abs(b).max()))


def test_deterministic_mode_gives_the_same_bits_at_any_thread_count(deterministic, restore_num_threads, rng):
    x = rng.standard_normal((19, 12, 12, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 24)).astype(np.float32)
    dy = rng.standard_normal((19, 12, 12, 24)).astype(np.float32)
    results = []
    for threads in (1, 2, 2):
        pynncore.set_num_threads(threads)
        results.append(ops.conv2d_backward(x, w, dy, padding="same", need_dx=False)[1:])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_nonfinite_inputs_reach_the_weight_gradients(rng):
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    x[1, 2, 3, 1] = np.nan
    dy = rng.standard_normal((2, 6, 6, 8)).astype(np.float32)
    _, dk, db = ops.conv2d_backward(x, np.zeros((3, 3, 3, 8), np.float32), dy, padding="same", need_dx=False)
    assert np.isnan(dk[:, :, 1, :]).all()  # every tap of channel 1 reads the NaN pixel
    assert np.isfinite(dk[:, :, [0, 2], :]).all() and np.isfinite(db).all()


# (x shape, kernel (KH, KW), filters, padding) of forward passes: window rows of 8 floats and
# more (KW * C), filter counts at, off and above the vector widths, rows of output pixels that
# split into register-tile blocks of unequal height, one-pixel outputs, asymmetric padding.
FORWARD_CASES = [
    ((2, 9, 11, 3), (3, 3), 32, "same"),
    ((3, 14, 14, 6), (5, 5), 16, "valid"),
    ((1, 12, 10, 8), (3, 3), 40, "same"),
    ((2, 8, 9, 4), (2, 4), 17, "same"),
    ((2, 6, 13, 2), (5, 5), 70, "same"),
    ((2, 3, 3, 3), (3, 3), 16, "valid"),
    ((1, 5, 29, 3), (7, 7), 24, "same"),
    ((2, 1, 9, 8), (1, 3), 20, "same"),
]
FORWARD_IDS = [f"{c[0]}-k{c[1][0]}x{c[1][1]}-f{c[2]}-{c[3]}" for c in FORWARD_CASES]


@pytest.mark.parametrize("shifted", [True, False], indirect=True, ids=["shifted", "direct"])
@pytest.mark.parametrize("case", FORWARD_CASES, ids=FORWARD_IDS)
def test_forward_matches_reference(case, shifted, cpu_path, num_threads, rng):
    xs, k, f, padding = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(k + (xs[3], f)) / np.sqrt(k[0] * k[1] * xs[3])).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    out_hw, pads = _geom(xs, k, (1, 1), (1, 1), padding)
    ref = ref_conv2d(x, w, b, (1, 1), pads, (1, 1), out_hw)
    _close(ops.conv2d(x, w, b, padding=padding), ref, k[0] * k[1] * xs[3], "y")
    _close(ops.conv2d(x, w, b, padding=padding, activation="relu"), np.maximum(ref, 0.0), k[0] * k[1] * xs[3], "relu(y)")


def test_forward_paths_agree(rng):
    x = rng.standard_normal((8, 32, 32, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 64)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    results = {}
    for on in (True, False):
        previous = _core.set_conv_shifted_weights(on)
        try:
            results[on] = ops.conv2d(x, w, b, padding="same")
        finally:
            _core.set_conv_shifted_weights(previous)
    scale = float(np.abs(results[False]).max())
    np.testing.assert_allclose(results[True], results[False], rtol=0, atol=2e-6 * scale)
