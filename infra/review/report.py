"""The review as Markdown for one PR comment (GitHub caps a comment at 65,536 characters) or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from infra.review.diff import ABSENT, BlockChange
from infra.review.risks import KINDS, Risk

#: First line of the comment; the PR workflow finds the comment to update by it.
COMMENT_MARKER = "<!-- duewin-infra-review -->"
#: Deploys read the reviewed synth digests back from this line of the comment.
DIGEST_MARKER = "<!-- duewin-synth-digest"
GITHUB_COMMENT_LIMIT = 65_536
_VALUE_CHARS = 160
_SYMBOL = {"added": "+", "removed": "-", "changed": "~"}


@dataclass(frozen=True)
class CheckovDelta:
    new: tuple[str, ...] = ()  # unexplained findings the change introduces (also flagged as risks)
    newly_accepted: tuple[str, ...] = ()  # new findings that tools/checkov-skips.toml accepts
    resolved: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnvironmentReview:
    env: str
    changes: list[BlockChange]
    risks: list[Risk]
    digest: str  # of the head's synthesized stacks
    checkov: CheckovDelta | None = None  # None: checkov was not run
    base_missing: bool = False  # the environment does not exist at the base


@dataclass(frozen=True)
class Review:
    base: str  # as given, e.g. "origin/main"
    base_commit: str
    environments: list[EnvironmentReview] = field(default_factory=list)

    @property
    def risks(self) -> list[tuple[str, Risk]]:
        return [(e.env, r) for e in self.environments for r in e.risks]


def to_json(review: Review) -> str:
    return json.dumps(
        {
            "base": review.base,
            "base_commit": review.base_commit,
            "risk_count": len(review.risks),
            "environments": {
                e.env: {
                    "digest": e.digest,
                    "base_missing": e.base_missing,
                    "risks": [r.as_dict() for r in e.risks],
                    "changes": [_change_dict(c) for c in e.changes],
                    "checkov": None if e.checkov is None else {k: list(v) for k, v in vars(e.checkov).items()},
                }
                for e in review.environments
            },
        },
        indent=2,
    )


def _change_dict(change: BlockChange) -> dict:
    entry: dict[str, Any] = {"stack": change.stack, "address": change.address, "action": change.action}
    if change.action == "changed":
        entry["attributes"] = [
            {
                "path": a.path,
                **({"before": a.before} if a.before is not ABSENT else {}),
                **({"after": a.after} if a.after is not ABSENT else {}),
            }
            for a in change.attributes
        ]
    return entry


def to_markdown(review: Review, max_chars: int = GITHUB_COMMENT_LIMIT) -> str:
    """The comment. Risks come first; if it is too long, change details are cut (then risk rows)."""
    head = [COMMENT_MARKER, f"## Infrastructure review: `{review.base}` ({review.base_commit[:10]}) → this change", ""]
    risks = review.risks
    if risks:
        head += [
            f"> [!WARNING]\n> **{len(risks)} flagged risk{'s' * (len(risks) != 1)}**: read these before approving.",
            "",
        ]
    else:
        checkov = (
            "new checkov finding"
            if all(e.checkov is not None for e in review.environments)
            else "checkov finding (not run)"
        )
        head += [
            "No flagged risks: nothing stateful destroyed or replaced, no new internet exposure, IAM wildcard, "
            f"disabled protection or {checkov}.",
            "",
        ]
    risk_lines = ["| env | stack | resource | risk | detail |", "| --- | --- | --- | --- | --- |"] if risks else []
    risk_lines += [f"| {env} | {r.stack} | `{r.address}` | {KINDS[r.kind]} | {_cell(r.detail)} |" for env, r in risks]
    risk_lines += [""] if risks else []
    detail_lines = _summary_lines(review) + _detail_lines(review)
    tail = ["", " ".join([DIGEST_MARKER, *(f"{e.env}={e.digest}" for e in review.environments), "-->"])]

    budget = max_chars - _size(head) - _size(tail)
    note_room = 200  # for the truncation note itself
    shown_risks, dropped_risks = _fit(risk_lines, budget - note_room)
    budget -= _size(shown_risks)
    shown_details, dropped_details = _fit(detail_lines, budget - note_room)
    body = shown_risks
    if dropped_risks:
        body += [f"\n_… {dropped_risks} more risk rows not shown._"]
    body += shown_details
    if dropped_details:
        if sum(line.startswith("```") for line in shown_details) % 2:
            body.append("```")
        if shown_details.count("</details>") < sum(line.startswith("<details>") for line in shown_details):
            body.append("</details>")
        body += [
            "",
            f"_… truncated to fit GitHub's comment limit: {dropped_details} more lines. "
            "`infra review --format json` gives the full review._",
        ]
    return "\n".join(head + body + tail) + "\n"


def _summary_lines(review: Review) -> list[str]:
    lines = [
        "### Changes by stack",
        "",
        "| env | stack | added | removed | changed |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    any_change = False
    for e in review.environments:
        if e.base_missing:
            lines.append(f"| {e.env} | _(new environment: not present at the base)_ | | | |")
        for stack in dict.fromkeys(c.stack for c in e.changes):
            counts = [
                sum(c.stack == stack and c.action == action for c in e.changes)
                for action in ("added", "removed", "changed")
            ]
            lines.append(f"| {e.env} | {stack} | {counts[0]} | {counts[1]} | {counts[2]} |")
            any_change = True
    if not any_change:
        lines = ["### Changes by stack", "", "The synthesized stacks are identical."]
    lines.append("")
    for e in review.environments:
        if e.checkov is not None:
            c = e.checkov
            lines.append(
                f"checkov ({e.env}): {len(c.new)} new unexplained, {len(c.newly_accepted)} new but accepted by "
                f"`tools/checkov-skips.toml`, {len(c.resolved)} resolved."
            )
            lines += [f"- accepted: {_cell(item)}" for item in c.newly_accepted]
    return lines + [""]


def _detail_lines(review: Review) -> list[str]:
    lines: list[str] = []
    for e in review.environments:
        for stack in dict.fromkeys(c.stack for c in e.changes):
            changes = [c for c in e.changes if c.stack == stack]
            counts = " ".join(f"{_SYMBOL[a]}{sum(c.action == a for c in changes)}" for a in _SYMBOL)
            lines += [f"<details><summary>{e.env} · <code>{stack}</code>: {counts}</summary>", "", "```diff"]
            for change in changes:
                lines.append(f"{_SYMBOL[change.action]} {change.address}")
                for attribute in change.attributes:
                    lines.append(f"!   {attribute.path}: {_value(attribute.before)} → {_value(attribute.after)}")
            lines += ["```", "</details>", ""]
    return lines


def _value(value: Any) -> str:
    text = "(absent)" if value is ABSENT else json.dumps(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _fit(lines: list[str], budget: int) -> tuple[list[str], int]:
    """The longest prefix of ``lines`` within ``budget`` characters, and how many lines were left out."""
    used = 0
    for index, line in enumerate(lines):
        used += len(line) + 1
        if used > budget:
            return lines[:index], len(lines) - index
    return lines, 0
