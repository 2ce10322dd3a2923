"""migrate run end to end: real source server → real mariadb-dump → migrate run → real target."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest

from tests.migrate.conftest import dump, migrate, query, sql
from tests.servers.mariadb import PASSWORD

EDGE_CASES = r"""
SET time_zone = '+09:00';
CREATE TABLE texts (
  id INT PRIMARY KEY, body TEXT, raw BLOB, at TIMESTAMP NULL, price DECIMAL(10,2), flag BIT(3)
) DEFAULT CHARSET=utf8mb4;
INSERT INTO texts VALUES
  (1, 'it''s a "quote" and a `tick`', NULL, '2024-03-10 02:30:00', 1.50, b'101'),
  (2, 'back\\slash \\n not a newline; semi', X'00FF00FE27225C0A0D1A', '1999-12-31 23:59:59', -0.01, b'000'),
  (3, 'NUL\0inside', X'', NULL, NULL, NULL),
  (4, 'emoji 😀 and accents éü 中文', X'F09F9880', '2038-01-19 03:14:07', 99999999.99, b'111'),
  (5, 'DEFINER=`root`@`localhost` must survive', 'DEFINER=`x`@`%`', '2024-01-01 00:00:00', 0, b'010'),
  (6, '/*!50003 not a comment */ -- nor this; # nor this', NULL, '2024-06-01 12:00:00', 2, b'001'),
  (7, '', '', '2024-06-01 12:00:00', 0, b'000');
CREATE TABLE nokey (a INT, b VARCHAR(10));
INSERT INTO nokey VALUES (1,'dup'),(1,'dup'),(2,NULL),(NULL,NULL);
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(50));
CREATE TRIGGER texts_ai AFTER INSERT ON texts FOR EACH ROW INSERT INTO audit (note) VALUES (CONCAT('t', NEW.id));
CREATE VIEW texts_view AS SELECT id, body FROM texts WHERE body LIKE '%DEFINER=%';
DELIMITER ;;
CREATE FUNCTION shout(s VARCHAR(50)) RETURNS VARCHAR(60) DETERMINISTIC BEGIN RETURN CONCAT(UPPER(s), '!'); END ;;
CREATE PROCEDURE count_texts(OUT n INT) READS SQL DATA BEGIN SELECT COUNT(*) INTO n FROM texts; END ;;
DELIMITER ;
"""


def verdict_row(output: str, table: str) -> list[str]:
    """The cells of ``table``'s row in a printed table, whatever the column widths."""
    return next(line.split() for line in output.splitlines() if line.split()[:1] == [table])


@pytest.fixture
def edge_db(source, dbname):
    sql(source, dbname, EDGE_CASES)
    return dbname


@pytest.mark.parametrize(
    "flags",
    [(), ("--hex-blob",), ("--skip-extended-insert",), ("--databases",)],
    ids=["raw-blobs", "hex-blobs", "row-per-insert", "with-create-database"],
)
def test_edge_case_data_arrives_identical(source, target, edge_db, tmp_path, flags):
    path = dump(source, edge_db, tmp_path / "dump.sql", *flags)
    copy = f"{edge_db}_copy"  # another name, so a USE of the source's name would be caught
    target.create_database(copy)
    result = migrate("run", str(path), "--target", target.url(copy))
    assert result.exit_code == 0, result.output
    assert "DEFINER clauses removed" in result.output
    if "--databases" in flags:
        # CREATE DATABASE and USE name the source database; the URL's database wins.
        assert "USE / CREATE DATABASE dropped" in result.output
    assert verdict_row(result.output, "texts") == ["texts", "7", "7", "yes"]
    assert verdict_row(result.output, "nokey") == ["nokey", "4", "4", "yes"]

    verified = migrate("verify", "--source", source.url(edge_db), "--target", target.url(copy))
    assert verified.exit_code == 0, verified.output
    assert "all match" in verified.output

    check = "SELECT id, HEX(body), HEX(raw), UNIX_TIMESTAMP(at), price, flag + 0 FROM texts ORDER BY id"
    assert query(target, copy, check) == query(source, edge_db, check)
    assert query(target, copy, "SELECT body FROM texts WHERE id = 5") == [("DEFINER=`root`@`localhost` must survive",)]
    # Objects exist and work on the target, created without a DEFINER clause.
    assert query(target, copy, "SELECT shout('hi'), (SELECT COUNT(*) FROM texts_view)") == [("HI!", 1)]
    assert query(
        target, copy, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
    ) == [(1,)]
    # The trigger is created after the data: loading did not fire it a second time.
    assert query(target, copy, "SELECT COUNT(*) FROM audit") == query(source, edge_db, "SELECT COUNT(*) FROM audit")


