"""The target as a replica of the old server: how to point it at the dump's position, start, stop and
reset it, which databases it applies, where it stands, and waiting until it has applied a position.

Two dialects. RDS gives its master user no privilege to run CHANGE MASTER or START SLAVE; it runs
stored procedures instead (``mysql.rds_set_external_master`` … on RDS for MySQL ≤ 8.0 and RDS for
MariaDB, ``mysql.rds_set_external_source`` … on 8.4), chosen here by which of them the target holds.
A self-managed server takes the statements themselves, in its version's spelling (MySQL renamed
MASTER/SLAVE to SOURCE/REPLICA in 8.0.22–8.0.26). Everything that builds a statement is a pure
function of ``ReplicaFacts`` returning ``Call``s, so the exact calls are tested without a server.

Replication starts from the dump's file and position where it has them: every flavour and every
procedure takes those. MariaDB with a GTID position replicates by GTID instead (crash-safe, what AWS
recommends for RDS for MariaDB); MySQL only by GTID when the dump has no file and position.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pymysql
from pymysql.cursors import DictCursor

from migrate.connection import error_text
from migrate.coordinates import MARIADB, MYSQL, Coordinates, transactions_behind
from migrate.errors import ConnectionFailed

RDS_PROCEDURES = (
    "rds_set_external_master",
    "rds_set_external_source",
    "rds_set_external_master_gtid",
    "rds_set_external_master_with_auto_position",
    "rds_set_external_source_with_auto_position",
    "rds_start_replication",
    "rds_stop_replication",
    "rds_reset_external_master",
    "rds_reset_external_source",
)
GTID, FILE = "gtid", "file"


@dataclass(frozen=True)
class Call:
    """One statement with its arguments (pymysql interpolates them; the password is one, never logged)."""

    sql: str
    args: tuple[object, ...] = ()


@dataclass(frozen=True)
class Address:
    """Where the replica connects: the source as the target reaches it."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ReplicaFacts:
    version: str
    server_id: int
    procedures: frozenset[str] = frozenset()  # the mysql.rds_* procedures it holds
    gtid_mode: str | None = None
    filters: dict[str, str] = field(default_factory=dict)  # filter name (upper case) → rule, server-wide
    gtid_executed: str | None = None  # MySQL's: what auto-positioning would not fetch again

    @property
    def flavor(self) -> str:
        return MARIADB if "mariadb" in self.version.lower() else MYSQL

    @property
    def release(self) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", self.version.split("-", 1)[0])[:3])

    @property
    def rds(self) -> bool:
        return bool(self.procedures & {"rds_set_external_master", "rds_set_external_source"})

    def _mysql_at_least(self, *release: int) -> bool:
        return self.flavor == MYSQL and self.release >= release

    @property
    def source_words(self) -> bool:
        """MySQL ≥ 8.0.23 spells CHANGE REPLICATION SOURCE TO … SOURCE_*."""
        return self._mysql_at_least(8, 0, 23)

    @property
    def replica_words(self) -> bool:
        """MySQL ≥ 8.0.22 spells START/STOP/RESET REPLICA and SHOW REPLICA STATUS."""
        return self._mysql_at_least(8, 0, 22)


def mode(facts: ReplicaFacts, origin: Coordinates) -> str:
    if facts.flavor == MARIADB and origin.gtid and origin.flavor == MARIADB or not origin.file_position:
        return GTID
    return FILE


def _procedure(facts: ReplicaFacts, stem: str) -> str:
    """The 8.4 name (…_source) where the target has it, else the ≤ 8.0 / MariaDB one (…_master)."""
    source = stem.replace("master", "source")
    return source if source in facts.procedures else stem


