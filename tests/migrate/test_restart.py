"""What a resume that starts reading part-way rests on: the digest continues from a chain value, the
splitter and the gzip stream start again at a statement and yield what a read from byte 0 yields,
and a restart point survives the checkpoint's column (restart.py, inflate.py, source.py)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import zlib
from dataclasses import replace

import pytest

from migrate import inflate, source
from migrate.checkpoint import SEGMENT_BYTES, Digest
from migrate.deferred_keys import Deferral
from migrate.errors import BadInput
from migrate.inflate import AccessPoint, Inflater
from migrate.plan import DumpSummary, steps
from migrate.restart import KeyState, RestartPoint, decode, encode
from migrate.rewrite import Rewriter
from migrate.source import DumpSource, Restart
from migrate.splitter import Statement, split

# Routines in DELIMITER blocks, CRLF lines, comments between statements, a BOM, small and ~1 MB statements.
ROUTINE = (
    b"DELIMITER ;;\r\n/*!50003 CREATE*/ /*!50003 TRIGGER `t_ins` BEFORE INSERT ON `t` FOR EACH ROW "
    b"BEGIN SET NEW.b = 'x;y'; END */;;\nDELIMITER ;\n"
)


def sample_dump(seed: int = 3) -> bytes:
    rnd = random.Random(seed)
    parts = [b"\xef\xbb\xbf-- header\n/*!40101 SET NAMES utf8mb4 */;\n", b"CREATE TABLE `t` (a INT, b TEXT);\n"]
    for i in range(60):
        size = rnd.choice([40, 300, 5_000, 200_000, 900_000])
        rows = ",".join(f"({i},'{rnd.randbytes(size // 3).hex()}')" for _ in range(2))
        parts.append(f"INSERT INTO `t` VALUES {rows};{chr(13) if i % 4 == 0 else ''}\n".encode())
        if i % 9 == 0:
            parts.append(b"/* between; */ -- statements\n" + ROUTINE)
    return b"".join(parts)


@pytest.fixture(scope="module")
def dump() -> bytes:
    return sample_dump()


def as_split(statement: Statement) -> tuple:
    return statement.sql, statement.offset, statement.line, statement.delimiter, statement.values


def test_a_digest_continued_from_a_chain_value_agrees_with_one_computed_from_the_start(dump):
    statements = [s.sql for s in split(io.BytesIO(dump).read)]
    whole, chains, digests = Digest(), {}, []
    for ordinal, sql in enumerate(statements, 1):
        whole.update(sql)
        digests.append(whole.hexdigest())
        if whole.closable:
            chains[ordinal] = whole.chain()
    assert len(chains) >= 10
    for ordinal, chain in chains.items():
        continued = Digest(chain)
        assert continued.hexdigest() == digests[ordinal - 1]  # a restart point at the checkpoint itself
        for later, sql in enumerate(statements[ordinal:], ordinal + 1):
            continued.update(sql)
            assert continued.hexdigest() == digests[later - 1]
    # Under one segment the digest is the plain running hash an older migrate wrote.
    small = Digest()
    reference = hashlib.sha256()
    for sql in statements[:3]:
        small.update(sql)
        reference.update(len(sql).to_bytes(8, "little") + sql)
    assert sum(map(len, statements[:3])) < SEGMENT_BYTES and small.hexdigest() == reference.hexdigest()


def test_a_statement_changed_before_a_chain_point_changes_every_digest_after_it(dump):
    statements = [s.sql for s in split(io.BytesIO(dump).read)]
    one, other = Digest(), Digest()
    for i, sql in enumerate(statements):
        one.update(sql)
        other.update(sql.replace(b"(0,", b"(9,", 1) if i == 2 else sql)
        assert i < 2 or one.hexdigest() != other.hexdigest()


@pytest.mark.parametrize("chunk", [1 << 20, 64 << 10])
def test_a_split_started_at_a_statement_yields_what_a_split_from_byte_0_does(dump, chunk):
    whole = list(split(io.BytesIO(dump).read, chunk=chunk))
    assert {s.delimiter for s in whole} == {b";", b";;"}
    for i in range(1, len(whole), 3):
        at = whole[i]
        again = split(
            io.BytesIO(dump[at.offset :]).read,
            chunk=chunk,
            at=Statement(b"", at.offset, at.line, delimiter=at.delimiter),
        )
        assert [as_split(s) for s in again] == [as_split(s) for s in whole[i:]], i


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> bytes:
    """6 MB of the benchmark's dump: text, escapes, raw binary."""
    from bench.migrate import generate

    path = tmp_path_factory.mktemp("restart") / "d.sql"
    generate(path, 6)
    return path.read_bytes()


@pytest.mark.parametrize("level", [1, 6, 9])
def test_the_gzip_stream_reads_as_gzip_does_and_enters_again_at_every_access_point(text, level):
    packed = gzip.compress(text, level)
    whole = Inflater(io.BytesIO(packed).read, span=256 << 10)
    assert b"".join(iter(lambda: whole.read(100_000), b"")) == text
    points = list(whole._points)
    assert len(points) >= 15 and {p.bits for p in points} - {0}  # most blocks end inside a byte
    for point in points:
        raw = io.BytesIO(packed)
        raw.seek(point.raw)
        assert Inflater(raw.read, point).read(len(text)) == text[point.out :]
        assert point.window == text[max(0, point.out - inflate.WINDOW) : point.out]
        assert whole.point_before(point.out) == point and whole.point_before(point.out + 1) == point


