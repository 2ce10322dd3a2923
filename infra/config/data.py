"""``[database]`` and ``[cache]``: RDS MySQL (and the server it may replicate from) and ElastiCache Redis."""

from __future__ import annotations

import re
from ipaddress import IPv4Network
from typing import Literal

from pydantic import Field, model_validator

from infra.config.section import FieldError, Section, check_log_retention, check_secret_recovery
from infra.connection_budget import (
    CLASS_MEMORY_GIB,
)

PERFORMANCE_INSIGHTS_UNSUPPORTED = (
    "db.t2.micro",
    "db.t2.small",
    "db.t3.micro",
    "db.t3.small",
    "db.t4g.micro",
    "db.t4g.small",
)
_WINDOW = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"
_WEEKLY_WINDOW = (
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
)


class ReplicationSourceConfig(Section):
    """``[database.replication_source]``: the old server RDS replicates from during a replicated cutover
    (``migrate replicate start``). Off by default; remove it after the cutover. It opens a path out of
    the data tier: a route from the data subnets through the NAT gateway, the data NACL and the
    database's security group towards ``cidr`` on ``port``, and sets the parameter group's
    replicate-wild-do-table to ``databases`` so the replica applies those and nothing else.
    Over a VPN or Direct Connect the route would go through its gateway instead (not built: docs/infrastructure.md)."""

    cidr: IPv4Network = Field(description="The old server's public address as RDS reaches it through the NAT (/32)")
    port: int = Field(3306, ge=1, le=65535)
    databases: tuple[str, ...] = Field(
        min_length=1,
        description="The databases to replicate, named as on the source (and the target: RDS cannot rename)",
    )

    @model_validator(mode="after")
    def _check(self) -> ReplicationSourceConfig:
        if self.cidr.prefixlen < 24:
            raise FieldError(
                ("cidr",), f"{self.cidr} is a whole network: the replication source is one server (/32, at most /24)"
            )
        if not self.cidr.is_global:
            raise FieldError(
                ("cidr",),
                f"{self.cidr} is not a public address: a private one is reached over a VPN or "
                "Direct Connect, not through the NAT gateway this setting routes to",
            )
        for name in self.databases:
            if not re.fullmatch(r"[A-Za-z0-9_$]{1,64}", name):
                raise FieldError(("databases",), f"{name!r} is not a database name (letters, digits, _ and $)")
        return self


