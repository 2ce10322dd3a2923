"""A link emulator on loopback: a TCP proxy with a bandwidth cap per direction, a one-way delay and
optional jitter, for timing database clients as if the server were across a VPN.

    with Link(LinkSpec.parse("20mbit:40ms"), ("127.0.0.1", server_port)) as link:
        ... connect clients to 127.0.0.1:link.port ...
        link.bytes_up, link.bytes_down   # what crossed the emulated wire

The model, per direction (client → server is "up"):
* one wire shared by every connection, as a VPN tunnel is: a chunk waits for the chunks before it
  (of any connection) to leave, then takes len × 8 / rate seconds to serialise;
* it arrives RTT/2 after it left, plus a random 0..jitter; a connection's bytes never overtake
  each other (TCP delivers in order whatever the path does);
* each connection has at most ``window`` bytes queued or in flight per direction, like TCP's
  window: past that the proxy stops reading and the sender blocks, so one connection's upload
  cannot queue unboundedly in front of another's COMMIT. The proxy's own socket buffers are small
  for the same reason.
Not modelled: loss, TCP slow start and its restart after idle, MTU. The traffic is loopback only.
"""

from __future__ import annotations

import random
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

CHUNK = 64 << 10
_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}
_RATE = re.compile(r"(?i)^(\d+(?:\.\d+)?)\s*([kmg]?)bit$")
_TIME = re.compile(r"(?i)^(\d+(?:\.\d+)?)\s*(ms|s)$")


@dataclass(frozen=True)
class LinkSpec:
    """``RATE:RTT[:JITTER]``, e.g. ``20mbit:40ms`` or ``100mbit:20ms:2ms``; rate may be ``unlimited``."""

    rate_bps: float | None  # None: no bandwidth cap
    rtt: float  # seconds; each direction is delayed by half
    jitter: float = 0.0  # seconds of extra one-way delay, uniform in [0, jitter]

    @classmethod
    def parse(cls, text: str) -> LinkSpec:
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"{text!r}: expected RATE:RTT[:JITTER], e.g. 20mbit:40ms")
        rate: float | None = None
        if parts[0].lower() != "unlimited":
            match = _RATE.match(parts[0])
            if not match:
                raise ValueError(f"{text!r}: rate {parts[0]!r} is not like 20mbit, 500kbit or unlimited")
            rate = float(match[1]) * _UNITS[match[2].lower()]
            if rate <= 0:
                raise ValueError(f"{text!r}: the rate must be above 0")
        return cls(rate, *(_seconds(text, part) for part in parts[1:]))

    def __str__(self) -> str:
        rate = "unlimited" if self.rate_bps is None else f"{self.rate_bps / 1e6:g}mbit"
        return f"{rate}:{self.rtt * 1000:g}ms" + (f":{self.jitter * 1000:g}ms" if self.jitter else "")

    @property
    def window(self) -> int:
        """Bytes a connection may have queued or in flight per direction: twice the bandwidth-delay
        product (Linux autotunes TCP windows to about that), at least 256 KB."""
        if self.rate_bps is None:
            return 4 << 20
        return max(256 << 10, int(2 * self.rate_bps / 8 * (self.rtt + self.jitter)))


def _seconds(text: str, part: str) -> float:
    match = _TIME.match(part)
    if not match:
        raise ValueError(f"{text!r}: {part!r} is not a time like 40ms or 0.1s")
    return float(match[1]) / (1000 if match[2].lower() == "ms" else 1)


class Wire:
    """One direction of the link: when each chunk leaves and arrives, and how many bytes crossed it."""

    def __init__(self, spec: LinkSpec, rnd: random.Random) -> None:
        self.spec = spec
        self.rnd = rnd
        self.free_at = 0.0
        self.bytes = 0
        self.lock = threading.Lock()

    def arrival(self, size: int, now: float) -> float:
        with self.lock:
            self.bytes += size
            leaves = now
            if self.spec.rate_bps is not None:
                leaves = max(now, self.free_at) + size * 8 / self.spec.rate_bps
                self.free_at = leaves
            jitter = self.rnd.uniform(0, self.spec.jitter) if self.spec.jitter else 0.0
        return leaves + self.spec.rtt / 2 + jitter


class _Pipe:
    """One connection's bytes in one direction: a reader that schedules chunks on the wire, a writer
    that delivers them when they arrive."""

    def __init__(self, source: socket.socket, sink: socket.socket, wire: Wire, window: int) -> None:
        self.source, self.sink, self.wire, self.window = source, sink, wire, window
        self.queue: deque[tuple[float, bytes]] = deque()
        self.held = 0
        self.closed = False
        self.last_arrival = 0.0
        self.cond = threading.Condition()

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._read, daemon=True), threading.Thread(target=self._write, daemon=True)]
        for thread in threads:
            thread.start()
        return threads

    def _read(self) -> None:
        try:
            while True:
                with self.cond:
                    while self.held >= self.window and not self.closed:
                        self.cond.wait()
                    if self.closed:
                        return
                data = self.source.recv(CHUNK)
                if not data:
                    break
                arrives = self.wire.arrival(len(data), time.monotonic())
                with self.cond:
                    # In order, whatever the jitter drew.
                    self.last_arrival = max(self.last_arrival, arrives)
                    self.queue.append((self.last_arrival, data))
                    self.held += len(data)
                    self.cond.notify_all()
        except OSError:
            pass
        with self.cond:
            self.queue.append((0.0, b""))  # end of stream, after everything queued
            self.cond.notify_all()

    def _write(self) -> None:
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.closed:
                        self.cond.wait()
                    if self.closed:
                        return
                    arrives, data = self.queue[0]
                if not data:
                    self.sink.shutdown(socket.SHUT_WR)
                    return
                wait = arrives - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.sink.sendall(data)
                with self.cond:
                    self.queue.popleft()
                    self.held -= len(data)
                    self.cond.notify_all()
        except OSError:
            self.close()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class Link:
    """The proxy: listens on 127.0.0.1:``port`` and forwards every connection to ``upstream``."""

    def __init__(self, spec: LinkSpec, upstream: tuple[str, int], seed: int = 1) -> None:
        self.spec = spec
        self.upstream = upstream
        rnd = random.Random(seed)
        self.up, self.down = Wire(spec, rnd), Wire(spec, rnd)
        self.buffer = min(spec.window, 256 << 10)
        self.listener = socket.create_server(("127.0.0.1", 0))
        # Set before accept, inherited by accepted sockets: small kernel buffers keep the window honest.
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.buffer)
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.pipes: list[_Pipe] = []
        self.threads: list[threading.Thread] = []
        self.connections = 0
        self.acceptor = threading.Thread(target=self._accept, daemon=True)

    @property
    def bytes_up(self) -> int:
        return self.up.bytes

    @property
    def bytes_down(self) -> int:
        return self.down.bytes

    def __enter__(self) -> Link:
        self.acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.buffer)
            self.sockets += [client, server]
            self.connections += 1
            for pipe in (
                _Pipe(client, server, self.up, self.spec.window),
                _Pipe(server, client, self.down, self.spec.window),
            ):
                self.pipes.append(pipe)
                self.threads += pipe.start()

    def close(self) -> None:
        self.listener.close()
        for pipe in self.pipes:
            pipe.close()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in self.threads:
            thread.join(timeout=5)
