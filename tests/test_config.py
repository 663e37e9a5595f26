"""Thread control, build/CPU configuration and the PYNNCORE_CPU override."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import pynncore
from pynncore import _core

AVAILABLE_CPU_PATHS = tuple(pynncore.get_config()["cpu_paths_available"])
KNOWN_PATHS = ("generic", "avx2", "avx512")
MISSING_CPU_PATHS = tuple(p for p in KNOWN_PATHS if p not in AVAILABLE_CPU_PATHS)


# ---------------------------------------------------------------------------------------------
# Threads


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_set_get_num_threads(restore_num_threads, n):
    pynncore.set_num_threads(n)
    assert pynncore.get_num_threads() == n
    assert pynncore.get_config()["num_threads"] == n


def test_default_num_threads_is_positive():
    n = pynncore.get_num_threads()
    assert isinstance(n, int) and not isinstance(n, bool)
    assert n >= 1


@pytest.mark.parametrize("bad", [0, -1, -1000], ids=str)
def test_set_num_threads_rejects_non_positive(restore_num_threads, bad):
    pynncore.set_num_threads(2)
    with pytest.raises(ValueError, match=str(bad)):
        pynncore.set_num_threads(bad)
    assert pynncore.get_num_threads() == 2


@pytest.mark.parametrize("bad", [1.5, 2.0, "2", None], ids=["1.5", "2.0", "str_2", "None"])
def test_set_num_threads_rejects_non_int(restore_num_threads, bad):
    pynncore.set_num_threads(1)
    with pytest.raises((ValueError, TypeError)):
        pynncore.set_num_threads(bad)
    assert pynncore.get_num_threads() == 1


# ---------------------------------------------------------------------------------------------
# Configuration


def test_get_config_keys_and_types():
    config = pynncore.get_config()
    assert isinstance(config, dict)
    expected = {
        "version": str,
        "cpu_path": str,
        "cpu_paths_available": list,
        "openmp": bool,
        "num_threads": int,
        "cuda": bool,
    }
    missing = set(expected) - set(config)
    assert not missing, f"get_config() lacks {sorted(missing)}"
    for key, kind in expected.items():
        assert isinstance(config[key], kind), f"{key}: {type(config[key]).__name__}"
    assert not isinstance(config["num_threads"], bool)


def test_get_config_values_are_consistent():
    config = pynncore.get_config()
    assert config["version"]
    assert config["version"] == pynncore.__version__
    available = config["cpu_paths_available"]
    assert "generic" in available
    assert len(set(available)) == len(available)
    assert set(available) <= set(KNOWN_PATHS)
    assert config["cpu_path"] in available
    assert config["cpu_path"] == _core.get_cpu_path()
    assert config["num_threads"] == pynncore.get_num_threads()


def test_get_config_returns_a_fresh_dict():
    config = pynncore.get_config()
    config["cpu_paths_available"].append("bogus")
    config["version"] = "changed"
    again = pynncore.get_config()
    assert "bogus" not in again["cpu_paths_available"]
    assert again["version"] == pynncore.__version__


def test_get_config_follows_cpu_path(cpu_path):
    assert _core.get_cpu_path() == cpu_path
    assert pynncore.get_config()["cpu_path"] == cpu_path


def test_show_config(capsys, cpu_path, restore_num_threads):
    pynncore.set_num_threads(3)
    assert pynncore.show_config() is None
    text = capsys.readouterr().out
    config = pynncore.get_config()
    assert config["version"] in text
    assert cpu_path in text
    for path in config["cpu_paths_available"]:
        assert path in text
    assert "openmp" in text.lower()
    assert "cuda" in text.lower()
    assert re.search(r"(?im)^.*thread.*\b3\b", text), text


# ---------------------------------------------------------------------------------------------
# Switching the CPU path in-process


def test_set_cpu_path_switches_and_restores():
    previous = _core.get_cpu_path()
    try:
        for path in AVAILABLE_CPU_PATHS:
            _core.set_cpu_path(path)
            assert _core.get_cpu_path() == path
    finally:
        _core.set_cpu_path(previous)
    assert _core.get_cpu_path() == previous


@pytest.mark.parametrize("name", ["sse9", "AVX3", "", "generic "], ids=repr)
def test_set_cpu_path_unknown(name):
    previous = _core.get_cpu_path()
    # The message names what came (when not empty) and what is accepted.
    pattern = "(?s)(?=.*generic)" + (f"(?=.*{re.escape(name)})" if name else "")
    with pytest.raises(ValueError, match=pattern):
        _core.set_cpu_path(name)
    assert _core.get_cpu_path() == previous


@pytest.mark.skipif(not MISSING_CPU_PATHS, reason="this CPU supports every path")
@pytest.mark.parametrize("name", MISSING_CPU_PATHS or ["none"])
def test_set_cpu_path_unsupported(name):
    previous = _core.get_cpu_path()
    with pytest.raises((RuntimeError, ValueError), match=name):
        _core.set_cpu_path(name)
    assert _core.get_cpu_path() == previous


# ---------------------------------------------------------------------------------------------
# PYNNCORE_CPU at import (fresh interpreters)

_IMPORT_AND_REPORT = """
import sys
try:
    import pynncore
except (ImportError, RuntimeError, ValueError) as e:
    print(type(e).__name__ + ": " + str(e))
    sys.exit(3)
print(pynncore.get_config()["cpu_path"])
"""


def _run_child(pynncore_cpu, tmp_path):
    env = dict(os.environ)
    env.pop("PYNNCORE_CPU", None)
    if pynncore_cpu is not None:
        env["PYNNCORE_CPU"] = pynncore_cpu
    # The child imports the same pynncore as this process.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.run(
        [sys.executable, "-c", _IMPORT_AND_REPORT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("path", AVAILABLE_CPU_PATHS)
def test_env_forces_cpu_path(path, tmp_path):
    proc = _run_child(path, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == path


def test_env_unset_selects_best_path(tmp_path):
    proc = _run_child(None, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    best = [p for p in KNOWN_PATHS if p in AVAILABLE_CPU_PATHS][-1]
    assert proc.stdout.strip() == best


@pytest.mark.parametrize("value", ["sse9", "AVX-512", "generic,avx2"])
def test_env_unknown_value_fails_import(value, tmp_path):
    proc = _run_child(value, tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "PYNNCORE_CPU" in proc.stdout
    assert value in proc.stdout


@pytest.mark.skipif(not MISSING_CPU_PATHS, reason="this CPU supports every path")
@pytest.mark.parametrize("value", MISSING_CPU_PATHS or ["none"])
def test_env_unsupported_path_fails_import(value, tmp_path):
    proc = _run_child(value, tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "PYNNCORE_CPU" in proc.stdout
    assert value in proc.stdout
