"""Regularization layers: SpatialDropout1D/2D/3D (whole channels), GaussianNoise, GaussianDropout,
AlphaDropout and ActivityRegularization.

The random layers act only in training (``forward(x, training=True)``, as ``fit`` calls them)
and are the identity at inference. A layer given a ``seed`` owns its generator; without one it
draws from the global generator (``pynncore.utils.set_random_seed`` makes it reproducible).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from pynncore import regularizers as _regularizers
from pynncore.layers._spatial import check_data_format, check_spatial_rank
from pynncore.layers.base import Layer
from pynncore.layers.core import Dropout, Identity
from pynncore.utils import rng as _rng

__all__ = [
    "ActivityRegularization",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
]


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


class SpatialDropout3D(SpatialDropout2D):
    """Drops entire channels of ``(N, D, H, W, C)`` with probability ``rate`` in training and
    scales the kept ones by ``1 / (1 - rate)``; the identity at inference (Keras 3
    ``SpatialDropout3D``).

    One keep/drop draw per (sample, channel) is shared by every voxel, so the mask has the
    shape ``(N, 1, 1, 1, C)``; the backward pass multiplies the gradient by the same mask.

    Args:
        rate: drop probability, a float in [0, 1).
        data_format: ``"channels_last"`` (or None).
        seed: integer seed of this layer's generator, or None for the global generator.

    Call arguments:
        inputs: array ``(N, D, H, W, C)``.
        training: whether to drop.

    Returns:
        Array of the input's shape.

    Raises:
        ValueError: ``rate`` outside [0, 1), another ``data_format``, or an input that is not
            5-D.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import SpatialDropout3D
        >>> SpatialDropout3D(0.5)(np.ones((1, 2, 2, 2, 3))).shape
        (1, 2, 2, 2, 3)
    """

    _nd = 3


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


# SELU's constants (Klambauer et al., 2017): selu(x) = scale * (alpha * (exp(x) - 1)) for x < 0,
# so its negative saturation value is -alpha * scale.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class _RateNoise(Layer):
    """Training-time noise controlled by a drop probability ``rate`` in [0, 1): validates
    ``rate`` and ``seed``, owns the generator, and backpropagates through the multiplicative
    factor that ``forward`` returns as its context (None: the identity)."""

    supports_masking = True

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs: Any):
        super().__init__(**kwargs)
        who = f"{type(self).__name__} '{self.name}'"
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
                or not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"{who}: rate must be a float in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self._rng = np.random.default_rng(_rng._check_seed(seed, who)) if seed is not None else None

    def _generator(self) -> np.random.Generator:
        return self._rng if self._rng is not None else _rng.get_global_generator()

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Any:
        if not need_dx:
            return None
        return dy if ctx is None else np.multiply(dy, ctx, dtype=np.float32)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config


class GaussianDropout(_RateNoise):
    """Multiplies the input by 1-centred Gaussian noise of standard deviation
    ``sqrt(rate / (1 - rate))`` in training (Keras 3 ``GaussianDropout``); the identity at
    inference.

    The noise has the mean and the variance of inverted dropout's factor with drop probability
    ``rate``. The backward pass multiplies the gradient by the same noise.

    Args:
        rate: drop probability, a float in [0, 1) (0: the identity in training too).
        seed: non-negative integer seed of this layer's generator, or None for the global
            generator.

    Call arguments:
        inputs: array of any shape ``(N, ...)``.
        training: whether to add the noise.

    Returns:
        Array of the input's shape.

    Raises:
        ValueError: ``rate`` is not a number in [0, 1).
        TypeError: ``seed`` is not an integer.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import GaussianDropout
        >>> GaussianDropout(0.2, seed=1)(np.ones((2, 3))).tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not training or self.rate == 0.0:
            return x, None
        noise = self._generator().standard_normal(x.shape, dtype=np.float32)
        noise *= np.float32(math.sqrt(self.rate / (1.0 - self.rate)))
        noise += np.float32(1.0)
        return x * noise, noise


