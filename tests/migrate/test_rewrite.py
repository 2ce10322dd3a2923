import pytest

from migrate.classify import Kind, classify
from migrate.preflight import TargetFacts
from migrate.rewrite import RewriteOptions, Rewriter, map_collations, mapped_collation, strip_definer


@pytest.mark.parametrize(("before", "after"), [
    (b"CREATE DEFINER=`root`@`localhost` PROCEDURE `p`() SELECT 1", b"CREATE PROCEDURE `p`() SELECT 1"),
    (b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a=1 */",
     b"/*!50003 CREATE*/ /*!50017 */ /*!50003 TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a=1 */"),
    (b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n"
     b"/*!50001 VIEW `v` AS select 1 */",
     b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 SQL SECURITY DEFINER */\n/*!50001 VIEW `v` AS select 1 */"),
    (b"CREATE DEFINER=CURRENT_USER SQL SECURITY INVOKER VIEW v AS SELECT 1",
     b"CREATE SQL SECURITY INVOKER VIEW v AS SELECT 1"),
    (b"CREATE DEFINER = 'app'@'10.0.%' EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1",
     b"CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1"),
])
def test_definer_clauses_are_removed(before, after):
    text, n = strip_definer(before)
    assert (text, n) == (after, 1)


def test_definer_text_inside_string_literals_is_kept_byte_identical():
    sql = (b"CREATE DEFINER=`root`@`localhost` PROCEDURE p() "
           b"SELECT 'DEFINER=`x`@`y` stays', \"DEFINER=z\", `DEFINER=col` FROM t")
    text, n = strip_definer(sql)
    assert n == 1
    assert text == b"CREATE PROCEDURE p() SELECT 'DEFINER=`x`@`y` stays', \"DEFINER=z\", `DEFINER=col` FROM t"


def test_inserts_are_never_rewritten():
    rewriter = Rewriter(RewriteOptions(map_collations=True))
    sql = b"INSERT INTO t VALUES ('DEFINER=`root`@`localhost`','utf8mb4_0900_ai_ci')"
    assert rewriter.apply(sql, Kind.INSERT) is sql
    assert not rewriter.counts


@pytest.mark.parametrize(("name", "mapped"), [
    (b"utf8mb4_0900_ai_ci", b"utf8mb4_unicode_520_ci"),
    (b"utf8mb4_0900_as_cs", b"utf8mb4_unicode_520_ci"),
    (b"utf8mb4_de_pb_0900_ai_ci", b"utf8mb4_unicode_520_ci"),
    (b"utf8mb4_0900_bin", b"utf8mb4_bin"),
    (b"utf8mb4_general_ci", b"utf8mb4_general_ci"),
])
def test_mysql8_collations_map_to_the_closest_portable_one(name, mapped):
    assert mapped_collation(name) == mapped


def test_collations_are_mapped_as_whole_tokens_outside_string_values():
    sql = (b"CREATE TABLE t (a varchar(5) COLLATE utf8mb4_0900_as_cs DEFAULT 'data: utf8mb4_0900_ai_ci') "
           b"DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci COMMENT 'x'")
    text, n = map_collations(sql)
    assert n == 2
    assert text == (b"CREATE TABLE t (a varchar(5) COLLATE utf8mb4_unicode_520_ci DEFAULT 'data: utf8mb4_0900_ai_ci') "
                    b"DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci COMMENT 'x'")
    quoted, n = map_collations(b"SET NAMES utf8mb4 COLLATE 'utf8mb4_0900_ai_ci'")
    assert (quoted, n) == (b"SET NAMES utf8mb4 COLLATE 'utf8mb4_unicode_520_ci'", 1)


@pytest.mark.parametrize(("sql", "rule"), [
    (b"SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'aaaa-bbbb:1-5'", "gtid_purged"),
    (b"SET @@SESSION.SQL_LOG_BIN= 0", "sql_log_bin"),
    (b"SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN", "sql_log_bin"),
    (b"SET sql_log_bin=0", "sql_log_bin"),
    (b"USE `shop`", "database"),
    (b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 */", "database"),
])
def test_rds_rejected_statements_are_dropped_and_counted(sql, rule):
    rewriter = Rewriter(RewriteOptions())
    assert rewriter.apply(sql, classify(sql).kind) is None
    assert rewriter.counts == {rule: 1}


def test_reading_sql_log_bin_is_not_an_assignment_and_stays():
    sql = b"SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN"
    assert Rewriter(RewriteOptions()).apply(sql, classify(sql).kind) == sql


@pytest.mark.parametrize(("options", "sql"), [
    (RewriteOptions(strip_definer=False), b"CREATE DEFINER=`a`@`b` PROCEDURE p() SELECT 1"),
    (RewriteOptions(drop_gtid_purged=False), b"SET @@GLOBAL.GTID_PURGED='x:1'"),
    (RewriteOptions(drop_sql_log_bin=False), b"SET @@SESSION.SQL_LOG_BIN= 0"),
    (RewriteOptions(map_collations=False), b"CREATE TABLE t (a int) COLLATE=utf8mb4_0900_ai_ci"),
    (RewriteOptions(drop_database_statements=False), b"USE `shop`"),
])
def test_each_rule_can_be_switched_off(options, sql):
    rewriter = Rewriter(options)
    assert rewriter.apply(sql, classify(sql).kind) == sql
    assert not rewriter.counts


def test_sql_modes_mysql8_removed_are_dropped_for_a_mysql8_target():
    sql = (b"/*!50003 SET sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,TRADITIONAL,NO_AUTO_CREATE_USER,"
           b"NO_ENGINE_SUBSTITUTION' */")
    rewriter = Rewriter(RewriteOptions(drop_removed_sql_modes=True))
    assert rewriter.apply(sql, classify(sql).kind) == (
        b"/*!50003 SET sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,TRADITIONAL,NO_ENGINE_SUBSTITUTION' */")
    assert rewriter.counts == {"sql_mode": 1}
    header = b"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */"
    assert rewriter.apply(header, classify(header).kind) == header
    assert Rewriter(RewriteOptions()).apply(sql, classify(sql).kind) == sql


@pytest.mark.parametrize(("version", "mysql8"), [
    ("8.0.35", True), ("8.4.3", True), ("9.1.0", True), ("5.7.44-log", False),
    ("10.11.19-MariaDB-0+deb12u1-log", False), ("11.4.2-MariaDB", False), ("5.5.5-10.11.6-MariaDB", False),
])
def test_which_targets_reject_the_old_sql_modes(version, mysql8):
    assert TargetFacts(version, 1 << 26, False, False, True, ()).mysql8 is mysql8


@pytest.mark.parametrize(("sql", "dropped"), [
    (b"/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */", True),
    (b"/*M!100616 SET NOTE_VERBOSITY=@OLD_NOTE_VERBOSITY */", True),
    (b"/*M!100616 SET a=1 */ /*!40101 SET b=2 */", False),  # the MySQL part must still run
    (b"/*!40101 SET NAMES utf8mb4 */", False),
])
def test_mariadb_only_statements_are_dropped_for_a_mysql_target(sql, dropped):
    to_mysql = Rewriter(RewriteOptions(drop_mariadb_only=True))
    assert (to_mysql.apply(sql, classify(sql).kind) is None) is dropped
    assert Rewriter(RewriteOptions()).apply(sql, classify(sql).kind) == sql
