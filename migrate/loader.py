"""Execute a dump's steps: DDL in dump order on a control connection, rows in batches on workers.

Roles are split as myloader splits its threads: this module orders and batches (the dispatcher),
data_workers.py loads rows, deferred_keys.py builds secondary keys, commit_order.py keeps commits in
dump order, and checkpoint.py tracks and records how far the load has got.

Rows are committed about every MB: with the binary log on (as on RDS) 10 MB transactions cost the
server twice the CPU of 1 MB ones here; tiny statements (--skip-extended-insert dumps) are still
grouped. Each batch commits together with the exactly-once checkpoint (checkpoint.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

import pymysql

from migrate import checkpoint, deferred_keys, load_data, restart
from migrate.classify import Kind
from migrate.commit_order import CommitOrder, Committed
from migrate.connection import (
    CONNECTION_LOST,
    CONNECTION_REFUSED,
    ScriptFailed,
    error_code,
    error_text,
    rollback,
    run_script,
)
from migrate.data_workers import Batch, DataWorkers
from migrate.errors import ConnectionLost, LoadFailed, PreflightFailed
from migrate.plan import DumpSummary, Step
from migrate.source import DumpSource

BATCH_BYTES = 1 << 20
# Over a link slow enough to compress for, every batch waits round trips (its LOAD DATA's answer, its
# turn, its COMMIT) in which the connections sharing the link tend to fall silent together: larger
# batches make those pauses fewer. 4 MB is still within the transaction sizes the server handles best.
LINK_BATCH_BYTES = 4 << 20
BATCH_STATEMENTS = 1000
# "Already exists": the statement in doubt after a crash had completed before it.
ALREADY_EXISTS = {1050, 1304, 1359, 1537}
# Statements that never end a batch: they only set up the session rows are sent in.
_SESSION = (Kind.SET, Kind.LOCK)


class Loader:
    """The dispatcher. DDL waits for every batch before it to commit: a table's DDL precedes its rows,
    and triggers, views and routines see all the data, in dump order. With ``resume`` set,
    statements the checkpoint covers are skipped (their SETs still replayed), and the first one past
    it, which a crash may have left half-recorded, treats "already exists" as done.

    A table's first batch has run its statements before its next one starts: MariaDB ≥ 10.6 takes a
    table lock for the first insert into an empty table when the dump turns unique and foreign-key
    checks off, so a later batch reaching the table first would hold that lock while it waits for
    its turn to commit, behind the batch it blocks (a lock wait timeout InnoDB cannot see as a
    deadlock). Once the first batch holds it, the later ones queue behind it and go on when it
    commits, in its turn.

    Plain secondary keys of InnoDB tables are created after the table's rows, on a connection of
    their own while the next tables load (deferred_keys.py); the load is complete once they are.

    With ``link`` (a target across a link slow enough to compress for) batches are larger and put
    their rows on the wire one after another (send_order.py).

    With ``source`` (a dump that can be opened again part-way) a restart point (restart.py) is taken
    now and then and stored with the next position; with ``restart`` the load starts from one, its
    plan read from there on.
    """

    def __init__(
        self,
        control: pymysql.Connection,
        connect: Callable[[], pymysql.Connection],
        *,
        jobs: int,
        max_packet: int,
        check_routines: Callable[[], str | None] | None = None,
        on_step: Callable[[Step, DumpSummary], None] | None = None,
        dry_run: bool = False,
        resume: checkpoint.Position | None = None,
        load_data: bool = False,
        checkpoint_schema: str = "",
        database_map: Mapping[str, str] | None = None,
        link: bool = False,
        restart_point: restart.RestartPoint | None = None,
        source: DumpSource | None = None,
    ) -> None:
        self.control = control
        self.checkpoint_schema = checkpoint_schema
        self.max_packet = max_packet
        self.batch_bytes = LINK_BATCH_BYTES if link else BATCH_BYTES
        self.check_routines = check_routines
        self.on_step = on_step
        self.dry_run = dry_run
        point = restart_point
        # With a map, the dump's USE statements place its objects (databases.py).
        self.summary = point.summary if point else DumpSummary(database_map=database_map)
        self.session_sets: list[bytes] = list(point.session_sets) if point else []
        self.pending: list[Step] = []  # session SETs the control connection has yet to send
        self.use = point.use if point else None  # the last USE the control connection ran
        self.innodb: set[str] = set(point.innodb) if point else set()  # tables this dump created as InnoDB
        self.tables_started: set[str] = set()  # tables whose first batch has been dispatched
        self.rewrites: Counter[str] = Counter(point.rewrites if point else {})
        self.tracker = checkpoint.Tracker(resume, (point.statement, point.chain) if point else None)
        self.restored = point is not None
        self.source = None if dry_run else source
        self.taken: bytes | None = None  # a restart point (encoded) to store with the next position
        self.restart_due = 0  # the summary's bytes from which the next may be taken
        self.order = CommitOrder()
        self.workers = DataWorkers(
            connect, self.order, self.session_sets, jobs, load_data, checkpoint_schema, max_packet, link
        )
        self.keys = deferred_keys.KeyBuilder(
            connect,
            lambda: list(self.session_sets),
            enabled=not dry_run,
            limit=jobs,
            hold=bool(resume and resume.statement),
        )
        if point is not None:
            self.keys.restore(point.keys.referenced, point.keys.pending, point.keys.unfinished)

    @property
    def committed(self) -> Committed:
        return self.order.committed

    def run(self, plan: Iterator[Step]) -> DumpSummary:
        try:
            if not self.dry_run:
                self.workers.start()
            summary = self._run(plan)
        except BaseException:
            self.order.fail(None, None, "stopped", None)
            self.workers.stop(drain=True)
            raise
        self.workers.stop(drain=False)
        return summary

    def _run(self, plan: Iterator[Step]) -> DumpSummary:
        tracker = self.tracker
        in_doubt = tracker.skip_to > 0
        batch: list[Step] = []
        batch_bytes = 0
        last: Step | None = None
        if self.restored:
            self._restore_session()
        for step in plan:
            self._check()
            if self.source is not None and tracker.digest.closable and self.summary.bytes >= self.restart_due:
                self._take_restart_point(step)
            kind = step.what.kind
            executes = not tracker.covers_next and step.sql is not None
            if kind is not Kind.INSERT and batch and (executes or kind not in _SESSION):
                self._dispatch(batch, last)
                batch, batch_bytes = [], 0
            tracker.advance(step.statement.sql)
            self.summary.observe(step)
            if step.rewrites:
                self.rewrites.update(step.rewrites)
            if kind is Kind.USE and step.sql is not None:
                self.use = step.sql
            if kind is Kind.CREATE_TABLE and step.what.name is not None:
                self._note_engine(step)
            if kind is not Kind.INSERT and kind not in _SESSION:
                step = self._before_ddl(step, executes)
            if not executes:
                self._skip(step)
            elif kind is Kind.INSERT:
                self._guard(step)
                self._keys(self.keys.before_rows, step.what.name)
                in_doubt = False
                batch.append(step)
                batch_bytes += len(step.sql)
                if batch_bytes >= self.batch_bytes or len(batch) >= BATCH_STATEMENTS:
                    self._dispatch(batch, step)
                    batch, batch_bytes = [], 0
            elif kind is Kind.SET:
                self._session_set(step)
            else:
                self._guard(step)
                # DDL commits implicitly; recording it right after leaves at most this one in doubt.
                self._execute(step, in_doubt, record=True)
                in_doubt = False
            last = step
            if self.on_step:
                self.on_step(step, self.summary)
        tracker.finish()
        if batch:
            self._dispatch(batch, last)
        self._barrier()
        self._keys(self.keys.finish)
        self._execute(None, record=True, complete=True, line=last.statement.line if last is not None else 0)
        return self.summary

    def _restore_session(self) -> None:
        """Starting from a restart point: the control connection's session as the statements before it
        left it; at the checkpoint itself, the dump has proved to be the interrupted load's."""
        if not self.dry_run and (script := [*self.session_sets, *([self.use] if self.use else [])]):
            try:
                run_script(self.control, script)
            except ScriptFailed as e:
                raise self._failure(
                    None, f"replaying the session before the restart point: {error_text(e)}", error_code(e)
                ) from None
        if self.tracker.ordinal == self.tracker.skip_to and self.tracker.at_resume_point:
            self.keys.release()

    def _take_restart_point(self, step: Step) -> None:
        """Where a resume may start reading again: at ``step``, with what the statements before it set up."""
        at = self.source.restart_at(step.statement.offset)
        if at is None:
            return
        referenced, pending, unfinished = self.keys.state()
        point = restart.encode(
            restart.RestartPoint(
                self.tracker.ordinal,
                self.tracker.digest.chain(),
                step.statement,
                at,
                self.source.identity,
                self.session_sets,
                self.use,
                self.summary,
                self.innodb,
                restart.KeyState(referenced, pending, unfinished),
                dict(self.rewrites),
            )
        )
        # Written as hex in one statement, well inside the packet.
        if 2 * len(point) + 1024 <= self.max_packet // 2:
            self.taken = point
        self.restart_due = self.summary.bytes + max(checkpoint.SEGMENT_BYTES, restart.RATIO * len(point))

    def _position(self, line: int, complete: bool = False) -> checkpoint.Position:
        """The position after the statements so far, carrying the restart point taken since the last one."""
        point, self.taken = self.taken, None
        return self.tracker.position(line, complete, point)

    def _note_engine(self, step: Step) -> None:
        if load_data.transactional(step.statement.sql):
            self.innodb.add(self.summary.key(step.what.name))
        else:
            self.innodb.discard(self.summary.key(step.what.name))

    def _before_ddl(self, step: Step, executes: bool) -> Step:
        """DDL, and a table's key build, wait for every batch before them to commit; a CREATE TABLE
        comes back without the keys built after its rows."""
        if not self.tracker.covered_last:
            self._barrier()
        self._keys(self.keys.before, step, executes)
        if step.what.kind is Kind.CREATE_TABLE and step.what.name is not None:
            return replace(step, sql=self.keys.create(step, self.summary.database))
        return step

    def _skip(self, step: Step) -> None:
        """A statement not executed: dropped by a rewrite, or committed by the interrupted load."""
        if not self.tracker.covered_last:
            return
        resumed = self.tracker.at_resume_point
        if step.what.kind is Kind.SET and step.sql is not None:
            self._session_set(step)
        elif step.what.kind is Kind.USE and step.sql is not None:
            self._execute(step, in_doubt=False)  # where the statements after it go
        if resumed:  # the dump is the interrupted load's: builds may run
            self.keys.release()

    def _session_set(self, step: Step) -> None:
        """Workers replay it before their next batch. The control connection sends it with its next
        statement, in the same round trip, or on its own before the next batch is handed out, so
        that a SET the server rejects still fails at its own line."""
        self.session_sets.append(step.sql)
        self.pending.append(step)

    def _keys(self, call: Callable[..., None], *args: object) -> None:
        try:
            call(*args)
        except deferred_keys.BuildFailed as e:
            raise self._failure(None, str(e), CONNECTION_REFUSED if e.lost else None) from None

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

    def _execute(
        self,
        step: Step | None,
        in_doubt: bool = False,
        record: bool = False,
        complete: bool = False,
        line: int | None = None,
    ) -> None:
        """Run the pending session SETs, then ``step``, then with ``record`` the checkpoint after it and
        COMMIT, as one script: one round trip, and the server stops at the first failure. A statement
        in doubt after a crash runs before its checkpoint is written, so that "already exists" can
        mean it had completed."""
        statements = [*self.pending, *([step] if step is not None else [])]
        self.pending = []
        if line is None:
            line = step.statement.line if step is not None else 0
        position = self._position(line, complete) if record else None
        if not self.dry_run and (statements or position is not None):
            script = [s.sql for s in statements]
            recorded_with = position is not None and not in_doubt
            try:
                run_script(
                    self.control,
                    script + (checkpoint.recording(self.checkpoint_schema, position) if recorded_with else []),
                )
            except ScriptFailed as e:
                code = error_code(e)
                if not (in_doubt and e.index == len(statements) - 1 and code in ALREADY_EXISTS):
                    rollback(self.control)
                    if e.index < len(statements):
                        raise self._failure(statements[e.index], error_text(e), code) from None
                    raise self._failure(step, f"COMMIT failed: {error_text(e)}", code) from None
                recorded_with = False
            if position is not None and not recorded_with:
                try:
                    checkpoint.commit(self.control, self.checkpoint_schema, position)
                except pymysql.err.MySQLError as e:
                    raise self._failure(step, f"COMMIT failed: {error_text(e)}", error_code(e)) from None
        if position is not None:
            self.committed.through_line = line
            self.committed.statements = self.tracker.ordinal

    def _dispatch(self, steps: list[Step], last: Step | None) -> None:
        if self.pending:
            self._execute(None)
        rows: Counter[str] = Counter()
        tables = set()
        for step in steps:
            if step.what.name:
                table = self.summary.key(step.what.name)
                tables.add(table)
                if step.rows:
                    rows[table] += step.rows
        position = self._position(last.statement.line if last is not None else 0)
        loadable = [
            self.workers.load_data
            and step.statement.values is not None
            and step.statement.values.plain
            and self.summary.key(step.what.name) in self.innodb
            for step in steps
        ]
        batch = Batch(
            self.order.ticket(), steps, position, len(self.session_sets), self.summary.database, rows, loadable
        )
        if self.dry_run:
            self.order.done(batch.rows, batch.position)
            return
        self.workers.submit(batch, self._check)
        if not tables <= self.tables_started:
            # Once its statements have run, the first batch holds the table (see the class docstring)
            # and the batches after it can only queue behind it; its commit need not be waited for.
            self.tables_started |= tables
            self.order.wait_applied(batch.seq)
            self._check()

    def _barrier(self) -> None:
        """Wait until every dispatched batch has committed."""
        self.order.barrier()
        self._check()

    def _check(self) -> None:
        """Raise what stopped a worker or a key build, once the batches before the failed one have committed."""
        self._keys(self.keys.check)
        failure = self.order.stopped()
        if failure is not None:
            raise self._failure(failure.step, failure.reason, failure.code)

    def _failure(self, step: Step | None, reason: str, code: int | None) -> LoadFailed:
        where = "the load"
        if step is not None:
            table = f", table `{step.what.name}`" if step.what.name else ""
            where = f"statement at line {step.statement.line} (byte {step.statement.offset}){table}"
        rows = ", ".join(f"{t}: {n}" for t, n in self.committed.rows.items()) or "no rows"
        message = (
            f"{where} failed: {reason}. Committed before it: everything through line "
            f"{self.committed.through_line} ({rows} in this run); the rest was not written."
        )
        return (ConnectionLost if code in CONNECTION_LOST else LoadFailed)(message)


def packet_fix(size: int, line: int, max_packet: int) -> str:
    need = 1 << max(size + 1024, 1).bit_length()
    return (
        f"statement at line {line} is {size} bytes but the target's max_allowed_packet is "
        f"{max_packet}: set max_allowed_packet to at least {need} in the DB parameter group "
        f"(or re-dump with a smaller --net-buffer-length)"
    )
