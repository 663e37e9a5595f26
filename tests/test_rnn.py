"""SimpleRNN, LSTM and GRU: float64 references over whole sequences, finite-difference BPTT,
Keras 3 and PyTorch parity, layer semantics (masks, states, go_backwards) and bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import ops
from pynncore.layers import GRU, LSTM, Dense, SimpleRNN
from pynncore.models import Sequential

from _gradcheck import assert_grad_close, numeric_grad

# --- float64 reference ----------------------------------------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACT = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
    "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
}


def ref_rnn(cell, x, k, r, b=None, h0=None, c0=None, mask=None, act="tanh", ract="sigmoid",
            reset_after=True, rm=None, return_sequences=True):
    """The cells step by step in float64, with Keras's masking rule."""
    x = np.asarray(x, np.float64)
    n, t_steps, _ = x.shape
    u = r.shape[0]
    a, s = ACT[act], ACT[ract]
    k = np.asarray(k, np.float64)
    r = np.asarray(r, np.float64)
    b = None if b is None else np.asarray(b, np.float64)
    h = np.zeros((n, u)) if h0 is None else np.array(h0, np.float64)
    c = np.zeros((n, u)) if c0 is None else np.array(c0, np.float64)
    prev_out = np.zeros((n, u))
    outs = []
    for t in range(t_steps):
        hm = h if rm is None else h * rm
        gx = x[:, t] @ k
        if b is not None:
            gx = gx + (b[0] if (cell == "gru" and reset_after) else b)
        cn = c
        if cell == "simple_rnn":
            hn = a(gx + hm @ r)
        elif cell == "lstm":
            z = gx + hm @ r
            i, f, g, o = s(z[:, :u]), s(z[:, u : 2 * u]), a(z[:, 2 * u : 3 * u]), s(z[:, 3 * u :])
            cn = f * c + i * g
            hn = o * a(cn)
        else:
            if reset_after:
                gh = hm @ r + (b[1] if b is not None else 0.0)
                zg = s(gx[:, :u] + gh[:, :u])
                rg = s(gx[:, u : 2 * u] + gh[:, u : 2 * u])
                hh = a(gx[:, 2 * u :] + rg * gh[:, 2 * u :])
            else:
                zg = s(gx[:, :u] + hm @ r[:, :u])
                rg = s(gx[:, u : 2 * u] + hm @ r[:, u : 2 * u])
                hh = a(gx[:, 2 * u :] + (rg * hm) @ r[:, 2 * u :])
            hn = zg * h + (1.0 - zg) * hh
        if mask is not None:
            m = np.asarray(mask[:, t], bool)[:, None]
            out = np.where(m, hn, prev_out)
            h = np.where(m, hn, h)
            c = np.where(m, cn, c)
        else:
            out, h, c = hn, hn, cn
        prev_out = out
        outs.append(out)
    y = np.stack(outs, 1) if return_sequences else prev_out
    return y, h, c


# cell name, gates per unit, reset_after
CELLS = [("simple_rnn", 1, False), ("lstm", 4, False), ("gru", 3, True), ("gru", 3, False)]
CELL_IDS = ["simple", "lstm", "gru_after", "gru_before"]


def _weights(rng, cell, gates, reset_after, i, u, scale=0.5):
    k = (rng.standard_normal((i, gates * u)) * scale).astype(np.float32)
    r = (rng.standard_normal((u, gates * u)) * scale).astype(np.float32)
    shape = (2, gates * u) if (cell == "gru" and reset_after) else (gates * u,)
    b = (rng.standard_normal(shape) * 0.3).astype(np.float32)
    return k, r, b


def _op(cell, x, k, r, b, h0=None, c0=None, mask=None, reset_after=True, training=False,
        return_sequences=True, rm=None, act="tanh", ract="sigmoid"):
    """(y, [states], ctx) from the pynncore.ops function of the cell."""
    kw = dict(mask=mask, return_sequences=return_sequences, training=training,
              recurrent_dropout_mask=rm, activation=act)
    if cell == "lstm":
        init = None if h0 is None else [h0, c0]
        y, h, c, ctx = ops.lstm(x, k, r, b, init, recurrent_activation=ract, **kw)
        return y, [h, c], ctx
    if cell == "gru":
        y, h, ctx = ops.gru(x, k, r, b, h0, recurrent_activation=ract, reset_after=reset_after, **kw)
        return y, [h], ctx
    y, h, ctx = ops.simple_rnn(x, k, r, b, h0, **kw)
    return y, [h], ctx


