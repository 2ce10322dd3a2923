"""A synthesized CDKTF output directory, read without importing CDKTF: the one reader of its manifest.

``load(outdir)`` gives a ``SynthDir``: the engine version that wrote it and its stacks in dependency
order (each after the stacks it depends on), each with its ``cdk.tf.json``, the parsed JSON, its
resources by type and the stacks whose state it reads. Synth, review, graph, Terraform Cloud plans,
the deploy rehearsal and the tests all read the output through it.

Every block of a stack — resources, data sources, outputs, providers, the terraform block — also
gets a Terraform-style address (``aws_vpc.vpc_vpc_1A2B``, ``data.aws_iam_policy_document.x``,
``output.x``, ``provider.aws``, ``terraform``) and its body with CDKTF's ``//`` metadata removed:
that metadata (construct paths, stack traces) changes with refactorings that change nothing in AWS.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
STACK_FILE = "cdk.tf.json"
METADATA_KEY = "//"
REMOTE_STATE = "terraform_remote_state"
#: CDKTF names the data source that reads another stack's outputs after that stack.
REMOTE_STATE_PREFIX = "cross-stack-reference-input-"

# Inside a ``${...}`` expression: ``type.name`` or ``data.type.name``; kept only if the block exists.
_REFERENCE = re.compile(r"(?<![\w.-])((?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*)")
# CDKTF's cross-stack plumbing: the consumer reads ``outputs.<name>`` of the producer's remote state.
_REMOTE_OUTPUT = re.compile(rf"data\.{REMOTE_STATE}\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)")


class SynthError(ValueError):
    """A manifest whose stacks cannot be ordered: a dependency cycle, or a dependency it does not list."""


@dataclass(frozen=True)
class Block:
    stack: str
    kind: str  # resource | data | output | provider | terraform
    type: str  # resource or data source type, provider name; "" for outputs and the terraform block
    name: str
    body: Any
    construct_path: str | None = None

    @property
    def address(self) -> str:
        if self.kind == "resource":
            return f"{self.type}.{self.name}"
        if self.kind == "data":
            return f"data.{self.type}.{self.name}"
        if self.kind == "output":
            return f"output.{self.name}"
        if self.kind == "provider":
            return f"provider.{self.type}" + (f".{self.name}" if self.name else "")
        return "terraform"


@dataclass(frozen=True)
class SynthStack:
    """One stack's Terraform JSON (``body``, as synthesized); ``file`` is None for a body built in memory."""

    name: str
    body: dict = field(repr=False)
    dependencies: tuple[str, ...] = ()
    file: Path | None = None

    @property
    def directory(self) -> Path:
        """Where terraform runs for this stack."""
        return self.file.parent

    def resources(self, resource_type: str) -> dict[str, dict]:
        return self.body.get("resource", {}).get(resource_type, {})

    def data(self, data_type: str) -> dict[str, dict]:
        return self.body.get("data", {}).get(data_type, {})

    @property
    def resource_count(self) -> int:
        return sum(len(instances) for instances in self.body.get("resource", {}).values())

    @property
    def output_count(self) -> int:
        return len(self.body.get("output", {}))

    @cached_property
    def remote_state_reads(self) -> dict[str, str]:
        """Data source name → the stack whose state it reads, for every cross-stack reference."""
        return {
            name: name.removeprefix(REMOTE_STATE_PREFIX)
            for name in self.data(REMOTE_STATE)
            if name.startswith(REMOTE_STATE_PREFIX)
        }

    @cached_property
    def blocks(self) -> dict[str, Block]:
        """Address → block, every block with its ``//`` metadata removed."""
        return {block.address: block for block in _blocks(self.name, self.body)}

    def of_kind(self, kind: str) -> list[Block]:
        return [block for block in self.blocks.values() if block.kind == kind]


