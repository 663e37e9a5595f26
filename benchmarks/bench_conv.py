"""Conv2D/Conv1D benchmark: forward, backward-data, backward-weight and a train step vs PyTorch.

Shapes are 3x3 'same' convolutions with ReLU (N, H x W, C -> F):
(64, 32x32, 3->32), (64, 16x16, 32->64), (32, 8x8, 64->128), and kernel-3 'same' Conv1D with
ReLU (N, L, C -> F): (64, 256, 32->64), (32, 128, 64->128).

- pynncore runs on NHWC data with the Keras kernel layout (KH, KW, C, F), through the native
  entry points with preallocated outputs (``_core.conv2d_forward`` / ``conv2d_backward``);
- torch runs on its native NCHW / NCL layout: ``F.conv2d`` / ``F.conv1d`` + ReLU forward,
  ``aten.convolution_backward`` with an output mask for the backward passes, and autograd for
  the train step.

Each pass is checked against a float64 torch computation before it is timed. GFLOP/s count
``2 * N * OH * OW * KH * KW * C * F`` (Conv1D: ``2 * N * OL * K * C * F``) per pass (the train step: three passes).

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
SHAPES_1D = [(64, 256, 32, 64), (32, 128, 64, 128)]  # (N, L, C, F)


def _case(n, hw, c, f, num_threads, args, torch, rows, notes, nd=2):
    """One shape: 3x3 Conv2D on (n, hw, hw, c) (nd=2) or kernel-3 Conv1D on (n, hw, c) (nd=1)."""
    from pynncore import _core

    rng = np.random.default_rng(0)
    sp = (hw,) * nd  # spatial shape
    ksp = (3,) * nd
    x = rng.standard_normal((n, *sp, c)).astype(np.float32)
    w = (rng.standard_normal((*ksp, c, f)) * np.sqrt(2.0 / (3**nd * c))).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32) * 0.1
    dy = rng.standard_normal((n, *sp, f)).astype(np.float32)
    flops = 2.0 * n * hw**nd * 3**nd * c * f
    one, pad = (1, 1), ((1, 1) if nd == 2 else (0, 1))

    y = np.empty((n, *sp, f), np.float32)
    dx = np.empty_like(x)
    dw = np.empty_like(w)
    db = np.empty_like(b)
    # the native entry points take NHWC and (KH, KW, C, F): a Conv1D is a Conv2D of height 1
    x4, y4, dy4, dx4 = (a if nd == 2 else a[:, None] for a in (x, y, dy, dx))
    w4, dw4 = (a if nd == 2 else a[None] for a in (w, dw))

    # channels-last <-> torch's channels-first, and the kernel (..., C, F) <-> (F, C, ...)
    to_t = (0, 3, 1, 2) if nd == 2 else (0, 2, 1)
    from_t = (0, 2, 3, 1) if nd == 2 else (0, 2, 1)
    wt_axes = (3, 2, 0, 1) if nd == 2 else (2, 1, 0)
    wk_axes = (2, 3, 1, 0) if nd == 2 else (2, 1, 0)

    if torch is None:
        notes.append("torch not installed: no float64 reference, no comparison")
        return
    F = torch.nn.functional
    conv = F.conv2d if nd == 2 else F.conv1d
    ones, zeros = [1] * nd, [0] * nd

    # float64 references (torch, channels-first) converted back to channels-last.
    ref = {}
    x64 = torch.tensor(x.transpose(to_t), dtype=torch.float64, requires_grad=True)
    w64 = torch.tensor(w.transpose(wt_axes), dtype=torch.float64, requires_grad=True)
    b64 = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    out = torch.relu(conv(x64, w64, b64, padding=1))
    ref["fwd"] = out.detach().numpy().transpose(from_t)
    d64 = torch.tensor(dy.transpose(to_t), dtype=torch.float64)
    gx, gw, _ = torch.ops.aten.convolution_backward(d64, x64.detach(), w64.detach(), [f], ones, ones, ones, False, zeros, 1, [True, True, False])
    ref["bwd_data"] = gx.numpy().transpose(from_t)
    ref["bwd_weight"] = gw.numpy().transpose(wk_axes)
    out.backward(d64)
    ref["step"] = w64.grad.numpy().transpose(wk_axes)

    xt = torch.tensor(x.transpose(to_t)).contiguous()
    wt = torch.tensor(w.transpose(wt_axes)).contiguous()
    bt = torch.tensor(b)
    dyt = torch.tensor(dy.transpose(to_t)).contiguous()

    def last(t):
        return t.detach().numpy().transpose(from_t)

    def t_fwd():
        with torch.no_grad():
            return last(torch.relu_(conv(xt, wt, bt, padding=1)))

    def t_bwd(mask):
        def run():
            gx, gw, gb = torch.ops.aten.convolution_backward(dyt, xt, wt, [f], ones, ones, ones, False, zeros, 1, mask)
            return last(gx) if mask[0] else gw.numpy().transpose(wk_axes)

        return run

    xg = xt.clone().requires_grad_(True)
    wg = wt.clone().requires_grad_(True)
    bg = bt.clone().requires_grad_(True)

    def t_step():
        xg.grad = wg.grad = bg.grad = None
        out = torch.relu(conv(xg, wg, bg, padding=1))
        out.backward(dyt)
        return wg.grad.numpy().transpose(wk_axes)

    def p_fwd():
        _core.conv2d_forward(x4, w4, b, y4, one, one, pad, "relu")

    def p_bwd_data():
        _core.conv2d_backward(None, w4, dy4, dx4, None, None, one, one, pad)

    def p_bwd_weight():
        _core.conv2d_backward(x4, None, dy4, None, dw4, db, one, one, pad)

    zmask = np.empty_like(y)
    zmask4 = zmask if nd == 2 else zmask[:, None]

    def p_step():
        _core.conv2d_forward(x4, w4, b, y4, one, one, pad, "relu")
        np.multiply(dy, y > 0, out=zmask)  # ReLU backward from the output
        _core.conv2d_backward(x4, w4, zmask4, dx4, dw4, db, one, one, pad)

    # The step's reference is dkernel of relu(conv) for dy: compare pynncore's dw.
    passes = [
        ("forward", "fwd", [h.Candidate("pynncore", p_fwd, y), h.Candidate("torch", t_fwd)], 1),
        ("backward-data", "bwd_data", [h.Candidate("pynncore", p_bwd_data, dx), h.Candidate("torch", t_bwd([True, False, False]))], 1),
        ("backward-weight", "bwd_weight", [h.Candidate("pynncore", p_bwd_weight, dw), h.Candidate("torch", t_bwd([False, True, True]))], 1),
        ("train step (fwd+bwd)", "step", [h.Candidate("pynncore", p_step, dw), h.Candidate("torch", t_step)], 3),
    ]
    rounds = h.rounds_from_args(args)
    label = f"N{n} {hw}x{hw} C{c}->{f}" if nd == 2 else f"Conv1D N{n} L{hw} C{c}->{f}"
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
    for n, length, c, f in SHAPES_1D[:1] if args.quick else SHAPES_1D:
        _case(n, length, c, f, num_threads, args, torch, rows, notes, nd=1)
    table = h.format_table(["case", "pynncore GFLOP/s", "torch GFLOP/s", "speedup vs torch"], rows, markdown=args.markdown)
    return "\n".join([table] + ([""] + notes if notes else []))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_args(parser, default_threads="2")
    return h.main(run_block, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
