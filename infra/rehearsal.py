"""Deploy rehearsal: apply, re-plan and destroy the synthesized stacks against moto on loopback.

``terraform validate`` proves the JSON is well-formed; only an apply proves that remote state,
cross-stack outputs, IAM policy ARNs and the dependency order work. No AWS account is reachable,
so the real terraform and the offline provider (5.100.0) talk to ``moto``'s server on 127.0.0.1.

The synthesized JSON is never edited: an override file next to each stack's ``cdk.tf.json`` swaps
in a local backend, points cross-stack ``terraform_remote_state`` at the sibling stacks' local
state, pins the provider to the mirror's version and gives it emulator settings. Endpoints come
only from ``AWS_ENDPOINT_URL`` — a per-service ``endpoints {}`` block would send any service left
off it to real AWS. As a second fence every terraform call gets ``HTTPS_PROXY``/``HTTP_PROXY``
pointing at a loopback port that is bound but never listens: Go never proxies loopback, so
requests to the emulator pass, and any request for another host is refused on the spot instead
of leaving the machine.

No cdktf import at module level: ``infra rehearse`` synthesizes through ``infra.app`` only when
asked to, and the test suite hands in a directory it synthesized already.
"""

from __future__ import annotations

import fnmatch
import json
import os
import socket
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from infra import engine
from infra.config import EnvironmentConfig
from infra.terraform_cli import OVERRIDE_FILE, OfflineTerraform, provider_pin

ROOT = Path(__file__).resolve().parent.parent
KNOWN_DIFFS_FILE = ROOT / "tools" / "rehearsal-known-diffs.toml"
PLAN_FILE = "rehearsal.tfplan"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# CDKTF names the data source that reads another stack's outputs after that stack.
REMOTE_STATE_PREFIX = "cross-stack-reference-input-"


class RehearsalFailed(RuntimeError):
    """A step of the cycle failed; the message names the stack, the step and terraform's output tail."""


# ---------------------------------------------------------------- what the emulator leaves out (pure)

#: Config toggles every rehearsal turns off: what moto 5.2.5 cannot deploy at all. Expressed in config,
#: not by cutting resources out of the JSON, so what is rehearsed is exactly what an environment
#: with those toggles off would deploy.
EMULATOR_OFF: dict[str, str] = {
    "cache.create_replication_group": "ElastiCache: moto has no CreateCacheParameterGroup, and a replication "
    "group fails (CacheClusterNotFound for its member cluster)",
    "waf.data_protection": "WAF data protection: moto ignores a web ACL's DataProtectionConfig, so every plan "
    "would add it again",
}
#: Turned off as well in the lite run (the test suite's): what the emulator only does slowly.
LITE_OFF: dict[str, str] = {
    "database.create_instance": "RDS instance: ≈ 80 s create + 60 s delete of fixed waits in the provider",
}
#: Turned on in every rehearsal: what an environment may leave off to save money (dev) but must deploy
#: wherever it is on. The rest of the section (dev: every rule group in count mode) stays as configured.
REHEARSED_ON: dict[str, str] = {
    "waf.enabled": "AWS WAF (off in dev): the web ACL, its association with the ALB, its log group and logging",
}


#: Turned on in the lite run although off by default: optional parts the emulator deploys in seconds, so the
#: test suite proves they apply, re-plan clean and destroy. What they need from a part the lite run leaves
#: out is left out with it (RDS Proxy's target is the instance: a full run of an environment with the proxy
#: on rehearses it).
LITE_ON: dict[str, str] = {
    "database.proxy": "RDS Proxy: proxy, default target group, role, Secrets Manager endpoint and security groups",
}


def emulator_config(config: EnvironmentConfig, *, lite: bool) -> EnvironmentConfig:
    """``config`` with the emulator's toggles (and for ``lite`` the slow ones) off, the rehearsed ones on and,
    for ``lite``, the cheap optional parts on; validated again."""
    data = config.model_dump()
    toggles = dict.fromkeys(EMULATOR_OFF, False) | dict.fromkeys(REHEARSED_ON, True)
    if lite:
        toggles |= dict.fromkeys(LITE_OFF, False) | dict.fromkeys(LITE_ON, True)
    for path, value in toggles.items():
        section, key = path.split(".")
        data[section][key] = value
    return type(config).model_validate(data)


# ---------------------------------------------------------------- manifest order (pure)


@dataclass(frozen=True)
class Stack:
    name: str
    directory: Path
    dependencies: tuple[str, ...]

    @property
    def state_file(self) -> str:
        return f"terraform.{self.name}.tfstate"

    def body(self) -> dict:
        return json.loads((self.directory / "cdk.tf.json").read_text())


