import io
import random
import time

import pytest

from migrate.errors import BadInput
from migrate.splitter import split


def statements(data: bytes, chunk: int = 1 << 20) -> list[bytes]:
    return [s.sql for s in split(io.BytesIO(data).read, "dump.sql", chunk=chunk)]


def test_semicolons_inside_strings_identifiers_and_comments_do_not_split():
    data = (
        b"INSERT INTO `a;b` VALUES ('x;y',\"p;q\"); -- trailing; comment\n"
        b"/* block; comment */ SELECT 1 # hash; comment\n;\n"
    )
    assert statements(data) == [b"INSERT INTO `a;b` VALUES ('x;y',\"p;q\")", b"SELECT 1 # hash; comment"]


@pytest.mark.parametrize(
    "literal",
    [
        rb"'it\'s'",
        b"'it''s'",
        rb"'back\\'",
        rb"'\\\\'",
        b"'a\\\";b'",
        b"'x\x00y;'",
        "'emoji 😀; é'".encode(),
        b"'\xff\xfe raw blob; bytes'",
        b"'DEFINER=`root`@`%`;'",
        b"'-- not a comment;'",
        b"'/* nor; this */'",
    ],
)
def test_string_literal_survives_byte_identical(literal):
    data = b"INSERT INTO t VALUES (" + literal + b");\nSELECT 2;\n"
    assert statements(data) == [b"INSERT INTO t VALUES (" + literal + b")", b"SELECT 2"]


def test_executable_comments_are_code_and_keep_their_statement():
    data = b"/*!40101 SET NAMES utf8mb4 */;\n/*!50003 CREATE*/ /*!50017 DEFINER=`r`@`h`*/ /*!50003 TRIGGER x */;\n"
    assert statements(data) == [
        b"/*!40101 SET NAMES utf8mb4 */",
        b"/*!50003 CREATE*/ /*!50017 DEFINER=`r`@`h`*/ /*!50003 TRIGGER x */",
    ]


def test_mariadb_sandbox_line_without_semicolon_is_dropped():
    data = b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n/*!40101 SET NAMES utf8mb4 */;\n"
    assert statements(data) == [b"/*!40101 SET NAMES utf8mb4 */"]


def test_mariadb_version_comment_is_code():
    assert statements(b"/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY */;\n") == [
        b"/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY */"
    ]


@pytest.mark.parametrize("delimiter", [b";;", b"//", b"$$"])
def test_delimiter_command_switches_the_terminator(delimiter):
    body = b"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT '" + delimiter + b"'; END "
    data = b"DELIMITER " + delimiter + b"\n" + body + delimiter + b"\nDELIMITER ;\nSELECT 3;\n"
    assert statements(data) == [body.rstrip(), b"SELECT 3"]


def test_offsets_and_lines_point_at_each_statement():
    data = b"-- header\n\nSELECT 1;\n  INSERT INTO t VALUES\n('a\nb'),\n(2);\nSELECT 3;"
    found = list(split(io.BytesIO(data).read))
    assert [(s.offset, s.line) for s in found] == [(11, 3), (23, 4), (58, 8)]
    for s in found:
        assert data[s.offset : s.offset + len(s.sql)] == s.sql


def test_both_dump_styles_split_alike():
    rows = [b"(1,'a')", b"(2,'b;c')", b"(3,NULL)"]
    mysql_style = b"INSERT INTO `t` VALUES " + b",".join(rows) + b";\n"
    mariadb_style = b"INSERT INTO `t` VALUES\n" + b",\n".join(rows) + b";\n"
    assert len(statements(mysql_style)) == len(statements(mariadb_style)) == 1


def _random_literal(rnd: random.Random) -> bytes:
    alphabet = [
        b"a",
        b";",
        b"'",
        b'"',
        b"`",
        b"\\",
        b"\x00",
        b"\n",
        b"-- ",
        b"/*",
        b"*/",
        b"#",
        "😀".encode(),
        b"\xff",
        b"DEFINER=",
        b"DELIMITER ;;",
    ]
    out = []
    for _ in range(rnd.randint(0, 12)):
        piece = rnd.choice(alphabet)
        out.append(piece.replace(b"\\", b"\\\\").replace(b"'", rnd.choice([b"\\'", b"''"])))
    return b"'" + b"".join(out) + b"'"