def test_timestamps_keep_their_instant_whatever_the_session_zone(source, target, edge_db, tmp_path):
    path = dump(source, edge_db, tmp_path / "dump.sql")
    assert migrate("run", str(path), "--target", target.url(edge_db)).exit_code == 0
    # 02:30 in +09:00 is 17:30 UTC the day before.
    assert query(target, edge_db, "SELECT UNIX_TIMESTAMP(at) FROM texts WHERE id = 1") == [(1710005400,)]


def test_sakila_loads_and_verifies(source, target, sakila, tmp_path):
    target.create_database("sakila_copy")
    report = tmp_path / "report.json"
    result = migrate("run", str(sakila), "--target", target.url("sakila_copy"), "--report", str(report))
    assert result.exit_code == 0, result.output
    document = json.loads(report.read_text())
    assert document["match"] is True
    assert document["tables"]["rental"] == query(source, "sakila", "SELECT COUNT(*) FROM rental")[0][0] == 16044
    assert document["rewrites"] == {"definer": 19, "lock_tables": 32}  # 16 tables with rows, LOCK + UNLOCK
    assert sorted(document["views"]) == sorted(
        r[0]
        for r in query(
            source, "sakila", "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'sakila'"
        )
    )

    # verify compares against the live source database of another name: same content.
    result = migrate("verify", "--source", source.url("sakila"), "--target", target.url("sakila_copy"))
    assert result.exit_code == 0, result.output
    assert "16 tables, all match" in result.output
    assert query(target, "sakila_copy", "SELECT COUNT(*) FROM film_list") == [(997,)]


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_any_number_of_connections_loads_the_same_content(source, target, sakila, jobs):
    database = f"sakila_jobs{jobs}"
    target.create_database(database)
    result = migrate("run", str(sakila), "--target", target.url(database), "--jobs", jobs)
    assert result.exit_code == 0, result.output
    verified = migrate("verify", "--source", source.url("sakila"), "--target", target.url(database))
    assert "16 tables, all match" in verified.output, verified.output


def test_inspect_reports_tables_rows_rewrites_and_largest_statement(sakila, source):
    result = migrate("inspect", str(sakila))
    assert result.exit_code == 0, result.output
    expected = query(source, "sakila", "SELECT COUNT(*) FROM payment")[0][0]
    assert verdict_row(result.output, "payment") == ["payment", f"{expected:,}"]
    assert "tables: 16, rows: 47,273" in result.output
    assert "19  DEFINER clauses removed" in result.output
    assert "SET TIME_ZONE='+00:00'" in result.output
    assert "largest statement:" in result.output
    assert "by kind: set " in result.output and "routine 12" in result.output and "insert 18" in result.output
    piped = migrate("inspect", "-", input=gzip.compress(sakila.read_bytes()))
    assert piped.exit_code == 0 and "tables: 16, rows: 47,273" in piped.output


