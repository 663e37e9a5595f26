"""Pooling: native max/avg pooling kernels and the pooling layers against float64 references,
finite differences, PyTorch and Keras 3."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad

import pynncore
from pynncore import layers, ops
from pynncore.models import Sequential

# --- float64 references ------------------------------------------------------------------------


def _axis(n_in, k, s, padding):
    if padding == "same":
        out = -(-n_in // s)
        pad = max((out - 1) * s + k - n_in, 0) // 2
    else:
        out = (n_in - k) // s + 1
        pad = 0
    return out, pad


def ref_pool2d(x, mode, pool, strides, padding):
    """Pooled output and, for each output pixel, its window (clipped to the image)."""
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    oh, pt = _axis(h, pool[0], strides[0], padding)
    ow, pl = _axis(w, pool[1], strides[1], padding)
    y = np.zeros((n, oh, ow, c))
    wins = {}
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * strides[0] - pt, j * strides[1] - pl
            hs = slice(max(h0, 0), min(h0 + pool[0], h))
            ws = slice(max(w0, 0), min(w0 + pool[1], w))
            wins[i, j] = (hs, ws)
            win = x[:, hs, ws, :].reshape(n, -1, c)
            y[:, i, j] = win.max(axis=1) if mode == "max" else win.mean(axis=1)
    return y, wins


def ref_pool2d_grad(x, dy, mode, pool, strides, padding):
    """Max: all of dy to the first maximum of each window (row-major); avg: dy / count."""
    x = np.asarray(x, np.float64)
    dy = np.asarray(dy, np.float64)
    n, h, w, c = x.shape
    _, wins = ref_pool2d(x, mode, pool, strides, padding)
    dx = np.zeros_like(x)
    for (i, j), (hs, ws) in wins.items():
        hh, ww = np.meshgrid(np.arange(h)[hs], np.arange(w)[ws], indexing="ij")
        hh, ww = hh.ravel(), ww.ravel()
        if mode == "max":
            win = x[:, hs, ws, :].reshape(n, -1, c)
            first = np.argmax(win, axis=1)  # first maximum (first NaN when there is one)
            for b in range(n):
                for ch in range(c):
                    dx[b, hh[first[b, ch]], ww[first[b, ch]], ch] += dy[b, i, j, ch]
        else:
            dx[:, hs, ws, :] += dy[:, i, j, None, None, :] / hh.size
    return dx


CASES_2D = [
    # (shape, pool, strides, padding)
    ((2, 7, 9, 5), (3, 2), (2, 3), "valid"),
    ((1, 5, 5, 17), (2, 2), None, "same"),
    ((3, 6, 7, 3), (3, 3), (1, 1), "same"),
    ((2, 8, 8, 33), (2, 2), (2, 2), "valid"),
    ((1, 4, 6, 16), (4, 3), (1, 2), "same"),
    ((2, 3, 3, 1), (3, 3), None, "valid"),
    ((1, 1, 1, 7), (1, 1), None, "valid"),
    ((2, 5, 4, 20), (2, 3), (3, 1), "same"),
    ((2, 7, 8, 5), (2, 2), (3, 3), "valid"),
    ((1, 8, 7, 18), (2, 3), (4, 3), "same"),
    ((2, 9, 9, 4), (2, 2), (2, 2), "same"),
]


def _strides(pool, strides):
    return pool if strides is None else strides


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape, pool, strides, padding", CASES_2D, ids=str)
def test_pool2d_matches_reference(mode, shape, pool, strides, padding, cpu_path, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    fwd = ops.max_pool2d if mode == "max" else ops.avg_pool2d
    y = fwd(x, pool, strides, padding)
    want, _ = ref_pool2d(x, mode, pool, _strides(pool, strides), padding)
    assert y.dtype == np.float32 and y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    if mode == "max":
        dx = ops.max_pool2d_grad(x, y, dy, pool, strides, padding)
    else:
        dx = ops.avg_pool2d_grad(dy, x.shape, pool, strides, padding)
    np.testing.assert_allclose(dx, ref_pool2d_grad(x, dy, mode, pool, _strides(pool, strides), padding), rtol=1e-6, atol=1e-6)


CASES_1D = [((2, 9, 5), 3, 2, "valid"), ((1, 7, 17), 2, None, "same"), ((3, 10, 3), 4, 3, "same"), ((2, 5, 1), 5, 1, "valid"), ((2, 11, 6), 2, 3, "same")]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape, pool, strides, padding", CASES_1D, ids=str)
def test_pool1d_matches_reference(mode, shape, pool, strides, padding, cpu_path, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    s = pool if strides is None else strides
    want, _ = ref_pool2d(x[:, None], mode, (1, pool), (1, s), padding)
    fwd = ops.max_pool1d if mode == "max" else ops.avg_pool1d
    y = fwd(x, pool, strides, padding)
    np.testing.assert_allclose(y, want[:, 0], rtol=1e-6, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    if mode == "max":
        dx = ops.max_pool1d_grad(x, y, dy, pool, strides, padding)
    else:
        dx = ops.avg_pool1d_grad(dy, x.shape, pool, strides, padding)
    want_dx = ref_pool2d_grad(x[:, None], dy[:, None], mode, (1, pool), (1, s), padding)[:, 0]
    np.testing.assert_allclose(dx, want_dx, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_threads_give_the_same_result(mode, num_threads, rng):
    x = rng.standard_normal((8, 32, 32, 19)).astype(np.float32)
    pool, strides = (3, 3), (2, 2)
    y = (ops.max_pool2d if mode == "max" else ops.avg_pool2d)(x, pool, strides, "same")
    want, _ = ref_pool2d(x, mode, pool, strides, "same")
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    if mode == "max":
        dx = ops.max_pool2d_grad(x, y, dy, pool, strides, "same")
    else:
        dx = ops.avg_pool2d_grad(dy, x.shape, pool, strides, "same")
    np.testing.assert_allclose(dx, ref_pool2d_grad(x, dy, mode, pool, strides, "same"), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer_cls, shape", [
    (layers.MaxPooling2D, (2, 5, 6, 3)), (layers.AveragePooling2D, (2, 5, 6, 3)),
    (layers.MaxPooling1D, (2, 7, 3)), (layers.AveragePooling1D, (2, 7, 3)),
])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_layer_finite_difference_gradients(layer_cls, shape, padding, rng):
    nd = len(shape) - 2
    layer = layer_cls(pool_size=(3,) * nd, strides=(2,) * nd, padding=padding)
    x = rng.standard_normal(shape).astype(np.float32)
    y, ctx = layer.forward(x, training=True)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(ctx, r.astype(np.float32))
    mode = "max" if "Max" in layer_cls.__name__ else "avg"

    def f(v):
        v4 = v if nd == 2 else v[:, None]
        out, _ = ref_pool2d(v4, mode, (3, 3) if nd == 2 else (1, 3), (2, 2) if nd == 2 else (1, 2), padding)
        return float((out.reshape(y.shape) * r).sum())

    assert_grad_close(dx, numeric_grad(f, x.astype(np.float64)), what="dx")


def test_max_pool_ties_route_to_the_first_maximum(cpu_path):
    x = np.ones((1, 4, 4, 3), np.float32)
    y = ops.max_pool2d(x, 2, 1, "valid")  # overlapping windows, all values equal
    dx = ops.max_pool2d_grad(x, y, np.ones_like(y), 2, 1, "valid")
    want = np.zeros((1, 4, 4, 3), np.float32)
    want[0, :3, :3] = 1  # each window's top-left position
    np.testing.assert_array_equal(dx, want)


def test_max_pool_nan_and_infinity(cpu_path):
    x = np.zeros((1, 2, 4, 17), np.float32)
    x[0, 1, 0, 3] = np.nan
    x[0, 0, 1, 4] = np.inf
    x[0, :, 2:, 5] = -np.inf
    y = ops.max_pool2d(x, 2)
    assert np.isnan(y[0, 0, 0, 3]) and not np.isnan(y[0, 0, 1, 3])
    assert y[0, 0, 0, 4] == np.inf and y[0, 0, 1, 5] == -np.inf
    dx = ops.max_pool2d_grad(x, y, np.ones_like(y), 2)
    assert dx[0, 1, 0, 3] == 1 and dx[0, 0, 1, 4] == 1 and dx[0, 0, 2, 5] == 1
    assert dx.sum() == y.size  # one position per window and channel


def test_pool_zero_sized_batch_and_channels():
    assert ops.max_pool2d(np.zeros((0, 4, 4, 3)), 2).shape == (0, 2, 2, 3)
    assert ops.avg_pool2d(np.zeros((2, 4, 4, 0)), 2, padding="same").shape == (2, 2, 2, 0)
    assert ops.avg_pool2d_grad(np.zeros((0, 2, 2, 3), np.float32), (0, 4, 4, 3), 2).shape == (0, 4, 4, 3)


def test_pool_ops_errors():
    x = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="max_pool2d: x must be 4-D"):
        ops.max_pool2d(np.zeros((4, 4, 2)), 2)
    with pytest.raises(ValueError, match=r"max_pool1d: x must be 3-D \(N, L, C\)"):
        ops.max_pool1d(x, 2)
    with pytest.raises(ValueError, match="larger than the input"):
        ops.max_pool2d(x, 5)
    with pytest.raises(ValueError, match="pool_size must be positive"):
        ops.avg_pool2d(x, 0)
    with pytest.raises(ValueError, match="strides must be positive"):
        ops.avg_pool2d(x, 2, (1, -1))
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        ops.max_pool2d(x, 2, padding="full")
    with pytest.raises(ValueError, match="pool_size must be an int or a tuple of 2 ints"):
        ops.max_pool2d(x, (2, 2, 2))
    with pytest.raises(TypeError, match="real numeric"):
        ops.max_pool2d(np.array([["a"]]), 2)
    y = ops.max_pool2d(x, 2)
    with pytest.raises(ValueError, match="dy must have shape"):
        ops.max_pool2d_grad(x, y, np.zeros((1, 3, 2, 2), np.float32), 2)
    with pytest.raises(ValueError, match="y must have shape"):
        ops.max_pool2d_grad(x, np.zeros((1, 2, 1, 2), np.float32), y, 2)
    with pytest.raises(ValueError, match="x_shape must have 4 entries"):
        pynncore._core.pool2d_backward("avg", y, (1, 4, 4), 2, 2, 2, 2, "valid")
    with pytest.raises(ValueError, match="mode must be 'max' or 'avg'"):
        pynncore._core.pool2d_forward("min", x, 2, 2, 2, 2, "valid")
    with pytest.raises(TypeError, match="dtype float32"):
        pynncore._core.pool2d_forward("max", x.astype(np.float64), 2, 2, 2, 2, "valid")
    with pytest.raises(ValueError, match="C-contiguous"):
        pynncore._core.pool2d_forward("max", np.zeros((1, 4, 4, 4), np.float32)[..., ::2], 2, 2, 2, 2, "valid")
    with pytest.raises(ValueError, match="out must have shape"):
        pynncore._core.pool2d_forward("max", x, 2, 2, 2, 2, "valid", np.zeros((1, 2, 2, 3), np.float32))
    with pytest.raises(ValueError, match="read-only"):
        out = np.zeros((1, 2, 2, 2), np.float32)
        out.flags.writeable = False
        pynncore._core.pool2d_forward("max", x, 2, 2, 2, 2, "valid", out)


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling1D])
def test_pooling_layer_errors_name_the_layer(cls):
    nd = 2 if cls is layers.MaxPooling2D else 1
    with pytest.raises(ValueError, match=rf"{cls.__name__} 'p': pool_size must be a positive int"):
        cls(pool_size=0, name="p")
    with pytest.raises(ValueError, match=rf"{cls.__name__} 'p2': strides must be a positive int"):
        cls(strides=-1, name="p2")
    with pytest.raises(ValueError, match=r"padding must be 'valid' or 'same'. Received: padding='causal'"):
        cls(padding="causal")
    with pytest.raises(ValueError, match="channels_last"):
        cls(data_format="channels_first")
    layer = cls(pool_size=4, name="p3")
    with pytest.raises(ValueError, match=rf"'p3': expected a {nd + 2}-D input.*Received: shape=\((None|2), 3\)"):
        layer(np.zeros((2, 3)))
    small = (1, 3, 3, 1) if nd == 2 else (1, 3, 1)
    with pytest.raises(ValueError, match=r"'p3': pool_size .* is larger than .*Received: shape="):
        layer(np.zeros(small))
    with pytest.raises(ValueError, match="larger than"):
        Sequential([pynncore.Input(small[1:]), cls(pool_size=4)])


def test_pooling_layer_shapes_and_symbolic_build():
    inp = pynncore.Input((9, 7, 3))
    assert layers.MaxPooling2D()(inp).shape == (None, 4, 3, 3)
    assert layers.MaxPooling2D(3, 2, "same")(inp).shape == (None, 5, 4, 3)
    assert layers.AveragePooling2D((2, 3), (1, 1))(inp).shape == (None, 8, 5, 3)
    assert layers.MaxPool1D(2, padding="same")(pynncore.Input((9, 4))).shape == (None, 5, 4)
    assert layers.GlobalMaxPooling2D(keepdims=True)(inp).shape == (None, 1, 1, 3)
    assert layers.GlobalAveragePooling1D()(pynncore.Input((9, 4))).shape == (None, 4)
    assert layers.AvgPool2D is layers.AveragePooling2D and layers.GlobalAvgPool2D is layers.GlobalAveragePooling2D


# --- global pooling ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls, shape", [
    (layers.GlobalMaxPooling2D, (3, 4, 5, 7)), (layers.GlobalAveragePooling2D, (3, 4, 5, 7)),
    (layers.GlobalMaxPooling1D, (2, 9, 5)), (layers.GlobalAveragePooling1D, (2, 9, 5)),
])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_values_and_gradients(cls, shape, keepdims, rng):
    layer = cls(keepdims=keepdims)
    x = rng.standard_normal(shape).astype(np.float32)
    axes = tuple(range(1, len(shape) - 1))
    red = np.max if "Max" in cls.__name__ else np.mean
    ref = lambda v: red(v, axis=axes, keepdims=keepdims)
    y, ctx = layer.forward(x, training=True)
    np.testing.assert_allclose(y, ref(x.astype(np.float64)), rtol=1e-6, atol=1e-7)
    assert y.shape[1:] == layer.compute_output_shape((None,) + shape[1:])[1:]
    r = rng.standard_normal(y.shape)
    dx = layer.backward(ctx, r.astype(np.float32))
    assert_grad_close(dx, numeric_grad(lambda v: float((ref(v) * r).sum()), x.astype(np.float64)), what="dx")
    with pytest.raises(ValueError, match=rf"{cls.__name__} '.*': expected a {len(shape)}-D input"):
        layer(np.zeros((2, 3)))


def test_global_max_pooling_ties_share_the_gradient():
    layer = layers.GlobalMaxPooling2D()
    x = np.zeros((1, 2, 2, 1), np.float32)
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 3
    y, ctx = layer.forward(x, training=True)
    dx = layer.backward(ctx, np.ones_like(y))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0.5], [0.5, 0]])


# --- config and saving -------------------------------------------------------------------------

ALL = [
    (layers.MaxPooling2D, {"pool_size": (3, 2), "strides": (1, 2), "padding": "same"}),
    (layers.AveragePooling2D, {"pool_size": 2}),
    (layers.MaxPooling1D, {"pool_size": 3, "strides": 2, "padding": "same"}),
    (layers.AveragePooling1D, {}),
    (layers.GlobalMaxPooling2D, {"keepdims": True}),
    (layers.GlobalAveragePooling2D, {}),
    (layers.GlobalMaxPooling1D, {}),
    (layers.GlobalAveragePooling1D, {"keepdims": True}),
]


@pytest.mark.parametrize("cls, kwargs", ALL, ids=lambda v: getattr(v, "__name__", ""))
def test_get_config_round_trip(cls, kwargs):
    layer = cls(**kwargs)
    clone = cls.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    for k, v in kwargs.items():
        got = getattr(clone, k)
        assert got == (tuple(v) if isinstance(v, tuple) else v) or got == (v,) * len(got)


def test_cnn_model_trains_saves_and_loads(tmp_path, rng):
    x = rng.standard_normal((24, 8, 8, 2)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    model = Sequential([
        pynncore.Input((8, 8, 2)),
        layers.MaxPooling2D(2, padding="same"),
        layers.BatchNormalization(),
        layers.AveragePooling2D((2, 2), strides=1),
        layers.GlobalMaxPooling2D(),
        layers.Dense(2, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    h = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    path = str(tmp_path / "cnn.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]


# --- PyTorch and Keras 3 -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape, pool, strides", [((2, 7, 9, 5), (3, 2), (2, 3)), ((1, 6, 6, 17), (2, 2), (1, 1)), ((3, 5, 5, 3), (3, 3), (3, 3))])
def test_pool2d_valid_matches_torch_forward_and_backward(mode, shape, pool, strides, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape).astype(np.float32)
    x[:, ::2, ::2] = np.round(x[:, ::2, ::2])  # some ties
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    f = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d
    yt = f(xt, pool, strides)
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(dy))
    y = (ops.max_pool2d if mode == "max" else ops.avg_pool2d)(x, pool, strides)
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)
    dyn = np.ascontiguousarray(dy.transpose(0, 2, 3, 1))
    dx = ops.max_pool2d_grad(x, y, dyn, pool, strides) if mode == "max" else ops.avg_pool2d_grad(dyn, x.shape, pool, strides)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)


KERAS_LAYERS = [
    ("MaxPooling2D", (2, 7, 9, 5), {"pool_size": (3, 2), "strides": (2, 3), "padding": "valid"}),
    ("MaxPooling2D", (2, 7, 9, 5), {"pool_size": (3, 3), "strides": (2, 2), "padding": "same"}),
    ("AveragePooling2D", (2, 7, 9, 5), {"pool_size": (3, 3), "strides": (2, 2), "padding": "same"}),
    ("AveragePooling2D", (1, 6, 5, 17), {"pool_size": 2, "padding": "same"}),
    ("AveragePooling2D", (2, 6, 6, 3), {"pool_size": (2, 3), "strides": 1}),
    ("MaxPooling1D", (2, 11, 5), {"pool_size": 3, "strides": 2, "padding": "same"}),
    ("AveragePooling1D", (2, 11, 5), {"pool_size": 4, "strides": 3, "padding": "same"}),
    ("AveragePooling1D", (1, 8, 3), {"pool_size": 3}),
    ("GlobalMaxPooling2D", (2, 4, 5, 3), {"keepdims": True}),
    ("GlobalAveragePooling2D", (2, 4, 5, 3), {}),
    ("GlobalMaxPooling1D", (2, 6, 3), {}),
    ("GlobalAveragePooling1D", (2, 6, 3), {"keepdims": True}),
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name, shape, kwargs", KERAS_LAYERS, ids=lambda v: v if isinstance(v, str) else "")
def test_pooling_layers_match_keras_forward_and_backward(name, shape, kwargs, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip("needs the torch backend of Keras")
    x = rng.standard_normal(shape).astype(np.float32)
    klayer = getattr(keras.layers, name)(**kwargs)
    xt = torch.tensor(x, requires_grad=True)
    yt = klayer(xt)
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(dy))
    player = getattr(layers, name)(**kwargs)
    y, ctx = player.forward(x, training=True)
    np.testing.assert_allclose(y, yt.detach().cpu().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(player.backward(ctx, dy), xt.grad.cpu().numpy(), rtol=1e-5, atol=1e-6)


def test_global_average_pooling_1d_with_mask(rng):
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], bool)
    layer = layers.GlobalAveragePooling1D()
    y, ctx = layer.forward(x, training=True, mask=mask)
    w = mask.astype(np.float64)[:, :, None]
    ref = lambda v: (v * w).sum(1) / w.sum(1)
    np.testing.assert_allclose(y, ref(x.astype(np.float64)), rtol=1e-6, atol=1e-7)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(ctx, r.astype(np.float32))
    assert_grad_close(dx, numeric_grad(lambda v: float((ref(v) * r).sum()), x.astype(np.float64)), what="dx")
    assert layer.compute_mask(x, mask) is None
    with pytest.raises(ValueError, match=r"GlobalAveragePooling1D '.*': expected a mask of shape \(3, 5\)"):
        layer.forward(x, mask=mask[:, :4])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_global_average_pooling_1d_mask_matches_keras(rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], bool)
    want = keras.ops.convert_to_numpy(keras.layers.GlobalAveragePooling1D()(x, mask=mask))
    np.testing.assert_allclose(layers.GlobalAveragePooling1D().forward(x, mask=mask)[0], want, rtol=1e-5, atol=1e-6)


def test_pool_rejects_absurd_window_sizes():
    x = np.zeros((1, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match="at most"):
        ops.max_pool2d(x, 2**50, padding="same")
    with pytest.raises(ValueError, match="at most"):
        ops.avg_pool2d(x, 2, 2**62, padding="same")
    assert ops.avg_pool2d(x + 1, 7, 5, padding="same").tolist() == [[[[1.0]]]]


def test_pool_ops_convert_other_inputs(rng):
    x = rng.standard_normal((2, 6, 10, 3))
    view = x[:, :, ::2]  # float64, non-contiguous
    c = np.ascontiguousarray(view, np.float32)
    np.testing.assert_array_equal(ops.max_pool2d(view, 2), ops.max_pool2d(c, 2))
    np.testing.assert_array_equal(ops.avg_pool1d(view[:, 0], 3, 1, "same"), ops.avg_pool1d(c[:, 0], 3, 1, "same"))
    y = ops.max_pool2d(c, 2)
    np.testing.assert_array_equal(ops.max_pool2d_grad(view, y.astype(np.float64), np.ones(y.shape), 2), ops.max_pool2d_grad(c, y, np.ones_like(y), 2))


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("pool, strides, padding", [((2, 2), (3, 3), "valid"), ((2, 3), (4, 3), "same"), ((3, 3), (1, 2), "same")], ids=str)
def test_pool_backward_writes_every_position_of_dx(mode, pool, strides, padding, cpu_path, rng):
    x = rng.standard_normal((2, 8, 7, 18)).astype(np.float32)
    y = pynncore._core.pool2d_forward(mode, x, *pool, *strides, padding)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = np.full(x.shape, np.nan, np.float32)  # stale contents must never leak through
    out = pynncore._core.pool2d_backward(mode, dy, x.shape, *pool, *strides, padding, x, y, dx)
    assert out is dx
    np.testing.assert_allclose(dx, ref_pool2d_grad(x, dy, mode, pool, strides, padding), rtol=1e-6, atol=1e-6)
