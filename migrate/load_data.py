"""Send an INSERT's rows as LOAD DATA LOCAL, where the server reads them exactly as the INSERT.

The server spends most of a load parsing SQL (Item objects per value); LOAD DATA skips that and
costs ~20 % less server CPU per row here, which on a 2-core target is the difference between
waiting on the parser and not. It is used only where the result is provably the same:

* the splitter proved the VALUES list plain (rows.read_values): each value one quoted string,
  NULL or a decimal number; no escape that the two readers disagree on (\\% \\_ \\N);
* the session reads backslash escapes (no NO_BACKSLASH_ESCAPES) in a charset where a backslash
  byte is always a backslash;
* the table is InnoDB, so a batch can be rolled back;
* and afterwards the server loaded exactly the rows the dump holds with no warning. LOCAL turns
  errors (duplicate keys, bad values) into warnings or skipped rows, so anything else makes the
  caller roll back and send the batch's INSERTs as they are, failing or not as ``mysql <`` would.

The rows travel in memory: no temporary file, and this connection never lets the server name a
client file (pymysql's own LOCAL handler stays off; ``send`` answers only its own statement).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pymysql
from pymysql.constants import COMMAND
from pymysql.protocol import OKPacketWrapper

from migrate.compression import CompressingConnection
from migrate.rows import ValuesList
from migrate.tokens import QUOTED

# Single-byte charsets and UTF-8, where 0x5C is never the tail of a multi-byte character.
CHARSETS = frozenset({"utf8mb4", "utf8mb3", "utf8", "latin1", "ascii"})
_FORMAT = b" FIELDS TERMINATED BY ',' ENCLOSED BY '''' ESCAPED BY '\\\\' LINES STARTING BY '(' TERMINATED BY ')'"
_PACKET = 1 << 16
# Compressed, every packet is a zlib stream of its own: 1 MB ones shrink the benchmark's rows ~5 %
# more than 64 kB ones. (Never above half the server's max_allowed_packet.)
_COMPRESSED_PACKET = 1 << 20
# Engine option of a CREATE TABLE, read with quoted tokens cut out.
_ENGINE = re.compile(rb"\bENGINE\s*=\s*(\w+)", re.I)


class Refused(Exception):
    """The server did not take the rows as LOAD DATA (disabled, or not the answer expected)."""


def transactional(create_table: bytes) -> bool:
    """Whether a CREATE TABLE statement names InnoDB as the engine."""
    engines = _ENGINE.findall(QUOTED.sub(b"", create_table))
    return bool(engines) and engines[-1].lower() == b"innodb"


def session_allows(charset: str, sql_mode: str) -> bool:
    return charset.lower() in CHARSETS and "NO_BACKSLASH_ESCAPES" not in sql_mode.upper()


def statement(values: ValuesList, charset: str) -> bytes:
    columns = b" " + values.columns if values.columns else b""
    return (
        b"LOAD DATA LOCAL INFILE 'migrate-rows' INTO TABLE "
        + values.table
        + b" CHARACTER SET "
        + charset.encode()
        + _FORMAT
        + columns
    )


def send(
    conn: CompressingConnection,
    sql: bytes,
    rows: list[memoryview],
    ask_first: bool = True,
    max_packet: int = 1 << 24,
    sent: Callable[[], None] | None = None,
) -> tuple[int, int]:
    """Run the LOAD DATA ``sql`` with ``rows``, concatenated, as its file: (rows affected, warnings).

    Unless ``ask_first``, the rows follow the statement at once instead of after the server's
    request for them: over a link that request costs a round trip per batch in which the connection
    sends nothing, and connections sharing a link fall into step, so they all wait at once. Only
    for a table that has already taken LOAD DATA LOCAL in this load: a server that refuses the
    statement instead of asking reads the rows as its next command, finds them out of sequence and
    drops the connection, and its error may be lost with it (a lost connection: the load resumes
    from its checkpoint, asking first again). ``max_packet``: the server's max_allowed_packet;
    ``sent`` is called once the last row is written, before the answers are read.
    """
    conn._execute_command(COMMAND.COM_QUERY, sql)
    if ask_first:
        _request(conn)
    else:
        conn.restart_sequence(2, writing=True)  # number 1 is the server's request, read below
    size = min(_COMPRESSED_PACKET, max_packet // 2) if conn.codec is not None else _PACKET
    for part in rows:
        for at in range(0, len(part), size):
            conn.write_packet(part[at : at + size])
    conn.write_packet(b"")
    if sent is not None:
        sent()
    if not ask_first:
        answer = conn._next_seq_id
        conn.restart_sequence(1, writing=False)
        _request(conn)
        conn.restart_sequence(answer, writing=False)
    ok = OKPacketWrapper(conn._read_packet())
    return ok.affected_rows, ok.warning_count


def _request(conn: CompressingConnection) -> None:
    """Read the server's request for the rows; its error (raised) or any other answer ends the connection."""
    try:
        request = conn._read_packet()
    except pymysql.err.MySQLError:
        conn._force_close()
        raise
    if not request.is_load_local_packet():
        conn._force_close()
        raise Refused("the server answered LOAD DATA LOCAL without asking for the rows")
