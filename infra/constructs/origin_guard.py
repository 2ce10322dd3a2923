"""ALB listener rules that serve only requests carrying CloudFront's secret origin header.

Without them the ALB's public DNS name would be a way around CloudFront (its caching, security
headers and any future WAF). Rule 1 forwards requests whose header matches; rule 2 answers every
other request 403. Target-group health checks go to the instances directly and are unaffected.
"""

from __future__ import annotations

from constructs import Construct

from infra.engine.aws.lb_listener_rule import (
    LbListenerRule,
    LbListenerRuleAction,
    LbListenerRuleActionFixedResponse,
    LbListenerRuleCondition,
    LbListenerRuleConditionHttpHeader,
    LbListenerRuleConditionPathPattern,
)


class OriginGuard(Construct):
    """Attributes: ``forward`` (priority 1) and ``deny`` (priority 2) listener rules."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        listener_arn: str,
        target_group_arn: str,
        header_name: str,
        header_value: str,
    ) -> None:
        super().__init__(scope, id_)
        self.forward = LbListenerRule(
            self,
            "forward",
            listener_arn=listener_arn,
            priority=1,
            action=[LbListenerRuleAction(type="forward", target_group_arn=target_group_arn)],
            condition=[
                LbListenerRuleCondition(
                    http_header=LbListenerRuleConditionHttpHeader(http_header_name=header_name, values=[header_value])
                )
            ],
        )
        self.deny = LbListenerRule(
            self,
            "deny",
            listener_arn=listener_arn,
            priority=2,
            action=[
                LbListenerRuleAction(
                    type="fixed-response",
                    fixed_response=LbListenerRuleActionFixedResponse(
                        content_type="text/plain", status_code="403", message_body="Forbidden"
                    ),
                )
            ],
            condition=[LbListenerRuleCondition(path_pattern=LbListenerRuleConditionPathPattern(values=["*"]))],
        )
