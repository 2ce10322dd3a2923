"""The native client is the oracle: each dump from the wild (dumps_from_the_wild.py) is loaded by
`mariadb <` into the source server and by `migrate run` into the target, and the two results are
compared table by table (definition, rows, a content checksum) and object by object (routines,
triggers, views, sequences; DEFINERs aside, since migrate removes them as RDS requires)."""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess

import pytest

from migrate.checkpoint import TABLE
from migrate.databases import CHECKPOINT_SCHEMA
from tests.migrate.conftest import migrate, query
from tests.migrate.dumps_from_the_wild import DUMPS, mariadb_dump, mysqldump_databases
from tests.servers.mariadb import MariaDB, native_env

_prefixes = itertools.count()
# What each dump's verdict is: the GUI export's REPLACE leaves its table's count to `migrate verify`.
EXIT_CODES = {"gui-exports": 3}


def native_input(server: MariaDB, dump: bytes) -> bytes:
    """The documented rewrites for `mariadb <` into MariaDB: GTID_PURGED is a MySQL variable, and MySQL 8
    collations are renamed when the server lacks them (this dump holds neither name in its data)."""
    dump = re.sub(rb"SET @@GLOBAL\.GTID_PURGED=[^;]*;", b"", dump)
    if not query(
        server,
        "mysql",
        "SELECT COUNT(*) FROM information_schema.COLLATIONS WHERE COLLATION_NAME = 'utf8mb4_0900_ai_ci'",
    )[0][0]:
        dump = dump.replace(b"utf8mb4_0900_ai_ci", b"utf8mb4_unicode_520_ci")
    return dump


def native_load(server: MariaDB, dump: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["mariadb", *server.client_args()], input=native_input(server, dump), env=native_env(), capture_output=True
    )


def snapshot(server: MariaDB, database: str) -> dict[str, object]:
    """Everything a load leaves in ``database`` that the two loads must agree on."""
    found: dict[str, object] = {}
    for table, kind in query(
        server,
        database,
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
    ):
        if kind == "VIEW":
            continue
        if kind == "SEQUENCE":
            found[f"sequence {table}"] = (
                query(server, database, f"SHOW CREATE SEQUENCE `{table}`")[0][1],
                query(server, database, f"SELECT * FROM `{table}`"),
            )
            continue
        rows = sorted(map(repr, query(server, database, f"SELECT * FROM `{table}`")))
        found[f"table {table}"] = (
            query(server, database, f"SHOW CREATE TABLE `{table}`")[0][1],
            len(rows),
            hashlib.sha256("\n".join(rows).encode()).hexdigest(),
        )
    for kind, sql in (
        (
            "view",
            "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, SECURITY_TYPE FROM information_schema.VIEWS "
            "WHERE TABLE_SCHEMA = DATABASE()",
        ),
        (
            "trigger",
            "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, ACTION_STATEMENT, "
            "SQL_MODE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
        ),
        (
            "routine",
            "SELECT ROUTINE_NAME, ROUTINE_TYPE, DTD_IDENTIFIER, ROUTINE_DEFINITION, IS_DETERMINISTIC, "
            "SQL_DATA_ACCESS, SQL_MODE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()",
        ),
    ):
        for row in query(server, database, sql):
            found[f"{kind} {row[0]}"] = row[1:]
    return found


def fresh(servers, dump: bytes, databases: list[str]) -> None:
    """The dump's databases absent (or empty, where the dump only USEs them) on both servers."""
    for server in (servers.source, servers.target):
        with server.root_connection() as conn, conn.cursor() as cur:
            for database in databases:
                cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
                if b"CREATE DATABASE" not in dump:
                    cur.execute(f"CREATE DATABASE `{database}`")
            cur.execute(f"DROP DATABASE IF EXISTS `{CHECKPOINT_SCHEMA}`")


