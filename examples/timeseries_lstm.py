"""One-step-ahead forecasting of a noisy seasonal series with an LSTM.

The series is generated here (no download): two seasonal cycles (periods 24 and 168, as hourly
data with daily and weekly patterns), a slow trend, and noise. Windows of the last 24 values
predict the next one. The split is chronological (the test set is the last 20%), values are
standardised with training statistics only, and the model is scored against the naive
forecast "the next value equals the last one".

Run:  python examples/timeseries_lstm.py
"""

from __future__ import annotations

import time

import numpy as np

import pynncore
from pynncore.layers import LSTM, Dense
from pynncore.models import Sequential

WINDOW = 24


def make_series(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    daily = np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(4 * np.pi * t / 24 + 1.0)
    weekly = 0.8 * np.sin(2 * np.pi * t / 168)
    trend = 0.0005 * t
    return daily + weekly + trend + 0.3 * rng.standard_normal(n)


def windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(window)[None, :] + np.arange(len(series) - window)[:, None]
    x = series[idx][..., None].astype(np.float32)  # (samples, window, 1)
    y = series[window:][:, None].astype(np.float32)  # (samples, 1): the value after each window
    return x, y


def main() -> None:
    pynncore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    series = make_series(2000, rng)
    split = int(0.8 * len(series))
    mean, std = series[:split].mean(), series[:split].std()
    scaled = (series - mean) / std
    x_train, y_train = windows(scaled[:split], WINDOW)
    x_test, y_test = windows(scaled[split - WINDOW :], WINDOW)

    model = Sequential([LSTM(16, input_shape=(WINDOW, 1)), Dense(1)])
    model.compile(optimizer=pynncore.optimizers.Adam(0.01), loss="mse")
    model.summary()

    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=10, batch_size=32, validation_split=0.1, verbose=2)
    seconds = time.perf_counter() - t0

    pred = model.predict(x_test, verbose=0)
    to_units = lambda v: v * std + mean  # noqa: E731
    mse = float(np.mean((to_units(pred) - to_units(y_test)) ** 2))
    naive = float(np.mean((to_units(x_test[:, -1]) - to_units(y_test)) ** 2))
    print(f"trained in {seconds:.2f} s")
    print(f"test MSE: LSTM {mse:.4f}, naive last-value forecast {naive:.4f} "
          f"(noise variance 0.09 is the floor); LSTM / naive = {mse / naive:.2f}")


if __name__ == "__main__":
    main()
