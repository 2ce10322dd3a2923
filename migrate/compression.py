"""The MySQL compressed protocol (zlib, zstd) under PyMySQL's packets.

PyMySQL has no protocol compression, and the drivers that do (mysqlclient, Connector/Python) would
send LOAD DATA LOCAL rows only from a file the C library opens, need a C client library on the
operator's machine, and would replace the connection API the loader, its exactly-once checkpoint
and the raw LOAD DATA exchange (load_data.py) are written against. The framing is small, so it lives
here, below PyMySQL's packets: after the handshake every write becomes compressed packets and every
read comes out of decompressed ones; nothing above this layer changes.

Framing (MySQL internals, "Compressed Packet"): a 7-byte header, the payload's length (3 bytes), a
sequence number of its own (1 byte) and the uncompressed length (3 bytes, 0 for a payload sent as
is: MySQL sends payloads under 50 bytes, and any that would not shrink, uncompressed). Each payload
is a standalone zlib stream or zstd frame holding one or more ordinary packets, headers included.
The compressed sequence restarts at 0 with every command, and the server checks only it: the plain
packets' numbers inside follow the compressed sequence whenever the direction changes, as MySQL's
net_serv does (it sets its packet number from the compressed one on every flush and read).

zlib and zstd compress in C with the GIL released, so the reader and the other connections carry on
while a batch is being compressed. The level is the MySQL client's (zlib 6); zstd's default is 3.
"""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import pymysql
from pymysql import err
from pymysql.constants import CLIENT

from migrate.errors import BadInput

# MySQL 8.0.18+: the client may ask for zstd, and then appends its level to the handshake response.
CLIENT_ZSTD = 1 << 26
MODES = ("auto", "zlib", "zstd", "off")
MIN_COMPRESS = 50  # MySQL's and Connector/J's threshold: smaller payloads travel as they are
MAX_PAYLOAD = (1 << 24) - 1
# Unsent bytes a compressed (so: remote) connection's socket may hold: little, so that a write
# returns once the data is nearly on the wire, which lets loading connections take turns on the
# link (send_order.py). TCP's window still decides what is in flight.
UNSENT_BYTES = 128 << 10
ZLIB_LEVEL = 6
ZSTD_LEVEL = 3
_HEADER = struct.Struct("<HBBHB")  # lengths are 3 bytes: (low 16, high 8) twice around the sequence


@dataclass(frozen=True)
class Codec:
    name: str
    flag: int  # the capability that asks the server for it
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes, int], bytes]
    handshake_suffix: bytes = b""  # appended to the handshake response


def zlib_codec(level: int = ZLIB_LEVEL) -> Codec:
    return Codec(
        "zlib",
        CLIENT.COMPRESS,
        lambda data: zlib.compress(data, level),
        lambda data, size: zlib.decompress(data, bufsize=size),
    )


def zstd_codec(level: int = ZSTD_LEVEL) -> Codec:
    import zstandard  # deferred: only MySQL 8 targets can use it

    # One compressor per connection: zstandard's objects are not thread-safe, connections are per thread.
    compressor, decompressor = zstandard.ZstdCompressor(level=level), zstandard.ZstdDecompressor()
    return Codec(
        "zstd",
        CLIENT_ZSTD,
        compressor.compress,
        lambda data, size: decompressor.decompress(data, max_output_size=size),
        bytes([level]),
    )


def zstd_available() -> bool:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def choose(mode: str, capabilities: int, version: str, remote: bool) -> Codec | None:
    """The codec to ask the server for. ``auto``: none on loopback (compressing costs CPU that a local
    socket does not repay), else zstd when the server offers it, else zlib, else none. An explicit
    algorithm the server does not offer is refused rather than silently sent uncompressed."""
    # MariaDB's capability bits above 1 << 25 mean other things: only MySQL offers zstd.
    zstd = bool(capabilities & CLIENT_ZSTD) and "mariadb" not in version.lower()
    zlib_offered = bool(capabilities & CLIENT.COMPRESS)
    if mode == "off" or (mode == "auto" and not remote):
        return None
    if mode == "auto":
        if zstd and zstd_available():
            return zstd_codec()
        return zlib_codec() if zlib_offered else None
    if mode == "zstd":
        if not zstd:
            raise BadInput(
                f"--compress zstd: the server ({version}) does not offer zstd protocol compression "
                "(MariaDB speaks zlib only): use --compress zlib or auto"
            )
        if not zstd_available():
            raise BadInput("--compress zstd needs the zstandard package (pip install zstandard)")
        return zstd_codec()
    if mode == "zlib":
        if not zlib_offered:
            raise BadInput(f"--compress zlib: the server ({version}) does not offer protocol compression")
        return zlib_codec()
    raise BadInput(f"--compress: {mode!r} is not one of {', '.join(MODES)}")


