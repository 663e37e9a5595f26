"""The direct convolution (kernels/conv_direct.h): one group, unit strides and dilations; the
forward pass for up to 8 channels (filters in blocks of 16), the backward pass for one channel
and up to 16 filters. Every shape here takes the direct forward pass, the single-channel ones
the direct backward pass too; the float64 references are the ones of test_conv.py."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import _close, _geom, _transpose_geom, ref_conv2d, ref_conv2d_input_grad, ref_conv2d_kernel_grad

from pynncore import layers, ops

# (x shape (N, H, W, 1), kernel (KH, KW), filters, padding): output widths below, at and above
# one and two vector widths, kernels from 1x1 to 16 wide, 1 to 16 filters.
CASES = [
    ((3, 28, 28, 1), (5, 5), 6, "same"),
    ((2, 9, 4, 1), (3, 3), 1, "same"),
    ((1, 6, 5, 1), (2, 2), 16, "valid"),
    ((2, 12, 17, 1), (3, 5), 3, "same"),
    ((3, 8, 33, 1), (1, 1), 15, "valid"),
    ((2, 7, 31, 1), (7, 7), 8, "same"),
    ((1, 5, 40, 1), (2, 16), 4, "valid"),
    ((5, 16, 16, 1), (4, 4), 12, "same"),
    ((1, 3, 20, 1), (3, 1), 2, "valid"),
    ((2, 11, 19, 3), (3, 3), 32, "same"),
    ((3, 14, 14, 6), (5, 5), 16, "valid"),
    ((1, 9, 18, 8), (2, 3), 20, "same"),
    ((2, 6, 7, 2), (3, 2), 17, "valid"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-k{c[1]}-f{c[2]}-{c[3]}" for c in CASES])
def test_direct_forward_and_backward_match_reference(case, cpu_path, num_threads, rng):
    xs, khw, f, padding = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(khw + (xs[3], f)) * 0.3).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    out_hw, pads = _geom(xs, khw, (1, 1), (1, 1), padding)
    k = khw[0] * khw[1] * xs[3]
    ref = ref_conv2d(x, w, b, (1, 1), pads, (1, 1), out_hw)
    _close(ops.conv2d(x, w, b, padding=padding), ref, k, "y")
    _close(ops.conv2d(x, w, b, padding=padding, activation="tanh"), np.tanh(ref), k, "tanh(y)")
    dy = rng.standard_normal(ref.shape).astype(np.float32)
    m = dy.size // f
    want_dk = ref_conv2d_kernel_grad(x, dy, w.shape, (1, 1), pads, (1, 1))
    dx, dk, db = ops.conv2d_backward(x, w, dy, padding=padding)
    _close(dx, ref_conv2d_input_grad(dy, w, xs, (1, 1), pads, (1, 1)), f * khw[0] * khw[1], "dx")
    _close(dk, want_dk, m, "dkernel")
    _close(db, dy.astype(np.float64).sum(axis=(0, 1, 2)), m, "dbias")
    none, dk2, _ = ops.conv2d_backward(x, w, dy, padding=padding, need_dx=False)
    assert none is None
    _close(dk2, want_dk, m, "dkernel without dx")


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_direct_conv1d_single_channel(padding, cpu_path, rng):
    x = rng.standard_normal((4, 37, 1)).astype(np.float32)
    w = rng.standard_normal((5, 1, 7)).astype(np.float32)
    b = rng.standard_normal(7).astype(np.float32)
    if padding == "valid":
        ol, pad = 33, 0
    elif padding == "same":
        ol, pad = 37, 2
    else:
        ol, pad = 37, 4
    y = ops.conv1d(x, w, b, padding=padding)
    _close(y, ref_conv2d(x[:, None], w[None], b, (1, 1), (0, pad), (1, 1), (1, ol))[:, 0], 5, "y")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dk, db = ops.conv1d_backward(x, w, dy, padding=padding)
    _close(dx, ref_conv2d_input_grad(dy[:, None], w[None], (4, 1, 37, 1), (1, 1), (0, pad), (1, 1))[:, 0], 35, "dx")
    _close(dk, ref_conv2d_kernel_grad(x[:, None], dy[:, None], (1,) + w.shape, (1, 1), (0, pad), (1, 1))[0], 4 * ol, "dk")


def test_transposed_convolution_to_one_channel(cpu_path, rng):
    # Conv2DTranspose's forward pass is conv2d_backward's dx with a bias and an activation:
    # with one output channel and unit strides it runs on the direct kernel.
    x = rng.standard_normal((2, 9, 21, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 5)).astype(np.float32)
    b = rng.standard_normal(1).astype(np.float32)
    for padding in ("same", "valid"):
        geo = [_transpose_geom(x.shape[1 + i], 3, 1, 1, padding) for i in range(2)]
        out_shape = (2, geo[0][0], geo[1][0], 1)
        y = ops.conv2d_transpose(x, w, b, padding=padding)
        ref = ref_conv2d_input_grad(x, w, out_shape, (1, 1), (geo[0][1], geo[1][1]), (1, 1)) + b
        _close(y, ref, 9 * 5, padding)


def test_layer_gradients_accumulate_and_threads_agree(rng):
    import pynncore

    layer = layers.Conv2D(6, 5, padding="same", activation="tanh")
    x = rng.standard_normal((7, 20, 19, 1)).astype(np.float32)
    layer(x)
    dy = rng.standard_normal((7, 20, 19, 6)).astype(np.float32)
    grads = []
    saved = pynncore.get_num_threads()
    for nt in (1, 2):
        pynncore.set_num_threads(nt)
        try:
            for v in layer.weights:
                v.grad[...] = 0
            y, ctx = layer.forward(x, training=True)
            layer.backward(ctx, dy.copy(), need_dx=False)
            layer.backward(ctx, dy.copy(), need_dx=False)
            grads.append([v.grad.copy() for v in layer.weights])
        finally:
            pynncore.set_num_threads(saved)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    y, ctx = layer.forward(x, training=True)
    for v in layer.weights:
        v.grad[...] = 0
    layer.backward(ctx, dy.copy(), need_dx=False)
    once = [v.grad.copy() for v in layer.weights]
    layer.backward(ctx, dy.copy(), need_dx=False)
    for a, b in zip(once, [v.grad for v in layer.weights]):
        np.testing.assert_allclose(b, 2 * a, rtol=1e-6, atol=1e-6)
