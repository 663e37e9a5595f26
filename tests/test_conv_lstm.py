"""ConvLSTM1D/2D/3D against a float64 numpy reference, finite differences and Keras 3."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from _gradcheck import assert_grad_close, numeric_grad
from _keras_train import train_side_by_side

import pynncore
from pynncore.layers import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, Dense, Flatten
from pynncore.models import Model, Sequential

CLASSES = {1: ConvLSTM1D, 2: ConvLSTM2D, 3: ConvLSTM3D}


# --- float64 reference ----------------------------------------------------------------------------


def _tuple(v, rank):
    return (v,) * rank if isinstance(v, int) else tuple(v)


def ref_conv(x, w, strides, padding, dilation):
    """Channels-last convolution of x (B, *S, C) with w (*K, C, F), Keras's padding rule."""
    rank = x.ndim - 2
    pad, outs = [(0, 0)], []
    for n, k, s, d in zip(x.shape[1:-1], w.shape[:rank], strides, dilation):
        keff = (k - 1) * d + 1
        if padding == "valid":
            out, before, after = (n - keff) // s + 1, 0, 0
        else:
            out = -(-n // s)
            total = max((out - 1) * s + keff - n, 0)
            before, after = total // 2, total - total // 2
        pad.append((before, after))
        outs.append(out)
    xp = np.pad(x, pad + [(0, 0)])
    y = np.zeros((x.shape[0], *outs, w.shape[-1]))
    for idx in np.ndindex(*w.shape[:rank]):
        window = tuple(slice(i * d, i * d + (o - 1) * s + 1, s) for i, d, o, s in zip(idx, dilation, outs, strides))
        y += xp[(slice(None),) + window] @ w[idx]
    return y


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def ref_conv_lstm(x, k, rk, b, strides=1, padding="valid", dilation_rate=1, h0=None, c0=None,
                  go_backwards=False, return_sequences=False, masks=None, rmasks=None, mask=None):
    """(output, h, c) of a ConvLSTM over x (N, T, *S, C); masks/rmasks: per-gate dropout masks;
    mask (N, T): masked steps keep the states and repeat the last output (zeros at first)."""
    rank = x.ndim - 3
    s, d, one = _tuple(strides, rank), _tuple(dilation_rate, rank), (1,) * rank
    f = rk.shape[-2]
    if go_backwards:
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    h, c, hs, last = h0, c0, [], 0.0

    def gates(inp, w, geo, ms):
        if ms is None:
            return ref_conv(inp, w, *geo)
        return np.concatenate([ref_conv(inp * m, w[..., g * f : (g + 1) * f], *geo) for g, m in enumerate(ms)], -1)

    for t in range(x.shape[1]):
        z = gates(x[:, t], k, (s, padding, d), None if masks is None else [m[:, 0] for m in masks])
        if b is not None:
            z = z + b
        if h is None:
            h = np.zeros(z.shape[:-1] + (f,))
        if c is None:
            c = np.zeros_like(h)
        z = z + gates(h, rk, (one, "same", one), rmasks)
        i, fg, g, o = _sigmoid(z[..., :f]), _sigmoid(z[..., f : 2 * f]), np.tanh(z[..., 2 * f : 3 * f]), _sigmoid(z[..., 3 * f :])
        c_new = fg * c + i * g
        h_new = o * np.tanh(c_new)
        if mask is None:
            last, h, c = h_new, h_new, c_new
        else:
            keep = mask[:, t].reshape((-1,) + (1,) * (rank + 1))
            last, h, c = np.where(keep, h_new, last), np.where(keep, h_new, h), np.where(keep, c_new, c)
        hs.append(last)
    return (np.stack(hs, 1) if return_sequences else last), h, c


def _ref_layer(layer, x, h0=None, c0=None, **kw):
    b = layer.bias.value if layer.use_bias else None
    return ref_conv_lstm(
        x.astype(np.float64), layer.kernel.value.astype(np.float64), layer.recurrent_kernel.value.astype(np.float64),
        None if b is None else b.astype(np.float64), layer.strides, layer.padding, layer.dilation_rate, h0, c0,
        layer.go_backwards, layer.return_sequences, **kw,
    )


def _randomize(layer, rng, scale=0.4):
    layer.set_weights([rng.uniform(-scale, scale, w.shape).astype(np.float32) for w in layer.get_weights()])


# (rank, spatial shape of one step, channels, layer arguments)
CASES = [
    (2, (5, 6), 2, dict(filters=3, kernel_size=3)),
    (2, (5, 6), 2, dict(filters=3, kernel_size=(3, 2), padding="same")),
    (2, (7, 6), 3, dict(filters=2, kernel_size=3, strides=2, return_sequences=True)),
    (2, (7, 7), 2, dict(filters=2, kernel_size=2, strides=(2, 1), padding="same", go_backwards=True)),
    (2, (7, 6), 2, dict(filters=3, kernel_size=3, dilation_rate=2, padding="same", return_sequences=True)),
    (2, (5, 5), 2, dict(filters=2, kernel_size=3, use_bias=False, unit_forget_bias=False)),
    (1, (9,), 3, dict(filters=4, kernel_size=3, padding="same", return_sequences=True)),
    (1, (9,), 2, dict(filters=3, kernel_size=4, strides=2, go_backwards=True)),
    (3, (4, 3, 5), 2, dict(filters=2, kernel_size=(2, 3, 3), padding="same", return_sequences=True)),
    (3, (5, 4, 4), 2, dict(filters=2, kernel_size=3, strides=2)),
]
IDS = [f"{r}d-" + "-".join(f"{k}{v}" for k, v in kw.items() if k not in ("filters",)) for r, _, _, kw in CASES]


@pytest.mark.parametrize("rank, spatial, ch, kw", CASES, ids=IDS)
def test_forward_matches_reference(rank, spatial, ch, kw, rng):
    x = rng.standard_normal((3, 4) + spatial + (ch,)).astype(np.float32)
    layer = CLASSES[rank](return_state=True, **kw)
    layer(x)
    _randomize(layer, rng)
    y, h, c = layer(x)
    want = _ref_layer(layer, x)
    for got, ref in zip((y, h, c), want):
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # float64 and non-contiguous inputs give the same result
    for other in (x.astype(np.float64), np.asfortranarray(x), np.concatenate([x, x], axis=-1)[..., :ch]):
        np.testing.assert_array_equal(layer(other)[0], y)
    shapes = layer.compute_output_shape((None,) + x.shape[1:])
    assert [s[1:] for s in shapes] == [a.shape[1:] for a in (y, h, c)]
    sym = layer(pynncore.Input(x.shape[1:]))
    assert [t.shape for t in sym] == [(None,) + a.shape[1:] for a in (y, h, c)]
    # inference output equals the training forward pass; initial states are used
    h0 = rng.standard_normal(h.shape).astype(np.float32)
    c0 = rng.standard_normal(c.shape).astype(np.float32)
    out, _ = layer.forward(x, training=True, initial_state=[h0, c0])
    for got, ref in zip(out, _ref_layer(layer, x, h0.astype(np.float64), c0.astype(np.float64))):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_weights_have_keras_layouts_and_forget_bias():
    layer = ConvLSTM2D(5, (3, 2))
    layer.build((None, 4, 8, 8, 3))
    assert [w.shape for w in layer.weights] == [(3, 2, 3, 20), (3, 2, 5, 20), (20,)]
    assert [w.name for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    np.testing.assert_array_equal(layer.bias.value, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    layer = ConvLSTM1D(2, 3, unit_forget_bias=False, bias_initializer="ones")
    layer.build((None, 4, 8, 3))
    assert [w.shape for w in layer.weights] == [(3, 3, 8), (3, 2, 8), (8,)]
    np.testing.assert_array_equal(layer.bias.value, np.ones(8))
    layer = ConvLSTM3D(2, 2, use_bias=False)
    layer.build((None, 4, 3, 3, 3, 1))
    assert [w.shape for w in layer.weights] == [(2, 2, 2, 1, 8), (2, 2, 2, 2, 8)]


# --- gradients ------------------------------------------------------------------------------------

GRAD_CASES = [
    (2, (4, 5), 2, dict(filters=2, kernel_size=3, strides=2, padding="same", return_sequences=True)),
    (2, (4, 4), 2, dict(filters=2, kernel_size=(2, 3), go_backwards=True)),
    (1, (6,), 2, dict(filters=3, kernel_size=3, padding="same", dilation_rate=2, return_sequences=True, go_backwards=True)),
    (3, (3, 3, 3), 1, dict(filters=2, kernel_size=2, padding="same")),
]


@pytest.mark.parametrize("with_states", [False, True], ids=["zero-states", "initial-states"])
@pytest.mark.parametrize("rank, spatial, ch, kw", GRAD_CASES, ids=[f"{r}d-{i}" for i, (r, *_rest) in enumerate(GRAD_CASES)])
def test_backward_matches_finite_differences(rank, spatial, ch, kw, with_states, rng):
    x = rng.standard_normal((2, 3) + spatial + (ch,)).astype(np.float32)
    layer = CLASSES[rank](return_state=True, **kw)
    layer(x)
    _randomize(layer, rng, 0.5)
    k, rk, b = (w.astype(np.float64) for w in layer.get_weights())
    y, h, c = layer(x)
    h0 = c0 = None
    if with_states:
        h0 = rng.standard_normal(h.shape)
        c0 = rng.standard_normal(c.shape)
    states = None if h0 is None else [h0.astype(np.float32), c0.astype(np.float32)]
    (y, h, c), ctx = layer.forward(x, training=True, initial_state=states)
    ry, rh, rc = (rng.standard_normal(a.shape) for a in (y, h, c))

    def loss(xv=x, kv=k, rkv=rk, bv=b, hv=h0, cv=c0):
        args = (layer.strides, layer.padding, layer.dilation_rate, hv, cv, layer.go_backwards, layer.return_sequences)
        oy, oh, oc = ref_conv_lstm(np.asarray(xv, np.float64), kv, rkv, bv, *args)
        return float((oy * ry).sum() + (oh * rh).sum() + (oc * rc).sum())

    for w in layer.weights:
        w.grad[...] = 0.25
    res = layer.backward(ctx, [a.astype(np.float32) for a in (ry, rh, rc)])
    dx, extra = res if with_states else (res, None)
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert_grad_close(dx, numeric_grad(lambda v: loss(xv=v), x.astype(np.float64)), what="dx")
    assert_grad_close(layer.kernel.grad - 0.25, numeric_grad(lambda v: loss(kv=v), k), what="dkernel")
    assert_grad_close(layer.recurrent_kernel.grad - 0.25, numeric_grad(lambda v: loss(rkv=v), rk), what="drecurrent_kernel")
    assert_grad_close(layer.bias.grad - 0.25, numeric_grad(lambda v: loss(bv=v), b), what="dbias")
    if with_states:
        dh0, dc0 = extra["initial_state"]
        assert_grad_close(dh0, numeric_grad(lambda v: loss(hv=v), h0), what="dh0")
        assert_grad_close(dc0, numeric_grad(lambda v: loss(cv=v), c0), what="dc0")


def _step_mask(n, t):
    mask = np.ones((n, t), bool)
    mask[0, :2] = False  # left padding
    mask[1, -1] = False  # right padding
    if n > 2:
        mask[2, 1] = False
    return mask


@pytest.mark.parametrize("kw", [dict(return_sequences=True), dict(go_backwards=True), dict(return_sequences=True, go_backwards=True)],
                         ids=["sequences", "backwards", "sequences-backwards"])
def test_mask_forward_and_backward(kw, rng):
    layer = ConvLSTM2D(2, 3, padding="same", return_state=True, **kw)
    x = rng.standard_normal((3, 4, 4, 3, 2)).astype(np.float32)
    mask = _step_mask(3, 4)
    layer(x)
    _randomize(layer, rng, 0.5)
    k, rk, b = (w.astype(np.float64) for w in layer.get_weights())
    h0, c0 = rng.standard_normal((2, 3, 4, 3, 2))
    states = [h0.astype(np.float32), c0.astype(np.float32)]
    out, ctx = layer.forward(x, training=True, mask=mask, initial_state=states)
    for got, want in zip(out, _ref_layer(layer, x, h0, c0, mask=mask)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    ry, rh, rc = (rng.standard_normal(a.shape) for a in out)

    def loss(xv=x, kv=k, rkv=rk, bv=b, hv=h0, cv=c0):
        res = ref_conv_lstm(np.asarray(xv, np.float64), kv, rkv, bv, 1, "same", 1, hv, cv, layer.go_backwards,
                            layer.return_sequences, mask=mask)
        return float(sum((a * r).sum() for a, r in zip(res, (ry, rh, rc))))

    dx, extra = layer.backward(ctx, [a.astype(np.float32) for a in (ry, rh, rc)])
    assert_grad_close(dx, numeric_grad(lambda v: loss(xv=v), x.astype(np.float64)), what="dx")
    assert_grad_close(layer.kernel.grad, numeric_grad(lambda v: loss(kv=v), k), what="dkernel")
    assert_grad_close(layer.recurrent_kernel.grad, numeric_grad(lambda v: loss(rkv=v), rk), what="drecurrent_kernel")
    assert_grad_close(layer.bias.grad, numeric_grad(lambda v: loss(bv=v), b), what="dbias")
    dh0, dc0 = extra["initial_state"]
    assert_grad_close(dh0, numeric_grad(lambda v: loss(hv=v), h0), what="dh0")
    assert_grad_close(dc0, numeric_grad(lambda v: loss(cv=v), c0), what="dc0")
    # an all-true mask is no mask
    np.testing.assert_array_equal(layer(x, mask=np.ones((3, 4), bool))[0], layer(x)[0])


def test_backward_with_dropout_masks_matches_finite_differences(rng):
    layer = ConvLSTM2D(2, 3, padding="same", dropout=0.3, recurrent_dropout=0.4, seed=5, return_sequences=True)
    x = rng.standard_normal((2, 3, 4, 4, 2)).astype(np.float32)
    layer(x)
    _randomize(layer, rng, 0.5)
    k, rk, b = (w.astype(np.float64) for w in layer.get_weights())
    y, ctx = layer.forward(x, training=True)
    masks, rmasks = ctx.op[2], ctx.op[3]
    assert len(masks) == 4 and masks[0].shape == (2, 1, 4, 4, 2) and len(rmasks) == 4 and rmasks[0].shape == (2, 4, 4, 2)
    assert not np.array_equal(masks[0], masks[1])  # one mask per gate
    assert set(np.unique(masks[0])) <= {0.0, np.float32(1 / 0.7)}
    r = rng.standard_normal(y.shape)

    def loss(xv=x, kv=k, rkv=rk, bv=b):
        out = ref_conv_lstm(np.asarray(xv, np.float64), kv, rkv, bv, 1, "same", 1, return_sequences=True,
                            masks=[m.astype(np.float64) for m in masks], rmasks=[m.astype(np.float64) for m in rmasks])[0]
        return float((out * r).sum())

    np.testing.assert_allclose(y, _ref_layer(layer, x, masks=masks, rmasks=rmasks)[0], rtol=1e-5, atol=1e-5)
    dx = layer.backward(ctx, r.astype(np.float32))
    assert_grad_close(dx, numeric_grad(lambda v: loss(xv=v), x.astype(np.float64)), what="dx")
    assert_grad_close(layer.kernel.grad, numeric_grad(lambda v: loss(kv=v), k), what="dkernel")
    assert_grad_close(layer.recurrent_kernel.grad, numeric_grad(lambda v: loss(rkv=v), rk), what="drecurrent_kernel")
    assert_grad_close(layer.bias.grad, numeric_grad(lambda v: loss(bv=v), b), what="dbias")
    # no dropout outside training
    np.testing.assert_allclose(layer(x), _ref_layer(layer, x)[0], rtol=1e-5, atol=1e-5)


def test_frozen_layer_leaves_gradients_and_skips_dx(rng):
    layer = ConvLSTM2D(2, 3)
    x = rng.standard_normal((2, 3, 5, 5, 2)).astype(np.float32)
    y, ctx = layer.forward(x, training=True)
    layer.trainable = False
    assert layer.backward(ctx, np.ones_like(y), need_dx=False) is None
    assert all(not w.grad.any() for w in layer.weights)
    layer.trainable = True
    assert layer.backward(ctx, np.ones_like(y), need_dx=False) is None
    assert layer.kernel.grad.any()


def test_stateful_carries_states_between_calls(rng):
    x = rng.standard_normal((2, 6, 4, 4, 2)).astype(np.float32)
    full = ConvLSTM2D(3, 3, padding="same", return_sequences=True)
    full(x)
    part = ConvLSTM2D(3, 3, padding="same", return_sequences=True, stateful=True, batch_size=2)
    part(x[:, :3])
    part.set_weights(full.get_weights())
    part.reset_states()
    got = np.concatenate([part(x[:, :3]), part(x[:, 3:])], axis=1)
    np.testing.assert_allclose(got, full(x), rtol=1e-5, atol=1e-6)
    part.reset_states()
    np.testing.assert_allclose(part(x[:, :3]), full(x)[:, :3], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch size 2"):
        part(x[:1, :3])
    with pytest.raises(ValueError, match="carried states have shape \\(2, 4, 4, 3\\).*reset_states"):
        part(np.zeros((2, 3, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match="reset_states\\(\\) applies to stateful layers only"):
        full.reset_states()


# --- models ---------------------------------------------------------------------------------------


def test_sequential_fit_predict_and_functional_states(rng):
    pynncore.utils.set_random_seed(7)
    x = rng.standard_normal((16, 4, 6, 6, 1)).astype(np.float32)
    y = x[:, -1].mean(axis=(1, 2, 3))[:, None]
    model = Sequential([pynncore.Input((4, 6, 6, 1)), ConvLSTM2D(4, 3, padding="same"), Flatten(), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    hist = model.fit(x, y, epochs=4, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["loss"]).all() and hist.history["loss"][-1] < hist.history["loss"][0]
    assert model.predict(x, verbose=0).shape == (16, 1)
    # functional: states from one ConvLSTM2D start another (encoder-decoder)
    inp = pynncore.Input((4, 6, 6, 1))
    _, h, c = ConvLSTM2D(3, 3, padding="same", return_state=True)(inp)
    dec = ConvLSTM2D(3, 3, padding="same")
    out = Dense(1)(Flatten()(dec(inp, initial_state=[h, c])))
    fmodel = Model(inp, out)
    fmodel.compile(optimizer="sgd", loss="mse")
    enc_k = fmodel.layers[1].kernel.value.copy()
    fmodel.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(enc_k, fmodel.layers[1].kernel.value)  # gradients reach the encoder
    assert fmodel.predict(x, verbose=0).shape == (16, 1)


def test_get_config_round_trip_keeps_every_argument():
    layer = ConvLSTM2D(
        4, (3, 2), strides=(2, 1), padding="same", dilation_rate=1, activation="relu", recurrent_activation="hard_sigmoid",
        use_bias=False, kernel_initializer="he_normal", recurrent_initializer="glorot_uniform", bias_initializer="ones",
        unit_forget_bias=False, kernel_regularizer="l2", recurrent_regularizer="l1", bias_regularizer="l1_l2",
        activity_regularizer="l2", dropout=0.1, recurrent_dropout=0.2, seed=3, return_sequences=True,
        return_state=True, go_backwards=True, stateful=False, name="clstm",
    )
    config = layer.get_config()
    for key in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
                "recurrent_activation", "unit_forget_bias", "dropout", "recurrent_dropout", "seed",
                "return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
        assert key in config
    assert "units" not in config
    assert config["kernel_size"] == (3, 2) and config["strides"] == (2, 1) and config["data_format"] == "channels_last"
    again = ConvLSTM2D.from_config(json.loads(json.dumps(config)))
    assert json.loads(json.dumps(again.get_config())) == json.loads(json.dumps(config))
    from pynncore.saving import deserialize_layer, serialize_layer

    restored = deserialize_layer(json.loads(json.dumps(serialize_layer(ConvLSTM1D(2, 3, name="c1")))))
    assert type(restored) is ConvLSTM1D and restored.kernel_size == (3,)


# --- bad input ------------------------------------------------------------------------------------


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="channels_last.*channels_first"):
        ConvLSTM2D(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="filters must be a positive integer.*filters=0"):
        ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size.*tuple of 2.*\\(3, 3, 3\\)"):
        ConvLSTM2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="padding must be one of 'valid', 'same'.*causal"):
        ConvLSTM1D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="strides > 1 is not compatible with dilation_rate > 1"):
        ConvLSTM2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="dropout must be a float in \\[0, 1\\).*1.5"):
        ConvLSTM2D(2, 3, dropout=1.5)
    with pytest.raises(ValueError, match="activation must be an elementwise"):
        ConvLSTM2D(2, 3, activation="softmax")
    with pytest.raises(TypeError, match="unexpected keyword"):
        ConvLSTM2D(2, 3, units=4)


def test_bad_inputs_raise(rng):
    layer = ConvLSTM2D(2, 3)
    with pytest.raises(ValueError, match="rank 5 \\(batch, timesteps, rows, cols, channels\\).*\\(2, 5, 5, 3\\)"):
        layer(np.zeros((2, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="rank 5.*\\(None, 3, 5, 5, 2, 1\\)"):
        layer(pynncore.Input((3, 5, 5, 2, 1)))
    with pytest.raises(ValueError, match="rank 4 \\(batch, timesteps, length, channels\\)"):
        ConvLSTM1D(2, 3)(np.zeros((2, 3, 5, 5, 1), np.float32))
    layer(np.zeros((2, 3, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match="expected input with 2 channels.*\\(2, 3, 5, 5, 4\\)"):
        layer(np.zeros((2, 3, 5, 5, 4), np.float32))
    with pytest.raises(ValueError, match="last dimension must be 2"):
        layer(pynncore.Input((3, 5, 5, 4)))
    with pytest.raises(ValueError, match="kernel .*larger than the input"):
        layer(np.zeros((2, 3, 2, 5, 2), np.float32))
    with pytest.raises(TypeError, match="real numeric input.*dtype"):
        layer(np.array([["a"]]))
    with pytest.raises(ValueError, match="at least one timestep"):
        layer(np.zeros((2, 0, 5, 5, 2), np.float32))
    x = rng.standard_normal((2, 3, 5, 5, 2)).astype(np.float32)
    with pytest.raises(ValueError, match="initial states of shape \\(2, 3, 3, 2\\).*\\(2, 5, 5, 2\\)"):
        layer(x, initial_state=[np.zeros((2, 5, 5, 2)), np.zeros((2, 5, 5, 2))])
    with pytest.raises(ValueError, match="expected 2 initial state array"):
        layer(x, initial_state=[np.zeros((2, 3, 3, 2))])
    with pytest.raises(ValueError, match="mask of shape \\(2, 3\\).*\\(2, 4\\)"):
        layer(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="initial states of shape \\(batch, 3, 3, 2\\).*\\(None, 5, 5, 2\\)"):
        layer(pynncore.Input((3, 5, 5, 2)), initial_state=[pynncore.Input((5, 5, 2)), pynncore.Input((5, 5, 2))])
    with pytest.raises(ValueError, match="stateful=True needs a fixed batch size"):
        ConvLSTM2D(2, 3, stateful=True)(pynncore.Input((3, 5, 5, 2)))


# --- Keras 3 --------------------------------------------------------------------------------------


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


KERAS_CASES = [
    (2, (6, 5), 2, dict(kernel_size=3)),
    (2, (6, 5), 2, dict(kernel_size=3, padding="same", return_sequences=True)),
    (2, (7, 6), 2, dict(kernel_size=(3, 2), strides=2, return_state=True)),
    (2, (7, 7), 2, dict(kernel_size=2, strides=2, padding="same", go_backwards=True, return_sequences=True, return_state=True)),
    (2, (7, 6), 1, dict(kernel_size=3, padding="same", dilation_rate=2)),
    (1, (9,), 3, dict(kernel_size=3, padding="same", return_sequences=True, go_backwards=True)),
    (3, (4, 5, 4), 2, dict(kernel_size=(2, 3, 2), strides=(1, 2, 1), padding="same", return_sequences=True)),
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("rank, spatial, ch, kw", KERAS_CASES, ids=[f"{r}d-" + "-".join(k) for r, _, _, k in KERAS_CASES])
def test_outputs_match_keras(rank, spatial, ch, kw, rng):
    keras = _keras()
    x = rng.standard_normal((3, 4) + spatial + (ch,)).astype(np.float32)
    kl = getattr(keras.layers, f"ConvLSTM{rank}D")(3, **kw)
    k_out = kl(x)
    pl = CLASSES[rank](3, **kw)
    pl(x)
    pl.set_weights([np.asarray(w) for w in kl.get_weights()])
    p_out = pl(x)
    k_out = list(k_out) if kw.get("return_state") else [k_out]
    p_out = p_out if kw.get("return_state") else [p_out]
    assert len(p_out) == len(k_out)
    for a, b in zip(p_out, k_out):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), rtol=1e-4, atol=1e-5)
    out_shape = kl.compute_output_shape((None,) + x.shape[1:])
    want = [tuple(s) for s in out_shape] if kw.get("return_state") else tuple(out_shape)
    got = pl.compute_output_shape((None,) + x.shape[1:])
    assert (list(got) if kw.get("return_state") else got) == want
    # masked steps
    mask = _step_mask(3, 4)
    p_out = pl(x, mask=mask)
    k_out = kl(keras.ops.convert_to_tensor(x), mask=keras.ops.convert_to_tensor(mask))
    for a, b in zip(p_out if kw.get("return_state") else [p_out], k_out if kw.get("return_state") else [k_out]):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), rtol=1e-4, atol=1e-5)
    # initial states
    if kw.get("return_state"):
        h = rng.standard_normal(p_out[1].shape).astype(np.float32)
        c = rng.standard_normal(p_out[2].shape).astype(np.float32)
        for a, b in zip(pl(x, initial_state=[h, c]), kl(x, initial_state=[h, c])):
            np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), rtol=1e-4, atol=1e-5)


TRAIN_CASES = [
    (2, (6, 5), 2, dict(kernel_size=3, padding="same")),
    (2, (7, 6), 2, dict(kernel_size=3, strides=2, return_sequences=True, go_backwards=True)),
    (1, (8,), 2, dict(kernel_size=3, return_sequences=True)),
    (3, (3, 4, 4), 1, dict(kernel_size=2, padding="same")),
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("rank, spatial, ch, kw", TRAIN_CASES, ids=[f"{r}d-" + "-".join(k) for r, _, _, k in TRAIN_CASES])
def test_weights_match_keras_after_train_on_batch(rank, spatial, ch, kw, rng):
    keras = _keras()
    x = rng.standard_normal((6, 4) + spatial + (ch,)).astype(np.float32)
    y = rng.standard_normal((6, 2)).astype(np.float32)
    kmodel = keras.Sequential([keras.Input(x.shape[1:]), getattr(keras.layers, f"ConvLSTM{rank}D")(3, **kw),
                               keras.layers.Flatten(), keras.layers.Dense(2)])
    pmodel = Sequential([pynncore.Input(x.shape[1:]), CLASSES[rank](3, **kw), Flatten(), Dense(2)])
    pmodel.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kmodel.compile(keras.optimizers.Adam(0.01), "mse")
    pmodel.compile(pynncore.optimizers.Adam(0.01), "mse")
    train_side_by_side(kmodel, pmodel, x, y, 3)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("merge_mode, rs", [("concat", True), ("sum", False), ("mul", True)])
def test_bidirectional_matches_keras(merge_mode, rs, rng):
    keras = _keras()
    x = rng.standard_normal((4, 4, 5, 4, 2)).astype(np.float32)
    y = rng.standard_normal((4, 2)).astype(np.float32)
    kl = keras.layers.Bidirectional(keras.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=rs), merge_mode=merge_mode)
    kmodel = keras.Sequential([keras.Input(x.shape[1:]), kl, keras.layers.Flatten(), keras.layers.Dense(2)])
    pl = pynncore.layers.Bidirectional(ConvLSTM2D(3, 3, padding="same", return_sequences=rs), merge_mode=merge_mode)
    pmodel = Sequential([pynncore.Input(x.shape[1:]), pl, Flatten(), Dense(2)])
    pmodel.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    assert pmodel.output_shape == tuple(kmodel.output_shape)
    mask = _step_mask(4, 4)
    p_out = pl(x, mask=mask)
    k_out = kl(keras.ops.convert_to_tensor(x), mask=keras.ops.convert_to_tensor(mask))
    np.testing.assert_allclose(p_out, keras.ops.convert_to_numpy(k_out), rtol=1e-4, atol=1e-5)
    kmodel.compile(keras.optimizers.Adam(0.01), "mse")
    pmodel.compile(pynncore.optimizers.Adam(0.01), "mse")
    train_side_by_side(kmodel, pmodel, x, y, 2)
    with pytest.raises(ValueError, match="rank 5 \\(N, T, S, S, C\\).*\\(None, 4, 5, 2\\)"):
        pynncore.layers.Bidirectional(ConvLSTM2D(3, 3))(pynncore.Input((4, 5, 2)))


def test_functional_model_with_states_and_bidirectional_saves_and_loads(tmp_path, rng):
    inp = pynncore.Input((4, 5, 5, 2))
    _, h, c = ConvLSTM2D(3, 3, padding="same", return_state=True)(inp)
    y = pynncore.layers.Bidirectional(ConvLSTM2D(2, 3, padding="same", return_sequences=True))(inp)
    z = ConvLSTM2D(3, 3, padding="same")(inp, initial_state=[h, c])
    out = Dense(1)(pynncore.layers.Concatenate()([Flatten()(y), Flatten()(z)]))
    model = Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((3, 4, 5, 5, 2)).astype(np.float32)
    model.train_on_batch(x, np.ones((3, 1), np.float32))
    path = tmp_path / "model.pnc"
    model.save(str(path))
    loaded = pynncore.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
