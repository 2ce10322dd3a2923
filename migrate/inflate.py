"""Gzip that can be re-entered part-way, so that a resumed load need not read a dump from byte 0.

A deflate stream cannot be entered at an arbitrary byte: a block's back-references reach up to
32 KiB into the output before it, and blocks start at bit, not byte, boundaries. zlib's
examples/zran.c shows what re-entry needs at a block boundary: the compressed offset, the bits of
the last byte the block before it left unconsumed, and the 32 KiB window of output. Python's zlib
module never says where a block ends (it has no Z_BLOCK, inflatePrime or inflateSetDictionary),
so this drives libz itself through ctypes: ``inflate(Z_BLOCK)`` returns at each block boundary,
where every SPAN bytes of output an access point is kept, and ``Inflater(…, point)`` starts a raw
inflate there (``inflatePrime`` + ``inflateSetDictionary``).

The gzip framing is read here (header, members one after another, each checked against its CRC-32
and length as gzip does); a resumed member carries on the CRC from the access point.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
import threading
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from gzip import BadGzipFile

WINDOW = 32 << 10
SPAN = 1 << 20  # output between access points
# Access points a reader keeps: it runs ahead of the load by the parse queue and a chunk or two
# (read_ahead.py, splitter.py), well inside this many spans.
KEPT = 64
RAW_CHUNK = 256 << 10
OUT_CHUNK = 1 << 20  # inflated into a buffer of this size at a time: a large read does not keep a large one

_Z_OK, _Z_STREAM_END, _Z_NEED_DICT, _Z_BUF_ERROR = 0, 1, 2, -5
_Z_BLOCK = 5
_GZIP_MAGIC = b"\x1f\x8b"
_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 2, 4, 8, 16


class _ZStream(ctypes.Structure):
    _fields_ = [
        ("next_in", ctypes.c_void_p),
        ("avail_in", ctypes.c_uint),
        ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint),
        ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong),
        ("reserved", ctypes.c_ulong),
    ]


def _load_libz() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("z")
    try:
        lib = ctypes.CDLL(name or "libz.so.1")
    except OSError:
        return None
    stream = ctypes.POINTER(_ZStream)
    for function, args in (
        ("inflateInit2_", [stream, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]),
        ("inflate", [stream, ctypes.c_int]),
        ("inflateEnd", [stream]),
        ("inflateReset", [stream]),
        ("inflatePrime", [stream, ctypes.c_int, ctypes.c_int]),
        ("inflateSetDictionary", [stream, ctypes.c_char_p, ctypes.c_uint]),
    ):
        getattr(lib, function).argtypes = args
        getattr(lib, function).restype = ctypes.c_int
    lib.zlibVersion.restype = ctypes.c_char_p
    return lib


LIBZ = _load_libz()


@dataclass(frozen=True)
class AccessPoint:
    """Where inflating may start again: a deflate block boundary inside a gzip member."""

    raw: int  # offset of the compressed byte holding the first bit still to be read
    bits: int  # how many of that byte's bits (its high ones) are still to be read; 0: start at the byte
    out: int  # offset in the decompressed stream
    window: bytes  # the member's output before ``out``, up to WINDOW bytes
    crc: int  # CRC-32 of the member's output before ``out``
    member_out: int  # the member's output before ``out``


class Inflater:
    """``read(n)`` of the decompressed gzip stream whose compressed bytes ``read_raw`` returns from
    ``point.raw`` (or byte 0 without a point). ``position`` is the compressed bytes consumed, ``out``
    the decompressed bytes produced, both from the start of the stream."""

    def __init__(self, read_raw: Callable[[int], bytes], point: AccessPoint | None = None, span: int = SPAN) -> None:
        if LIBZ is None:
            raise OSError("libz cannot be loaded")
        self._read_raw = read_raw
        self.span = span
        self._stream = _ZStream()
        self._in = b""
        self._in_base = point.raw if point else 0  # compressed offset of self._in[0]
        self._in_used = 0  # bytes of self._in inflate has consumed
        self._out_buffer = ctypes.create_string_buffer(0)
        self.out = point.out if point else 0
        self._tail = point.window if point else b""  # the member's last WINDOW bytes of output
        self._crc = point.crc if point else 0
        self._member_out = point.member_out if point else 0
        self._last_point = self.out
        self._points: deque[AccessPoint] = deque(maxlen=KEPT)
        self._lock = threading.Lock()
        self._eof = False
        self._open = False
        # Nothing is read before the first read(): the caller may still decline the stream, and every
        # error is one of read()'s.
        self._started = False
        self._entry = point

    @property
    def position(self) -> int:
        return self._in_base + self._in_used

    def point_before(self, out: int) -> AccessPoint | None:
        """The last access point at or before decompressed offset ``out`` still kept."""
        with self._lock:
            return next((p for p in reversed(self._points) if p.out <= out), None)

    def read(self, n: int) -> bytes:
        if not self._started:
            self._started = True
            if self._entry is None:
                self._start_member()
            else:
                self._enter(self._entry)
        parts = []
        while n > 0 and not self._eof:
            data = self._inflate(min(n, OUT_CHUNK))
            if data:
                parts.append(data)
                n -= len(data)
        return b"".join(parts)

    def close(self) -> None:
        if self._open and LIBZ is not None:  # (at interpreter exit the module's names may be gone)
            LIBZ.inflateEnd(ctypes.byref(self._stream))
            self._open = False

    def __del__(self) -> None:
        self.close()

    # -- the deflate stream ----------------------------------------------------------------------

    def _init(self) -> None:
        if self._open:
            self._check(LIBZ.inflateReset(ctypes.byref(self._stream)))
            return
        version = LIBZ.zlibVersion()
        self._check(LIBZ.inflateInit2_(ctypes.byref(self._stream), -15, version, ctypes.sizeof(_ZStream)))
        self._open = True

    def _enter(self, point: AccessPoint) -> None:
        """Start inflating at ``point``, as zran.c does: the pending bits first, then the window."""
        self._init()
        if point.bits:
            byte = self._exact(1)[0]
            self._check(LIBZ.inflatePrime(ctypes.byref(self._stream), point.bits, byte >> (8 - point.bits)))
        if point.window:
            self._check(LIBZ.inflateSetDictionary(ctypes.byref(self._stream), point.window, len(point.window)))

    def _inflate(self, n: int) -> bytes:
        """Up to ``n`` bytes: inflate stops at every block boundary, where an access point may be kept."""
        if len(self._out_buffer) < n:
            self._out_buffer = ctypes.create_string_buffer(n)
        stream, base = self._stream, ctypes.addressof(self._out_buffer)
        stream.next_out, stream.avail_out = base, n
        produced_at = 0  # output of this call already accounted for (CRC, window)
        while stream.avail_out:
            if self._in_used == len(self._in) and not self._refill():
                raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            self._feed()
            code = LIBZ.inflate(ctypes.byref(stream), _Z_BLOCK)
            self._in_used = len(self._in) - stream.avail_in
            if code not in (_Z_OK, _Z_STREAM_END, _Z_BUF_ERROR):
                self._check(code)
            produced = n - stream.avail_out
            self._account(ctypes.string_at(base + produced_at, produced - produced_at))
            produced_at = produced
            if code == _Z_STREAM_END:
                self._end_member()
                break
            if stream.data_type & 0xC0 == 0x80 and self.out - self._last_point >= self.span:
                self._keep_point()
        return ctypes.string_at(base, produced_at)

    def _account(self, data: bytes) -> None:
        if not data:
            return
        self._crc = zlib.crc32(data, self._crc)
        self._member_out += len(data)
        self.out += len(data)
        self._tail = (self._tail + data)[-WINDOW:] if len(data) < WINDOW else data[-WINDOW:]

    def _keep_point(self) -> None:
        bits = self._stream.data_type & 7
        point = AccessPoint(self.position - (1 if bits else 0), bits, self.out, self._tail, self._crc, self._member_out)
        with self._lock:
            self._points.append(point)
        self._last_point = self.out

    def _feed(self) -> None:
        stream = self._stream
        stream.next_in = ctypes.cast(ctypes.c_char_p(self._in), ctypes.c_void_p).value + self._in_used
        stream.avail_in = len(self._in) - self._in_used

    def _refill(self) -> bool:
        data = self._read_raw(RAW_CHUNK)
        if not data:
            return False
        self._in_base += len(self._in)
        self._in, self._in_used = data, 0
        return True

    def _check(self, code: int) -> None:
        if code != _Z_OK:
            message = self._stream.msg.decode(errors="replace") if self._stream.msg else f"code {code}"
            raise zlib.error(f"Error {code} while decompressing data: {message}")

    # -- the gzip framing --------------------------------------------------------------------

    def _raw_bytes(self, n: int) -> bytes:
        """The next ``n`` compressed bytes, consumed; fewer at the end of the input."""
        parts, wanted = [], n
        while wanted:
            if self._in_used == len(self._in) and not self._refill():
                break
            piece = self._in[self._in_used : self._in_used + wanted]
            self._in_used += len(piece)
            parts.append(piece)
            wanted -= len(piece)
        return b"".join(parts)

    def _exact(self, n: int) -> bytes:
        data = self._raw_bytes(n)
        if len(data) < n:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        return data

    def _start_member(self) -> None:
        """Read a member's header; at the end of the input (past zero padding, as gzip allows) stop."""
        magic = self._raw_bytes(1)
        while magic == b"\x00":
            magic = self._raw_bytes(1)
        if not magic:
            self._eof = True
            return
        magic += self._raw_bytes(1)
        if magic != _GZIP_MAGIC:
            raise BadGzipFile(f"Not a gzipped file ({magic!r})")
        method, flags = self._exact(8)[:2]
        if method != 8:
            raise BadGzipFile("Unknown compression method")
        if flags & _FEXTRA:
            self._exact(struct.unpack("<H", self._exact(2))[0])
        for flag in (_FNAME, _FCOMMENT):
            if flags & flag:
                while self._exact(1) != b"\x00":
                    pass
        if flags & _FHCRC:
            self._exact(2)
        self._init()
        self._tail, self._crc, self._member_out, self._last_point = b"", 0, 0, self.out

    def _end_member(self) -> None:
        crc, size = struct.unpack("<II", self._exact(8))
        if crc != self._crc:
            raise BadGzipFile(f"CRC check failed {crc:#x} != {self._crc:#x}")
        if size != self._member_out & 0xFFFFFFFF:
            raise BadGzipFile("Incorrect length of data produced")
        self._start_member()
