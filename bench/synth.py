"""Synth benchmark: each engine with the plain provider import and with the project's lazy import, side by side.

Runs `python -m infra synth` for one environment N times per engine and import path in fresh processes
(what a user pays), alternating them so machine noise hits all, and prints median wall time, peak RSS of
the whole process tree (python + the jsii node process), and the ratios: lazy/plain per engine (goal
<= 1/3 of the wall time), and cdktn/cdktf with the lazy import.

    .venv/bin/python bench/synth.py [--env dev] [--runs 3] [--engines cdktf,cdktn]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tree_rss_kb(root_pid: int) -> int:
    """Sum of VmRSS over root_pid and its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, ppid = int(entry), int(fields["PPid"])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_once(env: str, engine: str, plain: bool) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        environ = {**os.environ, "DUEWIN_PLAIN_PROVIDER_IMPORT": "1" if plain else "0"}
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra", "synth", "--env", env, "--engine", engine, "--out", out, "--quiet"],
            cwd=ROOT,
            env=environ,
        )
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss_kb(proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        elapsed = time.monotonic() - started
        done.set()
        sampler.join()
        if code != 0:
            raise SystemExit(f"synth --engine {engine} failed with exit code {code}")
        return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", default="cdktf,cdktn", help="comma-separated, in the order to print")
    args = parser.parse_args()
    engines = args.engines.split(",")
    cases = [(engine, path) for engine in engines for path in ("plain", "lazy")]
    results: dict[tuple[str, str], list[tuple[float, int]]] = {case: [] for case in cases}
    for engine in engines:
        run_once(args.env, engine, plain=False)  # warm the jsii package cache so no case pays for it
    for _ in range(args.runs):
        for engine, path in cases:
            results[(engine, path)].append(run_once(args.env, engine, plain=path == "plain"))
    print(f"synth --env {args.env}, median of {args.runs} fresh processes")
    print(f"{'engine':<7} {'import':<6} {'wall s':>7} {'peak RSS MB':>12}")
    medians = {}
    for (engine, path), runs in results.items():
        wall = statistics.median(t for t, _ in runs)
        rss = statistics.median(r for _, r in runs) / 1024
        medians[(engine, path)] = (wall, rss)
        print(f"{engine:<7} {path:<6} {wall:>7.2f} {rss:>12.0f}")
    for engine in engines:
        (lazy_wall, lazy_rss), (plain_wall, plain_rss) = medians[(engine, "lazy")], medians[(engine, "plain")]
        print(f"{engine}: lazy/plain wall {lazy_wall / plain_wall:.2f}, RSS {lazy_rss / plain_rss:.2f}")
    if len(engines) == 2:
        (a_wall, a_rss), (b_wall, b_rss) = medians[(engines[1], "lazy")], medians[(engines[0], "lazy")]
        print(f"{engines[1]}/{engines[0]} (lazy): wall {a_wall / b_wall:.2f}, RSS {a_rss / b_rss:.2f}")


if __name__ == "__main__":
    main()
