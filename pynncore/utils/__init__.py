"""Utilities: seeding, label encoding, batch datasets, timeseries windows, dataset splits, the
progress bar, and (as in Keras's ``keras.utils``) the custom-object registry."""

from pynncore.saving import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from pynncore.utils.dataset import PyDataset, Sequence, split_dataset
from pynncore.utils.numerical import normalize, to_categorical
from pynncore.utils.progbar import Progbar, resolve_verbose
from pynncore.utils.rng import get_global_generator, make_generator, set_random_seed
from pynncore.utils.sequence import pad_sequences
from pynncore.utils.timeseries import timeseries_dataset_from_array

__all__ = [
    "CustomObjectScope",
    "Progbar",
    "PyDataset",
    "Sequence",
    "custom_object_scope",
    "get_custom_objects",
    "get_global_generator",
    "get_registered_name",
    "get_registered_object",
    "make_generator",
    "normalize",
    "pad_sequences",
    "register_keras_serializable",
    "resolve_verbose",
    "set_random_seed",
    "split_dataset",
    "timeseries_dataset_from_array",
    "to_categorical",
]
