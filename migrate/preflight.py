"""Before the first write: ask the target what it will reject, and stop early with the fix.

``problems`` is a pure function of the target's facts and the dump's summary, so every rule is
tested without a server; ``gather`` is the only part that talks to one.
"""

from __future__ import annotations

import pymysql

from migrate import checkpoint
from migrate.connection import error_text
from migrate.errors import ConnectionFailed
from migrate.loader import packet_fix
from migrate.plan import DumpSummary
from migrate.target_facts import TargetFacts


def gather(conn: pymysql.Connection) -> TargetFacts:
    try:
        with conn.cursor() as cur:
            # One query where it can be: over a link each costs a round trip.
            cur.execute(
                "SELECT VERSION(), @@max_allowed_packet, @@log_bin, @@log_bin_trust_function_creators, "
                "@@local_infile, DATABASE(), (SELECT COUNT(*) FROM information_schema.COLLATIONS "
                "WHERE COLLATION_NAME = 'utf8mb4_0900_ai_ci')"
            )
            version, packet, log_bin, trust, local_infile, database, collations = cur.fetchone()
            has_0900 = collations > 0
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME <> %s ORDER BY TABLE_NAME",
                (checkpoint.TABLE,),
            )
            tables = tuple(r[0] for r in cur.fetchall())
    except pymysql.err.MySQLError as e:
        raise ConnectionFailed(f"preflight query failed: {error_text(e)}") from None
    return TargetFacts(
        str(version),
        int(packet),
        bool(int(log_bin)),
        bool(int(trust)),
        has_0900,
        tables,
        bool(int(local_infile)),
        database,
    )


def routine_problem(facts: TargetFacts, routines: int) -> str | None:
    if routines and facts.log_bin and not facts.trust_function_creators:
        return (
            f"the dump creates {routines} routines/triggers and the target logs binary with "
            "log_bin_trust_function_creators=0, so it will reject them (error 1419): set "
            "log_bin_trust_function_creators=1 in the DB parameter group"
        )
    return None


def not_empty(database: str, tables: tuple[str, ...]) -> str:
    shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
    return (
        f"target database `{database}` is not empty ({len(tables)} tables: {shown}); "
        "load into an empty database, or pass --force to load over it"
    )


def existing_tables(conn: pymysql.Connection, databases: list[str]) -> dict[str, tuple[str, ...]]:
    """The tables already in each of ``databases`` that has any (where a URL without a database loads)."""
    found: dict[str, tuple[str, ...]] = {}
    with conn.cursor() as cur:
        for database in databases:
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
                (database,),
            )
            if tables := tuple(r[0] for r in cur.fetchall()):
                found[database] = tables
    return found


def placement_problems(database: str | None, summary: DumpSummary) -> list[str]:
    """Where the dump's objects would land, and whether they would still find what they name."""
    names = summary.databases
    if database is None:
        if summary.unplaced is not None:
            return [
                f"the statement at line {summary.unplaced} needs a database, but neither the dump (no USE "
                "before it) nor the target URL names one: add /DBNAME to the URL"
            ]
        return []
    if len(set(names)) > 1:
        return [
            f"the dump loads into {len(set(names))} databases ({', '.join(names)}) but the target URL names "
            f"one, `{database}`: leave the database out of the URL to load each where the dump says "
            "(--map-database OLD=NEW renames)"
        ]
    foreign = sorted((line, name) for name, line in summary.qualifiers.items() if name in names and name != database)
    if foreign:
        line, name = foreign[0]
        return [
            f"the statement at line {line} names database `{name}` (`{name}`.…), but with a database in the "
            f"target URL the dump's USE is dropped and everything lands in `{database}`, where that name "
            f"finds nothing: leave the database out of the URL and pass --map-database {name}={database}"
        ]
    return []


def problems(facts: TargetFacts, database: str | None, summary: DumpSummary | None, force: bool) -> list[str]:
    """Everything that would make the load fail; an empty list means go."""
    found = []
    if facts.tables and not force:
        found.append(not_empty(database, facts.tables))
    if summary is not None:
        found += placement_problems(database, summary)
        if summary.largest.size + 1024 > facts.max_allowed_packet:
            found.append(packet_fix(summary.largest.size, summary.largest.line, facts.max_allowed_packet))
        problem = routine_problem(facts, len(summary.routines))
        if problem:
            found.append(problem)
    return found
