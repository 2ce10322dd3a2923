"""Exactly-once progress, kept in the target itself (issue 10).

One row records the last dump statement whose effect is committed: data batches update it inside
their own transaction (so a batch and its checkpoint commit or vanish together), DDL updates it
right after the DDL's implicit commit. A crash between a DDL and its record leaves exactly one
statement in doubt: the first one after the checkpoint, which resume makes idempotent.

The row also holds a digest of every statement up to that point: resuming with a dump whose
loaded part differs is refused instead of silently skipping the wrong statements. Now and then a
position carries a restart point (restart.py): where a resume may start reading the dump again
instead of re-reading it from byte 0, written in the same transaction as the position, so it never
lies beyond what is committed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pymysql

from migrate.connection import run_script
from migrate.errors import BadInput

TABLE = "_migrate_checkpoint"
_CREATE = """CREATE TABLE IF NOT EXISTS {table} (
  `id` TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  `statement` BIGINT UNSIGNED NOT NULL COMMENT 'ordinal of the last statement whose effect is committed',
  `line` BIGINT UNSIGNED NOT NULL,
  `digest` CHAR(64) NOT NULL COMMENT 'sha256 of the dump statements 1..statement',
  `complete` TINYINT NOT NULL DEFAULT 0,
  `origin` TEXT NULL COMMENT 'JSON: the binlog coordinates the dump was taken at, and its databases',
  `replication` TEXT NULL COMMENT 'JSON: migrate replicate start and migrate cutover progress',
  `anchor` MEDIUMBLOB NULL COMMENT 'where a resumed load may start reading the dump again (restart.py)',
  `updated_at` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=InnoDB COMMENT='migrate run progress; drop with migrate run --cleanup'"""


@dataclass(frozen=True)
class Position:
    statement: int  # 0: nothing committed yet
    line: int
    digest: str
    complete: bool = False
    anchor: bytes | None = None  # a restart point (restart.py) at or before ``statement``


# The digest chains a new hash to the last one's value after every segment of this many statement
# bytes: a hash's state cannot be saved, a chain value can, so a resume that starts reading at a
# restart point carries the digest on from there, and one that reads from byte 0 computes the same.
SEGMENT_BYTES = 1 << 20


class Digest:
    """Running hash of the dump's statements, in order, chained every SEGMENT_BYTES."""

    def __init__(self, chain: bytes | None = None) -> None:
        # SHA-256 runs on the CPU's SHA extensions here: 1.8 GB/s against BLAKE2b's 0.9, and the
        # whole dump passes through it.
        self._hash = hashlib.sha256()
        self._chain = chain  # a closed segment's value: the next statement starts a hash of it
        self._segment = 0

    def update(self, sql: bytes) -> None:
        if self._segment >= SEGMENT_BYTES:
            self._chain = self._hash.digest()
        if self._chain is not None:
            self._hash, self._chain, self._segment = hashlib.sha256(self._chain), None, 0
        self._hash.update(len(sql).to_bytes(8, "little"))
        self._hash.update(sql)
        self._segment += len(sql)

    @property
    def closable(self) -> bool:
        """A segment ends here: a restart point may be taken."""
        return self._chain is not None or self._segment >= SEGMENT_BYTES

    def chain(self) -> bytes:
        """The value a digest continued from here starts with (``Digest(chain)``)."""
        assert self.closable
        return self._chain if self._chain is not None else self._hash.digest()

    def hexdigest(self) -> str:
        return self._chain.hex() if self._chain is not None else self._hash.hexdigest()


class Tracker:
    """Where the load is in the dump, as the checkpoint will record it, and on resume which statements
    the checkpoint already covers and whether they are the interrupted load's."""

    def __init__(self, resume: Position | None, start: tuple[int, bytes] | None = None) -> None:
        """``start``: (statements before it, digest chain value) where reading restarts part-way."""
        self.resume = resume
        self.skip_to = resume.statement if resume else 0
        self.ordinal = start[0] if start else 0
        self.digest = Digest(start[1] if start else None)

    @property
    def covers_next(self) -> bool:
        """Whether the interrupted load committed the next statement."""
        return self.ordinal < self.skip_to

    @property
    def covered_last(self) -> bool:
        """Whether the interrupted load committed the statement just read."""
        return self.ordinal <= self.skip_to

    def advance(self, sql: bytes) -> None:
        self.ordinal += 1
        self.digest.update(sql)

    @property
    def at_resume_point(self) -> bool:
        """The last covered statement was just read, and it proved to be the interrupted load's dump."""
        if self.resume is None or self.ordinal != self.skip_to:
            return False
        if self.digest.hexdigest() != self.resume.digest:
            raise BadInput(
                f"the dump differs from the one the interrupted load was reading (statements "
                f"1..{self.ordinal}, through line {self.resume.line}, do not match the checkpoint); "
                "refusing to resume: load into an empty database instead"
            )
        return True

    def position(self, line: int, complete: bool = False, anchor: bytes | None = None) -> Position:
        return Position(self.ordinal, line, self.digest.hexdigest(), complete, anchor)

    def finish(self) -> None:
        if self.ordinal < self.skip_to:
            raise BadInput(
                f"the dump ends at statement {self.ordinal} but the checkpoint is at statement "
                f"{self.skip_to}: this is not the dump the interrupted load was reading"
            )


def table(schema: str) -> str:
    """The checkpoint table, qualified: the session's database moves with the dump's USE statements."""
    return "`" + schema.replace("`", "``") + "`.`" + TABLE + "`"


def read(conn: pymysql.Connection, schema: str) -> Position | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (schema, TABLE),
        )
        if cur.fetchone()[0] == 0:
            return None
    anchor = "anchor" if "anchor" in _columns(conn, schema) else "NULL"  # a checkpoint an older migrate made
    with conn.cursor() as cur:
        # A locking read waits for a batch still committing on a connection that was just lost,
        # instead of reading the checkpoint from before it and loading that batch twice.
        cur.execute(f"SELECT statement, line, digest, complete, {anchor} FROM {table(schema)} WHERE id = 1 FOR UPDATE")
        row = cur.fetchone()
    conn.commit()
    if row is None:
        return None
    return Position(int(row[0]), int(row[1]), row[2], bool(row[3]), row[4])


