"""The web ACL's rule set as data (no CDKTF, milliseconds): order, modes, the two traps, and AWS's API as oracle.

The rules are Terraform's ``rule`` blocks; converted to the WAF API's shape they are checked by botocore's own
validator against ``CreateWebACL``'s input model, the shape AWS accepts.
"""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

from infra.config import MANAGED_RULE_GROUPS, WafConfig, load_environment
from infra.waf_rules import (
    BODY_SIZE_LABEL,
    BODY_SIZE_RULE_NAME,
    FORWARDED_IP_HEADER,
    RATE_LIMITED_BODY,
    RATE_LIMITED_BODY_KEY,
    RATE_RULE_NAME,
    SOCKETIO_RATE_RULE_NAME,
    web_acl_rules,
    web_acl_watch,
)
from tests.infra.variants import changed

#: Where the rule table is documented for operators.
WAF_DOC = Path(__file__).resolve().parents[2] / "docs" / "infrastructure.md"
UPLOADS = ("/api/upload", "/API/Kyc/")


def rule_rows(rules: list[dict]) -> list[tuple[int, str, str]]:
    """Priority, name and effective action of each rule, as the documented table (docs/infrastructure.md) shows them."""
    rows = []
    for rule in rules:
        if "override_action" in rule:
            action = "count" if "count" in rule["override_action"] else "block"
        else:
            action = next(iter(rule["action"]))
        rows.append((rule["priority"], rule["name"], action))
    return rows


def _waf(**fields) -> WafConfig:
    return WafConfig.model_validate({"enabled": True, **fields})


def _by_name(rules: list[dict]) -> dict[str, dict]:
    return {rule["name"]: rule for rule in rules}


def _byte_match(statement: dict) -> tuple[str, str, str]:
    match = statement["byte_match_statement"]
    assert match["field_to_match"] == {"uri_path": {}}
    return match["positional_constraint"], match["search_string"], match["text_transformation"][0]["type"]


def test_managed_groups_then_rate_rules_in_the_issues_priority_order():
    rules = web_acl_rules(_waf(), behind_cloudfront=False)
    assert [r["name"] for r in rules] == [*MANAGED_RULE_GROUPS, RATE_RULE_NAME, SOCKETIO_RATE_RULE_NAME]
    assert list(MANAGED_RULE_GROUPS) == [
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
    ]
    priorities = [r["priority"] for r in rules]
    assert priorities == sorted(set(priorities)), "priorities are unique and follow the list"
    for rule in rules:
        # Per-rule metrics and sampled requests on; the metric is named after the rule (alarms rely on it).
        assert rule["visibility_config"] == {
            "cloudwatch_metrics_enabled": True,
            "metric_name": rule["name"],
            "sampled_requests_enabled": True,
        }
        assert ("action" in rule) != ("override_action" in rule), rule["name"]


def test_each_group_blocks_or_counts_per_config_with_rule_level_overrides():
    waf = _waf(
        rule_groups={
            "AWSManagedRulesCommonRuleSet": {"action": "count"},
            "AWSManagedRulesSQLiRuleSet": {"overrides": {"SQLi_BODY": "count", "SQLi_COOKIE": "block"}},
        }
    )
    rules = _by_name(web_acl_rules(waf, behind_cloudfront=False))
    assert rules["AWSManagedRulesCommonRuleSet"]["override_action"] == {"count": {}}
    assert rules["AWSManagedRulesAmazonIpReputationList"]["override_action"] == {"none": {}}, "a group left out blocks"
    sqli = rules["AWSManagedRulesSQLiRuleSet"]
    assert sqli["override_action"] == {"none": {}}
    assert sqli["statement"]["managed_rule_group_statement"] == {
        "vendor_name": "AWS",
        "name": "AWSManagedRulesSQLiRuleSet",
        "rule_action_override": [
            {"name": "SQLi_BODY", "action_to_use": {"count": {}}},
            {"name": "SQLi_COOKIE", "action_to_use": {"block": {}}},
        ],
    }
    assert (
        "rule_action_override"
        not in rules["AWSManagedRulesKnownBadInputsRuleSet"]["statement"]["managed_rule_group_statement"]
    )
    assert [(name, action) for _, name, action in rule_rows(list(rules.values()))][:2] == [
        ("AWSManagedRulesAmazonIpReputationList", "block"),
        ("AWSManagedRulesCommonRuleSet", "count"),
    ]


