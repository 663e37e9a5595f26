"""Layers with Keras 3 names, arguments and weight layouts."""

from pynncore.layers.base import Input, InputLayer, Layer, Variable
from pynncore.layers.core import Activation, Dense, Dropout, Flatten, Reshape
from pynncore.layers.normalization import BatchNormalization
from pynncore.layers.merging import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract

__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Dot",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
    "Activation",
    "BatchNormalization",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "Layer",
    "Reshape",
    "Variable",
]
