"""A web ACL's rules as data: a pure function of ``[waf]``, in the shape of ``aws_wafv2_web_acl``'s ``rule`` blocks.

No CDKTF here: the ``WebAcl`` construct hands these dicts to the provider bindings as they are, so what the
tests read is what Terraform gets. Every rule's metric name is its name, so alarms and sampled requests name
rules the way the WAF logs do.

Priority order (lower runs first; gaps leave room for rules added later):

* the four AWS managed rule groups, each ``block`` or ``count`` (``override_action``) per environment, with
  rule-level overrides;
* right after the core rule set, when ``large_body_paths`` is set, the body-size rule below;
* the per-source-IP rate rules.

**Bodies over 8 KB.** The core rule set's ``SizeRestrictions_BODY`` blocks bodies over 8 KB, because an
ALB's web ACL sees only the first 8 KB (CloudFront's 16 KB) and nothing past that is inspected. Uploads
need more. A scope-down statement on the group cannot help: it would take those paths out of the whole
core rule set (XSS, LFI, SSRF checks included). Instead the rule is overridden to ``count`` — it still
adds its label ``awswaf:managed:aws:core-rule-set:SizeRestrictions_Body`` — and a rule of ours that runs
after the group blocks requests carrying that label unless their path starts with a large-body prefix (AWS's
documented label-match pattern). Only the size verdict changes on those paths; every other core rule
still applies, and past 8 KB their bodies go uninspected, which is the price of allowing them.

**Socket.IO and the rate limit: scoped, not excluded.** A player whose network blocks WebSockets falls
back to long-polling: one GET pending at all times, answered and re-sent on every server event (the game
scheduler ticks every second), plus a POST per emit — about 60–120 requests a minute from one player,
and mobile carriers put many players behind one address (CGNAT). The general per-IP rule therefore leaves
``socketio_path`` out (its scope-down statement), and a second per-IP rule covers only that path with
its own, higher limit. Excluding the path outright would leave an unlimited door into Node (every
handshake allocates a session); one shared limit would be either too low for polling players or too high
for the API (credential stuffing on login).

**Behind CloudFront** the load balancer sees CloudFront's addresses, not the players': its rate rules
then count per ``X-Forwarded-For`` (the first address, which a client can forge — the CloudFront web ACL
counts per real address, so forging only dodges the second, origin-side limit), and a request without
the header is not counted (only CloudFront reaches the ALB; the listener refuses the rest).
"""

from __future__ import annotations

from infra.config import BODY_SIZE_RULE, MANAGED_RULE_GROUPS, WafConfig
from monitoring.alarms import RateRuleWatch, WebAclWatch

BODY_SIZE_LABEL = "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"
BODY_SIZE_RULE_NAME = "body-over-8kb-outside-large-body-paths"
RATE_RULE_NAME = "rate-limit-per-ip"
SOCKETIO_RATE_RULE_NAME = "rate-limit-per-ip-socketio"
#: Where CloudFront puts the viewer's address for the origin.
FORWARDED_IP_HEADER = "X-Forwarded-For"
#: What a rate-limited client gets instead of WAF's plain 403: 429 tells clients (and Socket.IO's
#: reconnect back-off) to slow down rather than that they are forbidden.
RATE_LIMITED_BODY_KEY = "rate-limited"
RATE_LIMITED_BODY = {
    "key": RATE_LIMITED_BODY_KEY,
    "content_type": "APPLICATION_JSON",
    "content": '{"error":"too many requests"}',
}

#: Headers that carry credentials (the app's JWT, session cookies); lower case, as WAF matches them.
REDACTED_HEADERS = ("authorization", "cookie")
#: WAF logs only to log groups whose names start with this.
LOG_GROUP_PREFIX = "aws-waf-logs-"

_FIRST = 10  # the first managed group's priority; groups are 10 apart


def web_acl_rules(waf: WafConfig, *, behind_cloudfront: bool) -> list[dict]:
    """The ``rule`` blocks of one web ACL, in priority order. ``behind_cloudfront``: the load balancer's ACL when
    CloudFront is in front of it (rate rules count per forwarded address)."""
    rules = []
    for index, group in enumerate(MANAGED_RULE_GROUPS):
        rules.append(_managed_group(waf, group, priority=_FIRST * (index + 1)))
        if group == "AWSManagedRulesCommonRuleSet" and waf.large_body_paths:
            rules.append(_body_size_rule(waf, priority=_FIRST * (index + 1) + 1))
    socketio = _starts_with(waf.socketio_path)
    first_rate_priority = _FIRST * (len(MANAGED_RULE_GROUPS) + 1)
    limits = (
        (RATE_RULE_NAME, waf.rate_limit, {"not_statement": {"statement": socketio}}),
        (SOCKETIO_RATE_RULE_NAME, waf.socketio_rate_limit, socketio),
    )
    for offset, (name, limit, scope_down) in enumerate(limits):
        rules.append(_rate_rule(waf, name, first_rate_priority + offset, limit, scope_down, behind_cloudfront))
    return rules


