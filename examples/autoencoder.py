"""The classic dense autoencoder: 784 -> 32 -> 784, adadelta and binary cross-entropy.

The well-known Keras recipe, built with the functional API: an encoding layer of 32 ReLU units
and a sigmoid decoding layer, trained to reproduce its input; the encoder and the decoder are
then separate models sharing the autoencoder's layers. With no MNIST download available
offline, the images are scikit-learn's bundled 8x8 digits upscaled to 28x28 (784 pixels).
The original recipe ran Adadelta with the Keras 1 learning rate of 1.0 (Keras 3's default is
0.001), so that rate is given explicitly.

Run:  pip install scikit-learn && python examples/autoencoder.py
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import pynncore
from pynncore import optimizers
from pynncore.layers import Dense, Input
from pynncore.models import Model


def digits_784() -> np.ndarray:
    """The 8x8 digits scaled to [0, 1], upscaled 3x to 24x24 and padded to 28x28."""
    images = load_digits().images / 16.0  # (1797, 8, 8)
    big = np.kron(images, np.ones((3, 3)))  # (1797, 24, 24)
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))
    return big.reshape(len(big), 784).astype(np.float32)


def main() -> None:
    pynncore.utils.set_random_seed(0)
    x = digits_784()
    x_train, x_test = train_test_split(x, test_size=0.2, random_state=0)

    encoding_dim = 32
    input_img = Input(shape=(784,))
    encoded = Dense(encoding_dim, activation="relu")(input_img)
    decoded = Dense(784, activation="sigmoid")(encoded)
    autoencoder = Model(input_img, decoded)

    encoder = Model(input_img, encoded)
    encoded_input = Input(shape=(encoding_dim,))
    decoder = Model(encoded_input, autoencoder.layers[-1](encoded_input))

    autoencoder.compile(optimizer=optimizers.Adadelta(learning_rate=1.0), loss="binary_crossentropy")
    autoencoder.summary()
    t0 = time.perf_counter()
    history = autoencoder.fit(
        x_train, x_train, epochs=50, batch_size=64, shuffle=True, validation_data=(x_test, x_test), verbose=0
    )
    seconds = time.perf_counter() - t0
    print(f"trained 50 epochs in {seconds:.2f} s")
    print(f"binary cross-entropy: first epoch {history.history['loss'][0]:.4f}, last {history.history['loss'][-1]:.4f}")

    decoded_imgs = decoder.predict(encoder.predict(x_test, verbose=0), verbose=0)
    mse = float(np.mean((decoded_imgs - x_test) ** 2))
    baseline = float(np.mean((x_train.mean(axis=0) - x_test) ** 2))
    print(f"test reconstruction loss: binary cross-entropy {autoencoder.evaluate(x_test, x_test, verbose=0):.4f}")
    print(f"test reconstruction MSE {mse:.4f} (predicting the mean image: {baseline:.4f})")


if __name__ == "__main__":
    main()
