"""The connections that load rows: each takes a batch, runs its INSERTs, and commits it on its turn.

Every worker replays the dump's session SETs that precede its batch (the header: names, TIME_ZONE,
SQL_MODE, checks), so its rows arrive as they would on a single connection. A batch commits together
with its checkpoint row, in dump order (commit_order.py).

With ``load_data``, a batch's plain INSERTs into InnoDB tables go as LOAD DATA LOCAL, and the whole
batch is rolled back and re-sent as its INSERTs whenever the server's answer is not exactly the
dump's rows without a warning (load_data.py says why that is the same data).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pymysql

from migrate import checkpoint, load_data
from migrate.commit_order import CommitOrder
from migrate.connection import CONNECTION_LOST, CONNECTION_REFUSED, error_code, error_text, rollback, run_script
from migrate.errors import ConnectionLost, MigrateError
from migrate.plan import Step
from migrate.send_order import SendOrder

# LOAD DATA LOCAL is off on the server (MariaDB, MySQL 8): rows go as INSERTs from then on.
LOCAL_DATA_DISABLED = {1148, 3948}


@dataclass
class Batch:
    """Consecutive INSERTs that commit together, with the checkpoint that says so."""

    seq: int
    steps: list[Step]
    position: checkpoint.Position
    sets_before: int  # how many of the dump's session SETs precede it
    database: str | None  # where its rows go, when the dump's USE statements decide
    rows: Counter[str]
    loadable: list[bool]  # per step: may go as LOAD DATA (load_data.py)


@dataclass
class _Session:
    """One worker's connection and what its session has seen."""

    conn: pymysql.Connection | None = None
    applied: int | None = None  # how many of the dump's session SETs it has run (None: not asked yet)
    charset: str | None = None  # the session's, when it lets LOAD DATA read rows as SQL does
    database: str | None = None


def _runs(batch: Batch) -> list[tuple[list[Step], bool]]:
    """The batch's steps in order, grouped: consecutive loadable INSERTs into the same table and
    columns form one run (one LOAD DATA, one round trip less per statement); every other step is
    a run of its own."""
    runs: list[tuple[list[Step], bool]] = []
    for step, loadable in zip(batch.steps, batch.loadable, strict=True):
        values = step.statement.values
        if loadable and runs and runs[-1][1]:
            first = runs[-1][0][0].statement.values
            if (first.table, first.columns) == (values.table, values.columns):
                runs[-1][0].append(step)
                continue
        runs.append(([step], loadable))
    return runs


