"""CRLF and mixed line endings (mysqldump on Windows, MySQL Workbench's Data Export) split, prescan
and scan exactly as LF dumps do, and a carriage return inside a quoted string stays byte-exact."""

from __future__ import annotations

import io

import pytest

from migrate import rows
from migrate.prescan import quick_summary
from migrate.rows import read_values
from migrate.splitter import split
from tests.conftest import missing

# A Workbench-style dump: header comments, executable comments, a routine under DELIMITER ;;,
# one-row-per-line VALUES, a '--' comment at the end without a trailer, and a string holding a raw
# carriage return and a raw CRLF (hand-written scripts carry them; mysqldump escapes them).
LF_DUMP = (
    b"-- MySQL dump 10.13  Distrib 8.0.36, for Win64 (x86_64)\n--\n-- Host: localhost\n\n"
    b"/*!40101 SET NAMES utf8mb4 */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n\n"
    b"CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `v` text,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\n"
    b"/* a comment; with a semicolon */\n"
    b"INSERT INTO `t` VALUES (1,'a'),(2,'b;c');\n"
    b"INSERT INTO `t` VALUES\n(3,'one row'),\n(4,'per line');\n"
    b"INSERT INTO `t` VALUES (5,'raw CR:\rX and CRLF:\r\nY');\n"
    b"DELIMITER ;;\nCREATE PROCEDURE `p`()\nBEGIN\n  SELECT 1;\n  SELECT 2;\nEND ;;\nDELIMITER ;\n"
    b"-- no trailer\n"
)
RAW_STRING = b"'raw CR:\rX and CRLF:\r\nY'"


def crlf(data: bytes, every: int = 1) -> bytes:
    """``data`` with every ``every``-th line ending CRLF, the raw bytes inside RAW_STRING kept."""
    head, found, tail = data.partition(RAW_STRING)
    lines = head.split(b"\n")
    converted = b"".join(line + (b"\r\n" if i % every == 0 else b"\n") for i, line in enumerate(lines[:-1]))
    return converted + lines[-1] + (found + crlf(tail, every) if found else b"")


def split_all(data: bytes, chunk: int, fast: bool = True) -> list[tuple[bytes, int, int]]:
    return [(s.sql, s.offset, s.line) for s in split(io.BytesIO(data).read, "d.sql", chunk, fast)]


@pytest.mark.parametrize("every", [1, 2, 3], ids=["crlf", "mixed-1:1", "mixed-1:2"])
@pytest.mark.parametrize("chunk", [5, 64, 1 << 20])
def test_crlf_and_mixed_dumps_split_into_the_lf_dumps_statements(every, chunk):
    data = crlf(LF_DUMP, every)
    got = split_all(data, chunk)
    expected = split_all(LF_DUMP, 1 << 20)
    assert len(got) == len(expected) == 7
    for (sql, offset, line), (lf_sql, _, lf_line) in zip(got, expected, strict=True):
        # A statement's own line breaks keep their bytes; it starts where the dump says, on the same line.
        assert sql.replace(b"\r\n", b"\n") == lf_sql.replace(b"\r\n", b"\n")
        assert data[offset : offset + len(sql)] == sql and line == lf_line
    assert RAW_STRING in got[5][0]  # byte-exact: the raw \r and \r\n inside the quotes
    assert got == split_all(data, chunk, fast=False)


def test_crlf_inserts_take_the_fast_path():
    statements = list(split(io.BytesIO(crlf(LF_DUMP)).read))
    inserts = [s for s in statements if s.sql.startswith(b"INSERT")]
    assert [s.values.tuples for s in inserts if s.values is not None] == [2, 2, 1]
    assert all(s.values.plain for s in inserts[:2])


@pytest.mark.parametrize("every", [1, 2])
def test_prescan_reads_crlf_dumps_as_lf_ones(every):
    lf = quick_summary(io.BytesIO(LF_DUMP).read, chunk=7)
    got = quick_summary(io.BytesIO(crlf(LF_DUMP, every)).read, chunk=7)
    assert got.routines == lf.routines == ["p"]
    assert got.statements == lf.statements
    assert got.largest.line == lf.largest.line


@pytest.mark.parametrize("scanner", ["c", "regex"])
@pytest.mark.parametrize(
    ("values", "tuples", "plain"),
    [
        (b"(1,'a'),\r\n(2,'b')", 2, True),
        (b"(1,'a'),\n(2,'b'),\r\n(3,'c')", 3, True),
        (b"(1,'a\r\nb'),\r\n(2,NULL)", 2, True),
        (b"(1,'a'),\r(2,'b')", 2, False),  # a lone CR is not a line ending: the tokenizer's answer, not LOAD DATA's
        (b"(1,'a'),\r\n\r\n(2,'b')", 2, False),
    ],
)
def test_values_lists_with_crlf_between_rows(scanner, values, tuples, plain, monkeypatch):
    if scanner == "c" and rows.plain_rows is None:
        missing("migrate._plain, the C scanner (setup.py builds it where a C compiler is installed)")
    if scanner == "regex":
        monkeypatch.setattr(rows, "plain_rows", None)
    sql = b"INSERT INTO `t` VALUES\r\n" + values
    found = read_values(sql, 0, len(sql))
    assert found is not None and (found.tuples, found.plain) == (tuples, plain)
