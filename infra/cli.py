"""`infra` — the project's command line (also `python -m infra`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from infra import engine
from infra.check_scaling import check_scaling
from infra.engine import ENGINES
from infra.env_option import env_option, load_or_exit
from migrate.text_table import aligned


@click.group()
def main() -> None:
    """Synthesize and review duewin's AWS infrastructure."""


@main.command()
@env_option()
@click.option(
    "--out",
    "outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("CDKTF_OUTDIR", "cdktf.out"),
    show_default="$CDKTF_OUTDIR or cdktf.out",
    help="Where the Terraform JSON goes.",
)
@click.option(
    "--engine",
    "engine_name",
    type=click.Choice(list(ENGINES)),
    show_default="$DUEWIN_ENGINE, else the environment file's engine, else cdktf",
    help="What synthesizes: CDKTF, or its fork CDK Terrain (pip install -e '.[cdktn]').",
)
@click.option("--quiet", is_flag=True, help="No summary table.")
def synth(env_name: str, outdir: Path, engine_name: str | None, quiet: bool) -> None:
    """Synthesize every stack of an environment to Terraform JSON, offline."""
    config = load_or_exit(env_name)
    from infra.app import synth as synth_app

    started = time.monotonic()
    try:
        if engine_name:
            engine.select(engine_name)
        stacks = synth_app(config, outdir).stacks.values()
    except engine.EngineError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if quiet:
        return
    rows = [(s.name, str(s.resource_count), str(s.output_count), str(s.file)) for s in stacks]
    for line in aligned([("stack", "resources", "outputs", "json"), *rows]):
        click.echo(line)
    used, seconds = engine.current(), time.monotonic() - started
    click.echo(f"{config.name}: {len(stacks)} stacks synthesized by {used.name} {used.version()} in {seconds:.1f}s")


@main.command()
@env_option()
@click.option(
    "--lite", is_flag=True, help="Leave out what the emulator cannot do or does slowly (the test suite's subset)."
)
def rehearse(env_name: str, lite: bool) -> None:
    """Apply, re-plan and destroy every stack against a local AWS emulator (moto on 127.0.0.1)."""
    from infra.rehearsal.command import rehearse_environment

    try:
        sys.exit(rehearse_environment(load_or_exit(env_name), lite=lite, echo=click.echo))
    except engine.EngineError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@main.command("app-settings")
@env_option()
def app_settings(env_name: str) -> None:
    """List the app's required settings present or missing in Parameter Store (names only, never values).

    Exit status: 0 complete, 1 the boot would stop (a setting missing or misplaced), 2 the check could not run.
    """
    from infra.settings_check import run_check

    sys.exit(run_check(load_or_exit(env_name)))


main.add_command(check_scaling)


# Defined in infra/review/cli.py; registered here so `infra --help` lists every command.
from infra.review.cli import graph, review  # noqa: E402

main.add_command(review)
main.add_command(graph)
