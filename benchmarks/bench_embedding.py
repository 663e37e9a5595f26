"""Embedding benchmark: lookup (forward) and gradient scatter-add (backward).

Cases are (vocabulary V, width D, ids per batch): a word-level text model with a large
vocabulary, a small vocabulary, and a character-level model whose ids repeat many times.
- forward: ``Embedding.forward`` (checked gather) against numpy ``table.take(ids, axis=0)`` and
  torch ``F.embedding``;
- backward: adding the rows of ``dy`` into ``grad[ids]`` (repeated ids accumulate), into a
  preallocated gradient: ``Embedding.backward`` against numpy ``np.add.at`` and torch
  ``grad.index_add_``.
Each result is compared with a float64 reference (``np.add.at`` in float64) before timing.

Usage:
    python benchmarks/bench_embedding.py [--quick] [--threads 1,2] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

CASES = [(20000, 128, 32 * 200), (1000, 64, 32 * 100), (64, 32, 64 * 256)]
QUICK_CASES = [(20000, 128, 32 * 50), (64, 32, 32 * 64)]


def _check(name: str, got, ref: np.ndarray, notes: list, tol: float = 1e-5) -> bool:
    err = h.max_rel_error(got, ref)
    if not err <= tol:
        notes.append(f"WRONG: {name}: max rel error {err:.3g}")
        return False
    return True


def run_block(num_threads: int, args: argparse.Namespace) -> str:
    torch = h.import_torch()
    from pynncore.layers import Embedding

    rounds = h.rounds_from_args(args)
    rows, notes = [], []
    for v, d, n in QUICK_CASES if args.quick else CASES:
        rng = np.random.default_rng(0)
        ids = rng.integers(0, v, n)
        layer = Embedding(v, d)
        table = layer.embeddings.value
        dy = rng.standard_normal((n, d)).astype(np.float32)
        ref_y = table.astype(np.float64)[ids]
        ref_g = np.zeros((v, d))
        np.add.at(ref_g, ids, dy.astype(np.float64))
        _, ctx = layer.forward(ids, training=True)
        grad_np = np.zeros((v, d), np.float32)
        fwd = {"pynncore": lambda: layer.forward(ids)[0], "numpy": lambda: table.take(ids, axis=0)}
        bwd = {
            "pynncore": lambda: layer.backward(ctx, dy, need_dx=False),
            "numpy": lambda: np.add.at(grad_np, ids, dy),
        }
        outs = {"pynncore": lambda: layer.embeddings.grad, "numpy": lambda: grad_np}
        if torch is not None:
            tt, ti, tdy = torch.from_numpy(table), torch.from_numpy(ids), torch.from_numpy(dy)
            tg = torch.zeros((v, d))
            fwd["torch"] = lambda: torch.nn.functional.embedding(ti, tt)
            bwd["torch"] = lambda: tg.index_add_(0, ti, tdy)
            outs["torch"] = lambda: tg
        ok_f = {k: _check(f"forward {k}", f(), ref_y, notes) for k, f in fwd.items()}
        ok_b = {}
        for k, f in bwd.items():
            outs[k]()[...] = 0
            f()
            ok_b[k] = _check(f"backward {k}", outs[k](), ref_g, notes)
        tf = h.time_interleaved({k: f for k, f in fwd.items() if ok_f[k]}, rounds=rounds, gap_s=h.default_gap_s())
        tb = h.time_interleaved({k: f for k, f in bwd.items() if ok_b[k]}, rounds=rounds, gap_s=h.default_gap_s())
        for what, t in (("forward", tf), ("backward", tb)):
            p = t.get("pynncore")
            cells = [f"{what} V={v} D={d} ids={n}"]
            for k in ("pynncore", "numpy", "torch"):
                cells.append(f"{t[k].median * 1e6:.0f} us" if k in t else h.NA)
            for k in ("numpy", "torch"):
                cells.append(f"{t[k].median / p.median:.2f}x" if p and k in t else h.NA)
            rows.append(cells)
    headers = ["case", "pynncore", "numpy", "torch", "vs numpy", "vs torch"]
    table = h.format_table(headers, rows, markdown=args.markdown)
    notes.append("ratios: other library's median time / pynncore's (above 1.00x: pynncore faster)")
    return "\n".join([table, ""] + notes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_args(parser)
    return h.main(run_block, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
