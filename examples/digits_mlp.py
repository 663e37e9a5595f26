"""A dense classifier on scikit-learn's bundled handwritten digits (8x8 images, 10 classes).

Keras code with only the import changed: a Sequential MLP with dropout, compiled with Adam and
sparse categorical cross-entropy, trained with a validation split and early stopping, then
evaluated on a held-out test set, saved, and loaded back.

Run:  pip install scikit-learn && python examples/digits_mlp.py
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import pynncore
from pynncore import callbacks
from pynncore.layers import Dense, Dropout
from pynncore.models import Sequential


def main() -> None:
    pynncore.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # (1797, 64), pixels scaled to [0, 1]
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)

    model = Sequential(
        [
            Dense(128, activation="relu", input_shape=(64,)),
            Dropout(0.2),
            Dense(64, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()

    t0 = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        epochs=60,
        batch_size=32,
        validation_split=0.1,
        callbacks=[callbacks.EarlyStopping(monitor="val_loss", patience=8, restore_best_weights=True)],
        verbose=2,
    )
    seconds = time.perf_counter() - t0
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained {len(history.history['loss'])} epochs in {seconds:.2f} s")
    print(f"test loss {loss:.4f}, test accuracy {acc:.4f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits.pnc")
        model.save(path)
        restored = pynncore.load_model(path)
        same = np.array_equal(restored.predict(x_test, verbose=0), model.predict(x_test, verbose=0))
    print(f"saved and loaded: identical predictions = {same}")
    if acc < 0.97 or not same:
        raise SystemExit("the digits classifier did not reach 97 % test accuracy")


if __name__ == "__main__":
    main()
