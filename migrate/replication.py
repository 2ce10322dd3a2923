"""``migrate replicate start`` and ``migrate replicate status``: make the loaded target a replica of the
old server from the dump's position, and say how far behind it is.

``Link`` holds what both commands and ``migrate cutover`` share: one connection to each server, the
facts about both, and what the load recorded in the target's checkpoint (the dump's coordinates and
which source database became which target database). Progress is kept in the checkpoint row too
(its ``replication`` document), so a rerun after a crash knows what it already did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import pymysql

from migrate import binlog_source, checkpoint, replica
from migrate.connection import Endpoint, connect, secret_password, tls_context
from migrate.coordinates import Coordinates, plain_only_reason, transactions_behind
from migrate.databases import CHECKPOINT_SCHEMA
from migrate.errors import EXIT_MISMATCH, EXIT_OK, BadInput, PreflightFailed
from migrate.verify import TableVerdict, compare

REPLICATION_PASSWORD_ENV = "MIGRATE_REPLICATION_PASSWORD"


@dataclass(frozen=True)
class LinkOptions:
    """How to reach both servers, and how the target reaches the source (CLI options, resolved)."""

    source: Endpoint
    source_password: str | None
    target: Endpoint
    target_password: str | None
    ssl_ca: str | None = None  # the target's CA bundle (RDS)
    source_ssl_ca: str | None = None
    allow_plaintext: bool = False  # also: the replica's own connection to the source without TLS
    replication_address: replica.Address | None = None  # default: the --source URL's host and port
    replication_user: str = "migrate_repl"


class Link:
    """Both servers, connected, with the load's record from the target's checkpoint."""

    def __init__(self, options: LinkOptions) -> None:
        self.options = options
        self.schema = options.target.database or CHECKPOINT_SCHEMA
        self.source = connect(
            _bare(options.source),
            options.source_password,
            tls_context(options.source, options.source_ssl_ca, options.allow_plaintext),
        )
        self.target = connect(
            _bare(options.target),
            options.target_password,
            tls_context(options.target, options.ssl_ca, options.allow_plaintext),
        )
        self.source_facts = binlog_source.gather(self.source)
        self.target_facts = replica.gather(self.target)
        position = checkpoint.read(self.target, self.schema)
        if position is None or not position.complete:
            raise PreflightFailed(
                f"the target has no complete load in `{self.schema}` (no finished migrate run "
                "there): load the dump first"
            )
        document = checkpoint.read_document(self.target, self.schema, "origin")
        if not document:
            raise PreflightFailed(f"{plain_only_reason()} (the load in `{self.schema}` recorded none)")
        self.origin = Coordinates.from_dict(document)
        self.databases = self._databases(document.get("databases") or [])
        self.address = options.replication_address or replica.Address(options.source.host, options.source.port)
        self.mode = replica.mode(self.target_facts, self.origin)

    def _databases(self, recorded: list[list[str | None]]) -> list[tuple[str, str]]:
        """(source database, target database) pairs: the source's name from the --source URL when the
        load had one database and the dump did not name it, or the URL says otherwise."""
        named = self.options.source.database
        if len(recorded) == 1 and named:
            return [(named, str(recorded[0][1]))]
        pairs = [(source, target) for source, target in recorded]
        unnamed = [target for source, target in pairs if not source]
        if unnamed or not pairs:
            raise BadInput(
                "--source: name the source database in the URL (…/dbname): the dump does not say which "
                "database it holds"
            )
        return [(str(source), str(target)) for source, target in pairs]

    @property
    def tls(self) -> bool:
        return not self.options.allow_plaintext

    def state(self) -> dict:
        return checkpoint.read_document(self.target, self.schema, "replication") or {}

    def save(self, document: dict) -> None:
        checkpoint.write_document(self.target, self.schema, "replication", document)

    def status(self) -> replica.ReplicaStatus | None:
        return replica.status(self.target, self.target_facts)

    def ours(self, now: replica.ReplicaStatus) -> bool:
        return now.host.lower() == self.address.host.lower() and now.port == self.address.port

    def compare(self, only: dict[str, Collection[str]] | None = None) -> list[TableVerdict]:
        """Exact verdicts for every linked database (``only``: source database → the tables to checksum),
        each table named with its database when there are several."""
        verdicts = []
        for source, target in self.databases:
            self.source.select_db(source)
            self.target.select_db(target)
            for verdict in compare(self.source, self.target, None if only is None else only.get(source, ())):
                if len(self.databases) > 1:
                    verdict.table = f"{source}.{verdict.table}"
                verdicts.append(verdict)
        return verdicts

    def close(self) -> None:
        for conn in (self.source, self.target):
            try:
                conn.close()
            except pymysql.err.Error:
                pass  # already gone


def _bare(endpoint: Endpoint) -> Endpoint:
    """Connect without selecting a database: the commands work across the dump's databases."""
    return Endpoint(endpoint.host, endpoint.port, endpoint.user, None, endpoint.unix_socket)


