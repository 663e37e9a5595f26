"""Utilities: seeding, to_categorical, normalize, resolve_verbose and the progress bar."""

from __future__ import annotations

import io
import random
import re

import numpy as np
import pytest

from pynncore.utils import Progbar, normalize, resolve_verbose, set_random_seed, to_categorical
from pynncore.utils import progbar as progbar_module
from pynncore.utils.rng import get_global_generator, make_generator

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(progbar_module, "_now", c)
    return c


class TTYStream(io.StringIO):
    def isatty(self) -> bool:
        return True


# ---------------------------------------------------------------------------------------------
# Seeding


def test_set_random_seed_seeds_everything():
    set_random_seed(123)
    a = (random.random(), np.random.rand(), get_global_generator().random())
    set_random_seed(123)
    b = (random.random(), np.random.rand(), get_global_generator().random())
    assert a == b
    set_random_seed(124)
    assert get_global_generator().random() != a[2]


@pytest.mark.parametrize(
    "bad, exc", [(1.5, TypeError), ("3", TypeError), (True, TypeError), (-1, ValueError), (2**32, ValueError)]
)
def test_set_random_seed_rejects_bad_seeds(bad, exc):
    with pytest.raises(exc, match="seed"):
        set_random_seed(bad)


def test_make_generator():
    assert make_generator(None) is get_global_generator()
    assert make_generator(5).random() == make_generator(5).random()
    with pytest.raises(ValueError, match="seed"):
        make_generator(-3)


# ---------------------------------------------------------------------------------------------
# to_categorical / normalize


def test_to_categorical_shapes_and_values():
    out = to_categorical([0, 2, 1])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert to_categorical([[1], [0]], num_classes=4).shape == (2, 4)  # trailing 1 dropped
    assert to_categorical(np.zeros((2, 5), int), num_classes=3).shape == (2, 5, 3)
    assert to_categorical(np.array([1.0, 0.0])).tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert to_categorical(3, num_classes=5).tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert to_categorical([], num_classes=2).shape == (0, 2)
    assert to_categorical([1, 0], dtype="int64").dtype == np.int64


@pytest.mark.parametrize(
    "labels, num_classes, exc, pattern",
    [
        ([0, -1, 2], None, ValueError, ">= 0.*-1"),
        ([0, 1.5], None, ValueError, "fractional.*1.5"),
        ([0, np.nan], None, ValueError, "non-finite"),
        ([0, 3], 3, ValueError, "label 3 is out of range for num_classes=3"),
        ([0, 1], 0, ValueError, "num_classes"),
        ([0, 1], 2.0, TypeError, "num_classes"),
        ([], None, ValueError, "empty"),
        (["a", "b"], None, TypeError, "dtype"),
    ],
)
def test_to_categorical_errors(labels, num_classes, exc, pattern):
    with pytest.raises(exc, match=pattern):
        to_categorical(labels, num_classes=num_classes)


