"""The library's global random state and the seeding helper.

Everything in pynncore that draws random numbers without an explicit seed (unseeded
initializers, dropout masks, shuffling) draws from one ``numpy.random.Generator`` kept here.
:func:`set_random_seed` replaces it, so one call makes a whole run reproducible.
"""

from __future__ import annotations

import numbers
import random as _py_random
import threading

import numpy as np

__all__ = ["get_global_generator", "make_generator", "set_random_seed"]

_lock = threading.Lock()
_global_generator: np.random.Generator = np.random.default_rng()


def _check_seed(seed: object, where: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"{where}: expected `seed` to be a non-negative integer. "
            f"Received: seed={seed!r} of type {type(seed).__name__}"
        )
    if seed < 0:
        raise ValueError(f"{where}: expected `seed` to be a non-negative integer. Received: seed={seed}")
    return int(seed)


def set_random_seed(seed: int) -> None:
    """Seed every random number generator a training run uses.

    Reseeds pynncore's global generator (used by unseeded initializers and by anything else
    in the library that draws without an explicit seed), numpy's legacy global generator
    (``np.random.seed``) and Python's :mod:`random`, like ``keras.utils.set_random_seed``.

    Args:
        seed: a non-negative integer.

    Raises:
        TypeError: `seed` is not an integer (``bool`` is refused too).
        ValueError: `seed` is negative, or too large for numpy's legacy generator
            (``>= 2**32``).

    Example:
        >>> from pynncore.utils import set_random_seed
        >>> set_random_seed(42)
    """
    global _global_generator
    seed = _check_seed(seed, "set_random_seed")
    if seed >= 2**32:
        raise ValueError(f"set_random_seed: expected `seed` < 2**32. Received: seed={seed}")
    _py_random.seed(seed)
    np.random.seed(seed)
    with _lock:
        _global_generator = np.random.default_rng(seed)


def get_global_generator() -> np.random.Generator:
    """Return the library's global generator (replaced by each :func:`set_random_seed`).

    Do not keep the returned object across a :func:`set_random_seed` call: fetch it each time.
    """
    return _global_generator


def make_generator(seed: int | None = None) -> np.random.Generator:
    """Return a generator for one draw: a fresh one seeded with `seed`, or the global one.

    Args:
        seed: ``None`` for the global generator, or a non-negative integer for a new
            generator that yields the same numbers every time it is made with that seed.

    Raises:
        TypeError: `seed` is neither ``None`` nor an integer.
        ValueError: `seed` is negative.
    """
    if seed is None:
        return _global_generator
    return np.random.default_rng(_check_seed(seed, "make_generator"))
