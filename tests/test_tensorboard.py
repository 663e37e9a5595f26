"""callbacks.TensorBoard writes scalar event files TensorBoard can read."""

from __future__ import annotations

import glob
import os
import struct

import numpy as np
import pytest

import pynncore
from pynncore import callbacks, layers
from pynncore.utils import event_file


def test_crc32c_known_values():
    assert event_file.crc32c(b"123456789") == 0xE3069283
    assert event_file.crc32c(b"") == 0
    assert event_file.crc32c(bytes(32)) == 0x8A9136AA


def _fit(tmp_path, rng, **tb_kw):
    m = pynncore.Sequential([pynncore.Input((3,)), layers.Dense(2, activation="softmax")])
    m.compile(optimizer=pynncore.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    log_dir = str(tmp_path / "logs")
    hist = m.fit(x, y, epochs=3, batch_size=10, validation_split=0.25, verbose=0,
                 callbacks=[callbacks.TensorBoard(log_dir, **tb_kw)])
    return log_dir, hist


def _scalars(log_dir, which):
    (path,) = glob.glob(os.path.join(log_dir, which, "events.out.tfevents.*"))
    return event_file.read_scalars(path)


def test_epoch_scalars_match_the_history(tmp_path, rng):
    log_dir, hist = _fit(tmp_path, rng, write_steps_per_second=True)
    train = _scalars(log_dir, "train")
    val = _scalars(log_dir, "validation")
    for name in ("loss", "accuracy"):
        got = [v for s, t, v in sorted(train) if t == f"epoch_{name}"]
        np.testing.assert_allclose(got, hist.history[name], rtol=1e-6)
        got_val = [v for s, t, v in sorted(val) if t == f"epoch_{name}"]
        np.testing.assert_allclose(got_val, hist.history[f"val_{name}"], rtol=1e-6)
    assert [s for s, t, _ in train if t == "epoch_loss"] == [0, 1, 2]
    lr = [v for _, t, v in train if t == "epoch_learning_rate"]
    np.testing.assert_allclose(lr, [0.1] * 3, rtol=1e-6)
    assert len([v for _, t, v in train if t == "epoch_steps_per_second" and v > 0]) == 3


def test_batch_scalars_every_n_batches(tmp_path, rng):
    log_dir, _ = _fit(tmp_path, rng, update_freq=2)
    steps = sorted({s for s, t, _ in _scalars(log_dir, "train") if t == "batch_loss"})
    assert steps == [2, 4, 6, 8]  # 3 batches per epoch, 9 in all


def test_tensorboard_reads_the_files(tmp_path, rng):
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    log_dir, hist = _fit(tmp_path, rng)
    acc = ea_mod.EventAccumulator(os.path.join(log_dir, "train"))
    acc.Reload()
    got = [e.value for e in acc.Scalars("epoch_loss")]
    np.testing.assert_allclose(got, hist.history["loss"], rtol=1e-6)


def test_damaged_files_and_bad_arguments(tmp_path, rng):
    log_dir, _ = _fit(tmp_path, rng)
    (path,) = glob.glob(os.path.join(log_dir, "train", "events.out.tfevents.*"))
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[-6] ^= 0xFF
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="bad data checksum"):
        event_file.read_scalars(str(bad))
    (tmp_path / "short").write_bytes(bytes(data[:7]))
    with pytest.raises(ValueError, match="truncated record header"):
        event_file.read_scalars(str(tmp_path / "short"))
    with pytest.raises(ValueError, match="scalar summaries only.*histogram_freq"):
        callbacks.TensorBoard(str(tmp_path), histogram_freq=1)
    with pytest.raises(ValueError, match="update_freq must be 'epoch', 'batch' or a positive integer"):
        callbacks.TensorBoard(str(tmp_path), update_freq=0)
    # the first record is the file-version event TensorBoard expects
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    assert b"brain.Event:2" in bytes(data[12 : 12 + n])
