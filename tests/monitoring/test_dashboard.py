"""The dashboard body, without CDKTF: valid JSON, a sound grid, only valid metrics of the given resources."""

from __future__ import annotations

import json

from monitoring.dashboard import GRID_WIDTH, dashboard_body
from monitoring.metrics import check_metric, is_statistic
from tests.monitoring.test_alarms import RESOURCES, TWO_MEMBERS, WEB_ACL, WITH_WAF


def _metric_rows(body: dict):
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            for row in widget["properties"]["metrics"]:
                namespace, metric, *rest = row
                options = rest.pop() if rest and isinstance(rest[-1], dict) else {}
                yield widget, namespace, metric, dict(zip(rest[::2], rest[1::2], strict=True)), options


def test_body_is_json_with_a_section_per_tier():
    body = json.loads(json.dumps(dashboard_body(RESOURCES, "us-east-1")))
    headers = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert headers == ["## Load balancer", "## Fleet", "## RDS MySQL", "## Redis"]
    titles = {w["properties"]["title"] for w in body["widgets"] if w["type"] == "metric"}
    assert {
        "Requests",
        "4xx / 5xx",
        "Response time",
        "Healthy / unhealthy hosts",
        "In-service instances",
        "CPU",
        "Memory (CloudWatch agent)",
    } <= titles
    assert all(w["properties"]["region"] == "us-east-1" for w in body["widgets"] if w["type"] == "metric")


def test_every_series_is_a_published_metric_of_the_given_resources():
    body = dashboard_body(TWO_MEMBERS, "us-east-1")
    ours = {
        TWO_MEMBERS.alb_arn_suffix,
        TWO_MEMBERS.target_group_arn_suffix,
        TWO_MEMBERS.asg_name,
        TWO_MEMBERS.db_instance_id,
        *TWO_MEMBERS.redis_cluster_ids,
    }
    rows = list(_metric_rows(body))
    assert len(rows) > 20
    for _, namespace, metric, dimensions, options in rows:
        check_metric(namespace, metric, dimensions)
        assert is_statistic(options["stat"])
        assert set(dimensions.values()) <= ours, (metric, dimensions)
    # Both Redis members are graphed; latency shows the three percentiles the issue names.
    assert {d["CacheClusterId"] for _, ns, _, d, _ in rows if ns == "AWS/ElastiCache"} == set(
        TWO_MEMBERS.redis_cluster_ids
    )
    latency = [o["stat"] for _, _, m, _, o in rows if m == "TargetResponseTime"]
    assert latency == ["p50", "p95", "p99"]


def test_waf_section_graphs_the_web_acl_and_each_rule_only_when_there_is_one():
    body = dashboard_body(WITH_WAF, "us-east-1")
    assert [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"][-1] == "## WAF"
    waf = [(metric, dims) for _, namespace, metric, dims, _ in _metric_rows(body) if namespace == "AWS/WAFV2"]
    for metric, dimensions in waf:
        check_metric("AWS/WAFV2", metric, dimensions)
        assert dimensions["WebACL"] == WEB_ACL.web_acl and dimensions["Region"] == "us-east-1"
    assert {d["Rule"] for m, d in waf if m == "BlockedRequests"} == {"ALL", *WEB_ACL.rules}
    assert {m for m, d in waf if d["Rule"] == "ALL"} == {"AllowedRequests", "BlockedRequests", "CountedRequests"}
    assert not [row for row in _metric_rows(dashboard_body(TWO_MEMBERS, "us-east-1")) if row[1] == "AWS/WAFV2"]


def test_widgets_tile_the_grid_without_overlapping():
    body = dashboard_body(WITH_WAF, "us-east-1", alarm_arns=["arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"])
    cells: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= GRID_WIDTH
        area = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not area & cells, f"{widget['properties'].get('title')} overlaps another widget"
        cells |= area
    assert body["widgets"][0]["type"] == "alarm" and body["widgets"][0]["properties"]["alarms"]
    assert all(w["type"] != "alarm" for w in dashboard_body(RESOURCES, "us-east-1")["widgets"])
