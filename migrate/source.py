"""Open a dump (.sql, .sql.gz, stdin or an S3 object) as a byte stream that knows how far it has got.

Gzip is recognised by its magic bytes, not the file name, so ``mysqldump | gzip | migrate run -``
works too. Progress is measured on the raw (compressed) bytes, the only size known up front.
"""

from __future__ import annotations

import gzip
import os
import sys
import zlib
from typing import BinaryIO

from migrate.errors import BadInput
from migrate.s3_stream import S3Stream, is_s3

GZIP_MAGIC = b"\x1f\x8b"
# The dump tools write binary-log coordinates at either end of a dump (coordinates.py): the first
# and last bytes read are kept for them.
HEAD_BYTES = 1 << 20
TAIL_BYTES = 64 << 10


class _Counting:
    """A raw reader that counts the bytes handed to the decompressor."""

    def __init__(self, raw: BinaryIO | S3Stream, prefix: bytes) -> None:
        self.raw = raw
        self.prefix = prefix
        self.position = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n - len(self.prefix) if n is not None and n >= 0 else -1)
        if self.prefix:
            data, self.prefix = self.prefix + data, b""
        self.position += len(data)
        return data


class DumpSource:
    def __init__(self, path: str) -> None:
        self.name = "<stdin>" if path == "-" else path
        if path == "-":
            raw: BinaryIO | S3Stream = sys.stdin.buffer
            self.size: int | None = None
        elif is_s3(path):
            raw = S3Stream(path)
            self.size = raw.size
        else:
            try:
                raw = open(path, "rb")  # noqa: SIM115 - closed by close()
            except OSError as e:
                raise BadInput(f"cannot open: {e.strerror}", source=path) from None
            self.size = os.fstat(raw.fileno()).st_size if os.path.isfile(path) else None
        self._raw = raw
        head = raw.read(2)
        self._counting = _Counting(raw, head)
        self.compressed = head == GZIP_MAGIC
        self._stream: BinaryIO | _Counting = (
            gzip.GzipFile(fileobj=self._counting, mode="rb") if self.compressed else self._counting
        )
        self.decompressed = 0
        self.head = b""
        self.tail = b""

    @property
    def position(self) -> int:
        """Raw bytes consumed so far (compressed bytes for gzip)."""
        return self._counting.position

    def raw_offset(self, offset: int) -> int:
        """Estimate the raw (compressed) position of a decompressed offset already read."""
        if not self.compressed or not self.decompressed:
            return offset
        return int(self.position * offset / self.decompressed)

    def read(self, n: int) -> bytes:
        try:
            data = self._stream.read(n)
        except (gzip.BadGzipFile, zlib.error, EOFError, OSError) as e:
            raise BadInput(f"corrupt or truncated gzip ({e}) after {self.decompressed} bytes of SQL",
                           source=self.name, offset=self.position) from None
        if len(self.head) < HEAD_BYTES:
            self.head += data[:HEAD_BYTES - len(self.head)]
        self.tail = (self.tail + data)[-TAIL_BYTES:] if len(data) < TAIL_BYTES else data[-TAIL_BYTES:]
        self.decompressed += len(data)
        return data

    def close(self) -> None:
        if self._raw is not sys.stdin.buffer:
            self._raw.close()

    def __enter__(self) -> DumpSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
