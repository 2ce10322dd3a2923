"""Replicated cutover against two real MariaDB servers (binary log ROW on the source): an application
keeps writing money movements while the dump is taken, loaded and caught up; ``migrate cutover``
freezes it for the switch, and the target must then equal the source exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pymysql.cursors import DictCursor

from migrate.checkpoint import TABLE
from migrate.cli import cli
from migrate.connection import parse_url
from migrate.cutover import Cutover, CutoverOptions, CutoverRefused
from migrate.replication import Link, LinkOptions
from tests.conftest import missing
from tests.migrate.conftest import started_pair
from tests.servers.app_writer import Writer, create_schema
from tests.servers.mariadb import PASSWORD, REPLICATION_SOURCE, CheckpointPoller, MariaDB, ServerPair, native_env
from tests.servers.process import find_binary, self_signed_certificate

REPLICATION_PASSWORD = "repl-pw-4"
RATE = 300  # transactions/s the writer aims at; the issue asks for ≥ 200
ENV = {
    "MIGRATE_TARGET_PASSWORD": PASSWORD,
    "MIGRATE_SOURCE_PASSWORD": PASSWORD,
    "MIGRATE_REPLICATION_PASSWORD": REPLICATION_PASSWORD,
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPair]:
    """Source and target; the source offers TLS, as the replica's connection to it needs by default."""
    if find_binary("openssl") is None:
        missing("openssl")
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("source-tls"))
    yield from started_pair((*REPLICATION_SOURCE, f"--ssl-cert={cert}", f"--ssl-key={key}"))


@pytest.fixture
def shop(pair: ServerPair, request: pytest.FixtureRequest) -> Iterator[Shop]:
    """A betting shop's database on the source, empty on the target; afterwards both servers are put back
    (source writable, target replicating nothing) whatever the test left."""
    shop = Shop(pair, f"shop_{request.node.name[5:30]}")
    shop.create()
    yield shop
    shop.writer.stop()
    _sql(pair.source, None, "SET GLOBAL read_only = OFF")
    _sql(
        pair.target,
        None,
        "STOP SLAVE",
        "RESET SLAVE ALL",
        "SET GLOBAL replicate_wild_do_table = ''",
        "SET GLOBAL replicate_rewrite_db = ''",
    )


def migrate(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=ENV, catch_exceptions=False)


def _status(server: MariaDB) -> dict:
    with server.root_connection() as conn, conn.cursor(DictCursor) as cur:
        cur.execute("SHOW SLAVE STATUS")
        return cur.fetchone()


def _sql(server: MariaDB, database: str | None, *statements: str) -> list[tuple]:
    with server.root_connection(database) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
        return list(cur.fetchall())


