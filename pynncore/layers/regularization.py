"""Spatial dropout: SpatialDropout1D / SpatialDropout2D drop whole channels."""

from __future__ import annotations

from typing import Any

import numpy as np

from pynncore.layers._spatial import check_data_format, check_spatial_rank
from pynncore.layers.core import Dropout

__all__ = ["SpatialDropout1D", "SpatialDropout2D"]


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