def replication_password(secret_arn: str | None, environ: dict[str, str]) -> str:
    if secret_arn:
        return secret_password(secret_arn)[0]
    password = environ.get(REPLICATION_PASSWORD_ENV)
    if not password:
        raise BadInput(
            f"the replication user's password: set {REPLICATION_PASSWORD_ENV} or pass --replication-password-secret-arn"
        )
    return password


@dataclass
class StartOptions:
    create_user: bool = False
    user_host: str = "%"
    password: Callable[[], str] = field(default=lambda: "")  # asked only when needed


def start(link: Link, options: StartOptions, say: Callable[..., None]) -> int:
    """Point the target at the dump's position and start it; a rerun finishes what a crash left."""
    problems, warnings = binlog_source.problems(
        link.source_facts,
        link.origin,
        target_server_id=link.target_facts.server_id,
        target_flavor=link.target_facts.flavor,
        tls=link.tls,
    )
    problems += replica.problems(link.target_facts, link.origin, link.databases, link.source_facts.databases)
    if problems:
        raise PreflightFailed("\n".join(problems))
    for warning in warnings:
        say(f"migrate: warning: {warning}", err=True)
    facts, state, now = link.target_facts, link.state(), link.status()
    if now is not None and not link.ours(now):
        raise PreflightFailed(
            f"the target already replicates from {now.host}:{now.port}, not {link.address}: reset its replication first"
        )
    if now is None and (state.get("cutover") or {}).get("step") == "done":
        raise PreflightFailed("the cutover is done: the target is a server of its own, replicating nothing")
    if now is None and state.get("started_at"):
        raise PreflightFailed(
            "replication was set up here and has since been reset: the target has applied changes "
            "past the dump's position, which no longer fits it; load again for a replicated cutover"
        )
    if now is None:
        if options.create_user:
            say(
                binlog_source.ensure_user(
                    link.source, link.options.replication_user, options.user_host, options.password(), link.tls
                ),
                err=True,
            )
        if not facts.rds:
            replica.run(link.target, replica.set_filters(facts, link.databases))
        replica.run(
            link.target,
            replica.point(
                facts, link.address, link.options.replication_user, options.password(), link.origin, link.tls
            ),
        )
        say(
            f"target: replica of {link.address} from {link.origin.describe()}, by "
            f"{'GTID' if link.mode == replica.GTID else 'file and position'}",
            err=True,
        )
    elif now.error:
        say(describe(link, now))
        return EXIT_MISMATCH
    if now is None or not now.running:
        if now is not None:  # a rerun: one thread may still run, and filters change only with both stopped
            filters = [] if facts.rds else replica.set_filters(facts, link.databases)
            replica.run(link.target, replica.stop(facts) + filters)
        replica.run(link.target, replica.start(facts))
    if not state.get("started_at"):
        link.save(
            {
                **state,
                "source": str(link.address),
                "user": link.options.replication_user,
                "mode": link.mode,
                "filters": not facts.rds,
                "started_at": time.time(),
            }
        )
    say(describe(link, _settled_status(link)))
    say("follow it with: migrate replicate status; switch with: migrate cutover", err=True)
    return EXIT_OK