def test_members_padding_and_a_resumed_member_keep_gzip_checks(text):
    first, second = text[:2_000_000], text[2_000_000:]
    packed = gzip.compress(first, 1) + gzip.compress(second, 6) + b"\x00" * 7
    whole = Inflater(io.BytesIO(packed).read, span=300_000)
    assert whole.read(len(text) + 1) == text
    point = next(p for p in whole._points if p.out > len(first))  # inside the second member
    raw = io.BytesIO(packed)
    raw.seek(point.raw)
    resumed = Inflater(raw.read, point)
    assert resumed.read(len(text)) == text[point.out :]
    raw.seek(point.raw)
    wrong = Inflater(raw.read, replace(point, crc=point.crc ^ 1))  # the member's CRC still checked at its end
    with pytest.raises(gzip.BadGzipFile, match="CRC check failed"):
        wrong.read(len(text))
    with pytest.raises(EOFError):
        Inflater(io.BytesIO(packed[: len(packed) // 2]).read).read(len(text))
    with pytest.raises(gzip.BadGzipFile, match="Not a gzipped file"):
        Inflater(io.BytesIO(packed[:-7] + b"garbage").read).read(len(text) + 1)
    corrupt = bytearray(gzip.compress(first, 6))
    corrupt[len(corrupt) // 2] ^= 0xFF
    with pytest.raises((zlib.error, gzip.BadGzipFile)):
        Inflater(io.BytesIO(bytes(corrupt)).read).read(len(text))


@pytest.mark.parametrize("compress", [False, True])
def test_a_dump_file_opens_again_at_a_statement(tmp_path, text, compress):
    path = tmp_path / ("d.sql.gz" if compress else "d.sql")
    path.write_bytes(gzip.compress(text, 1) if compress else text)
    with DumpSource(str(path)) as first:
        statements = list(split(first.read))
        at = statements[len(statements) * 2 // 3]
        restart = first.restart_at(at.offset)
        identity = first.identity
    assert restart is not None and restart.offset == at.offset
    assert (restart.raw == at.offset) != compress and (restart.point is not None) == compress
    with DumpSource(str(path), restart) as again:
        assert again.identity == identity
        assert again.read(len(text)) == text[at.offset :]
        assert again.decompressed == len(text) and again.position == path.stat().st_size
        assert again.head == b""
        again.read_head()
        assert again.head == text[: source.HEAD_BYTES]
    os.utime(path, ns=(1, 1))
    assert DumpSource(str(path)).identity != identity


def test_a_gzip_cut_inside_its_header_is_bad_input_naming_the_file(tmp_path):
    path = tmp_path / "cut.sql.gz"
    path.write_bytes(gzip.compress(b"SELECT 1;\n")[:6])
    with DumpSource(str(path)) as dump, pytest.raises(BadInput, match=f"{path}, byte 6: corrupt or truncated gzip"):
        dump.read(100)


def test_without_libz_gzip_reads_as_before_but_cannot_open_again_part_way(tmp_path, text, monkeypatch):
    monkeypatch.setattr(source, "LIBZ", None)
    path = tmp_path / "d.sql.gz"
    path.write_bytes(gzip.compress(text, 1))
    with DumpSource(str(path)) as dump:
        statements = list(split(dump.read))
        assert dump.decompressed == len(text) and dump.restart_at(statements[-1].offset) is None


def test_a_restart_point_survives_its_encoding():
    summary = DumpSummary(database_map={"old": "new"})
    for step in steps(
        split(
            io.BytesIO(
                b"/*!40101 SET NAMES utf8mb4 */;\nUSE `old`;\nCREATE TABLE `t` (a INT) "
                b"DEFINER=`x`@`%`;\nINSERT INTO `t` VALUES (1),(2);\n"
            ).read
        ),
        Rewriter({"definer"}),
    ):
        summary.observe(step)
    deferral = Deferral("t", "new", b"CREATE TABLE `t` (a INT)", (("k", b"KEY `k` (`a`)"),))
    point = RestartPoint(
        4,
        bytes(range(32)),
        Statement(b"", 1234, 7, delimiter=b";;"),
        Restart(1234, AccessPoint(900, 3, 1000, bytes(range(256)) * 4, 0xDEADBEEF, 1000)),
        {"s3": "s3://b/k", "etag": '"e-2"', "size": 99, "version": None},
        [b"/*!40101 SET NAMES utf8mb4 */", b"SET @x = '\xff\x00'"],
        b"USE `new`",
        summary,
        {"new.t"},
        KeyState({"p"}, deferral, [deferral]),
        {"definer": 1},
    )
    blob = encode(point)
    assert decode(blob, {"old": "new"}) == point
    plain = replace(point, restart=Restart(1234))
    assert decode(encode(plain), {"old": "new"}) == plain
    assert decode(b"not a restart point", None) is None
    assert decode(blob[:40], None) is None
    # Binary row data in the window costs its size, not more (the JSON text of it would double it).
    window = random.Random(1).randbytes(inflate.WINDOW)
    assert len(encode(replace(point, restart=Restart(1234, replace(point.restart.point, window=window))))) < 34_000
