"""`infra graph --overview`: the architecture model read from the synthesized JSON, and the picture drawn from it.

The model tests build a few stacks of JSON by hand (milliseconds); the picture tests draw with the real
`diagrams` package and Graphviz, and read the drawn graph back.
"""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.cli import main
from infra.review.overview import Cache, Database, Fleet, Overview, WebAcl, overview
from infra.synthesized import SynthDir, SynthStack, load
from tests.conftest import ROOT, missing
from tests.infra.variants import EDGE, variant_config

REMOTE = "${data.terraform_remote_state.cross-stack-reference-input-net.outputs.%s}"
BLOCKING = {"name": "block-all", "action": {"block": {}}}
COUNTING = {"name": "managed", "override_action": {"count": {}}}


def network(zones=("eu-west-1a", "eu-west-1b"), nat_zones=("eu-west-1a",)) -> dict:
    """A network stack: a public and an app subnet per zone, NAT gateways in the public subnets of ``nat_zones``."""
    subnets = {
        f"{tier}-{zone}": {"availability_zone": zone, "tags": {"Tier": tier}}
        for zone in zones
        for tier in ("public", "app")
    }
    return {
        "resource": {
            "aws_vpc": {"vpc": {"cidr_block": "10.0.0.0/16"}},
            "aws_subnet": subnets,
            "aws_nat_gateway": {f"nat-{z}": {"subnet_id": f"${{aws_subnet.public-{z}.id}}"} for z in nat_zones},
        },
        "output": {f"app-{zone}": {"value": f"${{aws_subnet.app-{zone}.id}}"} for zone in zones},
    }


def app(zones=("eu-west-1a", "eu-west-1b"), waf_rules: list | None = None) -> dict:
    """An app stack: ALB, launch template, an Auto Scaling group over the network stack's app subnets, and a web
    ACL associated with the ALB when ``waf_rules`` is given."""
    resources = {
        "aws_lb": {"alb": {"name": "shop-alb"}},
        "aws_launch_template": {"lt": {"instance_type": "t3.small"}},
        "aws_autoscaling_group": {
            "asg": {
                "name": "shop-app",
                "min_size": 2,
                "max_size": 6,
                "vpc_zone_identifier": [REMOTE % f"app-{zone}" for zone in zones],
                "launch_template": {"id": "${aws_launch_template.lt.id}"},
            }
        },
    }
    if waf_rules is not None:
        resources["aws_wafv2_web_acl"] = {"acl": {"name": "shop-alb", "scope": "REGIONAL", "rule": waf_rules}}
        resources["aws_wafv2_web_acl_association"] = {
            "assoc": {"resource_arn": "${aws_lb.alb.arn}", "web_acl_arn": "${aws_wafv2_web_acl.acl.arn}"}
        }
    return {
        "data": {"terraform_remote_state": {"cross-stack-reference-input-net": {"backend": "local"}}},
        "resource": resources,
    }


def data(multi_az=True, cache_nodes=2, proxy=False) -> dict:
    resources = {
        "aws_db_instance": {
            "db": {
                "identifier": "shop",
                "engine": "mysql",
                "engine_version": "8.0",
                "instance_class": "db.t3.small",
                "multi_az": multi_az,
            }
        },
        "aws_elasticache_replication_group": {
            "redis": {
                "replication_group_id": "shop",
                "node_type": "cache.t3.micro",
                "num_cache_clusters": cache_nodes,
                "automatic_failover_enabled": cache_nodes > 1,
            }
        },
    }
    if proxy:
        resources["aws_db_proxy"] = {"proxy": {"name": "shop-proxy"}}
    return {"resource": resources}


def edge(waf: bool) -> dict:
    distribution = {"aliases": ["shop.example.com"]}
    resources = {
        "aws_cloudfront_distribution": {"cdn": distribution},
        "aws_route53_record": {
            "apex": {"name": "shop.example.com", "alias": {"name": "${aws_cloudfront_distribution.cdn.domain_name}"}},
            "validation": {"name": "${each.value.resource_record_name}"},
        },
    }
    if waf:
        resources["aws_wafv2_web_acl"] = {"cdn-acl": {"name": "shop-cdn", "scope": "CLOUDFRONT", "rule": [BLOCKING]}}
        distribution["web_acl_id"] = "${aws_wafv2_web_acl.cdn-acl.arn}"
    return {"resource": resources}


def model(**stacks: dict) -> Overview:
    """The overview of the given stacks, the network stack named ``net`` as the app stack's remote state reads it."""
    parsed = {name: SynthStack(name, body, ("net",) if name != "net" else ()) for name, body in stacks.items()}
    return overview(SynthDir(parsed), "shop test")


def test_a_nat_gateway_per_zone_or_a_single_one_as_the_network_stack_has_them():
    # GIVEN the same three zones with one NAT gateway, then one per zone THEN the model says where each is
    zones = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    single = model(net=network(zones, nat_zones=zones[:1]))
    per_zone = model(net=network(zones, nat_zones=zones))
    assert single.zones == per_zone.zones == zones
    assert single.nat_zones == ("eu-west-1a",)
    assert per_zone.nat_zones == zones


def test_the_waf_appears_only_when_a_web_acl_is_attached_to_the_load_balancer():
    without = model(net=network(), app=app())
    blocking = model(net=network(), app=app(waf_rules=[BLOCKING, BLOCKING]))
    counting = model(net=network(), app=app(waf_rules=[COUNTING, BLOCKING]))
    assert without.load_balancer == blocking.load_balancer == "shop-alb"
    assert without.load_balancer_waf is None
    assert blocking.load_balancer_waf == WebAcl("shop-alb", rules=2, counting=0)
    assert counting.load_balancer_waf == WebAcl("shop-alb", rules=2, counting=1)


