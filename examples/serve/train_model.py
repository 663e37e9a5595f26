"""Trains the digits classifier served by ``app.py`` and saves it to ``digits.pnc``.

Run:  python examples/serve/train_model.py [--out PATH]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import pynncore
from pynncore.layers import Dense, Dropout
from pynncore.models import Sequential

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.pnc")


def train(path: str) -> float:
    """Trains a small MLP on the 8x8 digits, saves it to ``path``, returns test accuracy."""
    pynncore.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    model = Sequential(
        [
            Dense(128, activation="relu", input_shape=(64,)),
            Dropout(0.2),
            Dense(64, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    model.save(path)
    return float(acc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=DEFAULT_PATH, help="where to write the model file")
    args = parser.parse_args()
    acc = train(args.out)
    print(f"saved {args.out} (test accuracy {acc:.4f})")


if __name__ == "__main__":
    main()
