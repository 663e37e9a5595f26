"""Conv2D benchmark: forward, backward-data, backward-weight and a whole train step vs PyTorch.

Shapes are 3x3 'same' convolutions with ReLU (N, H x W, C -> F):
(64, 32x32, 3->32), (64, 16x16, 32->64), (32, 8x8, 64->128).

- pynncore runs on NHWC data with the Keras kernel layout (KH, KW, C, F), through the native
  entry points with preallocated outputs (``_core.conv2d_forward`` / ``conv2d_backward``);
- torch runs on its native NCHW layout: ``F.conv2d`` + ReLU forward,
  ``aten.convolution_backward`` with an output mask for the backward passes, and autograd for
  the train step.

Each pass is checked against a float64 torch computation before it is timed. GFLOP/s count
``2 * N * OH * OW * KH * KW * C * F`` per pass (the train step: three passes).

Usage:
    python benchmarks/bench_conv.py [--quick] [--threads 1,2] [--rounds 7] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

SHAPES = [(64, 32, 3, 32), (64, 16, 32, 64), (32, 8, 64, 128)]  # (N, H=W, C, F)


def _case(n, hw, c, f, num_threads, args, torch, rows, notes):
    from pynncore import _core

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, hw, hw, c)).astype(np.float32)
    w = (rng.standard_normal((3, 3, c, f)) * np.sqrt(2.0 / (9 * c))).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32) * 0.1
    dy = rng.standard_normal((n, hw, hw, f)).astype(np.float32)
    flops = 2.0 * n * hw * hw * 9 * c * f
    one, pad = (1, 1), (1, 1)

    y = np.empty((n, hw, hw, f), np.float32)
    dx = np.empty_like(x)
    dw = np.empty_like(w)
    db = np.empty_like(b)

    # float64 references (torch, NCHW) converted back to NHWC.
    ref = {}
    if torch is not None:
        F = torch.nn.functional
        x64 = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float64, requires_grad=True)
        w64 = torch.tensor(w.transpose(3, 2, 0, 1), dtype=torch.float64, requires_grad=True)
        b64 = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        out = torch.relu(F.conv2d(x64, w64, b64, padding=1))
        ref["fwd"] = out.detach().numpy().transpose(0, 2, 3, 1)
        d64 = torch.tensor(dy.transpose(0, 3, 1, 2), dtype=torch.float64)
        gx, gw, _ = torch.ops.aten.convolution_backward(d64, x64.detach(), w64.detach(), [f], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, True, False])
        ref["bwd_data"] = gx.numpy().transpose(0, 2, 3, 1)
        ref["bwd_weight"] = gw.numpy().transpose(2, 3, 1, 0)
        out.backward(d64)
        ref["step"] = w64.grad.numpy().transpose(2, 3, 1, 0)
    else:
        notes.append("torch not installed: no float64 reference, no comparison")
        return

    xt = torch.tensor(x.transpose(0, 3, 1, 2)).contiguous()
    wt = torch.tensor(w.transpose(3, 2, 0, 1)).contiguous()
    bt = torch.tensor(b)
    dyt = torch.tensor(dy.transpose(0, 3, 1, 2)).contiguous()
    F = torch.nn.functional

    def nhwc(t):
        return t.detach().numpy().transpose(0, 2, 3, 1)

    def t_fwd():
        with torch.no_grad():
            return nhwc(torch.relu_(F.conv2d(xt, wt, bt, padding=1)))

    def t_bwd(mask):
        def run():
            gx, gw, gb = torch.ops.aten.convolution_backward(dyt, xt, wt, [f], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)
            return nhwc(gx) if mask[0] else gw.numpy().transpose(2, 3, 1, 0)

        return run

    xg = xt.clone().requires_grad_(True)
    wg = wt.clone().requires_grad_(True)
    bg = bt.clone().requires_grad_(True)

    def t_step():
        xg.grad = wg.grad = bg.grad = None
        out = torch.relu(F.conv2d(xg, wg, bg, padding=1))
        out.backward(dyt)
        return wg.grad.numpy().transpose(2, 3, 1, 0)

    def p_fwd():
        _core.conv2d_forward(x, w, b, y, one, one, pad, "relu")

    def p_bwd_data():
        _core.conv2d_backward(None, w, dy, dx, None, None, one, one, pad)

    def p_bwd_weight():
        _core.conv2d_backward(x, None, dy, None, dw, db, one, one, pad)

    zmask = np.empty_like(y)

    def p_step():
        _core.conv2d_forward(x, w, b, y, one, one, pad, "relu")
        np.multiply(dy, y > 0, out=zmask)  # ReLU backward from the output
        _core.conv2d_backward(x, w, zmask, dx, dw, db, one, one, pad)

    # The step's reference is dkernel of relu(conv) for dy: compare pynncore's dw.
    passes = [
        ("forward", "fwd", [h.Candidate("pynncore", p_fwd, y), h.Candidate("torch", t_fwd)], 1),
        ("backward-data", "bwd_data", [h.Candidate("pynncore", p_bwd_data, dx), h.Candidate("torch", t_bwd([True, False, False]))], 1),
        ("backward-weight", "bwd_weight", [h.Candidate("pynncore", p_bwd_weight, dw), h.Candidate("torch", t_bwd([False, True, True]))], 1),
        ("train step (fwd+bwd)", "step", [h.Candidate("pynncore", p_step, dw), h.Candidate("torch", t_step)], 3),
    ]
    rounds = h.rounds_from_args(args)
    label = f"N{n} {hw}x{hw} C{c}->{f}"
    for name, key, cands, mult in passes:
        res = h.run_candidates(cands, ref[key], tol=1e-4, rounds=rounds, min_sample_s=0.02 if args.quick else 0.03)
        rows.append([
            f"{label} {name}",
            h.fmt_rate(res["pynncore"], mult * flops / 1e9),
            h.fmt_rate(res["torch"], mult * flops / 1e9),
            h.fmt_ratio(res["pynncore"], res["torch"]),
        ])
        for r in res.values():
            if r.message:
                notes.append(f"{label} {name} {r.name}: {r.message}")


def run_block(num_threads: int, args: argparse.Namespace) -> str:
    torch = h.import_torch()
    rows, notes = [], []
    shapes = SHAPES[1:2] if args.quick else SHAPES
    for n, hw, c, f in shapes:
        _case(n, hw, c, f, num_threads, args, torch, rows, notes)
    table = h.format_table(["case", "pynncore GFLOP/s", "torch GFLOP/s", "speedup vs torch"], rows, markdown=args.markdown)
    return "\n".join([table] + ([""] + notes if notes else []))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_args(parser, default_threads="2")
    return h.main(run_block, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
