"""Recurrent layers against PyTorch: LSTM, GRU and SimpleRNN, forward and train step.

Cases:
- forward (inference) and train step (forward + backward through time, all weight and input
  gradients, gradient of the whole output sequence) of one layer on (T, N, I, H) =
  (50, 64, 32, 128) and (100, 32, 64, 256): ``pynncore.ops.lstm`` / ``gru`` / ``simple_rnn``
  and their backward functions against ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` (time-major,
  its native layout) with ``no_grad`` / ``backward``;
- a small model: GRU(6) over 40 steps + Dense(1), batch 100, Adam, MSE: pynncore
  ``train_on_batch`` against a plain PyTorch loop, in steps/s.

Before timing, both libraries run from the same weights (torch's gate order and biases mapped
to Keras's layout) and their outputs and input gradients must agree to 1e-4 relative;
otherwise the row says WRONG.

``--quick`` times LSTM only, on both shapes.

Usage:
    python benchmarks/bench_rnn.py [--quick] [--threads 1,2] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

SHAPES = ((50, 64, 32, 128), (100, 32, 64, 256))
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _keras_weights(name, tm, u):
    """torch layer weights in pynncore's (Keras) layout."""
    w_ih = tm.weight_ih_l0.detach().numpy()
    w_hh = tm.weight_hh_l0.detach().numpy()
    b_ih = tm.bias_ih_l0.detach().numpy()
    b_hh = tm.bias_hh_l0.detach().numpy()
    if name == "GRU":  # torch r, z, n -> Keras z, r, h (reset_after=True, two biases)
        perm = np.r_[np.arange(u, 2 * u), np.arange(u), np.arange(2 * u, 3 * u)]
        return [np.ascontiguousarray(w_ih[perm].T), np.ascontiguousarray(w_hh[perm].T),
                np.ascontiguousarray(np.stack([b_ih[perm], b_hh[perm]]))]
    return [np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), b_ih + b_hh]


def _pyn_fns(name, x, w):
    from pynncore import ops

    k, r, b = w
    if name == "LSTM":
        fwd = lambda train=False: ops.lstm(x, k, r, b, return_sequences=True, training=train)  # noqa: E731
        bwd = lambda ctx, dy: ops.lstm_backward(ctx, dy)  # noqa: E731
        ctx_of = lambda res: res[3]  # noqa: E731
    elif name == "GRU":
        fwd = lambda train=False: ops.gru(x, k, r, b, return_sequences=True, training=train)  # noqa: E731
        bwd = lambda ctx, dy: ops.gru_backward(ctx, dy)  # noqa: E731
        ctx_of = lambda res: res[2]  # noqa: E731
    else:
        fwd = lambda train=False: ops.simple_rnn(x, k, r, b, return_sequences=True, training=train)  # noqa: E731
        bwd = lambda ctx, dy: ops.simple_rnn_backward(ctx, dy)  # noqa: E731
        ctx_of = lambda res: res[2]  # noqa: E731
    return fwd, bwd, ctx_of