def _op_backward(cell, ctx, dy, dh, dc=None, need_dx=True):
    """(dx, [dstate0...], dk, dr, db) from the cell's backward function."""
    if cell == "lstm":
        dx, dh0, dc0, dk, dr, db = ops.lstm_backward(ctx, dy, dh, dc, need_dx=need_dx)
        return dx, [dh0, dc0], dk, dr, db
    fn = ops.gru_backward if cell == "gru" else ops.simple_rnn_backward
    dx, dh0, dk, dr, db = fn(ctx, dy, dh, need_dx=need_dx)
    return dx, [dh0], dk, dr, db


# --- forward against the reference -----------------------------------------------------------------


@pytest.mark.parametrize("cell, gates, reset_after", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_forward_matches_reference(cell, gates, reset_after, masked, cpu_path, num_threads, rng):
    # 33 rows so that two threads split the batch unevenly; odd sizes everywhere.
    n, t, i, u = 33, 9, 7, 17
    x = rng.standard_normal((n, t, i)).astype(np.float32)
    k, r, b = _weights(rng, cell, gates, reset_after, i, u, scale=0.3)
    h0 = rng.standard_normal((n, u)).astype(np.float32)
    c0 = rng.standard_normal((n, u)).astype(np.float32) if cell == "lstm" else None
    mask = rng.random((n, t)) > 0.3 if masked else None
    want_y, want_h, want_c = ref_rnn(cell, x, k, r, b, h0, c0, mask, reset_after=reset_after)
    for training in (False, True):
        for seqs in (True, False):
            y, states, ctx = _op(cell, x, k, r, b, h0, c0, mask, reset_after, training, seqs)
            want = want_y if seqs else want_y[:, -1]
            np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-5)
            np.testing.assert_allclose(states[0], want_h, rtol=2e-5, atol=2e-5)
            if cell == "lstm":
                np.testing.assert_allclose(states[1], want_c, rtol=2e-5, atol=2e-5)
            assert (ctx is not None) == training


@pytest.mark.parametrize("act, ract", [("relu", "hard_sigmoid"), ("linear", "tanh")])
def test_forward_other_activations(act, ract, rng):
    n, t, i, u = 4, 5, 3, 6
    x = rng.standard_normal((n, t, i)).astype(np.float32)
    for cell, gates, ra in CELLS:
        k, r, b = _weights(rng, cell, gates, ra, i, u, scale=0.3)
        y, _, _ = _op(cell, x, k, r, b, reset_after=ra, act=act, ract=ract)
        want, _, _ = ref_rnn(cell, x, k, r, b, reset_after=ra, act=act, ract=ract)
        np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-5)


def test_zero_batch_and_inference_keeps_no_training_storage(rng):
    k, r, b = _weights(rng, "lstm", 4, False, 3, 2)
    y, h, c, ctx = ops.lstm(np.zeros((0, 4, 3), np.float32), k, r, b, return_sequences=True)
    assert y.shape == (0, 4, 2) and h.shape == (0, 2) and ctx is None


# --- backward through time against finite differences ----------------------------------------------


