"""Open a dump (.sql, .sql.gz, stdin or an S3 object) as a byte stream that knows how far it has got.

Gzip is recognised by its magic bytes, not the file name, so ``mysqldump | gzip | migrate run -``
works too. Progress is measured on the raw (compressed) bytes, the only size known up front.

A file or an S3 object can be opened again at a statement part-way (``Restart``, for a resumed
load): at the statement's byte in a plain dump, at an access point of the gzip stream before it in
a compressed one (inflate.py). ``restart_at`` says how for a statement already read; ``identity``
tells the file or object from another put in its place.
"""

from __future__ import annotations

import gzip
import os
import stat
import sys
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from migrate.errors import BadInput
from migrate.inflate import LIBZ, AccessPoint, Inflater
from migrate.s3_stream import RANGE, S3Stream, is_s3

GZIP_MAGIC = b"\x1f\x8b"
# The dump tools write binary-log coordinates at either end of a dump (coordinates.py): the first
# and last bytes read are kept for them.
HEAD_BYTES = 1 << 20
TAIL_BYTES = 64 << 10
SKIP_CHUNK = 8 << 20


@dataclass(frozen=True)
class Restart:
    """Where to open a dump again: the statement at decompressed ``offset``."""

    offset: int
    point: AccessPoint | None = None  # gzip: where inflating starts again, at or before ``offset``

    @property
    def raw(self) -> int:
        """The first byte of the stored dump to read."""
        return self.point.raw if self.point is not None else self.offset


class _Counting:
    """A raw reader that counts the bytes handed to the decompressor."""

    def __init__(self, raw: BinaryIO | S3Stream, prefix: bytes, position: int = 0) -> None:
        self.raw = raw
        self.prefix = prefix
        self.position = position

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n - len(self.prefix) if n is not None and n >= 0 else -1)
        if self.prefix:
            data, self.prefix = self.prefix + data, b""
        self.position += len(data)
        return data


class DumpSource:
    def __init__(self, path: str, restart: Restart | None = None, range_size: int = RANGE) -> None:
        self.name = "<stdin>" if path == "-" else path
        self.path = path
        self.restart = restart
        start = restart.raw if restart is not None else 0
        self.identity: dict[str, object] | None = None  # None: this source cannot be opened again
        if path == "-":
            raw: BinaryIO | S3Stream = sys.stdin.buffer
            self.size: int | None = None
        elif is_s3(path):
            raw = S3Stream(path, range_size=range_size, start=start)
            self.size, self.identity = raw.size, raw.identity
        else:
            try:
                raw = open(path, "rb")  # noqa: SIM115 - closed by close()
            except OSError as e:
                raise BadInput(f"cannot open: {e.strerror}", source=path) from None
            status = os.fstat(raw.fileno())
            self.size = status.st_size if stat.S_ISREG(status.st_mode) else None
            if self.size is not None:
                self.identity = {"file": self.size, "mtime_ns": status.st_mtime_ns}
                raw.seek(start)
        self._raw = raw
        head = raw.read(2) if restart is None else b""
        self._counting = _Counting(raw, head, start)
        self.compressed = head == GZIP_MAGIC if restart is None else restart.point is not None
        self._inflater: Inflater | None = None
        self._stream: BinaryIO | _Counting | Inflater = self._counting
        if self.compressed and LIBZ is not None:
            self._inflater = self._stream = Inflater(self._counting.read, restart.point if restart else None)
        elif self.compressed:  # no libz to drive: gzip as Python reads it, without access points
            self._stream = gzip.GzipFile(fileobj=self._counting, mode="rb")
        # Decompressed bytes produced so far: gzip restarts at an access point before the statement.
        self.decompressed = 0 if restart is None else restart.point.out if restart.point else restart.offset
        self._skip_to = restart.offset if restart is not None else 0  # nothing is read before read()
        self.head = b""
        self.tail = b""

    @property
    def position(self) -> int:
        """Raw bytes consumed so far (compressed bytes for gzip), from the start of the dump."""
        return self._counting.position

    def raw_offset(self, offset: int) -> int:
        """Estimate the raw (compressed) position of a decompressed offset already read."""
        if not self.compressed or not self.decompressed:
            return offset
        return int(self.position * offset / self.decompressed)

    def restart_at(self, offset: int) -> Restart | None:
        """How to open this dump again at the statement at decompressed ``offset`` (already read);
        None where it cannot be (stdin, gzip without an access point before it)."""
        if self.identity is None:
            return None
        if not self.compressed:
            return Restart(offset)
        point = self._inflater.point_before(offset) if self._inflater is not None else None
        return Restart(offset, point) if point is not None else None

    def read_head(self) -> None:
        """Read the dump's first bytes for ``head`` when this source was opened part-way."""
        with DumpSource(self.path, range_size=HEAD_BYTES) as start:
            while len(start.head) < HEAD_BYTES and start.read(HEAD_BYTES - len(start.head)):
                pass
            self.head = start.head

    def read(self, n: int) -> bytes:
        while self.decompressed < self._skip_to:  # gzip: from the access point to the statement
            if not self._decompress(min(SKIP_CHUNK, self._skip_to - self.decompressed)):
                break
        data = self._decompress(n)
        if len(self.head) < HEAD_BYTES and self.restart is None:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self.tail = (self.tail + data)[-TAIL_BYTES:] if len(data) < TAIL_BYTES else data[-TAIL_BYTES:]
        return data

    def _decompress(self, n: int) -> bytes:
        try:
            data = self._stream.read(n)
        except (gzip.BadGzipFile, zlib.error, EOFError, OSError) as e:
            raise BadInput(
                f"corrupt or truncated gzip ({e}) after {self.decompressed} bytes of SQL",
                source=self.name,
                offset=self.position,
            ) from None
        self.decompressed += len(data)
        return data

    def close(self) -> None:
        if self._inflater is not None:
            self._inflater.close()
        if self._raw is not sys.stdin.buffer:
            self._raw.close()

    def __enter__(self) -> DumpSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
