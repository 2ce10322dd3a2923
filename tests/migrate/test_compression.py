"""Protocol compression: negotiated in the handshake, proved on the server and on the wire.

MariaDB offers zlib only, and no MySQL server can be installed here (Debian ships none): zstd is
negotiated against a scripted MySQL 8 handshake written below from the protocol documentation,
which frames its packets on its own.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import struct
import threading

import pymysql
import pytest
import zstandard
from pymysql.constants import CLIENT

from bench.link import Link, LinkSpec
from migrate.checkpoint import TABLE
from migrate.compression import CLIENT_ZSTD, choose, frame, parse_header, zlib_codec
from migrate.connection import connect, parse_url, remote
from migrate.errors import BadInput
from migrate.splitter import split
from tests.migrate.conftest import migrate, query, show_create
from tests.migrate.test_resume import start_run
from tests.servers.mariadb import PASSWORD, USER, CheckpointPoller, MariaDB

MYSQL8 = "8.0.36"
MARIADB = "10.11.19-MariaDB-0+deb12u1"
ZSTD_AND_ZLIB = CLIENT.COMPRESS | CLIENT_ZSTD


@pytest.mark.parametrize(
    ("mode", "capabilities", "version", "remote", "expected"),
    [
        ("auto", ZSTD_AND_ZLIB, MYSQL8, False, None),  # loopback: compressing costs more than it saves
        ("auto", ZSTD_AND_ZLIB, MYSQL8, True, "zstd"),
        ("auto", CLIENT.COMPRESS, MARIADB, True, "zlib"),
        ("auto", ZSTD_AND_ZLIB, MARIADB, True, "zlib"),  # bit 26 is not zstd on MariaDB
        ("auto", 0, MYSQL8, True, None),
        ("zlib", ZSTD_AND_ZLIB, MYSQL8, False, "zlib"),
        ("zstd", ZSTD_AND_ZLIB, MYSQL8, False, "zstd"),
        ("off", ZSTD_AND_ZLIB, MYSQL8, True, None),
    ],
)
def test_the_codec_follows_the_mode_the_server_and_the_distance(mode, capabilities, version, remote, expected):
    codec = choose(mode, capabilities, version, remote)
    assert (codec.name if codec else None) == expected


@pytest.mark.parametrize(
    ("url", "far"),
    [
        ("mysql+pymysql://u@localhost/db", False),
        ("mysql+pymysql://u@127.0.0.5:3307/db", False),
        ("mysql+pymysql://u@[::1]/db", False),
        ("mysql+pymysql://u@localhost/db?unix_socket=/run/mysqld.sock", False),
        ("mysql+pymysql://u@db.abc123.eu-west-1.rds.amazonaws.com/db", True),
        ("mysql+pymysql://u@10.20.30.40/db", True),
    ],
)
def test_auto_compresses_for_every_target_but_a_local_one(url, far):
    assert remote(parse_url(url)) is far


@pytest.mark.parametrize(
    ("mode", "capabilities", "message"),
    [
        ("zstd", CLIENT.COMPRESS, "MariaDB speaks zlib only"),
        ("zlib", 0, "does not offer protocol compression"),
    ],
)
def test_an_algorithm_the_server_does_not_offer_is_refused(mode, capabilities, message):
    with pytest.raises(BadInput, match=message):
        choose(mode, capabilities, MARIADB, True)


def test_a_frame_carries_its_lengths_and_small_payloads_travel_as_they_are():
    codec = zlib_codec()
    big, small = b"abc" * 1000, b"x" * 49
    length, sequence, size = parse_header(frame(big, 7, codec)[:7])
    assert (sequence, size) == (7, len(big)) and length < len(big) / 10
    assert frame(small, 255, codec) == bytes([49, 0, 0, 255, 0, 0, 0]) + small
    noise = random.Random(1).randbytes(4000)  # would grow: sent as is
    assert parse_header(frame(noise, 0, codec)[:7]) == (4000, 0, 0)


# -- zstd against a scripted MySQL 8 handshake ---------------------------------------------------


def _packet(payload: bytes, sequence: int) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([sequence]) + payload


def _compressed(inner: bytes, sequence: int, zstd: zstandard.ZstdCompressor) -> bytes:
    body = zstd.compress(inner)
    return struct.pack("<I", len(body))[:3] + bytes([sequence]) + struct.pack("<I", len(inner))[:3] + body


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        assert chunk, "client hung up"
        data += chunk
    return data


class ScriptedMySQL8:
    """Greets as MySQL 8.0 offering zlib and zstd, records the client's handshake response, then
    answers two commands in zstd-compressed packets: SET NAMES, and one query it keeps."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshake = b""
        self.queries: list[bytes] = []
        self.sequences: list[int] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            capabilities = (
                CLIENT.LONG_PASSWORD
                | CLIENT.LONG_FLAG
                | CLIENT.CONNECT_WITH_DB
                | CLIENT.COMPRESS
                | CLIENT.PROTOCOL_41
                | CLIENT.TRANSACTIONS
                | CLIENT.SECURE_CONNECTION
                | CLIENT.MULTI_STATEMENTS
                | CLIENT.MULTI_RESULTS
                | CLIENT.PLUGIN_AUTH
                | CLIENT_ZSTD
            )
            salt = b"abcdefghijklmnopqrst"
            greeting = (
                b"\x0a"
                + MYSQL8.encode()
                + b"\0"
                + struct.pack("<I", 7)
                + salt[:8]
                + b"\0"
                + struct.pack("<HBHHB", capabilities & 0xFFFF, 45, 2, capabilities >> 16, 21)
                + b"\0" * 10
                + salt[8:]
                + b"\0"
                + b"mysql_native_password\0"
            )
            conn.sendall(_packet(greeting, 0))
            length = struct.unpack("<I", _read_exact(conn, 4)[:3] + b"\0")[0]
            self.handshake = _read_exact(conn, length)
            conn.sendall(_packet(b"\x00\x00\x00\x02\x00\x00\x00", 2))  # OK: logged in, from here compressed
            zstd, unzstd = zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor()
            for _ in range(2):
                header = _read_exact(conn, 7)
                size = int.from_bytes(header[4:7], "little")
                body = _read_exact(conn, int.from_bytes(header[:3], "little"))
                inner = unzstd.decompress(body, max_output_size=size) if size else body
                self.sequences.append(header[3])
                self.queries.append(inner[5:])  # after the packet header and COM_QUERY
                ok = b"\x00\x00\x00\x02\x00\x00\x00" + b"done " * 40  # an OK with a message: worth compressing
                conn.sendall(_compressed(_packet(ok, 1), 1, zstd))

    def close(self) -> None:
        self.listener.close()