class AlphaDropout(_RateNoise):
    """Dropout for self-normalizing networks (Keras 3 ``AlphaDropout``): in training, sets a
    fraction ``rate`` of the inputs to SELU's negative saturation value
    ``alpha' = -alpha * scale`` and applies the affine map that keeps zero mean and unit
    variance; the identity at inference.

    With ``keep`` the Bernoulli(1 - rate) mask::

        a = ((1 - rate) * (1 + rate * alpha'^2)) ** -0.5
        b = -a * alpha' * rate
        y = a * (x * keep + alpha' * (1 - keep)) + b

    so ``dy/dx = a * keep``.

    Args:
        rate: drop probability, a float in [0, 1) (0: the identity in training too).
        noise_shape: shape of the mask, broadcast over the input (one entry per input axis;
            None entries take the input's size), or None for the input's shape.
        seed: non-negative integer seed of this layer's generator, or None for the global
            generator.

    Call arguments:
        inputs: array of any shape ``(N, ...)``.
        training: whether to drop.

    Returns:
        Array of the input's shape.

    Raises:
        ValueError: ``rate`` is not a number in [0, 1); ``noise_shape`` is not a sequence of
            positive integers and None, or does not broadcast to the input.
        TypeError: ``seed`` is not an integer.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import AlphaDropout
        >>> AlphaDropout(0.1, seed=1)(np.zeros((1, 2))).tolist()
        [[0.0, 0.0]]
    """

    def __init__(
        self,
        rate: float,
        noise_shape: Optional[Sequence[Optional[int]]] = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ):
        super().__init__(rate, seed=seed, **kwargs)
        if noise_shape is not None:
            ok = isinstance(noise_shape, (list, tuple)) and all(
                d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
                for d in noise_shape
            )
            if not ok:
                raise ValueError(
                    f"AlphaDropout '{self.name}': noise_shape must be a list of positive integers "
                    f"and None. Received: noise_shape={noise_shape!r}"
                )
            noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
        self.noise_shape = noise_shape

    def _mask_shape(self, shape: tuple) -> tuple:
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape) or any(
            d is not None and d != n and d != 1 for d, n in zip(self.noise_shape, shape)
        ):
            raise ValueError(
                f"AlphaDropout '{self.name}': noise_shape={self.noise_shape} does not broadcast "
                f"to the input. Received: shape={shape}"
            )
        return tuple(n if d is None else d for d, n in zip(self.noise_shape, shape))

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not training or self.rate == 0.0:
            return x, None
        keep = self._generator().random(self._mask_shape(x.shape), dtype=np.float32) >= self.rate
        r = self.rate
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1.0 - r) * (1.0 + r * alpha_p**2)) ** -0.5
        b = -a * alpha_p * r
        factor = np.where(keep, np.float32(a), np.float32(0.0))  # dy/dx
        shift = np.where(keep, np.float32(b), np.float32(a * alpha_p + b))
        return x * factor + shift, factor

    def get_config(self) -> dict:
        config = super().get_config()
        config["noise_shape"] = None if self.noise_shape is None else list(self.noise_shape)
        return config


class ActivityRegularization(Identity):
    """Passes its input through unchanged and adds ``l1 * sum(|y|) + l2 * sum(y**2)`` of it to
    the model's loss in training (Keras 3 ``ActivityRegularization``).

    The penalty is this layer's ``activity_regularizer`` (``pynncore.regularizers.L1L2``), so
    the model adds it and its gradient as for any layer's ``activity_regularizer``: divided by
    the batch size, as Keras 3 does.

    Args:
        l1: L1 factor, a finite number >= 0.
        l2: L2 factor, a finite number >= 0.

    Call arguments:
        inputs: array of any shape ``(N, ...)``.

    Returns:
        The input.

    Raises:
        ValueError: ``l1`` or ``l2`` is negative, not finite or not a number.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import ActivityRegularization
        >>> layer = ActivityRegularization(l1=0.1)
        >>> layer(np.ones((1, 2))).tolist(), layer.activity_regularizer(np.ones((1, 2)))
        ([[1.0, 1.0]], 0.2)
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        who = f"ActivityRegularization '{self.name}'"
        self.l1 = _regularizers._check_factor(0.0 if l1 is None else l1, "l1", who)
        self.l2 = _regularizers._check_factor(0.0 if l2 is None else l2, "l2", who)
        self.activity_regularizer = _regularizers.L1L2(l1=self.l1, l2=self.l2)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(l1=self.l1, l2=self.l2)
        return config