def _cli(*args: str, stdin: bytes | None = None, password: str = PASSWORD) -> subprocess.CompletedProcess:
    env = {**os.environ, "MIGRATE_TARGET_PASSWORD": password}
    return subprocess.run(
        [sys.executable, "-c", "from migrate.cli import main; main()", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
    )


def test_gzip_on_stdin_through_the_real_command(source, target, edge_db, tmp_path):
    path = dump(source, edge_db, tmp_path / "dump.sql")
    proc = _cli("run", "-", "--target", target.url(edge_db), stdin=gzip.compress(path.read_bytes()))
    assert proc.returncode == 0, proc.stderr
    assert b"all match" in proc.stdout
    # Not a TTY: progress arrives as plain timestamped lines naming the table.
    assert b"table texts" in proc.stderr and b"\r" not in proc.stderr


def test_gzip_file_loads(source, target, edge_db, tmp_path):
    path = dump(source, edge_db, tmp_path / "dump.sql")
    gz = tmp_path / "dump.sql.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    result = migrate("run", str(gz), "--target", target.url(edge_db))
    assert result.exit_code == 0, result.output


def _assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("migrate: error:")]
    assert len(error_lines) == 1, err
    for fragment in fragments:
        assert fragment in error_lines[0], err
    return error_lines[0]


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b"CREATE TABLE t (a int);\nINSERT INTO t VALUES (1),('unterminated", ("byte 50", "line 2", "unterminated")),
        (b"CREATE TABLE t (a int);\nINSERT INTO t VALUES (1)", ("byte 24", "line 2", "never ends")),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR;", ("byte 0", "line 1", "not SQL")),
    ],
)
def test_bad_dump_exits_2_naming_offset_and_line_and_writes_nothing(target, dbname, tmp_path, content, fragments):
    path = tmp_path / "bad.sql"
    path.write_bytes(content)
    proc = _cli("run", str(path), "--target", target.url(dbname))
    _assert_one_line_error(proc, 2, str(path), *fragments)
    assert query(target, dbname, "SHOW TABLES") == []


