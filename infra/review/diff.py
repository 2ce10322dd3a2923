"""Resource-by-resource difference of two synthesized outputs: added, removed, changed attributes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra.synthesized import Block, SynthDir


class _Absent:
    """An attribute that is not set on one side (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class AttributeChange:
    path: str  # dotted, with [i] for positions in lists of objects: "ingress[0].cidr_blocks"
    before: Any
    after: Any

    @property
    def top(self) -> str:
        """The top-level argument the change belongs to ("ingress" for "ingress[0].cidr_blocks")."""
        return re.match(r"[^.\[]+", self.path).group(0)

    @property
    def leaf(self) -> str:
        return re.split(r"[.\[\]]+", self.path.rstrip("]"))[-1]


@dataclass(frozen=True)
class BlockChange:
    stack: str
    action: str  # added | removed | changed
    before: Block | None
    after: Block | None
    attributes: tuple[AttributeChange, ...] = ()

    @property
    def block(self) -> Block:
        return self.after or self.before

    @property
    def address(self) -> str:
        return self.block.address

    @property
    def kind(self) -> str:
        return self.block.kind

    @property
    def type(self) -> str:
        return self.block.type


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a JSON value by path. Lists of scalars stay whole: their order rarely means anything."""
    if isinstance(value, dict) and (value or not prefix):  # an empty body has no attributes; an empty block is one
        leaves: dict[str, Any] = {}
        for key, item in value.items():
            leaves.update(flatten(item, f"{prefix}.{key}" if prefix else key))
        return leaves
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        leaves = {}
        for index, item in enumerate(value):
            leaves.update(flatten(item, f"{prefix}[{index}]"))
        return leaves
    return {prefix: value}


def attribute_changes(before: Any, after: Any) -> tuple[AttributeChange, ...]:
    old, new = flatten(before), flatten(after)
    return tuple(
        AttributeChange(path, old.get(path, ABSENT), new.get(path, ABSENT))
        for path in sorted(old.keys() | new.keys())
        if old.get(path, ABSENT) != new.get(path, ABSENT)
    )


def diff(before: SynthDir, after: SynthDir) -> list[BlockChange]:
    """Every block that differs, stack by stack (the new output's order, then stacks that disappear)."""
    changes: list[BlockChange] = []
    empty: dict[str, Block] = {}
    for name in [*after.stacks, *(n for n in before.stacks if n not in after.stacks)]:
        old = before.stacks[name].blocks if name in before.stacks else empty
        new = after.stacks[name].blocks if name in after.stacks else empty
        for address in sorted(old.keys() | new.keys()):
            if address not in old:
                changes.append(BlockChange(name, "added", None, new[address]))
            elif address not in new:
                changes.append(BlockChange(name, "removed", old[address], None))
            elif old[address].body != new[address].body:
                changes.append(
                    BlockChange(
                        name,
                        "changed",
                        old[address],
                        new[address],
                        attribute_changes(old[address].body, new[address].body),
                    )
                )
    return changes
