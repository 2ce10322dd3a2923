"""What every data service (MySQL, Redis) shares: where it lives, which keys encrypt it, and a
security group that only the app tier may reach, on one port.

Rules are separate resources rather than inline blocks: the app instances' group belongs to the
network stack, and its egress rule towards the service is added here, next to the ingress it
pairs with, so opening the path takes exactly one reviewed place.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from infra.engine.aws.security_group import SecurityGroup, SecurityGroupEgress
from infra.engine.aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from infra.engine.aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule


def stand_in_address(name: str, service: str) -> str:
    """Where the app is pointed when a service is not created (``create_*`` off: the deploy rehearsal's
    lite run). ``.invalid`` can never resolve (RFC 2606), so a stand-in cannot reach anything real."""
    return f"{name}-{service}.rehearsal.invalid"


def open_path(
    scope: Construct,
    *,
    ids: tuple[str, str],
    source_group_id: str,
    target_group_id: str,
    port: int,
    descriptions: tuple[str, str],
) -> None:
    """Let ``source`` open TCP connections to ``target`` on ``port``: the target's ingress rule and the
    source's egress rule, always as a pair (``ids`` and ``descriptions``: ingress first)."""
    VpcSecurityGroupIngressRule(
        scope,
        ids[0],
        security_group_id=target_group_id,
        referenced_security_group_id=source_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=descriptions[0],
    )
    VpcSecurityGroupEgressRule(
        scope,
        ids[1],
        security_group_id=source_group_id,
        referenced_security_group_id=target_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=descriptions[1],
    )


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
    """Attributes: ``group``, ``port``.

    A data service opens no connections: its group's egress is the inline list of ``egress`` flows
    ((CIDR, TCP port, why); empty by default), so Terraform keeps exactly these. A service that does
    open connections (RDS Proxy) passes ``egress_rules=True`` and adds them as rule resources: Terraform
    then leaves egress to them and only drops AWS's default allow-all rule, while an inline list, even an
    empty one, would delete them on every apply (the deploy rehearsal's second plan showed it).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        placement: DataServicePlacement,
        service: str,
        port: int,
        egress: tuple[tuple[str, int, str], ...] = (),
        egress_rules: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        self.port = port
        name = f"{placement.name}-{service.lower()}"
        self.group = SecurityGroup(
            self,
            "sg",
            name=name,
            description=f"{service}: port {port} from the app tier only",
            vpc_id=placement.vpc_id,
            egress=None
            if egress_rules
            else [
                SecurityGroupEgress(
                    protocol="tcp",
                    from_port=to,
                    to_port=to,
                    cidr_blocks=[cidr],
                    description=why,
                    ipv6_cidr_blocks=[],
                    prefix_list_ids=[],
                    security_groups=[],
                    self_attribute=False,
                )
                for cidr, to, why in egress
            ],
            tags={"Name": name},
        )
        open_path(
            self,
            ids=("from-app", "app-to-service"),
            source_group_id=placement.app_security_group_id,
            target_group_id=self.group.id,
            port=port,
            descriptions=(f"{service} from the app instances", f"app instances to {service}"),
        )