def test_corrupt_gzip_exits_2(target, dbname, tmp_path):
    data = gzip.compress(b"CREATE TABLE t (a int);\n" + b"INSERT INTO t VALUES (1);\n" * 5000)
    path = tmp_path / "bad.sql.gz"
    path.write_bytes(data[: len(data) // 2] + bytes(64) + data[len(data) // 2 + 64 :])
    _assert_one_line_error(_cli("run", str(path), "--target", target.url(dbname)), 2, "gzip", "byte")
    truncated = tmp_path / "truncated.sql.gz"
    truncated.write_bytes(data[:-20])
    _assert_one_line_error(_cli("run", str(truncated), "--target", target.url(dbname)), 2, "gzip")


def test_connection_problems_are_one_line(target, dbname):
    url = target.url(dbname)
    _assert_one_line_error(_cli("run", "-", "--target", url, password="wrong"), 2, "Access denied", "migrate@")
    _assert_one_line_error(_cli("run", "-", "--target", target.url("no_such_db")), 2, "Unknown database")
    refused = url.replace(f":{target.port}/", ":1/")
    _assert_one_line_error(_cli("run", "-", "--target", refused), 2, "cannot connect", "127.0.0.1:1")
    leaked = url.replace("migrate@", "migrate:hunter2@")
    line = _assert_one_line_error(_cli("run", "-", "--target", leaked), 2, "carries a password")
    assert "hunter2" not in line


def test_server_error_mid_load_says_what_failed_and_what_is_committed(target, dbname, tmp_path):
    # ~400 kB statements: the loader commits about every MB, i.e. after every third statement.
    pad = "p" * 400_000
    good = "".join(f"INSERT INTO `t` VALUES ({i},'{pad}');\n" for i in range(1, 26))
    path = tmp_path / "dup.sql"
    path.write_text(f"CREATE TABLE `t` (id INT PRIMARY KEY, pad LONGTEXT);\n{good}INSERT INTO `t` VALUES (5,'');\n")
    proc = _cli("run", str(path), "--target", target.url(dbname))
    line = _assert_one_line_error(proc, 1, "line 27", "table `t`", "Duplicate entry '5'")
    assert query(target, dbname, "SELECT COUNT(*) FROM t") == [(24,)]
    assert "through line 25 (t: 24 in this run)" in line


def test_non_empty_target_needs_force(source, target, edge_db, tmp_path):
    sql(target, edge_db, "CREATE TABLE leftover (a INT);")
    path = dump(source, edge_db, tmp_path / "dump.sql")
    refused = migrate("run", str(path), "--target", target.url(edge_db))
    assert refused.exit_code == 2
    assert "not empty (1 tables: leftover)" in refused.output
    forced = migrate("run", str(path), "--target", target.url(edge_db), "--force")
    assert forced.exit_code == 0, forced.output


def test_statement_above_max_allowed_packet_is_refused_before_any_write(target, dbname, tmp_path):
    big = b"CREATE TABLE t (a LONGTEXT);\nINSERT INTO t VALUES ('" + b"x" * (17 << 20) + b"');\n"
    path = tmp_path / "big.sql"
    path.write_bytes(big)
    result = migrate("run", str(path), "--target", target.url(dbname))
    assert result.exit_code == 2
    assert "max_allowed_packet" in result.output and "line 2" in result.output
    assert query(target, dbname, "SHOW TABLES") == []
    # stdin cannot be prescanned: the same check stops the load before that statement is sent,
    # after the CREATE TABLE, so it is a load that stopped part-way (exit 1) and says so.
    proc = _cli("run", "-", "--target", target.url(dbname), stdin=big)
    _assert_one_line_error(proc, 1, "max_allowed_packet", "line 2", "Committed before it: everything through line 1")
    assert query(target, dbname, "SELECT COUNT(*) FROM t") == [(0,)]


def test_routines_need_log_bin_trust_function_creators(source, target, edge_db, tmp_path):
    path = dump(source, edge_db, tmp_path / "dump.sql")
    with target.root_connection() as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL log_bin_trust_function_creators = 0")
        try:
            result = migrate("run", str(path), "--target", target.url(edge_db))
        finally:
            cur.execute("SET GLOBAL log_bin_trust_function_creators = 1")
    assert result.exit_code == 2
    assert "log_bin_trust_function_creators=1" in result.output
    assert query(target, edge_db, "SHOW TABLES") == []


def test_dry_run_writes_nothing(source, target, edge_db, tmp_path):
    path = dump(source, edge_db, tmp_path / "dump.sql")
    result = migrate("run", str(path), "--target", target.url(edge_db), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "nothing written" in result.output and "texts" in result.output
    assert query(target, edge_db, "SHOW TABLES") == []


MYSQL8_DUMP = b"""-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET TIME_ZONE='+00:00' */;
SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;
SET @@SESSION.SQL_LOG_BIN= 0;
SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5';
CREATE TABLE `people` (
  `id` int NOT NULL,
  `name` varchar(20) COLLATE utf8mb4_0900_as_cs DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
INSERT INTO `people` VALUES (1,'utf8mb4_0900_ai_ci'),(2,'DEFINER=`a`@`b`');
SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN;
"""


def test_mysql8_dump_into_a_target_without_its_collations(target, dbname, tmp_path):
    path = tmp_path / "mysql8.sql"
    path.write_bytes(MYSQL8_DUMP)
    report = tmp_path / "r.json"
    result = migrate("run", str(path), "--target", target.url(dbname), "--report", str(report))
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["rewrites"] == {"collation": 2, "gtid_purged": 1, "sql_log_bin": 2}
    assert query(
        target,
        dbname,
        "SELECT TABLE_COLLATION FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'people'",
    ) == [("utf8mb4_unicode_520_ci",)]
    assert query(target, dbname, "SELECT name FROM people ORDER BY id") == [
        ("utf8mb4_0900_ai_ci",),
        ("DEFINER=`a`@`b`",),
    ]
    # Switched off, the target rejects the statement: proof the rewrite is what made it load.
    target.create_database(dbname)
    kept = migrate("run", str(path), "--target", target.url(dbname), "--keep-collations")
    assert kept.exit_code == 1
    assert "1273" in kept.output and "line 7" in kept.output
