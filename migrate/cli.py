"""``migrate``: stream a mysqldump into RDS, prove every row arrived, and inspect dumps.

Exit codes: 0 all tables match, 1 mismatch or a load that stopped part-way, 2 bad input, usage,
connection or preflight failure (nothing written). Expected failures print one line, no traceback.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

import click
import pymysql

from migrate import checkpoint, preflight, rows
from migrate.connection import Endpoint, connect, parse_url, secret_password, tls_context
from migrate.errors import EXIT_MISMATCH, EXIT_OK, ConnectionFailed, LoadFailed, MigrateError, PreflightFailed
from migrate.loader import ConnectionLost, Loader, read_ahead
from migrate.plan import DumpSummary, steps
from migrate.prescan import quick_summary
from migrate.progress import Progress
from migrate.report import inspect_text, rewrites_text, summary_document, verdict_table, write_json
from migrate.rewrite import RewriteOptions, Rewriter
from migrate.source import DumpSource
from migrate.splitter import split
from migrate.verify import compare, count_verdict


def expected_failures(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MigrateError as e:
            click.echo(f"migrate: error: {e}", err=True)
            sys.exit(e.exit_code)

    return wrapper


def rewrite_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    for flag, help_text in reversed((
        ("--keep-definer", "Send DEFINER clauses unchanged (RDS rejects them without SUPER)."),
        ("--keep-gtid-purged", "Send SET @@GLOBAL.GTID_PURGED unchanged."),
        ("--keep-sql-log-bin", "Send SQL_LOG_BIN assignments unchanged."),
        ("--keep-collations", "Never map utf8mb4_0900_* collations, even when the target lacks them."),
        ("--keep-database-statements", "Send USE / CREATE DATABASE unchanged (loads where the dump says)."),
        ("--keep-sql-modes", "Send sql_mode values unchanged, even those a MySQL 8 target rejects."),
        ("--keep-mariadb-only", "Send MariaDB-only /*M!…*/ statements to a MySQL target anyway."),
    )):
        command = click.option(flag, is_flag=True, help=help_text)(command)
    return command


def rewrite_options(kwargs: dict[str, Any], facts: preflight.TargetFacts) -> RewriteOptions:
    return RewriteOptions(
        strip_definer=not kwargs["keep_definer"],
        drop_gtid_purged=not kwargs["keep_gtid_purged"],
        drop_sql_log_bin=not kwargs["keep_sql_log_bin"],
        map_collations=not kwargs["keep_collations"] and not facts.has_0900_collations,
        drop_database_statements=not kwargs["keep_database_statements"],
        drop_removed_sql_modes=not kwargs["keep_sql_modes"] and facts.mysql8,
        drop_mariadb_only=not kwargs["keep_mariadb_only"] and not facts.mariadb,
    )


def resolve_login(endpoint: Endpoint, env_var: str, prompt: bool, secret_arn: str | None,
                  label: str) -> tuple[Endpoint, str | None]:
    """The password from a secret, a prompt or the environment, in that order of precedence."""
    if secret_arn:
        password, username = secret_password(secret_arn)
        if endpoint.user is None and username:
            endpoint = Endpoint(endpoint.host, endpoint.port, username, endpoint.database, endpoint.unix_socket)
        return endpoint, password
    if prompt:
        return endpoint, click.prompt(f"{label} password for {endpoint}", hide_input=True, err=True)
    return endpoint, os.environ.get(env_var)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Move a MySQL/MariaDB database into RDS from a mysqldump, and prove it arrived intact."""


@cli.command()
@click.argument("source")
@click.option("--target", "target_url", required=True, metavar="URL",
              help="mysql+pymysql://user@host:port/db (no password in it).")
