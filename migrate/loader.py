"""Execute a dump's steps on one connection, in batches, while a reader thread parses ahead.

Parsing is overlapped with execution (DESIGN §5: a serial loader adds ~6 s per 650 MB), through
a queue bounded in bytes so memory stays flat whatever the dump size. Rows are committed about
every MB: with the binary log on (as on RDS) 10 MB transactions cost the server twice the CPU of
1 MB ones here; tiny statements (--skip-extended-insert dumps) are still grouped. Batch boundaries
are where the exactly-once checkpoint (issue 10) will be written.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pymysql

from migrate.classify import Kind
from migrate.connection import error_text
from migrate import checkpoint
from migrate.errors import BadInput, LoadFailed, PreflightFailed
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
    queue = ByteBoundedQueue(limit)

    def reader() -> None:
        error: BaseException | None = None
        try:
            for step in produce:
                if not queue.put(step, len(step.statement.sql)):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            error = e
        queue.put(_End(error), 0)

    thread = threading.Thread(target=reader, name="migrate-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item  # type: ignore[misc]
    finally:
        queue.close()


@dataclass
class Committed:
    """What is durably in the target, for the message when a load stops part-way."""

    rows: Counter[str] = field(default_factory=Counter)
    through_line: int = 0
    statements: int = 0


# The server or the network went away: the load can continue from the checkpoint.
CONNECTION_LOST = {2003, 2006, 2013, 2055}
# "Already exists": the statement in doubt after a crash had completed before it.
ALREADY_EXISTS = {1050, 1304, 1359, 1537}


class ConnectionLost(LoadFailed):
    pass


class Loader:
    """Executes steps; with ``resume`` set, skips what the checkpoint says is committed.

    Skipped statements still pass through the summary (the verdict counts the whole dump) and
    session SETs among them are replayed, so the connection is in the state the dump expects.
    """

    def __init__(self, conn: pymysql.Connection, *, max_packet: int,
                 check_routines: Callable[[], str | None] | None = None,
                 on_step: Callable[[Step, DumpSummary], None] | None = None,
                 dry_run: bool = False, resume: checkpoint.Position | None = None) -> None:
        self.conn = conn
        self.max_packet = max_packet
        self.check_routines = check_routines
        self.on_step = on_step
        self.dry_run = dry_run
        self.resume = resume
        self.summary = DumpSummary()
        self.committed = Committed()
        self.digest = checkpoint.Digest()
        self.ordinal = 0

    def run(self, plan: Iterator[Step]) -> DumpSummary:
        pending_rows: Counter[str] = Counter()
        pending_bytes = pending_statements = 0
        skip_to = self.resume.statement if self.resume else 0
        # After a crash, statements past the checkpoint up to the first non-SET one may have run.
        in_doubt = skip_to > 0
        last: Step | None = None
        for step in plan:
            is_data = step.what.kind is Kind.INSERT
            executes = self.ordinal >= skip_to and step.sql is not None
            if executes and not is_data and pending_statements:
                self._commit(pending_rows, last)
                pending_bytes = pending_statements = 0
            self.ordinal += 1
            self.digest.update(step.statement.sql)
            self.summary.observe(step)
            if not executes:
                if self.ordinal <= skip_to:
                    self._skip(step)
            else:
                self._guard(step)
                self._execute(step, in_doubt)
                if step.what.kind is not Kind.SET:
                    in_doubt = False
                if is_data:
                    pending_bytes += len(step.sql)
                    pending_statements += 1
                    if step.what.name and step.rows:
                        pending_rows[step.what.name] += step.rows
                    if pending_bytes >= BATCH_BYTES or pending_statements >= BATCH_STATEMENTS:
                        self._commit(pending_rows, step)
                        pending_bytes = pending_statements = 0
                elif step.what.kind is not Kind.SET:
                    # DDL committed implicitly; recording it now leaves at most this one in doubt.
                    self._commit(pending_rows, step)
            last = step
            if self.on_step:
                self.on_step(step, self.summary)
        if self.ordinal < skip_to:
            raise BadInput(f"the dump ends at statement {self.ordinal} but the checkpoint is at statement "
                           f"{skip_to}: this is not the dump the interrupted load was reading")
        self._commit(pending_rows, last, complete=True)
        return self.summary

    def _skip(self, step: Step) -> None:
        assert self.resume is not None
        if self.ordinal == self.resume.statement and self.digest.hexdigest() != self.resume.digest:
            raise BadInput(f"the dump differs from the one the interrupted load was reading (statements "
                           f"1..{self.ordinal}, through line {self.resume.line}, do not match the checkpoint); "
                           "refusing to resume: load into an empty database instead")
        if step.what.kind is Kind.SET and step.sql is not None:
            self._execute(step, in_doubt=False)

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
        if not self.committed.statements:
            raise PreflightFailed(problem)
        self._rollback()
        raise self._failure(step, problem, None)

    def _execute(self, step: Step, in_doubt: bool) -> None:
        if self.dry_run:
            return
        try:
            self.conn.query(step.sql)
        except pymysql.err.MySQLError as e:
            code = _code(e)
            if in_doubt and code in ALREADY_EXISTS:
                return
            self._rollback()
            raise self._failure(step, error_text(e), code) from None

    def _commit(self, pending: Counter[str], step: Step | None, complete: bool = False) -> None:
        """Commit the open transaction together with a checkpoint at the last statement seen."""
        line = step.statement.line if step is not None else 0
        if not self.dry_run:
            position = checkpoint.Position(self.ordinal, line, self.digest.hexdigest(), complete)
            try:
                checkpoint.record(self.conn, position)
                self.conn.commit()
            except pymysql.err.MySQLError as e:
                raise self._failure(step, f"COMMIT failed: {error_text(e)}", _code(e)) from None
        self.committed.rows.update(pending)
        pending.clear()
        self.committed.through_line = line
        self.committed.statements = self.ordinal

    def _rollback(self) -> None:
        try:
            self.conn.rollback()
        except pymysql.err.MySQLError:
            pass  # the connection is gone; the server rolled back for us

    def _failure(self, step: Step | None, reason: str, code: int | None) -> LoadFailed:
        where = "the load"
        if step is not None:
            table = f", table `{step.what.name}`" if step.what.name else ""
            where = f"statement at line {step.statement.line} (byte {step.statement.offset}){table}"
        rows = ", ".join(f"{t}: {n}" for t, n in self.committed.rows.items()) or "no rows"
        message = (f"{where} failed: {reason}. Committed before it: everything through line "
                   f"{self.committed.through_line} ({rows} in this run); the rest was not written.")
        return (ConnectionLost if code in CONNECTION_LOST else LoadFailed)(message)


def _code(e: pymysql.err.MySQLError) -> int | None:
    return e.args[0] if e.args and isinstance(e.args[0], int) else None


def packet_fix(size: int, line: int, max_packet: int) -> str:
    need = 1 << max(size + 1024, 1).bit_length()
    return (f"statement at line {line} is {size} bytes but the target's max_allowed_packet is "
            f"{max_packet}: set max_allowed_packet to at least {need} in the DB parameter group "
            f"(or re-dump with a smaller --net-buffer-length)")
