"""The app instances' IAM role: exactly what the bootstrap, the CloudWatch agent and Session Manager use.

Explicit statements instead of AWS's managed policies: AmazonSSMManagedInstanceCore grants
``ssm:GetParameter*`` on every parameter of the account, and CloudWatchAgentServerPolicy does too,
so either would let an instance read other applications' settings. ``"*"`` remains only where
the action has no resource to name (PutMetricData, DescribeTags, the Session Manager channels);
PutMetricData is pinned to the agent's namespace instead.
"""

from __future__ import annotations

from constructs import Construct

from infra.engine.aws.data_aws_caller_identity import DataAwsCallerIdentity
from infra.engine.aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from infra.engine.aws.data_aws_partition import DataAwsPartition
from infra.engine.aws.data_aws_region import DataAwsRegion
from infra.engine.aws.iam_instance_profile import IamInstanceProfile
from infra.engine.aws.iam_role import IamRole
from infra.engine.aws.iam_role_policy import IamRolePolicy
from infra.iam_statements import assumed_by, decrypt_through

#: The CloudWatch agent's metric namespace (bootstrap.user_data.cloudwatch_agent_config).
METRICS_NAMESPACE = "CWAgent"
SESSION_MANAGER_CHANNELS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)


class InstanceRole(Construct):
    """Attributes: ``role``, ``profile`` (what the launch template names)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        secret_arns: list[str],
        secrets_key_arn: str,
        parameter_path: str,
        log_group_arn: str,
        artifact_url: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        partition = DataAwsPartition(self, "partition").partition
        region = DataAwsRegion(self, "region").name
        account = DataAwsCallerIdentity(self, "account").account_id
        assume = DataAwsIamPolicyDocument(
            self,
            "assume",
            statement=assumed_by("ec2.amazonaws.com"),
        )
        self.role = IamRole(self, "role", name=f"{name}-app-instance", assume_role_policy=assume.json)
        parameters = f"arn:{partition}:ssm:{region}:{account}:parameter{parameter_path}"
        statements = [
            {"sid": "ReadOwnSecrets", "actions": ["secretsmanager:GetSecretValue"], "resources": secret_arns},
            # The bootstrap lists its settings by path (recursively): the path itself and what lies below it.
            {
                "sid": "ReadOwnParameters",
                "actions": ["ssm:GetParametersByPath"],
                "resources": [parameters, f"{parameters}/*"],
            },
            # Only on behalf of Secrets Manager or Parameter Store, never a direct decrypt of other ciphertext.
            decrypt_through("DecryptOwnSecrets", secrets_key_arn, region, "secretsmanager", "ssm"),
            {
                "sid": "ShipLogs",
                "actions": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "resources": [log_group_arn, f"{log_group_arn}:*"],
            },
            {
                "sid": "PutAgentMetrics",
                "actions": ["cloudwatch:PutMetricData"],
                "resources": ["*"],
                "condition": [
                    {"test": "StringEquals", "variable": "cloudwatch:namespace", "values": [METRICS_NAMESPACE]}
                ],
            },
            # The agent resolves ${aws:AutoScalingGroupName} from the instance's tags;
            # DescribeTags has no resource type.
            {"sid": "AgentReadsTags", "actions": ["ec2:DescribeTags"], "resources": ["*"]},
            {
                "sid": "SessionManagerRegisters",
                "actions": ["ssm:UpdateInstanceInformation"],
                "resources": [f"arn:{partition}:ec2:{region}:{account}:instance/*"],
            },
            {"sid": "SessionManagerChannels", "actions": list(SESSION_MANAGER_CHANNELS), "resources": ["*"]},
        ]
        if artifact_url:
            bucket_and_key = artifact_url.removeprefix("s3://")
            statements.append(
                {
                    "sid": "FetchAppArtifact",
                    "actions": ["s3:GetObject"],
                    "resources": [f"arn:{partition}:s3:::{bucket_and_key}"],
                }
            )
        policy = DataAwsIamPolicyDocument(self, "policy-document", statement=statements)
        IamRolePolicy(self, "policy", name="least-privilege", role=self.role.id, policy=policy.json)
        self.profile = IamInstanceProfile(self, "profile", name=f"{name}-app-instance", role=self.role.name)
