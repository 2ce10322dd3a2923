"""Secondary keys built after a table's rows instead of row by row while they arrive.

Every row inserted into a table with a secondary key on a random column is a B-tree insert at a
random leaf; on the reference dump (2.6 M rows, one such key) that is ~5.5 s of server CPU, where
``ALTER TABLE … ADD KEY`` after the rows sorts once and takes 1.5 s, and runs on its own connection
while the next tables load. myloader does the same (``--innodb-optimize-keys``).

Deferred: named, non-unique ``KEY``/``INDEX`` definitions of an InnoDB ``CREATE TABLE`` whose body
reads plainly (no comments), in a table that has no foreign key and that no foreign key seen
earlier in the dump references (a foreign key needs its index when it is created), and whose first
column is not an AUTO_INCREMENT column (that column must be the head of a key). UNIQUE, FULLTEXT
and SPATIAL keys stay in the CREATE TABLE.

Nothing about builds is checkpointed, because a build is idempotent: it adds whichever of the
table's deferred keys information_schema does not list. A resumed load replans every CREATE TABLE
it skips, so whatever a killed run left unbuilt is built when the resumed one passes that table; one
that starts reading part-way (restart.py) builds again every build its restart point says may not
have finished (``state``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pymysql

from migrate.classify import Kind, unquote
from migrate.connection import CONNECTION_LOST, error_text, run_script
from migrate.errors import MigrateError
from migrate.load_data import transactional
from migrate.plan import Step
from migrate.tokens import BQ, DQ, QUOTED, SQ

# A CREATE TABLE body's top-level structure: quoted tokens (skipped whole), parentheses, commas.
_TOKENS = re.compile(rb"|".join((SQ, DQ, BQ)) + rb"|[(),]|/\*|--|#", re.S)
_STRINGS = re.compile(SQ + rb"|" + DQ, re.S)
# Unqualified names only: a build looks its table up in the session's database.
_HEAD = re.compile(rb"\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`(?:[^`]|``)+`\s*\(", re.I)
_KEY = re.compile(rb"\s*(?:KEY|INDEX)\s+`((?:[^`]|``)+)`\s*\(\s*`((?:[^`]|``)+)`", re.I)
_COLUMN = re.compile(rb"\s*`((?:[^`]|``)+)`")
_REFERENCES = re.compile(rb"\bREFERENCES\s+(?:`(?:[^`]|``)+`\s*\.\s*)?`((?:[^`]|``)+)`", re.I)
_AUTO_INCREMENT = re.compile(rb"\bAUTO_INCREMENT\b", re.I)
# What may follow the body: NAME=value table options as SHOW CREATE TABLE writes them (quoted
# values removed first); not partitioning, not SELECT.
_OPTIONS = re.compile(rb"\s*(?:\w+(?:\s+\w+)*\s*=\s*\w*\s*,?\s*)*")
# The independent steps of a dump around a table's rows: they neither use nor change its keys.
_KEYS_TOGGLE = re.compile(rb"\s*(?:/\*!\d*\s*)?ALTER\s+TABLE\s+`((?:[^`]|``)+)`\s+(?:DISABLE|ENABLE)\s+KEYS\b", re.I)
# A key some earlier build already added (a killed run's ALTER can finish on the server after it).
DUPLICATE_KEY_NAME = 1061


@dataclass(frozen=True, slots=True)
class Deferral:
    table: str
    database: str | None  # when the dump's USE statements place its tables
    create: bytes  # the CREATE TABLE without the deferred keys
    keys: tuple[tuple[str, bytes], ...]  # (name, definition as written), in the dump's order


def _body(create: bytes) -> tuple[int, list[tuple[int, int]], int] | None:
    """Where the body opens, its top-level definitions as (start, end), and where it closes."""
    head = _HEAD.match(create)
    if head is None:
        return None
    depth, start, parts = 1, head.end(), []
    for token in _TOKENS.finditer(create, head.end()):
        text = token.group()
        if text in (b"/*", b"--", b"#"):
            return None
        if text == b"(":
            depth += 1
        elif text == b")":
            depth -= 1
            if depth == 0:
                parts.append((start, token.start()))
                return head.end(), parts, token.end()
        elif text == b"," and depth == 1:
            parts.append((start, token.start()))
            start = token.end()
    return None


def referenced_tables(create: bytes) -> set[str]:
    """Tables a CREATE TABLE's foreign keys point at."""
    return {unquote(m.group(1)) for m in _REFERENCES.finditer(_STRINGS.sub(b"''", create))}


