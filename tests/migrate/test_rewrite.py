from dataclasses import replace

import pytest

from migrate.classify import Kind, classify
from migrate.rewrite import (
    EVERY_RULE,
    RULES,
    Context,
    Rewriter,
    map_collations,
    mapped_collation,
    rules_for,
    strip_definer,
)
from migrate.target_facts import TargetFacts

# The rules every target needs; the others depend on what the target is (rules_for).
ALWAYS = EVERY_RULE - {"collation", "sql_mode", "mariadb_only"}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"CREATE DEFINER=`root`@`localhost` PROCEDURE `p`() SELECT 1", b"CREATE PROCEDURE `p`() SELECT 1"),
        (
            b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ "
            b"/*!50003 TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a=1 */",
            b"/*!50003 CREATE*/ /*!50017 */ /*!50003 TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a=1 */",
        ),
        (
            b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n"
            b"/*!50001 VIEW `v` AS select 1 */",
            b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 SQL SECURITY DEFINER */\n"
            b"/*!50001 VIEW `v` AS select 1 */",
        ),
        (
            b"CREATE DEFINER=CURRENT_USER SQL SECURITY INVOKER VIEW v AS SELECT 1",
            b"CREATE SQL SECURITY INVOKER VIEW v AS SELECT 1",
        ),
        (
            b"CREATE DEFINER = 'app'@'10.0.%' EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1",
            b"CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1",
        ),
    ],
)
def test_definer_clauses_are_removed(before, after):
    text, n = strip_definer(before)
    assert (text, n) == (after, 1)


def test_definer_text_inside_string_literals_is_kept_byte_identical():
    sql = (
        b"CREATE DEFINER=`root`@`localhost` PROCEDURE p() "
        b"SELECT 'DEFINER=`x`@`y` stays', \"DEFINER=z\", `DEFINER=col` FROM t"
    )
    text, n = strip_definer(sql)
    assert n == 1
    assert text == b"CREATE PROCEDURE p() SELECT 'DEFINER=`x`@`y` stays', \"DEFINER=z\", `DEFINER=col` FROM t"


def test_inserts_are_never_rewritten():
    rewriter = Rewriter(ALWAYS | {"collation"})
    sql = b"INSERT INTO t VALUES ('DEFINER=`root`@`localhost`','utf8mb4_0900_ai_ci')"
    assert rewriter.apply(sql, Kind.INSERT) is sql
    assert not rewriter.counts


@pytest.mark.parametrize(
    ("name", "mapped"),
    [
        (b"utf8mb4_0900_ai_ci", b"utf8mb4_unicode_520_ci"),
        (b"utf8mb4_0900_as_cs", b"utf8mb4_unicode_520_ci"),
        (b"utf8mb4_de_pb_0900_ai_ci", b"utf8mb4_unicode_520_ci"),
        (b"utf8mb4_0900_bin", b"utf8mb4_bin"),
        (b"utf8mb4_general_ci", b"utf8mb4_general_ci"),
    ],
)
def test_mysql8_collations_map_to_the_closest_portable_one(name, mapped):
    assert mapped_collation(name) == mapped


def test_collations_are_mapped_as_whole_tokens_outside_string_values():
    sql = (
        b"CREATE TABLE t (a varchar(5) COLLATE utf8mb4_0900_as_cs DEFAULT 'data: utf8mb4_0900_ai_ci') "
        b"DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci COMMENT 'x'"
    )
    text, n = map_collations(sql)
    assert n == 2
    assert text == (
        b"CREATE TABLE t (a varchar(5) COLLATE utf8mb4_unicode_520_ci DEFAULT 'data: utf8mb4_0900_ai_ci') "
        b"DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci COMMENT 'x'"
    )
    quoted, n = map_collations(b"SET NAMES utf8mb4 COLLATE 'utf8mb4_0900_ai_ci'")
    assert (quoted, n) == (b"SET NAMES utf8mb4 COLLATE 'utf8mb4_unicode_520_ci'", 1)


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        (b"SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'aaaa-bbbb:1-5'", "gtid_purged"),
        (b"SET @@SESSION.SQL_LOG_BIN= 0", "sql_log_bin"),
        (b"SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN", "sql_log_bin"),
        (b"SET sql_log_bin=0", "sql_log_bin"),
        (b"USE `shop`", "database"),
        (b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 */", "database"),
    ],
)
def test_rds_rejected_statements_are_dropped_and_counted(sql, rule):
    rewriter = Rewriter(ALWAYS)
    assert rewriter.apply(sql, classify(sql).kind) is None
    assert rewriter.counts == {rule: 1}


def test_reading_sql_log_bin_is_not_an_assignment_and_stays():
    sql = b"SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN"
    assert Rewriter(ALWAYS).apply(sql, classify(sql).kind) == sql


