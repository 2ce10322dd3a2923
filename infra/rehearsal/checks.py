"""Facts asserted through boto3 once every stack is applied: what the environment must hold, by its own names.

Each check returns the problems it found (empty: the facts held). Resources are looked up by the names
the constructs give them (``infra.names``), never by names typed again here.
"""

from __future__ import annotations

from collections.abc import Callable

from infra.config import EnvironmentConfig
from infra.rehearsal.emulator import Emulator


def network_facts(config: EnvironmentConfig, emulator: Emulator) -> list[str]:
    """The VPC, a subnet per tier and zone with the planned CIDRs, the NAT gateways, flow logs on."""
    ec2 = emulator.client("ec2")
    network = config.network
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [config.names.vpc]}])["Vpcs"]
    if len(vpcs) != 1 or vpcs[0]["CidrBlock"] != str(network.vpc_cidr):
        found = [(v["VpcId"], v["CidrBlock"]) for v in vpcs]
        return [f"expected one VPC {config.names.vpc} with {network.vpc_cidr}, found {found}"]
    vpc_id = vpcs[0]["VpcId"]
    problems = []
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    for tier in ("public", "app", "data"):
        held = sorted(
            (s["AvailabilityZone"], s["CidrBlock"])
            for s in subnets
            if {"Key": "Tier", "Value": tier} in s.get("Tags", [])
        )
        planned = sorted(zip(config.availability_zones, map(str, network.subnets.tier(tier)), strict=True))
        if held != planned:
            problems.append(f"{tier} subnets: expected {planned}, found {held}")
    public_ids = {s["SubnetId"] for s in subnets if {"Key": "Tier", "Value": "public"} in s.get("Tags", [])}
    available = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "state", "Values": ["available"]}]
    gateways = ec2.describe_nat_gateways(Filters=available)["NatGateways"]
    expected_gateways = network.az_count if network.nat_mode == "per-az" else 1
    if len(gateways) != expected_gateways or not all(g["SubnetId"] in public_ids for g in gateways):
        found = [(g["NatGatewayId"], g["SubnetId"]) for g in gateways]
        problems.append(f"expected {expected_gateways} available NAT gateway(s) in public subnets, found {found}")
    # DeliverLogsStatus is not checked: moto marks it FAILED whenever the destination is given as an
    # ARN (it only looks the group up by name), though the group exists.
    group = config.names.flow_log_group
    flow_logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    if not any(
        f["FlowLogStatus"] == "ACTIVE"
        and f["TrafficType"] == "ALL"
        and f.get("LogDestination", "").endswith(f":log-group:{group}")
        for f in flow_logs
    ):
        problems.append(f"no active ALL-traffic flow log from {vpc_id} to {group}: {flow_logs}")
    groups = emulator.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    if not any(g["logGroupName"] == group and g.get("kmsKeyId") for g in groups):
        problems.append(f"flow log group {group} missing or not KMS-encrypted: {groups}")
    return problems


