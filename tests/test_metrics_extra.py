"""Confusion counts (TruePositives, FalsePositives, TrueNegatives, FalseNegatives) and the
MAPE, MSLE and LogCosh metrics: float64 references, Keras 3 agreement, use in compile."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import layers, metrics


def test_counts_match_a_direct_count_with_weights(rng):
    y = rng.integers(0, 2, (30, 3))
    p = rng.random((30, 3))
    w = rng.random(30)
    for thr in (0.5, [0.2, 0.6, 0.9]):
        got = {}
        for cls in (metrics.TruePositives, metrics.FalsePositives, metrics.TrueNegatives, metrics.FalseNegatives):
            m = cls(thresholds=thr)
            m.update_state(y[:10], p[:10], sample_weight=w[:10])
            m.update_state(y[10:], p[10:], sample_weight=w[10:])
            got[cls.__name__] = np.atleast_1d(m.result())
        ww = np.broadcast_to(w[:, None], y.shape)
        for i, t in enumerate(np.atleast_1d(thr)):
            pos, lab = p > t, y != 0
            want = {"TruePositives": (pos & lab), "FalsePositives": (pos & ~lab), "TrueNegatives": (~pos & ~lab),
                    "FalseNegatives": (~pos & lab)}
            for k, mask in want.items():
                assert got[k][i] == pytest.approx(float((ww * mask).sum()), rel=1e-12)


def test_regression_metrics_match_references(rng):
    y = rng.random((12, 4)) * 3
    p = rng.random((12, 4)) * 3
    refs = {
        "mape": 100 * np.abs(y - p) / np.maximum(np.abs(y), 1e-7),
        "msle": (np.log(np.maximum(p, 1e-7) + 1) - np.log(np.maximum(y, 1e-7) + 1)) ** 2,
        "logcosh": np.log(np.cosh(p - y)),
    }
    for name, ref in refs.items():
        m = metrics.get(name)
        m.update_state(y[:5], p[:5])
        m.update_state(y[5:], p[5:])
        assert m.name == name
        assert m.result() == pytest.approx(float(ref.mean()), rel=1e-10)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_agree_with_keras(rng):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    y = rng.integers(0, 2, (20, 2)).astype(np.float32)
    p = rng.random((20, 2)).astype(np.float32)
    w = rng.random(20).astype(np.float32)
    for name in ("TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"):
        for thr in (None, [0.3, 0.8]):
            ours, theirs = getattr(metrics, name)(thresholds=thr), getattr(keras.metrics, name)(thresholds=thr)
            ours.update_state(y, p, sample_weight=w)
            theirs.update_state(y, p, sample_weight=w)
            np.testing.assert_allclose(ours.result(), np.asarray(theirs.result()), rtol=1e-5)
    yr = (rng.random((20, 3)) * 2).astype(np.float32)
    pr = (rng.random((20, 3)) * 2).astype(np.float32)
    for ours, theirs in ((metrics.MeanAbsolutePercentageError(), keras.metrics.MeanAbsolutePercentageError()),
                         (metrics.MeanSquaredLogarithmicError(), keras.metrics.MeanSquaredLogarithmicError()),
                         (metrics.LogCoshError(), keras.metrics.LogCoshError())):
        ours.update_state(yr, pr, sample_weight=w)
        theirs.update_state(yr, pr, sample_weight=w)
        assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5)
        assert ours.name == theirs.name


def test_in_compile_and_bad_thresholds(rng):
    m = pynncore.Sequential([pynncore.Input((3,)), layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer="sgd", loss="binary_crossentropy",
              metrics=[metrics.TruePositives(), metrics.FalseNegatives(), "mape", "msle"])
    x = rng.standard_normal((16, 3)).astype(np.float32)
    h = m.fit(x, rng.integers(0, 2, (16, 1)).astype(np.float32), epochs=2, verbose=0)
    assert {"true_positives", "false_negatives", "mape", "msle"} <= set(h.history)
    with pytest.raises(ValueError, match="threshold"):
        metrics.TruePositives(thresholds=1.5)