# One statement each rule changes: a new rule in rewrite.RULES needs its line here.
RULE_CASES = [
    ("definer", b"CREATE DEFINER=`a`@`b` PROCEDURE p() SELECT 1"),
    ("gtid_purged", b"SET @@GLOBAL.GTID_PURGED='x:1'"),
    ("sql_log_bin", b"SET @@SESSION.SQL_LOG_BIN= 0"),
    ("collation", b"CREATE TABLE t (a int) COLLATE=utf8mb4_0900_ai_ci"),
    ("database", b"USE `other`"),
    ("sql_mode", b"/*!50003 SET sql_mode = 'NO_AUTO_CREATE_USER' */"),
    ("mariadb_only", b"/*M!100616 SET NOTE_VERBOSITY=0 */"),
    ("lock_tables", b"LOCK TABLES `t` WRITE"),
    ("map_database", b"CREATE TABLE t (id INT DEFAULT nextval(`shop`.`s`))"),
    ("replication", b"CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=1553"),
]
MAP = Context({"shop": "shop_new"})


@pytest.mark.parametrize(("name", "sql"), RULE_CASES)
def test_each_rule_changes_its_statement_and_can_be_switched_off_unless_it_must_not(name, sql):
    rule = next(r for r in RULES if r.name == name)
    on = Rewriter(EVERY_RULE, MAP)
    rewritten = on.apply(sql, classify(sql).kind)
    assert rewritten != sql
    assert on.counts == {rule.name: 1}
    off = Rewriter(EVERY_RULE - {rule.name}, MAP)
    if rule.keep_flag is None:  # LOCK TABLES would lock out the checkpoint; a map is the operator's own ask
        assert off.apply(sql, classify(sql).kind) == rewritten
    else:
        assert off.apply(sql, classify(sql).kind) == sql
        assert not off.counts


def test_every_rule_has_a_case_above_and_a_flag_of_its_own():
    assert {name for name, _ in RULE_CASES} == EVERY_RULE
    flags = [r.keep_flag for r in RULES if r.keep_flag]
    assert len(flags) == len(set(flags)) and all(f.startswith("--keep-") for f in flags)


@pytest.mark.parametrize(
    ("version", "has_0900", "expected_off"),
    [
        ("10.11.19-MariaDB", False, {"mariadb_only", "sql_mode"}),
        ("8.0.36", True, {"collation"}),
        ("5.7.44-log", False, {"sql_mode"}),
    ],
)
def test_target_facts_decide_the_target_dependent_rules(version, has_0900, expected_off):
    facts = TargetFacts(version, 1 << 26, False, False, has_0900, (), database="shop")
    assert EVERY_RULE - rules_for(facts) == expected_off
    # Without a database in the URL, the dump's USE / CREATE DATABASE place its objects.
    assert EVERY_RULE - rules_for(replace(facts, database=None)) == expected_off | {"database"}
    assert rules_for(facts, kept={"definer"}) == rules_for(facts) - {"definer"}
    assert rules_for(None) == EVERY_RULE  # inspect: the most rewriting any target could need
    assert "lock_tables" in rules_for(facts, kept=EVERY_RULE)


def test_sql_modes_mysql8_removed_are_dropped_for_a_mysql8_target():
    sql = (
        b"/*!50003 SET sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,TRADITIONAL,NO_AUTO_CREATE_USER,"
        b"NO_ENGINE_SUBSTITUTION' */"
    )
    rewriter = Rewriter(ALWAYS | {"sql_mode"})
    assert rewriter.apply(sql, classify(sql).kind) == (
        b"/*!50003 SET sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,TRADITIONAL,NO_ENGINE_SUBSTITUTION' */"
    )
    assert rewriter.counts == {"sql_mode": 1}
    header = b"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */"
    assert rewriter.apply(header, classify(header).kind) == header
    assert Rewriter(ALWAYS).apply(sql, classify(sql).kind) == sql


@pytest.mark.parametrize(
    ("version", "mysql8"),
    [
        ("8.0.35", True),
        ("8.4.3", True),
        ("9.1.0", True),
        ("5.7.44-log", False),
        ("10.11.19-MariaDB-0+deb12u1-log", False),
        ("11.4.2-MariaDB", False),
        ("5.5.5-10.11.6-MariaDB", False),
    ],
)
def test_which_targets_reject_the_old_sql_modes(version, mysql8):
    assert TargetFacts(version, 1 << 26, False, False, True, ()).mysql8 is mysql8


@pytest.mark.parametrize(
    ("sql", "dropped"),
    [
        (b"/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */", True),
        (b"/*M!100616 SET NOTE_VERBOSITY=@OLD_NOTE_VERBOSITY */", True),
        (b"/*M!100616 SET a=1 */ /*!40101 SET b=2 */", False),  # the MySQL part must still run
        (b"/*!40101 SET NAMES utf8mb4 */", False),
    ],
)
def test_mariadb_only_statements_are_dropped_for_a_mysql_target(sql, dropped):
    to_mysql = Rewriter(ALWAYS | {"mariadb_only"})
    assert (to_mysql.apply(sql, classify(sql).kind) is None) is dropped
    assert Rewriter(ALWAYS).apply(sql, classify(sql).kind) == sql
