"""What a rehearsal found, and its lines as ``infra rehearse`` prints them."""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.rehearsal.diffs import KNOWN_DIFFS_FILE, Diff, KnownDiff
from migrate.text_table import aligned


@dataclass
class Report:
    """Everything a rehearsal found. ``ok`` when nothing unexpected happened."""

    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    resources: dict[str, int] = field(default_factory=dict)
    accepted_diffs: list[tuple[str, Diff]] = field(default_factory=list)
    unexplained_diffs: list[tuple[str, Diff]] = field(default_factory=list)
    stale_known_diffs: list[KnownDiff] = field(default_factory=list)
    fact_problems: list[str] = field(default_factory=list)
    order_problems: list[str] = field(default_factory=list)
    leftovers: dict[str, list[str]] = field(default_factory=dict)
    abandoned: list[str] = field(default_factory=list)
    seeded: list[str] = field(default_factory=list)
    #: ``leftovers`` key → names that are not ours to delete (seeded) or that moto cannot (abandoned).
    expected: dict[str, set[str]] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (
            self.unexplained_diffs
            or self.stale_known_diffs
            or self.fact_problems
            or self.order_problems
            or self.leftovers
        )

    def problems(self) -> list[str]:
        known_file = KNOWN_DIFFS_FILE.name
        return [
            *(
                f"{stack}: unexplained second-plan diff {diff}\n    {diff.detail}"
                for stack, diff in self.unexplained_diffs
            ),
            *(f"stale entry in {known_file}: {k.resource} applied without a diff" for k in self.stale_known_diffs),
            *self.fact_problems,
            *self.order_problems,
            *(f"left behind ({call}): {', '.join(names)}" for call, names in self.leftovers.items()),
        ]


def format_report(report: Report, known: list[KnownDiff]) -> list[str]:
    steps = ("init", "apply", "replan", "unprotect", "destroy")
    rows = [("stack", "resources", *steps)]
    rows += [
        (name, str(report.resources.get(name, "-")), *(f"{seconds.get(step, 0):.1f}s" for step in steps))
        for name, seconds in report.seconds.items()
    ]
    lines = aligned(rows)
    reasons = {id(k): " ".join(k.reason.split()) for k in known}
    for stack, diff in report.accepted_diffs:
        why = next(reasons[id(k)] for k in known if k.accepts(diff))
        lines.append(f"known emulator diff, {stack}: {diff} — {why}")
    lines += [f"seeded (a real account has it): {seed}" for seed in report.seeded]
    lines += [f"abandoned in the emulator (removed from state before destroy): {name}" for name in report.abandoned]
    lines += [f"PROBLEM: {problem}" for problem in report.problems()]
    verdict = "passed" if report.ok else "FAILED"
    lines.append(f"rehearsal {verdict} in {report.wall_seconds:.0f}s; left behind: {report.leftovers or 'nothing'}")
    return lines