def test_large_bodies_count_only_on_their_paths_and_the_rest_of_the_core_set_still_applies():
    # GIVEN upload paths WHEN the rules are built THEN SizeRestrictions_BODY only counts (and labels), and a rule
    # right after the core set blocks the label everywhere except below those paths.
    rules = web_acl_rules(_waf(large_body_paths=UPLOADS), behind_cloudfront=False)
    names = [r["name"] for r in rules]
    assert names.index(BODY_SIZE_RULE_NAME) == names.index("AWSManagedRulesCommonRuleSet") + 1
    by_name = _by_name(rules)
    core = by_name["AWSManagedRulesCommonRuleSet"]
    assert core["override_action"] == {"none": {}}, "the group keeps blocking: only the size verdict moves"
    assert core["statement"]["managed_rule_group_statement"]["rule_action_override"] == [
        {"name": "SizeRestrictions_BODY", "action_to_use": {"count": {}}}
    ]
    assert "scope_down_statement" not in core["statement"]["managed_rule_group_statement"], (
        "no path leaves the core set"
    )
    size = by_name[BODY_SIZE_RULE_NAME]
    assert size["action"] == {"block": {}}
    label, *outside = size["statement"]["and_statement"]["statement"]
    assert label == {
        "label_match_statement": {"scope": "LABEL", "key": "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"}
    }
    assert BODY_SIZE_LABEL == label["label_match_statement"]["key"]
    # Lower-cased on both sides, as Express routes: /API/Kyc/ is /api/kyc/ to the app.
    assert [_byte_match(s["not_statement"]["statement"]) for s in outside] == [
        ("STARTS_WITH", "/api/upload", "LOWERCASE"),
        ("STARTS_WITH", "/api/kyc/", "LOWERCASE"),
    ]


def test_the_body_size_rule_follows_the_core_set_into_count_mode_and_is_absent_without_paths():
    counting = _by_name(
        web_acl_rules(
            _waf(large_body_paths=UPLOADS, rule_groups={"AWSManagedRulesCommonRuleSet": {"action": "count"}}),
            behind_cloudfront=False,
        )
    )
    assert counting[BODY_SIZE_RULE_NAME]["action"] == {"count": {}}
    plain = web_acl_rules(_waf(), behind_cloudfront=False)
    assert BODY_SIZE_RULE_NAME not in _by_name(plain)
    assert (
        "rule_action_override"
        not in _by_name(plain)["AWSManagedRulesCommonRuleSet"]["statement"]["managed_rule_group_statement"]
    )


def test_socketio_is_scoped_out_of_the_general_rate_rule_and_capped_by_its_own():
    waf = _waf(rate_limit=1500, socketio_rate_limit=9000, rate_window_seconds=120)
    rules = _by_name(web_acl_rules(waf, behind_cloudfront=False))
    general = rules[RATE_RULE_NAME]["statement"]["rate_based_statement"]
    socketio = rules[SOCKETIO_RATE_RULE_NAME]["statement"]["rate_based_statement"]
    assert (general["limit"], socketio["limit"]) == (1500, 9000)
    assert general["evaluation_window_sec"] == socketio["evaluation_window_sec"] == 120
    assert general["aggregate_key_type"] == socketio["aggregate_key_type"] == "IP"
    assert _byte_match(general["scope_down_statement"]["not_statement"]["statement"]) == (
        "STARTS_WITH",
        "/socket.io/",
        "LOWERCASE",
    )
    assert _byte_match(socketio["scope_down_statement"]) == ("STARTS_WITH", "/socket.io/", "LOWERCASE")
    # Blocked clients are told to slow down (429 with a JSON body the web ACL defines), not that they are forbidden.
    for name in (RATE_RULE_NAME, SOCKETIO_RATE_RULE_NAME):
        assert rules[name]["action"] == {
            "block": {"custom_response": {"response_code": 429, "custom_response_body_key": RATE_LIMITED_BODY_KEY}}
        }
    assert RATE_LIMITED_BODY["key"] == RATE_LIMITED_BODY_KEY
    counting = _by_name(web_acl_rules(_waf(rate_limit_action="count"), behind_cloudfront=False))
    assert counting[RATE_RULE_NAME]["action"] == {"count": {}}


def test_behind_cloudfront_the_load_balancer_counts_per_forwarded_address():
    rules = _by_name(web_acl_rules(_waf(), behind_cloudfront=True))
    for name in (RATE_RULE_NAME, SOCKETIO_RATE_RULE_NAME):
        statement = rules[name]["statement"]["rate_based_statement"]
        assert statement["aggregate_key_type"] == "FORWARDED_IP"
        assert statement["forwarded_ip_config"] == {"header_name": FORWARDED_IP_HEADER, "fallback_behavior": "NO_MATCH"}
    # Everything but the address the rate rules count by is the same as CloudFront's own web ACL.
    front = web_acl_rules(_waf(), behind_cloudfront=False)
    assert [r["name"] for r in front] == list(rules)


