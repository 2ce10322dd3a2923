"""The SNS topic every alarm notifies: encrypted with a key of our own, e-mail subscribers from the config.

A topic encrypted with the AWS-managed ``alias/aws/sns`` key cannot receive CloudWatch alarms (that
key's policy cannot be changed to let CloudWatch use it), so the topic gets a customer-managed key
whose policy lets the CloudWatch service decrypt and generate data keys.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import AlarmsConfig
from infra.constructs.encryption_key import EncryptionKey
from infra.engine.aws.data_aws_caller_identity import DataAwsCallerIdentity
from infra.engine.aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from infra.engine.aws.data_aws_partition import DataAwsPartition
from infra.engine.aws.data_aws_region import DataAwsRegion
from infra.engine.aws.sns_topic import SnsTopic
from infra.engine.aws.sns_topic_policy import SnsTopicPolicy
from infra.engine.aws.sns_topic_subscription import SnsTopicSubscription
from infra.names import resource_names

CLOUDWATCH = {"type": "Service", "identifiers": ["cloudwatch.amazonaws.com"]}


class AlarmTopic(Construct):
    """Attributes: ``name``, ``topic`` (its ``arn`` goes into alarm and OK actions), ``key``."""

    def __init__(self, scope: Construct, id_: str, *, name: str, config: AlarmsConfig) -> None:
        super().__init__(scope, id_)
        self.name = resource_names(name).alarm_topic
        self.key = EncryptionKey(
            self,
            "topic-key",
            alias=self.name,
            description=f"{name}: alarm notifications (SNS)",
            # What CloudWatch needs to publish to an encrypted topic (CloudWatch user guide, alarm actions).
            service_statements=[
                {
                    "sid": "CloudWatchPublishesToEncryptedTopic",
                    "principals": [CLOUDWATCH],
                    "actions": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "resources": ["*"],
                }
            ],
        )
        self.topic = SnsTopic(self, "topic", name=self.name, kms_master_key_id=self.key.arn)
        self._init_topic_policy()
        for index, email in enumerate(config.emails):
            # The address is not a secret; the subscription stays pending until its owner confirms it.
            SnsTopicSubscription(self, f"email-{index}", topic_arn=self.topic.arn, protocol="email", endpoint=email)

    def _init_topic_policy(self) -> None:
        account = DataAwsCallerIdentity(self, "account")
        partition = DataAwsPartition(self, "partition")
        region = DataAwsRegion(self, "region")
        policy = DataAwsIamPolicyDocument(
            self,
            "topic-policy",
            statement=[
                {
                    # Only this account's alarms may publish: a confused deputy in another account cannot.
                    "sid": "CloudWatchAlarmsOfThisAccountPublish",
                    "principals": [CLOUDWATCH],
                    "actions": ["sns:Publish"],
                    "resources": [self.topic.arn],
                    "condition": [
                        {"test": "StringEquals", "variable": "aws:SourceAccount", "values": [account.account_id]},
                        {
                            "test": "ArnLike",
                            "variable": "aws:SourceArn",
                            "values": [
                                f"arn:{partition.partition}:cloudwatch:{region.name}:{account.account_id}:alarm:*"
                            ],
                        },
                    ],
                },
                {
                    "sid": "AccountManagesTopic",
                    "principals": [{"type": "AWS", "identifiers": [account.account_id]}],
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