def test_zstd_is_asked_for_with_its_level_and_frames_both_ways():
    server = ScriptedMySQL8()
    try:
        endpoint = parse_url(f"mysql+pymysql://app@127.0.0.1:{server.port}/db")
        conn = connect(endpoint, "pw", None, compress="zstd")
        statement = b"DO '" + b"compressible " * 400 + b"'"
        conn.query(statement)
        assert conn.codec.name == "zstd" and conn._result.message.startswith(b"done done")
        conn._force_close()
    finally:
        server.close()
    flags = struct.unpack("<I", server.handshake[:4])[0]
    assert flags & CLIENT_ZSTD and not flags & CLIENT.COMPRESS
    assert server.handshake.endswith(b"mysql_native_password\0\x03")  # the level, after everything else
    assert server.queries == [b"SET NAMES utf8mb4", statement]
    assert server.sequences == [0, 0]  # every command restarts the compressed sequence


# -- zlib against a real MariaDB ---------------------------------------------------------------


def compressed(server: MariaDB, database: str, **options: object) -> pymysql.Connection:
    return connect(parse_url(server.url(database)), PASSWORD, None, compress="zlib", **options)


@pytest.fixture
def big_packets(target):
    """max_allowed_packet raised for one test (statements above 16 MB span two protocol packets)."""
    with target.root_connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.max_allowed_packet")
        before = cur.fetchone()[0]
        cur.execute("SET GLOBAL max_allowed_packet = 64 * 1024 * 1024")
    yield
    with target.root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"SET GLOBAL max_allowed_packet = {before:d}")


def test_mariadb_agrees_to_zlib_and_every_size_of_packet_crosses_both_ways(target, dbname, big_packets):
    value = random.Random(3).randbytes(9_000_000).hex()  # 18 MB: two packets of the plain protocol
    with compressed(target, dbname) as conn, conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Compression'")
        assert cur.fetchone() == ("Compression", "ON")
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, v LONGTEXT)")
        cur.execute("INSERT INTO big VALUES (1, %s)", (value,))
        cur.execute("SELECT v FROM big")
        assert cur.fetchone()[0] == value
        cur.execute("SELECT seq, REPEAT('r', 100) FROM seq_1_to_100000")  # many compressed packets
        assert len(cur.fetchall()) == 100_000


def link_url(link: Link, database: str) -> str:
    return f"mysql+pymysql://{USER}@127.0.0.1:{link.port}/{database}"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The benchmark's dump at 4 MB: escapes, raw BLOB bytes, NULLs, four tables, LOAD DATA-able rows."""
    from bench.migrate import generate

    path = tmp_path_factory.mktemp("generated") / "dump.sql"
    return path, generate(path, 4)


