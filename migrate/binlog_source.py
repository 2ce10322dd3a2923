"""The old server as a replication source: what it must be for a replica to follow it row for row, the
replication user, its current binary-log position, and freezing and thawing its writes.

``problems`` is a pure function of the facts ``gather`` reads, so every rule is tested without a server.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pymysql

from migrate.connection import error_code, error_text
from migrate.coordinates import MARIADB, MYSQL, Coordinates
from migrate.errors import ConnectionFailed, PreflightFailed

# Not the application's: databases every server has.
SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
ACCESS_DENIED = {1044, 1045, 1142, 1227}  # the user lacks a privilege the statement needs
DAY = 86_400
# What a replication user may hold: the replica needs REPLICATION SLAVE (to read the binary log) and
# REPLICATION CLIENT (to ask where it stands); MariaDB ≥ 10.5 shows the latter as BINLOG MONITOR.
REPLICATION_PRIVILEGES = frozenset({"REPLICATION SLAVE", "REPLICATION CLIENT", "BINLOG MONITOR", "USAGE"})
_GRANT = re.compile(r"^GRANT (.+?) ON (\S+) TO ", re.I)


@dataclass(frozen=True)
class SourceFacts:
    version: str
    server_id: int
    log_bin: bool
    binlog_format: str
    row_image: str
    tls: bool | None  # whether the server offers TLS; None when it does not say
    binary_logs: tuple[str, ...] | None  # None: the user may not list them
    expire_seconds: int  # 0: binary logs are kept until purged by hand
    gtid_mode: str | None  # MySQL's; MariaDB always has GTIDs and no such mode
    databases: tuple[str, ...]  # the application databases on the server
    read_only: bool = False

    @property
    def flavor(self) -> str:
        return MARIADB if "mariadb" in self.version.lower() else MYSQL

    @property
    def mariadb(self) -> bool:
        return self.flavor == MARIADB

    @property
    def release(self) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", self.version.split("-", 1)[0])[:3])


def _variables(cur: pymysql.cursors.Cursor, names: tuple[str, ...]) -> dict[str, str]:
    placeholders = ", ".join(["%s"] * len(names))
    cur.execute(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({placeholders})", names)
    return {name.lower(): value for name, value in cur.fetchall()}


def gather(conn: pymysql.Connection) -> SourceFacts:
    try:
        with conn.cursor() as cur:
            found = _variables(
                cur,
                (
                    "version",
                    "server_id",
                    "log_bin",
                    "binlog_format",
                    "binlog_row_image",
                    "have_ssl",
                    "binlog_expire_logs_seconds",
                    "expire_logs_days",
                    "gtid_mode",
                    "read_only",
                ),
            )
            try:
                cur.execute("SHOW BINARY LOGS")
                logs: tuple[str, ...] | None = tuple(row[0] for row in cur.fetchall())
            except pymysql.err.MySQLError as e:
                if error_code(e) not in ACCESS_DENIED and error_code(e) != 1381:  # 1381: binary logging off
                    raise
                logs = None if error_code(e) in ACCESS_DENIED else ()
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
            databases = tuple(r[0] for r in cur.fetchall() if r[0].lower() not in SYSTEM_DATABASES)
    except pymysql.err.MySQLError as e:
        raise ConnectionFailed(f"source: cannot read its settings: {error_text(e)}") from None
    expire = int(found.get("binlog_expire_logs_seconds") or 0) or int(float(found.get("expire_logs_days") or 0) * DAY)
    have_ssl = found.get("have_ssl")
    return SourceFacts(
        version=found.get("version", ""),
        server_id=int(found.get("server_id") or 0),
        log_bin=found.get("log_bin", "OFF").upper() in ("ON", "1"),
        binlog_format=found.get("binlog_format", ""),
        row_image=found.get("binlog_row_image", "FULL"),
        tls=None if have_ssl is None else have_ssl.upper() == "YES",
        binary_logs=logs,
        expire_seconds=expire,
        gtid_mode=found.get("gtid_mode"),
        databases=databases,
        read_only=found.get("read_only", "OFF").upper() in ("ON", "1"),
    )


def problems(
    facts: SourceFacts, origin: Coordinates, *, target_server_id: int, target_flavor: str, tls: bool
) -> tuple[list[str], list[str]]:
    """(what makes replication from this source impossible, what merely risks it)."""
    found, warnings = [], []
    if facts.flavor != target_flavor:
        found.append(
            f"the source is {facts.flavor} {facts.version} and the target {target_flavor}: neither replicates "
            "from the other's binary log; use the plain cutover (freeze, dump, load, verify)"
        )
    if not facts.log_bin:
        found.append(
            "the source does not write a binary log (log_bin is OFF): nothing to replicate from; set "
            "log_bin and server_id in its my.cnf, restart it, then dump again with --source-data=2"
        )
    if facts.binlog_format.upper() != "ROW":
        found.append(
            f"the source's binlog_format is {facts.binlog_format or 'unset'}: replicas apply rows exactly "
            "only with ROW (SET GLOBAL binlog_format = 'ROW' and in my.cnf; sessions already open keep "
            "theirs, so restart the app's connections)"
        )
    if facts.row_image.upper() != "FULL":
        found.append(
            f"the source's binlog_row_image is {facts.row_image}: set it to FULL (SET GLOBAL "
            "binlog_row_image = 'FULL' and in my.cnf) so every change carries whole rows"
        )
    if facts.server_id == 0:
        found.append(
            "the source's server_id is 0, which a replication source may not have: set server_id in its my.cnf"
        )
    elif facts.server_id == target_server_id:
        found.append(
            f"the source and the target share server_id {facts.server_id}: the replica would skip every "
            "event as its own; give one of them another server_id"
        )
    if tls and facts.tls is False:
        found.append(
            "the source offers no TLS for the replica's connection (have_ssl is not YES): configure "
            "ssl_cert and ssl_key on it, or pass --allow-plaintext over a private link (VPN)"
        )
    found += _retention(facts, origin, warnings)
    return found, warnings


def _retention(facts: SourceFacts, origin: Coordinates, warnings: list[str]) -> list[str]:
    if not origin.file_position or not facts.log_bin:
        return []
    if facts.binary_logs is None:
        return [
            "the source user may not list the binary logs (SHOW BINARY LOGS): grant it REPLICATION CLIENT "
            "(MariaDB: BINLOG MONITOR)"
        ]
    if origin.log_file not in facts.binary_logs:
        oldest = facts.binary_logs[0] if facts.binary_logs else "none"
        return [
            f"the source no longer holds {origin.log_file}, where the dump's position is (its oldest binary log "
            f"is {oldest}): the target cannot catch up from this dump; keep binary logs longer "
            "(binlog_expire_logs_seconds), dump and load again"
        ]
    if facts.expire_seconds and facts.expire_seconds < DAY:
        warnings.append(
            f"the source purges binary logs after {facts.expire_seconds / 3600:.1f} h: if the target "
            f"falls that far behind, {origin.log_file} is gone and the load must be redone (raise "
            "binlog_expire_logs_seconds for the migration)"
        )
    elif origin.log_file == facts.binary_logs[0] and facts.expire_seconds:
        warnings.append(
            f"{origin.log_file} is the source's oldest binary log: it is the next one purged "
            f"(binlog_expire_logs_seconds = {facts.expire_seconds})"
        )
    return []


def position(conn: pymysql.Connection, facts: SourceFacts) -> Coordinates:
    """Where the source's binary log ends now, with its GTID position."""
    # MySQL 8.4 removed SHOW MASTER STATUS; 8.2 introduced its replacement.
    statement = "SHOW BINARY LOG STATUS" if not facts.mariadb and facts.release >= (8, 2) else "SHOW MASTER STATUS"
    gtid_variable = "@@GLOBAL.gtid_binlog_pos" if facts.mariadb else "@@GLOBAL.gtid_executed"
    with conn.cursor() as cur:
        cur.execute(statement)
        row = cur.fetchone()
        cur.execute(f"SELECT {gtid_variable}")
        gtid = (cur.fetchone()[0] or "").replace("\n", "") or None
    if row is None:
        raise PreflightFailed("the source reports no binary-log position (SHOW MASTER STATUS is empty): is log_bin on?")
    return Coordinates(row[0], int(row[1]), gtid, facts.flavor)


