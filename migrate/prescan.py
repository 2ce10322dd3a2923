"""The pre-pass over a dump file before the first write: its largest statement and its routines.

Cutting at ';' + newline needs no tokenizing, so this runs at memory speed, where the full splitter
would cost ~6 s of CPU per 650 MB before the load could start. mysqldump escapes newlines inside
values, so only routine bodies (and hand-written scripts) hold a ';' + newline that does not end a
statement; there the pieces are shorter than the statement, so the size check can only err towards
passing, and the loader checks every statement exactly before sending it. A dump cut short (the
common corruption: a full disk, an interrupted copy) is caught here, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable

from migrate.classify import HEAD, Kind, classify
from migrate.plan import DumpSummary, Largest
from migrate.splitter import BOM, CHUNK, STATEMENT_END, not_sql, skip_noise, unterminated


def quick_summary(read: Callable[[int], bytes], name: str = "<dump>", chunk: int = CHUNK) -> DumpSummary:
    """Raises BadInput when the dump does not end with a complete statement."""
    summary = DumpSummary()
    tail, offset, line = b"", 0, 1
    while data := read(chunk):
        buf = tail + data
        start = len(BOM) if offset == 0 and buf.startswith(BOM) else 0
        while found := STATEMENT_END.search(buf, start):
            end = found.start()
            _observe(summary, buf, start, end, offset, line, name)
            line += buf.count(b"\n", start, found.end())
            start = found.end()
        tail = buf[start:]
        offset += start
    first = skip_noise(tail, 0)
    if first < len(tail):
        line += tail.count(b"\n", 0, first)
        if not summary.statements and (problem := not_sql(tail, first, offset, line, name)):
            raise problem
        if not tail[first:].rstrip().endswith(b";"):
            raise unterminated(tail, first, offset, line, name, b";")
    return summary


def _observe(summary: DumpSummary, buf: bytes, start: int, end: int, base: int, line: int, name: str) -> None:
    if end - start > summary.largest.size:
        summary.largest = Largest(end - start, line, base + start)
    first = skip_noise(buf, start, end)
    if first == end:
        return
    if not summary.statements:
        if problem := not_sql(buf, first, base, line + buf.count(b"\n", start, first), name):
            raise problem
    summary.statements += 1
    if buf.startswith((b"INSERT", b"insert"), first):
        if summary.unplaced is None and not summary.databases:
            summary.place(Kind.INSERT, None, b"", line + buf.count(b"\n", start, first))
        return
    if buf.startswith((b"DELIMITER", b"delimiter"), first):
        newline = buf.find(b"\n", first, end)
        first = skip_noise(buf, newline, end) if newline >= 0 else end
    what = classify(buf[first : min(first + HEAD, end)])
    if what.kind is Kind.ROUTINE and what.name is not None:
        summary.routines.append(what.name)
    summary.place(what.kind, what.name, buf[first:end], line + buf.count(b"\n", start, first))