def read_manifest(outdir: Path) -> list[Stack]:
    """The stacks of a synth directory, in the manifest's order."""
    manifest = json.loads((Path(outdir) / "manifest.json").read_text())
    return [
        Stack(name=name, directory=Path(outdir) / entry["workingDirectory"], dependencies=tuple(entry.get("dependencies", ())))
        for name, entry in manifest["stacks"].items()
    ]


def apply_order(stacks: list[Stack]) -> list[Stack]:
    """Dependencies first (stable: ties keep manifest order). Raises on an unknown or cyclic dependency."""
    by_name = {s.name: s for s in stacks}
    ordered: list[Stack] = []
    visiting: set[str] = set()

    def visit(stack: Stack) -> None:
        if stack in ordered:
            return
        if stack.name in visiting:
            raise RehearsalFailed(f"dependency cycle through {stack.name}")
        visiting.add(stack.name)
        for dependency in stack.dependencies:
            if dependency not in by_name:
                raise RehearsalFailed(f"{stack.name} depends on {dependency}, which is not in the manifest")
            visit(by_name[dependency])
        visiting.discard(stack.name)
        ordered.append(stack)

    for stack in stacks:
        visit(stack)
    return ordered


def remote_state_sources(body: dict) -> dict[str, str]:
    """Data source name → the stack whose state it reads, for every cross-stack reference in ``body``."""
    sources = body.get("data", {}).get("terraform_remote_state", {})
    return {name: name.removeprefix(REMOTE_STATE_PREFIX) for name in sources if name.startswith(REMOTE_STATE_PREFIX)}


def destroy_order_problems(order: list[Stack]) -> list[str]:
    """Why destroying in ``order`` would be refused by AWS: a stack goes before one that still reads it.

    moto does not enforce DependencyViolation, so a wrong order would pass the rehearsal and fail
    for real. Checked against both the manifest's dependencies and the remote state each stack reads
    (a read the manifest does not declare would let the two run in either order).
    """
    problems = []
    for index, stack in enumerate(order):
        readers = {s.name for s in order[index + 1 :] if stack.name in (*s.dependencies, *remote_state_sources(s.body()).values())}
        problems += [f"{stack.name} is destroyed before {reader}, which depends on it" for reader in sorted(readers)]
        undeclared = set(remote_state_sources(stack.body()).values()) - set(stack.dependencies)
        problems += [f"{stack.name} reads {name}'s state without declaring the dependency" for name in sorted(undeclared)]
    return problems


# ---------------------------------------------------------------- override files (pure)


def emulator_override(stack: Stack, region: str) -> dict:
    """The override body for one stack: backend, provider pin and settings, remote state paths."""
    body = provider_pin()
    body["terraform"]["backend"] = {"local": {"path": stack.state_file}}
    body["provider"] = {
        "aws": {
            "region": region,
            "access_key": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "secret_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "skip_credentials_validation": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
            # moto answers STS/IAM account lookups; ARNs built from the account id must be real.
            "skip_requesting_account_id": False,
            "s3_use_path_style": True,
            # An unimplemented call should fail in seconds, not after the default 25 backed-off retries.
            "max_retries": 2,
        }
    }
    sources = remote_state_sources(stack.body())
    if sources:
        body["data"] = {
            "terraform_remote_state": {
                name: {"backend": "local", "config": {"path": f"../{source}/terraform.{source}.tfstate"}}
                for name, source in sources.items()
            }
        }
    return body


def write_overrides(stacks: list[Stack], region: str) -> None:
    for stack in stacks:
        (stack.directory / OVERRIDE_FILE).write_text(json.dumps(emulator_override(stack, region), indent=2) + "\n")


TEARDOWN_OVERRIDE_FILE = "zz_rehearsal_teardown_override.tf.json"
#: Resource type → the settings that let terraform destroy it; applied just before destroy, so the
#: rehearsal first proves the real (protected) values deploy and re-plan clean.
TEARDOWN_SETTINGS = {
    "aws_db_instance": {"deletion_protection": False, "skip_final_snapshot": True, "delete_automated_backups": True},
    "aws_rds_cluster": {"deletion_protection": False, "skip_final_snapshot": True},
    "aws_lb": {"enable_deletion_protection": False},
}
#: Resource types terraform cannot destroy on moto → where ``leftovers`` finds them: removed from state
#: before destroy and reported as abandoned, not as left behind. ElastiCache: moto does not implement
#: DeleteCacheSubnetGroup, so destroy would wait for the provider's timeout.
ABANDONED_TYPES = {"aws_elasticache_subnet_group": "elasticache.describe_cache_subnet_groups"}


