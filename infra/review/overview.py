"""What the architecture picture shows, read from the synthesized stacks: a pure function of their JSON.

`infra graph --overview` draws this model (infra/review/picture.py), so the picture follows the stacks:
a NAT gateway per zone appears because the network stack has one, the WAF because a web ACL is attached,
the standby because the database says ``multi_az``. Zones come from the subnets each resource is placed
in, followed through CDKTF's cross-stack remote-state outputs like the detailed graph's edges.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.review.graph import edges, node_id
from infra.synthesized import Block, SynthDir, SynthStack

WAF_COUNT = "count"


@dataclass(frozen=True)
class WebAcl:
    name: str
    rules: int
    counting: int  # rules whose matches are only counted (a group tried on live traffic, dev's setting)


@dataclass(frozen=True)
class Fleet:
    name: str
    min_size: int
    max_size: int
    instance_type: str
    zones: tuple[str, ...]


@dataclass(frozen=True)
class Database:
    identifier: str
    engine: str
    instance_class: str
    multi_az: bool
    proxy: bool


@dataclass(frozen=True)
class Cache:
    name: str
    node_type: str
    nodes: int  # primary and replicas
    failover: bool


@dataclass(frozen=True)
class Overview:
    title: str
    vpc_cidr: str | None
    zones: tuple[str, ...]  # every zone a subnet of the VPC is in
    nat_zones: tuple[str, ...]  # one entry per NAT gateway
    domains: tuple[str, ...]  # Route 53 records of the site (edge stack)
    cloudfront: bool
    cloudfront_waf: WebAcl | None
    load_balancer: str | None
    load_balancer_waf: WebAcl | None
    fleet: Fleet | None
    database: Database | None
    cache: Cache | None


def overview(synth: SynthDir, title: str) -> Overview:
    refs = _References(synth)
    vpc = _first(synth, "aws_vpc")
    balancer = _first(synth, "aws_lb")
    distribution = _first(synth, "aws_cloudfront_distribution")
    records = _resources(synth, "aws_route53_record")
    return Overview(
        title=title,
        vpc_cidr=vpc[1].body.get("cidr_block") if vpc else None,
        zones=tuple(sorted({zone for zone in refs.zone_of.values() if zone})),
        nat_zones=tuple(zone for nat in _resources(synth, "aws_nat_gateway") for zone in refs.zones(*nat)),
        # alias records only: the certificate's validation records are named by Terraform expressions
        domains=tuple(sorted({record.body["name"] for _, record in records if "alias" in record.body})),
        cloudfront=distribution is not None,
        cloudfront_waf=refs.web_acl([distribution]) if distribution else None,
        load_balancer=balancer[1].body.get("name", balancer[1].name) if balancer else None,
        load_balancer_waf=refs.web_acl(refs.linked(*balancer, "aws_wafv2_web_acl_association")) if balancer else None,
        fleet=_fleet(synth, refs),
        database=_database(synth),
        cache=_cache(synth),
    )


class _References:
    """Which resources refer to which, across stacks: the detailed graph's edges."""

    def __init__(self, synth: SynthDir) -> None:
        self.synth = synth
        self.links = {(origin, target) for origin, target, _ in edges(synth)}
        self.zone_of = {
            node_id(stack, block): block.body.get("availability_zone", "")
            for stack, block in _resources(synth, "aws_subnet")
        }

    def zones(self, stack: SynthStack, block: Block) -> tuple[str, ...]:
        """The zones of the subnets ``block`` is placed in."""
        me = node_id(stack, block)
        placed = {target for origin, target in self.links if origin == me and target in self.zone_of}
        return tuple(sorted({self.zone_of[subnet] for subnet in placed}))

    def linked(self, stack: SynthStack, block: Block, resource_type: str) -> list[tuple[SynthStack, Block]]:
        """Resources of ``resource_type`` that ``block`` refers to, or that refer to it."""
        me = node_id(stack, block)
        around = {target for origin, target in self.links if origin == me} | {
            origin for origin, target in self.links if target == me
        }
        return [(s, b) for s, b in _resources(self.synth, resource_type) if node_id(s, b) in around]

    def web_acl(self, holders: list[tuple[SynthStack, Block]]) -> WebAcl | None:
        """The web ACL one of ``holders`` names: CloudFront's ``web_acl_id``, or an ALB's association."""
        acls = [acl for holder in holders for acl in self.linked(*holder, "aws_wafv2_web_acl")]
        if not acls:
            return None
        acl = acls[0][1]
        rules = acl.body.get("rule", [])
        counting = sum(WAF_COUNT in (rule.get("action") or rule.get("override_action") or {}) for rule in rules)
        return WebAcl(acl.body.get("name", acl.name), len(rules), counting)


def _fleet(synth: SynthDir, refs: _References) -> Fleet | None:
    found = _first(synth, "aws_autoscaling_group")
    if found is None:
        return None
    group = found[1]
    templates = refs.linked(*found, "aws_launch_template")
    return Fleet(
        name=group.body.get("name", group.name),
        min_size=int(group.body.get("min_size", 0)),
        max_size=int(group.body.get("max_size", 0)),
        instance_type=templates[0][1].body.get("instance_type", "") if templates else "",
        zones=refs.zones(*found),
    )


def _database(synth: SynthDir) -> Database | None:
    found = _first(synth, "aws_db_instance")
    if found is None:
        return None
    body = found[1].body
    return Database(
        identifier=body.get("identifier", found[1].name),
        engine=f"{body.get('engine', '')} {body.get('engine_version', '')}".strip(),
        instance_class=body.get("instance_class", ""),
        multi_az=_true(body.get("multi_az")),
        proxy=_first(synth, "aws_db_proxy") is not None,
    )


def _cache(synth: SynthDir) -> Cache | None:
    found = _first(synth, "aws_elasticache_replication_group")
    if found is None:
        return None
    body = found[1].body
    if "num_cache_clusters" in body:
        nodes = int(body["num_cache_clusters"])
    else:  # cluster mode: shards of a primary and its replicas
        nodes = int(body.get("num_node_groups", 1)) * (1 + int(body.get("replicas_per_node_group", 0)))
    return Cache(
        name=body.get("replication_group_id", found[1].name),
        node_type=body.get("node_type", ""),
        nodes=nodes,
        failover=_true(body.get("automatic_failover_enabled")),
    )


def _resources(synth: SynthDir, resource_type: str) -> list[tuple[SynthStack, Block]]:
    return [
        (stack, block)
        for stack in synth.stacks.values()
        for block in stack.of_kind("resource")
        if block.type == resource_type
    ]


def _first(synth: SynthDir, resource_type: str) -> tuple[SynthStack, Block] | None:
    return next(iter(_resources(synth, resource_type)), None)


def _true(value) -> bool:
    # CDKTF writes some booleans as the strings Terraform accepts.
    return value is True or value == "true"
