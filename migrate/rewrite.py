"""RDS-safe rewrites of dump statements, each counted and each switchable off (DESIGN §5).

Rewrites touch only DDL and session statements, and only outside string literals: INSERTs are
never rewritten, so row data containing ``DEFINER=`` or a collation name arrives byte-identical
(a ``sed`` over the dump corrupts exactly that data).

``RULES`` is the one registry: a rule's name (its counter and JSON key), when a target needs it,
its ``--keep-…`` option, its line in the report and its rewrite live in one entry, so the CLI, the
loader and the report follow from it and a new rule is one entry plus its test.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from migrate.classify import Kind
from migrate.databases import map_names
from migrate.target_facts import TargetFacts
from migrate.tokens import BQ, DQ, SQ

_USER_PART = rb"(?:'[^']*'|`[^`]*`|\"[^\"]*\"|[\w.%-]+)"
_DEFINER = re.compile(
    rb"("
    + SQ
    + rb"|"
    + DQ
    + rb"|"
    + BQ
    + rb")|\bDEFINER\s*=\s*(?:CURRENT_USER(?:\s*\(\s*\))?|"
    + _USER_PART
    + rb"(?:\s*@\s*"
    + _USER_PART
    + rb")?)\s?",
    re.I | re.S,
)
_COLLATION_TOKEN = re.compile(rb"(" + SQ + rb"|" + DQ + rb"|" + BQ + rb")|\butf8mb4_(?:\w+_)?0900_\w+", re.S)
_MYSQL8_COLLATION = re.compile(rb"utf8mb4_(?:\w+_)?0900_(\w+)")
_MARIADB_ONLY = re.compile(rb"/\*M!\d*(?:[^*]++|\*(?!/))*+\*/", re.S)
_SESSION_ASSIGN = re.compile(
    rb"\s*(?:/\*!\d*\s*)?SET\s+(?:@@(?:GLOBAL|SESSION|LOCAL)\.|(?:GLOBAL|SESSION|LOCAL)\s+)?(\w+)\s*:?=", re.I
)


def strip_definer(sql: bytes) -> tuple[bytes, int]:
    """Remove every ``DEFINER = user`` outside string literals; return the text and how many."""
    removed = 0

    def replace(m: re.Match[bytes]) -> bytes:
        nonlocal removed
        if m.group(1) is not None:
            return m.group(1)
        removed += 1
        return b""

    text = _DEFINER.sub(replace, sql)
    return text, removed


def mapped_collation(name: bytes) -> bytes:
    """The closest collation MariaDB and MySQL 5.7 have for a MySQL 8 ``utf8mb4_0900_*`` one."""
    m = _MYSQL8_COLLATION.fullmatch(name)
    if m is None:
        return name
    return b"utf8mb4_bin" if m.group(1) == b"bin" else b"utf8mb4_unicode_520_ci"


def map_collations(sql: bytes) -> tuple[bytes, int]:
    """Replace MySQL 8 collation names (bare or quoted as a whole token) with mapped ones."""
    mapped = 0

    def replace(m: re.Match[bytes]) -> bytes:
        nonlocal mapped
        token = m.group(0)
        quoted = m.group(1) is not None
        name = token[1:-1] if quoted else token
        new = mapped_collation(name)
        if new == name:
            return token
        mapped += 1
        return token[:1] + new + token[-1:] if quoted else new

    text = _COLLATION_TOKEN.sub(replace, sql)
    return text, mapped


# sql_mode values MySQL 8.0 removed; 5.7 and MariaDB dumps set them around every routine.
REMOVED_SQL_MODES = frozenset(
    {
        b"NO_AUTO_CREATE_USER",
        b"NO_FIELD_OPTIONS",
        b"NO_KEY_OPTIONS",
        b"NO_TABLE_OPTIONS",
        b"DB2",
        b"MAXDB",
        b"MSSQL",
        b"MYSQL323",
        b"MYSQL40",
        b"ORACLE",
        b"POSTGRESQL",
    }
)
_SQL_MODE_VALUE = re.compile(rb"(\bsql_mode\s*=\s*)'([^']*)'", re.I)


def drop_removed_sql_modes(sql: bytes) -> tuple[bytes, int]:
    """Remove the modes MySQL 8 rejects from ``sql_mode = '…'`` assignments."""
    removed = 0

    def replace(m: re.Match[bytes]) -> bytes:
        nonlocal removed
        modes = m.group(2).split(b",")
        kept = [mode for mode in modes if mode.strip().upper() not in REMOVED_SQL_MODES]
        removed += len(modes) - len(kept)
        return m.group(1) + b"'" + b",".join(kept) + b"'"

    text = _SQL_MODE_VALUE.sub(replace, sql)
    return text, removed


def assigned_variable(sql: bytes) -> str | None:
    """The system variable a ``SET`` statement assigns first (upper case), if any."""
    m = _SESSION_ASSIGN.match(sql)
    return m.group(1).upper().decode("ascii", "replace") if m else None


@dataclass(frozen=True)
class Context:
    """What the operator said that a rewrite needs to know."""

    database_map: Mapping[str, str] = field(default_factory=dict)  # --map-database old=new


# A rule's rewrite: (the statement to send, or None to drop it; how many changes it made).
Rewrite = Callable[[bytes, Kind, Context], tuple[bytes | None, int]]


def _always(facts: TargetFacts) -> bool:
    return True


@dataclass(frozen=True)
class Rule:
    name: str  # its counter, and its key in the JSON report
    report: str  # its line in the rewrites summary
    rewrite: Rewrite
    keep_flag: str | None  # the option that switches it off; None: it is never off
    keep_help: str = ""
    # Whether a target needs it (unless kept); asked of the target's facts by preflight.
    needed: Callable[[TargetFacts], bool] = _always

    @property
    def option(self) -> str | None:
        """The keyword click passes the ``--keep-…`` flag's value under."""
        return self.keep_flag[2:].replace("-", "_") if self.keep_flag else None


