"""Winograd convolutions (3x3 kernels, unit strides, >= 16 channels and filters) against
float64 references, on every CPU path, at 1 and 2 threads, with both tile sizes."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import _close, _geom, _transpose_geom, ref_conv2d, ref_conv2d_input_grad, ref_conv2d_kernel_grad

import pynncore
from pynncore import _core, layers, ops
from pynncore.models import Sequential


@pytest.fixture
def winograd(request):
    """Runs the test with the Winograd kernels on (True) or off (False), restoring the setting."""
    previous = _core.set_conv_winograd(request.param)
    try:
        yield request.param
    finally:
        _core.set_conv_winograd(previous)


# (x shape, filters, padding). Outputs of 1-16 pixels per side pick 2x2 or 4x4 output tiles
# (6x6 outputs waste a third of 4x4 tiles and take 2x2); channel and filter counts that are
# not multiples of any vector width exercise the masked lanes; several images per block and
# blocks that end inside an image exercise the tile walk.
CASES = [
    ((2, 8, 8, 16), 16, "same"),
    ((1, 16, 16, 32), 48, "same"),
    ((3, 7, 9, 17), 20, "same"),
    ((2, 6, 6, 16), 33, "same"),
    ((2, 13, 11, 33), 16, "valid"),
    ((1, 5, 4, 20), 17, "valid"),
    ((4, 3, 3, 16), 16, "valid"),
    ((2, 1, 1, 16), 24, "same"),
    ((1, 2, 9, 24), 16, "same"),
    ((5, 12, 12, 16), 64, "same"),
    ((1, 9, 10, 64), 24, "valid"),
    ((9, 4, 4, 40), 40, "same"),
]
IDS = [f"{c[0]}-f{c[1]}-{c[2]}" for c in CASES]

# Conv1D with kernel 3: 1-D tiles F(4, 3) / F(2, 3) along the sequence. (x shape (N, L, C),
# filters, padding). Output lengths of 1, 5 and 6 pick 2-tiles; odd lengths end in partial
# tiles; channel and filter counts off the vector widths exercise the masked lanes; long
# sequences and many of them give several blocks that start and end inside a sequence.
CASES_1D = [
    ((2, 16, 16), 16, "same"),
    ((3, 17, 17), 20, "same"),
    ((2, 6, 16), 33, "same"),
    ((2, 13, 33), 16, "valid"),
    ((1, 5, 20), 17, "causal"),
    ((4, 3, 16), 16, "valid"),
    ((2, 1, 16), 24, "same"),
    ((3, 1, 16), 16, "causal"),
    ((5, 64, 16), 64, "same"),
    ((9, 41, 40), 40, "causal"),
    ((1, 1003, 64), 24, "valid"),
    ((3, 517, 48), 96, "same"),
]
IDS_1D = [f"{c[0]}-f{c[1]}-{c[2]}" for c in CASES_1D]


def _conv1d_geom(length, padding):
    """(output length, left padding) of a kernel-3, unit-stride Conv1D."""
    if padding == "valid":
        return length - 2, 0
    if padding == "same":
        return length, 1
    return length, 2


def _on_and_off(run):
    """{True: run() with the Winograd kernels on, False: run() with them off}."""
    results = {}
    for on in (True, False):
        previous = _core.set_conv_winograd(on)
        try:
            results[on] = run()
        finally:
            _core.set_conv_winograd(previous)
    return results


@pytest.mark.parametrize("winograd", [True, False], indirect=True, ids=["winograd", "gemm"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv3x3_forward_and_backward_match_reference(case, winograd, cpu_path, num_threads, rng):
    xs, f, padding = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((3, 3, xs[3], f)) / np.sqrt(9 * xs[3])).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    out_hw, pads = _geom(xs, (3, 3), (1, 1), (1, 1), padding)
    y = ops.conv2d(x, w, b, padding=padding, activation="relu")
    _close(y, np.maximum(ref_conv2d(x, w, b, (1, 1), pads, (1, 1), out_hw), 0.0), 9 * xs[3], "y")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dk, db = ops.conv2d_backward(x, w, dy, padding=padding)
    _close(dx, ref_conv2d_input_grad(dy, w, xs, (1, 1), pads, (1, 1)), 9 * f, "dx")
    _close(dk, ref_conv2d_kernel_grad(x, dy, w.shape, (1, 1), pads, (1, 1)), y.size // f, "dkernel")
    _close(db, dy.astype(np.float64).sum(axis=(0, 1, 2)), y.size // f, "dbias")
    # the weight gradient alone (no dx) takes its own path
    none_dx, dk2, db2 = ops.conv2d_backward(x, w, dy, padding=padding, need_dx=False)
    assert none_dx is None
    np.testing.assert_allclose(dk2, dk, rtol=0, atol=1e-5 * float(np.abs(dk).max()))
    np.testing.assert_allclose(db2, db, rtol=0, atol=1e-6 * float(np.abs(db).max()))


@pytest.mark.parametrize("case", CASES[:6] + CASES_1D[:6] + CASES_1D[-2:], ids=IDS[:6] + IDS_1D[:6] + IDS_1D[-2:])
def test_winograd_and_gemm_paths_agree(case, rng):
    xs, f, padding = case
    if len(xs) == 4:
        conv, conv_backward, taps = ops.conv2d, ops.conv2d_backward, (3, 3)
    else:
        conv, conv_backward, taps = ops.conv1d, ops.conv1d_backward, (3,)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(taps + (xs[-1], f)) / np.sqrt(3 ** len(taps) * xs[-1])).astype(np.float32)
    dy = rng.standard_normal(conv(x, w, padding=padding).shape).astype(np.float32)
    results = _on_and_off(lambda: (conv(x, w, padding=padding),) + conv_backward(x, w, dy, padding=padding))
    for name, a, b in zip(("y", "dx", "dkernel", "dbias"), results[True], results[False]):
        scale = float(np.abs(b).max())
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5 * scale, err_msg=name)


def test_large_inputs_keep_their_relative_accuracy(rng):
    """The 4x4-tile transforms scale values by up to about 100: relative error stays small."""
    x = (rng.standard_normal((2, 16, 16, 128)) * 1e3).astype(np.float32)
    w = (rng.standard_normal((3, 3, 128, 32)) * 1e-3).astype(np.float32)
    y = ops.conv2d(x, w, padding="same")
    ref = ref_conv2d(x, w, None, (1, 1), (1, 1), (1, 1), (16, 16))
    rel = np.abs(y - ref).max() / np.abs(ref).max()
    assert rel < 2e-5, rel


@pytest.mark.parametrize("winograd", [True], indirect=True)
@pytest.mark.parametrize("xs, f, padding", [((2, 8, 8, 16), 24, "same"), ((1, 5, 7, 32), 16, "valid")], ids=str)
def test_conv2d_transpose_3x3_matches_reference(xs, f, padding, winograd, cpu_path, rng):
    """Transposed convolutions run the Winograd input-gradient pass with a bias and activation."""
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((3, 3, f, xs[3])) / np.sqrt(9 * xs[3])).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    geo = [_transpose_geom(xs[1 + i], 3, 1, 1, padding, None) for i in range(2)]
    out_shape = (xs[0], geo[0][0], geo[1][0], f)
    y = ops.conv2d_transpose(x, w, b, padding=padding, activation="tanh")
    ref = np.tanh(ref_conv2d_input_grad(x, w, out_shape, (1, 1), (geo[0][1], geo[1][1]), (1, 1)) + b)
    _close(y, ref, 9 * xs[3], "y")


def test_set_conv_winograd_returns_the_previous_setting():
    previous = _core.set_conv_winograd(False)
    try:
        assert _core.set_conv_winograd(True) is False
        assert _core.set_conv_winograd(True) is True
    finally:
        _core.set_conv_winograd(previous)


@pytest.mark.parametrize("dims", [2, 1], ids=["conv2d", "conv1d"])
def test_conv_layers_train_identically_on_both_paths(dims, rng):
    """A Conv2D / Conv1D model's weights after a few SGD steps agree between the two paths."""
    if dims == 2:
        shape, conv, first_padding = (10, 10, 16), layers.Conv2D, "same"
    else:
        shape, conv, first_padding = (37, 16), layers.Conv1D, "causal"
    x = rng.standard_normal((8,) + shape).astype(np.float32)
    y = rng.standard_normal((8,) + shape[:-1] + (4,)).astype(np.float32)

    def train():
        pynncore.utils.set_random_seed(3)
        model = Sequential([layers.Input(shape), conv(32, 3, padding=first_padding, activation="relu"),
                            conv(4, 3, padding="same")])
        model.compile(optimizer="sgd", loss="mse")
        for _ in range(3):
            model.train_on_batch(x, y)
        return model.get_weights()

    weights = _on_and_off(train)
    for a, b in zip(weights[True], weights[False]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("channels", [700, 1100], ids=["2x2-tiles", "gemm-tiles"])
def test_wide_layers_fall_back_to_smaller_transformed_kernels(channels, rng):
    """Layers whose 4x4-tile kernel planes would pass 64 MiB use 2x2 tiles, and beyond that the
    GEMM tiles; either way the results match the reference."""
    x = rng.standard_normal((1, 5, 4, channels)).astype(np.float32)
    w = (rng.standard_normal((3, 3, channels, channels)) / np.sqrt(9 * channels)).astype(np.float32)
    y = ops.conv2d(x, w, padding="same")
    _close(y, ref_conv2d(x, w, None, (1, 1), (1, 1), (1, 1), (5, 4)), 9 * channels, "y")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dk, _ = ops.conv2d_backward(x, w, dy, padding="same")
    _close(dx, ref_conv2d_input_grad(dy, w, x.shape, (1, 1), (1, 1), (1, 1)), 9 * channels, "dx")
    _close(dk, ref_conv2d_kernel_grad(x, dy, w.shape, (1, 1), (1, 1), (1, 1)), 20, "dkernel")


@pytest.mark.parametrize("winograd", [True, False], indirect=True, ids=["winograd", "gemm"])
@pytest.mark.parametrize("case", CASES_1D, ids=IDS_1D)
def test_conv1d_kernel3_forward_and_backward_match_reference(case, winograd, cpu_path, num_threads, rng):
    xs, f, padding = case
    n, length, c = xs
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((3, c, f)) / np.sqrt(3 * c)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    ol, pad = _conv1d_geom(length, padding)
    y = ops.conv1d(x, w, b, padding=padding, activation="relu")
    ref = ref_conv2d(x[:, None], w[None], b, (1, 1), (0, pad), (1, 1), (1, ol))[:, 0]
    _close(y, np.maximum(ref, 0.0), 3 * c, "y")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dk, db = ops.conv1d_backward(x, w, dy, padding=padding)
    _close(dx, ref_conv2d_input_grad(dy[:, None], w[None], (n, 1, length, c), (1, 1), (0, pad), (1, 1))[:, 0], 3 * f, "dx")
    dk_ref = ref_conv2d_kernel_grad(x[:, None], dy[:, None], (1,) + w.shape, (1, 1), (0, pad), (1, 1))[0]
    _close(dk, dk_ref, n * ol, "dkernel")
    _close(db, dy.astype(np.float64).sum(axis=(0, 1)), n * ol, "dbias")
    # the weight gradient alone (no dx) takes its own path
    # (on long sequences the float32 sums of several threads differ from run to run by more
    # than the 2-D test's 1e-6 of the largest value: both runs are compared with float64)
    none_dx, dk2, db2 = ops.conv1d_backward(x, w, dy, padding=padding, need_dx=False)
    assert none_dx is None
    _close(dk2, dk_ref, n * ol, "dkernel without dx")
    _close(db2, dy.astype(np.float64).sum(axis=(0, 1)), n * ol, "dbias without dx")


@pytest.mark.parametrize("winograd", [True, False], indirect=True, ids=["winograd", "gemm"])
@pytest.mark.parametrize("xs, f", [((2, 3, 7, 16), 24), ((1, 4, 9, 32), 17)], ids=str)
def test_conv2d_1x3_kernels_on_images_match_reference(xs, f, winograd, cpu_path, num_threads, rng):
    """A (1, 3) Conv2D kernel runs the 1-D tiles on every image row."""
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((1, 3, xs[3], f)) / np.sqrt(3 * xs[3])).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    for padding in ("same", "valid"):
        out_hw, pads = _geom(xs, (1, 3), (1, 1), (1, 1), padding)
        y = ops.conv2d(x, w, b, padding=padding)
        _close(y, ref_conv2d(x, w, b, (1, 1), pads, (1, 1), out_hw), 3 * xs[3], "y")
        dy = rng.standard_normal(y.shape).astype(np.float32)
        dx, dk, db = ops.conv2d_backward(x, w, dy, padding=padding)
        _close(dx, ref_conv2d_input_grad(dy, w, xs, (1, 1), pads, (1, 1)), 3 * f, "dx")
        _close(dk, ref_conv2d_kernel_grad(x, dy, w.shape, (1, 1), pads, (1, 1)), y.size // f, "dkernel")


def test_conv1d_large_inputs_keep_their_relative_accuracy(rng):
    """F(4, 3) scales values by up to about 10 along one axis: relative error stays small."""
    x = (rng.standard_normal((2, 64, 128)) * 1e3).astype(np.float32)
    w = (rng.standard_normal((3, 128, 32)) * 1e-3).astype(np.float32)
    y = ops.conv1d(x, w, padding="same")
    ref = ref_conv2d(x[:, None], w[None], None, (1, 1), (0, 1), (1, 1), (1, 64))[:, 0]
    rel = np.abs(y - ref).max() / np.abs(ref).max()
    assert rel < 1e-5, rel


@pytest.mark.parametrize("winograd", [True], indirect=True)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv1d_transpose_kernel3_matches_reference(padding, winograd, cpu_path, rng):
    """A transposed Conv1D (height-1 Conv2DTranspose) runs the 1-D input-gradient pass with a
    bias and activation."""
    x = rng.standard_normal((2, 19, 24)).astype(np.float32)
    w = (rng.standard_normal((3, 20, 24)) / np.sqrt(72)).astype(np.float32)
    b = rng.standard_normal(20).astype(np.float32)
    ol, left = _transpose_geom(19, 3, 1, 1, padding, None)
    y = ops.conv2d_transpose(x[:, None], w[None], b, padding=padding, activation="tanh")[:, 0]
    ref = np.tanh(ref_conv2d_input_grad(x[:, None], w[None], (2, 1, ol, 20), (1, 1), (0, left), (1, 1))[:, 0] + b)
    _close(y, ref, 3 * 24, "y")