def rate_rules(waf: WafConfig) -> tuple[RateRuleWatch, ...]:
    blocks = waf.rate_limit_action == "block"
    return (RateRuleWatch(RATE_RULE_NAME, blocks), RateRuleWatch(SOCKETIO_RATE_RULE_NAME, blocks))


def web_acl_watch(waf: WafConfig, *, web_acl: str, region: str | None) -> WebAclWatch:
    """What the alarms and the dashboard need to know of a web ACL built from ``waf``. ``web_acl``: its metric name
    (a reference at synth time); ``region``: None for CloudFront's."""
    # Rule names are the same in front of CloudFront and behind it.
    names = tuple(rule["name"] for rule in web_acl_rules(waf, behind_cloudfront=False))
    return WebAclWatch(web_acl=web_acl, region=region, rules=names, rate_rules=rate_rules(waf))


def visibility(metric_name: str) -> dict:
    """Per-rule CloudWatch metrics and sampled requests, both on."""
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric_name, "sampled_requests_enabled": True}


def _action(action: str) -> dict:
    return {action: {}}


def _managed_group(waf: WafConfig, group: str, *, priority: int) -> dict:
    config = waf.group(group)
    overrides = dict(config.overrides)
    if group == "AWSManagedRulesCommonRuleSet" and waf.large_body_paths:
        overrides[BODY_SIZE_RULE] = "count"
    statement: dict = {"vendor_name": "AWS", "name": group}
    if overrides:
        statement["rule_action_override"] = [
            {"name": name, "action_to_use": _action(action)} for name, action in sorted(overrides.items())
        ]
    return {
        "name": group,
        "priority": priority,
        # "none" keeps each rule's own action (block); "count" turns every match into a count.
        "override_action": _action("none" if config.action == "block" else "count"),
        "statement": {"managed_rule_group_statement": statement},
        "visibility_config": visibility(group),
    }


def _body_size_rule(waf: WafConfig, *, priority: int) -> dict:
    # Follows the core rule set's mode: while the group only counts, so does this.
    action = waf.group("AWSManagedRulesCommonRuleSet").action
    outside = [{"not_statement": {"statement": _starts_with(path)}} for path in waf.large_body_paths]
    return {
        "name": BODY_SIZE_RULE_NAME,
        "priority": priority,
        "action": _action(action),
        "statement": {
            "and_statement": {
                "statement": [{"label_match_statement": {"scope": "LABEL", "key": BODY_SIZE_LABEL}}, *outside]
            }
        },
        "visibility_config": visibility(BODY_SIZE_RULE_NAME),
    }


def _rate_rule(waf: WafConfig, name: str, priority: int, limit: int, scope_down: dict, behind_cloudfront: bool) -> dict:
    statement: dict = {
        "limit": limit,
        "evaluation_window_sec": waf.rate_window_seconds,
        "aggregate_key_type": "FORWARDED_IP" if behind_cloudfront else "IP",
        "scope_down_statement": scope_down,
    }
    if behind_cloudfront:
        statement["forwarded_ip_config"] = {"header_name": FORWARDED_IP_HEADER, "fallback_behavior": "NO_MATCH"}
    if waf.rate_limit_action == "block":
        action = {
            "block": {"custom_response": {"response_code": 429, "custom_response_body_key": RATE_LIMITED_BODY_KEY}}
        }
    else:
        action = _action("count")
    return {
        "name": name,
        "priority": priority,
        "action": action,
        "statement": {"rate_based_statement": statement},
        "visibility_config": visibility(name),
    }


def _starts_with(prefix: str) -> dict:
    # Lower-cased on both sides: Express routes case-insensitively, so /API/Upload is /api/upload to the app.
    return {
        "byte_match_statement": {
            "search_string": prefix.lower(),
            "positional_constraint": "STARTS_WITH",
            "field_to_match": {"uri_path": {}},
            "text_transformation": [{"priority": 0, "type": "LOWERCASE"}],
        }
    }
