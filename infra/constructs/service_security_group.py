"""A security group for a data service that only the app tier may reach, on one port.

Rules are separate resources rather than inline blocks: the app instances' group belongs to the
network stack, and its egress rule towards this service is added here, next to the ingress it
pairs with, so opening the path takes exactly one reviewed place.
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct


class ServiceSecurityGroup(Construct):
    """Attributes: ``group`` (no egress: a data service never opens connections), ``port``."""

    def __init__(self, scope: Construct, id_: str, *, name: str, service: str, port: int, vpc_id: str, app_security_group_id: str) -> None:
        super().__init__(scope, id_)
        self.port = port
        self.group = SecurityGroup(
            self,
            "sg",
            name=name,
            description=f"{service}: port {port} from the app tier only",
            vpc_id=vpc_id,
            egress=[],
            tags={"Name": name},
        )
        VpcSecurityGroupIngressRule(
            self,
            "from-app",
            security_group_id=self.group.id,
            referenced_security_group_id=app_security_group_id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"{service} from the app instances",
        )
        VpcSecurityGroupEgressRule(
            self,
            "app-to-service",
            security_group_id=app_security_group_id,
            referenced_security_group_id=self.group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"app instances to {service}",
        )
