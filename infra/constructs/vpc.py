"""VPC with public, private-app and private-data tiers over ≥ 2 AZs.

- public: ALB and NAT gateways; routes to the internet gateway. Instances never get public IPs.
- app: the EC2 fleet; egress through NAT (one shared, or one per AZ so an AZ outage cannot cut
  the other AZs off).
- data: RDS and ElastiCache; no route out of the VPC at all, unless the environment names a
  replication source for a replicated cutover (``data_egress``): then its NACL admits that one flow.

The default security group and default NACL are taken under management with no rules, so
anything accidentally attached to them is isolated; each tier has its own NACL instead.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import NetworkConfig
from infra.engine import TerraformResourceLifecycle
from infra.engine.aws.default_network_acl import DefaultNetworkAcl
from infra.engine.aws.default_security_group import DefaultSecurityGroup
from infra.engine.aws.eip import Eip
from infra.engine.aws.internet_gateway import InternetGateway
from infra.engine.aws.nat_gateway import NatGateway
from infra.engine.aws.network_acl import NetworkAcl, NetworkAclEgress, NetworkAclIngress
from infra.engine.aws.route import Route
from infra.engine.aws.route_table import RouteTable
from infra.engine.aws.route_table_association import RouteTableAssociation
from infra.engine.aws.subnet import Subnet
from infra.engine.aws.vpc import Vpc as AwsVpc
from infra.names import resource_names
from infra.subnet_plan import TIERS

ANYWHERE = "0.0.0.0/0"
# Return traffic for connections opened from inside arrives on ephemeral ports. The range skips
# 3389 so no internet-facing NACL rule admits RDP (checkov CKV_AWS_231); 22, 20 and 21 are
# below 1024 already.
EPHEMERAL_RANGES = ((1024, 3388), (3390, 65535))


class Vpc(Construct):
    """The network every other stack lives in.

    Attributes: ``name`` (the VPC's Name tag), ``vpc``, ``cidr_block``, ``subnet_ids`` (tier → ids in AZ order),
    ``route_table_ids`` (tier → ids), ``availability_zones`` (names, in subnet order).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: NetworkConfig,
        zones: tuple[str, ...],
        name: str,
        data_egress: tuple[tuple[str, int], ...] = (),
    ) -> None:
        """``data_egress``: (CIDR, TCP port) flows the data tier may open out of the VPC (default none)."""
        super().__init__(scope, id_)
        self._config = config
        self._name = name
        self.name = resource_names(name).vpc
        self._data_egress = data_egress
        self.availability_zones = list(zones)
        self.vpc = AwsVpc(
            self,
            "vpc",
            cidr_block=str(config.vpc_cidr),
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": self.name},
        )
        self.cidr_block = self.vpc.cidr_block
        self._init_default_lockdown()
        self.subnets = {tier: self._init_subnets(tier) for tier in TIERS}
        self.subnet_ids = {tier: [s.id for s in subnets] for tier, subnets in self.subnets.items()}
        self.internet_gateway = InternetGateway(self, "igw", vpc_id=self.vpc.id, tags={"Name": name})
        self.nat_gateways = self._init_nat_gateways()
        self.route_tables = self._init_routes()
        self.route_table_ids = {tier: [rt.id for rt in tables] for tier, tables in self.route_tables.items()}
        self._init_network_acls()

    def _init_default_lockdown(self) -> None:
        DefaultSecurityGroup(self, "default-sg", vpc_id=self.vpc.id, tags={"Name": f"{self._name}-default-deny"})
        # Subnets always belong to some NACL; every subnet here is moved to its tier's NACL, so the
        # rule-less default only catches subnets created outside this construct.
        DefaultNetworkAcl(
            self,
            "default-nacl",
            default_network_acl_id=self.vpc.default_network_acl_id,
            tags={"Name": f"{self._name}-default-deny"},
            lifecycle=TerraformResourceLifecycle(ignore_changes=["subnet_ids"]),
        )

    def _init_subnets(self, tier: str) -> list[Subnet]:
        return [
            Subnet(
                self,
                f"{tier}-{index}",
                vpc_id=self.vpc.id,
                cidr_block=str(cidr),
                availability_zone=self.availability_zones[index],
                map_public_ip_on_launch=False,
                tags={"Name": f"{self._name}-{tier}-{index}", "Tier": tier},
            )
            for index, cidr in enumerate(self._config.subnets.tier(tier))
        ]

    def _init_nat_gateways(self) -> list[NatGateway]:
        count = self._config.az_count if self._config.nat_mode == "per-az" else 1
        gateways = []
        for index in range(count):
            eip = Eip(self, f"nat-eip-{index}", domain="vpc", tags={"Name": f"{self._name}-nat-{index}"})
            gateways.append(
                NatGateway(
                    self,
                    f"nat-{index}",
                    allocation_id=eip.id,
                    subnet_id=self.subnet_ids["public"][index],
                    tags={"Name": f"{self._name}-nat-{index}"},
                    depends_on=[self.internet_gateway],
                )
            )
        return gateways

    def _init_routes(self) -> dict[str, list[RouteTable]]:
        public = RouteTable(self, "public-rt", vpc_id=self.vpc.id, tags={"Name": f"{self._name}-public"})
        Route(
            self,
            "public-default",
            route_table_id=public.id,
            destination_cidr_block=ANYWHERE,
            gateway_id=self.internet_gateway.id,
        )
        tables: dict[str, list[RouteTable]] = {"public": [public], "app": [], "data": []}
        for index in range(self._config.az_count):
            app = RouteTable(self, f"app-rt-{index}", vpc_id=self.vpc.id, tags={"Name": f"{self._name}-app-{index}"})
            nat = self.nat_gateways[index if len(self.nat_gateways) > 1 else 0]
            Route(
                self,
                f"app-default-{index}",
                route_table_id=app.id,
                destination_cidr_block=ANYWHERE,
                nat_gateway_id=nat.id,
            )
            tables["app"].append(app)
        # The data tier has no default route: databases never talk to the internet.
        tables["data"].append(RouteTable(self, "data-rt", vpc_id=self.vpc.id, tags={"Name": f"{self._name}-data"}))
        for tier in TIERS:
            for index, subnet_id in enumerate(self.subnet_ids[tier]):
                table = tables[tier][index if len(tables[tier]) > 1 else 0]
                RouteTableAssociation(self, f"{tier}-rta-{index}", subnet_id=subnet_id, route_table_id=table.id)
        return tables

    def _init_network_acls(self) -> None:
        vpc_cidr = str(self._config.vpc_cidr)
        within_vpc = [_allow(100, "-1", 0, 0, vpc_cidr)]
        ephemeral_from_anywhere = [
            _allow(200 + i, "tcp", lo, hi, ANYWHERE) for i, (lo, hi) in enumerate(EPHEMERAL_RANGES)
        ]
        rules = {
            "public": (
                within_vpc
                + [_allow(110, "tcp", 443, 443, ANYWHERE), _allow(120, "tcp", 80, 80, ANYWHERE)]
                + ephemeral_from_anywhere,
                [_allow(100, "-1", 0, 0, ANYWHERE)],
            ),
            "app": (within_vpc + ephemeral_from_anywhere, [_allow(100, "-1", 0, 0, ANYWHERE)]),
            "data": (
                within_vpc + self._data_return_traffic(),
                [_allow(100, "-1", 0, 0, vpc_cidr)] + self._data_flows(),
            ),
        }
        for tier, (ingress, egress) in rules.items():
            NetworkAcl(
                self,
                f"{tier}-nacl",
                vpc_id=self.vpc.id,
                subnet_ids=self.subnet_ids[tier],
                # jsii passes plain dicts through untranslated, so multi-word keys need the struct classes.
                ingress=[NetworkAclIngress(**rule) for rule in ingress],
                egress=[NetworkAclEgress(**rule) for rule in egress],
                tags={"Name": f"{self._name}-{tier}"},
            )

    def _data_flows(self) -> list[dict]:
        return [_allow(110 + i, "tcp", port, port, cidr) for i, (cidr, port) in enumerate(self._data_egress)]

    def _data_return_traffic(self) -> list[dict]:
        """The answers to the data tier's own connections, on its ephemeral ports."""
        return [
            _allow(110 + len(EPHEMERAL_RANGES) * i + j, "tcp", lo, hi, cidr)
            for i, (cidr, _) in enumerate(self._data_egress)
            for j, (lo, hi) in enumerate(EPHEMERAL_RANGES)
        ]


def _allow(number: int, protocol: str, from_port: int, to_port: int, cidr: str) -> dict:
    return {
        "rule_no": number,
        "protocol": protocol,
        "action": "allow",
        "cidr_block": cidr,
        "from_port": from_port,
        "to_port": to_port,
    }
