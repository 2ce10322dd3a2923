"""Both engines synthesize the same infrastructure: every variant, resource by resource (docs/engines.md).

This session's engine synthesizes in process (the shared ``synthesized`` fixture); the other engine
synthesizes every variant in one process of its own (two engines cannot share a process).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import engine
from infra.engine import ENGINES
from infra.review.equivalence import AllowedDifference, Comparison, compare, load_allowed, stale
from infra.synthesized import load
from tests.conftest import ROOT, missing
from tests.infra.variants import VARIANTS


@pytest.fixture(scope="session")
def outputs(synthesized, tmp_path_factory) -> dict[str, dict[str, Path]]:
    """``outputs[engine][variant]``: the synthesized directory."""
    this = engine.current()
    other = next(e for e in ENGINES.values() if e is not this)
    if not other.installed():
        missing(f"engine {other.name}: {other.install}")
    outroot = tmp_path_factory.mktemp(f"synth-{other.name}")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.infra.variants", str(outroot)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), engine.ENGINE_ENV: other.name},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {this.name: {v: synthesized(v).outdir for v in VARIANTS}, other.name: {v: outroot / v for v in VARIANTS}}


@pytest.fixture(scope="session")
def comparisons(outputs) -> dict[str, Comparison]:
    allowed = load_allowed()
    return {v: compare(outputs["cdktf"][v], outputs["cdktn"][v], allowed) for v in VARIANTS}


def test_each_side_was_synthesized_by_its_engine(outputs):
    # The manifest carries the engine's version: a comparison of cdktf with itself would prove nothing.
    for name, variants in outputs.items():
        versions = {load(outdir).version for outdir in variants.values()}
        assert versions == {ENGINES[name].version()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_logical_ids_are_identical(comparisons, variant):
    # Same stacks, dependencies, block addresses and construct paths: no state address moves.
    assert comparisons[variant].identity == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_difference_is_allowed_with_its_reason(comparisons, variant):
    comparison = comparisons[variant]
    assert not comparison.unexplained, "add to tools/engine-differences.toml, with a reason, or fix:\n" + "\n".join(
        map(str, comparison.unexplained)
    )
    assert comparison.equivalent


def test_every_allowed_difference_still_occurs(comparisons):
    gone = stale(load_allowed(), list(comparisons.values()))
    names = [(entry.address, entry.attribute) for entry in gone]
    assert not gone, f"stale entries in tools/engine-differences.toml (remove them): {names}"


def test_the_comparison_can_fail(synthesized, tmp_path):
    # GIVEN dev's output and a copy with one argument changed, one resource renamed, the provider pinned
    # elsewhere THEN each is reported, and the allow-list accepts none of them.
    original = synthesized("dev").outdir
    changed = tmp_path / "changed"
    shutil.copytree(original, changed)
    path = changed / "stacks" / "duewin-dev-network" / "cdk.tf.json"
    body = json.loads(path.read_text())
    subnets = body["resource"]["aws_subnet"]
    first = next(iter(subnets))
    subnets[first]["map_public_ip_on_launch"] = True
    subnets[f"{first}_moved"] = subnets.pop(next(iter(list(subnets)[1:])))
    body["terraform"]["required_providers"]["aws"]["version"] = "9.9.9"
    path.write_text(json.dumps(body))
    comparison = compare(original, changed, load_allowed())
    assert not comparison.equivalent
    assert [p for p in comparison.identity if "only in" in p and "aws_subnet." in p] and len(comparison.identity) == 2
    assert {(d.address, d.attribute) for d in comparison.unexplained} == {
        (f"aws_subnet.{first}", "map_public_ip_on_launch"),
        ("terraform", "required_providers.aws.version"),
    }


def test_an_allowed_difference_needs_both_values_and_a_reason(tmp_path):
    path = tmp_path / "differences.toml"
    path.write_text('[[difference]]\naddress = "terraform"\nattribute = "x"\ncdktf = "a"\ncdktn = "b"\nreason = " "\n')
    with pytest.raises(ValueError, match="difference #1 \\(x\\) needs a reason"):
        load_allowed(path)
    path.write_text('[[difference]]\naddress = "terraform"\nattribute = "x"\ncdktf = "a"\nreason = "r"\n')
    with pytest.raises(ValueError, match="needs cdktn"):
        load_allowed(path)
    entry = AllowedDifference("aws_*", "tags.Name", "a", "b", "r")
    assert entry.accepts(_difference("aws_vpc.x", "tags.Name", "a", "b"))
    assert not entry.accepts(_difference("aws_vpc.x", "tags.Name", "a", "c"))
    assert not entry.accepts(_difference("data.aws_vpc.x", "tags.Name", "a", "b"))


def _difference(address: str, attribute: str, cdktf: str, cdktn: str):
    from infra.review.equivalence import Difference

    return Difference("stack", address, attribute, cdktf, cdktn)
