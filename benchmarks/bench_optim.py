"""Optimizer-update benchmark: pynncore's fused updates against torch.optim, same thread count.

For each optimizer and each model size (the 784-256-128-10 MLP's 235,146 parameters, 4M and
64M parameters as one flat float32 array) it times one update step of

* ``pynncore``: ``pynncore.ops.<name>_update`` on flat float32 arrays (one fused pass);
* ``torch``: ``torch.optim.<Name>`` with ``foreach=False`` (the CPU default) on one flat
  parameter tensor;
* ``torch fused``: the same with ``fused=True`` where torch has a fused CPU kernel (SGD, Adam,
  AdamW, Adagrad), ``n/a`` otherwise (both torch columns are ``n/a`` for Lion and Lamb, which
  torch.optim does not have),

and reports throughput in GB/s of optimizer state moved per step: the bytes each update must
read and write at least (parameters, gradient, state slots; e.g. Adam reads p, g, m, v and
writes p, m, v: 28 bytes per parameter), divided by the step time. Lamb needs the norms of the
whole variable before it can move a parameter, so its two passes read p, m and v twice; the
table still counts the 28-byte minimum.

Correctness beside the timing: before and after timing, every candidate is reset to the same
starting state, takes one step, and its parameter change is compared with a float64
reference of the Keras 3 rule on a sample of elements (the updates are elementwise). Keras
and torch place epsilon differently, so the runs use settings where the rules coincide:
epsilon = 0 for RMSprop, Adagrad, Adam, AdamW and Adamax, and torch NAdam with
momentum_decay = 1 (Keras 3's 0.96**t schedule). Epsilon's value does not change the work.
Lamb's reference treats the whole array as one variable (one trust ratio).

Usage:
    python benchmarks/bench_optim.py                 # full run, threads 1 and 2
    python benchmarks/bench_optim.py --quick         # 235K and 4M params, 3 rounds
    python benchmarks/bench_optim.py --sizes 235146,4194304 --optimizers adam,sgd
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

MLP_PARAMS = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10  # 235,146
SIZES = (MLP_PARAMS, 4 * 2**20, 64 * 2**20)
SIZES_QUICK = (MLP_PARAMS, 4 * 2**20)
CHECK_SAMPLE = 200_003  # elements compared with the reference (spread over the whole array)
TOL = 1e-4  # max |delta - delta_ref| / max |delta_ref| for the one-step parameter change


@dataclass(frozen=True)
class OptCase:
    """One optimizer: pynncore update, its state slots and settings, and the torch equivalent."""

    name: str
    slots: tuple
    kwargs: dict
    torch_cls: str | None  # None: torch.optim has no such optimizer
    torch_kwargs: dict
    torch_fused: bool
    slot_init: dict = field(default_factory=dict)  # slot -> constant starting value

    @property
    def bytes_per_param(self) -> int:
        # read g; read and write p and every slot
        return 4 * (1 + 2 * (1 + len(self.slots)))

    @property
    def uses_step(self) -> bool:
        return self.name in ("adam", "adamw", "adamax", "nadam", "lamb")


CASES = [
    OptCase(
        "sgd",
        ("momentum_buf",),
        {"learning_rate": 0.01, "momentum": 0.9},
        "SGD",
        {"lr": 0.01, "momentum": 0.9},
        True,
    ),
    OptCase(
        "rmsprop",
        ("velocity",),
        {"learning_rate": 0.001, "epsilon": 0.0},
        "RMSprop",
        {"lr": 0.001, "alpha": 0.9, "eps": 0.0},
        False,
    ),
    OptCase(
        "adagrad",
        ("accumulator",),
        {"learning_rate": 0.001, "epsilon": 0.0},
        "Adagrad",
        {"lr": 0.001, "initial_accumulator_value": 0.1, "eps": 0.0},
        True,
        {"accumulator": 0.1},
    ),
    # learning rate 1 (the paper's form): at 0.001 the first step is too small for float32
    # parameters to resolve to the check's tolerance
    OptCase(
        "adadelta",
        ("accum_grad", "accum_var"),
        {"learning_rate": 1.0},
        "Adadelta",
        {"lr": 1.0, "rho": 0.95, "eps": 1e-7},
        False,
    ),
    OptCase(
        "adam",
        ("m", "v"),
        {"learning_rate": 0.001, "epsilon": 0.0},
        "Adam",
        {"lr": 0.001, "eps": 0.0},
        True,
    ),
    OptCase(
        "adamw",
        ("m", "v"),
        {"learning_rate": 0.001, "epsilon": 0.0, "weight_decay": 0.004},
        "AdamW",
        {"lr": 0.001, "eps": 0.0, "weight_decay": 0.004},
        True,
    ),
    OptCase(
        "adamax",
        ("m", "u"),
        {"learning_rate": 0.001, "epsilon": 0.0},
        "Adamax",
        {"lr": 0.001, "eps": 0.0},
        False,
    ),
    OptCase(
        "nadam",
        ("m", "v"),
        {"learning_rate": 0.001},
        "NAdam",
        {"lr": 0.001, "eps": 1e-7, "momentum_decay": 1.0},
        False,
    ),
    OptCase("lion", ("m",), {"learning_rate": 0.001}, None, {}, False),
    # learning rate 0.01: the trust ratio (about 0.1 for these parameters) makes a step at
    # 0.001 too small for float32 parameters to resolve to the check's tolerance
    OptCase("lamb", ("m", "v"), {"learning_rate": 0.01, "epsilon": 0.0}, None, {}, False),
]


def _norm(x: np.ndarray) -> float:
    """L2 norm of a float32 array accumulated in double, 1M elements at a time."""
    total = 0.0
    for i in range(0, x.size, 1 << 20):
        c = x[i : i + (1 << 20)].astype(np.float64)
        total += float(np.dot(c, c))
    return math.sqrt(total)


def reference_delta(
    case: OptCase, p: np.ndarray, g: np.ndarray, trust_ratio: float = 1.0
) -> np.ndarray:
    """Float64 parameter change of the first Keras 3 step from the starting state (Lamb:
    with the trust ratio of the whole array, computed by the caller)."""
    p, g = p.astype(np.float64), g.astype(np.float64)
    kw = case.kwargs
    lr = kw["learning_rate"]
    if case.name == "sgd":
        return -lr * g  # m = momentum * 0 - lr * g; p += m
    if case.name == "rmsprop":
        return -lr * g / np.sqrt(0.1 * g * g + kw["epsilon"])
    if case.name == "adagrad":
        return -lr * g / np.sqrt(0.1 + g * g + kw["epsilon"])
    if case.name == "adadelta":
        eps = 1e-7
        return -lr * math.sqrt(eps) * g / np.sqrt(0.05 * g * g + eps)
    if case.name in ("adam", "adamw"):
        decay = -p * kw.get("weight_decay", 0.0) * lr
        alpha = lr * math.sqrt(1 - 0.999) / (1 - 0.9)
        return decay - alpha * (0.1 * g) / (np.sqrt(0.001 * g * g) + kw["epsilon"])
    if case.name == "adamax":
        return -lr * (0.1 * g) / ((1 - 0.9) * (np.abs(g) + kw["epsilon"]))
    if case.name == "nadam":
        u1, u2 = 0.9 * (1 - 0.5 * 0.96), 0.9 * (1 - 0.5 * 0.96**2)
        m_hat = u2 * 0.1 * g / (1 - u1 * u2) + (1 - u1) * g / (1 - u1)
        return -lr * m_hat / (np.sqrt(0.001 * g * g / (1 - 0.999)) + 1e-7)
    if case.name == "lion":
        return -lr * np.sign(0.1 * g)  # c = b1 * 0 + (1 - b1) * g
    if case.name == "lamb":  # m_hat = g, v_hat = g^2: u = g / (|g| + eps)
        return -lr * trust_ratio * g / (np.abs(g) + kw["epsilon"])
    raise ValueError(case.name)


class Runner:
    """One candidate: a resettable state and a zero-argument step function."""

    def __init__(
        self,
        name: str,
        reset: Callable[[], None],
        step: Callable[[], Any],
        params: Callable[[], np.ndarray],
    ):
        self.name, self.reset, self.step, self.params = name, reset, step, params


def pynncore_runner(case: OptCase, p0: np.ndarray, g: np.ndarray, ops) -> Runner:
    n = p0.size
    p = np.empty_like(p0)
    slots = {s: np.empty(n, np.float32) for s in case.slots}
    fn = getattr(ops, f"{case.name}_update")
    state = {"t": 0, "u": 1.0}

    def reset() -> None:
        p[...] = p0
        for s, a in slots.items():
            a.fill(case.slot_init.get(s, 0.0))
        state["t"], state["u"] = 0, 1.0

    def step() -> None:
        state["t"] += 1
        kw = dict(case.kwargs)
        if case.uses_step:
            kw["step"] = state["t"]
        if case.name == "nadam":
            state["u"] = fn(p, g, **slots, u_product=state["u"], **kw)
        else:
            fn(p, g, **slots, **kw)

    reset()
    return Runner("pynncore", reset, step, lambda: p)


def torch_runner(case: OptCase, p0: np.ndarray, g: np.ndarray, torch, fused: bool) -> Runner:
    tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    tp.grad = torch.from_numpy(g)  # shared, read-only for the optimizer
    flags = {"fused": True} if fused else {"foreach": False}
    holder = {}

    def reset() -> None:
        with torch.no_grad():
            tp.copy_(torch.from_numpy(p0))
        holder["opt"] = getattr(torch.optim, case.torch_cls)([tp], **case.torch_kwargs, **flags)

    reset()
    return Runner(
        "torch fused" if fused else "torch",
        reset,
        lambda: holder["opt"].step(),
        lambda: tp.detach().numpy(),
    )


def check(runner: Runner, p0: np.ndarray, idx: np.ndarray, ref: np.ndarray) -> h.Result:
    """Reset, one step, compare the parameter change on the sampled elements."""
    try:
        runner.reset()
        runner.step()
        delta = runner.params()[idx].astype(np.float64) - p0[idx].astype(np.float64)
        err = h.max_rel_error(delta, ref)
    except Exception as exc:  # report, do not abort the whole benchmark
        return h.Result(runner.name, h.ERROR, message=f"{type(exc).__name__}: {exc}")
    if not err <= TOL:
        return h.Result(runner.name, h.WRONG, error=err, message=f"max rel error {err:.3g}")
    return h.Result(runner.name, "ok", error=err)


def run_case(case: OptCase, n: int, rng, ops, torch, rounds: int, min_sample_s: float) -> dict:
    p0 = (0.1 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    idx = np.unique(np.linspace(0, n - 1, min(n, CHECK_SAMPLE)).astype(np.int64))
    trust_ratio = 1.0
    if case.name == "lamb":  # ||p|| / ||u||, u = sign(g) with epsilon 0 (g is never 0 here)
        trust_ratio = _norm(p0) / math.sqrt(np.count_nonzero(g))
    ref = reference_delta(case, p0[idx], g[idx], trust_ratio)

    runners = [pynncore_runner(case, p0, g, ops)]
    results = {}
    if torch is not None and case.torch_cls is not None:
        runners.append(torch_runner(case, p0, g, torch, fused=False))
        if case.torch_fused:
            runners.append(torch_runner(case, p0, g, torch, fused=True))
        else:
            results["torch fused"] = h.Result("torch fused", h.NA)
    else:
        results["torch"] = h.Result("torch", h.NA)
        results["torch fused"] = h.Result("torch fused", h.NA)

    for r in runners:
        results[r.name] = check(r, p0, idx, ref)
    ok = [r for r in runners if results[r.name].ok]
    if ok:
        timings = h.time_interleaved(
            {r.name: r.step for r in ok},
            rounds=rounds,
            min_sample_s=min_sample_s,
            gap_s=h.default_gap_s(),
        )
        for r in ok:
            results[r.name].timing = timings[r.name]
    for r in ok:  # state after thousands of steps must not have broken anything
        again = check(r, p0, idx, ref)
        if not again.ok:
            results[r.name] = again
    return results


def size_label(n: int) -> str:
    if n == MLP_PARAMS:
        return "235K (MLP)"
    return f"{n / 2**20:g}M" if n % 2**20 == 0 else f"{n:,}"


def run_block(num_threads: int, args: argparse.Namespace) -> str:
    import pynncore.ops as ops
    from pynncore import _core

    torch = h.import_torch()
    rounds = h.rounds_from_args(args)
    min_sample_s = 0.02 if args.quick else 0.03
    sizes = args.sizes or (SIZES_QUICK if args.quick else SIZES)
    wanted = set(args.optimizers) if args.optimizers else None
    rng = np.random.default_rng(0)
    rows, notes = [], []
    failed = False
    for case in CASES:
        if wanted is not None and case.name not in wanted:
            continue
        for n in sizes:
            res = run_case(case, n, rng, ops, torch, rounds, min_sample_s)
            gb = case.bytes_per_param * n / 1e9
            p, t, f = res["pynncore"], res["torch"], res["torch fused"]
            failed |= not p.ok
            rows.append(
                [
                    case.name,
                    size_label(n),
                    str(case.bytes_per_param),
                    h.fmt_rate(p, gb),
                    h.fmt_rate(t, gb),
                    h.fmt_rate(f, gb),
                    h.fmt_ratio(p, t),
                    h.fmt_ratio(p, f),
                ]
            )
            for r in res.values():
                if r.message:
                    notes.append(f"{case.name} {size_label(n)}: {r.name} {r.status}: {r.message}")
            del res
            gc.collect()

    header = (
        f"pynncore update loops: {_core.optim_kernel()}. GB/s = state bytes moved per step"
        f" (B/param) / time; cells: median (best) of {rounds} interleaved rounds; ratios use"
        " medians (above 1.00x: pynncore faster)."
    )
    lines = [
        header,
        "",
        h.format_table(
            [
                "optimizer",
                "params",
                "B/param",
                "pynncore GB/s",
                "torch GB/s",
                "torch fused GB/s",
                "pynncore/torch",
                "pynncore/fused",
            ],
            rows,
            markdown=args.markdown,
        ),
    ]
    if notes:
        lines += [""] + notes
    report = "\n".join(lines)
    if failed:
        print(report, flush=True)
        raise SystemExit(3)
    return report


def _int_list(text: str) -> list:
    try:
        values = [int(float(t)) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of positive sizes. Received: {text!r}"
        )
    return values


def _names(text: str) -> list:
    names = [t.strip() for t in text.split(",") if t.strip()]
    known = {c.name for c in CASES}
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected optimizer names from {sorted(known)}. Received: {text!r}"
        )
    return names


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_args(parser)
    parser.add_argument(
        "--sizes",
        type=_int_list,
        default=None,
        help="comma-separated parameter counts (default 235146,4194304,67108864)",
    )
    parser.add_argument(
        "--optimizers",
        type=_names,
        default=None,
        help="comma-separated subset of " + ",".join(c.name for c in CASES),
    )
    return h.main(run_block, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
