"""The GitHub workflows, validated offline: SchemaStore's workflow schema (check-jsonschema, which
vendors it), shellcheck on every `run:` script, and the promises the workflows make to each other.

actionlint would check more (expressions, action inputs), but its PyPI wrapper downloads the binary
from GitHub while building, which cannot work here; these three checks are what can run offline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from infra.config import available_environments
from infra.review.report import COMMENT_MARKER, DIGEST_MARKER
from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
DIGEST_PIPELINE = "find stacks -name cdk.tf.json | LC_ALL=C sort | xargs sha256sum | sha256sum"


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def _validator() -> str:
    found = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))
    if not Path(found).is_file():
        missing("check-jsonschema (pip install -e '.[dev]')")
    return found


def _validate(paths: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_validator(), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_workflows_match_the_github_workflow_schema():
    assert {p.name for p in WORKFLOWS} == {"pull-request.yml", "deploy.yml", "deploy-environment.yml"}
    proc = _validate(WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_can_fail(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text((ROOT / ".github" / "workflows" / "deploy.yml").read_text().replace("runs-on:", "runs_on:", 1))
    assert _validate([broken]).returncode != 0


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_run_scripts_pass_shellcheck(workflow):
    if shutil.which("shellcheck") is None:
        missing("shellcheck")
    for job_name, job in yaml.safe_load(workflow.read_text())["jobs"].items():
        for step in job.get("steps", []):
            if "run" not in step:
                continue
            # ${{ }} is substituted by Actions before bash runs; any word stands in for it.
            script = re.sub(r"\$\{\{.*?\}\}", "EXPR", step["run"])
            proc = subprocess.run(["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True)
            assert proc.returncode == 0, f"{workflow.name} {job_name} / {step.get('name')}:\n{proc.stdout}"


def test_pull_request_workflow_keeps_one_comment_and_plans_only_with_a_token():
    steps = {s.get("name", s.get("uses")): s for s in _load("pull-request.yml")["jobs"]["review"]["steps"]}
    assert "make test" in steps["make test"]["run"]
    comment = steps["Post or update the one review comment"]
    assert comment["uses"].startswith("actions/github-script@")
    # The comment is found by the marker infra review writes first, and the digest line stays last.
    assert f"'{COMMENT_MARKER}'" in comment["with"]["script"] and DIGEST_MARKER in comment["with"]["script"]
    assert "updateComment" in comment["with"]["script"] and "createComment" in comment["with"]["script"]
    plans = steps["Speculative plans per stack, in dependency order"]
    assert "steps.tfc.outputs.configured == 'yes'" in plans["if"]
    assert plans["env"] == {"TF_TOKEN_app_terraform_io": "${{ secrets.TF_API_TOKEN }}"}
    assert "python -m infra.review.plans" in plans["run"]
    assert "infra review --base" in steps["Offline risk review against the base branch"]["run"]


def test_deploy_applies_only_the_reviewed_synth_environment_by_environment_with_prod_gated():
    deploy = _load("deploy.yml")
    assert deploy[True] == {"push": {"branches": ["main"]}}  # PyYAML reads the key `on` as True
    jobs = deploy["jobs"]
    check = next(s["run"] for s in jobs["reviewed"]["steps"] if "run" in s and "digest" in s["run"])
    assert COMMENT_MARKER in check and DIGEST_MARKER in check and DIGEST_PIPELINE in check
    order = ["reviewed", *(f"deploy-{env}" for env in ("dev", "staging", "prod"))]
    assert sorted(order[1:]) == sorted(f"deploy-{env}" for env in available_environments())
    for previous, job in pairwise(order):
        assert jobs[job]["needs"] == previous
        assert jobs[job]["uses"] == "./.github/workflows/deploy-environment.yml"
        assert jobs[job]["with"]["environment"] == job.removeprefix("deploy-")

    called = _load("deploy-environment.yml")["jobs"]["deploy"]
    assert called["environment"] == "${{ inputs.environment }}"  # prod's required reviewers apply
    run = next(s["run"] for s in called["steps"] if "run" in s)
    assert "deploy --skip-synth" in run and "download-artifact" in str(called["steps"])


def test_synthesized_digest_documents_the_same_pipeline():
    from infra import synthesized

    assert DIGEST_PIPELINE in " ".join(synthesized.digest.__doc__.split())
