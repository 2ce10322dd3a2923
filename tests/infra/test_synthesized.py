"""infra/synthesized.py: a synth directory read through its manifest, its stacks in dependency order (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.synthesized import MANIFEST, STACK_FILE, SynthError, dependency_order, is_synth_dir, load

REMOTE = "cross-stack-reference-input-"


def _write(outdir: Path, stacks: dict[str, tuple[tuple[str, ...], dict]], version: str = "0.20.0") -> None:
    """A synth directory as CDKTF writes it: the manifest in its order, each stack's JSON in stacks/<name>/."""
    entries = {}
    for name, (dependencies, body) in stacks.items():
        (outdir / "stacks" / name).mkdir(parents=True)
        (outdir / "stacks" / name / STACK_FILE).write_text(json.dumps(body))
        entries[name] = {
            "name": name,
            "workingDirectory": f"stacks/{name}",
            "synthesizedStackPath": f"stacks/{name}/{STACK_FILE}",
            "dependencies": list(dependencies),
        }
    (outdir / MANIFEST).write_text(json.dumps({"version": version, "stacks": entries}))


def test_stacks_come_in_dependency_order_with_their_files_and_what_they_read(tmp_path):
    # GIVEN a manifest listing the app before what it depends on
    reads = {"data": {"terraform_remote_state": {f"{REMOTE}network": {}, f"{REMOTE}data": {}, "other": {}}}}
    resources = {"aws_lb": {"alb": {"name": "x"}}, "aws_instance": {"a": {}, "b": {}}}
    app = {"resource": resources, "output": {"o": {}}, **reads}
    _write(tmp_path, {"app": (("network", "data"), app), "data": (("network",), {}), "network": ((), {})})
    # WHEN it is loaded THEN each stack follows those it depends on, with its file, JSON and remote-state reads.
    synth = load(tmp_path)
    assert is_synth_dir(tmp_path) and not is_synth_dir(tmp_path / "stacks")
    assert list(synth.stacks) == ["network", "data", "app"] and synth.version == "0.20.0"
    stack = synth.stacks["app"]
    assert stack.file == tmp_path / "stacks" / "app" / STACK_FILE and stack.directory == stack.file.parent
    assert stack.dependencies == ("network", "data") and stack.body == app
    assert stack.resources("aws_instance") == {"a": {}, "b": {}} and stack.resources("aws_vpc") == {}
    assert (stack.resource_count, stack.output_count) == (3, 1)
    assert stack.remote_state_reads == {f"{REMOTE}network": "network", f"{REMOTE}data": "data"}
    assert set(stack.blocks) == {
        "aws_lb.alb",
        "aws_instance.a",
        "aws_instance.b",
        "output.o",
        *(f"data.terraform_remote_state.{n}" for n in reads["data"]["terraform_remote_state"]),
    }


def test_dependency_order_keeps_the_given_order_for_ties_and_refuses_what_cannot_be_ordered():
    assert dependency_order({"b": (), "a": (), "c": ("a",)}) == ["b", "a", "c"]
    with pytest.raises(SynthError, match="dependency cycle through"):
        dependency_order({"app": ("loop",), "loop": ("app",)})
    with pytest.raises(SynthError, match="app depends on ghost, which is not in the manifest"):
        dependency_order({"app": ("ghost",)})
