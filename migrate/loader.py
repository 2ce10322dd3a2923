"""Execute a dump's steps over several connections, in batches, while a reader thread parses ahead.

Parsing is overlapped with execution (DESIGN §5: a serial loader adds ~6 s per 650 MB), through
a queue bounded in bytes so memory stays flat whatever the dump size. Rows are committed about
every MB: with the binary log on (as on RDS) 10 MB transactions cost the server twice the CPU of
1 MB ones here; tiny statements (--skip-extended-insert dumps) are still grouped. Each batch commits
together with the exactly-once checkpoint (checkpoint.py).
"""

from __future__ import annotations

import queue
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import pymysql

from migrate import checkpoint, deferred_keys, load_data
from migrate.classify import Kind
from migrate.connection import CONNECTION_LOST, CONNECTION_REFUSED, error_text
from migrate.errors import BadInput, LoadFailed, MigrateError, PreflightFailed
from migrate.plan import DumpSummary, Step

BATCH_BYTES = 1 << 20
BATCH_STATEMENTS = 1000
QUEUE_BYTES = 16 << 20


class _End:
    """Marks the end of the reader's stream; carries the reader's exception, if any."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class ByteBoundedQueue:
    """A FIFO that blocks the producer while it holds more than ``limit`` bytes (always admits one
    item, so a statement larger than the limit still passes)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: deque[tuple[object, int]] = deque()
        self.held = 0
        self.closed = False
        self.cond = threading.Condition()

    def put(self, item: object, size: int) -> bool:
        """False when the consumer has gone away."""
        with self.cond:
            while self.items and self.held + size > self.limit and not self.closed:
                self.cond.wait()
            if self.closed:
                return False
            self.items.append((item, size))
            self.held += size
            self.cond.notify_all()
            return True

    def get(self) -> object:
        with self.cond:
            while not self.items:
                self.cond.wait()
            item, size = self.items.popleft()
            self.held -= size
            self.cond.notify_all()
            return item

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def read_ahead(produce: Iterator[Step], limit: int = QUEUE_BYTES) -> Iterator[Step]:
    """Run ``produce`` on a thread and yield its steps; its exceptions re-raise here."""
    buffer = ByteBoundedQueue(limit)

    def reader() -> None:
        error: BaseException | None = None
        try:
            for step in produce:
                if not buffer.put(step, len(step.statement.sql)):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            error = e
        buffer.put(_End(error), 0)

    thread = threading.Thread(target=reader, name="migrate-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item  # type: ignore[misc]
    finally:
        # A reader still inside stdin's read() at interpreter exit aborts the process (SIGABRT):
        # let it see the closed buffer and leave first.
        buffer.close()
        thread.join(timeout=30)


@dataclass
class Committed:
    """What is durably in the target, for the message when a load stops part-way."""

    rows: Counter[str] = field(default_factory=Counter)
    through_line: int = 0
    statements: int = 0


# "Already exists": the statement in doubt after a crash had completed before it.
ALREADY_EXISTS = {1050, 1304, 1359, 1537}
# LOAD DATA LOCAL is off on the server (MariaDB, MySQL 8): rows go as INSERTs from then on.
LOCAL_DATA_DISABLED = {1148, 3948}


class ConnectionLost(LoadFailed):
    pass


@dataclass
class Batch:
    """Consecutive INSERTs that commit together, with the checkpoint that says so."""

    seq: int
    steps: list[Step]
    position: checkpoint.Position
    sets_before: int  # how many of the dump's session SETs precede it
    rows: Counter[str]
    loadable: list[bool]  # per step: may go as LOAD DATA (load_data.py)


@dataclass(frozen=True)
class _Failure:
    """Why the load stops. Batches before ``seq`` still commit (they are valid, and committing
    them keeps "what is committed" a clean prefix); later ones roll back. ``seq`` None: the
    dispatcher itself stopped (bad input, interrupt), and nothing more commits."""

    seq: int | None
    step: Step | None
    reason: str
    code: int | None


class Loader:
    """Executes steps: DDL and session SETs in dump order on a control connection, data batches on
    ``jobs`` worker connections at once. Workers run their INSERTs concurrently but commit in dump
    order, so the committed batches are always a prefix of the dump and one checkpoint row (the
    end of that prefix, written in each batch's own transaction) stays exact.

    Every worker replays the dump's session SETs that precede its batch (the header: names,
    TIME_ZONE, SQL_MODE, checks), so its rows arrive as they would on a single connection. DDL
    waits for every batch before it to commit: a table's DDL precedes its rows, and triggers,
    views and routines see all the data, in dump order. With ``resume`` set, statements the
    checkpoint covers are skipped (their SETs still replayed), and the first one past it, which
    a crash may have left half-recorded, treats "already exists" as done.

    A table's first batch commits before its next one starts: MariaDB ≥ 10.6 takes a table lock for
    the first insert into an empty table when the dump turns unique and foreign-key checks off, so
    a later batch reaching the table first would hold that lock while it waits for its turn to
    commit, behind the batch it blocks (a lock wait timeout InnoDB cannot see as a deadlock).

    With ``load_data``, a batch's plain INSERTs into InnoDB tables go as LOAD DATA LOCAL, and the
    whole batch is rolled back and re-sent as its INSERTs whenever the server's answer is not
    exactly the dump's rows without a warning (load_data.py says why that is the same data).

    Plain secondary keys of InnoDB tables are created after the table's rows, on a connection of
    their own while the next tables load (deferred_keys.py); the load is complete once they are.
    """

    def __init__(self, control: pymysql.Connection, connect: Callable[[], pymysql.Connection], *,
                 jobs: int, max_packet: int, check_routines: Callable[[], str | None] | None = None,
                 on_step: Callable[[Step, DumpSummary], None] | None = None,
                 dry_run: bool = False, resume: checkpoint.Position | None = None,
                 load_data: bool = False) -> None:
        self.control = control
        self.connect = connect
        self.jobs = jobs
        self.max_packet = max_packet
        self.check_routines = check_routines
        self.on_step = on_step
        self.dry_run = dry_run
        self.resume = resume
        self.load_data = load_data
        self.innodb: set[str] = set()  # tables this dump created as InnoDB
        self.tables_started: set[str] = set()  # tables whose first batch has been dispatched
        self.rows_loaded = 0  # rows that went as LOAD DATA
        self.batches_resent = 0  # batches rolled back and re-sent as INSERTs
        self.summary = DumpSummary()
        self.committed = Committed()
        self.digest = checkpoint.Digest()
        self.ordinal = 0
        self.session_sets: list[bytes] = []
        self.cond = threading.Condition()
        self.dispatched = 0  # batches handed to workers
        self.next_commit = 0  # the batch whose turn it is to commit
        self.failure: _Failure | None = None
        self.error: BaseException | None = None  # a bug in a worker: re-raised as is
        self.work: queue.Queue[Batch | None] = queue.Queue(maxsize=jobs)
        self.workers: list[threading.Thread] = []
        self.keys = deferred_keys.KeyBuilder(connect, lambda: list(self.session_sets), enabled=not dry_run,
                                             limit=jobs, hold=bool(resume and resume.statement))

    def run(self, plan: Iterator[Step]) -> DumpSummary:
        try:
            summary = self._run(plan)
        except BaseException:
            self._stop_workers(failed=True)
            raise
        self._stop_workers(failed=False)
        return summary

    def _fail(self, seq: int | None, step: Step | None, reason: str, code: int | None) -> None:
        with self.cond:
            if self.failure is None or (seq is not None and (self.failure.seq is None or seq < self.failure.seq)):
                self.failure = _Failure(seq, step, reason, code)
            self.cond.notify_all()

    def _abandoned(self, seq: int) -> bool:
        """Whether batch ``seq`` must roll back instead of committing (call with the lock held)."""
        failure = self.failure
        return self.error is not None or (failure is not None and (failure.seq is None or seq > failure.seq))

    def _run(self, plan: Iterator[Step]) -> DumpSummary:
        skip_to = self.resume.statement if self.resume else 0
        in_doubt = skip_to > 0
        batch: list[Step] = []
        batch_bytes = 0
        last: Step | None = None
        for step in plan:
            self._check_workers()
            kind = step.what.kind
            executes = self.ordinal >= skip_to and step.sql is not None
            if kind is not Kind.INSERT and batch and (executes or kind not in (Kind.SET, Kind.LOCK)):
                self._dispatch(batch, last)
                batch, batch_bytes = [], 0
            self.ordinal += 1
            self.digest.update(step.statement.sql)
            self.summary.observe(step)
            if kind is Kind.CREATE_TABLE and step.what.name is not None:
                if load_data.transactional(step.statement.sql):
                    self.innodb.add(step.what.name)
                else:
                    self.innodb.discard(step.what.name)
            if kind not in (Kind.INSERT, Kind.SET, Kind.LOCK):
                if self.ordinal > skip_to:
                    # DDL, and a table's key build, wait for every batch before them to commit.
                    self._barrier()
                self._keys(self.keys.before, step, executes)
                if kind is Kind.CREATE_TABLE and step.what.name is not None:
                    step = replace(step, sql=self.keys.create(step))
            if not executes:
                if self.ordinal <= skip_to:
                    self._skip(step)
                    if self.ordinal == skip_to:  # the dump is the interrupted load's: builds may run
                        self.keys.release()
            elif kind is Kind.INSERT:
                self._guard(step)
                self._keys(self.keys.before_rows, step.what.name)
                in_doubt = False
                batch.append(step)
                batch_bytes += len(step.sql)
                if batch_bytes >= BATCH_BYTES or len(batch) >= BATCH_STATEMENTS:
                    self._dispatch(batch, step)
                    batch, batch_bytes = [], 0
            elif kind is Kind.SET:
                self._execute(step, in_doubt=False)
                self.session_sets.append(step.sql)
            else:
                self._guard(step)
                self._execute(step, in_doubt)
                in_doubt = False
                # DDL committed implicitly; recording it now leaves at most this one in doubt.
                self._record(step)
            last = step
            if self.on_step:
                self.on_step(step, self.summary)
        if self.ordinal < skip_to:
            raise BadInput(f"the dump ends at statement {self.ordinal} but the checkpoint is at statement "
                           f"{skip_to}: this is not the dump the interrupted load was reading")
        if batch:
            self._dispatch(batch, last)
        self._barrier()
        self._keys(self.keys.finish)
        self._record(last, complete=True)
        return self.summary

    def _keys(self, call: Callable[..., None], *args: object) -> None:
        try:
            call(*args)
        except deferred_keys.BuildFailed as e:
            raise self._failure(None, str(e), CONNECTION_REFUSED if e.lost else None) from None

    def _skip(self, step: Step) -> None:
        assert self.resume is not None
        if self.ordinal == self.resume.statement and self.digest.hexdigest() != self.resume.digest:
            raise BadInput(f"the dump differs from the one the interrupted load was reading (statements "
                           f"1..{self.ordinal}, through line {self.resume.line}, do not match the checkpoint); "
                           "refusing to resume: load into an empty database instead")
        if step.what.kind is Kind.SET and step.sql is not None:
            self._execute(step, in_doubt=False)
            self.session_sets.append(step.sql)

    def _guard(self, step: Step) -> None:
        """Checks that a prescan makes early; repeated here for stdin, which cannot be prescanned."""
        assert step.sql is not None
        problem = None
        if len(step.sql) + 1024 > self.max_packet:
            problem = packet_fix(len(step.sql), step.statement.line, self.max_packet)
        elif step.what.kind is Kind.ROUTINE and self.check_routines is not None:
            problem, self.check_routines = self.check_routines(), None
        if problem is None:
            return
        self._barrier()
        if not self.committed.statements:
            raise PreflightFailed(problem)
        raise self._failure(step, problem, None)

    def _execute(self, step: Step, in_doubt: bool) -> None:
        if self.dry_run:
            return
        try:
            self.control.query(step.sql)
        except pymysql.err.MySQLError as e:
            code = _code(e)
            if in_doubt and code in ALREADY_EXISTS:
                return
            _rollback(self.control)
            raise self._failure(step, error_text(e), code) from None

    def _record(self, step: Step | None, complete: bool = False) -> None:
        """Checkpoint the control connection's progress; every batch before it has committed."""
        line = step.statement.line if step is not None else 0
        if not self.dry_run:
            position = checkpoint.Position(self.ordinal, line, self.digest.hexdigest(), complete)
            try:
                checkpoint.record(self.control, position)
                self.control.commit()
            except pymysql.err.MySQLError as e:
                raise self._failure(step, f"COMMIT failed: {error_text(e)}", _code(e)) from None
        self.committed.through_line = line
        self.committed.statements = self.ordinal

    def _dispatch(self, steps: list[Step], last: Step | None) -> None:
        rows: Counter[str] = Counter()
        tables = set()
        for step in steps:
            if step.what.name:
                tables.add(step.what.name)
                if step.rows:
                    rows[step.what.name] += step.rows
        line = last.statement.line if last is not None else 0
        loadable = [self.load_data and step.statement.values is not None and step.statement.values.plain
                    and step.what.name in self.innodb for step in steps]
        batch = Batch(self.dispatched, steps, checkpoint.Position(self.ordinal, line, self.digest.hexdigest()),
                      len(self.session_sets), rows, loadable)
        self.dispatched += 1
        if self.dry_run:
            self._committed(batch)
            return
        if len(self.workers) < self.jobs:
            worker = threading.Thread(target=self._worker, name=f"migrate-worker-{len(self.workers)}", daemon=True)
            self.workers.append(worker)
            worker.start()
        while True:
            self._check_workers()
            try:
                self.work.put(batch, timeout=0.5)
                break
            except queue.Full:
                continue
        if not tables <= self.tables_started:
            self.tables_started |= tables
            self._barrier()

    def _worker(self) -> None:
        conn: pymysql.Connection | None = None
        applied = 0
        charset: str | None = None  # the session's, when it lets LOAD DATA read rows as SQL does
        try:
            while (batch := self.work.get()) is not None:
                with self.cond:
                    if self._abandoned(batch.seq):
                        continue
                try:
                    fresh = conn is None
                    if conn is None:
                        conn = self._worker_connection()
                    if fresh or applied < batch.sets_before:
                        for sql in self.session_sets[applied:batch.sets_before]:
                            conn.query(sql)
                        applied = batch.sets_before
                        charset = self._load_data_charset(conn)
                    if self._apply(conn, batch, charset):
                        self._commit_in_turn(conn, batch)
                except pymysql.err.MySQLError as e:
                    self._fail(batch.seq, batch.steps[-1], error_text(e), _code(e))
                except ConnectionLost as e:
                    self._fail(batch.seq, None, str(e), CONNECTION_REFUSED)
        except BaseException as e:  # noqa: BLE001 - a bug: handed to the dispatcher, which re-raises it
            with self.cond:
                self.error = self.error or e
                self.cond.notify_all()
        finally:
            if conn is not None:
                conn.close()

    def _load_data_charset(self, conn: pymysql.Connection) -> str | None:
        if not self.load_data:
            return None
        with conn.cursor() as cur:
            cur.execute("SELECT @@character_set_client, @@sql_mode")
            charset, sql_mode = cur.fetchone()
        return charset if load_data.session_allows(charset, sql_mode) else None

    def _apply(self, conn: pymysql.Connection, batch: Batch, charset: str | None) -> bool:
        """Run the batch's statements in its transaction; False when it failed (and is recorded)."""
        loaded = 0
        for step, loadable in zip(batch.steps, batch.loadable):
            fast = loadable and charset is not None and self.load_data
            try:
                if not fast:
                    conn.query(step.sql)
                elif self._load(conn, step, charset):
                    loaded += step.rows or 0
                else:
                    _rollback(conn)
                    return self._resend(conn, batch)
            except pymysql.err.MySQLError as e:
                code = _code(e)
                _rollback(conn)
                if fast and code not in CONNECTION_LOST:
                    if code in LOCAL_DATA_DISABLED:
                        self.load_data = False
                    return self._resend(conn, batch)
                self._fail(batch.seq, step, error_text(e), code)
                return False
            except load_data.Refused as e:
                _rollback(conn)
                self._fail(batch.seq, step, str(e), None)
                return False
        with self.cond:
            self.rows_loaded += loaded
        return True

    def _resend(self, conn: pymysql.Connection, batch: Batch) -> bool:
        with self.cond:
            self.batches_resent += 1
        return self._apply(conn, batch, None)

    def _load(self, conn: pymysql.Connection, step: Step, charset: str) -> bool:
        """Send one INSERT's rows as LOAD DATA; whether the server took exactly them, cleanly."""
        values = step.statement.values
        assert values is not None and step.sql is not None
        affected, warnings = load_data.send(conn, load_data.statement(values, charset),
                                            memoryview(step.sql)[values.start:])
        return affected == values.tuples and not warnings

    def _commit_in_turn(self, conn: pymysql.Connection, batch: Batch) -> None:
        """Commit with the checkpoint once every earlier batch has, keeping the committed part a prefix."""
        with self.cond:
            while self.next_commit != batch.seq and not self._abandoned(batch.seq):
                self.cond.wait()
            if self._abandoned(batch.seq):
                _rollback(conn)
                return
        try:
            checkpoint.record(conn, batch.position)
            conn.commit()
        except pymysql.err.MySQLError as e:
            _rollback(conn)
            self._fail(batch.seq, batch.steps[-1], f"COMMIT failed: {error_text(e)}", _code(e))
            return
        self._committed(batch)

    def _worker_connection(self) -> pymysql.Connection:
        try:
            return self.connect()
        except MigrateError as e:
            # Writes have begun: a connection that cannot be opened now is a lost one.
            raise ConnectionLost(str(e)) from None

    def _committed(self, batch: Batch) -> None:
        with self.cond:
            self.next_commit += 1
            self.committed.rows.update(batch.rows)
            self.committed.through_line = batch.position.line
            self.committed.statements = batch.position.statement
            self.cond.notify_all()

    def _barrier(self) -> None:
        """Wait until every dispatched batch has committed."""
        with self.cond:
            while self.next_commit < self.dispatched and self.failure is None and self.error is None:
                self.cond.wait()
        self._check_workers()

    def _check_workers(self) -> None:
        """Raise what stopped a worker, once the batches before the failed one have committed."""
        if self.error is not None:
            raise self.error
        self._keys(self.keys.check)
        if self.failure is None:
            return
        with self.cond:
            while self.failure.seq is not None and self.next_commit < self.failure.seq and self.error is None:
                self.cond.wait()
        failure = self.failure
        raise self._failure(failure.step, failure.reason, failure.code)

    def _stop_workers(self, failed: bool) -> None:
        if failed:
            self._fail(None, None, "stopped", None)
            while True:
                try:
                    self.work.get_nowait()
                except queue.Empty:
                    break
        for _ in self.workers:
            self.work.put(None)
        for worker in self.workers:
            worker.join(timeout=120)

    def _failure(self, step: Step | None, reason: str, code: int | None) -> LoadFailed:
        where = "the load"
        if step is not None:
            table = f", table `{step.what.name}`" if step.what.name else ""
            where = f"statement at line {step.statement.line} (byte {step.statement.offset}){table}"
        rows = ", ".join(f"{t}: {n}" for t, n in self.committed.rows.items()) or "no rows"
        message = (f"{where} failed: {reason}. Committed before it: everything through line "
                   f"{self.committed.through_line} ({rows} in this run); the rest was not written.")
        return (ConnectionLost if code in CONNECTION_LOST else LoadFailed)(message)


def _rollback(conn: pymysql.Connection) -> None:
    try:
        conn.rollback()
    except pymysql.err.MySQLError:
        pass  # the connection is gone; the server rolled back for us


def _code(e: pymysql.err.MySQLError) -> int | None:
    return e.args[0] if e.args and isinstance(e.args[0], int) else None


def packet_fix(size: int, line: int, max_packet: int) -> str:
    need = 1 << max(size + 1024, 1).bit_length()
    return (f"statement at line {line} is {size} bytes but the target's max_allowed_packet is "
            f"{max_packet}: set max_allowed_packet to at least {need} in the DB parameter group "
            f"(or re-dump with a smaller --net-buffer-length)")
