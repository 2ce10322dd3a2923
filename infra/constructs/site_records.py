"""The public names (apex and www) as Route 53 alias records to CloudFront or to the ALB."""

from __future__ import annotations

from constructs import Construct

from infra.engine.aws.route53_record import Route53Record, Route53RecordAlias


def site_names(domain: str) -> list[str]:
    """The names the site answers on, apex first (the certificate's primary name)."""
    return [domain, f"www.{domain}"]


class SiteRecords(Construct):
    """Attributes: ``records`` (list of ``Route53Record``).

    To CloudFront: A and AAAA (it answers on IPv6), target health not evaluated (Route 53 refuses it
    for distributions). To the ALB: A only (an IPv4-only ALB has no AAAA answer), with target health,
    so Route 53 stops answering when no target is healthy.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        zone_id: str,
        domain: str,
        target_dns_name: str,
        target_zone_id: str,
        to_cloudfront: bool,
    ) -> None:
        super().__init__(scope, id_)
        types = ("A", "AAAA") if to_cloudfront else ("A",)
        alias = Route53RecordAlias(
            name=target_dns_name, zone_id=target_zone_id, evaluate_target_health=not to_cloudfront
        )
        self.records = [
            Route53Record(
                self, f"{label}-{record_type.lower()}", zone_id=zone_id, name=name, type=record_type, alias=alias
            )
            for label, name in zip(("apex", "www"), site_names(domain), strict=True)
            for record_type in types
        ]
