"""Anomaly detection with a denoising autoencoder.

The autoencoder learns to rebuild clean digits from noisy ones, trained only on the digits
0-8 of scikit-learn's bundled 8x8 set. Images of an unseen kind (the 9s) rebuild worse, so the
reconstruction error is an anomaly score: the script prints its ROC AUC on a test set of
normal digits and 9s, and the detection rate at a threshold that flags 5% of normal digits.

Run:  pip install scikit-learn && python examples/anomaly_autoencoder.py
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import pynncore
from pynncore.layers import Dense, Input
from pynncore.models import Model


def main() -> None:
    pynncore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    normal, anomalous = x[digits.target != 9], x[digits.target == 9]
    x_train, x_test_normal = train_test_split(normal, test_size=0.2, random_state=0)

    inp = Input(shape=(64,), name="pixels")
    h = Dense(48, activation="relu")(inp)
    code = Dense(12, activation="relu", name="code")(h)
    h = Dense(48, activation="relu")(code)
    out = Dense(64, activation="sigmoid", name="reconstruction")(h)
    autoencoder = Model(inp, out, name="denoising_autoencoder")
    autoencoder.compile(optimizer="adam", loss="mse")

    noisy = np.clip(x_train + rng.normal(0.0, 0.2, x_train.shape), 0.0, 1.0).astype(np.float32)
    t0 = time.perf_counter()
    history = autoencoder.fit(noisy, x_train, epochs=120, batch_size=64, validation_split=0.1, verbose=0)
    print(
        f"trained {len(history.history['loss'])} epochs in {time.perf_counter() - t0:.2f} s; "
        f"val MSE {history.history['val_loss'][-1]:.4f}"
    )

    def score(images: np.ndarray) -> np.ndarray:
        rebuilt = autoencoder.predict(images, verbose=0)
        return ((rebuilt - images) ** 2).mean(axis=1)

    s_normal, s_anomalous = score(x_test_normal), score(anomalous)
    labels = np.r_[np.zeros(len(s_normal)), np.ones(len(s_anomalous))]
    auc = roc_auc_score(labels, np.r_[s_normal, s_anomalous])
    threshold = np.quantile(score(x_train), 0.95)
    print(f"mean reconstruction error: normal {s_normal.mean():.4f}, anomalous {s_anomalous.mean():.4f}")
    print(f"ROC AUC {auc:.3f}")
    print(
        f"detection rate {np.mean(s_anomalous > threshold):.3f} at a false-alarm rate of "
        f"{np.mean(s_normal > threshold):.3f} on held-out normal digits"
    )


if __name__ == "__main__":
    main()
