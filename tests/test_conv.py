"""Convolutions against float64 numpy references, finite differences, Keras 3 and PyTorch."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import check_kernel_bias_gradients
from _keras_train import train_side_by_side

import pynncore
from pynncore import layers, ops
from pynncore.models import Sequential

# --- float64 references ---------------------------------------------------------------------


def _taps(size_out, size_in, stride, pad, dil, k):
    """Input index of each output position for tap k, and which of them are inside."""
    idx = np.arange(size_out) * stride - pad + k * dil
    return idx, (idx >= 0) & (idx < size_in)


def ref_conv2d(x, w, bias, strides, pads, dil, out_hw):
    """y[n, oh, ow, f] = sum x[n, oh*s - p + kh*d, ...] * w[kh, kw, c, f] per group, float64."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, h, wd, c = x.shape
    kh, kw, cg, f = w.shape
    groups = c // cg
    fg = f // groups
    oh, ow = out_hw
    y = np.zeros((n, oh, ow, f))
    for a in range(kh):
        ih, vh = _taps(oh, h, strides[0], pads[0], dil[0], a)
        for b in range(kw):
            iw, vw = _taps(ow, wd, strides[1], pads[1], dil[1], b)
            patch = x[:, np.clip(ih, 0, h - 1)][:, :, np.clip(iw, 0, wd - 1)]
            patch = patch * (vh[:, None] & vw[None, :])[None, :, :, None]
            for g in range(groups):
                y[..., g * fg:(g + 1) * fg] += patch[..., g * cg:(g + 1) * cg] @ w[a, b, :, g * fg:(g + 1) * fg]
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y


def ref_conv2d_input_grad(dy, w, in_shape, strides, pads, dil):
    """The adjoint of ref_conv2d in x (also the transposed convolution), float64."""
    dy = np.asarray(dy, np.float64)
    w = np.asarray(w, np.float64)
    n, h, wd, c = in_shape
    kh, kw, cg, f = w.shape
    groups = c // cg
    fg = f // groups
    _, oh, ow, _ = dy.shape
    dx = np.zeros(in_shape)
    for a in range(kh):
        ih, vh = _taps(oh, h, strides[0], pads[0], dil[0], a)
        for b in range(kw):
            iw, vw = _taps(ow, wd, strides[1], pads[1], dil[1], b)
            for g in range(groups):
                contrib = dy[..., g * fg:(g + 1) * fg] @ w[a, b, :, g * fg:(g + 1) * fg].T
                sub = contrib[:, vh][:, :, vw]
                dx[:, ih[vh][:, None], iw[vw][None, :], g * cg:(g + 1) * cg] += sub
    return dx


def ref_conv2d_kernel_grad(x, dy, kshape, strides, pads, dil):
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    n, h, wd, c = x.shape
    kh, kw, cg, f = kshape
    groups = c // cg
    fg = f // groups
    _, oh, ow, _ = dy.shape
    dw = np.zeros(kshape)
    for a in range(kh):
        ih, vh = _taps(oh, h, strides[0], pads[0], dil[0], a)
        for b in range(kw):
            iw, vw = _taps(ow, wd, strides[1], pads[1], dil[1], b)
            patch = x[:, np.clip(ih, 0, h - 1)][:, :, np.clip(iw, 0, wd - 1)]
            patch = patch * (vh[:, None] & vw[None, :])[None, :, :, None]
            for g in range(groups):
                p = patch[..., g * cg:(g + 1) * cg].reshape(-1, cg)
                d = dy[..., g * fg:(g + 1) * fg].reshape(-1, fg)
                dw[a, b, :, g * fg:(g + 1) * fg] = p.T @ d
    return dw


