"""ElastiCache Redis in the private-data subnets: reachable only from the app tier, TLS required,
encrypted at rest, with an AUTH token that AWS generates at apply time and Secrets Manager keeps.

Where the token lives (docs/infrastructure.md "Data stack"): the ``aws_secretsmanager_random_password`` data source
asks Secrets Manager for a random string during plan; the secret version stores it and ignores
later changes (the data source returns a new string on every plan), and the replication group
takes its token from the secret version, so the two can never disagree, even after a replacement.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import CacheConfig
from infra.constructs.data_service import DataServicePlacement, ServiceSecurityGroup, stand_in_address
from infra.engine import TerraformResourceLifecycle
from infra.engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from infra.engine.aws.data_aws_secretsmanager_random_password import DataAwsSecretsmanagerRandomPassword
from infra.engine.aws.elasticache_parameter_group import ElasticacheParameterGroup, ElasticacheParameterGroupParameter
from infra.engine.aws.elasticache_replication_group import (
    ElasticacheReplicationGroup,
    ElasticacheReplicationGroupLogDeliveryConfiguration,
)
from infra.engine.aws.elasticache_subnet_group import ElasticacheSubnetGroup
from infra.engine.aws.secretsmanager_secret import SecretsmanagerSecret
from infra.engine.aws.secretsmanager_secret_version import SecretsmanagerSecretVersion
from infra.names import resource_names

PORT = 6379
# ElastiCache accepts 16–128 printable characters except / " @; letters and digits only keeps the
# token safe in redis:// URLs and shell variables, and 64 of them are ≈ 380 bits.
AUTH_TOKEN_LENGTH = 64


def parameter_group_family(engine_version: str) -> str:
    """'7.1' → 'redis7', '6.2' → 'redis6.x': ElastiCache names families per major from 7 on."""
    major = int(engine_version.split(".")[0])
    return f"redis{major}" if major >= 7 else f"redis{major}.x"


class Cache(Construct):
    """Attributes for the app stack: ``primary_endpoint``, ``port`` (6379), ``auth_secret_arn`` and
    ``auth_secret_name`` (the secret's value is the bare AUTH token), ``security_group``, ``replication_group``,
    ``member_clusters`` (for alarms).

    ``stand_in``: no replication group, for the deploy rehearsal (``rehearsal.omit_replication_group``).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: CacheConfig,
        placement: DataServicePlacement,
        stand_in: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        self._config = config
        name = self._name = placement.name
        names = resource_names(name)
        self.port = PORT
        self.security_group = ServiceSecurityGroup(
            self, "access", placement=placement, service="Redis", port=PORT
        ).group
        self.subnet_group = ElasticacheSubnetGroup(
            self, "subnets", name=names.data_subnet_group, subnet_ids=placement.subnet_ids
        )
        self.auth_secret_name = names.redis_auth_secret
        self.auth_secret, auth_token = self._init_auth_token(placement.secrets_key_arn)
        self.auth_secret_arn = self.auth_secret.arn
        self.slow_log = CloudwatchLogGroup(
            self,
            "slow-log",
            name=f"/aws/elasticache/{name}/slow-log",
            retention_in_days=config.log_retention_days,
            kms_key_id=placement.log_key_arn,
        )
        if stand_in:
            self.parameter_group = self.replication_group = None
            self.primary_endpoint = stand_in_address(name, "redis")
            # The names ElastiCache would give the members, so alarms and dashboard still synthesize.
            self.member_clusters = [f"{names.replication_group}-{index:03d}" for index in range(1, 2 + config.replicas)]
            return
        self.parameter_group = self._init_parameter_group()
        highly_available = config.replicas >= 1
        self.replication_group = ElasticacheReplicationGroup(
            self,
            "redis",
            replication_group_id=names.replication_group,
            description=f"{name}: sessions, cache and Socket.IO adapter",
            engine="redis",
            engine_version=config.engine_version,
            node_type=config.node_type,
            port=PORT,
            num_cache_clusters=1 + config.replicas,
            automatic_failover_enabled=highly_available,
            multi_az_enabled=highly_available,
            subnet_group_name=self.subnet_group.name,
            security_group_ids=[self.security_group.id],
            parameter_group_name=self.parameter_group.name,
            # A string in the 6.x bindings; Terraform converts "true" for the 5.x provider too.
            at_rest_encryption_enabled="true",
            kms_key_id=placement.storage_key_arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=auth_token,
            snapshot_retention_limit=config.snapshot_retention_days,
            snapshot_window=config.snapshot_window,
            maintenance_window=config.maintenance_window,
            auto_minor_version_upgrade="true",
            apply_immediately=False,
            log_delivery_configuration=[
                ElasticacheReplicationGroupLogDeliveryConfiguration(
                    destination=self.slow_log.name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type="slow-log",
                )
            ],
            tags={"Name": name},
        )
        self.primary_endpoint = self.replication_group.primary_endpoint_address
        self.member_clusters = self.replication_group.member_clusters

    def _init_parameter_group(self) -> ElasticacheParameterGroup:
        family = parameter_group_family(self._config.engine_version)
        return ElasticacheParameterGroup(
            self,
            "parameters",
            name=f"{self._name}-{family.replace('.', '-')}",
            family=family,
            description=f"{self._name}: eviction policy",
            parameter=[
                ElasticacheParameterGroupParameter(name="maxmemory-policy", value=self._config.maxmemory_policy)
            ],
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )

    def _init_auth_token(self, secrets_key_arn: str) -> tuple[SecretsmanagerSecret, str]:
        generated = DataAwsSecretsmanagerRandomPassword(
            self, "auth-token-source", password_length=AUTH_TOKEN_LENGTH, exclude_punctuation=True, include_space=False
        )
        secret = SecretsmanagerSecret(
            self,
            "auth-secret",
            name=self.auth_secret_name,
            description=f"{self._name}: Redis AUTH token (the bare token)",
            kms_key_id=secrets_key_arn,
            recovery_window_in_days=self._config.secret_recovery_days,
        )
        version = SecretsmanagerSecretVersion(
            self,
            "auth-secret-value",
            secret_id=secret.id,
            secret_string=generated.random_password,
            # The data source yields a new string on every plan; the first one is the token.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["secret_string"]),
        )
        return secret, version.secret_string
