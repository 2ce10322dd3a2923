"""Terraform Cloud speculative plans for a PR: each stack in dependency order, summarized in Markdown.

Run by the PR workflow when a ``TF_API_TOKEN`` secret exists (``python -m infra.review.plans
cdktf.out``, one ``infra synth`` output per environment below it). A stack whose JSON carries no
``cloud`` block (no ``[terraform_cloud] organization`` in its environment file) is listed as not
planned. A speculative plan reads the *current* state of the stacks it depends on, not their planned
changes: a PR that changes the network and the data stack together shows the data stack against
today's network. The pure parts (order, summary) are tested offline; the plan calls need the token.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.synthesized import SynthStack, is_synth_dir, load

MAX_CHARS = 5_000  # the review takes the rest of the comment (it is given 60,000)
_PLAN = re.compile(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy")
_RUN_URL = re.compile(r"https://\S+/runs/run-[A-Za-z0-9]+")


@dataclass(frozen=True)
class PlanSummary:
    status: str  # planned | no changes | failed | not planned
    add: int = 0
    change: int = 0
    destroy: int = 0
    url: str | None = None


def summarize(returncode: int, output: str) -> PlanSummary:
    url_match = _RUN_URL.search(output)
    url = url_match.group(0) if url_match else None
    if returncode != 0:
        return PlanSummary("failed", url=url)
    counts = _PLAN.search(output)
    if counts:
        add, change, destroy = (int(n) for n in counts.groups())
        return PlanSummary("planned", add, change, destroy, url)
    return PlanSummary("no changes", url=url)


def to_markdown(rows: list[tuple[str, str, PlanSummary]], max_chars: int = MAX_CHARS) -> str:
    lines = [
        "### Terraform Cloud speculative plans",
        "",
        "| env | stack | result | add | change | destroy | run |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for env, stack, s in rows:
        destroy = f"**{s.destroy}**" if s.destroy else "0"
        link = f"[run]({s.url})" if s.url else ""
        lines.append(f"| {env} | {stack} | {s.status} | {s.add} | {s.change} | {destroy} | {link} |")
    text = "\n".join(lines) + "\n"
    return (
        text
        if len(text) <= max_chars
        else text[: max_chars - 40].rsplit("\n", 1)[0] + "\n\n_… more stacks not shown._\n"
    )


def plan_stack(stack: SynthStack) -> PlanSummary:
    if "cloud" not in stack.body.get("terraform", {}):
        return PlanSummary("not planned")
    init = subprocess.run(
        ["terraform", "init", "-input=false", "-no-color"], cwd=stack.directory, capture_output=True, text=True
    )
    if init.returncode != 0:
        sys.stderr.write(init.stdout + init.stderr)
        return PlanSummary("failed")
    plan = subprocess.run(
        ["terraform", "plan", "-input=false", "-no-color"], cwd=stack.directory, capture_output=True, text=True
    )
    sys.stderr.write(plan.stdout[-20_000:] + plan.stderr[-5_000:])
    return summarize(plan.returncode, plan.stdout + plan.stderr)


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else "cdktf.out")
    rows = []
    for env_dir in sorted(p for p in root.iterdir() if is_synth_dir(p)):
        for stack in load(env_dir).stacks.values():
            rows.append((env_dir.name, stack.name, plan_stack(stack)))
    sys.stdout.write(to_markdown(rows))
    return 1 if any(s.status == "failed" for _, _, s in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
