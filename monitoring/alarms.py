"""The alarm table as data: what is watched, how, and when it pages.

``alarm_table`` is a pure function of the monitored resources' identifiers and the environment's
thresholds. The identifiers are whatever strings the caller has: Terraform references at synth
time, plain names in unit tests. The infra side turns each ``Alarm`` into one
``aws_cloudwatch_metric_alarm``; nothing here knows CDKTF.

Alarms set no ``unit``: one that differs from what the service publishes matches no data at all.

Missing data is decided per alarm, because "no data" means different things: the load balancer
publishes request metrics only while requests flow (quiet is fine → notBreaching), whereas RDS and
the host counts always report (silence means the thing is gone → breaching).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from monitoring.metrics import check_metric, is_statistic
from monitoring.thresholds import AlarmThresholds

Comparison = Literal[
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
MissingData = Literal["missing", "ignore", "breaching", "notBreaching"]

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class RateRuleWatch:
    """A rate-based rule of a web ACL: its metric name, and whether it blocks (else its matches are only counted)."""

    rule: str
    blocks: bool

    @property
    def metric(self) -> str:
        return "BlockedRequests" if self.blocks else "CountedRequests"


@dataclass(frozen=True)
class WebAclWatch:
    """A web ACL as CloudWatch names it. ``region`` is None for a CloudFront web ACL: its metrics are published
    in us-east-1 without a Region dimension. ``rules`` are the metric names of its rules, in priority order."""

    web_acl: str
    region: str | None
    rules: tuple[str, ...]
    rate_rules: tuple[RateRuleWatch, ...]

    def dimensions(self, rule: str) -> dict[str, str]:
        """``rule`` is a rule's metric name, or ``ALL_RULES`` for the whole web ACL."""
        region = {"Region": self.region} if self.region else {}
        return {**region, "Rule": rule, "WebACL": self.web_acl}


#: The Rule dimension value under which WAF totals a whole web ACL.
ALL_RULES = "ALL"


@dataclass(frozen=True)
class MonitoredResources:
    """Identifiers of what the alarms and dashboard watch, as CloudWatch dimension values."""

    alb_arn_suffix: str
    target_group_arn_suffix: str
    asg_name: str
    db_instance_id: str
    #: The replication group's member clusters (any order): ElastiCache publishes per cluster, not per group.
    redis_cluster_ids: tuple[str, ...]
    #: The load balancer's web ACL, when ``[waf]`` is on.
    web_acl: WebAclWatch | None = None

    def __post_init__(self) -> None:
        if not self.redis_cluster_ids:
            raise ValueError("redis_cluster_ids: a replication group has at least one member cluster")


@dataclass(frozen=True)
class Alarm:
    """One CloudWatch metric alarm. ``key`` is unique and stable (construct ids and names derive from it)."""

    key: str
    description: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: Comparison
    missing_data: MissingData

    def __post_init__(self) -> None:
        check_metric(self.namespace, self.metric, self.dimensions)
        if not is_statistic(self.statistic):
            raise ValueError(f"{self.key}: {self.statistic!r} is neither a statistic nor a percentile")
        # CloudWatch accepts 10/20/30 s only for high-resolution metrics; everything here is 60 s or coarser.
        if self.period < 60 or self.period % 60:
            raise ValueError(f"{self.key}: period {self.period} s is not a multiple of 60")
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError(f"{self.key}: datapoints_to_alarm must be within 1..evaluation_periods")

    @property
    def is_percentile(self) -> bool:
        """Percentiles go into ``extended_statistic``, the others into ``statistic``."""
        return self.statistic.startswith("p")

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.key}"


def alarm_table(resources: MonitoredResources, thresholds: AlarmThresholds, *, fleet_min_size: int) -> list[Alarm]:
    """Every alarm of one environment, in a stable order."""
    if fleet_min_size < 1:
        raise ValueError("fleet_min_size must be at least 1")
    if thresholds.db_connections is None:
        raise ValueError("thresholds.db_connections is unset: pass EnvironmentConfig.alarm_thresholds (it derives it)")
    return [
        *_load_balancer(resources, thresholds, fleet_min_size),
        *_fleet(resources, thresholds),
        *_database(resources, thresholds),
        *_cache(resources, thresholds),
        *(web_acl_alarms(resources.web_acl, thresholds, key="waf") if resources.web_acl else ()),
    ]


