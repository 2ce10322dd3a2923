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
from infra.stacks.base import EnvironmentStack
from monitoring.alarms import MonitoredResources, alarm_table


class MonitoringStack(EnvironmentStack):
    """Attributes: ``alarm_topic`` (AlarmTopic: other stacks' alarms may notify it), ``alarms``, ``dashboard``."""

    kind = "monitoring"

    def __init__(self, scope: Construct, config: EnvironmentConfig, *, resources: MonitoredResources) -> None:
        super().__init__(scope, config)
        self.alarm_topic = AlarmTopic(self, "alarm-topic", name=config.prefix, config=config.alarms)
        table = alarm_table(resources, config.alarms.thresholds, fleet_min_size=config.app.min_size)
        self.alarms = Alarms(self, "alarms", prefix=config.prefix, table=table, topic_arn=self.alarm_topic.topic.arn)
        self.dashboard = Dashboard(
            self, "dashboard", name=config.prefix, region=config.region, resources=resources, alarm_arns=self.alarms.arns
        )
