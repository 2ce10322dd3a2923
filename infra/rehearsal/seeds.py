"""What a real account has before the first deploy, and the emulator lacks: hosted zones, public AMI parameters."""

from __future__ import annotations

import time

from infra.synthesized import SynthStack


def _looked_up(stacks: list[SynthStack], data_type: str) -> list[str]:
    """Literal names the stacks read through ``data_type`` lookups."""
    return sorted(
        {
            lookup["name"]
            for stack in stacks
            for lookup in stack.data(data_type).values()
            if "${" not in lookup.get("name", "${")
        }
    )


def seeded_zones(stacks: list[SynthStack]) -> list[str]:
    """Hosted zones the stacks look up but do not create (a real account has them already)."""
    return _looked_up(stacks, "aws_route53_zone")


def seeded_image_parameters(stacks: list[SynthStack]) -> list[str]:
    """AWS's public AMI parameters the stacks read; moto ships only Amazon Linux's."""
    return [
        name
        for name in _looked_up(stacks, "aws_ssm_parameter")
        if name.startswith("/aws/service/") and name.endswith("/ami-id")
    ]


def put_public_parameter(region: str, name: str, value: str) -> None:
    """Store an AWS-owned (``/aws/service/...``) parameter in the in-process emulator's SSM backend.

    moto refuses PutParameter under /aws/ as AWS does; its own catalogue is loaded the same way.
    Reaches into moto's internals, which the pinned moto version (pyproject) keeps stable.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ssm.models import Parameter, ssm_backends

    parameters = ssm_backends[DEFAULT_ACCOUNT_ID][region]._parameters
    parameters[name].append(
        Parameter(
            account_id=DEFAULT_ACCOUNT_ID,
            name=name,
            value=value,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=time.time(),
            version=1,
            data_type="aws:ec2:image",
        )
    )
