"""One cutover load (``migrate run``) as a session of phases: login, preflight, prescan, load (with
retries), origin, verify, report.

Each phase is a method that reads and leaves its results on the session, and is timed; a phase
may end the run early with an exit code (a dry run after its prescan). The CLI only parses
options into ``RunOptions``. The ``origin`` phase records where the dump says replication would
start, for the replicated cutover (``migrate replicate``, ``migrate cutover``: replication.py,
cutover.py), which continues from the checkpoint this session leaves. A resumed load reads the
dump from the checkpoint's restart point where it has one (restart.py).
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pymysql

from migrate import checkpoint, coordinates, preflight, restart, rows
from migrate.connection import Endpoint, connect, resolve_login, tls_context
from migrate.databases import CHECKPOINT_SCHEMA
from migrate.errors import (
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_UNPROVEN,
    ConnectionFailed,
    ConnectionLost,
    LoadFailed,
    PreflightFailed,
)
from migrate.loader import Loader
from migrate.plan import DumpSummary, steps, summarize
from migrate.prescan import quick_summary
from migrate.progress import Progress
from migrate.read_ahead import read_ahead
from migrate.report import inspect_text, rewrites_text, summary_document, verdict_table, write_json
from migrate.rewrite import Context, Rewriter, rules_for
from migrate.s3_stream import is_s3
from migrate.source import DumpSource
from migrate.splitter import split
from migrate.verify import MATCH, MISMATCH, TableVerdict, count_verdict

PASSWORD_ENV = "MIGRATE_TARGET_PASSWORD"
LINK_JOBS = 4


@dataclass(frozen=True)
class RunOptions:
    """What the operator asked ``migrate run`` for (defaults as the CLI documents them)."""

    source: str  # a file, or "-" for stdin
    target: Endpoint
    password_secret_arn: str | None = None
    prompt: Callable[[str], str] | None = None  # asks for the target password, when the operator chose that
    ssl_ca: str | None = None
    allow_plaintext: bool = False
    force: bool = False
    resume: bool = False
    retries: int = 5
    cleanup: bool = False
    jobs: int | None = None  # None: as many as the client's cores (up to 4) would keep busy, 4 over a link
    compress: str = "auto"  # compression.MODES: protocol compression, auto = on for non-loopback targets
    inserts_only: bool = False
    dry_run: bool = False
    report_path: str | None = None
    kept_rules: frozenset[str] = frozenset()  # rewrite rules switched off with --keep-…
    database_map: Mapping[str, str] = field(default_factory=dict)  # --map-database old=new
    command: tuple[str, ...] = ()  # the command line, to say how to continue after a stop


@dataclass
class Results:
    """What the phases found, in the order they find it."""

    facts: preflight.TargetFacts | None = None
    rules: frozenset[str] = frozenset()
    position: checkpoint.Position | None = None  # the target's checkpoint before this run
    problems: list[str] = field(default_factory=list)
    prescan: DumpSummary | None = None
    prescan_size: int | None = None  # the dump's size in bytes, as stored
    would_rewrite: dict[str, int] = field(default_factory=dict)  # dry run of a file: every statement parsed
    summary: DumpSummary | None = None
    rewrites: dict[str, int] = field(default_factory=dict)
    loader: Loader | None = None
    load_seconds: float = 0.0
    verdicts: list[TableVerdict] = field(default_factory=list)
    coordinates: coordinates.Coordinates | None = None  # where the dump says replication would start


class CutoverSession:
    PHASES: tuple[str, ...] = ("login", "preflight", "prescan", "load", "origin", "verify", "report")

    def __init__(self, options: RunOptions, say: Callable[..., None]) -> None:
        self.options = options
        self.say = say  # say(text, err=False): the operator's terminal
        self.endpoint = options.target
        self.password: str | None = None
        self.tls = None
        self.conn: pymysql.Connection | None = None
        self.codec_name = "off"  # the protocol compression the target agreed to
        self.results = Results()
        self.timings: dict[str, float] = {}

    def run(self) -> int:
        """Every phase in order; the exit code."""
        for phase in self.PHASES:
            started = time.monotonic()
            try:
                code = getattr(self, phase)()
            finally:
                self.timings[phase] = time.monotonic() - started
            if code is not None:
                return code
        return EXIT_OK

    # -- the phases --------------------------------------------------------------------------

    def login(self) -> None:
        options = self.options
        self.endpoint, self.password = resolve_login(
            options.target, PASSWORD_ENV, options.prompt, options.password_secret_arn
        )
        self.tls = tls_context(self.endpoint, options.ssl_ca, options.allow_plaintext)
        self.conn = self.connect()

    def preflight(self) -> None:
        """Ask the target what it is and holds; what it alone makes impossible is collected for prescan."""
        options, results = self.options, self.results
        facts = results.facts = preflight.gather(self.conn)
        results.rules = rules_for(facts, options.kept_rules)
        self.codec_name = self.conn.codec.name if self.conn.codec else "off"
        self.say(
            f"target: {self.endpoint} ({facts.version}), max_allowed_packet {facts.max_allowed_packet:,}, "
            f"compression {self.codec_name}",
            err=True,
        )
        if not facts.local_infile and not options.inserts_only:
            self.say(
                "target has local_infile=OFF: rows go as INSERTs (local_infile=1 in the DB parameter "
                "group lets plain rows go as LOAD DATA LOCAL, with less server CPU)",
                err=True,
            )
        if rows.plain_rows is None:
            self.say(
                "migrate: the C scanner is not built (no C compiler at install): VALUES lists are read "
                "with regexes, ~5 s more client CPU per 650 MB",
                err=True,
            )
        results.position = checkpoint.read(self.conn, self.checkpoint_schema)
        if results.position is not None and not results.position.complete and not options.resume:
            results.problems.append(
                f"a previous load into `{self.checkpoint_schema}` stopped after line "
                f"{results.position.line}: continue it with --resume, or load into an "
                "empty database"
            )

    def prescan(self) -> int | None:
        """Parse a file once before the first write, so that an oversized statement or a routine the
        target would reject stops the run while the target is still untouched. Stdin cannot be read
        twice: the loader makes the same checks statement by statement instead. Nor is an S3 object
        read whole again to resume a load: the target is no longer untouched, and the resume reads
        from its restart point."""
        options, results = self.options, self.results
        resuming_s3 = self.resuming and is_s3(options.source) and not options.dry_run
        if options.source != "-" and (os.path.isfile(options.source) or is_s3(options.source)) and not resuming_s3:
            with self.open_dump() as dump:
                if options.dry_run:
                    rewriter = self.rewriter()
                    results.prescan = summarize(dump.read, dump.name, rewriter)
                    results.would_rewrite = dict(rewriter.counts)
                else:
                    results.prescan = quick_summary(dump.read, dump.name)
                results.coordinates = coordinates.find(dump.head, dump.tail)
                results.prescan_size = dump.size
        results.problems += preflight.problems(
            results.facts, self.endpoint.database, results.prescan, options.force or self.resuming
        )
        if self.endpoint.database is None and results.prescan is not None and not (options.force or self.resuming):
            landing = [options.database_map.get(name, name) for name in results.prescan.databases]
            for database, tables in preflight.existing_tables(self.conn, landing).items():
                results.problems.append(preflight.not_empty(database, tables))
        if results.problems:
            raise PreflightFailed("\n".join(results.problems))
        if options.dry_run and results.prescan is not None:
            self.say(inspect_text(options.source, results.prescan_size, False, results.prescan, results.would_rewrite))
            found = results.coordinates
            self.say(f"replication: from {found.describe()}" if found else coordinates.plain_only_reason())
            self.say("dry run: preflight passed, nothing written")
            return EXIT_OK
        return None

    def load(self) -> int | None:
        """One pass over the dump, resumed from the checkpoint after a lost connection."""
        options, results = self.options, self.results
        position = results.position if self.resuming else None
        if not self.resuming and not options.dry_run:
            if self.endpoint.database is None:
                with self.conn.cursor() as cur:
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS `{CHECKPOINT_SCHEMA}`")
            checkpoint.start(self.conn, self.checkpoint_schema)
        elif not options.dry_run:
            checkpoint.upgrade(self.conn, self.checkpoint_schema)
        if position is not None:
            self.say(f"resuming after line {position.line} (statement {position.statement})", err=True)
        started = time.monotonic()
        for attempt in range(options.retries + 1):
            try:
                self._load_once(position)
                break
            except ConnectionLost as lost:
                self._retry_or_give_up(lost, attempt)
                self.conn = self._reconnect_patiently()
                position = checkpoint.read(self.conn, self.checkpoint_schema)
        results.load_seconds = time.monotonic() - started
        self.say(rewrites_text(results.rewrites))
        if options.dry_run:
            self.conn.close()
            self.say("dry run: nothing written")
            return EXIT_OK
        return None

    def origin(self) -> None:
        """Record where a replica of the dumped server would start (the dump's binlog coordinates), for
        ``migrate replicate start``; say whether a replicated cutover is possible at all."""
        found = self.results.coordinates
        if found is None:
            self.say(f"migrate: {coordinates.plain_only_reason()}", err=True)
            return
        summary = self.results.summary
        if self.endpoint.database is not None:
            databases = [[found.database, self.endpoint.database]]
        else:
            databases = [[name, self.options.database_map.get(name, name)] for name in summary.databases]
        with self.connect(autocommit=True) as conn:
            checkpoint.write_document(
                conn, self.checkpoint_schema, "origin", {**found.as_dict(), "databases": databases}
            )
        self.say(
            f"replication can start from {found.describe()} (recorded in the checkpoint): "
            "next, migrate replicate start",
            err=True,
        )
        if self.options.cleanup:
            self.say(
                "migrate: --cleanup drops the checkpoint with that position once every table matches: "
                "leave it out for a replicated cutover",
                err=True,
            )

    def verify(self) -> None:
        # On the load's own connection, whose last transaction has committed: over a link a new one
        # costs round trips. Its next read starts a snapshot that sees every batch.
        with self.conn as check:
            summary = self.results.summary
            self.results.verdicts = count_verdict(check, summary.tables, summary.caveats, summary.locations)
            if self.options.cleanup and self.matched:
                checkpoint.drop(check, self.checkpoint_schema)

    def report(self) -> int:
        results, loader, summary = self.results, self.results.loader, self.results.summary
        workers = loader.workers
        elapsed = results.load_seconds
        self.say(verdict_table(results.verdicts, "rows in dump"))
        self.say(
            f"{summary.rows:,} rows in {elapsed:.1f} s ({summary.rows / max(elapsed, 1e-9):,.0f} rows/s); "
            f"{workers.rows_loaded:,} as LOAD DATA LOCAL, {workers.batches_resent} batches re-sent as "
            f"INSERTs; {loader.keys.built} secondary keys built after their rows"
        )
        write_json(
            self.options.report_path,
            {
                "source": self.options.source,
                "target": str(self.endpoint),
                "seconds": round(elapsed, 3),
                "match": self.matched,
                "timings": {phase: round(seconds, 3) for phase, seconds in self.timings.items()},
                "compression": self.codec_name,
                "jobs": self.jobs,
                "load_data": {"rows": workers.rows_loaded, "batches_resent": workers.batches_resent},
                "keys_built_after_rows": loader.keys.built,
                "verdicts": [v.as_dict() for v in results.verdicts],
                **summary_document(summary, results.rewrites),
            },
        )
        statuses = {v.status for v in results.verdicts}
        if MISMATCH in statuses:
            return EXIT_MISMATCH
        return EXIT_OK if statuses <= {MATCH} else EXIT_UNPROVEN

    # -- what the phases share ---------------------------------------------------------------

    @property
    def resuming(self) -> bool:
        return self.options.resume and self.results.position is not None

    @property
    def checkpoint_schema(self) -> str:
        """The URL's database, or a database of migrate's own when the dump's USE statements place objects."""
        return self.endpoint.database or CHECKPOINT_SCHEMA

    @property
    def database_map(self) -> Mapping[str, str] | None:
        """The map from the dump's database names to the target's, when the dump's USE statements place objects."""
        return None if self.endpoint.database else self.options.database_map

    @property
    def compressed(self) -> bool:
        """The target is across a link slow enough to compress for (compression.choose)."""
        return self.conn is not None and self.conn.codec is not None

    @property
    def jobs(self) -> int:
        """Loading connections: on loopback the client's cores bound them; over a link its round
        trips do, and four keep it busy while each waits for its answers (docs/cutover-runbook.md, step 6,
        "Over a link")."""
        if self.options.jobs:
            return self.options.jobs
        return LINK_JOBS if self.compressed else min(LINK_JOBS, os.cpu_count() or 1)

    def rewriter(self) -> Rewriter:
        return Rewriter(self.results.rules, Context(self.database_map or {}))

    @property
    def matched(self) -> bool:
        return all(v.match for v in self.results.verdicts)

    def open_dump(self) -> DumpSource:
        return DumpSource(self.options.source)

    def _note(self, text: str) -> None:
        self.say(text, err=True)

    def connect(self, autocommit: bool = False) -> pymysql.Connection:
        local_data = not self.options.inserts_only and not autocommit
        return connect(
            self.endpoint,
            self.password,
            self.tls,
            autocommit=autocommit,
            local_data=local_data,
            compress=self.options.compress,
        )

    def _load_once(self, resume: checkpoint.Position | None) -> None:
        options, results = self.options, self.results
        facts = results.facts
        dump, point = restart.open_dump(options.source, resume, self.database_map, self._note)
        with dump:
            rewriter = self.rewriter()
            if point is not None:
                rewriter.counts.update(point.rewrites)
            progress = Progress(dump.raw_offset, dump.size, start=dump.position)
            loader = results.loader = Loader(
                self.conn,
                self.connect,
                jobs=self.jobs,
                max_packet=facts.max_allowed_packet,
                on_step=progress,
                dry_run=options.dry_run,
                check_routines=lambda: preflight.routine_problem(facts, 1),
                resume=resume,
                load_data=facts.local_infile and not options.inserts_only,
                checkpoint_schema=self.checkpoint_schema,
                database_map=self.database_map,
                link=self.compressed,
                restart_point=point,
                source=dump,
            )
            plan = read_ahead(steps(split(dump.read, dump.name, at=point.at if point else None), rewriter))
            try:
                results.summary = loader.run(plan)
            except KeyboardInterrupt:
                raise LoadFailed(
                    f"interrupted; committed through line {loader.committed.through_line}; continue with --resume"
                ) from None
            except ConnectionFailed as e:  # the dump's source (S3) gave up; a worker's would be ConnectionLost
                raise LoadFailed(
                    f"{e}; committed through line {loader.committed.through_line}; continue with --resume"
                ) from None
            finally:
                plan.close()
                results.rewrites = dict(rewriter.counts)
                results.coordinates = coordinates.find(dump.head, dump.tail)
            progress.finish(results.summary)

    def _retry_or_give_up(self, lost: ConnectionLost, attempt: int) -> None:
        options = self.options
        if options.source == "-" or attempt == options.retries:
            command = shlex.join([*options.command] + ([] if options.resume else ["--resume"]))
            why = "stdin cannot be read again" if options.source == "-" else f"gave up after {options.retries} retries"
            raise LoadFailed(f"{lost} The connection was lost and {why}; continue with: {command}") from None
        delay = min(2**attempt, 30)
        self.say(f"migrate: connection lost; retry {attempt + 1}/{options.retries} in {delay} s", err=True)
        time.sleep(delay)

    def _reconnect_patiently(self, attempts: int = 10) -> pymysql.Connection:
        """A restarting server refuses connections for a while; wait for it, boundedly."""
        for attempt in range(attempts):
            try:
                return self.connect()
            except ConnectionFailed:
                if attempt == attempts - 1:
                    raise
                time.sleep(min(2**attempt, 10))
        raise AssertionError("unreachable")
