"""Resource types whose destruction loses data or breaks what points at them, and the arguments
whose change makes Terraform destroy and re-create them.

Where the facts come from: the AWS provider's resource schemas mark these arguments ``ForceNew``
(checked against the provider source for the 5.x line that runs here). ``terraform providers schema
-json`` does not export ForceNew, so the list is kept by hand; ``tests/infra/test_review_stateful.py``
fails if any argument named here is missing from the real 5.100.0 schema, so a renamed or removed
argument cannot make a row silently useless. Replacements decided at plan time by the provider's
CustomizeDiff (an engine *downgrade* on ElastiCache, ``subnets`` on a *network* load balancer) are not
in the table, nor is a replacement caused by replacing something the resource references (a new
subnet group's name, say): Terraform Cloud's speculative plan shows those.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stateful:
    what: str  # what a reviewer loses, in words
    forces_replacement: frozenset[str]


def _entry(what: str, *arguments: str) -> Stateful:
    return Stateful(what, frozenset(arguments))


STATEFUL: dict[str, Stateful] = {
    "aws_db_instance": _entry(
        "RDS instance (the database and its automated backups)",
        "identifier",
        "identifier_prefix",
        "engine",
        "availability_zone",
        "db_name",
        "username",
        "character_set_name",
        "nchar_character_set_name",
        "timezone",
        "kms_key_id",
        "storage_encrypted",
        "snapshot_identifier",
        "restore_to_point_in_time",
        "s3_import",
        "custom_iam_instance_profile",
    ),
    "aws_elasticache_replication_group": _entry(
        "ElastiCache replication group (cached data and sessions; endpoint changes)",
        "replication_group_id",
        "at_rest_encryption_enabled",
        "kms_key_id",
        "subnet_group_name",
        "port",
        "network_type",
        "data_tiering_enabled",
        "global_replication_group_id",
        "snapshot_arns",
        "snapshot_name",
        "security_group_names",
    ),
    "aws_lb": _entry(
        "load balancer (its DNS name changes; aliases and clients pointing at it break)",
        "name",
        "name_prefix",
        "internal",
        "load_balancer_type",
        "customer_owned_ipv4_pool",
    ),
    "aws_s3_bucket": _entry(
        "S3 bucket (its objects; the name may be taken by someone else meanwhile)",
        "bucket",
        "bucket_prefix",
        "object_lock_enabled",
    ),
    "aws_route53_record": _entry("Route 53 record (the name stops resolving while it is replaced)", "name", "zone_id"),
    "aws_route53_zone": _entry("Route 53 hosted zone (new name servers: the domain's delegation breaks)", "name"),
    "aws_kms_key": _entry(
        "KMS key (whatever it encrypted becomes unreadable after the deletion window)",
        "customer_master_key_spec",
        "key_usage",
        "multi_region",
    ),
    "aws_cloudwatch_log_group": _entry("CloudWatch log group (its retained logs)", "name", "name_prefix"),
    "aws_secretsmanager_secret": _entry(
        "Secrets Manager secret (its value; readers lose access)", "name", "name_prefix"
    ),
    "aws_db_proxy": _entry(
        "RDS Proxy (a new endpoint: the instances keep the old DB_HOST until an instance refresh)",
        "name",
        "engine_family",
        "vpc_subnet_ids",
    ),
    "aws_vpc": _entry("VPC (everything inside it is replaced with it)", "cidr_block"),
    "aws_eip": _entry("Elastic IP (the public address changes; allow-lists elsewhere break)", "domain"),
}
