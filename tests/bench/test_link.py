"""The link emulator delays, caps and counts what crosses it (loopback echo servers, sub-second)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from bench.link import Link, LinkSpec


@pytest.fixture
def echo():
    """A loopback server that answers every read with the same bytes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()
    server.close()


def round_trips(port: int, count: int) -> float:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.monotonic()
        for _ in range(count):
            conn.sendall(b"ping")
            assert conn.recv(16) == b"ping"
        return time.monotonic() - started


def upload(port: int, size: int, done: list[float]) -> None:
    """Send ``size`` bytes and read them back; record when the last byte returned."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        reader = threading.Thread(target=lambda: _drain(conn, size), daemon=True)
        reader.start()
        conn.sendall(b"x" * size)
        reader.join()
    done.append(time.monotonic())


def _drain(conn: socket.socket, size: int) -> None:
    got = 0
    while got < size:
        got += len(conn.recv(1 << 16))


@pytest.mark.parametrize(
    ("text", "rate", "rtt", "jitter"),
    [
        ("20mbit:40ms", 20e6, 0.040, 0.0),
        ("100Mbit:20ms:2ms", 100e6, 0.020, 0.002),
        ("500kbit:0.25s", 500e3, 0.25, 0.0),
        ("unlimited:0ms", None, 0.0, 0.0),
    ],
)
def test_a_link_is_written_rate_colon_rtt(text, rate, rtt, jitter):
    assert LinkSpec.parse(text) == LinkSpec(rate, rtt, jitter)


@pytest.mark.parametrize("text", ["20mbit", "fast:40ms", "20mbit:40", "0mbit:1ms", "1mbit:1ms:1ms:1ms"])
def test_a_malformed_link_is_refused_naming_it(text):
    with pytest.raises(ValueError, match=text.split(":")[0] if text != "20mbit" else "RATE:RTT"):
        LinkSpec.parse(text)


def test_every_round_trip_costs_the_rtt(echo):
    with Link(LinkSpec.parse("unlimited:30ms"), echo) as link:
        elapsed = round_trips(link.port, 8)
    assert 8 * 0.030 <= elapsed < 8 * 0.030 + 0.5


def test_connections_share_the_bandwidth_and_every_byte_is_counted(echo):
    # 2 × 250 kB each way at 8 Mbit/s: 0.5 s on a shared wire (0.25 s if each had its own).
    with Link(LinkSpec.parse("8mbit:2ms"), echo) as link:
        done: list[float] = []
        started = time.monotonic()
        threads = [threading.Thread(target=upload, args=(link.port, 250_000, done)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = max(done) - started
        assert (link.bytes_up, link.bytes_down) == (500_000, 500_000)
    assert 0.5 <= elapsed < 0.5 + 0.6


def test_jitter_never_reorders_a_connections_bytes(echo):
    payload = bytes(range(256)) * 400
    with (
        Link(LinkSpec.parse("unlimited:2ms:5ms"), echo) as link,
        socket.create_connection(("127.0.0.1", link.port)) as conn,
    ):
        for at in range(0, len(payload), 1000):
            conn.sendall(payload[at : at + 1000])
        got = b""
        while len(got) < len(payload):
            got += conn.recv(1 << 16)
    assert got == payload
