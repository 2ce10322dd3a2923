"""Progress for a long load: one redrawn line on a terminal, plain timestamped lines otherwise.

Redraws are rate-limited so a dump of many small statements does not spend its time printing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from migrate.classify import Kind
from migrate.plan import DumpSummary, Step


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(
        self,
        position: Callable[[int], int],
        total: int | None,
        stream: TextIO = sys.stderr,
        tty: bool | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        start: int = 0,
    ) -> None:
        # Maps the executed statement's end (a decompressed offset) to raw bytes of the source, the
        # unit of ``total``: the reader runs ahead, so its own position would overstate progress.
        self.position = position
        self.done = start
        self.start = start  # where this run started reading (a resume part-way): the rate counts from there
        self.total = total
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval if interval is not None else (0.2 if self.tty else 10.0)
        self.clock = clock
        self.started = clock()
        self.last = self.started
        self.table: str | None = None

    def line(self, rows: int) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        done = self.done
        parts = []
        if self.total:
            fraction = min(done / self.total, 1.0)
            read = done - self.start
            eta = elapsed * max(self.total - done, 0) / read if read > 0 else 0
            parts.append(f"{fraction:4.0%} {human_bytes(done)}/{human_bytes(self.total)} ETA {human_duration(eta)}")
        else:
            parts.append(human_bytes(done))
        parts.append(f"{rows:,} rows ({rows / elapsed:,.0f}/s)")
        if self.table:
            parts.append(f"table {self.table}")
        return "  ".join(parts)

    def __call__(self, step: Step, summary: DumpSummary) -> None:
        self.done = self.position(step.statement.offset + len(step.statement.sql))
        changed = step.what.kind is Kind.INSERT and step.what.name != self.table
        if changed:
            self.table = step.what.name
        now = self.clock()
        if now - self.last < self.interval and not (changed and not self.tty):
            return
        self.last = now
        self._emit(self.line(summary.rows))

    def finish(self, summary: DumpSummary) -> None:
        self._emit(self.line(summary.rows))
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _emit(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
        else:
            self.stream.write(time.strftime("%H:%M:%S ") + text + "\n")
        self.stream.flush()
