"""Replication without a server: the dump's coordinates as the dump tools write them, the exact calls
each kind of target gets (RDS procedures by name and signature, or its version's statements), and
the checks on the source."""

from __future__ import annotations

import pytest

from migrate import binlog_source, coordinates, replica
from migrate.classify import classify
from migrate.coordinates import MARIADB, MYSQL, Coordinates
from migrate.cutover import Lag
from migrate.replication import Behind, catch_up_eta
from migrate.rewrite import EVERY_RULE, Rewriter

# mysqldump 8.0.35 --single-transaction --source-data=2 of a server with GTIDs (header as written;
# the GTID set spans lines, as mysqldump breaks it after each comma).
MYSQL8_HEAD = b"""-- MySQL dump 10.13  Distrib 8.0.35, for Linux (x86_64)
--
-- Host: 10.0.3.7    Database: duewin
-- ------------------------------------------------------
-- Server version\t8.0.35

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!50503 SET NAMES utf8mb4 */;
SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;
SET @@SESSION.SQL_LOG_BIN= 0;

--
-- GTID state at the beginning of the backup 
--

SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '916941de-9c55-11f1-8057-926cb20853d9:1-761,
a849f9cd-9d43-11f1-b163-f2b10cab70b0:1-17';

--
-- Position to start replication or point-in-time recovery from
--

-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=157;

--
-- Table structure for table `bets`
--
"""
# mysqldump 5.7 --master-data=2, no GTIDs.
MYSQL57_HEAD = b"""-- MySQL dump 10.13  Distrib 5.7.40, for Linux (x86_64)
--
-- Host: localhost    Database: shop
/*!40101 SET NAMES utf8 */;

--
-- Position to start replication or point-in-time recovery from
--

-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000224', MASTER_LOG_POS=187983347;
"""
# mariadb-dump 10.11 --single-transaction --master-data=2 --gtid: the position at the top, the GTID at the end.
MARIADB_HEAD = b"""/*M!999999\\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database: app
-- ------------------------------------------------------
-- Server version\t10.11.19-MariaDB-0+deb12u1-log

/*!40101 SET NAMES utf8mb4 */;
-- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;

-- A corresponding to the above master-data CHANGE-MASTER settings to the slave gtid state is printed later in the file.

--
-- Alternately, following is the position of the binary logging from SHOW MASTER STATUS at point of backup.
-- Use this when creating a slave of the master server where the backup was made.
-- The new server will be connecting to the master server where the backup was taken.
--

-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=1553;
"""
MARIADB_TAIL = b"""UNLOCK TABLES;

-- The deferred gtid setting for slave corresponding to the master-data CHANGE-MASTER follows

-- Preferably use GTID to start replication from GTID position:

-- SET GLOBAL gtid_slave_pos='0-7-7';


-- Dump completed on 2026-12-02 14:16:49
"""
# --dump-slave: the coordinates of the dumped replica's own primary.
DUMP_SLAVE_HEAD = b"""/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Position to start replication or point-in-time recovery from (the master of this slave)
--

-- CHANGE MASTER TO MASTER_HOST='10.7.31.52', MASTER_PORT=3306, MASTER_LOG_FILE='mysql-bin.000015', MASTER_LOG_POS=682;
"""


def test_mysql_8_source_data_with_gtids():
    found = coordinates.find(MYSQL8_HEAD, b"-- Dump completed\n")
    assert found == Coordinates(
        "binlog.000002",
        157,
        "916941de-9c55-11f1-8057-926cb20853d9:1-761,a849f9cd-9d43-11f1-b163-f2b10cab70b0:1-17",
        MYSQL,
        False,
        "duewin",
    )


def test_mysql_57_master_data_and_mariadb_gtid_at_the_end():
    assert coordinates.find(MYSQL57_HEAD, b"") == Coordinates("mysql-bin.000224", 187983347, database="shop")
    found = coordinates.find(MARIADB_HEAD, MARIADB_TAIL)
    assert (found.log_file, found.log_pos, found.gtid, found.flavor) == ("binlog.000001", 1553, "0-7-7", MARIADB)
    # --master-data=1 writes the same as statements.
    statements = MARIADB_HEAD.replace(b"-- CHANGE MASTER TO MASTER_LOG", b"CHANGE MASTER TO MASTER_LOG")
    assert coordinates.find(statements, MARIADB_TAIL.replace(b"-- SET GLOBAL", b"SET GLOBAL")) == found


