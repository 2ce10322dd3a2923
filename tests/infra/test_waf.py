"""AWS WAF in the synthesized stacks: every internet-facing entry point protected in staging and prod, the rules
exactly the rule set's data, logging and redaction, us-east-1 for CloudFront, alarms, and the review's flags.

Synthesized once per session (conftest); ``prod+edge`` (CloudFront on, upload paths set) covers the CloudFront
web ACL and the large-body rule. checkov and terraform validate cover the same output in their own tiers.
"""

from __future__ import annotations

import copy
import json

import pytest

from infra.config import MANAGED_RULE_GROUPS, load_environment
from infra.review.diff import diff
from infra.review.risks import find_risks
from infra.synthesized import SynthDir, SynthStack
from infra.waf_rules import LOG_GROUP_PREFIX, REDACTED_HEADERS, web_acl_rules
from tests.infra.assertions import only_item, only_resource, resources_of_type
from tests.infra.variants import EDGE, ENVIRONMENTS, variant_config

#: Where the issue demands a web ACL on every entry point.
PROTECTED = ["staging", "prod", EDGE]
WAF_TYPES = ("aws_wafv2_web_acl", "aws_wafv2_web_acl_association", "aws_wafv2_web_acl_logging_configuration")


def _stacks(synth) -> dict[str, dict]:
    return {
        name.removeprefix(f"duewin-{synth.env}-"): synth.stack(name.removeprefix(f"duewin-{synth.env}-"))
        for name in synth.stack_names()
    }


def _web_acl(stack: dict, reference: str | None) -> dict | None:
    """The web ACL a ``${aws_wafv2_web_acl.<name>.arn}`` reference names in the same stack."""
    for name, acl in resources_of_type(stack, "aws_wafv2_web_acl").items():
        if reference == f"${{aws_wafv2_web_acl.{name}.arn}}":
            return acl
    return None


def unprotected_entry_points(stacks: dict[str, dict]) -> list[str]:
    """Why an internet-facing ALB or CloudFront distribution lacks a blocking web ACL of its scope ([] if none)."""
    problems = []
    for kind, stack in stacks.items():
        associations = {
            a["resource_arn"]: a["web_acl_arn"]
            for a in resources_of_type(stack, "aws_wafv2_web_acl_association").values()
        }
        entry_points = [
            (f"{kind}: aws_lb.{name}", associations.get(f"${{aws_lb.{name}.arn}}"), "REGIONAL")
            for name, lb in resources_of_type(stack, "aws_lb").items()
            if not lb.get("internal")
        ]
        entry_points += [
            (f"{kind}: aws_cloudfront_distribution.{name}", distribution.get("web_acl_id"), "CLOUDFRONT")
            for name, distribution in resources_of_type(stack, "aws_cloudfront_distribution").items()
        ]
        for where, reference, scope in entry_points:
            acl = _web_acl(stack, reference)
            if acl is None:
                problems.append(f"{where} has no web ACL")
                continue
            if acl["scope"] != scope or (scope == "CLOUDFRONT" and acl.get("provider") != "aws.us-east-1"):
                problems.append(
                    f"{where}: web ACL of scope {acl['scope']} via {acl.get('provider', 'the default provider')}"
                )
            rules = {rule["name"]: rule for rule in acl["rule"]}
            for group in MANAGED_RULE_GROUPS:
                if group not in rules:
                    problems.append(f"{where}: no {group}")
                elif rules[group]["override_action"] != {"none": {}}:
                    problems.append(f"{where}: {group} only counts")
            problems += [
                f"{where}: {n} only counts"
                for n, r in rules.items()
                if "rate_based_statement" in r["statement"] and "count" in r["action"]
            ]
    return problems


@pytest.mark.parametrize("env", PROTECTED)
def test_every_internet_facing_entry_point_has_a_blocking_web_acl(synthesized, env):
    synth = synthesized(env)
    assert unprotected_entry_points(_stacks(synth)) == []
    entry_points = sum(
        len(resources_of_type(s, t)) for s in _stacks(synth).values() for t in ("aws_lb", "aws_cloudfront_distribution")
    )
    assert entry_points == (2 if env == EDGE else 1), "the check saw every entry point"


