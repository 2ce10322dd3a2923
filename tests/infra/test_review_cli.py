"""`infra review` end to end on a throwaway git repository with real history.

The repository is a copy of this one's tracked files plus a fixture appended to the network stack:
a few extra resources (an S3 log bucket with encryption, an ALB, a Route 53 record, a security
group, an IAM policy document) written with CDKTF's stack override escape hatch, whose flags the
commits flip. Commit A is the baseline, commit C a harmless change on top (a tag, the dev
environment's instance type and flow-log retention); the working tree (uncommitted, so the review
must read the working tree, not HEAD) then turns on every risk at once. Two reviews, four synths.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.checkov_scan import CheckovUnavailable, checkov_binary
from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}

FIXTURE = '''

# --- review test fixture (tests/infra/test_review_cli.py) ---
import json as _json

_FIXTURE_OVERRIDES = _json.loads(r"""{overrides}""")
_fixture_init = NetworkStack.__init__


def _fixture(self, scope, config):
    _fixture_init(self, scope, config)
    for path, value in _FIXTURE_OVERRIDES.items():
        self.add_override(path, value)


NetworkStack.__init__ = _fixture
'''


def overrides(*, bucket: bool, protect: bool, open_: bool, wildcard: bool, record: str, tag: str) -> dict:
    resources = {
        "aws_lb.review": {
            "name": "duewin-dev-review",
            "internal": False,
            "load_balancer_type": "application",
            "subnets": ["subnet-0a", "subnet-0b"],
            "drop_invalid_header_fields": True,
            "enable_deletion_protection": protect,
        },
        "aws_route53_record.review": {
            "zone_id": "Z0123456789ABC",
            "name": record,
            "type": "CNAME",
            "ttl": 300,
            "records": ["example.com"],
        },
        "aws_security_group.review": {
            "name": "duewin-dev-review",
            "description": "review fixture",
            "vpc_id": "vpc-0123",
            "tags": {"Purpose": tag},
            "ingress": [
                {
                    "description": "ssh",
                    "protocol": "tcp",
                    "from_port": 22,
                    "to_port": 22,
                    "cidr_blocks": ["0.0.0.0/0" if open_ else "10.10.0.0/16"],
                    "ipv6_cidr_blocks": [],
                    "prefix_list_ids": [],
                    "security_groups": [],
                    "self": False,
                }
            ],
        },
        "aws_vpc_security_group_ingress_rule.review_v6": {
            "security_group_id": "${aws_security_group.review.id}",
            "ip_protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "cidr_ipv6": "::/0" if open_ else "fd00::/8",
        },
    }
    if bucket:
        resources["aws_s3_bucket.review_logs"] = {"bucket": "duewin-dev-review-logs"}
        resources["aws_s3_bucket_server_side_encryption_configuration.review_logs"] = {
            "bucket": "${aws_s3_bucket.review_logs.id}",
            "rule": [{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
        }
    statement = {
        "sid": "Read",
        "actions": ["s3:*"] if wildcard else ["s3:GetObject"],
        "resources": ["*"] if wildcard else ["arn:aws:s3:::duewin-dev-review-logs/*"],
    }
    return {
        **{f"resource.{address}": body for address, body in resources.items()},
        "data.aws_iam_policy_document.review": {"statement": [statement]},
    }


def _apply(repo: Path, **flags) -> None:
    network = repo / "infra" / "stacks" / "network.py"
    text = (ROOT / "infra" / "stacks" / "network.py").read_text()
    network.write_text(text + FIXTURE.format(overrides=json.dumps(overrides(**flags))))


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer contains {old!r}: update this test's harmless change"
    path.write_text(text.replace(old, new, 1))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("review-repo")
    for name in _git(ROOT, "ls-files").splitlines():
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    baseline = dict(bucket=True, protect=True, open_=False, wildcard=False, record="www.duewin.example")
    _git(repo, "init", "-q", "-b", "main")
    _apply(repo, **baseline, tag="review")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "A: baseline with the review fixture")
    _apply(repo, **baseline, tag="review-renamed")
    _replace(repo / "environments" / "dev.toml", 'instance_type = "t2.micro"', 'instance_type = "t3.small"')
    _replace(repo / "environments" / "dev.toml", "flow_log_retention_days = 30", "flow_log_retention_days = 60")
    _git(repo, "commit", "-q", "-am", "C: harmless: a tag, an instance type, a retention")
    return repo


def _review(repo: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        checkov = checkov_binary()
    except CheckovUnavailable as exc:
        missing(str(exc))
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "infra", "review", *args],
        cwd=repo,
        env={**os.environ, "CHECKOV": checkov, "TMPDIR": str(scratch)},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    # The base's worktree and the synth outputs are cleaned up whatever the outcome.
    assert list(scratch.glob("infra-review*")) == []
    assert len(_git(repo, "worktree", "list").splitlines()) == 1
    return proc


def test_harmless_change_is_reviewed_without_flags(repo, tmp_path):
    # GIVEN commit C changed only a tag, an instance type and a retention WHEN reviewed against A
    proc = _review(repo, tmp_path, "--base", "HEAD~1", "--env", "dev")
    # THEN exit 0, the changes are listed, nothing is flagged
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    text = proc.stdout
    assert "No flagged risks" in text and "[!WARNING]" not in text
    assert '!   tags.Purpose: "review" → "review-renamed"' in text
    assert "retention_in_days: 30 → 60" in text
    assert "checkov (dev): 0 new unexplained" in text


def test_every_risk_is_flagged_against_the_working_tree(repo, tmp_path):
    # GIVEN an uncommitted working tree that destroys the log bucket (and its encryption), renames
    # the DNS record, turns off the ALB's deletion protection, opens the group to 0.0.0.0/0 and ::/0
    # and widens the IAM statement to s3:* on *
    _apply(
        repo, bucket=False, protect=False, open_=True, wildcard=True, record="api.duewin.example", tag="review-renamed"
    )
    try:
        proc = _review(repo, tmp_path, "--base", "HEAD", "--env", "dev", "--format", "json")
    finally:
        _git(repo, "checkout", "--", ".")
    # THEN exit 1 and each risk is reported once, on the right resource
    assert proc.returncode == 1, proc.stderr[-3000:] + proc.stdout[-3000:]
    report = json.loads(proc.stdout)
    risks = {(r["kind"], r["address"], r["detail"]) for r in report["environments"]["dev"]["risks"]}
    expected = {
        ("destroy", "aws_s3_bucket.review_logs"),
        ("replace", "aws_route53_record.review"),
        ("protection-off", "aws_lb.review"),
        ("protection-off", "aws_s3_bucket_server_side_encryption_configuration.review_logs"),
        ("open-ingress", "aws_security_group.review"),
        ("open-ingress", "aws_vpc_security_group_ingress_rule.review_v6"),
        ("iam-wildcard", "data.aws_iam_policy_document.review"),
    }
    assert expected <= {(kind, address) for kind, address, _ in risks}
    details = {detail for _, _, detail in risks}
    assert "tcp 22-22 from 0.0.0.0/0" in details and "tcp 443-443 from ::/0" in details
    assert {"statement 'Read': Action 's3:*'", "statement 'Read': Resource '*'"} <= details
    # checkov names JSON resources "resource.<name>" without the type; the check id says which.
    assert any(kind == "checkov" and d.startswith("CKV_AWS_24:") for kind, _, d in risks), risks
    assert not {kind for kind, address, _ in risks if address.startswith(("aws_vpc.", "aws_subnet."))}, (
        "the VPC did not change"
    )
    assert report["base_commit"] == _git(repo, "rev-parse", "HEAD").strip()


def test_bad_input_exits_2(repo, tmp_path):
    unknown_ref = _review(repo, tmp_path, "--base", "no-such-ref", "--no-checkov")
    assert unknown_ref.returncode == 2 and "is not a commit" in unknown_ref.stderr
    unknown_env = _review(repo, tmp_path, "--base", "HEAD", "--env", "nope", "--no-checkov")
    assert unknown_env.returncode == 2 and "unknown environment 'nope'" in unknown_env.stderr
