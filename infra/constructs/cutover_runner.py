"""The cutover runner (``[cutover] runner = true``): one instance in an app subnet from which an
operator loads the dump into RDS from S3, inside the VPC (docs/cutover-runbook.md).

What it may do is what the runbook needs and nothing else:
- reached only through Session Manager: its security group admits nothing, it has no public IP and
  no key pair; IMDSv2 only, hop limit 1; encrypted root volume;
- reads one S3 prefix (``cutover.dump_prefix``: the dump and the project's wheel), lists only that
  prefix, reads the database's master secret (decrypting only through Secrets Manager);
- reaches MySQL on its port (an ingress rule on the database's group, from the runner's group, added
  here so that removing the runner removes the path), HTTPS for AWS APIs and PyPI, HTTP for apt.

It is tagged ``Role = cutover-runner``: ``infra review`` flags it for as long as it exists.
"""

from __future__ import annotations

from constructs import Construct

from bootstrap.cutover_runner import RUNNER_ROLE
from infra.config import CutoverConfig
from infra.constructs.fleet import UBUNTU_AMI_PARAMETER
from infra.constructs.instance_role import SESSION_MANAGER_CHANNELS
from infra.engine import TerraformResourceLifecycle
from infra.engine.aws.data_aws_caller_identity import DataAwsCallerIdentity
from infra.engine.aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from infra.engine.aws.data_aws_partition import DataAwsPartition
from infra.engine.aws.data_aws_region import DataAwsRegion
from infra.engine.aws.data_aws_ssm_parameter import DataAwsSsmParameter
from infra.engine.aws.iam_instance_profile import IamInstanceProfile
from infra.engine.aws.iam_role import IamRole
from infra.engine.aws.iam_role_policy import IamRolePolicy
from infra.engine.aws.instance import Instance, InstanceMetadataOptions, InstanceRootBlockDevice
from infra.engine.aws.security_group import SecurityGroup
from infra.engine.aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from infra.engine.aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from infra.iam_statements import assumed_by, decrypt_through

MYSQL_PORT = 3306
EGRESS = (
    (443, "HTTPS: AWS APIs (S3, Secrets Manager, Session Manager) and PyPI"),
    (80, "HTTP: Ubuntu apt mirrors (apt verifies signatures)"),
)


class CutoverRunner(Construct):
    """Attributes: ``instance``, ``security_group``, ``role``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        config: CutoverConfig,
        vpc_id: str,
        subnet_id: str,
        database_security_group_id: str,
        database_secret_arn: str,
        secrets_key_arn: str,
        user_data: str,
        database_tags: dict[str, str],
    ) -> None:
        super().__init__(scope, id_)
        assert config.dump_prefix is not None  # the config refuses a runner without one
        self._name = f"{name}-cutover-runner"
        self.security_group = self._init_network(vpc_id, database_security_group_id)
        self.role, profile = self._init_role(config.dump_prefix, database_secret_arn, secrets_key_arn)
        ami = DataAwsSsmParameter(self, "ami", name=UBUNTU_AMI_PARAMETER)
        self.instance = Instance(
            self,
            "instance",
            # An AMI id is no secret; `value` is marked sensitive and would hide which image a plan uses.
            ami=ami.insecure_value,
            instance_type=config.instance_type,
            subnet_id=subnet_id,
            vpc_security_group_ids=[self.security_group.id],
            associate_public_ip_address=False,
            iam_instance_profile=profile.name,
            user_data=user_data,
            user_data_replace_on_change=True,
            metadata_options=InstanceMetadataOptions(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="enabled",
            ),
            monitoring=True,
            ebs_optimized=True,
            root_block_device=InstanceRootBlockDevice(
                volume_size=config.root_volume_gb, volume_type="gp3", encrypted=True, delete_on_termination=True
            ),
            # A newer Ubuntu image must not replace the runner in the middle of a cutover.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["ami"]),
            tags={"Name": self._name, "Role": RUNNER_ROLE, **database_tags},
        )

    def _init_network(self, vpc_id: str, database_security_group_id: str) -> SecurityGroup:
        group = SecurityGroup(
            self,
            "sg",
            name=self._name,
            description="cutover runner: no ingress (Session Manager only); out to MySQL, HTTPS and apt",
            vpc_id=vpc_id,
            tags={"Name": self._name},
        )
        VpcSecurityGroupIngressRule(
            self,
            "database-from-runner",
            security_group_id=database_security_group_id,
            referenced_security_group_id=group.id,
            ip_protocol="tcp",
            from_port=MYSQL_PORT,
            to_port=MYSQL_PORT,
            description="MySQL from the cutover runner",
        )
        destinations = [
            (
                "runner-to-database",
                MYSQL_PORT,
                "cutover runner to MySQL",
                {"referenced_security_group_id": database_security_group_id},
            )
        ]
        destinations += [
            (f"egress-{port}", port, description, {"cidr_ipv4": "0.0.0.0/0"}) for port, description in EGRESS
        ]
        for id_, port, description, destination in destinations:
            VpcSecurityGroupEgressRule(
                self,
                id_,
                security_group_id=group.id,
                description=description,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                **destination,
            )
        return group

    def _init_role(self, dump_prefix: str, secret_arn: str, secrets_key_arn: str) -> tuple[IamRole, IamInstanceProfile]:
        partition = DataAwsPartition(self, "partition").partition
        region = DataAwsRegion(self, "region").name
        account = DataAwsCallerIdentity(self, "account").account_id
        bucket, _, prefix = dump_prefix.removeprefix("s3://").partition("/")
        assume = DataAwsIamPolicyDocument(
            self,
            "assume",
            statement=assumed_by("ec2.amazonaws.com"),
        )
        role = IamRole(self, "role", name=self._name, assume_role_policy=assume.json)
        statements = [
            {
                "sid": "ReadDumpPrefix",
                "actions": ["s3:GetObject"],
                "resources": [f"arn:{partition}:s3:::{bucket}/{prefix}*"],
            },
            {
                "sid": "ListDumpPrefix",
                "actions": ["s3:ListBucket"],
                "resources": [f"arn:{partition}:s3:::{bucket}"],
                "condition": [{"test": "StringLike", "variable": "s3:prefix", "values": [f"{prefix}*"]}],
            },
            {"sid": "ReadDatabaseSecret", "actions": ["secretsmanager:GetSecretValue"], "resources": [secret_arn]},
            decrypt_through("DecryptDatabaseSecret", secrets_key_arn, region, "secretsmanager"),
            {
                "sid": "SessionManagerRegisters",
                "actions": ["ssm:UpdateInstanceInformation"],
                "resources": [f"arn:{partition}:ec2:{region}:{account}:instance/*"],
            },
            {"sid": "SessionManagerChannels", "actions": list(SESSION_MANAGER_CHANNELS), "resources": ["*"]},
        ]
        policy = DataAwsIamPolicyDocument(self, "policy-document", statement=statements)
        IamRolePolicy(self, "policy", name="cutover", role=role.id, policy=policy.json)
        return role, IamInstanceProfile(self, "profile", name=self._name, role=role.name)
