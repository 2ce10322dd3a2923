"""Tier 2: checkov finds nothing that tools/checkov-skips.toml does not accept with a reason."""

from __future__ import annotations

import pytest

from infra.checkov_scan import CheckovUnavailable, Finding, Skip, checkov_binary, load_skips, scan
from tests.conftest import missing
from tests.infra.variants import VARIANTS

# The shipped environments, and prod with [edge] on (off everywhere by default, yet it must pass too).
SCANNED = VARIANTS
pytestmark = pytest.mark.engines


@pytest.fixture(scope="session")
def scans(synthesized):
    try:
        checkov_binary()
    except CheckovUnavailable as exc:
        missing(str(exc))
    return {name: scan(synthesized(name).outdir, synthesized(name).env) for name in SCANNED}


@pytest.mark.parametrize("env", SCANNED)
def test_no_unexplained_findings(scans, env):
    result = scans[env]
    assert result.passed > 50, "checkov ran but checked almost nothing"
    assert not result.unexplained, "\n".join(map(str, result.unexplained))


def test_every_skip_still_matches_something(scans):
    used = {skip for result in scans.values() for _, skip in result.accepted}
    stale = [f"{s.check} {s.resource}" for s in load_skips() if s not in used]
    assert not stale, f"stale skips (remove them): {stale}"


def test_skip_is_scoped_to_its_resource_and_environments():
    skip = Skip(check="CKV_AWS_338", resource="resource.flow-logs_log-group_*", reason="r", environments=("dev",))
    finding = Finding("CKV_AWS_338", "retention", "resource.flow-logs_log-group_BD9661F8", "duewin-dev-network")
    assert skip.accepts(finding, "dev")
    assert not skip.accepts(finding, "prod")
    assert not skip.accepts(Finding("CKV_AWS_338", "retention", "resource.other_log_group_1", "s"), "dev")
    assert not skip.accepts(Finding("CKV_AWS_158", "kms", "resource.flow-logs_log-group_BD9661F8", "s"), "dev")


def test_skip_without_reason_is_refused(tmp_path):
    path = tmp_path / "skips.toml"
    path.write_text('[[skip]]\ncheck = "CKV_AWS_1"\nresource = "x"\nreason = "  "\n')
    with pytest.raises(ValueError, match="has no reason"):
        load_skips(path)
