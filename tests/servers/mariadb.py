"""Throwaway MariaDB servers for tests and benchmarks (DESIGN §6).

Each server gets its own datadir, loopback port and socket under a temp dir, and a password user
(``migrate``) so tests exercise real authentication; root logs in over the socket only.
The system tables are installed once into a template and copied, which halves start-up time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from tests.servers.process import find_binary, free_port, self_signed_certificate, stop_process, wait_ready

USER = "migrate"
PASSWORD = "s3cret-pw!"
# "mariadb", not "mysql": Debian 13 moved the mysql* names to mariadb-client-compat.
BINARIES = ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-dump")


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if find_binary(name) is None]


def install_template(root: Path) -> Path:
    template = root / "template"
    subprocess.run(
        [
            find_binary("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={template}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            "--user=root",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return template


def start_requiring_tls(name: str, root: Path) -> tuple[MariaDB, Path]:
    """A started server that, like RDS with ``require_secure_transport = 1``, refuses connections without
    TLS; and its self-signed certificate, the CA its clients trust (it stands in for the RDS CA bundle)."""
    cert, key = self_signed_certificate(root / f"{name}-tls")
    server = MariaDB(name, root, extra_args=(f"--ssl-cert={cert}", f"--ssl-key={key}", "--require-secure-transport=ON"))
    server.start(install_template(root))
    return server, cert


@dataclass
class MariaDB:
    name: str
    root: Path
    extra_args: tuple[str, ...] = ()
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def datadir(self) -> Path:
        return self.root / self.name / "data"

    @property
    def socket_path(self) -> str:
        return str(self.root / self.name / "mysqld.sock")

    @property
    def log_path(self) -> Path:
        return self.root / self.name / "error.log"

    def start(self, template: Path, timeout: float = 60) -> None:
        shutil.copytree(template, self.datadir)
        self.port = free_port()
        self._launch(timeout)
        with self.root_connection() as conn, conn.cursor() as cur:
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"CREATE USER '{USER}'@'{host}' IDENTIFIED BY %s", (PASSWORD,))
                cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'{host}' WITH GRANT OPTION")

    def restart(self, down_for: float = 0.0, timeout: float = 60) -> None:
        """Stop and start again on the same datadir and port, as a server reboot would."""
        self.stop()
        time.sleep(down_for)
        self._launch(timeout)

    def _launch(self, timeout: float) -> None:
        self.process = subprocess.Popen(
            [
                find_binary("mariadbd"),
                "--no-defaults",
                "--user=root",
                f"--datadir={self.datadir}",
                f"--socket={self.socket_path}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--log-error={self.log_path}",
                f"--pid-file={self.root / self.name / 'mysqld.pid'}",
                "--innodb-buffer-pool-size=128M",
                "--innodb-log-file-size=64M",
                "--innodb-flush-log-at-trx-commit=2",
                "--skip-name-resolve",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_ready(self, lambda: self.root_connection().close(), pymysql.err.OperationalError, self.log_path, timeout)

    def stop(self) -> None:
        stop_process(self.process, timeout=60)
        self.process = None

    def root_connection(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(
            unix_socket=self.socket_path, user="root", database=database, charset="utf8mb4", autocommit=True
        )

    def table_definitions(self, database: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
        """SHOW CREATE TABLE of every base table: its columns, keys and their order."""
        with self.root_connection(database) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_TYPE = 'BASE TABLE'"
            )
            tables = [t for (t,) in cur.fetchall() if t not in skip]
            definitions = {}
            for table in tables:
                cur.execute(f"SHOW CREATE TABLE `{table}`")
                definitions[table] = cur.fetchone()[1]
        return definitions

    def url(self, database: str) -> str:
        return f"mysql+pymysql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, database: str) -> None:
        with self.root_connection() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")

    def client_args(self, database: str | None = None) -> list[str]:
        """Arguments for the native clients (mysql, mariadb-dump) as root over the socket."""
        return [
            "--no-defaults",
            f"--socket={self.socket_path}",
            "--user=root",
            "--default-character-set=utf8mb4",
            *([database] if database else []),
        ]


# A source a replica can follow row for row (migrate replicate start checks for exactly this).
REPLICATION_SOURCE = ("--log-bin=binlog", "--server-id=1", "--binlog-format=ROW", "--binlog-row-image=FULL")


class ServerPair:
    """A source and a target server sharing one temp root; target has binlog on, like RDS."""

    def __init__(self, source_args: tuple[str, ...] = ()) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="migrate-mariadb-"))
        self.source = MariaDB("source", self.root, source_args)
        self.target = MariaDB(
            "target", self.root, ("--log-bin=binlog", "--server-id=2", "--log-bin-trust-function-creators=1")
        )

    def start(self) -> None:
        template = install_template(self.root)
        try:
            self.source.start(template)
            self.target.start(template)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        self.source.stop()
        self.target.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class CheckpointPoller:
    """Watches a running ``migrate run`` commit, through the checkpoint it keeps in the target, over
    one open connection: a fresh connection per poll is too slow to catch a burst of small DDL.
    Kill points chosen this way land where the load really is, not where a timer guessed."""

    def __init__(self, server: MariaDB, database: str) -> None:
        self.server, self.database, self.conn = server, database, None

    def statement(self) -> int:
        """The ordinal of the last committed dump statement; 0 before the first."""
        from migrate.checkpoint import TABLE

        try:
            if self.conn is None:
                self.conn = self.server.root_connection(self.database)
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT statement FROM `{TABLE}` WHERE id = 1")
                row = cur.fetchone()
                return row[0] if row else 0
        except pymysql.err.MySQLError:
            self.conn = None  # not created yet, or the server is restarting
            return 0

    def wait(self, proc: subprocess.Popen, statement: int) -> bool:
        """Poll until the load has committed past ``statement``; False if it finished first."""
        while proc.poll() is None:
            if self.statement() >= statement:
                return True
            time.sleep(0.001)
        return False


def native_env() -> dict[str, str]:
    """Environment for native client subprocesses: no user option files leak in."""
    return {**os.environ, "MYSQL_HOME": "/nonexistent"}
