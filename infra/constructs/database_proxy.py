"""RDS Proxy in front of the MySQL instance (``database.proxy``, off by default).

Every process of every host holds a pool (duewin: 30–40 connections per host); the proxy multiplexes
them onto at most ``proxy_max_connections_percent`` of the instance's ``max_connections``, queues
what it cannot serve at once (up to the borrow timeout) instead of letting the server refuse it, and
keeps client connections through a Multi-AZ failover. Sessions that pin a connection (SET, temporary
tables, server-side prepared statements) give up multiplexing for their lifetime.

- Clients must use TLS (``require_tls``); the proxy logs in to MySQL with the app user secret, so it
  needs ``migrate app-user`` to have run, exactly like the instances.
- Its own security group admits only the app instances; the database admits the proxy.
- It fetches that secret from Secrets Manager from inside the VPC, and the data subnets have no route
  out: an interface endpoint for Secrets Manager in the data subnets (private DNS, so the instances'
  reads of their secrets stay in the VPC too) admits HTTPS from the proxy and the app instances only.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import DatabaseConfig
from infra.constructs.data_service import DataServicePlacement, ServiceSecurityGroup, open_path
from infra.constructs.database import PORT, Database
from infra.engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from infra.engine.aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from infra.engine.aws.data_aws_region import DataAwsRegion
from infra.engine.aws.db_proxy import DbProxy, DbProxyAuth
from infra.engine.aws.db_proxy_default_target_group import (
    DbProxyDefaultTargetGroup,
    DbProxyDefaultTargetGroupConnectionPoolConfig,
)
from infra.engine.aws.db_proxy_target import DbProxyTarget
from infra.engine.aws.iam_role import IamRole
from infra.engine.aws.iam_role_policy import IamRolePolicy
from infra.engine.aws.security_group import SecurityGroup
from infra.engine.aws.vpc_endpoint import VpcEndpoint
from infra.engine.aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from infra.iam_statements import assumed_by, decrypt_through
from infra.names import resource_names

HTTPS = 443
RDS = "rds.amazonaws.com"
#: How long a client waits for a pooled connection before the proxy refuses it (AWS's default).
BORROW_TIMEOUT_SECONDS = 120
#: Idle client connections are closed after this (AWS's default, 30 min): Sequelize's pool re-opens them.
IDLE_CLIENT_TIMEOUT_SECONDS = 1800


def client_password_auth_type(engine_version: str) -> str:
    """MySQL 8.4 creates users with caching_sha2_password (8.0 on RDS: mysql_native_password)."""
    return "MYSQL_CACHING_SHA2_PASSWORD" if engine_version.startswith("8.4") else "MYSQL_NATIVE_PASSWORD"


class DatabaseProxy(Construct):
    """Attributes: ``name``, ``proxy``, ``endpoint`` (the app's DB_HOST), ``security_group``, ``role``,
    ``target`` (None without an instance: the rehearsal's lite run), ``secrets_endpoint``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: DatabaseConfig,
        placement: DataServicePlacement,
        database: Database,
        secret_arn: str,
    ) -> None:
        super().__init__(scope, id_)
        name = placement.name
        self.name = resource_names(name).database_proxy
        region = DataAwsRegion(self, "region").name
        self.security_group = ServiceSecurityGroup(
            self, "access", placement=placement, service="RDS-Proxy", port=PORT, egress_rules=True
        ).group
        # The proxy → MySQL path: the database admits the proxy, the proxy's group may reach it.
        open_path(
            self,
            ids=("database-from-proxy", "proxy-to-database"),
            source_group_id=self.security_group.id,
            target_group_id=database.security_group.id,
            port=PORT,
            descriptions=("MySQL from RDS Proxy", "RDS Proxy to MySQL"),
        )
        self.secrets_endpoint = self._init_secrets_endpoint(placement, region)
        self.role = self._init_role(name, secret_arn, placement.secrets_key_arn, region)
        log_group = CloudwatchLogGroup(
            self,
            "log",
            name=f"/aws/rds/proxy/{self.name}",
            retention_in_days=config.log_retention_days,
            kms_key_id=placement.log_key_arn,
        )
        self.proxy = DbProxy(
            self,
            "proxy",
            name=self.name,
            engine_family="MYSQL",
            require_tls=True,
            role_arn=self.role.arn,
            vpc_subnet_ids=placement.subnet_ids,
            vpc_security_group_ids=[self.security_group.id],
            idle_client_timeout=IDLE_CLIENT_TIMEOUT_SECONDS,
            debug_logging=False,
            auth=[
                DbProxyAuth(
                    auth_scheme="SECRETS",
                    secret_arn=secret_arn,
                    iam_auth="DISABLED",
                    client_password_auth_type=client_password_auth_type(config.engine_version),
                    description="the app user (migrate app-user)",
                )
            ],
            depends_on=[log_group, self.secrets_endpoint],
            tags={"Name": self.name},
        )
        self.endpoint = self.proxy.endpoint
        target_group = DbProxyDefaultTargetGroup(
            self,
            "target-group",
            db_proxy_name=self.proxy.name,
            connection_pool_config=DbProxyDefaultTargetGroupConnectionPoolConfig(
                max_connections_percent=config.proxy_max_connections_percent,
                connection_borrow_timeout=BORROW_TIMEOUT_SECONDS,
            ),
        )
        self.target = None
        if database.instance is not None:
            self.target = DbProxyTarget(
                self,
                "target",
                db_proxy_name=self.proxy.name,
                target_group_name=target_group.name,
                db_instance_identifier=database.instance.identifier,
            )

    def _init_secrets_endpoint(self, placement: DataServicePlacement, region: str) -> VpcEndpoint:
        name = f"{placement.name}-secretsmanager"
        group = SecurityGroup(
            self,
            "endpoint-sg",
            name=name,
            description="Secrets Manager endpoint: HTTPS from RDS Proxy and the app instances",
            vpc_id=placement.vpc_id,
            egress=[],
            tags={"Name": name},
        )
        open_path(
            self,
            ids=("endpoint-from-proxy", "proxy-to-endpoint"),
            source_group_id=self.security_group.id,
            target_group_id=group.id,
            port=HTTPS,
            descriptions=("Secrets Manager from the proxy", "RDS Proxy to the Secrets Manager endpoint"),
        )
        # The instances' egress to HTTPS anywhere (the fleet's) already covers the endpoint.
        VpcSecurityGroupIngressRule(
            self,
            "endpoint-from-app",
            security_group_id=group.id,
            referenced_security_group_id=placement.app_security_group_id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description="Secrets Manager from the app",
        )
        return VpcEndpoint(
            self,
            "secrets-endpoint",
            vpc_id=placement.vpc_id,
            service_name=f"com.amazonaws.{region}.secretsmanager",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=placement.subnet_ids,
            security_group_ids=[group.id],
            tags={"Name": name},
        )

    def _init_role(self, name: str, secret_arn: str, secrets_key_arn: str, region: str) -> IamRole:
        """What RDS Proxy does as itself: read the app user secret, decrypt it through Secrets Manager."""
        assume = DataAwsIamPolicyDocument(
            self,
            "assume",
            statement=assumed_by(RDS),
        )
        role = IamRole(self, "role", name=f"{name}-rds-proxy", assume_role_policy=assume.json)
        policy = DataAwsIamPolicyDocument(
            self,
            "policy-document",
            statement=[
                {"sid": "ReadAppUserSecret", "actions": ["secretsmanager:GetSecretValue"], "resources": [secret_arn]},
                decrypt_through("DecryptAppUserSecret", secrets_key_arn, region, "secretsmanager"),
            ],
        )
        IamRolePolicy(self, "policy", name="read-app-user-secret", role=role.id, policy=policy.json)
        return role
