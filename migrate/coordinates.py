"""Where replication into the target can start: the binary-log coordinates and GTID position a dump
was taken at, as mysqldump and mariadb-dump write them, and GTID arithmetic for how far a replica is
behind.

What the dump tools write (``--source-data=2`` / ``--master-data=2`` comment it out, ``=1`` writes it
as a statement, which the ``replication`` rewrite rule then drops):

- MySQL: ``-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000002', MASTER_LOG_POS=157;`` (8.0.26+:
  ``CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE=…, SOURCE_LOG_POS=…``) after the header, and with
  GTIDs on ``SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'uuid:1-5,\\nuuid:1-3';`` before it.
- MariaDB: the same CHANGE MASTER after the header, and its GTID position at the *end* of the dump
  (``-- SET GLOBAL gtid_slave_pos='0-1-42';``), with ``-- CHANGE MASTER TO MASTER_USE_GTID=slave_pos``
  at the top when ``--gtid`` was given.
- ``--dump-slave``/``--dump-replica`` write the coordinates of the dumped server's own primary, under a
  comment saying so; those are recorded as such.

So a dump is read at both ends: ``DumpSource`` keeps its first and last bytes (source.py).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

MYSQL, MARIADB = "mysql", "mariadb"

# --dump-slave --include-master-host-port puts MASTER_HOST and MASTER_PORT before the file.
_CHANGE = re.compile(
    rb"CHANGE\s+(?:MASTER(?:\s+'[^']*')?|REPLICATION\s+SOURCE)\s+TO\s+"
    rb"(?:(?:MASTER|SOURCE)_\w+\s*=\s*(?:'[^']*'|\d+)\s*,\s*)*"
    rb"(?:MASTER|SOURCE)_LOG_FILE\s*=\s*'([^']+)'\s*,\s*(?:MASTER|SOURCE)_LOG_POS\s*=\s*(\d+)",
    re.I,
)
_MARIADB_GTID = re.compile(rb"SET\s+GLOBAL\s+gtid_slave_pos\s*=\s*'([0-9,\s-]*)'", re.I)
_MYSQL_GTID = re.compile(rb"SET\s+@@GLOBAL\.GTID_PURGED\s*=\s*(?:/\*!\d+\s*'\+'\s*\*/\s*)?'([0-9A-Fa-f:,\s-]*)'", re.I)
# mysqldump/mariadb-dump head the --dump-slave block with "(the master of this slave)"; 8.0.26+ with
# "(the source of this replica)".
_OF_PRIMARY = re.compile(rb"\((?:the\s+)?(?:master\s+of\s+this\s+slave|source\s+of\s+this\s+replica)\)", re.I)
# The comment heading each block of coordinates: the last one before a CHANGE statement is its own.
_HEADING = re.compile(rb"^--[^\n]*\bposition\b[^\n]*$", re.I | re.M)
_DATABASE = re.compile(rb"^-- Host: \S*\s+Database: (\S+)\s*$", re.M)
_LOOK_BACK = 600  # bytes before a CHANGE statement where its heading comment sits


@dataclass(frozen=True)
class Coordinates:
    """Where the dumped server's binary log stood when the dump's snapshot was taken."""

    log_file: str | None = None
    log_pos: int | None = None
    gtid: str | None = None  # a MySQL GTID set or a MariaDB GTID position
    flavor: str | None = None  # MYSQL or MARIADB: whose GTID syntax ``gtid`` is in
    of_primary: bool = False  # --dump-slave: the dumped server's primary's coordinates, not its own
    database: str | None = None  # the dumped database, from the header, when the dump names one

    @property
    def file_position(self) -> bool:
        return self.log_file is not None and self.log_pos is not None

    def describe(self) -> str:
        parts = []
        if self.file_position:
            parts.append(f"{self.log_file}:{self.log_pos}")
        if self.gtid:
            parts.append(f"GTID {self.gtid} ({'MariaDB' if self.flavor == MARIADB else 'MySQL'})")
        whose = ""
        if self.of_primary:
            whose = " of the dumped server's primary (--dump-slave): --source must be that primary"
        return ", ".join(parts) + whose

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict[str, object]) -> Coordinates:
        return cls(**{key: document.get(key) for key in cls.__dataclass_fields__})


def plain_only_reason() -> str:
    return (
        "plain cutover only: the dump carries no binary-log coordinates; for a replicated cutover dump "
        "with --single-transaction --source-data=2 (MySQL < 8.0.26 and MariaDB: --master-data=2)"
    )


def find(head: bytes, tail: bytes) -> Coordinates | None:
    """The coordinates a dump's first and last bytes hold, or None (a plain cutover only)."""
    log_file = log_pos = None
    of_primary = None
    for match in _CHANGE.finditer(head):
        headings = _HEADING.findall(head, max(0, match.start() - _LOOK_BACK), match.start())
        primary = bool(headings) and _OF_PRIMARY.search(headings[-1]) is not None
        # With both --master-data and --dump-slave, the dumped server's own coordinates are the ones wanted.
        if of_primary is None or of_primary and not primary:
            log_file, log_pos, of_primary = match.group(1).decode(), int(match.group(2)), primary
    gtid, flavor = _gtid(head, tail)
    if log_file is None and gtid is None:
        return None
    database = _DATABASE.search(head)
    return Coordinates(
        log_file,
        log_pos,
        gtid,
        flavor,
        bool(of_primary),
        database.group(1).decode("utf-8", "replace") if database else None,
    )


