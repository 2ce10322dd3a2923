"""What the operator reads: the verdict table, the inspect summary, and the JSON report."""

from __future__ import annotations

import json
from pathlib import Path

from migrate.errors import BadInput
from migrate.plan import DumpSummary
from migrate.rewrite import RULES
from migrate.text_table import aligned
from migrate.verify import MATCH, MISMATCH, TableVerdict

_STATUS = {MATCH: "yes", MISMATCH: "NO"}


def _cell(n: int | None, missing: str) -> str:
    return missing if n is None else f"{n:,}"


def _expected(v: TableVerdict) -> str:
    if v.caveat is None:
        return _cell(v.expected, "?")
    return f"unknown: {v.caveat}" if v.expected is None else f"≤ {v.expected:,} ({v.caveat})"


def verdict_table(verdicts: list[TableVerdict], expected_label: str) -> str:
    show_checksum = any(v.checksum is not None for v in verdicts)
    header = ["table", expected_label, "rows in target"] + (["content"] if show_checksum else []) + ["match"]
    rows = [
        [v.table, _expected(v), _cell(v.actual, "missing")]
        + ([v.checksum or ""] if show_checksum else [])
        + [_STATUS.get(v.status, "verify")]
        for v in verdicts
    ]
    lines = aligned([header, *rows], right=range(1, len(header)))
    bad = sum(v.status == MISMATCH for v in verdicts)
    unproven = sum(v.status not in (MATCH, MISMATCH) for v in verdicts)
    if bad:
        lines.append(f"{len(verdicts)} tables, {bad} mismatched")
    elif unproven:
        lines.append(
            f"{len(verdicts)} tables: {len(verdicts) - unproven} match, {unproven} cannot be proven from "
            "the dump alone (its statements keep or drop rows as the data decides): compare them with "
            "the source: migrate verify --source URL --target URL (exit 0 when they match)"
        )
    else:
        lines.append(f"{len(verdicts)} tables, all match")
    return "\n".join(lines)


def rewrites_text(counts: dict[str, int]) -> str:
    applied = [f"  {counts[rule.name]:>6}  {rule.report}" for rule in RULES if counts.get(rule.name)]
    return "rewrites:\n" + "\n".join(applied) if applied else "rewrites: none needed"


def inspect_text(name: str, size: int | None, compressed: bool, summary: DumpSummary, rewrites: dict[str, int]) -> str:
    lines = [
        f"source: {name}" + (f" ({size:,} bytes{', gzip' if compressed else ''})" if size else ""),
        f"statements: {summary.statements:,}, SQL bytes: {summary.bytes:,}",
        "  by kind: " + ", ".join(f"{kind} {n:,}" for kind, n in summary.kinds.most_common()),
        f"largest statement: {summary.largest.size:,} bytes at line {summary.largest.line}",
        "session header (replayed on every connection):",
    ]
    lines += [f"  {sql.decode('utf-8', 'replace')}" for sql in summary.header]
    lines.append(f"tables: {len(summary.tables)}, rows: {summary.rows:,}")
    width = max((len(t) for t in summary.tables), default=0)
    lines += [
        f"  {t.ljust(width)}  {_cell(n, 'unknown'):>12}"
        + (f"  ({'≤, ' if n is not None else ''}{summary.caveats[t]})" if t in summary.caveats else "")
        for t, n in sorted(summary.tables.items())
    ]
    if summary.views:
        lines.append(f"views: {', '.join(summary.views)}")
    if summary.routines:
        lines.append(f"routines and triggers: {', '.join(summary.routines)}")
    lines.append(rewrites_text(rewrites))
    return "\n".join(lines)


def write_json(path: str | None, document: dict[str, object]) -> None:
    if path is None:
        return
    try:
        Path(path).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    except OSError as e:
        raise BadInput(f"--report {path}: cannot write ({e.strerror})") from None


def summary_document(summary: DumpSummary, rewrites: dict[str, int]) -> dict[str, object]:
    return {
        "statements": summary.statements,
        "statement_kinds": dict(summary.kinds),
        "sql_bytes": summary.bytes,
        "largest_statement": {"bytes": summary.largest.size, "line": summary.largest.line},
        "tables": summary.tables,
        "caveats": summary.caveats,
        "views": summary.views,
        "routines": summary.routines,
        "rewrites": dict(rewrites),
    }
