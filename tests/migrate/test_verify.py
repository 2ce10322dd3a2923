"""migrate verify must catch every kind of difference, not just pass on equal data."""

from __future__ import annotations

import json

import pytest

from tests.migrate.conftest import migrate, sql

SCHEMA = """
CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(20), total DECIMAL(9,2), placed DATETIME);
CREATE TABLE tags (name VARCHAR(10), weight INT);
CREATE TABLE pairs (a INT, b CHAR(2), PRIMARY KEY (a, b));
"""
DATA = """
INSERT INTO orders VALUES (1,'ann',10.00,'2024-01-01 10:00:00'),(2,'bob',NULL,NULL),
  (250000,'cy',3.50,'2024-02-02 00:00:00');
INSERT INTO tags VALUES ('x',1),('x',1),('y',2);
INSERT INTO pairs VALUES (1,'a'),(1,'b'),(2,'a');
"""


@pytest.fixture
def twin(source, target, dbname):
    for server in (source, target):
        sql(server, dbname, SCHEMA + DATA)
    return dbname


def verdicts(source, target, db, tmp_path):
    report = tmp_path / "verify.json"
    result = migrate("verify", "--source", source.url(db), "--target", target.url(db), "--report", str(report))
    return result, {v["table"]: v for v in json.loads(report.read_text())["verdicts"]}


def test_identical_databases_match(source, target, twin, tmp_path):
    result, by_table = verdicts(source, target, twin, tmp_path)
    assert result.exit_code == 0, result.output
    assert {t: (v["expected"], v["actual"], v["checksum"]) for t, v in by_table.items()} == {
        "orders": (3, 3, "equal"),
        "tags": (3, 3, "equal"),
        "pairs": (3, 3, "equal"),
    }


@pytest.mark.parametrize(
    ("change", "table", "checksum"),
    [
        ("UPDATE orders SET total = 10.01 WHERE id = 1", "orders", "differs in id 1..100000"),
        (
            "UPDATE orders SET placed = '2024-02-02 00:00:01' WHERE id = 250000",
            "orders",
            "differs in id 200001..250000",
        ),
        ("UPDATE orders SET customer = NULL WHERE id = 1", "orders", "differs in id 1..100000"),
        ("UPDATE orders SET total = 0 WHERE id = 2", "orders", "differs in id 1..100000"),  # NULL became 0
        ("UPDATE orders SET customer = 'ann ' WHERE id = 1", "orders", "differs in id 1..100000"),
        # Two identical rows in a keyless table must not cancel out (an XOR checksum would).
        ("UPDATE tags SET name = 'z', weight = 3 WHERE name = 'x' LIMIT 2", "tags", "differs"),
        ("UPDATE pairs SET b = 'c' WHERE a = 2", "pairs", "differs"),
    ],
)
def test_any_content_change_is_a_mismatch(source, target, twin, tmp_path, change, table, checksum):
    sql(target, twin, change + ";")
    result, by_table = verdicts(source, target, twin, tmp_path)
    assert result.exit_code == 1, result.output
    assert by_table[table]["checksum"] == checksum
    assert by_table[table]["match"] is False
    assert all(v["match"] for t, v in by_table.items() if t != table)


def test_missing_and_extra_rows_and_tables(source, target, twin, tmp_path):
    sql(target, twin, "DELETE FROM tags WHERE name = 'y'; DROP TABLE pairs; CREATE TABLE extra (a INT);")
    result, by_table = verdicts(source, target, twin, tmp_path)
    assert result.exit_code == 1
    assert (by_table["tags"]["expected"], by_table["tags"]["actual"]) == (3, 2)
    assert by_table["pairs"]["checksum"] == "missing"
    assert by_table["extra"]["checksum"] == "not in source"
    assert "NO" in result.output and "3 mismatched" in result.output
