"""VPC flow logs to an encrypted CloudWatch log group, with the IAM role the service needs."""

from __future__ import annotations

from constructs import Construct

from infra.engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from infra.engine.aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from infra.engine.aws.flow_log import FlowLog
from infra.engine.aws.iam_role import IamRole
from infra.engine.aws.iam_role_policy import IamRolePolicy
from infra.iam_statements import assumed_by
from infra.names import resource_names


class FlowLogs(Construct):
    """Logs ALL traffic of ``vpc_id``. Attributes: ``log_group_name``, ``log_group``, ``flow_log``, ``role``."""

    def __init__(
        self, scope: Construct, id_: str, *, name: str, vpc_id: str, retention_days: int, kms_key_arn: str
    ) -> None:
        super().__init__(scope, id_)
        self.log_group_name = resource_names(name).flow_log_group
        self.log_group = CloudwatchLogGroup(
            self,
            "log-group",
            name=self.log_group_name,
            retention_in_days=retention_days,
            kms_key_id=kms_key_arn,
        )
        assume = DataAwsIamPolicyDocument(
            self,
            "assume",
            statement=assumed_by("vpc-flow-logs.amazonaws.com"),
        )
        self.role = IamRole(self, "role", name=f"{name}-flow-logs", assume_role_policy=assume.json)
        write = DataAwsIamPolicyDocument(
            self,
            "write",
            statement=[
                {
                    "actions": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    "resources": [self.log_group.arn, f"{self.log_group.arn}:*"],
                }
            ],
        )
        IamRolePolicy(self, "policy", role=self.role.id, policy=write.json)
        self.flow_log = FlowLog(
            self,
            "flow-log",
            vpc_id=vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=self.log_group.arn,
            iam_role_arn=self.role.arn,
            max_aggregation_interval=60,
            tags={"Name": f"{name}-flow-logs"},
        )
