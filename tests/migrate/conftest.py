"""Two real MariaDB servers (source, target) for the whole session; one fresh database per test."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from migrate.checkpoint import TABLE
from migrate.cli import cli
from tests.conftest import missing
from tests.servers.mariadb import PASSWORD, MariaDB, ServerPair, missing_binaries, native_env

_names = itertools.count()


def started_pair(source_args: tuple[str, ...] = ()) -> Iterator[ServerPair]:
    """A started source and target for a fixture to yield from; missing binaries or a failed start skip
    (or fail, in CI) the tests that need them."""
    absent = missing_binaries()
    if absent:
        missing(f"MariaDB binaries: {', '.join(absent)}")
    pair = ServerPair(source_args)
    try:
        pair.start()
    except Exception as e:  # noqa: BLE001 - any start failure means "server unavailable"
        missing(f"MariaDB servers did not start: {e}")
    yield pair
    pair.stop()


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerPair]:
    yield from started_pair()


@pytest.fixture
def aws(monkeypatch):
    """Secrets Manager (moto, in process) in eu-west-1, with fake credentials only."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1")


@pytest.fixture
def source(servers: ServerPair) -> MariaDB:
    return servers.source


@pytest.fixture
def target(servers: ServerPair) -> MariaDB:
    return servers.target


@pytest.fixture
def dbname(request: pytest.FixtureRequest) -> str:
    """A database name unique to this test, created empty on both servers."""
    name = f"t{next(_names)}_{request.node.name[:40]}".replace("[", "_").replace("]", "").replace("-", "_")
    servers = request.getfixturevalue("servers")
    servers.source.create_database(name)
    servers.target.create_database(name)
    return name


def sql(server: MariaDB, database: str | None, statements: str | bytes) -> None:
    """Run a script through the native client, the way a real application's data would arrive."""
    data = statements.encode() if isinstance(statements, str) else statements
    proc = subprocess.run(["mariadb", *server.client_args(database)], input=data, env=native_env(), capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")


def query(server: MariaDB, database: str, text: str) -> list[tuple]:
    with server.root_connection(database) as conn, conn.cursor() as cur:
        cur.execute(text)
        return list(cur.fetchall())


def show_create(server: MariaDB, database: str) -> dict[str, str]:
    """Every table's definition but the checkpoint's."""
    return server.table_definitions(database, skip=(TABLE,))


def dump(server: MariaDB, database: str, path: Path, *flags: str) -> Path:
    with path.open("wb") as out:
        subprocess.run(
            [
                "mariadb-dump",
                *server.client_args(),
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                *flags,
                database,
            ],
            stdout=out,
            check=True,
            env=native_env(),
        )
    return path


def migrate(*args: str, password: str | None = PASSWORD, input: bytes | None = None) -> Result:
    env = {"MIGRATE_TARGET_PASSWORD": password, "MIGRATE_SOURCE_PASSWORD": password}
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


REPO = Path(__file__).resolve().parents[2]
# shared/ sits beside the checkout (CI) or beside the worktrees' parent (developer machines).
SAKILA_CANDIDATES = [REPO.parent / "shared/fixtures/sakila", REPO.parent.parent / "shared/fixtures/sakila"]


@pytest.fixture(scope="session")
def sakila(servers, tmp_path_factory):
    """Sakila loaded into the source once; its real mariadb-dump."""
    fixtures = next((p for p in SAKILA_CANDIDATES if (p / "sakila-mv-schema.sql").exists()), None)
    if fixtures is None:
        missing(f"Sakila fixture in {' or '.join(map(str, SAKILA_CANDIDATES))}")
    for name in ("sakila-mv-schema.sql", "sakila-mv-data.sql"):
        sql(servers.source, None, (fixtures / name).read_bytes())
    return dump(servers.source, "sakila", tmp_path_factory.mktemp("sakila") / "sakila.sql")
