"""Plain rows go as LOAD DATA LOCAL; whatever would land differently goes as the dump's INSERTs.

Every case compares with what the native client makes of the same dump on the same server.
"""

from __future__ import annotations

import json
import random

import pytest

from migrate.load_data import session_allows, transactional
from tests.migrate.conftest import dump, migrate, query, sql

HEADER = "/*!40101 SET NAMES utf8mb4 */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n"


def run_with_report(target, database: str, path, tmp_path, *flags: str) -> tuple[object, dict]:
    report = tmp_path / "report.json"
    result = migrate("run", str(path), "--target", target.url(database), "--report", str(report), *flags)
    return result, json.loads(report.read_text()) if report.exists() else {}


def load_script(target, database: str, tmp_path, script: str, *flags: str) -> tuple[object, dict]:
    """Write a hand-made dump and load it with migrate run."""
    path = tmp_path / "dump.sql"
    path.write_text(script)
    return run_with_report(target, database, path, tmp_path, *flags)


def native_copy(target, database: str, script: str) -> str:
    """The same dump loaded by the native client into a sibling database."""
    name = f"{database}_native"
    target.create_database(name)
    sql(target, name, script)
    return name


def same_content(target, native: str, loaded: str) -> bool:
    result = migrate("verify", "--source", target.url(native), "--target", target.url(loaded))
    return result.exit_code == 0 and "all match" in result.output


@pytest.mark.parametrize(
    ("ddl", "expected"),
    [
        (b"CREATE TABLE `t` (a int) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", True),
        (b"CREATE TABLE t (a int) engine = innodb", True),
        (b"CREATE TABLE `t` (a int COMMENT 'ENGINE=MyISAM') ENGINE=InnoDB", True),
        (b"CREATE TABLE `t` (a int) ENGINE=MyISAM COMMENT='ENGINE=InnoDB'", False),
        (b"CREATE TABLE `ENGINE=InnoDB` (a int) ENGINE=Aria", False),
        (b"CREATE TABLE t (a int)", False),
    ],
)
def test_only_tables_the_dump_creates_as_innodb_can_roll_back_a_batch(ddl, expected):
    assert transactional(ddl) is expected


@pytest.mark.parametrize(
    ("charset", "sql_mode", "expected"),
    [
        ("utf8mb4", "NO_AUTO_VALUE_ON_ZERO", True),
        ("latin1", "", True),
        ("utf8mb4", "STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES", False),
        ("sjis", "", False),  # 0x5C can be the second byte of a character
        ("gbk", "", False),
    ],
)
def test_load_data_needs_a_session_that_reads_backslashes_alike(charset, sql_mode, expected):
    assert session_allows(charset, sql_mode) is expected


def _awkward_text(rnd: random.Random) -> str:
    pieces = [
        "it's",
        'say "hi"',
        "back\\slash",
        "\\n not a newline",
        "semi;colon",
        "),(",
        "(paren)",
        "NULL",
        "\\N",
        "tab\there",
        "line\nbreak",
        "cr\r",
        "ctrl-z \x1a",
        "nul \x00 byte",
        "😀",
        "naïve",
        "",
        "-- dash",
        "/* c */",
        "#",
        "'",
        "\\",
        "50%",
        "a_b",
        ",",
        "'quoted'",
        "\\\\",
    ]
    return "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 6)))


