"""The architecture picture: an Overview drawn with AWS's icons by the `diagrams` package (Graphviz underneath).

Nothing here reads the JSON: infra/review/overview.py decides what exists, this module only lays it out.
Rows are subnet tiers, each listing its resources zone by zone, so that a zone reads as a column.
`diagrams` is a dev dependency: import this module only to draw (infra graph --overview).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from diagrams import Cluster, Diagram, Edge, Node
from diagrams.aws.compute import EC2
from diagrams.aws.database import RDS, ElasticacheForRedis
from diagrams.aws.network import ALB, CloudFront, NATGateway, Route53
from diagrams.aws.security import WAF
from diagrams.onprem.network import Internet

from infra.review.overview import Cache, Database, Overview, WebAcl

#: An SVG would link the icons from this machine's site-packages instead of holding them.
FORMATS = ("png", "dot")
# remincross off and a `group` per zone keep the zones in order and one above the other; Graphviz's
# crossing minimisation would otherwise shuffle them row by row.
GRAPH = {
    "pad": "0.6",
    "nodesep": "0.9",
    "ranksep": "0.9",
    "fontsize": "24",
    "labelloc": "t",
    "splines": "spline",
    "newrank": "true",
    "remincross": "false",
}
CLUSTER = {"fontsize": "14", "margin": "18"}
REPLICATION = {"style": "dashed", "color": "#D86613", "fontcolor": "#D86613", "fontsize": "11"}
OUTBOUND = {"style": "dashed", "color": "#7B8894"}
ENGINE_NAMES = {"mysql": "MySQL", "mariadb": "MariaDB", "postgres": "PostgreSQL"}


def draw(model: Overview, out: Path, fmt: str) -> None:
    """Write the picture to ``out`` as ``fmt`` (one of FORMATS). Graphviz's ExecutableNotFound when `dot` is missing."""
    with tempfile.TemporaryDirectory(prefix="infra-picture-") as scratch:
        # diagrams writes <filename>.<fmt> beside a temporary <filename>: both stay out of the caller's directory.
        picture = f"{scratch}/picture"
        with Diagram(model.title, filename=picture, outformat=fmt, show=False, direction="TB", graph_attr=GRAPH):
            _lay_out(model)
        shutil.move(f"{picture}.{fmt}", out)


def _lay_out(model: Overview) -> None:
    internet = entry = Internet("Internet", nodeid="internet")
    if model.domains:
        dns = Route53("Route 53\n" + "\n".join(model.domains), nodeid="dns")
        internet >> Edge(label="resolves", style="dotted") >> dns
    if model.cloudfront:
        cdn = CloudFront("CloudFront", nodeid="cloudfront")
        entry = _through(entry, _waf(model.cloudfront_waf, "cloudfront-waf"), cdn)
    balancer, nats, instances, targets = None, {}, [], []
    with Cluster(f"VPC {model.vpc_cidr or ''}".strip(), graph_attr=CLUSTER):
        with Cluster(f"public subnets · {len(model.zones)} zones", graph_attr=CLUSTER) as public:
            if model.load_balancer:
                balancer = ALB(f"load balancer\n{model.load_balancer}", nodeid="alb")
            for zone in model.nat_zones:
                nats[zone] = NATGateway(f"NAT gateway\n{zone}\n(outbound)", nodeid=f"nat-{zone}", group=zone)
            # One row with the load balancer: a row of its own above would send its edges round the tier.
            _row(public, [f"nat-{zone}" for zone in nats], beside="alb" if balancer else None)
        if model.fleet:
            fleet = model.fleet
            # \l ends a left-justified line: Graphviz centres the lines of a cluster's label otherwise.
            size = f"{fleet.min_size}–{fleet.max_size} × {fleet.instance_type}"
            label = f"app subnets\\lAuto Scaling group {fleet.name}: {size}\\l"
            with Cluster(label, graph_attr=CLUSTER) as app:
                instances = [
                    (zone, EC2(f"app instances\n{zone}", nodeid=f"app-{zone}", group=zone)) for zone in fleet.zones
                ]
                _row(app, [f"app-{zone}" for zone in fleet.zones])
        with Cluster("data subnets", graph_attr=CLUSTER) as data:
            row: list[str] = []
            if model.database:
                targets.append(_database(model.database, row))
            if model.cache:
                targets.append(_cache(model.cache, row))
            # Standby and replicas beside their primary rather than in a row each below it.
            _row(data, row)
    if balancer is not None:
        _through(entry, _waf(model.load_balancer_waf, "alb-waf"), balancer)
    for zone, instance in instances:
        if balancer is not None:
            balancer >> instance
        # Out through the zone's own NAT gateway, else the single one; drawn upwards, where it leads.
        nat = nats.get(zone) or next(iter(nats.values()), None)
        if nat is not None:
            nat << Edge(**OUTBOUND) << instance
        for target in targets:
            instance >> target


def _waf(acl: WebAcl | None, key: str) -> Node | None:
    if acl is None:
        return None
    mode = "all blocking" if not acl.counting else f"{acl.counting} only counting"
    return WAF(f"AWS WAF\n{acl.name}\n{acl.rules} rules, {mode}", nodeid=key)


def _through(entry: Node, acl: Node | None, node: Node) -> Node:
    """``entry`` → web ACL → ``node`` (the ACL inspects what reaches the node), or straight when there is none."""
    if acl is not None:
        entry >> acl >> node
    else:
        entry >> node
    return node


def _row(cluster: Cluster, node_ids: list[str], beside: str | None = None) -> None:
    """The nodes in one row, left to right in this order (``beside`` where it fits best)."""
    chain = " -> ".join(f'"{node}"' for node in node_ids)
    members = "; ".join(filter(None, [beside, chain and f"{chain} [style=invis]"]))
    if members:
        cluster.dot.body.append(f"{{rank=same; {members}}}")


def _database(db: Database, row: list[str]) -> Node:
    """The node the app connects to: RDS Proxy when on, else the primary. Appends the instances' ids to ``row``."""
    engine, _, version = db.engine.partition(" ")
    primary = RDS(f"RDS {ENGINE_NAMES.get(engine, engine)} {version}\n{db.instance_class}\nprimary", nodeid="rds")
    row.append("rds")
    if db.multi_az:
        primary >> Edge(label="synchronous", **REPLICATION) >> RDS("RDS standby\n(Multi-AZ)", nodeid="rds-standby")
        row.append("rds-standby")
    if not db.proxy:
        return primary
    proxy = RDS("RDS Proxy\n(connection pool)", nodeid="rds-proxy")
    proxy >> primary
    return proxy


def _cache(cache: Cache, row: list[str]) -> Node:
    failover = "\n(automatic failover)" if cache.failover else ""
    primary = ElasticacheForRedis(f"ElastiCache Redis\n{cache.node_type}\nprimary{failover}", nodeid="redis")
    row.append("redis")
    for index in range(1, cache.nodes):
        replica = ElasticacheForRedis(f"Redis replica {index}", nodeid=f"redis-{index}")
        primary >> Edge(label="replication", **REPLICATION) >> replica
        row.append(f"redis-{index}")
    return primary
