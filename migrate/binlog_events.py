"""Which tables the source's binary log shows written between two positions.

A row-based binary log names every table a transaction changes in a ``Table_map`` event ahead of its
rows; ``SHOW BINLOG EVENTS`` lists those as ``table_id: 18 (shop.ledger)``. The write freeze of
``migrate cutover`` verifies only those tables when the rest were verified ahead at the first position.
Any event that may change data without naming its table (a statement: DDL, or DML logged as a
statement) makes the answer "every table": ``written`` says so, with the event, rather than guess.

``written`` is pure, so which events name what is tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pymysql

from migrate.coordinates import Coordinates

PAGE = 10_000  # events per SHOW BINLOG EVENTS round trip
# Events that change nothing themselves: transaction bounds, bookkeeping, and the rows events, whose
# table the Table_map before them names. Both MariaDB's and MySQL's names.
_QUIET = frozenset(
    {
        "Format_desc",
        "Rotate",
        "Stop",
        "Gtid",
        "Gtid_list",
        "Binlog_checkpoint",
        "Start_encryption",
        "Xid",
        "Annotate_rows",
        "Previous_gtids",
        "Anonymous_Gtid",
        "Rows_query",
        "Heartbeat",
        "Heartbeat_log",
        "Write_rows",
        "Update_rows",
        "Delete_rows",
        "Partial_update_rows",
        "Write_rows_v1",
        "Update_rows_v1",
        "Delete_rows_v1",
        "Write_rows_compressed_v1",
        "Update_rows_compressed_v1",
        "Delete_rows_compressed_v1",
    }
)
_BOUNDS = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})  # Query events that only open or close a transaction
_TABLE_MAP = re.compile(r"^table_id: \d+ \((.*)\)$", re.S)


@dataclass(frozen=True)
class Event:
    """One row of SHOW BINLOG EVENTS: where it starts, its type, and its Info column."""

    log_file: str
    pos: int
    kind: str
    info: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.log_file}:{self.pos}: {self.info[:80]}"


@dataclass(frozen=True)
class Written:
    tables: dict[str, frozenset[str]] = field(default_factory=dict)  # source database → tables changed
    everything: str | None = None  # why every table must be verified: an event that names no table


def written(events: Iterable[Event], databases: Iterable[str]) -> Written:
    """The tables of ``databases`` the events change; other databases' tables are not replicated.

    A name in ``Table_map`` is ``database.table`` unquoted, so a dot in either is ambiguous: every
    split a known database allows counts, which errs towards verifying more."""
    known = list(databases)
    found: dict[str, set[str]] = {}
    for event in events:
        if event.kind == "Table_map":
            m = _TABLE_MAP.match(event.info)
            if m is None:
                return Written(everything=f"a table map this version of migrate cannot read ({event})")
            for database in known:
                if m.group(1).startswith(database + "."):
                    found.setdefault(database, set()).add(m.group(1)[len(database) + 1 :])
        elif event.kind == "Query" and event.info.strip().upper() in _BOUNDS:
            continue
        elif event.kind not in _QUIET:
            return Written(everything=f"an event naming no table, a statement or what it needs ({event})")
    return Written({database: frozenset(tables) for database, tables in found.items()})


def between(conn: pymysql.Connection, start: Coordinates, end: Coordinates) -> Iterator[Event]:
    """The source's events from ``start`` up to ``end`` (both file and position), page by page."""
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        files = [row[0] for row in cur.fetchall() if start.log_file <= row[0] <= end.log_file]
        if not files or files[0] != start.log_file:
            raise pymysql.err.OperationalError(1220, f"the source no longer holds {start.log_file}")
        for log_file in files:
            pos = start.log_pos if log_file == start.log_file else 4  # 4: after the file's magic number
            while True:
                cur.execute("SHOW BINLOG EVENTS IN %s FROM %s LIMIT %s", (log_file, pos, PAGE))
                rows = cur.fetchall()
                for _, at, kind, _, _, info in rows:
                    if log_file == end.log_file and at >= end.log_pos:
                        return
                    yield Event(log_file, int(at), kind, info or "")
                if len(rows) < PAGE:
                    break
                pos = int(rows[-1][4])  # End_log_pos: where the next event starts
