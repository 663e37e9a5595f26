"""Sequence classification with Embedding(mask_zero=True) and a bidirectional GRU.

Synthetic "reviews": variable-length token sequences (5 to 40 tokens from a vocabulary of 60;
id 0 is padding), right-padded with 0 to a common length. Tokens 1-10 are "positive" and 11-20
"negative" words, the rest neutral; a negation token (21) flips the word right after it. The
label is 1 when the flipped count of positive words exceeds that of negative words. Order
matters (negation), and so does masking: padding must not count as input. The model reads each
sequence in both directions and sees only the real tokens thanks to the mask.

Run:  python examples/sequence_bigru.py
"""

from __future__ import annotations

import time

import numpy as np

import pynncore
from pynncore.layers import GRU, Bidirectional, Dense, Embedding
from pynncore.models import Sequential

VOCAB, MAX_LEN, NEGATION = 60, 40, 21


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((n, MAX_LEN), np.int64)
    y = np.zeros(n, np.float32)
    for i in range(n):
        score = 0
        while score == 0:  # redraw ties
            length = rng.integers(5, MAX_LEN + 1)
            seq = rng.integers(1, VOCAB, length)
            sign = np.where(np.r_[False, seq[:-1] == NEGATION], -1, 1)
            score = int((sign * ((seq <= 10).astype(int) - ((seq >= 11) & (seq <= 20)))).sum())
        x[i, :length] = seq
        y[i] = float(score > 0)
    return x, y


def main() -> None:
    pynncore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = make_data(2500, rng)
    x_test, y_test = make_data(1000, rng)

    model = Sequential(
        [
            Embedding(VOCAB, 16, mask_zero=True, input_length=MAX_LEN),
            Bidirectional(GRU(16)),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=pynncore.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    model.summary()

    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=5, batch_size=64, validation_split=0.1, verbose=2)
    seconds = time.perf_counter() - t0
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained in {seconds:.2f} s")
    print(f"test loss {loss:.4f}, test accuracy {acc:.4f} (majority class: {max(y_test.mean(), 1 - y_test.mean()):.4f})")


if __name__ == "__main__":
    main()