def test_a_web_acl_not_associated_with_the_load_balancer_is_not_its_waf():
    stack = app(waf_rules=[BLOCKING])
    del stack["resource"]["aws_wafv2_web_acl_association"]
    assert model(net=network(), app=stack).load_balancer_waf is None


def test_the_fleet_spans_the_zones_of_the_subnets_it_reads_from_the_network_stack():
    zones = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    found = model(net=network(zones), app=app(zones=zones[:2]))
    assert found.fleet == Fleet("shop-app", min_size=2, max_size=6, instance_type="t3.small", zones=zones[:2])
    assert found.vpc_cidr == "10.0.0.0/16"


def test_database_standby_and_cache_replicas_follow_the_data_stack():
    single = model(net=network(), data=data(multi_az=False, cache_nodes=1))
    replicated = model(net=network(), data=data(multi_az=True, cache_nodes=3, proxy=True))
    assert single.database == Database("shop", "mysql 8.0", "db.t3.small", multi_az=False, proxy=False)
    assert single.cache == Cache("shop", "cache.t3.micro", nodes=1, failover=False)
    assert replicated.database.multi_az and replicated.database.proxy
    assert replicated.cache == Cache("shop", "cache.t3.micro", nodes=3, failover=True)


def test_cluster_mode_counts_every_shard_and_replica():
    stack = data()
    group = stack["resource"]["aws_elasticache_replication_group"]["redis"]
    del group["num_cache_clusters"]
    group.update(num_node_groups=2, replicas_per_node_group=2)
    assert model(net=network(), data=stack).cache.nodes == 6


def test_cloudfront_its_waf_and_the_site_names_come_from_the_edge_stack():
    assert model(net=network()).cloudfront is False
    with_waf = model(net=network(), edge=edge(waf=True))
    without_waf = model(net=network(), edge=edge(waf=False))
    assert with_waf.cloudfront and without_waf.cloudfront
    assert with_waf.cloudfront_waf == WebAcl("shop-cdn", rules=1, counting=0)
    assert without_waf.cloudfront_waf is None
    # the validation record's name is a Terraform expression, not a site name
    assert with_waf.domains == ("shop.example.com",)


@pytest.mark.parametrize("variant", ["dev", "prod", EDGE])
def test_the_model_of_a_synthesized_environment_is_its_configuration(synthesized, variant):
    config = variant_config(variant)
    found = overview(load(synthesized(variant).outdir), variant)
    zones = config.availability_zones
    assert found.zones == zones
    assert found.nat_zones == (zones if config.network.nat_mode == "per-az" else zones[:1])
    assert found.fleet.zones == zones
    assert (found.fleet.min_size, found.fleet.max_size) == (config.app.min_size, config.app.max_size)
    assert (found.database.multi_az, found.database.proxy) == (config.database.multi_az, config.database.proxy)
    assert found.cache.nodes == 1 + config.cache.replicas
    assert (found.load_balancer_waf is not None) == config.waf.enabled
    assert found.cloudfront is config.edge.create_cloudfront
    assert (found.cloudfront_waf is not None) == (config.edge.create_cloudfront and config.waf.enabled)


def _dot_or_missing():
    if shutil.which("dot") is None:
        missing("Graphviz dot (apt-get install graphviz)")


def _drawn_nodes(path: Path) -> set[str]:
    """Node ids of a drawn DOT file (diagrams writes Graphviz's laid-out DOT)."""
    return set(re.findall(r'^\s*"?([\w.-]+)"?\s+\[', path.read_text(), re.MULTILINE)) - {"graph", "node", "edge"}


def test_the_picture_draws_what_the_model_holds(tmp_path):
    _dot_or_missing()
    from infra.review.picture import draw

    zones = ("eu-west-1a", "eu-west-1b")
    small = model(net=network(zones, nat_zones=zones[:1]), app=app(zones), data=data(multi_az=False, cache_nodes=1))
    full = model(
        net=network(zones, nat_zones=zones),
        app=app(zones, waf_rules=[BLOCKING]),
        data=data(cache_nodes=3, proxy=True),
        edge=edge(waf=True),
    )
    draw(small, tmp_path / "small.dot", "dot")
    draw(full, tmp_path / "full.dot", "dot")
    app_nodes = {f"app-{z}" for z in zones}
    assert _drawn_nodes(tmp_path / "small.dot") == {"internet", "alb", "nat-eu-west-1a", "rds", "redis"} | app_nodes
    assert (
        _drawn_nodes(tmp_path / "full.dot")
        == {
            "internet",
            "dns",
            "cloudfront-waf",
            "cloudfront",
            "alb-waf",
            "alb",
            "nat-eu-west-1a",
            "nat-eu-west-1b",
            "rds-proxy",
            "rds",
            "rds-standby",
            "redis",
            "redis-1",
            "redis-2",
        }
        | app_nodes
    )


def test_infra_graph_overview_writes_a_png_of_prod(synthesized, tmp_path):
    _dot_or_missing()
    out = tmp_path / "prod.png"
    args = ["graph", "--overview", "--env", "prod", "--synth-dir", str(synthesized("prod").outdir), "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    header = out.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    # readable on a page: a picture, not the detailed graph's 1,900 × 6,100 px
    assert 600 < width <= 1600 and 600 < height <= 2400


def test_an_svg_overview_is_refused_in_one_line(tmp_path):
    result = CliRunner().invoke(main, ["graph", "--overview", "--format", "svg", "--synth-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "--overview draws png or dot, not svg" in result.output


def test_the_committed_picture_is_a_png_of_prod_that_the_readme_shows():
    picture = ROOT / "docs" / "architecture-prod.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](docs/architecture-prod.png)" in (ROOT / "README.md").read_text()