def settled_position(
    conn: pymysql.Connection, facts: SourceFacts, timeout: float, interval: float = 0.1
) -> Coordinates:
    """The position once it stops moving: commits already under way when writes were frozen land
    first. One that keeps moving means someone still writes (a user the freeze does not stop)."""
    deadline = time.monotonic() + timeout
    last = position(conn, facts)
    while True:
        time.sleep(interval)
        now = position(conn, facts)
        if now == last:
            return now
        if time.monotonic() > deadline:
            raise PreflightFailed(
                f"the source's binary log still advances ({last.log_file}:{last.log_pos} → "
                f"{now.log_file}:{now.log_pos}) with writes frozen: a user with SUPER (MariaDB: READ_ONLY ADMIN) "
                "or the event scheduler is still writing; stop it, then run migrate cutover again"
            )
        last = now


def snapshot(conn: pymysql.Connection, facts: SourceFacts) -> Coordinates:
    """Open a consistent snapshot on ``conn`` and return the binary-log position it matches exactly
    (MariaDB reports it for the session; the app keeps writing). The caller ends the transaction."""
    with conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # a snapshot needs it
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        cur.execute("SHOW SESSION STATUS WHERE Variable_name IN ('binlog_snapshot_file', 'binlog_snapshot_position')")
        found = {name.lower(): value for name, value in cur.fetchall()}
        log_file, log_pos = found["binlog_snapshot_file"], int(found["binlog_snapshot_position"])
        cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (log_file, log_pos))
        gtid = cur.fetchone()[0] or None
    return Coordinates(log_file, log_pos, gtid, facts.flavor)


