"""The CloudWatch dashboard body as data: ALB, fleet, RDS and Redis sections.

``dashboard_body`` returns the dict that ``json.dumps`` turns into ``dashboard_body``; identifiers
come from ``MonitoredResources`` (Terraform references at synth time), never typed by hand.
Layout: CloudWatch's 24-column grid, one text header per section, then two widgets per row.
Format reference: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitoring.alarms import ALL_RULES, MonitoredResources, WebAclWatch

GRID_WIDTH = 24
WIDGET_HEIGHT = 6
HEADER_HEIGHT = 1
#: What WAF does with a request; each has its <action>Requests metric.
_WAF_ACTIONS = ("Allowed", "Blocked", "Counted")


@dataclass(frozen=True)
class Series:
    """One line of a graph: a metric with its dimensions and statistic."""

    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    stat: str
    label: str

    def as_widget_metric(self) -> list:
        # Widget metric arrays are [namespace, name, dim1, value1, …, {options}].
        row: list = [self.namespace, self.metric]
        for name, value in self.dimensions.items():
            row += [name, value]
        return [*row, {"stat": self.stat, "label": self.label}]


@dataclass(frozen=True)
class Graph:
    title: str
    series: tuple[Series, ...]
    period: int = 60
    unit_label: str | None = None


def sections(r: MonitoredResources) -> list[tuple[str, list[Graph]]]:
    """The dashboard's content without layout: (section title, graphs), one section per tier."""
    return [
        ("Load balancer", _load_balancer_graphs(r)),
        ("Fleet", _fleet_graphs(r)),
        ("RDS MySQL", _database_graphs(r)),
        ("Redis", _redis_graphs(r)),
        *([("WAF", _web_acl_graphs(r.web_acl))] if r.web_acl else []),
    ]


def _load_balancer_graphs(r: MonitoredResources) -> list[Graph]:
    elb = "AWS/ApplicationELB"
    lb = {"LoadBalancer": r.alb_arn_suffix}
    tg = {"LoadBalancer": r.alb_arn_suffix, "TargetGroup": r.target_group_arn_suffix}
    return [
        Graph("Requests", (Series(elb, "RequestCount", lb, "Sum", "requests"),)),
        Graph(
            "4xx / 5xx",
            (
                Series(elb, "HTTPCode_ELB_4XX_Count", lb, "Sum", "ELB 4xx"),
                Series(elb, "HTTPCode_ELB_5XX_Count", lb, "Sum", "ELB 5xx"),
                Series(elb, "HTTPCode_Target_4XX_Count", tg, "Sum", "app 4xx"),
                Series(elb, "HTTPCode_Target_5XX_Count", tg, "Sum", "app 5xx"),
            ),
        ),
        Graph(
            "Response time",
            tuple(Series(elb, "TargetResponseTime", tg, p, p) for p in ("p50", "p95", "p99")),
            unit_label="seconds",
        ),
        Graph(
            "Healthy / unhealthy hosts",
            (
                Series(elb, "HealthyHostCount", tg, "Minimum", "healthy"),
                Series(elb, "UnHealthyHostCount", tg, "Maximum", "unhealthy"),
            ),
        ),
    ]


def _fleet_graphs(r: MonitoredResources) -> list[Graph]:
    asg = {"AutoScalingGroupName": r.asg_name}
    return [
        Graph(
            "In-service instances",
            (
                Series("AWS/AutoScaling", "GroupInServiceInstances", asg, "Average", "in service"),
                Series("AWS/AutoScaling", "GroupDesiredCapacity", asg, "Average", "desired"),
            ),
        ),
        Graph(
            "CPU",
            (
                Series("AWS/EC2", "CPUUtilization", asg, "Average", "average"),
                Series("AWS/EC2", "CPUUtilization", asg, "Maximum", "max"),
            ),
            unit_label="%",
        ),
        Graph(
            "Memory (CloudWatch agent)",
            (
                Series("CWAgent", "mem_used_percent", asg, "Average", "average"),
                Series("CWAgent", "mem_used_percent", asg, "Maximum", "max"),
            ),
            unit_label="%",
        ),
    ]


