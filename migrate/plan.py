"""What a dump will do to the target: each statement classified, rewritten and its rows counted,
and the running summary (tables, rows per table, largest statement, rewrites) built from them.

``inspect`` consumes the steps without a server; ``run`` executes them and keeps the same summary,
so the verdict compares the target against the bytes that were actually sent.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from migrate.classify import HEAD, Classified, Kind, classify, head
from migrate.databases import qualifiers
from migrate.rewrite import Rewriter
from migrate.rows import count_rows
from migrate.splitter import Statement, split
from migrate.tokens import QUOTED


@dataclass(frozen=True, slots=True)
class Step:
    statement: Statement
    what: Classified
    sql: bytes | None  # None: dropped by a rewrite
    rows: int | None  # INSERT tuples; None when not an INSERT or not countable
    rewrites: Mapping[str, int] | None = None  # what each rewrite rule changed in it


def steps(statements: Iterable[Statement], rewriter: Rewriter) -> Iterator[Step]:
    for statement in statements:
        what = classify(statement.sql)
        sql, rewrites = rewriter.rewrite(statement.sql, what.kind)
        if statement.values is not None:
            rows = statement.values.tuples
        else:
            rows = count_rows(statement.sql) if what.kind is Kind.INSERT else None
        yield Step(statement, what, sql, rows, rewrites)


@dataclass
class Largest:
    size: int = 0
    line: int = 0
    offset: int = 0


_INSERT_VERB = re.compile(rb"\s*(?:(REPLACE)|INSERT\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY)\s+)*(IGNORE)\b)", re.I)
_ON_DUPLICATE = re.compile(rb"\bON\s+DUPLICATE\s+KEY\s+UPDATE\b", re.I)
_IF_NOT_EXISTS = re.compile(rb"\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+IF\s+NOT\s+EXISTS\b", re.I)
_SELECT = re.compile(rb"\bSELECT\b", re.I)
# Statements that act on a table, view or routine of the session's database.
_NEEDS_DATABASE = frozenset(
    {
        Kind.INSERT,
        Kind.CREATE_TABLE,
        Kind.CREATE_VIEW,
        Kind.DROP_TABLE,
        Kind.ROUTINE,
        Kind.TRUNCATE,
        Kind.DELETE,
        Kind.UPDATE,
    }
)


def insert_caveat(step: Step) -> str | None:
    """Why an INSERT's rows may not all be kept: None for a plain INSERT, which keeps them or fails."""
    values = step.statement.values
    if values is not None and values.plain:
        return None
    verb = _INSERT_VERB.match(step.statement.sql, 0, HEAD)
    if verb is not None and verb.group(1):
        return "REPLACE"
    if verb is not None and verb.group(2):
        return "INSERT IGNORE"
    sql = step.statement.sql
    # The clause follows the rows; only a statement the fast path could not read whole can hold it.
    if values is None and _ON_DUPLICATE.search(sql, max(0, len(sql) - 4096)):
        return "ON DUPLICATE KEY UPDATE"
    return None


