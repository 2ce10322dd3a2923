"""Typed, validated environment configuration: ``environments/<env>.toml`` → ``EnvironmentConfig``.

The environment files are the only place sizes and toggles live. This module knows no CDKTF, so
it loads in milliseconds and its errors are tested without synthesizing anything.
Every error surfaces as one ``ConfigError`` line naming the file, the line where it can be
found, and the dotted field.
"""

from __future__ import annotations

import re
import tomllib
from ipaddress import IPv4Network
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from infra.subnet_plan import SubnetPlan, SubnetPlanError, carve, check_explicit
from monitoring.thresholds import AlarmThresholds

ENVIRONMENTS_DIR = Path(__file__).resolve().parent.parent / "environments"
DEFAULT_ENVIRONMENT = "dev"

#: Retention values CloudWatch Logs accepts; anything else fails at apply, so fail here.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


#: '<project>-<env>' must leave room for '-alb' in a load balancer name (32 characters).
MAX_PREFIX_LENGTH = 28


class ConfigError(Exception):
    """A bad environment file. ``str()`` is the one line shown to the user."""


def _check_log_retention(field: str, days: int) -> None:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"{field} must be one of CloudWatch's values {LOG_RETENTION_DAYS}")


class _Section(BaseModel):
    # Unknown keys are typos until proven otherwise; frozen because stacks share one config.
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkConfig(_Section):
    """The VPC. Defaults: 2 AZs, one shared NAT gateway, flow logs kept 30 days, S3 gateway endpoint."""

    vpc_cidr: IPv4Network
    az_count: int = Field(2, ge=2, le=6, description="AZs the subnets span; ≥ 2 for RDS Multi-AZ and the ALB")
    nat_mode: Literal["single", "per-az"] = Field(
        "single", description="'single' saves cost (dev); 'per-az' survives an AZ outage (prod)"
    )
    flow_log_retention_days: int = 30
    create_s3_endpoint: bool = True
    create_ssm_endpoints: bool = Field(
        False, description="Interface endpoints so Session Manager works without NAT (cost ≈ $7/AZ/month each)"
    )
    availability_zones: tuple[str, ...] | None = Field(
        None,
        description="Zone names in order; default: the region's first az_count letters (a, b, c, …). "
        "Pinned rather than looked up so a zone AWS adds or retires can never re-order, and so replace, subnets.",
    )
    public_subnet_prefix: int = 24
    app_subnet_prefix: int = 20
    data_subnet_prefix: int = 24
    public_subnet_cidrs: tuple[IPv4Network, ...] | None = None
    app_subnet_cidrs: tuple[IPv4Network, ...] | None = None
    data_subnet_cidrs: tuple[IPv4Network, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> "NetworkConfig":
        _check_log_retention("flow_log_retention_days", self.flow_log_retention_days)
        self.subnets  # noqa: B018 — carving raises for overlapping or too-small CIDRs
        return self

    @property
    def subnets(self) -> SubnetPlan:
        explicit = {
            tier: list(nets)
            for tier, nets in (
                ("public", self.public_subnet_cidrs),
                ("app", self.app_subnet_cidrs),
                ("data", self.data_subnet_cidrs),
            )
            if nets is not None
        }
        try:
            if explicit:
                return check_explicit(self.vpc_cidr, self.az_count, explicit)
            prefixes = {"public": self.public_subnet_prefix, "app": self.app_subnet_prefix, "data": self.data_subnet_prefix}
            return carve(self.vpc_cidr, self.az_count, prefixes)
        except SubnetPlanError as exc:
            raise ValueError(str(exc)) from None


class AppConfig(_Section):
    """The EC2 fleet behind the ALB and what boots on it. Defaults follow the scaling guide: 2/10/2,
    CPU target 70 %, Node 20 with PM2. Exactly one of ``repository`` / ``artifact`` says where the code comes from."""

    instance_type: str = Field("t2.micro", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    min_size: int = Field(2, ge=1)
    max_size: int = Field(10, ge=1)
    desired_capacity: int = Field(2, ge=1)
    cpu_target_percent: float = Field(70, gt=0, le=100)
    requests_per_target: int | None = Field(
        None, ge=1, description="Second target-tracking policy on ALB requests per instance per minute; off by default"
    )
    port: int = Field(3000, ge=1, le=65535)
    health_check_path: str = Field("/health", pattern=r"^/")
    health_check_grace_seconds: int = Field(
        300, ge=0, le=3600, description="Boot + npm install time the ASG waits before ELB health counts"
    )
    root_volume_gb: int = Field(20, ge=8, le=1024)
    ssh_key_name: str | None = Field(None, description="Optional EC2 key pair; SSH is never open to the internet (use Session Manager)")
    node_version: str = Field("20", pattern=r"^\d{2}$", description="Node.js major, installed from NodeSource's signed apt repository")
    pm2_version: str = Field("5", pattern=r"^\d+(\.\d+){0,2}$", description="npm version spec for pm2")
    repository: str | None = Field(None, pattern=r"^https://\S+$", description="Git repository (HTTPS) the instances clone")
    branch: str = Field("main", pattern=r"^[A-Za-z0-9._/-]+$")
    artifact: str | None = Field(None, pattern=r"^s3://[a-z0-9.-]{3,63}/\S+\.(tar\.gz|tgz)$", description="S3 tarball instead of git")
    entrypoint: str = Field("server.js", pattern=r"^[A-Za-z0-9._/-]+$", description="The file PM2 starts")
    log_retention_days: int = Field(30, description="CloudWatch retention of the app's and the bootstrap's logs")

    @model_validator(mode="after")
    def _check_sizes(self) -> "AppConfig":
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is greater than max_size ({self.max_size})")
        if not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(
                f"desired_capacity ({self.desired_capacity}) is outside [min_size, max_size] "
                f"= [{self.min_size}, {self.max_size}]"
            )
        if (self.repository is None) == (self.artifact is None):
            raise ValueError("set exactly one of repository (git) and artifact (s3://…tar.gz)")
        _check_log_retention("log_retention_days", self.log_retention_days)
        return self


#: RDS instance classes Performance Insights (and its successor, Database Insights) does not run on for MySQL.
PERFORMANCE_INSIGHTS_UNSUPPORTED = ("db.t2.micro", "db.t2.small", "db.t3.micro", "db.t3.small", "db.t4g.micro", "db.t4g.small")
_WINDOW = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"
_WEEKLY_WINDOW = r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"


class DatabaseConfig(_Section):
    """RDS MySQL. Defaults are the safe ones (deletion protection, final snapshot, 7 days of backups);
    an environment turns them off explicitly where cheapness matters more (dev)."""

    instance_class: str = Field("db.t3.micro", pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    engine_version: str = Field("8.0", pattern=r"^8\.(0|4)(\.\d+)?$", description="'8.0' lets RDS pick (and upgrade) the minor")
    allocated_storage_gb: int = Field(20, ge=20, le=65536)
    max_allocated_storage_gb: int = Field(100, ge=20, le=65536, description="Storage autoscaling ceiling")
    multi_az: bool = False
    create_instance: bool = Field(
        True,
        description="False only for the deploy rehearsal's lite run (moto costs ≈ 140 s of fixed provider waits): "
        "everything around the instance is still created; the app stack gets a stand-in address and secret",
    )
    name: str = Field("duewin", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$", description="The schema created at launch")
    username: str = Field("duewin_admin", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$", description="Master user; its password lives only in Secrets Manager")
    deletion_protection: bool = True
    final_snapshot: bool = Field(True, description="Snapshot on destroy; off in dev, where the data is disposable")
    copy_tags_to_snapshot: bool = True
    backup_retention_days: int = Field(7, ge=1, le=35, description="≥ 1: 0 would turn off backups and point-in-time recovery")
    backup_window: str = Field("03:00-04:00", pattern=_WINDOW, description="UTC, daily")
    maintenance_window: str = Field("sun:04:30-sun:05:30", pattern=_WEEKLY_WINDOW, description="UTC; after the backup window")
    ca_cert_identifier: str = Field("rds-ca-rsa2048-g1", pattern=r"^rds-ca-[a-z0-9-]+$")
    performance_insights: bool = Field(False, description=f"Not available on {', '.join(PERFORMANCE_INSIGHTS_UNSUPPORTED)}")
    monitoring_interval: Literal[0, 1, 5, 10, 15, 30, 60] = Field(60, description="Enhanced Monitoring seconds; 0 turns it off")
    max_allowed_packet_mb: int = Field(
        64,
        ge=16,
        le=1024,
        description="Largest statement the server accepts. The cutover tool sends statements up to this size; 64 MB "
        "holds mysqldump's extended INSERTs (≈1 MB) and any single row the source could store (MySQL 8's own "
        "default, above MariaDB's 16 MB).",
    )
    slow_query_seconds: float = Field(1.0, gt=0, le=60, description="long_query_time: statements slower than this go to the slow log")
    log_retention_days: int = 30
    storage_kms_key_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+$",
        description="Bring-your-own key for storage and Performance Insights; default: a key the data stack creates",
    )

    @model_validator(mode="after")
    def _check(self) -> "DatabaseConfig":
        if self.max_allocated_storage_gb < self.allocated_storage_gb:
            raise ValueError(
                f"max_allocated_storage_gb ({self.max_allocated_storage_gb}) is below "
                f"allocated_storage_gb ({self.allocated_storage_gb})"
            )
        if self.performance_insights and self.instance_class in PERFORMANCE_INSIGHTS_UNSUPPORTED:
            raise ValueError(f"performance_insights is not available on {self.instance_class}")
        _check_log_retention("log_retention_days", self.log_retention_days)
        return self


class CacheConfig(_Section):
    """ElastiCache Redis. Defaults: cache.t3.micro, no replicas (replicas ≥ 1 turns on failover and Multi-AZ)."""

    node_type: str = Field("cache.t3.micro", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    engine_version: str = Field("7.1", pattern=r"^(6\.[02]|7\.[01])$", description="Redis OSS versions ElastiCache offers with AUTH + TLS")
    replicas: int = Field(0, ge=0, le=5)
    create_replication_group: bool = Field(
        True,
        description="False only for the deploy rehearsal (moto implements neither the parameter group nor the "
        "replication group): the subnet group, AUTH secret and slow log are still created; the app stack gets a stand-in address",
    )
    snapshot_retention_days: int = Field(1, ge=1, le=35, description="≥ 1: daily snapshots are the only backup of the cache")
    snapshot_window: str = Field("03:00-04:00", pattern=_WINDOW, description="UTC, daily")
    maintenance_window: str = Field("sun:05:30-sun:06:30", pattern=_WEEKLY_WINDOW, description="UTC; after the database's")
    maxmemory_policy: Literal["volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu", "volatile-ttl", "noeviction"] = Field(
        "volatile-lru", description="Evict only keys with a TTL: sessions and Socket.IO state without one are never dropped"
    )
    log_retention_days: int = 30
    secret_recovery_days: int = Field(
        7, description="How long a deleted AUTH secret stays recoverable (0 or 7–30); 0 lets dev be destroyed and re-created at once"
    )

    @model_validator(mode="after")
    def _check(self) -> "CacheConfig":
        _check_log_retention("log_retention_days", self.log_retention_days)
        if self.secret_recovery_days != 0 and not 7 <= self.secret_recovery_days <= 30:
            raise ValueError(f"secret_recovery_days must be 0 or 7–30 (Secrets Manager's range), not {self.secret_recovery_days}")
        return self


class DnsConfig(_Section):
    """Optional public name and certificate. Without a certificate the ALB serves plain HTTP (dev)."""

    domain: str | None = Field(None, pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}$")
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")


class LoadBalancerConfig(_Section):
    """The public ALB and its target group. Defaults are the safe ones (deletion protection on)."""

    idle_timeout_seconds: int = Field(
        300, ge=60, le=4000, description="Above Socket.IO's 25 s ping interval with room, so idle WebSockets survive"
    )
    deletion_protection: bool = True
    access_log_retention_days: int = Field(90, ge=1, description="S3 lifecycle expiry of ALB access logs")
    ssl_policy: str = Field("ELBSecurityPolicy-TLS13-1-2-2021-06", pattern=r"^ELBSecurityPolicy-TLS13-", description="TLS 1.3 policies only")
    health_check_interval_seconds: int = Field(15, ge=5, le=300)
    health_check_timeout_seconds: int = Field(5, ge=2, le=120)
    healthy_threshold: int = Field(2, ge=2, le=10)
    unhealthy_threshold: int = Field(3, ge=2, le=10)
    health_check_matcher: str = Field("200", pattern=r"^[1-5]\d\d([,-][1-5]\d\d)*$")
    deregistration_delay_seconds: int = Field(30, ge=0, le=3600, description="Drain time for in-flight requests on scale-in")
    stickiness: bool = Field(False, description="Socket.IO's long-polling fallback needs it unless the app uses the Redis adapter")
    stickiness_duration_seconds: int = Field(86400, ge=1, le=604800)

    @model_validator(mode="after")
    def _check_health(self) -> "LoadBalancerConfig":
        if self.health_check_timeout_seconds >= self.health_check_interval_seconds:
            raise ValueError(
                f"health_check_timeout_seconds ({self.health_check_timeout_seconds}) must be below "
                f"health_check_interval_seconds ({self.health_check_interval_seconds})"
            )
        return self


class EdgeConfig(_Section):
    """Optional edge in front of the ALB (both off by default; each needs ``dns.domain``).

    ``create_cloudfront``: CloudFront with a us-east-1 certificate, security headers, and an origin
    header without which the ALB answers 403. ``create_dns``: the Route 53 zone (looked up, or created
    with ``create_zone``), apex and www aliases to CloudFront (or to the ALB), certificate validation
    records, and a ``/health`` check with an alarm.
    """

    create_cloudfront: bool = False
    create_dns: bool = False
    create_zone: bool = Field(False, description="Create the public zone (then delegate the domain to its name servers)")
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


class WafRuleGroupConfig(_Section):
    """One managed rule group. ``count`` only labels, counts and logs matches: how to tune a group on live traffic."""

    action: RuleAction = "block"
    overrides: dict[str, RuleAction] = Field(
        {}, description="Rule name → action, over the group's (names as WAF logs show them in ruleGroupList)"
    )

    @model_validator(mode="after")
    def _check_names(self) -> "WafRuleGroupConfig":
        for name in self.overrides:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", name):
                raise ValueError(f"overrides: {name!r} is not a rule name")
        return self


class WafConfig(_Section):
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
    data_protection: bool = Field(
        True,
        description="Replace the authorization and cookie headers by REDACTED in sampled requests too (logs redact "
        "them anyway). False only for the deploy rehearsal: moto ignores DataProtectionConfig",
    )

    @model_validator(mode="after")
    def _check(self) -> "WafConfig":
        _check_log_retention("log_retention_days", self.log_retention_days)
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


class AlarmsConfig(_Section):
    """Who hears about alarms, and when they fire. No e-mails in dev: alarms still exist, nobody is paged."""

    emails: tuple[str, ...] = Field((), description="SNS e-mail subscriptions (each must confirm once)")
    thresholds: AlarmThresholds = Field(
        AlarmThresholds(), description="[alarms.thresholds]; defaults fit the smallest shapes (monitoring/thresholds.py)"
    )

    @model_validator(mode="after")
    def _check_emails(self) -> "AlarmsConfig":
        for email in self.emails:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}", email):
                raise ValueError(f"{email!r} is not an e-mail address")
        return self


class TerraformCloudConfig(_Section):
    """Terraform Cloud remote runs. Without an organization, stacks use a relative local backend."""

    organization: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    workspace_prefix: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]+$", description="Defaults to the stack name's '<project>-<env>' part"
    )


class EnvironmentConfig(_Section):
    """One deployable environment; ``name`` comes from the file name, not its content."""

    name: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    project: str = Field("duewin", pattern=r"^[a-z][a-z0-9-]{1,20}$")
    region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    network: NetworkConfig
    app: AppConfig
    database: DatabaseConfig = DatabaseConfig()
    cache: CacheConfig = CacheConfig()
    dns: DnsConfig = DnsConfig()
    load_balancer: LoadBalancerConfig = LoadBalancerConfig()
    edge: EdgeConfig = EdgeConfig()
    waf: WafConfig = WafConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    terraform_cloud: TerraformCloudConfig = TerraformCloudConfig()

    @model_validator(mode="after")
    def _check_prefix_length(self) -> "EnvironmentConfig":
        # The longest name built from it: the load balancer's '<prefix>-alb' (AWS allows 32 characters).
        if len(self.prefix) > MAX_PREFIX_LENGTH:
            raise ValueError(
                f"project and environment name make the prefix {self.prefix!r} ({len(self.prefix)} characters); "
                f"load balancer names allow at most {MAX_PREFIX_LENGTH}"
            )
        return self

    @model_validator(mode="after")
    def _check_edge(self) -> "EnvironmentConfig":
        edge = self.edge
        if edge.enabled and not self.dns.domain:
            raise ValueError("edge.create_cloudfront and edge.create_dns need dns.domain")
        if edge.create_cloudfront and not edge.create_dns:
            # Its us-east-1 certificate is validated through records in the Route 53 zone.
            raise ValueError("edge.create_cloudfront needs edge.create_dns")
        if edge.create_cloudfront and not self.dns.certificate_arn:
            # The origin is HTTPS-only: the ALB needs its HTTPS listener, which needs the certificate.
            raise ValueError("edge.create_cloudfront needs dns.certificate_arn (the ALB's HTTPS listener)")
        if edge.create_zone and not edge.create_dns:
            raise ValueError("edge.create_zone needs edge.create_dns")
        if edge.create_dns and self.region != "us-east-1":
            # Route 53 publishes health-check metrics only in us-east-1, and an alarm can notify only a
            # topic of its own region: the /health alarm could not reach the environment's alarm topic.
            raise ValueError(f"edge.create_dns needs region us-east-1 (the /health check's alarm), not {self.region}")
        return self

    @model_validator(mode="after")
    def _check_storage_alarm(self) -> "EnvironmentConfig":
        floor, allocated = self.alarms.thresholds.db_free_storage_gb, self.database.allocated_storage_gb
        if floor >= allocated:
            # The alarm would fire on an empty database from the first minute.
            raise ValueError(
                f"alarms.thresholds.db_free_storage_gb ({floor:g}) must be below database.allocated_storage_gb ({allocated})"
            )
        return self

    @model_validator(mode="after")
    def _check_zones(self) -> "EnvironmentConfig":
        zones = self.network.availability_zones
        if zones is None:
            return self
        if len(zones) != self.network.az_count:
            raise ValueError(f"network.availability_zones lists {len(zones)} zones for az_count {self.network.az_count}")
        for zone in zones:
            if not re.fullmatch(re.escape(self.region) + r"[a-z]", zone):
                raise ValueError(f"network.availability_zones: {zone!r} is not a zone of {self.region}")
        if len(set(zones)) != len(zones):
            raise ValueError("network.availability_zones: a zone is listed twice")
        return self

    @property
    def availability_zones(self) -> tuple[str, ...]:
        return self.network.availability_zones or tuple(f"{self.region}{letter}" for letter in "abcdef"[: self.network.az_count])

    @property
    def prefix(self) -> str:
        """'<project>-<env>': the stem of every stack and resource name."""
        return f"{self.project}-{self.name}"

    def stack_name(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"


def available_environments(directory: Path = ENVIRONMENTS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.toml"))


def load_environment(name: str, directory: Path = ENVIRONMENTS_DIR) -> EnvironmentConfig:
    """Load and validate ``<directory>/<name>.toml``; raise ConfigError with one readable line."""
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(available_environments(directory)) or "none"
        raise ConfigError(f"unknown environment {name!r}: no {_shown(path)} (known: {known})")
    return load_file(path)


def load_file(path: Path) -> EnvironmentConfig:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_shown(path)}: invalid TOML: {exc}") from None
    if "name" in data:
        raise ConfigError(f"{_shown(path)}:{_line_of(text, ('name',))}: name: comes from the file name; remove it")
    try:
        return EnvironmentConfig.model_validate({**data, "name": path.stem})
    except ValidationError as exc:
        raise ConfigError(_describe(path, text, exc)) from None


def _describe(path: Path, text: str, exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    # "[key]" marks an error in a mapping's key (waf.rule_groups.<group>): the key itself names the field.
    loc = tuple(str(part) for part in error["loc"] if not isinstance(part, int) and part != "[key]")
    field = ".".join(loc) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif "input" in error and error["type"] not in ("model_type",) and not isinstance(error["input"], dict):
        message = f"{message} (got {error['input']!r})"
    line = _line_of(text, loc)
    where = f"{_shown(path)}:{line}" if line else _shown(path)
    return f"{where}: {field}: {message}"


def _line_of(text: str, loc: tuple[str, ...]) -> int | None:
    """Best-effort line of a dotted key: the key inside its [table], or the table header itself."""
    if not loc:
        return None
    lines = text.splitlines()
    *tables, key = loc
    start, end = 0, len(lines)
    if not tables:
        end = next((i for i, line in enumerate(lines) if re.match(r"^\s*\[", line)), len(lines))
    else:
        header = re.compile(r"^\s*\[\s*" + re.escape(".".join(tables)) + r"\s*\]")
        for i, line in enumerate(lines):
            if header.match(line):
                start = i
                break
        else:
            # No [a.b.c] header: the value may be an inline table (c = { … }) inside [a.b].
            return _line_of(text, tuple(tables))
        for j in range(start + 1, len(lines)):
            if re.match(r"^\s*\[", lines[j]):
                end = j
                break
    key_re = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for i in range(start, end):
        if key_re.match(lines[i]):
            return i + 1
    if len(loc) == 1:
        header = re.compile(r"^\s*\[\s*" + re.escape(key) + r"\s*\]")
        return next((i + 1 for i, line in enumerate(lines) if header.match(line)), None)
    return start + 1 if tables else None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
