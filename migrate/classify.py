"""What a dump statement is and which object it names, read from its first few hundred bytes.

mysqldump wraps keywords in executable comments (``/*!50003 CREATE*/ /*!50017 DEFINER=…*/
/*!50003 TRIGGER``); the markers are removed from the head before matching, so both dump styles
and hand-written scripts classify alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

HEAD = 600


class Kind(Enum):
    INSERT = "insert"
    CREATE_TABLE = "create table"
    CREATE_VIEW = "create view"
    DROP_TABLE = "drop table"
    ROUTINE = "routine"  # function, procedure, trigger, event: needs log_bin_trust_function_creators on RDS
    SET = "set"
    LOCK = "lock"  # LOCK TABLES / UNLOCK TABLES
    USE = "use"
    CREATE_DATABASE = "create database"
    # Statements that change which rows a table keeps after its INSERTs (the verdict models them).
    TRUNCATE = "truncate"
    DELETE = "delete"
    UPDATE = "update"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Classified:
    kind: Kind
    name: str | None = None  # table/view/routine/database the statement is about


_MARKERS = re.compile(rb"/\*M?!\d*|\*/")
_NAME = rb"(?:`((?:[^`]|``)+)`|([\w$]+))"
_QUALIFIED = rb"(?:" + _NAME + rb"\s*\.\s*)?" + _NAME
_USER = rb"(?:'[^']*'|`[^`]*`|[\w.%-]+)(?:\s*@\s*(?:'[^']*'|`[^`]*`|[\w.%-]+))?|CURRENT_USER(?:\s*\(\s*\))?"
_PATTERNS: tuple[tuple[Kind, re.Pattern[bytes]], ...] = tuple(
    (kind, re.compile(rb"\s*" + pattern, re.I | re.S))
    for kind, pattern in (
        (
            Kind.INSERT,
            rb"(?:INSERT|REPLACE)\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE)\s+)*(?:INTO\s+)?" + _QUALIFIED,
        ),
        (Kind.CREATE_TABLE, rb"CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _QUALIFIED),
        (
            Kind.CREATE_VIEW,
            rb"CREATE\s+(?:OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?(?:DEFINER\s*=\s*(?:"
            + _USER
            + rb")\s+)?(?:SQL\s+SECURITY\s+\w+\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?"
            + _QUALIFIED,
        ),
        (Kind.DROP_TABLE, rb"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?" + _QUALIFIED),
        (
            Kind.ROUTINE,
            rb"CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*(?:"
            + _USER
            + rb")\s+)?(?:AGGREGATE\s+)?(?:FUNCTION|PROCEDURE|TRIGGER|EVENT)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
            + _QUALIFIED,
        ),
        (Kind.SET, rb"SET\s"),
        (Kind.LOCK, rb"(?:UN)?LOCK\s+TABLES?\b"),
        (Kind.USE, rb"USE\s+" + _NAME),
        (Kind.CREATE_DATABASE, rb"CREATE\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _NAME),
        (Kind.TRUNCATE, rb"TRUNCATE\s+(?:TABLE\s+)?" + _QUALIFIED),
        (Kind.DELETE, rb"DELETE\s+(?:(?:LOW_PRIORITY|QUICK|IGNORE)\s+)*FROM\s+" + _QUALIFIED),
        (Kind.UPDATE, rb"UPDATE\s+(?:(?:LOW_PRIORITY|IGNORE)\s+)*" + _QUALIFIED),
    )
)


def head(sql: bytes) -> bytes:
    """The statement's start with executable-comment markers removed."""
    return _MARKERS.sub(b" ", sql[:HEAD])


def classify(sql: bytes) -> Classified:
    # Data is ~all of a dump: decide INSERT from the raw bytes before doing any other work.
    if sql[:6].upper() in (b"INSERT", b"REPLAC"):
        text = sql[:HEAD]
    else:
        text = head(sql)
    for kind, pattern in _PATTERNS:
        m = pattern.match(text)
        if m:
            return Classified(kind, _last_name(m))
    return Classified(Kind.OTHER)


def _last_name(m: re.Match[bytes]) -> str | None:
    parts = [g for g in m.groups() if g is not None]
    if not parts:
        return None
    return unquote(parts[-1])


def unquote(name: bytes) -> str:
    """An identifier as the server knows it, from its text between backticks."""
    return name.replace(b"``", b"`").decode("utf-8", "replace")
