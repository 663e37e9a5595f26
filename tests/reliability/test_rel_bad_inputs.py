"""Every malformed argument to ops, layers, models, losses and optimizer updates is refused
with a ValueError or TypeError (cases generated in _rel_cases.py)."""

from __future__ import annotations

import os

import pytest
from _rel_cases import bad_input_cases, hostile_files, load_hostile, run_bad_input

CASES = bad_input_cases()


def test_enough_cases():
    assert len(CASES) >= 250


@pytest.mark.parametrize("name,thunk", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_clear_error(name, thunk):
    assert run_bad_input(thunk) == "clear"


def test_bad_input_messages_name_the_operation():
    from pynncore import layers, ops

    import numpy as np

    with pytest.raises(ValueError, match="matmul: inner dimensions do not match"):
        ops.matmul(np.ones((3, 4), np.float32), np.ones((5, 6), np.float32))
    with pytest.raises(ValueError, match="Dense .*units must be a positive integer"):
        layers.Dense(0)


def test_hostile_files_run_nothing(tmp_path):
    canary = str(tmp_path / "CANARY")
    files = hostile_files(str(tmp_path), canary)
    assert len(files) >= 30
    results = {name: load_hostile(path) for name, path in files}
    assert not os.path.exists(canary)
    assert {k: v for k, v in results.items() if v != "clear"} == {}


def test_hostile_error_messages(tmp_path):
    import pynncore

    canary = str(tmp_path / "CANARY")
    paths = dict(hostile_files(str(tmp_path), canary))
    with pytest.raises(ValueError, match="header length .* larger than"):
        pynncore.load_model(paths["pickle_as_safetensors"])
    with pytest.raises(ValueError, match="unknown layer class 'os.system'"):
        pynncore.load_model(paths["class_os.system"])
    with pytest.raises(ValueError, match="unknown layer class 'builtins.eval'"):
        pynncore.load_model(paths["nested_class_builtins.eval"])
    with pytest.raises(ValueError, match="nested too deeply"):
        pynncore.load_model(paths["model_json_deeply_nested"])
    with pytest.raises(ValueError, match="nested too deeply"):
        pynncore.load_model(paths["model_sequential_nested_3000"])
    with pytest.raises(ValueError, match="NaN, which is not valid JSON"):
        pynncore.load_model(paths["model_nan_input_shape"])
    with pytest.raises(ValueError, match="shape must be a list of non-negative integers|not valid JSON"):
        pynncore.load_model(paths["header_nan_shape"])
    assert not os.path.exists(canary)
