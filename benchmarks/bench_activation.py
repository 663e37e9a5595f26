"""Activation benchmark: pynncore.ops.activation / activation_grad against numpy and torch.

For each thread count (default 1 and 2, each in its own process) it times the forward and
backward passes of relu, sigmoid, tanh, gelu (exact, erf form) and softmax on 1M and 16M
floats and on a Dense layer's output (128, 256) with its bias added in the same pass, after
checking every library's result against a float64 reference. Rates are GB/s of the memory
each pass must touch: forward reads x and writes y (8 bytes per element), backward reads x or
y and dy and writes dx (12 bytes per element); every library writes into a preallocated
numpy output (torch through its aten ``out=`` variants on ``torch.from_numpy`` views), so no
run pays for allocation and all write to the same kind of memory.

numpy has no erf, so its gelu cells read ``n/a``. An accuracy table of the vector math
(``_core.vector_math``) against float64 follows the timings in the first block.

Usage:
    python benchmarks/bench_activation.py                  # full run, threads 1 and 2
    python benchmarks/bench_activation.py --quick          # smoke test
    python benchmarks/bench_activation.py --threads 2 --markdown
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

ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu", "softmax")
SOFTMAX_COLS = 1024
TOLERANCE = 1e-5  # max|out - ref| / max|ref|


@dataclass(frozen=True)
class Shape:
    label: str
    shape: tuple
    bias: bool = False

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def shapes(quick: bool, name: str) -> list:
    big = [] if quick else [1 << 24]
    out = []
    for n in [1 << 20, *big]:
        label = f"{n >> 20}M"
        out.append(Shape(label, (n // SOFTMAX_COLS, SOFTMAX_COLS) if name == "softmax" else (n,)))
    out.append(Shape("dense 128x256 +bias", (128, 256), bias=True))
    return out


# --------------------------------------------------------------------------------------------
# float64 references


def _erf64(z: np.ndarray, torch) -> np.ndarray:
    if torch is not None:
        return torch.special.erf(torch.from_numpy(z)).numpy()
    out = np.empty_like(z)
    erf = np.frompyfunc(math.erf, 1, 1)
    for i in range(0, z.size, 1 << 20):
        out.flat[i : i + (1 << 20)] = erf(z.flat[i : i + (1 << 20)]).astype(np.float64)
    return out


def ref_forward(name: str, z: np.ndarray, torch) -> np.ndarray:
    z = z.astype(np.float64)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    if name == "tanh":
        return np.tanh(z)
    if name == "gelu":
        return 0.5 * z * (1.0 + _erf64(z / math.sqrt(2.0), torch))
    t = z - z.max(axis=-1, keepdims=True)
    e = np.exp(t)
    return e / e.sum(axis=-1, keepdims=True)


def ref_backward(name: str, z: np.ndarray, y32: np.ndarray, dy: np.ndarray, torch) -> np.ndarray:
    """dy * f'(z), from y32 where the kernels read y (relu, sigmoid, tanh, softmax)."""
    z, y, g = z.astype(np.float64), y32.astype(np.float64), dy.astype(np.float64)
    if name == "relu":
        return g * (y > 0)
    if name == "sigmoid":
        return g * y * (1.0 - y)
    if name == "tanh":
        return g * (1.0 - y) * (1.0 + y)
    if name == "gelu":
        cdf = 0.5 * (1.0 + _erf64(z / math.sqrt(2.0), torch))
        return g * (cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi))
    return y * (g - np.sum(g * y, axis=-1, keepdims=True))


# --------------------------------------------------------------------------------------------
# Candidates


def numpy_forward(name: str, x, bias, out):
    """numpy with preallocated outputs; None where numpy has no such function."""
    if name == "gelu":
        return None

    def run():
        src = x
        if bias is not None:
            np.add(x, bias, out=out)
            src = out
        if name == "relu":
            np.maximum(src, 0.0, out=out)
        elif name == "sigmoid":
            np.negative(src, out=out)
            np.exp(out, out=out)
            np.add(out, 1.0, out=out)
            np.reciprocal(out, out=out)
        elif name == "tanh":
            np.tanh(src, out=out)
        else:
            np.subtract(src, src.max(axis=-1, keepdims=True), out=out)
            np.exp(out, out=out)
            np.divide(out, out.sum(axis=-1, keepdims=True), out=out)

    return run