def _random_statement(rnd: random.Random) -> bytes:
    parts = [b"INSERT INTO `t``x` VALUES "]
    parts.append(
        b",".join(
            b"(" + _random_literal(rnd) + b"," + str(rnd.randint(-9, 9)).encode() + b")"
            for _ in range(rnd.randint(1, 5))
        )
    )
    if rnd.random() < 0.3:
        parts.append(b" /* c;o'm\"m`ent */")
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(25))
def test_random_dumps_split_into_exactly_the_generated_statements(seed):
    rnd = random.Random(seed)
    expected = [_random_statement(rnd) for _ in range(rnd.randint(1, 30))]
    noise = [b"\n", b"\n-- c'o;mment\n", b" # x;'\n", b"\n/* a;'b */\n", b"\r\n", b"\r\n-- c;\r\n", b" # x;'\r\n"]
    data = b"".join(s + b";" + rnd.choice(noise) for s in expected)
    for chunk in (1, 3, 17, 1 << 20):
        assert statements(data, chunk) == expected


@pytest.mark.parametrize(
    ("data", "message", "offset", "line"),
    [
        (b"SELECT 1;\nINSERT INTO t VALUES ('abc", "unterminated '…' string", 32, 2),
        (b"SELECT 1;\nINSERT INTO t VALUES (1)", "never ends with ';'", 10, 2),
        (b"SELECT 1;\n/* open comment", "unterminated comment", 10, 2),
        (b"\x89PNG\r\n\x1a\n\x00\x00;", "not SQL", 0, 1),
        (b'{"json": true};', "not SQL", 0, 1),
    ],
)
def test_bad_input_names_offset_and_line(data, message, offset, line):
    with pytest.raises(BadInput) as caught:
        statements(data, chunk=4)
    assert message in str(caught.value)
    assert (caught.value.offset, caught.value.line) == (offset, line)
    assert str(caught.value).startswith(f"dump.sql, byte {offset}, line {line}: ")


def test_utf8_bom_is_skipped_and_offsets_stay_true():
    data = b"\xef\xbb\xbfSELECT 1;\n"
    [s] = split(io.BytesIO(data).read)
    assert s.sql == b"SELECT 1" and s.offset == 3


def test_memory_is_bounded_by_the_largest_statement():
    # 200 statements of 100 kB through 64 kB chunks: the buffer never holds more than a few.
    data = b"".join(b"INSERT INTO t VALUES ('" + b"x" * 100_000 + b"');\n" for _ in range(200))
    stream = io.BytesIO(data)
    biggest_read = 0

    def read(n: int) -> bytes:
        nonlocal biggest_read
        biggest_read = max(biggest_read, n)
        return stream.read(n)

    assert sum(1 for _ in split(read, chunk=64 << 10)) == 200
    assert biggest_read <= 256 << 10


def test_splitter_throughput_is_not_the_bottleneck():
    # Not a benchmark (bench/migrate.py measures MB/s); a guard against a quadratic regression,
    # with a bound loose enough for a loaded 2-core CI machine.
    row = b"(123456,'some text with a \\' quote','2024-01-02 03:04:05',NULL,-1.5)"
    data = (b"INSERT INTO `t` VALUES " + b",".join([row] * 15_000) + b";\n") * 20
    started = time.process_time()
    assert sum(1 for _ in split(io.BytesIO(data).read, chunk=1 << 20)) == 20
    assert time.process_time() - started < 2.0  # ~22 MB: ≥ 11 MB/s even under heavy contention


def _both_ways(data: bytes, chunk: int) -> tuple[object, object]:
    """Each splitter mode's statements (sql, offset, line), or its error message."""
    results = []
    for fast in (True, False):
        try:
            results.append([(s.sql, s.offset, s.line) for s in split(io.BytesIO(data).read, "d.sql", chunk, fast)])
        except BadInput as e:
            results.append(str(e))
    return results[0], results[1]


@pytest.mark.parametrize("seed", range(40))
def test_fast_insert_path_splits_exactly_like_the_tokenizer_even_on_mangled_dumps(seed):
    # GIVEN well-formed INSERTs with bytes that could start other tokens spliced in at random
    rnd, endings = random.Random(seed), random.Random(-seed)  # LF or CRLF, without changing the statements
    data = bytearray(
        b"".join(_random_statement(rnd) + endings.choice([b";\n", b";\r\n"]) for _ in range(rnd.randint(2, 12)))
    )
    # (the comparison means something only if the fast path takes some of them)
    assert any(s.values is not None for s in split(io.BytesIO(bytes(data)).read))
    for _ in range(rnd.randint(0, 4)):
        at = rnd.randrange(len(data))
        data[at:at] = rnd.choice(
            [
                b";",
                b";\n",
                b";\r\n",
                b"\r",
                b"'",
                b'"',
                b"`",
                b"\\",
                b"#",
                b"/*",
                b"*/",
                b"-- ",
                b"\x01",
                b"(",
                b")",
                b"),(",
                b" ",
                b"\n",
                b"NULL",
                b"0x1F",
            ]
        )
    # WHEN split with and without the fast path, in small and large chunks
    for chunk in (7, 1 << 20):
        fast, slow = _both_ways(bytes(data), chunk)
        # THEN the statements (or the error) are identical
        assert fast == slow