def test_dump_slave_coordinates_are_the_primarys_unless_the_servers_own_are_there_too():
    primary = coordinates.find(DUMP_SLAVE_HEAD, b"")
    assert (primary.log_file, primary.log_pos, primary.of_primary) == ("mysql-bin.000015", 682, True)
    assert "--dump-slave" in primary.describe()
    both = coordinates.find(DUMP_SLAVE_HEAD + MYSQL57_HEAD, b"")
    assert (both.log_file, both.of_primary) == ("mysql-bin.000224", False)


def test_a_dump_without_coordinates_is_plain_cutover_only():
    assert (
        coordinates.find(b"-- MySQL dump\nSET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '';\nCREATE TABLE t (a int);\n", b"")
        is None
    )
    assert "--source-data=2" in coordinates.plain_only_reason()


def test_transactions_behind_in_both_gtid_syntaxes():
    assert coordinates.transactions_behind("0-1-100,1-2-7", "0-1-90", MARIADB) == 17
    assert coordinates.transactions_behind("0-1-100", "0-1-100,1-2-7", MARIADB) == 0
    source = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-100:120-130,aaaaaaaa-0000-0000-0000-000000000000:1-5"
    assert coordinates.transactions_behind(source, "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-95:121", MYSQL) == 5 + 10 + 5
    assert coordinates.transactions_behind(source, source, MYSQL) == 0


def test_replication_statements_of_master_data_1_are_dropped_and_counted():
    rewriter = Rewriter(EVERY_RULE)
    for sql in (
        b"CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=1553",
        b"CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=157",
        b"SET GLOBAL gtid_slave_pos='0-7-7'",
        b"STOP ALL SLAVES",
        b"START SLAVE",
        b"STOP REPLICA",
    ):
        assert rewriter.apply(sql, classify(sql).kind) is None, sql
    kept = b"CREATE TABLE `change_master` (a int)"
    assert rewriter.apply(kept, classify(kept).kind) == kept
    assert rewriter.counts["replication"] == 6
    assert Rewriter(EVERY_RULE - {"replication"}).apply(b"START SLAVE", classify(b"START SLAVE").kind) == b"START SLAVE"


SOURCE = replica.Address("203.0.113.10", 3306)
FILE_POS = Coordinates("mysql-bin-changelog.000123", 157, None, None)
WITH_GTID = Coordinates("mysql-bin-changelog.000123", 157, "uuid:1-5", MYSQL)
GTID_ONLY = Coordinates(None, None, "uuid:1-5", MYSQL)
MARIADB_GTID = Coordinates("binlog.000001", 1553, "0-7-7", MARIADB)
RDS_80 = frozenset(
    {
        "rds_set_external_master",
        "rds_set_external_master_with_auto_position",
        "rds_start_replication",
        "rds_stop_replication",
        "rds_reset_external_master",
    }
)
RDS_84 = frozenset(
    {
        "rds_set_external_source",
        "rds_set_external_source_with_auto_position",
        "rds_start_replication",
        "rds_stop_replication",
        "rds_reset_external_source",
    }
)
RDS_MARIADB = frozenset(
    {
        "rds_set_external_master",
        "rds_set_external_master_gtid",
        "rds_start_replication",
        "rds_stop_replication",
        "rds_reset_external_master",
    }
)