def frame(payload: bytes, sequence: int, codec: Codec) -> bytes:
    """One compressed packet around ``payload`` (at most MAX_PAYLOAD bytes)."""
    size = 0
    if len(payload) >= MIN_COMPRESS:
        packed = codec.compress(payload)
        if len(packed) < len(payload):
            payload, size = packed, len(payload)
    length = len(payload)
    return _HEADER.pack(length & 0xFFFF, length >> 16, sequence, size & 0xFFFF, size >> 16) + payload


def parse_header(header: bytes) -> tuple[int, int, int]:
    """(payload length, sequence, uncompressed length: 0 when the payload is not compressed)."""
    low, high, sequence, size_low, size_high = _HEADER.unpack(header)
    return low | high << 16, sequence, size_low | size_high << 16


class CompressingConnection(pymysql.connections.Connection):
    """A PyMySQL connection that negotiates compression (``compress``: one of MODES) in its handshake
    and then frames every packet. ``codec`` says what was agreed (None: plain packets)."""

    def __init__(self, *args: object, compress: str = "off", remote: bool = True, **kwargs: object) -> None:
        self.compress_mode = compress
        self.remote = remote
        self.codec: Codec | None = None
        self._suffix = b""  # for the handshake response, once
        self._sequence = 0  # the compressed packets' own
        self._new_command = False
        self._writing = False
        self._inbox = bytearray()
        self._consumed = 0
        super().__init__(*args, **kwargs)

    # -- the handshake: ask for the codec, switch it on once logged in -------------------------

    def _request_authentication(self) -> None:
        codec = choose(self.compress_mode, self.server_capabilities, self.server_version, self.remote)
        if codec is not None:
            self.client_flag |= codec.flag
            self._suffix = codec.handshake_suffix
        super()._request_authentication()
        self.codec = codec
        if codec is not None and hasattr(socket, "TCP_NOTSENT_LOWAT"):  # Linux, macOS
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, UNSENT_BYTES)

    def write_packet(self, payload: bytes) -> None:
        if self._suffix and len(payload) > 32:
            # The handshake response; not the 32-byte TLS request before it, nor what auth sends after.
            payload, self._suffix = payload + self._suffix, b""
        if self.codec is not None and not self._writing:
            self._next_seq_id = self._sequence
        super().write_packet(payload)

    # -- commands: the compressed sequence restarts with each ----------------------------------

    def _execute_command(self, command: int, sql: bytes | str) -> None:
        self._new_command = True  # after any results still unread, which pymysql drains first
        super()._execute_command(command, sql)

    def close(self) -> None:
        self._new_command = True
        super().close()

    def restart_sequence(self, number: int, writing: bool) -> None:
        """Continue the current command at packet ``number``, both sequences: for a LOAD DATA whose
        rows are sent before the server's request for them is read (load_data.send)."""
        self._next_seq_id = number
        if self.codec is not None:
            self._sequence, self._writing = number, writing

    def _write_bytes(self, data: bytes) -> None:
        if self.codec is None:
            return super()._write_bytes(data)
        if self._new_command:
            self._new_command, self._sequence = False, 0
        self._writing = True
        for at in range(0, len(data), MAX_PAYLOAD):
            packet = frame(data[at : at + MAX_PAYLOAD], self._sequence, self.codec)
            self._sequence = (self._sequence + 1) % 256
            super()._write_bytes(packet)
        return None

    def _read_packet(self, packet_type: type = pymysql.protocol.MysqlPacket) -> pymysql.protocol.MysqlPacket:
        if self.codec is not None and self._writing:
            self._writing = False
            self._next_seq_id = self._sequence
        return super()._read_packet(packet_type)

    def _read_bytes(self, num_bytes: int) -> bytes:
        if self.codec is None:
            return super()._read_bytes(num_bytes)
        while len(self._inbox) - self._consumed < num_bytes:
            self._receive()
        data = bytes(self._inbox[self._consumed : self._consumed + num_bytes])
        self._consumed += num_bytes
        return data

    def _receive(self) -> None:
        """Append the next compressed packet's contents to the inbox."""
        length, sequence, size = parse_header(super()._read_bytes(7))
        if sequence != self._sequence:
            self._force_close()
            raise err.InternalError(
                f"compressed packet sequence number wrong - got {sequence} expected {self._sequence}"
            )
        self._sequence = (sequence + 1) % 256
        payload = super()._read_bytes(length)
        if size:
            try:
                payload = self.codec.decompress(payload, size)
            except Exception as e:  # noqa: BLE001 - zlib.error, zstd.ZstdError: a corrupt stream either way
                self._force_close()
                raise err.OperationalError(2027, f"malformed compressed packet ({e})") from None
        del self._inbox[: self._consumed]
        self._consumed = 0
        self._inbox += payload
