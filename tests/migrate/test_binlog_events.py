"""Which tables a stretch of the source's binary log writes, from SHOW BINLOG EVENTS rows as MariaDB
10.11 and MySQL 8.0 list them; and the calls that hold the target's applier at one position."""

from __future__ import annotations

from migrate import replica
from migrate.binlog_events import Event, written
from migrate.coordinates import MARIADB, Coordinates


def _events(*rows: tuple[str, str]) -> list[Event]:
    return [Event("binlog.000001", 4 + i * 50, kind, info) for i, (kind, info) in enumerate(rows)]


# One transaction as MariaDB 10.11 logs it with binlog_format=ROW and binlog_annotate_row_events.
MARIADB_TRANSACTION = (
    ("Gtid", "BEGIN GTID 0-1-19"),
    ("Annotate_rows", "UPDATE accounts SET balance = balance - 1 WHERE id = 3"),
    ("Table_map", "table_id: 18 (shop.accounts)"),
    ("Update_rows_v1", "table_id: 18"),
    ("Table_map", "table_id: 19 (shop.ledger)"),
    ("Write_rows_v1", "table_id: 19 flags: STMT_END_F"),
    ("Xid", "COMMIT /* xid=41 */"),
)
MYSQL_TRANSACTION = (
    ("Gtid", "SET @@SESSION.GTID_NEXT= '916941de-9c55-11f1-8057-926cb20853d9:762'"),
    ("Query", "BEGIN"),
    ("Table_map", "table_id: 92 (shop.orders)"),
    ("Delete_rows", "table_id: 92 flags: STMT_END_F"),
    ("Xid", "COMMIT /* xid=77 */"),
)


def test_row_events_name_their_tables_per_database():
    seen = written(
        _events(*MARIADB_TRANSACTION, *MYSQL_TRANSACTION, ("Table_map", "table_id: 20 (other.bets)")), ["shop"]
    )
    assert seen.everything is None
    assert seen.tables == {"shop": frozenset({"accounts", "ledger", "orders"})}  # other: not replicated


def test_nothing_written_names_nothing():
    assert written(
        _events(("Rotate", "binlog.000002;pos=4"), ("Format_desc", "Server ver: 10.11.19")), ["shop"]
    ) == written([], ["shop"])
    assert written([], ["shop"]).tables == {} and written([], ["shop"]).everything is None


def test_a_statement_means_every_table_and_says_which():
    ddl = written(
        _events(*MARIADB_TRANSACTION, ("Gtid", "GTID 0-1-25"), ("Query", "ALTER TABLE shop.games COMMENT 'x'")),
        ["shop"],
    )
    assert ddl.tables == {} and "Query at binlog.000001:" in ddl.everything and "ALTER TABLE" in ddl.everything
    # MIXED or STATEMENT format: DML as a statement, with the variables that replay it.
    statement = written(
        _events(("Query", "BEGIN"), ("Intvar", "INSERT_ID=7"), ("Query", "INSERT INTO ledger (account) VALUES (1)")),
        ["shop"],
    )
    assert statement.tables == {} and "Intvar at binlog.000001:54: INSERT_ID=7" in statement.everything


def test_an_event_type_unknown_here_means_every_table():
    assert "Transaction_payload" in written(_events(("Transaction_payload", "compression='ZSTD'")), ["shop"]).everything
    assert "cannot read" in written(_events(("Table_map", "table_id 18 shop.a")), ["shop"]).everything


def test_a_dot_in_a_name_counts_every_split_a_known_database_allows():
    seen = written(_events(("Table_map", "table_id: 5 (a.b.c)")), ["a", "a.b"])
    assert seen.tables == {"a": frozenset({"b.c"}), "a.b": frozenset({"c"})}


def test_the_applier_is_held_at_the_snapshot_position_in_each_spelling():
    point = Coordinates("binlog.000007", 3777, "0-1-18", MARIADB)
    mariadb = replica.ReplicaFacts("10.11.19-MariaDB", 2)
    assert replica.stop_applier(mariadb) == [replica.Call("STOP SLAVE SQL_THREAD")]
    assert replica.apply_until(mariadb, point) == [
        replica.Call("START SLAVE SQL_THREAD UNTIL MASTER_LOG_FILE = %s, MASTER_LOG_POS = %s", ("binlog.000007", 3777))
    ]
    mysql = replica.ReplicaFacts("8.0.35", 2)
    assert replica.stop_applier(mysql) == [replica.Call("STOP REPLICA SQL_THREAD")]
    assert replica.apply_until(mysql, point) == [
        replica.Call(
            "START REPLICA SQL_THREAD UNTIL SOURCE_LOG_FILE = %s, SOURCE_LOG_POS = %s", ("binlog.000007", 3777)
        )
    ]
