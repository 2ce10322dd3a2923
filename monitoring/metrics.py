"""Which metrics exist in which CloudWatch namespace, and with which dimension sets.

CloudWatch accepts an alarm or a dashboard widget on any namespace/metric/dimension combination and
simply shows no data for one that AWS never publishes: a misspelt dimension is a silent, permanently
green alarm. This table is the checked-in truth every alarm and widget is tested against. It lists
only the metrics this project uses; add a row (with its source) before using a new metric.

A dimension set is the exact set of dimension names: CloudWatch matches them exactly, so
``{LoadBalancer}`` and ``{LoadBalancer, TargetGroup}`` are different time series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Namespace:
    name: str
    source: str
    metrics: Mapping[str, tuple[frozenset[str], ...]]


def _sets(*sets: Iterable[str]) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(names) for names in sets)


_ALB_LB = _sets({"LoadBalancer"}, {"LoadBalancer", "AvailabilityZone"})
_ALB_TARGET = _sets(
    {"LoadBalancer"},
    {"LoadBalancer", "AvailabilityZone"},
    {"LoadBalancer", "TargetGroup"},
    {"LoadBalancer", "TargetGroup", "AvailabilityZone"},
    {"TargetGroup"},
)
_ALB_HOSTS = _sets({"LoadBalancer", "TargetGroup"}, {"LoadBalancer", "TargetGroup", "AvailabilityZone"})
_RDS = _sets({"DBInstanceIdentifier"}, {"DBClusterIdentifier"}, {"DatabaseClass"}, {"EngineName"}, set())
_ELASTICACHE = _sets({"CacheClusterId"}, {"CacheClusterId", "CacheNodeId"})
# Regional web ACLs (ALB) carry Region; CloudFront's publish in us-east-1 without it. Rule is a rule's metric
# name, or "ALL" for the whole web ACL.
_WAF = _sets(
    {"Region", "Rule", "WebACL"},
    {"Region", "RuleGroup", "WebACL"},
    {"Region", "Rule", "RuleGroup"},
    {"Rule", "WebACL"},
    {"RuleGroup", "WebACL"},
    {"Rule", "RuleGroup"},
)

NAMESPACES: dict[str, Namespace] = {
    ns.name: ns
    for ns in (
        Namespace(
            "AWS/ApplicationELB",
            "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html"
            " (sections 'Application Load Balancer metrics' and 'Metric dimensions')",
            {
                "RequestCount": _ALB_TARGET,
                "HTTPCode_ELB_4XX_Count": _ALB_LB,
                "HTTPCode_ELB_5XX_Count": _ALB_LB,
                "HTTPCode_Target_4XX_Count": _ALB_TARGET,
                "HTTPCode_Target_5XX_Count": _ALB_TARGET,
                "TargetResponseTime": _ALB_TARGET,
                "HealthyHostCount": _ALB_HOSTS,
                "UnHealthyHostCount": _ALB_HOSTS,
            },
        ),
        Namespace(
            "AWS/EC2",
            "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html"
            " ('Amazon EC2 metric dimensions': AutoScalingGroupName aggregates the group's instances)",
            {"CPUUtilization": _sets({"AutoScalingGroupName"}, {"InstanceId"}, {"ImageId"}, {"InstanceType"}, set())},
        ),
        Namespace(
            "AWS/AutoScaling",
            "https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-metrics.html"
            " (group metrics; published only when the group enables metrics collection)",
            {
                "GroupInServiceInstances": _sets({"AutoScalingGroupName"}),
                "GroupDesiredCapacity": _sets({"AutoScalingGroupName"}),
            },
        ),
        Namespace(
            "CWAgent",
            "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html"
            " (metrics_collected.mem; append_dimensions / aggregation_dimensions). The agent's namespace has no fixed"
            " dimensions: these are the sets the instance bootstrap's agent config must publish.",
            {"mem_used_percent": _sets({"AutoScalingGroupName"}, {"AutoScalingGroupName", "InstanceId"})},
        ),
        Namespace(
            "AWS/RDS",
            "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html and"
            " https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/dimensions.html",
            {
                "CPUUtilization": _RDS,
                "FreeStorageSpace": _RDS,
                "FreeableMemory": _RDS,
                "DatabaseConnections": _RDS,
                "ReadLatency": _RDS,
                "WriteLatency": _RDS,
            },
        ),
        Namespace(
            "AWS/ElastiCache",
            "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.HostLevel.html,"
            " .../CacheMetrics.Redis.html and .../CacheMetrics.Dimensions.html (a replication group's metrics are"
            " published per member cluster: CacheClusterId, optionally CacheNodeId)",
            {
                "EngineCPUUtilization": _ELASTICACHE,
                "DatabaseMemoryUsagePercentage": _ELASTICACHE,
                "Evictions": _ELASTICACHE,
                "CurrConnections": _ELASTICACHE,
            },
        ),
        Namespace(
            "AWS/Route53",
            "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-check-status.html"
            " (health-check metrics exist only in us-east-1)",
            {"HealthCheckStatus": _sets({"HealthCheckId"})},
        ),
        Namespace(
            "AWS/WAFV2",
            "https://docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html (web ACL and rule group"
            " metrics; dimension combinations 'Region, Rule, WebACL', 'Region, RuleGroup, WebACL', 'Region, Rule,"
            " RuleGroup' for regional resources, the same without Region for CloudFront; published only when"
            " non-zero, once a minute)",
            {"AllowedRequests": _WAF, "BlockedRequests": _WAF, "CountedRequests": _WAF},
        ),
    )
}

#: CloudWatch's simple statistics; percentiles are extended statistics ``p0.0``–``p100``.
STATISTICS = frozenset({"Average", "Sum", "Minimum", "Maximum", "SampleCount"})


class UnknownMetric(ValueError):
    """A namespace/metric/dimension combination CloudWatch does not publish."""


def check_metric(namespace: str, metric: str, dimensions: Iterable[str]) -> None:
    """Raise ``UnknownMetric`` unless ``metric`` exists in ``namespace`` with exactly these dimension names."""
    try:
        allowed = NAMESPACES[namespace].metrics[metric]
    except KeyError:
        raise UnknownMetric(f"{namespace} {metric}: not in the metric table (monitoring/metrics.py)") from None
    given = frozenset(dimensions)
    if given not in allowed:
        shown = " or ".join(sorted("{" + ", ".join(sorted(s)) + "}" for s in allowed))
        raise UnknownMetric(
            f"{namespace} {metric}: dimensions {{{', '.join(sorted(given))}}} are not published; use {shown}"
        )


def is_statistic(statistic: str) -> bool:
    """True for a simple statistic or a percentile ``pNN`` / ``pNN.N`` in [0, 100]."""
    if statistic in STATISTICS:
        return True
    if not statistic.startswith("p"):
        return False
    try:
        value = float(statistic[1:])
    except ValueError:
        return False
    return 0 <= value <= 100
