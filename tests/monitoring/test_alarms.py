"""The alarm table, without CDKTF: valid metrics only, the issue's coverage, thresholds per environment."""

from __future__ import annotations

import pytest

from infra.config import load_environment
from monitoring.alarms import (
    ALL_RULES,
    GIB,
    Alarm,
    MonitoredResources,
    RateRuleWatch,
    WebAclWatch,
    alarm_table,
    health_check_alarm,
    web_acl_alarms,
)
from monitoring.metrics import NAMESPACES, UnknownMetric, check_metric, is_statistic
from monitoring.thresholds import AlarmThresholds
from tests.conftest import engine_modules_loaded_by

RESOURCES = MonitoredResources(
    alb_arn_suffix="app/duewin-dev/50dc6c495c0c9188",
    target_group_arn_suffix="targetgroup/duewin-dev/73e2d6bc24d8a067",
    asg_name="duewin-dev-app",
    db_instance_id="duewin-dev",
    redis_cluster_ids=("duewin-dev-001",),
)
TWO_MEMBERS = MonitoredResources(**{**RESOURCES.__dict__, "redis_cluster_ids": ("duewin-prod-001", "duewin-prod-002")})


def _table(env: str, resources: MonitoredResources = RESOURCES) -> dict[str, Alarm]:
    config = load_environment(env)
    alarms = alarm_table(resources, config.alarm_thresholds, fleet_min_size=config.app.min_size)
    by_key = {a.key: a for a in alarms}
    assert len(by_key) == len(alarms), "alarm keys must be unique"
    return by_key


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_alarm_names_a_metric_and_dimension_set_its_namespace_publishes(env):
    for alarm in _table(env, TWO_MEMBERS).values():
        check_metric(alarm.namespace, alarm.metric, alarm.dimensions)
        assert is_statistic(alarm.statistic), alarm.key
        assert alarm.period % 60 == 0 and 1 <= alarm.datapoints_to_alarm <= alarm.evaluation_periods


def test_the_table_covers_what_the_issue_asks_for():
    watched = {(a.namespace, a.metric) for a in _table("dev").values()}
    assert watched == {
        ("AWS/EC2", "CPUUtilization"),
        ("CWAgent", "mem_used_percent"),
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
        ("AWS/ApplicationELB", "UnHealthyHostCount"),
        ("AWS/ApplicationELB", "HealthyHostCount"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "FreeStorageSpace"),
        ("AWS/RDS", "FreeableMemory"),
        ("AWS/RDS", "DatabaseConnections"),
        ("AWS/ElastiCache", "EngineCPUUtilization"),
        ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage"),
        ("AWS/ElastiCache", "Evictions"),
    }


def test_alarm_shapes_follow_their_meaning():
    table = _table("prod")
    p99 = table["target-latency-p99"]
    assert p99.statistic == "p99" and p99.is_percentile
    assert not table["fleet-cpu"].is_percentile
    assert (table["unhealthy-hosts"].comparison, table["unhealthy-hosts"].threshold) == ("GreaterThanThreshold", 0)
    healthy = table["healthy-hosts-below-min"]
    assert (healthy.comparison, healthy.statistic) == ("LessThanThreshold", "Minimum")
    # Request metrics are only published while requests flow: silence is not an outage.
    for key in ("alb-5xx", "target-5xx", "target-latency-p99"):
        assert table[key].missing_data == "notBreaching"
    # Host counts, memory and RDS storage always report: silence means the thing is gone.
    for key in ("healthy-hosts-below-min", "fleet-memory", "db-free-storage"):
        assert table[key].missing_data == "breaching"
    assert table["target-5xx"].dimensions == {
        "LoadBalancer": RESOURCES.alb_arn_suffix,
        "TargetGroup": RESOURCES.target_group_arn_suffix,
    }
    assert table["fleet-memory"].dimensions == {"AutoScalingGroupName": "duewin-dev-app"}


def test_thresholds_differ_per_environment_as_configured():
    dev, prod = _table("dev"), _table("prod")
    assert (dev["target-latency-p99"].threshold, prod["target-latency-p99"].threshold) == (3.0, 1.5)
    assert (dev["fleet-cpu"].threshold, prod["fleet-cpu"].threshold) == (90, 85)
    assert (dev["db-connections"].threshold, prod["db-connections"].threshold) == (
        116,
        499,
    )  # derived: 80 % of max_connections
    assert (dev["db-free-storage"].threshold, prod["db-free-storage"].threshold) == (2 * GIB, 5 * GIB)
    assert (dev["redis-evictions"].threshold, prod["redis-evictions"].threshold) == (100, 0)
    # The scaling target is 70 %: the CPU alarm must sit above it or it fires on every scale-out.
    for env in ("dev", "staging", "prod"):
        config = load_environment(env)
        assert config.alarms.thresholds.fleet_cpu_percent > config.app.cpu_target_percent


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_healthy_host_floor_is_the_groups_minimum(env):
    assert _table(env)["healthy-hosts-below-min"].threshold == load_environment(env).app.min_size


def test_redis_alarms_exist_per_member_cluster():
    one, two = _table("dev"), _table("prod", TWO_MEMBERS)
    assert {k for k in one if k.startswith("redis-")} == {"redis-engine-cpu", "redis-memory", "redis-evictions"}
    redis_two = {k: a for k, a in two.items() if k.startswith("redis-")}
    assert len(redis_two) == 6
    assert {a.dimensions["CacheClusterId"] for a in redis_two.values()} == set(TWO_MEMBERS.redis_cluster_ids)


