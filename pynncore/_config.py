"""Runtime configuration: threads and a report of how this build runs here."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

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


def set_deterministic(enabled: bool = True) -> None:
    """Make training results independent of the thread count.

    With ``set_deterministic(True)``, every reduction whose partial sums would follow the split
    of the work between threads (the sums of squares behind ``clipnorm`` and
    ``global_clipnorm``) adds fixed-size blocks in a fixed order instead. The other kernels
    already compute each output element in one fixed order whatever the thread count: GEMM
    never splits the ``k`` dimension between threads, and losses, activations and optimizer
    updates work row by row or element by element. Together with
    ``pynncore.utils.set_random_seed``, training the same model on the same data then gives
    bitwise identical weights with 1 or many threads.

    The guarantee holds for one build on one CPU path (``get_config()["cpu_path"]``):
    different instruction sets (AVX-512, AVX2, generic) and different pynncore versions may
    round differently. See ``docs/determinism.md``.

    Args:
        enabled: True to turn the mode on, False to go back to the default.

    Raises:
        TypeError: `enabled` is not a bool.

    Example:
        >>> import pynncore
        >>> pynncore.set_deterministic(True)
        >>> pynncore.get_deterministic()
        True
        >>> pynncore.set_deterministic(False)
    """
    if not isinstance(enabled, (bool, np.bool_)):
        raise TypeError(f"set_deterministic: expected True or False; got {enabled!r} of type {type(enabled).__name__}")
    _core.set_deterministic(bool(enabled))


def get_deterministic() -> bool:
    """Return whether deterministic mode (see :func:`set_deterministic`) is on."""
    return bool(_core.get_deterministic())


def get_config() -> dict[str, Any]:
    """Return the build and runtime configuration as a dict.

    Keys: ``version``, ``cpu_path`` (the instruction-set path in use: ``generic``, ``avx2`` or
    ``avx512``), ``cpu_paths_available`` (paths this CPU supports), ``gemm_kernel``,
    ``openmp`` (built with OpenMP), ``threading`` (what runs parallel regions: ``native``, the
    library's own thread team, or ``openmp`` when ``PYNNCORE_THREADING=openmp`` was set at
    import in a build with OpenMP), ``num_threads``, ``cuda``, ``deterministic``.
    """
    return {
        "version": _core.__version__,
        "cpu_path": _core.get_cpu_path(),
        "cpu_paths_available": list(_core.cpu_paths_available()),
        "gemm_kernel": _core.gemm_kernel(),
        "openmp": bool(_core.openmp_enabled),
        "threading": str(_core.threading_backend),
        "num_threads": _core.get_num_threads(),
        "cuda": bool(_core.cuda_built),
        "deterministic": bool(_core.get_deterministic()),
    }


def show_config() -> None:
    """Print the version, CPU path, available paths, OpenMP, threads and CUDA status."""
    c = get_config()
    print(f"pynncore {c['version']}")
    print(f"  cpu path:        {c['cpu_path']} (gemm kernel {c['gemm_kernel']})")
    print(f"  paths available: {', '.join(c['cpu_paths_available'])}")
    print(f"  openmp:          {'yes' if c['openmp'] else 'no'}")
    team = "native thread team" if c["threading"] == "native" else "OpenMP (PYNNCORE_THREADING=openmp)"
    print(f"  threads:         {c['num_threads']} ({team})")
    print(f"  cuda:            {'built' if c['cuda'] else 'not built'}")
