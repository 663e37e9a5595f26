"""Recurrent layers inside functional models: ``return_state`` outputs as graph tensors and
``initial_state=`` taking symbolic tensors (the encoder-decoder pattern)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import Model, layers

CELLS = [layers.LSTM, layers.GRU, layers.SimpleRNN]
CELL_IDS = ["LSTM", "GRU", "SimpleRNN"]


def _n_states(cls) -> int:
    return 2 if cls is layers.LSTM else 1


def _seq2seq(L, inp, cls, units=5, enc_feat=3, dec_feat=4, out_dim=2):
    enc_in = inp(shape=(None, enc_feat), name="enc_in")
    dec_in = inp(shape=(None, dec_feat), name="dec_in")
    enc_out = cls(units, return_state=True, name="encoder")(enc_in)
    states = enc_out[1:]
    dec_seq = cls(units, return_sequences=True, return_state=True, name="decoder")(dec_in, initial_state=states)[0]
    out = L.Dense(out_dim, name="head")(dec_seq)
    return [enc_in, dec_in], out


@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
def test_states_flow_between_layers_like_eager_calls(cls, rng):
    inputs, out = _seq2seq(layers, pynncore.Input, cls)
    model = Model(inputs, out)
    xe = rng.standard_normal((4, 6, 3)).astype(np.float32)
    xd = rng.standard_normal((4, 7, 4)).astype(np.float32)
    got = model.predict([xe, xd], verbose=0)
    # The same computation by calling the layers eagerly on arrays.
    enc, dec, head = model.get_layer("encoder"), model.get_layer("decoder"), model.get_layer("head")
    states = enc(xe)[1:]
    want = head(dec(xd, initial_state=states)[0])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    # Without the encoder's states the decoder starts from zeros: different numbers.
    assert not np.allclose(got, head(dec(xd)[0]), atol=1e-4)


@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
def test_gradients_reach_the_encoder_through_the_states(cls, rng):
    # The encoder's output is unused, so its weights learn only through the decoder's initial
    # state. Finite differences of the loss against the encoder's kernel check that path.
    inputs, out = _seq2seq(layers, pynncore.Input, cls, units=3, enc_feat=2, dec_feat=2, out_dim=1)
    model = Model(inputs, out)
    model.compile(optimizer=pynncore.optimizers.SGD(0.0), loss="mse")
    xe = rng.standard_normal((3, 4, 2)).astype(np.float32)
    xd = rng.standard_normal((3, 5, 2)).astype(np.float32)
    y = rng.standard_normal((3, 5, 1)).astype(np.float32)
    enc = model.get_layer("encoder")
    model.train_on_batch([xe, xd], y)
    analytic = enc.kernel.grad.astype(np.float64).copy()
    assert np.abs(analytic).max() > 1e-4

    def loss_at(k):
        enc.kernel.value[...] = k
        pred = model.predict([xe, xd], verbose=0).astype(np.float64)
        return float(np.mean((pred - y) ** 2))

    k0 = enc.kernel.value.copy()
    numeric = np.zeros_like(analytic)
    eps = 1e-2
    for idx in np.ndindex(k0.shape):
        kp, km = k0.astype(np.float64), k0.astype(np.float64)
        kp[idx] += eps
        km[idx] -= eps
        numeric[idx] = (loss_at(kp.astype(np.float32)) - loss_at(km.astype(np.float32))) / (2 * eps)
    enc.kernel.value[...] = k0
    np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=2e-4)


@pytest.mark.parametrize("cls", CELLS, ids=CELL_IDS)
def test_state_inputs_and_state_outputs_for_step_by_step_decoding(cls, rng):
    # The inference half of an encoder-decoder: states come in as Inputs and go out as outputs.
    n = _n_states(cls)
    dec = cls(5, return_sequences=True, return_state=True, name="decoder")
    dec_in = pynncore.Input((None, 4))
    state_in = [pynncore.Input((5,)) for _ in range(n)]
    outs = dec(dec_in, initial_state=state_in)
    step_model = Model([dec_in] + state_in, outs)
    x = rng.standard_normal((2, 6, 4)).astype(np.float32)
    s0 = [rng.standard_normal((2, 5)).astype(np.float32) for _ in range(n)]
    whole = step_model.predict([x] + s0, verbose=0)
    assert isinstance(whole, list) and len(whole) == 1 + n
    # Feeding one step at a time with the returned states gives the same sequence.
    states, steps = s0, []
    for t in range(6):
        res = step_model.predict([x[:, t : t + 1]] + states, verbose=0)
        steps.append(res[0])
        states = res[1:]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), whole[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(states, whole[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_save_and_load_keep_the_state_connections(tmp_path, rng):
    inputs, out = _seq2seq(layers, pynncore.Input, layers.LSTM)
    model = Model(inputs, out)
    model.compile(optimizer="adam", loss="mse")
    xe = rng.standard_normal((3, 5, 3)).astype(np.float32)
    xd = rng.standard_normal((3, 4, 4)).astype(np.float32)
    model.fit([xe, xd], rng.standard_normal((3, 4, 2)).astype(np.float32), epochs=2, verbose=0)
    path = str(tmp_path / "s2s.safetensors")
    model.save(path)
    again = pynncore.load_model(path)
    np.testing.assert_array_equal(again.predict([xe, xd], verbose=0), model.predict([xe, xd], verbose=0))


def test_bad_symbolic_initial_state():
    x = pynncore.Input((None, 3))
    with pytest.raises(ValueError, match=r"LSTM 'lstm.*': initial_state must be 2 symbolic tensor"):
        layers.LSTM(4, name="lstm_bad1")(x, initial_state=[pynncore.Input((4,))])
    with pytest.raises(ValueError, match=r"initial_state must be 1 symbolic tensor"):
        layers.GRU(4)(x, initial_state=np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected initial states of shape \(batch, 4\)\. Received: shape=\(None, 5\)"):
        layers.SimpleRNN(4)(x, initial_state=pynncore.Input((5,)))
    with pytest.raises(ValueError, match="mask= is supported when the layer is called on arrays"):
        layers.GRU(4)(x, mask=pynncore.Input((None,)))


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("cls_name", ["LSTM", "GRU", "SimpleRNN"])
def test_encoder_decoder_training_matches_keras(cls_name, rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    k_in, k_out = _seq2seq(keras.layers, keras.Input, getattr(keras.layers, cls_name))
    km = keras.Model(k_in, k_out)
    p_in, p_out = _seq2seq(layers, pynncore.Input, getattr(layers, cls_name))
    pm = Model(p_in, p_out)
    for name in ("encoder", "decoder", "head"):
        pm.get_layer(name).set_weights([np.asarray(w) for w in km.get_layer(name).get_weights()])
    xe = rng.standard_normal((6, 5, 3)).astype(np.float32)
    xd = rng.standard_normal((6, 4, 4)).astype(np.float32)
    y = rng.standard_normal((6, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(pm.predict([xe, xd], verbose=0), np.asarray(km.predict([xe, xd], verbose=0)),
                               rtol=1e-5, atol=1e-5)
    km.compile(optimizer=keras.optimizers.SGD(0.2), loss="mse")
    pm.compile(optimizer=pynncore.optimizers.SGD(0.2), loss="mse")
    for _ in range(3):
        kl = km.train_on_batch([xe, xd], y)
        pl = pm.train_on_batch([xe, xd], y)
    assert pl == pytest.approx(float(kl), rel=1e-4)
    for name in ("encoder", "decoder", "head"):
        for w_p, w_k in zip(pm.get_layer(name).get_weights(), km.get_layer(name).get_weights()):
            np.testing.assert_allclose(w_p, np.asarray(w_k), rtol=1e-4, atol=1e-5)