def point(facts: ReplicaFacts, source: Address, user: str, password: str, origin: Coordinates, tls: bool) -> list[Call]:
    """The calls that make the target a replica of ``source`` from the dump's position (not started yet)."""
    ssl = 1 if tls else 0
    how = mode(facts, origin)
    if facts.rds:
        if how == GTID and facts.flavor == MARIADB:
            return [
                Call(
                    "CALL mysql.rds_set_external_master_gtid(%s, %s, %s, %s, %s, %s)",
                    (source.host, source.port, user, password, origin.gtid, ssl),
                )
            ]
        if how == GTID:
            name = _procedure(facts, "rds_set_external_master_with_auto_position")
            return [
                Call(f"CALL mysql.{name}(%s, %s, %s, %s, %s, %s)", (source.host, source.port, user, password, ssl, 0))
            ]
        name = _procedure(facts, "rds_set_external_master")
        return [
            Call(
                f"CALL mysql.{name}(%s, %s, %s, %s, %s, %s, %s)",
                (source.host, source.port, user, password, origin.log_file, origin.log_pos, ssl),
            )
        ]
    word = "SOURCE" if facts.source_words else "MASTER"
    head = "CHANGE REPLICATION SOURCE TO " if facts.source_words else "CHANGE MASTER TO "
    options = [f"{word}_HOST = %s", f"{word}_PORT = %s", f"{word}_USER = %s", f"{word}_PASSWORD = %s"]
    args: list[object] = [source.host, source.port, user, password]
    calls = []
    if how == GTID and facts.flavor == MARIADB:
        calls.append(Call("SET GLOBAL gtid_slave_pos = %s", (origin.gtid,)))
        options.append("MASTER_USE_GTID = slave_pos")
    elif how == GTID:
        options.append(f"{word}_AUTO_POSITION = 1")
    else:
        options += [f"{word}_LOG_FILE = %s", f"{word}_LOG_POS = %s"]
        args += [origin.log_file, origin.log_pos]
        if facts.flavor == MARIADB:
            options.append("MASTER_USE_GTID = no")
    options.append(f"{word}_SSL = {ssl}")
    if not tls and facts._mysql_at_least(8, 0):
        # caching_sha2_password over a plaintext link needs the source's RSA key.
        options.append(f"GET_{word}_PUBLIC_KEY = 1")
    calls.append(Call(head + ", ".join(options), tuple(args)))
    return calls


def start(facts: ReplicaFacts) -> list[Call]:
    if facts.rds:
        return [Call("CALL mysql.rds_start_replication")]
    return [Call("START REPLICA" if facts.replica_words else "START SLAVE")]


def stop(facts: ReplicaFacts) -> list[Call]:
    if facts.rds:
        return [Call("CALL mysql.rds_stop_replication")]
    return [Call("STOP REPLICA" if facts.replica_words else "STOP SLAVE")]


def stop_applier(facts: ReplicaFacts) -> list[Call]:
    """Stop applying, keep fetching (self-managed only: RDS has no procedure for the SQL thread alone)."""
    return [Call("STOP REPLICA SQL_THREAD" if facts.replica_words else "STOP SLAVE SQL_THREAD")]


def apply_until(facts: ReplicaFacts, point: Coordinates) -> list[Call]:
    """Apply up to exactly ``point`` of the source's binary log and stop there; GTID mode included."""
    if facts.source_words:
        return [
            Call(
                "START REPLICA SQL_THREAD UNTIL SOURCE_LOG_FILE = %s, SOURCE_LOG_POS = %s",
                (point.log_file, point.log_pos),
            )
        ]
    head = "START REPLICA" if facts.replica_words else "START SLAVE"
    return [Call(f"{head} SQL_THREAD UNTIL MASTER_LOG_FILE = %s, MASTER_LOG_POS = %s", (point.log_file, point.log_pos))]


def reset(facts: ReplicaFacts) -> list[Call]:
    """Forget the source: after this the target is a server of its own."""
    if facts.rds:
        return [Call(f"CALL mysql.{_procedure(facts, 'rds_reset_external_master')}")]
    return [Call("RESET REPLICA ALL" if facts.replica_words else "RESET SLAVE ALL")]


def _wild(database: str) -> str:
    """A replicate-wild-do-table pattern for every table of ``database`` ('_' and '%' are wildcards there)."""
    return database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + ".%"