def _settled_status(link: Link, wait: float = 5.0) -> replica.ReplicaStatus | None:
    """The status once both threads run (or one failed), for a first report that means something."""
    deadline = time.monotonic() + wait
    now = link.status()
    while now is not None and not now.running and not now.error and time.monotonic() < deadline:
        time.sleep(0.1)
        now = link.status()
    return now


@dataclass(frozen=True)
class Behind:
    seconds: int | None
    transactions: int | None  # from GTIDs, when both sides have them
    bytes: int | None  # of the source's binary log, when the replica executes in the source's current file


def behind(link: Link, now: replica.ReplicaStatus) -> Behind:
    source = binlog_source.position(link.source, link.source_facts)
    transactions = None
    if source.gtid and now.executed_gtid:
        transactions = transactions_behind(source.gtid, now.executed_gtid, link.source_facts.flavor)
    lag_bytes = source.log_pos - now.exec_pos if now.exec_file == source.log_file else None
    return Behind(now.seconds_behind, transactions, lag_bytes)


def describe(link: Link, now: replica.ReplicaStatus | None, lag: Behind | None = None, eta: str | None = None) -> str:
    if now is None:
        return "replication: not configured (run migrate replicate start)"
    lines = [
        f"replication: {now.state} (I/O {now.io_running}, SQL {now.sql_running}) from {now.host}:{now.port} "
        f"as {now.user}, {'by GTID' if now.using_gtid else 'by file and position'}"
    ]
    if lag is not None:
        parts = [f"{lag.seconds} s" if lag.seconds is not None else "seconds unknown (SQL thread not running)"]
        if lag.transactions is not None:
            parts.append(f"{lag.transactions:,} transactions")
        if lag.bytes is not None:
            parts.append(f"{lag.bytes:,} bytes of binary log")
        lines.append("behind: " + ", ".join(parts))
    if eta:
        lines.append(eta)
    lines.append(f"last error: {now.error or 'none'}")
    return "\n".join(lines)


def catch_up_eta(first: Behind, second: Behind, seconds: float) -> str:
    """How long until the replica is level, from two samples ``seconds`` apart."""
    for unit, a, b in (("transactions", first.transactions, second.transactions), ("bytes", first.bytes, second.bytes)):
        if a is None or b is None:
            continue
        if b == 0:
            return "ETA: caught up"
        gained = (a - b) / seconds
        if gained <= 0:
            return f"ETA: not catching up ({unit} behind went {a:,} → {b:,} in {seconds:.0f} s)"
        return f"ETA: {b / gained:,.0f} s (closing {gained:,.0f} {unit}/s)"
    if first.seconds is not None and second.seconds is not None and second.seconds < first.seconds:
        return f"ETA: {second.seconds / ((first.seconds - second.seconds) / seconds):,.0f} s (from seconds behind)"
    return "ETA: unknown (no GTIDs, and the replica is in an older binary log than the source writes)"


def status(link: Link, sample: float, say: Callable[..., None]) -> int:
    """State, lag, last error and an ETA; exit 0 while it replicates cleanly (or has been cut over)."""
    cutover = link.state().get("cutover") or {}
    now = link.status()
    if now is None:
        if cutover.get("step") == "done":
            freeze = cutover["done_at"] - cutover["frozen_at"]
            say(f"replication: ended by migrate cutover (write freeze {freeze:.1f} s)")
            return EXIT_OK
        say(describe(link, None))
        return EXIT_MISMATCH
    first = behind(link, now)
    time.sleep(sample)
    now = link.status() or now
    second = behind(link, now)
    say(describe(link, now, second, catch_up_eta(first, second, sample)))
    if cutover.get("step"):
        say(f"cutover: in progress at step {cutover['step']!r} (rerun migrate cutover to continue)")
    return EXIT_OK if now.state in ("running", "connecting") else EXIT_MISMATCH
