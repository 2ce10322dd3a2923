"""Secondary keys built after the rows (deferred_keys.py): which keys, and the schema that results."""

from __future__ import annotations

import threading

import pytest

from migrate.classify import classify
from migrate.deferred_keys import KeyBuilder, plan
from migrate.plan import Step
from migrate.splitter import Statement, split
from tests.migrate.conftest import dump, migrate, query, show_create, sql
from tests.migrate.test_resume import kill_load_after

MYSQLDUMP_LAYOUT = b"""CREATE TABLE `orders` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) NOT NULL,
  `note` varchar(20) DEFAULT 'a, b (c)',
  `email` varchar(50) NOT NULL,
  `body` text,
  PRIMARY KEY (`id`),
  UNIQUE KEY `email` (`email`),
  KEY `customer` (`customer_id`,`note`) COMMENT 'by customer, then note',
  FULLTEXT KEY `body` (`body`),
  KEY `note` (`note`(10))
) ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4 COMMENT='orders (all)'"""


def test_plain_keys_leave_the_create_table_and_everything_else_stays_as_written():
    deferral = plan("orders", MYSQLDUMP_LAYOUT, set())
    assert deferral.keys == (
        ("customer", b"KEY `customer` (`customer_id`,`note`) COMMENT 'by customer, then note'"),
        ("note", b"KEY `note` (`note`(10))"),
    )
    expected = MYSQLDUMP_LAYOUT.replace(
        b"  KEY `customer` (`customer_id`,`note`) COMMENT 'by customer, then note',\n", b""
    ).replace(b",\n  KEY `note` (`note`(10))", b"")
    assert deferral.create == expected


def test_one_line_definitions_are_split_at_top_level_commas_only():
    create = (
        b"CREATE TABLE `t` (`a` decimal(10,2), `b` enum('x,y','z'), PRIMARY KEY (`a`), KEY `b` (`b`)) ENGINE=InnoDB"
    )
    deferral = plan("t", create, set())
    assert deferral.keys == (("b", b"KEY `b` (`b`)"),)
    assert deferral.create == (
        b"CREATE TABLE `t` (`a` decimal(10,2), `b` enum('x,y','z'), PRIMARY KEY (`a`)) ENGINE=InnoDB"
    )


@pytest.mark.parametrize(
    ("create", "referenced", "why"),
    [
        (MYSQLDUMP_LAYOUT.replace(b"InnoDB", b"MyISAM"), set(), "not InnoDB: no rollback, no online ALTER"),
        (MYSQLDUMP_LAYOUT, {"orders"}, "an earlier foreign key references the table"),
        (
            MYSQLDUMP_LAYOUT.replace(
                b"  PRIMARY KEY (`id`),",
                b"  PRIMARY KEY (`id`),\n  CONSTRAINT `fk` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`),",
            ),
            set(),
            "the table has a foreign key",
        ),
        (
            b"CREATE TABLE `t` (`a` int NOT NULL AUTO_INCREMENT, `b` int, PRIMARY KEY (`b`), KEY `a` (`a`)) "
            b"ENGINE=InnoDB",
            set(),
            "the AUTO_INCREMENT column's only key",
        ),
        (b"CREATE TABLE `t` (`a` int, KEY (`a`)) ENGINE=InnoDB", set(), "unnamed: the server would choose the name"),
        (b"CREATE TABLE `t` (`a` int, /* note */ KEY `a` (`a`)) ENGINE=InnoDB", set(), "a comment in the body"),
        (
            b"CREATE TABLE `t` (`a` int, KEY `a` (`a`)) ENGINE=InnoDB\n/*!50100 PARTITION BY HASH (`a`) */",
            set(),
            "partitioned",
        ),
        (b"CREATE TABLE `t` (`a` int, KEY `a` (`a`)) ENGINE=InnoDB SELECT 1 AS a", set(), "CREATE … SELECT"),
        (b"CREATE TABLE `t` (`a` int, UNIQUE KEY `a` (`a`)) ENGINE=InnoDB", set(), "only a UNIQUE key"),
        (b"CREATE TABLE `db`.`t` (`a` int, KEY `a` (`a`)) ENGINE=InnoDB", set(), "another database than the build's"),
    ],
)
def test_keys_are_left_in_place_where_building_them_later_could_differ(create, referenced, why):
    assert plan("t" if b"`t`" in create else "orders", create, referenced) is None, why


