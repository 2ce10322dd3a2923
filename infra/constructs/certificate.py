"""An ACM certificate validated through DNS records in a Route 53 zone, and the wait for its issue."""

from __future__ import annotations

from constructs import Construct

from infra.engine import TerraformIterator, TerraformProvider, TerraformResourceLifecycle, Token
from infra.engine.aws.acm_certificate import AcmCertificate
from infra.engine.aws.acm_certificate_validation import AcmCertificateValidation
from infra.engine.aws.route53_record import Route53Record


class DnsValidatedCertificate(Construct):
    """Attributes: ``certificate``, ``arn`` (of the validation: usable only once the certificate is issued).

    ``provider``: the certificate's region (CloudFront takes certificates from us-east-1 only); the
    validation records go to Route 53, which is global.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        domain_names: list[str],
        zone_id: str,
        provider: TerraformProvider | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.certificate = AcmCertificate(
            self,
            "certificate",
            domain_name=domain_names[0],
            subject_alternative_names=domain_names[1:],
            validation_method="DNS",
            key_algorithm="EC_prime256v1",
            provider=provider,
            # A replacement must be issued before the old one is detached from CloudFront.
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        # One record per name; the set of validation options is only known at apply time, so iterate
        # over it in Terraform (for_each keyed by domain name) rather than in Python.
        options = TerraformIterator.from_complex_list(self.certificate.domain_validation_options, "domain_name")
        records = Route53Record(
            self,
            "validation",
            for_each=options,
            zone_id=zone_id,
            name=options.get_string("resource_record_name"),
            type=options.get_string("resource_record_type"),
            records=[options.get_string("resource_record_value")],
            ttl=300,
            allow_overwrite=True,
        )
        validation = AcmCertificateValidation(
            self,
            "issued",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=Token.as_list(TerraformIterator.from_resources(records).pluck_property("fqdn")),
            provider=provider,
        )
        self.arn = validation.certificate_arn
