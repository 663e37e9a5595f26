"""Runtime configuration: threads and a report of how this build runs here."""

from __future__ import annotations

import numbers
from typing import Any

from pynncore import _core


def set_num_threads(n: int) -> None:
    """Set the number of threads kernels use.

    Args:
        n: an integer >= 1. The default is ``OMP_NUM_THREADS``, or the number of cores
            available to the process. Small problems always run on one thread.

    Raises:
        TypeError: `n` is not an integer.
        ValueError: `n` < 1.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"set_num_threads: expected an integer >= 1; got {n!r} of type {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: expected an integer >= 1; got {n}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """Return the number of threads kernels use."""
    return _core.get_num_threads()


def get_config() -> dict[str, Any]:
    """Return the build and runtime configuration as a dict.

    Keys: ``version``, ``cpu_path`` (the instruction-set path in use: ``generic``, ``avx2`` or
    ``avx512``), ``cpu_paths_available`` (paths this CPU supports), ``gemm_kernel``,
    ``openmp``, ``num_threads``, ``cuda``.
    """
    return {
        "version": _core.__version__,
        "cpu_path": _core.get_cpu_path(),
        "cpu_paths_available": list(_core.cpu_paths_available()),
        "gemm_kernel": _core.gemm_kernel(),
        "openmp": bool(_core.openmp_enabled),
        "num_threads": _core.get_num_threads(),
        "cuda": bool(_core.cuda_built),
    }


def show_config() -> None:
    """Print the version, CPU path, available paths, OpenMP, threads and CUDA status."""
    c = get_config()
    print(f"pynncore {c['version']}")
    print(f"  cpu path:        {c['cpu_path']} (gemm kernel {c['gemm_kernel']})")
    print(f"  paths available: {', '.join(c['cpu_paths_available'])}")
    print(f"  openmp:          {'yes' if c['openmp'] else 'no (single-threaded build)'}")
    print(f"  threads:         {c['num_threads']}")
    print(f"  cuda:            {'built' if c['cuda'] else 'not built'}")
