"""Spatial dropout: SpatialDropout1D / SpatialDropout2D drop whole channels."""

from __future__ import annotations

from typing import Any

import numpy as np

from pynncore.layers._spatial import check_data_format, check_spatial_rank
from pynncore.layers.base import Layer
from pynncore.layers.core import Dropout
from pynncore.utils import rng as _rng

__all__ = ["GaussianNoise", "SpatialDropout1D", "SpatialDropout2D"]


class _SpatialDropout(Dropout):
    """Dropout with one keep/drop draw per (sample, channel), shared by every step or pixel."""

    _nd = 1

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any):
        kwargs.pop("noise_shape", None)
        super().__init__(rate, seed=seed, **kwargs)

    def _check_rank(self, shape: tuple) -> None:
        check_spatial_rank(self, shape, self._nd)

    def build(self, input_shape: tuple) -> None:
        self._check_rank(tuple(input_shape))
        self.built = True

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        self._check_rank(np.shape(x))
        self.noise_shape = (None,) + (1,) * self._nd + (None,)
        return super().forward(x, training)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("noise_shape", None)
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drops entire channels of ``(N, steps, C)`` with probability ``rate`` in training and
    scales the kept ones by ``1 / (1 - rate)``; the identity at inference."""

    _nd = 1


class SpatialDropout2D(_SpatialDropout):
    """Drops entire channels of ``(N, H, W, C)`` with probability ``rate`` in training and
    scales the kept ones by ``1 / (1 - rate)``; the identity at inference."""

    _nd = 2

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs: Any):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = check_data_format(self, data_format)

    def get_config(self) -> dict:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` in training (a
    regularizer, and the corruption of denoising autoencoders); the identity at inference.

    Args:
        stddev: the noise's standard deviation (>= 0).
        seed: seed of this layer's generator; without one the global generator is used
            (``pynncore.utils.set_random_seed`` makes it reproducible).
    """

    supports_masking = True

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float, np.integer, np.floating)) or not stddev >= 0 \
                or not np.isfinite(stddev):
            raise ValueError(f"GaussianNoise '{self.name}': stddev must be a finite number >= 0. Received: stddev={stddev!r}")
        self.stddev = float(stddev)
        self.seed = seed
        self._rng = _rng.make_generator(seed) if seed is not None else None

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.asarray(x, dtype=np.float32)
        if not training or self.stddev == 0.0:
            return x, None
        gen = self._rng if self._rng is not None else _rng.get_global_generator()
        noise = gen.standard_normal(x.shape, dtype=np.float32) * np.float32(self.stddev)
        return (x + noise).astype(np.float32), None

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Any:
        return dy if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(stddev=self.stddev, seed=self.seed)
        return config
