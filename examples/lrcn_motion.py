"""LRCN on short synthetic videos: a convolutional network per frame feeding an LSTM.

Each video is 8 frames of 16x16 pixels showing a bright 3x3 square that moves one pixel per
frame in one of four directions (left, right, up, down), from a random start, over faint noise.
A single frame cannot tell the direction; the LSTM has to compare frames. The model is
Keras's LRCN recipe: TimeDistributed(Conv2D) -> TimeDistributed(MaxPooling2D) ->
TimeDistributed(Flatten) -> LSTM -> Dense(softmax).

Run:  pip install . && python examples/lrcn_motion.py
"""

from __future__ import annotations

import time

import numpy as np

import pynncore
from pynncore.layers import LSTM, Conv2D, Dense, Flatten, MaxPooling2D, TimeDistributed
from pynncore.models import Sequential

FRAMES, SIZE = 8, 16
DIRECTIONS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}


def make_videos(n: int, rng: np.random.Generator):
    """(n, FRAMES, SIZE, SIZE, 1) float32 videos and their direction labels 0..3."""
    x = rng.uniform(0.0, 0.2, size=(n, FRAMES, SIZE, SIZE, 1)).astype(np.float32)
    y = rng.integers(0, 4, size=n)
    moves = np.array(list(DIRECTIONS.values()))
    for i in range(n):
        dr, dc = moves[y[i]]
        # A start from which the square stays inside the frame for all FRAMES steps.
        lo_r, hi_r = (FRAMES, SIZE - 3) if dr < 0 else (0, SIZE - 3 - FRAMES * max(dr, 0))
        lo_c, hi_c = (FRAMES, SIZE - 3) if dc < 0 else (0, SIZE - 3 - FRAMES * max(dc, 0))
        r, c = rng.integers(lo_r, hi_r + 1), rng.integers(lo_c, hi_c + 1)
        for t in range(FRAMES):
            x[i, t, r + dr * t : r + dr * t + 3, c + dc * t : c + dc * t + 3, 0] = 1.0
    return x, y


def main() -> None:
    pynncore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = make_videos(1200, rng)
    x_test, y_test = make_videos(300, rng)
    model = Sequential(
        [
            TimeDistributed(Conv2D(8, 3, activation="relu"), input_shape=(FRAMES, SIZE, SIZE, 1)),
            TimeDistributed(MaxPooling2D(2)),
            TimeDistributed(Flatten()),
            LSTM(32),
            Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=8, batch_size=32, validation_split=0.1, verbose=2)
    seconds = time.perf_counter() - t0
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained in {seconds:.1f} s; test loss {loss:.4f}, test accuracy {acc:.4f} (chance 0.25)")
    if acc < 0.9:
        raise SystemExit("the LRCN did not learn the direction of motion (test accuracy < 90 %)")


if __name__ == "__main__":
    main()
