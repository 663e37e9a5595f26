"""Shared benchmark harness for pynncore.

Every ``bench_<area>.py`` uses the same pieces:

* ``Candidate`` / ``run_candidates``: check each implementation's output against a float64
  reference first, then time the correct ones interleaved (A, B, C, A, B, C, ...), so that a
  noisy neighbour on the machine hits all of them alike. A candidate with a wrong result is
  reported as ``WRONG``, never with a timing.
* ``main``: runs the benchmark body once per thread count, each in a fresh subprocess with
  ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set, so numpy's BLAS,
  torch and pynncore all use the same count. The child also calls
  ``pynncore.set_num_threads(n)`` and ``torch.set_num_threads(n)``.
* ``machine_info``: one line with date, CPU, load average before/after and library versions.
* ``format_table``: plain-text or Markdown tables.

torch is optional: when it cannot be imported its candidates are reported as ``n/a``.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gc
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

_CHILD_ENV = "PYNNCORE_BENCH_THREADS"
_THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# Idle time between interleaved multi-threaded samples; longer than OpenBLAS's default
# worker spin (2**28 cycles, about 0.1 s at 2-3 GHz).
SWITCH_GAP_S = 0.15

NA = "n/a"
WRONG = "WRONG"
ERROR = "error"


# ---------------------------------------------------------------------------
# Optional imports
# ---------------------------------------------------------------------------


def import_torch() -> Optional[Any]:
    """Return the torch module, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def import_pynncore() -> Optional[Any]:
    """Return the pynncore module, or None when it cannot be imported."""
    try:
        import pynncore
    except ImportError:
        return None
    return pynncore


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds per call of one candidate.

    Attributes:
        best: fastest sample (seconds per call).
        median: median sample (seconds per call).
        samples: every sample, seconds per call, in round order.
        inner: calls per sample (calibrated once).
    """

    best: float
    median: float
    samples: list
    inner: int


def _sample(fn: Callable[[], Any], inner: int) -> float:
    """Total seconds for ``inner`` back-to-back calls of ``fn``."""
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return time.perf_counter() - t0


def calibrate(fn: Callable[[], Any], min_sample_s: float = 0.03, max_inner: int = 10**7) -> int:
    """Smallest call count (roughly) whose total time is at least ``min_sample_s``."""
    inner = 1
    while True:
        t = _sample(fn, inner)
        if t >= min_sample_s or inner >= max_inner:
            return inner
        # Aim 20% above the target so that the samples do not straddle it.
        want = math.ceil(inner * 1.2 * min_sample_s / max(t, 1e-9))
        inner = min(max_inner, max(2 * inner, min(want, 100 * inner)))


def time_interleaved(
    fns: dict,
    rounds: int = 7,
    min_sample_s: float = 0.03,
    warmup: int = 2,
    gap_s: float = 0.0,
) -> dict:
    """Time several callables round-robin and return a ``Timing`` per name.

    Each callable is warmed up (``warmup`` calls), then its inner loop count is calibrated
    once so that one sample lasts at least ``min_sample_s``. Then ``rounds`` rounds run, each
    taking one sample of every callable in turn (A, B, C, A, B, C, ...). The garbage collector
    is off while timing.

    With ``gap_s > 0`` the loop sleeps that long before each sample and then makes one untimed
    call. Libraries keep their worker threads spinning for a while after a call (OpenBLAS for
    about 2**28 cycles, OpenMP runtimes for their spin count); on a machine with few cores the
    previous candidate's spinning pool would otherwise steal cores from the next one.

    Args:
        fns: name -> zero-argument callable.
        rounds: samples per callable.
        min_sample_s: minimum duration of one sample, in seconds.
        warmup: untimed calls before calibration.
        gap_s: idle seconds before each sample (only used with more than one callable).

    Returns:
        name -> ``Timing`` (seconds per call).
    """
    if rounds < 1:
        raise ValueError(f"time_interleaved: expected rounds >= 1. Received: rounds={rounds}")
    names = list(fns)
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        inner = {}
        for name in names:
            for _ in range(warmup):
                fns[name]()
            inner[name] = calibrate(fns[name], min_sample_s)
        samples = {name: [] for name in names}
        for _ in range(rounds):
            for name in names:
                if gap_s > 0 and len(names) > 1:
                    time.sleep(gap_s)
                    fns[name]()
                n = inner[name]
                samples[name].append(_sample(fns[name], n) / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        name: Timing(
            best=min(samples[name]),
            median=statistics.median(samples[name]),
            samples=samples[name],
            inner=inner[name],
        )
        for name in names
    }


# ---------------------------------------------------------------------------
# Correctness
# ---------------------------------------------------------------------------


def to_numpy(x: Any) -> np.ndarray:
    """numpy view/copy of an ndarray or a (CPU) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def max_rel_error(result: Any, reference: np.ndarray) -> float:
    """``max|result - reference| / max|reference|`` in float64; inf on a shape mismatch.

    NaN anywhere in ``result`` gives NaN, which fails every ``err <= tol`` test.
    """
    res = to_numpy(result)
    ref = np.asarray(reference, dtype=np.float64)
    if res.shape != ref.shape:
        return math.inf
    if ref.size == 0:
        return 0.0
    scale = float(np.max(np.abs(ref)))
    if scale == 0.0:
        scale = 1.0
    return float(np.max(np.abs(res.astype(np.float64) - ref))) / scale


