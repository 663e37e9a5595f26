"""Layers with Keras 3 names, arguments and weight layouts."""

from pynncore.layers.base import Input, InputLayer, Layer, Variable
from pynncore.layers.core import Activation, Dense, Dropout, Flatten, Reshape
from pynncore.layers.normalization import BatchNormalization
from pynncore.layers.rnn import GRU, LSTM, SimpleRNN

__all__ = [
    "Activation",
    "BatchNormalization",
    "Dense",
    "Dropout",
    "Flatten",
    "GRU",
    "Input",
    "InputLayer",
    "LSTM",
    "Layer",
    "Reshape",
    "SimpleRNN",
    "Variable",
]