def start(conn: pymysql.Connection, schema: str) -> Position:
    """A fresh checkpoint at statement 0, committed before the first write of the load."""
    position = Position(0, 0, Digest().hexdigest())
    run_script(conn, [_CREATE.format(table=table(schema)).encode()])
    upgrade(conn, schema)
    run_script(
        conn,
        [
            f"REPLACE INTO {table(schema)} (id, statement, line, digest, complete) "
            f"VALUES (1, 0, 0, '{position.digest}', 0)".encode(),
            b"COMMIT",
        ],
    )
    return position


def recording(schema: str, position: Position) -> list[bytes]:
    """The statements that write ``position`` into the current transaction and commit it, for a
    script (connection.run_script) that may put other statements before them. (The digest is hex.)"""
    anchor = f", anchor = X'{position.anchor.hex()}'" if position.anchor is not None else ""
    return [
        f"UPDATE {table(schema)} SET statement = {position.statement:d}, line = {position.line:d}, "
        f"digest = '{int(position.digest, 16):064x}', complete = {int(position.complete):d}{anchor} "
        "WHERE id = 1".encode(),
        b"COMMIT",
    ]


def commit(conn: pymysql.Connection, schema: str, position: Position) -> None:
    """Write ``position`` into the connection's current transaction and commit it, in one round trip:
    over a 40 ms link a batch's commit is on the path of every batch after it (commit_order.py). The
    server stops at the first statement that fails, so a failed UPDATE never commits; the caller
    rolls back."""
    run_script(conn, recording(schema, position))


# Documents kept beside the load's position by the steps after it (coordinates.py, cutover.py).
DOCUMENTS = ("origin", "replication")
# Columns a checkpoint an older migrate created lacks, and their definitions.
_ADDED = {"origin": "TEXT NULL", "replication": "TEXT NULL", "anchor": "MEDIUMBLOB NULL"}


def upgrade(conn: pymysql.Connection, schema: str) -> None:
    """Add the columns a checkpoint table an older migrate created lacks."""
    missing = [c for c in _ADDED if c not in _columns(conn, schema)]
    with conn.cursor() as cur:
        for name in missing:
            cur.execute(f"ALTER TABLE {table(schema)} ADD COLUMN `{name}` {_ADDED[name]}")


def read_document(conn: pymysql.Connection, schema: str, column: str) -> dict | None:
    """A JSON document of the checkpoint row; None where the load never started or wrote none."""
    assert column in DOCUMENTS
    if read(conn, schema) is None or column not in _columns(conn, schema):
        return None
    with conn.cursor() as cur:
        cur.execute(f"SELECT `{column}` FROM {table(schema)} WHERE id = 1")
        row = cur.fetchone()
    conn.commit()
    return json.loads(row[0]) if row and row[0] else None


def write_document(conn: pymysql.Connection, schema: str, column: str, document: dict | None) -> None:
    """Replace a JSON document of the checkpoint row and commit."""
    assert column in DOCUMENTS
    upgrade(conn, schema)
    with conn.cursor() as cur:
        cur.execute(
            f"UPDATE {table(schema)} SET `{column}` = %s WHERE id = 1",
            (json.dumps(document, sort_keys=True) if document is not None else None,),
        )
    conn.commit()


def _columns(conn: pymysql.Connection, schema: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (schema, TABLE),
        )
        return {r[0] for r in cur.fetchall()}


def drop(conn: pymysql.Connection, schema: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table(schema)}")