def set_filters(facts: ReplicaFacts, databases: list[tuple[str, str]]) -> list[Call]:
    """Self-managed only: apply the dump's databases and nothing else (``databases``: (source name,
    target name) pairs); names are rewritten before filters match, so the filter names the target's."""
    wild = [_wild(target) for _, target in databases]
    renamed = [(source, target) for source, target in databases if source != target]
    if facts.flavor == MARIADB:
        return [
            Call("SET GLOBAL replicate_wild_do_table = %s", (",".join(wild),)),
            Call("SET GLOBAL replicate_rewrite_db = %s", (",".join(f"{s}->{t}" for s, t in renamed),)),
        ]
    rules = [
        f"REPLICATE_WILD_DO_TABLE = ({', '.join(_literal(w) for w in wild)})",
        f"REPLICATE_REWRITE_DB = ({', '.join(f'({_name(s)}, {_name(t)})' for s, t in renamed)})",
    ]
    return [Call("CHANGE REPLICATION FILTER " + ", ".join(rules))]


def clear_filters(facts: ReplicaFacts) -> list[Call]:
    if facts.flavor == MARIADB:
        return [Call("SET GLOBAL replicate_wild_do_table = ''"), Call("SET GLOBAL replicate_rewrite_db = ''")]
    return [Call("CHANGE REPLICATION FILTER REPLICATE_WILD_DO_TABLE = (), REPLICATE_REWRITE_DB = ()")]


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _name(text: str) -> str:
    return "`" + text.replace("`", "``") + "`"


def problems(
    facts: ReplicaFacts, origin: Coordinates, databases: list[tuple[str, str]], source_databases: tuple[str, ...]
) -> list[str]:
    """What stops this target from replicating the dump's databases, and nothing else, from the source."""
    found = []
    if facts.rds and any(s != t for s, t in databases):
        pairs = ", ".join(f"{s} → {t}" for s, t in databases if s != t)
        found.append(
            f"the dump loaded under other names ({pairs}), and RDS cannot rename databases in replication "
            "(no replicate-rewrite-db): load into a database of the source's name for a replicated cutover"
        )
    if (
        mode(facts, origin) == GTID
        and facts.flavor == MYSQL
        and (facts.gtid_mode != "ON" or transactions_behind(origin.gtid, facts.gtid_executed or "", MYSQL))
    ):
        # Auto-positioning fetches every transaction the target has not executed; migrate drops the
        # dump's SET @@GLOBAL.GTID_PURGED (RDS rejects it), so the loaded rows would be applied again.
        found.append(
            "the dump carries a GTID set but no binlog file and position, and the target has not executed "
            "that set (gtid_mode ON, GTID_PURGED applied): dump again with --source-data=2, which writes both"
        )
    others = sorted(set(source_databases) - {s for s, _ in databases})
    if facts.rds and others and not _filtered(facts, [t for _, t in databases]):
        found.append(
            f"the source also holds {', '.join(others)}, whose changes the target would try to apply (and "
            f"stop at): set replicate-wild-do-table = '{','.join(_wild(t) for _, t in databases)}' in the "
            "target's DB parameter group (the data stack's database.replication_databases)"
        )
    return found


def _filtered(facts: ReplicaFacts, targets: list[str]) -> bool:
    rules = facts.filters
    do_db = {d.strip() for d in rules.get("REPLICATE_DO_DB", "").split(",") if d.strip()}
    wild = {w.strip() for w in rules.get("REPLICATE_WILD_DO_TABLE", "").split(",") if w.strip()}
    return all(t in do_db or _wild(t) in wild or f"{t}.%" in wild for t in targets)


