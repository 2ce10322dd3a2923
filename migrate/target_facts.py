"""What the target server is and holds, as ``migrate.preflight.gather`` reads it before the first write.

Its own module because both the preflight checks and the rewrite rules (``migrate.rewrite.rules_for``)
decide on it, and the preflight already depends, through the loader and the plan, on the rewrites.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TargetFacts:
    version: str
    max_allowed_packet: int
    log_bin: bool
    trust_function_creators: bool
    has_0900_collations: bool
    tables: tuple[str, ...]  # anything already in the target database
    local_infile: bool = False  # the server accepts LOAD DATA LOCAL
    database: str | None = None  # the URL's; None: the dump's USE statements choose

    @property
    def mariadb(self) -> bool:
        return "mariadb" in self.version.lower()

    @property
    def mysql8(self) -> bool:
        """MySQL 8.0 or later (MariaDB reports 10.x/11.x and keeps the old sql_modes)."""
        major = self.version.split(".", 1)[0]
        return not self.mariadb and major.isdigit() and int(major) >= 8
