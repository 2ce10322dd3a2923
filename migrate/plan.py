"""What a dump will do to the target: each statement classified, rewritten and its rows counted,
and the running summary (tables, rows per table, largest statement, rewrites) built from them.

``inspect`` consumes the steps without a server; ``run`` executes them and keeps the same summary,
so the verdict compares the target against the bytes that were actually sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from migrate.classify import Classified, Kind, classify
from migrate.rewrite import Rewriter
from migrate.rows import count_rows
from migrate.splitter import Statement, split


@dataclass(frozen=True, slots=True)
class Step:
    statement: Statement
    what: Classified
    sql: bytes | None  # None: dropped by a rewrite
    rows: int | None  # INSERT tuples; None when not an INSERT or not countable


def steps(statements: Iterable[Statement], rewriter: Rewriter) -> Iterator[Step]:
    for statement in statements:
        what = classify(statement.sql)
        sql = rewriter.apply(statement.sql, what.kind)
        if statement.values is not None:
            rows = statement.values.tuples
        else:
            rows = count_rows(statement.sql) if what.kind is Kind.INSERT else None
        yield Step(statement, what, sql, rows)


@dataclass
class Largest:
    size: int = 0
    line: int = 0
    offset: int = 0


@dataclass
class DumpSummary:
    tables: dict[str, int | None] = field(default_factory=dict)  # rows; None = not countable
    views: list[str] = field(default_factory=list)
    routines: list[str] = field(default_factory=list)
    header: list[bytes] = field(default_factory=list)  # leading session SETs, replayed per connection
    largest: Largest = field(default_factory=Largest)
    statements: int = 0
    bytes: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    _header_open: bool = True

    def observe(self, step: Step) -> None:
        kind, name = step.what.kind, step.what.name
        self.statements += 1
        self.kinds[kind.value] += 1
        size = len(step.sql) if step.sql is not None else 0
        self.bytes += len(step.statement.sql)
        if size > self.largest.size:
            self.largest = Largest(size, step.statement.line, step.statement.offset)
        if self._header_open:
            if kind is Kind.SET:
                if step.sql is not None:
                    self.header.append(step.sql)
            else:
                self._header_open = False
        if kind is Kind.CREATE_TABLE and name is not None:
            self.tables.setdefault(name, 0)
        elif kind is Kind.CREATE_VIEW and name is not None:
            # mysqldump first creates a placeholder for each view; it is not a table to count.
            self.tables.pop(name, None)
            if name not in self.views:
                self.views.append(name)
        elif kind is Kind.ROUTINE and name is not None:
            self.routines.append(name)
        elif kind is Kind.INSERT and name is not None:
            before = self.tables.get(name, 0)
            self.tables[name] = None if before is None or step.rows is None else before + step.rows

    @property
    def rows(self) -> int:
        return sum(n for n in self.tables.values() if n)


def summarize(read: Callable[[int], bytes], name: str, rewriter: Rewriter) -> DumpSummary:
    """Parse a whole dump without a server; ``rewriter`` counts what each rewrite would change."""
    summary = DumpSummary()
    for step in steps(split(read, name), rewriter):
        summary.observe(step)
    return summary