def _drop_mariadb_only(sql: bytes, kind: Kind, context: Context) -> tuple[bytes | None, int]:
    dropped = sql.startswith(b"/*M!") and _MARIADB_ONLY.fullmatch(sql) is not None
    return (None, 1) if dropped else (sql, 0)


def _drop_assignment(variable: str) -> Rewrite:
    def rewrite(sql: bytes, kind: Kind, context: Context) -> tuple[bytes | None, int]:
        return (None, 1) if kind is Kind.SET and assigned_variable(sql) == variable else (sql, 0)

    return rewrite


def _drop_kinds(*kinds: Kind) -> Rewrite:
    def rewrite(sql: bytes, kind: Kind, context: Context) -> tuple[bytes | None, int]:
        return (None, 1) if kind in kinds else (sql, 0)

    return rewrite


# What --master-data=1 / --source-data=1 and --dump-slave --apply-slave-statements write as statements:
# they would make the target a replica of whatever it can reach, or stop it being one.
_REPLICATION_STATEMENT = re.compile(
    rb"\s*(?:CHANGE\s+(?:MASTER|REPLICATION\s+SOURCE)\b|(?:START|STOP)\s+(?:ALL\s+)?(?:SLAVES?|REPLICAS?)\b"
    rb"|SET\s+GLOBAL\s+gtid_slave_pos\b)",
    re.I,
)


def _drop_replication(sql: bytes, kind: Kind, context: Context) -> tuple[bytes | None, int]:
    dropped = kind in (Kind.OTHER, Kind.SET) and _REPLICATION_STATEMENT.match(sql) is not None
    return (None, 1) if dropped else (sql, 0)


def _strip_definer(sql: bytes, kind: Kind, context: Context) -> tuple[bytes | None, int]:
    return strip_definer(sql) if b"DEFINER" in sql.upper() else (sql, 0)


def _sql_modes(sql: bytes, kind: Kind, context: Context) -> tuple[bytes | None, int]:
    return drop_removed_sql_modes(sql) if kind is Kind.SET and b"sql_mode" in sql.lower() else (sql, 0)


def _map_databases(sql: bytes, kind: Kind, context: Context) -> tuple[bytes | None, int]:
    return map_names(sql, context.database_map) if context.database_map else (sql, 0)


def _collations(sql: bytes, kind: Kind, context: Context) -> tuple[bytes | None, int]:
    return map_collations(sql) if b"_0900_" in sql else (sql, 0)


