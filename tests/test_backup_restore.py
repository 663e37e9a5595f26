"""callbacks.BackupAndRestore: an interrupted fit resumes where it stopped."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pynncore
from pynncore import callbacks, layers


class Interrupt(callbacks.Callback):
    """Raises at the end of epoch `at` (a crash in the middle of training)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt("stopped")


def _model():
    pynncore.utils.set_random_seed(3)
    m = pynncore.Sequential([pynncore.Input((4,)), layers.Dense(6, activation="tanh"), layers.Dense(1)])
    m.compile(optimizer=pynncore.optimizers.Adam(0.05), loss="mse")
    return m


@pytest.fixture
def data(rng):
    return rng.standard_normal((40, 4)).astype(np.float32), rng.standard_normal((40, 1)).astype(np.float32)


def test_interrupted_fit_resumes_to_the_same_weights(tmp_path, data):
    x, y = data
    ref = _model()
    ref_hist = ref.fit(x, y, epochs=5, batch_size=8, shuffle=False, verbose=0)
    backup = str(tmp_path / "backup")
    m = _model()
    with pytest.raises(KeyboardInterrupt):
        m.fit(x, y, epochs=5, batch_size=8, shuffle=False, verbose=0,
              callbacks=[callbacks.BackupAndRestore(backup), Interrupt(2)])
    assert os.path.exists(os.path.join(backup, "latest.safetensors"))
    # a fresh process would build a new model: start from other weights and a fresh optimizer
    again = _model()
    again.set_weights([w * 0 + 1 for w in again.get_weights()])
    hist = again.fit(x, y, epochs=5, batch_size=8, shuffle=False, verbose=0,
                     callbacks=[callbacks.BackupAndRestore(backup)])
    assert len(hist.history["loss"]) == 2  # epochs 3 and 4 only
    np.testing.assert_allclose(hist.history["loss"], ref_hist.history["loss"][3:], rtol=1e-6)
    for a, b in zip(again.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert again.optimizer.iterations == ref.optimizer.iterations
    assert not os.path.exists(os.path.join(backup, "latest.safetensors"))  # removed after completion


def test_batch_frequency_and_double_checkpoint(tmp_path, data):
    x, y = data
    backup = str(tmp_path / "b")
    cb = callbacks.BackupAndRestore(backup, save_freq=3, double_checkpoint=True, delete_checkpoint=False)
    m = _model()
    m.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    latest = os.path.join(backup, "latest.safetensors")
    assert os.path.exists(latest) and os.path.exists(latest + ".bkp")
    # a damaged latest file falls back to the previous backup
    with open(latest, "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xff\xff\xff")
    resumed = _model()
    resumed.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callbacks.BackupAndRestore(backup)])
    assert np.all(np.isfinite(resumed.get_weights()[0]))


def test_bad_arguments_and_unrestorable_backup(tmp_path, data):
    x, y = data
    with pytest.raises(ValueError, match="backup_dir must be a directory path"):
        callbacks.BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive number of batches. Received: 0"):
        callbacks.BackupAndRestore(str(tmp_path), save_freq=0)
    backup = tmp_path / "bad"
    backup.mkdir()
    (backup / "latest.safetensors").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot be restored"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.BackupAndRestore(str(backup))])
    # a backup of another architecture is refused, not half-loaded
    other = pynncore.Sequential([pynncore.Input((4,)), layers.Dense(2)])
    other.compile("sgd", "mse")
    other.fit(x, np.zeros((40, 2), np.float32), epochs=1, verbose=0,
              callbacks=[callbacks.BackupAndRestore(str(tmp_path / "o"), delete_checkpoint=False)])
    with pytest.raises(ValueError, match="cannot be restored"):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.BackupAndRestore(str(tmp_path / "o"))])