class Shop:
    def __init__(self, pair: ServerPair, name: str) -> None:
        self.pair, self.name = pair, name
        self.writer = Writer(pair.source, name, RATE)

    @property
    def source_url(self) -> str:
        return self.pair.source.url(self.name)

    @property
    def target_url(self) -> str:
        return self.pair.target.url(self.name)

    def create(self, games: int = 20_000) -> None:
        self.pair.source.create_database(self.name)
        self.pair.target.create_database(self.name)
        create_schema(self.pair.source, self.name)
        _sql(
            self.pair.source,
            self.name,
            "CREATE TABLE games (id INT PRIMARY KEY, name VARCHAR(30), odds DECIMAL(8,3))",
            f"INSERT INTO games SELECT seq, CONCAT('game ', seq), seq / 7 FROM seq_1_to_{games}",
        )

    def dump(self, path: Path, *flags: str, coordinates: tuple[str, ...] = ("--master-data=2", "--gtid")) -> Path:
        """mariadb-dump as the runbook says: one consistent snapshot, with its binlog coordinates."""
        with path.open("wb") as out:
            subprocess.run(
                [
                    "mariadb-dump",
                    *self.pair.source.client_args(),
                    "--single-transaction",
                    *coordinates,
                    *flags,
                    self.name,
                ],
                stdout=out,
                check=True,
                env=native_env(),
            )
        return path

    def link(self, *extra: str, tls: bool = False) -> list[str]:
        """Both servers. The tool's own connections are on loopback; ``tls`` is the replica's to the source."""
        return [
            "--source",
            self.source_url,
            "--target",
            self.target_url,
            *([] if tls else ["--allow-plaintext"]),
            *extra,
        ]

    def state(self) -> dict:
        rows = _sql(self.pair.target, self.name, f"SELECT replication FROM `{TABLE}`")
        return json.loads(rows[0][0]) if rows and rows[0][0] else {}

    def read_only(self) -> int:
        return _sql(self.pair.source, None, "SELECT @@GLOBAL.read_only")[0][0]

    def assert_target_equals_source(self) -> None:
        """Counts, an independent checksum (CHECKSUM TABLE: both servers run the same version and row
        format) and the last booking the application saw committed."""
        tables = "accounts, ledger, games"
        for server in (self.pair.source, self.pair.target):
            assert _sql(server, self.name, "SELECT COUNT(*) FROM ledger") != [(0,)]
        source = _sql(self.pair.source, self.name, f"CHECKSUM TABLE {tables}")
        target = _sql(self.pair.target, self.name, f"CHECKSUM TABLE {tables}")
        assert [(t.split(".")[1], c) for t, c in source] == [(t.split(".")[1], c) for t, c in target]
        count = (
            "SELECT (SELECT COUNT(*) FROM ledger), (SELECT SUM(balance) FROM accounts), (SELECT COUNT(*) FROM games)"
        )
        assert _sql(self.pair.source, self.name, count) == _sql(self.pair.target, self.name, count)
        assert self.writer.last_id > 0
        last = f"SELECT COUNT(*) FROM ledger WHERE id = {self.writer.last_id}"
        assert _sql(self.pair.target, self.name, last) == [(1,)]


def _run(shop: Shop, dump: Path, *extra: str) -> None:
    loaded = migrate("run", str(dump), "--target", shop.target_url, *extra)
    assert loaded.exit_code == 0, loaded.output
    assert "replication can start from binlog." in loaded.output


def test_replicated_cutover_under_write_load(shop, tmp_path):
    writer = shop.writer.start()
    began = time.monotonic()
    writer.wait(100)
    dump = shop.dump(tmp_path / "shop.sql")
    inspected = migrate("inspect", str(dump))
    assert inspected.exit_code == 0 and "replication: from binlog.000001:" in inspected.output
    _run(shop, dump)
    started = migrate("replicate", "start", *shop.link("--create-replication-user", tls=True))
    assert started.exit_code == 0, started.output
    assert "replication: running" in started.output and "by GTID" in started.output
    # The replica reads the binary log over TLS: its user may not connect otherwise.
    [grants] = _sql(shop.pair.source, None, "SHOW GRANTS FOR 'migrate_repl'@'%'")
    assert "REPLICATION SLAVE" in grants[0] and "REQUIRE SSL" in grants[0] and "SELECT" not in grants[0]
    assert _status(shop.pair.target)["Master_SSL_Allowed"] == "Yes"
    status = migrate("replicate", "status", *shop.link("--sample", "0.5", tls=True))
    assert status.exit_code == 0, status.output
    assert "behind:" in status.output and "ETA:" in status.output and "last error: none" in status.output
    writing = time.monotonic()

    cutover = migrate("cutover", *shop.link("--report", str(tmp_path / "cutover.json"), tls=True))
    writer.stop()
    assert cutover.exit_code == 0, cutover.output
    # The writer kept its pace through the dump, the load and the catch-up.
    assert writer.achieved(began, writing) >= 200, writer.achieved(began, writing)
    assert "3 tables, all match" in cutover.output
    assert "write freeze: " in cutover.output
    report = json.loads((tmp_path / "cutover.json").read_text())
    assert 0 < report["freeze_seconds"] < 30 and report["how"] == "read_only"
    # All three tables were verified ahead; the freeze verified only those the app wrote since.
    assert report["ahead"]["tables"] == 3 and report["verified_in_freeze"] == "written since the check ahead"
    assert sorted(v["table"] for v in report["verdicts"]) == ["accounts", "ledger"]
    assert shop.read_only() == 1  # the old server stays read-only for rollback
    shop.assert_target_equals_source()
    assert _sql(shop.pair.target, None, "SHOW SLAVE STATUS") == []
    after = migrate("replicate", "status", *shop.link())
    assert after.exit_code == 0 and "ended by migrate cutover" in after.output
    again = migrate("cutover", *shop.link())
    assert again.exit_code == 0 and "already done" in again.output


