"""`<project>-<env>-edge` (only when ``[edge]`` is enabled): Route 53 names, the /health check, and
optionally CloudFront in front of the ALB with its us-east-1 certificate and origin secret.

Its own stack, after app and monitoring: DNS and CDN changes (slow, global) never plan against
the fleet, and turning the edge off removes exactly this workspace.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import EnvironmentConfig
from infra.constructs.cdn import Cdn
from infra.constructs.certificate import DnsValidatedCertificate
from infra.constructs.encryption_key import EncryptionKey
from infra.constructs.generated_secret import GeneratedSecret
from infra.constructs.load_balancer import LoadBalancer
from infra.constructs.origin_guard import OriginGuard
from infra.constructs.public_health_check import PublicHealthCheck
from infra.constructs.site_records import SiteRecords, site_names
from infra.engine.aws.data_aws_route53_zone import DataAwsRoute53Zone
from infra.engine.aws.route53_zone import Route53Zone
from infra.stacks.base import EnvironmentStack

#: The header CloudFront adds and the ALB requires. Its name is no secret; its value is.
ORIGIN_HEADER = "X-Origin-Verify"
ORIGIN_SECRET_LENGTH = 48


class EdgeStack(EnvironmentStack):
    """Attributes: ``zone_id``, ``records``, ``health`` and, with CloudFront, ``cdn``, ``certificate``, ``origin_secret``."""

    kind = "edge"

    def __init__(self, scope: Construct, config: EnvironmentConfig, *, load_balancer: LoadBalancer, alarm_topic_arn: str) -> None:
        super().__init__(scope, config)
        edge, domain, name = config.edge, config.dns.domain, config.prefix
        assert edge.enabled and domain, "build_app creates the edge stack only when [edge] is enabled"
        self.zone_id = self._init_zone(domain)
        https = 443 in load_balancer.listeners  # the ALB has a listener on 443 only with dns.certificate_arn
        target = (load_balancer.alb.dns_name, load_balancer.alb.zone_id)
        if edge.create_cloudfront:
            self._init_cdn(load_balancer)
            target = (self.cdn.distribution.domain_name, self.cdn.distribution.hosted_zone_id)
        self.records = SiteRecords(
            self,
            "site",
            zone_id=self.zone_id,
            domain=domain,
            target_dns_name=target[0],
            target_zone_id=target[1],
            to_cloudfront=edge.create_cloudfront,
        )
        self.health = PublicHealthCheck(
            self,
            "health",
            name=name,
            config=edge,
            fqdn=domain,
            path=config.app.health_check_path,
            https=edge.create_cloudfront or https,
            topic_arn=alarm_topic_arn,
        )

    def _init_zone(self, domain: str) -> str:
        if self.config.edge.create_zone:
            return Route53Zone(self, "zone", name=domain, comment=f"{self.config.prefix}: public names").zone_id
        return DataAwsRoute53Zone(self, "zone", name=domain, private_zone=False).zone_id

    def _init_cdn(self, load_balancer: LoadBalancer) -> None:
        config, name = self.config, self.config.prefix
        self.certificate = DnsValidatedCertificate(
            self,
            "cdn-certificate",
            domain_names=site_names(config.dns.domain),
            zone_id=self.zone_id,
            provider=self.aliased_provider("us-east-1"),
        )
        key = EncryptionKey(self, "secrets-key", alias=f"{name}-edge-secrets", description=f"{name}: edge secrets")
        self.origin_secret = GeneratedSecret(
            self,
            "origin-secret",
            name=f"{name}/edge/origin-verify",
            description=f"{name}: value of the {ORIGIN_HEADER} header CloudFront sends and the ALB requires",
            kms_key_arn=key.arn,
            length=ORIGIN_SECRET_LENGTH,
        )
        self.cdn = Cdn(
            self,
            "cdn",
            name=name,
            config=config.edge,
            aliases=site_names(config.dns.domain),
            certificate_arn=self.certificate.arn,
            origin_domain=load_balancer.alb.dns_name,
            origin_header=ORIGIN_HEADER,
            origin_secret=self.origin_secret.value,
            health_path=config.app.health_check_path,
        )
        OriginGuard(
            self,
            "origin-guard",
            # Config validation guarantees this listener (dns.certificate_arn) whenever CloudFront is on.
            listener_arn=load_balancer.listeners[443].arn,
            target_group_arn=load_balancer.target_group.arn,
            header_name=ORIGIN_HEADER,
            header_value=self.origin_secret.value,
        )