def _gtid(head: bytes, tail: bytes) -> tuple[str | None, str | None]:
    for text in (tail, head):
        found = _MARIADB_GTID.findall(text)
        if found and (value := _compact(found[-1])):
            return value, MARIADB
    found = _MYSQL_GTID.search(head)
    if found and (value := _compact(found.group(1))):
        return value, MYSQL
    return None, None


def _compact(value: bytes) -> str:
    """A GTID set as one line: mysqldump breaks long sets over lines after each comma."""
    return re.sub(rb"\s+", b"", value).decode("ascii")


# -- GTID arithmetic: how many transactions one position has that another lacks ----------------------


def mariadb_positions(text: str) -> dict[int, int]:
    """``'0-1-100,1-2-5'`` → {domain: sequence number}; a replica's position per replication domain."""
    positions = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        domain, _server, sequence = part.split("-")
        positions[int(domain)] = int(sequence)
    return positions


def mysql_intervals(text: str) -> dict[str, list[tuple[int, int]]]:
    """``'uuid:1-5:7,uuid2:1-3'`` → {uuid: [(1, 5), (7, 7)], …} (tags of 8.4's tagged GTIDs kept with the uuid)."""
    sets: dict[str, list[tuple[int, int]]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        uuid, *ranges = part.split(":")
        key = uuid.lower()
        for item in ranges:
            if not item[:1].isdigit():  # an 8.4 tag: the intervals after it belong to uuid:tag
                key = f"{uuid.lower()}:{item}"
                continue
            lo, _, hi = item.partition("-")
            sets.setdefault(key, []).append((int(lo), int(hi or lo)))
    return sets


def _missing(have: list[tuple[int, int]], want: list[tuple[int, int]]) -> int:
    """How many numbers of ``want``'s intervals no interval of ``have`` covers."""
    count = 0
    for lo, hi in want:
        covered = sum(max(0, min(hi, b) - max(lo, a) + 1) for a, b in have)
        count += hi - lo + 1 - covered
    return count


def transactions_behind(source: str, replica: str, flavor: str) -> int:
    """Transactions the source has executed that the replica has not (both positions in ``flavor``'s syntax)."""
    if flavor == MARIADB:
        have = mariadb_positions(replica)
        return sum(max(0, sequence - have.get(domain, 0)) for domain, sequence in mariadb_positions(source).items())
    have_sets = mysql_intervals(replica)
    return sum(_missing(have_sets.get(uuid, []), intervals) for uuid, intervals in mysql_intervals(source).items())
