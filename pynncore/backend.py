"""Session and numeric settings with Keras's names (``keras.backend`` / ``keras.config``).

pynncore computes in float32 with channels-last layouts; the setters accept exactly those
values so that Keras code calling them runs unchanged, and refuse others with a clear error.
"""

from __future__ import annotations

import gc
from typing import Any

__all__ = [
    "clear_session",
    "epsilon",
    "floatx",
    "image_data_format",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
]

_EPSILON = 1e-7


def clear_session(free_memory: bool = True) -> None:
    """Resets the automatic layer names (the next Dense is ``dense`` again) and, with
    ``free_memory``, runs the garbage collector. Models built before keep working."""
    from pynncore.layers import base

    base._name_counters.clear()
    if free_memory:
        gc.collect()


def floatx() -> str:
    """The float type of weights and computations: always ``"float32"``."""
    return "float32"


def set_floatx(value: Any) -> None:
    if value != "float32":
        raise ValueError(f"set_floatx: pynncore computes in float32 only. Received: {value!r}")


def epsilon() -> float:
    """The fuzz factor Keras uses in numeric expressions (1e-7)."""
    return _EPSILON


def set_epsilon(value: Any) -> None:
    if value != _EPSILON:
        raise ValueError(f"set_epsilon: pynncore's losses and constraints use {_EPSILON}. Received: {value!r}")


def image_data_format() -> str:
    """The layout of images: always ``"channels_last"`` (NHWC)."""
    return "channels_last"


def set_image_data_format(value: Any) -> None:
    if value != "channels_last":
        raise ValueError(
            f"set_image_data_format: pynncore's image layers are channels-last (NHWC). Received: {value!r}"
        )