@pytest.mark.parametrize(
    "plant, problem",
    [
        (lambda s: s["app"]["resource"].pop("aws_wafv2_web_acl_association"), "app: aws_lb.load-balancer_alb_"),
        (
            lambda s: only_resource(s["edge"]["resource"]["aws_cloudfront_distribution"]).pop("web_acl_id"),
            "aws_cloudfront_distribution",
        ),
        (
            lambda s: only_resource(s["app"]["resource"]["aws_wafv2_web_acl"])["rule"][1].update(
                override_action={"count": {}}
            ),
            "AWSManagedRulesCommonRuleSet only counts",
        ),
        (
            lambda s: only_resource(s["edge"]["resource"]["aws_wafv2_web_acl"]).pop("provider"),
            "web ACL of scope CLOUDFRONT via the default provider",
        ),
    ],
)
def test_the_entry_point_policy_fails_on_a_planted_violation(synthesized, plant, problem):
    stacks = copy.deepcopy(_stacks(synthesized(EDGE)))
    plant(stacks)
    assert any(problem in p for p in unprotected_entry_points(stacks)), unprotected_entry_points(stacks)


def test_dev_has_no_waf_resource_by_default(synthesized):
    synth = synthesized("dev")
    assert not load_environment("dev").waf.enabled
    assert not [t for stack in _stacks(synth).values() for t in WAF_TYPES if resources_of_type(stack, t)]


@pytest.mark.parametrize("env", PROTECTED)
def test_synthesized_rules_are_exactly_the_rule_set(synthesized, env):
    config, stacks = variant_config(env), _stacks(synthesized(env))
    alb_acl = only_resource(resources_of_type(stacks["app"], "aws_wafv2_web_acl"))
    behind = config.edge.create_cloudfront
    assert alb_acl["rule"] == web_acl_rules(config.waf, behind_cloudfront=behind)
    assert (alb_acl["name"], alb_acl["visibility_config"]["metric_name"]) == (f"{config.prefix}-alb",) * 2
    assert alb_acl["default_action"] == {"allow": {}}
    if behind:
        # CloudFront's web ACL: the same rules, counting real client addresses.
        cdn_acl = only_resource(resources_of_type(stacks["edge"], "aws_wafv2_web_acl"))
        assert cdn_acl["rule"] == web_acl_rules(config.waf, behind_cloudfront=False)
        assert [r["name"] for r in cdn_acl["rule"]] == [r["name"] for r in alb_acl["rule"]]
        assert "body-over-8kb-outside-large-body-paths" in [r["name"] for r in cdn_acl["rule"]]