def plan(table: str, create: bytes, referenced: set[str], database: str | None = None) -> Deferral | None:
    """The CREATE TABLE with its deferrable keys left out, or None when none may be deferred."""
    if table in referenced or not transactional(create):
        return None
    body = _body(create)
    if body is None or not _OPTIONS.fullmatch(QUOTED.sub(b"", create[body[2] :])):
        return None
    parts = [create[start:end] for start, end in body[1]]
    if any(referenced_tables(part) or re.match(rb"\s*(?:CONSTRAINT\b|FOREIGN\s+KEY\b)", part, re.I) for part in parts):
        return None
    auto = {
        unquote(m.group(1))
        for part in parts
        if _AUTO_INCREMENT.search(QUOTED.sub(b"", part)) and (m := _COLUMN.match(part))
    }
    kept, keys = [], []
    for part in parts:
        key = _KEY.match(part)
        if key is not None and unquote(key.group(2)) not in auto:
            keys.append((unquote(key.group(1)), part.strip()))
        else:
            kept.append(part)
    if not keys:
        return None
    closing = parts[-1][len(parts[-1].rstrip()) :]  # the layout's newline before ')'
    create_without = create[: body[0]] + b",".join(kept).rstrip() + closing + create[body[2] - 1 :]
    return Deferral(table, database, create_without, tuple(keys))


def missing_keys(conn: pymysql.Connection, deferral: Deferral) -> list[tuple[str, bytes]]:
    """The deferred keys the table does not have yet; none when the table is gone."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (deferral.table,),
        )
        if not cur.fetchone()[0]:
            return []
        cur.execute(
            "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (deferral.table,),
        )
        present = {row[0].lower() for row in cur.fetchall()}
    return [(name, definition) for name, definition in deferral.keys if name.lower() not in present]


def add_keys(conn: pymysql.Connection, deferral: Deferral) -> int:
    """Add the table's missing deferred keys in one ALTER TABLE; how many were added."""
    for _ in range(3):
        keys = missing_keys(conn, deferral)
        if not keys:
            return 0
        table = b"`" + deferral.table.encode().replace(b"`", b"``") + b"`"
        try:
            conn.query(b"ALTER TABLE " + table + b" " + b", ".join(b"ADD " + definition for _, definition in keys))
            return len(keys)
        except pymysql.err.OperationalError as e:
            if e.args[0] != DUPLICATE_KEY_NAME:
                raise
    raise BuildFailed(f"the keys of `{deferral.table}` kept changing while they were being added", False)


class BuildFailed(Exception):
    def __init__(self, message: str, lost: bool) -> None:
        super().__init__(message)
        self.lost = lost  # the connection went away: a resume can finish the build


