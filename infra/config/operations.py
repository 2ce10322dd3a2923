"""``[alarms]``, ``[cutover]``, ``[terraform_cloud]``, and the deploy rehearsal's profile (``rehearsal``)."""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from infra.config.section import FieldError, Section
from monitoring.thresholds import AlarmThresholds


class AlarmsConfig(Section):
    """Who hears about alarms, and when they fire. No e-mails in dev: alarms still exist, nobody is paged."""

    emails: tuple[str, ...] = Field((), description="SNS e-mail subscriptions (each must confirm once)")
    thresholds: AlarmThresholds = Field(
        AlarmThresholds(),
        description="[alarms.thresholds]; defaults fit the smallest shapes (monitoring/thresholds.py)",
    )

    @model_validator(mode="after")
    def _check_emails(self) -> AlarmsConfig:
        for email in self.emails:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-zA-Z]{2,}", email):
                raise ValueError(f"{email!r} is not an e-mail address")
        return self


class CutoverConfig(Section):
    """``[cutover]``: an optional runner for the data cutover inside the VPC (docs/cutover-runbook.md).

    ``runner = true`` adds one small instance to the app stack, in an app subnet: reachable only by
    Session Manager (no SSH, no public IP, IMDSv2), with ``migrate`` installed at boot from the
    project's wheel under ``dump_prefix``, allowed to read that prefix, the database's master secret
    and to reach the database. ``infra review`` flags it for as long as it exists: switch it off
    once the cutover is done.
    """

    runner: bool = False
    dump_prefix: str | None = Field(
        None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(\S+/)?$",
        description="s3://bucket/prefix/ the runner may read: the dump, and the project's wheel under wheels/",
    )
    instance_type: str = Field(
        "t3.small",
        pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
        description="Parses, compresses and sends the dump: 2 vCPUs",
    )
    root_volume_gb: int = Field(20, ge=8, le=1024)

    @model_validator(mode="after")
    def _check_prefix(self) -> CutoverConfig:
        if self.runner and not self.dump_prefix:
            raise FieldError(
                ("dump_prefix",),
                "runner = true needs dump_prefix (s3://bucket/prefix/ holding the dump and the project's wheel)",
            )
        return self


class RehearsalConfig(Section):
    """``rehearsal``: parts the deploy rehearsal leaves out because its emulator (moto) cannot deploy them, or only
    slowly. Set by the rehearsal's profile alone (infra/rehearsal/profile.py): an environment file that sets it is
    refused, so every environment deploys every part."""

    omit_database_instance: bool = Field(
        False,
        description="No RDS instance: the app stack gets a stand-in address (*.rehearsal.invalid) and an empty "
        "stand-in for the master secret; everything around the instance is still created",
    )
    omit_replication_group: bool = Field(
        False,
        description="No Redis replication group or parameter group: the app stack gets a stand-in address; the "
        "subnet group, AUTH secret and slow log are still created",
    )
    omit_waf_data_protection: bool = Field(
        False,
        description="No DataProtectionConfig on the web ACLs (the authorization and cookie headers are then not "
        "redacted in sampled requests; their logs redact them anyway)",
    )


class TerraformCloudConfig(Section):
    """Terraform Cloud remote runs. Without an organization, stacks use a relative local backend."""

    organization: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    workspace_prefix: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]+$", description="Defaults to the stack name's '<project>-<env>' part"
    )
