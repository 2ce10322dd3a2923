"""Synth benchmark: the plain provider import vs the project's lazy import, side by side.

Runs `python -m infra synth` for one environment N times each way in fresh processes (what a user
pays), alternating the two so machine noise hits both, and prints median wall time, peak RSS of the
whole process tree (python + the jsii node process), and the ratio.

    .venv/bin/python bench/synth.py [--env dev] [--runs 3]
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


def run_once(env: str, plain: bool) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        environ = {**os.environ, "DUEWIN_PLAIN_PROVIDER_IMPORT": "1" if plain else "0"}
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra", "synth", "--env", env, "--out", out, "--quiet"],
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
            raise SystemExit(f"synth failed with exit code {code}")
        return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, int]]] = {"plain": [], "project": []}
    run_once(args.env, plain=False)  # warm the jsii package cache so neither side pays for it
    for _ in range(args.runs):
        results["plain"].append(run_once(args.env, plain=True))
        results["project"].append(run_once(args.env, plain=False))
    print(f"synth --env {args.env}, median of {args.runs} fresh processes")
    print(f"{'import':<8} {'wall s':>7} {'peak RSS MB':>12}")
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(t for t, _ in runs)
        rss = statistics.median(r for _, r in runs) / 1024
        medians[name] = (wall, rss)
        print(f"{name:<8} {wall:>7.2f} {rss:>12.0f}")
    print(f"ratio project/plain: wall {medians['project'][0] / medians['plain'][0]:.2f}, "
          f"RSS {medians['project'][1] / medians['plain'][1]:.2f}")


if __name__ == "__main__":
    main()