def gather(conn: pymysql.Connection) -> ReplicaFacts:
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), @@server_id")
            version, server_id = cur.fetchone()
            cur.execute(
                "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'mysql' "
                "AND ROUTINE_TYPE = 'PROCEDURE' AND ROUTINE_NAME LIKE 'rds\\_%%'"
            )
            procedures = frozenset(r[0] for r in cur.fetchall()) & frozenset(RDS_PROCEDURES)
            cur.execute(
                "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('gtid_mode', 'replicate_do_db', "
                "'replicate_wild_do_table', 'replicate_rewrite_db')"
            )
            variables = {name.lower(): value for name, value in cur.fetchall()}
            filters = {name.upper(): value for name, value in variables.items() if name.startswith("replicate_")}
            executed = None
            if "mariadb" not in str(version).lower():
                cur.execute(
                    "SELECT FILTER_NAME, FILTER_RULE FROM performance_schema.replication_applier_global_filters"
                )
                filters = {name.upper(): rule for name, rule in cur.fetchall()}
                cur.execute("SELECT @@GLOBAL.gtid_executed")
                executed = (cur.fetchone()[0] or "").replace("\n", "")
    except pymysql.err.MySQLError as e:
        raise ConnectionFailed(f"target: cannot read its replication settings: {error_text(e)}") from None
    return ReplicaFacts(str(version), int(server_id), procedures, variables.get("gtid_mode"), filters, executed)


def run(conn: pymysql.Connection, calls: list[Call]) -> None:
    with conn.cursor() as cur:
        for call in calls:
            cur.execute(call.sql, call.args or None)
            while cur.nextset():  # the RDS procedures answer with result sets of their own
                pass


@dataclass(frozen=True)
class ReplicaStatus:
    """SHOW SLAVE/REPLICA STATUS, in one vocabulary whichever the server speaks."""

    host: str
    port: int
    user: str
    io_running: str  # Yes, No, Connecting
    sql_running: str
    seconds_behind: int | None
    read_file: str
    read_pos: int
    exec_file: str
    exec_pos: int
    io_error: str
    sql_error: str
    executed_gtid: str | None  # MySQL's Executed_Gtid_Set; MariaDB's is @@gtid_slave_pos
    using_gtid: bool

    @property
    def running(self) -> bool:
        return self.io_running == "Yes" and self.sql_running == "Yes"

    @property
    def error(self) -> str | None:
        if self.sql_error:
            return f"SQL thread: {self.sql_error}"
        if self.io_error:
            return f"I/O thread: {self.io_error}"
        return None

    @property
    def state(self) -> str:
        if self.error:
            return "failing"
        if self.running:
            return "running"
        return "connecting" if self.io_running == "Connecting" else "stopped"


def _field(row: dict, *names: str, default: object = "") -> object:
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    return default


def status(conn: pymysql.Connection, facts: ReplicaFacts) -> ReplicaStatus | None:
    """None when the target replicates from nothing."""
    with conn.cursor(DictCursor) as cur:
        cur.execute("SHOW REPLICA STATUS" if facts.replica_words else "SHOW SLAVE STATUS")
        row = cur.fetchone()
        if not row or not _field(row, "Master_Host", "Source_Host"):
            return None
        executed = _field(row, "Executed_Gtid_Set", default=None)
        if facts.flavor == MARIADB:
            cur.execute("SELECT @@GLOBAL.gtid_slave_pos AS pos")
            executed = cur.fetchone()["pos"]
    behind = _field(row, "Seconds_Behind_Master", "Seconds_Behind_Source", default=None)
    return ReplicaStatus(
        host=str(_field(row, "Master_Host", "Source_Host")),
        port=int(_field(row, "Master_Port", "Source_Port", default=0)),
        user=str(_field(row, "Master_User", "Source_User")),
        io_running=str(_field(row, "Slave_IO_Running", "Replica_IO_Running", default="No")),
        sql_running=str(_field(row, "Slave_SQL_Running", "Replica_SQL_Running", default="No")),
        seconds_behind=None if behind is None else int(behind),
        read_file=str(_field(row, "Master_Log_File", "Source_Log_File")),
        read_pos=int(_field(row, "Read_Master_Log_Pos", "Read_Source_Log_Pos", default=0)),
        exec_file=str(_field(row, "Relay_Master_Log_File", "Relay_Source_Log_File")),
        exec_pos=int(_field(row, "Exec_Master_Log_Pos", "Exec_Source_Log_Pos", default=0)),
        io_error=str(_field(row, "Last_IO_Error")),
        sql_error=str(_field(row, "Last_SQL_Error")),
        executed_gtid=(str(executed).replace("\n", "") or None) if executed is not None else None,
        using_gtid=str(_field(row, "Using_Gtid", default="No")).lower() not in ("no", "")
        or str(_field(row, "Auto_Position", default="0")) == "1",
    )


