"""RDS MySQL in the private-data subnets: reachable only from the app tier, encrypted, its master
password generated and kept by RDS in Secrets Manager (never in config, synthesized JSON or state).
"""

from __future__ import annotations

from constructs import Construct

from infra.config import DatabaseConfig
from infra.constructs.data_service import DataServicePlacement, ServiceSecurityGroup, stand_in_address
from infra.engine import TerraformResourceLifecycle
from infra.engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from infra.engine.aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from infra.engine.aws.data_aws_partition import DataAwsPartition
from infra.engine.aws.db_instance import DbInstance
from infra.engine.aws.db_parameter_group import DbParameterGroup, DbParameterGroupParameter
from infra.engine.aws.db_subnet_group import DbSubnetGroup
from infra.engine.aws.iam_role import IamRole
from infra.engine.aws.iam_role_policy_attachment import IamRolePolicyAttachment
from infra.engine.aws.secretsmanager_secret import SecretsmanagerSecret
from infra.iam_statements import assumed_by
from infra.names import resource_names

PORT = 3306
LOG_EXPORTS = ("error", "slowquery")
CHARSET = "utf8mb4"
COLLATION = "utf8mb4_0900_ai_ci"


def parameter_group_family(engine_version: str) -> str:
    """'8.0' or '8.0.39' → 'mysql8.0': RDS parameter group families are per major.minor."""
    major, minor, *_ = engine_version.split(".")
    return f"mysql{major}.{minor}"


def parameters(config: DatabaseConfig) -> dict[str, str]:
    """The server settings the backend and the cutover depend on (values as RDS expects: strings)."""
    return {
        "character_set_server": CHARSET,
        "character_set_client": CHARSET,
        "character_set_connection": CHARSET,
        "character_set_results": CHARSET,
        "character_set_database": CHARSET,
        "collation_server": COLLATION,
        "collation_connection": COLLATION,
        # TLS only: credentials and rows never cross the VPC in clear text. "1" is ON; RDS lists the
        # boolean's values as 0/1 and reports "1" back, so "ON" would show as a change on every plan.
        # "0" only for an app that cannot send TLS yet (database.require_tls; infra review flags it).
        "require_secure_transport": "1" if config.require_tls else "0",
        # The dump's stored functions are created without SUPER; without this RDS rejects them (1419).
        "log_bin_trust_function_creators": "1",
        # migrate run sends plain rows as LOAD DATA LOCAL: ~20 % less server CPU during the cutover.
        # It lets a client upload rows it sends; the server never reads a file of its own this way.
        "local_infile": "1",
        "max_allowed_packet": str(config.max_allowed_packet_mb * 1024 * 1024),
        # The slowquery export is empty unless the server writes a slow log to a file.
        "slow_query_log": "1",
        "long_query_time": f"{config.slow_query_seconds:g}",
        "log_output": "FILE",
        # A replicated cutover applies the migrated databases only (migrate replicate start checks it).
        **(
            {"replicate-wild-do-table": ",".join(f"{d}.%" for d in config.replication_source.databases)}
            if config.replication_source
            else {}
        ),
    }


