"""Training a pynncore model and a Keras 3 model side by side from the same weights."""

from __future__ import annotations

import numpy as np
import pytest


def train_side_by_side(kmodel, pmodel, x, y, steps: int) -> None:
    """``steps`` train_on_batch calls on a compiled Keras model and a compiled pynncore model
    that start from Keras's weights: equal losses at every step and equal weights at the end."""
    for _ in range(steps):
        lk = float(kmodel.train_on_batch(x, y))
        lp = float(pmodel.train_on_batch(x, y))
        assert lp == pytest.approx(lk, rel=1e-4, abs=1e-6)
    for wk, wp in zip(kmodel.get_weights(), pmodel.get_weights()):
        np.testing.assert_allclose(wp, np.asarray(wk), rtol=1e-4, atol=2e-5)
