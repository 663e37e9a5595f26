"""A small DCGAN on scikit-learn's 8x8 digits, with the frozen-discriminator recipe.

Generator: Dense -> Reshape (4, 4, 32) -> Conv2DTranspose (stride 2) -> Conv2D (sigmoid) gives
8x8 images. Discriminator: two strided convolutions and a sigmoid unit. The discriminator is
compiled on its own, then frozen inside the combined generator -> discriminator model, so the
combined model's steps train the generator only.

Progress is judged by a separately trained digits classifier: the share of generated images it
recognises with confidence (> 0.9), and how many of the 10 classes those images cover.

Run:  pip install . scikit-learn && python examples/dcgan_digits.py
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits

import pynncore
from pynncore import optimizers
from pynncore.layers import Conv2D, Conv2DTranspose, Dense, Flatten, Input, Reshape
from pynncore.models import Model, Sequential

LATENT = 16


def judge(classifier: Sequential, images: np.ndarray) -> tuple:
    probs = classifier.predict(images.reshape(len(images), 64), verbose=0)
    confident = probs.max(axis=1) > 0.9
    classes = len(np.unique(probs.argmax(axis=1)[confident]))
    return float(confident.mean()), classes


def main() -> None:
    pynncore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    digits = load_digits()
    real = (digits.images / 16.0).astype(np.float32)[..., None]  # (1797, 8, 8, 1) in [0, 1]

    classifier = Sequential([Dense(64, activation="relu", input_shape=(64,)), Dense(10, activation="softmax")])
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    classifier.fit(real.reshape(-1, 64), digits.target, epochs=40, batch_size=64, verbose=0)

    generator = Sequential(
        [
            Dense(4 * 4 * 32, activation="relu", input_shape=(LATENT,)),
            Reshape((4, 4, 32)),
            Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
            Conv2D(1, 3, padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    discriminator = Sequential(
        [
            Conv2D(32, 3, strides=2, padding="same", activation="leaky_relu", input_shape=(8, 8, 1)),
            Conv2D(64, 3, strides=2, padding="same", activation="leaky_relu"),
            Flatten(),
            Dense(1, activation="sigmoid"),
        ],
        name="discriminator",
    )
    discriminator.compile(optimizer=optimizers.Adam(2e-4, beta_1=0.5), loss="binary_crossentropy")
    discriminator.trainable = False  # read when `gan` is compiled
    z = Input(shape=(LATENT,))
    gan = Model(z, discriminator(generator(z)), name="dcgan")
    gan.compile(optimizer=optimizers.Adam(1e-3, beta_1=0.5), loss="binary_crossentropy")

    batch, steps, report = 64, 600, 150
    ones, zeros = np.full((batch, 1), 0.9, np.float32), np.zeros((batch, 1), np.float32)  # one-sided label smoothing
    probe = rng.standard_normal((500, LATENT)).astype(np.float32)
    first = judge(classifier, generator.predict(probe, verbose=0))
    print(f"step     0  confident {first[0]:.2f}  classes {first[1]}")
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        noise = rng.standard_normal((batch, LATENT)).astype(np.float32)
        fake = generator.predict(noise, verbose=0)
        d_loss = 0.5 * (
            discriminator.train_on_batch(real[rng.integers(0, len(real), batch)], ones)
            + discriminator.train_on_batch(fake, zeros)
        )
        g_loss = gan.train_on_batch(rng.standard_normal((batch, LATENT)).astype(np.float32), np.ones((batch, 1), np.float32))
        if step % report == 0:
            share, classes = judge(classifier, generator.predict(probe, verbose=0))
            print(f"step {step:5d}  d_loss {d_loss:.3f}  g_loss {g_loss:.3f}  confident {share:.2f}  classes {classes}")
    share, classes = judge(classifier, generator.predict(probe, verbose=0))
    print(f"{steps} steps in {time.perf_counter() - t0:.1f} s; confidently recognised {first[0]:.2f} -> {share:.2f}, "
          f"classes covered {classes}")


if __name__ == "__main__":
    main()