@pytest.mark.parametrize("cell, gates, reset_after", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("variant", ["plain", "mask", "recdrop", "last"])
def test_backward_matches_finite_differences(cell, gates, reset_after, variant, rng):
    n, t, i, u = 3, 5, 2, 3
    x = rng.standard_normal((n, t, i)).astype(np.float32)
    k, r, b = _weights(rng, cell, gates, reset_after, i, u)
    h0 = (rng.standard_normal((n, u)) * 0.5).astype(np.float32)
    c0 = (rng.standard_normal((n, u)) * 0.5).astype(np.float32) if cell == "lstm" else None
    mask = None
    if variant == "mask":
        mask = np.array([[1, 0, 1, 1, 0], [0, 0, 1, 0, 1], [1, 1, 1, 1, 1]], bool)
    rm = (rng.random((n, u)) > 0.3).astype(np.float32) * 1.5 if variant == "recdrop" else None
    seqs = variant != "last"
    wy = rng.standard_normal((n, t, u) if seqs else (n, u))
    wh = rng.standard_normal((n, u))
    wc = rng.standard_normal((n, u))

    def loss(x_, k_, r_, b_, h0_, c0_):
        y_, h_, c_ = ref_rnn(cell, x_, k_, r_, b_, h0_, c0_, mask, reset_after=reset_after,
                             rm=rm, return_sequences=seqs)
        total = (y_ * wy).sum() + (h_ * wh).sum()
        return total + ((c_ * wc).sum() if cell == "lstm" else 0.0)

    y, states, ctx = _op(cell, x, k, r, b, h0, c0, mask, reset_after, True, seqs, rm)
    dc = wc.astype(np.float32) if cell == "lstm" else None
    dx, dstates, dk, dr, db = _op_backward(cell, ctx, wy.astype(np.float32), wh.astype(np.float32), dc)

    args = [x, k, r, b, h0, c0]
    got = {"x": dx, "kernel": dk, "recurrent_kernel": dr, "bias": db, "h0": dstates[0]}
    if cell == "lstm":
        got["c0"] = dstates[1]
    for pos, name in enumerate(["x", "kernel", "recurrent_kernel", "bias", "h0", "c0"]):
        if name not in got:
            continue

        def f(v, pos=pos):
            a = list(args)
            a[pos] = v
            return loss(*a)

        assert_grad_close(got[name], numeric_grad(f, args[pos]), what=f"{cell} {variant} d{name}")


@pytest.mark.parametrize("cell, gates, reset_after", CELLS, ids=CELL_IDS)
def test_backward_same_on_every_path_and_thread_count(cell, gates, reset_after, cpu_path, rng, restore_num_threads):
    n, t, i, u = 35, 12, 9, 19
    x = rng.standard_normal((n, t, i)).astype(np.float32)
    k, r, b = _weights(rng, cell, gates, reset_after, i, u, scale=0.3)
    mask = rng.random((n, t)) > 0.2
    dy = rng.standard_normal((n, t, u)).astype(np.float32)
    results = []
    for threads in (1, 2):
        pynncore.set_num_threads(threads)
        _, _, ctx = _op(cell, x, k, r, b, mask=mask, reset_after=reset_after, training=True)
        results.append(_op_backward(cell, ctx, dy, None))
    (dx1, ds1, dk1, dr1, db1), (dx2, ds2, dk2, dr2, db2) = results
    for a, c in [(dx1, dx2), (ds1[0], ds2[0]), (dk1, dk2), (dr1, dr2), (db1, db2)]:
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)
    # and the float64 gradient of the input projection agrees (dk = X^T dG is checked by
    # finite differences above; here a cheap directional derivative on the big case)
    v = rng.standard_normal(k.shape)

    def loss(kk):
        y_, _, _ = ref_rnn(cell, x, kk, r, b, mask=mask, reset_after=reset_after)
        return (y_ * dy).sum()

    eps = 1e-5
    num = (loss(k + eps * v) - loss(k - eps * v)) / (2 * eps)
    assert float((dk1 * v).sum()) == pytest.approx(num, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("cell, gates, reset_after", CELLS, ids=CELL_IDS)
def test_backward_over_many_steps_matches_float64_directional_derivatives(
        cell, gates, reset_after, cpu_path, num_threads, rng):
    # 40 rows over 23 steps: the weight gradient is summed over several blocks of steps,
    # the first one partial (1 thread: blocks of 7 steps; 2 threads: 20 rows each, blocks of
    # 13), with masked steps and a recurrent dropout mask; every gradient is checked along a
    # random direction against central differences of the float64 reference.
    n, t, i, u = 40, 23, 7, 16
    x = rng.standard_normal((n, t, i)).astype(np.float32)
    k, r, b = _weights(rng, cell, gates, reset_after, i, u, scale=0.3)
    h0 = (rng.standard_normal((n, u)) * 0.5).astype(np.float32)
    c0 = (rng.standard_normal((n, u)) * 0.5).astype(np.float32) if cell == "lstm" else None
    mask = rng.random((n, t)) > 0.2
    rm = (rng.random((n, u)) > 0.3).astype(np.float32) * 1.5
    wy = rng.standard_normal((n, t, u))
    wh = rng.standard_normal((n, u))
    wc = rng.standard_normal((n, u))

    def loss(x_, k_, r_, b_, h0_, c0_):
        y_, h_, c_ = ref_rnn(cell, x_, k_, r_, b_, h0_, c0_, mask, reset_after=reset_after, rm=rm)
        total = (y_ * wy).sum() + (h_ * wh).sum()
        return total + ((c_ * wc).sum() if cell == "lstm" else 0.0)

    _, _, ctx = _op(cell, x, k, r, b, h0, c0, mask, reset_after, True, True, rm)
    dc = wc.astype(np.float32) if cell == "lstm" else None
    dx, dstates, dk, dr, db = _op_backward(cell, ctx, wy.astype(np.float32),
                                           wh.astype(np.float32), dc)
    got = [dx, dk, dr, db, dstates[0], dstates[1] if cell == "lstm" else None]
    args = [np.asarray(v, np.float64) if v is not None else None for v in (x, k, r, b, h0, c0)]
    eps = 1e-5
    for pos, name in enumerate(["x", "kernel", "recurrent_kernel", "bias", "h0", "c0"]):
        if got[pos] is None:
            continue
        v = rng.standard_normal(args[pos].shape)
        up, down = list(args), list(args)
        up[pos] = args[pos] + eps * v
        down[pos] = args[pos] - eps * v
        num = (loss(*up) - loss(*down)) / (2 * eps)
        assert float((got[pos].astype(np.float64) * v).sum()) == pytest.approx(
            num, rel=2e-4, abs=2e-3), f"{cell} d{name}"


@pytest.mark.parametrize("cell, gates, reset_after", CELLS[1:], ids=CELL_IDS[1:])
def test_small_batch_with_wide_state_uses_threaded_products(cell, gates, reset_after, rng, restore_num_threads):
    # 8 rows run on one thread whose per-step products (8 x 210 x 630+) use the threaded GEMM.
    n, t, i, u = 8, 3, 5, 210
    x = rng.standard_normal((n, t, i)).astype(np.float32)
    k, r, b = _weights(rng, cell, gates, reset_after, i, u, scale=0.05)
    dy = rng.standard_normal((n, t, u)).astype(np.float32)
    want, _, _ = ref_rnn(cell, x, k, r, b, reset_after=reset_after)
    grads = []
    for threads in (1, 2):
        pynncore.set_num_threads(threads)
        y, _, ctx = _op(cell, x, k, r, b, reset_after=reset_after, training=True)
        np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-5)
        grads.append(_op_backward(cell, ctx, dy, None))
    for a, c in zip(grads[0][2:], grads[1][2:]):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-4, atol=1e-5)


