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

from bootstrap.app_settings import BOOTSTRAP_SETTINGS, SETTING_NAME
from infra.connection_budget import (
    ALARM_SHARE,
    BUDGET_SHARE,
    CLASS_MEMORY_GIB,
    ConnectionBudget,
    Consumer,
    max_connections,
    smallest_class_that_fits,
)
from infra.names import MAX_PREFIX_LENGTH, ResourceNames, resource_names
from infra.subnet_plan import SubnetPlan, SubnetPlanError, carve, check_explicit
from monitoring.thresholds import AlarmThresholds

ENVIRONMENTS_DIR = Path(__file__).resolve().parent.parent / "environments"
DEFAULT_ENVIRONMENT = "dev"

#: Retention values CloudWatch Logs accepts; anything else fails at apply, so fail here.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


class ConfigError(Exception):
    """A bad environment file. ``str()`` is the one line shown to the user."""


class FieldError(ValueError):
    """Raised by a validator of a section about one of its fields (or a deeper one): ``loc`` names it
    relative to the model that validates, so the error line points at the key, not the section."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _check_log_retention(field: str, days: int) -> None:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"{field} must be one of CloudWatch's values {LOG_RETENTION_DAYS}")


def _check_secret_recovery(field: str, days: int) -> None:
    if days != 0 and not 7 <= days <= 30:
        raise ValueError(f"{field} must be 0 or 7–30 (Secrets Manager's range), not {days}")


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
    def _check(self) -> NetworkConfig:
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


#: A path inside the app's checkout: relative, no empty segment (and no '..', checked by _inside_checkout).
_RELATIVE_PATH = r"^[A-Za-z0-9._@-]+(/[A-Za-z0-9._@-]+)*$"


def _inside_checkout(field: str, path: str) -> None:
    if ".." in path.split("/"):
        raise FieldError((field,), f"{path!r} leaves the app's checkout ('..')")
#: Settings the duewin backend cannot run safely without: five clients built at module load
#: (fatal when missing) and four security keys that silently fall back to hard-coded defaults.
DUEWIN_REQUIRED_SETTINGS = (
    "PRELUDE_API_KEY", "SPRIBE_CLIENT_ID", "SPRIBE_CLIENT_SECRET", "CASINO_AGENCY_UID", "CASINO_AES_KEY",
    "JWT_SECRET", "JWT_REFRESH_SECRET", "ADMIN_JWT_SECRET", "ENCRYPTION_KEY",
)
#: The one process role behind the load balancer (as Heroku's Procfile: only ``web`` gets HTTP traffic).
WEB_ROLE = "web"
DEFAULT_LOCK_TTL_SECONDS = 15


class ProcessConfig(_Section):
    """One process role, Procfile-style (``[[app.processes]]``). PM2 runs ``per_host`` copies of
    ``script`` on every host, or, with ``placement = "one-in-fleet"``, one copy in the whole fleet under
    ``fleet-lock lead`` (every host stands by; the lock holder runs it)."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,39}$", description="PM2 process name; 'web' is the role behind the target group"
    )
    script: str = Field(pattern=_RELATIVE_PATH, description="Relative to app.directory")
    args: tuple[str, ...] = Field((), description="Arguments after the script")
    per_host: int = Field(1, ge=1, le=32, description="Copies per host (one-in-fleet: 1)")
    placement: Literal["every-host", "one-in-fleet"] = "every-host"
    pool: int = Field(10, ge=0, le=1000, description="MySQL connections one copy may hold (its Sequelize pool max)")
    lock_ttl_seconds: int | None = Field(
        None, ge=3, le=3600,
        description=f"one-in-fleet only (default {DEFAULT_LOCK_TTL_SECONDS}): a dead leader's role resumes on "
        "another host within TTL + TTL/3",
    )

    @model_validator(mode="after")
    def _check(self) -> ProcessConfig:
        _inside_checkout("script", self.script)
        if self.placement == "one-in-fleet" and self.per_host != 1:
            raise FieldError(
                ("per_host",), f"a one-in-fleet process runs one copy in the fleet; per_host must be 1, not {self.per_host}"
            )
        if self.placement == "every-host" and self.lock_ttl_seconds is not None:
            raise FieldError(("lock_ttl_seconds",), "only a one-in-fleet process takes the fleet lock")
        if any("\n" in arg for arg in self.args):
            raise FieldError(("args",), "an argument holds a newline")
        return self

    @property
    def lock_ttl(self) -> int:
        return self.lock_ttl_seconds or DEFAULT_LOCK_TTL_SECONDS


