"""Synthesize each environment once per test session; every infra test reads that output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import engine
from infra.app import synth
from infra.synthesized import load
from infra.terraform_cli import OfflineTerraform, TerraformUnavailable
from tests.conftest import missing
from tests.infra.assertions import resources_of_type
from tests.infra.variants import variant_config

# Chosen by $DUEWIN_ENGINE (`make test-cdktn`), else cdktf; activated before any test module imports a
# construct, so those imports take the fast path the app builder takes.
engine.activate()


class Synth:
    """One synthesized environment read through ``infra.synthesized``, its stacks named by kind."""

    def __init__(self, env: str, outdir: Path) -> None:
        self.env = env  # the environment's name (a variant keeps its base environment's name)
        self.outdir = outdir
        self.model = load(outdir)

    def stack_names(self) -> list[str]:
        return list(self.model.stacks)

    def stack_dir(self, kind: str) -> Path:
        return self.model.stacks[f"duewin-{self.env}-{kind}"].directory

    def stack(self, kind: str) -> dict:
        """The stack's JSON, parsed afresh: a test may plant a violation in it without touching the others'."""
        return json.loads(self.model.stacks[f"duewin-{self.env}-{kind}"].file.read_text())

    def resources(self, kind: str, resource_type: str) -> dict[str, dict]:
        return resources_of_type(self.stack(kind), resource_type)

    def data(self, kind: str, data_type: str) -> dict[str, dict]:
        return resources_of_type(self.stack(kind), data_type, block="data")


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    """``synthesized(env) -> Synth``, synthesizing each environment (or ``EDGE``) at most once per session."""
    cache: dict[str, Synth] = {}

    def get(env: str) -> Synth:
        if env not in cache:
            config = variant_config(env)
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
