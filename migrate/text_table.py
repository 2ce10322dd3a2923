"""Rows of text as aligned columns: the one table printer of both command lines, ``migrate`` and ``infra``.

Plain text, not rich: rich would add 25–70 ms and 2 MB to every ``migrate`` start (``migrate --help``
measured with and without importing it) and four packages to the cutover runner's install, for tables
that operators and tests read line by line, splitting rows on blanks. In migrate because migrate must
not import infra; infra imports it from here.
"""

from __future__ import annotations

from collections.abc import Container, Sequence


def aligned(rows: Sequence[Sequence[str]], *, right: Container[int] = ()) -> list[str]:
    """``rows`` (the header first) as lines: columns two spaces apart, each as wide as its widest cell,
    right-aligned when its index is in ``right`` (counts, sizes, durations), else left; no trailing blanks."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        cells = (cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row))
        return "  ".join(cells).rstrip()

    return [line(row) for row in rows]