class DatabaseConfig(Section):
    """RDS MySQL. Defaults are the safe ones (deletion protection, final snapshot, 7 days of backups);
    an environment turns them off explicitly where cheapness matters more (dev)."""

    instance_class: str = Field(
        "db.t3.micro",
        pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$",
        description="A class of infra/connection_budget.py's table: the fleet's connection budget is checked against "
        "its default max_connections",
    )
    engine_version: str = Field(
        "8.0", pattern=r"^8\.(0|4)(\.\d+)?$", description="'8.0' lets RDS pick (and upgrade) the minor"
    )
    allocated_storage_gb: int = Field(20, ge=20, le=65536)
    max_allocated_storage_gb: int = Field(100, ge=20, le=65536, description="Storage autoscaling ceiling")
    multi_az: bool = False
    name: str = Field("duewin", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$", description="The schema created at launch")
    username: str = Field(
        "duewin_admin",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$",
        description="Master user; its password lives only in Secrets Manager",
    )
    deletion_protection: bool = True
    final_snapshot: bool = Field(True, description="Snapshot on destroy; off in dev, where the data is disposable")
    copy_tags_to_snapshot: bool = True
    backup_retention_days: int = Field(
        7, ge=1, le=35, description="≥ 1: 0 would turn off backups and point-in-time recovery"
    )
    backup_window: str = Field("03:00-04:00", pattern=_WINDOW, description="UTC, daily")
    maintenance_window: str = Field(
        "sun:04:30-sun:05:30", pattern=_WEEKLY_WINDOW, description="UTC; after the backup window"
    )
    ca_cert_identifier: str = Field("rds-ca-rsa2048-g1", pattern=r"^rds-ca-[a-z0-9-]+$")
    require_tls: bool = Field(
        True,
        description="require_secure_transport: false only for an app that cannot send TLS yet (a security change "
        "`infra review` flags); the instances get the RDS CA bundle as DB_SSL_CA for the app-side fix",
    )
    performance_insights: bool = Field(
        False, description=f"Not available on {', '.join(PERFORMANCE_INSIGHTS_UNSUPPORTED)}"
    )
    monitoring_interval: Literal[0, 1, 5, 10, 15, 30, 60] = Field(
        60, description="Enhanced Monitoring seconds; 0 turns it off"
    )
    max_allowed_packet_mb: int = Field(
        64,
        ge=16,
        le=1024,
        description="Largest statement the server accepts. The cutover tool sends statements up to this size; 64 MB "
        "holds mysqldump's extended INSERTs (≈1 MB) and any single row the source could store (MySQL 8's own "
        "default, above MariaDB's 16 MB).",
    )
    slow_query_seconds: float = Field(
        1.0, gt=0, le=60, description="long_query_time: statements slower than this go to the slow log"
    )
    log_retention_days: int = 30
    storage_kms_key_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+$",
        description="Bring-your-own key for storage and Performance Insights; default: a key the data stack creates",
    )
    secret_recovery_days: int = Field(
        7,
        description="How long a deleted app user secret stays recoverable (0 or 7–30); 0 lets dev be destroyed "
        "and re-created at once",
    )
    proxy: bool = Field(
        False,
        description="RDS Proxy in front of the instance (TLS required, auth from the app user secret): the fleet's "
        "pools share at most proxy_max_connections_percent of max_connections, and DB_HOST becomes the proxy",
    )
    proxy_max_connections_percent: int = Field(
        90,
        ge=1,
        le=100,
        description="The proxy's pool as a share of the instance's max_connections; the connection budget keeps 10 % "
        "for admin sessions and the cutover tool",
    )
    replication_source: ReplicationSourceConfig | None = Field(
        None, description="Only during a replicated cutover: lets RDS reach the old server (infra review flags it)"
    )

    @model_validator(mode="after")
    def _check(self) -> DatabaseConfig:
        if self.instance_class not in CLASS_MEMORY_GIB:
            families = sorted({c.split(".")[1] for c in CLASS_MEMORY_GIB})
            raise FieldError(
                ("instance_class",),
                f"{self.instance_class} is not in the table of classes whose default max_connections is known "
                f"(db.<{'|'.join(families)}>.<size>, infra/connection_budget.py)",
            )
        if self.max_allocated_storage_gb < self.allocated_storage_gb:
            raise ValueError(
                f"max_allocated_storage_gb ({self.max_allocated_storage_gb}) is below "
                f"allocated_storage_gb ({self.allocated_storage_gb})"
            )
        if self.performance_insights and self.instance_class in PERFORMANCE_INSIGHTS_UNSUPPORTED:
            raise ValueError(f"performance_insights is not available on {self.instance_class}")
        check_log_retention("log_retention_days", self.log_retention_days)
        check_secret_recovery("secret_recovery_days", self.secret_recovery_days)
        return self


class CacheConfig(Section):
    """ElastiCache Redis. Defaults: cache.t3.micro, no replicas (replicas ≥ 1 turns on failover and Multi-AZ)."""

    node_type: str = Field("cache.t3.micro", pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    engine_version: str = Field(
        "7.1", pattern=r"^(6\.[02]|7\.[01])$", description="Redis OSS versions ElastiCache offers with AUTH + TLS"
    )
    replicas: int = Field(0, ge=0, le=5)
    snapshot_retention_days: int = Field(
        1, ge=1, le=35, description="≥ 1: daily snapshots are the only backup of the cache"
    )
    snapshot_window: str = Field("03:00-04:00", pattern=_WINDOW, description="UTC, daily")
    maintenance_window: str = Field(
        "sun:05:30-sun:06:30", pattern=_WEEKLY_WINDOW, description="UTC; after the database's"
    )
    maxmemory_policy: Literal[
        "volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu", "volatile-ttl", "noeviction"
    ] = Field(
        "noeviction",
        description="BullMQ requires noeviction (an evicted job key corrupts its queue); writes then fail at "
        "maxmemory, so the redis-memory alarm must fire well before",
    )
    log_retention_days: int = 30
    secret_recovery_days: int = Field(
        7,
        description="How long a deleted AUTH secret stays recoverable (0 or 7–30); "
        "0 lets dev be destroyed and re-created at once",
    )

    @model_validator(mode="after")
    def _check(self) -> CacheConfig:
        check_log_retention("log_retention_days", self.log_retention_days)
        check_secret_recovery("secret_recovery_days", self.secret_recovery_days)
        return self
