"""Shared fixtures: CPU kernel path, thread count, and a per-test seeded generator."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import pynncore
from pynncore import _core

# Every kernel path this CPU can run ("generic" always; "avx2", "avx512" where supported).
AVAILABLE_CPU_PATHS = tuple(pynncore.get_config()["cpu_paths_available"])


@pytest.fixture(params=AVAILABLE_CPU_PATHS)
def cpu_path(request) -> str:
    """Runs the test once per available CPU path, restoring the previous path afterwards."""
    previous = _core.get_cpu_path()
    _core.set_cpu_path(request.param)
    try:
        yield request.param
    finally:
        _core.set_cpu_path(previous)


@pytest.fixture
def restore_num_threads() -> int:
    """Restores the library's thread count after the test; yields the count before it."""
    previous = pynncore.get_num_threads()
    try:
        yield previous
    finally:
        pynncore.set_num_threads(previous)


@pytest.fixture(params=[1, 2], ids=lambda n: f"threads{n}")
def num_threads(request, restore_num_threads) -> int:
    """Runs the test at 1 and at 2 library threads."""
    pynncore.set_num_threads(request.param)
    return request.param


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test id: deterministic, different for each parameter set."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def deterministic():
    """Runs the test in deterministic mode, restoring the previous mode afterwards."""
    previous = pynncore.get_deterministic()
    pynncore.set_deterministic(True)
    try:
        yield
    finally:
        pynncore.set_deterministic(previous)
