"""Tier 1 for `<project>-<env>-monitoring`: alarms from the table, the encrypted topic, and a dashboard
whose every reference resolves to a resource that exists in the app or data stack."""

from __future__ import annotations

import json
import re

import pytest

from bootstrap.user_data import cloudwatch_agent_config
from infra.boot import app_boot
from infra.config import load_environment
from infra.waf_rules import web_acl_watch
from monitoring.alarms import MonitoredResources, alarm_table
from monitoring.metrics import check_metric
from tests.infra.assertions import only_item, only_resource, resources_of_type
from tests.infra.variants import EDGE, ENVIRONMENTS

REMOTE = re.compile(r"data\.terraform_remote_state\.cross-stack-reference-input-([\w-]+)\.outputs\.([\w-]+)")
LOCAL = re.compile(r"^\$\{(aws_[a-z0-9_]+)\.([\w-]+)\.([a-z_\[\]0-9.]+)\}$")
#: What each dimension must be: (producing stack kind, resource type, attribute).
DIMENSION_SOURCES = {
    "LoadBalancer": ("app", "aws_lb", "arn_suffix"),
    "TargetGroup": ("app", "aws_lb_target_group", "arn_suffix"),
    "AutoScalingGroupName": ("app", "aws_autoscaling_group", "name"),
    "DBInstanceIdentifier": ("data", "aws_db_instance", "identifier"),
    "CacheClusterId": ("data", "aws_elasticache_replication_group", "member_clusters"),
    "WebACL": ("app", "aws_wafv2_web_acl", "visibility_config[0].metric_name"),
}
#: Dimensions whose values are no identifier of ours: the region, and a rule of the web ACL (or ALL of it).
LITERAL_DIMENSIONS = ("Region", "Rule")


def _resources(config) -> MonitoredResources:
    """Stand-in identifiers for ``config``'s alarm table (only names and counts matter to these tests)."""
    names = ("lb", "tg", "asg", "db", tuple(f"r{i}" for i in range(config.cache.replicas + 1)))
    web_acl = web_acl_watch(config.waf, web_acl="acl", region=config.region) if config.waf.enabled else None
    return MonitoredResources(*names, web_acl=web_acl)


def _resolve(synth, reference: str) -> tuple[str, str, str, str]:
    """``(stack kind, resource type, resource name, attribute)`` a cross-stack reference ends at.

    Fails if the output, or the resource the output reads, does not exist in the producing stack.
    """
    match = REMOTE.search(reference)
    assert match, f"not a cross-stack reference: {reference}"
    stack_name, output = match.groups()
    kind = stack_name.removeprefix(f"duewin-{synth.env}-")
    producer = synth.stack(kind)
    assert output in producer.get("output", {}), f"{stack_name} has no output {output}"
    local = LOCAL.match(producer["output"][output]["value"])
    assert local, producer["output"][output]["value"]
    resource_type, name, attribute = local.groups()
    assert name in resources_of_type(producer, resource_type), f"{stack_name} has no {resource_type}.{name}"
    return kind, resource_type, name, attribute


def _dashboard(synth) -> dict:
    dashboard = only_resource(synth.resources("monitoring", "aws_cloudwatch_dashboard"))
    return json.loads(dashboard["dashboard_body"])


def _widget_dimensions(body: dict):
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            for row in widget["properties"]["metrics"]:
                namespace, metric, *rest = row
                rest = rest[:-1] if rest and isinstance(rest[-1], dict) else rest
                yield namespace, metric, dict(zip(rest[::2], rest[1::2], strict=True))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_alarm_per_table_row_notifying_the_topic_on_alarm_and_ok(synthesized, env):
    config = load_environment(env)
    synth = synthesized(env)
    expected = alarm_table(_resources(config), config.alarm_thresholds, fleet_min_size=config.app.min_size)
    alarms = {a["alarm_name"]: a for a in synth.resources("monitoring", "aws_cloudwatch_metric_alarm").values()}
    assert sorted(alarms) == sorted(row.name(config.prefix) for row in expected)
    topic_name, _ = only_item(synth.resources("monitoring", "aws_sns_topic"))
    topic_arn = f"${{aws_sns_topic.{topic_name}.arn}}"
    for row in expected:
        alarm = alarms[row.name(config.prefix)]
        assert alarm["alarm_actions"] == alarm["ok_actions"] == [topic_arn]
        assert (alarm["namespace"], alarm["metric_name"], alarm["threshold"]) == (
            row.namespace,
            row.metric,
            row.threshold,
        )
        assert alarm.get("extended_statistic", alarm.get("statistic")) == row.statistic
        check_metric(alarm["namespace"], alarm["metric_name"], alarm["dimensions"])


