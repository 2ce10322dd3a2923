"""VPC endpoints: S3 through a free gateway endpoint, and SSM's interface endpoints on request.

The S3 gateway keeps package and artifact downloads off the NAT (cheaper, and they keep working
if the NAT fails). The SSM endpoints let Session Manager reach instances without any NAT.
"""

from __future__ import annotations

from constructs import Construct

from infra.engine.aws.data_aws_region import DataAwsRegion
from infra.engine.aws.security_group import SecurityGroup, SecurityGroupIngress
from infra.engine.aws.vpc_endpoint import VpcEndpoint

SSM_SERVICES = ("ssm", "ssmmessages", "ec2messages")


class VpcEndpoints(Construct):
    """Attributes: ``s3`` (or None), ``interface`` (service → endpoint)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        vpc_id: str,
        vpc_cidr: str,
        route_table_ids: list[str],
        subnet_ids: list[str],
        create_s3: bool,
        create_ssm: bool,
    ) -> None:
        super().__init__(scope, id_)
        region = DataAwsRegion(self, "region")
        self.s3 = None
        self.interface: dict[str, VpcEndpoint] = {}
        if create_s3:
            self.s3 = VpcEndpoint(
                self,
                "s3",
                vpc_id=vpc_id,
                service_name=f"com.amazonaws.{region.name}.s3",
                vpc_endpoint_type="Gateway",
                route_table_ids=route_table_ids,
                tags={"Name": f"{name}-s3"},
            )
        if not create_ssm:
            return
        group = SecurityGroup(
            self,
            "sg",
            name=f"{name}-endpoints",
            description="HTTPS from inside the VPC to the SSM interface endpoints",
            vpc_id=vpc_id,
            ingress=[
                SecurityGroupIngress(
                    description="HTTPS from the VPC", protocol="tcp", from_port=443, to_port=443, cidr_blocks=[vpc_cidr]
                )
            ],
            egress=[],
            tags={"Name": f"{name}-endpoints"},
        )
        for service in SSM_SERVICES:
            self.interface[service] = VpcEndpoint(
                self,
                service,
                vpc_id=vpc_id,
                service_name=f"com.amazonaws.{region.name}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=subnet_ids,
                security_group_ids=[group.id],
                tags={"Name": f"{name}-{service}"},
            )