def _poison(out: Any) -> None:
    """Fill an output buffer with NaN so that a kernel that skips elements is caught."""
    if hasattr(out, "fill_"):
        out.fill_(float("nan"))
    else:
        out[...] = np.nan


@dataclass
class Candidate:
    """One implementation to check and time.

    Attributes:
        name: column name, e.g. ``"pynncore"``.
        fn: zero-argument callable doing one operation; None marks the candidate ``n/a``
            (library not installed).
        output: buffer ``fn`` writes into; when None, the value ``fn`` returns is checked.
        poison_output: fill ``output`` with NaN before the correctness call (set False for
            operations that read their output, e.g. ``beta=1`` accumulation).
    """

    name: str
    fn: Optional[Callable[[], Any]]
    output: Any = None
    poison_output: bool = True


@dataclass
class Result:
    """Outcome for one candidate.

    ``status`` is ``"ok"``, ``WRONG``, ``ERROR`` or ``NA``; ``timing`` is set only when ``ok``.
    """

    name: str
    status: str
    error: float = math.nan
    timing: Optional[Timing] = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def check_candidate(cand: Candidate, reference: np.ndarray, tol: float) -> Result:
    """Run ``cand`` once and compare its output with ``reference``."""
    if cand.fn is None:
        return Result(cand.name, NA)
    try:
        if cand.output is not None and cand.poison_output:
            _poison(cand.output)
        ret = cand.fn()
        err = max_rel_error(cand.output if cand.output is not None else ret, reference)
    except Exception as exc:  # report, do not abort the whole benchmark
        return Result(cand.name, ERROR, message=f"{type(exc).__name__}: {exc}")
    if not err <= tol:
        return Result(cand.name, WRONG, error=err, message=f"max rel error {err:.3g} > {tol:.3g}")
    return Result(cand.name, "ok", error=err)


def default_gap_s() -> float:
    """Idle time between interleaved samples: 0 single-threaded, ``SWITCH_GAP_S`` otherwise."""
    n = child_threads()
    return SWITCH_GAP_S if n is not None and n > 1 else 0.0


def run_candidates(
    candidates: Sequence[Candidate],
    reference: np.ndarray,
    tol: float = 1e-4,
    rounds: int = 7,
    min_sample_s: float = 0.03,
    gap_s: Optional[float] = None,
) -> dict:
    """Check every candidate against ``reference``, then time the correct ones interleaved.

    Args:
        candidates: implementations to compare; all must produce ``reference``.
        reference: float64 expected output.
        tol: allowed ``max|out - ref| / max|ref|``.
        rounds: interleaved samples per candidate.
        min_sample_s: minimum duration of one sample.
        gap_s: idle seconds before each sample; None picks ``default_gap_s()``.

    Returns:
        name -> ``Result``. Wrong, failing or unavailable candidates carry no timing.
    """
    if gap_s is None:
        gap_s = default_gap_s()
    results = {c.name: check_candidate(c, reference, tol) for c in candidates}
    fns = {c.name: c.fn for c in candidates if results[c.name].ok}
    if fns:
        timings = time_interleaved(fns, rounds=rounds, min_sample_s=min_sample_s, gap_s=gap_s)
        for name, t in timings.items():
            results[name].timing = t
    # Check again after timing: a kernel that corrupts state on repeated calls is caught too.
    for c in candidates:
        r = results[c.name]
        if r.ok:
            again = check_candidate(c, reference, tol)
            if not again.ok:
                results[c.name] = Result(c.name, again.status, again.error, None, again.message)
    return results


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