def teardown_override(body: dict) -> dict | None:
    """The override that lifts deletion protection from ``body``'s resources, or None if none has it."""
    resources: dict[str, dict] = {}
    for resource_type, instances in body.get("resource", {}).items():
        settings = TEARDOWN_SETTINGS.get(resource_type, {})
        for name, arguments in instances.items():
            # Unset arguments take the provider's defaults, which protect nothing.
            if any(arguments.get(key, value) != value for key, value in settings.items()):
                resources.setdefault(resource_type, {})[name] = settings
    return {"resource": resources} if resources else None


def _looked_up(stacks: list[Stack], data_type: str) -> list[str]:
    """Literal names the stacks read through ``data_type`` lookups."""
    return sorted(
        {
            lookup["name"]
            for stack in stacks
            for lookup in stack.body().get("data", {}).get(data_type, {}).values()
            if "${" not in lookup.get("name", "${")
        }
    )


def seeded_zones(stacks: list[Stack]) -> list[str]:
    """Hosted zones the stacks look up but do not create (a real account has them already)."""
    return _looked_up(stacks, "aws_route53_zone")


def seeded_image_parameters(stacks: list[Stack]) -> list[str]:
    """AWS's public AMI parameters the stacks read; moto ships only Amazon Linux's."""
    return [name for name in _looked_up(stacks, "aws_ssm_parameter") if name.startswith("/aws/service/") and name.endswith("/ami-id")]


# ---------------------------------------------------------------- known diffs (pure)


@dataclass(frozen=True)
class Diff:
    address: str
    actions: tuple[str, ...]
    attributes: frozenset[str]
    #: before → after of each touched attribute, to diagnose a diff nobody has explained yet.
    detail: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.address} ({'/'.join(self.actions)}: {', '.join(sorted(self.attributes)) or '-'})"


@dataclass(frozen=True)
class KnownDiff:
    """A second-plan diff the emulator always produces: resource address pattern, attributes, why."""

    resource: str
    attributes: frozenset[str]
    reason: str

    def accepts(self, diff: Diff) -> bool:
        return (
            diff.actions == ("update",)
            and fnmatch.fnmatchcase(diff.address, self.resource)
            and diff.attributes <= self.attributes
        )


def load_known_diffs(path: Path = KNOWN_DIFFS_FILE) -> list[KnownDiff]:
    entries = tomllib.loads(Path(path).read_text()).get("diff", [])
    known = []
    for number, entry in enumerate(entries, start=1):
        reason = str(entry.get("reason", "")).strip()
        if not reason or not entry.get("attributes"):
            raise ValueError(f"{path}: diff #{number} ({entry.get('resource')}) needs attributes and a reason")
        known.append(KnownDiff(resource=entry["resource"], attributes=frozenset(entry["attributes"]), reason=reason))
    return known


def plan_diffs(plan: dict) -> list[Diff]:
    """Every change in ``terraform show -json`` output of a plan, with the top-level attributes it touches."""
    diffs = []
    for change in plan.get("resource_changes", []):
        actions = tuple(change["change"]["actions"])
        if actions in (("no-op",), ("read",)):
            continue
        before = change["change"].get("before") or {}
        after = change["change"].get("after") or {}
        unknown = change["change"].get("after_unknown") or {}
        touched = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
        touched |= {key for key, value in unknown.items() if _holds_unknown(value)}
        detail = "; ".join(f"{k}: {json.dumps(before.get(k))} → {json.dumps(after.get(k, '(known after apply)'))}" for k in sorted(touched))
        diffs.append(Diff(change["address"], actions, frozenset(touched), detail[:1500]))
    for name, change in plan.get("output_changes", {}).items():
        if tuple(change["actions"]) != ("no-op",):
            diffs.append(Diff(f"output.{name}", tuple(change["actions"]), frozenset()))
    return diffs


def _holds_unknown(value) -> bool:
    """``after_unknown`` mirrors the attribute's shape: a block list is ``[{}]`` unless a leaf is True."""
    if isinstance(value, dict):
        return any(_holds_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_unknown(v) for v in value)
    return value is True


def unexplained_diffs(diffs: list[Diff], known: list[KnownDiff]) -> list[Diff]:
    return [d for d in diffs if not any(k.accepts(d) for k in known)]


def stale_known_diffs(known: list[KnownDiff], applied: set[str], diffs: list[Diff]) -> list[KnownDiff]:
    """Entries whose resource was applied yet showed no diff: the gap is gone and the entry must go too."""
    return [
        k
        for k in known
        if any(fnmatch.fnmatchcase(address, k.resource) for address in applied) and not any(k.accepts(d) for d in diffs)
    ]


# ---------------------------------------------------------------- the emulator


