"""LeNet-5 benchmark: training throughput (images/s) against PyTorch.

The model is the one of ``examples/lenet5.py``: Conv2D 6@5x5 'same' + tanh on (N, 28, 28, 1)
-> MaxPooling2D -> Conv2D 16@5x5 + tanh -> MaxPooling2D -> Flatten -> Dense 120 tanh ->
Dense 84 tanh -> Dense 10 softmax, SGD with momentum 0.9, batch 64, synthetic images.

- pynncore: ``model.train_on_batch`` on NHWC batches;
- PyTorch: the equivalent ``nn.Sequential`` on NCHW batches (converted once, outside the
  timing), with the same weights, zero_grad / forward / cross-entropy / backward / SGD step.
  Its Flatten permutes to channels-last first so that Dense 120 sees the features in Keras
  order and the weights can be copied as they are.

Beside the timing, both models start from the same weights and the losses of their first
few steps on the same batches must agree (Keras' and PyTorch's momentum SGD are the same
update at a constant learning rate).

Usage:
    python benchmarks/bench_lenet.py [--quick] [--threads 1,2] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

BATCH = 64
LR = 0.05
MOMENTUM = 0.9
CHECK_STEPS = 5


def _pynncore_model():
    import pynncore
    from pynncore.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from pynncore.models import Sequential

    model = Sequential([
        Conv2D(6, 5, padding="same", activation="tanh", input_shape=(28, 28, 1)),
        MaxPooling2D(2),
        Conv2D(16, 5, activation="tanh"),
        MaxPooling2D(2),
        Flatten(),
        Dense(120, activation="tanh"),
        Dense(84, activation="tanh"),
        Dense(10, activation="softmax"),
    ])
    model.compile(
        optimizer=pynncore.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM),
        loss="sparse_categorical_crossentropy",
    )
    return model


def _torch_model(torch, weights):
    nn = torch.nn

    class ChannelsLastFlatten(nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)

    conv1 = nn.Conv2d(1, 6, 5, padding=2)
    conv2 = nn.Conv2d(6, 16, 5)
    d1, d2, d3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)
    with torch.no_grad():
        for i, conv in enumerate((conv1, conv2)):
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[2 * i].transpose(3, 2, 0, 1))))
            conv.bias.copy_(torch.from_numpy(weights[2 * i + 1]))
        for i, lin in enumerate((d1, d2, d3)):
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights[4 + 2 * i].T)))
            lin.bias.copy_(torch.from_numpy(weights[5 + 2 * i]))
    return nn.Sequential(
        conv1, nn.Tanh(), nn.MaxPool2d(2), conv2, nn.Tanh(), nn.MaxPool2d(2),
        ChannelsLastFlatten(), d1, nn.Tanh(), d2, nn.Tanh(), d3,
    )


def run_block(num_threads: int, args: argparse.Namespace) -> str:
    torch = h.import_torch()
    rng = np.random.default_rng(0)
    nbatch = 8 if args.quick else 20
    n = BATCH * nbatch
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, n)
    batches = [(x[i * BATCH : (i + 1) * BATCH], y[i * BATCH : (i + 1) * BATCH]) for i in range(nbatch)]

    model = _pynncore_model()
    model.build((None, 28, 28, 1))
    weights = model.get_weights()
    notes = []

    t_step = None
    if torch is not None:
        t_model = _torch_model(torch, weights)
        t_opt = torch.optim.SGD(t_model.parameters(), lr=LR, momentum=MOMENTUM)
        ce = torch.nn.CrossEntropyLoss()
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # NCHW
        yt = torch.from_numpy(y)
        t_batches = [(xt[i * BATCH : (i + 1) * BATCH], yt[i * BATCH : (i + 1) * BATCH]) for i in range(nbatch)]

        def t_step(i):
            xb, yb = t_batches[i]
            t_opt.zero_grad()
            loss = ce(t_model(xb), yb)
            loss.backward()
            t_opt.step()
            return loss.item()

        # Correctness beside the timing: the same losses over the first steps.
        lp = [float(model.train_on_batch(*batches[i])) for i in range(CHECK_STEPS)]
        lt = [t_step(i) for i in range(CHECK_STEPS)]
        worst = max(abs(a - b) for a, b in zip(lp, lt))
        notes.append(
            f"identical weights, {CHECK_STEPS} SGD steps: losses pynncore "
            + " ".join(f"{v:.5f}" for v in lp)
            + " vs torch "
            + " ".join(f"{v:.5f}" for v in lt)
            + f" (max diff {worst:.1e})"
        )
        if worst > 1e-4:
            notes.append("WRONG: pynncore and torch disagree on identical weights")

    def pyn_epoch():
        for xb, yb in batches:
            model.train_on_batch(xb, yb)

    fns = {"pynncore": pyn_epoch}
    if t_step is not None:

        def torch_epoch():
            for i in range(nbatch):
                t_step(i)

        fns["torch"] = torch_epoch
    rounds = h.rounds_from_args(args)
    t = h.time_interleaved(fns, rounds=rounds, min_sample_s=0.0, warmup=1, gap_s=h.default_gap_s())
    p_rate = n / t["pynncore"].median
    if "torch" in t:
        t_rate = n / t["torch"].median
        t_cell, ratio = f"{t_rate:,.0f} images/s", f"{t['torch'].median / t['pynncore'].median:.2f}x"
    else:
        t_cell = ratio = h.NA
    rows = [[f"LeNet-5 train step (batch {BATCH}, SGD momentum, {nbatch} batches/sample)", f"{p_rate:,.0f} images/s", t_cell, ratio]]
    per = {name: " ".join(f"{n / s:,.0f}" for s in tm.samples) for name, tm in t.items()}
    notes.append("samples (images/s): " + "; ".join(f"{k}: {v}" for k, v in per.items()))
    table = h.format_table(["case", "pynncore", "torch", "speedup vs torch"], rows, markdown=args.markdown)
    return "\n".join([table, ""] + notes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.add_common_args(parser)
    return h.main(run_block, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
