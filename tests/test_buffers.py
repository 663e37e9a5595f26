"""The cache of output buffers behind the kernels' returned arrays (csrc/bindings/buffers.cpp)."""

from __future__ import annotations

import gc
import os
import threading

import numpy as np
import pytest

from pynncore import _core, _memory, ops


def test_freed_buffers_are_reused_and_released():
    gc.collect()  # garbage from earlier tests would refill the cache below
    _core.release_cached_buffers()
    assert _core.cached_buffer_bytes() == 0
    a = _core.empty_f32((300, 500))  # 600,000 bytes: cached when freed
    assert a.shape == (300, 500) and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % 64 == 0
    address = a.ctypes.data
    a.fill(3.0)
    del a
    gc.collect()
    cached = _core.cached_buffer_bytes()
    assert cached >= 600_000
    b = _core.empty_f32((500, 300))  # same size class: the same block
    assert b.ctypes.data == address
    assert _core.cached_buffer_bytes() == 0  # taken out of the cache again
    del b
    gc.collect()
    c = _core.empty_f32((299, 500))  # a little smaller, the same size class (eight per power of two)
    assert c.ctypes.data == address
    del c
    gc.collect()
    assert _core.release_cached_buffers() >= 600_000
    assert _core.cached_buffer_bytes() == 0


def test_kernel_outputs_come_from_the_cache_and_stay_correct(rng):
    _core.release_cached_buffers()
    x = rng.standard_normal((64, 28, 28, 6)).astype(np.float32)
    results = []
    for _ in range(3):  # the second and third calls reuse the first call's freed block
        y = ops.activation("tanh", x)
        results.append(y.copy())
        del y
        gc.collect()
    assert _core.cached_buffer_bytes() > 0
    for r in results:
        np.testing.assert_allclose(r, np.tanh(x.astype(np.float64)), rtol=2e-6, atol=2e-7)


def test_small_and_zero_sized_arrays():
    assert _memory.empty_f32((3, 4)).shape == (3, 4)
    assert _memory.empty_f32(5).shape == (5,)
    z = _memory.zeros_f32((200, 300))
    assert z.shape == (200, 300) and not z.any()
    assert _core.empty_f32((0, 7)).shape == (0, 7)
    with pytest.raises(ValueError, match="negative dimension"):
        _core.empty_f32((4, -1))
    with pytest.raises(ValueError, match="too large"):
        _core.empty_f32((2**40, 2**40))


def test_many_threads_allocate_and_free_at_once():
    errors = []

    def work(seed):
        r = np.random.default_rng(seed)
        for _ in range(200):
            n = int(r.integers(16_384, 200_000))
            a = _core.empty_f32((n,))
            a.fill(seed)
            if not (a == seed).all():
                errors.append(seed)
            del a

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_allocates():
    keep = [_core.empty_f32((100_000,)) for _ in range(4)]
    del keep
    gc.collect()
    pid = os.fork()
    if pid == 0:  # child: exercise the cache, report through the exit status
        try:
            a = _core.empty_f32((100_000,))
            a.fill(1.0)
            ok = float(a.sum()) == 100_000.0
            del a
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
