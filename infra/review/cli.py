"""`infra review` and `infra graph` (registered on the `infra` group in infra/cli.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from infra.env_option import env_option, load_or_exit

EXIT_OK, EXIT_RISKS, EXIT_BAD_INPUT = 0, 1, 2


@click.command()
@click.option("--base", required=True, help="Git ref to compare the working tree with, e.g. origin/main.")
@env_option(multiple=True, help_text="Environment to review; repeat for several (one report).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option(
    "--max-chars", type=click.IntRange(min=2000), default=65_536, show_default=True, help="Markdown length cap."
)
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
@env_option()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Default: architecture-<env>.<format>.")
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "dot"]), show_default="svg; png with --overview")
@click.option(
    "--synth-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Draw an existing `infra synth` output instead of synthesizing.",
)
@click.option(
    "--overview",
    is_flag=True,
    help="The architecture with AWS icons (Internet to database) instead of every resource; needs the dev extra.",
)
def graph(env_name: str, out: Path | None, fmt: str | None, synth_dir: Path | None, overview: bool) -> None:
    """Draw the synthesized stacks: resources grouped by stack and subnet tier, references as edges."""
    from infra import synthesized
    from infra.review.graph import to_dot

    fmt = fmt or ("png" if overview else "svg")
    out = out or Path(f"architecture-{env_name}.{fmt}")
    picture = _overview_picture(fmt) if overview else None  # before a synth of half a minute, not after
    with tempfile.TemporaryDirectory(prefix="infra-graph-") as scratch:
        if synth_dir is None:
            from infra.app import synth

            synth_dir = Path(scratch) / "out"
            synth(load_or_exit(env_name), synth_dir)
        loaded = synthesized.load(synth_dir)
    if picture is not None:
        from infra.review.overview import overview as overview_of

        picture.draw(overview_of(loaded, f"duewin {env_name}"), out, fmt)
    elif fmt == "dot":
        out.write_text(to_dot(loaded, title=f"duewin {env_name}"))
    else:
        _require_graphviz(", or use --format dot")
        dot = to_dot(loaded, title=f"duewin {env_name}")
        proc = subprocess.run(["dot", f"-T{fmt}", "-o", str(out)], input=dot, text=True, capture_output=True)
        if proc.returncode != 0:
            click.echo(f"error: dot failed: {proc.stderr.strip()}", err=True)
            sys.exit(EXIT_BAD_INPUT)
    click.echo(str(out))


def _overview_picture(fmt: str):
    """infra/review/picture.py, once its package, its format and Graphviz are known to be there."""
    try:
        from infra.review import picture
    except ImportError as exc:
        click.echo(f"error: --overview needs the `diagrams` package ({exc}): pip install -e '.[dev]'", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if fmt not in picture.FORMATS:
        click.echo(
            f"error: --overview draws {' or '.join(picture.FORMATS)}, not {fmt} (an SVG would link its icons "
            "from this machine's Python packages)",
            err=True,
        )
        sys.exit(EXIT_BAD_INPUT)
    _require_graphviz()  # diagrams runs `dot` for every format
    return picture


def _require_graphviz(alternative: str = "") -> None:
    if shutil.which("dot") is None:
        click.echo(f"error: Graphviz `dot` is not on PATH (apt-get install graphviz){alternative}", err=True)
        sys.exit(EXIT_BAD_INPUT)