@pytest.mark.parametrize("env", PROTECTED)
def test_every_web_acl_logs_to_an_encrypted_group_with_credentials_redacted(synthesized, env):
    config, synth = variant_config(env), synthesized(env)
    stacks = _stacks(synth)
    for kind in ("app", "edge") if env == EDGE else ("app",):
        stack = stacks[kind]
        acl_name, acl = only_item(resources_of_type(stack, "aws_wafv2_web_acl"))
        ((group_name, group),) = [
            (n, g)
            for n, g in resources_of_type(stack, "aws_cloudwatch_log_group").items()
            if g["name"].startswith(LOG_GROUP_PREFIX)
        ]
        assert group["name"] == f"{LOG_GROUP_PREFIX}{acl['name']}"
        assert group["retention_in_days"] == config.waf.log_retention_days
        # The network stack's CloudWatch Logs key (whose policy admits CloudWatch Logs of this account).
        assert group["kms_key_id"].startswith(
            f"${{data.terraform_remote_state.cross-stack-reference-input-duewin-{synth.env}-network."
        ), group["kms_key_id"]
        logging = only_resource(resources_of_type(stack, "aws_wafv2_web_acl_logging_configuration"))
        assert logging["resource_arn"] == f"${{aws_wafv2_web_acl.{acl_name}.arn}}"
        assert logging["log_destination_configs"] == [f"${{aws_cloudwatch_log_group.{group_name}.arn}}"]
        assert sorted(f["single_header"]["name"] for f in logging["redacted_fields"]) == sorted(REDACTED_HEADERS)
        protections = acl["data_protection_config"]["data_protection"]
        assert sorted((p["action"], p["field"]["field_type"], *p["field"]["field_keys"]) for p in protections) == [
            ("SUBSTITUTION", "SINGLE_HEADER", header) for header in sorted(REDACTED_HEADERS)
        ]
        policy = only_resource(resources_of_type(stack, "aws_cloudwatch_log_resource_policy"))
        assert any(d.startswith("aws_cloudwatch_log_resource_policy.") for d in logging["depends_on"])
        document = next(
            d
            for n, d in resources_of_type(stack, "aws_iam_policy_document", block="data").items()
            if policy["policy_document"] == f"${{data.aws_iam_policy_document.{n}.json}}"
        )
        (statement,) = document["statement"]
        assert statement["resources"] == [f"${{aws_cloudwatch_log_group.{group_name}.arn}}:*"], (
            "delivery may write to this group only"
        )
        assert {c["variable"] for c in statement["condition"]} == {"aws:SourceAccount", "aws:SourceArn"}
        if kind == "edge":
            # CloudFront's web ACL and its logs live in us-east-1.
            assert acl["provider"] == group["provider"] == logging["provider"] == policy["provider"] == "aws.us-east-1"


def test_the_alb_association_names_the_load_balancer_of_the_same_stack(synthesized):
    stack = synthesized("prod").stack("app")
    association = only_resource(resources_of_type(stack, "aws_wafv2_web_acl_association"))
    lb_name, _ = only_item(resources_of_type(stack, "aws_lb"))
    acl_name, _ = only_item(resources_of_type(stack, "aws_wafv2_web_acl"))
    assert association == {
        **association,
        "resource_arn": f"${{aws_lb.{lb_name}.arn}}",
        "web_acl_arn": f"${{aws_wafv2_web_acl.{acl_name}.arn}}",
    }


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_waf_alarms_watch_the_alb_web_acl_through_its_metric_name(synthesized, env):
    config, synth = variant_config(env), synthesized(env)
    alarms = {
        a["alarm_name"].removeprefix(f"{config.prefix}-"): a
        for a in synth.resources("monitoring", "aws_cloudwatch_metric_alarm").values()
    }
    blocked = alarms["waf-blocked"]
    assert (blocked["namespace"], blocked["metric_name"], blocked["threshold"]) == (
        "AWS/WAFV2",
        "BlockedRequests",
        config.alarms.thresholds.waf_blocked_per_5min,
    )
    assert blocked["dimensions"]["Rule"] == "ALL" and blocked["dimensions"]["Region"] == config.region
    for rule in ("rate-limit-per-ip", "rate-limit-per-ip-socketio"):
        alarm = alarms[f"waf-{rule}"]
        assert alarm["dimensions"]["Rule"] == rule and alarm["metric_name"] == "BlockedRequests"
        assert alarm["threshold"] == config.alarms.thresholds.waf_rate_limited_per_5min
    assert blocked["dimensions"]["WebACL"].startswith("${data.terraform_remote_state.cross-stack-reference-input-")


def test_cloudfront_web_acl_alarms_have_no_region_and_notify_the_monitoring_topic(synthesized):
    edge = synthesized(EDGE)
    alarms = {a["alarm_name"]: a for a in edge.resources("edge", "aws_cloudwatch_metric_alarm").values()}
    acl_name, _ = only_item(edge.resources("edge", "aws_wafv2_web_acl"))
    waf = {name: a for name, a in alarms.items() if "-cdn-waf-" in name}
    assert sorted(waf) == [
        "duewin-prod-cdn-waf-blocked",
        "duewin-prod-cdn-waf-rate-limit-per-ip",
        "duewin-prod-cdn-waf-rate-limit-per-ip-socketio",
    ]
    for alarm in waf.values():
        assert set(alarm["dimensions"]) == {"Rule", "WebACL"}, "CloudFront's WAF metrics carry no Region"
        assert alarm["dimensions"]["WebACL"] == f"${{aws_wafv2_web_acl.{acl_name}.visibility_config[0].metric_name}}"
        assert "cross-stack-reference-input-duewin-prod-monitoring" in alarm["alarm_actions"][0]