ORDERS = """
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(20), KEY name (name)) ENGINE=InnoDB;
CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(8,2),
  KEY customer (customer_id), KEY total (total) COMMENT 'reports') ENGINE=InnoDB;
CREATE TABLE payments (id INT PRIMARY KEY, order_id INT, KEY order_id (order_id),
  CONSTRAINT fk_order FOREIGN KEY (order_id) REFERENCES orders (id)) ENGINE=InnoDB;
CREATE TABLE zz_after (id INT PRIMARY KEY, note VARCHAR(10), KEY note (note)) ENGINE=InnoDB;
INSERT INTO customers SELECT seq, CONCAT('c', seq % 97) FROM seq_1_to_3000;
INSERT INTO orders SELECT seq, seq % 3000 + 1, seq / 7 FROM seq_1_to_20000;
INSERT INTO payments SELECT seq, seq FROM seq_1_to_5000;
INSERT INTO zz_after SELECT seq, 'n' FROM seq_1_to_100;
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
"""


@pytest.fixture
def orders_db(source, dbname):
    sql(source, dbname, ORDERS)
    return dbname


def test_the_loaded_schema_is_the_source_schema_key_for_key(source, target, orders_db, sakila, tmp_path):
    # GIVEN real dumps: tables with plain keys, one referenced by a foreign key, and Sakila
    outputs = []
    for database, path in ((orders_db, dump(source, orders_db, tmp_path / "orders.sql")), ("sakila", sakila)):
        copy = f"{database}_keys"
        target.create_database(copy)
        # WHEN migrate loads each
        result = migrate("run", str(path), "--target", target.url(copy))
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
        # THEN every table's SHOW CREATE TABLE is the source's: the same keys, in the same order
        assert show_create(target, copy) == show_create(source, database)
    # (customers.name, orders.customer, orders.total, zz_after.note; not payments': it has a foreign key)
    assert "4 secondary keys built after their rows" in outputs[0]
    assert "1 secondary keys built after their rows" in outputs[1]  # actor's: the other keyed tables have FKs


def test_a_key_left_unbuilt_by_a_killed_run_is_built_by_the_resume(source, target, orders_db, tmp_path):
    # GIVEN a load killed once `orders` was created, while `customers`' key was being built or just after;
    # where the build had won the race, the key is dropped: kill -9 mid-build leaves it so
    path = dump(source, orders_db, tmp_path / "orders.sql")
    database = f"{orders_db}_killed"
    statement = next(i for i, line in enumerate(_statements(path), 1) if line.startswith(b"CREATE TABLE `orders`"))
    kill_load_after(target, database, path, statement)
    if query(
        target,
        database,
        "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'customers' AND INDEX_NAME = 'name'",
    ) != [(0,)]:
        sql(target, database, "ALTER TABLE customers DROP KEY name")
    # WHEN the load is resumed
    result = migrate("run", str(path), "--target", target.url(database), "--resume")
    # THEN it completes with every key of the source
    assert result.exit_code == 0, result.output
    assert show_create(target, database) == show_create(source, orders_db)


def _statements(path) -> list[bytes]:
    with path.open("rb") as f:
        return [s.sql for s in split(f.read)]


def _step(text: bytes) -> Step:
    return Step(Statement(text, 0, 1), classify(text), text, None)


def test_rows_for_a_table_whose_keys_are_being_built_wait_for_the_build(target, dbname):
    # GIVEN a table created without its key, with rows, and the next table's DROP starting its build
    # while another session's open transaction holds the table (so the ALTER cannot finish yet)
    builder = KeyBuilder(lambda: target.root_connection(dbname), list, enabled=True, limit=2)
    create = builder.create(_step(b"CREATE TABLE `t` (`id` int PRIMARY KEY, `a` int, KEY `a` (`a`)) ENGINE=InnoDB"))
    sql(target, dbname, create + b";\nINSERT INTO t VALUES (1, 1), (2, 2);")
    with target.root_connection(dbname) as blocker, blocker.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT COUNT(*) FROM t")
        builder.before(_step(b"DROP TABLE IF EXISTS `u`"), executes=True)
        # WHEN more rows for that table come
        more_rows = threading.Thread(target=builder.before_rows, args=("t",))
        more_rows.start()
        # THEN they wait until the build is done
        more_rows.join(1.0)
        assert more_rows.is_alive()
        blocker.commit()
    more_rows.join(30)
    assert not more_rows.is_alive()
    assert builder.built == 1
    assert query(
        target,
        dbname,
        "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "
        "DATABASE() AND TABLE_NAME = 't' AND INDEX_NAME = 'a'",
    ) == [("a",)]