def _load_balancer(r: MonitoredResources, t: AlarmThresholds, fleet_min_size: int) -> list[Alarm]:
    lb = {"LoadBalancer": r.alb_arn_suffix}
    tg = {"LoadBalancer": r.alb_arn_suffix, "TargetGroup": r.target_group_arn_suffix}
    return [
        Alarm(
            "alb-5xx",
            "The load balancer answered 5xx itself: no healthy target, or targets timing out",
            "AWS/ApplicationELB",
            "HTTPCode_ELB_5XX_Count",
            lb,
            "Sum",
            period=300,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            threshold=t.alb_5xx_per_5min,
            comparison="GreaterThanThreshold",
            missing_data="notBreaching",
        ),
        Alarm(
            "target-5xx",
            "The app returned 5xx",
            "AWS/ApplicationELB",
            "HTTPCode_Target_5XX_Count",
            tg,
            "Sum",
            period=300,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            threshold=t.target_5xx_per_5min,
            comparison="GreaterThanThreshold",
            missing_data="notBreaching",
        ),
        Alarm(
            "target-latency-p99",
            "p99 response time of the app is slow for 3 of 5 minutes",
            "AWS/ApplicationELB",
            "TargetResponseTime",
            tg,
            "p99",
            period=60,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            threshold=t.target_p99_seconds,
            comparison="GreaterThanThreshold",
            missing_data="notBreaching",
        ),
        Alarm(
            "unhealthy-hosts",
            "At least one registered instance fails the /health check",
            "AWS/ApplicationELB",
            "UnHealthyHostCount",
            tg,
            "Maximum",
            period=60,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            threshold=0,
            comparison="GreaterThanThreshold",
            missing_data="notBreaching",
        ),
        Alarm(
            # Five minutes: an instance refresh replaces instances one at a time and briefly dips below min.
            "healthy-hosts-below-min",
            f"Fewer healthy instances than the Auto Scaling group's minimum ({fleet_min_size}) for 5 minutes",
            "AWS/ApplicationELB",
            "HealthyHostCount",
            tg,
            "Minimum",
            period=60,
            evaluation_periods=5,
            datapoints_to_alarm=5,
            threshold=fleet_min_size,
            comparison="LessThanThreshold",
            missing_data="breaching",
        ),
    ]


def _fleet(r: MonitoredResources, t: AlarmThresholds) -> list[Alarm]:
    asg = {"AutoScalingGroupName": r.asg_name}
    return [
        Alarm(
            "fleet-cpu",
            "Fleet average CPU stays above the scaling target: scaling is not keeping up (or max_size is reached)",
            "AWS/EC2",
            "CPUUtilization",
            asg,
            "Average",
            period=300,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            threshold=t.fleet_cpu_percent,
            comparison="GreaterThanThreshold",
            missing_data="notBreaching",
        ),
        Alarm(
            # Breaching when missing: a fleet that stops reporting memory has lost its CloudWatch agent.
            "fleet-memory",
            "The most loaded instance's memory use (CloudWatch agent) is high",
            "CWAgent",
            "mem_used_percent",
            asg,
            "Maximum",
            period=300,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            threshold=t.fleet_memory_percent,
            comparison="GreaterThanThreshold",
            missing_data="breaching",
        ),
    ]


def _database(r: MonitoredResources, t: AlarmThresholds) -> list[Alarm]:
    db = {"DBInstanceIdentifier": r.db_instance_id}
    return [
        Alarm(
            "db-cpu",
            "RDS CPU is high for 15 minutes",
            "AWS/RDS",
            "CPUUtilization",
            db,
            "Average",
            period=300,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            threshold=t.db_cpu_percent,
            comparison="GreaterThanThreshold",
            missing_data="missing",
        ),
        Alarm(
            "db-free-storage",
            f"RDS free storage is below {t.db_free_storage_gb:g} GiB even with storage autoscaling",
            "AWS/RDS",
            "FreeStorageSpace",
            db,
            "Minimum",
            period=300,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            threshold=t.db_free_storage_gb * GIB,
            comparison="LessThanThreshold",
            missing_data="breaching",
        ),
        Alarm(
            "db-freeable-memory",
            f"RDS freeable memory is below {t.db_freeable_memory_mb} MiB for 15 minutes",
            "AWS/RDS",
            "FreeableMemory",
            db,
            "Average",
            period=300,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            threshold=t.db_freeable_memory_mb * MIB,
            comparison="LessThanThreshold",
            missing_data="breaching",
        ),
        Alarm(
            "db-connections",
            f"RDS connections above {t.db_connections}: the fleet is near max_connections",
            "AWS/RDS",
            "DatabaseConnections",
            db,
            "Maximum",
            period=60,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            threshold=t.db_connections,
            comparison="GreaterThanThreshold",
            missing_data="missing",
        ),
    ]