def test_a_dump_without_coordinates_is_plain_cutover_only(shop, tmp_path):
    dump = shop.dump(tmp_path / "plain.sql", coordinates=())
    inspected = migrate("inspect", str(dump))
    assert inspected.exit_code == 0 and "plain cutover only" in inspected.output
    loaded = migrate("run", str(dump), "--target", shop.target_url)
    assert loaded.exit_code == 0 and "plain cutover only" in loaded.output
    refused = migrate("replicate", "start", *shop.link())
    assert refused.exit_code == 2 and "plain cutover only" in refused.output
    assert _sql(shop.pair.target, None, "SHOW SLAVE STATUS") == []


def _migrate_process(*args: str, stdin: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from migrate.cli import main; main()", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **ENV},
    )


def _kill_when(proc: subprocess.Popen, ready, what: str) -> None:
    """SIGKILL ``proc`` the moment ``ready()`` holds; the kill must land while it still runs."""
    while proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"{what}: finished before the kill ({proc.stderr.read().decode()})"


def test_kill_9_in_every_phase_then_the_rerun_completes(shop, tmp_path):
    writer = shop.writer.start()
    writer.wait(100)
    # One row per INSERT: enough statements for a kill to land inside the load.
    dump = shop.dump(tmp_path / "shop.sql", "--skip-extended-insert")
    target = shop.pair.target

    load = _migrate_process("run", str(dump), "--target", shop.target_url)
    assert CheckpointPoller(target, shop.name).wait(load, 500), "the load finished before 500 statements"
    load.send_signal(signal.SIGKILL)
    load.wait()
    _run(shop, dump, "--resume")

    start = _migrate_process("replicate", "start", *shop.link("--create-replication-user"))
    _kill_when(start, lambda: _sql(target, None, "SHOW SLAVE STATUS") != [], "replicate start")
    rerun = migrate("replicate", "start", *shop.link())
    assert rerun.exit_code == 0 and "replication: running" in rerun.output, rerun.output

    # While the target lags (its applier waits on a lock held there), the cutover waits, freezing nothing.
    with target.root_connection(shop.name) as blocker, blocker.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT * FROM accounts FOR UPDATE")
        time.sleep(1.5)
        catching_up = _migrate_process("cutover", *shop.link("--max-lag", "0.5"))
        time.sleep(1.5)
        _kill_when(catching_up, lambda: True, "cutover catching up")
        assert shop.read_only() == 0 and shop.state().get("cutover") is None
        cur.execute("ROLLBACK")

    frozen = _migrate_process("cutover", *shop.link())
    _kill_when(frozen, lambda: shop.read_only() == 1, "cutover freezing")
    assert shop.read_only() == 1  # still frozen: the rerun continues the same attempt

    verifying = _migrate_process("cutover", *shop.link())
    _kill_when(verifying, lambda: (shop.state().get("cutover") or {}).get("step") == "stopped", "cutover verifying")

    final = migrate("cutover", *shop.link())
    writer.stop()
    assert final.exit_code == 0, final.output
    assert "continuing the cutover from step 'stopped'" in final.output
    shop.assert_target_equals_source()
    assert writer.refused > 0  # the app met the freeze