@click.option("--password-prompt", is_flag=True, help="Ask for the target password.")
@click.option("--password-secret-arn", metavar="ARN", help="Read the target password from Secrets Manager.")
@click.option("--ssl-ca", type=click.Path(), help="CA bundle for TLS (the RDS global bundle).")
@click.option("--allow-plaintext", is_flag=True, help="Allow a non-loopback target without TLS.")
@click.option("--force", is_flag=True, help="Load even though the target database is not empty.")
@click.option("--resume", is_flag=True, help="Continue an interrupted load from its checkpoint in the target.")
@click.option("--retries", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Reconnect and resume this often when the connection is lost (files only).")
@click.option("--cleanup", is_flag=True, help="Drop the checkpoint table when every table matches.")
@click.option("--jobs", type=click.IntRange(1, 16), default=min(4, os.cpu_count() or 1), show_default=True,
              help="Connections loading data batches at once (DDL stays in dump order).")
@click.option("--inserts-only", is_flag=True,
              help="Send every row as the dump's own INSERT. By default, plain rows of InnoDB tables go as "
                   "LOAD DATA LOCAL (about 20 %% less server CPU) and any batch the server does not take "
                   "exactly is rolled back and re-sent as INSERTs.")
@click.option("--dry-run", is_flag=True, help="Connect, preflight, parse and rewrite; write nothing.")
@click.option("--report", "report_path", type=click.Path(), help="Also write the verdict as JSON here.")
@rewrite_flags
@expected_failures
def run(source: str, target_url: str, password_prompt: bool, password_secret_arn: str | None,
        ssl_ca: str | None, allow_plaintext: bool, force: bool, resume: bool, retries: int, cleanup: bool,
        jobs: int, inserts_only: bool, dry_run: bool, report_path: str | None, **flags: Any) -> None:
    """Stream SOURCE (.sql, .sql.gz or - for stdin) into the target database, then verify counts."""
    endpoint = parse_url(target_url)
    endpoint, password = resolve_login(endpoint, "MIGRATE_TARGET_PASSWORD", password_prompt,
                                       password_secret_arn, "target")
    tls = tls_context(endpoint, ssl_ca, allow_plaintext)

    def reconnect() -> pymysql.Connection:
        return connect(endpoint, password, tls, autocommit=False, local_data=not inserts_only)

    conn = reconnect()
    facts = preflight.gather(conn)
    options = rewrite_options(flags, facts)
    click.echo(f"target: {endpoint} ({facts.version}), max_allowed_packet {facts.max_allowed_packet:,}", err=True)
    use_load_data = facts.local_infile and not inserts_only
    if not facts.local_infile and not inserts_only:
        click.echo("target has local_infile=OFF: rows go as INSERTs (local_infile=1 in the DB parameter "
                   "group lets plain rows go as LOAD DATA LOCAL, with less server CPU)", err=True)
    if rows.plain_rows is None:
        click.echo("migrate: the C scanner is not built (no C compiler at install): VALUES lists are read with "
                   "regexes, ~5 s more client CPU per 650 MB", err=True)
    position = checkpoint.read(conn)
    timings = {"prescan": 0.0, "load": 0.0, "verify": 0.0}
    prescan_started = time.monotonic()

    # A file is parsed once before the first write so that an oversized statement or a routine the
    # target would reject stops the run while the target is still untouched; stdin cannot be, and
    # the loader makes the same checks statement by statement instead.
    prescan: DumpSummary | None = None
    if source != "-" and os.path.isfile(source):
        if dry_run:
            with DumpSource(source) as dump:
                prescan, would_rewrite = summarize(dump, options)
        else:
            with DumpSource(source) as dump:
                prescan = quick_summary(dump.read, dump.name)
    timings["prescan"] = time.monotonic() - prescan_started
    resuming = resume and position is not None
    found = preflight.problems(facts, endpoint.database, prescan, force or resuming)
    if position is not None and not position.complete and not resume:
        found.insert(0, f"a previous load into `{endpoint.database}` stopped after line {position.line}: "
                        "continue it with --resume, or load into an empty database")
    if found:
        raise PreflightFailed("\n".join(found))
    if dry_run and prescan is not None:
        click.echo(inspect_text(source, os.path.getsize(source), False, prescan, would_rewrite))
        click.echo("dry run: preflight passed, nothing written")
        return
    if not resuming and not dry_run:
        position = checkpoint.start(conn)
    if resuming:
        click.echo(f"resuming after line {position.line} (statement {position.statement})", err=True)

    started = time.monotonic()
    for attempt in range(retries + 1):
        try:
            summary, counts, loader = _load(conn, reconnect, jobs, source, options, facts,
                                            position if resume or attempt else None, dry_run, use_load_data)
            break
        except ConnectionLost as lost:
            if source == "-" or attempt == retries:
                command = shlex.join(["migrate", *sys.argv[1:]] + ([] if resume else ["--resume"]))
                why = "stdin cannot be read again" if source == "-" else f"gave up after {retries} retries"
                raise LoadFailed(f"{lost} The connection was lost and {why}; continue with: {command}") from None
            delay = min(2 ** attempt, 30)
            click.echo(f"migrate: connection lost; retry {attempt + 1}/{retries} in {delay} s", err=True)
            time.sleep(delay)
            conn = _connect_with_retries(reconnect)
            position = checkpoint.read(conn)
    conn.close()
    elapsed = time.monotonic() - started
    timings["load"] = elapsed
    click.echo(rewrites_text(counts))
    if dry_run:
        click.echo("dry run: nothing written")
        return
    verify_started = time.monotonic()
    with connect(endpoint, password, tls) as check:
        verdicts = count_verdict(check, summary.tables)
        ok = all(v.match for v in verdicts)
        if ok and cleanup:
            checkpoint.drop(check)
    timings["verify"] = time.monotonic() - verify_started
    click.echo(verdict_table(verdicts, "rows in dump"))
    click.echo(f"{summary.rows:,} rows in {elapsed:.1f} s ({summary.rows / max(elapsed, 1e-9):,.0f} rows/s); "
               f"{loader.rows_loaded:,} as LOAD DATA LOCAL, {loader.batches_resent} batches re-sent as INSERTs; "
               f"{loader.keys.built} secondary keys built after their rows")
    write_json(report_path, {
        "source": source, "target": str(endpoint), "seconds": round(elapsed, 3), "match": ok,
        "timings": {phase: round(seconds, 3) for phase, seconds in timings.items()},
        "load_data": {"rows": loader.rows_loaded, "batches_resent": loader.batches_resent},
        "keys_built_after_rows": loader.keys.built,
        "verdicts": [v.as_dict() for v in verdicts], **summary_document(summary, counts),
    })
    sys.exit(EXIT_OK if ok else EXIT_MISMATCH)


def _load(conn: pymysql.Connection, reconnect: Callable[[], pymysql.Connection], jobs: int, source: str,
          options: RewriteOptions, facts: preflight.TargetFacts, resume: checkpoint.Position | None,
          dry_run: bool, use_load_data: bool) -> tuple[DumpSummary, dict[str, int], Loader]:
    """One pass over the dump; from the checkpoint when ``resume`` is set."""
    with DumpSource(source) as dump:
        rewriter = Rewriter(options)
        progress = Progress(dump.raw_offset, dump.size)
        loader = Loader(conn, reconnect, jobs=jobs, max_packet=facts.max_allowed_packet, on_step=progress,
                        dry_run=dry_run, check_routines=lambda: preflight.routine_problem(facts, 1), resume=resume,
                        load_data=use_load_data)
        plan = read_ahead(steps(split(dump.read, dump.name), rewriter))
        try:
            summary = loader.run(plan)
        except KeyboardInterrupt:
            click.echo(f"\nmigrate: interrupted; committed through line {loader.committed.through_line}; "
                       "continue with --resume", err=True)
            sys.exit(EXIT_MISMATCH)
        finally:
            plan.close()
        progress.finish(summary)
    return summary, dict(rewriter.counts), loader


def _connect_with_retries(reconnect: Callable[[], pymysql.Connection], attempts: int = 10) -> pymysql.Connection:
    """A restarting server refuses connections for a while; wait for it, boundedly."""
    for attempt in range(attempts):
        try:
            return reconnect()
        except ConnectionFailed:
            if attempt == attempts - 1:
                raise
            time.sleep(min(2 ** attempt, 10))
    raise AssertionError("unreachable")


def summarize(dump: DumpSource, options: RewriteOptions) -> tuple[DumpSummary, dict[str, int]]:
    """Parse a whole dump without a server: the summary and what each rewrite would change."""
    summary = DumpSummary()
    rewriter = Rewriter(options)
    for step in steps(split(dump.read, dump.name), rewriter):
        summary.observe(step)
    return summary, dict(rewriter.counts)


@cli.command()
@click.argument("source")
@click.option("--report", "report_path", type=click.Path(), help="Also write the summary as JSON here.")
@expected_failures
def inspect(source: str, report_path: str | None) -> None:
    """Tables, rows per table, rewrites, largest statement and size of SOURCE; no target needed."""
    # Without a target, target-dependent rules are reported as if the target were RDS MySQL 8
    # without MySQL 8 collations: the most rewriting either kind of target could need.
    options = RewriteOptions(map_collations=True, drop_removed_sql_modes=True, drop_mariadb_only=True)
    with DumpSource(source) as dump:
        summary, rewrites = summarize(dump, options)
    click.echo(inspect_text(dump.name, dump.size, dump.compressed, summary, rewrites))
    write_json(report_path, {"source": dump.name, "size": dump.size, **summary_document(summary, rewrites)})


@cli.command()
@click.option("--source", "source_url", required=True, metavar="URL", help="The live source database.")
@click.option("--target", "target_url", required=True, metavar="URL", help="The target database.")
@click.option("--source-password-prompt", is_flag=True, help="Ask for the source password "
              "(else MIGRATE_SOURCE_PASSWORD).")
@click.option("--password-prompt", is_flag=True, help="Ask for the target password.")
@click.option("--password-secret-arn", metavar="ARN", help="Read the target password from Secrets Manager.")
@click.option("--ssl-ca", type=click.Path(), help="CA bundle for TLS to the target.")
@click.option("--allow-plaintext", is_flag=True, help="Allow non-loopback servers without TLS.")
@click.option("--report", "report_path", type=click.Path(), help="Also write the verdict as JSON here.")
@expected_failures
def verify(source_url: str, target_url: str, source_password_prompt: bool, password_prompt: bool,
           password_secret_arn: str | None, ssl_ca: str | None, allow_plaintext: bool,
           report_path: str | None) -> None:
    """Compare exact row counts and content checksums of every table, source against target."""
    src_endpoint, src_password = resolve_login(parse_url(source_url, "--source"), "MIGRATE_SOURCE_PASSWORD",
                                               source_password_prompt, None, "source")
    dst_endpoint, dst_password = resolve_login(parse_url(target_url), "MIGRATE_TARGET_PASSWORD",
                                               password_prompt, password_secret_arn, "target")
    src_tls = tls_context(src_endpoint, None, allow_plaintext)
    dst_tls = tls_context(dst_endpoint, ssl_ca, allow_plaintext)
    with connect(src_endpoint, src_password, src_tls) as src, connect(dst_endpoint, dst_password, dst_tls) as dst:
        verdicts = compare(src, dst)
    click.echo(verdict_table(verdicts, "rows in source"))
    ok = all(v.match for v in verdicts)
    write_json(report_path, {"source": str(src_endpoint), "target": str(dst_endpoint), "match": ok,
                             "verdicts": [v.as_dict() for v in verdicts]})
    sys.exit(EXIT_OK if ok else EXIT_MISMATCH)


def main() -> None:
    cli()
