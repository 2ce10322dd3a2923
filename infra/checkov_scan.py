"""Run checkov over synthesized Terraform JSON and apply the project's per-resource skip list.

checkov ignores in-resource skip comments on JSON (DESIGN §4), and its own ``--skip-check`` is global
by check id, which would hide the same finding on every future resource. So the accepted findings
live in ``tools/checkov-skips.toml``: each names the check, the resource address pattern it applies
to (optionally the environments), and a written reason. A finding no entry accepts is a failure;
an entry that accepts nothing is stale and is reported too.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPS_FILE = ROOT / "tools" / "checkov-skips.toml"
PROJECT_CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


class CheckovUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    resource: str
    stack: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.stack}: {self.resource} — {self.check_name}"


@dataclass(frozen=True)
class Skip:
    check: str
    resource: str
    reason: str
    environments: tuple[str, ...] = ()

    def accepts(self, finding: Finding, environment: str) -> bool:
        if self.environments and environment not in self.environments:
            return False
        return finding.check_id == self.check and fnmatch.fnmatchcase(finding.resource, self.resource)


@dataclass(frozen=True)
class ScanResult:
    passed: int
    unexplained: list[Finding]
    accepted: list[tuple[Finding, Skip]]


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    data = tomllib.loads(path.read_text())
    skips = []
    for index, entry in enumerate(data.get("skip", [])):
        if not str(entry.get("reason", "")).strip():
            raise ValueError(f"{path}: skip #{index + 1} ({entry.get('check')}) has no reason")
        skips.append(
            Skip(
                check=entry["check"],
                resource=entry["resource"],
                reason=entry["reason"].strip(),
                environments=tuple(entry.get("environments", ())),
            )
        )
    return skips


def checkov_binary() -> str:
    for candidate in (os.environ.get("CHECKOV"), str(PROJECT_CHECKOV), shutil.which("checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise CheckovUnavailable("checkov not found (make setup installs it into .tools/checkov)")


def scan(synth_dir: Path, environment: str, skips: list[Skip] | None = None) -> ScanResult:
    """Scan every stack under ``synth_dir`` and sort each failure into accepted or unexplained."""
    skips = load_skips() if skips is None else skips
    proc = subprocess.run(
        [
            checkov_binary(),
            "-d",
            str(synth_dir),
            "--framework",
            "terraform_json",
            "--skip-download",
            "-o",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # checkov exits 1 when anything fails; only unparseable output is an error of the scan itself.
    try:
        reports = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(
            f"checkov produced no JSON (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        ) from None
    reports = reports if isinstance(reports, list) else [reports]
    passed = 0
    unexplained: list[Finding] = []
    accepted: list[tuple[Finding, Skip]] = []
    for report in reports:
        results = report.get("results", {})
        passed += report.get("summary", {}).get("passed", 0)
        for failed in results.get("failed_checks", []):
            finding = Finding(
                check_id=failed["check_id"],
                check_name=failed["check_name"],
                resource=failed["resource"],
                stack=Path(failed["file_path"]).parent.name,
            )
            skip = next((s for s in skips if s.accepts(finding, environment)), None)
            if skip:
                accepted.append((finding, skip))
            else:
                unexplained.append(finding)
    return ScanResult(passed=passed, unexplained=unexplained, accepted=accepted)
