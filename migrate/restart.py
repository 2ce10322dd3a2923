"""Where a resumed load starts reading the dump again, instead of at byte 0: a restart point.

A resumed load skips the statements the checkpoint covers, replaying what they set up. Reading them
again costs little from a local disk, but for an S3 object of many GB on a cutover runner it means
downloading again everything already loaded. A restart point is what statements 1..K set up, as it
stood once the load had passed them: where statement K+1 starts (in the stored dump, with its line
and the DELIMITER in force), the digest's chain value there (checkpoint.Digest), the session SETs
and the USE to replay, the summary the verdict compares the target with, the tables created as
InnoDB, the key builds (deferred_keys.py), the rewrites counted, and the identity of the file or
S3 object. The loader takes one every so often and the checkpoint stores it with its next position
(so K never passes the committed statement N). A resume opens the dump at K+1, restores the rest,
and skips K+1..N as before: the digest still proves they are the interrupted load's statements.

An S3 object whose ETag, size or version changed is refused; another file or object (a copy, a
different key) is read from byte 0 and the digest decides, as before.

Stored as zlib-compressed JSON (bytes as latin-1 text) and, for gzip, the access point's window
compressed apart: as raw bytes it stays 32 KiB at worst (binary row data), as JSON text it doubled.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from migrate import source
from migrate.checkpoint import Position
from migrate.deferred_keys import Deferral
from migrate.errors import BadInput
from migrate.inflate import AccessPoint
from migrate.plan import DumpSummary, Largest
from migrate.source import DumpSource, Restart
from migrate.splitter import Statement

VERSION = 1
_MAGIC = b"migrate-restart\x01"  # then the JSON's compressed length, the JSON, the window
# A restart point costs its size (twice, as hex) on the commit that stores it: the next is taken once
# the load has passed this many times that size of dump, so they add under 1 % to what the load
# sends, and a resume reads again at most about that much: ~1 MB of a plain dump (a restart point of
# the benchmark's is 0.9 KB), 3-8 MB of a gzip one (its access point's 32 KiB window compresses to
# 10-31 KB: text, or binary rows).
RATIO = 256


@dataclass(frozen=True)
class KeyState:
    """deferred_keys.KeyBuilder.state()."""

    referenced: set[str]
    pending: Deferral | None
    unfinished: list[Deferral]


@dataclass(frozen=True)
class RestartPoint:
    statement: int  # K: the statements before the restart
    chain: bytes  # the digest's chain value after them
    at: Statement  # statement K+1 as split (its offset, line and delimiter; its SQL is not kept)
    restart: Restart
    identity: dict[str, object]
    session_sets: list[bytes]
    use: bytes | None  # the last USE the control connection ran
    summary: DumpSummary
    innodb: set[str]
    keys: KeyState
    rewrites: dict[str, int]


def _text(data: bytes) -> str:
    return data.decode("latin-1")


def _bytes(text: str) -> bytes:
    return text.encode("latin-1")


def _deferral(d: Deferral) -> dict[str, object]:
    return {
        "table": d.table,
        "database": d.database,
        "create": _text(d.create),
        "keys": [[name, _text(definition)] for name, definition in d.keys],
    }


def _undeferral(doc: dict) -> Deferral:
    return Deferral(
        doc["table"],
        doc["database"],
        _bytes(doc["create"]),
        tuple((name, _bytes(definition)) for name, definition in doc["keys"]),
    )


def _summary(summary: DumpSummary) -> dict[str, object]:
    doc = {f.name: getattr(summary, f.name) for f in fields(summary) if f.name != "database_map"}
    doc["header"] = [_text(sql) for sql in summary.header]
    doc["largest"] = asdict(summary.largest)
    return doc


def _unsummary(doc: dict, database_map: Mapping[str, str] | None) -> DumpSummary:
    return DumpSummary(
        **{
            **doc,
            "header": [_bytes(sql) for sql in doc["header"]],
            "largest": Largest(**doc["largest"]),
            "kinds": Counter(doc["kinds"]),
            "database_map": database_map,
            "locations": {key: tuple(where) for key, where in doc["locations"].items()},
        }
    )


def encode(point: RestartPoint) -> bytes:
    restart, keys = point.restart, point.keys
    entry = restart.point
    doc = {
        "version": VERSION,
        "statement": point.statement,
        "chain": point.chain.hex(),
        "at": [point.at.offset, point.at.line, _text(point.at.delimiter)],
        "gzip": None if entry is None else {**asdict(entry), "window": None},
        "identity": point.identity,
        "session_sets": [_text(sql) for sql in point.session_sets],
        "use": None if point.use is None else _text(point.use),
        "summary": _summary(point.summary),
        "innodb": sorted(point.innodb),
        "rewrites": point.rewrites,
        "keys": {
            "referenced": sorted(keys.referenced),
            "pending": None if keys.pending is None else _deferral(keys.pending),
            "unfinished": [_deferral(d) for d in keys.unfinished],
        },
    }
    text = zlib.compress(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
    window = zlib.compress(entry.window) if entry is not None else b""
    return _MAGIC + struct.pack("<I", len(text)) + text + window


def decode(blob: bytes, database_map: Mapping[str, str] | None) -> RestartPoint | None:
    """None for a restart point this migrate cannot read (another version wrote it)."""
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 4:
        return None
    start = len(_MAGIC) + 4
    end = start + struct.unpack_from("<I", blob, len(_MAGIC))[0]
    try:
        doc = json.loads(zlib.decompress(blob[start:end]))
        window = zlib.decompress(blob[end:]) if end < len(blob) else b""
    except (zlib.error, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        return None
    offset, line, delimiter = doc["at"]
    entry = doc["gzip"]
    keys = doc["keys"]
    return RestartPoint(
        doc["statement"],
        bytes.fromhex(doc["chain"]),
        Statement(b"", offset, line, delimiter=_bytes(delimiter)),
        Restart(offset, None if entry is None else AccessPoint(**{**entry, "window": window})),
        doc["identity"],
        [_bytes(sql) for sql in doc["session_sets"]],
        None if doc["use"] is None else _bytes(doc["use"]),
        _unsummary(doc["summary"], database_map),
        set(doc["innodb"]),
        KeyState(
            set(keys["referenced"]),
            None if keys["pending"] is None else _undeferral(keys["pending"]),
            [_undeferral(d) for d in keys["unfinished"]],
        ),
        doc["rewrites"],
    )


def open_dump(
    path: str, position: Position | None, database_map: Mapping[str, str] | None, say: Callable[[str], None]
) -> tuple[DumpSource, RestartPoint | None]:
    """The dump, opened where a resume of ``position`` can start reading it: at the checkpoint's
    restart point when it is this file or object's, else at byte 0 (and why, said)."""
    if position is None or not position.statement:
        return DumpSource(path), None
    point = decode(position.anchor, database_map) if position.anchor is not None else None
    why = None
    if path == "-":
        why = "stdin cannot start part-way"
    elif point is None or point.statement > position.statement:
        why = "the checkpoint holds no restart point (the load stopped before its first, or an older migrate wrote it)"
    elif point.restart.point is not None and source.LIBZ is None:
        why = "its restart point is inside the gzip stream, and libz, which can enter it there, cannot be loaded"
    if why is not None:
        say(f"migrate: resuming reads the dump from its start and skips the statements loaded: {why}")
        return DumpSource(path), None
    dump = DumpSource(path, point.restart)
    if dump.identity == point.identity:
        dump.read_head()
        say(
            f"migrate: resuming reads {dump.name} from byte {point.restart.raw:,} of {dump.size:,} "
            f"(statement {point.statement + 1}, line {point.at.line})"
        )
        return dump, point
    dump.close()
    if point.identity.get("s3") == path:
        raise BadInput(
            f"the object changed since the interrupted load read it ({_describe(point.identity)}; now "
            f"{_describe(dump.identity)}): refusing to resume; load it into an empty database",
            source=path,
        )
    was = f"{point.identity['s3']}: " if "s3" in point.identity else ""
    say(
        f"migrate: resuming reads {dump.name} from its start and skips the statements loaded: it is not the "
        f"{'object' if was else 'file'} the interrupted load was reading ({was}{_describe(point.identity)})"
    )
    return DumpSource(path), None


def _describe(identity: dict[str, object] | None) -> str:
    if identity is None:
        return "not a file"
    if "s3" in identity:
        version = f", version {identity['version']}" if identity.get("version") else ""
        return f"ETag {identity['etag']}, {identity['size']:,} bytes{version}"
    modified = datetime.fromtimestamp(int(identity["mtime_ns"]) / 1e9, UTC).isoformat(timespec="seconds")
    return f"{identity['file']:,} bytes, modified {modified}"
