"""The verdict models what the server keeps: resets, bounds and unknowns instead of a naive sum.

A false "mismatch" sends a team back into a maintenance window for nothing; a false "match" lets a
cutover go ahead on data the target does not hold. Each has an end-to-end case on a real server.
"""

from __future__ import annotations

import pytest

from migrate.classify import Kind, classify
from migrate.plan import DumpSummary, Step
from migrate.rows import count_rows
from migrate.splitter import Statement
from migrate.verify import MATCH, MISMATCH, UNPROVEN, TableVerdict
from tests.migrate.conftest import migrate, query, sql


def summarize(*statements: bytes) -> DumpSummary:
    summary = DumpSummary()
    for text in statements:
        what = classify(text)
        summary.observe(Step(Statement(text, 0, 1), what, text, count_rows(text) if what.kind is Kind.INSERT else None))
    return summary


CREATE = b"CREATE TABLE `t` (id INT PRIMARY KEY)"


@pytest.mark.parametrize(
    ("statements", "rows", "caveat"),
    [
        # Dropped and re-created in the same dump: only the second set is kept.
        (
            (
                b"DROP TABLE IF EXISTS `t`",
                CREATE,
                b"INSERT INTO `t` VALUES (1),(2),(3)",
                b"DROP TABLE IF EXISTS `t`",
                CREATE,
                b"INSERT INTO `t` VALUES (4),(5)",
            ),
            2,
            None,
        ),
        ((CREATE, b"INSERT INTO `t` VALUES (1),(2)", b"TRUNCATE TABLE `t`", b"INSERT INTO `t` VALUES (3)"), 1, None),
        (
            (
                CREATE,
                b"INSERT INTO `t` VALUES (1)",
                b"CREATE TABLE IF NOT EXISTS `t` (id INT)",
                b"INSERT INTO `t` VALUES (2)",
            ),
            2,
            None,
        ),
        ((CREATE, b"INSERT INTO `t` VALUES (1),(2)", b"UPDATE `t` SET id = id + 10"), 2, None),
        ((CREATE, b"INSERT IGNORE INTO `t` VALUES (1),(1)"), 2, "INSERT IGNORE"),
        (
            (CREATE, b"INSERT INTO `t` VALUES (1),(2) ON DUPLICATE KEY UPDATE id = VALUES(id)"),
            2,
            "ON DUPLICATE KEY UPDATE",
        ),
        (
            (CREATE, b"INSERT INTO `t` VALUES (1),(2)", b"DELETE FROM `t` WHERE id = 1", b"INSERT INTO `t` VALUES (3)"),
            3,
            "DELETE",
        ),
        ((CREATE, b"INSERT INTO `t` VALUES (1)", b"REPLACE INTO `t` VALUES (1),(2)"), None, "REPLACE"),
        ((CREATE, b"INSERT INTO `t` SELECT 1"), None, "INSERT … SELECT"),
        ((b"CREATE TABLE `t` AS SELECT 1 AS id",), None, "CREATE TABLE … SELECT"),
        # A bound or an unknown is forgotten when the table starts over.
        ((CREATE, b"REPLACE INTO `t` VALUES (1)", b"TRUNCATE `t`", b"INSERT INTO `t` VALUES (1)"), 1, None),
    ],
)
def test_expected_rows_follow_what_the_server_keeps(statements, rows, caveat):
    summary = summarize(*statements)
    assert summary.tables == {"t": rows}
    assert summary.caveats.get("t") == caveat


def test_a_table_dropped_for_good_is_not_expected():
    assert summarize(CREATE, b"INSERT INTO `t` VALUES (1)", b"DROP TABLE `t`").tables == {}


@pytest.mark.parametrize(
    ("verdict", "status"),
    [
        (TableVerdict("t", 3, 3), MATCH),
        (TableVerdict("t", 3, 2), MISMATCH),
        (TableVerdict("t", 3, None), MISMATCH),
        (TableVerdict("t", 3, 2, caveat="INSERT IGNORE"), UNPROVEN),
        (TableVerdict("t", 3, 3, caveat="DELETE"), UNPROVEN),  # equal to a bound proves nothing either
        (TableVerdict("t", 3, 4, caveat="INSERT IGNORE"), MISMATCH),  # more than the dump can have added
        (TableVerdict("t", None, 7, caveat="REPLACE"), UNPROVEN),
        (TableVerdict("t", None, None, caveat="REPLACE"), MISMATCH),
    ],
)
def test_a_bound_or_an_unknown_is_neither_a_match_nor_a_mismatch(verdict, status):
    assert verdict.status == status


def test_false_mismatch_a_table_recreated_mid_dump_matches(target, dbname, tmp_path):
    path = tmp_path / "recreated.sql"
    path.write_bytes(
        b"DROP TABLE IF EXISTS `t`;\nCREATE TABLE `t` (id INT PRIMARY KEY, v TEXT);\n"
        b"INSERT INTO `t` VALUES (1,'a'),(2,'b'),(3,'c');\n"
        b"DROP TABLE IF EXISTS `t`;\nCREATE TABLE `t` (id INT PRIMARY KEY, v TEXT);\n"
        b"INSERT INTO `t` VALUES (1,'x'),(2,'y');\nTRUNCATE TABLE `t`;\nINSERT INTO `t` VALUES (9,'z');\n"
    )
    result = migrate("run", str(path), "--target", target.url(dbname))
    assert result.exit_code == 0, result.output
    assert "1 tables, all match" in result.output
    assert query(target, dbname, "SELECT id, v FROM t") == [(9, "z")]


def test_false_match_insert_ignore_over_existing_rows_is_not_called_a_match(source, target, dbname, tmp_path):
    # mysqldump --insert-ignore --no-create-info, loaded with --force over a table that already has
    # row 1 from an earlier attempt: 3 rows, as the dump has, but row 1 is not the source's.
    sql(
        source,
        dbname,
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10));INSERT INTO t VALUES (1,'new'),(2,'b'),(3,'c');",
    )
    sql(target, dbname, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO t VALUES (1,'old');")
    path = tmp_path / "ignore.sql"
    path.write_bytes(b"INSERT IGNORE INTO `t` VALUES (1,'new'),(2,'b'),(3,'c');\n")
    result = migrate("run", str(path), "--target", target.url(dbname), "--force")
    assert result.exit_code == 3, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("t "))
    assert "≤ 3 (INSERT IGNORE)" in row and row.split()[-1] == "verify"
    assert "migrate verify --source URL --target URL" in result.output
    # What the message sends the operator to: the source says no.
    verified = migrate("verify", "--source", source.url(dbname), "--target", target.url(dbname))
    assert verified.exit_code == 1 and "differs" in verified.output


def test_more_rows_than_a_bound_allows_is_a_mismatch(target, dbname, tmp_path):
    sql(target, dbname, "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (7),(8);")
    path = tmp_path / "delete.sql"
    path.write_bytes(b"INSERT INTO `t` VALUES (1),(2);\nDELETE FROM `t` WHERE id = 1;\n")
    result = migrate("run", str(path), "--target", target.url(dbname), "--force")
    assert result.exit_code == 1, result.output
    assert "1 mismatched" in result.output