def fmt_rate(result: Optional[Result], work: float, digits: int = 1) -> str:
    """``"median (best)"`` of ``work / seconds`` (e.g. GFLOP/s), or the failure status."""
    if result is None:
        return NA
    if not result.ok:
        return result.status
    t = result.timing
    return f"{work / t.median:.{digits}f} ({work / t.best:.{digits}f})"


def fmt_ratio(num: Optional[Result], den: Optional[Result]) -> str:
    """Median-time ratio ``den / num`` (speed of ``num`` relative to ``den``)."""
    if num is None or den is None:
        return NA
    for r in (num, den):
        if not r.ok:
            return NA if r.status == NA else "-"
    return f"{den.timing.median / num.timing.median:.2f}x"


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False
) -> str:
    """Plain-text (aligned) or Markdown table; first column left-aligned, others right."""
    cols = len(headers)
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    for row in cells:
        if len(row) != cols:
            raise ValueError(
                f"format_table: expected {cols} cells per row. Received: {len(row)} in {row}"
            )
    if markdown:
        lines = ["| " + " | ".join(cells[0]) + " |"]
        lines.append("|" + "|".join([":---"] + ["---:"] * (cols - 1)) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in cells) for i in range(cols)]

    def line(r: Sequence[str]) -> str:
        parts = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in range(1, cols)]
        return "  ".join(parts).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Machine information
# ---------------------------------------------------------------------------


def loadavg() -> str:
    """First three fields of /proc/loadavg, or ``n/a``."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return NA


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (with family/model numbers), or platform info."""
    name, model, family = None, None, None
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                key, _, val = ln.partition(":")
                key, val = key.strip(), val.strip()
                if key == "model name" and name is None:
                    name = val
                elif key == "model" and model is None:
                    model = val
                elif key == "cpu family" and family is None:
                    family = val
                if name and model and family:
                    break
    except OSError:
        pass
    if name is None:
        return platform.processor() or platform.machine()
    extra = f" (family {family} model {model})" if model and family else ""
    return name + extra


