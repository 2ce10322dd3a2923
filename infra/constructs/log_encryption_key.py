"""A customer-managed KMS key that CloudWatch Logs may use to encrypt this environment's log groups.

Log groups are encrypted with AWS-owned keys by default; a key of our own lets access to flow
logs and database logs be audited and revoked (checkov CKV_AWS_158).
"""

from __future__ import annotations

from constructs import Construct

from infra.engine.aws.data_aws_caller_identity import DataAwsCallerIdentity
from infra.engine.aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from infra.engine.aws.data_aws_partition import DataAwsPartition
from infra.engine.aws.data_aws_region import DataAwsRegion
from infra.engine.aws.kms_alias import KmsAlias
from infra.engine.aws.kms_key import KmsKey


class LogEncryptionKey(Construct):
    """Attributes: ``key`` (its ``arn`` goes into ``kms_key_id`` of log groups)."""

    def __init__(self, scope: Construct, id_: str, *, name: str) -> None:
        super().__init__(scope, id_)
        account = DataAwsCallerIdentity(self, "account")
        partition = DataAwsPartition(self, "partition")
        region = DataAwsRegion(self, "region")
        root = f"arn:{partition.partition}:iam::{account.account_id}:root"
        policy = DataAwsIamPolicyDocument(
            self,
            "policy",
            statement=[
                {
                    "sid": "AccountAdministersKey",
                    "principals": [{"type": "AWS", "identifiers": [root]}],
                    "actions": ["kms:*"],
                    "resources": ["*"],
                },
                {
                    "sid": "CloudWatchLogsUsesKeyForThisAccount",
                    "principals": [{"type": "Service", "identifiers": [f"logs.{region.name}.amazonaws.com"]}],
                    "actions": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "resources": ["*"],
                    "condition": [
                        {
                            "test": "ArnLike",
                            "variable": "kms:EncryptionContext:aws:logs:arn",
                            "values": [f"arn:{partition.partition}:logs:{region.name}:{account.account_id}:*"],
                        }
                    ],
                },
            ],
        )
        self.key = KmsKey(
            self,
            "key",
            description=f"{name}: CloudWatch Logs encryption",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy.json,
        )
        KmsAlias(self, "alias", name=f"alias/{name}-logs", target_key_id=self.key.key_id)
