import io
import random

import pytest

from migrate import rows
from migrate.classify import Classified, Kind, classify
from migrate.errors import BadInput
from migrate.plan import DumpSummary, Step, steps
from migrate.prescan import quick_summary
from migrate.rewrite import EVERY_RULE, Rewriter
from migrate.rows import count_rows, read_values
from migrate.splitter import Statement, split
from tests.conftest import missing


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (b"INSERT INTO `t` VALUES (1),(2)", Classified(Kind.INSERT, "t")),
        (b"INSERT IGNORE INTO db.`we``ird` VALUES (1)", Classified(Kind.INSERT, "we`ird")),
        (b"REPLACE INTO t2 VALUES (1)", Classified(Kind.INSERT, "t2")),
        (b"CREATE TABLE IF NOT EXISTS `orders` (id int)", Classified(Kind.CREATE_TABLE, "orders")),
        (b"/*!50001 CREATE VIEW `v` AS SELECT\n 1 AS `a` */", Classified(Kind.CREATE_VIEW, "v")),
        (
            b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n"
            b"/*!50001 VIEW `staff_list` AS select 1 */",
            Classified(Kind.CREATE_VIEW, "staff_list"),
        ),
        (
            b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER ins_film AFTER INSERT */",
            Classified(Kind.ROUTINE, "ins_film"),
        ),
        (b"CREATE DEFINER=`root`@`localhost` FUNCTION `f`(x INT) RETURNS int", Classified(Kind.ROUTINE, "f")),
        (b"CREATE PROCEDURE rewards_report (IN a INT)", Classified(Kind.ROUTINE, "rewards_report")),
        (
            b"/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `e` ON SCHEDULE */",
            Classified(Kind.ROUTINE, "e"),
        ),
        (b"DROP TABLE IF EXISTS `actor`", Classified(Kind.DROP_TABLE, "actor")),
        (b"/*!40101 SET NAMES utf8mb4 */", Classified(Kind.SET)),
        (b"USE `sakila`", Classified(Kind.USE, "sakila")),
        (b"LOCK TABLES `actor` WRITE", Classified(Kind.LOCK)),
        (b"UNLOCK TABLES", Classified(Kind.LOCK)),
        (b"/*!40000 ALTER TABLE `actor` DISABLE KEYS */", Classified(Kind.OTHER)),
    ],
)
def test_classify(sql, expected):
    assert classify(sql) == expected


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        (b"INSERT INTO `t` VALUES (1,'a'),(2,'b'),(3,NULL)", 3),
        (b"INSERT INTO `t` VALUES\n(1,'a'),\n(2,'b')", 2),
        (b"INSERT INTO t (a, `b(c`) VALUES (1, 2)", 1),
        (b"INSERT INTO t VALUES ('),('),('\\'),(')", 2),
        (b"INSERT INTO t VALUES (1, 'x'')(''y'), (2, \"q),(\")", 2),
        (b"INSERT INTO t VALUES (NOW(), CONCAT('a', LOWER('B'))), (1, ST_GeomFromText('POINT(1 1)'))", 2),
        (b"INSERT INTO t VALUES (1),(2) ON DUPLICATE KEY UPDATE a=VALUES(a)", 2),
        (b"INSERT INTO t SET a = 1, b = 'x'", 1),
        (b"INSERT INTO t SELECT * FROM u", None),
        (b"INSERT INTO t VALUES (_binary '\x00\xff)(', 0x1F)", 1),
    ],
)
def test_count_rows(sql, rows):
    assert count_rows(sql) == rows


@pytest.fixture(params=["c", "regex"])
def scanner(request, monkeypatch):
    """read_values as built (the C scanner answers plain lists) and as without a C compiler."""
    if request.param == "regex":
        monkeypatch.setattr(rows, "plain_rows", None)
    elif rows.plain_rows is None:
        missing("migrate._plain, the C scanner (setup.py builds it where a C compiler is installed)")
    return request.param


def _values(sql: bytes):
    data = sql + b";\n"
    return read_values(data, 0, len(sql.rstrip()))