def test_thresholds_differ_per_environment_in_the_synthesized_alarms(synthesized):
    def threshold(env: str, key: str) -> float:
        return next(
            a["threshold"]
            for a in synthesized(env).resources("monitoring", "aws_cloudwatch_metric_alarm").values()
            if a["alarm_name"] == f"duewin-{env}-{key}"
        )

    assert (threshold("dev", "target-latency-p99"), threshold("prod", "target-latency-p99")) == (3.0, 1.5)
    assert (threshold("dev", "db-connections"), threshold("prod", "db-connections")) == (
        116,
        499,
    )  # 80 % of 145 and 624
    # prod runs a replica: its Redis alarms exist per member cluster.
    prod_redis = [
        a
        for a in synthesized("prod").resources("monitoring", "aws_cloudwatch_metric_alarm").values()
        if "redis" in a["alarm_name"]
    ]
    assert len(prod_redis) == 6


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_alarm_and_widget_dimension_is_a_reference_to_the_right_resource(synthesized, env):
    # GIVEN the synthesized monitoring stack WHEN every dimension value is followed through the
    # remote-state output to the producing stack THEN it ends at the resource attribute CloudWatch
    # names it by: no hand-typed name, no output without a resource behind it.
    synth, config = synthesized(env), load_environment(env)
    alarms = synth.resources("monitoring", "aws_cloudwatch_metric_alarm").values()
    dimension_sets = [a["dimensions"] for a in alarms] + [d for _, _, d in _widget_dimensions(_dashboard(synth))]
    rules = {"ALL"} | {r["name"] for acl in synth.resources("app", "aws_wafv2_web_acl").values() for r in acl["rule"]}
    seen = set()
    for dimensions in dimension_sets:
        for dimension, value in dimensions.items():
            seen.add(dimension)
            if dimension in LITERAL_DIMENSIONS:
                assert value == config.region if dimension == "Region" else value in rules, (dimension, value)
                continue
            kind, resource_type, _, attribute = _resolve(synth, value)
            assert (kind, resource_type, attribute) == DIMENSION_SOURCES[dimension], (dimension, value)
    waf = {"WebACL", *LITERAL_DIMENSIONS}
    assert seen == (set(DIMENSION_SOURCES) | waf if config.waf.enabled else set(DIMENSION_SOURCES) - waf)


