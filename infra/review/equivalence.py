"""Whether CDKTF's and CDK Terrain's output of one configuration is the same infrastructure.

Both outputs are read as blocks (``infra.synthesized``: the engines' ``//`` metadata — engine version,
construct paths — set aside) and compared resource by resource (``diff``). The logical IDs must be the
same on both sides: same stacks, same stack dependencies, same block addresses built from the same
construct paths, so no state address moves. Attributes may differ only as an entry of
``tools/engine-differences.toml`` allows, with its reason; an entry that allows nothing is stale.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.review.diff import diff
from infra.synthesized import SynthDir, load

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_FILE = ROOT / "tools" / "engine-differences.toml"


@dataclass(frozen=True)
class Difference:
    stack: str
    address: str
    attribute: str
    cdktf: Any
    cdktn: Any

    def __str__(self) -> str:
        return f"{self.stack}: {self.address}: {self.attribute}: cdktf {self.cdktf!r}, cdktn {self.cdktn!r}"


@dataclass(frozen=True)
class AllowedDifference:
    address: str  # fnmatch pattern over the block address
    attribute: str
    cdktf: Any
    cdktn: Any
    reason: str

    def accepts(self, difference: Difference) -> bool:
        return (
            fnmatch.fnmatchcase(difference.address, self.address)
            and difference.attribute == self.attribute
            and (difference.cdktf, difference.cdktn) == (self.cdktf, self.cdktn)
        )


@dataclass
class Comparison:
    """What differs between the two outputs; ``equivalent`` when the allow-list explains all of it."""

    #: Logical-ID problems: stacks, dependencies or blocks present on one side only, moved construct paths.
    identity: list[str] = field(default_factory=list)
    allowed: list[tuple[Difference, AllowedDifference]] = field(default_factory=list)
    unexplained: list[Difference] = field(default_factory=list)

    @property
    def equivalent(self) -> bool:
        return not self.identity and not self.unexplained


def load_allowed(path: Path = ALLOWED_FILE) -> list[AllowedDifference]:
    entries = tomllib.loads(Path(path).read_text()).get("difference", [])
    allowed = []
    for number, entry in enumerate(entries, start=1):
        missing = [key for key in ("address", "attribute", "cdktf", "cdktn", "reason") if key not in entry]
        if missing or not str(entry["reason"]).strip():
            needs = ", ".join(missing) or "a reason"
            raise ValueError(f"{path}: difference #{number} ({entry.get('attribute')}) needs {needs}")
        allowed.append(AllowedDifference(*(entry[key] for key in ("address", "attribute", "cdktf", "cdktn", "reason"))))
    return allowed


def compare(cdktf_outdir: Path, cdktn_outdir: Path, allowed: list[AllowedDifference]) -> Comparison:
    """Compare one configuration's output of each engine."""
    before, after = load(cdktf_outdir), load(cdktn_outdir)
    comparison = Comparison(identity=_identity_problems(before, after))
    for change in diff(before, after):
        if change.action != "changed":
            continue  # already an identity problem
        for attribute in change.attributes:
            difference = Difference(change.stack, change.address, attribute.path, attribute.before, attribute.after)
            entry = next((entry for entry in allowed if entry.accepts(difference)), None)
            if entry is None:
                comparison.unexplained.append(difference)
            else:
                comparison.allowed.append((difference, entry))
    return comparison


def stale(allowed: list[AllowedDifference], comparisons: list[Comparison]) -> list[AllowedDifference]:
    """Entries that allowed no difference in any of ``comparisons``."""
    used = [entry for comparison in comparisons for _, entry in comparison.allowed]
    return [entry for entry in allowed if entry not in used]


def _identity_problems(before: SynthDir, after: SynthDir) -> list[str]:
    problems = [f"stack only in cdktf: {name}" for name in before.stacks.keys() - after.stacks.keys()]
    problems += [f"stack only in cdktn: {name}" for name in after.stacks.keys() - before.stacks.keys()]
    for name in sorted(before.stacks.keys() & after.stacks.keys()):
        old, new = before.stacks[name], after.stacks[name]
        if old.dependencies != new.dependencies:
            depends = list(old.dependencies), list(new.dependencies)
            problems.append(f"{name}: depends on {depends[0]} with cdktf, {depends[1]} with cdktn")
        problems += [f"{name}: only in cdktf: {address}" for address in sorted(old.blocks.keys() - new.blocks.keys())]
        problems += [f"{name}: only in cdktn: {address}" for address in sorted(new.blocks.keys() - old.blocks.keys())]
        for address in sorted(old.blocks.keys() & new.blocks.keys()):
            if old.blocks[address].construct_path != new.blocks[address].construct_path:
                paths = old.blocks[address].construct_path, new.blocks[address].construct_path
                problems.append(f"{name}: {address}: construct path {paths[0]!r} with cdktf, {paths[1]!r} with cdktn")
    return problems
