"""The front page and docs/ link to each other: every relative link names a file that exists and, after `#`,
a heading of it (GitHub's anchors), so moving a section cannot leave a dead link behind."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target), targets without a scheme; code spans are left out first (they hold `[x](y)`-like text).
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"`[^`]*`")


def anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(m) for m in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE)}


def dead_links(page: Path, root: Path = ROOT) -> list[str]:
    found = []
    for target in LINK.findall(CODE.sub("", page.read_text())):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            found.append(f"{page.relative_to(root)}: {target} (no such file)")
        elif fragment and fragment not in anchors(linked):
            found.append(f"{page.relative_to(root)}: {target} (no such heading)")
    return found


def test_every_relative_link_of_the_docs_resolves():
    assert [link for page in PAGES for link in dead_links(page)] == []


def test_a_dead_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## Fleet-wide singletons and cron jobs\n")
    page.write_text("[a](other.md#fleet-wide-singletons-and-cron-jobs) [b](other.md#gone) [c](missing.md) `[d](x)`\n")
    assert [line.split(": ", 1)[1] for line in dead_links(page, tmp_path)] == [
        "other.md#gone (no such heading)",
        "missing.md (no such file)",
    ]
