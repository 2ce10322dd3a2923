"""The SNS topic every alarm notifies: encrypted with a key of our own, e-mail subscribers from the config.

An SNS topic encrypted with the AWS-managed ``alias/aws/sns`` key cannot receive CloudWatch alarms
(its key policy cannot be edited to let CloudWatch use it), so the topic gets a customer-managed key
whose policy lets the CloudWatch service generate data keys for it.
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from infra.config import AlarmsConfig


class AlarmTopic(Construct):
    """Attributes: ``topic`` (its ``arn`` goes into alarm and OK actions), ``key``."""

    def __init__(self, scope: Construct, id_: str, *, name: str, config: AlarmsConfig) -> None:
        super().__init__(scope, id_)
        self._account = DataAwsCallerIdentity(self, "account")
        self._partition = DataAwsPartition(self, "partition")
        self._region = DataAwsRegion(self, "region")
        self.key = self._init_key(name)
        self.topic = SnsTopic(self, "topic", name=f"{name}-alarms", kms_master_key_id=self.key.arn)
        self._init_topic_policy()
        for index, email in enumerate(config.emails):
            # The address is not a secret; the subscription stays pending until its owner confirms it.
            SnsTopicSubscription(self, f"email-{index}", topic_arn=self.topic.arn, protocol="email", endpoint=email)

    @property
    def _alarm_arns(self) -> str:
        return f"arn:{self._partition.partition}:cloudwatch:{self._region.name}:{self._account.account_id}:alarm:*"

    def _init_key(self, name: str) -> KmsKey:
        root = f"arn:{self._partition.partition}:iam::{self._account.account_id}:root"
        policy = DataAwsIamPolicyDocument(
            self,
            "key-policy",
            statement=[
                {
                    "sid": "AccountAdministersKey",
                    "principals": [{"type": "AWS", "identifiers": [root]}],
                    "actions": ["kms:*"],
                    "resources": ["*"],
                },
                {
                    # What CloudWatch needs to publish to an encrypted topic (CloudWatch user guide,
                    # "Using Amazon CloudWatch alarms" → encrypted SNS topics).
                    "sid": "CloudWatchPublishesToEncryptedTopic",
                    "principals": [{"type": "Service", "identifiers": ["cloudwatch.amazonaws.com"]}],
                    "actions": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "resources": ["*"],
                },
            ],
        )
        key = KmsKey(
            self,
            "key",
            description=f"{name}: alarm notifications (SNS)",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=policy.json,
        )
        KmsAlias(self, "alias", name=f"alias/{name}-alarms", target_key_id=key.key_id)
        return key

    def _init_topic_policy(self) -> None:
        policy = DataAwsIamPolicyDocument(
            self,
            "topic-policy",
            statement=[
                {
                    # Only this account's alarms may publish: a confused deputy in another account cannot.
                    "sid": "CloudWatchAlarmsOfThisAccountPublish",
                    "principals": [{"type": "Service", "identifiers": ["cloudwatch.amazonaws.com"]}],
                    "actions": ["sns:Publish"],
                    "resources": [self.topic.arn],
                    "condition": [
                        {"test": "StringEquals", "variable": "aws:SourceAccount", "values": [self._account.account_id]},
                        {"test": "ArnLike", "variable": "aws:SourceArn", "values": [self._alarm_arns]},
                    ],
                },
                {
                    "sid": "AccountManagesTopic",
                    "principals": [{"type": "AWS", "identifiers": [self._account.account_id]}],
                    "actions": [
                        "sns:GetTopicAttributes",
                        "sns:SetTopicAttributes",
                        "sns:Subscribe",
                        "sns:ListSubscriptionsByTopic",
                        "sns:Publish",
                    ],
                    "resources": [self.topic.arn],
                },
            ],
        )
        SnsTopicPolicy(self, "policy", arn=self.topic.arn, policy=policy.json)