class Database(Construct):
    """Attributes for the app stack: ``address``, ``port``, ``db_name``, ``username``,
    ``master_secret_arn`` (the RDS-managed secret: JSON ``{"username", "password"}``, rotated by RDS every
    7 days; for operators and ``migrate``, never for the instances), ``security_group``,
    ``instance``, ``identifier`` (for alarms), ``max_allowed_packet`` (bytes; the cutover tool sizes statements by it).

    ``stand_in``: no instance, for the deploy rehearsal's lite run (``rehearsal.omit_database_instance``).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: DatabaseConfig,
        placement: DataServicePlacement,
        stand_in: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        self._config = config
        name = self._name = placement.name
        names = resource_names(name)
        self.db_name = config.name
        self.username = config.username
        self.max_allowed_packet = config.max_allowed_packet_mb * 1024 * 1024
        source = config.replication_source
        why = "replication from the old server (replicated cutover)"
        egress = ((str(source.cidr), source.port, why),) if source else ()
        self.security_group = ServiceSecurityGroup(
            self, "access", placement=placement, service="MySQL", port=PORT, egress=egress
        ).group
        self.subnet_group = DbSubnetGroup(
            self,
            "subnets",
            name=names.data_subnet_group,
            subnet_ids=placement.subnet_ids,
            tags={"Name": names.data_subnet_group},
        )
        self.parameter_group = self._init_parameter_group()
        # RDS would create the export log groups itself, unencrypted and kept forever; and it refuses
        # a monitoring role whose policy is not attached yet.
        prerequisites = self._init_log_groups(placement.log_key_arn)
        monitoring_role = None
        if config.monitoring_interval:
            monitoring_role, attachment = self._init_monitoring_role()
            prerequisites.append(attachment)
        if stand_in:
            self._init_stand_in(placement)
            return
        self.instance = DbInstance(
            self,
            "instance",
            identifier=names.database,
            engine="mysql",
            engine_version=config.engine_version,
            instance_class=config.instance_class,
            port=PORT,
            db_name=config.name,
            username=config.username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=placement.secrets_key_arn,
            iam_database_authentication_enabled=True,
            db_subnet_group_name=self.subnet_group.name,
            vpc_security_group_ids=[self.security_group.id],
            publicly_accessible=False,
            parameter_group_name=self.parameter_group.name,
            storage_type="gp3",
            allocated_storage=config.allocated_storage_gb,
            max_allocated_storage=config.max_allocated_storage_gb,
            storage_encrypted=True,
            kms_key_id=placement.storage_key_arn,
            multi_az=config.multi_az,
            deletion_protection=config.deletion_protection,
            skip_final_snapshot=not config.final_snapshot,
            final_snapshot_identifier=f"{name}-final" if config.final_snapshot else None,
            copy_tags_to_snapshot=config.copy_tags_to_snapshot,
            backup_retention_period=config.backup_retention_days,
            backup_window=config.backup_window,
            maintenance_window=config.maintenance_window,
            auto_minor_version_upgrade=True,
            ca_cert_identifier=config.ca_cert_identifier,
            performance_insights_enabled=config.performance_insights,
            performance_insights_kms_key_id=placement.storage_key_arn if config.performance_insights else None,
            performance_insights_retention_period=7 if config.performance_insights else None,
            monitoring_interval=config.monitoring_interval,
            monitoring_role_arn=monitoring_role.arn if monitoring_role else None,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            # Changes wait for the maintenance window unless someone chooses otherwise for one apply.
            apply_immediately=False,
            depends_on=prerequisites,
            tags={"Name": name},
        )
        self.identifier = self.instance.identifier
        self.address = self.instance.address
        self.port = self.instance.port
        self.master_secret_arn = self.instance.master_user_secret.get(0).secret_arn

    def _init_stand_in(self, placement: DataServicePlacement) -> None:
        """No instance: a stand-in address and an empty secret in the master secret's place, so every stack's
        wiring is rehearsed unchanged."""
        self.instance = None
        self.identifier = resource_names(self._name).database
        self.address = stand_in_address(self._name, "mysql")
        self.port = PORT
        self.master_secret_arn = SecretsmanagerSecret(
            self,
            "stand-in-secret",
            name=f"{self._name}/rehearsal/mysql-master",
            description=f"{self._name}: stand-in for the RDS-managed master secret (no instance)",
            kms_key_id=placement.secrets_key_arn,
            recovery_window_in_days=0,
        ).arn

    def _init_parameter_group(self) -> DbParameterGroup:
        family = parameter_group_family(self._config.engine_version)
        return DbParameterGroup(
            self,
            "parameters",
            # The family is in the name so a major upgrade creates the new group before dropping the old.
            name=f"{self._name}-{family.replace('.', '-')}",
            family=family,
            description=f"{self._name}: utf8mb4, TLS only, cutover-sized packets",
            parameter=[
                DbParameterGroupParameter(name=key, value=value) for key, value in parameters(self._config).items()
            ],
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )

    def _init_log_groups(self, log_key_arn: str) -> list:
        return [
            CloudwatchLogGroup(
                self,
                f"log-{log}",
                name=f"/aws/rds/instance/{self._name}/{log}",
                retention_in_days=self._config.log_retention_days,
                kms_key_id=log_key_arn,
            )
            for log in LOG_EXPORTS
        ]

    def _init_monitoring_role(self) -> tuple[IamRole, IamRolePolicyAttachment]:
        partition = DataAwsPartition(self, "partition")
        assume = DataAwsIamPolicyDocument(
            self,
            "monitoring-assume",
            statement=assumed_by("monitoring.rds.amazonaws.com"),
        )
        role = IamRole(self, "monitoring-role", name=f"{self._name}-rds-monitoring", assume_role_policy=assume.json)
        attachment = IamRolePolicyAttachment(
            self,
            "monitoring-policy",
            role=role.name,
            policy_arn=f"arn:{partition.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
        )
        return role, attachment