DUEWIN_PROCESSES = (
    ProcessConfig(name=WEB_ROLE, script="index.js"),
    ProcessConfig(name="workers", script="workers/workerManager.js", per_host=2),
    ProcessConfig(name="scheduler", script="scripts/start-scheduler.js", placement="one-in-fleet"),
    ProcessConfig(name="precalc-5d", script="scripts/5dPreCalcScheduler.js", placement="one-in-fleet"),
)


class AppConfig(_Section):
    """The EC2 fleet behind the ALB and what boots on it. Defaults follow the scaling guide: 2/10/2,
    CPU target 70 %, Node 20 with PM2, and the duewin backend's processes and settings.
    Exactly one of ``repository`` / ``artifact`` says where the code comes from."""

    instance_type: str = Field("t2.micro", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    min_size: int = Field(2, ge=1)
    max_size: int = Field(10, ge=1)
    desired_capacity: int = Field(2, ge=1)
    cpu_target_percent: float = Field(70, gt=0, le=100)
    requests_per_target: int | None = Field(
        None, ge=1, description="Second target-tracking policy on ALB requests per instance per minute; off by default"
    )
    port: int = Field(3000, ge=1, le=65535, description="The target group's port; the app gets it as SERVER_PORT")
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
    directory: str = Field(
        "Backend", pattern=_RELATIVE_PATH,
        description="The app inside the checkout ('.' for its root): npm install, .env and every process's cwd",
    )
    processes: tuple[ProcessConfig, ...] = Field(
        DUEWIN_PROCESSES, description="[[app.processes]]; default: duewin's four"
    )
    env: dict[str, str] = Field(
        {},
        description="[app.env]: plain, non-secret settings (ALLOWED_ORIGINS, FRONTEND_URL, …); secrets go to Parameter Store",
    )
    required_settings: tuple[str, ...] = Field(
        DUEWIN_REQUIRED_SETTINGS,
        description="The boot stops, naming every one missing from Parameter Store and [app.env]",
    )
    log_retention_days: int = Field(30, description="CloudWatch retention of the app's and the bootstrap's logs")

    @model_validator(mode="after")
    def _check_sizes(self) -> AppConfig:
        _inside_checkout("directory", self.directory)
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

    @model_validator(mode="after")
    def _check_processes(self) -> AppConfig:
        seen: set[str] = set()
        for index, process in enumerate(self.processes):
            if process.name in seen:
                raise FieldError(("processes", index, "name"), f"{process.name!r} names two processes")
            seen.add(process.name)
        webs = [i for i, p in enumerate(self.processes) if p.name == WEB_ROLE]
        if not webs:
            raise FieldError(("processes",), f"no {WEB_ROLE!r} process: exactly one serves the target group's port")
        web = self.processes[webs[0]]
        if web.placement != "every-host" or web.per_host != 1:
            # The target group's cookie pins a client to a host, not to one of several copies on it.
            raise FieldError(
                ("processes", webs[0], "per_host"), f"{WEB_ROLE!r} runs once on every host (per_host = 1, every-host)"
            )
        return self

    @model_validator(mode="after")
    def _check_settings(self) -> AppConfig:
        for name, value in self.env.items():
            if not SETTING_NAME.fullmatch(name):
                raise FieldError(("env", name), "not a setting name ([A-Z_][A-Z0-9_]*)")
            if name in BOOTSTRAP_SETTINGS:
                raise FieldError(("env", name), "set by the bootstrap (connection settings come from the data stack)")
            if "\n" in value:
                raise FieldError(("env", name), "holds a newline; multi-line values belong in Parameter Store")
        for index, name in enumerate(self.required_settings):
            if not SETTING_NAME.fullmatch(name):
                raise FieldError(("required_settings", index), f"{name!r} is not a setting name ([A-Z_][A-Z0-9_]*)")
        return self

    @property
    def web(self) -> ProcessConfig:
        return next(p for p in self.processes if p.name == WEB_ROLE)


#: RDS instance classes Performance Insights (and its successor, Database Insights) does not run on for MySQL.
PERFORMANCE_INSIGHTS_UNSUPPORTED = ("db.t2.micro", "db.t2.small", "db.t3.micro", "db.t3.small", "db.t4g.micro", "db.t4g.small")
_WINDOW = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"
_WEEKLY_WINDOW = r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"


class ReplicationSourceConfig(_Section):
    """``[database.replication_source]``: the old server RDS replicates from during a replicated cutover
    (``migrate replicate start``). Off by default; remove it after the cutover. It opens a path out of
    the data tier: a route from the data subnets through the NAT gateway, the data NACL and the
    database's security group towards ``cidr`` on ``port``, and sets the parameter group's
    replicate-wild-do-table to ``databases`` so the replica applies those and nothing else.
    Over a VPN or Direct Connect the route would go through its gateway instead (not built: docs/infrastructure.md)."""

    cidr: IPv4Network = Field(description="The old server's public address as RDS reaches it through the NAT (/32)")
    port: int = Field(3306, ge=1, le=65535)
    databases: tuple[str, ...] = Field(
        min_length=1,
        description="The databases to replicate, named as on the source (and the target: RDS cannot rename)",
    )

    @model_validator(mode="after")
    def _check(self) -> ReplicationSourceConfig:
        if self.cidr.prefixlen < 24:
            raise FieldError(("cidr",), f"{self.cidr} is a whole network: the replication source is one server (/32, "
                                        "at most /24)")
        if not self.cidr.is_global:
            raise FieldError(("cidr",), f"{self.cidr} is not a public address: a private one is reached over a VPN or "
                                        "Direct Connect, not through the NAT gateway this setting routes to")
        for name in self.databases:
            if not re.fullmatch(r"[A-Za-z0-9_$]{1,64}", name):
                raise FieldError(("databases",), f"{name!r} is not a database name (letters, digits, _ and $)")
        return self


class DatabaseConfig(_Section):
    """RDS MySQL. Defaults are the safe ones (deletion protection, final snapshot, 7 days of backups);
    an environment turns them off explicitly where cheapness matters more (dev)."""

    instance_class: str = Field(
        "db.t3.micro", pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$",
        description="A class of infra/connection_budget.py's table: the fleet's connection budget is checked against "
        "its default max_connections",
    )
    engine_version: str = Field("8.0", pattern=r"^8\.(0|4)(\.\d+)?$", description="'8.0' lets RDS pick (and upgrade) the minor")
    allocated_storage_gb: int = Field(20, ge=20, le=65536)
    max_allocated_storage_gb: int = Field(100, ge=20, le=65536, description="Storage autoscaling ceiling")
    multi_az: bool = False
    name: str = Field("duewin", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$", description="The schema created at launch")
    username: str = Field("duewin_admin", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$", description="Master user; its password lives only in Secrets Manager")
    deletion_protection: bool = True
    final_snapshot: bool = Field(True, description="Snapshot on destroy; off in dev, where the data is disposable")
    copy_tags_to_snapshot: bool = True
    backup_retention_days: int = Field(7, ge=1, le=35, description="≥ 1: 0 would turn off backups and point-in-time recovery")
    backup_window: str = Field("03:00-04:00", pattern=_WINDOW, description="UTC, daily")
    maintenance_window: str = Field("sun:04:30-sun:05:30", pattern=_WEEKLY_WINDOW, description="UTC; after the backup window")
    ca_cert_identifier: str = Field("rds-ca-rsa2048-g1", pattern=r"^rds-ca-[a-z0-9-]+$")
    require_tls: bool = Field(
        True,
        description="require_secure_transport: false only for an app that cannot send TLS yet (a security change "
        "`infra review` flags); the instances get the RDS CA bundle as DB_SSL_CA for the app-side fix",
    )
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
    secret_recovery_days: int = Field(
        7, description="How long a deleted app user secret stays recoverable (0 or 7–30); 0 lets dev be destroyed "
        "and re-created at once",
    )
    proxy: bool = Field(
        False,
        description="RDS Proxy in front of the instance (TLS required, auth from the app user secret): the fleet's "
        "pools share at most proxy_max_connections_percent of max_connections, and DB_HOST becomes the proxy",
    )
    proxy_max_connections_percent: int = Field(
        90, ge=1, le=100,
        description="The proxy's pool as a share of the instance's max_connections; the connection budget keeps 10 % "
        "for admin sessions and the cutover tool",
    )
    replication_source: ReplicationSourceConfig | None = Field(
        None, description="Only during a replicated cutover: lets RDS reach the old server (infra review flags it)"
    )

    @model_validator(mode="after")
    def _check(self) -> DatabaseConfig:
        if self.instance_class not in CLASS_MEMORY_GIB:
            families = sorted({c.split(".")[1] for c in CLASS_MEMORY_GIB})
            raise FieldError(
                ("instance_class",),
                f"{self.instance_class} is not in the table of classes whose default max_connections is known "
                f"(db.<{'|'.join(families)}>.<size>, infra/connection_budget.py)",
            )
        if self.max_allocated_storage_gb < self.allocated_storage_gb:
            raise ValueError(
                f"max_allocated_storage_gb ({self.max_allocated_storage_gb}) is below "
                f"allocated_storage_gb ({self.allocated_storage_gb})"
            )
        if self.performance_insights and self.instance_class in PERFORMANCE_INSIGHTS_UNSUPPORTED:
            raise ValueError(f"performance_insights is not available on {self.instance_class}")
        _check_log_retention("log_retention_days", self.log_retention_days)
        _check_secret_recovery("secret_recovery_days", self.secret_recovery_days)
        return self


class CacheConfig(_Section):
    """ElastiCache Redis. Defaults: cache.t3.micro, no replicas (replicas ≥ 1 turns on failover and Multi-AZ)."""

    node_type: str = Field("cache.t3.micro", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    engine_version: str = Field("7.1", pattern=r"^(6\.[02]|7\.[01])$", description="Redis OSS versions ElastiCache offers with AUTH + TLS")
    replicas: int = Field(0, ge=0, le=5)
    snapshot_retention_days: int = Field(1, ge=1, le=35, description="≥ 1: daily snapshots are the only backup of the cache")
    snapshot_window: str = Field("03:00-04:00", pattern=_WINDOW, description="UTC, daily")
    maintenance_window: str = Field("sun:05:30-sun:06:30", pattern=_WEEKLY_WINDOW, description="UTC; after the database's")
    maxmemory_policy: Literal["volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu", "volatile-ttl", "noeviction"] = Field(
        "noeviction",
        description="BullMQ requires noeviction (an evicted job key corrupts its queue); writes then fail at "
        "maxmemory, so the redis-memory alarm must fire well before",
    )
    log_retention_days: int = 30
    secret_recovery_days: int = Field(
        7, description="How long a deleted AUTH secret stays recoverable (0 or 7–30); 0 lets dev be destroyed and re-created at once"
    )

    @model_validator(mode="after")
    def _check(self) -> CacheConfig:
        _check_log_retention("log_retention_days", self.log_retention_days)
        _check_secret_recovery("secret_recovery_days", self.secret_recovery_days)
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
    def _check_names(self) -> WafRuleGroupConfig:
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

    @model_validator(mode="after")
    def _check(self) -> WafConfig:
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
    def _check_emails(self) -> AlarmsConfig:
        for email in self.emails:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}", email):
                raise ValueError(f"{email!r} is not an e-mail address")
        return self


class CutoverConfig(_Section):
    """``[cutover]``: an optional runner for the data cutover inside the VPC (docs/cutover-runbook.md).

    ``runner = true`` adds one small instance to the app stack, in an app subnet: reachable only by
    Session Manager (no SSH, no public IP, IMDSv2), with ``migrate`` installed at boot from the
    project's wheel under ``dump_prefix``, allowed to read that prefix, the database's master secret
    and to reach the database. ``infra review`` flags it for as long as it exists: switch it off
    once the cutover is done.
    """

    runner: bool = False
    dump_prefix: str | None = Field(
        None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(\S+/)?$",
        description="s3://bucket/prefix/ the runner may read: the dump, and the project's wheel under wheels/",
    )
    instance_type: str = Field("t3.small", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
                               description="Parses, compresses and sends the dump: 2 vCPUs")
    root_volume_gb: int = Field(20, ge=8, le=1024)

    @model_validator(mode="after")
    def _check_prefix(self) -> CutoverConfig:
        if self.runner and not self.dump_prefix:
            raise FieldError(("dump_prefix",), "runner = true needs dump_prefix (s3://bucket/prefix/ holding the dump "
                             "and the project's wheel)")
        return self


class RehearsalConfig(_Section):
    """``rehearsal``: parts the deploy rehearsal leaves out because its emulator (moto) cannot deploy them, or only
    slowly. Set by the rehearsal's profile alone (infra/rehearsal/profile.py): an environment file that sets it is
    refused, so every environment deploys every part."""

    omit_database_instance: bool = Field(
        False,
        description="No RDS instance: the app stack gets a stand-in address (*.rehearsal.invalid) and an empty "
        "stand-in for the master secret; everything around the instance is still created",
    )
    omit_replication_group: bool = Field(
        False,
        description="No Redis replication group or parameter group: the app stack gets a stand-in address; the "
        "subnet group, AUTH secret and slow log are still created",
    )
    omit_waf_data_protection: bool = Field(
        False,
        description="No DataProtectionConfig on the web ACLs (the authorization and cookie headers are then not "
        "redacted in sampled requests; their logs redact them anyway)",
    )


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
    engine: Literal["cdktf", "cdktn"] | None = Field(
        None, description="'cdktf' (unset: the default) or 'cdktn' (CDK Terrain); --engine, $DUEWIN_ENGINE override it"
    )
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
    cutover: CutoverConfig = CutoverConfig()
    rehearsal: RehearsalConfig = RehearsalConfig()

    @model_validator(mode="after")
    def _check_prefix_length(self) -> EnvironmentConfig:
        # The longest name built from it is the load balancer's (infra/names.py).
        if len(self.prefix) > MAX_PREFIX_LENGTH:
            raise ValueError(
                f"project and environment name make the prefix {self.prefix!r} ({len(self.prefix)} characters); "
                f"load balancer names allow at most {MAX_PREFIX_LENGTH}"
            )
        return self

    @model_validator(mode="after")
    def _check_edge(self) -> EnvironmentConfig:
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
    def _check_storage_alarm(self) -> EnvironmentConfig:
        floor, allocated = self.alarms.thresholds.db_free_storage_gb, self.database.allocated_storage_gb
        if floor >= allocated:
            # The alarm would fire on an empty database from the first minute.
            raise ValueError(
                f"alarms.thresholds.db_free_storage_gb ({floor:g}) must be below database.allocated_storage_gb ({allocated})"
            )
        return self

    @model_validator(mode="after")
    def _check_connection_budget(self) -> EnvironmentConfig:
        budget = self.connection_budget
        if budget.fits:
            return self
        if budget.proxy_percent is not None:
            raise FieldError(
                ("database", "proxy_max_connections_percent"),
                f"connection budget: {budget.describe()}, above 90 %: lower it to {int(100 * BUDGET_SHARE)} or less",
            )
        fleet = budget.largest_fleet()
        ways = [f"lower app.max_size to {fleet}" if fleet >= self.app.min_size else None, "lower a process's pool or per_host"]
        bigger = smallest_class_that_fits(budget, self.database.instance_class)
        if bigger:
            ways.append(f"use database.instance_class = {bigger!r} ({max_connections(bigger)})")
        raise FieldError(
            ("app", "max_size"),
            f"connection budget: {budget.describe()}, above 90 %: {', or '.join(w for w in ways if w)}",
        )

    @model_validator(mode="after")
    def _check_redis_memory_alarm(self) -> EnvironmentConfig:
        percent = self.alarms.thresholds.redis_memory_percent
        if self.cache.maxmemory_policy == "noeviction" and percent > 90:
            # At 100 % every write fails: the alarm must leave time to act.
            raise FieldError(
                ("alarms", "thresholds", "redis_memory_percent"),
                f"{percent:g} % leaves no time to act under noeviction (writes fail at 100 %); use 90 or less",
            )
        return self

    @model_validator(mode="after")
    def _check_zones(self) -> EnvironmentConfig:
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
    def connection_budget(self) -> ConnectionBudget:
        """Every process's MySQL pool at the fleet's largest size (or, behind RDS Proxy, the proxy's pool), against
        the instance class's default limit."""
        processes = self.app.processes
        return ConnectionBudget(
            hosts=self.app.max_size,
            per_host=tuple(Consumer(p.name, p.per_host, p.pool) for p in processes if p.placement == "every-host"),
            once_in_fleet=tuple(
                Consumer(p.name, p.per_host, p.pool) for p in processes if p.placement == "one-in-fleet"
            ),
            limit=max_connections(self.database.instance_class),
            limit_source=self.database.instance_class,
            proxy_percent=self.database.proxy_max_connections_percent if self.database.proxy else None,
        )

    @property
    def alarm_thresholds(self) -> AlarmThresholds:
        """``[alarms.thresholds]`` with ``db_connections`` derived from the connection limit unless set."""
        thresholds = self.alarms.thresholds
        if thresholds.db_connections is not None:
            return thresholds
        # Through validation, so a derived threshold meets the bounds a written one must.
        derived = int(ALARM_SHARE * self.connection_budget.limit)
        return AlarmThresholds.model_validate({**thresholds.model_dump(), "db_connections": derived})

    @property
    def prefix(self) -> str:
        """'<project>-<env>': the stem of every stack and resource name."""
        return f"{self.project}-{self.name}"

    @property
    def names(self) -> ResourceNames:
        """What AWS calls this environment's resources."""
        return resource_names(self.prefix)

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
    if "rehearsal" in data:
        raise ConfigError(
            f"{_shown(path)}:{_line_of(text, ('rehearsal',))}: rehearsal: set by the deploy rehearsal's profile "
            "only; remove it"
        )
    try:
        return EnvironmentConfig.model_validate({**data, "name": path.stem})
    except ValidationError as exc:
        raise ConfigError(_describe(path, text, exc)) from None


def _describe(path: Path, text: str, exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    raised = error.get("ctx", {}).get("error")
    full_loc = (*error["loc"], *raised.loc) if isinstance(raised, FieldError) else tuple(error["loc"])
    # "[key]" marks an error in a mapping's key (waf.rule_groups.<group>): the key itself names the field.
    full_loc = tuple(part for part in full_loc if part != "[key]")
    dotted = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in full_loc)
    field = dotted.lstrip(".") or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif "input" in error and error["type"] not in ("model_type",) and not isinstance(error["input"], dict):
        message = f"{message} (got {error['input']!r})"
    line = _line_of(text, full_loc)
    where = f"{_shown(path)}:{line}" if line else _shown(path)
    return f"{where}: {field}: {message}"


def _line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Best-effort line of a key path (array indices included): the key's own line, else the
    header of the deepest table that holds it, e.g. the third ``[[app.processes]]`` for index 2."""
    wanted = tuple(str(part) for part in loc)
    arrays: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    depth, found = 0, None
    for number, line in enumerate(text.splitlines(), 1):
        if match := re.match(r"^\s*\[\[\s*([^\]]+?)\s*\]\]", line):
            name = _keys(match.group(1))
            arrays[name] = arrays.get(name, -1) + 1
            table = candidate = (*name, str(arrays[name]))
        elif match := re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line):
            table = candidate = _keys(match.group(1))
        elif match := re.match(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""", line):
            candidate = (*table, *_keys(match.group(1)))
        else:
            continue
        if depth < len(candidate) <= len(wanted) and wanted[: len(candidate)] == candidate:
            depth, found = len(candidate), number
    return found


def _keys(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in re.findall(r"""("[^"]*"|'[^']*'|[^.]+)""", dotted))


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