def _review(before: dict[str, dict], after: dict[str, dict]) -> list[tuple[str, str]]:
    old = SynthDir({n: SynthStack(n, b) for n, b in before.items()})
    new = SynthDir({n: SynthStack(n, b) for n, b in after.items()})
    return [(r.address.split(".")[0], r.detail) for r in find_risks(diff(old, new), old, new) if r.kind == "waf"]


def test_review_flags_the_real_web_acls_being_removed_or_switched_to_count(synthesized):
    # GIVEN prod+edge's real app and edge stacks WHEN a change weakens WAF THEN the review says so.
    base = {kind: synthesized(EDGE).stack(kind) for kind in ("app", "edge")}
    assert _review(base, base) == []

    counting = copy.deepcopy(base)
    acl = only_resource(counting["app"]["resource"]["aws_wafv2_web_acl"])
    acl["rule"][3]["override_action"] = {"count": {}}
    acl["rule"][1]["statement"]["managed_rule_group_statement"]["rule_action_override"].append(
        {"name": "GenericLFI_BODY", "action_to_use": {"count": {}}}
    )
    assert _review(base, counting) == [
        (
            "aws_wafv2_web_acl",
            "rule 'AWSManagedRulesCommonRuleSet': rule 'GenericLFI_BODY' switches from block to count",
        ),
        ("aws_wafv2_web_acl", "rule 'AWSManagedRulesKnownBadInputsRuleSet' switches from block to count"),
    ]
    # Tightening is no risk: count back to block.
    assert _review(counting, base) == []

    removed = copy.deepcopy(base)
    removed["app"]["resource"].pop("aws_wafv2_web_acl_association")
    only_resource(removed["edge"]["resource"]["aws_cloudfront_distribution"]).pop("web_acl_id")
    edge_acl = only_resource(removed["edge"]["resource"]["aws_wafv2_web_acl"])
    edge_acl["rule"] = [r for r in edge_acl["rule"] if r["name"] != "rate-limit-per-ip"]
    assert sorted(_review(base, removed)) == [
        ("aws_cloudfront_distribution", "CloudFront loses its web ACL (web_acl_id removed)"),
        ("aws_wafv2_web_acl", "rule 'rate-limit-per-ip' is removed"),
        ("aws_wafv2_web_acl_association", "the resource it protected (the load balancer) loses its web ACL"),
    ]

    gone = copy.deepcopy(base)
    gone["app"]["resource"].pop("aws_wafv2_web_acl")
    assert ("aws_wafv2_web_acl", "web ACL 'duewin-prod-alb' is destroyed") in _review(base, gone)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_web_acl_or_alarm_refers_to_rules_the_web_acl_lacks(synthesized, env):
    # The Rule dimension of every WAF alarm and widget is a rule of the web ACL (or ALL): no silent series.
    synth = synthesized(env)
    acls = synth.resources("app", "aws_wafv2_web_acl").values()
    rules = {"ALL"} | {r["name"] for acl in acls for r in acl["rule"]}
    body = json.loads(only_resource(synth.resources("monitoring", "aws_cloudwatch_dashboard"))["dashboard_body"])
    dimensions = [a["dimensions"] for a in synth.resources("monitoring", "aws_cloudwatch_metric_alarm").values()]
    dimensions += [
        dict(zip(row[2:-1:2], row[3:-1:2], strict=True))
        for w in body["widgets"]
        if w["type"] == "metric"
        for row in w["properties"]["metrics"]
    ]
    used = {d["Rule"] for d in dimensions if "Rule" in d}
    assert used <= rules
    assert bool(used) == load_environment(env).waf.enabled