def test_backward_accumulates_into_given_gradients(rng):
    x = rng.standard_normal((2, 3, 2)).astype(np.float32)
    k, r, b = _weights(rng, "gru", 3, True, 2, 2)
    _, _, ctx = ops.gru(x, k, r, b, training=True, return_sequences=True)
    dy = np.ones((2, 3, 2), np.float32)
    _, _, dk, dr, db = ops.gru_backward(ctx, dy)
    acc_k, acc_r, acc_b = np.ones_like(k), np.ones_like(r), np.ones_like(b)
    ops.gru_backward(ctx, dy, dkernel=acc_k, drecurrent_kernel=acc_r, dbias=acc_b)
    np.testing.assert_allclose(acc_k, 1 + dk, rtol=1e-6)
    np.testing.assert_allclose(acc_r, 1 + dr, rtol=1e-6)
    np.testing.assert_allclose(acc_b, 1 + db, rtol=1e-6)


# --- layers -------------------------------------------------------------------------------------------

LAYERS = [(SimpleRNN, {}), (LSTM, {}), (GRU, {}), (GRU, {"reset_after": False})]
LAYER_IDS = ["SimpleRNN", "LSTM", "GRU", "GRU_before"]


def _ref_layer(layer, x, mask=None, h0=None, c0=None, seqs=None):
    cell = layer._cell
    w = layer.get_weights()
    b = w[2] if layer.use_bias else None
    ra = getattr(layer, "reset_after", False)
    return ref_rnn(cell, x, w[0], w[1], b, h0, c0, mask, reset_after=ra,
                   return_sequences=layer.return_sequences if seqs is None else seqs)