def numpy_backward(name: str, y, dy, out):
    if name == "gelu":
        return None

    def run():
        if name == "relu":
            np.multiply(dy, y > 0, out=out)
        elif name == "sigmoid":
            np.subtract(1.0, y, out=out)
            np.multiply(out, y, out=out)
            np.multiply(out, dy, out=out)
        elif name == "tanh":
            np.multiply(y, y, out=out)
            np.subtract(1.0, out, out=out)
            np.multiply(out, dy, out=out)
        else:
            s = np.einsum("ij,ij->i", dy, y)[:, None]
            np.subtract(dy, s, out=out)
            np.multiply(out, y, out=out)

    return run


def torch_forward(torch, name: str, x, bias, out):
    aten = torch.ops.aten

    def act(src):
        if name == "relu":
            aten.clamp_min.out(src, 0.0, out=out)
        elif name == "sigmoid":
            torch.sigmoid(src, out=out)
        elif name == "tanh":
            torch.tanh(src, out=out)
        elif name == "gelu":
            aten.gelu.out(src, approximate="none", out=out)
        else:
            aten._softmax.out(src, -1, False, out=out)

    if bias is None:
        return lambda: act(x)

    def run():
        torch.add(x, bias, out=out)
        act(out)

    return run


def torch_backward(torch, name: str, x, y, dy, out):
    aten = torch.ops.aten
    if name == "relu":
        return lambda: aten.threshold_backward.grad_input(dy, y, 0.0, grad_input=out)
    if name == "sigmoid":
        return lambda: aten.sigmoid_backward.grad_input(dy, y, grad_input=out)
    if name == "tanh":
        return lambda: aten.tanh_backward.grad_input(dy, y, grad_input=out)
    if name == "gelu":
        return lambda: aten.gelu_backward.grad_input(dy, x, approximate="none", grad_input=out)
    return lambda: aten._softmax_backward_data.out(dy, y, -1, torch.float32, grad_input=out)


def make_cases(name: str, shape: Shape, rng, ops, torch):
    """(forward, backward) as (reference, candidates) pairs."""
    x = (rng.standard_normal(shape.shape, dtype=np.float32) * 3).astype(np.float32)
    bias = rng.standard_normal(shape.shape[-1], dtype=np.float32) if shape.bias else None
    z = x + bias if bias is not None else x  # the float32 pre-activation
    ref_y = ref_forward(name, z, torch)
    y32 = ref_y.astype(np.float32)
    dy = rng.standard_normal(shape.shape, dtype=np.float32)
    ref_dx = ref_backward(name, z, y32, dy, torch)

    outs = {k: np.empty(shape.shape, dtype=np.float32) for k in ("pf", "nf", "pb", "nb")}
    # The backward pass of a Dense layer sees the pre-activation z (bias included).
    reads_x = name == "gelu"
    fwd = [
        h.Candidate(
            "pynncore",
            lambda: ops.activation(name, x, out=outs["pf"], bias=bias),
            output=outs["pf"],
        ),
        h.Candidate("numpy", numpy_forward(name, x, bias, outs["nf"]), output=outs["nf"]),
    ]
    bwd = [
        h.Candidate(
            "pynncore",
            lambda: ops.activation_grad(
                name, x=z if reads_x else None, y=None if reads_x else y32, dy=dy, out=outs["pb"]
            ),
            output=outs["pb"],
        ),
        h.Candidate("numpy", numpy_backward(name, y32, dy, outs["nb"]), output=outs["nb"]),
    ]
    if torch is not None:
        tx, tz, ty, tdy = (torch.from_numpy(a) for a in (x, z, y32, dy))
        tb = torch.from_numpy(bias) if bias is not None else None
        # Outputs allocated like the others' (numpy), so every library writes to memory of the
        # same kind (torch's own allocator may hand out huge pages, which alone moves 1M-float
        # passes by 20%).
        tf = torch.from_numpy(np.empty(shape.shape, dtype=np.float32))
        tg = torch.from_numpy(np.empty(shape.shape, dtype=np.float32))
        fwd.append(h.Candidate("torch", torch_forward(torch, name, tx, tb, tf), output=tf))
        bwd.append(h.Candidate("torch", torch_backward(torch, name, tz, ty, tdy, tg), output=tg))
    else:
        fwd.append(h.Candidate("torch", None))
        bwd.append(h.Candidate("torch", None))
    return (ref_y, fwd), (ref_dx, bwd)


