"""sgemm benchmark: pynncore.ops.matmul against numpy (OpenBLAS) and torch, same thread count.

For each thread count (default 1 and 2, each in its own process) it measures the machine's FMA
peak with ``_core.fma_peak_gflops`` at the start and end of the block, then, for square sgemm
and the three GEMMs of a Dense(784 -> 256) training step at batch 128, checks every library's
result against a float64 reference and times them interleaved.

Usage:
    python benchmarks/bench_gemm.py                  # full run, threads 1 and 2
    python benchmarks/bench_gemm.py --quick          # smoke test, well under a minute
    python benchmarks/bench_gemm.py --threads 2 --markdown
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

SQUARE_SIZES = (32, 64, 128, 256, 512, 1024, 2048)
SQUARE_SIZES_QUICK = (64, 256, 1024)
PEAK_SECONDS = 0.2


@dataclass(frozen=True)
class Case:
    """``C(m, n) = op(A) @ op(B)`` with inner dimension ``k``."""

    label: str
    m: int
    n: int
    k: int
    transpose_a: bool = False
    transpose_b: bool = False

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k


def cases(quick: bool) -> list:
    sizes = SQUARE_SIZES_QUICK if quick else SQUARE_SIZES
    out = [Case(f"square n={s}", s, s, s) for s in sizes]
    # Dense layer, inputs 784, units 256, batch 128: X (128, 784), W (784, 256), dY (128, 256).
    out.append(Case("dense fwd NN X(128x784)@W(784x256)", 128, 256, 784))
    out.append(Case("dense dX NT dY(128x256)@W(784x256)^T", 128, 784, 256, transpose_b=True))
    out.append(Case("dense dW TN X(128x784)^T@dY(128x256)", 784, 256, 128, transpose_a=True))
    return out


def make_candidates(case: Case, rng: np.random.Generator, ops, torch) -> tuple:
    """Operands as stored in memory, the float64 reference, and one candidate per library."""
    a_shape = (case.k, case.m) if case.transpose_a else (case.m, case.k)
    b_shape = (case.n, case.k) if case.transpose_b else (case.k, case.n)
    a = rng.standard_normal(a_shape, dtype=np.float32)
    b = rng.standard_normal(b_shape, dtype=np.float32)
    a_op = a.T if case.transpose_a else a  # views: BLAS gets a transpose flag, no copy
    b_op = b.T if case.transpose_b else b
    reference = a_op.astype(np.float64) @ b_op.astype(np.float64)

    out_pyn = np.empty((case.m, case.n), dtype=np.float32)
    pyn = h.Candidate(
        "pynncore",
        lambda: ops.matmul(
            a,
            b,
            transpose_a=case.transpose_a,
            transpose_b=case.transpose_b,
            out=out_pyn,
        ),
        output=out_pyn,
    )

    out_np = np.empty((case.m, case.n), dtype=np.float32)
    npy = h.Candidate("numpy", lambda: np.matmul(a_op, b_op, out=out_np), output=out_np)

    if torch is not None:
        ta = torch.from_numpy(a)
        tb = torch.from_numpy(b)
        ta = ta.t() if case.transpose_a else ta
        tb = tb.t() if case.transpose_b else tb
        out_t = torch.empty((case.m, case.n), dtype=torch.float32)
        tor = h.Candidate("torch", lambda: torch.matmul(ta, tb, out=out_t), output=out_t)
    else:
        tor = h.Candidate("torch", None)
    return reference, [pyn, npy, tor]


def tolerance(k: int) -> float:
    """Allowed ``max|err| / max|ref|`` for float32 accumulation over ``k`` terms."""
    return 1e-5 * max(1.0, math.sqrt(k))


def run_block(num_threads: int, args: argparse.Namespace) -> str:
    import pynncore.ops as ops

    torch = h.import_torch()
    rounds = h.rounds_from_args(args)
    min_sample_s = 0.02 if args.quick else 0.03
    rng = np.random.default_rng(0)

    peak = h.Peak()
    h.measure_peak(peak, num_threads, PEAK_SECONDS)
    rows, notes = [], []
    pynncore_failed = False
    for case in cases(args.quick):
        reference, cands = make_candidates(case, rng, ops, torch)
        res = h.run_candidates(
            cands,
            reference,
            tol=tolerance(case.k),
            rounds=rounds,
            min_sample_s=min_sample_s,
        )
        gflop = case.flops / 1e9
        p, n, t = res["pynncore"], res["numpy"], res["torch"]
        pynncore_failed |= not p.ok
        if p.ok and peak.value == peak.value:
            pct = f"{100.0 * gflop / p.timing.median / peak.value:.0f}%"
        else:
            pct = h.NA if p.status == h.NA else "-"
        rows.append(
            [
                case.label,
                h.fmt_rate(p, gflop),
                h.fmt_rate(n, gflop),
                h.fmt_rate(t, gflop),
                h.fmt_ratio(p, n),
                h.fmt_ratio(p, t),
                pct,
            ]
        )
        for r in res.values():
            if r.message:
                notes.append(f"{case.label}: {r.name} {r.status}: {r.message}")
    h.measure_peak(peak, num_threads, PEAK_SECONDS)

    start, end = (f"{s:.1f}" for s in peak.samples)
    lines = [
        f"FMA peak: {start} GFLOP/s at start, {end} at end; "
        f"% peak uses the max, {peak.value:.1f} GFLOP/s. "
        f"GFLOP/s cells: median (best) of {rounds} interleaved rounds; ratios use medians.",
        "",
        h.format_table(
            [
                "shape",
                "pynncore GFLOP/s",
                "numpy GFLOP/s",
                "torch GFLOP/s",
                "pynncore/numpy",
                "pynncore/torch",
                "pynncore % peak",
            ],
            rows,
            markdown=args.markdown,
        ),
    ]
    if notes:
        lines += [""] + notes
    report = "\n".join(lines)
    if pynncore_failed:
        # A wrong or failing pynncore result makes the run fail (CI runs --quick).
        print(report, flush=True)
        raise SystemExit(3)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_args(parser)
    return h.main(run_block, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
