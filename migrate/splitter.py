"""Split a SQL dump into statements, on bytes, at the speed of the regex engine.

A dump is not valid UTF-8 (raw BLOBs inside quotes, DESIGN §5), so everything here is bytes.
One statement is matched by one possessive regex call, so the per-byte work runs in C: a Python
char loop manages 7 MB/s, this ≥ 100 MB/s. Possessive quantifiers never backtrack, which keeps a
1 GB string from costing more than one pass.

Tokens honoured: '…' "…" `…` with backslash and doubled-quote escapes, -- and # line comments,
/* */ comments, /*!NNNNN … */ and /*M!NNNNNN … */ executable comments (their contents are code, as
the mysql client treats them), the client's DELIMITER command, and MariaDB's sandbox line
``/*M!999999\\- enable the sandbox mode */`` (a client command without ';', dropped like a comment).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from migrate.errors import BadInput
from migrate.rows import ValuesList, read_values
from migrate.tokens import BQ, DQ, SQ

CHUNK = 8 << 20

# A plain comment: not executable (/*!, /*M!, /*+ hint) unless it is the sandbox line.
_COMMENT_OPEN = rb"/\*(?!!|\+|M!(?!999999\\-))"
_CLOSED_COMMENT = _COMMENT_OPEN + rb"[^*]*+\*++(?:[^/*][^*]*+\*++)*+/"
# Unterminated runs to the end of the buffer, so a comment cut by a chunk boundary is never
# scanned as code (where a ';' inside it would end the statement early).
_COMMENT_TO_END = _COMMENT_OPEN + rb"(?:[^*]++|\*(?!/))*+(?:\*/|\Z)"
_LINE_COMMENT = rb"(?:--(?=[ \t\r\n]|\Z)|\#)[^\n]*+"

_SKIP = re.compile(rb"(?:\s++|" + _CLOSED_COMMENT + rb"|" + _LINE_COMMENT + rb")*+", re.S)
_DELIMITER_CMD = re.compile(rb"(?i:delimiter)[ \t]++(\S++)[^\n]*+(?:\n|\Z)")
# Everything up to an unquoted delimiter-free stop; used to say why a statement never ended.
_TOKENS = re.compile(
    rb"(?:[^'\"`/#\-]++|" + b"|".join((SQ, DQ, BQ, _COMMENT_TO_END, _LINE_COMMENT)) + rb"|[/\-])*+", re.S
)
_STATEMENT_START = re.compile(rb"[A-Za-z(]|/\*[!M]")
# A client's message captured with its output (`mysqldump ... > dump.sql 2>&1`): "mysqldump: [Warning] …".
_CLIENT_MESSAGE = re.compile(rb"[A-Za-z][\w.-]*: ")
# ';' + newline, the end of nearly every dump statement; the newline is CRLF in dumps written on
# Windows (mysqldump there, MySQL Workbench's Data Export) and mixed in hand-edited ones. The regex
# engine finds it at ~3 GB/s here, bytes.find at ~1.2 (CPython's search for a 2-byte needle is slow
# when ';' is common in the data).
STATEMENT_END = re.compile(rb";\r?\n")
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Statement:
    sql: bytes
    offset: int  # of the statement's first byte in the (decompressed) dump
    line: int  # 1-based line of that byte
    values: ValuesList | None = None  # an INSERT's tuples, when read on the fast path
    delimiter: bytes = b";"  # the client's DELIMITER in force: a split restarted here needs it


def skip_noise(buf: bytes, pos: int, end: int | None = None) -> int:
    """Where the next statement starts: past whitespace and comments from ``pos``."""
    return _SKIP.match(buf, pos, len(buf) if end is None else end).end()


@lru_cache(maxsize=8)
def statement_pattern(delimiter: bytes) -> re.Pattern[bytes]:
    """Group 1 is the statement body; the match ends after the delimiter."""
    first = re.escape(delimiter[:1])
    plain = rb"[^'\"`/#\-" + first + rb"]++"
    # A lone '/' or '-' that starts no comment, or the delimiter's first byte when it is not the
    # whole delimiter (';' inside a ';;' routine body).
    stray = rb"(?!" + re.escape(delimiter) + rb")[/\-" + first + rb"]"
    body = b"|".join((plain, SQ, DQ, BQ, _COMMENT_TO_END, _LINE_COMMENT, stray))
    return re.compile(rb"((?:" + body + rb")*+)" + re.escape(delimiter), re.S)


def split(
    read: Callable[[int], bytes],
    name: str = "<dump>",
    chunk: int = CHUNK,
    fast_inserts: bool = True,
    at: Statement | None = None,
) -> Iterator[Statement]:
    """Yield every statement of the stream ``read`` in order; raise BadInput on a malformed dump.
    With ``at`` (a statement split before; only its position counts), ``read`` starts at its first
    byte, and the statements, their offsets and lines are those a split from byte 0 yields from it on.

    Memory is the largest statement plus one chunk: an incomplete statement at the end of the
    buffer doubles the next read instead of rescanning it once per chunk. With ``fast_inserts``,
    an INSERT that ends at the first ';' + newline and holds nothing but tuples is split and its
    rows counted in one pass (rows.read_values); the statements are the same either way.
    """
    buf = read(chunk)
    if at is not None:
        base, line, delimiter = at.offset, at.line, at.delimiter
    elif buf.startswith(BOM):
        buf = buf[len(BOM) :]
        base, line, delimiter = len(BOM), 1, b";"
    else:
        base, line, delimiter = 0, 1, b";"
    pos, eof = 0, not buf
    pattern = statement_pattern(delimiter)
    # Where the last delimiter + newline in the buffer is: a cheap "can a statement end here".
    horizon = last_end(buf, delimiter)

    def fill() -> None:
        nonlocal buf, base, pos, eof, horizon
        more = read(max(chunk, len(buf) - pos))
        if not more:
            eof = True
            return
        buf = buf[pos:] + more
        base += pos
        pos = 0
        horizon = last_end(buf, delimiter)

    while True:
        start = _SKIP.match(buf, pos).end()
        if start == len(buf):
            if eof:
                return
            fill()
            continue
        if buf[start] in b"dD" and (cmd := _DELIMITER_CMD.match(buf, start)):
            if not eof and not buf.endswith(b"\n", 0, cmd.end()):
                fill()
                continue
            delimiter = cmd.group(1)
            pattern = statement_pattern(delimiter)
            horizon = last_end(buf, delimiter)
            line += buf.count(b"\n", pos, cmd.end())
            pos = cmd.end()
            continue
        # A dump ends statements with delimiter + newline; until one is in the buffer (or the
        # statement is oversized) a match attempt would fail and be repeated after the next read.
        if not eof and horizon < start and len(buf) - start < 2 * chunk:
            fill()
            continue
        if fast_inserts and delimiter == b";" and buf[start : start + 6].upper() == b"INSERT":
            if found_end := STATEMENT_END.search(buf, start):
                body_end = found_end.start()
                while buf[body_end - 1 : body_end].isspace():
                    body_end -= 1
                if (values := read_values(buf, start, body_end)) is not None:
                    line += buf.count(b"\n", pos, start)
                    yield Statement(buf[start:body_end], base + start, line, values)
                    line += buf.count(b"\n", start, found_end.end())
                    pos = found_end.end()
                    continue
        found = pattern.match(buf, start)
        if found is None:
            if not eof:
                fill()
                continue
            line += buf.count(b"\n", pos, start)
            raise unterminated(buf, start, base, line, name, delimiter)
        line += buf.count(b"\n", pos, start)
        body_end = found.end(1)
        if body_end > start:
            if problem := not_sql(buf, start, base, line, name):
                raise problem
            sql = buf[start:body_end]
            if sql[-1:].isspace():
                sql = sql.rstrip()
            yield Statement(sql, base + start, line, delimiter=delimiter)
        line += buf.count(b"\n", start, found.end())
        pos = found.end()


def last_end(buf: bytes, delimiter: bytes) -> int:
    """Where the buffer's last delimiter + newline (LF or CRLF) starts, or -1."""
    return max(buf.rfind(delimiter + b"\n"), buf.rfind(delimiter + b"\r\n"))


