"""Deterministic mode: convolution gradients (direct, im2col tiles, pixel-major tiles, Winograd
2-D and 1-D), recurrent gradients (LSTM, GRU, SimpleRNN) and a small CNN's training are bitwise
the same at 1 and 2 threads and across runs."""

from __future__ import annotations

import numpy as np
import pytest

import pynncore
from pynncore import layers, ops
from pynncore.models import Sequential


# (x shape, kernel (KH, KW, C/groups, F), strides, padding): the direct single-channel kernel,
# im2col tiles (by image with dx, by tile without), pixel-major tiles, grouped, Winograd 2-D / 1-D
CASES = [
    ((9, 28, 28, 1), (5, 5, 1, 6), 1, "same"),
    ((7, 15, 13, 8), (3, 3, 8, 24), 2, "valid"),
    ((6, 17, 19, 3), (3, 5, 3, 7), 1, "same"),
    ((5, 12, 12, 8), (3, 3, 4, 16), 1, "same"),
    ((11, 16, 16, 32), (3, 3, 32, 48), 1, "same"),
    ((13, 1, 70, 32), (1, 3, 32, 40), 1, "same"),
]


@pytest.mark.parametrize("case", CASES, ids=[str(c[0]) + str(c[1]) for c in CASES])
@pytest.mark.parametrize("need_dx", [True, False], ids=["dx", "no-dx"])
def test_gradients_do_not_depend_on_threads(case, need_dx, deterministic, restore_num_threads, rng):
    xs, ks, s, padding = case
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ks) * 0.2).astype(np.float32)
    dy = rng.standard_normal(ops.conv2d(x, w, strides=s, padding=padding).shape).astype(np.float32)
    results = []
    for threads in (1, 2, 2, 2, 1):
        pynncore.set_num_threads(threads)
        results.append(ops.conv2d_backward(x, w, dy, strides=s, padding=padding, need_dx=need_dx))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            if a is None:
                assert b is None
            else:
                np.testing.assert_array_equal(a, b)


def test_cnn_training_is_bitwise_reproducible(deterministic, restore_num_threads, rng):
    x = rng.standard_normal((48, 12, 12, 3)).astype(np.float32)
    y = rng.integers(0, 4, 48)
    weights = []
    for threads in (1, 2):
        pynncore.set_num_threads(threads)
        pynncore.utils.set_random_seed(5)
        model = Sequential([
            layers.Input((12, 12, 3)),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.Conv2D(24, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, strides=2, activation="relu"),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=True)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def _rnn_grads(cell, x, k, r, b, dy):
    if cell == "lstm":
        y, _, _, ctx = ops.lstm(x, k, r, b, return_sequences=True, training=True)
        return ops.lstm_backward(ctx, dy=dy)
    if cell == "gru":
        y, _, ctx = ops.gru(x, k, r, b, return_sequences=True, training=True)
        return ops.gru_backward(ctx, dy=dy)
    y, _, ctx = ops.simple_rnn(x, k, r, b, return_sequences=True, training=True)
    return ops.simple_rnn_backward(ctx, dy=dy)


@pytest.mark.parametrize("cell, gates", [("lstm", 4), ("gru", 3), ("simple", 1)])
def test_recurrent_gradients_do_not_depend_on_threads(cell, gates, deterministic, restore_num_threads, rng):
    n, t, i, u = 48, 30, 12, 40
    x = rng.standard_normal((n, t, i)).astype(np.float32)
    k = (rng.standard_normal((i, gates * u)) * 0.3).astype(np.float32)
    r = (rng.standard_normal((u, gates * u)) * 0.2).astype(np.float32)
    b = rng.standard_normal((2, 3 * u) if cell == "gru" else (gates * u,)).astype(np.float32)
    dy = rng.standard_normal((n, t, u)).astype(np.float32)
    results = []
    for threads in (1, 2, 2):
        pynncore.set_num_threads(threads)
        results.append([g for g in _rnn_grads(cell, x, k, r, b, dy) if g is not None])
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)
    pynncore.set_deterministic(False)  # the default mode's sums agree to rounding
    for a, c in zip(results[0], [g for g in _rnn_grads(cell, x, k, r, b, dy) if g is not None]):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-4 * float(np.abs(c).max()))
