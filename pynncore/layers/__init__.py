"""Layers with Keras 3 names, arguments and weight layouts."""

from pynncore.layers.base import Input, InputLayer, Layer, Variable
from pynncore.layers.core import Activation, Dense, Dropout, Flatten, Reshape
from pynncore.layers.embedding import Embedding, Masking
from pynncore.layers.normalization import BatchNormalization
from pynncore.layers.rnn import GRU, LSTM, SimpleRNN
from pynncore.layers.wrappers import Bidirectional, TimeDistributed

__all__ = [
    "Activation",
    "BatchNormalization",
    "Bidirectional",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "Input",
    "InputLayer",
    "LSTM",
    "Layer",
    "Masking",
    "Reshape",
    "SimpleRNN",
    "TimeDistributed",
    "Variable",
]