def _keras_same(size, k, s, d):
    keff = (k - 1) * d + 1
    out = -(-size // s)
    return out, max((out - 1) * s + keff - size, 0) // 2


def _geom(x_shape, k_hw, strides, dil, padding):
    outs, pads = [], []
    for i in range(2):
        size, k, s, d = x_shape[1 + i], k_hw[i], strides[i], dil[i]
        keff = (k - 1) * d + 1
        if padding == "valid":
            outs.append((size - keff) // s + 1)
            pads.append(0)
        else:
            o, p = _keras_same(size, k, s, d)
            outs.append(o)
            pads.append(p)
    return tuple(outs), tuple(pads)


def _close(got, want, k, what=""):
    """float32 result against float64 reference; error budget grows with the sum length k."""
    want = np.asarray(want)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=1e-5 * np.sqrt(k) + 1e-5, atol=3e-6 * np.sqrt(k) * scale, err_msg=what)


# (x shape, kernel (KH, KW), filters, strides, dilation, padding, groups)
CASES = [
    ((2, 7, 6, 3), (3, 3), 5, (1, 1), (1, 1), "same", 1),
    ((2, 7, 6, 3), (3, 3), 5, (1, 1), (1, 1), "valid", 1),
    ((1, 9, 8, 4), (3, 2), 6, (2, 1), (1, 1), "same", 1),
    ((3, 8, 9, 2), (2, 4), 3, (2, 3), (1, 1), "valid", 1),
    ((2, 9, 9, 3), (3, 3), 4, (1, 1), (2, 2), "same", 1),
    ((1, 10, 7, 5), (2, 3), 7, (1, 2), (3, 1), "valid", 1),
    ((2, 6, 7, 6), (3, 3), 4, (1, 1), (1, 1), "same", 2),
    ((2, 6, 5, 6), (1, 1), 9, (1, 1), (1, 1), "valid", 3),
    ((2, 6, 5, 8), (1, 1), 16, (1, 1), (1, 1), "same", 1),
    ((1, 5, 5, 4), (1, 1), 3, (2, 2), (1, 1), "valid", 1),
    ((1, 4, 4, 33), (3, 3), 17, (1, 1), (1, 1), "same", 1),
    ((2, 5, 6, 4), (4, 4), 4, (2, 2), (1, 1), "same", 4),
    ((1, 1, 1, 3), (1, 1), 2, (1, 1), (1, 1), "valid", 1),
    ((2, 3, 3, 2), (3, 3), 3, (1, 1), (1, 1), "valid", 1),
]
CASE_IDS = [f"{c[0]}-k{c[1]}-f{c[2]}-s{c[3]}-d{c[4]}-{c[5]}-g{c[6]}" for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_conv2d_ops_forward_and_backward_match_reference(case, cpu_path, num_threads, rng):
    xs, khw, f, s, d, padding, groups = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(khw + (xs[3] // groups, f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    out_hw, pads = _geom(xs, khw, s, d, padding)
    k = khw[0] * khw[1] * xs[3] // groups
    y = ops.conv2d(x, w, b, strides=s, padding=padding, dilation_rate=d)
    _close(y, ref_conv2d(x, w, b, s, pads, d, out_hw), k, "y")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dk, db = ops.conv2d_backward(x, w, dy, strides=s, padding=padding, dilation_rate=d)
    _close(dx, ref_conv2d_input_grad(dy, w, xs, s, pads, d), f * khw[0] * khw[1], "dx")
    _close(dk, ref_conv2d_kernel_grad(x, dy, w.shape, s, pads, d), y.shape[0] * y.shape[1] * y.shape[2], "dkernel")
    _close(db, dy.astype(np.float64).sum(axis=(0, 1, 2)), y.size // f, "dbias")


@pytest.mark.parametrize("shape, f", [((64, 12, 12, 3), 8), ((9, 10, 10, 16), 24), ((2, 40, 40, 8), 16)], ids=str)
def test_conv2d_larger_problems_threaded_paths(shape, f, num_threads, rng):
    """Sizes that take the tiled, multi-threaded paths (many tiles, many images, few images)."""
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((3, 3, shape[3], f)).astype(np.float32) * 0.2
    y = ops.conv2d(x, w, padding="same", activation="relu")
    ref = ref_conv2d(x, w, None, (1, 1), (1, 1), (1, 1), shape[1:3])
    _close(y, np.maximum(ref, 0), 9 * shape[3])
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dk, db = ops.conv2d_backward(x, w, dy, padding="same")
    _close(dx, ref_conv2d_input_grad(dy, w, shape, (1, 1), (1, 1), (1, 1)), 9 * f, "dx")
    _close(dk, ref_conv2d_kernel_grad(x, dy, w.shape, (1, 1), (1, 1), (1, 1)), y.size // f, "dkernel")
    _close(db, dy.astype(np.float64).sum(axis=(0, 1, 2)), y.size // f, "dbias")


# Groups with fewer than 16 filters run pixel-major tiles (GEMMs with n = output pixels); the
# last two cases sit on either side of that boundary. Sizes are large enough for several tiles,
# tiles that cross image rows and images, and the threaded paths.
PIXEL_MAJOR_CASES = [
    ((9, 28, 28, 1), (5, 5), 6, (1, 1), (1, 1), "same", 1),
    ((5, 17, 19, 1), (5, 3), 1, (1, 1), (1, 1), "valid", 1),
    ((4, 23, 21, 3), (3, 5), 7, (2, 3), (1, 1), "same", 1),
    ((3, 19, 17, 2), (4, 3), 5, (3, 2), (1, 1), "valid", 1),
    ((3, 21, 22, 3), (3, 3), 6, (1, 2), (2, 3), "same", 1),
    ((2, 15, 33, 6), (3, 3), 24, (1, 1), (1, 1), "same", 2),
    ((2, 13, 11, 6), (5, 5), 9, (2, 2), (1, 2), "valid", 3),
    ((3, 14, 14, 6), (5, 5), 15, (1, 1), (1, 1), "valid", 1),
    ((3, 14, 14, 6), (5, 5), 16, (1, 1), (1, 1), "valid", 1),
]


@pytest.mark.parametrize("case", PIXEL_MAJOR_CASES, ids=[f"{c[0]}-k{c[1]}-f{c[2]}-s{c[3]}-d{c[4]}-{c[5]}-g{c[6]}" for c in PIXEL_MAJOR_CASES])
def test_conv2d_few_filters_match_reference(case, cpu_path, num_threads, rng):
    xs, khw, f, s, d, padding, groups = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(khw + (xs[3] // groups, f)) * 0.3).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    out_hw, pads = _geom(xs, khw, s, d, padding)
    k = khw[0] * khw[1] * xs[3] // groups
    ref = ref_conv2d(x, w, b, s, pads, d, out_hw)
    _close(ops.conv2d(x, w, b, strides=s, padding=padding, dilation_rate=d), ref, k, "y")
    y = ops.conv2d(x, w, b, strides=s, padding=padding, dilation_rate=d, activation="tanh")
    _close(y, np.tanh(ref), k, "tanh(y)")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    want_dk = ref_conv2d_kernel_grad(x, dy, w.shape, s, pads, d)
    want_db = dy.astype(np.float64).sum(axis=(0, 1, 2))
    m = y.size // f
    dx, dk, db = ops.conv2d_backward(x, w, dy, strides=s, padding=padding, dilation_rate=d)
    _close(dx, ref_conv2d_input_grad(dy, w, xs, s, pads, d), f * khw[0] * khw[1], "dx")
    _close(dk, want_dk, m, "dkernel")
    _close(db, want_db, m, "dbias")
    none, dk2, db2 = ops.conv2d_backward(x, w, dy, strides=s, padding=padding, dilation_rate=d, need_dx=False)
    assert none is None
    _close(dk2, want_dk, m, "dkernel without dx")
    _close(db2, want_db, m, "dbias without dx")


def test_conv2d_few_filters_layer_accumulates_gradients(cpu_path, rng):
    """Two backward passes through a pixel-major Conv2D add up their kernel gradients."""
    layer = layers.Conv2D(6, 5, padding="same", activation="tanh")
    x = rng.standard_normal((3, 12, 11, 1)).astype(np.float32)
    layer.build(x.shape)
    y, ctx = layer.forward(x, True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    layer.backward(ctx, dy, False)
    once = [np.array(v.grad, copy=True) for v in (layer.kernel, layer.bias)]
    layer.backward(ctx, dy, False)
    for v, g in zip((layer.kernel, layer.bias), once):
        np.testing.assert_allclose(v.grad, 2 * g, rtol=1e-6, atol=1e-6)
    dz = dy.astype(np.float64) * (1 - np.asarray(y, np.float64) ** 2)
    _close(once[0], ref_conv2d_kernel_grad(x, dz, (5, 5, 1, 6), (1, 1), (2, 2), (1, 1)), 3 * 12 * 11, "dkernel")


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("s, d, groups", [(1, 1, 1), (2, 1, 1), (1, 2, 1), (1, 1, 2)], ids=str)
def test_conv1d_ops_match_reference(padding, s, d, groups, cpu_path, rng):
    x = rng.standard_normal((3, 11, 4)).astype(np.float32)
    w = rng.standard_normal((3, 4 // groups, 6)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    keff = 2 * d + 1
    if padding == "valid":
        ol, pad = (11 - keff) // s + 1, 0
    elif padding == "same":
        ol, pad = _keras_same(11, 3, s, d)
    else:
        ol, pad = (11 - 1) // s + 1, keff - 1
    y = ops.conv1d(x, w, b, strides=s, padding=padding, dilation_rate=d)
    ref = ref_conv2d(x[:, None], w[None], b, (1, s), (0, pad), (1, d), (1, ol))[:, 0]
    _close(y, ref, 12, "y")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dk, db = ops.conv1d_backward(x, w, dy, strides=s, padding=padding, dilation_rate=d)
    _close(dx, ref_conv2d_input_grad(dy[:, None], w[None], (3, 1, 11, 4), (1, s), (0, pad), (1, d))[:, 0], 18, "dx")
    _close(dk, ref_conv2d_kernel_grad(x[:, None], dy[:, None], (1,) + w.shape, (1, s), (0, pad), (1, d))[0], 33, "dk")
    _close(db, dy.astype(np.float64).sum(axis=(0, 1)), 33, "db")


def _transpose_geom(size, k, s, d, padding, op=None):
    keff = (k - 1) * d + 1
    if padding == "valid":
        op = max(keff, s) - keff if op is None else op
        left, right = keff - 1, keff - 1 + op
    else:
        pad_len = s + keff - 2 if op is None else keff + keff % 2 - 2 + op
        left = min(pad_len // 2 + pad_len % 2, keff - 1)
        right = pad_len - left
    return (size - 1) * s + left + right - keff + 2, keff - 1 - left


@pytest.mark.parametrize(
    "xs, khw, f, s, d, padding, op",
    [
        ((2, 4, 5, 3), (3, 3), 4, (2, 2), (1, 1), "same", None),
        ((2, 4, 5, 3), (3, 3), 4, (2, 2), (1, 1), "valid", None),
        ((1, 3, 3, 2), (2, 2), 3, (3, 3), (1, 1), "valid", None),
        ((1, 3, 4, 2), (4, 3), 5, (2, 1), (1, 1), "same", None),
        ((2, 5, 4, 3), (3, 3), 2, (1, 1), (2, 1), "same", None),
        ((1, 4, 4, 3), (3, 3), 2, (2, 2), (1, 1), "same", (1, 0)),
        ((1, 4, 4, 3), (3, 3), 2, (2, 2), (1, 1), "valid", (1, 1)),
    ],
    ids=str,
)
def test_conv2d_transpose_ops_match_reference(xs, khw, f, s, d, padding, op, cpu_path, rng):
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(khw + (f, xs[3])).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    geo = [_transpose_geom(xs[1 + i], khw[i], s[i], d[i], padding, None if op is None else op[i]) for i in range(2)]
    out_shape = (xs[0], geo[0][0], geo[1][0], f)
    y = ops.conv2d_transpose(x, w, b, strides=s, padding=padding, output_padding=op, dilation_rate=d)
    ref = ref_conv2d_input_grad(x, w, out_shape, s, (geo[0][1], geo[1][1]), d) + b
    _close(y, ref, khw[0] * khw[1] * xs[3], "y")


# --- layers: forward, finite-difference gradients ------------------------------------------

ACTS = {
    None: lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "silu": lambda z: z / (1.0 + np.exp(-z)),
    "softmax": lambda z: np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True),
}


def _layer_ref(layer, x, w, b):
    act = ACTS[layer.activation.name if layer.activation.name != "linear" else None]
    if isinstance(layer, layers.Conv2DTranspose):
        geo = [_transpose_geom(x.shape[1 + i], layer.kernel_size[i], layer.strides[i], layer.dilation_rate[i], layer.padding, None if layer.output_padding is None else layer.output_padding[i]) for i in range(2)]
        out = (x.shape[0], geo[0][0], geo[1][0], layer.filters)
        z = ref_conv2d_input_grad(x, w, out, layer.strides, (geo[0][1], geo[1][1]), layer.dilation_rate)
    elif isinstance(layer, layers.Conv1D):
        keff = (layer.kernel_size[0] - 1) * layer.dilation_rate[0] + 1
        size, s = x.shape[1], layer.strides[0]
        if layer.padding == "valid":
            ol, pad = (size - keff) // s + 1, 0
        elif layer.padding == "same":
            ol, pad = _keras_same(size, layer.kernel_size[0], s, layer.dilation_rate[0])
        else:
            ol, pad = (size - 1) // s + 1, keff - 1
        z = ref_conv2d(x[:, None], w[None], None, (1, s), (0, pad), (1,) + layer.dilation_rate, (1, ol))[:, 0]
    else:
        out_hw, pads = _geom(x.shape, layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding)
        z = ref_conv2d(x, w, None, layer.strides, pads, layer.dilation_rate, out_hw)
    if b is not None:
        z = z + b
    return act(z)


LAYERS = [
    ("conv2d-same-tanh", lambda: layers.Conv2D(4, 3, padding="same", activation="tanh"), (2, 5, 4, 3)),
    ("conv2d-valid-stride-relu", lambda: layers.Conv2D(3, (2, 3), strides=2, activation="relu"), (2, 6, 7, 2)),
    ("conv2d-groups-swish", lambda: layers.Conv2D(4, 3, padding="same", groups=2, activation="swish"), (1, 4, 5, 4)),
    ("conv2d-dilated-nobias", lambda: layers.Conv2D(3, 2, dilation_rate=2, use_bias=False), (2, 5, 5, 2)),
    ("conv2d-softmax", lambda: layers.Conv2D(3, 1, activation="softmax"), (2, 3, 3, 2)),
    ("conv1d-causal-sigmoid", lambda: layers.Conv1D(3, 3, padding="causal", activation="sigmoid"), (2, 7, 2)),
    ("conv1d-same-stride", lambda: layers.Conv1D(4, 4, strides=2, padding="same"), (1, 9, 3)),
    ("conv2dt-same-tanh", lambda: layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="tanh"), (2, 3, 3, 2)),
    ("conv2dt-valid-relu", lambda: layers.Conv2DTranspose(2, (2, 3), strides=(2, 1), activation="relu"), (1, 3, 4, 3)),
    ("conv2dt-swish-outpad", lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1, activation="swish"), (1, 3, 3, 2)),
]


@pytest.mark.parametrize("name, make, shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_forward_and_finite_difference_gradients(name, make, shape, cpu_path, rng):
    layer = make()
    layer.build((None,) + shape[1:])
    if layer.use_bias:
        layer.bias.value[...] = rng.standard_normal(layer.filters).astype(np.float32) * 0.3
    x = rng.standard_normal(shape).astype(np.float32)
    w = layer.kernel.value.astype(np.float64)
    b = layer.bias.value.astype(np.float64) if layer.use_bias else None
    y = layer(x)
    ref = _layer_ref(layer, x.astype(np.float64), w, b)
    assert y.shape == ref.shape
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + ref.shape[1:]
    np.testing.assert_allclose(y, ref, rtol=2e-5, atol=2e-6)

    y_t = check_kernel_bias_gradients(layer, x, lambda v, kw, kb: _layer_ref(layer, v, kw, kb), rng)
    np.testing.assert_allclose(y_t, y, rtol=1e-6, atol=1e-7)


def test_conv2d_frozen_layer_leaves_gradients_alone(rng):
    layer = layers.Conv2D(2, 3, trainable=False)
    layer.build((None, 5, 5, 1))
    x = rng.standard_normal((1, 5, 5, 1)).astype(np.float32)
    y, ctx = layer.forward(x, training=True)
    dx = layer.backward(ctx, np.ones_like(y))
    assert dx.shape == x.shape
    assert not layer.kernel.grad.any()


def test_noncontiguous_and_float64_inputs(rng):
    x = rng.standard_normal((2, 6, 6, 8))
    w = rng.standard_normal((3, 3, 4, 5))
    xs = x[:, ::-1, :, ::2]  # strided, float64
    y = ops.conv2d(xs, w, padding="same")
    _close(y, ref_conv2d(xs, w, None, (1, 1), (1, 1), (1, 1), (6, 6)), 36)
    layer = layers.Conv2D(5, 3, padding="same")
    layer.build((None, 6, 6, 4))
    layer.kernel.assign(w)
    _close(layer(xs), ref_conv2d(xs, w, None, (1, 1), (1, 1), (1, 1), (6, 6)), 36)


def test_zero_batch(rng):
    y = ops.conv2d(np.zeros((0, 5, 5, 2), np.float32), np.ones((3, 3, 2, 4), np.float32))
    assert y.shape == (0, 3, 3, 4)
    dx, dk, db = ops.conv2d_backward(np.zeros((0, 5, 5, 2)), np.ones((3, 3, 2, 4)), np.zeros((0, 3, 3, 4)))
    assert dx.shape == (0, 5, 5, 2) and not dk.any() and not db.any()


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: layers.Conv2D(0, 3), "filters must be a positive integer"),
        (lambda: layers.Conv2D(4, 0), "kernel_size must be an integer >= 1"),
        (lambda: layers.Conv2D(4, (3, 3, 3)), "kernel_size must be"),
        (lambda: layers.Conv2D(4, 3, strides=0), "strides must be an integer >= 1"),
        (lambda: layers.Conv2D(4, 3, strides=(1, -1)), "strides must be"),
        (lambda: layers.Conv2D(4, 3, dilation_rate=0), "dilation_rate must be"),
        (lambda: layers.Conv2D(4, 3, padding="full"), "padding must be one of 'valid', 'same'"),
        (lambda: layers.Conv2D(4, 3, padding="causal"), "padding must be one of"),
        (lambda: layers.Conv1D(4, 3, padding="reflect"), "padding must be one of 'valid', 'same', 'causal'"),
        (lambda: layers.Conv2D(5, 3, groups=2), "filters must be divisible by groups"),
        (lambda: layers.Conv2D(4, 3, groups=0), "groups must be a positive integer"),
        (lambda: layers.Conv2D(4, 3, data_format="channels_first"), "channels_last"),
        (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2), "output_padding must be smaller than strides"),
    ],
)
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_argument_names_the_layer():
    with pytest.raises(ValueError, match="Conv2D 'my_conv': filters"):
        layers.Conv2D(-1, 3, name="my_conv")
    with pytest.raises(TypeError, match="groups"):
        layers.Conv2DTranspose(4, 3, groups=2)


def test_bad_inputs_raise_at_build_and_call(rng):
    conv = layers.Conv2D(4, 3, name="c2")
    with pytest.raises(ValueError, match=r"Conv2D 'c2': expected input of rank 4 \(N, H, W, C\). Received: shape=\(None, 5, 3\)"):
        conv(np.ones((2, 5, 3), np.float32))
    conv = layers.Conv2D(4, 3, name="c3")
    with pytest.raises(ValueError, match=r"Conv2D 'c3': the kernel .* is larger than the input .* Received: shape=\(None, 2, 5, 3\)"):
        conv(np.ones((2, 2, 5, 3), np.float32))
    conv = layers.Conv2D(4, 3, name="c4")
    conv(np.ones((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D 'c4': expected input with 3 channels .* Received: shape=\(1, 5, 5, 2\)"):
        conv(np.ones((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D 'c4': the kernel .* larger than the input .* shape=\(1, 2, 9, 3\)"):
        conv(np.ones((1, 2, 9, 3), np.float32))
    with pytest.raises(ValueError, match="divisible by groups=2"):
        layers.Conv2D(4, 3, groups=2, name="c5")(np.ones((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"Conv1D 'c6': expected input of rank 3 \(N, L, C\)"):
        layers.Conv1D(4, 3, name="c6")(np.ones((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="Sequential|Conv2D 'c8'"):
        Sequential([layers.Conv2D(4, 5, name="c8", input_shape=(4, 4, 1))])


def test_same_padding_never_too_small():
    y = layers.Conv2D(2, 5, padding="same", dilation_rate=3)(np.ones((1, 2, 2, 1), np.float32))
    assert y.shape == (1, 2, 2, 2)


def test_bad_ops_inputs_raise(rng):
    x = np.ones((1, 5, 5, 4), np.float32)
    w = np.ones((3, 3, 4, 2), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: x must be 4-D \(N, H, W, C\)"):
        ops.conv2d(x[0], w)
    with pytest.raises(ValueError, match="conv2d: the input's 4 channels .* multiple of the kernel's 3"):
        ops.conv2d(x, np.ones((3, 3, 3, 2)))
    with pytest.raises(ValueError, match="conv2d: 3 filters are not divisible by groups=2"):
        ops.conv2d(x, np.ones((3, 3, 2, 3)))
    with pytest.raises(ValueError, match="conv2d: the kernel .* is larger than the input"):
        ops.conv2d(x, np.ones((6, 3, 4, 2)))
    with pytest.raises(ValueError, match="conv2d: padding must be 'valid' or 'same'"):
        ops.conv2d(x, w, padding="causal")
    with pytest.raises(ValueError, match="strides must be"):
        ops.conv2d(x, w, strides=(1, 0))
    with pytest.raises(TypeError, match="real numeric"):
        ops.conv2d(x.astype(complex), w)
    with pytest.raises(ValueError, match=r"conv2d_backward: dy must have the output's shape \(1, 3, 3, 2\)"):
        ops.conv2d_backward(x, w, np.ones((1, 3, 4, 2)))
    with pytest.raises(ValueError, match="conv2d_transpose: the kernel .* expects 2 input channels"):
        ops.conv2d_transpose(x, w)
    with pytest.raises(ValueError, match=r"conv1d: x must be 3-D \(N, L, C\)"):
        ops.conv1d(x, w)


def test_native_entry_points_check_every_array():
    from pynncore import _core

    x = np.ones((1, 5, 5, 4), np.float32)
    w = np.ones((3, 3, 4, 2), np.float32)
    y = np.empty((1, 3, 3, 2), np.float32)
    one, zero = (1, 1), (0, 0)
    with pytest.raises(TypeError, match="kernel must have dtype float32"):
        _core.conv2d_forward(x, w.astype(np.float64), None, y, one, one, zero)
    with pytest.raises(ValueError, match="y must be C-contiguous"):
        _core.conv2d_forward(x, w, None, np.empty((1, 3, 3, 4), np.float32)[..., ::2], one, one, zero)
    with pytest.raises(ValueError, match=r"output must have shape \(1, OH, OW, 2\)"):
        _core.conv2d_forward(x, w, None, np.empty((1, 3, 3, 3), np.float32), one, one, zero)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        _core.conv2d_forward(x, w, np.ones(3, np.float32), y, one, one, zero)
    with pytest.raises(ValueError, match="strides must be >= 1"):
        _core.conv2d_forward(x, w, None, y, (0, 1), one, zero)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        _core.conv2d_forward(x, w, None, y, one, one, (-1, 0))
    with pytest.raises(ValueError, match="y overlaps x"):
        _core.conv2d_forward(x, w, None, x.reshape(-1)[:18].reshape(1, 3, 3, 2), one, one, zero)
    with pytest.raises(ValueError, match="y is read-only"):
        ro = np.empty((1, 3, 3, 2), np.float32)
        ro.flags.writeable = False
        _core.conv2d_forward(x, w, None, ro, one, one, zero)
    with pytest.raises(ValueError, match="dkernel needs x"):
        _core.conv2d_backward(None, w, y, None, np.empty_like(w), None, one, one, zero)
    with pytest.raises(ValueError, match="dx needs the kernel"):
        _core.conv2d_backward(x, None, y, np.empty_like(x), np.empty_like(w), None, one, one, zero)
    with pytest.raises(ValueError, match=r"dkernel must have shape \(3, 3, 4, 2\)"):
        _core.conv2d_backward(x, w, y, None, np.empty((3, 3, 4, 3), np.float32), None, one, one, zero)
    with pytest.raises(ValueError, match="bias_dx and activation apply to dx"):
        _core.conv2d_backward(x, w, y, None, np.empty_like(w), None, one, one, zero, activation="relu")
    with pytest.raises(ValueError, match="Unknown activation|unknown activation"):
        _core.conv2d_forward(x, w, None, y, one, one, zero, "nope")
    # Output sizes that do not follow from the padding are safe: taps outside read zeros.
    big = np.empty((1, 9, 9, 2), np.float32)
    _core.conv2d_forward(x, w, None, big, one, one, zero)
    assert np.isfinite(big).all()


# --- config, saving ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same", dilation_rate=1, groups=2, activation="relu", use_bias=False, kernel_initializer="he_normal", kernel_regularizer=pynncore.regularizers.L2(0.01), name="cfg2d"),
        lambda: layers.Conv1D(3, 5, padding="causal", dilation_rate=2, activation="tanh", bias_regularizer="l1"),
        lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1, activation="sigmoid"),
    ],
)
def test_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_model_save_load_round_trip(tmp_path, rng):
    model = Sequential([
        layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(6, 6, 2)),
        layers.Conv2DTranspose(3, 2, strides=2, activation="tanh"),
        layers.Conv2D(2, 3, strides=2, groups=1),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = rng.standard_normal((5, 6, 6, 2)).astype(np.float32)
    model.fit(x, rng.integers(0, 3, 5), epochs=1, verbose=0)
    path = tmp_path / "conv.pnc"
    model.save(str(path))
    loaded = pynncore.load_model(str(path))
    assert [type(l).__name__ for l in loaded.layers] == ["Conv2D", "Conv2DTranspose", "Conv2D", "Flatten", "Dense"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    seq = Sequential([layers.Conv1D(3, 3, padding="causal", input_shape=(8, 2)), layers.Flatten(), layers.Dense(1)])
    seq.save(str(tmp_path / "c1.pnc"))
    x1 = rng.standard_normal((2, 8, 2)).astype(np.float32)
    np.testing.assert_array_equal(pynncore.load_model(str(tmp_path / "c1.pnc")).predict(x1, verbose=0), seq.predict(x1, verbose=0))


# --- PyTorch ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES[:8], ids=CASE_IDS[:8])
def test_conv2d_matches_torch_outputs_and_gradients(case, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    xs, khw, f, s, d, padding, groups = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(khw + (xs[3] // groups, f)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    out_hw, pads = _geom(xs, khw, s, d, padding)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    wt = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    # Keras's padding: (before, after) per axis, the odd pixel after.
    pad_after = [max((out_hw[i] - 1) * s[i] + (khw[i] - 1) * d[i] + 1 - xs[1 + i] - pads[i], 0) for i in range(2)]
    xp = F.pad(xt, (pads[1], pad_after[1], pads[0], pad_after[0]))
    yt = F.conv2d(xp, wt, bt, stride=s, dilation=d, groups=groups)
    y = ops.conv2d(x, w, b, strides=s, padding=padding, dilation_rate=d)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    dx, dk, db = ops.conv2d_backward(x, w, dy, strides=s, padding=padding, dilation_rate=d)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dk, wt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_conv2d_transpose_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 6, 3)).astype(np.float32)  # (KH, KW, F, C)
    y = ops.conv2d_transpose(x, w, strides=2, padding="valid", output_padding=1)
    yt = torch.nn.functional.conv_transpose2d(
        torch.tensor(x.transpose(0, 3, 1, 2)), torch.tensor(w.transpose(3, 2, 0, 1)), stride=2, output_padding=1
    )
    np.testing.assert_allclose(y, yt.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)


# --- Keras 3 ----------------------------------------------------------------------------------

_keras_warning = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


KERAS_LAYERS = [
    ("Conv2D", dict(filters=4, kernel_size=3, padding="same", activation="relu"), (2, 7, 6, 3)),
    ("Conv2D", dict(filters=6, kernel_size=(2, 3), strides=(2, 2), padding="same"), (2, 7, 8, 3)),
    ("Conv2D", dict(filters=4, kernel_size=3, dilation_rate=2, activation="tanh"), (1, 9, 8, 2)),
    ("Conv2D", dict(filters=6, kernel_size=3, groups=3, padding="same"), (2, 5, 5, 6)),
    ("Conv2D", dict(filters=3, kernel_size=4, strides=3, padding="valid", use_bias=False), (1, 10, 11, 2)),
    ("Conv1D", dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2), (2, 9, 3)),
    ("Conv1D", dict(filters=5, kernel_size=4, strides=2, padding="same", activation="sigmoid"), (2, 11, 2)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 4, 5, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=(4, 3), strides=(2, 3), padding="valid", activation="relu"), (1, 3, 4, 3)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=2, strides=3, padding="same"), (1, 3, 3, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same", output_padding=1), (1, 3, 3, 2)),
]


@_keras_warning
@pytest.mark.parametrize("cls, kwargs, shape", KERAS_LAYERS, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(KERAS_LAYERS)])
def test_layer_outputs_match_keras(cls, kwargs, shape, rng):
    keras = _keras()
    kl = getattr(keras.layers, cls)(**kwargs)
    x = rng.standard_normal(shape).astype(np.float32)
    ky = np.asarray(keras.ops.convert_to_numpy(kl(x)))
    pl = getattr(layers, cls)(**kwargs)
    pl.build((None,) + shape[1:])
    weights = [np.asarray(keras.ops.convert_to_numpy(v)) for v in kl.weights]
    if len(weights) == 2:
        weights[1] = rng.standard_normal(weights[1].shape).astype(np.float32)
        kl.weights[1].assign(weights[1])
        ky = np.asarray(keras.ops.convert_to_numpy(kl(x)))
    pl.set_weights(weights)
    py = pl(x)
    assert py.shape == ky.shape
    assert pl.compute_output_shape((None,) + shape[1:])[1:] == tuple(kl.compute_output_shape((None,) + shape[1:])[1:])
    np.testing.assert_allclose(py, ky, rtol=1e-4, atol=1e-5)


@_keras_warning
def test_cnn_train_on_batch_matches_keras(rng):
    keras = _keras()
    kmodel = keras.Sequential([
        keras.Input((8, 8, 2)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(6, 3, strides=2, activation="tanh"),
        keras.layers.Conv2DTranspose(3, 2, strides=2, padding="same"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    pmodel = Sequential([
        layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 2)),
        layers.Conv2D(6, 3, strides=2, activation="tanh"),
        layers.Conv2DTranspose(3, 2, strides=2, padding="same"),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    pmodel.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kmodel.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
    pmodel.compile(pynncore.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
    x = rng.standard_normal((6, 8, 8, 2)).astype(np.float32)
    y = rng.integers(0, 3, 6)
    train_side_by_side(kmodel, pmodel, x, y, 4)


@_keras_warning
def test_conv1d_train_on_batch_matches_keras(rng):
    keras = _keras()
    kmodel = keras.Sequential([
        keras.Input((10, 3)),
        keras.layers.Conv1D(4, 3, padding="causal", activation="relu"),
        keras.layers.Conv1D(2, 2, strides=2, groups=2),
        keras.layers.Flatten(),
        keras.layers.Dense(1),
    ])
    pmodel = Sequential([
        layers.Conv1D(4, 3, padding="causal", activation="relu", input_shape=(10, 3)),
        layers.Conv1D(2, 2, strides=2, groups=2),
        layers.Flatten(),
        layers.Dense(1),
    ])
    pmodel.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kmodel.compile(keras.optimizers.SGD(0.02), "mse")
    pmodel.compile(pynncore.optimizers.SGD(0.02), "mse")
    x = rng.standard_normal((5, 10, 3)).astype(np.float32)
    y = rng.standard_normal((5, 1)).astype(np.float32)
    train_side_by_side(kmodel, pmodel, x, y, 3)