# Straight to the emulator, whatever proxy the caller's environment names.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_refusing_port() -> socket.socket:
    """A loopback port that is bound but never listens: every connection to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _put_public_parameter(region: str, name: str, value: str) -> None:
    """Store an AWS-owned (``/aws/service/...``) parameter in the in-process emulator's SSM backend.

    moto refuses PutParameter under /aws/ as AWS does; its own catalogue is loaded the same way.
    Reaches into moto's internals, which the pinned moto version (pyproject) keeps stable.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ssm.models import Parameter, ssm_backends

    parameters = ssm_backends[DEFAULT_ACCOUNT_ID][region]._parameters
    parameters[name].append(
        Parameter(
            account_id=DEFAULT_ACCOUNT_ID,
            name=name,
            value=value,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=time.time(),
            version=1,
            data_type="aws:ec2:image",
        )
    )


@dataclass
class Emulator:
    """moto's server on a free 127.0.0.1 port; ``endpoint``, ``client(service)``, ``terraform_env()``."""

    region: str
    endpoint: str = ""
    _server: object = None
    _fence: socket.socket | None = None

    @contextmanager
    def running(self) -> Iterator["Emulator"]:
        from moto.server import ThreadedMotoServer

        # IAM's backend reads this when it is created: AWS-managed policy ARNs exist only with it.
        previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        self._fence = _free_refusing_port()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        try:
            # moto's backends are process-wide: a server started earlier in this process left its state.
            _direct.open(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10)
            yield self
        finally:
            self._server.stop()
            self._fence.close()
            if previous is None:
                os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
            else:
                os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous

    @property
    def fence(self) -> str:
        return "http://127.0.0.1:%d" % self._fence.getsockname()[1]

    def terraform_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            **FAKE_CREDENTIALS,
            "HTTPS_PROXY": self.fence,
            "HTTP_PROXY": self.fence,
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )


# ---------------------------------------------------------------- what the emulator holds


def _names(key: str, attribute: str, keep: Callable[[dict], bool] = lambda _: True) -> Callable[[dict], list[str]]:
    return lambda response: [str(item[attribute]) for item in response.get(key, []) if keep(item)]


