"""CloudFront in front of the ALB: cached static content, uncached API and Socket.IO, security headers.

The origin is the ALB's own DNS name over HTTPS only. Every behaviour forwards the viewer's Host
header (managed ``AllViewer`` origin request policy), so CloudFront checks the ALB certificate against
the public name, which that certificate covers. A custom header carries a secret the ALB listener
requires (``OriginGuard``), so the ALB cannot be used around CloudFront.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import EdgeConfig
from infra.engine.aws.cloudfront_cache_policy import (
    CloudfrontCachePolicy,
    CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOrigin,
    CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfig,
    CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfig,
    CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfig,
)
from infra.engine.aws.cloudfront_distribution import (
    CloudfrontDistribution,
    CloudfrontDistributionDefaultCacheBehavior,
    CloudfrontDistributionOrderedCacheBehavior,
    CloudfrontDistributionOrigin,
    CloudfrontDistributionOriginCustomHeader,
    CloudfrontDistributionOriginCustomOriginConfig,
    CloudfrontDistributionRestrictions,
    CloudfrontDistributionRestrictionsGeoRestriction,
    CloudfrontDistributionViewerCertificate,
)
from infra.engine.aws.cloudfront_response_headers_policy import (
    CloudfrontResponseHeadersPolicy,
    CloudfrontResponseHeadersPolicySecurityHeadersConfig,
    CloudfrontResponseHeadersPolicySecurityHeadersConfigContentTypeOptions,
    CloudfrontResponseHeadersPolicySecurityHeadersConfigFrameOptions,
    CloudfrontResponseHeadersPolicySecurityHeadersConfigReferrerPolicy,
    CloudfrontResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurity,
)
from infra.engine.aws.data_aws_cloudfront_cache_policy import DataAwsCloudfrontCachePolicy
from infra.engine.aws.data_aws_cloudfront_origin_request_policy import DataAwsCloudfrontOriginRequestPolicy

ORIGIN_ID = "alb"
#: Never cached: the API and Socket.IO (polling and WebSocket upgrade); the health path joins them,
#: or a cached 200 would hide an outage from the health check.
DYNAMIC_PATHS = ("/api/*", "/socket.io/*")
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
CACHED_METHODS = ["GET", "HEAD"]


class Cdn(Construct):
    """Attributes: ``distribution`` (``domain_name`` and ``hosted_zone_id`` for alias records).

    ``web_acl_arn``: a CLOUDFRONT-scope WAF web ACL (us-east-1) to attach; default none."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        config: EdgeConfig,
        aliases: list[str],
        certificate_arn: str,
        origin_domain: str,
        origin_header: str,
        origin_secret: str,
        health_path: str,
        web_acl_arn: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self._name = name
        all_viewer = DataAwsCloudfrontOriginRequestPolicy(self, "all-viewer", name="Managed-AllViewer")
        caching_disabled = DataAwsCloudfrontCachePolicy(self, "caching-disabled", name="Managed-CachingDisabled")
        static = self._init_static_cache_policy(config)
        headers = self._init_security_headers()
        common = {
            "target_origin_id": ORIGIN_ID,
            "viewer_protocol_policy": "redirect-to-https",
            "origin_request_policy_id": all_viewer.id,
            "response_headers_policy_id": headers.id,
            "compress": True,
        }
        self.distribution = CloudfrontDistribution(
            self,
            "distribution",
            enabled=True,
            comment=f"{name}: app behind the ALB",
            aliases=aliases,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=config.price_class,
            web_acl_id=web_acl_arn,
            origin=[
                CloudfrontDistributionOrigin(
                    origin_id=ORIGIN_ID,
                    domain_name=origin_domain,
                    custom_origin_config=CloudfrontDistributionOriginCustomOriginConfig(
                        http_port=80,
                        https_port=443,
                        origin_protocol_policy="https-only",
                        origin_ssl_protocols=["TLSv1.2"],
                        # Socket.IO long-polling holds a request up to its 25 s ping interval.
                        origin_read_timeout=60,
                        origin_keepalive_timeout=60,
                    ),
                    custom_header=[CloudfrontDistributionOriginCustomHeader(name=origin_header, value=origin_secret)],
                )
            ],
            default_cache_behavior=CloudfrontDistributionDefaultCacheBehavior(
                allowed_methods=ALL_METHODS, cached_methods=CACHED_METHODS, cache_policy_id=static.id, **common
            ),
            ordered_cache_behavior=[
                # WebSockets need no switch on CloudFront: an uncached behaviour forwarding all
                # headers (Upgrade, Sec-WebSocket-*) passes the upgrade through.
                CloudfrontDistributionOrderedCacheBehavior(
                    path_pattern=path,
                    allowed_methods=ALL_METHODS,
                    cached_methods=CACHED_METHODS,
                    cache_policy_id=caching_disabled.id,
                    **common,
                )
                for path in (*DYNAMIC_PATHS, health_path)
            ],
            restrictions=CloudfrontDistributionRestrictions(
                geo_restriction=CloudfrontDistributionRestrictionsGeoRestriction(restriction_type="none")
            ),
            viewer_certificate=CloudfrontDistributionViewerCertificate(
                acm_certificate_arn=certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            ),
        )

    def _init_static_cache_policy(self, config: EdgeConfig) -> CloudfrontCachePolicy:
        # Query strings are part of the key (cache-busting ?v=…); cookies and headers are not, so one
        # visitor's session can never be served to another. The origin's Cache-Control wins over the TTLs.
        return CloudfrontCachePolicy(
            self,
            "static",
            name=f"{self._name}-static",
            comment="Static content: origin Cache-Control wins, query strings in the key",
            min_ttl=0,
            default_ttl=config.static_default_ttl_seconds,
            max_ttl=max(config.static_default_ttl_seconds, 31536000),
            parameters_in_cache_key_and_forwarded_to_origin=CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOrigin(
                enable_accept_encoding_brotli=True,
                enable_accept_encoding_gzip=True,
                cookies_config=CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfig(
                    cookie_behavior="none"
                ),
                headers_config=CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfig(
                    header_behavior="none"
                ),
                query_strings_config=CloudfrontCachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfig(
                    query_string_behavior="all"
                ),
            ),
        )

    def _init_security_headers(self) -> CloudfrontResponseHeadersPolicy:
        return CloudfrontResponseHeadersPolicy(
            self,
            "security-headers",
            name=f"{self._name}-security-headers",
            comment="HSTS, nosniff, frame denial, strict referrer",
            security_headers_config=CloudfrontResponseHeadersPolicySecurityHeadersConfig(
                strict_transport_security=CloudfrontResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurity(
                    access_control_max_age_sec=31536000, include_subdomains=True, preload=False, override=True
                ),
                content_type_options=CloudfrontResponseHeadersPolicySecurityHeadersConfigContentTypeOptions(
                    override=True
                ),
                frame_options=CloudfrontResponseHeadersPolicySecurityHeadersConfigFrameOptions(
                    frame_option="DENY", override=True
                ),
                referrer_policy=CloudfrontResponseHeadersPolicySecurityHeadersConfigReferrerPolicy(
                    referrer_policy="strict-origin-when-cross-origin", override=True
                ),
            ),
        )
