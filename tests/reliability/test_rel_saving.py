"""Fault-tolerant model files: atomic replace, cleanup on every failure, corruption refused."""

from __future__ import annotations

import errno
import os
import sys

import numpy as np
import pytest
from _rel_kill import kill_saves

import pynncore
from pynncore import _safetensors, layers


def _model(seed: int = 0) -> pynncore.Sequential:
    pynncore.utils.set_random_seed(seed)
    model = pynncore.Sequential([layers.Dense(16, activation="relu", input_dim=5), layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    return model


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _files(folder) -> list:
    return sorted(os.listdir(folder))


@pytest.fixture
def saved(tmp_path):
    model = _model()
    path = str(tmp_path / "m.pnc")
    model.save(path)
    return model, path, model.get_weights()


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("target", ["fsync", "replace", "write_payload", "fdopen", "mkstemp"])
def test_failed_save_leaves_previous_file(saved, tmp_path, monkeypatch, target):
    model, path, old = saved
    model.set_weights([w + 1 for w in old])
    if target == "write_payload":

        def half_write(f, header, entries):
            f.write(len(header).to_bytes(8, "little"))
            f.write(header[: len(header) // 2])
            _enospc()

        monkeypatch.setattr(_safetensors, "_write_payload", half_write)
    elif target == "mkstemp":
        monkeypatch.setattr(_safetensors.tempfile, "mkstemp", _enospc)
    else:
        monkeypatch.setattr(_safetensors.os, target, _enospc)
    with pytest.raises(OSError, match="No space left"):
        model.save(path)
    with pytest.raises(OSError, match="No space left"):
        model.save_weights(str(tmp_path / "w.weights.safetensors"))
    monkeypatch.undo()
    assert _files(tmp_path) == ["m.pnc"]  # no temporary files, no partial weights file
    for a, b in zip(pynncore.load_model(path).get_weights(), old):
        np.testing.assert_array_equal(a, b)


def test_keyboard_interrupt_during_write_cleans_up(saved, tmp_path, monkeypatch):
    model, path, old = saved

    def interrupted(f, header, entries):
        f.write(b"\0" * 100)
        raise KeyboardInterrupt

    monkeypatch.setattr(_safetensors, "_write_payload", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    monkeypatch.undo()
    assert _files(tmp_path) == ["m.pnc"]
    pynncore.load_model(path)


def test_directory_is_fsynced_after_rename(saved, monkeypatch):
    model, path, _ = saved
    synced = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}") if sys.platform == "linux" else True)
        return real_fsync(fd)

    monkeypatch.setattr(_safetensors.os, "fsync", spy)
    model.save(path)
    assert synced[0] is False and synced[-1] is True  # file first, then its folder


def test_stale_temp_files_are_ignored(saved, tmp_path):
    model, path, old = saved
    stale = tmp_path / ".m.pnc.abc123.tmp"
    stale.write_bytes(b"\x80\x04garbage from a killed save")
    model.save(path)
    pynncore.load_model(path)
    assert stale.exists()  # never read, never in the way


def test_overwrite_false(saved):
    model, path, _ = saved
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(path, overwrite=False)


def test_truncated_files_refused(saved, tmp_path):
    _, path, _ = saved
    data = _read(path)
    for cut in sorted({0, 1, 7, 8, 9, 100, len(data) // 2, len(data) - 4, len(data) - 1}):
        p = tmp_path / f"cut{cut}.pnc"
        p.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="safetensors: "):
            pynncore.load_model(str(p))


def test_every_single_bit_flip_region_is_refused(saved, tmp_path):
    _, path, _ = saved
    data = bytearray(_read(path))
    n = int.from_bytes(data[:8], "little")
    rng = np.random.default_rng(0)
    positions = list(range(8)) + list(rng.integers(8, 8 + n, 60)) + list(rng.integers(8 + n, len(data), 60))
    for pos in positions:
        for bit in (0, 3, 7):
            flipped = bytearray(data)
            flipped[pos] ^= 1 << bit
            p = tmp_path / "flip.pnc"
            p.write_bytes(bytes(flipped))
            with pytest.raises(ValueError):
                pynncore.load_model(str(p))


def test_checksum_mismatch_message(saved, tmp_path):
    _, path, _ = saved
    data = bytearray(_read(path))
    data[-1] ^= 0x10  # inside the last weight
    p = tmp_path / "bad.pnc"
    p.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch .* the file is corrupt"):
        pynncore.load_model(str(p))
    with pytest.raises(ValueError, match="checksum mismatch"):
        _safetensors.load_bytes(bytes(data))


def test_weights_files_are_checksummed_and_readable_elsewhere(saved, tmp_path):
    model, _, _ = saved
    p = str(tmp_path / "w.weights.safetensors")
    model.save_weights(p)
    tensors, meta = _safetensors.load_file(p)
    assert meta[_safetensors.CHECKSUM_KEY].startswith("crc32:")
    st = pytest.importorskip("safetensors.numpy")
    other = st.load_file(p)
    for k, v in tensors.items():
        np.testing.assert_array_equal(other[k], v)


def test_checksum_required_only_for_pynncore_files(saved, tmp_path):
    model, _, old = saved
    tensors = {f"weights/{i:04d}/w": w for i, w in enumerate(old)}
    p = str(tmp_path / "plain.safetensors")
    _safetensors.save_file(tensors, p, metadata={"format": "np"})  # another tool's file
    model.load_weights(p)
    _safetensors.save_file(tensors, p, metadata={"format": "pynncore.model.weights"})
    with pytest.raises(ValueError, match="carries no 'pynncore.crc32' checksum"):
        model.load_weights(p)


def test_malformed_checksum_entry(tmp_path):
    data = _safetensors.save_bytes({"a": np.ones(2, np.float32)}, {_safetensors.CHECKSUM_KEY: "md5:xyz"})
    with pytest.raises(ValueError, match="checksum entry 'pynncore.crc32' is malformed"):
        _safetensors.load_bytes(data)


@pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL test: Linux")
@pytest.mark.parametrize("kind", ["model", "weights"])
def test_sigkill_mid_save_previous_file_always_loads(tmp_path, kind):
    result = kill_saves(str(tmp_path), kills=4, kind=kind, seed=1 if kind == "model" else 2)
    assert result["tried"] == 4
    assert result["loads"] == 4, result["errors"]
