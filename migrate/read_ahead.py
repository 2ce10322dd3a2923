"""Parse ahead of execution on a thread, through a queue bounded in bytes.

Parsing is overlapped with execution (DESIGN §5: a serial loader adds ~6 s per 650 MB); the bound
keeps memory flat whatever the dump size.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

from migrate.plan import Step

QUEUE_BYTES = 16 << 20


class _End:
    """Marks the end of the reader's stream; carries the reader's exception, if any."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class ByteBoundedQueue:
    """A FIFO that blocks the producer while it holds more than ``limit`` bytes (always admits one
    item, so a statement larger than the limit still passes)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: deque[tuple[object, int]] = deque()
        self.held = 0
        self.closed = False
        self.cond = threading.Condition()

    def put(self, item: object, size: int) -> bool:
        """False when the consumer has gone away."""
        with self.cond:
            while self.items and self.held + size > self.limit and not self.closed:
                self.cond.wait()
            if self.closed:
                return False
            self.items.append((item, size))
            self.held += size
            self.cond.notify_all()
            return True

    def get(self) -> object:
        with self.cond:
            while not self.items:
                self.cond.wait()
            item, size = self.items.popleft()
            self.held -= size
            self.cond.notify_all()
            return item

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def read_ahead(produce: Iterator[Step], limit: int = QUEUE_BYTES) -> Iterator[Step]:
    """Run ``produce`` on a thread and yield its steps; its exceptions re-raise here."""
    buffer = ByteBoundedQueue(limit)

    def reader() -> None:
        error: BaseException | None = None
        try:
            for step in produce:
                if not buffer.put(step, len(step.statement.sql)):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            error = e
        buffer.put(_End(error), 0)

    thread = threading.Thread(target=reader, name="migrate-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item  # type: ignore[misc]
    finally:
        # A reader still inside stdin's read() at interpreter exit aborts the process (SIGABRT):
        # let it see the closed buffer and leave first.
        buffer.close()
        thread.join(timeout=30)