class ReplicationBroken(Exception):
    """The replica stopped with an error (or was stopped) before reaching the position waited for."""


def wait_call(facts: ReplicaFacts, final: Coordinates, how: str, seconds: int) -> Call:
    """The function that blocks until the replica has applied ``final`` (or ``seconds`` pass)."""
    if how == GTID:
        function = "MASTER_GTID_WAIT" if facts.flavor == MARIADB else "WAIT_FOR_EXECUTED_GTID_SET"
        return Call(f"SELECT {function}(%s, %s)", (final.gtid, seconds))
    function = "SOURCE_POS_WAIT" if facts._mysql_at_least(8, 0, 26) else "MASTER_POS_WAIT"
    return Call(f"SELECT {function}(%s, %s, %s)", (final.log_file, final.log_pos, seconds))


def wait_applied(conn: pymysql.Connection, facts: ReplicaFacts, final: Coordinates, how: str, timeout: float) -> None:
    """Return once the replica has executed exactly ``final``. Waits in short slices so a replication
    error is reported as soon as it happens instead of at the timeout."""
    call = wait_call(facts, final, how, 1)
    deadline = time.monotonic() + timeout
    while True:
        now = status(conn, facts)
        if now is None or now.error or now.sql_running != "Yes":
            why = (now.error if now is not None else None) or "replication is not running on the target"
            raise ReplicationBroken(why)
        with conn.cursor() as cur:
            cur.execute(call.sql, call.args)
            result = cur.fetchone()[0]
        # Every wait function returns 0 or more once there; MySQL's GTID one returns 1 on a timeout.
        reached = result is not None and (result == 0 if how == GTID else result >= 0)
        if reached and at(status(conn, facts), final, how, facts.flavor):
            return
        if time.monotonic() > deadline:
            raise ReplicationBroken(
                f"the target did not reach the source's final position within {timeout:.0f} s "
                f"(at {now.exec_file}:{now.exec_pos}, the source at "
                f"{final.log_file}:{final.log_pos})"
            )


def stopped_at(conn: pymysql.Connection, facts: ReplicaFacts, point: Coordinates, timeout: float) -> bool:
    """Wait until the applier started by ``apply_until`` has stopped: whether exactly at ``point``."""
    deadline = time.monotonic() + timeout
    while True:
        now = status(conn, facts)
        if now is None or now.error:
            raise ReplicationBroken((now.error if now is not None else None) or "replication is gone from the target")
        if now.sql_running == "No":
            return (now.exec_file, now.exec_pos) == (point.log_file, point.log_pos)
        if time.monotonic() > deadline:
            raise ReplicationBroken(
                f"the target did not reach {point.log_file}:{point.log_pos} within {timeout:.0f} s "
                f"(at {now.exec_file}:{now.exec_pos})"
            )
        time.sleep(0.02)


def at(now: ReplicaStatus | None, final: Coordinates, how: str, flavor: str) -> bool:
    """Whether the replica has executed exactly ``final``: all of its GTIDs, or the very byte of its file."""
    if now is None:
        return False
    if how == GTID:
        if not (now.executed_gtid and final.gtid):
            return False
        return transactions_behind(final.gtid, now.executed_gtid, flavor) == 0
    if now.exec_file == final.log_file:
        return now.exec_pos == final.log_pos
    return True  # the source rotated its log since: the wait function compared across files
