"""Data batches commit in dump order, whichever connection finishes first.

Each batch takes a ticket when it is dispatched and commits on its turn, so the committed batches
are always a prefix of the dump and one checkpoint row (the end of that prefix, written in each
batch's own transaction) stays exact. The first failure, by ticket, decides what still commits.
This is the data path's one lock; the workers, the key builds and the dispatcher each keep the rest
of their state to themselves.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from migrate.checkpoint import Position
from migrate.plan import Step


@dataclass
class Committed:
    """What is durably in the target, for the message when a load stops part-way."""

    rows: Counter[str] = field(default_factory=Counter)
    through_line: int = 0
    statements: int = 0


@dataclass(frozen=True)
class Failure:
    """Why the load stops. Batches before ``seq`` still commit (they are valid, and committing
    them keeps "what is committed" a clean prefix); later ones roll back. ``seq`` None: the
    dispatcher itself stopped (bad input, interrupt), and nothing more commits."""

    seq: int | None
    step: Step | None
    reason: str
    code: int | None


class CommitOrder:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.issued = 0  # tickets handed out
        self.next = 0  # the ticket whose turn it is to commit
        self.applied_seqs: set[int] = set()  # batches whose statements all ran, waiting for their turn
        self.failure: Failure | None = None
        self.error: BaseException | None = None  # a bug on another thread: re-raised as is
        self.committed = Committed()

    def ticket(self) -> int:
        seq = self.issued
        self.issued += 1
        return seq

    def fail(self, seq: int | None, step: Step | None, reason: str, code: int | None) -> None:
        with self.cond:
            failure = self.failure
            if failure is None or (seq is not None and (failure.seq is None or seq < failure.seq)):
                self.failure = Failure(seq, step, reason, code)
            self.cond.notify_all()

    def crash(self, error: BaseException) -> None:
        with self.cond:
            self.error = self.error or error
            self.cond.notify_all()

    def _abandoned(self, seq: int) -> bool:
        failure = self.failure
        return self.error is not None or (failure is not None and (failure.seq is None or seq > failure.seq))

    def abandoned(self, seq: int) -> bool:
        """Whether batch ``seq`` must roll back instead of committing."""
        with self.cond:
            return self._abandoned(seq)

    def wait_turn(self, seq: int) -> bool:
        """Wait until every earlier batch has committed; False when ``seq`` must roll back instead."""
        with self.cond:
            while self.next != seq and not self._abandoned(seq):
                self.cond.wait()
            return not self._abandoned(seq)

    def done(self, rows: Counter[str], position: Position) -> None:
        """The batch whose turn it was has committed, through ``position``."""
        with self.cond:
            self.applied_seqs.discard(self.next)
            self.next += 1
            self.committed.rows.update(rows)
            self.committed.through_line = position.line
            self.committed.statements = position.statement
            self.cond.notify_all()

    def applied(self, seq: int) -> None:
        """Batch ``seq`` ran all its statements; it holds whatever locks its rows took until it commits."""
        with self.cond:
            self.applied_seqs.add(seq)
            self.cond.notify_all()

    def wait_applied(self, seq: int) -> None:
        """Wait until batch ``seq`` has run all its statements or committed, or the load has stopped."""
        with self.cond:
            while seq not in self.applied_seqs and self.next <= seq and self.failure is None and self.error is None:
                self.cond.wait()

    def barrier(self) -> None:
        """Wait until every ticketed batch has committed, or the load has stopped."""
        with self.cond:
            while self.next < self.issued and self.failure is None and self.error is None:
                self.cond.wait()

    def stopped(self) -> Failure | None:
        """A crash re-raised; the failure once the batches before it have committed; None while going."""
        if self.error is not None:
            raise self.error
        if self.failure is None:
            return None
        with self.cond:
            while self.failure.seq is not None and self.next < self.failure.seq and self.error is None:
                self.cond.wait()
        return self.failure