@pytest.mark.parametrize("cls, kw", LAYERS, ids=LAYER_IDS)
def test_layer_weights_have_keras_layouts(cls, kw):
    layer = cls(5, **kw)
    layer(np.zeros((2, 3, 4), np.float32))
    g = {SimpleRNN: 1, LSTM: 4, GRU: 3}[cls] * 5
    shapes = [w.shape for w in layer.weights]
    bias = (2, g) if (cls is GRU and kw.get("reset_after", True)) else (g,)
    assert shapes == [(4, g), (5, g), bias]
    assert [w.path.split("/")[-1] for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    q = layer.recurrent_kernel.value
    if g == 5:  # orthogonal recurrent initializer
        np.testing.assert_allclose(q.T @ q, np.eye(5), atol=1e-5)
    if cls is LSTM:
        np.testing.assert_array_equal(layer.bias.value, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    assert cls(5, use_bias=False, **kw).get_config()["use_bias"] is False


@pytest.mark.parametrize("cls, kw", LAYERS, ids=LAYER_IDS)
def test_layer_semantics(cls, kw, rng):
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    seq = cls(5, return_sequences=True, **kw)
    y = seq(x)
    want, _, _ = _ref_layer(seq, x)
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-5)
    # go_backwards: the reversed sequence, the output sequence left reversed (Keras)
    back = cls(5, return_sequences=True, go_backwards=True, **kw)
    back(x)
    back.set_weights(seq.get_weights())
    np.testing.assert_allclose(back(x), seq(x[:, ::-1]), rtol=1e-6, atol=1e-6)
    # return_state and initial_state (eager)
    st = cls(5, return_state=True, **kw)
    st(x)
    st.set_weights(seq.get_weights())
    out = st(x)
    n_states = 2 if cls is LSTM else 1
    assert isinstance(out, list) and len(out) == 1 + n_states
    np.testing.assert_allclose(out[0], want[:, -1], rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(out[1], want[:, -1], rtol=2e-5, atol=2e-5)
    init = [rng.standard_normal((4, 5)).astype(np.float32) for _ in range(n_states)]
    got = st(x, initial_state=init if n_states > 1 else init[0])
    w_init, wh, wc = _ref_layer(st, x, h0=init[0], c0=init[1] if n_states > 1 else None)
    np.testing.assert_allclose(got[0], w_init, rtol=2e-5, atol=2e-5)
    if n_states > 1:
        np.testing.assert_allclose(got[2], wc, rtol=2e-5, atol=2e-5)
    # variable sequence lengths from call to call
    for t in (1, 2, 11):
        xt = rng.standard_normal((3, t, 3)).astype(np.float32)
        np.testing.assert_allclose(seq(xt), _ref_layer(seq, xt)[0], rtol=2e-5, atol=2e-5)
    # masks: the mask passes through with return_sequences only
    mask = rng.random((4, 6)) > 0.4
    y_masked, _ = seq.forward(x, training=False, mask=mask)
    np.testing.assert_allclose(y_masked, _ref_layer(seq, x, mask=mask)[0], rtol=2e-5, atol=2e-5)
    assert seq.compute_mask(x, mask) is mask
    assert st.compute_mask(x, mask) == [None] * (1 + n_states)  # Keras 3: no mask on outputs or states
    assert seq.consumes_mask and seq.supports_masking


@pytest.mark.parametrize("cls, kw", LAYERS, ids=LAYER_IDS)
def test_layer_backward_with_states_and_go_backwards(cls, kw, rng):
    layer = cls(4, return_sequences=True, return_state=True, go_backwards=True, **kw)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    layer(x)
    n_states = 2 if cls is LSTM else 1
    init = [(rng.standard_normal((3, 4)) * 0.5).astype(np.float32) for _ in range(n_states)]
    mask = rng.random((3, 5)) > 0.3
    wy = rng.standard_normal((3, 5, 4))
    wh = rng.standard_normal((3, 4))
    w = layer.get_weights()
    ra = getattr(layer, "reset_after", False)

    def loss(x_, h0_):
        y_, h_, _ = ref_rnn(layer._cell, x_[:, ::-1], w[0], w[1], w[2], h0_,
                            init[1] if n_states > 1 else None, mask[:, ::-1], reset_after=ra)
        return (y_ * wy).sum() + (h_ * wh).sum()

    out, ctx = layer.forward(x, training=True, mask=mask, initial_state=init)
    for v in layer.weights:
        v.grad[...] = 0
    dy = [wy.astype(np.float32), wh.astype(np.float32)] + [None] * (n_states - 1)
    # With initial states given, backward also returns their gradients (keyword-input protocol).
    dx, state_grads = layer.backward(ctx, dy)
    assert list(state_grads) == ["initial_state"] and len(state_grads["initial_state"]) == n_states
    assert_grad_close(dx, numeric_grad(lambda v: loss(v, init[0]), x), what="dx")
    assert_grad_close(state_grads["initial_state"][0], numeric_grad(lambda v: loss(x, v), init[0]), what="dh0")

    def loss_k(v):
        w[0] = v
        try:
            return loss(x, init[0])
        finally:
            w[0] = layer.kernel.value

    assert_grad_close(layer.kernel.grad, numeric_grad(loss_k, layer.kernel.value.copy()), what="dkernel")
    # gradients accumulate (shared layers rely on it)
    before = layer.recurrent_kernel.grad.copy()
    out, ctx = layer.forward(x, training=True, mask=mask, initial_state=init)
    layer.backward(ctx, dy)
    np.testing.assert_allclose(layer.recurrent_kernel.grad, 2 * before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_stateful_carries_states_between_calls(cls, rng):
    layer = cls(3, stateful=True, batch_size=2, return_sequences=True)
    x = rng.standard_normal((2, 8, 2)).astype(np.float32)
    whole = layer(x)
    layer.reset_states()
    first = layer(x[:, :5])
    second = layer(x[:, 5:])
    np.testing.assert_allclose(np.concatenate([first, second], 1), whole, rtol=1e-5, atol=1e-6)
    layer.reset_state()
    np.testing.assert_allclose(layer(x), whole, rtol=1e-6)
    n_states = 2 if cls is LSTM else 1
    init = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(n_states)]
    layer.reset_states(init)
    np.testing.assert_allclose(layer(x), layer(x, initial_state=init), rtol=1e-6)
    with pytest.raises(ValueError, match=r"batch size 2.*Received: shape=\(3, 8, 2\)"):
        layer(rng.standard_normal((3, 8, 2)))


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_dropout_only_in_training(cls, rng):
    layer = cls(4, dropout=0.5, recurrent_dropout=0.5, seed=3)
    x = rng.standard_normal((5, 6, 3)).astype(np.float32)
    a = layer(x)
    np.testing.assert_array_equal(a, layer(x))
    np.testing.assert_allclose(a, _ref_layer(layer, x)[0], rtol=2e-5, atol=2e-5)
    y1, ctx = layer.forward(x, training=True)
    y2, _ = layer.forward(x, training=True)
    assert not np.allclose(y1, a) and not np.allclose(y1, y2)
    dx = layer.backward(ctx, np.ones_like(y1))
    assert dx.shape == x.shape and np.isfinite(dx).all()
    # dropped input features get no gradient
    dropped = ctx.dropout_mask == 0
    assert np.all(dx[np.broadcast_to(dropped, x.shape)] == 0)


@pytest.mark.parametrize("cls, kw", LAYERS, ids=LAYER_IDS)
def test_training_in_a_model_and_save_load_roundtrip(cls, kw, tmp_path, rng):
    x = rng.standard_normal((32, 7, 3)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None].astype(np.float32) * 0.1
    model = Sequential([cls(6, input_shape=(None, 3), kernel_regularizer="l2", **kw), Dense(1)])
    model.compile("adam", "mse")
    hist = model.fit(x, y, epochs=8, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    path = str(tmp_path / "m.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    cfg = model.layers[0].get_config()
    assert type(model.layers[0]).from_config(cfg).get_config() == cfg


def test_get_config_round_trip_keeps_every_argument():
    layer = LSTM(7, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False,
                 unit_forget_bias=False, dropout=0.25, recurrent_dropout=0.1, seed=4,
                 return_sequences=True, return_state=True, go_backwards=True, unroll=True,
                 kernel_regularizer="l2", name="enc")
    cfg = layer.get_config()
    again = LSTM.from_config(cfg)
    assert again.get_config() == cfg
    for key in ("units", "return_sequences", "return_state", "go_backwards", "stateful", "dropout"):
        assert getattr(again, key) == getattr(layer, key)
    assert GRU.from_config(GRU(3, reset_after=False).get_config()).reset_after is False


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_bad_input_raises(cls, rng):
    layer = cls(4, name="rec")
    with pytest.raises(ValueError, match=r"'rec'.*\(batch, timesteps, features\).*Received: shape=\(2, 3\)"):
        layer(np.zeros((2, 3), np.float32))
    layer(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match=r"'rec'.*expected input with 5 features.*Received: shape=\(2, 3, 6\)"):
        layer(np.zeros((2, 3, 6), np.float32))
    n_states = 2 if cls is LSTM else 1
    with pytest.raises(ValueError, match=r"'rec'.*initial states of shape \(2, 4\).*Received: shape=\(2, 3\)"):
        layer(np.zeros((2, 3, 5)), initial_state=[np.zeros((2, 3))] * n_states)
    with pytest.raises(ValueError, match=rf"'rec'.*expected {n_states} initial state"):
        layer(np.zeros((2, 3, 5)), initial_state=[np.zeros((2, 4))] * (n_states + 1))
    with pytest.raises(ValueError, match=r"'rec'.*mask of shape \(2, 3\).*Received: shape=\(2, 4\)"):
        layer(np.zeros((2, 3, 5)), mask=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="real numeric"):
        layer(np.array([[["a"]]]))
    with pytest.raises(ValueError, match=r"stateful=True needs a fixed batch size"):
        cls(3, stateful=True)(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match=r"stateful=True needs a fixed batch size"):
        Sequential([cls(3, stateful=True, input_shape=(None, 5))]).predict(np.zeros((2, 3, 5)), verbose=0)
    with pytest.raises(ValueError, match="units must be a positive integer"):
        cls(0)
    with pytest.raises(ValueError, match=r"dropout must be a float in \[0, 1\)"):
        cls(3, dropout=1.0)
    with pytest.raises(ValueError, match="activation must be an elementwise activation"):
        cls(3, activation="softmax")
    with pytest.raises(ValueError, match="activation must be an elementwise activation"):
        cls(3, activation="gelu")
    with pytest.raises(ValueError, match="reset_states"):
        cls(3).reset_states()


def test_ops_bad_input_raises(rng):
    x = np.zeros((2, 3, 4), np.float32)
    k, r, b = _weights(rng, "lstm", 4, False, 4, 5)
    with pytest.raises(ValueError, match=r"rnn_forward: kernel must have shape \(4, 20\); got shape \(3, 20\)"):
        ops.lstm(x, k[:3], r, b)
    with pytest.raises(ValueError, match=r"recurrent_kernel must have shape \(5, 20\)"):
        ops.lstm(x, k, r[:, :16], b)
    with pytest.raises(ValueError, match=r"bias must have shape \(20,\); got shape \(19,\)"):
        ops.lstm(x, k, r, b[:19])
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 5\); got shape \(3, 5\)"):
        ops.lstm(x, k, r, b, [np.zeros((3, 5)), np.zeros((2, 5))])
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 3\)"):
        ops.lstm(x, k, r, b, mask=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        ops.lstm(x[0], k, r, b)
    with pytest.raises(ValueError, match="not supported by the recurrent kernels"):
        ops.lstm(x, k, r, b, activation="softsign")
    with pytest.raises(ValueError, match="Unknown activation .nope."):
        ops.lstm(x, k, r, b, activation="nope")
    kg, rg, bg = _weights(rng, "gru", 3, True, 4, 5)
    with pytest.raises(ValueError, match=r"bias must have shape \(2, 15\)"):
        ops.gru(x, kg, rg, bg[0])
    _, _, _, ctx = ops.lstm(x, k, r, b, training=True)
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 5\)"):
        ops.lstm_backward(ctx, np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"dkernel must have shape \(4, 20\)"):
        ops.lstm_backward(ctx, None, dkernel=np.zeros((4, 19), np.float32))
    with pytest.raises(ValueError, match="read-only"):
        ro = np.zeros((4, 20), np.float32)
        ro.flags.writeable = False
        ops.lstm_backward(ctx, None, dkernel=ro)
    with pytest.raises(ValueError, match="must not overlap"):
        ops.lstm_backward(ctx, None, dkernel=ctx.kernel)
    with pytest.raises(TypeError, match="training=True"):
        ops.lstm_backward(None, None)
    _, _, _, no_ctx = ops.lstm(x, k, r, b)
    assert no_ctx is None


# --- Keras 3 and PyTorch --------------------------------------------------------------------------------


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


KERAS_CASES = [
    ("SimpleRNN", {}),
    ("LSTM", {}),
    ("GRU", {}),
    ("GRU", {"reset_after": False}),
    ("LSTM", {"go_backwards": True, "return_sequences": True}),
    ("GRU", {"activation": "relu", "recurrent_activation": "hard_sigmoid", "return_sequences": True}),
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name, kw", KERAS_CASES, ids=[f"{n}-{'-'.join(k)}" for n, k in KERAS_CASES])
def test_matches_keras(name, kw, rng):
    keras = _keras()
    x = rng.standard_normal((6, 8, 3)).astype(np.float32)
    y = rng.standard_normal((6, 1)).astype(np.float32)
    mask = np.ones((6, 8), bool)
    mask[1, 5:] = False  # right padding
    mask[2, :3] = False  # left padding
    mask[3, 2] = False
    kl = getattr(keras.layers, name)(5, **kw)
    km = keras.Sequential([keras.Input((8, 3)), kl] + ([keras.layers.Flatten()] if kw.get("return_sequences") else []) + [keras.layers.Dense(1)])
    pl = getattr(pynncore.layers, name)(5, input_shape=(8, 3), **kw)
    pm = Sequential([pl] + ([pynncore.layers.Flatten()] if kw.get("return_sequences") else []) + [Dense(1)])
    pm.build((None, 8, 3))
    pm.set_weights([np.asarray(w) for w in km.get_weights()])
    np.testing.assert_allclose(pm.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)
    # masked steps: Keras's outputs with the same mask
    k_out = kl(keras.ops.convert_to_tensor(x), mask=keras.ops.convert_to_tensor(mask))
    p_out, _ = pl.forward(x, mask=mask)
    np.testing.assert_allclose(p_out, keras.ops.convert_to_numpy(k_out), rtol=1e-4, atol=1e-5)
    # a few training steps
    km.compile(keras.optimizers.Adam(0.01), "mse")
    pm.compile(pynncore.optimizers.Adam(0.01), "mse")
    for _ in range(3):
        lk = float(km.train_on_batch(x, y))
        lp = float(pm.train_on_batch(x, y))
        assert lp == pytest.approx(lk, rel=1e-4, abs=1e-6)
    for wk, wp in zip(km.get_weights(), pm.get_weights()):
        np.testing.assert_allclose(wp, np.asarray(wk), rtol=1e-3, atol=2e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_keras_initial_and_returned_states(rng):
    keras = _keras()
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    h = rng.standard_normal((4, 6)).astype(np.float32)
    c = rng.standard_normal((4, 6)).astype(np.float32)
    kl = keras.layers.LSTM(6, return_sequences=True, return_state=True)
    k_out = kl(x, initial_state=[h, c])
    pl = LSTM(6, return_sequences=True, return_state=True)
    pl(x)
    pl.set_weights([np.asarray(w) for w in kl.get_weights()])
    p_out = pl(x, initial_state=[h, c])
    for a, b in zip(p_out, k_out):
        np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), rtol=1e-4, atol=1e-5)


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_matches_pytorch_outputs_and_gradients(name, rng):
    torch = _torch()
    n, t, i, u = 5, 7, 4, 6
    x = rng.standard_normal((n, t, i)).astype(np.float32)
    h0 = rng.standard_normal((n, u)).astype(np.float32)
    c0 = rng.standard_normal((n, u)).astype(np.float32)
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(i, u, batch_first=True)
    w_ih = tm.weight_ih_l0.detach().numpy()  # (G, I), torch gate order
    w_hh = tm.weight_hh_l0.detach().numpy()
    b_ih = tm.bias_ih_l0.detach().numpy()
    b_hh = tm.bias_hh_l0.detach().numpy()
    if name == "LSTM":  # torch i, f, g, o = Keras i, f, c, o; the two biases add up
        layer = LSTM(u, return_sequences=True, return_state=True)
        layer(x)
        layer.set_weights([w_ih.T, w_hh.T, b_ih + b_hh])
        init = [h0, c0]
        tin = (torch.tensor(h0)[None], torch.tensor(c0)[None])
    else:
        if name == "GRU":  # torch r, z, n; Keras z, r, h with reset_after=True
            perm = np.r_[np.arange(u, 2 * u), np.arange(u), np.arange(2 * u, 3 * u)]
            layer = GRU(u, return_sequences=True, return_state=True)
            layer(x)
            layer.set_weights([w_ih[perm].T, w_hh[perm].T, np.stack([b_ih[perm], b_hh[perm]])])
        else:
            layer = SimpleRNN(u, return_sequences=True, return_state=True)
            layer(x)
            layer.set_weights([w_ih.T, w_hh.T, b_ih + b_hh])
        init = [h0]
        tin = torch.tensor(h0)[None]
    xt = torch.tensor(x, requires_grad=True)
    t_out, t_state = tm(xt, tin)
    wy = rng.standard_normal((n, t, u)).astype(np.float32)
    (t_out * torch.tensor(wy)).sum().backward()
    out, ctx = layer.forward(x, training=True, initial_state=init)
    np.testing.assert_allclose(out[0], t_out.detach().numpy(), rtol=1e-4, atol=1e-5)
    for v in layer.weights:
        v.grad[...] = 0
    dx, _ = layer.backward(ctx, [wy] + [None] * len(init))  # (dx, initial-state gradients)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    dk = layer.kernel.grad
    if name == "GRU":
        dk = dk[:, np.argsort(perm)]
    np.testing.assert_allclose(dk, tm.weight_ih_l0.grad.numpy().T, rtol=1e-4, atol=1e-5)