@pytest.mark.parametrize(
    ("sql", "tuples", "plain"),
    [
        (b"INSERT INTO `t` VALUES (1,'a'),(2,'b'),(3,NULL)", 3, True),
        (b"INSERT INTO `db`.`t` (`a`,`b`) VALUES (-1.5e-3,'it\\'s'),(.5,'')", 2, True),
        (b"INSERT INTO t VALUES ('),('),('\\'),(')", 2, True),
        (b"INSERT INTO t VALUES ('NULL'),(NULL),('\xff\x00 raw')", 3, True),
        (b"INSERT INTO t VALUES ('x'),('y')  ", 2, True),
        (b"INSERT INTO t VALUES ('\\\\N'),('\\\\%'),('\\\\\\\\_')", 3, True),  # escaped backslashes, then letters
        (b"INSERT INTO `t` VALUES\n(1,'a'),\n(2,'b')", 2, True),  # mariadb-dump's layout
        # Counted, but LOAD DATA would read these differently from the SQL parser.
        (b"INSERT INTO t VALUES (0x1F),(_binary 'a'),(b'101')", 3, False),
        (b"INSERT INTO t VALUES (1, 'spaced')", 1, False),
        (b"INSERT INTO t VALUES ('a' 'b'),('it''s')", 2, False),
        (b"INSERT INTO t VALUES (NOW(), CONCAT('a', 'b'))", 1, False),
        (b"INSERT IGNORE INTO t VALUES (1)", 1, False),
        (b"REPLACE INTO t VALUES (1)", 1, False),
        (b"INSERT INTO t VALUES ()", 1, False),
    ],
)
def test_read_values_counts_tuples_and_says_whether_load_data_reads_them_alike(scanner, sql, tuples, plain):
    values = _values(sql)
    assert (values.tuples, values.plain) == (tuples, plain)
    assert values.tuples == count_rows(sql)
    assert sql[values.start :].startswith(b"(")


@pytest.mark.parametrize(
    "sql",
    [
        b"INSERT INTO t VALUES (1),(2) ON DUPLICATE KEY UPDATE a=VALUES(a)",
        b"INSERT INTO t SET a = 1",
        b"INSERT INTO t SELECT * FROM u",
        b"INSERT INTO t VALUES (1) /* comment */",
        b"INSERT INTO t VALUES (1),(2) -- x",
        b'INSERT INTO t VALUES ("double")',
        b"INSERT INTO t VALUES (1);SELECT (2)",
        b"INSERT INTO t VALUES ('unterminated)",
        b"INSERT INTO t VALUES (\x01)",
        b"INSERT INTO t (a;b) VALUES (1)",
        # Escapes SQL and LOAD DATA read differently (\\% \\_ keep the backslash in SQL; \\N is NULL to LOAD DATA).
        b"INSERT INTO t VALUES ('50\\% off'),('a\\_b')",
        b"INSERT INTO t VALUES ('\\N')",
    ],
)
def test_read_values_leaves_anything_else_to_the_tokenizer(scanner, sql):
    assert _values(sql) is None


def test_read_values_keeps_the_table_and_column_list_as_written(scanner):
    values = _values(b"INSERT INTO `we``ird`.`t` (`a`, `b`) VALUES (1,2)")
    assert (values.table, values.columns) == (b"`we``ird`.`t`", b"(`a`, `b`)")


# Values LOAD DATA reads as the SQL parser does, and near misses of them.
_PLAIN_VALUES = [
    b"1",
    b"-12",
    b"3.",
    b".5",
    b"-.5",
    b"1e5",
    b"2E-3",
    b"4e+1",
    b"NULL",
    b"''",
    b"'a'",
    b"'it\\'s'",
    b"'\\\\'",
    b"'\\\\N'",
    b"'),('",
    b"'\x01'",
    b"'\n'",
    b"' ; '",
]
_NEAR_MISSES = [
    b"1e",
    b".",
    b"-",
    b"e5",
    b"NUL",
    b"null",
    b"'\\%'",
    b"'\\_'",
    b"'\\N'",
    b"'a''b'",
    b"\x01",
    b"'\\",
    b"0x1F",
    b" 1",
    b"'a' 'b'",
]
_NOISE = [
    b",",
    b"(",
    b")",
    b"),(",
    b",\n",
    b" ",
    b"\n",
    b"'",
    b"\\",
    b"N",
    b"e",
    b".",
    b"-",
    b"9",
    b"\x01",
    b";",
    b"\r",
    b",\r\n",
    b"\r\r\n",
]