def _database_graphs(r: MonitoredResources) -> list[Graph]:
    db = {"DBInstanceIdentifier": r.db_instance_id}
    return [
        Graph("CPU", (Series("AWS/RDS", "CPUUtilization", db, "Average", "CPU"),), unit_label="%"),
        Graph("Connections", (Series("AWS/RDS", "DatabaseConnections", db, "Maximum", "connections"),)),
        Graph(
            "Free storage and memory",
            (
                Series("AWS/RDS", "FreeStorageSpace", db, "Minimum", "free storage"),
                Series("AWS/RDS", "FreeableMemory", db, "Minimum", "freeable memory"),
            ),
            unit_label="bytes",
        ),
        Graph(
            "Latency",
            (
                Series("AWS/RDS", "ReadLatency", db, "Average", "read"),
                Series("AWS/RDS", "WriteLatency", db, "Average", "write"),
            ),
            unit_label="seconds",
        ),
    ]


def _redis_graphs(r: MonitoredResources) -> list[Graph]:
    def per_cluster(metric: str, stat: str) -> tuple[Series, ...]:
        return tuple(
            Series("AWS/ElastiCache", metric, {"CacheClusterId": cluster}, stat, f"member {i}")
            for i, cluster in enumerate(r.redis_cluster_ids, start=1)
        )

    return [
        Graph("Engine CPU", per_cluster("EngineCPUUtilization", "Average"), unit_label="%"),
        Graph("Memory used (% of maxmemory)", per_cluster("DatabaseMemoryUsagePercentage", "Maximum"), unit_label="%"),
        Graph("Evictions", per_cluster("Evictions", "Sum")),
        Graph("Connections", per_cluster("CurrConnections", "Maximum")),
    ]


def _web_acl_graphs(acl: WebAclWatch) -> list[Graph]:
    def series(metric: str, rule: str, label: str) -> Series:
        return Series("AWS/WAFV2", metric, acl.dimensions(rule), "Sum", label)

    return [
        Graph("Web ACL requests", tuple(series(f"{a}Requests", ALL_RULES, a.lower()) for a in _WAF_ACTIONS)),
        Graph("Blocked by rule", tuple(series("BlockedRequests", rule, rule) for rule in acl.rules)),
        Graph("Counted by rule (count mode, overrides)", tuple(series("CountedRequests", r, r) for r in acl.rules)),
    ]


def dashboard_body(r: MonitoredResources, region: str, *, alarm_arns: Sequence[str] = ()) -> dict:
    """The dashboard body (``json.dumps`` it): an alarm-status strip, then one section per tier."""
    widgets: list[dict] = []
    y = 0
    if alarm_arns:
        widgets.append(
            {
                "type": "alarm",
                "x": 0,
                "y": y,
                "width": GRID_WIDTH,
                "height": 3,
                "properties": {"title": "Alarms", "alarms": list(alarm_arns), "sortBy": "stateUpdatedTimestamp"},
            }
        )
        y += 3
    half = GRID_WIDTH // 2
    for title, graphs in sections(r):
        widgets.append(
            {
                "type": "text",
                "x": 0,
                "y": y,
                "width": GRID_WIDTH,
                "height": HEADER_HEIGHT,
                "properties": {"markdown": f"## {title}"},
            }
        )
        y += HEADER_HEIGHT
        for i, graph in enumerate(graphs):
            widgets.append(
                {
                    "type": "metric",
                    "x": (i % 2) * half,
                    "y": y + (i // 2) * WIDGET_HEIGHT,
                    "width": half,
                    "height": WIDGET_HEIGHT,
                    "properties": _graph_properties(graph, region),
                }
            )
        y += -(-len(graphs) // 2) * WIDGET_HEIGHT
    return {"widgets": widgets}


def _graph_properties(graph: Graph, region: str) -> dict:
    properties: dict = {
        "title": graph.title,
        "view": "timeSeries",
        "stacked": False,
        "region": region,
        "period": graph.period,
        "metrics": [s.as_widget_metric() for s in graph.series],
    }
    if graph.unit_label:
        properties["yAxis"] = {"left": {"label": graph.unit_label, "showUnits": False}}
    return properties