def test_normalize():
    out = normalize([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(normalize([[1.0, 3.0]], order=1), [[0.25, 0.75]])
    np.testing.assert_allclose(normalize([[3.0], [4.0]], axis=0), [[0.6], [0.8]])
    assert normalize(np.ones((2, 2), np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="axis=2"):
        normalize(np.ones((2, 2)), axis=2)


# ---------------------------------------------------------------------------------------------
# resolve_verbose


def test_resolve_verbose():
    assert resolve_verbose(0) == 0 and resolve_verbose(1) == 1 and resolve_verbose(2) == 2
    assert resolve_verbose(True) == 1
    assert resolve_verbose("auto", io.StringIO()) == 2
    assert resolve_verbose("auto", TTYStream()) == 1
    for bad in (3, -1, "loud", 1.0, None):
        with pytest.raises(ValueError, match="verbose"):
            resolve_verbose(bad)


def test_auto_is_two_under_capture(capsys):
    assert resolve_verbose("auto") == 2


# ---------------------------------------------------------------------------------------------
# Progbar


def test_verbose2_prints_one_summary_line(capsys, clock):
    bar = Progbar(target=4, verbose=2)
    for step in range(1, 5):
        clock.t += 0.5
        bar.update(step, [("loss", float(step)), ("acc", 0.5)])
    out = capsys.readouterr().out
    # Loss averaged over steps (1+2+3+4)/4; first step excluded from the per-step time.
    assert out == "4/4 - 2s - 500ms/step - loss: 2.5000 - acc: 0.5000\n"


def test_verbose1_non_tty_writes_only_whole_lines(capsys, clock):
    bar = Progbar(target=10, verbose=1)
    for step in range(1, 11):
        clock.t += 0.01
        bar.update(step, {"loss": 0.25})
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out
    assert out == "10/10 [==============================] - 0s 10ms/step - loss: 0.2500\n"


def test_verbose1_non_tty_intermediate_lines_are_rate_limited(capsys, clock):
    bar = Progbar(target=100, verbose=1, width=10)
    for step in range(1, 101):
        clock.t += 0.25  # 25 s in all: lines at ~10 s and ~20 s, then the final one
        bar.update(step, [("loss", 1.0)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(" 40/100 [====>.....] - ETA: 15s 250ms/step - loss: 1.0000")
    assert lines[1].startswith(" 80/100 [========>.] - ETA: 5s")
    assert lines[2] == "100/100 [==========] - 25s 250ms/step - loss: 1.0000"


def test_verbose1_tty_redraws_in_place(clock):
    stream = TTYStream()
    bar = Progbar(target=3, verbose=1, width=6, file=stream)
    for step in range(1, 4):
        clock.t += 1.0
        bar.update(step, [("loss", 0.5)])
    out = stream.getvalue()
    assert out.count("\r") == 3 and out.endswith("\n") and out.count("\n") == 1
    frames = [ANSI.sub("", f) for f in out.split("\r")[1:]]
    assert frames[0] == "1/3 ━━━━━━ 2s 1s/step - loss: 0.5000"
    assert frames[2] == "3/3 ━━━━━━ 3s 1s/step - loss: 0.5000\n"
    assert "\x1b[32m" in out  # the done part is coloured on a terminal


def test_verbose1_tty_respects_interval(clock):
    stream = TTYStream()
    bar = Progbar(target=1000, verbose=1, interval=0.05, file=stream)
    for step in range(1, 1001):
        clock.t += 0.001
        bar.update(step)
    # one frame at the start, one per 50 steps (0.05 s) after it, and the final one
    assert 20 <= stream.getvalue().count("\r") <= 22


def test_stateful_metrics_and_unknown_target(capsys, clock):
    bar = Progbar(target=None, verbose=1, stateful_metrics=["acc"])
    bar.update(1, [("acc", 0.2), ("loss", 4.0)])
    clock.t += 20
    bar.update(3, [("acc", 0.9), ("loss", 1.0)])
    out = capsys.readouterr().out
    # unknown target: never final by itself; the 2nd update is past LOG_INTERVAL
    assert out.startswith("      3/Unknown - 20s")
    assert "acc: 0.9000" in out and "loss: 2.0000" in out  # (4*1 + 1*2) / 3
    bar.update(3, finalize=True)
    assert capsys.readouterr().out.startswith("      3/Unknown - 20s")


def test_values_format_small_and_text(capsys, clock):
    bar = Progbar(target=1, verbose=2)
    bar.update(1, [("lr", 1e-5), ("tag", "abc"), ("zero", 0.0)])
    out = capsys.readouterr().out
    assert "lr: 1.0000e-05" in out and "tag: abc" in out and "zero: 0.0000" in out


def test_verbose0_is_silent_and_add_advances(capsys, clock):
    bar = Progbar(target=5, verbose=0)
    bar.add(2, [("loss", 1.0)])
    bar.add(3, [("loss", 1.0)])
    assert capsys.readouterr().out == ""
    assert bar._seen_so_far == 5


def test_eta_formats():
    assert progbar_module._format_duration(5.7) == "5s"
    assert progbar_module._format_duration(125) == "2:05"
    assert progbar_module._format_duration(3725) == "1:02:05"
    assert progbar_module._format_per_unit(0.0123, "step") == "12ms/step"
    assert progbar_module._format_per_unit(2e-5, "sample") == "20us/sample"
    assert progbar_module._format_per_unit(2.2, "step") == "2s/step"


@pytest.mark.parametrize(
    "kwargs", [{"target": -1}, {"target": 3, "width": 0}, {"target": 3, "interval": -1}, {"target": 3, "verbose": 5}]
)
def test_progbar_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        Progbar(**kwargs)
