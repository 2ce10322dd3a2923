"""``[network]``: the VPC, its three subnet tiers over the zones, NAT and flow logs."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Literal

from pydantic import Field, model_validator

from infra.config.section import Section, check_log_retention
from infra.subnet_plan import SubnetPlan, SubnetPlanError, carve, check_explicit


class NetworkConfig(Section):
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
        check_log_retention("flow_log_retention_days", self.flow_log_retention_days)
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
            prefixes = {
                "public": self.public_subnet_prefix,
                "app": self.app_subnet_prefix,
                "data": self.data_subnet_prefix,
            }
            return carve(self.vpc_cidr, self.az_count, prefixes)
        except SubnetPlanError as exc:
            raise ValueError(str(exc)) from None


#: A path inside the app's checkout: relative, no empty segment (and no '..', checked by _inside_checkout).
