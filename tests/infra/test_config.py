"""Environment files: the shipped ones load; every kind of bad file is one line naming file, line and field."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import DUEWIN_PROCESSES, ENVIRONMENTS_DIR, MANAGED_RULE_GROUPS, ConfigError, load_environment
from infra.connection_budget import max_connections

DEV = (ENVIRONMENTS_DIR / "dev.toml").read_text()
SQLI = 'AWSManagedRulesSQLiRuleSet = { action = "count" }'


def test_shipped_environments_follow_the_scaling_guide():
    dev, prod = load_environment("dev"), load_environment("prod")
    assert (dev.app.min_size, dev.app.max_size, dev.app.desired_capacity, dev.app.cpu_target_percent) == (2, 3, 2, 70)
    assert (prod.app.min_size, prod.app.max_size) == (2, 10)
    assert (dev.database.instance_class, dev.cache.node_type, dev.app.instance_type) == ("db.t3.small", "cache.t3.micro", "t2.micro")
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
            "PRELUDE_API_KEY", "SPRIBE_CLIENT_ID", "SPRIBE_CLIENT_SECRET", "CASINO_AGENCY_UID", "CASINO_AES_KEY",
            "JWT_SECRET", "JWT_REFRESH_SECRET", "ADMIN_JWT_SECRET", "ENCRYPTION_KEY",
        }
        assert config.load_balancer.stickiness and config.cache.maxmemory_policy == "noeviction"
        assert config.database.require_tls
        assert config.connection_budget.fits


def test_connection_budget_of_each_environment():
    # The figures the README quotes: max_size × per-host pools + the one-in-fleet pools, against the class's default.
    budgets = {env: load_environment(env).connection_budget for env in ("dev", "staging", "prod")}
    assert {env: (b.total, b.limit) for env, b in budgets.items()} == {"dev": (110, 145), "staging": (260, 312), "prod": (320, 624)}
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
    explicit = dev.alarms.model_copy(update={"thresholds": dev.alarms.thresholds.model_copy(update={"db_connections": 90})})
    assert dev.model_copy(update={"alarms": explicit}).alarm_thresholds.db_connections == 90


def _write(tmp_path: Path, text: str, name: str = "dev") -> Path:
    (tmp_path / f"{name}.toml").write_text(text)
    return tmp_path


REPLICATION = '[database.replication_source]\ncidr = "{cidr}"\ndatabases = {databases}\n\n[cache]'
BAD_FILES = {
    "unknown key": (DEV.replace("[app]\n", "[app]\ninstance_typo = 'x'\n"), r"dev\.toml:\d+: app\.instance_typo: unknown key"),
    "wrong type": (DEV.replace("min_size = 2", 'min_size = "two"'), r"dev\.toml:\d+: app\.min_size: .*integer"),
    "min above max": (DEV.replace("min_size = 2", "min_size = 4"), r"dev\.toml:\d+: app: min_size \(4\) is greater than max_size \(3\)"),
    "desired outside range": (DEV.replace("desired_capacity = 2", "desired_capacity = 12"), r"app: desired_capacity \(12\) is outside \[min_size, max_size\]"),
    "one AZ": (DEV.replace("az_count = 2", "az_count = 1"), r"dev\.toml:\d+: network\.az_count: .*greater than or equal to 2"),
    "too small VPC": (DEV.replace('"10.10.0.0/16"', '"10.10.0.0/20"'), r"network: VPC 10\.10\.0\.0/20 is too small"),
    "host bits in CIDR": (DEV.replace('"10.10.0.0/16"', '"10.10.0.1/16"'), r"network\.vpc_cidr: "),
    "overlapping subnets": (
        DEV.replace("[app]\n", 'public_subnet_cidrs = ["10.10.0.0/24", "10.10.1.0/24"]\napp_subnet_cidrs = ["10.10.1.0/24", "10.10.16.0/20"]\n\n[app]\n'),
        r"network: app subnet 10\.10\.1\.0/24 overlaps public subnet",
    ),
    "invalid TOML": (DEV.replace("[app]", "[app"), r"dev\.toml: invalid TOML: .*line \d+"),
    "bad retention": (DEV.replace("flow_log_retention_days = 30", "flow_log_retention_days = 31"), r"network: flow_log_retention_days must be one of"),
    "git and S3 source both": (
        DEV.replace("directory =", 'artifact = "s3://duewin-builds/backend.tar.gz"\ndirectory ='),
        r"dev\.toml:\d+: app: set exactly one of repository \(git\) and artifact",
    ),
    "no app source": (re.sub(r"\nrepository = .*", "", DEV), r"app: set exactly one of repository"),
    "bad app log retention": (DEV.replace("log_retention_days = 30\n\n# Process roles", "log_retention_days = 31\n\n# Process roles"), r"app: log_retention_days must be one of"),
    "health check timeout not below interval": (
        DEV.replace("health_check_timeout_seconds = 5", "health_check_timeout_seconds = 15"),
        r"dev\.toml:\d+: load_balancer: health_check_timeout_seconds \(15\) must be below health_check_interval_seconds \(15\)",
    ),
    "TLS policy below 1.3": (
        DEV.replace("idle_timeout_seconds = 300", 'idle_timeout_seconds = 300\nssl_policy = "ELBSecurityPolicy-2016-08"'),
        r"load_balancer\.ssl_policy: .*ELBSecurityPolicy-TLS13-",
    ),
    "idle timeout too short for WebSockets": (DEV.replace("idle_timeout_seconds = 300", "idle_timeout_seconds = 20"), r"load_balancer\.idle_timeout_seconds: .*greater than or equal to 60"),
    "zone of another region": (DEV.replace("az_count = 2", 'az_count = 2\navailability_zones = ["us-east-1a", "eu-west-1b"]'), r"'eu-west-1b' is not a zone of us-east-1"),
    "alarm threshold out of range": (
        DEV.replace("fleet_cpu_percent = 90", "fleet_cpu_percent = 190"),
        r"dev\.toml:\d+: alarms\.thresholds\.fleet_cpu_percent: .*less than or equal to 100",
    ),
    "edge without a domain": (
        DEV.replace("create_dns = false", "create_dns = true"),
        r"dev\.toml: \(top level\): edge\.create_cloudfront and edge\.create_dns need dns\.domain",
    ),
    "cloudfront without dns": (
        DEV.replace("create_cloudfront = false", "create_cloudfront = true").replace("[edge]", '[dns]\ndomain = "example.com"\n\n[edge]'),
        r"edge\.create_cloudfront needs edge\.create_dns",
    ),
    "cloudfront without the ALB certificate": (
        DEV.replace("create_cloudfront = false", "create_cloudfront = true")
        .replace("create_dns = false", "create_dns = true")
        .replace("[edge]", '[dns]\ndomain = "example.com"\n\n[edge]'),
        r"edge\.create_cloudfront needs dns\.certificate_arn",
    ),
    "health check outside us-east-1": (
        DEV.replace("create_dns = false", "create_dns = true")
        .replace('region = "us-east-1"', 'region = "eu-west-1"')
        .replace("[edge]", '[dns]\ndomain = "example.com"\n\n[edge]'),
        r"edge\.create_dns needs region us-east-1",
    ),
    "storage alarm above the allocation": (
        DEV.replace("db_free_storage_gb = 2", "db_free_storage_gb = 25"),
        r"alarms\.thresholds\.db_free_storage_gb \(25\) must be below database\.allocated_storage_gb \(20\)",
    ),
    "performance insights on a small class": (
        DEV.replace("performance_insights = false", "performance_insights = true"),
        r"dev\.toml:\d+: database: performance_insights is not available on db\.t3\.small",
    ),
    "database log retention": (
        DEV.replace("max_allowed_packet_mb = 64\nlog_retention_days = 30", "max_allowed_packet_mb = 64\nlog_retention_days = 31"),
        r"database: log_retention_days must be one of",
    ),
    "packet too small for the cutover": (DEV.replace("max_allowed_packet_mb = 64", "max_allowed_packet_mb = 8"), r"database\.max_allowed_packet_mb: .*greater than or equal to 16"),
    "backups off": (DEV.replace("backup_retention_days = 1", "backup_retention_days = 0"), r"database\.backup_retention_days: .*greater than or equal to 1"),
    "bad backup window": (DEV.replace("backup_retention_days = 1", 'backup_retention_days = 1\nbackup_window = "3am"'), r"database\.backup_window: .*pattern"),
    "bad monitoring interval": (DEV.replace("monitoring_interval = 60", "monitoring_interval = 45"), r"database\.monitoring_interval: "),
    "bad master username": (DEV.replace("[database]\n", '[database]\nusername = "admin-user"\n'), r"database\.username: .*pattern"),
    "redis version without TLS+AUTH": (DEV.replace("replicas = 0", 'replicas = 0\nengine_version = "5.0"'), r"cache\.engine_version: .*pattern"),
    "redis snapshots off": (DEV.replace("snapshot_retention_days = 1", "snapshot_retention_days = 0"), r"cache\.snapshot_retention_days: .*greater than or equal to 1"),
    "an emulator toggle among the cache's settings": (
        DEV.replace("replicas = 0", "replicas = 0\ncreate_replication_group = false"),
        r"dev\.toml:\d+: cache\.create_replication_group: unknown key",
    ),
    "the rehearsal's section in an environment file": (
        DEV + "\n[rehearsal]\nomit_database_instance = true\n",
        r"dev\.toml:\d+: rehearsal: set by the deploy rehearsal's profile only; remove it",
    ),
    "secret recovery window": (
        DEV.replace("30\nsecret_recovery_days = 0", "30\nsecret_recovery_days = 3"),
        r"dev\.toml:\d+: cache: secret_recovery_days must be 0 or 7–30",
    ),
    "app user secret recovery window": (
        DEV.replace("secret_recovery_days = 0 ", "secret_recovery_days = 40 ", 1),
        r"dev\.toml:\d+: database: secret_recovery_days must be 0 or 7–30 \(Secrets Manager's range\), not 40",
    ),
    "a proxy pool that leaves the database no headroom": (
        DEV.replace("proxy = false", "proxy = true\nproxy_max_connections_percent = 100"),
        r"dev\.toml:\d+: database\.proxy_max_connections_percent: connection budget: 3 hosts × 30 .* = 110 client "
        r"connections to RDS Proxy, whose pool is 100 % of db\.t3\.small's 145 = 145 \(100%\), above 90 %: "
        r"lower it to 90",
    ),
    "no web process": (
        DEV.replace('name = "web"', 'name = "api"'),
        r"dev\.toml:\d+: app\.processes: no 'web' process: exactly one serves the target group's port",
    ),
    "two processes of one name": (DEV.replace('name = "precalc-5d"', 'name = "scheduler"'), r"app\.processes\[3\]\.name: 'scheduler' names two processes"),
    "script outside the checkout": (
        DEV.replace('script = "scripts/start-scheduler.js"', 'script = "scripts/../../etc/passwd"'),
        r"app\.processes\[2\]\.script: 'scripts/\.\./\.\./etc/passwd' leaves the app's checkout",
    ),
    "absolute script": (DEV.replace('script = "index.js"', 'script = "/usr/bin/node"'), r"app\.processes\[0\]\.script: .*pattern"),
    "one-in-fleet with copies": (
        DEV.replace('placement = "one-in-fleet"\n\n', 'placement = "one-in-fleet"\nper_host = 2\n\n', 1),
        r"app\.processes\[2\]\.per_host: a one-in-fleet process runs one copy in the fleet; per_host must be 1, not 2",
    ),
    "two web copies per host": (
        DEV.replace('script = "index.js"', 'script = "index.js"\nper_host = 2'),
        r"app\.processes\[0\]\.per_host: 'web' runs once on every host",
    ),
    "unknown placement": (DEV.replace('placement = "one-in-fleet"', 'placement = "leader"', 1), r"app\.processes\[2\]\.placement: .*'every-host' or 'one-in-fleet'"),
    "lock ttl on an every-host process": (
        DEV.replace("per_host = 2", "per_host = 2\nlock_ttl_seconds = 30"),
        r"app\.processes\[1\]\.lock_ttl_seconds: only a one-in-fleet process takes the fleet lock",
    ),
    "app.env names a connection setting": (
        DEV.replace("[load_balancer]", '[app.env]\nREDIS_HOST = "localhost"\n\n[load_balancer]'),
        r"dev\.toml:\d+: app\.env\.REDIS_HOST: set by the bootstrap",
    ),
    "app.env key not a setting name": (DEV.replace("[load_balancer]", '[app.env]\nallowed-origins = "*"\n\n[load_balancer]'), r"app\.env\.allowed-origins: not a setting name"),
    "required setting not a setting name": (
        DEV.replace("[[app.processes]]", 'required_settings = ["JWT_SECRET", "jwt-refresh"]\n\n[[app.processes]]', 1),
        r"app\.required_settings\[1\]: 'jwt-refresh' is not a setting name",
    ),
    "over the connection budget": (
        DEV.replace("max_size = 3 ", "max_size = 5 "),
        r"dev\.toml:\d+: app\.max_size: connection budget: 5 hosts × 30 \(web 1×10, workers 2×10\) \+ 20 once in the fleet "
        r"\(scheduler 1×10, precalc-5d 1×10\) = 170 of db\.t3\.small's 145 \(117%\), above 90 %: lower app\.max_size to 3, "
        r"or lower a process's pool or per_host, or use database\.instance_class = 'db\.t3\.medium' \(312\)",
    ),
    "a database class outside the table": (DEV.replace('instance_class = "db.t3.small"', 'instance_class = "db.x1e.32xlarge"'), r"database\.instance_class: db\.x1e\.32xlarge is not in the table"),
    "redis alarm too late under noeviction": (
        DEV.replace("db_free_storage_gb = 2", "db_free_storage_gb = 2\nredis_memory_percent = 98"),
        r"alarms\.thresholds\.redis_memory_percent: 98 % leaves no time to act under noeviction",
    ),
    "replication source on a private address": (
        DEV.replace("[cache]", REPLICATION.format(cidr="10.20.0.5/32", databases='["duewin"]')),
        r"dev\.toml:\d+: database\.replication_source\.cidr: 10\.20\.0\.5/32 is not a public address: "
        r".*VPN or Direct Connect",
    ),
    "replication source a whole network": (
        DEV.replace("[cache]", REPLICATION.format(cidr="52.66.0.0/16", databases='["duewin"]')),
        r"database\.replication_source\.cidr: 52\.66\.0\.0/16 is a whole network",
    ),
    "replication source without databases": (
        DEV.replace("[cache]", REPLICATION.format(cidr="52.66.10.20/32", databases="[]")),
        r"database\.replication_source\.databases: .*at least 1",
    ),
    "replication of a database name that is not one": (
        DEV.replace("[cache]", REPLICATION.format(cidr="52.66.10.20/32", databases='["due win"]')),
        r"database\.replication_source\.databases: 'due win' is not a database name",
    ),
    "redis log retention": (
        DEV.replace("snapshot_retention_days = 1\nlog_retention_days = 30", "snapshot_retention_days = 1\nlog_retention_days = 2"),
        r"cache: log_retention_days must be one of",
    ),
    "unknown WAF rule group": (
        DEV.replace("AWSManagedRulesSQLiRuleSet = {", "AWSManagedRulesBotControlRuleSet = {"),
        r"dev\.toml:\d+: waf\.rule_groups\.AWSManagedRulesBotControlRuleSet: .*AWSManagedRulesAmazonIpReputationList",
    ),
    "WAF group action neither block nor count": (
        DEV.replace(SQLI, SQLI.replace('"count"', '"allow"')),
        r"dev\.toml:\d+: waf\.rule_groups\.AWSManagedRulesSQLiRuleSet\.action: .*'block' or 'count'",
    ),
    "WAF override of no rule": (
        DEV.replace(SQLI, 'AWSManagedRulesSQLiRuleSet = { overrides = { "SQLi BODY" = "count" } }'),
        r"waf\.rule_groups\.AWSManagedRulesSQLiRuleSet: overrides: 'SQLi BODY' is not a rule name",
    ),
    "WAF large body path not a path": (
        DEV.replace("large_body_paths = []", 'large_body_paths = ["api/upload"]'),
        r"dev\.toml:\d+: waf: large_body_paths: 'api/upload' is not a URI path",
    ),
    "WAF large bodies everywhere": (
        DEV.replace("large_body_paths = []", 'large_body_paths = ["/"]'),
        r"waf: large_body_paths: '/' exempts every path; override SizeRestrictions_BODY",
    ),
    "WAF size rule overridden twice": (
        DEV.replace("large_body_paths = []", 'large_body_paths = ["/api/upload"]').replace(
            'AWSManagedRulesCommonRuleSet = { action = "count" }',
            'AWSManagedRulesCommonRuleSet = { overrides = { SizeRestrictions_BODY = "count" } }',
        ),
        r"waf: rule_groups\.AWSManagedRulesCommonRuleSet\.overrides: SizeRestrictions_BODY is already overridden",
    ),
    "WAF rate limit below AWS's minimum": (
        DEV.replace("rate_limit = 2000", "rate_limit = 5"),
        r"dev\.toml:\d+: waf\.rate_limit: .*greater than or equal to 10",
    ),
    "WAF window AWS does not offer": (
        DEV.replace("rate_window_seconds = 300", "rate_window_seconds = 900"),
        r"waf\.rate_window_seconds: .*60, 120, 300 or 600",
    ),
    "WAF log retention": (
        DEV.replace("log_retention_days = 30\n\n[waf.rule_groups]", "log_retention_days = 31\n\n[waf.rule_groups]"),
        r"waf: log_retention_days must be one of",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_one_line_naming_file_and_field(tmp_path, case):
    text, pattern = BAD_FILES[case]
    directory = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_environment("dev", directory)
    message = str(caught.value)
    assert "\n" not in message
    assert str(directory / "dev.toml") in message or "dev.toml" in message
    assert re.search(pattern, message), message


def test_prefix_too_long_for_load_balancer_names(tmp_path):
    # GIVEN a long project name and a long environment name WHEN loaded THEN refused before AWS refuses the ALB.
    directory = _write(tmp_path, DEV.replace('project = "duewin"', 'project = "duewin-backend-api"'), name="performance")
    with pytest.raises(ConfigError, match=r"performance\.toml: \(top level\): .*'duewin-backend-api-performance' \(30 characters\); load balancer names allow at most 28"):
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
    assert text.splitlines()[line - 1].startswith("AWSManagedRulesSQLiRuleSet = { action = \"deny\" }")


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
