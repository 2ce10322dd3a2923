"""The names AWS knows an environment's resources by, each made from its '<project>-<env>' prefix.

The constructs name their resources from here and expose the names as attributes; the deploy
rehearsal's checks look the resources up by the same names, and the config refuses a prefix whose
longest name AWS would reject. Pure: no CDKTF.
"""

from __future__ import annotations

from dataclasses import dataclass

#: AWS's limit on the name of a load balancer and of a target group.
LOAD_BALANCER_NAME_LIMIT = 32


@dataclass(frozen=True)
class ResourceNames:
    """What AWS calls one environment's resources: ``resource_names(prefix)``."""

    #: The VPC's Name tag.
    vpc: str
    #: The ALB, its security group and the web ACL in front of it: the longest name of an environment.
    load_balancer: str
    #: The fleet: its target group, Auto Scaling group, launch template and security group.
    app: str
    flow_log_group: str
    #: The data subnets as RDS and ElastiCache each group them.
    data_subnet_group: str
    #: The RDS instance's identifier.
    database: str
    database_proxy: str
    #: The ElastiCache replication group's id.
    replication_group: str
    #: The Secrets Manager secret holding the bare Redis AUTH token.
    redis_auth_secret: str
    #: The Secrets Manager secret the instances log in to MySQL with (``migrate app-user`` writes it).
    app_user_secret: str
    #: The SNS topic every alarm notifies, and the alias of the key that encrypts it.
    alarm_topic: str


def resource_names(prefix: str) -> ResourceNames:
    return ResourceNames(
        vpc=prefix,
        load_balancer=f"{prefix}-alb",
        app=f"{prefix}-app",
        flow_log_group=f"/vpc/{prefix}/flow-logs",
        data_subnet_group=f"{prefix}-data",
        database=prefix,
        database_proxy=f"{prefix}-proxy",
        replication_group=prefix,
        redis_auth_secret=f"{prefix}/redis/auth-token",
        app_user_secret=f"{prefix}/mysql/app-user",
        alarm_topic=f"{prefix}-alarms",
    )


#: The longest prefix whose longest name (the load balancer's) AWS accepts.
MAX_PREFIX_LENGTH = LOAD_BALANCER_NAME_LIMIT - len(resource_names("").load_balancer)
