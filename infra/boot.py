"""The environment file as the instance bootstrap takes it: plain values (``bootstrap/app_boot.py``).

bootstrap imports nothing from infra; what its renderers need from the config model is translated here,
once, for every caller (the app stack, ``infra app-settings``, the tests).
"""

from __future__ import annotations

from bootstrap.app_boot import AppBoot, ProcessRole
from infra.config import WEB_ROLE, EnvironmentConfig, ProcessConfig


def app_boot(config: EnvironmentConfig) -> AppBoot:
    app = config.app
    return AppBoot(
        project=config.project,
        environment=config.name,
        prefix=config.prefix,
        region=config.region,
        directory=app.directory,
        port=app.port,
        node_version=app.node_version,
        pm2_version=app.pm2_version,
        repository=app.repository,
        branch=app.branch,
        artifact=app.artifact,
        env=dict(app.env),
        required_settings=app.required_settings,
        processes=tuple(_role(process) for process in app.processes),
    )


def _role(process: ProcessConfig) -> ProcessRole:
    return ProcessRole(
        name=process.name,
        script=process.script,
        args=process.args,
        per_host=process.per_host,
        one_in_fleet=process.placement == "one-in-fleet",
        lock_ttl=process.lock_ttl,
        web=process.name == WEB_ROLE,
    )