def _openblas_info() -> str:
    """numpy's BLAS name and, for OpenBLAS, the runtime core type and thread count."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        desc = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return "?"
    # Best effort: ask the already-loaded OpenBLAS which kernel set it picked at runtime.
    try:
        with open("/proc/self/maps") as f:
            libs = {ln.split()[-1] for ln in f if "openblas" in ln.lower() and ".so" in ln}
        for path in libs:
            lib = ctypes.CDLL(path)
            for prefix in ("scipy_openblas_", "openblas_"):
                for suffix in ("64_", ""):
                    core = getattr(lib, f"{prefix}get_corename{suffix}", None)
                    nthr = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                    if core is not None and nthr is not None:
                        core.restype = ctypes.c_char_p
                        return f"{desc} [{core().decode()}, {nthr()} thr]"
    except Exception:
        pass
    return desc


def machine_info(load_before: str, load_after: str) -> str:
    """One line: date, CPU, load average before/after, library versions, pynncore CPU path."""
    torch = import_torch()
    pyn = import_pynncore()
    if pyn is not None:
        try:
            cfg = pyn.get_config()
            pyn_desc = (
                f"pynncore {cfg.get('version', '?')} (cpu path {cfg.get('cpu_path', '?')}, "
                f"openmp {cfg.get('openmp', '?')})"
            )
        except Exception as exc:
            pyn_desc = f"pynncore ? (get_config failed: {exc})"
    else:
        pyn_desc = "pynncore not importable"
    torch_desc = f"torch {torch.__version__}" if torch is not None else "torch n/a"
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    return (
        f"{date} | {cpu_model()}, {os.cpu_count()} logical CPUs | "
        f"loadavg before {load_before}, after {load_after} | "
        f"python {platform.python_version()}, numpy {np.__version__}, {torch_desc}, {pyn_desc}"
    )


# ---------------------------------------------------------------------------
# Thread control and entry point
# ---------------------------------------------------------------------------


def parse_threads(text: str) -> list:
    """``"1,2"`` -> ``[1, 2]``."""
    try:
        counts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        counts = []
    if not counts or any(c < 1 for c in counts):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of positive thread counts. Received: {text!r}"
        )
    return counts


def add_common_args(parser: argparse.ArgumentParser, default_threads: str = "1,2") -> None:
    """Options shared by every benchmark: --quick, --threads, --rounds, --markdown."""
    parser.add_argument("--quick", action="store_true", help="fewer sizes and rounds (smoke test)")
    parser.add_argument(
        "--threads",
        type=parse_threads,
        default=parse_threads(default_threads),
        help=f"comma-separated thread counts, one process each (default {default_threads})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="timing rounds per candidate (default 7, 3 with --quick)",
    )
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")


def rounds_from_args(args: argparse.Namespace) -> int:
    if args.rounds is not None:
        return max(1, args.rounds)
    return 3 if args.quick else 7


def child_threads() -> Optional[int]:
    """Thread count when running as a per-thread-count child, else None."""
    v = os.environ.get(_CHILD_ENV)
    return int(v) if v else None


def set_threads(n: int) -> str:
    """Set pynncore's and torch's thread counts; return what each library reports."""
    parts = []
    pyn = import_pynncore()
    if pyn is not None:
        try:
            pyn.set_num_threads(n)
            parts.append(f"pynncore {pyn.get_num_threads()}")
        except Exception as exc:
            parts.append(f"pynncore ? ({type(exc).__name__}: {exc})")
    torch = import_torch()
    if torch is not None:
        torch.set_num_threads(n)
        parts.append(f"torch {torch.get_num_threads()}")
    parts.append(f"numpy BLAS {_openblas_info()}")
    return ", ".join(parts)


def _child_command(argv: Sequence[str]) -> list:
    main_mod = sys.modules["__main__"]
    spec = getattr(main_mod, "__spec__", None)
    if spec is not None and spec.name:
        return [sys.executable, "-m", spec.name, *argv]
    return [sys.executable, os.path.abspath(main_mod.__file__), *argv]


def main(
    body: Callable[[int, argparse.Namespace], str],
    parser: argparse.ArgumentParser,
    argv: Optional[Sequence[str]] = None,
) -> int:
    """Entry point shared by the benchmarks.

    In the parent process, re-runs the calling script once per ``--threads`` count in a
    subprocess with the thread environment variables set, then prints the machine line and each
    child's report. In a child, sets the thread counts and returns ``body(n, args)``'s text.

    Args:
        body: ``body(num_threads, args) -> str``: runs the benchmark, returns its report.
        parser: parser already holding ``add_common_args`` and the benchmark's own options.
        argv: command-line arguments (default ``sys.argv[1:]``).

    Returns:
        Process exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    n = child_threads()
    if n is not None:
        load0 = loadavg()
        threads_desc = set_threads(n)
        report = body(n, args)
        load1 = loadavg()
        title = f"threads={n} ({threads_desc}; loadavg {load0} -> {load1})"
        head = f"### {title}" if args.markdown else f"== {title} =="
        print(f"{head}\n\n{report}" if args.markdown else f"{head}\n{report}", flush=True)
        return 0

    load_before = loadavg()
    reports = []
    status = 0
    for n in args.threads:
        print(f"[bench] running with {n} thread(s) ...", file=sys.stderr, flush=True)
        env = dict(os.environ)
        for var in _THREAD_ENV_VARS:
            env[var] = str(n)
        env[_CHILD_ENV] = str(n)
        proc = subprocess.run(_child_command(argv), env=env, stdout=subprocess.PIPE, text=True)
        out = proc.stdout.rstrip()
        if proc.returncode != 0:
            status = proc.returncode
            out += f"\n(threads={n}: child exited with status {proc.returncode})"
        reports.append(out)
    info = machine_info(load_before, loadavg())
    print(f"_{info}_" if args.markdown else info)
    for rep in reports:
        print()
        print(rep)
    return status


@dataclass
class Peak:
    """FMA peak GFLOP/s measured around a block of measurements."""

    samples: list = field(default_factory=list)

    @property
    def value(self) -> float:
        good = [s for s in self.samples if s == s]
        return max(good) if good else math.nan


def measure_peak(peak: Peak, num_threads: int, seconds: float = 0.2) -> None:
    """Append one ``_core.fma_peak_gflops`` sample to ``peak`` (NaN if unavailable)."""
    try:
        from pynncore import _core

        peak.samples.append(float(_core.fma_peak_gflops(num_threads, seconds)))
    except Exception as exc:
        print(
            f"[bench] fma_peak_gflops failed: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        peak.samples.append(math.nan)
