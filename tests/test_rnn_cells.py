"""SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells and RNN: a float64 step-by-step reference,
equality with the fused SimpleRNN/LSTM/GRU layers, Keras 3 parity (outputs, states, training
steps), config and save/load round trips, and bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import layers as L

from test_rnn import ref_rnn

CELL_KINDS = {
    "SimpleRNNCell": ("SimpleRNN", "simple_rnn"),
    "LSTMCell": ("LSTM", "lstm"),
    "GRUCell": ("GRU", "gru"),
}
CELL_NAMES = sorted(CELL_KINDS)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _np(keras, v):
    return np.asarray(keras.ops.convert_to_numpy(v))


def _random_weights(layer, rng, scale=0.5):
    layer.set_weights([(rng.standard_normal(w.shape) * scale).astype(np.float32) for w in layer.weights])


def _mask(n, t):
    mask = np.ones((n, t), bool)
    mask[1, t - 2:] = False  # right padding
    mask[2, :2] = False  # left padding
    mask[0, 3] = False
    return mask


# --- cells: arguments, sizes, weights ------------------------------------------------------------


@pytest.mark.parametrize("name", CELL_NAMES)
def test_cell_arguments_and_config_match_keras(name):
    keras = _keras()
    kc = getattr(keras.layers, name)(5)
    pc = getattr(L, name)(5)
    assert pc.state_size == kc.state_size
    assert pc.output_size == 5
    k_cfg, p_cfg = kc.get_config(), pc.get_config()
    skip = {"name", "dtype", "trainable"}
    assert set(p_cfg) - skip == set(k_cfg) - skip
    for key in ("units", "activation", "use_bias", "dropout", "recurrent_dropout", "seed",
                "recurrent_activation", "reset_after", "unit_forget_bias"):
        if key in k_cfg:
            assert p_cfg[key] == k_cfg[key], key
    assert getattr(L, name).from_config(p_cfg).get_config() == p_cfg


@pytest.mark.parametrize("name", CELL_NAMES)
def test_cell_weights_have_keras_layouts(name):
    keras = _keras()
    kc = getattr(keras.layers, name)(4)
    kc.build((None, 3))
    pc = getattr(L, name)(4)
    pc.build((None, 3))
    assert [tuple(w.shape) for w in pc.weights] == [tuple(w.shape) for w in kc.weights]
    assert pc.kernel is pc.weights[0] and pc.recurrent_kernel is pc.weights[1] and pc.bias is pc.weights[2]
    rnn = L.RNN(pc)
    rnn(np.zeros((2, 5, 3), np.float32))
    assert rnn.weights == pc.weights  # the layer computes with the cell's variables
    if name == "LSTMCell":  # unit_forget_bias
        np.testing.assert_array_equal(pc.bias.value, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    assert getattr(L, "GRUCell")(2, reset_after=False).get_config()["reset_after"] is False


@pytest.mark.parametrize("name", CELL_NAMES)
@pytest.mark.parametrize("masked", [False, True], ids=["dense", "masked"])
def test_rnn_matches_float64_reference(name, masked, rng):
    _, kind = CELL_KINDS[name]
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    rnn = L.RNN(getattr(L, name)(5), return_sequences=True, return_state=True)
    rnn(x)
    _random_weights(rnn, rng)
    k, r, b = (w.value for w in rnn.cell.weights)
    h0 = rng.standard_normal((4, 5)).astype(np.float32)
    c0 = rng.standard_normal((4, 5)).astype(np.float32)
    mask = _mask(4, 6) if masked else None
    states = [h0, c0] if kind == "lstm" else [h0]
    out = rnn(x, initial_state=states, mask=mask)
    y_ref, h_ref, c_ref = ref_rnn(kind, x, k, r, b, h0=h0, c0=c0 if kind == "lstm" else None, mask=mask)
    np.testing.assert_allclose(out[0], y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1], h_ref, rtol=1e-5, atol=1e-5)
    if kind == "lstm":
        np.testing.assert_allclose(out[2], c_ref, rtol=1e-5, atol=1e-5)
    assert len(out) == 1 + len(states)


@pytest.mark.parametrize("name", CELL_NAMES)
def test_cell_single_step_matches_reference(name, rng):
    _, kind = CELL_KINDS[name]
    cell = getattr(L, name)(4)
    x = rng.standard_normal((3, 2)).astype(np.float32)
    h = rng.standard_normal((3, 4)).astype(np.float32)
    c = rng.standard_normal((3, 4)).astype(np.float32)
    states = [h, c] if kind == "lstm" else h
    out, new = cell(x, states)
    k, r, b = (w.value for w in cell.weights)
    _, h_ref, c_ref = ref_rnn(kind, x[:, None], k, r, b, h0=h, c0=c if kind == "lstm" else None)
    np.testing.assert_allclose(out, h_ref, rtol=1e-5, atol=1e-5)
    if kind == "lstm":
        np.testing.assert_allclose(new[0], h_ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(new[1], c_ref, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(new, h_ref, rtol=1e-5, atol=1e-5)


# --- RNN(cell) is the fused layer ------------------------------------------------------------------

FUSED_CASES = [
    ("SimpleRNNCell", {"activation": "relu"}, {"return_sequences": True}),
    ("LSTMCell", {}, {"return_state": True}),
    ("LSTMCell", {"unit_forget_bias": False, "recurrent_activation": "hard_sigmoid"},
     {"go_backwards": True, "return_sequences": True, "return_state": True}),
    ("GRUCell", {}, {"return_sequences": True, "return_state": True}),
    ("GRUCell", {"reset_after": False, "use_bias": False}, {"go_backwards": True}),
    ("SimpleRNNCell", {"kernel_regularizer": "l2", "recurrent_constraint": "non_neg"}, {}),
]


def _pair(name, cell_kw, rnn_kw, rng, features=3, **fused_extra):
    fused_name, _ = CELL_KINDS[name]
    rnn = L.RNN(getattr(L, name)(5, **cell_kw), **rnn_kw)
    fused = getattr(L, fused_name)(5, **cell_kw, **rnn_kw, **fused_extra)
    x = np.zeros((2, 4, features), np.float32)
    rnn(x)
    fused(x)
    _random_weights(rnn, rng)
    fused.set_weights(rnn.get_weights())
    return rnn, fused


def _as_list(v):
    return list(v) if isinstance(v, list) else [v]


@pytest.mark.parametrize("name, cell_kw, rnn_kw", FUSED_CASES)
def test_rnn_equals_fused_layer_forward_and_backward(name, cell_kw, rnn_kw, rng):
    rnn, fused = _pair(name, cell_kw, rnn_kw, rng)
    x = rng.standard_normal((4, 7, 3)).astype(np.float32)
    mask = _mask(4, 7)
    n_states = 2 if name == "LSTMCell" else 1
    states = [rng.standard_normal((4, 5)).astype(np.float32) for _ in range(n_states)]
    y_r, ctx_r = rnn.forward(x, training=True, mask=mask, initial_state=states)
    y_f, ctx_f = fused.forward(x, training=True, mask=mask, initial_state=states)
    for a, b in zip(_as_list(y_r), _as_list(y_f)):
        np.testing.assert_array_equal(a, b)
    dy = [rng.standard_normal(a.shape).astype(np.float32) for a in _as_list(y_r)]
    dy = dy if rnn.return_state else dy[0]
    dx_r, g_r = rnn.backward(ctx_r, dy)
    dx_f, g_f = fused.backward(ctx_f, dy)
    np.testing.assert_array_equal(dx_r, dx_f)
    for a, b in zip(g_r["initial_state"], g_f["initial_state"]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(rnn.weights, fused.weights):
        np.testing.assert_array_equal(a.grad, b.grad)


@pytest.mark.parametrize("name", CELL_NAMES)
def test_rnn_dropout_equals_fused_layer_with_the_same_seed(name, rng):
    fused_name, _ = CELL_KINDS[name]
    kw = dict(dropout=0.3, recurrent_dropout=0.2, seed=7)
    rnn = L.RNN(getattr(L, name)(4, **kw), return_sequences=True)
    fused = getattr(L, fused_name)(4, return_sequences=True, **kw)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    rnn(x)
    fused(x)
    fused.set_weights(rnn.get_weights())
    np.testing.assert_array_equal(rnn(x, training=True), fused(x, training=True))
    np.testing.assert_array_equal(rnn(x), fused(x))
    assert not np.array_equal(rnn(x, training=True), rnn(x))


@pytest.mark.parametrize("name", CELL_NAMES)
def test_stateful_rnn_equals_stateful_fused_layer(name, rng):
    fused_name, _ = CELL_KINDS[name]
    rnn = L.RNN(getattr(L, name)(4), stateful=True, return_sequences=True, batch_size=3)
    fused = getattr(L, fused_name)(4, stateful=True, return_sequences=True, batch_size=3)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    rnn(x)
    fused(x)
    rnn.reset_states()
    fused.reset_states()
    fused.set_weights(rnn.get_weights())
    for _ in range(2):
        np.testing.assert_array_equal(rnn(x), fused(x))
    assert rnn.states is not None
    rnn.reset_states()
    fused.reset_states()
    np.testing.assert_array_equal(rnn(x), fused(x))
    with pytest.raises(ValueError, match="stateful"):
        L.RNN(getattr(L, name)(4)).reset_states()
    with pytest.raises(ValueError, match="fixed batch size"):
        L.RNN(getattr(L, name)(4), stateful=True)(pynncore.Input((5, 2)))


@pytest.mark.parametrize("name, cell_kw, rnn_kw", FUSED_CASES)
def test_rnn_trains_like_fused_layer_in_a_model(name, cell_kw, rnn_kw, rng):
    rnn_kw = {k: v for k, v in rnn_kw.items() if k != "return_state"}
    x = rng.integers(0, 9, size=(6, 7))
    x[1, 4:] = 0
    x[2, :2] = 0
    y = rng.standard_normal((6, 1)).astype(np.float32)
    models = []
    for use_cell in (True, False):
        fused_name, _ = CELL_KINDS[name]
        layer = (L.RNN(getattr(L, name)(5, **cell_kw), **rnn_kw) if use_cell
                 else getattr(L, fused_name)(5, **cell_kw, **rnn_kw))
        tail = [L.Flatten()] if rnn_kw.get("return_sequences") else []
        m = pynncore.Sequential([pynncore.Input((7,)), L.Embedding(9, 3, mask_zero=True), layer] + tail + [L.Dense(1)])
        m.compile(pynncore.optimizers.Adam(0.01), "mse")
        models.append(m)
    models[1].set_weights(models[0].get_weights())
    for _ in range(3):
        assert models[0].train_on_batch(x, y) == models[1].train_on_batch(x, y)
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_array_equal(a, b)


# --- Keras 3 parity ---------------------------------------------------------------------------------

KERAS_CASES = [
    ("SimpleRNNCell", {}, {}),
    ("LSTMCell", {}, {}),
    ("GRUCell", {}, {}),
    ("GRUCell", {"reset_after": False}, {"return_sequences": True}),
    ("LSTMCell", {}, {"go_backwards": True, "return_sequences": True}),
    ("SimpleRNNCell", {"activation": "relu"}, {"go_backwards": True}),
    ("LSTMCell", {}, {"return_sequences": True, "zero_output_for_mask": True}),
    ("GRUCell", {}, {"go_backwards": True, "zero_output_for_mask": True}),
]


def _case_id(case):
    name, ckw, rkw = case
    return "-".join([name] + [f"{k}={v}" for k, v in {**ckw, **rkw}.items()])


def _keras_and_pynncore_models(keras, make_cell, rnn_kw, vocab=9, t=7):
    kl = keras.layers
    tail_k = [kl.Flatten()] if rnn_kw.get("return_sequences") else []
    tail_p = [L.Flatten()] if rnn_kw.get("return_sequences") else []
    km = keras.Sequential([keras.Input((t,)), kl.Embedding(vocab, 3, mask_zero=True),
                           kl.RNN(make_cell(kl), **rnn_kw)] + tail_k + [kl.Dense(1)])
    pm = pynncore.Sequential([pynncore.Input((t,)), L.Embedding(vocab, 3, mask_zero=True),
                              L.RNN(make_cell(L), **rnn_kw)] + tail_p + [L.Dense(1)])
    assert [w.shape for w in pm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    pm.set_weights([np.asarray(w) for w in km.get_weights()])
    km.compile(keras.optimizers.Adam(0.01), "mse")
    pm.compile(pynncore.optimizers.Adam(0.01), "mse")
    return km, pm


def _assert_train_like_keras(km, pm, x, y):
    np.testing.assert_allclose(pm.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)
    for _ in range(3):
        lk = float(km.train_on_batch(x, y))
        lp = float(pm.train_on_batch(x, y))
        assert lp == pytest.approx(lk, rel=1e-4, abs=1e-6)
    for wk, wp in zip(km.get_weights(), pm.get_weights()):
        np.testing.assert_allclose(wp, np.asarray(wk), rtol=1e-3, atol=2e-5)
    np.testing.assert_allclose(pm.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), rtol=1e-3, atol=1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")
@pytest.mark.parametrize("case", KERAS_CASES, ids=_case_id)
def test_rnn_cell_model_trains_like_keras_with_embedding_mask(case, rng):
    keras = _keras()
    name, cell_kw, rnn_kw = case
    km, pm = _keras_and_pynncore_models(keras, lambda mod: getattr(mod, name)(5, **cell_kw), rnn_kw)
    x = rng.integers(1, 9, size=(6, 7))
    x[1, 4:] = 0
    x[2, :2] = 0
    x[3, 3] = 0
    y = rng.standard_normal((6, 1)).astype(np.float32)
    _assert_train_like_keras(km, pm, x, y)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")
def test_stacked_cells_model_trains_like_keras_with_embedding_mask(rng):
    keras = _keras()
    km, pm = _keras_and_pynncore_models(
        keras, lambda mod: mod.StackedRNNCells([mod.LSTMCell(5), mod.GRUCell(4)]), {"return_sequences": True}
    )
    x = rng.integers(1, 9, size=(6, 7))
    x[1, 4:] = 0
    x[2, :2] = 0
    y = rng.standard_normal((6, 1)).astype(np.float32)
    _assert_train_like_keras(km, pm, x, y)


def _keras_states(keras, value):
    if isinstance(value, (list, tuple)):
        return [_keras_states(keras, v) for v in value]
    return _np(keras, value)


def _assert_nested_close(a, b):
    assert isinstance(a, list) == isinstance(b, list)
    if isinstance(a, list):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_nested_close(u, v)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


STATE_CASES = [
    (lambda m: m.LSTMCell(5), [(5,), (5,)]),
    (lambda m: m.GRUCell(5), [(5,)]),
    (lambda m: m.SimpleRNNCell(5), [(5,)]),
    (lambda m: m.StackedRNNCells([m.LSTMCell(5), m.GRUCell(4)]), [[(5,), (5,)], (4,)]),
    (lambda m: [m.GRUCell(3), m.SimpleRNNCell(4), m.LSTMCell(2)], [(3,), (4,), [(2,), (2,)]]),
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("make, state_shapes", STATE_CASES, ids=["lstm", "gru", "simple", "stacked2", "list3"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
def test_returned_and_initial_states_match_keras(make, state_shapes, go_backwards, rng):
    keras = _keras()
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    mask = _mask(4, 6)

    def states(shapes):
        if isinstance(shapes, list):
            return [states(s) for s in shapes]
        return rng.standard_normal((4,) + shapes).astype(np.float32)

    init = states(state_shapes)
    kw = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    kl = keras.layers.RNN(make(keras.layers), **kw)
    pl = L.RNN(make(L), **kw)
    kl(x)
    pl(x)
    pl.set_weights([np.asarray(w) for w in kl.get_weights()])
    for call_kw in ({}, {"initial_state": init}):
        k_init = call_kw.get("initial_state")
        k_out = kl(keras.ops.convert_to_tensor(x), mask=keras.ops.convert_to_tensor(mask),
                   **({} if k_init is None else {"initial_state": _to_keras(keras, k_init)}))
        p_out = pl(x, mask=mask, **call_kw)
        _assert_nested_close(list(p_out), _keras_states(keras, list(k_out)))


def _to_keras(keras, value):
    if isinstance(value, list):
        return [_to_keras(keras, v) for v in value]
    return keras.ops.convert_to_tensor(value)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_initial_state_inputs_train_like_keras(rng):
    keras = _keras()

    def build(mod, inp):
        x_in, h_in, c_in = inp((5, 3)), inp((4,)), inp((4,))
        out, h, c = mod.layers.RNN(mod.layers.LSTMCell(4), return_state=True)(x_in, initial_state=[h_in, c_in])
        y = mod.layers.Dense(1)(mod.layers.Concatenate()([out, c]))
        return mod.Model([x_in, h_in, c_in], y)

    km = build(keras, keras.Input)
    pm = build(pynncore, pynncore.Input)
    pm.set_weights([np.asarray(w) for w in km.get_weights()])
    km.compile(keras.optimizers.SGD(0.1), "mse")
    pm.compile(pynncore.optimizers.SGD(0.1), "mse")
    xs = [rng.standard_normal((6, 5, 3)).astype(np.float32), rng.standard_normal((6, 4)).astype(np.float32),
          rng.standard_normal((6, 4)).astype(np.float32)]
    y = rng.standard_normal((6, 1)).astype(np.float32)
    _assert_train_like_keras(km, pm, xs, y)


def test_stacked_states_as_graph_tensors(rng):
    inp = pynncore.Input((5, 2))
    rnn = L.RNN([L.LSTMCell(4), L.GRUCell(3)], return_state=True)
    out, lstm_states, gru_states = rnn(inp)
    assert len(lstm_states) == 2 and len(gru_states) == 1
    model = pynncore.Model(inp, [out, lstm_states[1], gru_states[0]])
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    eager = rnn(x)
    for a, b in zip(model.predict(x, verbose=0), [eager[0], eager[1][1], eager[2][0]]):
        np.testing.assert_array_equal(a, b)
    assert [s.shape for s in L.LSTMCell(4).get_initial_state(3)] == [(3, 4), (3, 4)]
    assert [s.shape for s in L.GRUCell(2).get_initial_state(3)] == [(3, 2)]


def test_stacked_cells_equal_the_stack_of_fused_layers(rng):
    rnn = L.RNN(L.StackedRNNCells([L.LSTMCell(5), L.SimpleRNNCell(3)]), go_backwards=True)
    x = rng.standard_normal((4, 6, 2)).astype(np.float32)
    rnn(x)
    _random_weights(rnn, rng)
    w = rnn.get_weights()
    first = L.LSTM(5, return_sequences=True, go_backwards=True)
    second = L.SimpleRNN(3)  # reads the already reversed sequence
    first(x)
    first.set_weights(w[:3])
    h = first(x)
    second(h)
    second.set_weights(w[3:])
    mask = _mask(4, 6)
    np.testing.assert_array_equal(rnn(x), second(h))
    np.testing.assert_array_equal(rnn(x, mask=mask),
                                  second(first(x, mask=mask), mask=np.ascontiguousarray(mask[:, ::-1])))
    assert [v.shape for v in rnn.weights] == [(2, 20), (5, 20), (20,), (5, 3), (3, 3), (3,)]
    assert rnn.state_size == [[5, 5], 3] and rnn.cell.output_size == 3


# --- config, save/load, freezing --------------------------------------------------------------------


def test_get_config_round_trip_keeps_every_argument():
    cell = L.LSTMCell(3, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False,
                      kernel_initializer="he_normal", unit_forget_bias=False, kernel_regularizer="l2",
                      dropout=0.1, recurrent_dropout=0.2, seed=4)
    rnn = L.RNN(cell, return_sequences=True, return_state=True, go_backwards=True, stateful=False,
                unroll=True, zero_output_for_mask=True)
    config = rnn.get_config()
    again = L.RNN.from_config(config)
    assert again.get_config() == config
    assert type(again.cell) is L.LSTMCell and again.cell.units == 3 and again.cell.dropout == 0.1
    stacked = L.RNN([L.GRUCell(2, reset_after=False), L.SimpleRNNCell(4)])
    config = stacked.get_config()
    assert config["cell"]["class_name"] == "StackedRNNCells"
    again = L.RNN.from_config(config)
    assert again.get_config() == config
    assert [type(c).__name__ for c in again.cell.cells] == ["GRUCell", "SimpleRNNCell"]


@pytest.mark.parametrize("make", [lambda: L.RNN(L.GRUCell(4), return_sequences=True, go_backwards=True),
                                  lambda: L.RNN([L.LSTMCell(4), L.SimpleRNNCell(3)])], ids=["gru", "stacked"])
def test_model_save_load_round_trip(make, tmp_path, rng):
    model = pynncore.Sequential([pynncore.Input((6, 3)), make(), L.Flatten(), L.Dense(1)])
    model.compile("adam", "mse")
    x = rng.standard_normal((5, 6, 3)).astype(np.float32)
    model.train_on_batch(x, np.zeros((5, 1), np.float32))
    path = str(tmp_path / "m.pnc")
    model.save(path)
    loaded = pynncore.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_frozen_rnn_keeps_its_weights(rng):
    rnn = L.RNN(L.LSTMCell(3))
    model = pynncore.Sequential([pynncore.Input((5, 2)), rnn, L.Dense(1)])
    rnn.trainable = False
    model.compile("sgd", "mse")
    before = rnn.get_weights()
    model.train_on_batch(rng.standard_normal((4, 5, 2)).astype(np.float32), np.ones((4, 1), np.float32))
    for a, b in zip(before, rnn.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert rnn.trainable_weights == [] and len(rnn.non_trainable_weights) == 3
    assert not rnn.cell.trainable


def test_frozen_cell_in_a_stack_keeps_its_weights(rng):
    frozen = L.GRUCell(2, trainable=False)
    rnn = L.RNN([L.LSTMCell(3), frozen])
    model = pynncore.Sequential([pynncore.Input((5, 2)), rnn, L.Dense(1)])
    model.compile("sgd", "mse")
    before = rnn.get_weights()
    model.train_on_batch(rng.standard_normal((4, 5, 2)).astype(np.float32), np.ones((4, 1), np.float32))
    after = rnn.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(before[:3], after[:3]))
    for a, b in zip(before[3:], after[3:]):
        np.testing.assert_array_equal(a, b)
    assert len(rnn.trainable_weights) == 3 and len(rnn.non_trainable_weights) == 3


# --- bad input ----------------------------------------------------------------------------------------


class _PythonCell(L.Layer):
    state_size = 4

    def call(self, inputs, states):
        return inputs, states


class _SubclassedCell(L.LSTMCell):
    def call(self, inputs, states):
        return inputs, states


def test_bad_cells_raise():
    for bad in (3, "lstm", None, L.Dense(3), L.LSTM(3)):
        with pytest.raises(ValueError, match="expected an RNN cell"):
            L.RNN(bad)
    with pytest.raises(NotImplementedError, match="_PythonCell"):
        L.RNN(_PythonCell())
    with pytest.raises(NotImplementedError, match="_SubclassedCell"):
        L.RNN(_SubclassedCell(3))
    with pytest.raises(NotImplementedError, match="_PythonCell"):
        L.RNN([L.LSTMCell(3), _PythonCell()])
    for empty in ([], ()):
        with pytest.raises(ValueError, match="non-empty list"):
            L.StackedRNNCells(empty)
        with pytest.raises(ValueError, match="non-empty list"):
            L.RNN(empty)
    with pytest.raises(ValueError, match="non-empty list"):
        L.StackedRNNCells(L.LSTMCell(3))
    with pytest.raises(ValueError, match="expected an RNN cell"):
        L.StackedRNNCells([L.LSTMCell(3), L.Dense(2)])


@pytest.mark.parametrize("name", CELL_NAMES)
def test_bad_cell_arguments_raise(name):
    cls = getattr(L, name)
    with pytest.raises(ValueError, match="units"):
        cls(0)
    with pytest.raises(ValueError, match="dropout"):
        cls(3, dropout=1.0)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        cls(3, recurrent_dropout=-0.1)
    with pytest.raises(ValueError, match="activation"):
        cls(3, activation="softmax")
    with pytest.raises(TypeError, match="unexpected keyword"):
        cls(3, return_sequences=True)
    with pytest.raises(NotImplementedError, match="RNN"):
        cls(3)(pynncore.Input((2,)), [pynncore.Input((3,))])
    with pytest.raises(ValueError, match="step input"):
        cls(3)(np.zeros((2, 4, 2), np.float32), np.zeros((2, 3), np.float32))


def test_bad_rnn_input_raises(rng):
    rnn = L.RNN(L.LSTMCell(4), return_state=True)
    with pytest.raises(ValueError, match=r"\(batch, timesteps, features\)"):
        rnn(np.zeros((2, 3), np.float32))
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    rnn(x)
    with pytest.raises(ValueError, match="expected 2 initial state"):
        rnn(x, initial_state=[np.zeros((2, 4), np.float32)])
    with pytest.raises(ValueError, match=r"initial states of shape \(2, 4\)"):
        rnn(x, initial_state=[np.zeros((2, 3), np.float32)] * 2)
    with pytest.raises(ValueError, match="mask of shape"):
        rnn(x, mask=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="numeric"):
        rnn(np.array([["a"]]))
    with pytest.raises(ValueError, match="features"):
        rnn(np.zeros((2, 5, 4), np.float32))
    stacked = L.RNN([L.GRUCell(3), L.LSTMCell(2)])
    with pytest.raises(ValueError, match=r"expected 3 initial state\(s\) with units \[3, 2, 2\]"):
        stacked(x, initial_state=[np.zeros((2, 3), np.float32)])
    with pytest.raises(ValueError, match="symbolic"):
        L.RNN(L.GRUCell(3))(pynncore.Input((5, 3)), initial_state=[pynncore.Input((4,))])


def test_bidirectional_rnn_equals_bidirectional_fused_layer(rng):
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    mask = _mask(3, 5)
    wrapped = L.Bidirectional(L.RNN(L.GRUCell(4), return_sequences=True))
    fused = L.Bidirectional(L.GRU(4, return_sequences=True))
    wrapped(x)
    fused(x)
    _random_weights(wrapped, rng)
    fused.set_weights(wrapped.get_weights())
    np.testing.assert_array_equal(wrapped(x, mask=mask), fused(x, mask=mask))