def test_a_wrong_dimension_or_metric_is_refused():
    # A misspelt dimension would make a silently green alarm: the table refuses to build it.
    with pytest.raises(UnknownMetric, match=r"dimensions \{LoadBalancer\} are not published"):
        _rds_alarm(namespace="AWS/ApplicationELB", metric="HealthyHostCount", dimensions={"LoadBalancer": "a"})
    with pytest.raises(UnknownMetric, match="not in the metric table"):
        check_metric("AWS/RDS", "CPUUtilisation", {"DBInstanceIdentifier"})
    with pytest.raises(ValueError, match="neither a statistic nor a percentile"):
        _rds_alarm(statistic="p101")
    with pytest.raises(ValueError, match="multiple of 60"):
        _rds_alarm(period=90)
    with pytest.raises(ValueError, match="at least one member cluster"):
        MonitoredResources("a", "b", "c", "d", ())


def test_statistics_and_percentiles():
    assert all(is_statistic(s) for s in ("Average", "Sum", "p50", "p99", "p99.9", "p100"))
    assert not any(is_statistic(s) for s in ("average", "p", "p-1", "p100.5", "tm99", "Median"))


def test_every_namespace_names_its_aws_source():
    for namespace in NAMESPACES.values():
        assert namespace.source.startswith("https://docs.aws.amazon.com/"), namespace.name
        assert namespace.metrics


def test_threshold_defaults_are_documented_and_validated():
    with pytest.raises(ValueError):
        AlarmThresholds(fleet_cpu_percent=120)
    with pytest.raises(ValueError):
        AlarmThresholds(unknown=1)


def test_public_health_alarm_fires_when_checkers_fail_or_go_silent():
    alarm = health_check_alarm("abcdef-1234")
    check_metric(alarm.namespace, alarm.metric, alarm.dimensions)
    # HealthCheckStatus is 1 while healthy: Minimum < 1 means at least one failing minute.
    assert (alarm.statistic, alarm.comparison, alarm.threshold, alarm.missing_data) == (
        "Minimum",
        "LessThanThreshold",
        1,
        "breaching",
    )


WEB_ACL = WebAclWatch(
    web_acl="duewin-prod-alb",
    region="us-east-1",
    rules=("AWSManagedRulesCommonRuleSet", "rate-limit-per-ip", "rate-limit-per-ip-socketio"),
    rate_rules=(
        RateRuleWatch("rate-limit-per-ip", blocks=True),
        RateRuleWatch("rate-limit-per-ip-socketio", blocks=False),
    ),
)
WITH_WAF = MonitoredResources(**{**TWO_MEMBERS.__dict__, "web_acl": WEB_ACL})


def test_waf_alarms_watch_blocked_requests_and_each_rate_rule_in_its_mode():
    # GIVEN a web ACL whose general rate rule blocks and whose Socket.IO rule only counts.
    table = _table("prod", WITH_WAF)
    blocked = table["waf-blocked"]
    assert (blocked.metric, blocked.dimensions, blocked.statistic) == (
        "BlockedRequests",
        {"Region": "us-east-1", "Rule": ALL_RULES, "WebACL": "duewin-prod-alb"},
        "Sum",
    )
    assert table["waf-rate-limit-per-ip"].metric == "BlockedRequests"
    assert table["waf-rate-limit-per-ip-socketio"].metric == "CountedRequests", "a counting rule never blocks"
    assert table["waf-rate-limit-per-ip-socketio"].dimensions["Rule"] == "rate-limit-per-ip-socketio"
    # WAF publishes only minutes with matches: quiet is not an outage.
    assert {table[k].missing_data for k in table if k.startswith("waf-")} == {"notBreaching"}
    assert not [k for k in _table("prod", TWO_MEMBERS) if k.startswith("waf-")], "no web ACL, no WAF alarm"


def test_cloudfront_web_acl_alarms_carry_no_region_dimension():
    cloudfront = WebAclWatch("duewin-prod-cloudfront", None, WEB_ACL.rules, WEB_ACL.rate_rules)
    alarms = web_acl_alarms(cloudfront, load_environment("prod").alarms.thresholds, key="cdn-waf")
    keys = ["cdn-waf-blocked", "cdn-waf-rate-limit-per-ip", "cdn-waf-rate-limit-per-ip-socketio"]
    assert [a.key for a in alarms] == keys
    for alarm in alarms:
        check_metric(alarm.namespace, alarm.metric, alarm.dimensions)
        assert "Region" not in alarm.dimensions
    # A dimension set WAF never publishes is refused, as for every namespace.
    with pytest.raises(UnknownMetric, match="are not published"):
        check_metric("AWS/WAFV2", "BlockedRequests", {"Region", "WebACL"})


def test_waf_thresholds_differ_per_environment():
    dev, prod = _table("dev", WITH_WAF), _table("prod", WITH_WAF)
    assert (dev["waf-blocked"].threshold, prod["waf-blocked"].threshold) == (5000, 500)
    assert (dev["waf-rate-limit-per-ip"].threshold, prod["waf-rate-limit-per-ip"].threshold) == (1000, 0)


def test_the_monitoring_package_loads_no_cdktf():
    # Every module of it, so a new one is held to the same: the table and dashboard are data the stack renders.
    every_module = "import importlib, pkgutil, monitoring\n" + (
        "for m in pkgutil.iter_modules(monitoring.__path__): importlib.import_module('monitoring.' + m.name)"
    )
    assert engine_modules_loaded_by(every_module) == []


def _rds_alarm(
    namespace: str = "AWS/RDS",
    metric: str = "CPUUtilization",
    dimensions: dict | None = None,
    statistic: str = "Average",
    period: int = 60,
) -> Alarm:
    """An alarm row that is valid but for what the caller changes."""
    dimensions = {"DBInstanceIdentifier": "a"} if dimensions is None else dimensions
    return Alarm("x", "d", namespace, metric, dimensions, statistic, period, 1, 1, 1, "GreaterThanThreshold", "missing")
