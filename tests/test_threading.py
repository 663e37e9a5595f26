"""The thread team behind every parallel kernel: both backends, a busy team, sleeping workers.

Kernels open regions through one function (``pyn::parallel``) run by either the native team
(default) or OpenMP (``PYNNCORE_THREADING=openmp``). These tests check that both give the same
results as float64 references, that a team busy with one Python thread's kernel lets another
thread's kernel run alone (correctly), that workers woken from sleep pick up their work, and
that a bad ``PYNNCORE_THREADING`` fails the import with a clear message.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import pynncore
from pynncore import _core, ops


def test_config_reports_threading_backend():
    config = pynncore.get_config()
    expected = os.environ.get("PYNNCORE_THREADING") or "native"
    assert config["threading"] == expected
    assert _core.threading_backend == expected


def test_show_config_names_the_team(capsys):
    pynncore.show_config()
    text = capsys.readouterr().out
    team = "native thread team" if pynncore.get_config()["threading"] == "native" else "OpenMP"
    assert team in text


def _products(rng):
    """Sizes that go through every gemm path at two threads: unpacked, packed with barriers,
    the few-rows path with columns split, and a reduction over a long k."""
    shapes = [(64, 64, 64), (300, 200, 150), (1, 784, 600), (3, 1000, 700), (40, 2300, 50)]
    return [(rng.standard_normal((m, k)).astype(np.float32),
             rng.standard_normal((k, n)).astype(np.float32)) for m, k, n in shapes]


def _check_products(pairs):
    for a, b in pairs:
        ref = a.astype(np.float64) @ b.astype(np.float64)
        out = ops.matmul(a, b)
        err = np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-30)
        assert err < 1e-5, (a.shape, b.shape, err)


def _run_threads(threads: list, errors: list) -> None:
    """Starts and joins the threads; none may hang, and none may have reported an error."""
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert not any(th.is_alive() for th in threads), "a thread hung"
    assert not errors, errors[:5]


def test_products_after_workers_fall_asleep(restore_num_threads, rng):
    # Idle workers spin for a fraction of a millisecond and then sleep; a region opened after
    # that must wake them (or the call would hang) and still give the right answer.
    pynncore.set_num_threads(2)
    pairs = _products(rng)
    for pause in (0.0, 0.002, 0.02):
        time.sleep(pause)
        _check_products(pairs)


def test_busy_team_runs_other_threads_alone(restore_num_threads, rng):
    # Four Python threads share one team of two: whoever finds it busy runs its kernel on its
    # own thread. Every result must still match the reference.
    pynncore.set_num_threads(2)
    pairs = _products(rng)
    refs = [a.astype(np.float64) @ b.astype(np.float64) for a, b in pairs]
    errors: list = []
    start = threading.Barrier(4)

    def worker(seed: int) -> None:
        try:
            start.wait()
            order = np.random.default_rng(seed).permutation(len(pairs) * 10) % len(pairs)
            for i in order:
                a, b = pairs[i]
                out = ops.matmul(a, b)
                err = np.abs(out - refs[i]).max() / np.abs(refs[i]).max()
                if not err < 1e-5:
                    errors.append((i, float(err)))
        except BaseException as e:  # reported by the main thread
            errors.append(repr(e))

    _run_threads([threading.Thread(target=worker, args=(s,)) for s in range(4)], errors)


def test_claim_regions_with_late_workers_mix_with_barrier_regions(restore_num_threads, rng):
    # Small products and convolution forward passes open "claims" regions, in which the caller
    # does not wait for a worker that has not started by the time it finishes its own part
    # (that worker skips the region); convolution backward passes open ordinary regions with
    # barriers. A second Python thread keeps the other core busy, so workers often start late.
    # Back-to-back regions of both kinds must give exactly the single-thread results.
    cases = []
    for n in (40, 64, 96, 200):
        cases.append(("matmul", rng.standard_normal((n, n)).astype(np.float32),
                      rng.standard_normal((n, n)).astype(np.float32)))
    x = rng.standard_normal((6, 12, 12, 16)).astype(np.float32)
    w = (rng.standard_normal((3, 3, 16, 24)) * 0.1).astype(np.float32)
    cases.append(("conv", x, w))
    cases.append(("conv_backward", x, w))

    def run(kind, a, b):
        if kind == "matmul":
            return (ops.matmul(a, b),)
        if kind == "conv":
            return (ops.conv2d(a, b, padding="same"),)
        dy = np.ones((6, 12, 12, 24), np.float32)
        return ops.conv2d_backward(a, b, dy, padding="same")

    pynncore.set_num_threads(1)
    refs = [run(*c) for c in cases]
    pynncore.set_num_threads(2)
    stop = threading.Event()

    def burn() -> None:
        big = np.random.default_rng(0).standard_normal(200_000)
        while not stop.is_set():
            np.sort(big)

    burner = threading.Thread(target=burn)
    burner.start()
    try:
        for i in range(3000):
            c = cases[i % len(cases)]
            got = run(*c)
            want = refs[i % len(cases)]
            if c[0] == "conv_backward":  # per-thread weight-gradient sums: rounding only
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_allclose(got[1], want[1], rtol=0, atol=1e-5 * float(np.abs(want[1]).max()))
            else:
                np.testing.assert_array_equal(got[0], want[0])
    finally:
        stop.set()
        burner.join()


def test_busy_team_convolution_gradients(restore_num_threads, rng):
    # Convolution backward passes from four Python threads: those that find the team busy run
    # alone (one partial sum instead of one per thread) and must still sum exactly what they
    # computed. Covers the Winograd, im2col and direct weight-gradient reductions.
    pynncore.set_num_threads(2)
    cases = []
    for xs, ks, s in [((8, 16, 16, 32), (3, 3, 32, 32), 1), ((8, 15, 13, 8), (3, 3, 8, 24), 2),
                      ((8, 28, 28, 1), (5, 5, 1, 6), 1)]:
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal(ks) * 0.2).astype(np.float32)
        dy = rng.standard_normal(ops.conv2d(x, w, strides=s, padding="same").shape).astype(np.float32)
        _, dk, db = ops.conv2d_backward(x, w, dy, strides=s, padding="same", need_dx=False)
        cases.append((x, w, dy, s, dk, db))
    errors: list = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            for i in range(60):
                x, w, dy, s, dk, db = cases[i % len(cases)]
                _, got_k, got_b = ops.conv2d_backward(x, w, dy, strides=s, padding="same", need_dx=False)
                scale = float(np.abs(dk).max())
                if not (np.abs(got_k - dk).max() <= 1e-5 * scale and np.abs(got_b - db).max() <= 1e-5 * float(np.abs(db).max())):
                    errors.append(i)
        except BaseException as e:  # reported by the main thread
            errors.append(repr(e))

    _run_threads([threading.Thread(target=worker) for _ in range(4)], errors)


_BACKEND_CHILD = """
import numpy as np, pynncore
from pynncore import ops, layers, models
pynncore.set_num_threads(2)
rng = np.random.default_rng(7)
out = {"backend": pynncore.get_config()["threading"]}
a = rng.standard_normal((300, 500)).astype(np.float32)
b = rng.standard_normal((500, 260)).astype(np.float32)
out["matmul"] = ops.matmul(a, b)
x = rng.standard_normal((16, 12, 12, 3)).astype(np.float32)
w = rng.standard_normal((3, 3, 3, 8)).astype(np.float32)
out["conv"] = ops.conv2d(x, w, padding="same")
s = rng.standard_normal((32, 20, 6)).astype(np.float32)
k = rng.standard_normal((6, 64)).astype(np.float32) * 0.3
r = rng.standard_normal((16, 64)).astype(np.float32) * 0.3
out["lstm"] = ops.lstm(s, k, r, return_sequences=True)[0]
np.savez(OUT, **out)
"""


def _run_backend(value, path, tmp_path):
    env = dict(os.environ)
    env.pop("PYNNCORE_THREADING", None)
    if value is not None:
        env["PYNNCORE_THREADING"] = value
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    code = f"OUT = {str(path)!r}\n" + _BACKEND_CHILD
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not _core.openmp_enabled, reason="this build has no OpenMP backend")
def test_openmp_and_native_backends_agree(tmp_path):
    results = {}
    for value in ("native", "openmp"):
        path = tmp_path / f"{value}.npz"
        proc = _run_backend(value, path, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        with np.load(path) as z:
            results[value] = {key: z[key] for key in z.files}
        assert str(results[value]["backend"]) == value
    for key in ("matmul", "conv", "lstm"):
        np.testing.assert_allclose(results["native"][key], results["openmp"][key], rtol=1e-5,
                                   atol=1e-5, err_msg=key)


@pytest.mark.parametrize("value", ["omp", "OpenMP", "tbb"])
def test_unknown_threading_backend_fails_import(value, tmp_path):
    proc = _run_backend(value, tmp_path / "unused.npz", tmp_path)
    assert proc.returncode != 0
    assert "PYNNCORE_THREADING" in proc.stderr
    assert value in proc.stderr
