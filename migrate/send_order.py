"""Over a link, batches put their rows on the wire one after another, in ticket order.

Connections that share a link share it fairly, so batches sent at once finish at once, and then
every connection waits for its answers (the LOAD DATA's OK, its turn, its COMMIT) together while
the link stands idle: about one round trip per batch, measured through bench/link.py. In ticket
order instead, each batch starts while the one before it drains, and its round trips overlap the
next one's rows. The socket keeps little unsent data (compression.UNSENT_BYTES), so that "written"
is close to "on the wire". Ticket order is also commit order: the first rows in are the first
allowed to commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class SendOrder:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.cond = threading.Condition()
        self.below = 0  # every ticket below this one has sent its rows
        self.sent: set[int] = set()  # tickets at or above ``below`` that have

    def wait(self, seq: int, stopped: Callable[[], bool]) -> None:
        """Until every earlier batch has sent its rows (or the load has stopped)."""
        if not self.enabled:
            return
        with self.cond:
            while self.below < seq and not stopped():
                self.cond.wait(0.5)

    def release(self, seq: int) -> None:
        """Batch ``seq`` has sent its rows, failed, or was dropped; once per batch and idempotent."""
        if not self.enabled:
            return
        with self.cond:
            if seq < self.below:
                return
            self.sent.add(seq)
            while self.below in self.sent:
                self.sent.remove(self.below)
                self.below += 1
            self.cond.notify_all()
