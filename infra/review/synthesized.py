"""A synthesized CDKTF output directory read as plain blocks, without importing CDKTF.

Every block of every stack — resources, data sources, outputs, providers, the terraform block —
gets a Terraform-style address (``aws_vpc.vpc_vpc_1A2B``, ``data.aws_iam_policy_document.x``,
``output.x``, ``provider.aws``, ``terraform``) and its body with CDKTF's ``//`` metadata removed:
that metadata (construct paths, stack traces) changes with refactorings that change nothing in AWS.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METADATA_KEY = "//"
REMOTE_STATE = "terraform_remote_state"

# Inside a ``${...}`` expression: ``type.name`` or ``data.type.name``; kept only if the block exists.
_REFERENCE = re.compile(r"(?<![\w.-])((?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*)")
# CDKTF's cross-stack plumbing: the consumer reads ``outputs.<name>`` of the producer's remote state.
_REMOTE_OUTPUT = re.compile(r"data\.terraform_remote_state\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)")


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
class Stack:
    name: str
    blocks: dict[str, Block]
    dependencies: tuple[str, ...] = ()

    def of_kind(self, kind: str) -> list[Block]:
        return [block for block in self.blocks.values() if block.kind == kind]


@dataclass(frozen=True)
class Synth:
    """Stacks in dependency order (each after the stacks it reads from)."""

    stacks: dict[str, Stack] = field(default_factory=dict)

    def output(self, name: str) -> tuple[Stack, Block] | None:
        for stack in self.stacks.values():
            block = stack.blocks.get(f"output.{name}")
            if block is not None:
                return stack, block
        return None


def load(outdir: Path) -> Synth:
    outdir = Path(outdir)
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = {}
    for name in stack_order(manifest):
        entry = manifest["stacks"][name]
        body = json.loads((outdir / entry["synthesizedStackPath"]).read_text())
        stacks[name] = parse_stack(name, body, tuple(entry.get("dependencies", ())))
    return Synth(stacks)


def stack_order(manifest: dict) -> list[str]:
    """Stacks so that each comes after those it depends on; manifest order breaks ties."""
    stacks = manifest["stacks"]
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise ValueError(f"dependency cycle through {name}")
        visiting.add(name)
        for dependency in stacks[name].get("dependencies", ()):
            visit(dependency)
        ordered.append(name)

    for name in stacks:
        visit(name)
    return ordered


def parse_stack(name: str, body: dict, dependencies: tuple[str, ...] = ()) -> Stack:
    blocks: list[Block] = []
    for kind in ("resource", "data"):
        for type_, instances in body.get(kind, {}).items():
            for block_name, block_body in instances.items():
                blocks.append(Block(name, kind, type_, block_name, strip_metadata(block_body), _construct_path(block_body)))
    for output_name, output_body in body.get("output", {}).items():
        blocks.append(Block(name, "output", "", output_name, strip_metadata(output_body)))
    for provider, configs in body.get("provider", {}).items():
        for config in configs if isinstance(configs, list) else [configs]:
            blocks.append(Block(name, "provider", provider, config.get("alias", ""), strip_metadata(config)))
    if "terraform" in body:
        blocks.append(Block(name, "terraform", "", "", strip_metadata(body["terraform"])))
    return Stack(name, {block.address: block for block in blocks}, dependencies)


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
    lines = []
    for path in sorted((p.relative_to(outdir).as_posix() for p in outdir.glob("stacks/*/cdk.tf.json")), key=str.encode):
        lines.append(f"{hashlib.sha256((outdir / path).read_bytes()).hexdigest()}  {path}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()
