"""Typed, validated environment configuration: ``environments/<env>.toml`` → ``EnvironmentConfig``.

The environment files are the only place sizes and toggles live. This package knows no CDKTF, so
it loads in milliseconds and its errors are tested without synthesizing anything.
Every error surfaces as one ``ConfigError`` line naming the file, the line where it can be
found, and the dotted field. One module per part of the file (``network``, ``app``, ``data``,
``edge``, ``operations``), the whole in ``environment``, reading it in ``loading``; what the rest
of the project uses is named here.
"""

from infra.config.app import DUEWIN_PROCESSES, DUEWIN_REQUIRED_SETTINGS, WEB_ROLE, AppConfig, ProcessConfig
from infra.config.data import CacheConfig, DatabaseConfig, ReplicationSourceConfig
from infra.config.edge import BODY_SIZE_RULE, MANAGED_RULE_GROUPS, EdgeConfig, LoadBalancerConfig, WafConfig
from infra.config.environment import EnvironmentConfig
from infra.config.loading import (
    DEFAULT_ENVIRONMENT,
    ENVIRONMENTS_DIR,
    available_environments,
    load_environment,
    load_file,
)
from infra.config.network import NetworkConfig
from infra.config.operations import AlarmsConfig, CutoverConfig
from infra.config.section import ConfigError

__all__ = [
    "BODY_SIZE_RULE",
    "DEFAULT_ENVIRONMENT",
    "DUEWIN_PROCESSES",
    "DUEWIN_REQUIRED_SETTINGS",
    "ENVIRONMENTS_DIR",
    "MANAGED_RULE_GROUPS",
    "WEB_ROLE",
    "AlarmsConfig",
    "AppConfig",
    "CacheConfig",
    "ConfigError",
    "CutoverConfig",
    "DatabaseConfig",
    "EdgeConfig",
    "EnvironmentConfig",
    "LoadBalancerConfig",
    "NetworkConfig",
    "ProcessConfig",
    "ReplicationSourceConfig",
    "WafConfig",
    "available_environments",
    "load_environment",
    "load_file",
]