def test_watch_names_every_rule_and_the_rate_rules_metric_follows_their_action():
    watch = web_acl_watch(_waf(large_body_paths=UPLOADS, rate_limit_action="count"), web_acl="acl", region=None)
    assert watch.rules == tuple(
        r["name"] for r in web_acl_rules(_waf(large_body_paths=UPLOADS), behind_cloudfront=True)
    )
    assert [(r.rule, r.metric) for r in watch.rate_rules] == [
        (RATE_RULE_NAME, "CountedRequests"),
        (SOCKETIO_RATE_RULE_NAME, "CountedRequests"),
    ]
    assert watch.dimensions("ALL") == {"Rule": "ALL", "WebACL": "acl"}


# ---------------------------------------------------------------- AWS's API model as the oracle

_SERVICE = botocore.session.get_session().get_service_model("wafv2")


def _to_api(value, shape):
    """A Terraform JSON block, converted into the API's shape by walking botocore's model of that shape."""
    if shape.type_name == "structure":
        members = {}
        for key, item in value.items():
            # snake_case → CamelCase; Terraform names a list of blocks in the singular, the API in the plural.
            flat = key.replace("_", "")
            names = [name for name in shape.members if name.lower() in (flat, f"{flat}s", f"{flat}es")]
            assert len(names) == 1, (key, list(shape.members))
            members[names[0]] = _to_api(item, shape.members[names[0]])
        return members
    if shape.type_name == "list":
        return [_to_api(item, shape.member) for item in (value if isinstance(value, list) else [value])]
    return value


def _create_web_acl_request(rules: list[dict]) -> dict:
    operation = _SERVICE.operation_model("CreateWebACL")
    rule_shape = operation.input_shape.members["Rules"]
    return {
        "Name": "duewin-test-alb",
        "Scope": "REGIONAL",
        "DefaultAction": {"Allow": {}},
        "VisibilityConfig": {
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": "duewin-test-alb",
        },
        "Rules": _to_api(rules, rule_shape),
        "CustomResponseBodies": {
            RATE_LIMITED_BODY["key"]: {
                "ContentType": RATE_LIMITED_BODY["content_type"],
                "Content": RATE_LIMITED_BODY["content"],
            }
        },
    }


@pytest.mark.parametrize("behind_cloudfront", [False, True])
def test_every_rule_is_a_valid_create_web_acl_rule_for_the_api(behind_cloudfront):
    waf = _waf(
        large_body_paths=UPLOADS, rule_groups={"AWSManagedRulesSQLiRuleSet": {"overrides": {"SQLi_BODY": "count"}}}
    )
    request = _create_web_acl_request(web_acl_rules(waf, behind_cloudfront=behind_cloudfront))
    report = ParamValidator().validate(request, _SERVICE.operation_model("CreateWebACL").input_shape)
    assert not report.has_errors(), report.generate_report()
    assert (
        request["Rules"][2]["Statement"]["AndStatement"]["Statements"][0]["LabelMatchStatement"]["Key"]
        == BODY_SIZE_LABEL
    )


def test_the_api_oracle_can_fail():
    rules = web_acl_rules(_waf(), behind_cloudfront=False)
    request = _create_web_acl_request(rules)
    del request["Rules"][0]["VisibilityConfig"]
    request["Rules"][-1]["Statement"]["RateBasedStatement"]["Limit"] = "many"
    report = ParamValidator().validate(request, _SERVICE.operation_model("CreateWebACL").input_shape).generate_report()
    assert "VisibilityConfig" in report and "Limit" in report


# ---------------------------------------------------------------- documented where operators look


def test_documented_rule_table_lists_every_rule_in_priority_order():
    # GIVEN prod's rules with upload paths (every rule there is) THEN the documented rule table has one row per
    # rule, in the same order, with the same priority.
    waf = changed(load_environment("prod").waf, {"large_body_paths": UPLOADS})
    rows = rule_rows(web_acl_rules(waf, behind_cloudfront=False))
    text = WAF_DOC.read_text()
    table = [
        (int(p), n, a.strip())
        for p, n, a in re.findall(r"^\| (\d+) \| `([\w-]+)` \| [^|]+ \|([^|]+)\|", text, flags=re.M)
    ]
    # The body-size rule has no action of its own: it follows the core rule set.
    expected = [(p, n, "as the core set" if n == BODY_SIZE_RULE_NAME else a) for p, n, a in rows]
    assert table == expected
