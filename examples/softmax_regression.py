"""Softmax regression on 8x8 glyph images, trained with pynncore's native GEMM.

Ten 8x8 glyphs (the digits 0-9 drawn on a small grid) are rendered with random horizontal
shifts, broken strokes and pixel noise; a multinomial logistic-regression model is trained by
mini-batch gradient descent where every matrix product (forward logits, weight gradient,
test logits) runs through ``pynncore.ops.matmul``. The run prints the training
curve, the held-out accuracy, and checks the final logits against a float64 numpy product.

Run:  python examples/softmax_regression.py
"""

from __future__ import annotations

import time

import numpy as np

import pynncore
from pynncore import ops

GLYPHS = [
    ["..###...", ".#...#..", ".#...#..", ".#...#..", ".#...#..", ".#...#..", "..###...", "........"],
    ["...#....", "..##....", "...#....", "...#....", "...#....", "...#....", "..###...", "........"],
    ["..###...", ".#...#..", ".....#..", "....#...", "...#....", "..#.....", ".#####..", "........"],
    ["..###...", ".#...#..", ".....#..", "...##...", ".....#..", ".#...#..", "..###...", "........"],
    ["....#...", "...##...", "..#.#...", ".#..#...", ".#####..", "....#...", "....#...", "........"],
    [".#####..", ".#......", ".####...", ".....#..", ".....#..", ".#...#..", "..###...", "........"],
    ["..###...", ".#......", ".#......", ".####...", ".#...#..", ".#...#..", "..###...", "........"],
    [".#####..", ".....#..", "....#...", "...#....", "..#.....", "..#.....", "..#.....", "........"],
    ["..###...", ".#...#..", ".#...#..", "..###...", ".#...#..", ".#...#..", "..###...", "........"],
    ["..###...", ".#...#..", ".#...#..", "..####..", ".....#..", "....#...", "..##....", "........"],
]


def make_dataset(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render n noisy, shifted glyphs; returns (n, 64) float32 pixels and (n,) labels."""
    base = np.array([[[c == "#" for c in row] for row in g] for g in GLYPHS], dtype=np.float32)
    y = rng.integers(0, 10, size=n)
    x = np.empty((n, 8, 8), np.float32)
    for cls in range(10):
        idx = np.flatnonzero(y == cls)
        imgs = np.repeat(base[cls][None], len(idx), axis=0)
        drop = rng.random(imgs.shape) < 0.1  # broken strokes
        imgs[drop] = 0.0
        sx = rng.integers(-1, 2, size=len(idx))
        sy = np.zeros(len(idx), dtype=int)  # horizontal jitter only
        for j in range(len(idx)):
            imgs[j] = np.roll(np.roll(imgs[j], sy[j], axis=0), sx[j], axis=1)
        x[idx] = imgs
    x += rng.normal(0.0, 0.3, size=x.shape).astype(np.float32)
    return x.reshape(n, 64), y


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def main() -> None:
    pynncore.show_config()
    rng = np.random.default_rng(0)
    x_train, y_train = make_dataset(20000, rng)
    x_test, y_test = make_dataset(4000, rng)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std

    n_in, n_cls, batch, lr = 64, 10, 128, 0.1
    w = np.zeros((n_in, n_cls), np.float32)
    b = np.zeros(n_cls, np.float32)
    logits = np.empty((batch, n_cls), np.float32)  # reused output buffers
    grad_w = np.empty((n_in, n_cls), np.float32)
    onehot = np.eye(n_cls, dtype=np.float32)

    t0 = time.perf_counter()
    for epoch in range(10):
        order = rng.permutation(len(x_train))
        loss_sum = 0.0
        for start in range(0, len(order) - batch + 1, batch):
            idx = order[start : start + batch]
            xb, yb = x_train[idx], y_train[idx]
            ops.matmul(xb, w, out=logits)  # (batch, 64) @ (64, 10)
            p = softmax(logits + b)
            loss_sum += -np.log(p[np.arange(batch), yb] + 1e-12).sum()
            g = (p - onehot[yb]) / batch
            ops.matmul(xb, g, transpose_a=True, out=grad_w)  # (64, batch) @ (batch, 10)
            w -= lr * grad_w
            b -= lr * g.sum(0)
        print(f"epoch {epoch + 1}: mean loss {loss_sum / len(order):.4f}")
    train_s = time.perf_counter() - t0

    test_logits = ops.matmul(x_test, w) + b
    acc = float((test_logits.argmax(1) == y_test).mean())
    ref = x_test.astype(np.float64) @ w.astype(np.float64) + b
    err = float(np.abs(test_logits - ref).max())
    print(f"test accuracy {acc:.3f} (chance 0.100); trained in {train_s:.2f} s")
    print(f"max |logits - float64 reference| = {err:.2e}")
    if acc < 0.8 or err > 1e-3:
        raise SystemExit("softmax regression did not reach the expected accuracy")


if __name__ == "__main__":
    main()
