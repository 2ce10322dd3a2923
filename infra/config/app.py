"""``[app]``: the duewin backend's checkout, instances and process roles (APP-CONTRACT.md as configuration)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bootstrap.app_settings import BOOTSTRAP_SETTINGS, SETTING_NAME
from infra.config.section import FieldError, Section, check_log_retention

_RELATIVE_PATH = r"^[A-Za-z0-9._@-]+(/[A-Za-z0-9._@-]+)*$"


def _inside_checkout(field: str, path: str) -> None:
    if ".." in path.split("/"):
        raise FieldError((field,), f"{path!r} leaves the app's checkout ('..')")


#: Settings the duewin backend cannot run safely without: five clients built at module load
#: (fatal when missing) and four security keys that silently fall back to hard-coded defaults.
DUEWIN_REQUIRED_SETTINGS = (
    "PRELUDE_API_KEY",
    "SPRIBE_CLIENT_ID",
    "SPRIBE_CLIENT_SECRET",
    "CASINO_AGENCY_UID",
    "CASINO_AES_KEY",
    "JWT_SECRET",
    "JWT_REFRESH_SECRET",
    "ADMIN_JWT_SECRET",
    "ENCRYPTION_KEY",
)
#: The one process role behind the load balancer (as Heroku's Procfile: only ``web`` gets HTTP traffic).
WEB_ROLE = "web"
DEFAULT_LOCK_TTL_SECONDS = 15


class ProcessConfig(Section):
    """One process role, Procfile-style (``[[app.processes]]``). PM2 runs ``per_host`` copies of
    ``script`` on every host, or, with ``placement = "one-in-fleet"``, one copy in the whole fleet under
    ``fleet-lock lead`` (every host stands by; the lock holder runs it)."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,39}$", description="PM2 process name; 'web' is the role behind the target group"
    )
    script: str = Field(pattern=_RELATIVE_PATH, description="Relative to app.directory")
    args: tuple[str, ...] = Field((), description="Arguments after the script")
    per_host: int = Field(1, ge=1, le=32, description="Copies per host (one-in-fleet: 1)")
    placement: Literal["every-host", "one-in-fleet"] = "every-host"
    pool: int = Field(10, ge=0, le=1000, description="MySQL connections one copy may hold (its Sequelize pool max)")
    lock_ttl_seconds: int | None = Field(
        None,
        ge=3,
        le=3600,
        description=f"one-in-fleet only (default {DEFAULT_LOCK_TTL_SECONDS}): a dead leader's role resumes on "
        "another host within TTL + TTL/3",
    )

    @model_validator(mode="after")
    def _check(self) -> ProcessConfig:
        _inside_checkout("script", self.script)
        if self.placement == "one-in-fleet" and self.per_host != 1:
            raise FieldError(
                ("per_host",),
                f"a one-in-fleet process runs one copy in the fleet; per_host must be 1, not {self.per_host}",
            )
        if self.placement == "every-host" and self.lock_ttl_seconds is not None:
            raise FieldError(("lock_ttl_seconds",), "only a one-in-fleet process takes the fleet lock")
        if any("\n" in arg for arg in self.args):
            raise FieldError(("args",), "an argument holds a newline")
        return self

    @property
    def lock_ttl(self) -> int:
        return self.lock_ttl_seconds or DEFAULT_LOCK_TTL_SECONDS


DUEWIN_PROCESSES = (
    ProcessConfig(name=WEB_ROLE, script="index.js"),
    ProcessConfig(name="workers", script="workers/workerManager.js", per_host=2),
    ProcessConfig(name="scheduler", script="scripts/start-scheduler.js", placement="one-in-fleet"),
    ProcessConfig(name="precalc-5d", script="scripts/5dPreCalcScheduler.js", placement="one-in-fleet"),
)