@dataclass
class DumpSummary:
    """``tables`` models what the server keeps, statement by statement: a CREATE (unless IF NOT EXISTS
    finds the table) or TRUNCATE resets a table to 0 rows, a DROP removes it, a plain INSERT adds its
    rows. Where the dump cannot say exactly, ``caveats`` names the statement that made it so: the
    count is then an upper bound (INSERT IGNORE, ON DUPLICATE KEY UPDATE and DELETE keep at most
    that many) or, when it is None, unknown (REPLACE may delete several rows per row it adds;
    INSERT … SELECT and CREATE TABLE … SELECT do not say). UPDATE never changes a count."""

    tables: dict[str, int | None] = field(default_factory=dict)  # rows; None = unknown
    caveats: dict[str, str] = field(default_factory=dict)  # table → why its count is a bound or unknown
    views: list[str] = field(default_factory=list)
    routines: list[str] = field(default_factory=list)
    header: list[bytes] = field(default_factory=list)  # leading session SETs, replayed per connection
    largest: Largest = field(default_factory=Largest)
    statements: int = 0
    bytes: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    databases: list[str] = field(default_factory=list)  # the names USE / CREATE DATABASE give, as written
    qualifiers: dict[str, int] = field(default_factory=dict)  # a name that qualifies another in DDL → its line
    unplaced: int | None = None  # line of the first statement needing a database before the dump names one
    # Set when the target URL names no database: tables are then keyed `db.table`, db as mapped.
    database_map: Mapping[str, str] | None = None
    database: str | None = None  # where the next statement lands, when keyed by database
    locations: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # key → (database, table)
    _header_open: bool = True

    def key(self, name: str) -> str:
        """How the summary names a table: `db.table` when the dump's databases are kept apart."""
        return f"{self.database}.{name}" if self.database_map is not None and self.database else name

    def place(self, kind: Kind, name: str | None, sql: bytes, line: int) -> None:
        """Follow which databases the dump names and which names its DDL qualifies (databases.py)."""
        if kind in (Kind.USE, Kind.CREATE_DATABASE) and name is not None:
            if name not in self.databases:
                self.databases.append(name)
            if kind is Kind.USE and self.database_map is not None:
                self.database = self.database_map.get(name, name)
            return
        if kind is Kind.SET or kind is Kind.LOCK:
            return
        if not self.databases and self.unplaced is None and kind in _NEEDS_DATABASE:
            self.unplaced = line
        if kind is not Kind.INSERT:
            for qualifier in qualifiers(sql):
                self.qualifiers.setdefault(qualifier, line)

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
        self.place(kind, name, step.statement.sql, step.statement.line)
        if name is None or kind in (Kind.USE, Kind.CREATE_DATABASE):
            return
        name = self.key(name)
        if kind in (Kind.INSERT, Kind.CREATE_TABLE):
            self.locations[name] = (self.database, step.what.name)
        if kind is Kind.INSERT:
            self._inserted(name, step)
        elif kind is Kind.CREATE_TABLE:
            self._created(name, step.statement.sql)
        elif kind is Kind.TRUNCATE:
            self._reset(name, 0)
        elif kind is Kind.DROP_TABLE:
            self.tables.pop(name, None)
            self.caveats.pop(name, None)
        elif kind is Kind.DELETE and self.tables.get(name) is not None:
            self.caveats.setdefault(name, "DELETE")
        elif kind is Kind.CREATE_VIEW:
            # mysqldump first creates a placeholder for each view; it is not a table to count.
            self.tables.pop(name, None)
            self.caveats.pop(name, None)
            if name not in self.views:
                self.views.append(name)
        elif kind is Kind.ROUTINE:
            self.routines.append(name)

    def _reset(self, name: str, rows: int | None, caveat: str | None = None) -> None:
        self.tables[name] = rows
        self.caveats.pop(name, None)
        if caveat is not None:
            self.caveats[name] = caveat

    def _created(self, name: str, sql: bytes) -> None:
        if name in self.tables and _IF_NOT_EXISTS.match(head(sql)):
            return  # the server keeps the table, and its rows
        selects = _SELECT.search(QUOTED.sub(b"", sql)) is not None
        self._reset(name, None if selects else 0, "CREATE TABLE … SELECT" if selects else None)

    def _inserted(self, name: str, step: Step) -> None:
        before = self.tables.get(name, 0)
        caveat = insert_caveat(step)
        if before is None:
            return  # unknown stays unknown, for the reason first found
        if step.rows is None or caveat == "REPLACE":
            self._reset(name, None, caveat or "INSERT … SELECT")
            return
        self.tables[name] = before + step.rows
        if caveat is not None:
            self.caveats.setdefault(name, caveat)

    @property
    def rows(self) -> int:
        return sum(n for n in self.tables.values() if n)


def summarize(read: Callable[[int], bytes], name: str, rewriter: Rewriter) -> DumpSummary:
    """Parse a whole dump without a server; ``rewriter`` counts what each rewrite would change."""
    summary = DumpSummary()
    for step in steps(split(read, name), rewriter):
        summary.observe(step)
    return summary
