"""`<project>-<env>-edge` (only when ``[edge]`` is enabled): Route 53 names, the /health check, and
optionally CloudFront in front of the ALB with its us-east-1 certificate, origin secret and (with ``[waf]``)
its CLOUDFRONT-scope web ACL and that web ACL's alarms.

Its own stack, after app and monitoring: DNS and CDN changes (slow, global) never plan against
the fleet, and turning the edge off removes exactly this workspace.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import EnvironmentConfig
from infra.constructs.alarms import Alarms
from infra.constructs.cdn import Cdn
from infra.constructs.certificate import DnsValidatedCertificate
from infra.constructs.encryption_key import EncryptionKey
from infra.constructs.generated_secret import GeneratedSecret
from infra.constructs.load_balancer import LoadBalancer
from infra.constructs.origin_guard import OriginGuard
from infra.constructs.public_health_check import PublicHealthCheck
from infra.constructs.site_records import SiteRecords, site_names
from infra.constructs.web_acl import WebAcl
from infra.engine import TerraformProvider
from infra.engine.aws.data_aws_route53_zone import DataAwsRoute53Zone
from infra.engine.aws.route53_zone import Route53Zone
from infra.stacks.base import EnvironmentStack
from infra.waf_rules import web_acl_rules, web_acl_watch
from monitoring.alarms import web_acl_alarms

#: The header CloudFront adds and the ALB requires. Its name is no secret; its value is.
ORIGIN_HEADER = "X-Origin-Verify"
ORIGIN_SECRET_LENGTH = 48


class EdgeStack(EnvironmentStack):
    """Attributes: ``zone_id``, ``records``, ``health`` and, with CloudFront, ``cdn``, ``certificate``,
    ``origin_secret``, ``web_acl`` (None without ``[waf]``).

    ``log_key_arn``: the environment's CloudWatch Logs key (the CloudFront web ACL's log group uses it).
    """

    kind = "edge"

    def __init__(
        self,
        scope: Construct,
        config: EnvironmentConfig,
        *,
        load_balancer: LoadBalancer,
        alarm_topic_arn: str,
        log_key_arn: str,
    ) -> None:
        super().__init__(scope, config)
        self._alarm_topic_arn, self._log_key_arn = alarm_topic_arn, log_key_arn
        self.web_acl: WebAcl | None = None
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
        # CloudFront takes its certificate and its web ACL from us-east-1 only.
        us_east_1 = self.aliased_provider("us-east-1")
        self.certificate = DnsValidatedCertificate(
            self,
            "cdn-certificate",
            domain_names=site_names(config.dns.domain),
            zone_id=self.zone_id,
            provider=us_east_1,
        )
        self.web_acl = self._init_web_acl(us_east_1) if config.waf.enabled else None
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
            web_acl_arn=self.web_acl.web_acl.arn if self.web_acl else None,
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

    def _init_web_acl(self, us_east_1: TerraformProvider) -> WebAcl:
        config, name = self.config, f"{self.config.prefix}-cloudfront"
        # Config validation keeps an environment with CloudFront in us-east-1 (edge.create_dns), so the
        # environment's log key is in the web ACL's region, and so are the alarms and the topic they notify.
        web_acl = WebAcl(
            self,
            "cdn-waf",
            name=name,
            rules=web_acl_rules(config.waf, behind_cloudfront=False),
            log_retention_days=config.waf.log_retention_days,
            data_protection=not config.rehearsal.omit_waf_data_protection,
            kms_key_arn=self._log_key_arn,
            cloudfront=True,
            provider=us_east_1,
        )
        watch = web_acl_watch(config.waf, web_acl=web_acl.metric_name, region=None)
        table = web_acl_alarms(watch, config.alarm_thresholds, key="cdn-waf")
        Alarms(self, "cdn-waf-alarms", prefix=config.prefix, table=table, topic_arn=self._alarm_topic_arn)
        return web_acl