def test_reference_check_fails_for_a_resource_that_does_not_exist(synthesized):
    # The check above can fail: a reference whose output reads a missing resource is caught.
    synth = synthesized("dev")
    alarm = next(iter(synth.resources("monitoring", "aws_cloudwatch_metric_alarm").values()))
    value = next(iter(alarm["dimensions"].values()))
    stack_name, output = REMOTE.search(value).groups()
    kind = stack_name.removeprefix("duewin-dev-")
    producer = synth.stack(kind)
    broken = json.loads(json.dumps(producer))
    broken["output"][output]["value"] = "${aws_lb.no-such-lb.arn_suffix}"

    class Broken:
        env = "dev"

        def stack(self, k):
            return broken if k == kind else synth.stack(k)

    with pytest.raises(AssertionError, match="has no aws_lb.no-such-lb"):
        _resolve(Broken(), value)
    with pytest.raises(AssertionError, match="not a cross-stack reference"):
        _resolve(synth, "duewin-dev-app")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dashboard_body_is_json_with_every_section_and_the_alarm_strip(synthesized, env):
    synth = synthesized(env)
    body = _dashboard(synth)
    headers = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    waf = ["## WAF"] if load_environment(env).waf.enabled else []
    assert headers == ["## Load balancer", "## Fleet", "## RDS MySQL", "## Redis", *waf]
    (strip,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarm_refs = {
        f"${{aws_cloudwatch_metric_alarm.{name}.arn}}"
        for name in synth.resources("monitoring", "aws_cloudwatch_metric_alarm")
    }
    assert set(strip["properties"]["alarms"]) == alarm_refs
    for namespace, metric, dimensions in _widget_dimensions(body):
        check_metric(namespace, metric, dimensions)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_only_this_account_publishes(synthesized, env):
    synth = synthesized(env)
    topic = only_resource(synth.resources("monitoring", "aws_sns_topic"))
    key_name, key = only_item(synth.resources("monitoring", "aws_kms_key"))
    assert topic["kms_master_key_id"] == f"${{aws_kms_key.{key_name}.arn}}"
    assert key["enable_key_rotation"] is True
    policies = synth.data("monitoring", "aws_iam_policy_document")
    key_policy = only_resource(policies, "topic-key_policy")
    cloudwatch = next(
        s for s in key_policy["statement"] if s["principals"][0]["identifiers"] == ["cloudwatch.amazonaws.com"]
    )
    assert sorted(cloudwatch["actions"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    topic_policy = only_resource(policies, "topic-policy")
    publish = next(s for s in topic_policy["statement"] if s["principals"][0]["type"] == "Service")
    assert {c["variable"] for c in publish["condition"]} == {"aws:SourceAccount", "aws:SourceArn"}
    # Shipped environments page nobody yet: no e-mail subscriptions.
    assert not synth.resources("monitoring", "aws_sns_topic_subscription")


def test_configured_emails_subscribe_to_the_topic(synthesized):
    subscriptions = synthesized(EDGE).resources("monitoring", "aws_sns_topic_subscription").values()
    assert sorted(s["endpoint"] for s in subscriptions) == ["oncall@example.com", "ops@example.com"]
    assert {s["protocol"] for s in subscriptions} == {"email"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_monitoring_depends_on_app_and_data_and_nothing_depends_on_it(synthesized, env):
    synth = synthesized(env)
    stacks = synth.model.stacks
    prefix = f"duewin-{env}"
    assert {f"{prefix}-app", f"{prefix}-data"} <= set(stacks[f"{prefix}-monitoring"].dependencies)
    for name, stack in stacks.items():
        assert f"{prefix}-monitoring" not in stack.dependencies, name
    # The data stack only gained outputs for the monitoring stack: no resource of it refers elsewhere.
    assert f"{prefix}-app" not in stacks[f"{prefix}-data"].dependencies


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_bootstrap_agent_publishes_every_cwagent_series_the_alarms_and_dashboard_use(env):
    # The agent namespace has no fixed dimensions: a series exists only if the agent config makes it.
    agent = cloudwatch_agent_config(app_boot(load_environment(env)))["metrics"]
    published = {frozenset(agent["append_dimensions"])} | {frozenset(d) for d in agent["aggregation_dimensions"]}
    config = load_environment(env)
    resources = MonitoredResources("lb", "tg", "asg", "db", ("r1",))
    used = {
        frozenset(a.dimensions)
        for a in alarm_table(resources, config.alarm_thresholds, fleet_min_size=1)
        if a.namespace == "CWAgent"
    }
    assert used and used <= published
    assert "mem_used_percent" in agent["metrics_collected"]["mem"]["measurement"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_group_publishes_every_auto_scaling_metric_the_dashboard_graphs(synthesized, env):
    # AWS/AutoScaling group metrics exist only for the metrics the group enables.
    synth = synthesized(env)
    group = only_resource(synth.resources("app", "aws_autoscaling_group"))
    graphed = {
        metric for namespace, metric, _ in _widget_dimensions(_dashboard(synth)) if namespace == "AWS/AutoScaling"
    }
    assert graphed and graphed <= set(group["enabled_metrics"])
    assert group["metrics_granularity"] == "1Minute"