class AppConfig(Section):
    """The EC2 fleet behind the ALB and what boots on it. Defaults follow the scaling guide: 2/10/2,
    CPU target 70 %, Node 20 with PM2, and the duewin backend's processes and settings.
    Exactly one of ``repository`` / ``artifact`` says where the code comes from."""

    instance_type: str = Field("t2.micro", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    min_size: int = Field(2, ge=1)
    max_size: int = Field(10, ge=1)
    desired_capacity: int = Field(2, ge=1)
    cpu_target_percent: float = Field(70, gt=0, le=100)
    requests_per_target: int | None = Field(
        None, ge=1, description="Second target-tracking policy on ALB requests per instance per minute; off by default"
    )
    port: int = Field(3000, ge=1, le=65535, description="The target group's port; the app gets it as SERVER_PORT")
    health_check_path: str = Field("/health", pattern=r"^/")
    health_check_grace_seconds: int = Field(
        300, ge=0, le=3600, description="Boot + npm install time the ASG waits before ELB health counts"
    )
    root_volume_gb: int = Field(20, ge=8, le=1024)
    ssh_key_name: str | None = Field(
        None, description="Optional EC2 key pair; SSH is never open to the internet (use Session Manager)"
    )
    node_version: str = Field(
        "20", pattern=r"^\d{2}$", description="Node.js major, installed from NodeSource's signed apt repository"
    )
    pm2_version: str = Field("5", pattern=r"^\d+(\.\d+){0,2}$", description="npm version spec for pm2")
    repository: str | None = Field(
        None, pattern=r"^https://\S+$", description="Git repository (HTTPS) the instances clone"
    )
    branch: str = Field("main", pattern=r"^[A-Za-z0-9._/-]+$")
    artifact: str | None = Field(
        None, pattern=r"^s3://[a-z0-9.-]{3,63}/\S+\.(tar\.gz|tgz)$", description="S3 tarball instead of git"
    )
    directory: str = Field(
        "Backend",
        pattern=_RELATIVE_PATH,
        description="The app inside the checkout ('.' for its root): npm install, .env and every process's cwd",
    )
    processes: tuple[ProcessConfig, ...] = Field(
        DUEWIN_PROCESSES, description="[[app.processes]]; default: duewin's four"
    )
    env: dict[str, str] = Field(
        {},
        description="[app.env]: plain, non-secret settings (ALLOWED_ORIGINS, FRONTEND_URL, …); "
        "secrets go to Parameter Store",
    )
    required_settings: tuple[str, ...] = Field(
        DUEWIN_REQUIRED_SETTINGS,
        description="The boot stops, naming every one missing from Parameter Store and [app.env]",
    )
    log_retention_days: int = Field(30, description="CloudWatch retention of the app's and the bootstrap's logs")

    @model_validator(mode="after")
    def _check_sizes(self) -> AppConfig:
        _inside_checkout("directory", self.directory)
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is greater than max_size ({self.max_size})")
        if not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(
                f"desired_capacity ({self.desired_capacity}) is outside [min_size, max_size] "
                f"= [{self.min_size}, {self.max_size}]"
            )
        if (self.repository is None) == (self.artifact is None):
            raise ValueError("set exactly one of repository (git) and artifact (s3://…tar.gz)")
        check_log_retention("log_retention_days", self.log_retention_days)
        return self

    @model_validator(mode="after")
    def _check_processes(self) -> AppConfig:
        seen: set[str] = set()
        for index, process in enumerate(self.processes):
            if process.name in seen:
                raise FieldError(("processes", index, "name"), f"{process.name!r} names two processes")
            seen.add(process.name)
        webs = [i for i, p in enumerate(self.processes) if p.name == WEB_ROLE]
        if not webs:
            raise FieldError(("processes",), f"no {WEB_ROLE!r} process: exactly one serves the target group's port")
        web = self.processes[webs[0]]
        if web.placement != "every-host" or web.per_host != 1:
            # The target group's cookie pins a client to a host, not to one of several copies on it.
            raise FieldError(
                ("processes", webs[0], "per_host"), f"{WEB_ROLE!r} runs once on every host (per_host = 1, every-host)"
            )
        return self

    @model_validator(mode="after")
    def _check_settings(self) -> AppConfig:
        for name, value in self.env.items():
            if not SETTING_NAME.fullmatch(name):
                raise FieldError(("env", name), "not a setting name ([A-Z_][A-Z0-9_]*)")
            if name in BOOTSTRAP_SETTINGS:
                raise FieldError(("env", name), "set by the bootstrap (connection settings come from the data stack)")
            if "\n" in value:
                raise FieldError(("env", name), "holds a newline; multi-line values belong in Parameter Store")
        for index, name in enumerate(self.required_settings):
            if not SETTING_NAME.fullmatch(name):
                raise FieldError(("required_settings", index), f"{name!r} is not a setting name ([A-Z_][A-Z0-9_]*)")
        return self

    @property
    def web(self) -> ProcessConfig:
        return next(p for p in self.processes if p.name == WEB_ROLE)


#: RDS instance classes Performance Insights (and its successor, Database Insights) does not run on for MySQL.
