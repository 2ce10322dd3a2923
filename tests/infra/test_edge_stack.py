"""Tier 1 for the optional `<project>-<env>-edge` stack: absent by default, complete when switched on.

The edge-on configuration (prod + domain + certificate + [edge] on) is synthesized once per session
(``EDGE`` in conftest); checkov and terraform validate cover it through their own tiers.
"""

from __future__ import annotations

import json

import pytest

from infra.constructs.cdn import DYNAMIC_PATHS
from infra.secret_scan import secret_literals
from infra.stacks.edge import ORIGIN_HEADER
from tests.infra.assertions import only_item, only_resource, resources_of_type
from tests.infra.variants import EDGE, EDGE_DOMAIN, ENVIRONMENTS

EDGE_TYPES = (
    "aws_cloudfront_distribution",
    "aws_cloudfront_cache_policy",
    "aws_cloudfront_response_headers_policy",
    "aws_acm_certificate",
    "aws_route53_record",
    "aws_route53_zone",
    "aws_route53_health_check",
    "aws_lb_listener_rule",
    "aws_secretsmanager_secret",
)
ALL_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def edge(synthesized):
    return synthesized(EDGE)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_with_edge_off_no_edge_stack_and_no_edge_resource_anywhere(synthesized, env):
    synth = synthesized(env)
    assert f"duewin-{env}-edge" not in synth.stack_names()
    for kind in (name.removeprefix(f"duewin-{env}-") for name in synth.stack_names()):
        present = [t for t in EDGE_TYPES if t != "aws_secretsmanager_secret" and synth.resources(kind, t)]
        assert not present, f"{kind}: {present}"


def test_edge_stack_exists_only_when_enabled_and_after_app_and_monitoring(edge):
    stacks = edge.model.stacks
    assert "duewin-prod-edge" in stacks
    assert {"duewin-prod-app", "duewin-prod-monitoring"} <= set(stacks["duewin-prod-edge"].dependencies)


def test_cloudfront_serves_the_site_over_https_from_an_https_only_origin(edge):
    distribution = only_resource(edge.resources("edge", "aws_cloudfront_distribution"))
    assert distribution["aliases"] == [EDGE_DOMAIN, f"www.{EDGE_DOMAIN}"]
    (origin,) = distribution["origin"]
    assert origin["custom_origin_config"]["origin_protocol_policy"] == "https-only"
    assert origin["custom_origin_config"]["origin_ssl_protocols"] == ["TLSv1.2"]
    assert "cross-stack-reference-input-duewin-prod-app" in origin["domain_name"], "origin must be the app stack's ALB"
    viewer = distribution["viewer_certificate"]
    assert viewer["minimum_protocol_version"] == "TLSv1.2_2021" and viewer["ssl_support_method"] == "sni-only"
    assert viewer["acm_certificate_arn"].startswith("${aws_acm_certificate_validation.")
    assert distribution["is_ipv6_enabled"] is True


def test_api_socketio_and_health_are_not_cached_and_forward_everything(edge):
    distribution = only_resource(edge.resources("edge", "aws_cloudfront_distribution"))
    data_cache = edge.data("edge", "aws_cloudfront_cache_policy")
    data_request = edge.data("edge", "aws_cloudfront_origin_request_policy")
    disabled = next(
        f"${{data.aws_cloudfront_cache_policy.{n}.id}}"
        for n, p in data_cache.items()
        if p["name"] == "Managed-CachingDisabled"
    )
    all_viewer = next(
        f"${{data.aws_cloudfront_origin_request_policy.{n}.id}}"
        for n, p in data_request.items()
        if p["name"] == "Managed-AllViewer"
    )
    behaviours = {b["path_pattern"]: b for b in distribution["ordered_cache_behavior"]}
    assert set(behaviours) == {*DYNAMIC_PATHS, "/health"}
    for behaviour in behaviours.values():
        assert behaviour["cache_policy_id"] == disabled
        assert behaviour["origin_request_policy_id"] == all_viewer
        # WebSocket upgrades and API writes need every method.
        assert set(behaviour["allowed_methods"]) == ALL_METHODS
        assert behaviour["viewer_protocol_policy"] == "redirect-to-https"
    default = distribution["default_cache_behavior"]
    static_name, static_policy = only_item(edge.resources("edge", "aws_cloudfront_cache_policy"))
    assert default["cache_policy_id"] == f"${{aws_cloudfront_cache_policy.{static_name}.id}}"
    static = static_policy["parameters_in_cache_key_and_forwarded_to_origin"]
    # Cached content never varies on cookies: one visitor's session cannot be served to another.
    assert static["cookies_config"]["cookie_behavior"] == "none"
    headers_name, headers_policy = only_item(edge.resources("edge", "aws_cloudfront_response_headers_policy"))
    headers_ref = f"${{aws_cloudfront_response_headers_policy.{headers_name}.id}}"
    assert all(b["response_headers_policy_id"] == headers_ref for b in [default, *behaviours.values()])
    security = headers_policy["security_headers_config"]
    assert security["strict_transport_security"]["access_control_max_age_sec"] >= 31536000
    assert security["frame_options"]["frame_option"] == "DENY"