def _cache(r: MonitoredResources, t: AlarmThresholds) -> list[Alarm]:
    alarms = []
    for index, cluster_id in enumerate(r.redis_cluster_ids, start=1):
        cluster = {"CacheClusterId": cluster_id}
        suffix = f"-{index}" if len(r.redis_cluster_ids) > 1 else ""
        alarms += [
            Alarm(
                f"redis-engine-cpu{suffix}",
                f"Redis engine thread CPU (member {index}) is high for 15 minutes",
                "AWS/ElastiCache",
                "EngineCPUUtilization",
                cluster,
                "Average",
                period=300,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                threshold=t.redis_engine_cpu_percent,
                comparison="GreaterThanThreshold",
                missing_data="missing",
            ),
            Alarm(
                f"redis-memory{suffix}",
                f"Redis memory use (member {index}) is near maxmemory, where writes fail (noeviction) or keys go",
                "AWS/ElastiCache",
                "DatabaseMemoryUsagePercentage",
                cluster,
                "Maximum",
                period=300,
                evaluation_periods=2,
                datapoints_to_alarm=2,
                threshold=t.redis_memory_percent,
                comparison="GreaterThanThreshold",
                missing_data="missing",
            ),
            Alarm(
                f"redis-evictions{suffix}",
                f"Redis evicted keys (member {index}): memory is exhausted",
                "AWS/ElastiCache",
                "Evictions",
                cluster,
                "Sum",
                period=300,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                threshold=t.redis_evictions_per_5min,
                comparison="GreaterThanThreshold",
                missing_data="notBreaching",
            ),
        ]
    return alarms


def web_acl_alarms(acl: WebAclWatch, t: AlarmThresholds, *, key: str) -> list[Alarm]:
    """Blocked requests spiking, and each rate-based rule firing. ``key`` prefixes the alarm keys (one per web ACL).

    Missing data is fine: WAF publishes a series only for minutes with matches."""
    alarms = [
        Alarm(
            f"{key}-blocked",
            f"The web ACL blocked more than {t.waf_blocked_per_5min} requests in 5 minutes: an attack, or a rule "
            "blocking real traffic (sampled requests and the aws-waf-logs group show which)",
            "AWS/WAFV2",
            "BlockedRequests",
            acl.dimensions(ALL_RULES),
            "Sum",
            period=300,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            threshold=t.waf_blocked_per_5min,
            comparison="GreaterThanThreshold",
            missing_data="notBreaching",
        )
    ]
    for rate in acl.rate_rules:
        verb = "blocked" if rate.blocks else "counted"
        alarms.append(
            Alarm(
                f"{key}-{rate.rule}",
                f"Rate rule {rate.rule} {verb} more than {t.waf_rate_limited_per_5min} requests in 5 minutes: "
                "a flood from few addresses, or many players behind one NAT",
                "AWS/WAFV2",
                rate.metric,
                acl.dimensions(rate.rule),
                "Sum",
                period=300,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                threshold=t.waf_rate_limited_per_5min,
                comparison="GreaterThanThreshold",
                missing_data="notBreaching",
            )
        )
    return alarms


def health_check_alarm(health_check_id: str) -> Alarm:
    """The public ``/health`` check (Route 53, seen from outside AWS's network) reports the site down."""
    return Alarm(
        "public-health",
        "Route 53 health checkers cannot get /health through the public name for 2 minutes",
        "AWS/Route53",
        "HealthCheckStatus",
        {"HealthCheckId": health_check_id},
        "Minimum",
        period=60,
        evaluation_periods=2,
        datapoints_to_alarm=2,
        threshold=1,
        comparison="LessThanThreshold",
        missing_data="breaching",
    )
