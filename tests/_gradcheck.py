"""Finite-difference gradients of float64 reference functions.

Layers compute in float32; their backward pass is checked against the gradient of a float64
reference forward, taken by central differences (step 1e-6), so the check measures the
layer's float32 error only.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences; f takes a float64 array shaped like x."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g


def assert_grad_close(got: np.ndarray, want: np.ndarray, rtol: float = 2e-4, atol: float = 2e-5, what: str = "") -> None:
    """Gradient comparison scaled by the gradient's size (float32 backward vs float64)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    err = np.abs(got - want)
    bad = err > atol * scale + rtol * np.abs(want)
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} of {bad.size} gradient entries differ; "
        f"max abs error {err.max():.3g} (scale {scale:.3g})"
    )


def check_layer_against_reference(layer, x: np.ndarray, ref: Callable[[np.ndarray], np.ndarray], rng,
                                  rtol: float = 1e-6, atol: float = 1e-6) -> None:
    """A layer's training forward pass against the float64 reference ``ref`` (values, float32,
    C order, eager and symbolic output shapes), and its input gradient against finite
    differences of ``sum(ref(x) * r)`` for a random ``r``."""
    import pynncore

    y, ctx = layer.forward(x, training=True)
    want = ref(x)
    assert y.dtype == np.float32 and y.flags.c_contiguous
    np.testing.assert_allclose(y, want, rtol=rtol, atol=atol)
    assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + want.shape[1:]
    assert layer(pynncore.Input(x.shape[1:])).shape == (None,) + want.shape[1:]
    r = rng.standard_normal(y.shape)
    dx = layer.backward(ctx, r.astype(np.float32))
    assert dx.shape == x.shape
    assert_grad_close(dx, numeric_grad(lambda v: float((ref(v) * r).sum()), x.astype(np.float64)), what="dx")


def check_kernel_bias_gradients(layer, x: np.ndarray, ref: Callable, rng) -> np.ndarray:
    """A layer with ``kernel`` (and, with ``use_bias``, ``bias``) weights: its training forward
    pass, then its input, kernel and bias gradients against finite differences of
    ``sum(ref(x, kernel, bias) * r)`` (float64 ``ref``; ``bias`` None without one) for a random
    ``r``. Weight gradients must add to what the gradient buffers hold. Returns the output."""
    x64 = x.astype(np.float64)
    w = layer.kernel.value.astype(np.float64)
    b = layer.bias.value.astype(np.float64) if layer.use_bias else None
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    layer.kernel.grad[...] = 0.5
    if b is not None:
        layer.bias.grad[...] = 0.5
    dx = layer.backward(ctx, r.astype(np.float32))
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert_grad_close(dx, numeric_grad(lambda v: float((ref(v, w, b) * r).sum()), x64), what="dx")
    assert_grad_close(layer.kernel.grad - 0.5, numeric_grad(lambda v: float((ref(x64, v, b) * r).sum()), w), what="dkernel")
    if b is not None:
        assert_grad_close(layer.bias.grad - 0.5, numeric_grad(lambda v: float((ref(x64, w, v) * r).sum()), b), what="dbias")
    assert layer.backward(ctx, r.astype(np.float32), need_dx=False) is None
    return y
