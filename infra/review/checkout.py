"""The edge of the review: git checkouts, synthesis subprocesses, checkov.

The base is checked out with ``git worktree add`` into a temporary directory and synthesized by
*its own* code (``python -m infra synth`` with that directory first on ``sys.path``) under this
venv's interpreter; the working tree is synthesized the same way. Both run as subprocesses, in
parallel, so neither side's modules leak into the other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from infra import synthesized
from infra.checkov_scan import CheckovUnavailable, checkov_binary, load_skips, scan
from infra.review.diff import diff
from infra.review.report import CheckovDelta, EnvironmentReview, Review
from infra.review.risks import checkov_risks, find_risks

SYNTH_TIMEOUT = 900


class ReviewError(Exception):
    """The review could not be made (bad ref, bad environment, a side fails to synthesize): exit 2."""


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ReviewError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def repository_root(cwd: Path) -> Path:
    return Path(_git(cwd, "rev-parse", "--show-toplevel"))


def resolve(root: Path, ref: str) -> str:
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ReviewError:
        raise ReviewError(f"--base {ref!r} is not a commit in {root}") from None


@contextmanager
def worktree(root: Path, commit: str):
    """A detached checkout of ``commit``, removed (with its git bookkeeping) afterwards."""
    holder = Path(tempfile.mkdtemp(prefix="infra-review-"))
    path = holder / "base"
    try:
        _git(root, "worktree", "add", "--detach", "--quiet", str(path), commit)
        yield path
    finally:
        if path.exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=root, capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=root, capture_output=True)
        shutil.rmtree(holder, ignore_errors=True)


def synthesize(checkout: Path, env: str, outdir: Path) -> None:
    """``infra synth`` of ``checkout``'s code and environment files, in a subprocess."""
    outdir.parent.mkdir(parents=True, exist_ok=True)  # CDKTF creates only the last level
    proc = subprocess.run(
        [sys.executable, "-m", "infra", "synth", "--env", env, "--out", str(outdir), "--quiet"],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout), "DUEWIN_ENV": env},
        capture_output=True,
        text=True,
        timeout=SYNTH_TIMEOUT,
    )
    if proc.returncode != 0:
        raise ReviewError(
            f"synthesizing {env} in {checkout} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )


def review(root: Path, base: str, envs: list[str], workdir: Path, with_checkov: bool = True) -> Review:
    """Synthesize ``root``'s working tree and ``base``, and compare them environment by environment."""
    commit = resolve(root, base)
    for env in envs:
        if not (root / "environments" / f"{env}.toml").is_file():
            raise ReviewError(f"unknown environment {env!r}: no environments/{env}.toml in the working tree")
    if with_checkov:
        try:
            checkov_binary()
        except CheckovUnavailable as exc:
            raise ReviewError(f"{exc}; pass --no-checkov to review without it") from None
    with worktree(root, commit) as base_tree:
        reviews = [_review_environment(root, base_tree, env, workdir / env, with_checkov) for env in envs]
    return Review(base=base, base_commit=commit, environments=reviews)


def _review_environment(root: Path, base_tree: Path, env: str, workdir: Path, with_checkov: bool) -> EnvironmentReview:
    head_out, base_out = workdir / "head", workdir / "base"
    base_missing = not (base_tree / "environments" / f"{env}.toml").is_file()
    sides = [(root, head_out)] + ([] if base_missing else [(base_tree, base_out)])
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(synthesize, tree, env, out) for tree, out in sides]:
            future.result()
    before = synthesized.SynthDir() if base_missing else synthesized.load(base_out)
    after = synthesized.load(head_out)
    changes = diff(before, after)
    risks = find_risks(changes, before, after)
    delta = None
    if with_checkov:
        with ThreadPoolExecutor(max_workers=2) as pool:
            head_scan = pool.submit(scan, head_out, env, load_skips(root / "tools" / "checkov-skips.toml"))
            base_scan = (
                None
                if base_missing
                else pool.submit(scan, base_out, env, load_skips(base_tree / "tools" / "checkov-skips.toml"))
            )
            head_result = head_scan.result()
            base_result = base_scan.result() if base_scan else None
        old_findings = [] if base_result is None else [*base_result.unexplained, *(f for f, _ in base_result.accepted)]
        new_risks = checkov_risks(old_findings, head_result.unexplained)
        risks += new_risks
        old_keys = {(f.check_id, f.stack, f.resource) for f in old_findings}
        new_keys = {
            (f.check_id, f.stack, f.resource) for f in [*head_result.unexplained, *(f for f, _ in head_result.accepted)]
        }
        delta = CheckovDelta(
            new=tuple(f"{r.detail} on {r.stack} {r.address}" for r in new_risks),
            newly_accepted=tuple(
                str(f) for f, _ in head_result.accepted if (f.check_id, f.stack, f.resource) not in old_keys
            ),
            resolved=tuple(str(f) for f in old_findings if (f.check_id, f.stack, f.resource) not in new_keys),
        )
    return EnvironmentReview(env, changes, risks, synthesized.digest(head_out), delta, base_missing)
