"""The environment's CloudWatch dashboard; its body comes from ``monitoring.dashboard``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from constructs import Construct

from infra.engine.aws.cloudwatch_dashboard import CloudwatchDashboard
from monitoring.alarms import MonitoredResources
from monitoring.dashboard import dashboard_body


class Dashboard(Construct):
    """Attributes: ``dashboard``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        region: str,
        resources: MonitoredResources,
        alarm_arns: Sequence[str],
    ) -> None:
        super().__init__(scope, id_)
        body = dashboard_body(resources, region, alarm_arns=alarm_arns)
        # Plain JSON text with references inside its strings: Terraform interpolates them, and the
        # result stays JSON (the identifiers hold no quotes). Emitted as JSON, never HCL (DESIGN §3).
        self.dashboard = CloudwatchDashboard(self, "dashboard", dashboard_name=name, dashboard_body=json.dumps(body))
