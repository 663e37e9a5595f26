"""BatchNormalization: the native kernels and the layer against float64 references, finite
differences and Keras 3."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad

import pynncore
from pynncore import layers, ops
from pynncore.models import Sequential


def ref_bn_train(x, gamma, beta, eps):
    x = np.asarray(x, np.float64)
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    g = 1.0 if gamma is None else np.asarray(gamma, np.float64)
    b = 0.0 if beta is None else np.asarray(beta, np.float64)
    return (x - mean) / np.sqrt(var + eps) * g + b, mean, var


def ref_bn_grad(x, dy, gamma, eps):
    """dx, dgamma, dbeta of the training forward, from the closed form in float64."""
    x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
    dy = np.asarray(dy, np.float64).reshape(x.shape)
    n = x.shape[0]
    mean, var = x.mean(0), x.var(0)
    inv = 1.0 / np.sqrt(var + eps)
    xh = (x - mean) * inv
    g = 1.0 if gamma is None else np.asarray(gamma, np.float64)
    dbeta = dy.sum(0)
    dgamma = (dy * xh).sum(0)
    dx = g * inv / n * (n * dy - dbeta - xh * dgamma)
    return dx, dgamma, dbeta


SHAPES = [(5, 1), (7, 3), (16, 17), (3, 33), (2, 5, 64), (2, 3, 4, 100), (4, 7, 9, 3), (1, 1), (1, 6, 6, 16), (33, 129)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_kernels_match_reference(shape, affine, cpu_path, rng):
    c = shape[-1]
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    gamma = rng.standard_normal(c).astype(np.float32) if affine else None
    beta = rng.standard_normal(c).astype(np.float32) if affine else None
    y, mean, var, inv_std = ops.batch_norm_train(x, gamma, beta, 1e-3)
    want, wmean, wvar = ref_bn_train(x, gamma, beta, 1e-3)
    np.testing.assert_allclose(mean, wmean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var, wvar, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(wvar + 1e-3), rtol=1e-5)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dgamma, dbeta = ops.batch_norm_grad(x, dy, mean, inv_std, gamma)
    wdx, wdg, wdb = ref_bn_grad(x, dy, gamma, 1e-3)
    # dx is a difference of terms of size |gamma dy| inv_std: its error scales with them
    scale = np.abs(dy).max() * (1.0 if gamma is None else np.abs(gamma).max()) * inv_std.max()
    np.testing.assert_allclose(dx.reshape(wdx.shape), wdx, rtol=1e-3, atol=1e-5 * scale)
    np.testing.assert_allclose(dgamma, wdg, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dbeta, wdb, rtol=1e-5, atol=1e-5)
    # inference with the same statistics gives the training output
    np.testing.assert_allclose(ops.batch_norm(x, mean, var, gamma, beta, 1e-3), y, rtol=1e-5, atol=1e-5)


def test_batch_norm_threads_give_the_same_result(num_threads, rng):
    x = rng.standard_normal((64, 16, 16, 19)).astype(np.float32)
    gamma = rng.standard_normal(19).astype(np.float32)
    y, mean, var, inv_std = ops.batch_norm_train(x, gamma, None, 1e-3)
    want, wmean, wvar = ref_bn_train(x, gamma, None, 1e-3)
    np.testing.assert_allclose(mean, wmean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, wvar, rtol=1e-5)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx, dgamma, dbeta = ops.batch_norm_grad(x, dy, mean, inv_std, gamma)
    wdx, wdg, wdb = ref_bn_grad(x, dy, gamma, 1e-3)
    np.testing.assert_allclose(dx.reshape(wdx.shape), wdx, rtol=1e-3, atol=1e-5 * np.abs(wdx).max())
    np.testing.assert_allclose(dgamma, wdg, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(dbeta, wdb, rtol=1e-4, atol=1e-3)


def test_batch_norm_statistics_are_accurate_with_a_large_offset(cpu_path, rng):
    # mean 1e4, std 1e-1: float32 sums of x^2 would lose every digit of the variance.
    x = (1e4 + 0.1 * rng.standard_normal((4096, 5))).astype(np.float32)
    _, mean, var, _ = ops.batch_norm_train(x, None, None, 1e-3)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(0), rtol=1e-7)
    np.testing.assert_allclose(var, x64.var(0), rtol=1e-4)


def test_batch_norm_in_place_and_no_dx(rng):
    x = rng.standard_normal((9, 5)).astype(np.float32)
    want, *_ = ops.batch_norm_train(x.copy(), None, None, 1e-3)
    y, mean, _var, inv_std = pynncore._core.batch_norm_forward_train(x, None, None, 1e-3, x)
    assert y is x
    np.testing.assert_array_equal(x, want)
    dx, _dgamma, dbeta = ops.batch_norm_grad(np.ones((9, 5)), np.ones((9, 5)), mean, inv_std, need_dx=False)
    assert dx is None and dbeta.shape == (5,)


def test_batch_norm_kernel_errors():
    x = np.zeros((4, 3), np.float32)
    c3 = np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"batch_norm_train: gamma must have shape \(3,\)"):
        ops.batch_norm_train(x, np.ones(4), None)
    with pytest.raises(ValueError, match="at least one value per channel"):
        ops.batch_norm_train(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="epsilon must be finite and > 0"):
        ops.batch_norm_train(x, epsilon=0.0)
    with pytest.raises(ValueError, match="0-d"):
        ops.batch_norm(np.float32(1), c3, c3)
    with pytest.raises(ValueError, match=r"variance must have shape \(3,\)"):
        ops.batch_norm(x, c3, np.ones(2))
    with pytest.raises(ValueError, match="dy must have the shape of x"):
        ops.batch_norm_grad(x, np.zeros((4, 2)), c3, c3)
    with pytest.raises(TypeError, match="dtype float32"):
        pynncore._core.batch_norm_forward_train(x.astype(np.float64), None, None, 1e-3)
    with pytest.raises(ValueError, match="out must have the shape of x"):
        pynncore._core.batch_norm_forward_train(x, None, None, 1e-3, np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="mean must not be None"):
        pynncore._core.batch_norm_forward_infer(x, None, c3, None, None, 1e-3)


# --- the layer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 3), (3, 5, 4), (2, 3, 5, 7)], ids=str)
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False), (False, False)])
def test_layer_gradients_on_every_rank(shape, center, scale, cpu_path, rng):
    c = shape[-1]
    layer = layers.BatchNormalization(momentum=0.8, epsilon=1e-3, center=center, scale=scale)
    layer.build((None,) + shape[1:])
    g = rng.standard_normal(c) if scale else None
    b = rng.standard_normal(c) if center else None
    if scale:
        layer.gamma.value[...] = g
        g = layer.gamma.value.astype(np.float64)
    if center:
        layer.beta.value[...] = b
        b = layer.beta.value.astype(np.float64)
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    x64 = x.astype(np.float64)
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_allclose(y, ref_bn_train(x64, g, b, 1e-3)[0], rtol=1e-4, atol=1e-5)
    _, m, v = ref_bn_train(x64, None, None, 1e-3)
    np.testing.assert_allclose(layer.moving_mean.value, 0.2 * m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(layer.moving_variance.value, 0.8 + 0.2 * v, rtol=1e-5)
    r = rng.standard_normal(shape)
    dx = layer.backward(ctx, r.astype(np.float32))
    f = lambda v_: float((ref_bn_train(v_, g, b, 1e-3)[0] * r).sum())
    assert_grad_close(dx, numeric_grad(f, x64), what="dx")
    if scale:
        assert_grad_close(layer.gamma.grad, numeric_grad(lambda v_: float((ref_bn_train(x64, v_, b, 1e-3)[0] * r).sum()), g), what="dgamma")
    if center:
        assert_grad_close(layer.beta.grad, numeric_grad(lambda v_: float((ref_bn_train(x64, g, v_, 1e-3)[0] * r).sum()), b), what="dbeta")
        # gradients accumulate
        before = layer.beta.grad.copy()
        layer.backward(ctx, r.astype(np.float32), need_dx=False)
        np.testing.assert_allclose(layer.beta.grad, 2 * before, rtol=1e-6)


def test_layer_non_last_axis(rng):
    layer = layers.BatchNormalization(axis=1)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    layer.build((None, 3, 5))
    y, ctx = layer.forward(x, training=True)
    moved = np.moveaxis(x, 1, -1)
    np.testing.assert_allclose(np.moveaxis(y, 1, -1), ref_bn_train(moved, None, None, 1e-3)[0], rtol=1e-4, atol=1e-5)
    r = rng.standard_normal(x.shape)
    dx = layer.backward(ctx, r.astype(np.float32))
    f = lambda v: float((np.moveaxis(ref_bn_train(np.moveaxis(v, 1, -1), None, None, 1e-3)[0], -1, 1) * r).sum())
    assert_grad_close(dx, numeric_grad(f, x.astype(np.float64)), what="dx")


def test_frozen_layer_uses_moving_statistics_in_training(rng):
    layer = layers.BatchNormalization(trainable=False)
    layer.build((None, 4))
    layer.moving_mean.value[...] = [0.5, -1, 2, 0]
    layer.moving_variance.value[...] = [1, 4, 0.25, 2]
    x = rng.standard_normal((6, 4)).astype(np.float32)
    before = layer.moving_mean.value.copy()
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_array_equal(layer.moving_mean.value, before)
    np.testing.assert_allclose(y, layer(x), rtol=1e-6)
    dx = layer.backward(ctx, np.ones_like(y))
    np.testing.assert_allclose(dx, np.broadcast_to(1 / np.sqrt(layer.moving_variance.value + 1e-3), x.shape), rtol=1e-6)


def test_layer_save_and_load_round_trip(tmp_path, rng):
    x = rng.standard_normal((16, 5, 5, 3)).astype(np.float32)
    model = Sequential([pynncore.Input((5, 5, 3)), layers.BatchNormalization(momentum=0.9, epsilon=1e-2, center=False), layers.GlobalAveragePooling2D(), layers.Dense(2)])
    model.compile("sgd", "mse")
    model.fit(x, rng.standard_normal((16, 2)).astype(np.float32), epochs=2, batch_size=8, verbose=0)
    path = str(tmp_path / "bn.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    cfg = loaded.layers[0].get_config()
    assert cfg["momentum"] == 0.9 and cfg["epsilon"] == 1e-2 and cfg["center"] is False


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("shape", [(8, 5), (4, 6, 3), (3, 4, 5, 7)], ids=str)
def test_layer_matches_keras_training_and_inference(shape, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip("needs the torch backend of Keras")
    c = shape[-1]
    kl = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    kl.build((None,) + shape[1:])
    pl = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    pl.build((None,) + shape[1:])
    weights = [rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32), rng.random(c).astype(np.float32) + 0.5]
    kl.set_weights(weights)
    pl.set_weights(weights)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = kl(xt, training=True)
    dy = rng.standard_normal(shape).astype(np.float32)
    yt.backward(torch.tensor(dy))
    y, ctx = pl.forward(x, training=True)
    np.testing.assert_allclose(y, yt.detach().cpu().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pl.backward(ctx, dy), xt.grad.cpu().numpy(), rtol=1e-3, atol=1e-5)
    for got, want in zip(pl.get_weights()[2:], [np.asarray(w) for w in kl.get_weights()[2:]]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    xi = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(pl(xi), keras.ops.convert_to_numpy(kl(xi, training=False)), rtol=1e-5, atol=1e-5)


def test_batch_norm_converts_other_inputs_and_handles_zero_channels(rng):
    x = rng.standard_normal((6, 10)).astype(np.float64)
    view = x[:, ::2]  # float64, non-contiguous
    want, *_ = ops.batch_norm_train(np.ascontiguousarray(view, np.float32))
    np.testing.assert_array_equal(ops.batch_norm_train(view)[0], want)
    y, mean, _var, inv_std = ops.batch_norm_train(np.zeros((4, 0), np.float32))
    assert y.shape == (4, 0) and mean.shape == (0,)
    dx, dgamma, _dbeta = ops.batch_norm_grad(np.zeros((4, 0)), np.zeros((4, 0)), mean, inv_std)
    assert dx.shape == (4, 0) and dgamma.shape == (0,)