def _random_values(rnd: random.Random) -> bytes:
    rows_ = [
        b"("
        + b",".join(
            rnd.choice(_NEAR_MISSES if rnd.random() < 0.05 else _PLAIN_VALUES) for _ in range(rnd.randint(1, 4))
        )
        + b")"
        for _ in range(rnd.randint(1, 5))
    ]
    text = bytearray(rows_[0] + b"".join(rnd.choice([b",", b",", b",\n", b",\r\n"]) + row for row in rows_[1:]))
    for _ in range(rnd.choice([0, 0, 1, 2])):
        at = rnd.randrange(len(text) + 1)
        if rnd.random() < 0.5:
            text[at:at] = rnd.choice(_NOISE)
        else:
            del text[at : at + rnd.randint(1, 3)]
    return bytes(text)


@pytest.mark.parametrize("seed", range(20))
def test_c_scanner_takes_exactly_the_values_lists_the_regexes_call_plain(seed, monkeypatch):
    # GIVEN random VALUES lists of plain and not-quite-plain values, some of them mangled
    if rows.plain_rows is None:
        missing("migrate._plain, the C scanner (setup.py builds it where a C compiler is installed)")
    c_rows, rnd, plain_seen = rows.plain_rows, random.Random(seed), 0
    monkeypatch.setattr(rows, "plain_rows", None)
    for _ in range(300):
        sql = b"INSERT INTO t VALUES " + _random_values(rnd)
        # WHEN the regexes alone read it, and the C scanner reads its tuples
        regex = read_values(sql, 0, len(sql))
        expected = regex.tuples if regex is not None and regex.plain else -1
        # THEN the C scanner counts the same rows wherever the regexes call the list plain, else declines
        assert c_rows(sql, rows._HEAD.match(sql).end(), len(sql)) == expected, sql
        plain_seen += expected >= 0
    assert 30 < plain_seen < 270  # both answers were exercised


def test_c_scanner_refuses_bounds_outside_its_buffer():
    if rows.plain_rows is None:
        missing("migrate._plain, the C scanner (setup.py builds it where a C compiler is installed)")
    with pytest.raises(ValueError):
        rows.plain_rows(b"(1)", 0, 4)
    assert rows.plain_rows(memoryview(b"xx(1),(2)"), 2, 9) == 2


def _step(sql: bytes, line: int = 1) -> Step:
    what = classify(sql)
    return Step(Statement(sql, 0, line), what, sql, count_rows(sql) if what.kind is Kind.INSERT else None)


def test_summary_counts_tables_and_excludes_view_placeholders():
    summary = DumpSummary()
    for sql in (
        b"/*!40103 SET TIME_ZONE='+00:00' */",
        b"DROP TABLE IF EXISTS `a`",
        b"SET @x = 1",
        b"CREATE TABLE `a` (id int)",
        b"CREATE TABLE `empty` (id int)",
        b"INSERT INTO `a` VALUES (1),(2)",
        b"INSERT INTO `a` VALUES (3)",
        b"CREATE TABLE `v` (x int)",
        b"/*!50001 CREATE VIEW `v` AS SELECT 1 */",
        b"CREATE TABLE `s` (id int)",
        b"INSERT INTO `s` SELECT 1",
    ):
        summary.observe(_step(sql))
    assert summary.tables == {"a": 3, "empty": 0, "s": None}
    assert summary.views == ["v"]
    assert summary.header == [b"/*!40103 SET TIME_ZONE='+00:00' */"]
    assert summary.rows == 3


def test_quick_prescan_agrees_with_the_full_splitter_on_a_real_dump(sakila):
    data = sakila.read_bytes()
    full = DumpSummary()
    for step in steps(split(io.BytesIO(data).read), Rewriter(EVERY_RULE - {"definer"})):
        full.observe(step)
    quick = quick_summary(io.BytesIO(data).read, chunk=1 << 16)
    assert (quick.largest.size, quick.largest.line) == (full.largest.size, full.largest.line)
    assert sorted(quick.routines) == sorted(full.routines)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"CREATE TABLE t (a int);\nINSERT INTO t VALUES (1),('cut", "byte 50, line 2: unterminated"),
        (b"-- header\n\xff\xd8\xff\xe0 JFIF;\nmore;\n", "byte 10, line 2: not SQL"),
    ],
)
def test_quick_prescan_rejects_a_cut_or_non_sql_dump_before_any_write(data, message):
    with pytest.raises(BadInput, match=message):
        quick_summary(io.BytesIO(data).read, chunk=8)


def test_quick_prescan_accepts_a_bom_and_a_final_statement_without_newline():
    summary = quick_summary(io.BytesIO(b"\xef\xbb\xbfCREATE TABLE t (a int);\nSELECT 1;").read)
    assert summary.largest.size == len(b"CREATE TABLE t (a int)")
