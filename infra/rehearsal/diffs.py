"""Second-plan diffs: what a plan right after apply still changes, and the emulator gaps known to cause it (pure).

``tools/rehearsal-known-diffs.toml`` lists each gap (resource address pattern, attributes, why). A diff it
does not explain fails the rehearsal; an entry whose resource was applied without that diff is stale and
fails it too.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

KNOWN_DIFFS_FILE = Path(__file__).resolve().parents[2] / "tools" / "rehearsal-known-diffs.toml"


@dataclass(frozen=True)
class Diff:
    address: str
    actions: tuple[str, ...]
    attributes: frozenset[str]
    #: before → after of each touched attribute, to diagnose a diff nobody has explained yet.
    detail: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.address} ({'/'.join(self.actions)}: {', '.join(sorted(self.attributes)) or '-'})"


@dataclass(frozen=True)
class KnownDiff:
    """A second-plan diff the emulator always produces: resource address pattern, attributes, why."""

    resource: str
    attributes: frozenset[str]
    reason: str

    def accepts(self, diff: Diff) -> bool:
        return (
            diff.actions == ("update",)
            and fnmatch.fnmatchcase(diff.address, self.resource)
            and diff.attributes <= self.attributes
        )


def load_known_diffs(path: Path = KNOWN_DIFFS_FILE) -> list[KnownDiff]:
    entries = tomllib.loads(Path(path).read_text()).get("diff", [])
    known = []
    for number, entry in enumerate(entries, start=1):
        reason = str(entry.get("reason", "")).strip()
        if not reason or not entry.get("attributes"):
            raise ValueError(f"{path}: diff #{number} ({entry.get('resource')}) needs attributes and a reason")
        attributes = frozenset(entry["attributes"])
        known.append(KnownDiff(resource=entry["resource"], attributes=attributes, reason=reason))
    return known


def plan_diffs(plan: dict) -> list[Diff]:
    """Every change in ``terraform show -json`` output of a plan, with the top-level attributes it touches."""
    diffs = []
    for change in plan.get("resource_changes", []):
        actions = tuple(change["change"]["actions"])
        if actions in (("no-op",), ("read",)):
            continue
        before = change["change"].get("before") or {}
        after = change["change"].get("after") or {}
        unknown = change["change"].get("after_unknown") or {}
        touched = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
        touched |= {key for key, value in unknown.items() if _holds_unknown(value)}
        detail = "; ".join(
            f"{k}: {json.dumps(before.get(k))} → {json.dumps(after.get(k, '(known after apply)'))}"
            for k in sorted(touched)
        )
        diffs.append(Diff(change["address"], actions, frozenset(touched), detail[:1500]))
    for name, change in plan.get("output_changes", {}).items():
        if tuple(change["actions"]) != ("no-op",):
            diffs.append(Diff(f"output.{name}", tuple(change["actions"]), frozenset()))
    return diffs


def _holds_unknown(value) -> bool:
    """``after_unknown`` mirrors the attribute's shape: a block list is ``[{}]`` unless a leaf is True."""
    if isinstance(value, dict):
        return any(_holds_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_unknown(v) for v in value)
    return value is True


def unexplained_diffs(diffs: list[Diff], known: list[KnownDiff]) -> list[Diff]:
    return [d for d in diffs if not any(k.accepts(d) for k in known)]


def stale_known_diffs(known: list[KnownDiff], applied: set[str], diffs: list[Diff]) -> list[KnownDiff]:
    """Entries whose resource was applied yet showed no diff: the gap is gone and the entry must go too."""
    return [
        k
        for k in known
        if any(fnmatch.fnmatchcase(address, k.resource) for address in applied) and not any(k.accepts(d) for d in diffs)
    ]
