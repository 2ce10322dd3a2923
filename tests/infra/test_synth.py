"""The synth job itself: the CLI, deterministic output, backends, and the fast provider import."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import engine
from infra.app import synth
from infra.config import load_environment
from infra.synthesized import MANIFEST, load
from tests.infra.variants import changed

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.engines


def _same_tree(a: Path, b: Path) -> list[str]:
    """Relative paths whose bytes differ (or exist on one side only)."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    differ = sorted(str(p) for p in files_a ^ files_b)
    differ += [str(p) for p in sorted(files_a & files_b) if not filecmp.cmp(a / p, b / p, shallow=False)]
    return differ


def _run_synth(outdir: Path, cwd: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infra", "synth", "--env", "dev", "--out", str(outdir)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_synth_prints_a_summary_and_is_byte_identical_from_another_directory(synthesized, tmp_path):
    # GIVEN the session's in-process synth of dev WHEN the CLI synthesizes dev from another cwd
    # with the plain (slow) provider import THEN every file is byte-identical: the output depends
    # neither on the checkout's location nor on the import shortcut.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _run_synth(tmp_path / "out", elsewhere, {"DUEWIN_PLAIN_PROVIDER_IMPORT": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "duewin-dev-network" in proc.stdout and "resources" in proc.stdout
    assert f"synthesized by {engine.current().name} {engine.current().version()}" in proc.stdout
    assert load(tmp_path / "out").stacks["duewin-dev-network"].resource_count > 30
    assert _same_tree(synthesized("dev").outdir, tmp_path / "out") == []


def test_synth_replaces_a_previous_output(tmp_path):
    outdir = tmp_path / "out"
    stale = outdir / "stacks" / "duewin-gone-network"
    stale.mkdir(parents=True)
    (outdir / MANIFEST).write_text("{}")
    synth(load_environment("dev"), outdir)
    assert not stale.exists()


def test_terraform_cloud_backend_when_an_organization_is_configured(tmp_path):
    config = changed(
        load_environment("staging"), {"terraform_cloud": {"organization": "duewin", "workspace_prefix": "dw-stg"}}
    )
    synth(config, tmp_path)
    body = json.loads((tmp_path / "stacks" / "duewin-staging-network" / "cdk.tf.json").read_text())
    assert body["terraform"]["cloud"] == {"organization": "duewin", "workspaces": {"name": "dw-stg-network"}}
    assert "backend" not in body["terraform"]


def test_cdktf_json_app_command_synthesizes_where_the_cdktf_cli_asks(tmp_path):
    # `cdktf synth|deploy` runs cdktf.json's "app" from the project root with CDKTF_OUTDIR set.
    app = json.loads((ROOT / "cdktf.json").read_text())
    assert app["language"] == "python"
    command = app["app"].replace(".venv/bin/python", sys.executable)
    proc = subprocess.run(
        command,
        shell=True,
        cwd=ROOT,
        env={**os.environ, "CDKTF_OUTDIR": str(tmp_path), "DUEWIN_ENV": "prod"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    kinds = ("network", "data", "app", "monitoring")
    assert list(load(tmp_path).stacks) == [f"duewin-prod-{kind}" for kind in kinds]
