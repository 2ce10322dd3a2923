"""`<project>-<env>-monitoring`: the alarm topic, the alarms and the dashboard of one environment.

Its own stack, after app and data, because the alarms watch both: inside the data stack they would
make it depend on the app stack (and change with every app change); inside the app stack a threshold
tweak would plan against the load balancer and the fleet. Here a monitoring change touches nothing
that serves traffic or holds data.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import EnvironmentConfig
from infra.constructs.alarm_topic import AlarmTopic
from infra.constructs.alarms import Alarms
from infra.constructs.dashboard import Dashboard
from infra.engine import Fn
from infra.stacks.app import AppStack
from infra.stacks.base import EnvironmentStack
from infra.stacks.data import DataStack
from infra.waf_rules import web_acl_watch
from monitoring.alarms import MonitoredResources, alarm_table


class MonitoringStack(EnvironmentStack):
    """Attributes: ``alarm_topic`` (AlarmTopic: other stacks' alarms may notify it), ``alarms``, ``dashboard``."""

    kind = "monitoring"

    def __init__(self, scope: Construct, config: EnvironmentConfig, *, app: AppStack, data: DataStack) -> None:
        super().__init__(scope, config)
        resources = monitored_resources(config, app, data)
        self.alarm_topic = AlarmTopic(self, "alarm-topic", name=config.prefix, config=config.alarms)
        table = alarm_table(resources, config.alarm_thresholds, fleet_min_size=config.app.min_size)
        self.alarms = Alarms(self, "alarms", prefix=config.prefix, table=table, topic_arn=self.alarm_topic.topic.arn)
        self.dashboard = Dashboard(
            self,
            "dashboard",
            name=config.prefix,
            region=config.region,
            resources=resources,
            alarm_arns=self.alarms.arns,
        )


def monitored_resources(config: EnvironmentConfig, app: AppStack, data: DataStack) -> MonitoredResources:
    """The app and data stacks' resources as CloudWatch dimension values (references, resolved at apply)."""
    load_balancer = app.load_balancer
    web_acl = None
    if app.web_acl:
        web_acl = web_acl_watch(config.waf, web_acl=app.web_acl.metric_name, region=config.region)
    return MonitoredResources(
        alb_arn_suffix=load_balancer.alb.arn_suffix,
        target_group_arn_suffix=load_balancer.target_group.arn_suffix,
        asg_name=app.fleet.group.name,
        # ``identifier``, not ``id``: since provider 5 an instance's id is its resource id (db-…).
        db_instance_id=data.database.identifier,
        # Member clusters are a set (name order: <group>-001, -002, …); their count is fixed by config.
        redis_cluster_ids=tuple(Fn.element(data.cache.member_clusters, i) for i in range(1 + config.cache.replicas)),
        web_acl=web_acl,
    )