@pytest.mark.parametrize(
    "facts, origin, tls, calls",
    [
        (
            replica.ReplicaFacts("8.0.39", 2, RDS_80),
            WITH_GTID,
            True,
            [
                (
                    "CALL mysql.rds_set_external_master(%s, %s, %s, %s, %s, %s, %s)",
                    ("203.0.113.10", 3306, "repl", "pw", "mysql-bin-changelog.000123", 157, 1),
                )
            ],
        ),
        (
            replica.ReplicaFacts("8.4.3", 2, RDS_84),
            FILE_POS,
            True,
            [
                (
                    "CALL mysql.rds_set_external_source(%s, %s, %s, %s, %s, %s, %s)",
                    ("203.0.113.10", 3306, "repl", "pw", "mysql-bin-changelog.000123", 157, 1),
                )
            ],
        ),
        (
            replica.ReplicaFacts("8.0.39", 2, RDS_80, "ON"),
            GTID_ONLY,
            False,
            [
                (
                    "CALL mysql.rds_set_external_master_with_auto_position(%s, %s, %s, %s, %s, %s)",
                    ("203.0.113.10", 3306, "repl", "pw", 0, 0),
                )
            ],
        ),
        (
            replica.ReplicaFacts("8.4.3", 2, RDS_84, "ON"),
            GTID_ONLY,
            True,
            [
                (
                    "CALL mysql.rds_set_external_source_with_auto_position(%s, %s, %s, %s, %s, %s)",
                    ("203.0.113.10", 3306, "repl", "pw", 1, 0),
                )
            ],
        ),
        (
            replica.ReplicaFacts("10.11.9-MariaDB-log", 2, RDS_MARIADB),
            MARIADB_GTID,
            True,
            [
                (
                    "CALL mysql.rds_set_external_master_gtid(%s, %s, %s, %s, %s, %s)",
                    ("203.0.113.10", 3306, "repl", "pw", "0-7-7", 1),
                )
            ],
        ),
        (
            replica.ReplicaFacts("10.11.9-MariaDB-log", 2, RDS_MARIADB),
            FILE_POS,
            True,
            [
                (
                    "CALL mysql.rds_set_external_master(%s, %s, %s, %s, %s, %s, %s)",
                    ("203.0.113.10", 3306, "repl", "pw", "mysql-bin-changelog.000123", 157, 1),
                )
            ],
        ),
        (
            replica.ReplicaFacts("8.0.35", 2),
            FILE_POS,
            True,
            [
                (
                    "CHANGE REPLICATION SOURCE TO SOURCE_HOST = %s, SOURCE_PORT = %s, SOURCE_USER = %s, "
                    "SOURCE_PASSWORD = %s, "
                    "SOURCE_LOG_FILE = %s, SOURCE_LOG_POS = %s, SOURCE_SSL = 1",
                    ("203.0.113.10", 3306, "repl", "pw", "mysql-bin-changelog.000123", 157),
                )
            ],
        ),
        (
            replica.ReplicaFacts("8.0.35", 2),
            FILE_POS,
            False,
            [
                (
                    "CHANGE REPLICATION SOURCE TO SOURCE_HOST = %s, SOURCE_PORT = %s, SOURCE_USER = %s, "
                    "SOURCE_PASSWORD = %s, "
                    "SOURCE_LOG_FILE = %s, SOURCE_LOG_POS = %s, SOURCE_SSL = 0, GET_SOURCE_PUBLIC_KEY = 1",
                    ("203.0.113.10", 3306, "repl", "pw", "mysql-bin-changelog.000123", 157),
                )
            ],
        ),
        (
            replica.ReplicaFacts("5.7.44-log", 2),
            FILE_POS,
            True,
            [
                (
                    "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s, "
                    "MASTER_LOG_FILE = %s, MASTER_LOG_POS = %s, MASTER_SSL = 1",
                    ("203.0.113.10", 3306, "repl", "pw", "mysql-bin-changelog.000123", 157),
                )
            ],
        ),
        (
            replica.ReplicaFacts("10.11.19-MariaDB", 2),
            MARIADB_GTID,
            True,
            [
                ("SET GLOBAL gtid_slave_pos = %s", ("0-7-7",)),
                (
                    "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s, "
                    "MASTER_USE_GTID = slave_pos, MASTER_SSL = 1",
                    ("203.0.113.10", 3306, "repl", "pw"),
                ),
            ],
        ),
    ],
)
def test_point_calls_per_kind_of_target(facts, origin, tls, calls):
    assert [(c.sql, c.args) for c in replica.point(facts, SOURCE, "repl", "pw", origin, tls)] == calls


