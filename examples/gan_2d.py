"""A GAN that learns a 2-D distribution: eight Gaussians on a ring.

The classic Keras recipe: the discriminator is compiled on its own; then its ``trainable`` flag
is set to False and the combined generator -> discriminator model is compiled, so a step of the
combined model trains only the generator (the flags are read at compile time), while the
discriminator's own ``train_on_batch`` still trains it. Every few hundred steps the script
prints the sliced Wasserstein distance between real and generated samples, which falls as the
generator learns, and the share of generated points near one of the eight modes. With
matplotlib installed it saves the loss curves to ``gan_2d_losses.png``.

Run:  python examples/gan_2d.py
"""

from __future__ import annotations

import time

import numpy as np

import pynncore
from pynncore import callbacks, optimizers
from pynncore.layers import Dense, Input
from pynncore.models import Model, Sequential

LATENT = 8
MODES = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)]) * 2.0


def real_samples(rng: np.random.Generator, n: int) -> np.ndarray:
    return (MODES[rng.integers(0, 8, n)] + rng.normal(0.0, 0.05, (n, 2))).astype(np.float32)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, projections: int = 64) -> float:
    """Mean 1-D Wasserstein-1 distance over random directions (equal sample counts)."""
    angles = rng.uniform(0, np.pi, projections)
    dirs = np.stack([np.cos(angles), np.sin(angles)])
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    return float(np.abs(pa - pb).mean())


def main() -> None:
    pynncore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)

    generator = Sequential(
        [Dense(64, activation="relu", input_shape=(LATENT,)), Dense(64, activation="relu"), Dense(2)], name="generator"
    )
    discriminator = Sequential(
        [
            Dense(64, activation="leaky_relu", input_shape=(2,)),
            Dense(64, activation="leaky_relu"),
            Dense(1, activation="sigmoid"),
        ],
        name="discriminator",
    )
    discriminator.compile(optimizer=optimizers.Adam(1e-3, beta_1=0.5), loss="binary_crossentropy")

    discriminator.trainable = False  # read when `gan` is compiled; the discriminator's own compile is unaffected
    z = Input(shape=(LATENT,))
    gan = Model(z, discriminator(generator(z)), name="gan")
    gan.compile(optimizer=optimizers.Adam(1e-3, beta_1=0.5), loss="binary_crossentropy")

    batch, steps, report = 128, 3000, 500
    ones, zeros = np.ones((batch, 1), np.float32), np.zeros((batch, 1), np.float32)
    eval_real = real_samples(rng, 2000)
    eval_noise = rng.standard_normal((2000, LATENT)).astype(np.float32)
    history = callbacks.History()
    d_losses, g_losses = [], []

    def report_distance(step: int) -> float:
        fake = generator.predict(eval_noise, verbose=0)
        swd = sliced_wasserstein(eval_real, fake, np.random.default_rng(1))
        near = np.min(np.linalg.norm(fake[:, None, :] - MODES[None], axis=2), axis=1) < 0.25
        print(f"step {step:5d}  sliced Wasserstein distance {swd:.4f}  near a mode {near.mean():.2f}")
        return swd

    t0 = time.perf_counter()
    first = report_distance(0)
    for step in range(1, steps + 1):
        noise = rng.standard_normal((batch, LATENT)).astype(np.float32)
        fake = generator.predict(noise, verbose=0)
        d_loss = 0.5 * (
            discriminator.train_on_batch(real_samples(rng, batch), ones) + discriminator.train_on_batch(fake, zeros)
        )
        g_loss = gan.train_on_batch(rng.standard_normal((batch, LATENT)).astype(np.float32), ones)
        d_losses.append(d_loss)
        g_losses.append(g_loss)
        if step % report == 0:
            history.on_epoch_end(
                step // report - 1, {"d_loss": float(np.mean(d_losses)), "g_loss": float(np.mean(g_losses))}
            )
            d_losses, g_losses = [], []
            last = report_distance(step)
    print(f"{steps} steps in {time.perf_counter() - t0:.1f} s; distance {first:.4f} -> {last:.4f}")

    try:
        history.plot("gan_2d_losses.png")
        print("saved the loss curves to gan_2d_losses.png")
    except ImportError:
        print("matplotlib is not installed: no loss plot")


if __name__ == "__main__":
    main()
