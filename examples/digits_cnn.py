"""A convolutional classifier on scikit-learn's bundled handwritten digits (8x8x1 images).

Keras code with only the import changed: three Conv2D layers (the last with stride 2 instead of
a pooling layer), Flatten, Dropout and two Dense layers, compiled with Adam and sparse
categorical cross-entropy, trained for 40 epochs, evaluated on a held-out test set (about 98.5 %
accuracy), then saved and loaded back.

Run:  pip install scikit-learn && python examples/digits_cnn.py
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import pynncore
from pynncore.layers import Conv2D, Dense, Dropout, Flatten
from pynncore.models import Sequential


def main() -> None:
    pynncore.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]  # (1797, 8, 8, 1) in [0, 1]
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)

    model = Sequential(
        [
            Conv2D(32, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
            Conv2D(32, 3, padding="same", activation="relu"),
            Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            Flatten(),
            Dropout(0.4),
            Dense(128, activation="relu"),
            Dropout(0.4),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()

    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=40, batch_size=32, verbose=2)
    seconds = time.perf_counter() - t0
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained {len(history.history['loss'])} epochs in {seconds:.2f} s")
    print(f"test loss {loss:.4f}, test accuracy {acc:.4f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits_cnn.pnc")
        model.save(path)
        restored = pynncore.load_model(path)
        same = np.array_equal(restored.predict(x_test, verbose=0), model.predict(x_test, verbose=0))
        print(f"saved and reloaded: identical predictions = {same}")
    if acc < 0.98:
        raise SystemExit(f"test accuracy {acc:.4f} is below 0.98")


if __name__ == "__main__":
    main()
