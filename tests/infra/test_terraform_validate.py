"""Tier 3: the real terraform validates every synthesized stack against the offline provider mirror.

The JSON pins the provider its bindings were made for (6.25.0 with cdktf, 6.32.1 with cdktn;
docs/engines.md); the mirror holds 5.100.0. An error about an argument that exists only in 6.x is version
skew, not a bug: none occurs today, and if one appears it must be named here, not silenced.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.infra.variants import VARIANTS

pytestmark = pytest.mark.engines


@pytest.mark.parametrize("env", VARIANTS)
def test_every_stack_validates(terraform, synthesized, env, tmp_path):
    synth = synthesized(env)
    for stack in synth.stack_names():
        # A copy, so .terraform/ never lands in the directory checkov scans.
        workdir = tmp_path / stack
        shutil.copytree(synth.outdir / "stacks" / stack, workdir)
        result = terraform.validate(workdir)
        assert result.returncode == 0, f"{stack}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        report = json.loads(result.stdout)
        assert report["valid"] is True and report["error_count"] == 0, f"{stack}: {report['diagnostics']}"


def test_validate_rejects_a_broken_stack(terraform, synthesized, tmp_path):
    # GIVEN a stack with a required argument removed THEN validate fails: this tier can fail.
    synth = synthesized("dev")
    workdir = tmp_path / "broken"
    shutil.copytree(synth.stack_dir("network"), workdir)
    body = json.loads((workdir / "cdk.tf.json").read_text())
    next(iter(body["resource"]["aws_subnet"].values())).pop("vpc_id")
    (workdir / "cdk.tf.json").write_text(json.dumps(body))
    result = terraform.validate(workdir)
    assert result.returncode != 0
    assert "vpc_id" in result.stdout + result.stderr
