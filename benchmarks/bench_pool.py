"""Pooling and BatchNormalization benchmark: forward + backward against PyTorch and numpy.

Cases (channels-last float32, CNN-sized):
- max / average pooling 2x2 stride 2 of (64, 32, 32, 32) and (64, 16, 16, 64), and 3x3
  stride 1 'same' max pooling: pynncore ``ops.max_pool2d`` + ``ops.max_pool2d_grad`` (and the
  avg ones) against PyTorch ``max_pool2d`` / ``avg_pool2d`` forward + autograd backward on a
  channels_last tensor, and a float32 numpy formulation (reshape + reduce) where one exists;
- BatchNormalization in training: batch statistics, normalize, then the input gradient
  (``ops.batch_norm_train`` + ``ops.batch_norm_grad``) against PyTorch ``batch_norm`` with
  autograd and against the float32 numpy formulation.
Each candidate's input gradient is checked against a float64 numpy reference before and after
timing; the forward outputs are checked once beside it.

Usage:
    python benchmarks/bench_pool.py [--quick] [--threads 1,2] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

SHAPES = [(64, 32, 32, 32), (64, 16, 16, 64)]
EPS = 1e-3


def _windows(x, k):
    n, hh, ww, c = x.shape
    return x.reshape(n, hh // k, k, ww // k, k, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, hh // k, ww // k, c, k * k)


def _unwindows(w, k, shape):
    n, hh, ww, c = shape
    return w.reshape(n, hh // k, ww // k, c, k, k).transpose(0, 1, 4, 2, 5, 3).reshape(shape)


def ref_pool(x, dy, mode, k):
    """Non-overlapping k x k pooling, valid: (y, dx) in float64."""
    win = _windows(np.asarray(x, np.float64), k)
    g = np.asarray(dy, np.float64)[..., None]
    if mode == "max":
        y = win.max(-1)
        onehot = np.arange(k * k) == win.argmax(-1)[..., None]
        return y, _unwindows(onehot * g, k, x.shape)
    return win.mean(-1), _unwindows(np.broadcast_to(g / (k * k), win.shape), k, x.shape)


def numpy_pool(x, dy, mode, k):
    win = _windows(x, k)
    if mode == "max":
        idx = win.argmax(-1)
        y = np.take_along_axis(win, idx[..., None], -1)[..., 0]
        onehot = np.arange(k * k, dtype=np.int64) == idx[..., None]
        return y, _unwindows(onehot * dy[..., None], k, x.shape)
    return win.mean(-1), _unwindows(np.broadcast_to(dy[..., None] / np.float32(k * k), win.shape), k, x.shape)


def ref_same3(x, dy):
    """3x3 stride-1 'same' max pooling: (y, dx) in float64 (first maximum gets the gradient)."""
    x64 = np.pad(np.asarray(x, np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x64, (3, 3), axis=(1, 2))  # N, H, W, C, 3, 3
    flat = win.reshape(win.shape[:4] + (9,))
    first = flat.argmax(-1)
    y = flat.max(-1)
    dxp = np.zeros_like(x64)
    di, dj = np.divmod(first, 3)
    n, hh, ww, c = x.shape
    nn, ii, jj, cc = np.meshgrid(np.arange(n), np.arange(hh), np.arange(ww), np.arange(c), indexing="ij")
    np.add.at(dxp, (nn, ii + di, jj + dj, cc), np.asarray(dy, np.float64))
    return y, dxp[:, 1:-1, 1:-1]


def ref_bn(x, dy):
    x64 = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
    g = np.asarray(dy, np.float64).reshape(x64.shape)
    n = x64.shape[0]
    mean, var = x64.mean(0), x64.var(0)
    inv = 1 / np.sqrt(var + EPS)
    xh = (x64 - mean) * inv
    dx = inv / n * (n * g - g.sum(0) - xh * (g * xh).sum(0))
    return xh.reshape(x.shape), dx.reshape(x.shape)


def numpy_bn(x, dy):
    rows = x.reshape(-1, x.shape[-1])
    g = dy.reshape(rows.shape)
    n = rows.shape[0]
    mean = rows.mean(0, dtype=np.float64)
    var = rows.var(0, dtype=np.float64)
    inv = (1 / np.sqrt(var + EPS)).astype(np.float32)
    xh = (rows - mean.astype(np.float32)) * inv
    y = xh  # gamma 1, beta 0
    sg = g.sum(0, dtype=np.float64).astype(np.float32)
    sgx = (g * xh).sum(0, dtype=np.float64).astype(np.float32)
    dx = (inv / n) * (n * g - sg - xh * sgx)
    return y.reshape(x.shape), dx.reshape(x.shape)


def run_block(num_threads: int, args: argparse.Namespace) -> str:
    import pynncore
    from pynncore import ops

    torch = h.import_torch()
    F = torch.nn.functional if torch is not None else None
    rng = np.random.default_rng(0)
    rounds = h.rounds_from_args(args)
    shapes = SHAPES[:1] if args.quick else SHAPES
    rows, notes = [], []

    def torch_tensors(x, dy):
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).detach().requires_grad_(True)  # channels_last
        return xt, torch.from_numpy(dy)

    for shape in shapes:
        x = rng.standard_normal(shape, dtype=np.float32)
        cases = [("max 2x2/2", "max", 2), ("avg 2x2/2", "avg", 2), ("max 3x3/1 same", "max3", 3)]
        for label, mode, k in cases:
            if mode == "max3":
                y_shape = shape
                dy = rng.standard_normal(y_shape, dtype=np.float32)
                y_ref, dx_ref = ref_same3(x, dy)

                def pyn(x=x, dy=dy):
                    y = ops.max_pool2d(x, 3, 1, "same")
                    return ops.max_pool2d_grad(x, y, dy, 3, 1, "same")

                y_got = ops.max_pool2d(x, 3, 1, "same")
                tfn = (lambda xt: F.max_pool2d(xt, 3, 1, padding=1)) if torch else None
                np_fn = None
            else:
                y_shape = (shape[0], shape[1] // k, shape[2] // k, shape[3])
                dy = rng.standard_normal(y_shape, dtype=np.float32)
                y_ref, dx_ref = ref_pool(x, dy, mode, k)
                if mode == "max":
                    def pyn(x=x, dy=dy, k=k):
                        y = ops.max_pool2d(x, k)
                        return ops.max_pool2d_grad(x, y, dy, k)
                    y_got = ops.max_pool2d(x, k)
                    tfn = (lambda xt, k=k: F.max_pool2d(xt, k)) if torch else None
                else:
                    def pyn(x=x, dy=dy, k=k):
                        ops.avg_pool2d(x, k)
                        return ops.avg_pool2d_grad(dy, x.shape, k)
                    y_got = ops.avg_pool2d(x, k)
                    tfn = (lambda xt, k=k: F.avg_pool2d(xt, k)) if torch else None
                np_fn = (lambda x=x, dy=dy, mode=mode, k=k: numpy_pool(x, dy, mode, k)[1])
            fwd_err = h.max_rel_error(y_got, y_ref)
            cands = [h.Candidate("pynncore", pyn), h.Candidate("numpy", np_fn)]
            if torch is not None:
                xt, dyt = torch_tensors(x, dy)
                dyt = dyt.permute(0, 3, 1, 2)

                def tor(xt=xt, dyt=dyt, tfn=tfn):
                    xt.grad = None
                    tfn(xt).backward(dyt)
                    return xt.grad.permute(0, 2, 3, 1)

                cands.append(h.Candidate("torch", tor))
            else:
                cands.append(h.Candidate("torch", None))
            res = h.run_candidates(cands, dx_ref, tol=1e-5, rounds=rounds, min_sample_s=0.02 if args.quick else 0.03)
            rows.append([f"{label} {shape}", _ms(res["pynncore"]), _ms(res["numpy"]), _ms(res["torch"]), h.fmt_ratio(res["pynncore"], res["torch"]), h.fmt_ratio(res["pynncore"], res["numpy"])])
            notes += [f"{label} {shape}: {r.name} {r.status} {r.message}" for r in res.values() if r.status not in ("ok", h.NA)]
            if not fwd_err <= 1e-6:
                notes.append(f"WRONG forward {label} {shape}: max rel error {fwd_err:.3g}")

        # BatchNormalization, training: forward with batch statistics, then dx.
        dy = rng.standard_normal(shape, dtype=np.float32)
        y_ref, dx_ref = ref_bn(x, dy)
        y_got = ops.batch_norm_train(x, None, None, EPS)[0]
        fwd_err = h.max_rel_error(y_got, y_ref)

        def pyn_bn(x=x, dy=dy):
            _, mean, _, inv_std = ops.batch_norm_train(x, None, None, EPS)
            return ops.batch_norm_grad(x, dy, mean, inv_std)[0]

        cands = [h.Candidate("pynncore", pyn_bn), h.Candidate("numpy", lambda x=x, dy=dy: numpy_bn(x, dy)[1])]
        if torch is not None:
            xt, dyt = torch_tensors(x, dy)
            dyt = dyt.permute(0, 3, 1, 2)
            c = shape[-1]
            rm, rv = torch.zeros(c), torch.ones(c)

            def tor_bn(xt=xt, dyt=dyt, rm=rm, rv=rv):
                xt.grad = None
                F.batch_norm(xt, rm, rv, None, None, training=True, momentum=0.01, eps=EPS).backward(dyt)
                return xt.grad.permute(0, 2, 3, 1)

            cands.append(h.Candidate("torch", tor_bn))
        else:
            cands.append(h.Candidate("torch", None))
        res = h.run_candidates(cands, dx_ref, tol=1e-4, rounds=rounds, min_sample_s=0.02 if args.quick else 0.03)
        rows.append([f"batchnorm train {shape}", _ms(res["pynncore"]), _ms(res["numpy"]), _ms(res["torch"]), h.fmt_ratio(res["pynncore"], res["torch"]), h.fmt_ratio(res["pynncore"], res["numpy"])])
        notes += [f"batchnorm {shape}: {r.name} {r.status} {r.message}" for r in res.values() if r.status not in ("ok", h.NA)]
        if not fwd_err <= 1e-5:
            notes.append(f"WRONG forward batchnorm {shape}: max rel error {fwd_err:.3g}")

    table = h.format_table(
        ["case (forward + backward)", "pynncore ms", "numpy ms", "torch ms", "pynncore vs torch", "pynncore vs numpy"],
        rows,
        markdown=args.markdown,
    )
    head = f"cpu path {pynncore.get_config()['cpu_path']}; ms per forward + input-gradient call: median (best)"
    return "\n".join([head, table] + ([""] + notes if notes else []))


def _ms(result) -> str:
    if result is None:
        return h.NA
    if not result.ok:
        return result.status
    t = result.timing
    return f"{t.median * 1e3:.3f} ({t.best * 1e3:.3f})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_args(parser)
    return h.main(run_block, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
