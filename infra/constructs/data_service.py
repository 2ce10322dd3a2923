"""What every data service (MySQL, Redis) shares: where it lives, which keys encrypt it, and a
security group that only the app tier may reach, on one port.

Rules are separate resources rather than inline blocks: the app instances' group belongs to the
network stack, and its egress rule towards the service is added here, next to the ingress it
pairs with, so opening the path takes exactly one reviewed place.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.security_group import SecurityGroup, SecurityGroupEgress
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct


def stand_in_address(name: str, service: str) -> str:
    """Where the app is pointed when a service is not created (``create_*`` off: the deploy rehearsal's
    lite run). ``.invalid`` can never resolve (RFC 2606), so a stand-in cannot reach anything real."""
    return f"{name}-{service}.rehearsal.invalid"


@dataclass(frozen=True)
class DataServicePlacement:
    """References (tokens) from the network and data stacks that each data service needs."""

    name: str
    vpc_id: str
    subnet_ids: list[str]
    app_security_group_id: str
    log_key_arn: str
    storage_key_arn: str
    secrets_key_arn: str


class ServiceSecurityGroup(Construct):
    """Attributes: ``group``, ``port``. No egress (a data service opens no connections) but the
    ``egress`` given: (CIDR, TCP port, why) flows, inline like the empty default so Terraform keeps
    exactly these."""

    def __init__(self, scope: Construct, id_: str, *, placement: DataServicePlacement, service: str, port: int,
                 egress: tuple[tuple[str, int, str], ...] = ()) -> None:
        super().__init__(scope, id_)
        self.port = port
        name = f"{placement.name}-{service.lower()}"
        self.group = SecurityGroup(
            self,
            "sg",
            name=name,
            description=f"{service}: port {port} from the app tier only",
            vpc_id=placement.vpc_id,
            egress=[
                SecurityGroupEgress(protocol="tcp", from_port=to, to_port=to, cidr_blocks=[cidr], description=why,
                                    ipv6_cidr_blocks=[], prefix_list_ids=[], security_groups=[], self_attribute=False)
                for cidr, to, why in egress
            ],
            tags={"Name": name},
        )
        VpcSecurityGroupIngressRule(
            self,
            "from-app",
            security_group_id=self.group.id,
            referenced_security_group_id=placement.app_security_group_id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"{service} from the app instances",
        )
        VpcSecurityGroupEgressRule(
            self,
            "app-to-service",
            security_group_id=placement.app_security_group_id,
            referenced_security_group_id=self.group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"app instances to {service}",
        )
