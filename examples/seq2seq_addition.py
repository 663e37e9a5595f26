"""Sequence to sequence: an LSTM encoder-decoder that learns to add two numbers.

The question "53+7" is read one character at a time (reversed, which shortens the path from
the digits to the answer) by an encoder LSTM; its final states (h, c) start a decoder LSTM
that writes the answer "60" one character at a time. Training uses
teacher forcing: the decoder reads the true answer shifted right by a start token. Answering a
new question runs the decoder step by step from the encoder's states, feeding back each
predicted character, with two smaller models built from the same layers: the encoder alone,
and the decoder taking and returning its states as tensors.

Run:  python examples/seq2seq_addition.py
"""

from __future__ import annotations

import time

import numpy as np

import pynncore
from pynncore import Input, Model
from pynncore.layers import LSTM, Dense

DIGITS = 2
CHARS = "0123456789+ "
START, END = len(CHARS), len(CHARS) + 1  # decoder-only tokens
IN_LEN = 2 * DIGITS + 1  # "53+7 " padded with spaces
OUT_LEN = DIGITS + 2  # up to 3 digits, then the end token
N_IN, N_OUT = len(CHARS), len(CHARS) + 2
UNITS = 128


def one_hot(ids: np.ndarray, depth: int) -> np.ndarray:
    return np.eye(depth, dtype=np.float32)[ids]


def make_data(n: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    a = rng.integers(0, 10**DIGITS, n)
    b = rng.integers(0, 10**DIGITS, n)
    return [f"{x}+{y}" for x, y in zip(a, b)], [str(x + y) for x, y in zip(a, b)]


def encode(questions: list[str], answers: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q = np.array([[CHARS.index(c) for c in s.ljust(IN_LEN)[::-1]] for s in questions])
    ans = np.array([[CHARS.index(c) for c in s] + [END] * (OUT_LEN - len(s)) for s in answers])
    dec_in = np.concatenate([np.full((len(ans), 1), START), ans[:, :-1]], axis=1)
    return one_hot(q, N_IN), one_hot(dec_in, N_OUT), one_hot(ans, N_OUT)


def main() -> None:
    pynncore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    train_q, train_a = make_data(20000, rng)
    test_q, test_a = make_data(500, rng)
    x_enc, x_dec, y = encode(train_q, train_a)

    # Training model: encoder states -> decoder initial_state.
    enc_in = Input((None, N_IN), name="question")
    encoder = LSTM(UNITS, return_state=True, name="encoder")
    _, h, c = encoder(enc_in)
    dec_in = Input((None, N_OUT), name="answer_so_far")
    decoder = LSTM(UNITS, return_sequences=True, return_state=True, name="decoder")
    dec_seq, _, _ = decoder(dec_in, initial_state=[h, c])
    head = Dense(N_OUT, activation="softmax", name="next_char")
    model = Model([enc_in, dec_in], head(dec_seq))
    model.compile(optimizer=pynncore.optimizers.Adam(3e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    model.summary()

    t0 = time.perf_counter()
    model.fit([x_enc, x_dec], y, batch_size=128, epochs=15, validation_split=0.05, verbose=2)
    seconds = time.perf_counter() - t0

    # Inference models share the trained layers.
    encoder_model = Model(enc_in, [h, c])
    state_in = [Input((UNITS,), name="h_in"), Input((UNITS,), name="c_in")]
    step_seq, step_h, step_c = decoder(dec_in, initial_state=state_in)
    decoder_model = Model([dec_in] + state_in, [head(step_seq), step_h, step_c])

    q_enc, _, _ = encode(test_q, test_a)
    states = encoder_model.predict(q_enc, verbose=0)
    token = one_hot(np.full((len(test_q), 1), START), N_OUT)
    decoded = np.zeros((len(test_q), OUT_LEN), np.int64)
    for t in range(OUT_LEN):
        probs, h_t, c_t = decoder_model.predict([token] + states, verbose=0)
        decoded[:, t] = probs[:, -1].argmax(axis=1)
        token = one_hot(decoded[:, t : t + 1], N_OUT)
        states = [h_t, c_t]
    answers = ["".join(CHARS[i] for i in row[: list(row).index(END)] if i < len(CHARS)) if END in row else "?"
               for row in decoded]
    exact = float(np.mean([p == a for p, a in zip(answers, test_a)]))
    for q, p, a in list(zip(test_q, answers, test_a))[:5]:
        print(f"  {q:>8} = {p:<5} ({'ok' if p == a else 'expected ' + a})")
    print(f"trained in {seconds:.1f} s; exact answers on 500 new questions: {exact:.1%}")
    if exact < 0.9:
        raise SystemExit(f"expected at least 90 % exact answers, got {exact:.1%}")


if __name__ == "__main__":
    main()
