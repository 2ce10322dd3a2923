"""One environment file as a whole: its sections and the checks that span them."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from infra.config.app import AppConfig
from infra.config.data import CacheConfig, DatabaseConfig
from infra.config.edge import DnsConfig, EdgeConfig, LoadBalancerConfig, WafConfig
from infra.config.network import NetworkConfig
from infra.config.operations import AlarmsConfig, CutoverConfig, RehearsalConfig, TerraformCloudConfig
from infra.config.section import FieldError, Section
from infra.connection_budget import (
    ALARM_SHARE,
    BUDGET_SHARE,
    ConnectionBudget,
    Consumer,
    max_connections,
    smallest_class_that_fits,
)
from infra.names import MAX_PREFIX_LENGTH, ResourceNames, resource_names
from monitoring.thresholds import AlarmThresholds


class EnvironmentConfig(Section):
    """One deployable environment; ``name`` comes from the file name, not its content."""

    name: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    project: str = Field("duewin", pattern=r"^[a-z][a-z0-9-]{1,20}$")
    region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    engine: Literal["cdktf", "cdktn"] | None = Field(
        None, description="'cdktf' (unset: the default) or 'cdktn' (CDK Terrain); --engine, $DUEWIN_ENGINE override it"
    )
    network: NetworkConfig
    app: AppConfig
    database: DatabaseConfig = DatabaseConfig()
    cache: CacheConfig = CacheConfig()
    dns: DnsConfig = DnsConfig()
    load_balancer: LoadBalancerConfig = LoadBalancerConfig()
    edge: EdgeConfig = EdgeConfig()
    waf: WafConfig = WafConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    terraform_cloud: TerraformCloudConfig = TerraformCloudConfig()
    cutover: CutoverConfig = CutoverConfig()
    rehearsal: RehearsalConfig = RehearsalConfig()

    @model_validator(mode="after")
    def _check_prefix_length(self) -> EnvironmentConfig:
        # The longest name built from it is the load balancer's (infra/names.py).
        if len(self.prefix) > MAX_PREFIX_LENGTH:
            raise ValueError(
                f"project and environment name make the prefix {self.prefix!r} ({len(self.prefix)} characters); "
                f"load balancer names allow at most {MAX_PREFIX_LENGTH}"
            )
        return self

    @model_validator(mode="after")
    def _check_edge(self) -> EnvironmentConfig:
        edge = self.edge
        if edge.enabled and not self.dns.domain:
            raise ValueError("edge.create_cloudfront and edge.create_dns need dns.domain")
        if edge.create_cloudfront and not edge.create_dns:
            # Its us-east-1 certificate is validated through records in the Route 53 zone.
            raise ValueError("edge.create_cloudfront needs edge.create_dns")
        if edge.create_cloudfront and not self.dns.certificate_arn:
            # The origin is HTTPS-only: the ALB needs its HTTPS listener, which needs the certificate.
            raise ValueError("edge.create_cloudfront needs dns.certificate_arn (the ALB's HTTPS listener)")
        if edge.create_zone and not edge.create_dns:
            raise ValueError("edge.create_zone needs edge.create_dns")
        if edge.create_dns and self.region != "us-east-1":
            # Route 53 publishes health-check metrics only in us-east-1, and an alarm can notify only a
            # topic of its own region: the /health alarm could not reach the environment's alarm topic.
            raise ValueError(f"edge.create_dns needs region us-east-1 (the /health check's alarm), not {self.region}")
        return self

    @model_validator(mode="after")
    def _check_storage_alarm(self) -> EnvironmentConfig:
        floor, allocated = self.alarms.thresholds.db_free_storage_gb, self.database.allocated_storage_gb
        if floor >= allocated:
            # The alarm would fire on an empty database from the first minute.
            raise ValueError(
                f"alarms.thresholds.db_free_storage_gb ({floor:g}) must be below "
                f"database.allocated_storage_gb ({allocated})"
            )
        return self

    @model_validator(mode="after")
    def _check_connection_budget(self) -> EnvironmentConfig:
        budget = self.connection_budget
        if budget.fits:
            return self
        if budget.proxy_percent is not None:
            raise FieldError(
                ("database", "proxy_max_connections_percent"),
                f"connection budget: {budget.describe()}, above 90 %: lower it to {int(100 * BUDGET_SHARE)} or less",
            )
        fleet = budget.largest_fleet()
        ways = [
            f"lower app.max_size to {fleet}" if fleet >= self.app.min_size else None,
            "lower a process's pool or per_host",
        ]
        bigger = smallest_class_that_fits(budget, self.database.instance_class)
        if bigger:
            ways.append(f"use database.instance_class = {bigger!r} ({max_connections(bigger)})")
        raise FieldError(
            ("app", "max_size"),
            f"connection budget: {budget.describe()}, above 90 %: {', or '.join(w for w in ways if w)}",
        )

    @model_validator(mode="after")
    def _check_redis_memory_alarm(self) -> EnvironmentConfig:
        percent = self.alarms.thresholds.redis_memory_percent
        if self.cache.maxmemory_policy == "noeviction" and percent > 90:
            # At 100 % every write fails: the alarm must leave time to act.
            raise FieldError(
                ("alarms", "thresholds", "redis_memory_percent"),
                f"{percent:g} % leaves no time to act under noeviction (writes fail at 100 %); use 90 or less",
            )
        return self

    @model_validator(mode="after")
    def _check_zones(self) -> EnvironmentConfig:
        zones = self.network.availability_zones
        if zones is None:
            return self
        if len(zones) != self.network.az_count:
            raise ValueError(
                f"network.availability_zones lists {len(zones)} zones for az_count {self.network.az_count}"
            )
        for zone in zones:
            if not re.fullmatch(re.escape(self.region) + r"[a-z]", zone):
                raise ValueError(f"network.availability_zones: {zone!r} is not a zone of {self.region}")
        if len(set(zones)) != len(zones):
            raise ValueError("network.availability_zones: a zone is listed twice")
        return self

    @property
    def availability_zones(self) -> tuple[str, ...]:
        return self.network.availability_zones or tuple(
            f"{self.region}{letter}" for letter in "abcdef"[: self.network.az_count]
        )

    @property
    def connection_budget(self) -> ConnectionBudget:
        """Every process's MySQL pool at the fleet's largest size (or, behind RDS Proxy, the proxy's pool), against
        the instance class's default limit."""
        processes = self.app.processes
        return ConnectionBudget(
            hosts=self.app.max_size,
            per_host=tuple(Consumer(p.name, p.per_host, p.pool) for p in processes if p.placement == "every-host"),
            once_in_fleet=tuple(
                Consumer(p.name, p.per_host, p.pool) for p in processes if p.placement == "one-in-fleet"
            ),
            limit=max_connections(self.database.instance_class),
            limit_source=self.database.instance_class,
            proxy_percent=self.database.proxy_max_connections_percent if self.database.proxy else None,
        )

    @property
    def alarm_thresholds(self) -> AlarmThresholds:
        """``[alarms.thresholds]`` with ``db_connections`` derived from the connection limit unless set."""
        thresholds = self.alarms.thresholds
        if thresholds.db_connections is not None:
            return thresholds
        # Through validation, so a derived threshold meets the bounds a written one must.
        derived = int(ALARM_SHARE * self.connection_budget.limit)
        return AlarmThresholds.model_validate({**thresholds.model_dump(), "db_connections": derived})

    @property
    def prefix(self) -> str:
        """'<project>-<env>': the stem of every stack and resource name."""
        return f"{self.project}-{self.name}"

    @property
    def names(self) -> ResourceNames:
        """What AWS calls this environment's resources."""
        return resource_names(self.prefix)

    def stack_name(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"
