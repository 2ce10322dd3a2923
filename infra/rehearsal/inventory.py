"""What the emulator holds: after a clean teardown, nothing but what moto creates itself."""

from __future__ import annotations

from collections.abc import Callable

from infra.rehearsal.emulator import Emulator


def _names(key: str, attribute: str, keep: Callable[[dict], bool] = lambda _: True) -> Callable[[dict], list[str]]:
    return lambda response: [str(item[attribute]) for item in response.get(key, []) if keep(item)]


def _instance_ids(response: dict) -> list[str]:
    return [i["InstanceId"] for reservation in response["Reservations"] for i in reservation["Instances"]]


_LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_LIVE_INSTANCES = {"Filters": [{"Name": "instance-state-name", "Values": _LIVE_STATES}]}

#: (service, call, arguments, names of what the response holds). Defaults moto creates itself (the
#: default VPC and its parts, default parameter groups, AWS-managed keys) are not ours and are left out.
INVENTORY: tuple[tuple[str, str, dict, Callable[[dict], list[str]]], ...] = (
    ("ec2", "describe_vpcs", {"Filters": [{"Name": "is-default", "Values": ["false"]}]}, _names("Vpcs", "VpcId")),
    (
        "ec2",
        "describe_subnets",
        {"Filters": [{"Name": "default-for-az", "Values": ["false"]}]},
        _names("Subnets", "SubnetId"),
    ),
    (
        "ec2",
        "describe_nat_gateways",
        {},
        _names("NatGateways", "NatGatewayId", lambda g: g["State"] not in ("deleted", "deleting")),
    ),
    ("ec2", "describe_addresses", {}, _names("Addresses", "AllocationId")),
    (
        "ec2",
        "describe_vpc_endpoints",
        {},
        _names("VpcEndpoints", "VpcEndpointId", lambda e: e["State"].lower() != "deleted"),
    ),
    ("ec2", "describe_flow_logs", {}, _names("FlowLogs", "FlowLogId")),
    ("ec2", "describe_launch_templates", {}, _names("LaunchTemplates", "LaunchTemplateName")),
    ("ec2", "describe_instances", _LIVE_INSTANCES, _instance_ids),
    ("ec2", "describe_security_groups", {}, _names("SecurityGroups", "GroupId", lambda g: g["GroupName"] != "default")),
    ("ec2", "describe_internet_gateways", {}, _names("InternetGateways", "InternetGatewayId")),
    (
        "ec2",
        "describe_route_tables",
        {},
        _names("RouteTables", "RouteTableId", lambda t: not any(a.get("Main") for a in t["Associations"])),
    ),
    ("ec2", "describe_network_acls", {}, _names("NetworkAcls", "NetworkAclId", lambda n: not n["IsDefault"])),
    ("kms", "list_aliases", {}, _names("Aliases", "AliasName", lambda a: not a["AliasName"].startswith("alias/aws/"))),
    ("logs", "describe_log_groups", {}, _names("logGroups", "logGroupName")),
    ("iam", "list_roles", {}, _names("Roles", "RoleName", lambda r: not r["Path"].startswith("/aws-service-role/"))),
    ("iam", "list_policies", {"Scope": "Local"}, _names("Policies", "PolicyName")),
    ("iam", "list_instance_profiles", {}, _names("InstanceProfiles", "InstanceProfileName")),
    ("elbv2", "describe_load_balancers", {}, _names("LoadBalancers", "LoadBalancerName")),
    ("elbv2", "describe_target_groups", {}, _names("TargetGroups", "TargetGroupName")),
    ("autoscaling", "describe_auto_scaling_groups", {}, _names("AutoScalingGroups", "AutoScalingGroupName")),
    ("rds", "describe_db_instances", {}, _names("DBInstances", "DBInstanceIdentifier")),
    ("rds", "describe_db_proxies", {}, _names("DBProxies", "DBProxyName")),
    ("rds", "describe_db_subnet_groups", {}, _names("DBSubnetGroups", "DBSubnetGroupName")),
    (
        "rds",
        "describe_db_parameter_groups",
        {},
        _names(
            "DBParameterGroups", "DBParameterGroupName", lambda g: not g["DBParameterGroupName"].startswith("default.")
        ),
    ),
    ("elasticache", "describe_replication_groups", {}, _names("ReplicationGroups", "ReplicationGroupId")),
    ("elasticache", "describe_cache_clusters", {}, _names("CacheClusters", "CacheClusterId")),
    (
        "elasticache",
        "describe_cache_subnet_groups",
        {},
        _names("CacheSubnetGroups", "CacheSubnetGroupName", lambda g: g["CacheSubnetGroupName"] != "default"),
    ),
    ("cloudwatch", "describe_alarms", {}, _names("MetricAlarms", "AlarmName")),
    ("cloudwatch", "list_dashboards", {}, _names("DashboardEntries", "DashboardName")),
    ("sns", "list_topics", {}, _names("Topics", "TopicArn")),
    ("secretsmanager", "list_secrets", {}, _names("SecretList", "Name", lambda s: "DeletedDate" not in s)),
    ("ssm", "describe_parameters", {}, _names("Parameters", "Name")),
    ("s3", "list_buckets", {}, _names("Buckets", "Name")),
    ("route53", "list_hosted_zones", {}, _names("HostedZones", "Name")),
    ("wafv2", "list_web_acls", {"Scope": "REGIONAL"}, _names("WebACLs", "Name")),
    ("wafv2", "list_logging_configurations", {"Scope": "REGIONAL"}, _names("LoggingConfigurations", "ResourceArn")),
    ("logs", "describe_resource_policies", {}, _names("resourcePolicies", "policyName")),
)


def leftovers(emulator: Emulator) -> dict[str, list[str]]:
    """What the emulator still holds, per ``service.call``; empty after a clean teardown."""
    found = {}
    for service, call, arguments, names in INVENTORY:
        held = names(getattr(emulator.client(service), call)(**arguments))
        if held:
            found[f"{service}.{call}"] = held
    kms = emulator.client("kms")
    # moto creates the AWS-managed keys it needs (alias/aws/ebs for encrypted volumes) as customer keys.
    aliases = kms.list_aliases()["Aliases"]
    aws_managed = {a.get("TargetKeyId") for a in aliases if a["AliasName"].startswith("alias/aws/")}
    # A KMS key cannot be deleted at once, only scheduled for deletion: that is as gone as it gets.
    live_keys = [
        meta["KeyId"]
        for key in kms.list_keys()["Keys"]
        if key["KeyId"] not in aws_managed
        and (meta := kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"])["KeyManager"] == "CUSTOMER"
        and meta["KeyState"] != "PendingDeletion"
    ]
    if live_keys:
        found["kms.list_keys"] = live_keys
    return found
