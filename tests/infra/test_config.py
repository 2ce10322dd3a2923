"""Environment files: the shipped ones load; every kind of bad file is one line naming file, line and field."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from infra.config import DUEWIN_PROCESSES, ENVIRONMENTS_DIR, MANAGED_RULE_GROUPS, ConfigError, load_environment
from infra.connection_budget import max_connections
from tests.infra.variants import changed

DEV = (ENVIRONMENTS_DIR / "dev.toml").read_text()
SQLI = 'AWSManagedRulesSQLiRuleSet = { action = "count" }'


def test_shipped_environments_follow_the_scaling_guide():
    dev, prod = load_environment("dev"), load_environment("prod")
    assert (dev.app.min_size, dev.app.max_size, dev.app.desired_capacity, dev.app.cpu_target_percent) == (2, 3, 2, 70)
    assert (prod.app.min_size, prod.app.max_size) == (2, 10)
    assert (dev.database.instance_class, dev.cache.node_type, dev.app.instance_type) == (
        "db.t3.small",
        "cache.t3.micro",
        "t2.micro",
    )
    assert dev.network.nat_mode == "single" and not dev.database.multi_az
    assert prod.app.instance_type == "t2.small" and prod.database.multi_az and prod.network.nat_mode == "per-az"
    assert load_environment("staging").stack_name("network") == "duewin-staging-network"


def test_shipped_environments_run_duewin_as_it_is():
    # GIVEN the shipped files THEN the app's contract (APP-CONTRACT.md) is what they say, and the defaults say it too.
    for env in ("dev", "staging", "prod"):
        config = load_environment(env)
        app = config.app
        assert app.directory == "Backend" and app.processes == DUEWIN_PROCESSES
        assert [(p.name, p.script, p.per_host, p.placement) for p in app.processes] == [
            ("web", "index.js", 1, "every-host"),
            ("workers", "workers/workerManager.js", 2, "every-host"),
            ("scheduler", "scripts/start-scheduler.js", 1, "one-in-fleet"),
            ("precalc-5d", "scripts/5dPreCalcScheduler.js", 1, "one-in-fleet"),
        ]
        assert set(app.required_settings) == {
            "PRELUDE_API_KEY",
            "SPRIBE_CLIENT_ID",
            "SPRIBE_CLIENT_SECRET",
            "CASINO_AGENCY_UID",
            "CASINO_AES_KEY",
            "JWT_SECRET",
            "JWT_REFRESH_SECRET",
            "ADMIN_JWT_SECRET",
            "ENCRYPTION_KEY",
        }
        assert config.load_balancer.stickiness and config.cache.maxmemory_policy == "noeviction"
        assert config.database.require_tls
        assert config.connection_budget.fits


def test_connection_budget_of_each_environment():
    # The figures docs/infrastructure.md quotes: max_size × per-host pools + the one-in-fleet pools, against the
    # class's default.
    budgets = {env: load_environment(env).connection_budget for env in ("dev", "staging", "prod")}
    assert {env: (b.total, b.limit) for env, b in budgets.items()} == {
        "dev": (110, 145),
        "staging": (260, 312),
        "prod": (320, 624),
    }
    assert budgets["prod"].describe() == (
        "10 hosts × 30 (web 1×10, workers 2×10) + 20 once in the fleet (scheduler 1×10, precalc-5d 1×10) "
        "= 320 of db.t3.large's 624 (51%)"
    )


def test_behind_rds_proxy_the_budget_counts_the_proxy_pool_not_the_fleet(tmp_path):
    # GIVEN dev with twice the hosts its database admits WHEN RDS Proxy is in front THEN it loads: the
    # database sees the proxy's pool (90 % of its limit), the clients are multiplexed onto it.
    text = DEV.replace("max_size = 3 ", "max_size = 8 ").replace("proxy = false", "proxy = true")
    budget = load_environment("dev", _write(tmp_path, text)).connection_budget
    assert (budget.fleet_connections, budget.total, budget.limit, budget.fits) == (260, 130, 145, True)
    assert budget.describe().endswith(
        "= 260 client connections to RDS Proxy, whose pool is 90 % of db.t3.small's 145 = 130 (90%)"
    )
    # The alarm keeps watching the instance's own limit.
    assert load_environment("dev", _write(tmp_path, text)).alarm_thresholds.db_connections == 116
    with pytest.raises(ConfigError, match=r"app\.max_size: connection budget: 8 hosts"):
        load_environment("dev", _write(tmp_path, text.replace("proxy = true", "proxy = false")))


def test_max_connections_follows_aws_formula_and_errs_low_against_reported_values():
    # Reported by real instances (DBInstanceClassMemory/12582880): never above them.
    reported = {"db.t3.micro": 64, "db.t4g.micro": 60, "db.t3.medium": 312, "db.t3.large": 630}
    for instance_class, value in reported.items():
        assert value - 8 <= max_connections(instance_class) <= value, instance_class
    assert max_connections("db.r6g.large") > max_connections("db.m6g.large") > max_connections("db.t4g.medium")


def test_db_connections_alarm_derives_from_the_same_limit_unless_set():
    dev = load_environment("dev")
    assert dev.alarms.thresholds.db_connections is None
    assert dev.alarm_thresholds.db_connections == int(0.8 * max_connections("db.t3.small")) == 116
    assert changed(dev, {"alarms": {"thresholds": {"db_connections": 90}}}).alarm_thresholds.db_connections == 90


def _write(tmp_path: Path, text: str, name: str = "dev") -> Path:
    (tmp_path / f"{name}.toml").write_text(text)
    return tmp_path


#: Each case: edits of dev.toml and the error they must cause (the file says how it is read).
BAD_FILES = tomllib.loads((Path(__file__).parent / "bad_files.toml").read_text())


def _bad_file(case: str) -> tuple[str, str]:
    """dev.toml with the case's edits made, and the pattern of the error it must cause."""
    text = DEV
    for old, new, *count in BAD_FILES[case]["edits"]:
        assert old in text, f"{case}: the edit of {old!r} finds nothing in dev.toml"
        text = text.replace(old, new, *count)
    error = BAD_FILES[case]["error"]
    return text, error if isinstance(error, str) else "".join(error)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_one_line_naming_file_and_field(tmp_path, case):
    text, pattern = _bad_file(case)
    directory = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_environment("dev", directory)
    message = str(caught.value)
    assert "\n" not in message
    assert str(directory / "dev.toml") in message or "dev.toml" in message
    assert re.search(pattern, message), message


