"""Runs the whole reliability set and reports the figures.

    python -m tests.reliability.report [--quick] [--out DIR]
    python scripts/reliability_report.py [--quick] [--out DIR]

Writes ``DIR/reliability.json`` and ``DIR/reliability.md`` (a markdown table, also printed).
Everything that could crash the interpreter runs in child processes; a child that dies is
counted as a crash and the run resumes after the case that killed it. The installed pynncore
is measured (children start outside the source tree).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _child(code: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tempfile.gettempdir(),
        env=env,
    )


def _resumable(code: str, total_code: str, *args: str) -> tuple[list, list]:
    """Runs `code` (which prints 'index<TAB>result' per case from argv start index) until all
    cases are done; a child that dies marks the next case as a crash."""
    total = int(_child(total_code, *args).stdout.strip())
    results: list = [None] * total
    crashes: list = []
    start = 0
    while start < total:
        proc = _child(code, str(start), *args)
        last = start - 1
        for line in proc.stdout.splitlines():
            if "\t" in line:
                i, res = line.split("\t", 1)
                results[int(i)] = res
                last = int(i)
        if proc.returncode != 0 and last + 1 < total:
            crashes.append({"index": last + 1, "returncode": proc.returncode, "stderr": proc.stderr[-500:]})
            results[last + 1] = f"crash (returncode {proc.returncode})"
        start = last + 2 if proc.returncode != 0 else total
    return results, crashes


def bad_inputs() -> dict:
    code = """
        import sys
        import _rel_cases as c
        cases = c.bad_input_cases()
        for i in range(int(sys.argv[1]), len(cases)):
            name, fn = cases[i]
            print(f"{i}\\t{c.run_bad_input(fn)}", flush=True)
    """
    total = "import _rel_cases as c; print(len(c.bad_input_cases()))"
    results, crashes = _resumable(code, total)
    names = _child("import _rel_cases as c; print('\\n'.join(n for n, _ in c.bad_input_cases()))").stdout.splitlines()
    clear = sum(r == "clear" for r in results)
    return {
        "tried": len(results),
        "crashes": len(crashes),
        "clear_errors": clear,
        "clear_error_rate": clear / max(len(results), 1),
        "not_clear": {names[i]: r for i, r in enumerate(results) if r != "clear"},
    }


def hostile_files() -> dict:
    folder = tempfile.mkdtemp(prefix="pynncore_hostile_")
    canary = os.path.join(folder, "CANARY_CODE_RAN")
    code = """
        import json, sys
        import _rel_cases as c
        files = c.hostile_files(sys.argv[2], sys.argv[3])
        for i in range(int(sys.argv[1]), len(files)):
            print(f"{i}\\t{c.load_hostile(files[i][1])}", flush=True)
    """
    total = "import sys, _rel_cases as c; print(len(c.hostile_files(sys.argv[1], sys.argv[2])))"
    results, crashes = _resumable(code, total, folder, canary)
    total_n = len(results)
    names = sorted(f for f in os.listdir(folder) if f != "CANARY_CODE_RAN")
    clear = sum(r == "clear" for r in results)
    return {
        "tried": total_n,
        "code_executed": int(os.path.exists(canary)),
        "crashes": len(crashes),
        "clear_errors": clear,
        "clear_error_rate": clear / max(total_n, 1),
        "not_clear": {names[i]: r for i, r in enumerate(results) if r != "clear"},
    }


def kill_points(kills: int) -> dict:
    code = """
        import json, sys, tempfile
        from _rel_kill import kill_saves
        out = {}
        for kind, seed in (("model", 11), ("weights", 12)):
            with tempfile.TemporaryDirectory() as d:
                out[kind] = kill_saves(d, int(sys.argv[1]), kind=kind, seed=seed)
        print(json.dumps(out))
    """
    proc = _child(code, str(kills), timeout=3600)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    tried = sum(v["tried"] for v in data.values())
    loads = sum(v["loads"] for v in data.values())
    return {"tried": tried, "previous_file_loads": loads, "previous_file_load_rate": loads / max(tried, 1), "stale_temp_files": sum(v["stale_temps"] for v in data.values()), "detail": data}


def concurrency(threads_list: list, calls: int) -> dict:
    code = """
        import json, sys, threading
        import numpy as np, pynncore
        from pynncore import layers
        threads_list, calls = json.loads(sys.argv[1]), int(sys.argv[2])
        pynncore.set_num_threads(2)
        pynncore.utils.set_random_seed(0)
        model = pynncore.Sequential([layers.Dense(256, activation="relu", input_dim=64), layers.Dense(128, activation="tanh"), layers.Dense(10, activation="softmax")])
        rng = np.random.default_rng(0)
        xs = [rng.standard_normal((n, 64)).astype(np.float32) for n in (1, 8, 100, 513)]
        ref = [model.predict(x, verbose=0) for x in xs]
        out = []
        for nt in threads_list:
            bad = [0]
            def work(t):
                for r in range(calls):
                    k = (t + r) % len(xs)
                    y = model.predict(xs[k], verbose=0) if r % 2 else model(xs[k])
                    if not np.array_equal(y, ref[k]):
                        bad[0] += 1
            ts = [threading.Thread(target=work, args=(t,)) for t in range(nt)]
            [t.start() for t in ts]; [t.join() for t in ts]
            out.append({"threads": nt, "calls": nt * calls, "mismatches": bad[0]})
        print(json.dumps(out))
    """
    proc = _child(code, json.dumps(threads_list), str(calls))
    if proc.returncode != 0:
        return {"error": proc.stderr[-1000:]}
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"runs": runs, "total_calls": sum(r["calls"] for r in runs), "mismatches": sum(r["mismatches"] for r in runs)}


def memory_growth(predicts: int) -> dict:
    code = """
        import json, os, sys
        import numpy as np, pynncore
        from pynncore import layers
        n = int(sys.argv[1])
        page = os.sysconf("SC_PAGE_SIZE")
        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * page
        pynncore.utils.set_random_seed(0)
        model = pynncore.Sequential([layers.Dense(64, activation="relu", input_dim=16), layers.Dense(4, activation="softmax")])
        x = np.ones((1, 16), np.float32)
        for _ in range(2000):
            model.predict(x, verbose=0); model(x)
        before = rss()
        for i in range(n):
            model(x) if i % 2 == 0 else model.predict(x, verbose=0)
        after = rss()
        print(json.dumps({"predicts": n, "rss_before_mb": before / 2**20, "rss_after_mb": after / 2**20, "growth_mb": (after - before) / 2**20}))
    """
    proc = _child(code, str(predicts), timeout=3600)
    if proc.returncode != 0:
        return {"error": proc.stderr[-1000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def determinism() -> dict:
    code = """
        import sys, pynncore
        from _rel_cases import deterministic_training_hash
        pynncore.set_deterministic(sys.argv[2] == "on")
        print(deterministic_training_hash(int(sys.argv[1])))
    """
    out = {}
    for mode in ("on", "off"):
        for t in (1, 2):
            proc = _child(code, str(t), mode)
            out[f"{mode}_threads{t}"] = proc.stdout.strip() if proc.returncode == 0 else f"error: {proc.stderr[-300:]}"
    return {
        "hash_threads1": out["on_threads1"],
        "hash_threads2": out["on_threads2"],
        "equal": out["on_threads1"] == out["on_threads2"],
        "default_mode_equal": out["off_threads1"] == out["off_threads2"],
    }


def markdown(r: dict) -> str:
    b, h, k, c, m, d = r["bad_inputs"], r["hostile_files"], r["kill_points"], r["concurrency"], r["memory"], r["determinism"]
    rows = [
        ("Bad inputs (ops, layers, models, losses, optimizer updates)", f"{b['tried']} tried", f"{b['crashes']} crashes, {100 * b['clear_error_rate']:.1f}% clear ValueError/TypeError"),
        ("Hostile model files (pickles, huge headers, `os.system` classes, deep JSON, NaN shapes)", f"{h['tried']} tried", f"code executed {h['code_executed']} times, {h['crashes']} crashes, {100 * h['clear_error_rate']:.1f}% clear errors"),
        ("Saves killed with SIGKILL at random points", f"{k['tried']} kill points", f"previous or new file loads: {100 * k['previous_file_load_rate']:.0f}%"),
        ("Concurrent predict vs serial answer", f"{' + '.join(str(x['threads']) + 'x' + str(x['calls'] // x['threads']) for x in c.get('runs', []))} calls", f"{c.get('mismatches', 'error')} mismatches"),
        ("Memory growth over single-sample predicts", f"{m.get('predicts', 0):,} predicts", f"RSS growth {m.get('growth_mb', float('nan')):.2f} MB"),
        ("Deterministic training hash, 1 vs 2 threads", f"`{d['hash_threads1'][:12]}` / `{d['hash_threads2'][:12]}`", "equal" if d["equal"] else "DIFFERENT"),
    ]
    lines = ["| Check | Tried | Result |", "|---|---|---|"]
    lines += [f"| {a} | {t} | {res} |" for a, t, res in rows]
    env = r["environment"]
    lines.append("")
    lines.append(f"pynncore {env['pynncore']} on {env['cpu_path']} ({env['machine']}), Python {env['python']}, measured {env['date']}.")
    return "\n".join(lines) + "\n"


def main(argv: list | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer kill points, calls and predicts")
    parser.add_argument("--out", default=".", help="folder for reliability.json and reliability.md")
    args = parser.parse_args(argv)
    env_proc = _child("import json, pynncore; c = pynncore.get_config(); print(json.dumps([c['version'], c['cpu_path']]))")
    version, cpu_path = json.loads(env_proc.stdout.strip())
    t0 = time.time()
    report = {
        "environment": {"pynncore": version, "cpu_path": cpu_path, "machine": platform.machine(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")},
        "bad_inputs": bad_inputs(),
        "hostile_files": hostile_files(),
        "kill_points": kill_points(5 if args.quick else 20),
        "concurrency": concurrency([1, 2, 4, 8], 50 if args.quick else 250),
        "memory": memory_growth(10_000 if args.quick else 100_000),
        "determinism": determinism(),
    }
    report["seconds"] = round(time.time() - t0, 1)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "reliability.json"), "w") as f:
        json.dump(report, f, indent=2)
    table = markdown(report)
    with open(os.path.join(args.out, "reliability.md"), "w") as f:
        f.write(table)
    print(table)
    return report


if __name__ == "__main__":
    main()
