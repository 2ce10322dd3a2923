"""An AWS WAF web ACL with its logging, and optionally its association with a regional resource (the ALB).

The rules come in as data (``infra.waf_rules``) and go to the provider as they are. Everything else here is
what every web ACL of this project has: default action allow, metrics and sampled requests on, the
``authorization`` and ``cookie`` headers replaced by ``REDACTED`` wherever WAF shows a request (data
protection covers sampled requests and logs; the logging configuration redacts them again, so a web ACL
edited by hand cannot leak them into the log group), and every request logged to a KMS-encrypted
CloudWatch log group whose name starts with ``aws-waf-logs-``, as WAF requires.

A CloudFront web ACL (``cloudfront=True``) must live in us-east-1, with its log group: pass that region's
provider. CloudFront attaches it through the distribution's ``web_acl_id`` instead of an association.
"""

from __future__ import annotations

from collections.abc import Sequence

from constructs import Construct

from infra.engine import TerraformProvider
from infra.engine.aws.cloudwatch_log_group import CloudwatchLogGroup
from infra.engine.aws.cloudwatch_log_resource_policy import CloudwatchLogResourcePolicy
from infra.engine.aws.data_aws_caller_identity import DataAwsCallerIdentity
from infra.engine.aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from infra.engine.aws.data_aws_partition import DataAwsPartition
from infra.engine.aws.data_aws_region import DataAwsRegion
from infra.engine.aws.wafv2_web_acl import (
    Wafv2WebAcl,
    Wafv2WebAclCustomResponseBody,
    Wafv2WebAclDataProtectionConfig,
    Wafv2WebAclDataProtectionConfigDataProtection,
    Wafv2WebAclDataProtectionConfigDataProtectionField,
    Wafv2WebAclDefaultAction,
    Wafv2WebAclDefaultActionAllow,
    Wafv2WebAclRule,
    Wafv2WebAclVisibilityConfig,
)
from infra.engine.aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from infra.engine.aws.wafv2_web_acl_logging_configuration import (
    Wafv2WebAclLoggingConfiguration,
    Wafv2WebAclLoggingConfigurationRedactedFields,
    Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader,
)
from infra.waf_rules import LOG_GROUP_PREFIX, RATE_LIMITED_BODY, REDACTED_HEADERS, visibility


class WebAcl(Construct):
    """Attributes: ``web_acl`` (its ``arn`` goes into CloudFront's ``web_acl_id``), ``metric_name`` (the WebACL
    dimension of its CloudWatch metrics, a reference), ``log_group``, ``association`` (None unless
    ``protected_resource_arn``).

    ``rules``: ``infra.waf_rules.web_acl_rules``. ``kms_key_arn``: a key CloudWatch Logs may use in the web
    ACL's region. ``data_protection`` (default on): the headers are also redacted in sampled requests.
    ``protected_resource_arn``: a regional resource to associate (the ALB).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        rules: Sequence[dict],
        log_retention_days: int,
        kms_key_arn: str,
        data_protection: bool = True,
        cloudfront: bool = False,
        protected_resource_arn: str | None = None,
        provider: TerraformProvider | None = None,
    ) -> None:
        super().__init__(scope, id_)
        if cloudfront and protected_resource_arn:
            raise ValueError("a CloudFront web ACL is attached by the distribution's web_acl_id, not associated")
        self._provider = provider
        self.web_acl = Wafv2WebAcl(
            self,
            "web-acl",
            name=name,
            description=f"{name}: AWS managed rules and per-IP rate limits",
            scope="CLOUDFRONT" if cloudfront else "REGIONAL",
            default_action=Wafv2WebAclDefaultAction(allow=Wafv2WebAclDefaultActionAllow()),
            rule=[Wafv2WebAclRule(**rule) for rule in rules],
            custom_response_body=[Wafv2WebAclCustomResponseBody(**RATE_LIMITED_BODY)],
            data_protection_config=self._data_protection() if data_protection else None,
            visibility_config=Wafv2WebAclVisibilityConfig(**visibility(name)),
            provider=provider,
        )
        self.metric_name = self.web_acl.visibility_config.metric_name
        self.log_group = CloudwatchLogGroup(
            self,
            "log-group",
            name=f"{LOG_GROUP_PREFIX}{name}",
            retention_in_days=log_retention_days,
            kms_key_id=kms_key_arn,
            provider=provider,
        )
        delivery = self._init_log_delivery_policy(name)
        Wafv2WebAclLoggingConfiguration(
            self,
            "logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[self.log_group.arn],
            redacted_fields=[
                Wafv2WebAclLoggingConfigurationRedactedFields(
                    single_header=Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader(name=header)
                )
                for header in REDACTED_HEADERS
            ],
            depends_on=[delivery],
            provider=provider,
        )
        self.association = (
            Wafv2WebAclAssociation(
                self, "association", resource_arn=protected_resource_arn, web_acl_arn=self.web_acl.arn
            )
            if protected_resource_arn
            else None
        )

    @staticmethod
    def _data_protection() -> Wafv2WebAclDataProtectionConfig:
        return Wafv2WebAclDataProtectionConfig(
            data_protection=[
                Wafv2WebAclDataProtectionConfigDataProtection(
                    action="SUBSTITUTION",
                    field=Wafv2WebAclDataProtectionConfigDataProtectionField(
                        field_type="SINGLE_HEADER", field_keys=[header]
                    ),
                )
                for header in REDACTED_HEADERS
            ]
        )

    def _init_log_delivery_policy(self, name: str) -> CloudwatchLogResourcePolicy:
        # WAF delivers logs through CloudWatch Logs' vended-log service. Without a resource policy of our own,
        # WAF would write a broad one itself on first delivery, outside Terraform (and left behind on destroy).
        provider = self._provider
        account = DataAwsCallerIdentity(self, "account", provider=provider)
        partition = DataAwsPartition(self, "partition", provider=provider)
        region = DataAwsRegion(self, "region", provider=provider)
        document = DataAwsIamPolicyDocument(
            self,
            "delivery",
            statement=[
                {
                    "sid": "WafLogDelivery",
                    "principals": [{"type": "Service", "identifiers": ["delivery.logs.amazonaws.com"]}],
                    "actions": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "resources": [f"{self.log_group.arn}:*"],
                    "condition": [
                        {"test": "StringEquals", "variable": "aws:SourceAccount", "values": [account.account_id]},
                        {
                            "test": "ArnLike",
                            "variable": "aws:SourceArn",
                            "values": [f"arn:{partition.partition}:logs:{region.name}:{account.account_id}:*"],
                        },
                    ],
                }
            ],
            provider=provider,
        )
        return CloudwatchLogResourcePolicy(
            self,
            "delivery-policy",
            policy_name=f"{name}-waf-log-delivery",
            policy_document=document.json,
            provider=provider,
        )
