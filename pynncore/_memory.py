"""Cache-line aligned float32 buffers.

numpy places large arrays 16 bytes past a page boundary, so every 64-byte vector load from
such an array straddles two cache lines. Weights are read by every forward pass (a
single-sample prediction is a matrix-vector product limited by how fast the weights stream
in), so they live in 64-byte aligned memory, and the optimizer's flat buffers start every
weight on a cache line.
"""

from __future__ import annotations

import math

import numpy as np

from pynncore import _core

ALIGN_BYTES = 64
ALIGN_FLOATS = ALIGN_BYTES // 4


def empty(n: int) -> np.ndarray:
    """A 1-D float32 array of ``n`` elements whose data starts on a 64-byte boundary."""
    raw = np.empty(n + ALIGN_FLOATS, np.float32)
    skip = (-raw.ctypes.data % ALIGN_BYTES) // 4
    return raw[skip : skip + n]


def zeros(n: int) -> np.ndarray:
    out = empty(n)
    out.fill(0.0)
    return out


def copy(value: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 copy of ``value`` (same shape) in aligned memory."""
    out = empty(value.size).reshape(value.shape)
    out[...] = value
    return out


# From this many floats (64 KiB) on, temporary arrays come from the native buffer cache: a
# block freed by one training step is reused by the next instead of going back to the OS,
# whose fresh pages would cost a fault each time they are first written.
_CACHED_FLOATS = 16384


def empty_f32(shape: tuple) -> np.ndarray:
    """An uninitialised C-contiguous float32 array of ``shape`` for activations and gradients;
    large ones come from the buffer cache (``_core.empty_f32``)."""
    if not isinstance(shape, tuple):
        shape = tuple(shape) if isinstance(shape, (list, np.ndarray)) else (int(shape),)
    if math.prod(shape) >= _CACHED_FLOATS:
        return _core.empty_f32(shape)
    return np.empty(shape, np.float32)


def zeros_f32(shape: tuple) -> np.ndarray:
    """As :func:`empty_f32`, filled with zeros."""
    out = empty_f32(shape)
    out.fill(0.0)
    return out


def padded(n: int) -> int:
    """``n`` rounded up to a whole number of cache lines of floats."""
    return -(-n // ALIGN_FLOATS) * ALIGN_FLOATS