# In the order they apply: drops first, then edits of what is sent.
RULES: tuple[Rule, ...] = (
    Rule(
        "mariadb_only",
        "MariaDB-only /*M!…*/ statements dropped (a MySQL target sees an empty query, 1065)",
        _drop_mariadb_only,
        "--keep-mariadb-only",
        "Send MariaDB-only /*M!…*/ statements to a MySQL target anyway.",
        needed=lambda facts: not facts.mariadb,
    ),
    Rule(
        "gtid_purged",
        "SET @@GLOBAL.GTID_PURGED dropped (RDS rejects it)",
        _drop_assignment("GTID_PURGED"),
        "--keep-gtid-purged",
        "Send SET @@GLOBAL.GTID_PURGED unchanged.",
    ),
    Rule(
        "sql_log_bin",
        "SQL_LOG_BIN assignments dropped (RDS rejects them)",
        _drop_assignment("SQL_LOG_BIN"),
        "--keep-sql-log-bin",
        "Send SQL_LOG_BIN assignments unchanged.",
    ),
    Rule(
        "replication",
        "CHANGE MASTER / START SLAVE / SET GLOBAL gtid_slave_pos dropped (the dump's coordinates "
        "are recorded for migrate replicate start instead)",
        _drop_replication,
        "--keep-replication-statements",
        "Send the replication statements of --master-data=1 / --source-data=1 dumps unchanged.",
    ),
    Rule(
        "database",
        "USE / CREATE DATABASE dropped (the target URL names the database)",
        _drop_kinds(Kind.USE, Kind.CREATE_DATABASE),
        "--keep-database-statements",
        "Send USE / CREATE DATABASE unchanged (loads where the dump says).",
        needed=lambda facts: facts.database is not None,
    ),
    # Never off: the operator asked for it by giving the map (databases.py).
    Rule("map_database", "database names mapped (--map-database)", _map_databases, None),
    # Never off: under LOCK TABLES the checkpoint row could not be written.
    Rule(
        "lock_tables",
        "LOCK / UNLOCK TABLES dropped (they would lock out the checkpoint table)",
        _drop_kinds(Kind.LOCK),
        None,
    ),
    Rule(
        "definer",
        "DEFINER clauses removed (RDS error 1227)",
        _strip_definer,
        "--keep-definer",
        "Send DEFINER clauses unchanged (RDS rejects them without SUPER).",
    ),
    Rule(
        "sql_mode",
        "sql_mode values MySQL 8 removed (NO_AUTO_CREATE_USER, …) dropped (error 1231)",
        _sql_modes,
        "--keep-sql-modes",
        "Send sql_mode values unchanged, even those a MySQL 8 target rejects.",
        needed=lambda facts: facts.mysql8,
    ),
    Rule(
        "collation",
        "utf8mb4_0900_* collations mapped (target lacks them, error 1273)",
        _collations,
        "--keep-collations",
        "Never map utf8mb4_0900_* collations, even when the target lacks them.",
        needed=lambda facts: not facts.has_0900_collations,
    ),
)
EVERY_RULE = frozenset(rule.name for rule in RULES)


def rules_for(facts: TargetFacts | None, kept: Collection[str] = ()) -> frozenset[str]:
    """The rules on for a target: those it needs, less the kept ones. Without facts (``inspect``),
    every rule: the most rewriting any target could need."""
    return frozenset(
        rule.name
        for rule in RULES
        if rule.keep_flag is None or rule.name not in kept and (facts is None or rule.needed(facts))
    )


class Rewriter:
    """Applies the rules that are on to a classified statement and counts what each one changed."""

    def __init__(self, enabled: Iterable[str], context: Context | None = None) -> None:
        names = set(enabled)
        self.rules = tuple(rule for rule in RULES if rule.name in names or rule.keep_flag is None)
        self.context = context or Context()
        self.counts: Counter[str] = Counter()

    def apply(self, sql: bytes, kind: Kind) -> bytes | None:
        """The statement to send, or None to drop it."""
        return self.rewrite(sql, kind)[0]

    def rewrite(self, sql: bytes, kind: Kind) -> tuple[bytes | None, dict[str, int] | None]:
        """``apply``, and what each rule changed in this statement (counted as well); None: nothing."""
        if kind is Kind.INSERT:
            return sql, None
        changed: dict[str, int] = {}
        for rule in self.rules:
            rewritten, changes = rule.rewrite(sql, kind, self.context)
            if changes:
                self.counts[rule.name] += changes
                changed[rule.name] = changes
            if rewritten is None:
                return None, changed or None
            sql = rewritten
        return sql, changed or None
