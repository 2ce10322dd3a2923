"""The configurations every infra proof runs on: the shipped environments and prod with the whole edge on.

Also a command, so another engine can synthesize the same set in a process of its own (two engines
cannot share one): ``DUEWIN_ENGINE=cdktn python -m tests.infra.variants OUTROOT`` writes
``OUTROOT/<variant>/`` for each.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from infra.config import EnvironmentConfig, available_environments, load_environment

Model = TypeVar("Model", bound=BaseModel)

ENVIRONMENTS = available_environments()
#: A synthesized configuration that no shipped environment has, for toggles off everywhere by default
#: (the whole edge, RDS Proxy): checkov, terraform validate and the secret scan cover it like the others.
EDGE = "prod+edge"
EDGE_DOMAIN = "duewin.example.com"
CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"
VARIANTS = [*ENVIRONMENTS, EDGE]
#: Upload paths in the edge variant, so its web ACLs carry the large-body rule through checkov and terraform.
EDGE_LARGE_BODY_PATHS = ("/api/upload/",)
#: The old server a replicated cutover reaches from RDS (database.replication_source, off by default).
REPLICATION_SOURCE = {"cidr": "52.66.10.20/32", "databases": ("duewin",)}
#: The cutover runner's S3 prefix in EDGE.
RUNNER_PREFIX = "s3://duewin-cutover-dumps/prod/"


def changed(model: Model, changes: dict) -> Model:
    """``model`` with ``changes``, built through validation as a loaded file is (``model_copy(update=…)`` would
    skip every validator and accept a misspelt field): a dict merges into the section or dict it names, any
    other value replaces the field."""
    return type(model).model_validate(_merged(model.model_dump(), changes))


def _merged(base: dict, changes: dict) -> dict:
    return {
        **base,
        **{
            key: _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
            for key, value in changes.items()
        },
    }


def edge_config() -> EnvironmentConfig:
    """prod with the whole edge on (created zone, CloudFront, the ALB's certificate), two e-mails, upload paths,
    RDS Proxy, the path to the old server a replicated cutover opens and the cutover runner: what is off
    everywhere by default."""
    return changed(
        load_environment("prod"),
        {
            "dns": {"domain": EDGE_DOMAIN, "certificate_arn": CERTIFICATE_ARN},
            "edge": {"create_cloudfront": True, "create_dns": True, "create_zone": True},
            "alarms": {"emails": ("ops@example.com", "oncall@example.com")},
            "waf": {"large_body_paths": EDGE_LARGE_BODY_PATHS},
            "database": {"proxy": True, "replication_source": REPLICATION_SOURCE},
            "cutover": {"runner": True, "dump_prefix": RUNNER_PREFIX},
        },
    )


def variant_config(variant: str) -> EnvironmentConfig:
    return edge_config() if variant == EDGE else load_environment(variant)


def main(argv: list[str]) -> None:
    from infra.app import synth

    outroot = Path(argv[0])
    for variant in VARIANTS:
        synth(variant_config(variant), outroot / variant)


if __name__ == "__main__":
    main(sys.argv[1:])
