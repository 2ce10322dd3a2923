"""Tier 1 for `<project>-<env>-app`: assertions per environment, one extra synth for the toggles no
shipped environment turns on (certificate, request-count policy, stickiness, S3 artifact), and policy
checks that are shown to fail on a mutated stack."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
import shutil

import pytest

from bootstrap.user_data import render_script
from infra.app import synth
from infra.boot import app_boot
from infra.checkov_scan import CheckovUnavailable, checkov_binary, scan
from infra.config import load_environment
from infra.constructs.fleet import UBUNTU_AMI_PARAMETER
from infra.terraform_cli import OfflineTerraform, TerraformUnavailable
from tests.conftest import missing
from tests.infra.assertions import only_item, only_resource, resources_of_type
from tests.infra.conftest import Synth
from tests.infra.variants import EDGE, ENVIRONMENTS, changed, variant_config

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
ARTIFACT = "s3://duewin-builds/backend.tar.gz"
ANYWHERE = "0.0.0.0/0"
#: The data stack's output naming the app user secret, as the app stack reads it.
APP_USER_SECRET_OUTPUT = "cross-stack-output-aws_secretsmanager_secretapp-user-secret_50DE1475arn"


def _statements(stack: dict) -> list[dict]:
    documents = resources_of_type(stack, "aws_iam_policy_document", block="data")
    return [s for doc in documents.values() for s in doc.get("statement", [])]


@pytest.fixture(scope="module")
def toggled(tmp_path_factory):
    """prod with everything optional switched on, synthesized once."""
    config = changed(
        load_environment("prod"),
        {
            "dns": {"certificate_arn": CERTIFICATE},
            "app": {"requests_per_target": 1000, "repository": None, "artifact": ARTIFACT, "ssh_key_name": "ops-key"},
            "load_balancer": {"stickiness": True},
        },
    )
    outdir = tmp_path_factory.mktemp("synth-prod-toggled")
    synth(config, outdir)
    return config, Synth("prod", outdir)


# --- load balancer ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alb_is_public_hardened_and_logs_to_its_bucket(synthesized, env):
    config = load_environment(env).load_balancer
    synth = synthesized(env)
    alb = only_resource(synth.resources("app", "aws_lb"))
    assert alb["internal"] is False and alb["load_balancer_type"] == "application"
    assert alb["drop_invalid_header_fields"] is True
    assert alb["idle_timeout"] == config.idle_timeout_seconds >= 60
    assert alb["enable_deletion_protection"] is config.deletion_protection
    assert alb["enable_deletion_protection"] is (env == "prod")
    assert all("public" in s for s in alb["subnets"]), alb["subnets"]
    assert alb["access_logs"]["enabled"] is True and "aws_s3_bucket" in alb["access_logs"]["bucket"]
    assert any("aws_s3_bucket_policy" in d for d in alb["depends_on"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_access_log_bucket_is_private_encrypted_expiring_and_writable_by_elb_only(synthesized, env):
    synth = synthesized(env)
    block = only_resource(synth.resources("app", "aws_s3_bucket_public_access_block"))
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    sse = only_resource(synth.resources("app", "aws_s3_bucket_server_side_encryption_configuration"))
    assert sse["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "AES256"
    (rule,) = only_resource(synth.resources("app", "aws_s3_bucket_lifecycle_configuration"))["rule"]
    assert rule["status"] == "Enabled"
    assert rule["expiration"][0]["days"] == load_environment(env).load_balancer.access_log_retention_days
    statements = {
        s["sid"]: s for s in _statements(synth.stack("app")) if s.get("sid") in ("ElbWritesAccessLogs", "DenyPlainHttp")
    }
    (writer,) = statements["ElbWritesAccessLogs"]["principals"][0]["identifiers"]
    assert writer.startswith("${data.aws_elb_service_account.")
    assert re.search(
        r"/alb/AWSLogs/\$\{data\.aws_caller_identity\.\S+\.account_id\}/\*$",
        statements["ElbWritesAccessLogs"]["resources"][0],
    )
    assert statements["ElbWritesAccessLogs"]["actions"] == ["s3:PutObject"]
    assert statements["DenyPlainHttp"]["effect"] == "Deny"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_without_certificate_http_forwards_and_only_port_80_is_open(synthesized, env):
    synth = synthesized(env)
    assert load_environment(env).dns.certificate_arn is None
    listener = only_resource(synth.resources("app", "aws_lb_listener"))
    assert (listener["port"], listener["protocol"]) == (80, "HTTP")
    assert listener["default_action"][0]["type"] == "forward"
    assert _open_ingress(synth.stack("app")) == {("load-balancer_sg", 80)}


def test_with_certificate_https_uses_tls13_and_http_redirects(toggled):
    config, synth = toggled
    listeners = {listener["port"]: listener for listener in synth.resources("app", "aws_lb_listener").values()}
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["protocol"] == "HTTPS" and https["certificate_arn"] == CERTIFICATE
    assert https["ssl_policy"] == config.load_balancer.ssl_policy and "TLS13" in https["ssl_policy"]
    assert https["default_action"][0]["type"] == "forward"
    redirect = listeners[80]["default_action"][0]
    assert redirect["type"] == "redirect"
    assert redirect["redirect"] == {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}
    assert _open_ingress(synth.stack("app")) == {("load-balancer_sg", 80), ("load-balancer_sg", 443)}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_target_group_health_checks_the_app_port(synthesized, env):
    config = load_environment(env)
    group = only_resource(synthesized(env).resources("app", "aws_lb_target_group"))
    lb = config.load_balancer
    assert (group["port"], group["protocol"], group["target_type"]) == (3000, "HTTP", "instance")
    assert group["deregistration_delay"] == str(lb.deregistration_delay_seconds)
    check = group["health_check"]
    assert (check["path"], check["matcher"], check["port"]) == ("/health", lb.health_check_matcher, "traffic-port")
    assert (check["interval"], check["timeout"]) == (lb.health_check_interval_seconds, lb.health_check_timeout_seconds)
    assert (check["healthy_threshold"], check["unhealthy_threshold"]) == (lb.healthy_threshold, lb.unhealthy_threshold)
    # Socket.IO's polling transport (no Redis adapter in duewin) needs every request of a session on one host.
    assert group["stickiness"] == {
        "type": "lb_cookie",
        "enabled": True,
        "cookie_duration": lb.stickiness_duration_seconds,
    }


def test_ssh_key_is_optional_and_opens_no_port(toggled):
    # GIVEN a key pair configured THEN instances get it, and still nothing admits port 22 (use Session Manager).
    _, synth = toggled
    assert only_resource(synth.resources("app", "aws_launch_template"))["key_name"] == "ops-key"
    assert _app_port_sources(synth.stack("app"), 22) == []
    assert all(port != 22 for _, port in _open_ingress(synth.stack("app")))


def test_toggled_stack_validates_and_needs_none_of_the_plain_http_skips(toggled, tmp_path):
    # The tiers cover shipped environments only; this covers the HTTPS path none of them takes yet.
    _, synth = toggled
    try:
        terraform = OfflineTerraform.create(tmp_path / "terraform-home")
        checkov_binary()
    except (TerraformUnavailable, CheckovUnavailable) as exc:
        missing(str(exc))
    workdir = tmp_path / "app"
    shutil.copytree(synth.stack_dir("app"), workdir)
    result = terraform.validate(workdir)
    assert result.returncode == 0 and json.loads(result.stdout)["valid"] is True, (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
    findings = scan(synth.outdir, "prod")
    assert findings.unexplained == []
    plain_http = {"CKV_AWS_2", "CKV_AWS_103", "CKV2_AWS_20"}
    assert not [f for f, _ in findings.accepted if f.check_id in plain_http and f.stack.endswith("-app")]


def test_stickiness_follows_config(toggled):
    group = only_resource(toggled[1].resources("app", "aws_lb_target_group"))
    assert group["stickiness"] == {"type": "lb_cookie", "enabled": True, "cookie_duration": 86400}


# --- fleet --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_launch_template_boots_ubuntu_lts_hardened(synthesized, env):
    config = load_environment(env)
    synth = synthesized(env)
    template = only_resource(synth.resources("app", "aws_launch_template"))
    ami = only_resource(synth.data("app", "aws_ssm_parameter"))
    assert ami["name"] == UBUNTU_AMI_PARAMETER and "aws_ssm_parameter" in template["image_id"]
    assert template["instance_type"] == config.app.instance_type
    assert template["metadata_options"] == {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": 1,
        "instance_metadata_tags": "enabled",
    }
    assert template["monitoring"] == {"enabled": True}
    (root,) = template["block_device_mappings"]
    assert root["ebs"] == {
        "volume_size": config.app.root_volume_gb,
        "volume_type": "gp3",
        "encrypted": "true",
        "delete_on_termination": "true",
    }
    assert "key_name" not in template
    (group,) = template["vpc_security_group_ids"]
    assert "terraform_remote_state" in group and "app-sg" in group
    assert "aws_iam_instance_profile" in template["iam_instance_profile"]["arn"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_user_data_is_the_rendered_bootstrap_and_references_travel_as_tags(synthesized, env):
    config = load_environment(env)
    template = only_resource(synthesized(env).resources("app", "aws_launch_template"))
    script = gzip.decompress(base64.b64decode(template["user_data"])).decode()
    assert script == render_script(app_boot(config))
    tags = next(t["tags"] for t in template["tag_specifications"] if t["resource_type"] == "instance")
    # Endpoints and secret ARNs are references to the data stack, never literals.
    for key in (
        "bootstrap:db-host",
        "bootstrap:db-secret-arn",
        "bootstrap:redis-host",
        "bootstrap:redis-auth-secret-arn",
    ):
        assert "terraform_remote_state" in tags[key], (key, tags[key])
    # The database login is the app user's; the host the instance itself (no RDS Proxy by default).
    assert tags["bootstrap:db-secret-arn"].endswith(f"{APP_USER_SECRET_OUTPUT}}}")
    assert tags["bootstrap:db-host"].endswith("cross-stack-output-aws_db_instancedatabase_instance_D7FC2283address}")


def test_behind_rds_proxy_the_instances_connect_to_the_proxy(synthesized):
    template = only_resource(synthesized(EDGE).resources("app", "aws_launch_template"))
    tags = next(t["tags"] for t in template["tag_specifications"] if t["resource_type"] == "instance")
    assert tags["bootstrap:db-host"].endswith("cross-stack-output-aws_db_proxyproxy_5B0EBCF1endpoint}")
    assert tags["bootstrap:db-secret-arn"].endswith(f"{APP_USER_SECRET_OUTPUT}}}")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_auto_scaling_group_spans_app_subnets_and_leaves_desired_to_the_scaler(synthesized, env):
    config = load_environment(env).app
    synth = synthesized(env)
    group = only_resource(synth.resources("app", "aws_autoscaling_group"))
    assert (group["min_size"], group["max_size"], group["desired_capacity"]) == (
        config.min_size,
        config.max_size,
        config.desired_capacity,
    )
    assert len(group["vpc_zone_identifier"]) == load_environment(env).network.az_count
    assert all("_app-" in s for s in group["vpc_zone_identifier"]), group["vpc_zone_identifier"]
    assert (
        group["health_check_type"] == "ELB" and group["health_check_grace_period"] == config.health_check_grace_seconds
    )
    target_group, _ = only_item(synth.resources("app", "aws_lb_target_group"))
    assert group["target_group_arns"] == [f"${{aws_lb_target_group.{target_group}.arn}}"]
    assert group["lifecycle"]["ignore_changes"] == ["desired_capacity"]
    assert group["instance_refresh"]["strategy"] == "Rolling"
    assert group["instance_refresh"]["preferences"]["min_healthy_percentage"] == 100
    assert group["launch_template"]["version"].endswith(".latest_version}")
    tags = {t["key"]: t for t in group["tag"]}
    assert tags["Environment"]["value"] == env and all(t["propagate_at_launch"] is True for t in tags.values())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cpu_target_tracking_only_by_default(synthesized, env):
    policy = only_resource(synthesized(env).resources("app", "aws_autoscaling_policy"))
    tracking = policy["target_tracking_configuration"]
    assert policy["policy_type"] == "TargetTrackingScaling"
    assert tracking["predefined_metric_specification"]["predefined_metric_type"] == "ASGAverageCPUUtilization"
    assert tracking["target_value"] == 70


def test_request_count_policy_names_alb_and_target_group(toggled):
    policies = toggled[1].resources("app", "aws_autoscaling_policy").values()
    (requests,) = [p for p in policies if "requests" in p["name"]]
    spec = requests["target_tracking_configuration"]["predefined_metric_specification"]
    assert spec["predefined_metric_type"] == "ALBRequestCountPerTarget"
    assert re.fullmatch(
        r"\$\{aws_lb\.\S+\.arn_suffix\}/\$\{aws_lb_target_group\.\S+\.arn_suffix\}", spec["resource_label"]
    )
    assert requests["target_tracking_configuration"]["target_value"] == 1000


def test_s3_artifact_adds_read_of_that_object_only(synthesized, toggled):
    (fetch,) = [s for s in _statements(toggled[1].stack("app")) if s.get("sid") == "FetchAppArtifact"]
    assert fetch["actions"] == ["s3:GetObject"]
    assert re.fullmatch(
        r"arn:\$\{data\.aws_partition\.\S+\.partition\}:s3:::duewin-builds/backend\.tar\.gz", fetch["resources"][0]
    )
    assert not [s for s in _statements(synthesized("prod").stack("app")) if s.get("sid") == "FetchAppArtifact"]


# --- policies: each checker runs on every environment and is shown to catch a violation -------------------

#: Actions that have no resource to name; for these, and only these, "*" is the most specific resource.
STAR_ONLY_ACTIONS = {
    "cloudwatch:PutMetricData",
    "ec2:DescribeTags",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def _open_ingress(stack: dict) -> set[tuple[str, int]]:
    """(security group construct, port) pairs open to the internet, inline rules and rule resources alike."""
    found = set()
    for rule in resources_of_type(stack, "aws_vpc_security_group_ingress_rule").values():
        if rule.get("cidr_ipv4") == ANYWHERE or rule.get("cidr_ipv6") == "::/0":
            group = re.search(r"aws_security_group\.(\S+?)_[0-9A-F]{8}\.id", rule["security_group_id"])
            found |= {
                (group.group(1) if group else rule["security_group_id"], p)
                for p in range(rule["from_port"], rule["to_port"] + 1)
            }
    for name, group in resources_of_type(stack, "aws_security_group").items():
        for rule in group.get("ingress", []):
            if ANYWHERE in rule.get("cidr_blocks", []):
                found |= {(name, p) for p in range(rule["from_port"], rule["to_port"] + 1)}
    return found


def _imds_v1_allowed(stack: dict) -> list[str]:
    return [
        name
        for name, template in resources_of_type(stack, "aws_launch_template").items()
        if template.get("metadata_options", {}).get("http_tokens") != "required"
        or template["metadata_options"].get("http_put_response_hop_limit", 1) > 1
    ]


def _master_secret_reads(stack: dict, *, besides: str = "cutover-runner_") -> list[str]:
    """Statements that name the RDS-managed master secret, which RDS rotates every 7 days, in any policy
    document but those of ``besides`` (the cutover runner's: loading the dump needs the master login)."""
    documents = resources_of_type(stack, "aws_iam_policy_document", block="data")
    return [
        s.get("sid", "?")
        for key, doc in documents.items()
        if not key.startswith(besides)
        for s in doc.get("statement", [])
        if "master_user_secret" in json.dumps(s)
    ]


def _star_resources(stack: dict) -> list[tuple[str, list[str]]]:
    return [
        (s.get("sid", "?"), s["actions"])
        for s in _statements(stack)
        if s.get("effect", "Allow") == "Allow"
        and "*" in s.get("resources", [])
        and "principals" not in s
        and not set(s["actions"]) <= STAR_ONLY_ACTIONS
    ]


def _app_port_sources(stack: dict, port: int) -> list[str]:
    """What each ingress rule on the app instances' group (the network stack's app-sg) admits on ``port``."""
    return [
        rule.get("referenced_security_group_id")
        or rule.get("cidr_ipv4")
        or rule.get("cidr_ipv6")
        or rule.get("prefix_list_id")
        for rule in resources_of_type(stack, "aws_vpc_security_group_ingress_rule").values()
        if "app-sg" in rule["security_group_id"] and rule.get("from_port", 0) <= port <= rule.get("to_port", 65535)
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_policy_imdsv2_required_everywhere(synthesized, env):
    stack = synthesized(env).stack("app")
    assert only_resource(stack["resource"]["aws_launch_template"]) and _imds_v1_allowed(stack) == []
    mutated = copy.deepcopy(stack)
    only_resource(mutated["resource"]["aws_launch_template"])["metadata_options"]["http_tokens"] = "optional"
    assert _imds_v1_allowed(mutated)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_policy_only_the_alb_is_open_to_the_internet_and_only_on_80_443(synthesized, env):
    synth = synthesized(env)
    for kind in synth.stack_names():
        open_ports = _open_ingress(synth.stack(kind.removeprefix(f"duewin-{env}-")))
        assert open_ports <= {("load-balancer_sg", 80), ("load-balancer_sg", 443)}, (kind, open_ports)
    mutated = copy.deepcopy(synth.stack("app"))
    ssh = copy.deepcopy(next(iter(mutated["resource"]["aws_vpc_security_group_ingress_rule"].values())))
    mutated["resource"]["aws_vpc_security_group_ingress_rule"]["ssh"] = {
        **ssh,
        "from_port": 22,
        "to_port": 22,
        "cidr_ipv4": ANYWHERE,
    }
    assert any(port == 22 for _, port in _open_ingress(mutated))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_policy_app_port_is_reachable_from_the_alb_only(synthesized, env):
    stack = synthesized(env).stack("app")
    sources = _app_port_sources(stack, load_environment(env).app.port)
    assert len(sources) == 1 and re.fullmatch(
        r"\$\{aws_security_group\.load-balancer_sg_[0-9A-F]{8}\.id\}", sources[0]
    ), sources
    # Nothing else reaches the app instances at all (no SSH, no other port).
    assert all(len(_app_port_sources(stack, p)) == 0 for p in (22, 80, 443, 3306, 6379))
    mutated = copy.deepcopy(stack)
    rule = next(
        r
        for r in mutated["resource"]["aws_vpc_security_group_ingress_rule"].values()
        if "app-sg" in r["security_group_id"]
    )
    rule.pop("referenced_security_group_id")
    rule["cidr_ipv4"] = "10.0.0.0/8"
    assert _app_port_sources(mutated, 3000) == ["10.0.0.0/8"]


@pytest.mark.parametrize("env", [*ENVIRONMENTS, EDGE])
def test_policy_iam_names_specific_resources_wherever_one_exists(synthesized, env):
    stack = synthesized(env).stack("app")
    assert _star_resources(stack) == []
    by_sid = {s.get("sid"): s for s in _statements(stack)}
    # The app user secret and the Redis AUTH secret: never the master secret.
    assert sorted(r.rsplit(".outputs.", 1)[1] for r in by_sid["ReadOwnSecrets"]["resources"]) == [
        f"{APP_USER_SECRET_OUTPUT}}}",
        "cross-stack-output-aws_secretsmanager_secretcache_auth-secret_17C4D2DFarn}",
    ]
    assert _master_secret_reads(stack) == []
    outside_runner = [
        (kind, name)
        for block in ("resource", "data")
        for kind, items in stack.get(block, {}).items()
        for name, body in items.items()
        if not name.startswith("cutover-runner") and "master_user_secret" in json.dumps(body)
    ]
    assert outside_runner == []
    # Only the cutover runner, while it exists, may read the master secret; the fleet never does.
    runner_reads = _master_secret_reads(stack, besides="instance-role_")
    assert runner_reads == (["ReadDatabaseSecret"] if variant_config(env).cutover.runner else [])
    reading_master = copy.deepcopy(stack)
    for doc in reading_master["data"]["aws_iam_policy_document"].values():
        for statement in doc.get("statement", []):
            if statement.get("sid") == "ReadOwnSecrets":
                statement["resources"].append("${data.terraform_remote_state.x.outputs.master_user_secret_arn}")
    assert _master_secret_reads(reading_master) == ["ReadOwnSecrets"]
    (key,) = by_sid["DecryptOwnSecrets"]["resources"]
    assert "terraform_remote_state" in key
    # The bootstrap lists /<project>/<env>/app/ recursively: that path and what is below it, nothing wider.
    assert by_sid["ReadOwnParameters"]["actions"] == ["ssm:GetParametersByPath"]
    name = synthesized(env).env
    paths = [r.rsplit(":parameter", 1)[1] for r in by_sid["ReadOwnParameters"]["resources"]]
    assert paths == [f"/duewin/{name}/app", f"/duewin/{name}/app/*"]
    parameter_reads = [s for s in _statements(stack) if any(a.startswith("ssm:GetParameter") for a in s["actions"])]
    assert [s["sid"] for s in parameter_reads] == ["ReadOwnParameters"]
    allowed = [a for s in _statements(stack) if s.get("effect", "Allow") == "Allow" for a in s["actions"]]
    assert not [a for a in allowed if a.endswith(":*") or a == "*"]
    # No managed policy sneaks broader rights in.
    assert not synthesized(env).resources("app", "aws_iam_role_policy_attachment")
    mutated = copy.deepcopy(stack)
    for doc in mutated["data"]["aws_iam_policy_document"].values():
        for statement in doc.get("statement", []):
            if statement.get("sid") == "ReadOwnSecrets":
                statement["resources"] = ["*"]
    assert _star_resources(mutated) == [("ReadOwnSecrets", ["secretsmanager:GetSecretValue"])]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_app_logs_go_to_an_encrypted_group_the_role_may_write(synthesized, env):
    synth = synthesized(env)
    # The web ACL's log group (staging, prod) is WAF's: tests/infra/test_waf.py.
    groups = synth.resources("app", "aws_cloudwatch_log_group").values()
    (group,) = [g for g in groups if g["name"] == f"/duewin/{env}/app"]
    assert group["retention_in_days"] == load_environment(env).app.log_retention_days
    assert "terraform_remote_state" in group["kms_key_id"]
    ship = next(s for s in _statements(synth.stack("app")) if s.get("sid") == "ShipLogs")
    assert all("aws_cloudwatch_log_group" in r for r in ship["resources"])
