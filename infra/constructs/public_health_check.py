"""A Route 53 health check on the public ``/health`` URL, and its alarm.

It probes from Route 53's checkers around the world through the public name, so it sees what users
see: DNS, CloudFront, the certificate, the ALB and the app together.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import EdgeConfig
from infra.constructs.alarms import Alarms
from infra.engine.aws.route53_health_check import Route53HealthCheck
from monitoring.alarms import health_check_alarm


class PublicHealthCheck(Construct):
    """Attributes: ``health_check``, ``alarms`` (an ``Alarms`` with the one ``public-health`` alarm)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        config: EdgeConfig,
        fqdn: str,
        path: str,
        https: bool,
        topic_arn: str,
    ) -> None:
        super().__init__(scope, id_)
        self.health_check = Route53HealthCheck(
            self,
            "check",
            fqdn=fqdn,
            type="HTTPS" if https else "HTTP",
            port=443 if https else 80,
            enable_sni=True if https else None,
            resource_path=path,
            request_interval=config.health_check_interval_seconds,
            failure_threshold=config.health_check_failure_threshold,
            measure_latency=True,
            tags={"Name": f"{name}-health"},
        )
        self.alarms = Alarms(
            self, "alarm", prefix=name, table=[health_check_alarm(self.health_check.id)], topic_arn=topic_arn
        )
