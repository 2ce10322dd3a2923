"""``migrate``: stream a mysqldump into RDS, prove every row arrived, and inspect dumps.

Exit codes: 0 all tables match, 1 mismatch or a load that stopped part-way, 2 bad input, usage,
connection or preflight failure (nothing written), 3 loaded but some counts cannot be proven from the
dump alone (run ``migrate verify``; errors.py). Expected failures print one line, no traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from migrate.compression import MODES
from migrate.connection import connect, parse_url, resolve_login, tls_context
from migrate.databases import parse_map
from migrate.errors import EXIT_MISMATCH, EXIT_OK, MigrateError
from migrate.plan import summarize
from migrate.report import inspect_text, summary_document, verdict_table, write_json
from migrate.rewrite import RULES, Rewriter, rules_for
from migrate.session import CutoverSession, RunOptions
from migrate.source import DumpSource
from migrate.verify import compare


def expected_failures(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MigrateError as e:
            click.echo(f"migrate: error: {e}", err=True)
            sys.exit(e.exit_code)

    return wrapper


def keep_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """A ``--keep-…`` flag for every rewrite rule that can be switched off (rewrite.RULES)."""
    for rule in reversed(RULES):
        if rule.keep_flag:
            command = click.option(rule.keep_flag, rule.option, is_flag=True, help=rule.keep_help)(command)
    return command


def kept_rules(flags: dict[str, Any]) -> frozenset[str]:
    return frozenset(rule.name for rule in RULES if rule.option and flags.get(rule.option))


def prompter(label: str, wanted: bool) -> Callable[[str], str] | None:
    if not wanted:
        return None
    return lambda text: click.prompt(f"{label} {text}", hide_input=True, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Move a MySQL/MariaDB database into RDS from a mysqldump, and prove it arrived intact."""


@cli.command()
@click.argument("source")
@click.option("--target", "target_url", required=True, metavar="URL",
              help="mysql+pymysql://user@host:port/db (no password in it). Without /db, every object loads "
                   "into the database the dump's USE names.")
@click.option("--map-database", "map_database", multiple=True, metavar="OLD=NEW",
              help="With no database in the URL: load the dump's database OLD as NEW (repeatable).")
@click.option("--password-prompt", is_flag=True, help="Ask for the target password.")
@click.option("--password-secret-arn", metavar="ARN", help="Read the target password from Secrets Manager.")
@click.option("--ssl-ca", type=click.Path(), help="CA bundle for TLS (the RDS global bundle).")
@click.option("--allow-plaintext", is_flag=True, help="Allow a non-loopback target without TLS.")
@click.option("--force", is_flag=True, help="Load even though the target database is not empty.")
@click.option("--resume", is_flag=True, help="Continue an interrupted load from its checkpoint in the target.")
@click.option("--retries", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Reconnect and resume this often when the connection is lost (files only).")
@click.option("--cleanup", is_flag=True, help="Drop the checkpoint table when every table matches.")
@click.option("--jobs", type=click.IntRange(1, 16), default=None,
              help="Connections loading data batches at once (DDL stays in dump order). Default: one per core "
                   "(up to 4); 4 when compressing for a remote target, to keep the link busy.")
@click.option("--compress", type=click.Choice(MODES), default="auto", show_default=True,
              help="MySQL protocol compression: zstd where the server offers it (MySQL 8.0.18+), else zlib. "
                   "auto compresses for any target but loopback.")
@click.option("--inserts-only", is_flag=True,
              help="Send every row as the dump's own INSERT. By default, plain rows of InnoDB tables go as "
                   "LOAD DATA LOCAL (about 20 %% less server CPU) and any batch the server does not take "
                   "exactly is rolled back and re-sent as INSERTs.")
@click.option("--dry-run", is_flag=True, help="Connect, preflight, parse and rewrite; write nothing.")
@click.option("--report", "report_path", type=click.Path(), help="Also write the verdict as JSON here.")
@keep_flags
@expected_failures
def run(source: str, target_url: str, map_database: tuple[str, ...], password_prompt: bool,
        password_secret_arn: str | None,
        ssl_ca: str | None, allow_plaintext: bool, force: bool, resume: bool, retries: int, cleanup: bool,
        jobs: int | None, compress: str, inserts_only: bool, dry_run: bool, report_path: str | None,
        **flags: Any) -> None:
    """Stream SOURCE (.sql, .sql.gz, - for stdin, or s3://bucket/key) into the target database, then verify counts."""
    target = parse_url(target_url, database_required=False)
    options = RunOptions(
        source=source, target=target, database_map=parse_map(map_database, target.database),
        password_secret_arn=password_secret_arn,
        prompt=prompter("target", password_prompt), ssl_ca=ssl_ca,
        allow_plaintext=allow_plaintext, force=force, resume=resume, retries=retries, cleanup=cleanup, jobs=jobs,
        compress=compress, inserts_only=inserts_only, dry_run=dry_run, report_path=report_path,
        kept_rules=kept_rules(flags), command=("migrate", *sys.argv[1:]))
    sys.exit(CutoverSession(options, click.echo).run())


@cli.command()
@click.argument("source")
@click.option("--report", "report_path", type=click.Path(), help="Also write the summary as JSON here.")
@expected_failures
def inspect(source: str, report_path: str | None) -> None:
    """Tables, rows per table, rewrites, largest statement and size of SOURCE; no target needed."""
    # Without a target, target-dependent rules are reported as if the target were RDS MySQL 8
    # without MySQL 8 collations: the most rewriting either kind of target could need.
    rewriter = Rewriter(rules_for(None))
    with DumpSource(source) as dump:
        summary = summarize(dump.read, dump.name, rewriter)
    rewrites = dict(rewriter.counts)
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
                                               prompter("source", source_password_prompt), None)
    dst_endpoint, dst_password = resolve_login(parse_url(target_url), "MIGRATE_TARGET_PASSWORD",
                                               prompter("target", password_prompt), password_secret_arn)
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
