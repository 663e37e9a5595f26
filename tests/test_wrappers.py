"""TimeDistributed and Bidirectional: float64 references, gradients, masks, errors, config,
saving, and Keras 3 parity (for Bidirectional over the built-in recurrent layers)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import layers
from pynncore.models import Sequential

from _gradcheck import assert_grad_close, numeric_grad

# -- a small recurrent layer with the library's recurrent-layer contract -----------------------


def _ref_rnn(x, k, r, b, mask=None, go_backwards=False, return_sequences=False, zero_output=False, h0=None):
    """Float64 tanh RNN with Keras masking: masked steps keep the state; their output is the
    previous output (zero when ``zero_output``). Returns (output, final state)."""
    x = np.asarray(x, np.float64)
    n, t, _ = x.shape
    m = np.ones((n, t), bool) if mask is None else np.asarray(mask, bool)
    if go_backwards:
        x, m = x[:, ::-1], m[:, ::-1]
    h = np.zeros((n, k.shape[1])) if h0 is None else np.asarray(h0, np.float64)
    out_prev = np.zeros_like(h)
    outs = []
    for s in range(t):
        hn = np.tanh(x[:, s] @ k + h @ r + b)
        ms = m[:, s, None]
        h = np.where(ms, hn, h)
        out_prev = np.where(ms, hn, 0.0 if zero_output else out_prev)
        outs.append(out_prev)
    return (np.stack(outs, 1) if return_sequences else h), h


@pynncore.saving.register_serializable("tests")
class TanhRNN(layers.Layer):
    """``h_t = tanh(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)`` in float32."""

    consumes_mask = True
    supports_masking = True

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False, stateful=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.zero_output_for_mask = False

    def build(self, input_shape):
        f = input_shape[-1]
        self.kernel = self.add_weight("kernel", (f, self.units), "glorot_uniform")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units), "orthogonal")
        self.bias = self.add_weight("bias", (self.units,), "random_normal")
        self.built = True

    def compute_output_shape(self, input_shape):
        out = (input_shape[0], input_shape[1], self.units) if self.return_sequences else (input_shape[0], self.units)
        return [out, (input_shape[0], self.units)] if self.return_state else out

    def forward(self, x, training=False, mask=None, initial_state=None):
        n, t, _ = x.shape
        m = np.ones((n, t), bool) if mask is None else mask
        xs, ms = (x[:, ::-1], m[:, ::-1]) if self.go_backwards else (x, m)
        k, r, b = self.kernel.value, self.recurrent_kernel.value, self.bias.value
        h = np.zeros((n, self.units), np.float32) if initial_state is None else np.asarray(initial_state[0], np.float32)
        out = np.zeros_like(h)
        steps, outs = [], []
        for s in range(t):
            hn = np.tanh(xs[:, s] @ k + h @ r + b)
            mk = ms[:, s, None]
            steps.append((h, hn, mk))
            h = np.where(mk, hn, h)
            out = np.where(mk, hn, 0.0 if self.zero_output_for_mask else out)
            outs.append(out)
        y = np.stack(outs, 1) if self.return_sequences else h
        y = [y, h] if self.return_state else y
        return y, ((xs, steps) if training else None)

    def backward(self, ctx, dy, need_dx=True):
        xs, steps = ctx
        k, r = self.kernel.value, self.recurrent_kernel.value
        d_out, dh = (dy[0], dy[1].copy()) if self.return_state else (dy, np.zeros((xs.shape[0], self.units), np.float32))
        if not self.return_sequences:
            dh = dh + d_out
        dxs = np.zeros_like(xs)
        d_carry = np.zeros_like(dh)  # gradient reaching the previous output (masked steps repeat it)
        for s in range(len(steps) - 1, -1, -1):
            h_prev, hn, mk = steps[s]
            d_o = d_carry + (d_out[:, s] if self.return_sequences else 0.0)
            d_hn = np.where(mk, dh + d_o, 0.0)
            dh_prev = np.where(mk, 0.0, dh)
            d_carry = np.where(mk, 0.0, 0.0 if self.zero_output_for_mask else d_o)
            da = d_hn * (1 - hn**2)
            self.kernel.grad += xs[:, s].T @ da
            self.recurrent_kernel.grad += h_prev.T @ da
            self.bias.grad += da.sum(0)
            dxs[:, s] = da @ k.T
            dh = dh_prev + da @ r.T
        if not need_dx:
            return None
        return dxs[:, ::-1] if self.go_backwards else dxs

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, return_sequences=self.return_sequences, return_state=self.return_state, go_backwards=self.go_backwards, stateful=self.stateful)
        return config


def _merge(mode, f, b):
    return {"concat": lambda: np.concatenate([f, b], -1), "sum": lambda: f + b, "ave": lambda: (f + b) / 2, "mul": lambda: f * b, None: lambda: [f, b]}[mode]()


def _ref_bidirectional(x, wf, wb, mode, return_sequences, mask=None, states=None):
    """Float64 Bidirectional over _ref_rnn: (outputs list, forward state, backward state)."""
    sf, sb = (None, None) if states is None else states
    of, hf = _ref_rnn(x, *wf, mask=mask, return_sequences=return_sequences, zero_output=return_sequences, h0=sf)
    ob, hb = _ref_rnn(x, *wb, mask=mask, go_backwards=True, return_sequences=return_sequences, zero_output=return_sequences, h0=sb)
    if return_sequences:
        ob = ob[:, ::-1]
    merged = _merge(mode, of, ob)
    return (merged if mode is None else [merged]), hf, hb


def _weights64(layer):
    return [w.astype(np.float64) for w in layer.get_weights()]


# -- TimeDistributed ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 1, 1), (3, 7, 4, 2), (0, 3, 4)])
def test_time_distributed_dense_forward_backward(shape, rng):
    td = layers.TimeDistributed(layers.Dense(3, activation="tanh"))
    x = rng.standard_normal(shape).astype(np.float32)
    td.build((None,) + shape[1:])
    y, ctx = td.forward(x, training=True)
    k, b = _weights64(td)
    ref = lambda xx, kk=k, bb=b: np.tanh(xx @ kk + bb)  # noqa: E731
    assert y.shape == shape[:-1] + (3,)
    np.testing.assert_allclose(y, ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    w = rng.standard_normal(y.shape)
    dx = td.backward(ctx, w.astype(np.float32))
    x64 = x.astype(np.float64)
    assert_grad_close(dx, numeric_grad(lambda xx: float((ref(xx) * w).sum()), x64), what="dx")
    assert_grad_close(td.layer.kernel.grad, numeric_grad(lambda kk: float((ref(x64, kk) * w).sum()), k), what="kernel")
    assert_grad_close(td.layer.bias.grad, numeric_grad(lambda bb: float((ref(x64, k, bb) * w).sum()), b), what="bias")
    assert td.weights == td.layer.weights and td.count_params() == td.layer.count_params()


def test_time_distributed_flatten_and_shapes(rng):
    td = layers.TimeDistributed(layers.Flatten())
    x = rng.standard_normal((2, 4, 3, 5)).astype(np.float32)
    y, ctx = td.forward(x, training=True)
    np.testing.assert_array_equal(y, x.reshape(2, 4, 15))
    np.testing.assert_array_equal(td.backward(ctx, y), x)
    assert td.compute_output_shape((None, 4, 3, 5)) == (None, 4, 15)
    assert layers.TimeDistributed(layers.Dense(6)).compute_output_shape((None, None, 3)) == (None, None, 6)


def test_time_distributed_mask_passes_through_to_consumer(rng):
    from test_embedding import _MaskedSum

    emb = layers.Embedding(7, 3, mask_zero=True)
    td = layers.TimeDistributed(layers.Dense(2))
    model = Sequential([pynncore.Input((5,)), emb, td, _MaskedSum()])
    ids = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 1]])
    m = np.ones((2, 4), bool)
    assert td.compute_mask(np.zeros((2, 4, 3)), m) is m
    table, (k, b) = _weights64(emb)[0], _weights64(td)
    want = np.stack([(table[s] @ k + b).sum(0) for s in ([1, 2], [3, 4, 5, 6, 1])])
    np.testing.assert_allclose(model.predict(ids, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_time_distributed_trains_in_a_model(rng):
    pynncore.utils.set_random_seed(1)
    x = rng.standard_normal((64, 5, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = Sequential([layers.TimeDistributed(layers.Dense(1), input_shape=(5, 3))])
    model.compile(pynncore.optimizers.Adam(0.1), "mse")
    hist = model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 1e-2 * hist.history["loss"][0]


def test_time_distributed_errors():
    with pytest.raises(ValueError, match="TimeDistributed: expected a pynncore Layer to wrap. Received: str"):
        layers.TimeDistributed("dense")
    td = layers.TimeDistributed(layers.Dense(2), name="tdx")
    with pytest.raises(ValueError, match=r"TimeDistributed 'tdx': expected an input of rank >= 3 \(N, T, \.\.\.\)\. Received: shape=\(None, 4\)"):
        Sequential([pynncore.Input((4,)), td])
    with pytest.raises(ValueError, match=r"TimeDistributed 'tdx': expected an input of rank >= 3"):
        td(np.ones((2, 4), np.float32))


def test_time_distributed_config_and_save_load(tmp_path, rng):
    td = layers.TimeDistributed(layers.Dense(4, activation="relu", name="inner"), name="td", input_shape=(6, 3))
    cfg = td.get_config()
    assert cfg["layer"]["class_name"] == "Dense" and cfg["layer"]["config"]["units"] == 4
    assert layers.TimeDistributed.from_config(cfg).get_config() == cfg
    model = Sequential([td, layers.TimeDistributed(layers.Dense(1))])
    model.compile("adam", "mse")
    x = rng.standard_normal((5, 6, 3)).astype(np.float32)
    model.fit(x, rng.standard_normal((5, 6, 1)), epochs=1, verbose=0)
    path = str(tmp_path / "td.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].layer.name == "inner"


def test_wrappers_freeze_the_wrapped_layers(rng):
    td = layers.TimeDistributed(layers.Dense(2), trainable=False)
    td.build((None, 3, 4))
    assert td.trainable_weights == [] and len(td.non_trainable_weights) == 2
    assert td.layer.trainable is False
    _, ctx = td.forward(np.ones((1, 3, 4), np.float32), training=True)
    td.backward(ctx, np.ones((1, 3, 2), np.float32))
    assert not td.layer.kernel.grad.any()
    td.trainable = True
    assert td.layer.trainable and len(td.trainable_weights) == 2
    bi = layers.Bidirectional(TanhRNN(2), trainable=False)
    bi.build((None, 3, 1))
    assert bi.trainable_weights == [] and not bi.forward_layer.trainable and not bi.backward_layer.trainable
    bi.trainable = True
    assert len(bi.trainable_weights) == 6


# -- Bidirectional (mechanics, over the TanhRNN above) -----------------------------------------

MODES = ["concat", "sum", "mul", "ave", None]


def _bi(mode, return_sequences, return_state=False, units=3):
    return layers.Bidirectional(TanhRNN(units, return_sequences=return_sequences, return_state=return_state), merge_mode=mode)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_bidirectional_forward_backward_matches_float64(mode, return_sequences, rng):
    bi = _bi(mode, return_sequences, return_state=True)
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], bool)
    bi.build((None, 4, 2))
    w = _weights64(bi)
    wf, wb = w[:3], w[3:]
    y, ctx = bi.forward(x, training=True, mask=mask)
    outs, hf, hb = _ref_bidirectional(x, wf, wb, mode, return_sequences, mask)
    want = outs + [hf, hb]
    assert len(y) == len(want)
    for got, ref in zip(y, want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    ws = [rng.standard_normal(r.shape) for r in want]

    def loss(xx, weights):
        o, f, b = _ref_bidirectional(xx, weights[:3], weights[3:], mode, return_sequences, mask)
        return float(sum((a * c).sum() for a, c in zip(o + [f, b], ws)))

    dx = bi.backward(ctx, [c.astype(np.float32) for c in ws])
    x64 = x.astype(np.float64)
    assert_grad_close(dx, numeric_grad(lambda xx: loss(xx, w), x64), what="dx")
    for i, var in enumerate(bi.weights):
        def f(v, i=i):
            ww = list(w)
            ww[i] = v
            return loss(x64, ww)

        assert_grad_close(var.grad, numeric_grad(f, w[i]), what=var.path)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("mode", ["concat", "mul"])
def test_bidirectional_plain_output_gradient(mode, return_sequences, rng):
    bi = _bi(mode, return_sequences)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    bi.build((None, 5, 3))
    y, ctx = bi.forward(x, training=True)
    w = _weights64(bi)
    (ref,), _, _ = _ref_bidirectional(x, w[:3], w[3:], mode, return_sequences)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(y.shape)
    dx = bi.backward(ctx, g.astype(np.float32))
    fd = numeric_grad(lambda xx: float((_ref_bidirectional(xx, w[:3], w[3:], mode, return_sequences)[0][0] * g).sum()), x.astype(np.float64))
    assert_grad_close(dx, fd, what="dx")
    assert bi.backward(ctx, g.astype(np.float32), need_dx=False) is None


def test_bidirectional_layers_names_weights_and_shapes():
    bi = layers.Bidirectional(TanhRNN(4, return_sequences=True, name="rnn"))
    assert bi.forward_layer.name == "forward_rnn" and bi.backward_layer.name == "backward_rnn"
    assert not bi.forward_layer.go_backwards and bi.backward_layer.go_backwards
    bi.build((None, 6, 2))
    assert [w.path for w in bi.weights] == [f"{d}_rnn/{n}" for d in ("forward", "backward") for n in ("kernel", "recurrent_kernel", "bias")]
    assert bi.compute_output_shape((None, 6, 2)) == (None, 6, 8)
    assert _bi("sum", False).compute_output_shape((None, 6, 2)) == (None, 3)
    assert _bi(None, True, True).compute_output_shape((None, 6, 2)) == [(None, 6, 3), (None, 6, 3), (None, 3), (None, 3)]
    assert _bi("concat", False, True).compute_output_shape((None, 6, 2)) == [(None, 6), (None, 3), (None, 3)]
    keras2 = Sequential([layers.Bidirectional(TanhRNN(3, input_shape=(5, 2)))])  # Keras 2 style
    assert keras2.built and keras2.output_shape == (None, 6)
    flipped = layers.Bidirectional(TanhRNN(2, go_backwards=True))
    assert flipped.forward_layer.go_backwards and not flipped.backward_layer.go_backwards


def test_bidirectional_mask_padded_equals_unpadded(rng):
    bi = _bi("concat", True)
    bi_last = _bi("ave", False)
    lengths = [5, 2, 4, 1]
    x = np.zeros((4, 5, 2), np.float32)
    for i, n in enumerate(lengths):
        x[i, :n] = rng.standard_normal((n, 2))
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    seq = bi(x, mask=mask)
    last = bi_last(x, mask=mask)
    for i, n in enumerate(lengths):
        one = x[i : i + 1, :n]
        np.testing.assert_allclose(seq[i, :n], bi(one)[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(seq[i, n:], 0.0)
        np.testing.assert_allclose(last[i], bi_last(one)[0], rtol=1e-5, atol=1e-6)
    assert bi.compute_mask(x, mask) is mask and bi_last.compute_mask(x, mask) is None


def test_bidirectional_initial_state_is_split_in_half(rng):
    bi = _bi("concat", False, return_state=True)
    x = rng.standard_normal((2, 3, 2)).astype(np.float32)
    s = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2)]
    y = bi(x, initial_state=s)
    w = _weights64(bi)
    outs, hf, hb = _ref_bidirectional(x, w[:3], w[3:], "concat", False, states=s)
    for got, ref in zip(y, outs + [hf, hb]):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="initial_state must hold the forward layer's states followed by the backward layer's.*Received: 3"):
        bi(x, initial_state=s + s[:1])


def test_bidirectional_errors():
    with pytest.raises(ValueError, match="merge_mode must be one of.*Received: merge_mode='max'"):
        layers.Bidirectional(TanhRNN(2), merge_mode="max")
    with pytest.raises(ValueError, match="`layer` must be a recurrent layer.*Dense 'dd'"):
        layers.Bidirectional(layers.Dense(2, name="dd"))
    with pytest.raises(ValueError, match="`layer` must be a pynncore Layer"):
        layers.Bidirectional(None)
    with pytest.raises(ValueError, match="different go_backwards values"):
        layers.Bidirectional(TanhRNN(2), backward_layer=TanhRNN(2), name="bb")
    with pytest.raises(ValueError, match="same return_sequences.*True for the forward layer and False"):
        layers.Bidirectional(TanhRNN(2, return_sequences=True), backward_layer=TanhRNN(2, go_backwards=True))
    bi = layers.Bidirectional(TanhRNN(2), name="bi_err")
    with pytest.raises(ValueError, match=r"Bidirectional 'bi_err': expected an input of rank 3 \(N, T, F\)"):
        bi(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"Bidirectional 'bi_err': expected a mask of shape \(2, 3\)"):
        bi(np.ones((2, 3, 1), np.float32), mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="return_state=True and merge_mode=None are available only in eager calls"):
        layers.Bidirectional(TanhRNN(2, return_state=True))(pynncore.Input((3, 1)))


def test_bidirectional_custom_backward_layer_and_weights_argument(rng):
    back = TanhRNN(2, go_backwards=True, name="mine")
    init = [rng.standard_normal(s).astype(np.float32) for s in [(3, 2), (2, 2), (2,)] * 2]
    bi = layers.Bidirectional(TanhRNN(2), backward_layer=back, weights=init)
    assert bi.backward_layer is back
    bi.build((None, 4, 3))
    for got, want in zip(bi.get_weights(), init):
        np.testing.assert_array_equal(got, want)


def test_bidirectional_in_model_trains_config_and_save_load(tmp_path, rng):
    pynncore.utils.set_random_seed(0)
    model = Sequential([
        layers.Embedding(8, 3, mask_zero=True, input_length=6),
        layers.Bidirectional(TanhRNN(4, return_sequences=True), merge_mode="sum"),
        layers.Bidirectional(TanhRNN(3)),
        layers.Dense(1),
    ])
    ids = rng.integers(1, 8, (32, 6))
    ids[::2, 4:] = 0
    y = (ids[:, :1] > 4).astype(np.float32)
    model.compile(pynncore.optimizers.Adam(0.05), "mse")
    hist = model.fit(ids, y, epochs=15, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    bi = model.layers[1]
    cfg = bi.get_config()
    assert cfg["merge_mode"] == "sum" and cfg["layer"]["config"]["name"] == bi.forward_layer.name
    assert cfg["backward_layer"]["config"]["go_backwards"] is True
    again = layers.Bidirectional.from_config(cfg)
    assert again.get_config() == cfg
    path = str(tmp_path / "bi.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0), rtol=1e-6)
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]


# -- Keras 3 parity ----------------------------------------------------------------------------

_array_warning = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


@pytest.fixture
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@_array_warning
def test_time_distributed_dense_matches_keras(keras, rng):
    k = keras.layers.TimeDistributed(keras.layers.Dense(5, activation="relu"))
    k.build((None, 4, 3))
    p = layers.TimeDistributed(layers.Dense(5, activation="relu"))
    p.build((None, 4, 3))
    p.set_weights([np.asarray(w) for w in k.get_weights()])
    x = rng.standard_normal((6, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(p(x), keras.ops.convert_to_numpy(k(x)), rtol=1e-5, atol=1e-6)


def _rnn_class(name):
    cls = getattr(layers, name, None)
    if cls is None:
        pytest.skip(f"pynncore.layers.{name} is not available")
    return cls


@_array_warning
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
def test_bidirectional_matches_keras(cell, mode, keras, rng):
    cls = _rnn_class(cell)
    n, t, f, u = 3, 5, 4, 3
    x = rng.standard_normal((n, t, f)).astype(np.float32)
    mask = np.arange(t)[None, :] < np.array([5, 3, 1])[:, None]
    for return_sequences in (False, True):
        k = keras.layers.Bidirectional(getattr(keras.layers, cell)(u, return_sequences=return_sequences, return_state=True), merge_mode=mode)
        k.build((None, t, f))
        p = layers.Bidirectional(cls(u, return_sequences=return_sequences, return_state=True), merge_mode=mode)
        p.build((None, t, f))
        p.set_weights([np.asarray(w) for w in k.get_weights()])
        for m in (None, mask):
            ky = [keras.ops.convert_to_numpy(a) for a in k(x, mask=None if m is None else m)]
            py = p(x, mask=m)
            assert len(py) == len(ky)
            for got, want in zip(py, ky):
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@_array_warning
@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
def test_bidirectional_real_layers_gradients(cell, rng):
    cls = _rnn_class(cell)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    for mode, rs in (("concat", True), ("mul", False), ("ave", True)):
        bi = layers.Bidirectional(cls(2, return_sequences=rs), merge_mode=mode)
        bi.build((None, 4, 3))
        y, ctx = bi.forward(x, training=True, mask=mask)
        g = rng.standard_normal(y.shape)
        if rs:
            g = g * mask[..., None]  # padded outputs are zeros, their gradient is not checked
        dx = bi.backward(ctx, g.astype(np.float32))
        x64 = x.astype(np.float64)

        def loss(xx):
            return float((bi.forward(xx.astype(np.float32), mask=mask)[0] * g).sum())

        # float32 forward: a coarser step and tolerance than the float64 references above
        fd = numeric_grad(loss, x64, eps=1e-2)
        assert_grad_close(dx, fd, rtol=2e-2, atol=2e-3, what=f"{cell} {mode} dx")


@pytest.mark.parametrize("functional", [False, True])
def test_masked_model_padded_batch_equals_sequences_one_by_one(functional, rng):
    _rnn_class("GRU")
    stack = [
        layers.Embedding(12, 5, mask_zero=True),
        layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode="ave"),
        layers.TimeDistributed(layers.Dense(3, activation="tanh")),
        layers.Bidirectional(layers.LSTM(3)),
        layers.Dense(2),
    ]
    if functional:
        inp = pynncore.Input((7,))
        t = inp
        for layer in stack:
            t = layer(t)
        model = pynncore.Model(inp, t)
    else:
        model = Sequential([pynncore.Input((7,))] + stack)
    lengths = [7, 1, 4, 2]
    padded = np.zeros((4, 7))
    for i, n in enumerate(lengths):
        padded[i, :n] = rng.integers(1, 12, n)
    batch = model.predict(padded, verbose=0)
    for i, n in enumerate(lengths):
        alone = Sequential([pynncore.Input((n,))] + stack)  # the same layers, no padding
        np.testing.assert_allclose(batch[i], alone.predict(padded[i : i + 1, :n], verbose=0)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
def test_bidirectional_real_layer_save_load(cell, tmp_path, rng):
    cls = _rnn_class(cell)
    model = Sequential([
        layers.Embedding(10, 4, mask_zero=True, input_length=6),
        layers.Bidirectional(cls(3, return_sequences=True), merge_mode="mul"),
        layers.Bidirectional(cls(2), backward_layer=cls(2, go_backwards=True, name=f"rev_{cell.lower()}")),
        layers.Dense(1),
    ])
    model.compile("adam", "mse")
    x = rng.integers(0, 10, (8, 6))
    model.fit(x, rng.standard_normal((8, 1)), epochs=1, verbose=0)
    path = str(tmp_path / "bi_real.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    assert type(loaded.layers[1].forward_layer) is cls
    assert loaded.layers[2].backward_layer.name == f"rev_{cell.lower()}"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.fit(x, rng.standard_normal((8, 1)), epochs=1, verbose=0)  # optimizer state restored