def test_prefix_too_long_for_load_balancer_names(tmp_path):
    # GIVEN a long project name and a long environment name WHEN loaded THEN refused before AWS refuses the ALB.
    directory = _write(
        tmp_path, DEV.replace('project = "duewin"', 'project = "duewin-backend-api"'), name="performance"
    )
    with pytest.raises(
        ConfigError,
        match=r"performance\.toml: \(top level\): .*'duewin-backend-api-performance' \(30 characters\); "
        r"load balancer names allow at most 28",
    ):
        load_environment("performance", directory)


def test_line_number_points_at_the_offending_key(tmp_path):
    directory = _write(tmp_path, DEV.replace("az_count = 2", "az_count = 1"))
    with pytest.raises(ConfigError) as caught:
        load_environment("dev", directory)
    line = int(str(caught.value).split(":")[1])
    assert DEV.splitlines()[line - 1].startswith("az_count")


def test_line_number_of_a_key_inside_an_inline_table(tmp_path):
    # GIVEN a bad value inside `Group = { … }` under [waf.rule_groups] THEN the line is that of the inline table.
    text = DEV.replace(SQLI, SQLI.replace("count", "deny"))
    with pytest.raises(ConfigError) as caught:
        load_environment("dev", _write(tmp_path, text))
    line = int(str(caught.value).split(":")[1])
    assert text.splitlines()[line - 1].startswith('AWSManagedRulesSQLiRuleSet = { action = "deny" }')


def test_waf_is_on_and_blocking_in_staging_and_prod_and_off_in_dev():
    dev, staging, prod = (load_environment(env).waf for env in ("dev", "staging", "prod"))
    assert not dev.enabled and staging.enabled and prod.enabled
    for waf in (staging, prod):
        assert {waf.group(group).action for group in MANAGED_RULE_GROUPS} == {"block"}
        assert waf.rate_limit_action == "block"
    # Switched on in dev, it only counts.
    assert dev.group("AWSManagedRulesCommonRuleSet").action == "count" and dev.rate_limit_action == "count"


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown environment 'qa'.*known: dev, prod, staging"):
        load_environment("qa")


def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path):
    # GIVEN an unknown environment WHEN synth runs THEN exit 2, one stderr line, nothing synthesized.
    proc = subprocess.run(
        [sys.executable, "-m", "infra", "synth", "--env", "qa", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: unknown environment 'qa'")
    assert not (tmp_path / "out").exists()
