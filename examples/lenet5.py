"""LeNet-5 on handwritten digits, written as Keras code with only the import changed.

The layer sequence of the classic MNIST LeNet-5: Conv2D 6@5x5 'same' + tanh -> max pooling ->
Conv2D 16@5x5 + tanh -> max pooling -> Dense 120 -> Dense 84 -> Dense 10 softmax, trained with
SGD and momentum. The data are scikit-learn's bundled 8x8 digits, enlarged to MNIST's 28x28
(each pixel becomes a 4x4 block of a 32x32 image, cropped by 2 on each side), so the example
runs offline.

Run:  pip install . scikit-learn && python examples/lenet5.py
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import pynncore
from pynncore.layers import Conv2D, Dense, Flatten, MaxPooling2D
from pynncore.models import Sequential


def load_28x28():
    """Digits as float32 (N, 28, 28, 1) images in [0, 1] and integer labels."""
    digits = load_digits()
    small = (digits.images / 16.0).astype(np.float32)  # (N, 8, 8)
    big = np.kron(small, np.ones((1, 4, 4), np.float32))[:, 2:30, 2:30]  # (N, 28, 28)
    return big[..., None], digits.target


def lenet5() -> Sequential:
    return Sequential(
        [
            Conv2D(6, 5, padding="same", activation="tanh", input_shape=(28, 28, 1)),
            MaxPooling2D(2),
            Conv2D(16, 5, activation="tanh"),
            MaxPooling2D(2),
            Flatten(),
            Dense(120, activation="tanh"),
            Dense(84, activation="tanh"),
            Dense(10, activation="softmax"),
        ]
    )


def main() -> None:
    pynncore.utils.set_random_seed(0)
    x, y = load_28x28()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    model = lenet5()
    model.compile(
        optimizer=pynncore.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.summary()
    t0 = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=20, batch_size=64, validation_split=0.1, verbose=2)
    seconds = time.perf_counter() - t0
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    images = len(history.history["loss"]) * int(len(x_train) * 0.9)
    print(f"trained in {seconds:.1f} s ({images / seconds:.0f} images/s)")
    print(f"test loss {loss:.4f}, test accuracy {acc:.4f}")
    if acc < 0.95:
        raise SystemExit("LeNet-5 did not reach 95 % test accuracy on the digits")


if __name__ == "__main__":
    main()