def test_plain_rows_go_as_load_data_and_arrive_identical(source, target, dbname, tmp_path):
    # GIVEN a table whose strings hold every escape, quote and separator a dump can carry
    rnd = random.Random(7)
    sql(
        source,
        dbname,
        """CREATE TABLE awkward (
        id INT PRIMARY KEY, txt TEXT, raw BLOB, num DOUBLE, price DECIMAL(12,4), at DATETIME,
        ts TIMESTAMP NULL, maybe VARCHAR(10)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    )
    rows = [
        (
            i,
            _awkward_text(rnd),
            bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 40))),
            rnd.choice([0.0, -1.5e-300, 1e300, 3.25, -0.0]),
            rnd.choice(["-12.5000", "0.0001", "99999999.9999"]),
            f"20{rnd.randint(10, 37)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)} 0{rnd.randint(0, 9)}:30:00",
            rnd.choice([None, "2024-03-10 02:30:00"]),
            rnd.choice([None, "NULL", "", "x"]),
        )
        for i in range(1, 3001)
    ]
    with source.root_connection(dbname) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO awkward VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", rows)
    path = dump(source, dbname, tmp_path / "dump.sql")
    # WHEN it is loaded
    result, report = run_with_report(target, dbname, path, tmp_path)
    # THEN every row went as LOAD DATA, none was re-sent, and the content equals the source's
    assert result.exit_code == 0, result.output
    assert report["load_data"] == {"rows": 3000, "batches_resent": 0}
    verified = migrate("verify", "--source", source.url(dbname), "--target", target.url(dbname))
    assert "1 tables, all match" in verified.output, verified.output
    check = "SELECT id, HEX(txt), HEX(raw), num, price, at, UNIX_TIMESTAMP(ts), maybe FROM awkward ORDER BY id"
    assert query(target, dbname, check) == query(source, dbname, check)


def test_rows_load_data_would_bend_are_resent_as_inserts_and_land_as_mysql_would(target, dbname, tmp_path):
    # GIVEN a non-strict session and a value too long for its column: INSERT truncates with a warning
    script = (
        HEADER + "/*!40101 SET SQL_MODE='' */;\n"
        "CREATE TABLE `t` (`id` int NOT NULL, `code` varchar(3), PRIMARY KEY (`id`)) ENGINE=InnoDB;\n"
        "INSERT INTO `t` VALUES (1,'abcdef'),(2,'xy');\n"
        "INSERT INTO `t` VALUES (3,'ok');\n"
    )
    # WHEN migrate loads it
    result, report = load_script(target, dbname, tmp_path, script)
    # THEN the batch LOAD DATA answered with a warning was re-sent as INSERTs: same rows as mysql <
    assert result.exit_code == 0, result.output
    assert report["load_data"]["batches_resent"] == 1
    assert query(target, dbname, "SELECT id, code FROM t ORDER BY id") == [(1, "abc"), (2, "xy"), (3, "ok")]
    assert same_content(target, native_copy(target, dbname, script), dbname)


@pytest.mark.parametrize(
    ("mode", "rows", "error"),
    [
        ("", "(1,'a'),(1,'b')", "Duplicate entry '1'"),  # LOCAL alone would skip the duplicate
        ("STRICT_TRANS_TABLES", "(1,'a'),(2,'abcdef')", "Data too long"),  # LOCAL alone would truncate
    ],
)
def test_rows_mysql_would_refuse_still_fail_the_load(target, dbname, tmp_path, mode, rows, error):
    script = (
        HEADER + f"/*!40101 SET SQL_MODE='{mode}' */;\n"
        "CREATE TABLE `t` (`id` int NOT NULL, `code` varchar(3), PRIMARY KEY (`id`)) ENGINE=InnoDB;\n"
        f"INSERT INTO `t` VALUES {rows};\n"
    )
    result, _ = load_script(target, dbname, tmp_path, script)
    assert result.exit_code == 1
    assert error in result.output and "line 4" in result.output
    assert query(target, dbname, "SELECT COUNT(*) FROM t") == [(0,)]


@pytest.mark.parametrize(
    "case", ["myisam", "no-backslash-escapes", "divergent-escapes", "inserts-only", "local-infile-off"]
)
def test_rows_go_as_inserts_where_load_data_cannot_be_exact(target, dbname, tmp_path, case):
    engine = "MyISAM" if case == "myisam" else "InnoDB"
    mode = "NO_BACKSLASH_ESCAPES" if case == "no-backslash-escapes" else ""
    # \% and \_ keep their backslash in SQL, and \N is NULL to LOAD DATA but 'N' to SQL.
    rows = r"(1,'50\% a\_b'),(2,'\N'),(3,NULL)" if case == "divergent-escapes" else r"(1,'a\nb'),(2,'c\td'),(3,NULL)"
    script = (
        HEADER + f"/*!40101 SET SQL_MODE='{mode}' */;\n"
        f"CREATE TABLE `t` (`id` int NOT NULL, `txt` text, PRIMARY KEY (`id`)) ENGINE={engine};\n"
        f"INSERT INTO `t` VALUES {rows};\n"
    )
    flags = ("--inserts-only",) if case == "inserts-only" else ()
    if case == "local-infile-off":
        sql(target, None, "SET GLOBAL local_infile = 0")
    try:
        result, report = load_script(target, dbname, tmp_path, script, *flags)
    finally:
        sql(target, None, "SET GLOBAL local_infile = 1")
    assert result.exit_code == 0, result.output
    assert report["load_data"] == {"rows": 0, "batches_resent": 0}
    assert ("local_infile=OFF" in result.output) is (case == "local-infile-off")
    assert same_content(target, native_copy(target, dbname, script), dbname)
    if case == "divergent-escapes":
        assert query(target, dbname, "SELECT txt FROM t ORDER BY id") == [("50\\% a\\_b",), ("N",), (None,)]


def test_parallel_batches_into_empty_tables_do_not_lock_each_other_out(target, dbname, tmp_path):
    # GIVEN a dump that turns unique and foreign-key checks off (as mysqldump's header does): MariaDB
    # then locks an empty table for its first insert, until that transaction commits
    pad = "x" * 300_000
    tables = "".join(
        f"CREATE TABLE `t{t}` (`id` int NOT NULL, `pad` mediumtext, PRIMARY KEY (`id`)) ENGINE=InnoDB;\n"
        + "".join(f"INSERT INTO `t{t}` VALUES ({i},'{pad}');\n" for i in range(10))
        for t in range(6)
    )
    script = HEADER + "/*!40014 SET UNIQUE_CHECKS=0, FOREIGN_KEY_CHECKS=0 */;\n" + tables
    # WHEN four connections load batches of ~1 MB (several per table), and a stuck lock fails in 3 s
    sql(target, None, "SET GLOBAL innodb_lock_wait_timeout = 3")
    try:
        result, report = load_script(target, dbname, tmp_path, script, "--jobs", "4")
    finally:
        sql(target, None, "SET GLOBAL innodb_lock_wait_timeout = 50")
    # THEN no batch waited on a later one's table lock: every row is there
    assert result.exit_code == 0, result.output
    assert report["load_data"]["rows"] == 60
    assert query(target, dbname, "SELECT COUNT(*) FROM t5") == [(10,)]


def test_auto_increment_zero_and_null_land_as_with_mysql(target, dbname, tmp_path):
    # GIVEN mysqldump's NO_AUTO_VALUE_ON_ZERO session: a 0 key is a value, a NULL key asks for one
    script = (
        HEADER + "/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n"
        "CREATE TABLE `t` (`id` int NOT NULL AUTO_INCREMENT, `v` varchar(10), PRIMARY KEY (`id`)) "
        "ENGINE=InnoDB;\n"
        "INSERT INTO `t` VALUES (0,'zero'),(7,'seven');\n"
        "INSERT INTO `t` VALUES (NULL,'next');\n"
    )
    result, report = load_script(target, dbname, tmp_path, script)
    assert result.exit_code == 0, result.output
    native = native_copy(target, dbname, script)
    # THEN the keys and the table's next AUTO_INCREMENT value are what the native client leaves
    keys = "SELECT id, v FROM t ORDER BY id"
    assert query(target, dbname, keys) == query(target, native, keys) == [(0, "zero"), (7, "seven"), (8, "next")]
    counter = (
        "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't'"
    )
    assert query(target, dbname, counter) == query(target, native, counter)
    assert report["load_data"] == {"rows": 3, "batches_resent": 0}  # all of it went as LOAD DATA
