"""The check ahead of ``migrate cutover``'s write freeze: source and target compared exactly at one
binary-log position while the application still writes, so that the freeze verifies only what the
binary log shows written since.

Both sides are held at the same point without freezing anything: the target's applier stops, the
source opens a consistent snapshot and reports the position it matches (MariaDB's
``binlog_snapshot_file``/``_position``), and the applier runs on to exactly that position and stops
there (``START SLAVE SQL_THREAD UNTIL``). Tables without transactions (MyISAM, Aria) are not held by a
snapshot: they are left to the freeze. While the snapshot is open, DDL on the tables it read waits.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

import pymysql

from migrate import binlog_events, binlog_source, replica
from migrate.connection import error_text
from migrate.coordinates import Coordinates
from migrate.replication import Link
from migrate.verify import TableVerdict, base_tables, untransactional

ATTEMPTS = 3  # a transaction the replica applied before the source's snapshot could see it: try again


@dataclass(frozen=True)
class Ahead:
    position: Coordinates
    verdicts: list[TableVerdict]
    unchecked: dict[str, list[str]]  # source database → tables left to the freeze (no snapshot holds them)
    seconds: float

    def as_dict(self) -> dict:
        return {
            "position": self.position.as_dict(),
            "tables": len(self.verdicts),
            "rows": sum(v.actual or 0 for v in self.verdicts),
            "seconds": round(self.seconds, 3),
            "unchecked": self.unchecked,
        }


def unsupported(link: Link) -> str | None:
    """Why no check ahead is possible with these servers; None when it is."""
    if not link.source_facts.mariadb:
        return "MySQL reports no binary-log position for a consistent snapshot"
    if link.target_facts.rds:
        return "RDS cannot stop its applier alone at a position"
    return None


def check(link: Link, timeout: float) -> Ahead:
    """Compare both sides at one position of the source's binary log; replication runs on afterwards.
    A failure leaves the target's applier stopped: the caller starts it again."""
    facts, started = link.target_facts, time.monotonic()
    for _ in range(ATTEMPTS):
        replica.run(link.target, replica.stop_applier(facts))
        # Read after the applier stopped, the source's position is not behind the target's (but for a
        # commit the replica applied before the source's own became visible: stopped_at says so, and it retries).
        point = binlog_source.snapshot(link.source, link.source_facts)
        try:
            replica.run(link.target, replica.apply_until(facts, point))
            if replica.stopped_at(link.target, facts, point, timeout):
                only, unchecked = _held(link)
                verdicts = link.compare(only)
                replica.run(link.target, replica.start(facts))
                return Ahead(point, verdicts, unchecked, time.monotonic() - started)
        finally:
            link.source.rollback()
        replica.run(link.target, replica.start(facts))
    raise replica.ReplicationBroken(f"the target's applier did not stop at the source's snapshot in {ATTEMPTS} tries")


def _held(link: Link) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """(source database → the tables the snapshot holds, → those it cannot: no transactions)."""
    held, unchecked = {}, {}
    for source, _ in link.databases:
        link.source.select_db(source)
        left = untransactional(link.source)
        held[source] = set(base_tables(link.source)) - set(left)
        if left:
            unchecked[source] = left
    return held, unchecked


def freeze_scope(link: Link, ahead: dict, final: Coordinates) -> tuple[dict[str, Collection[str]] | None, str]:
    """The tables to verify with writes frozen: those the binary log shows written since the check ahead,
    and those it left; (None, why) when every table must be."""
    start = Coordinates.from_dict(ahead["position"])
    try:
        seen = binlog_events.written(
            binlog_events.between(link.source, start, final), [source for source, _ in link.databases]
        )
    except pymysql.err.MySQLError as e:
        return None, f"the source's binary log could not be read since the check ahead ({error_text(e)})"
    if seen.everything:
        return None, f"since the check ahead the binary log holds {seen.everything}"
    return {
        source: seen.tables.get(source, frozenset()) | set(ahead["unchecked"].get(source, ()))
        for source, _ in link.databases
    }, ""