class KeyBuilder:
    """Plans deferrals as CREATE TABLEs pass, and builds each table's keys on a connection of its own
    once the table's rows have committed, while the load goes on (at most ``limit`` builds at once).

    ``before(step)`` is called for every statement but rows and session statements (SET, LOCK),
    executed or skipped on resume, once every batch before it has committed: a CREATE/DROP TABLE of
    another table (or its DISABLE/ENABLE KEYS)
    starts the pending table's build and goes ahead; any other statement (a trigger, a view, an
    ALTER, a foreign key) may depend on the keys, and waits for every build first.

    With ``hold`` (resuming), builds wait for ``release()``: until the skipped statements have
    proved to be the interrupted load's dump, nothing may be written.
    """

    def __init__(
        self,
        connect: Callable[[], pymysql.Connection],
        session: Callable[[], list[bytes]],
        enabled: bool,
        limit: int,
        hold: bool = False,
    ) -> None:
        self.connect = connect
        self.session = session
        self.enabled = enabled
        self.limit = limit
        self.referenced: set[str] = set()
        self.pending: Deferral | None = None  # its rows are still arriving
        self.building: dict[str, tuple[threading.Thread, Deferral]] = {}
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.built = 0  # keys added
        self.held: list[Deferral] | None = [] if hold else None

    def state(self) -> tuple[set[str], Deferral | None, list[Deferral]]:
        """What a load restarted from here needs: the tables foreign keys reference, the table whose
        rows are arriving, and the builds that may not have finished by the time it was stopped."""
        started = [deferral for _, deferral in self.building.values()]
        return set(self.referenced), self.pending, started + list(self.held or [])

    def restore(self, referenced: set[str], pending: Deferral | None, unfinished: list[Deferral]) -> None:
        """Continue from ``state()``: the unfinished builds run again (once released, when holding)."""
        self.referenced, self.pending = set(referenced), pending
        for deferral in unfinished:
            self._start(deferral)

    def release(self) -> None:
        held, self.held = self.held or [], None
        for deferral in held:
            self._start(deferral)

    def create(self, step: Step, database: str | None = None) -> bytes | None:
        """The CREATE TABLE to execute for ``step`` (its own SQL when nothing is deferred)."""
        assert step.what.kind is Kind.CREATE_TABLE and step.what.name is not None
        deferral = plan(step.what.name, step.sql, self.referenced, database) if self.enabled and step.sql else None
        self.referenced |= referenced_tables(step.statement.sql)
        self.pending = deferral
        return deferral.create if deferral is not None else step.sql

    def before(self, step: Step, executes: bool) -> None:
        kind = step.what.kind
        toggled = _toggled(step.statement.sql) if kind is Kind.OTHER else None
        if self.pending is not None and toggled != self.pending.table:
            self._start_pending()
        if not executes:
            return
        independent = (
            kind in (Kind.CREATE_TABLE, Kind.DROP_TABLE)
            and not referenced_tables(step.statement.sql)
            or toggled is not None
        )
        if not independent or (toggled or step.what.name) in self.building:
            self.wait()

    def before_rows(self, table: str | None) -> None:
        """Rows for a table whose keys are being built wait for the build: a worker holding the table's
        metadata lock while it waits for its turn to commit, behind a batch that waits for the
        ALTER's exclusive lock, would be a deadlock the server cannot see."""
        if table in self.building:
            self.wait()

    def finish(self) -> None:
        """Build what is pending and wait for every build."""
        if self.pending is not None:
            self._start_pending()
        self.wait()

    def wait(self) -> None:
        while self.building:
            self._join(next(iter(self.building)))
        self.check()

    def check(self) -> None:
        with self.lock:
            error, self.error = self.error, None
        if error is not None:
            raise error

    def _join(self, table: str) -> None:
        self.building.pop(table)[0].join()

    def _start_pending(self) -> None:
        assert self.pending is not None
        pending, self.pending = self.pending, None
        self._start(pending)

    def _start(self, deferral: Deferral) -> None:
        if self.held is not None:
            self.held.append(deferral)
            return
        if deferral.table in self.building:
            self._join(deferral.table)
        while len(self.building) >= self.limit:  # the oldest first
            self._join(next(iter(self.building)))
        thread = threading.Thread(
            target=self._build, args=(deferral,), name=f"migrate-keys-{deferral.table}", daemon=True
        )
        self.building[deferral.table] = thread, deferral
        thread.start()

    def _build(self, deferral: Deferral) -> None:
        error: BaseException | None = None
        try:
            conn = self.connect()
            try:
                if session := self.session():
                    run_script(conn, session)
                if deferral.database is not None:
                    conn.select_db(deferral.database)
                added = add_keys(conn, deferral)
            finally:
                conn.close()
            with self.lock:
                self.built += added
            return
        except pymysql.err.MySQLError as e:
            error = BuildFailed(
                f"adding the secondary keys of `{deferral.table}` after its rows failed: {error_text(e)}",
                bool(e.args) and e.args[0] in CONNECTION_LOST,
            )
        except MigrateError as e:  # no connection to build on
            error = BuildFailed(f"adding the secondary keys of `{deferral.table}` after its rows failed: {e}", True)
        except BaseException as e:  # noqa: BLE001 - re-raised by the loader
            error = e
        with self.lock:
            self.error = self.error or error


def _toggled(sql: bytes) -> str | None:
    """The table an ``ALTER TABLE … DISABLE|ENABLE KEYS`` names (a no-op on InnoDB), else None."""
    m = _KEYS_TOGGLE.match(sql)
    return unquote(m.group(1)) if m else None
