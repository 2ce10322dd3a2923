"""What stands in front of the fleet: ``[load_balancer]``, ``[dns]``, ``[edge]`` (CloudFront, Route 53), ``[waf]``."""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import Field, model_validator

from infra.config.section import Section, check_log_retention


class DnsConfig(Section):
    """Optional public name and certificate. Without a certificate the ALB serves plain HTTP (dev)."""

    domain: str | None = Field(None, pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}$")
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")


class LoadBalancerConfig(Section):
    """The public ALB and its target group. Defaults are the safe ones (deletion protection on)."""

    idle_timeout_seconds: int = Field(
        300, ge=60, le=4000, description="Above Socket.IO's 25 s ping interval with room, so idle WebSockets survive"
    )
    deletion_protection: bool = True
    access_log_retention_days: int = Field(90, ge=1, description="S3 lifecycle expiry of ALB access logs")
    ssl_policy: str = Field(
        "ELBSecurityPolicy-TLS13-1-2-2021-06", pattern=r"^ELBSecurityPolicy-TLS13-", description="TLS 1.3 policies only"
    )
    health_check_interval_seconds: int = Field(15, ge=5, le=300)
    health_check_timeout_seconds: int = Field(5, ge=2, le=120)
    healthy_threshold: int = Field(2, ge=2, le=10)
    unhealthy_threshold: int = Field(3, ge=2, le=10)
    health_check_matcher: str = Field("200", pattern=r"^[1-5]\d\d([,-][1-5]\d\d)*$")
    deregistration_delay_seconds: int = Field(
        30, ge=0, le=3600, description="Drain time for in-flight requests on scale-in"
    )
    stickiness: bool = Field(
        True,
        description="lb_cookie stickiness: Socket.IO's polling transport needs it unless the app uses the Redis "
        "adapter and its clients connect websocket-only",
    )
    stickiness_duration_seconds: int = Field(86400, ge=1, le=604800)

    @model_validator(mode="after")
    def _check_health(self) -> LoadBalancerConfig:
        if self.health_check_timeout_seconds >= self.health_check_interval_seconds:
            raise ValueError(
                f"health_check_timeout_seconds ({self.health_check_timeout_seconds}) must be below "
                f"health_check_interval_seconds ({self.health_check_interval_seconds})"
            )
        return self


class EdgeConfig(Section):
    """Optional edge in front of the ALB (both off by default; each needs ``dns.domain``).

    ``create_cloudfront``: CloudFront with a us-east-1 certificate, security headers, and an origin
    header without which the ALB answers 403. ``create_dns``: the Route 53 zone (looked up, or created
    with ``create_zone``), apex and www aliases to CloudFront (or to the ALB), certificate validation
    records, and a ``/health`` check with an alarm.
    """

    create_cloudfront: bool = False
    create_dns: bool = False
    create_zone: bool = Field(
        False, description="Create the public zone (then delegate the domain to its name servers)"
    )
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = Field(
        "PriceClass_100", description="Edge locations used: 100 = North America and Europe, the cheapest"
    )
    static_default_ttl_seconds: int = Field(
        3600, ge=0, le=31536000, description="Cache time of default-behaviour responses that send no Cache-Control"
    )
    health_check_interval_seconds: Literal[10, 30] = 30
    health_check_failure_threshold: int = Field(3, ge=1, le=10)

    @property
    def enabled(self) -> bool:
        return self.create_cloudfront or self.create_dns


#: The AWS managed rule groups every web ACL runs, in priority order (cheapest verdict first: bad IPs, then
#: the broad core set, then the narrower sets). Keys of ``[waf.rule_groups]``.
ManagedRuleGroupName = Literal[
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
]
MANAGED_RULE_GROUPS: tuple[str, ...] = get_args(ManagedRuleGroupName)
#: The core rule set's rule that blocks bodies over 8 KB; ``waf.large_body_paths`` overrides it.
BODY_SIZE_RULE = "SizeRestrictions_BODY"
RuleAction = Literal["block", "count"]
_URI_PREFIX = r"^/[\x21-\x7e]{0,199}$"


class WafRuleGroupConfig(Section):
    """One managed rule group. ``count`` only labels, counts and logs matches: how to tune a group on live traffic."""

    action: RuleAction = "block"
    overrides: dict[str, RuleAction] = Field(
        {}, description="Rule name → action, over the group's (names as WAF logs show them in ruleGroupList)"
    )

    @model_validator(mode="after")
    def _check_names(self) -> WafRuleGroupConfig:
        for name in self.overrides:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", name):
                raise ValueError(f"overrides: {name!r} is not a rule name")
        return self


class WafConfig(Section):
    """AWS WAF on every internet-facing entry point (the ALB; CloudFront too when on). Off by default: it costs
    per web ACL, rule and million requests. Defaults are the blocking ones; an environment lowers them explicitly."""

    enabled: bool = False
    rule_groups: dict[ManagedRuleGroupName, WafRuleGroupConfig] = Field(
        {}, description="[waf.rule_groups]: action and overrides per group; a group left out blocks with no overrides"
    )
    large_body_paths: tuple[str, ...] = Field(
        (),
        max_length=10,
        description="URI path prefixes allowed bodies over 8 KB (uploads): SizeRestrictions_BODY only counts there",
    )
    rate_limit: int = Field(
        2000, ge=10, le=2_000_000_000, description="Requests per source IP per window, outside socketio_path"
    )
    socketio_rate_limit: int = Field(
        10000, ge=10, le=2_000_000_000, description="Requests per source IP per window on socketio_path (long-polling)"
    )
    rate_window_seconds: Literal[60, 120, 300, 600] = 300
    rate_limit_action: RuleAction = "block"
    socketio_path: str = Field("/socket.io/", pattern=_URI_PREFIX, description="Socket.IO's path as clients request it")
    log_retention_days: int = 90

    @model_validator(mode="after")
    def _check(self) -> WafConfig:
        check_log_retention("log_retention_days", self.log_retention_days)
        for path in self.large_body_paths:
            if not re.fullmatch(_URI_PREFIX, path):
                raise ValueError(f"large_body_paths: {path!r} is not a URI path prefix (/…, no spaces, ≤ 200 chars)")
            if path == "/":
                raise ValueError(f"large_body_paths: '/' exempts every path; override {BODY_SIZE_RULE} to count")
        if len(set(self.large_body_paths)) != len(self.large_body_paths):
            raise ValueError("large_body_paths: a path is listed twice")
        if self.large_body_paths and BODY_SIZE_RULE in self.group("AWSManagedRulesCommonRuleSet").overrides:
            raise ValueError(
                f"rule_groups.AWSManagedRulesCommonRuleSet.overrides: {BODY_SIZE_RULE} is already overridden for "
                "large_body_paths; set one or the other"
            )
        return self

    def group(self, name: str) -> WafRuleGroupConfig:
        return self.rule_groups.get(name, WafRuleGroupConfig())
