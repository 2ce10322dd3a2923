"""What an app instance's boot needs to know: plain values, no config model.

``infra`` builds them from the environment file (``infra/boot.py``) and hands them to the renderers
(``user_data.py``, ``ecosystem.py``); bootstrap imports nothing from ``infra``, so the renderers, the
embedded scripts and their tests stand on their own, and the dependency runs one way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessRole:
    """One PM2 process role (``[[app.processes]]``)."""

    name: str
    script: str  # relative to the app's directory
    args: tuple[str, ...]
    per_host: int
    #: One copy in the whole fleet, under ``fleet-lock lead``; otherwise ``per_host`` copies on every host.
    one_in_fleet: bool
    lock_ttl: int  # seconds; read only when one_in_fleet
    #: The role behind the load balancer: it alone gets the X-Instance-Id preload.
    web: bool


@dataclass(frozen=True)
class AppBoot:
    """The environment and the app as the boot sees them (``[app]`` of the environment file)."""

    project: str
    environment: str
    prefix: str  # '<project>-<environment>', the stem of the environment's resource names
    region: str
    directory: str  # the app inside the checkout
    port: int
    node_version: str
    pm2_version: str
    repository: str | None  # exactly one of repository (git, with branch) and artifact (s3://…tar.gz)
    branch: str
    artifact: str | None
    env: Mapping[str, str]  # [app.env]: plain settings for .env
    required_settings: tuple[str, ...]
    processes: tuple[ProcessRole, ...]

    @property
    def parameter_path(self) -> str:
        """The SSM Parameter Store path of the app's own settings (JWT_SECRET lives here as a SecureString)."""
        return f"/{self.project}/{self.environment}/app"

    @property
    def log_group_name(self) -> str:
        """The CloudWatch log group the agent ships the app's and the bootstrap's logs to."""
        return f"/{self.project}/{self.environment}/app"
