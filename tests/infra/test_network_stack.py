"""Tier 1: assertions on the network stack's synthesized JSON, per environment."""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from infra.config import load_environment
from tests.infra.assertions import only_item, only_resource, resources_of_type
from tests.infra.variants import ENVIRONMENTS


def _by_tier(subnets: dict) -> dict[str, list[dict]]:
    tiers: dict[str, list[dict]] = {}
    for subnet in subnets.values():
        tiers.setdefault(subnet["tags"]["Tier"], []).append(subnet)
    return tiers


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_three_tiers_span_the_configured_zones_without_public_ips(synthesized, env):
    config = load_environment(env)
    tiers = _by_tier(synthesized(env).resources("network", "aws_subnet"))
    assert sorted(tiers) == ["app", "data", "public"]
    for subnets in tiers.values():
        assert sorted(s["availability_zone"] for s in subnets) == sorted(config.availability_zones)
        assert all(s["map_public_ip_on_launch"] is False for s in subnets)
        assert all(IPv4Network(s["cidr_block"]).subnet_of(config.network.vpc_cidr) for s in subnets)
    assert len(config.availability_zones) >= 2


@pytest.mark.parametrize("env, nat_count", [("dev", 1), ("staging", 2), ("prod", 3)])
def test_nat_gateways_follow_nat_mode(synthesized, env, nat_count):
    synth = synthesized(env)
    assert len(synth.resources("network", "aws_nat_gateway")) == nat_count
    assert len(synth.resources("network", "aws_eip")) == nat_count
    # Every app route table sends its default route through a NAT gateway; with per-az, each its own.
    app_routes = [r for name, r in synth.resources("network", "aws_route").items() if "app-default" in name]
    assert len(app_routes) == load_environment(env).network.az_count
    assert len({r["nat_gateway_id"] for r in app_routes}) == nat_count


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_data_tier_has_no_route_out_of_the_vpc(synthesized, env):
    synth = synthesized(env)
    routes = synth.resources("network", "aws_route")
    data_table, _ = only_item(synth.resources("network", "aws_route_table"), "data-rt")
    assert not [r for r in routes.values() if data_table in r["route_table_id"]]
    public = [r for r in routes.values() if "gateway_id" in r]
    assert len(public) == 1 and public[0]["destination_cidr_block"] == "0.0.0.0/0"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_default_security_group_and_nacl_are_locked_down(synthesized, env):
    synth = synthesized(env)
    default_sg = only_resource(synth.resources("network", "aws_default_security_group"))
    assert not default_sg.get("ingress") and not default_sg.get("egress")
    default_nacl = only_resource(synth.resources("network", "aws_default_network_acl"))
    assert not default_nacl.get("ingress") and not default_nacl.get("egress")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_tier_nacls_never_admit_ssh_or_rdp_from_the_internet(synthesized, env):
    nacls = synthesized(env).resources("network", "aws_network_acl")
    assert len(nacls) == 3
    for nacl in nacls.values():
        for rule in nacl["ingress"]:
            assert rule["rule_no"] and rule["action"] == "allow"
            if rule["cidr_block"] == "0.0.0.0/0":
                assert rule["protocol"] == "tcp"
                for port in (20, 21, 22, 3389):
                    assert not rule["from_port"] <= port <= rule["to_port"], rule
    data = only_resource(nacls, "data-nacl")
    assert {r["cidr_block"] for r in data["ingress"] + data["egress"]} == {str(load_environment(env).network.vpc_cidr)}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_flow_logs_capture_all_traffic_into_an_encrypted_group_with_retention(synthesized, env):
    synth = synthesized(env)
    flow_log = only_resource(synth.resources("network", "aws_flow_log"))
    group = only_resource(synth.resources("network", "aws_cloudwatch_log_group"))
    assert flow_log["traffic_type"] == "ALL"
    assert "aws_cloudwatch_log_group" in flow_log["log_destination"] and "aws_iam_role" in flow_log["iam_role_arn"]
    assert group["retention_in_days"] == load_environment(env).network.flow_log_retention_days
    assert "aws_kms_key" in group["kms_key_id"]
    key = only_resource(synth.resources("network", "aws_kms_key"))
    assert key["enable_key_rotation"] is True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_endpoints_follow_the_toggles(synthesized, env):
    config = load_environment(env).network
    endpoints = synthesized(env).resources("network", "aws_vpc_endpoint").values()
    types = sorted(e["vpc_endpoint_type"] for e in endpoints)
    assert types == ["Gateway"] * config.create_s3_endpoint + ["Interface"] * (3 * config.create_ssm_endpoints)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_local_state_is_one_file_per_stack_outside_the_synth_output(synthesized, env):
    # GIVEN the local backend WHEN terraform runs in each stack's directory (as `cdktf deploy` does)
    # THEN a stack's own state and every sibling's remote-state read of it resolve to the same file,
    # outside the output directory that the next synth replaces.
    synth = synthesized(env)
    root = synth.outdir.parent.resolve()
    dirs = {name: (synth.outdir / "stacks" / name).resolve() for name in synth.stack_names()}
    bodies = {name: json.loads((stack_dir / "cdk.tf.json").read_text()) for name, stack_dir in dirs.items()}
    own: dict[str, Path] = {}
    for name, body in bodies.items():
        path = body["terraform"]["backend"]["local"]["path"]
        assert not Path(path).is_absolute()
        own[name] = (dirs[name] / path).resolve()
        assert own[name] == root / f"terraform.{name}.tfstate"
    reads = 0
    for name, body in bodies.items():
        for source_name, source in resources_of_type(body, "terraform_remote_state", block="data").items():
            referenced = source_name.removeprefix("cross-stack-reference-input-")
            assert (dirs[name] / source["config"]["path"]).resolve() == own[referenced]
            reads += 1
    assert reads >= 3


def test_every_resource_is_tagged_through_provider_default_tags(synthesized):
    (provider,) = synthesized("prod").stack("network")["provider"]["aws"]
    tags = provider["default_tags"][0]["tags"]
    assert tags == {"Project": "duewin", "Environment": "prod", "Stack": "duewin-prod-network", "ManagedBy": "cdktf"}
    assert provider["region"] == "us-east-1"
