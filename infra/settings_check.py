"""`infra app-settings --env ENV`: before a deploy, which required settings Parameter Store holds.

Asks Parameter Store for names only (DescribeParameters by path, recursive) and Secrets Manager for
the app user secret's versions (DescribeSecret): no value is ever read, so the check needs no decrypt
permission and prints nothing secret. It applies the same rules as the boot
(``bootstrap/app_settings.py``): exit 1 when the boot would stop — a required setting missing from
Parameter Store and ``[app.env]``, a parameter whose name is no setting name, a setting from two
sources, the app user secret without a value (``migrate app-user`` has not run) — or when an instance
could not decrypt a SecureString (a KMS key other than the data stack's secrets key or AWS's own
``aws/ssm``). Exit 2 when the check itself cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from bootstrap.app_settings import BOOTSTRAP_SETTINGS, missing_required, placement_problems, setting_name
from infra.boot import app_boot
from infra.config import EnvironmentConfig
from migrate.text_table import aligned

EXIT_OK, EXIT_GAP, EXIT_CANNOT_CHECK = 0, 1, 2


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    key_id: str | None


@dataclass(frozen=True)
class SettingsReport:
    path: str
    parameters: tuple[Parameter, ...]
    rows: tuple[tuple[str, str], ...]  # (required setting, where it comes from or "MISSING")
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def list_parameters(client, path: str) -> list[Parameter]:
    """Every parameter under ``path``, recursively: metadata only."""
    found = []
    for page in client.get_paginator("describe_parameters").paginate(
        ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [path]}]
    ):
        found += [Parameter(p["Name"], p["Type"], p.get("KeyId")) for p in page["Parameters"]]
    return sorted(found, key=lambda p: p.name)


def app_user_secret_problem(client, config: EnvironmentConfig) -> str | None:
    """Why the instances would find no app user to log in as, if they would: metadata only."""
    from botocore.exceptions import ClientError

    name = config.names.app_user_secret
    try:
        stages = client.describe_secret(SecretId=name).get("VersionIdsToStages", {})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        return f"no app user secret {name}: deploy the data stack first"
    if not any("AWSCURRENT" in labels for labels in stages.values()):
        return f"the app user secret {name} has no value: run `migrate app-user` (README: cutover runbook)"
    return None


def readable_keys(config: EnvironmentConfig) -> tuple[str, ...]:
    """KMS keys an instance can decrypt SecureStrings with: the data stack's secrets key, or AWS's own."""
    return (f"alias/{config.prefix}-data-secrets", "alias/aws/ssm")


def check_settings(
    config: EnvironmentConfig, parameters: list[Parameter], secret_problem: str | None = None
) -> SettingsReport:
    """``secret_problem``: what ``app_user_secret_problem`` found, if anything."""
    path = app_boot(config).parameter_path
    app_env = list(config.app.env)
    by_setting = {setting_name(p.name): p for p in parameters}
    rows = []
    for name in config.app.required_settings:
        if name in by_setting:
            rows.append((name, f"Parameter Store {by_setting[name].name} ({by_setting[name].type})"))
        elif name in config.app.env:
            rows.append((name, "[app.env]"))
        elif name in BOOTSTRAP_SETTINGS:
            rows.append((name, "the bootstrap"))
        else:
            rows.append((name, "MISSING"))
    problems = placement_problems(path, [p.name for p in parameters], app_env)
    missing = missing_required(list(config.app.required_settings), {*by_setting, *app_env, *BOOTSTRAP_SETTINGS})
    if missing:
        problems.append(f"missing required settings: {', '.join(missing)}")
    keys = readable_keys(config)
    problems += [
        f"{p.name}: encrypted with {p.key_id}, which the instances cannot decrypt (use {keys[0]})"
        for p in parameters
        if p.type == "SecureString" and p.key_id and p.key_id.startswith("alias/") and p.key_id not in keys
    ]
    if secret_problem:
        problems.append(secret_problem)
    return SettingsReport(path, tuple(parameters), tuple(rows), tuple(problems))


def render(report: SettingsReport, region: str) -> str:
    lines = [f"Parameter Store {report.path}/ ({region}): {len(report.parameters)} parameters", ""]
    lines += aligned([("required setting", "source"), *report.rows])
    if report.problems:
        lines += ["", "the boot would stop:", *(f"  - {problem}" for problem in report.problems)]
    else:
        lines += ["", "every required setting is present"]
    return "\n".join(lines)


def run_check(config: EnvironmentConfig) -> int:
    """Prints the report; returns the exit status."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    path = app_boot(config).parameter_path
    try:
        parameters = list_parameters(boto3.client("ssm", region_name=config.region), path)
    except (BotoCoreError, ClientError) as exc:
        click.echo(f"error: cannot list {path}/ in Parameter Store: {exc}", err=True)
        return EXIT_CANNOT_CHECK
    try:
        secret_problem = app_user_secret_problem(boto3.client("secretsmanager", region_name=config.region), config)
    except (BotoCoreError, ClientError) as exc:
        click.echo(f"error: cannot describe the app user secret {config.names.app_user_secret}: {exc}", err=True)
        return EXIT_CANNOT_CHECK
    report = check_settings(config, parameters, secret_problem)
    click.echo(render(report, config.region))
    return EXIT_OK if report.ok else EXIT_GAP