@pytest.mark.parametrize(
    "facts, start, stop, reset, wait",
    [
        (
            replica.ReplicaFacts("8.0.39", 2, RDS_80),
            "CALL mysql.rds_start_replication",
            "CALL mysql.rds_stop_replication",
            "CALL mysql.rds_reset_external_master",
            "SELECT SOURCE_POS_WAIT(%s, %s, %s)",
        ),
        (
            replica.ReplicaFacts("8.4.3", 2, RDS_84),
            "CALL mysql.rds_start_replication",
            "CALL mysql.rds_stop_replication",
            "CALL mysql.rds_reset_external_source",
            "SELECT SOURCE_POS_WAIT(%s, %s, %s)",
        ),
        (
            replica.ReplicaFacts("8.0.21", 2),
            "START SLAVE",
            "STOP SLAVE",
            "RESET SLAVE ALL",
            "SELECT MASTER_POS_WAIT(%s, %s, %s)",
        ),
        (
            replica.ReplicaFacts("8.0.35", 2),
            "START REPLICA",
            "STOP REPLICA",
            "RESET REPLICA ALL",
            "SELECT SOURCE_POS_WAIT(%s, %s, %s)",
        ),
        (
            replica.ReplicaFacts("10.11.19-MariaDB", 2),
            "START SLAVE",
            "STOP SLAVE",
            "RESET SLAVE ALL",
            "SELECT MASTER_POS_WAIT(%s, %s, %s)",
        ),
    ],
)
def test_start_stop_reset_and_wait_per_kind_of_target(facts, start, stop, reset, wait):
    assert [c.sql for c in replica.start(facts) + replica.stop(facts) + replica.reset(facts)] == [start, stop, reset]
    assert replica.wait_call(facts, FILE_POS, replica.FILE, 1).sql == wait
    assert replica.wait_call(facts, WITH_GTID, replica.GTID, 1).sql == (
        "SELECT MASTER_GTID_WAIT(%s, %s)" if facts.flavor == MARIADB else "SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s)"
    )


def test_filters_name_the_target_databases_and_rename_where_they_differ():
    mariadb = replica.set_filters(replica.ReplicaFacts("10.11.19-MariaDB", 2), [("duewin", "duewin_prod"), ("x", "x")])
    assert [(c.sql, c.args) for c in mariadb] == [
        ("SET GLOBAL replicate_wild_do_table = %s", ("duewin\\_prod.%,x.%",)),
        ("SET GLOBAL replicate_rewrite_db = %s", ("duewin->duewin_prod",)),
    ]
    [mysql] = replica.set_filters(replica.ReplicaFacts("8.0.35", 2), [("duewin", "app")])
    assert mysql.sql == (
        "CHANGE REPLICATION FILTER REPLICATE_WILD_DO_TABLE = ('app.%'), REPLICATE_REWRITE_DB = ((`duewin`, `app`))"
    )


def test_rds_targets_cannot_rename_and_need_a_parameter_group_filter_when_the_source_holds_more():
    rds = replica.ReplicaFacts("8.0.39", 2, RDS_80)
    [rename] = replica.problems(rds, FILE_POS, [("duewin", "app")], ("duewin",))
    assert "cannot rename" in rename
    [unfiltered] = replica.problems(rds, FILE_POS, [("duewin", "duewin")], ("duewin", "crm"))
    assert "crm" in unfiltered and "replicate-wild-do-table = 'duewin.%'" in unfiltered
    filtered = replica.ReplicaFacts("8.0.39", 2, RDS_80, filters={"REPLICATE_WILD_DO_TABLE": "duewin.%"})
    assert replica.problems(filtered, FILE_POS, [("duewin", "duewin")], ("duewin", "crm")) == []
    assert replica.problems(replica.ReplicaFacts("8.0.35", 2), FILE_POS, [("duewin", "app")], ("duewin", "crm")) == []