def layer_rows(torch, quick: bool, rounds: int) -> tuple:
    rows, notes = [], []
    names = ("LSTM",) if quick else ("LSTM", "GRU", "RNN")
    shapes = SHAPES
    for name in names:
        for t, n, i, u in shapes:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((n, t, i)).astype(np.float32)
            dy = rng.standard_normal((n, t, u)).astype(np.float32)
            torch.manual_seed(0)
            tm = getattr(torch.nn, name)(i, u)
            w = _keras_weights(name, tm, u)
            fwd, bwd, ctx_of = _pyn_fns(name, x, w)
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 0, 2)))
            xg = xt.clone().requires_grad_(True)
            dyt = torch.from_numpy(np.ascontiguousarray(dy.transpose(1, 0, 2)))

            # correctness beside the timing
            y_p = fwd()[0]
            res = fwd(True)
            dx_p = bwd(ctx_of(res), dy)[0]
            out, _ = tm(xg)
            out.backward(dyt)
            y_t = out.detach().numpy().transpose(1, 0, 2)
            dx_t = xg.grad.numpy().transpose(1, 0, 2)
            err_y = float(np.abs(y_p - y_t).max() / max(np.abs(y_t).max(), 1e-30))
            err_dx = float(np.abs(dx_p - dx_t).max() / max(np.abs(dx_t).max(), 1e-30))
            wrong = err_y > 1e-4 or err_dx > 1e-4
            shape = f"T{t} N{n} I{i} H{u}"
            notes.append(f"{name} {shape}: max rel diff vs torch, output {err_y:.1e}, dx {err_dx:.1e}")

            def torch_fwd():
                with torch.no_grad():
                    return tm(xt)

            def torch_train():
                xg.grad = None
                tm.zero_grad(set_to_none=True)
                o, _ = tm(xg)
                o.backward(dyt)

            def pyn_train():
                bwd(ctx_of(fwd(True)), dy)

            tf = h.time_interleaved({"pynncore": fwd, "torch": torch_fwd}, rounds=rounds,
                                    min_sample_s=0.05, gap_s=h.default_gap_s())
            tt = h.time_interleaved({"pynncore": pyn_train, "torch": torch_train}, rounds=rounds,
                                    min_sample_s=0.05, gap_s=h.default_gap_s())
            for what, tim in (("forward", tf), ("train step", tt)):
                p, q = tim["pynncore"].median, tim["torch"].median
                rows.append([f"{name} {what}", shape, h.WRONG if wrong else f"{p * 1e3:.2f} ms",
                             f"{q * 1e3:.2f} ms", h.WRONG if wrong else f"{q / p:.2f}x"])
    return rows, notes


def small_model_row(torch, quick: bool, rounds: int) -> tuple:
    import pynncore
    from pynncore.layers import GRU, Dense
    from pynncore.models import Sequential

    t, f, n, u = 40, 8, 100, 6
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, t, f)).astype(np.float32)
    y = rng.standard_normal((n, 1)).astype(np.float32)
    model = Sequential([GRU(u, input_shape=(t, f)), Dense(1)])
    model.compile(pynncore.optimizers.Adam(1e-3), "mse")
    model.build((None, t, f))

    torch.manual_seed(0)
    gru = torch.nn.GRU(f, u, batch_first=True)
    lin = torch.nn.Linear(u, 1)
    gw = _keras_weights("GRU", gru, u)
    model.set_weights(gw + [lin.weight.detach().numpy().T.copy(), lin.bias.detach().numpy().copy()])
    params = list(gru.parameters()) + list(lin.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def torch_step():
        opt.zero_grad()
        out, _ = gru(xt)
        loss = torch.mean((lin(out[:, -1]) - yt) ** 2)
        loss.backward()
        opt.step()
        return loss.item()

    first_p = float(model.evaluate(x, y, verbose=0))
    first_t = torch_step()
    wrong = abs(first_p - first_t) > 1e-5 * max(1.0, abs(first_t))
    note = f"GRU(6) model: first loss pynncore {first_p:.6f}, torch {first_t:.6f}"

    def pyn_step():
        model.train_on_batch(x, y)

    tim = h.time_interleaved({"pynncore": pyn_step, "torch": torch_step}, rounds=rounds,
                             min_sample_s=0.05, gap_s=h.default_gap_s())
    p, q = 1 / tim["pynncore"].median, 1 / tim["torch"].median
    row = ["GRU(6)+Dense train_on_batch", f"T{t} N{n} F{f}", h.WRONG if wrong else f"{p:,.0f} steps/s",
           f"{q:,.0f} steps/s", h.WRONG if wrong else f"{p / q:.2f}x"]
    return [row], [note]


def run_block(num_threads: int, args: argparse.Namespace) -> str:
    torch = h.import_torch()
    if torch is None:
        return "torch is not installed: nothing to compare against"
    rounds = h.rounds_from_args(args)
    rows, notes = layer_rows(torch, args.quick, rounds)
    r2, n2 = small_model_row(torch, args.quick, rounds)
    table = h.format_table(["case", "shape", "pynncore", "torch", "speedup vs torch"], rows + r2,
                           markdown=args.markdown)
    return "\n".join([table, ""] + notes + n2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_args(parser)
    return h.main(run_block, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
