"""Layers with Keras 3 names, arguments and weight layouts."""

from pynncore.layers.base import Input, InputLayer, Layer, Variable
from pynncore.layers.conv import Conv1D, Conv2D, Conv2DTranspose
from pynncore.layers.core import Activation, Dense, Dropout, Flatten, Reshape
from pynncore.layers.embedding import Embedding, Masking
from pynncore.layers.normalization import BatchNormalization
from pynncore.layers.pool import (
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPool1D,
    MaxPool2D,
    MaxPooling1D,
    MaxPooling2D,
)
from pynncore.layers.regularization import SpatialDropout1D, SpatialDropout2D
from pynncore.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from pynncore.layers.rnn import GRU, LSTM, SimpleRNN
from pynncore.layers.wrappers import Bidirectional, TimeDistributed

__all__ = [
    "Activation",
    "AveragePooling1D",
    "AveragePooling2D",
    "AvgPool1D",
    "AvgPool2D",
    "BatchNormalization",
    "Bidirectional",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "Cropping1D",
    "Cropping2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "LSTM",
    "Layer",
    "Masking",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "Reshape",
    "SimpleRNN",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "TimeDistributed",
    "UpSampling1D",
    "UpSampling2D",
    "Variable",
    "ZeroPadding1D",
    "ZeroPadding2D",
]
