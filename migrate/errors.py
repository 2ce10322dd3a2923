"""Expected failures, each rendered by the CLI as one line with a fixed exit code.

Exit codes are the tool's contract with scripts: 0 everything matches, 1 the target does not hold
the dump (a mismatch, or a load that stopped part-way), 2 nothing was attempted because the input,
the usage or the connection was wrong, 3 the load completed and no count contradicts the dump, but
the dump alone cannot prove some tables (INSERT IGNORE, REPLACE, DELETE…): ``migrate verify``
against the source decides.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2
EXIT_UNPROVEN = 3


class MigrateError(Exception):
    exit_code = EXIT_BAD_INPUT


class BadInput(MigrateError):
    """The dump (or an argument) is unusable; names where, so the operator can look."""

    def __init__(
        self, message: str, *, source: str | None = None, offset: int | None = None, line: int | None = None
    ) -> None:
        where = []
        if source:
            where.append(source)
        if offset is not None:
            where.append(f"byte {offset}")
        if line is not None:
            where.append(f"line {line}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.offset = offset
        self.line = line


class ConnectionFailed(MigrateError):
    """Could not reach or log in to a server; nothing was written."""


class PreflightFailed(MigrateError):
    """The target would reject the load; the message carries the fix."""


class LoadFailed(MigrateError):
    """A statement failed after writes began; the message says what is already committed."""

    exit_code = EXIT_MISMATCH


class ConnectionLost(LoadFailed):
    """The server or the network went away after writes began: the load can resume from its checkpoint."""
