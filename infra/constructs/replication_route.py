"""The data tier's one way out, for a replicated cutover: a route from the data subnets to the old server
through the NAT gateway, so RDS can replicate from it (``database.replication_source``).

The data tier has no route out of the VPC otherwise. The NACL and the database's security group admit
the same flow where they are defined (``Vpc``'s ``data_egress``, ``ServiceSecurityGroup``'s ``egress``).
The old server sees the connection come from the NAT gateway's Elastic IP: that is the address its
firewall and the replication user's host must allow.
"""

from __future__ import annotations

from constructs import Construct

from infra.config import ReplicationSourceConfig
from infra.engine.aws.route import Route


class ReplicationRoute(Construct):
    """Attributes: ``routes`` (one per data route table)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: ReplicationSourceConfig,
        route_table_ids: list[str],
        nat_gateway_id: str,
    ) -> None:
        super().__init__(scope, id_)
        self.routes = [
            Route(
                self,
                f"to-source-{index}",
                route_table_id=table,
                destination_cidr_block=str(config.cidr),
                nat_gateway_id=nat_gateway_id,
            )
            for index, table in enumerate(route_table_ids)
        ]