def data_facts(config: EnvironmentConfig, emulator: Emulator) -> list[str]:
    """Both subnet groups span the data subnets, the AUTH token is stored, the services are up and private."""
    problems = []
    names, rds, secrets = config.names, emulator.client("rds"), emulator.client("secretsmanager")
    subnet_group = rds.describe_db_subnet_groups(DBSubnetGroupName=names.data_subnet_group)["DBSubnetGroups"][0]
    if len(subnet_group["Subnets"]) != config.network.az_count:
        problems.append(
            f"DB subnet group spans {len(subnet_group['Subnets'])} subnets, expected {config.network.az_count}"
        )
    token = secrets.get_secret_value(SecretId=names.redis_auth_secret)["SecretString"]
    if not (len(token) == 64 and token.isalnum()):
        problems.append(f"Redis AUTH token is not 64 letters and digits ({len(token)} characters)")
    stages = secrets.describe_secret(SecretId=config.names.app_user_secret).get("VersionIdsToStages", {})
    if stages:
        # Its value is `migrate app-user`'s to write: a version from Terraform would put a password in state.
        problems.append(f"the app user secret has versions straight after apply: {stages}")
    if not config.rehearsal.omit_database_instance:
        db = rds.describe_db_instances(DBInstanceIdentifier=names.database)["DBInstances"][0]
        if db["DBInstanceStatus"] != "available" or not db["StorageEncrypted"] or db["PubliclyAccessible"]:
            problems.append(
                f"RDS {names.database}: status {db['DBInstanceStatus']}, encrypted {db['StorageEncrypted']}, "
                f"public {db['PubliclyAccessible']}"
            )
    if config.database.proxy:
        problems += _proxy_facts(config, emulator)
    if not config.rehearsal.omit_replication_group:
        elasticache = emulator.client("elasticache")
        group = elasticache.describe_replication_groups(ReplicationGroupId=names.replication_group)
        group = group["ReplicationGroups"][0]
        if group["Status"] != "available" or not group.get("TransitEncryptionEnabled"):
            problems.append(
                f"replication group {names.replication_group}: status {group['Status']}, "
                f"TLS {group.get('TransitEncryptionEnabled')}"
            )
    return problems


def _proxy_facts(config: EnvironmentConfig, emulator: Emulator) -> list[str]:
    """RDS Proxy available, TLS required, logging in with the app user secret, its target the instance."""
    rds, name = emulator.client("rds"), config.names.database_proxy
    proxy = rds.describe_db_proxies(DBProxyName=name)["DBProxies"][0]
    problems = []
    secrets = [auth.get("SecretArn", "") for auth in proxy.get("Auth", [])]
    if proxy["Status"] != "available" or not proxy["RequireTLS"] or proxy["EngineFamily"] != "MYSQL":
        problems.append(
            f"RDS Proxy {name}: status {proxy['Status']}, TLS {proxy['RequireTLS']}, engine {proxy['EngineFamily']}"
        )
    if len(secrets) != 1 or f":secret:{config.names.app_user_secret}" not in secrets[0]:
        problems.append(f"RDS Proxy {name} logs in with {secrets}, not the app user secret")
    if not config.rehearsal.omit_database_instance:
        targets = [t.get("RdsResourceId") for t in rds.describe_db_proxy_targets(DBProxyName=name)["Targets"]]
        if targets != [config.names.database]:
            problems.append(f"RDS Proxy {name} targets {targets}, not the instance {config.names.database}")
    return problems


def app_facts(config: EnvironmentConfig, emulator: Emulator) -> list[str]:
    """ALB active; the ASG's instances InService and healthy, each registered healthy in the target group."""
    problems = []
    elbv2, alb, app = emulator.client("elbv2"), config.names.load_balancer, config.names.app
    balancer = elbv2.describe_load_balancers(Names=[alb])["LoadBalancers"][0]
    if balancer["State"]["Code"] != "active":
        problems.append(f"ALB {alb} is {balancer['State']}")
    autoscaling = emulator.client("autoscaling")
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[app])["AutoScalingGroups"][0]
    in_service = {
        i["InstanceId"]
        for i in group["Instances"]
        if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"
    }
    if len(in_service) != config.app.desired_capacity:
        problems.append(
            f"ASG {app}: {len(in_service)} healthy InService instances, expected {config.app.desired_capacity}: "
            f"{group['Instances']}"
        )
    target_group = elbv2.describe_target_groups(Names=[app])["TargetGroups"][0]
    if target_group["TargetGroupArn"] not in group["TargetGroupARNs"]:
        problems.append(f"ASG {app} is not attached to target group {app}")
    health = elbv2.describe_target_health(TargetGroupArn=target_group["TargetGroupArn"])["TargetHealthDescriptions"]
    healthy = {t["Target"]["Id"] for t in health if t["TargetHealth"]["State"] == "healthy"}
    if not in_service or healthy != in_service:
        problems.append(f"target group {app}: healthy targets {sorted(healthy)}, ASG instances {sorted(in_service)}")
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    if 80 not in {listener["Port"] for listener in listeners}:
        problems.append(f"ALB {alb} has no listener on 80: {[listener['Port'] for listener in listeners]}")
    if config.waf.enabled:
        problems += web_acl_facts(config, emulator, balancer["LoadBalancerArn"])
    return problems