def _source(**changes) -> binlog_source.SourceFacts:
    facts = dict(
        version="8.0.35-log",
        server_id=1,
        log_bin=True,
        binlog_format="ROW",
        row_image="FULL",
        tls=True,
        binary_logs=("binlog.000001", "binlog.000002"),
        expire_seconds=7 * 86400,
        gtid_mode="ON",
        databases=("duewin",),
    )
    return binlog_source.SourceFacts(**{**facts, **changes})


ORIGIN = Coordinates("binlog.000002", 157)


def _problems(facts, origin=ORIGIN, tls=True, flavor=MYSQL):
    return binlog_source.problems(facts, origin, target_server_id=2, target_flavor=flavor, tls=tls)


def test_a_sound_source_passes():
    assert _problems(_source()) == ([], [])


@pytest.mark.parametrize(
    "changes, origin_file, needle",
    [
        ({"log_bin": False}, "binlog.000002", "log_bin is OFF"),
        ({"binlog_format": "MIXED"}, "binlog.000002", "binlog_format is MIXED"),
        ({"row_image": "MINIMAL"}, "binlog.000002", "binlog_row_image is MINIMAL"),
        ({"server_id": 2}, "binlog.000002", "share server_id 2"),
        ({"server_id": 0}, "binlog.000002", "server_id is 0"),
        ({"tls": False}, "binlog.000002", "offers no TLS"),
        ({}, "binlog.000000", "no longer holds binlog.000000"),
        ({"binary_logs": None}, "binlog.000002", "SHOW BINARY LOGS"),
        ({"version": "10.11.19-MariaDB"}, "binlog.000002", "neither replicates"),
    ],
)
def test_each_source_problem_is_named_with_its_fix(changes, origin_file, needle):
    problems, _ = _problems(_source(**changes), Coordinates(origin_file, 4))
    assert len(problems) == 1 and needle in problems[0], problems


def test_short_retention_and_the_oldest_log_are_warnings():
    assert "purges binary logs after 2.0 h" in _problems(_source(expire_seconds=7200))[1][0]
    assert "oldest binary log" in _problems(_source(), Coordinates("binlog.000001", 4))[1][0]
    assert _problems(_source(tls=False), tls=False) == ([], [])


def test_eta_from_two_samples():
    assert catch_up_eta(Behind(10, 1000, None), Behind(8, 600, None), 2.0) == "ETA: 3 s (closing 200 transactions/s)"
    assert catch_up_eta(Behind(1, 0, 0), Behind(0, 0, 0), 2.0) == "ETA: caught up"
    assert "not catching up" in catch_up_eta(Behind(5, None, 100), Behind(6, None, 300), 2.0)
    assert catch_up_eta(Behind(9, None, None), Behind(6, None, None), 3.0) == "ETA: 6 s (from seconds behind)"


def test_lag_is_the_age_of_the_newest_source_position_the_replica_has_executed():
    lag = Lag()
    assert lag.observe(10.0, ("binlog.000001", 500), ("binlog.000001", 100)) is None  # none applied yet
    assert lag.observe(10.2, ("binlog.000001", 900), ("binlog.000001", 500)) == pytest.approx(0.2)
    assert lag.observe(11.0, ("binlog.000002", 300), ("binlog.000001", 950)) == pytest.approx(0.8)
    assert lag.observe(11.2, ("binlog.000002", 400), ("binlog.000002", 400)) == 0


def test_a_gtid_set_without_file_and_position_needs_a_target_that_executed_it():
    executed = replica.ReplicaFacts("8.0.39", 2, RDS_80, "ON", gtid_executed="uuid:1-5")
    assert replica.problems(executed, GTID_ONLY, [("duewin", "duewin")], ("duewin",)) == []
    [fresh] = replica.problems(
        replica.ReplicaFacts("8.0.39", 2, RDS_80, "ON", gtid_executed=""),
        GTID_ONLY,
        [("duewin", "duewin")],
        ("duewin",),
    )
    assert "--source-data=2" in fresh