def not_sql(buf: bytes, start: int, base: int, line: int, name: str) -> BadInput | None:
    """The error for a statement that cannot be SQL (a binary or JSON file), else None."""
    if start < len(buf) and not _STATEMENT_START.match(buf, start):
        return BadInput(
            f"not SQL: statement starts with byte 0x{buf[start]:02x}", source=name, offset=base + start, line=line
        )
    if _CLIENT_MESSAGE.match(buf, start):
        message = buf[start : buf.find(b"\n", start, start + 200)].decode("utf-8", "replace")
        return BadInput(
            f"not SQL: a client's message captured into the dump ({message!r}); cut it out",
            source=name,
            offset=base + start,
            line=line,
        )
    return None


def unterminated(buf: bytes, start: int, base: int, line: int, name: str, delimiter: bytes) -> BadInput:
    """Explain, at end of input, why the statement at ``start`` never reached its delimiter."""
    stop = _TOKENS.match(buf, start).end()
    if stop < len(buf):
        quote = chr(buf[stop])
        return BadInput(
            f"unterminated {quote}…{quote} string (dump truncated or corrupt)",
            source=name,
            offset=base + stop,
            line=line + buf.count(b"\n", start, stop),
        )
    if buf.startswith(b"/*", start):
        return BadInput("unterminated comment (dump truncated?)", source=name, offset=base + start, line=line)
    if problem := not_sql(buf, start, base, line, name):
        return problem
    return BadInput(
        f"statement never ends with {delimiter.decode(errors='replace')!r} (dump truncated?)",
        source=name,
        offset=base + start,
        line=line,
    )