def web_acl_facts(config: EnvironmentConfig, emulator: Emulator, balancer_arn: str) -> list[str]:
    """The ALB's web ACL is ours, with the planned rules in priority order, logging with credentials redacted."""
    from infra.waf_rules import LOG_GROUP_PREFIX, REDACTED_HEADERS, web_acl_rules

    # The web ACL in front of the ALB is named after it.
    wafv2, name = emulator.client("wafv2"), config.names.load_balancer
    web_acl = wafv2.get_web_acl_for_resource(ResourceArn=balancer_arn).get("WebACL")
    if not web_acl or web_acl["Name"] != name:
        return [f"ALB {name}: web ACL {web_acl and web_acl['Name']!r}, expected {name!r}"]
    problems = []
    rules = web_acl_rules(config.waf, behind_cloudfront=config.edge.create_cloudfront)
    planned = [(rule["priority"], rule["name"]) for rule in rules]
    held = sorted((r["Priority"], r["Name"]) for r in web_acl["Rules"])
    if held != planned:
        problems.append(f"web ACL {name}: rules {held}, planned {planned}")
    logging_config = wafv2.get_logging_configuration(ResourceArn=web_acl["ARN"])["LoggingConfiguration"]
    destinations = logging_config["LogDestinationConfigs"]
    if len(destinations) != 1 or not destinations[0].endswith(f":log-group:{LOG_GROUP_PREFIX}{name}"):
        problems.append(f"web ACL {name} logs to {destinations}")
    fields = logging_config.get("RedactedFields", [])
    redacted = sorted(field["SingleHeader"]["Name"] for field in fields if "SingleHeader" in field)
    if redacted != sorted(REDACTED_HEADERS):
        problems.append(f"web ACL {name} redacts {redacted} in its logs, expected {sorted(REDACTED_HEADERS)}")
    return problems


def monitoring_facts(config: EnvironmentConfig, emulator: Emulator) -> list[str]:
    """Every alarm of the environment's alarm table exists and notifies the alarm topic."""
    from infra.waf_rules import web_acl_watch
    from monitoring.alarms import MonitoredResources, alarm_table

    # Only the names are compared, and they do not depend on the dimension values.
    web_acl = web_acl_watch(config.waf, web_acl="acl", region=config.region) if config.waf.enabled else None
    redis = tuple(f"redis-{i}" for i in range(1 + config.cache.replicas))
    stand_ins = MonitoredResources("alb", "tg", "asg", "db", redis, web_acl=web_acl)
    table = alarm_table(stand_ins, config.alarm_thresholds, fleet_min_size=config.app.min_size)
    expected = {a.name(config.prefix) for a in table}
    alarms = emulator.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{config.prefix}-")["MetricAlarms"]
    topic = config.names.alarm_topic
    problems = []
    if {a["AlarmName"] for a in alarms} != expected:
        problems.append(f"alarms: expected {sorted(expected)}, found {sorted(a['AlarmName'] for a in alarms)}")
    silent = [a["AlarmName"] for a in alarms if not any(action.endswith(f":{topic}") for action in a["AlarmActions"])]
    if silent:
        problems.append(f"alarms that notify no {topic} topic: {silent}")
    return problems


#: Stack kind → the facts checked through boto3 once every stack is applied.
FACTS: dict[str, Callable[[EnvironmentConfig, Emulator], list[str]]] = {
    "network": network_facts,
    "data": data_facts,
    "app": app_facts,
    "monitoring": monitoring_facts,
}
