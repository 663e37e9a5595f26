"""Saving killed at random points: a child process saves a model over and over (alternating
two weight sets) while the parent SIGKILLs it at random moments; after every kill the target
file must load and hold one of the two complete weight sets. Shared by the tests and the
report."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

_CHILD = textwrap.dedent(
    """
    import sys, numpy as np, pynncore
    from pynncore import layers
    path, kind = sys.argv[1], sys.argv[2]
    pynncore.utils.set_random_seed(0)
    model = pynncore.Sequential([layers.Dense(1024, input_dim=1024), layers.Dense(8)])
    model.compile(optimizer="adam", loss="mse")
    w = model.get_weights()
    sets = [w, [v + np.float32(1) for v in w]]
    print("ready", flush=True)
    i = 0
    while True:
        model.set_weights(sets[i % 2])
        model.save(path) if kind == "model" else model.save_weights(path)
        i += 1
    """
)


def _marker(path: str, kind: str) -> float:
    import pynncore

    if kind == "model":
        w = pynncore.load_model(path).get_weights()
    else:
        from pynncore import _safetensors

        tensors, _ = _safetensors.load_file(path)
        w = [tensors[k] for k in sorted(tensors)]
    return float(w[-1][0] - w[-1][-1]), float(w[0][0, 0])


def kill_saves(folder: str, kills: int, kind: str = "model", seed: int = 0) -> dict:
    """Runs `kills` kill points; returns counts: tried, loads, consistent, stale_temps."""
    rng = random.Random(seed)
    path = os.path.join(folder, "model.pnc" if kind == "model" else "model.weights.safetensors")
    tried = loads = consistent = 0
    errors: list = []
    proc = None
    try:
        while tried < kills:
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, path, kind],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=tempfile.gettempdir(),
            )
            assert proc.stdout.readline().strip() == b"ready"
            if not os.path.exists(path):  # wait for the first complete save
                deadline = time.monotonic() + 60
                while not os.path.exists(path) and time.monotonic() < deadline:
                    time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.25))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
            tried += 1
            try:
                _marker(path, kind)
                loads += 1
                consistent += 1
            except Exception as exc:  # noqa: BLE001 -- counted and reported
                errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
    stale = [f for f in os.listdir(folder) if f.endswith(".tmp")]
    return {"tried": tried, "loads": loads, "consistent": consistent, "stale_temps": len(stale), "errors": errors[:5]}
