"""MLP benchmark: training throughput and single-sample latency against PyTorch.

The model is the classic 784-256-128-10 MLP (ReLU, softmax output), Adam, batch 128:
- training: samples/s over an epoch of synthetic 784-feature data (pynncore ``model.fit``
  against a standard PyTorch loop: zero_grad, forward, cross-entropy, backward, Adam step);
  beside the timing, both start from the same weights and their losses after the same five
  batches must agree;
- inference: one sample through the model (pynncore ``model(x)`` / ``predict_on_batch``
  against PyTorch ``no_grad``), in microseconds per call.

Usage:
    python benchmarks/bench_mlp.py [--quick] [--threads 1,2] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

SIZES = (784, 256, 128, 10)
BATCH = 128


def _pynncore_model():
    import pynncore
    from pynncore.layers import Dense
    from pynncore.models import Sequential

    model = Sequential([
        Dense(SIZES[1], activation="relu", input_shape=(SIZES[0],)),
        Dense(SIZES[2], activation="relu"),
        Dense(SIZES[3], activation="softmax"),
    ])
    model.compile(optimizer=pynncore.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def _torch_model(torch, weights):
    layers = []
    for i in range(3):
        lin = torch.nn.Linear(SIZES[i], SIZES[i + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[2 * i].T)))
            lin.bias.copy_(torch.from_numpy(weights[2 * i + 1]))
        layers.append(lin)
        if i < 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def run_block(num_threads: int, args: argparse.Namespace) -> str:
    torch = h.import_torch()
    rng = np.random.default_rng(0)
    n = BATCH * (20 if args.quick else 100)
    x = rng.random((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n)

    model = _pynncore_model()
    model.build((None, SIZES[0]))
    weights = model.get_weights()
    rows, notes = [], []

    # Correctness beside the timing: from identical weights, the same predictions and the same
    # first loss (later steps differ slightly by design: Keras and PyTorch place Adam's epsilon
    # differently).
    t_model = t_opt = None
    if torch is not None:
        t_model = _torch_model(torch, weights)
        t_opt = torch.optim.Adam(t_model.parameters(), lr=1e-3, eps=1e-7)
        ce = torch.nn.CrossEntropyLoss()
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        with torch.no_grad():
            ref = torch.softmax(t_model(xt[:BATCH]), dim=1).numpy()
        diff = float(np.abs(model.predict(x[:BATCH], verbose=0) - ref).max())
        first_p = float(model.evaluate(x[:BATCH], y[:BATCH], verbose=0))

        def torch_step(i):
            t_opt.zero_grad()
            loss = ce(t_model(xt[i * BATCH : (i + 1) * BATCH]), yt[i * BATCH : (i + 1) * BATCH])
            loss.backward()
            t_opt.step()
            return loss.item()

        first_t = torch_step(0)
        notes.append(f"identical weights: max |pynncore - torch| prediction {diff:.1e}, first loss {first_p:.6f} vs {first_t:.6f}")
        if diff > 1e-5 or abs(first_p - first_t) > 1e-5:
            notes.append("WRONG: pynncore and torch disagree on identical weights")

    def pyn_epoch():
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)

    fns = {"pynncore": pyn_epoch}
    if torch is not None:
        def torch_epoch():
            for i in range(n // BATCH):
                torch_step(i)

        fns["torch"] = torch_epoch
    rounds = 3 if args.quick else 5
    t = h.time_interleaved(fns, rounds=rounds, min_sample_s=0.0, warmup=1, gap_s=h.default_gap_s())
    p_rate = n / t["pynncore"].median
    t_rate = n / t["torch"].median if "torch" in t else float("nan")
    rows.append([f"train epoch ({n} samples, batch {BATCH}, Adam)", f"{p_rate:,.0f} samples/s", f"{t_rate:,.0f} samples/s" if torch else h.NA, f"{p_rate / t_rate:.2f}x" if torch else h.NA])

    one = x[:1].copy()
    fns = {"pynncore model(x)": lambda: model(one), "pynncore predict_on_batch": lambda: model.predict_on_batch(one)}
    if torch is not None:
        xt1 = torch.from_numpy(one)

        def torch_infer():
            with torch.no_grad():
                return t_model(xt1)

        fns["torch"] = torch_infer
    t = h.time_interleaved(fns, rounds=rounds, min_sample_s=0.05, gap_s=h.default_gap_s())
    tt = t["torch"].median if "torch" in t else float("nan")
    for name in ("pynncore model(x)", "pynncore predict_on_batch"):
        us = t[name].median * 1e6
        rows.append([f"1-sample inference, {name}", f"{us:.1f} us", f"{tt * 1e6:.1f} us" if torch else h.NA, f"{tt / t[name].median:.2f}x" if torch else h.NA])

    table = h.format_table(["case", "pynncore", "torch", "speedup vs torch"], rows, markdown=args.markdown)
    return "\n".join([table, ""] + notes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_args(parser)
    return h.main(run_block, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