#: (service, call, arguments, names of what the response holds). Defaults moto creates itself (the
#: default VPC and its parts, default parameter groups, AWS-managed keys) are not ours and are left out.
INVENTORY: tuple[tuple[str, str, dict, Callable[[dict], list[str]]], ...] = (
    ("ec2", "describe_vpcs", {"Filters": [{"Name": "is-default", "Values": ["false"]}]}, _names("Vpcs", "VpcId")),
    ("ec2", "describe_subnets", {"Filters": [{"Name": "default-for-az", "Values": ["false"]}]}, _names("Subnets", "SubnetId")),
    ("ec2", "describe_nat_gateways", {}, _names("NatGateways", "NatGatewayId", lambda g: g["State"] not in ("deleted", "deleting"))),
    ("ec2", "describe_addresses", {}, _names("Addresses", "AllocationId")),
    ("ec2", "describe_vpc_endpoints", {}, _names("VpcEndpoints", "VpcEndpointId", lambda e: e["State"].lower() != "deleted")),
    ("ec2", "describe_flow_logs", {}, _names("FlowLogs", "FlowLogId")),
    ("ec2", "describe_launch_templates", {}, _names("LaunchTemplates", "LaunchTemplateName")),
    ("ec2", "describe_instances", {"Filters": [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]},
     lambda r: [i["InstanceId"] for reservation in r["Reservations"] for i in reservation["Instances"]]),
    ("ec2", "describe_security_groups", {}, _names("SecurityGroups", "GroupId", lambda g: g["GroupName"] != "default")),
    ("ec2", "describe_internet_gateways", {}, _names("InternetGateways", "InternetGatewayId")),
    ("ec2", "describe_route_tables", {}, _names("RouteTables", "RouteTableId", lambda t: not any(a.get("Main") for a in t["Associations"]))),
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
    ("rds", "describe_db_parameter_groups", {}, _names("DBParameterGroups", "DBParameterGroupName", lambda g: not g["DBParameterGroupName"].startswith("default."))),
    ("elasticache", "describe_replication_groups", {}, _names("ReplicationGroups", "ReplicationGroupId")),
    ("elasticache", "describe_cache_clusters", {}, _names("CacheClusters", "CacheClusterId")),
    ("elasticache", "describe_cache_subnet_groups", {}, _names("CacheSubnetGroups", "CacheSubnetGroupName", lambda g: g["CacheSubnetGroupName"] != "default")),
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
    aws_managed = {a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/aws/")}
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


# ---------------------------------------------------------------- facts after apply


def network_facts(config: EnvironmentConfig, emulator: Emulator) -> list[str]:
    """The VPC, a subnet per tier and zone with the planned CIDRs, the NAT gateways, flow logs on."""
    ec2 = emulator.client("ec2")
    network = config.network
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [config.prefix]}])["Vpcs"]
    if len(vpcs) != 1 or vpcs[0]["CidrBlock"] != str(network.vpc_cidr):
        return [f"expected one VPC {config.prefix} with {network.vpc_cidr}, found {[(v['VpcId'], v['CidrBlock']) for v in vpcs]}"]
    vpc_id = vpcs[0]["VpcId"]
    problems = []
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    for tier in ("public", "app", "data"):
        held = sorted(
            (s["AvailabilityZone"], s["CidrBlock"])
            for s in subnets
            if {"Key": "Tier", "Value": tier} in s.get("Tags", [])
        )
        planned = sorted(zip(config.availability_zones, map(str, network.subnets.tier(tier))))
        if held != planned:
            problems.append(f"{tier} subnets: expected {planned}, found {held}")
    public_ids = {s["SubnetId"] for s in subnets if {"Key": "Tier", "Value": "public"} in s.get("Tags", [])}
    gateways = ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "state", "Values": ["available"]}])["NatGateways"]
    expected_gateways = network.az_count if network.nat_mode == "per-az" else 1
    if len(gateways) != expected_gateways or not all(g["SubnetId"] in public_ids for g in gateways):
        problems.append(f"expected {expected_gateways} available NAT gateway(s) in public subnets, found {[(g['NatGatewayId'], g['SubnetId']) for g in gateways]}")
    # DeliverLogsStatus is not checked: moto marks it FAILED whenever the destination is given as an
    # ARN (it only looks the group up by name), though the group exists.
    group = f"/vpc/{config.prefix}/flow-logs"
    flow_logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    if not any(
        f["FlowLogStatus"] == "ACTIVE" and f["TrafficType"] == "ALL" and f.get("LogDestination", "").endswith(f":log-group:{group}")
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
    name = config.prefix
    subnet_group = emulator.client("rds").describe_db_subnet_groups(DBSubnetGroupName=f"{name}-data")["DBSubnetGroups"][0]
    if len(subnet_group["Subnets"]) != config.network.az_count:
        problems.append(f"DB subnet group spans {len(subnet_group['Subnets'])} subnets, expected {config.network.az_count}")
    token = emulator.client("secretsmanager").get_secret_value(SecretId=f"{name}/redis/auth-token")["SecretString"]
    if not (len(token) == 64 and token.isalnum()):
        problems.append(f"Redis AUTH token is not 64 letters and digits ({len(token)} characters)")
    secrets = emulator.client("secretsmanager")
    stages = secrets.describe_secret(SecretId=f"{name}/mysql/app-user").get("VersionIdsToStages", {})
    if stages:
        # Its value is `migrate app-user`'s to write: a version from Terraform would put a password in state.
        problems.append(f"the app user secret has versions straight after apply: {stages}")
    if config.database.create_instance:
        db = emulator.client("rds").describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
        if db["DBInstanceStatus"] != "available" or not db["StorageEncrypted"] or db["PubliclyAccessible"]:
            problems.append(f"RDS {name}: status {db['DBInstanceStatus']}, encrypted {db['StorageEncrypted']}, public {db['PubliclyAccessible']}")
    if config.database.proxy:
        problems += _proxy_facts(config, emulator)
    if config.cache.create_replication_group:
        group = emulator.client("elasticache").describe_replication_groups(ReplicationGroupId=name)["ReplicationGroups"][0]
        if group["Status"] != "available" or not group.get("TransitEncryptionEnabled"):
            problems.append(f"replication group {name}: status {group['Status']}, TLS {group.get('TransitEncryptionEnabled')}")
    return problems


def _proxy_facts(config: EnvironmentConfig, emulator: Emulator) -> list[str]:
    """RDS Proxy available, TLS required, logging in with the app user secret, its target the instance."""
    rds, name = emulator.client("rds"), f"{config.prefix}-proxy"
    proxy = rds.describe_db_proxies(DBProxyName=name)["DBProxies"][0]
    problems = []
    secrets = [auth.get("SecretArn", "") for auth in proxy.get("Auth", [])]
    if proxy["Status"] != "available" or not proxy["RequireTLS"] or proxy["EngineFamily"] != "MYSQL":
        problems.append(
            f"RDS Proxy {name}: status {proxy['Status']}, TLS {proxy['RequireTLS']}, engine {proxy['EngineFamily']}"
        )
    if len(secrets) != 1 or f":secret:{config.prefix}/mysql/app-user" not in secrets[0]:
        problems.append(f"RDS Proxy {name} logs in with {secrets}, not the app user secret")
    if config.database.create_instance:
        targets = [t.get("RdsResourceId") for t in rds.describe_db_proxy_targets(DBProxyName=name)["Targets"]]
        if targets != [config.prefix]:
            problems.append(f"RDS Proxy {name} targets {targets}, not the instance {config.prefix}")
    return problems


def app_facts(config: EnvironmentConfig, emulator: Emulator) -> list[str]:
    """ALB active; the ASG's instances InService and healthy, each registered healthy in the target group."""
    problems = []
    elbv2, name = emulator.client("elbv2"), config.prefix
    balancer = elbv2.describe_load_balancers(Names=[f"{name}-alb"])["LoadBalancers"][0]
    if balancer["State"]["Code"] != "active":
        problems.append(f"ALB {name}-alb is {balancer['State']}")
    group = emulator.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[f"{name}-app"])["AutoScalingGroups"][0]
    in_service = {i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"}
    if len(in_service) != config.app.desired_capacity:
        problems.append(f"ASG {name}-app: {len(in_service)} healthy InService instances, expected {config.app.desired_capacity}: {group['Instances']}")
    target_group = elbv2.describe_target_groups(Names=[f"{name}-app"])["TargetGroups"][0]
    if target_group["TargetGroupArn"] not in group["TargetGroupARNs"]:
        problems.append(f"ASG {name}-app is not attached to target group {name}-app")
    health = elbv2.describe_target_health(TargetGroupArn=target_group["TargetGroupArn"])["TargetHealthDescriptions"]
    healthy = {t["Target"]["Id"] for t in health if t["TargetHealth"]["State"] == "healthy"}
    if not in_service or healthy != in_service:
        problems.append(f"target group {name}-app: healthy targets {sorted(healthy)}, ASG instances {sorted(in_service)}")
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    if 80 not in {listener["Port"] for listener in listeners}:
        problems.append(f"ALB {name}-alb has no listener on 80: {[listener['Port'] for listener in listeners]}")
    if config.waf.enabled:
        problems += web_acl_facts(config, emulator, balancer["LoadBalancerArn"])
    return problems


def web_acl_facts(config: EnvironmentConfig, emulator: Emulator, balancer_arn: str) -> list[str]:
    """The ALB's web ACL is ours, with the planned rules in priority order, logging with credentials redacted."""
    from infra.waf_rules import LOG_GROUP_PREFIX, REDACTED_HEADERS, web_acl_rules

    wafv2, name = emulator.client("wafv2"), f"{config.prefix}-alb"
    web_acl = wafv2.get_web_acl_for_resource(ResourceArn=balancer_arn).get("WebACL")
    if not web_acl or web_acl["Name"] != name:
        return [f"ALB {config.prefix}-alb: web ACL {web_acl and web_acl['Name']!r}, expected {name!r}"]
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
    topic = f":{config.prefix}-alarms"
    problems = []
    if {a["AlarmName"] for a in alarms} != expected:
        problems.append(f"alarms: expected {sorted(expected)}, found {sorted(a['AlarmName'] for a in alarms)}")
    silent = [a["AlarmName"] for a in alarms if not any(action.endswith(topic) for action in a["AlarmActions"])]
    if silent:
        problems.append(f"alarms that notify no {config.prefix}-alarms topic: {silent}")
    return problems


#: Stack kind → the facts checked through boto3 once every stack is applied.
FACTS: dict[str, Callable[[EnvironmentConfig, Emulator], list[str]]] = {
    "network": network_facts,
    "data": data_facts,
    "app": app_facts,
    "monitoring": monitoring_facts,
}


# ---------------------------------------------------------------- the cycle


def state_resources(stack: Stack) -> dict[str, dict]:
    """Managed resource address → attributes, read from the stack's local state (no provider start)."""
    path = stack.directory / stack.state_file
    state = json.loads(path.read_text()) if path.is_file() else {}
    held = {}
    for resource in state.get("resources", []):
        if resource["mode"] != "managed":
            continue
        for instance in resource["instances"]:
            key = instance.get("index_key")
            suffix = "" if key is None else f"[{json.dumps(key)}]"
            held[f"{resource['type']}.{resource['name']}{suffix}"] = instance["attributes"]
    return held


@dataclass
class Report:
    """Everything a rehearsal found. ``ok`` when nothing unexpected happened."""

    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    resources: dict[str, int] = field(default_factory=dict)
    accepted_diffs: list[tuple[str, Diff]] = field(default_factory=list)
    unexplained_diffs: list[tuple[str, Diff]] = field(default_factory=list)
    stale_known_diffs: list[KnownDiff] = field(default_factory=list)
    fact_problems: list[str] = field(default_factory=list)
    order_problems: list[str] = field(default_factory=list)
    leftovers: dict[str, list[str]] = field(default_factory=dict)
    abandoned: list[str] = field(default_factory=list)
    seeded: list[str] = field(default_factory=list)
    #: ``leftovers`` key → names that are not ours to delete (seeded) or that moto cannot (abandoned).
    expected: dict[str, set[str]] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.unexplained_diffs or self.stale_known_diffs or self.fact_problems or self.order_problems or self.leftovers)

    def problems(self) -> list[str]:
        return [
            *(f"{stack}: unexplained second-plan diff {diff}\n    {diff.detail}" for stack, diff in self.unexplained_diffs),
            *(f"stale entry in {KNOWN_DIFFS_FILE.name}: {k.resource} applied without a diff" for k in self.stale_known_diffs),
            *self.fact_problems,
            *self.order_problems,
            *(f"left behind ({call}): {', '.join(names)}" for call, names in self.leftovers.items()),
        ]