def _origin_secret_problems(stack: dict) -> list[str]:
    """Why the origin header would not be an AWS-generated secret required by the ALB ([] when it is)."""
    version_name, version = only_item(resources_of_type(stack, "aws_secretsmanager_secret_version"))
    secret_ref = f"${{aws_secretsmanager_secret_version.{version_name}.secret_string}}"
    problems = []
    if not version["secret_string"].startswith("${data.aws_secretsmanager_random_password."):
        problems.append("the secret is not generated by Secrets Manager")
    if version.get("lifecycle", {}).get("ignore_changes") != ["secret_string"]:
        problems.append("the secret would change on every plan")
    distribution = only_resource(resources_of_type(stack, "aws_cloudfront_distribution"))
    if distribution["origin"][0]["custom_header"] != [{"name": ORIGIN_HEADER, "value": secret_ref}]:
        problems.append("CloudFront does not send the secret")
    rules = {r["priority"]: r for r in resources_of_type(stack, "aws_lb_listener_rule").values()}
    header = rules[1]["condition"][0].get("http_header", {})
    if (header.get("http_header_name"), header.get("values"), rules[1]["action"][0]["type"]) != (
        ORIGIN_HEADER,
        [secret_ref],
        "forward",
    ):
        problems.append("the ALB does not forward on the secret header")
    if rules[2]["action"][0].get("fixed_response", {}).get("status_code") != "403" or rules[2]["condition"][0][
        "path_pattern"
    ]["values"] != ["*"]:
        problems.append("the ALB does not refuse requests without the header")
    problems += [f"secret-looking literal at {path}" for path in secret_literals(stack)]
    return problems


def test_origin_secret_is_generated_by_aws_and_required_by_the_alb(edge):
    stack = edge.stack("edge")
    assert _origin_secret_problems(stack) == []
    rules = edge.resources("edge", "aws_lb_listener_rule").values()
    assert sorted(r["priority"] for r in rules) == [1, 2]
    # Both rules sit on the app stack's HTTPS listener (a cross-stack reference, not an ARN literal).
    assert all("cross-stack-reference-input-duewin-prod-app" in r["listener_arn"] for r in rules)


@pytest.mark.parametrize(
    "plant, problem",
    [
        (
            lambda r: only_resource(r["aws_cloudfront_distribution"])["origin"][0]["custom_header"][0].update(
                value="hunter2"
            ),
            "CloudFront does not send the secret",
        ),
        (
            lambda r: only_resource(r["aws_secretsmanager_secret_version"]).update(secret_string="hunter2hunter2"),
            "not generated by Secrets Manager",
        ),
        (
            lambda r: [rule for rule in r["aws_lb_listener_rule"].values() if rule["priority"] == 2][0]["action"][
                0
            ].update(type="forward", fixed_response={}),
            "does not refuse",
        ),
    ],
)
def test_origin_secret_check_fails_on_a_planted_violation(edge, plant, problem):
    # GIVEN the edge stack with one violation planted THEN the check names it: it can fail.
    stack = json.loads(json.dumps(edge.stack("edge")))
    plant(stack["resource"])
    assert any(problem in p for p in _origin_secret_problems(stack)), _origin_secret_problems(stack)


