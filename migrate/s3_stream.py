"""An S3 object as a byte stream: ranged GETs, retried where they broke, in constant memory.

``migrate run s3://bucket/dump.sql.gz`` on a host inside the VPC reads the dump straight from S3
(through the VPC's gateway endpoint) instead of copying it to disk first. Each GET asks for one
range of the object (RANGE bytes) and is consumed as it arrives, so memory does not grow with the
object. A GET that fails, or a body that breaks off part-way (S3 resets long transfers now and
then), is re-sent from the byte where the stream stopped, with backoff, up to ATTEMPTS times in a
row. Every GET carries ``If-Match`` with the ETag the stream's HEAD found: an object replaced
mid-load stops the load instead of splicing two dumps. A resumed load starts the stream at a byte
part-way (``start``), once ``identity`` has shown it is the object the interrupted load was reading.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from migrate.errors import BadInput, ConnectionFailed

RANGE = 64 << 20
ATTEMPTS = 6


def is_s3(source: str) -> bool:
    return source.startswith("s3://")


def parse(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    key = unquote(parts.path.lstrip("/"))
    if parts.scheme != "s3" or not parts.netloc or not key or key.endswith("/"):
        raise BadInput(f"{url}: not an S3 object URL (expected s3://bucket/path/dump.sql.gz)")
    return parts.netloc, key


class S3Stream:
    """``read(n)`` over the object at ``url`` from byte ``start``; ``size`` is its length, ``etag`` the
    version being read."""

    def __init__(
        self,
        url: str,
        client: Any = None,
        range_size: int = RANGE,
        sleep: Callable[[float], None] = time.sleep,
        start: int = 0,
    ) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # deferred with boto3: ~0.3 s

        self._errors = (BotoCoreError, ClientError, OSError)
        self.url = url
        self.bucket, self.key = parse(url)
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client
        self.range_size = range_size
        self.sleep = sleep
        self.position = start
        self.retries = 0  # GETs re-sent after a failure, over the whole stream
        self._body: Any = None
        self._range_end = 0  # exclusive end of the range the open body covers
        try:
            head = client.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as e:
            raise BadInput(f"cannot open: {_reason(e)}", source=url) from None
        except BotoCoreError as e:
            raise ConnectionFailed(f"{url}: cannot reach S3: {e}") from None
        self.size: int = head["ContentLength"]
        self.etag: str = head["ETag"]
        self.version: str | None = head.get("VersionId")  # where the bucket keeps versions

    @property
    def identity(self) -> dict[str, object]:
        """What tells this object from one put in its place since (restart.py)."""
        return {"s3": self.url, "etag": self.etag, "size": self.size, "version": self.version}

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.position
        failures = 0
        while n and self.position < self.size:
            try:
                if self._body is None:
                    self._open()
                data = self._body.read(min(n, self._range_end - self.position))
                if not data:
                    raise OSError(f"the body ended at byte {self.position} of the range")
            except self._errors as e:
                self._close_body()
                failures += 1
                if failures >= ATTEMPTS or _final(e):
                    raise ConnectionFailed(
                        f"{self.url}: reading byte {self.position} failed {failures} times: {_reason(e)}"
                    ) from None
                self.retries += 1
                self.sleep(min(2 ** (failures - 1), 30))
                continue
            self.position += len(data)
            if self.position >= self._range_end:
                self._close_body()
            return data
        return b""

    def _open(self) -> None:
        end = min(self.position + self.range_size, self.size)
        response = self.client.get_object(
            Bucket=self.bucket, Key=self.key, IfMatch=self.etag, Range=f"bytes={self.position}-{end - 1}"
        )
        self._body, self._range_end = response["Body"], end

    def _close_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._close_body()


def _reason(e: BaseException) -> str:
    response = getattr(e, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code')}: {error.get('Message') or 'no message'}"
    return str(e) or type(e).__name__


def _final(e: BaseException) -> bool:
    """Errors a retry cannot mend: the object changed or went away, or access was refused."""
    response = getattr(e, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in {"PreconditionFailed", "NoSuchKey", "NoSuchBucket", "AccessDenied", "412", "404", "403"}
