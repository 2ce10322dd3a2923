"""`<project>-<env>-network`: the VPC, its flow logs and endpoints. Changes here are rare and reviewed hard."""

from __future__ import annotations

from constructs import Construct

from infra.config import EnvironmentConfig
from infra.constructs.flow_logs import FlowLogs
from infra.constructs.log_encryption_key import LogEncryptionKey
from infra.constructs.vpc import Vpc
from infra.constructs.vpc_endpoints import VpcEndpoints
from infra.engine.aws.security_group import SecurityGroup
from infra.stacks.base import EnvironmentStack


class NetworkStack(EnvironmentStack):
    """Attributes for later stacks: ``vpc`` (the Vpc construct: ids per tier, CIDR), ``log_key``,
    ``app_security_group``.

    The app instances' security group lives here, without rules, because both later stacks need it:
    the data stack admits it to MySQL and Redis, the app stack attaches it to instances and adds the
    ALB → app rule. Owning it in either of them would make the two stacks depend on each other.
    """

    kind = "network"

    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, config)
        network = config.network
        source = config.database.replication_source
        self.vpc = Vpc(
            self,
            "vpc",
            config=network,
            zones=config.availability_zones,
            name=config.prefix,
            data_egress=((str(source.cidr), source.port),) if source else (),
        )
        self.log_key = LogEncryptionKey(self, "log-key", name=config.prefix)
        self.flow_logs = FlowLogs(
            self,
            "flow-logs",
            name=config.prefix,
            vpc_id=self.vpc.vpc.id,
            retention_days=network.flow_log_retention_days,
            kms_key_arn=self.log_key.key.arn,
        )
        self.app_security_group = SecurityGroup(
            self,
            "app-sg",
            name=config.names.app,
            description="duewin app instances; rules are separate resources in the app and data stacks",
            vpc_id=self.vpc.vpc.id,
            tags={"Name": config.names.app},
        )
        self.endpoints = VpcEndpoints(
            self,
            "endpoints",
            name=config.prefix,
            vpc_id=self.vpc.vpc.id,
            vpc_cidr=str(network.vpc_cidr),
            route_table_ids=self.vpc.route_table_ids["app"] + self.vpc.route_table_ids["data"],
            subnet_ids=self.vpc.subnet_ids["app"],
            create_s3=network.create_s3_endpoint,
            create_ssm=network.create_ssm_endpoints,
        )
