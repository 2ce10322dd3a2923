"""A private, encrypted S3 bucket the ALB writes its access logs to, expiring them after a set time.

Encryption is SSE-S3: ALB log delivery cannot write to a bucket whose default encryption is SSE-KMS.
The writer is named with ``data aws_elb_service_account`` (the regional ELB account), not the
``logdelivery.elasticloadbalancing.amazonaws.com`` service principal: AWS accepts the service
principal only in regions opened since August 2022, and every region this project deploys to is
older. In a newer region the data source fails at plan, loudly, instead of logs silently not arriving.
"""

from __future__ import annotations

from constructs import Construct

from infra.engine.aws.data_aws_caller_identity import DataAwsCallerIdentity
from infra.engine.aws.data_aws_elb_service_account import DataAwsElbServiceAccount
from infra.engine.aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from infra.engine.aws.s3_bucket import S3Bucket
from infra.engine.aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from infra.engine.aws.s3_bucket_ownership_controls import S3BucketOwnershipControls, S3BucketOwnershipControlsRule
from infra.engine.aws.s3_bucket_policy import S3BucketPolicy
from infra.engine.aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from infra.engine.aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from infra.engine.aws.s3_bucket_versioning import S3BucketVersioningA, S3BucketVersioningVersioningConfiguration

#: Key prefix the ALB writes under; the bucket policy admits writes there only.
LOG_PREFIX = "alb"
NONCURRENT_DAYS = 7


class AccessLogsBucket(Construct):
    """Attributes: ``bucket``, ``prefix``, ``policy`` (the ALB must be created after it: AWS checks
    write access when access logging is turned on)."""

    def __init__(self, scope: Construct, id_: str, *, name: str, retention_days: int, force_destroy: bool) -> None:
        super().__init__(scope, id_)
        self.prefix = LOG_PREFIX
        account = DataAwsCallerIdentity(self, "account")
        # The account id keeps the name globally unique without a random suffix, so synth stays deterministic.
        self.bucket = S3Bucket(
            self, "bucket", bucket=f"{name}-alb-logs-{account.account_id}", force_destroy=force_destroy
        )
        S3BucketPublicAccessBlock(
            self,
            "public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=self.bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=self.bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="AES256"
                    )
                )
            ],
        )
        # Versioning keeps a deleted or overwritten log for NONCURRENT_DAYS: evidence survives a mistake.
        S3BucketVersioningA(
            self,
            "versioning",
            bucket=self.bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=self.bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=retention_days)],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(noncurrent_days=NONCURRENT_DAYS)
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(days_after_initiation=1)
                    ],
                )
            ],
        )
        elb = DataAwsElbServiceAccount(self, "elb-account")
        document = DataAwsIamPolicyDocument(
            self,
            "policy-document",
            statement=[
                {
                    "sid": "ElbWritesAccessLogs",
                    "principals": [{"type": "AWS", "identifiers": [elb.arn]}],
                    "actions": ["s3:PutObject"],
                    "resources": [f"{self.bucket.arn}/{LOG_PREFIX}/AWSLogs/{account.account_id}/*"],
                },
                {
                    "sid": "DenyPlainHttp",
                    "effect": "Deny",
                    "principals": [{"type": "*", "identifiers": ["*"]}],
                    "actions": ["s3:*"],
                    "resources": [self.bucket.arn, f"{self.bucket.arn}/*"],
                    "condition": [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}],
                },
            ],
        )
        self.policy = S3BucketPolicy(self, "policy", bucket=self.bucket.id, policy=document.json)