class DataWorkers:
    def __init__(
        self,
        connect: Callable[[], pymysql.Connection],
        order: CommitOrder,
        session_sets: list[bytes],
        jobs: int,
        load_data: bool,
        checkpoint_schema: str,
        max_packet: int = 1 << 24,
        link: bool = False,
    ) -> None:
        self.connect = connect
        self.checkpoint_schema = checkpoint_schema
        self.order = order
        self.session_sets = session_sets  # appended to by the dispatcher, before the batches that follow
        self.jobs = jobs
        self.load_data = load_data
        self.max_packet = max_packet  # the server's max_allowed_packet
        self.sends = SendOrder(enabled=link)  # over a link, rows go on the wire batch after batch
        self.work: queue.Queue[Batch | None] = queue.Queue(maxsize=jobs)
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()  # for the counters below
        self.rows_loaded = 0  # rows that went as LOAD DATA
        self.batches_resent = 0  # batches rolled back and re-sent as INSERTs
        self.accepting: set[tuple[str | None, bytes]] = set()  # (database, table) that took LOAD DATA LOCAL

    def start(self) -> None:
        """Start every worker: each connects while the dispatcher is still at the dump's first DDL."""
        while len(self.threads) < self.jobs:
            thread = threading.Thread(target=self._work, name=f"migrate-worker-{len(self.threads)}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def submit(self, batch: Batch, check: Callable[[], None]) -> None:
        """Queue ``batch`` for the next free worker; ``check`` raises when the load has stopped."""
        self.start()
        while True:
            check()
            try:
                self.work.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def stop(self, drain: bool) -> None:
        """Let every worker finish (after the queued batches, unless ``drain`` drops them) and leave."""
        while drain:
            try:
                self.work.get_nowait()
            except queue.Empty:
                break
        for _ in self.threads:
            self.work.put(None)
        for thread in self.threads:
            thread.join(timeout=120)

    def _work(self) -> None:
        session = _Session()
        with contextlib.suppress(ConnectionLost):  # ahead of its first batch; else tried again then
            session.conn = self._connection()
        try:
            while (batch := self.work.get()) is not None:
                try:
                    if self.order.abandoned(batch.seq):
                        continue
                    self._prepare(session, batch)
                    if self._apply(session, batch, fast=True):
                        self.order.applied(batch.seq)
                        self._commit_in_turn(session.conn, batch)
                except pymysql.err.MySQLError as e:
                    self.order.fail(batch.seq, batch.steps[-1], error_text(e), error_code(e))
                except ConnectionLost as e:
                    self.order.fail(batch.seq, None, str(e), CONNECTION_REFUSED)
                finally:
                    self.sends.release(batch.seq)
        except BaseException as e:  # noqa: BLE001 - a bug: handed to the dispatcher, which re-raises it
            self.order.crash(e)
        finally:
            if session.conn is not None:
                session.conn.close()

    def _prepare(self, session: _Session, batch: Batch) -> None:
        """A connection whose session has seen the dump's SETs before ``batch``, in its database."""
        if session.conn is None or not session.conn.open:
            session.conn, session.applied, session.database = self._connection(), None, None
        if session.applied is None or session.applied < batch.sets_before:
            session.charset = self._replay(session.conn, self.session_sets[session.applied or 0 : batch.sets_before])
            session.applied = batch.sets_before
        if batch.database is not None and batch.database != session.database:
            session.conn.select_db(batch.database)
            session.database = batch.database

    def _connection(self) -> pymysql.Connection:
        try:
            return self.connect()
        except MigrateError as e:
            # Writes have begun: a connection that cannot be opened now is a lost one.
            raise ConnectionLost(str(e)) from None

    def _replay(self, conn: pymysql.Connection, session_sets: list[bytes]) -> str | None:
        """Run the dump's session SETs this connection has not seen, in one round trip with the
        question whether its session lets LOAD DATA read rows as SQL does: the session's charset if so."""
        charset, sql_mode = run_script(conn, [*session_sets, b"SELECT @@character_set_client, @@sql_mode"])
        return charset if self.load_data and load_data.session_allows(charset, sql_mode) else None

    def _apply(self, session: _Session, batch: Batch, fast: bool) -> bool:
        """Run the batch's statements in its transaction; False when it failed (and is recorded).
        With ``fast``, consecutive loadable INSERTs into one table go as one LOAD DATA."""
        conn, loaded = session.conn, 0
        fast = fast and session.charset is not None and self.load_data
        runs = _runs(batch) if fast else [([step], False) for step in batch.steps]
        last_load = max((i for i, (_, loadable) in enumerate(runs) if loadable), default=None)
        if last_load is None:
            self.sends.release(batch.seq)
        else:
            self.sends.wait(batch.seq, lambda: self.order.abandoned(batch.seq))
        for i, (steps, loadable) in enumerate(runs):
            try:
                if not loadable:
                    conn.query(steps[0].sql)
                elif self._load(
                    session,
                    steps,
                    batch.database,
                    sent=(lambda: self.sends.release(batch.seq)) if i == last_load else None,
                ):
                    loaded += sum(step.rows or 0 for step in steps)
                else:
                    rollback(conn)
                    return self._resend(session, batch)
            except pymysql.err.MySQLError as e:
                code = error_code(e)
                rollback(conn)
                if loadable and code not in CONNECTION_LOST:
                    if code in LOCAL_DATA_DISABLED:
                        self.load_data = False
                    return self._resend(session, batch)
                self.order.fail(batch.seq, steps[-1], error_text(e), code)
                return False
            except load_data.Refused as e:
                rollback(conn)
                self.order.fail(batch.seq, steps[-1], str(e), None)
                return False
        with self.lock:
            self.rows_loaded += loaded
        return True

    def _resend(self, session: _Session, batch: Batch) -> bool:
        """The batch as the dump's INSERTs; on a new connection when a refused LOAD DATA took the old one."""
        with self.lock:
            self.batches_resent += 1
        self._prepare(session, batch)
        return self._apply(session, batch, fast=False)

    def _load(
        self, session: _Session, steps: list[Step], database: str | None, sent: Callable[[], None] | None
    ) -> bool:
        """Send INSERTs' rows as one LOAD DATA; whether the server took exactly them, cleanly. The
        rows go without waiting to be asked for once the table has taken LOAD DATA (load_data.send)."""
        values = [step.statement.values for step in steps]
        table = (database, values[0].table)
        affected, warnings = load_data.send(
            session.conn,
            load_data.statement(values[0], session.charset),
            [memoryview(step.sql)[v.start :] for step, v in zip(steps, values, strict=True)],
            ask_first=table not in self.accepting,
            max_packet=self.max_packet,
            sent=sent,
        )
        self.accepting.add(table)
        return affected == sum(v.tuples for v in values) and not warnings

    def _commit_in_turn(self, conn: pymysql.Connection, batch: Batch) -> None:
        """Commit with the checkpoint once every earlier batch has, keeping the committed part a prefix."""
        if not self.order.wait_turn(batch.seq):
            rollback(conn)
            return
        try:
            checkpoint.commit(conn, self.checkpoint_schema, batch.position)
        except pymysql.err.MySQLError as e:
            rollback(conn)
            self.order.fail(batch.seq, batch.steps[-1], f"COMMIT failed: {error_text(e)}", error_code(e))
            return
        self.order.done(batch.rows, batch.position)