# --------------------------------------------------------------------------------------------
# Accuracy of the vector math


def accuracy_table(markdown: bool) -> str:
    from pynncore import _core

    rng = np.random.default_rng(1)
    mag = np.exp(rng.uniform(np.log(1e-30), np.log(100.0), 400_000))
    general = np.concatenate([mag, -mag, rng.uniform(-10, 10, 400_000)]).astype(np.float32)
    positive = np.abs(general)
    erf = np.frompyfunc(math.erf, 1, 1)
    erfc = np.frompyfunc(math.erfc, 1, 1)
    refs = {
        "exp": (general, np.exp),
        "expm1": (general, np.expm1),
        "log": (positive, np.log),
        "log1p": (np.concatenate([positive, -positive[positive < 1]]), np.log1p),
        "tanh": (general, np.tanh),
        "erf": (general, lambda z: erf(z).astype(np.float64)),
        "erfc": (general, lambda z: erfc(z).astype(np.float64)),
    }
    rows = []
    for fn, (x, f) in refs.items():
        with np.errstate(all="ignore"):
            ref = f(x.astype(np.float64))
        ok = np.isfinite(ref) & (np.abs(ref) < 3.4e38) & (np.abs(ref) > 1.2e-38)
        ulp = 2.0 ** (np.floor(np.log2(np.abs(ref[ok]))) - 23)
        cells = [fn]
        for path in _core.cpu_paths_available():
            previous = _core.get_cpu_path()
            _core.set_cpu_path(path)
            got = _core.vector_math(fn, x).astype(np.float64)
            _core.set_cpu_path(previous)
            cells.append(f"{np.max(np.abs(got[ok] - ref[ok]) / ulp):.2f}")
        rows.append(cells)
    headers = ["function"] + [f"max ulp ({p})" for p in _core.cpu_paths_available()]
    return (
        f"Vector math vs float64 on {general.size} inputs (normal range; subnormal results"
        " excluded):\n\n" + h.format_table(headers, rows, markdown=markdown)
    )


# --------------------------------------------------------------------------------------------


def run_block(num_threads: int, args: argparse.Namespace) -> str:
    import pynncore.ops as ops

    torch = h.import_torch()
    rounds = h.rounds_from_args(args)
    min_sample_s = 0.02 if args.quick else 0.03
    rng = np.random.default_rng(0)
    rows, notes = [], []
    failed = False
    for name in ACTIVATIONS:
        for shape in shapes(args.quick, name):
            fwd, bwd = make_cases(name, shape, rng, ops, torch)
            for direction, (ref, cands), bytes_per in (("fwd", fwd, 8), ("bwd", bwd, 12)):
                res = h.run_candidates(
                    cands, ref, tol=TOLERANCE, rounds=rounds, min_sample_s=min_sample_s
                )
                gb = bytes_per * shape.size / 1e9
                p, n, t = res["pynncore"], res["numpy"], res["torch"]
                failed |= not p.ok
                rows.append(
                    [
                        f"{name} {direction}",
                        shape.label,
                        h.fmt_rate(p, gb),
                        h.fmt_rate(n, gb),
                        h.fmt_rate(t, gb),
                        h.fmt_ratio(p, n),
                        h.fmt_ratio(p, t),
                    ]
                )
                for r in res.values():
                    if r.message:
                        notes.append(
                            f"{name} {direction} {shape.label}: {r.name} {r.status}: {r.message}"
                        )
    lines = [
        (
            "GB/s: bytes a pass must move (8 per element forward, 12 backward) / time, median"
            f" (best) of {rounds} interleaved rounds; ratios use medians (above 1.00x: pynncore"
            " faster)."
        ),
        "",
        h.format_table(
            ["activation", "size", "pynncore GB/s", "numpy GB/s", "torch GB/s",
             "pynncore/numpy", "pynncore/torch"],
            rows,
            markdown=args.markdown,
        ),
    ]  # fmt: skip
    if notes:
        lines += [""] + notes
    if num_threads == min(args.threads) and not args.no_accuracy:
        lines += ["", accuracy_table(args.markdown)]
    report = "\n".join(lines)
    if failed:
        print(report, flush=True)
        raise SystemExit(3)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_args(parser)
    parser.add_argument("--no-accuracy", action="store_true", help="skip the vector math table")
    return h.main(run_block, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