@pytest.mark.parametrize("name", DUMPS)
def test_every_dump_loads_as_the_native_client_loads_it(servers, tmp_path, name):
    build, names = DUMPS[name]
    prefix = f"o{next(_prefixes)}_"
    dump, databases = build(prefix), [prefix + n for n in names]
    fresh(servers, dump, databases)
    native = native_load(servers.source, dump)
    assert native.returncode == 0, native.stderr.decode(errors="replace")
    path = tmp_path / f"{name}.sql"
    path.write_bytes(dump)

    result = migrate("run", str(path), "--target", servers.target.url(""))

    assert result.exit_code == EXIT_CODES.get(name, 0), result.output
    for database in databases:
        expected = snapshot(servers.source, database)
        assert any(v[1] for k, v in expected.items() if k.startswith("table"))  # it compares rows, not nothing
        assert snapshot(servers.target, database) == expected, database
    for database in databases:
        # The verdict names tables by database, as the dump placed them; and migrate's own checksums agree.
        assert f"{database}." in result.output
        verified = migrate("verify", "--source", servers.source.url(database), "--target", servers.target.url(database))
        assert verified.exit_code == 0, verified.output


@pytest.mark.parametrize("build", [mariadb_dump, mysqldump_databases])
def test_a_url_database_is_refused_before_any_write_when_the_dump_places_objects_elsewhere(servers, tmp_path, build):
    prefix = f"o{next(_prefixes)}_"
    path = tmp_path / "dump.sql"
    path.write_bytes(build(prefix))
    servers.target.create_database(f"{prefix}other")
    result = migrate("run", str(path), "--target", servers.target.url(f"{prefix}other"))
    assert result.exit_code == 2, result.output
    assert query(servers.target, f"{prefix}other", "SHOW TABLES") == []
    if build is mysqldump_databases:
        assert "loads into 2 databases" in result.output
        return
    # USE `app` with DEFAULT nextval(`app`.`ids`): the USE is dropped, so the default would point nowhere.
    line = next(i for i, text in enumerate(path.read_bytes().split(b"\n"), 1) if b"nextval(" in text)
    assert f"names database `{prefix}app`" in result.output
    assert f"line {line - 1}" in result.output  # the CREATE TABLE that holds it starts a line earlier
    assert f"--map-database {prefix}app={prefix}other" in result.output


def test_map_database_renames_the_database_and_the_names_qualified_with_it(servers, tmp_path):
    prefix = f"o{next(_prefixes)}_"
    dump = mariadb_dump(prefix)
    fresh(servers, dump, [f"{prefix}app", f"{prefix}renamed"])
    native = native_load(servers.source, dump)
    assert native.returncode == 0, native.stderr.decode(errors="replace")
    path = tmp_path / "app.sql"
    path.write_bytes(dump)
    servers.target.create_database(f"{prefix}renamed")
    result = migrate(
        "run", str(path), "--target", servers.target.url(""), "--map-database", f"{prefix}app={prefix}renamed"
    )
    assert result.exit_code == 0, result.output
    assert "database names mapped" in result.output
    renamed = {k: v for k, v in snapshot(servers.target, f"{prefix}renamed").items()}
    original = snapshot(servers.source, f"{prefix}app")
    assert {k: v[1:] for k, v in renamed.items() if k.startswith("table")} == {
        k: v[1:] for k, v in original.items() if k.startswith("table")
    }
    # The column default follows the map: the next id comes from the renamed database's sequence.
    with servers.target.root_connection(f"{prefix}renamed") as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO items (name, price) VALUES ('new', 1)")
        cur.execute("SELECT MAX(id) FROM items")
        assert cur.fetchone()[0] == 1041
    assert query(servers.target, CHECKPOINT_SCHEMA, f"SELECT complete FROM `{TABLE}`") == [(1,)]


def test_map_database_needs_a_url_without_a_database(target, dbname):
    result = migrate("run", "-", "--target", target.url(dbname), "--map-database", "a=b")
    assert result.exit_code == 2 and "leave it out of the URL" in result.output


def test_client_stderr_captured_into_the_dump_is_refused_naming_the_line(servers, target, tmp_path):
    dump = (
        b"mysqldump: [Warning] Using a password on the command line interface can be insecure.\n"
        + mysqldump_databases(f"o{next(_prefixes)}_")
    )
    path = tmp_path / "captured.sql"
    path.write_bytes(dump)
    assert native_load(servers.source, dump).returncode != 0  # the native client refuses it too
    result = migrate("run", str(path), "--target", target.url(""))
    assert result.exit_code == 2 and "line 1" in result.output and "not SQL" in result.output, result.output