class Rehearsal:
    """One environment's stacks, one emulator: ``run()`` is init → plan → apply → re-plan → facts → destroy."""

    def __init__(
        self,
        config: EnvironmentConfig,
        outdir: Path,
        terraform: OfflineTerraform,
        emulator: Emulator,
        *,
        known_diffs: list[KnownDiff] | None = None,
        log: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.config = config
        self.stacks = apply_order(read_manifest(outdir))
        self.terraform = terraform
        self.emulator = emulator
        self.known = load_known_diffs() if known_diffs is None else known_diffs
        self.log = log
        self.report = Report()

    def run(self) -> Report:
        started = time.monotonic()
        destroy = list(reversed(self.stacks))
        self.report.order_problems = destroy_order_problems(destroy)
        self.report.seconds = {stack.name: {} for stack in self.stacks}  # the report lists them in apply order
        write_overrides(self.stacks, self.config.region)
        self._seed()
        for stack in self.stacks:
            # One at a time: terraform's shared plugin cache is not safe for concurrent inits.
            self._step(stack, "init", "init")
        for stack in self.stacks:
            # apply plans first; a separate `plan -out` would load the provider's schema once more.
            self._step(stack, "apply", "apply", "-auto-approve")
        self._replan()
        for kind, check in FACTS.items():
            if any(s.name == self.config.stack_name(kind) for s in self.stacks):
                self.report.fact_problems += [f"{kind}: {p}" for p in check(self.config, self.emulator)]
        for stack in destroy:
            self._teardown(stack)
        self.report.leftovers = self.left_behind()
        self.report.wall_seconds = time.monotonic() - started
        return self.report

    def left_behind(self) -> dict[str, list[str]]:
        """What the emulator holds beyond what was seeded or knowingly abandoned."""
        found = {}
        for call, names in leftovers(self.emulator).items():
            names = [n for n in names if n not in self.report.expected.get(call, ())]
            if names:
                found[call] = names
        return found

    def _replan(self) -> None:
        """Second plan of every stack once all are applied, so a later stack's drift on an earlier one shows.

        Each terraform call spends seconds loading the provider's schema, and plans of different
        stacks do not depend on one another, so they overlap."""

        def replan(stack: Stack) -> list[tuple[str, Diff]]:
            result = self._step(stack, "replan", "plan", "-detailed-exitcode", f"-out={PLAN_FILE}", ok=(0, 2))
            if result.returncode == 0:
                return []
            shown = self.terraform.run(stack.directory, "show", "-json", PLAN_FILE)
            return [(stack.name, d) for d in plan_diffs(json.loads(shown.stdout))]

        diffs = [diff for found in self._each(replan) for diff in found]
        applied: set[str] = set()
        for stack in self.stacks:
            held = state_resources(stack)
            applied |= set(held)
            self.report.resources[stack.name] = len(held)
        for stack_name, diff in diffs:
            bucket = self.report.unexplained_diffs if unexplained_diffs([diff], self.known) else self.report.accepted_diffs
            bucket.append((stack_name, diff))
        self.report.stale_known_diffs = stale_known_diffs(self.known, applied, [d for _, d in diffs])

    def _seed(self) -> None:
        """What a real account has before the first deploy: the hosted zone, AWS's public AMI parameters."""
        route53 = self.emulator.client("route53")
        for zone in seeded_zones(self.stacks):
            route53.create_hosted_zone(Name=zone, CallerReference=f"rehearsal-{zone}")
            self.report.seeded.append(f"hosted zone {zone}")
            self.report.expected.setdefault("route53.list_hosted_zones", set()).add(zone.rstrip(".") + ".")
        parameters = seeded_image_parameters(self.stacks)
        if parameters:
            ssm = self.emulator.client("ssm")
            image = self.emulator.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            for name in parameters:
                if not ssm.get_parameters(Names=[name])["Parameters"]:
                    # Under /aws/ moto refuses PutParameter, so the seed goes in through the backend.
                    _put_public_parameter(self.emulator.region, name, image)
                    self.report.seeded.append(f"parameter {name} = {image}")
                    self.report.expected.setdefault("ssm.describe_parameters", set()).add(name)

    def _each(self, step: Callable[[Stack], object]) -> list:
        with ThreadPoolExecutor(max_workers=len(self.stacks)) as pool:
            return list(pool.map(step, self.stacks))

    def _teardown(self, stack: Stack) -> None:
        """destroy, after the documented workarounds: protection lifted, undeletable resources abandoned."""
        override = teardown_override(stack.body())
        if override:
            (stack.directory / TEARDOWN_OVERRIDE_FILE).write_text(json.dumps(override, indent=2) + "\n")
            self._step(stack, "unprotect", "apply", "-auto-approve")
        for address, attributes in state_resources(stack).items():
            call = ABANDONED_TYPES.get(address.split(".")[0])
            if call:
                self._step(stack, "abandon", "state", "rm", address)
                name = attributes.get("name") or attributes["id"]
                self.report.abandoned.append(f"{address} ({name})")
                self.report.expected.setdefault(call, set()).add(name)
        # The second plan refreshed every resource moments ago; a destroy-time refresh would repeat it.
        self._step(stack, "destroy", "destroy", "-auto-approve", "-refresh=false")

    def _step(self, stack: Stack, step: str, *args: str, ok: tuple[int, ...] = (0,)):
        began = time.monotonic()
        result = self.terraform.run(stack.directory, *args, extra_env=self.emulator.terraform_env(), timeout=900)
        elapsed = time.monotonic() - began
        self.report.seconds.setdefault(stack.name, {})[step] = elapsed
        self.log(f"{stack.name}: {step} {elapsed:.1f}s (exit {result.returncode})")
        if result.returncode not in ok:
            raise RehearsalFailed(f"{stack.name}: terraform {step} failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}")
        return result


# ---------------------------------------------------------------- `infra rehearse`

#: Plugin cache and CLI config kept between manual runs (``.tools/`` is ignored by git).
TERRAFORM_HOME = ROOT / ".tools" / "terraform"


def format_report(report: Report, known: list[KnownDiff]) -> list[str]:
    steps = ("init", "apply", "replan", "unprotect", "destroy")
    rows = [("stack", "resources", *steps)]
    rows += [
        (name, str(report.resources.get(name, "-")), *(f"{seconds.get(step, 0):.1f}s" for step in steps))
        for name, seconds in report.seconds.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    reasons = {id(k): " ".join(k.reason.split()) for k in known}
    for stack, diff in report.accepted_diffs:
        why = next(reasons[id(k)] for k in known if k.accepts(diff))
        lines.append(f"known emulator diff, {stack}: {diff} — {why}")
    lines += [f"seeded (a real account has it): {seed}" for seed in report.seeded]
    lines += [f"abandoned in the emulator (removed from state before destroy): {name}" for name in report.abandoned]
    lines += [f"PROBLEM: {problem}" for problem in report.problems()]
    lines.append(f"rehearsal {'passed' if report.ok else 'FAILED'} in {report.wall_seconds:.0f}s; left behind: {report.leftovers or 'nothing'}")
    return lines


def rehearse_environment(config: EnvironmentConfig, *, echo: Callable[[str], None]) -> int:
    """Synthesize ``config`` into a scratch directory and rehearse it; 0 when the report is clean."""
    import logging
    import tempfile

    from infra.app import synth

    # werkzeug logs every request moto serves; the report is what matters.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    terraform = OfflineTerraform.create(TERRAFORM_HOME)
    known = load_known_diffs()
    with tempfile.TemporaryDirectory(prefix=f"rehearsal-{config.name}-") as scratch:
        outdir = Path(scratch) / "cdktf.out"
        began = time.monotonic()
        synth(config, outdir)
        used = engine.current()
        echo(f"{config.name}: synthesized by {used.name} {used.version()} in {time.monotonic() - began:.1f}s")
        with Emulator(region=config.region).running() as emulator:
            rehearsal = Rehearsal(config, outdir, terraform, emulator, known_diffs=known, log=echo)
            try:
                report = rehearsal.run()
            except RehearsalFailed as exc:
                echo(f"FAILED: {exc}")
                echo(f"left behind: {rehearsal.left_behind() or 'nothing'}")
                return 1
    for line in format_report(report, known):
        echo(line)
    return 0 if report.ok else 1
