"""Synthesize each environment once per test session; every infra test reads that output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.app import synth
from infra.config import EnvironmentConfig, available_environments, load_environment
from infra.terraform_cli import OfflineTerraform, TerraformUnavailable
from tests.conftest import missing

ENVIRONMENTS = available_environments()
#: A synthesized configuration that no shipped environment has, for toggles off everywhere by default.
EDGE = "prod+edge"
EDGE_DOMAIN = "duewin.example.com"


#: The cutover runner's S3 prefix in EDGE.
RUNNER_PREFIX = "s3://duewin-cutover-dumps/prod/"


def edge_config() -> EnvironmentConfig:
    """prod with the whole edge on (created zone, CloudFront, the ALB's certificate), two e-mails, and
    the cutover runner (off everywhere by default too)."""
    base = load_environment("prod").model_dump()
    return EnvironmentConfig.model_validate(
        {
            **base,
            "dns": {"domain": EDGE_DOMAIN, "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"},
            "edge": {**base["edge"], "create_cloudfront": True, "create_dns": True, "create_zone": True},
            "alarms": {**base["alarms"], "emails": ("ops@example.com", "oncall@example.com")},
            "cutover": {**base["cutover"], "runner": True, "dump_prefix": RUNNER_PREFIX},
        }
    )


class Synth:
    """One synthesized environment: its directory and each stack's parsed JSON."""

    def __init__(self, env: str, outdir: Path) -> None:
        self.env = env  # the environment's name (a variant keeps its base environment's name)
        self.outdir = outdir
        self.manifest = json.loads((outdir / "manifest.json").read_text())

    def stack_names(self) -> list[str]:
        return list(self.manifest["stacks"])

    def stack_dir(self, kind: str) -> Path:
        return self.outdir / "stacks" / f"duewin-{self.env}-{kind}"

    def stack(self, kind: str) -> dict:
        return json.loads((self.stack_dir(kind) / "cdk.tf.json").read_text())

    def resources(self, kind: str, resource_type: str) -> dict[str, dict]:
        return self.stack(kind).get("resource", {}).get(resource_type, {})

    def data(self, kind: str, data_type: str) -> dict[str, dict]:
        return self.stack(kind).get("data", {}).get(data_type, {})


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    """``synthesized(env) -> Synth``, synthesizing each environment (or ``EDGE``) at most once per session."""
    cache: dict[str, Synth] = {}

    def get(env: str) -> Synth:
        if env not in cache:
            config = edge_config() if env == EDGE else load_environment(env)
            outdir = tmp_path_factory.mktemp(f"synth-{env}")
            synth(config, outdir)
            cache[env] = Synth(config.name, outdir)
        return cache[env]

    return get


@pytest.fixture(scope="session")
def terraform(tmp_path_factory) -> OfflineTerraform:
    """The offline terraform runner (shared plugin cache); missing terraform or mirror fails in CI."""
    try:
        return OfflineTerraform.create(tmp_path_factory.mktemp("terraform-home"))
    except TerraformUnavailable as exc:
        missing(str(exc))
