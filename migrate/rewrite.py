"""RDS-safe rewrites of dump statements, each counted and each switchable off (DESIGN §5).

Rewrites touch only DDL and session statements, and only outside string literals: INSERTs are
never rewritten, so row data containing ``DEFINER=`` or a collation name arrives byte-identical
(a ``sed`` over the dump corrupts exactly that data).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from migrate.classify import Kind
from migrate.tokens import BQ, DQ, SQ

_USER_PART = rb"(?:'[^']*'|`[^`]*`|\"[^\"]*\"|[\w.%-]+)"
_DEFINER = re.compile(
    rb"(" + SQ + rb"|" + DQ + rb"|" + BQ + rb")|\bDEFINER\s*=\s*(?:CURRENT_USER(?:\s*\(\s*\))?|"
    + _USER_PART + rb"(?:\s*@\s*" + _USER_PART + rb")?)\s?",
    re.I | re.S,
)
_COLLATION_TOKEN = re.compile(rb"(" + SQ + rb"|" + DQ + rb"|" + BQ + rb")|\butf8mb4_(?:\w+_)?0900_\w+", re.S)
_MYSQL8_COLLATION = re.compile(rb"utf8mb4_(?:\w+_)?0900_(\w+)")
_MARIADB_ONLY = re.compile(rb"/\*M!\d*(?:[^*]++|\*(?!/))*+\*/", re.S)
_SESSION_ASSIGN = re.compile(
    rb"\s*(?:/\*!\d*\s*)?SET\s+(?:@@(?:GLOBAL|SESSION|LOCAL)\.|(?:GLOBAL|SESSION|LOCAL)\s+)?(\w+)\s*:?=", re.I
)

RULES = {
    "definer": "DEFINER clauses removed (RDS error 1227)",
    "gtid_purged": "SET @@GLOBAL.GTID_PURGED dropped (RDS rejects it)",
    "sql_log_bin": "SQL_LOG_BIN assignments dropped (RDS rejects them)",
    "collation": "utf8mb4_0900_* collations mapped (target lacks them, error 1273)",
    "database": "USE / CREATE DATABASE dropped (the target URL names the database)",
    "sql_mode": "sql_mode values MySQL 8 removed (NO_AUTO_CREATE_USER, …) dropped (error 1231)",
    "mariadb_only": "MariaDB-only /*M!…*/ statements dropped (a MySQL target sees an empty query, 1065)",
    "lock_tables": "LOCK / UNLOCK TABLES dropped (they would lock out the checkpoint table)",
}


@dataclass(frozen=True)
class RewriteOptions:
    strip_definer: bool = True
    drop_gtid_purged: bool = True
    drop_sql_log_bin: bool = True
    # Decided by asking the target (preflight); a MySQL 8 target keeps its own collations.
    map_collations: bool = False
    # Decided by the target's version: MySQL 8 rejects the modes 5.7 and MariaDB dumps set.
    drop_removed_sql_modes: bool = False
    # Decided by the target's kind: to MySQL a statement that is one /*M!…*/ comment is empty.
    drop_mariadb_only: bool = False
    drop_database_statements: bool = True


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
REMOVED_SQL_MODES = frozenset({b"NO_AUTO_CREATE_USER", b"NO_FIELD_OPTIONS", b"NO_KEY_OPTIONS", b"NO_TABLE_OPTIONS",
                               b"DB2", b"MAXDB", b"MSSQL", b"MYSQL323", b"MYSQL40", b"ORACLE", b"POSTGRESQL"})
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


class Rewriter:
    """Applies the enabled rules to a classified statement and counts what each one changed."""

    def __init__(self, options: RewriteOptions) -> None:
        self.options = options
        self.counts: Counter[str] = Counter()

    def apply(self, sql: bytes, kind: Kind) -> bytes | None:
        """The statement to send, or None to drop it."""
        if kind is Kind.INSERT:
            return sql
        options = self.options
        if options.drop_mariadb_only and sql.startswith(b"/*M!") and _MARIADB_ONLY.fullmatch(sql):
            self.counts["mariadb_only"] += 1
            return None
        if kind is Kind.SET:
            variable = assigned_variable(sql)
            if options.drop_gtid_purged and variable == "GTID_PURGED":
                self.counts["gtid_purged"] += 1
                return None
            if options.drop_sql_log_bin and variable == "SQL_LOG_BIN":
                self.counts["sql_log_bin"] += 1
                return None
        if options.drop_database_statements and kind in (Kind.USE, Kind.CREATE_DATABASE):
            self.counts["database"] += 1
            return None
        if kind is Kind.LOCK:
            # Not switchable: under LOCK TABLES the checkpoint row could not be written.
            self.counts["lock_tables"] += 1
            return None
        if options.strip_definer and b"DEFINER" in sql.upper():
            sql, n = strip_definer(sql)
            self.counts["definer"] += n
        if options.drop_removed_sql_modes and kind is Kind.SET and b"sql_mode" in sql.lower():
            sql, n = drop_removed_sql_modes(sql)
            self.counts["sql_mode"] += n
        if options.map_collations and b"_0900_" in sql:
            sql, n = map_collations(sql)
            self.counts["collation"] += n
        return sql