@dataclass(frozen=True)
class SynthDir:
    """Stacks by name, in dependency order (each after the stacks it depends on); ``version``: the engine's."""

    stacks: dict[str, SynthStack] = field(default_factory=dict)
    directory: Path | None = None
    version: str = ""

    def output(self, name: str) -> tuple[SynthStack, Block] | None:
        for stack in self.stacks.values():
            block = stack.blocks.get(f"output.{name}")
            if block is not None:
                return stack, block
        return None


def is_synth_dir(path: Path) -> bool:
    """Whether ``path`` holds a synth's output (its manifest)."""
    return (Path(path) / MANIFEST).is_file()


def load(outdir: Path) -> SynthDir:
    outdir = Path(outdir)
    manifest = json.loads((outdir / MANIFEST).read_text())
    entries = manifest["stacks"]
    dependencies = {name: tuple(entry.get("dependencies", ())) for name, entry in entries.items()}
    stacks = {}
    for name in dependency_order(dependencies):
        file = outdir / entries[name]["synthesizedStackPath"]
        stacks[name] = SynthStack(name, json.loads(file.read_text()), dependencies[name], file)
    return SynthDir(stacks, outdir, manifest.get("version", ""))


def dependency_order(dependencies: dict[str, tuple[str, ...]]) -> list[str]:
    """Stack names so that each comes after those it depends on; the given order breaks ties."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise SynthError(f"dependency cycle through {name}")
        visiting.add(name)
        for dependency in dependencies[name]:
            if dependency not in dependencies:
                raise SynthError(f"{name} depends on {dependency}, which is not in the manifest")
            visit(dependency)
        visiting.discard(name)
        ordered.append(name)

    for name in dependencies:
        visit(name)
    return ordered


def _blocks(stack: str, body: dict):
    for kind in ("resource", "data"):
        for type_, instances in body.get(kind, {}).items():
            for name, block_body in instances.items():
                yield Block(stack, kind, type_, name, strip_metadata(block_body), _construct_path(block_body))
    for output_name, output_body in body.get("output", {}).items():
        yield Block(stack, "output", "", output_name, strip_metadata(output_body))
    for provider, configs in body.get("provider", {}).items():
        for config in configs if isinstance(configs, list) else [configs]:
            yield Block(stack, "provider", provider, config.get("alias", ""), strip_metadata(config))
    if "terraform" in body:
        yield Block(stack, "terraform", "", "", strip_metadata(body["terraform"]))


def strip_metadata(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: strip_metadata(item) for key, item in value.items() if key != METADATA_KEY}
    if isinstance(value, list):
        return [strip_metadata(item) for item in value]
    return value


def _construct_path(body: Any) -> str | None:
    if isinstance(body, dict):
        return body.get(METADATA_KEY, {}).get("metadata", {}).get("path")
    return None


def strings(value: Any):
    """Every string anywhere inside ``value``."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def references(value: Any, known: set[str] | dict) -> set[str]:
    """Addresses in ``known`` that ``${...}`` tokens inside ``value`` refer to."""
    found = set()
    for text in strings(value):
        if "${" in text:
            found.update(match for match in _REFERENCE.findall(text) if match in known)
    return found


def remote_outputs(value: Any) -> set[str]:
    """Names of other stacks' outputs that ``value`` reads through CDKTF's remote-state data sources."""
    return {match[1] for text in strings(value) if "${" in text for match in _REMOTE_OUTPUT.findall(text)}


def digest(outdir: Path) -> str:
    """sha256 of the synthesized stacks, equal to this shell pipeline run in ``outdir`` (deploys use it):

    ``find stacks -name cdk.tf.json | LC_ALL=C sort | xargs sha256sum | sha256sum``
    """
    outdir = Path(outdir)
    files = sorted((p.relative_to(outdir).as_posix() for p in outdir.glob(f"stacks/*/{STACK_FILE}")), key=str.encode)
    lines = [f"{hashlib.sha256((outdir / path).read_bytes()).hexdigest()}  {path}\n" for path in files]
    return hashlib.sha256("".join(lines).encode()).hexdigest()
