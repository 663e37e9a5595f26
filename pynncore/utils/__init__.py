"""Utilities: seeding, label encoding, batch datasets and the progress bar."""

from pynncore.utils.dataset import PyDataset, Sequence
from pynncore.utils.numerical import normalize, to_categorical
from pynncore.utils.progbar import Progbar, resolve_verbose
from pynncore.utils.rng import get_global_generator, make_generator, set_random_seed
from pynncore.utils.sequence import pad_sequences

__all__ = [
    "Progbar",
    "PyDataset",
    "Sequence",
    "get_global_generator",
    "make_generator",
    "normalize",
    "pad_sequences",
    "resolve_verbose",
    "set_random_seed",
    "to_categorical",
]