def test_migrate_run_sends_its_rows_compressed_and_auto_leaves_loopback_alone(target, generated, tmp_path):
    path, rows = generated
    up = {}
    for mode in ("zlib", "off"):
        target.create_database(f"wire_{mode}")
        report = tmp_path / f"{mode}.json"
        with Link(LinkSpec.parse("unlimited:0ms"), ("127.0.0.1", target.port)) as link:
            result = migrate(
                "run",
                str(path),
                "--target",
                link_url(link, f"wire_{mode}"),
                "--compress",
                mode,
                "--report",
                str(report),
            )
            up[mode] = link.bytes_up
        assert json.loads(report.read_text())["compression"] == mode
        assert result.exit_code == 0, result.output
        assert f"compression {mode}" in result.output and "4 tables, all match" in result.output
    size = path.stat().st_size
    assert up["zlib"] < 0.4 * size < size < up["off"]
    assert query(target, "wire_zlib", "SELECT COUNT(*) FROM orders") == [(rows["orders"],)]
    target.create_database("wire_auto")
    auto = migrate("run", str(path), "--target", target.url("wire_auto"))
    assert auto.exit_code == 0 and "compression off" in auto.output


def test_zstd_asked_of_mariadb_stops_before_anything_is_written(target, dbname, generated):
    result = migrate("run", str(generated[0]), "--target", target.url(dbname), "--compress", "zstd")
    assert result.exit_code == 2
    assert "does not offer zstd protocol compression (MariaDB speaks zlib only)" in result.output
    assert query(target, dbname, "SHOW TABLES") == []


def test_kill_9_over_a_compressed_link_then_resume_loads_every_row_once(source, target, sakila):
    # Kill points come from the checkpoint, read over the server's socket; the load itself goes
    # compressed through a link with a delay, so that batches are in flight when it dies.
    database = "sakila_compressed"
    target.create_database(database)
    poller = CheckpointPoller(target, database)
    rnd = random.Random(21)
    with sakila.open("rb") as f:
        total = sum(1 for _ in split(f.read))
    with Link(LinkSpec.parse("unlimited:4ms"), ("127.0.0.1", target.port)) as link:
        kills = 0
        while kills < 3:
            done = poller.statement()
            proc = start_run(
                target, database, sakila, "--resume", "--compress", "zlib", "--jobs", "4", url=link_url(link, database)
            )
            if poller.wait(proc, min(done + rnd.randrange(5, 60), total - 1)):
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
            assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
        final = migrate("run", str(sakila), "--target", link_url(link, database), "--resume", "--compress", "zlib")
    assert final.exit_code == 0, final.output
    assert "compression zlib" in final.output
    verified = migrate("verify", "--source", source.url("sakila"), "--target", target.url(database))
    assert verified.exit_code == 0 and "16 tables, all match" in verified.output, verified.output
    assert show_create(target, database) == show_create(source, "sakila")
    assert query(target, database, f"SELECT complete FROM `{TABLE}`") == [(1,)]


def test_local_infile_switched_off_mid_load_costs_a_retry_not_a_row(target, dbname, tmp_path):
    # Once a table has taken LOAD DATA its rows follow the statement unasked; a server that then
    # refuses drops the connection. The load must come back from its checkpoint, ask first, learn
    # that LOCAL is off, and finish with INSERTs: every row once.
    lines = [b"CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(255)) ENGINE=InnoDB;\n"]
    for chunk in range(40):
        rows = ",".join(f"({chunk * 4_000 + i},'{'y' * 200}')" for i in range(4_000))
        lines.append(f"INSERT INTO big VALUES {rows};\n".encode())
    path = tmp_path / "big.sql"
    path.write_bytes(b"".join(lines))
    proc = start_run(target, dbname, path, "--compress", "zlib", "--jobs", "2")
    try:
        assert CheckpointPoller(target, dbname).wait(proc, 6)
        with target.root_connection() as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL local_infile = 0")
        out, err = proc.communicate(timeout=300)
    finally:
        with target.root_connection() as conn, conn.cursor() as cur:
            cur.execute("SET GLOBAL local_infile = 1")
    assert proc.returncode == 0, err.decode()
    assert b"connection lost; retry 1/8" in err  # the refused LOAD DATA took its connection with it
    assert b" 0 batches re-sent" not in out  # and the resumed load sent the rest as INSERTs
    assert query(target, dbname, "SELECT COUNT(*), COUNT(DISTINCT id) FROM big") == [(160_000, 160_000)]
