"""Count the rows an INSERT carries, from its bytes, so verification needs no source database.

``count_rows`` takes one regex match per row tuple, with an empty capture group: ``findall`` then
returns a list of the shared empty bytes object, so counting a 1 MB statement allocates nothing per
row. ``read_values`` is the splitter's fast path for the INSERTs that are ~all of a dump: it finds
the statement's end and its rows in one pass (the general tokenizer and ``count_rows`` are two),
and tells whether every value is plain enough for LOAD DATA to read it exactly as the INSERT would.
Where the C scanner is built (migrate/_plain.c), it answers the plain lists in one pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from migrate.tokens import DQ, SQ

try:
    from migrate._plain import rows as plain_rows
except ImportError:  # built without a C compiler (setup.py): the regexes below do it all
    plain_rows = None


def _nested(depth: int) -> bytes:
    """A parenthesised group holding strings and up to ``depth`` levels of nested calls."""
    inner = rb"[^'\"()]++|" + SQ + rb"|" + DQ
    if depth:
        inner += rb"|" + _nested(depth - 1)
    return rb"\((?:" + inner + rb")*+\)"


_TUPLE = _nested(3)
# Group 1 is the separator before each tuple: ',' between tuples, '' only for the first. A later
# empty separator means the search skipped over text (ON DUPLICATE KEY UPDATE x=VALUES(x)).
_TUPLES = re.compile(rb"(,?)\s*+" + _TUPLE, re.S)
_TUPLE_LIST = re.compile(_TUPLE + rb"(?:\s*+,\s*+" + _TUPLE + rb")*+", re.S)
_NAME = rb"(?:`(?:[^`]|``)+`|[\w$]+)"
_HEAD = re.compile(
    rb"\s*(?P<verb>INSERT|REPLACE)\s+(?P<modifiers>(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE)\s+)*)(?:INTO\s+)?"
    rb"(?P<table>" + _NAME + rb"(?:\s*\.\s*" + _NAME + rb")?)\s*"
    rb"(?P<columns>\((?:[^()`'\";#/\-]++|`(?:[^`]|``)*+`)*+\)\s*)?(?:(?P<values>VALUES?)|(?P<set>SET)\s)\s*",
    re.I | re.S,
)

# The tokenizer's single-quoted string, minus the strings holding an escape that means one thing
# in SQL and another to LOAD DATA (\\% and \\_ keep their backslash in SQL; \\N is NULL to LOAD
# DATA). Such a string is not cut, so its quote stays outside and refuses the fast path.
_STRING = re.compile(rb"'[^'\\]*+(?:\\[^%_N][^'\\]*+)*+'", re.S)
# A string's stand-in once strings are cut out. Counting stand-ins against replacements proves no
# such byte stood outside a string.
_CUT = b"\x01"
# Outside strings, every value one string, NULL or a decimal number: what LOAD DATA's field syntax
# reads the same way the SQL parser does. Hex, bit and _charset literals, expressions, adjacent
# strings and whitespace all fall outside it.
_VALUE = rb"(?:\x01|NULL|-?(?:\d++(?:\.\d*+)?|\.\d++)(?:[eE][-+]?\d++)?)"
_ROW = rb"\((?:" + _VALUE + rb",)*+" + _VALUE + rb"\)"
# mysqldump separates rows with ',', mariadb-dump with ',\n' (',\r\n' once a dump went through
# Windows); LOAD DATA skips any of them before '('.
_PLAIN = re.compile(_ROW + rb"(?:,(?:\r?\n)?" + _ROW + rb")*+")
# Outside strings, any of these could start a token (another quote, a comment, a statement end)
# that only the full tokenizer reads right.
_TOKEN_STARTS = (b"'", b'"', b"`", b"\\", b";", b"#", b"/*", b"--")


@dataclass(frozen=True, slots=True)
class ValuesList:
    """An INSERT … VALUES statement whose text after VALUES is nothing but row tuples."""

    start: int  # offset of the first tuple in the statement
    tuples: int
    table: bytes  # the table reference as written (`db`.`t`)
    columns: bytes  # the column list as written, or b""
    # A plain INSERT (not IGNORE/REPLACE) whose every value LOAD DATA reads as the INSERT would.
    plain: bool


def count_rows(sql: bytes) -> int | None:
    """Rows inserted by an INSERT/REPLACE statement, or None when the statement does not say
    (INSERT … SELECT), so callers can report the table as not countable instead of guessing."""
    m = _HEAD.match(sql)
    if m is None:
        return None
    if m.group("set"):
        return 1
    start = m.end()
    separators = _TUPLES.findall(sql, start)
    if b"" in separators[1:]:
        whole = _TUPLE_LIST.match(sql, start)
        return len(_TUPLES.findall(sql, start, whole.end())) if whole else None
    return len(separators)


def read_values(buf: bytes, start: int, end: int) -> ValuesList | None:
    """The tuples of the INSERT statement in ``buf[start:end]``: ``end`` is where the statement
    would end if a candidate ';' ends it, trailing whitespace excluded.

    None unless the statement provably ends there with nothing but tuples after VALUES: then the
    caller's full tokenizer decides. Strings are cut out with the splitter's own string pattern,
    and any byte outside them that could begin another kind of token (comment, other quote, ';')
    refuses the fast path, so wherever it answers, the tokenizer would have split alike.
    """
    head = _HEAD.match(buf, start, end)
    if head is None or head.group("set") is not None:
        return None
    table, columns = head.group("table"), (head.group("columns") or b"").rstrip()
    plain = head.group("verb").upper() == b"INSERT" and not head.group("modifiers")
    if plain_rows is not None and (tuples := plain_rows(buf, head.end(), end)) >= 0:
        return ValuesList(head.end() - start, tuples, table, columns, plain)
    with memoryview(buf) as view:  # no copy of the megabyte of tuples
        outside, strings = _STRING.subn(_CUT, view[head.end() : end])
    if outside.count(_CUT) != strings:
        return None
    if _PLAIN.fullmatch(outside):
        return ValuesList(head.end() - start, outside.count(b"("), table, columns, plain)
    if any(token in outside for token in _TOKEN_STARTS) or not _TUPLE_LIST.fullmatch(outside):
        return None
    return ValuesList(head.end() - start, len(_TUPLES.findall(outside)), table, columns, False)
