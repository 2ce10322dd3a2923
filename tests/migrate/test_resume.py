"""Exactly-once resume (issue 10): kill -9 anywhere, restart the server, change the dump."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import pytest

from migrate.checkpoint import TABLE
from migrate.databases import CHECKPOINT_SCHEMA
from migrate.splitter import split
from tests.migrate.conftest import migrate, query, show_create
from tests.servers.mariadb import PASSWORD, CheckpointPoller, MariaDB


def start_run(target: MariaDB, database: str, path, *extra: str, url: str | None = None) -> subprocess.Popen:
    """``migrate run`` in a process of its own, to be killed; ``url`` reaches the target another way."""
    env = {**os.environ, "MIGRATE_TARGET_PASSWORD": PASSWORD}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from migrate.cli import main; main()",
            "run",
            str(path),
            "--target",
            url or target.url(database),
            "--retries",
            "8",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def wait_for_checkpoint(proc: subprocess.Popen, target: MariaDB, database: str, statement: int) -> bool:
    return CheckpointPoller(target, database).wait(proc, statement)


def test_kill_9_at_ten_seeded_points_then_resume_loads_every_row_once(source, target, sakila, tmp_path):
    database = "sakila_killed"
    target.create_database(database)
    with sakila.open("rb") as f:
        total = sum(1 for _ in split(f.read))
    poller = CheckpointPoller(target, database)
    rnd = random.Random(10)
    kills = loads = 0
    while kills < 10:
        loads += 1
        assert loads <= 40, f"only {kills} of 40 loads were caught before they finished"
        done = poller.statement()
        if done >= total - 1:  # nothing left to interrupt: start this database over
            target.create_database(database)
            poller.conn = None
            continue
        proc = start_run(target, database, sakila, "--resume")
        if poller.wait(proc, rnd.randrange(done + 1, total)):
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read().decode()
    final = migrate("run", str(sakila), "--target", target.url(database), "--resume")
    assert final.exit_code == 0, final.output
    verified = migrate("verify", "--source", source.url("sakila"), "--target", target.url(database))
    assert verified.exit_code == 0, verified.output
    assert "16 tables, all match" in verified.output
    assert show_create(target, database) == show_create(source, "sakila")  # keys built after rows included
    assert query(
        target, database, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()"
    ) == [(6,)]
    assert query(
        target, database, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
    ) == [(6,)]
    assert query(target, database, f"SELECT complete FROM `{TABLE}`") == [(1,)]


def kill_load_after(target: MariaDB, database: str, dump, statement: int) -> None:
    """A fresh load into ``database``, killed with SIGKILL once ``statement`` is committed."""
    target.create_database(database)
    proc = start_run(target, database, dump)
    assert wait_for_checkpoint(proc, target, database, statement)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_without_resume_an_interrupted_load_is_not_overwritten(target, sakila):
    database = "sakila_half"
    kill_load_after(target, database, sakila, 100)
    again = migrate("run", str(sakila), "--target", target.url(database))
    assert again.exit_code == 2
    assert "stopped after line" in again.output and "--resume" in again.output


def test_resume_with_a_changed_dump_is_refused(target, sakila, tmp_path):
    database = "sakila_changed"
    kill_load_after(target, database, sakila, 150)
    changed = tmp_path / "changed.sql"
    changed.write_bytes(sakila.read_bytes().replace(b"'PENELOPE'", b"'PENELOPA'", 1))
    before = query(target, database, f"SELECT statement FROM `{TABLE}`")
    result = migrate("run", str(changed), "--target", target.url(database), "--resume")
    assert result.exit_code == 2
    assert "differs from the one the interrupted load was reading" in result.output
    assert query(target, database, f"SELECT statement FROM `{TABLE}`") == before


def test_resume_when_nothing_was_started_is_a_fresh_run_and_cleanup_drops_the_checkpoint(target, dbname, tmp_path):
    path = tmp_path / "d.sql"
    path.write_bytes(b"CREATE TABLE t (a INT PRIMARY KEY);\nINSERT INTO t VALUES (1),(2),(3);\n")
    first = migrate("run", str(path), "--target", target.url(dbname), "--resume")
    assert first.exit_code == 0, first.output
    assert query(target, dbname, f"SELECT statement, complete FROM `{TABLE}`") == [(2, 1)]
    # Resuming a finished load changes nothing and still verifies.
    again = migrate("run", str(path), "--target", target.url(dbname), "--resume", "--cleanup")
    assert again.exit_code == 0, again.output
    assert query(target, dbname, "SELECT COUNT(*) FROM t") == [(3,)]
    assert query(target, dbname, "SHOW TABLES") == [("t",)]


@pytest.fixture
def big_dump(tmp_path):
    """~30 MB in 1 MB statements: long enough, even on an idle machine, to restart the server in
    the middle of it."""
    lines = [b"CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(255));\n"]
    for chunk in range(30):
        base = chunk * 4_500
        rows = ",".join(f"({base + i},'{'x' * 200}')" for i in range(4_500))
        lines.append(f"INSERT INTO big VALUES {rows};\n".encode())
    path = tmp_path / "big.sql"
    path.write_bytes(b"".join(lines))
    return path


def test_target_restart_mid_load_completes_after_retries(target, dbname, big_dump):
    proc = start_run(target, dbname, big_dump)
    assert wait_for_checkpoint(proc, target, dbname, 4)
    target.restart(down_for=1.0)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert b"connection lost; retry 1/8" in err
    assert f"resuming reads {big_dump} from byte ".encode() in err  # the retry too starts at its restart point
    assert query(target, dbname, "SELECT COUNT(*), COUNT(DISTINCT id) FROM big") == [(135_000, 135_000)]


@pytest.mark.parametrize("restart_point", [True, False], ids=["restart-point", "none"])
def test_a_resumed_file_load_starts_at_its_restart_point_or_else_at_byte_0(target, dbname, big_dump, restart_point):
    proc = start_run(target, dbname, big_dump, "--jobs", "1")
    assert wait_for_checkpoint(proc, target, dbname, 15)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if not restart_point:  # as in a checkpoint an older migrate wrote
        with target.root_connection(dbname) as conn, conn.cursor() as cur:
            cur.execute(f"UPDATE `{TABLE}` SET anchor = NULL")
            conn.commit()
    resumed = migrate("run", str(big_dump), "--target", target.url(dbname), "--resume")
    assert resumed.exit_code == 0, resumed.output
    # Read from byte 0, the digest of the skipped statements still matches the one the killed run chained.
    assert (f"resuming reads {big_dump} from byte " in resumed.output) == restart_point
    assert ("resuming reads the dump from its start" in resumed.output) != restart_point
    assert query(target, dbname, "SELECT COUNT(*), COUNT(DISTINCT id) FROM big") == [(135_000, 135_000)]


def test_lost_connection_on_stdin_ends_with_the_resume_command(target, dbname, big_dump):
    env = {**os.environ, "MIGRATE_TARGET_PASSWORD": PASSWORD}
    with big_dump.open("rb") as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from migrate.cli import main; main()", "run", "-", "--target", target.url(dbname)],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert wait_for_checkpoint(proc, target, dbname, 4)
        target.restart()
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert f"continue with: migrate run - --target {target.url(dbname)} --resume" in err.decode()
    assert "Traceback" not in err.decode()
    with big_dump.open("rb") as stdin:
        resumed = migrate("run", "-", "--target", target.url(dbname), "--resume", input=stdin.read())
    assert resumed.exit_code == 0, resumed.output
    assert query(target, dbname, "SELECT COUNT(*), COUNT(DISTINCT id) FROM big") == [(135_000, 135_000)]


def test_a_load_placed_by_the_dumps_use_resumes_in_the_right_databases(target, tmp_path):
    # Two databases, ~400 kB rows so that a batch commits every few statements; killed while the
    # second database loads, then resumed: every row once, each in its own database.
    names = ["resume_a", "resume_b"]
    pad = "p" * 400_000
    parts = []
    for name in names:
        with target.root_connection() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        parts.append(
            f"CREATE DATABASE `{name}`;\nUSE `{name}`;\nCREATE TABLE `t` (id INT PRIMARY KEY, pad LONGTEXT);\n"
        )
        parts += [f"INSERT INTO `t` VALUES ({i},'{pad}');\n" for i in range(12)]
    path = tmp_path / "two.sql"
    path.write_text("".join(parts))
    with target.root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{CHECKPOINT_SCHEMA}`")
    proc = start_run(target, "", path, "--jobs", "1")
    assert CheckpointPoller(target, CHECKPOINT_SCHEMA).wait(proc, 20)  # past statement 15: USE resume_b
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = migrate("run", str(path), "--target", target.url(""), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resume_a.t" in resumed.output and "resume_b.t" in resumed.output
    for name in names:
        assert query(target, name, "SELECT COUNT(*), SUM(id) FROM t") == [(12, 66)]
