from ipaddress import IPv4Network

import pytest

from infra.subnet_plan import RESERVED_AZS, SubnetPlanError, carve, check_explicit


@pytest.mark.parametrize("az_count", [2, 3, 4, 6])
def test_carved_subnets_are_inside_the_vpc_and_disjoint(az_count):
    vpc = IPv4Network("10.0.0.0/16")
    plan = carve(vpc, az_count)
    nets = [net for _, net in plan.all()]
    assert len(nets) == 3 * az_count
    assert all(net.subnet_of(vpc) for net in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert {net.prefixlen for net in plan.app} == {20} and {net.prefixlen for net in plan.public} == {24}


def test_adding_an_az_never_moves_an_existing_subnet():
    # GIVEN a 2-AZ plan WHEN the environment grows to 3 AZs THEN the first two AZs keep their CIDRs.
    vpc = IPv4Network("10.0.0.0/16")
    two, three = carve(vpc, 2), carve(vpc, 3)
    for tier in ("public", "app", "data"):
        assert three.tier(tier)[:2] == two.tier(tier)


def test_too_small_vpc_names_the_problem():
    with pytest.raises(SubnetPlanError, match=f"too small.*room for {RESERVED_AZS}"):
        carve(IPv4Network("10.0.0.0/19"), 2)


def test_smaller_prefixes_fit_a_small_vpc():
    plan = carve(IPv4Network("10.0.0.0/22"), 2, {"public": 27, "app": 25, "data": 27})
    assert plan.app[0].prefixlen == 25


def test_prefix_outside_aws_range_is_rejected():
    with pytest.raises(SubnetPlanError, match="/16 and /28"):
        carve(IPv4Network("10.0.0.0/16"), 2, {"data": 29})


def test_explicit_overlapping_subnets_are_rejected():
    vpc = IPv4Network("10.0.0.0/16")
    with pytest.raises(SubnetPlanError, match="overlaps"):
        check_explicit(
            vpc,
            2,
            {
                "public": [IPv4Network("10.0.0.0/24"), IPv4Network("10.0.1.0/24")],
                "app": [IPv4Network("10.0.1.0/24"), IPv4Network("10.0.16.0/20")],
                "data": [IPv4Network("10.0.200.0/24"), IPv4Network("10.0.201.0/24")],
            },
        )


def test_explicit_subnet_outside_vpc_is_rejected():
    with pytest.raises(SubnetPlanError, match="outside the VPC"):
        check_explicit(
            IPv4Network("10.0.0.0/16"), 2, {"data": [IPv4Network("10.1.0.0/24"), IPv4Network("10.0.201.0/24")]}
        )
