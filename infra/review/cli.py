"""`infra review` and `infra graph` (registered on the `infra` group in infra/cli.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from infra.config import DEFAULT_ENVIRONMENT

EXIT_OK, EXIT_RISKS, EXIT_BAD_INPUT = 0, 1, 2


@click.command()
@click.option("--base", required=True, help="Git ref to compare the working tree with, e.g. origin/main.")
@click.option(
    "--env",
    "envs",
    multiple=True,
    default=lambda: [os.environ.get("DUEWIN_ENV", DEFAULT_ENVIRONMENT)],
    show_default=f"$DUEWIN_ENV or {DEFAULT_ENVIRONMENT}",
    help="Environment to review; repeat for several (one report).",
)
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option("--max-chars", type=click.IntRange(min=2000), default=65_536, show_default=True, help="Markdown length cap.")
@click.option("--checkov/--no-checkov", default=True, show_default=True, help="Compare checkov findings too.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here instead of stdout.")
def review(base: str, envs: tuple[str, ...], fmt: str, max_chars: int, checkov: bool, out: Path | None) -> None:
    """Diff the synthesized stacks of the working tree against --base and flag risky changes.

    Exit status: 0 no flagged risk, 1 flagged risks, 2 the review could not be made.
    """
    from infra.review.checkout import ReviewError, repository_root
    from infra.review.checkout import review as run_review
    from infra.review.report import to_json, to_markdown

    workdir = Path(tempfile.mkdtemp(prefix="infra-review-out-"))
    try:
        result = run_review(repository_root(Path.cwd()), base, list(dict.fromkeys(envs)), workdir, with_checkov=checkov)
    except ReviewError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = to_json(result) + "\n" if fmt == "json" else to_markdown(result, max_chars)
    if out:
        out.write_text(text)
    else:
        click.echo(text, nl=False)
    sys.exit(EXIT_RISKS if result.risks else EXIT_OK)


@click.command()
@click.option(
    "--env",
    "env_name",
    default=lambda: os.environ.get("DUEWIN_ENV", DEFAULT_ENVIRONMENT),
    show_default=f"$DUEWIN_ENV or {DEFAULT_ENVIRONMENT}",
    help="Environment file under environments/.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Default: architecture-<env>.<format>.")
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "dot"]), default="svg", show_default=True)
@click.option(
    "--synth-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Draw an existing `infra synth` output instead of synthesizing.",
)
def graph(env_name: str, out: Path | None, fmt: str, synth_dir: Path | None) -> None:
    """Draw the synthesized stacks: resources grouped by stack and subnet tier, references as edges."""
    from infra import synthesized
    from infra.review.graph import to_dot

    out = out or Path(f"architecture-{env_name}.{fmt}")
    with tempfile.TemporaryDirectory(prefix="infra-graph-") as scratch:
        if synth_dir is None:
            from infra.app import synth
            from infra.cli import _load

            synth_dir = Path(scratch) / "out"
            synth(_load(env_name), synth_dir)
        dot = to_dot(synthesized.load(synth_dir), title=f"duewin {env_name}")
    if fmt == "dot":
        out.write_text(dot)
    else:
        if shutil.which("dot") is None:
            click.echo("error: Graphviz `dot` is not on PATH (apt-get install graphviz), or use --format dot", err=True)
            sys.exit(EXIT_BAD_INPUT)
        proc = subprocess.run(["dot", f"-T{fmt}", "-o", str(out)], input=dot, text=True, capture_output=True)
        if proc.returncode != 0:
            click.echo(f"error: dot failed: {proc.stderr.strip()}", err=True)
            sys.exit(EXIT_BAD_INPUT)
    click.echo(str(out))