def test_cloudfront_certificate_is_in_us_east_1_and_validated_through_route53(edge):
    stack = edge.stack("edge")
    certificate = only_resource(edge.resources("edge", "aws_acm_certificate"))
    assert certificate["provider"] == "aws.us-east-1"
    aliased = next(p for p in stack["provider"]["aws"] if p.get("alias") == "us-east-1")
    assert aliased["region"] == "us-east-1"
    assert (certificate["domain_name"], certificate["subject_alternative_names"]) == (
        EDGE_DOMAIN,
        [f"www.{EDGE_DOMAIN}"],
    )
    assert certificate["validation_method"] == "DNS"
    validation_records = [r for r in edge.resources("edge", "aws_route53_record").values() if "for_each" in r]
    assert len(validation_records) == 1 and "domain_validation_options" in validation_records[0]["for_each"]
    issued = only_resource(edge.resources("edge", "aws_acm_certificate_validation"))
    assert issued["provider"] == "aws.us-east-1"


def test_apex_and_www_alias_to_cloudfront_on_ipv4_and_ipv6(edge):
    zone_name, _ = only_item(edge.resources("edge", "aws_route53_zone"))
    aliases = [r for r in edge.resources("edge", "aws_route53_record").values() if "alias" in r]
    assert sorted((r["name"], r["type"]) for r in aliases) == [
        (EDGE_DOMAIN, "A"),
        (EDGE_DOMAIN, "AAAA"),
        (f"www.{EDGE_DOMAIN}", "A"),
        (f"www.{EDGE_DOMAIN}", "AAAA"),
    ]
    distribution_name, _ = only_item(edge.resources("edge", "aws_cloudfront_distribution"))
    for record in aliases:
        assert record["zone_id"] == f"${{aws_route53_zone.{zone_name}.zone_id}}"
        assert record["alias"]["name"] == f"${{aws_cloudfront_distribution.{distribution_name}.domain_name}}"
        assert record["alias"]["evaluate_target_health"] is False


def test_public_health_check_and_its_alarm_notify_the_monitoring_topic(edge):
    check_name, check = only_item(edge.resources("edge", "aws_route53_health_check"))
    assert (check["fqdn"], check["type"], check["port"], check["resource_path"]) == (
        EDGE_DOMAIN,
        "HTTPS",
        443,
        "/health",
    )
    # The others watch CloudFront's web ACL (tests/infra/test_waf.py).
    alarms = edge.resources("edge", "aws_cloudwatch_metric_alarm").values()
    (alarm,) = [a for a in alarms if a["namespace"] == "AWS/Route53"]
    assert alarm["dimensions"] == {"HealthCheckId": f"${{aws_route53_health_check.{check_name}.id}}"}
    assert (alarm["namespace"], alarm["metric_name"]) == ("AWS/Route53", "HealthCheckStatus")
    assert alarm["alarm_actions"] == alarm["ok_actions"]
    assert "cross-stack-reference-input-duewin-prod-monitoring" in alarm["alarm_actions"][0]


def test_without_cloudfront_names_alias_the_alb_and_the_check_follows_its_protocol():
    # GIVEN the edge's DNS constructs pointed at an ALB without a certificate (CloudFront off), in a
    # throwaway stack (no second full synth) THEN A records only, with target health, and an HTTP check.
    from infra.config import load_environment
    from infra.constructs.public_health_check import PublicHealthCheck
    from infra.constructs.site_records import SiteRecords
    from infra.engine import Testing
    from infra.stacks.base import EnvironmentStack

    class Probe(EnvironmentStack):
        kind = "probe"

    config = load_environment("dev")
    stack = Probe(Testing.app(), config)
    SiteRecords(
        stack,
        "site",
        zone_id="Z1",
        domain=EDGE_DOMAIN,
        target_dns_name="alb.example",
        target_zone_id="Z2",
        to_cloudfront=False,
    )
    PublicHealthCheck(
        stack,
        "health",
        name="probe",
        config=config.edge,
        fqdn=EDGE_DOMAIN,
        path="/health",
        https=False,
        topic_arn="arn:aws:sns:us-east-1:123456789012:t",
    )
    body = json.loads(Testing.synth(stack))
    records = resources_of_type(body, "aws_route53_record").values()
    assert sorted((r["name"], r["type"]) for r in records) == [(EDGE_DOMAIN, "A"), (f"www.{EDGE_DOMAIN}", "A")]
    assert all(r["alias"] == {"name": "alb.example", "zone_id": "Z2", "evaluate_target_health": True} for r in records)
    check = only_resource(resources_of_type(body, "aws_route53_health_check"))
    assert (check["type"], check["port"], check.get("enable_sni")) == ("HTTP", 80, None)
