"""Layers with Keras 3 names, arguments and weight layouts."""

from pynncore.layers.base import Input, InputLayer, Layer, Variable
from pynncore.layers.conv import Conv1D, Conv2D, Conv2DTranspose
from pynncore.layers.core import Activation, Dense, Dropout, Flatten, Reshape
from pynncore.layers.normalization import BatchNormalization

__all__ = [
    "Activation",
    "BatchNormalization",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "Layer",
    "Reshape",
    "Variable",
]
