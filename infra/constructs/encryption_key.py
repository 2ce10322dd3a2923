"""A customer-managed KMS key administered by the account, for data services that use it through grants.

RDS, ElastiCache and Secrets Manager use a key on behalf of the principal calling them, so the key
policy only has to delegate to IAM (the account-root statement); who may read secrets is then
decided by IAM policies that name this key's ARN — e.g. the app role's kms:Decrypt on exactly it.
"""

from __future__ import annotations

from collections.abc import Sequence

from constructs import Construct

from infra.engine.aws.data_aws_caller_identity import DataAwsCallerIdentity
from infra.engine.aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from infra.engine.aws.data_aws_partition import DataAwsPartition
from infra.engine.aws.kms_alias import KmsAlias
from infra.engine.aws.kms_key import KmsKey


class EncryptionKey(Construct):
    """Attributes: ``key`` (rotated yearly; 30-day deletion window), ``arn``."""

    def __init__(
        self, scope: Construct, id_: str, *, alias: str, description: str, service_statements: Sequence[dict] = ()
    ) -> None:
        """``service_statements``: key-policy statements for AWS services that use the key as
        themselves rather than on a caller's behalf (e.g. CloudWatch publishing to an encrypted topic)."""
        super().__init__(scope, id_)
        account = DataAwsCallerIdentity(self, "account")
        partition = DataAwsPartition(self, "partition")
        policy = DataAwsIamPolicyDocument(
            self,
            "policy",
            statement=[
                {
                    "sid": "AccountDelegatesToIam",
                    "principals": [
                        {"type": "AWS", "identifiers": [f"arn:{partition.partition}:iam::{account.account_id}:root"]}
                    ],
                    "actions": ["kms:*"],
                    "resources": ["*"],
                },
                *service_statements,
            ],
        )
        self.key = KmsKey(
            self,
            "key",
            description=description,
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy.json,
        )
        self.arn = self.key.arn
        KmsAlias(self, "alias", name=f"alias/{alias}", target_key_id=self.key.key_id)
