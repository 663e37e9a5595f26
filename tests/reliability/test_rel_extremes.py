"""Numerical extremes: huge and identical logits, probabilities of exactly 0 and 1, huge
learning rates. Where the exact result is finite in float32, the library returns a finite
one; where training diverges, TerminateOnNaN stops it and names the batch."""

from __future__ import annotations

import numpy as np
import pytest

import pynncore
from pynncore import callbacks, layers, losses, ops

BIG = [1e4, 1e6, 1e30]  # beyond ~1.7e38 the exact loss itself (max - z) overflows float32

CROSSENTROPY = [
    ("binary", lambda: losses.BinaryCrossentropy(from_logits=True)),
    ("binary_smoothed", lambda: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)),
    ("categorical", lambda: losses.CategoricalCrossentropy(from_logits=True)),
    ("categorical_smoothed", lambda: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)),
    ("sparse", lambda: losses.SparseCategoricalCrossentropy(from_logits=True)),
]


def _targets(kind: str, n: int, c: int) -> np.ndarray:
    labels = np.arange(n) % c
    if kind == "sparse":
        return labels
    return np.eye(c, dtype=np.float32)[labels]


def _ref_logits_loss(kind: str, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per-sample loss in float64 with log-sum-exp done stably."""
    z = z.astype(np.float64)
    if kind.startswith("binary"):
        t = y.astype(np.float64)
        if kind.endswith("smoothed"):
            t = t * 0.9 + 0.05
        return np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))), axis=-1)
    t = y if kind != "sparse" else np.eye(z.shape[1])[y]
    t = t.astype(np.float64)
    if kind.endswith("smoothed"):
        t = t * 0.8 + 0.2 / z.shape[1]
    m = z.max(axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
    return np.sum(t * (lse - z), axis=1)


@pytest.mark.parametrize("kind,make", CROSSENTROPY, ids=[c[0] for c in CROSSENTROPY])
@pytest.mark.parametrize("big", BIG)
def test_crossentropy_from_logits_extremes(kind, make, big, cpu_path):
    z = np.array([[big, -big, 0.0], [big, big, big], [-big, -big, -big], [0, 0, 0], [-big, big, -big], [big, 0, -big]], np.float32)
    y = _targets(kind, z.shape[0], 3)
    loss = make()
    value, grad = loss.value_and_grad(y, z)
    assert np.isfinite(value) and np.isfinite(grad).all()
    np.testing.assert_allclose(float(value), _ref_logits_loss(kind, y, z).mean(), rtol=1e-5)
    per_sample = ops.loss(
        "sparse_categorical_crossentropy" if kind == "sparse" else ("binary_crossentropy" if kind.startswith("binary") else "categorical_crossentropy"),
        y,
        z,
        from_logits=True,
        label_smoothing=0.0 if kind == "sparse" else loss.get_config().get("label_smoothing", 0.0),
    )
    assert np.isfinite(per_sample).all()


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_probabilities_exactly_zero_and_one(name, cpu_path):
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]], np.float32)
    y = np.array([0, 2, 2, 1]) if name.startswith("sparse") else np.eye(3, dtype=np.float32)[[0, 2, 2, 1]]
    if name == "binary_crossentropy":
        y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 1]], np.float32)
    per, grad = ops.loss_and_grad(name, y, p)
    assert np.isfinite(per).all() and np.isfinite(grad).all()
    # clipped to [1e-7, 1 - 1e-7] as in Keras
    q = np.clip(p.astype(np.float64), 1e-7, float(np.float32(1 - 1e-7)))
    if name == "binary_crossentropy":
        ref = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q), axis=1)
    else:
        t = np.eye(3)[y] if name.startswith("sparse") else y
        ref = -np.sum(t * np.log(q / q.sum(axis=1, keepdims=True).clip(1e-7)), axis=1)
    np.testing.assert_allclose(per, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error", "huber"])
def test_regression_losses_large_but_finite(name):
    y = np.zeros((3, 2), np.float32)
    p = np.array([[1e18, -1e18], [1e4, -1e4], [0, 0]], np.float32)
    per, grad = ops.loss_and_grad(name, y, p)
    assert np.isfinite(per).all() and np.isfinite(grad).all()


ACTIVATIONS = ["relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "leaky_relu", "elu", "selu", "softplus", "softsign", "gelu", "silu", "mish", "softmax", "log_softmax"]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_finite_at_extremes(name, cpu_path):
    x = np.array([[-1e30, -1e4, -100, -88.8, -20, -1e-30, 0, 1e-30, 20, 88.8, 100, 1e4, 1e30]], np.float32)
    if name in ("softmax", "log_softmax"):
        x = x / 1e20  # the row's spread must fit float32 for log_softmax to be finite
        y = getattr(ops, name)(x)
    else:
        y = ops.activation(name, x)
    assert np.isfinite(y).all(), (name, y)
    dy = np.ones_like(x)
    if ops.activation_grad_needs_x(name):
        g = ops.activation_grad(name, x=x, dy=dy)
    else:
        g = ops.activation_grad(name, y=y, dy=dy)
    assert np.isfinite(g).all(), (name, g)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_identical_logits(name, cpu_path):
    for v in (-1e30, -1e4, 0.0, 1e4, 3e38):
        x = np.full((2, 7), v, np.float32)
        y = getattr(ops, name)(x)
        expected = np.full((2, 7), 1 / 7 if name == "softmax" else -np.log(7), np.float32)
        np.testing.assert_allclose(y, expected, rtol=1e-6)


def test_huge_learning_rate_stops_with_batch_number(capsys):
    pynncore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype(np.float32) * 100
    y = rng.standard_normal((64, 1)).astype(np.float32) * 100
    model = pynncore.Sequential([layers.Dense(16, activation="relu", input_dim=8), layers.Dense(1)])
    model.compile(optimizer=pynncore.optimizers.SGD(learning_rate=1e12), loss="mse")
    guard = callbacks.TerminateOnNaN()
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[guard])
    assert guard.stopped_at is not None
    epoch, batch = guard.stopped_at
    assert f"Batch {batch}: Invalid loss, terminating training (epoch {epoch}" in capsys.readouterr().out
    assert len(history.history["loss"]) == epoch + 1
    with pytest.raises(RuntimeError, match=r"NaN or Inf loss encountered at batch \d+ \(epoch \d+\)"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[callbacks.TerminateOnNaN(raise_error=True)])
