"""``migrate``: stream a mysqldump into RDS, prove every row arrived, inspect dumps, and create the app's
own database user (``app-user``).

Exit codes: 0 all tables match, 1 mismatch or a load that stopped part-way, 2 bad input, usage,
connection or preflight failure (nothing written), 3 loaded but some counts cannot be proven from the
dump alone (run ``migrate verify``; errors.py). Expected failures print one line, no traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from migrate import coordinates
from migrate.app_user import AppUserOptions, AppUserSession
from migrate.compression import MODES
from migrate.connection import connect, parse_url, resolve_login, tls_context
from migrate.cutover import Cutover, CutoverOptions
from migrate.databases import parse_map
from migrate.errors import EXIT_MISMATCH, EXIT_OK, BadInput, MigrateError
from migrate.plan import summarize
from migrate.replica import Address
from migrate.replication import Link, LinkOptions, StartOptions, replication_password
from migrate.replication import start as replication_start
from migrate.replication import status as replication_status
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


def target_login(whose: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """How to log in to the target as ``whose`` user: the password's source and TLS."""

    def options(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(
            [
                click.option("--password-prompt", is_flag=True, help=f"Ask for the {whose} password."),
                click.option(
                    "--password-secret-arn", metavar="ARN", help=f"Read the {whose} password from Secrets Manager."
                ),
                click.option("--ssl-ca", type=click.Path(), help="CA bundle for TLS (the RDS global bundle)."),
                click.option("--allow-plaintext", is_flag=True, help="Allow a non-loopback target without TLS."),
            ]
        ):
            command = option(command)
        return command

    return options


def prompter(label: str, wanted: bool) -> Callable[[str], str] | None:
    if not wanted:
        return None
    return lambda text: click.prompt(f"{label} {text}", hide_input=True, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Move a MySQL/MariaDB database into RDS from a mysqldump, and prove it arrived intact."""


@cli.command()
@click.argument("source")
@click.option(
    "--target",
    "target_url",
    required=True,
    metavar="URL",
    help="mysql+pymysql://user@host:port/db (no password in it). Without /db, every object loads "
    "into the database the dump's USE names.",
)
@click.option(
    "--map-database",
    "map_database",
    multiple=True,
    metavar="OLD=NEW",
    help="With no database in the URL: load the dump's database OLD as NEW (repeatable).",
)
@target_login("target")
@click.option("--force", is_flag=True, help="Load even though the target database is not empty.")
@click.option("--resume", is_flag=True, help="Continue an interrupted load from its checkpoint in the target.")
@click.option(
    "--retries",
    type=click.IntRange(0, 20),
    default=5,
    show_default=True,
    help="Reconnect and resume this often when the connection is lost (files only).",
)
@click.option("--cleanup", is_flag=True, help="Drop the checkpoint table when every table matches.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=None,
    help="Connections loading data batches at once (DDL stays in dump order). Default: one per core "
    "(up to 4); 4 when compressing for a remote target, to keep the link busy.",
)
@click.option(
    "--compress",
    type=click.Choice(MODES),
    default="auto",
    show_default=True,
    help="MySQL protocol compression: zstd where the server offers it (MySQL 8.0.18+), else zlib. "
    "auto compresses for any target but loopback.",
)
@click.option(
    "--inserts-only",
    is_flag=True,
    help="Send every row as the dump's own INSERT. By default, plain rows of InnoDB tables go as "
    "LOAD DATA LOCAL (about 20 %% less server CPU) and any batch the server does not take "
    "exactly is rolled back and re-sent as INSERTs.",
)
@click.option("--dry-run", is_flag=True, help="Connect, preflight, parse and rewrite; write nothing.")
@click.option("--report", "report_path", type=click.Path(), help="Also write the verdict as JSON here.")
@keep_flags
@expected_failures
def run(
    source: str,
    target_url: str,
    map_database: tuple[str, ...],
    password_prompt: bool,
    password_secret_arn: str | None,
    ssl_ca: str | None,
    allow_plaintext: bool,
    force: bool,
    resume: bool,
    retries: int,
    cleanup: bool,
    jobs: int | None,
    compress: str,
    inserts_only: bool,
    dry_run: bool,
    report_path: str | None,
    **flags: Any,
) -> None:
    """Stream SOURCE (.sql, .sql.gz, - for stdin, or s3://bucket/key) into the target database, then verify counts."""
    target = parse_url(target_url, database_required=False)
    options = RunOptions(
        source=source,
        target=target,
        database_map=parse_map(map_database, target.database),
        password_secret_arn=password_secret_arn,
        prompt=prompter("target", password_prompt),
        ssl_ca=ssl_ca,
        allow_plaintext=allow_plaintext,
        force=force,
        resume=resume,
        retries=retries,
        cleanup=cleanup,
        jobs=jobs,
        compress=compress,
        inserts_only=inserts_only,
        dry_run=dry_run,
        report_path=report_path,
        kept_rules=kept_rules(flags),
        command=("migrate", *sys.argv[1:]),
    )
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
        origin = coordinates.find(dump.head, dump.tail)
    rewrites = dict(rewriter.counts)
    click.echo(inspect_text(dump.name, dump.size, dump.compressed, summary, rewrites))
    click.echo(f"replication: from {origin.describe()}" if origin else coordinates.plain_only_reason())
    write_json(
        report_path,
        {
            "source": dump.name,
            "size": dump.size,
            **summary_document(summary, rewrites),
            "replication": origin.as_dict() if origin else None,
        },
    )


@cli.command()
@click.option("--source", "source_url", required=True, metavar="URL", help="The live source database.")
@click.option("--target", "target_url", required=True, metavar="URL", help="The target database.")
@click.option(
    "--source-password-prompt", is_flag=True, help="Ask for the source password (else MIGRATE_SOURCE_PASSWORD)."
)
@click.option("--password-prompt", is_flag=True, help="Ask for the target password.")
@click.option("--password-secret-arn", metavar="ARN", help="Read the target password from Secrets Manager.")
@click.option("--ssl-ca", type=click.Path(), help="CA bundle for TLS to the target.")
@click.option("--allow-plaintext", is_flag=True, help="Allow non-loopback servers without TLS.")
@click.option("--report", "report_path", type=click.Path(), help="Also write the verdict as JSON here.")
@expected_failures
def verify(
    source_url: str,
    target_url: str,
    source_password_prompt: bool,
    password_prompt: bool,
    password_secret_arn: str | None,
    ssl_ca: str | None,
    allow_plaintext: bool,
    report_path: str | None,
) -> None:
    """Compare exact row counts and content checksums of every table, source against target."""
    src_endpoint, src_password = resolve_login(
        parse_url(source_url, "--source"), "MIGRATE_SOURCE_PASSWORD", prompter("source", source_password_prompt), None
    )
    dst_endpoint, dst_password = resolve_login(
        parse_url(target_url), "MIGRATE_TARGET_PASSWORD", prompter("target", password_prompt), password_secret_arn
    )
    src_tls = tls_context(src_endpoint, None, allow_plaintext)
    dst_tls = tls_context(dst_endpoint, ssl_ca, allow_plaintext)
    with connect(src_endpoint, src_password, src_tls) as src, connect(dst_endpoint, dst_password, dst_tls) as dst:
        verdicts = compare(src, dst)
    click.echo(verdict_table(verdicts, "rows in source"))
    ok = all(v.match for v in verdicts)
    write_json(
        report_path,
        {
            "source": str(src_endpoint),
            "target": str(dst_endpoint),
            "match": ok,
            "verdicts": [v.as_dict() for v in verdicts],
        },
    )
    sys.exit(EXIT_OK if ok else EXIT_MISMATCH)


@cli.command("app-user")
@click.option(
    "--target",
    "target_url",
    required=True,
    metavar="URL",
    help="mysql+pymysql://master@host:port/db: the master login and the app's schema.",
)
@click.option(
    "--secret-arn",
    required=True,
    metavar="ARN",
    help="The app user secret (the data stack's output app_user_secret_arn); this writes its versions.",
)
@click.option(
    "--privileges",
    default="app",
    show_default=True,
    metavar="SET",
    help="app: SELECT, INSERT, UPDATE, DELETE, EXECUTE, CREATE TEMPORARY TABLES, LOCK TABLES; "
    "app+ddl adds CREATE, ALTER, INDEX, DROP, REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER.",
)
@click.option("--user", "username", metavar="NAME", help="The app user's name (default: the secret's, else DB_app).")
@click.option("--rotate", is_flag=True, help="A new password: a new secret version, the user altered.")
@target_login("master")
@click.option("--report", "report_path", type=click.Path(), help="Also write the user and its grants as JSON here.")
@expected_failures
def app_user(
    target_url: str,
    secret_arn: str,
    privileges: str,
    username: str | None,
    rotate: bool,
    password_prompt: bool,
    password_secret_arn: str | None,
    ssl_ca: str | None,
    allow_plaintext: bool,
    report_path: str | None,
) -> None:
    """Create or align the app's own database user and store its password in the app user secret."""
    options = AppUserOptions(
        target=parse_url(target_url),
        secret_arn=secret_arn,
        privileges=privileges,
        username=username,
        rotate=rotate,
        password_secret_arn=password_secret_arn,
        prompt=prompter("master", password_prompt),
        ssl_ca=ssl_ca,
        allow_plaintext=allow_plaintext,
        report_path=report_path,
    )
    sys.exit(AppUserSession(options, click.echo).run())


def link_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How ``replicate`` and ``cutover`` reach both servers, and how the target reaches the source."""
    options = [
        click.option(
            "--source",
            "source_url",
            required=True,
            metavar="URL",
            help="The old server: mysql+pymysql://user@host:port/db (its password: MIGRATE_SOURCE_PASSWORD "
            "or --source-password-prompt).",
        ),
        click.option(
            "--target",
            "target_url",
            required=True,
            metavar="URL",
            help="The loaded target, as given to migrate run (its checkpoint records the dump's position).",
        ),
        click.option("--source-password-prompt", is_flag=True, help="Ask for the source password."),
        click.option("--password-prompt", is_flag=True, help="Ask for the target password."),
        click.option("--password-secret-arn", metavar="ARN", help="Read the target password from Secrets Manager."),
        click.option("--ssl-ca", type=click.Path(), help="CA bundle for TLS to the target (the RDS global bundle)."),
        click.option("--source-ssl-ca", type=click.Path(), help="CA bundle for TLS to the source."),
        click.option(
            "--allow-plaintext",
            is_flag=True,
            help="Allow connections without TLS: to non-loopback servers, and the replica's own to the source.",
        ),
        click.option(
            "--replication-host",
            metavar="HOST[:PORT]",
            help="The source as the target reaches it (default: the --source URL's host and port).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _link(flags: dict[str, Any]) -> Link:
    source, source_password = resolve_login(
        parse_url(flags["source_url"], "--source", database_required=False),
        "MIGRATE_SOURCE_PASSWORD",
        prompter("source", flags["source_password_prompt"]),
        None,
    )
    target, target_password = resolve_login(
        parse_url(flags["target_url"], database_required=False),
        "MIGRATE_TARGET_PASSWORD",
        prompter("target", flags["password_prompt"]),
        flags["password_secret_arn"],
    )
    address = None
    if flags["replication_host"]:
        host, _, port = (
            flags["replication_host"].rpartition(":")
            if ":" in flags["replication_host"]
            else (flags["replication_host"], "", str(source.port))
        )
        if not port.isdigit():
            raise BadInput(f"--replication-host {flags['replication_host']}: expected HOST or HOST:PORT")
        address = Address(host, int(port))
    return Link(
        LinkOptions(
            source=source,
            source_password=source_password,
            target=target,
            target_password=target_password,
            ssl_ca=flags["ssl_ca"],
            source_ssl_ca=flags["source_ssl_ca"],
            allow_plaintext=flags["allow_plaintext"],
            replication_address=address,
            replication_user=flags.get("replication_user") or "migrate_repl",
        )
    )


@cli.group()
def replicate() -> None:
    """Make the loaded target a replica of the old server, from the dump's binlog coordinates."""


@replicate.command("start")
@link_options
@click.option(
    "--replication-user",
    default="migrate_repl",
    show_default=True,
    help="The user the target replicates as (REPLICATION SLAVE and CLIENT on the source).",
)
@click.option(
    "--create-replication-user",
    is_flag=True,
    help="Create (or update) that user on the source with only those privileges.",
)
@click.option(
    "--replication-user-host",
    default="%",
    show_default=True,
    help="With --create-replication-user: where it may connect from (the NAT's address, ideally).",
)
@click.option(
    "--replication-password-secret-arn",
    metavar="ARN",
    help="Its password from Secrets Manager (else MIGRATE_REPLICATION_PASSWORD).",
)
@expected_failures
def replicate_start(
    create_replication_user: bool, replication_user_host: str, replication_password_secret_arn: str | None, **flags: Any
) -> None:
    """Check the source (binary log ROW/FULL, server_id, retention, TLS), point the target at the dump's
    position (RDS procedures or CHANGE MASTER/REPLICATION SOURCE) and start it. A rerun continues."""
    link = _link(flags)
    try:
        options = StartOptions(
            create_user=create_replication_user,
            user_host=replication_user_host,
            password=lambda: replication_password(replication_password_secret_arn, dict(os.environ)),
        )
        sys.exit(replication_start(link, options, click.echo))
    finally:
        link.close()


@replicate.command("status")
@link_options
@click.option(
    "--sample",
    type=click.FloatRange(0.2, 60),
    default=2.0,
    show_default=True,
    help="Seconds between the two looks the ETA is measured over.",
)
@expected_failures
def replicate_status(sample: float, **flags: Any) -> None:
    """State, seconds and transactions behind, last error, and an ETA to catch up.
    Exit 0 while replicating cleanly (or cut over), 1 when stopped or failing."""
    link = _link(flags)
    try:
        sys.exit(replication_status(link, sample, click.echo))
    finally:
        link.close()


@cli.command()
@link_options
@click.option(
    "--max-lag",
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    help="Freeze writes once the target is at most this many seconds behind.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=300.0,
    show_default=True,
    help="Give up waiting for the target to catch up (before the freeze) or to apply the final position.",
)
@click.option("--report", "report_path", type=click.Path(), help="Also write the freeze and the verdict as JSON here.")
@expected_failures
def cutover(max_lag: float, timeout: float, report_path: str | None, **flags: Any) -> None:
    """Verify every table exactly at one source position while the app writes, then freeze writes on the
    source, let the target apply its final position, stop replication, verify exactly the tables written
    since and print how long writes were frozen. Any failure puts the source back read-write; a rerun
    after a crash continues."""
    link = _link(flags)
    options = CutoverOptions(
        max_lag=max_lag,
        timeout=timeout,
        report_path=report_path,
        ask=lambda question: click.prompt(question, err=True, default="", show_default=False),
    )
    try:
        sys.exit(Cutover(link, options, click.echo).run())
    finally:
        link.close()


def main() -> None:
    cli()
