"""`<project>-<env>-data`: RDS MySQL and ElastiCache Redis. Stateful: changes here are reviewed hard,
and nothing the app stack does can change this stack (values flow one way, data → app).
"""

from __future__ import annotations

from dataclasses import replace

from constructs import Construct

from infra.config import EnvironmentConfig
from infra.constructs.app_user_secret import AppUserSecret
from infra.constructs.cache import Cache
from infra.constructs.data_service import DataServicePlacement
from infra.constructs.database import Database
from infra.constructs.database_proxy import DatabaseProxy
from infra.constructs.encryption_key import EncryptionKey
from infra.constructs.replication_route import ReplicationRoute
from infra.engine import TerraformOutput
from infra.stacks.base import EnvironmentStack
from infra.stacks.network import NetworkStack


class DataStack(EnvironmentStack):
    """Attributes for the app stack: ``database`` (Database), ``cache`` (Cache), ``app_user_secret``
    (AppUserSecret: the only database login the instances read), ``proxy`` (DatabaseProxy, or None),
    ``app_db_host`` (where the app connects: the proxy's endpoint, else the instance's address),
    ``secrets_key_arn`` (the KMS key encrypting the secrets: the app role needs kms:Decrypt on exactly
    it), ``storage_key_arn``. Outputs ``app_user_secret_arn`` and ``app_user_secret_name`` name the
    secret ``migrate app-user`` writes.
    ``replication_route`` while ``database.replication_source`` is set (a replicated cutover), else None.

    This stack also adds the app security group's egress rules to MySQL and Redis; the app stack
    must not add them again (AWS rejects a duplicate rule).
    """

    kind = "data"

    def __init__(self, scope: Construct, config: EnvironmentConfig, network: NetworkStack) -> None:
        super().__init__(scope, config)
        name = config.prefix
        # Separate keys: reading a secret needs kms:Decrypt on the secrets key, which then grants
        # nothing over the storage of the database or the cache.
        self.secrets_key = EncryptionKey(
            self, "secrets-key", alias=f"{name}-data-secrets", description=f"{name}: database and Redis secrets"
        )
        self.storage_key = EncryptionKey(
            self, "storage-key", alias=f"{name}-data-storage", description=f"{name}: RDS and ElastiCache storage"
        )
        self.secrets_key_arn = self.secrets_key.arn
        self.storage_key_arn = self.storage_key.arn
        placement = DataServicePlacement(
            name=name,
            vpc_id=network.vpc.vpc.id,
            subnet_ids=network.vpc.subnet_ids["data"],
            app_security_group_id=network.app_security_group.id,
            log_key_arn=network.log_key.key.arn,
            storage_key_arn=self.storage_key_arn,
            secrets_key_arn=self.secrets_key_arn,
        )
        database_placement = replace(
            placement, storage_key_arn=config.database.storage_kms_key_arn or self.storage_key_arn
        )
        self.database = Database(
            self,
            "database",
            config=config.database,
            placement=database_placement,
            stand_in=config.rehearsal.omit_database_instance,
        )
        source = config.database.replication_source
        # The data route table is shared by the AZs; its way out is the first NAT gateway.
        self.replication_route = (
            ReplicationRoute(
                self,
                "replication-route",
                config=source,
                route_table_ids=network.vpc.route_table_ids["data"],
                nat_gateway_id=network.vpc.nat_gateways[0].id,
            )
            if source
            else None
        )
        self.cache = Cache(
            self, "cache", config=config.cache, placement=placement, stand_in=config.rehearsal.omit_replication_group
        )
        self.app_user_secret = AppUserSecret(
            self,
            "app-user-secret",
            name=config.names.app_user_secret,
            kms_key_arn=self.secrets_key_arn,
            recovery_days=config.database.secret_recovery_days,
        )
        secret = self.app_user_secret
        TerraformOutput(self, "app_user_secret_arn", value=secret.arn, description="migrate app-user --secret-arn")
        TerraformOutput(self, "app_user_secret_name", value=secret.name, description="the app user secret")
        self.proxy = None
        if config.database.proxy:
            self.proxy = DatabaseProxy(
                self,
                "proxy",
                config=config.database,
                placement=placement,
                database=self.database,
                secret_arn=secret.arn,
            )
        self.app_db_host = self.proxy.endpoint if self.proxy else self.database.address
