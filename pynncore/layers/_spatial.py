"""Argument and shape checks shared by the channels-last spatial layers (pooling, reshaping,
spatial dropout). Errors name the layer, what was expected and what came."""

from __future__ import annotations

from typing import Any

from pynncore.layers.base import Layer, shape_str


def check_data_format(layer: Layer, data_format: Any) -> str:
    """``'channels_last'`` for None or ``'channels_last'``; ValueError for anything else."""
    if data_format in (None, "channels_last"):
        return "channels_last"
    raise ValueError(
        f"{type(layer).__name__} '{layer.name}': only data_format='channels_last' (N, ..., C) is "
        f"supported. Received: data_format={data_format!r}"
    )


def check_spatial_rank(layer: Layer, shape: tuple, nd: int) -> None:
    """ValueError unless ``shape`` is ``(batch, <nd spatial axes>, channels)``."""
    if len(shape) != nd + 2:
        layout = {
            1: "(batch, steps, channels)",
            2: "(batch, height, width, channels)",
            3: "(batch, depth, height, width, channels)",
        }.get(nd, "(batch, ..., channels)")
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': expected a {nd + 2}-D input {layout}. "
            f"Received: shape={shape_str(shape)}"
        )
