"""Drives the prediction service on 127.0.0.1 for a bounded time; prints throughput and latency.

Starts ``uvicorn app:app`` in a subprocess (unless ``--url`` points at a running service), trains
the model first if ``digits.pnc`` is missing, then runs ``--clients`` threads that each keep one
HTTP connection open and post requests of ``--batch`` digit images for ``--seconds``. Every answer
is checked against the same model run in this process.

Run:  pip install starlette uvicorn scikit-learn
      python examples/serve/load_test.py --seconds 10 --clients 8 --batch 1
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

import numpy as np
from sklearn.datasets import load_digits

import pynncore

HERE = os.path.dirname(os.path.abspath(__file__))


def _wait_ready(host: str, port: int, proc: subprocess.Popen | None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server at {host}:{port} did not become ready in {timeout:.0f} s")


def _client(host, port, bodies, expected, stop_at, latencies, errors, lock):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    mine, bad, i = [], 0, 0
    while time.monotonic() < stop_at:
        k = i % len(bodies)
        i += 1
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/predict", body=bodies[k], headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            payload = resp.read()
        except OSError:
            bad += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        mine.append(time.perf_counter() - t0)
        if resp.status != 200 or json.loads(payload)["classes"] != expected[k]:
            bad += 1
    conn.close()
    with lock:
        latencies.extend(mine)
        errors.append(bad)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="a running service (default: start one)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1, help="instances per request")
    args = parser.parse_args()

    model_path = os.environ.get("PYNNCORE_MODEL", os.path.join(HERE, "digits.pnc"))
    if not os.path.exists(model_path):
        sys.path.insert(0, HERE)
        from train_model import train

        print(f"training the model first: test accuracy {train(model_path):.4f}")

    proc = None
    if args.url:
        parsed = urllib.parse.urlparse(args.url)
        host, port = parsed.hostname, parsed.port or 80
    else:
        host, port = "127.0.0.1", args.port
        env = dict(os.environ, PYNNCORE_MODEL=model_path)
        cmd = [sys.executable, "-m", "uvicorn", "--app-dir", HERE, "app:app", "--host", host,
               "--port", str(port), "--log-level", "warning"]
        proc = subprocess.Popen(cmd, env=env, cwd=HERE)  # not the repository root: import the installed package
    try:
        _wait_ready(host, port, proc)
        model = pynncore.load_model(model_path, compile=False)
        x = (load_digits().data / 16.0).astype(np.float32)
        rng = np.random.default_rng(0)
        batches = [x[rng.integers(0, len(x), args.batch)] for _ in range(64)]
        bodies = [json.dumps({"instances": b.tolist()}).encode() for b in batches]
        expected = [model.predict(b, verbose=0).argmax(axis=1).tolist() for b in batches]

        latencies: list = []
        errors: list = []
        lock = threading.Lock()
        start = time.monotonic()
        stop_at = start + args.seconds
        threads = [
            threading.Thread(target=_client, args=(host, port, bodies, expected, stop_at, latencies, errors, lock))
            for _ in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)

    lat = np.sort(np.asarray(latencies)) * 1e3
    n = len(lat)
    if n == 0:
        raise SystemExit("no request completed")
    print(f"{n} requests in {elapsed:.1f} s from {args.clients} clients, {args.batch} instance(s) each")
    print(f"throughput {n / elapsed:.0f} requests/s ({n * args.batch / elapsed:.0f} predictions/s)")
    print(f"latency p50 {np.percentile(lat, 50):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms, max {lat[-1]:.2f} ms")
    print(f"wrong or failed answers: {sum(errors)}")
    if sum(errors):
        raise SystemExit("some answers were wrong or failed")


if __name__ == "__main__":
    main()
