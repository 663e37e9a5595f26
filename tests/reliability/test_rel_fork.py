"""Fork safety: a child forked after the parent ran multi-threaded kernels must not hang.

Each scenario runs in a fresh interpreter (subprocess with a timeout) so that a hang fails the
test instead of the suite."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap

import pytest

import pynncore

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork start method: Linux only")

_PRELUDE = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, threading
    import numpy as np
    import pynncore
    from pynncore import layers, ops

    pynncore.set_num_threads(2)
    pynncore.utils.set_random_seed(0)
    model = pynncore.Sequential([layers.Dense(256, activation="relu", input_dim=64), layers.Dense(3)])
    x = np.random.default_rng(0).standard_normal((512, 64)).astype(np.float32)
    a = np.random.default_rng(1).standard_normal((300, 300)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    ops.matmul(a, a)  # a threaded GEMM: libgomp's worker pool now exists

    def child(q):
        y = model.predict(x, verbose=0)
        z = ops.matmul(a, a)
        pynncore.set_num_threads(2)  # accepted; the child stays on one thread
        z2 = ops.matmul(a, a)
        q.put((bool(np.array_equal(y, expected)), pynncore.get_num_threads(),
               bool(pynncore._core.forked_single_threaded()), bool(np.array_equal(z, z2))))
    """
)


def _run(body: str, timeout: float = 120) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tempfile.gettempdir(),  # the installed package, not the source tree
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_multiprocessing_fork_child_predicts():
    out = _run(
        """
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        res = q.get(timeout=60)
        p.join(60)
        print(p.exitcode, res)
        """
    )
    assert out.strip() == "0 (True, 1, True, True)"


def test_fork_from_a_thread_while_another_thread_predicts():
    out = _run(
        """
        stop = threading.Event()
        def busy():
            while not stop.is_set():
                model.predict(x, verbose=0)
        t = threading.Thread(target=busy)
        t.start()
        ctx = mp.get_context("fork")
        results = []
        for _ in range(3):
            q = ctx.Queue()
            p = ctx.Process(target=child, args=(q,))
            p.start()
            results.append(q.get(timeout=60))
            p.join(60)
            assert p.exitcode == 0, p.exitcode
        stop.set()
        t.join()
        print(all(r[0] and r[3] for r in results))
        """
    )
    assert out.strip() == "True"


def test_os_fork_child_and_parent_keep_working():
    out = _run(
        """
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            ok = np.array_equal(model.predict(x, verbose=0), expected)
            os.write(w, b"1" if ok else b"0")
            os._exit(0)
        os.close(w)
        got = os.read(r, 1)
        _, status = os.waitpid(pid, 0)
        # the parent still runs threaded and is not marked
        print(got.decode(), os.waitstatus_to_exitcode(status), pynncore.get_num_threads(),
              pynncore._core.forked_single_threaded(),
              np.array_equal(model.predict(x, verbose=0), expected))
        """
    )
    assert out.strip() == "1 0 2 False True"


def test_child_forked_before_any_threaded_kernel_keeps_threads():
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import os, numpy as np, pynncore
                from pynncore import ops
                pynncore.set_num_threads(2)
                pid = os.fork()
                if pid == 0:
                    a = np.ones((300, 300), np.float32)
                    ok = np.allclose(ops.matmul(a, a), 300.0)
                    os._exit(0 if ok and pynncore.get_num_threads() == 2
                             and not pynncore._core.forked_single_threaded() else 3)
                _, status = os.waitpid(pid, 0)
                print(os.waitstatus_to_exitcode(status))
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tempfile.gettempdir(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "0"


def test_fork_state_in_this_process():
    assert pynncore._core.forked_single_threaded() is False
