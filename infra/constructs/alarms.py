"""CloudWatch metric alarms from the alarm table (``monitoring.alarms``): one resource per row."""

from __future__ import annotations

from collections.abc import Sequence

from constructs import Construct

from infra.engine.aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from monitoring.alarms import Alarm


class Alarms(Construct):
    """Attributes: ``by_key`` (alarm key → ``CloudwatchMetricAlarm``), ``arns`` in table order."""

    def __init__(self, scope: Construct, id_: str, *, prefix: str, table: Sequence[Alarm], topic_arn: str) -> None:
        super().__init__(scope, id_)
        self.by_key = {row.key: self._init_alarm(row, prefix, topic_arn) for row in table}
        self.arns = [alarm.arn for alarm in self.by_key.values()]

    def _init_alarm(self, row: Alarm, prefix: str, topic_arn: str) -> CloudwatchMetricAlarm:
        statistic = {"extended_statistic": row.statistic} if row.is_percentile else {"statistic": row.statistic}
        return CloudwatchMetricAlarm(
            self,
            row.key,
            alarm_name=row.name(prefix),
            alarm_description=row.description,
            namespace=row.namespace,
            metric_name=row.metric,
            dimensions=dict(row.dimensions),
            period=row.period,
            evaluation_periods=row.evaluation_periods,
            datapoints_to_alarm=row.datapoints_to_alarm,
            threshold=row.threshold,
            comparison_operator=row.comparison,
            treat_missing_data=row.missing_data,
            # Recovery is news too: whoever was paged learns when to stop looking.
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
            **statistic,
        )