def test_conflicts_are_refused_with_the_error_and_the_source_writable_again(shop, tmp_path):
    writer = shop.writer.start()
    writer.wait(50)
    _run(shop, shop.dump(tmp_path / "shop.sql"))
    source, target = shop.pair.source, shop.pair.target
    # The source is checked before anything changes: MIXED logs some changes as statements.
    _sql(source, None, "SET GLOBAL binlog_format = 'MIXED'")
    refused = migrate("replicate", "start", *shop.link("--create-replication-user"))
    _sql(source, None, "SET GLOBAL binlog_format = 'ROW'")
    assert refused.exit_code == 2 and "binlog_format is MIXED" in refused.output, refused.output
    assert _sql(target, None, "SHOW SLAVE STATUS") == []
    assert migrate("replicate", "start", *shop.link("--create-replication-user")).exit_code == 0

    # A row planted on the target that the source then writes too: the replica is delayed, so it
    # stops on the conflict only after the freeze, which must then be undone.
    _sql(target, None, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 2", "START SLAVE")
    planted = writer.last_id + 30
    _sql(target, shop.name, f"INSERT INTO ledger (id, account, amount) VALUES ({planted}, 0, 0.01)")
    while writer.last_id < planted:
        time.sleep(0.005)
    refused = migrate("cutover", *shop.link("--max-lag", "30", "--timeout", "20"))
    assert refused.exit_code == 1, refused.output
    # The check ahead applies up to a position past the conflict: it stops there, before any freeze.
    assert "Duplicate entry" in refused.output and "nothing was frozen" in refused.output
    assert shop.read_only() == 0
    committed = len(writer.commits)
    writer.wait(committed + 20)  # the app writes again

    # The conflict repaired, replication catches up; an extra row where replication never writes is
    # invisible to it, and the exact verification must catch it.
    _sql(target, shop.name, f"DELETE FROM ledger WHERE id = {planted}")
    _sql(target, None, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 0", "START SLAVE")
    _sql(target, shop.name, "INSERT INTO games VALUES (0, 'planted', 1.000)")
    mismatch = migrate("cutover", *shop.link())
    assert mismatch.exit_code == 1, mismatch.output
    assert "differs from the source at binlog." in mismatch.output and "(checked ahead, writes on) in games" in (
        mismatch.output
    )
    assert "nothing was frozen" in mismatch.output and "replication resumed" in mismatch.output
    assert shop.read_only() == 0
    assert json.loads(_sql(target, shop.name, f"SELECT replication FROM `{TABLE}`")[0][0])["cutover"] is None

    _sql(target, shop.name, "DELETE FROM games WHERE id = 0")
    done = migrate("cutover", *shop.link())
    writer.stop()
    assert done.exit_code == 0, done.output
    shop.assert_target_equals_source()
    assert _sql(source, None, "SELECT @@GLOBAL.read_only") == [(1,)]


def _cutover_after_the_check_ahead(shop: Shop, then: Callable[[], None]) -> list[str]:
    """migrate cutover, doing ``then`` the moment the check ahead has passed, before the freeze; what it said."""
    said = []

    def say(message: str, err: bool = False) -> None:
        said.append(message)
        if message.startswith("checked ahead at "):
            then()

    link = Link(
        LinkOptions(
            source=parse_url(shop.source_url, database_required=False),
            source_password=PASSWORD,
            target=parse_url(shop.target_url),
            target_password=PASSWORD,
            allow_plaintext=True,
        )
    )
    try:
        Cutover(link, CutoverOptions(), say).run()
    finally:
        link.close()
    return said


def test_what_changed_after_the_check_ahead_is_verified_in_the_freeze(shop, tmp_path):
    writer = shop.writer.start()
    writer.wait(50)
    _run(shop, shop.dump(tmp_path / "shop.sql"))
    assert migrate("replicate", "start", *shop.link("--create-replication-user")).exit_code == 0
    source, target = shop.pair.source, shop.pair.target

    # A row replication never writes, planted in a table the app writes on: the freeze's verify sees it.
    with pytest.raises(CutoverRefused) as refused:
        _cutover_after_the_check_ahead(
            shop,
            lambda: _sql(target, shop.name, "INSERT INTO ledger (id, account, amount) VALUES (1000000000, 0, 0.01)"),
        )
    assert "differs from the frozen source in ledger" in str(refused.value)
    assert "the source is read-write again" in str(refused.value) and "replication resumed" in str(refused.value)
    assert shop.read_only() == 0 and shop.state()["cutover"] is None
    _sql(target, shop.name, "DELETE FROM ledger WHERE id = 1000000000")

    # As a kill -9 inside the check ahead leaves it: the applier stopped, the attempt at that step.
    _sql(target, None, "STOP SLAVE SQL_THREAD")
    _sql(
        target,
        shop.name,
        f"UPDATE `{TABLE}` SET replication = JSON_SET(replication, '$.cutover', JSON_OBJECT('step', 'ahead'))",
    )

    # DDL after the check: the binary log no longer says which tables changed, so all are verified.
    said = _cutover_after_the_check_ahead(shop, lambda: _sql(source, shop.name, "ALTER TABLE games COMMENT 'odds'"))
    writer.stop()
    assert "the last attempt stopped in its check ahead" in said[0], said
    assert any("verifying every table with writes frozen" in m and "ALTER TABLE games" in m for m in said), said
    assert "exact verify of 3 tables (every table)" in said[-2]
    shop.assert_target_equals_source()


# Stand-ins with the names and signatures of RDS for MariaDB's procedures; each records its call.
RDS_STAND_INS = (
    "CREATE TABLE IF NOT EXISTS mysql.rds_calls (n INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64), args TEXT)",
    "CREATE PROCEDURE mysql.rds_set_external_master_gtid(host_name VARCHAR(255), host_port INT, "
    "replication_user_name VARCHAR(255), replication_user_password VARCHAR(255), gtid VARCHAR(255), "
    "ssl_encryption INT) BEGIN "
    "INSERT INTO mysql.rds_calls (name, args) VALUES ('rds_set_external_master_gtid', "
    "CONCAT_WS(',', host_name, host_port, replication_user_name, gtid, ssl_encryption)); "
    "SET GLOBAL gtid_slave_pos = gtid; "
    "EXECUTE IMMEDIATE CONCAT('CHANGE MASTER TO MASTER_HOST=', QUOTE(host_name), ', MASTER_PORT=', host_port, "
    "', MASTER_USER=', QUOTE(replication_user_name), ', MASTER_PASSWORD=', QUOTE(replication_user_password), "
    "', MASTER_USE_GTID=slave_pos, MASTER_SSL=', ssl_encryption); END",
    "CREATE PROCEDURE mysql.rds_set_external_master(host_name VARCHAR(255), host_port INT, "
    "replication_user_name VARCHAR(255), replication_user_password VARCHAR(255), "
    "mysql_binary_log_file_name VARCHAR(255), mysql_binary_log_file_location INT, ssl_encryption INT) BEGIN "
    "INSERT INTO mysql.rds_calls (name) VALUES ('rds_set_external_master'); END",
    "CREATE PROCEDURE mysql.rds_start_replication() BEGIN "
    "INSERT INTO mysql.rds_calls (name) VALUES ('rds_start_replication'); START SLAVE; END",
    "CREATE PROCEDURE mysql.rds_stop_replication() BEGIN "
    "INSERT INTO mysql.rds_calls (name) VALUES ('rds_stop_replication'); STOP SLAVE; END",
    "CREATE PROCEDURE mysql.rds_reset_external_master() BEGIN "
    "INSERT INTO mysql.rds_calls (name) VALUES ('rds_reset_external_master'); RESET SLAVE ALL; END",
)
RDS_NAMES = (
    "rds_set_external_master_gtid",
    "rds_set_external_master",
    "rds_start_replication",
    "rds_stop_replication",
    "rds_reset_external_master",
)


@pytest.fixture
def rds_target(pair: ServerPair) -> Iterator[MariaDB]:
    _sql(pair.target, None, *RDS_STAND_INS)
    yield pair.target
    _sql(
        pair.target,
        None,
        *(f"DROP PROCEDURE IF EXISTS mysql.{name}" for name in RDS_NAMES),
        "DROP TABLE mysql.rds_calls",
    )


def test_rds_procedures_drive_the_whole_flow(shop, rds_target, tmp_path):
    writer = shop.writer.start()
    writer.wait(50)
    _run(shop, shop.dump(tmp_path / "shop.sql"))
    # RDS cannot be told filters by its master user: they come from the DB parameter group. The source
    # holds other databases, so without one the target would try to apply theirs.
    refused = migrate("replicate", "start", *shop.link("--create-replication-user"))
    assert refused.exit_code == 2 and "replicate-wild-do-table" in refused.output, refused.output
    _sql(rds_target, None, f"SET GLOBAL replicate_wild_do_table = '{shop.name}.%'")  # the parameter group

    started = migrate("replicate", "start", *shop.link("--create-replication-user"))
    assert started.exit_code == 0, started.output
    cutover = migrate("cutover", *shop.link())
    writer.stop()
    assert cutover.exit_code == 0, cutover.output
    shop.assert_target_equals_source()
    calls = _sql(rds_target, None, "SELECT name, args FROM mysql.rds_calls ORDER BY n")
    gtid = json.loads(_sql(rds_target, shop.name, f"SELECT origin FROM `{TABLE}`")[0][0])["gtid"]
    assert calls == [
        ("rds_set_external_master_gtid", f"127.0.0.1,{shop.pair.source.port},migrate_repl,{gtid},0"),
        ("rds_start_replication", None),
        ("rds_stop_replication", None),
        ("rds_reset_external_master", None),
    ]


def test_without_the_privilege_the_operator_stops_the_app(shop, tmp_path):
    source = shop.pair.source
    # An operator account that may read and watch the binary log but not set read_only.
    _sql(
        source,
        None,
        "CREATE USER IF NOT EXISTS 'ops'@'127.0.0.1' IDENTIFIED BY 'ops-pw'",
        "GRANT SELECT, REPLICATION CLIENT ON *.* TO 'ops'@'127.0.0.1'",
    )
    writer = shop.writer.start()
    writer.wait(50)
    _run(shop, shop.dump(tmp_path / "shop.sql"))
    assert migrate("replicate", "start", *shop.link("--create-replication-user")).exit_code == 0
    as_ops = [
        "--source",
        f"mysql+pymysql://ops@127.0.0.1:{source.port}/{shop.name}",
        "--target",
        shop.target_url,
        "--allow-plaintext",
    ]
    declined = CliRunner().invoke(
        cli, ["cutover", *as_ops], input="not yet\n", env={**ENV, "MIGRATE_SOURCE_PASSWORD": "ops-pw"}
    )
    assert declined.exit_code == 1, declined.output
    assert "stopped at the operator's answer" in declined.output and "start the app there again" in declined.output
    assert shop.state()["cutover"] is None and shop.read_only() == 0
    cutover = subprocess.Popen(
        [sys.executable, "-c", "from migrate.cli import main; main()", "cutover", *as_ops],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **ENV, "MIGRATE_SOURCE_PASSWORD": "ops-pw"},
    )
    asked = b""
    while b"type 'frozen'" not in asked:
        chunk = os.read(cutover.stderr.fileno(), 4096)
        assert chunk, f"migrate ended without asking: {asked.decode()}"
        asked += chunk
    assert b"may not set read_only" in asked
    writer.stop()  # the operator stops the app, then confirms
    out, err = cutover.communicate(b"frozen\n", timeout=120)
    assert cutover.returncode == 0, (asked + err).decode() + out.decode()
    assert b"write freeze: " in out
    assert shop.read_only() == 0  # never frozen by migrate: the operator stopped the writers
    shop.assert_target_equals_source()