class NotPermitted(Exception):
    """The source user may not change read_only: the operator has to stop the writers."""


def freeze(conn: pymysql.Connection, facts: SourceFacts) -> None:
    """Refuse writes: ``read_only``, and on MySQL ``super_read_only``, which stops SUPER users too."""
    statements = ["SET GLOBAL read_only = ON"] if facts.mariadb else ["SET GLOBAL super_read_only = ON"]
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    except pymysql.err.MySQLError as e:
        if error_code(e) in ACCESS_DENIED:
            raise NotPermitted(error_text(e)) from None
        raise


def read_only_state(conn: pymysql.Connection, facts: SourceFacts) -> dict[str, int]:
    """The values ``thaw`` puts back."""
    names = ("read_only",) if facts.mariadb else ("read_only", "super_read_only")
    with conn.cursor() as cur:
        cur.execute("SELECT " + ", ".join(f"@@GLOBAL.{name}" for name in names))
        return dict(zip(names, (int(v) for v in cur.fetchone()), strict=True))


def thaw(conn: pymysql.Connection, previous: dict[str, int]) -> None:
    """Put read_only (and super_read_only, which must go first) back as they were before the freeze."""
    with conn.cursor() as cur:
        if "super_read_only" in previous:
            cur.execute("SET GLOBAL super_read_only = %s", (previous["super_read_only"],))
        cur.execute("SET GLOBAL read_only = %s", (previous.get("read_only", 0),))


def ensure_user(conn: pymysql.Connection, user: str, host: str, password: str, tls: bool) -> str:
    """A replication user holding REPLICATION SLAVE and CLIENT only, with ``password``; what was done.

    Created without writing the source's binary log where the session may say so, so the account
    does not replicate into the target with everything else."""
    require = " REQUIRE SSL" if tls else " REQUIRE NONE"
    unlogged = False
    try:
        with conn.cursor() as cur:
            try:
                cur.execute("SET SESSION sql_log_bin = 0")
                unlogged = True
            except pymysql.err.MySQLError as e:
                if error_code(e) not in ACCESS_DENIED:
                    raise
            cur.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s AND Host = %s", (user, host))
            exists = cur.fetchone()[0] > 0
            if exists:
                extra = _extra_privileges(cur, user, host)
                if extra:
                    raise PreflightFailed(
                        f"the source already has a user '{user}'@'{host}' holding more than "
                        f"replication needs ({', '.join(extra)}): name another with "
                        "--replication-user"
                    )
                cur.execute(f"ALTER USER %s@%s IDENTIFIED BY %s{require}", (user, host, password))
            else:
                cur.execute(f"CREATE USER %s@%s IDENTIFIED BY %s{require}", (user, host, password))
            cur.execute("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO %s@%s", (user, host))
            if unlogged:
                cur.execute("SET SESSION sql_log_bin = 1")
    except pymysql.err.MySQLError as e:
        raise PreflightFailed(
            f"source: cannot create the replication user '{user}'@'{host}': {error_text(e)}"
        ) from None
    return f"{'updated' if exists else 'created'} replication user '{user}'@'{host}' (REPLICATION SLAVE, CLIENT only)"


def _extra_privileges(cur: pymysql.cursors.Cursor, user: str, host: str) -> list[str]:
    cur.execute("SHOW GRANTS FOR %s@%s", (user, host))
    extra = []
    for (line,) in cur.fetchall():
        m = _GRANT.match(line)
        if m is None or m.group(1).upper().startswith("PROXY"):
            continue
        for privilege in (p.strip().upper() for p in m.group(1).split(",")):
            if privilege not in REPLICATION_PRIVILEGES or m.group(2) != "*.*":
                extra.append(f"{privilege} ON {m.group(2)}")
    return extra
