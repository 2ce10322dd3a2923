"""The data stack: RDS MySQL and ElastiCache Redis, per environment, plus the policies that must hold
for every stack (nothing public, encrypted at rest and in transit, no secret literal anywhere).

Policy checks are functions over the synthesized JSON; each is shown to fail on a planted violation.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from infra.config import load_environment
from infra.constructs.cache import parameter_group_family as redis_family
from infra.constructs.database import parameter_group_family as mysql_family
from infra.constructs.database import parameters
from infra.secret_scan import secret_literals
from tests.infra.assertions import only_item, only_resource, resources_of_type
from tests.infra.variants import EDGE, ENVIRONMENTS, REPLICATION_SOURCE, changed

ANYWHERE = ("0.0.0.0/0", "::/0")
APP_SG_OUTPUT = "cross-stack-output-aws_security_groupapp-sgid"
#: RDS Proxy's own group (database.proxy): the one other group a data service admits; it admits only the app tier.
PROXY_SG = "${aws_security_group.proxy_access_sg_"
APP_USER_SECRET_ARN = "${aws_secretsmanager_secret.app-user-secret_50DE1475.arn}"
MASTER_SECRET_ARN = "${aws_db_instance.database_instance_D7FC2283.master_user_secret[0].secret_arn}"
PROXY_TYPES = ("aws_db_proxy", "aws_db_proxy_default_target_group", "aws_db_proxy_target", "aws_vpc_endpoint")


# ---------------------------------------------------------------- policies (functions over one stack's JSON)


def policy_violations(body: dict, env: str) -> list[str]:
    """What a data stack must never do. Empty list = compliant."""
    found = []
    for name, db in resources_of_type(body, "aws_db_instance").items():
        if db.get("publicly_accessible") is not False:
            found.append(f"{name}: publicly accessible")
        if db.get("storage_encrypted") is not True:
            found.append(f"{name}: storage not encrypted")
        if "password" in db or db.get("manage_master_user_password") is not True:
            found.append(f"{name}: master password not managed by RDS")
        if env == "prod" and (db.get("deletion_protection") is not True or db.get("skip_final_snapshot") is not False):
            found.append(f"{name}: prod without deletion protection and final snapshot")
    for name, group in resources_of_type(body, "aws_db_parameter_group").items():
        settings = {p["name"]: p["value"] for p in group.get("parameter", [])}
        if settings.get("require_secure_transport") not in ("1", "ON"):
            found.append(f"{name}: MySQL accepts clear-text connections")
    for name, redis in resources_of_type(body, "aws_elasticache_replication_group").items():
        if str(redis.get("at_rest_encryption_enabled")).lower() != "true":
            found.append(f"{name}: Redis not encrypted at rest")
        if redis.get("transit_encryption_enabled") is not True or redis.get("transit_encryption_mode") != "required":
            found.append(f"{name}: Redis accepts clear-text connections")
        if not str(redis.get("auth_token", "")).startswith("${"):
            found.append(f"{name}: Redis AUTH token missing or literal")
    for name, group in resources_of_type(body, "aws_security_group").items():
        for rule in group.get("ingress", []):
            found.append(f"{name}: inline ingress rule {rule}")
    for name, rule in resources_of_type(body, "aws_vpc_security_group_ingress_rule").items():
        source = rule.get("referenced_security_group_id", "")
        if rule.get("cidr_ipv4") in ANYWHERE or rule.get("cidr_ipv6") in ANYWHERE:
            found.append(f"{name}: ingress from anywhere")
        elif APP_SG_OUTPUT not in source and not source.startswith(PROXY_SG):
            found.append(f"{name}: ingress from something other than the app tier")
    groups = resources_of_type(body, "aws_security_group")
    inline = {f"${{aws_security_group.{name}.id}}" for name, group in groups.items() if "egress" in group}
    for name, rule in resources_of_type(body, "aws_vpc_security_group_egress_rule").items():
        if rule["security_group_id"] in inline:
            # Terraform would delete the rule on every apply: an inline list owns the group's egress.
            found.append(f"{name}: an egress rule on a group that lists its egress inline")
    for name, proxy in resources_of_type(body, "aws_db_proxy").items():
        if proxy.get("require_tls") is not True:
            found.append(f"{name}: RDS Proxy accepts clear-text clients")
        if [a.get("secret_arn", "") for a in proxy.get("auth", [])] != [APP_USER_SECRET_ARN]:
            found.append(f"{name}: RDS Proxy logs in with something other than the app user secret")
    return found


@pytest.mark.parametrize("env", [*ENVIRONMENTS, EDGE])
def test_data_stack_meets_every_policy(synthesized, env):
    assert policy_violations(synthesized(env).stack("data"), synthesized(env).env) == []


@pytest.mark.parametrize(
    "resource_type, change, expected",
    [
        ("aws_db_instance", {"publicly_accessible": True}, "publicly accessible"),
        ("aws_db_instance", {"storage_encrypted": False}, "storage not encrypted"),
        ("aws_db_instance", {"deletion_protection": False}, "prod without deletion protection"),
        ("aws_db_instance", {"skip_final_snapshot": True}, "prod without deletion protection"),
        ("aws_db_instance", {"password": "${var.pw}"}, "master password not managed"),
        ("aws_db_parameter_group", {"parameter": []}, "clear-text connections"),
        ("aws_elasticache_replication_group", {"at_rest_encryption_enabled": "false"}, "not encrypted at rest"),
        ("aws_elasticache_replication_group", {"transit_encryption_mode": "preferred"}, "clear-text connections"),
        (
            "aws_elasticache_replication_group",
            {"auth_token": "a-literal-token-of-length"},
            "AUTH token missing or literal",
        ),
        (
            "aws_vpc_security_group_ingress_rule",
            {"cidr_ipv4": "0.0.0.0/0", "referenced_security_group_id": None},
            "from anywhere",
        ),
        ("aws_vpc_security_group_ingress_rule", {"referenced_security_group_id": "sg-0123"}, "other than the app tier"),
        ("aws_security_group", {"ingress": [{"cidr_blocks": ["0.0.0.0/0"]}]}, "inline ingress"),
    ],
)
def test_policy_fails_on_a_planted_violation(synthesized, resource_type, change, expected):
    # GIVEN prod's compliant data stack WHEN one resource is mutated THEN the policy names the violation.
    body = copy.deepcopy(synthesized("prod").stack("data"))
    target = next(iter(body["resource"][resource_type].values()))
    target.update({k: v for k, v in change.items() if v is not None})
    for key in [k for k, v in change.items() if v is None]:
        target.pop(key)
    assert any(expected in violation for violation in policy_violations(body, "prod"))


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"require_tls": False}, "RDS Proxy accepts clear-text clients"),
        ("inline egress", "an egress rule on a group that lists its egress inline"),
        (
            {"auth": [{"auth_scheme": "SECRETS", "secret_arn": MASTER_SECRET_ARN}]},
            "something other than the app user secret",
        ),
    ],
)
def test_proxy_policy_fails_on_a_planted_violation(synthesized, change, expected):
    body = copy.deepcopy(synthesized(EDGE).stack("data"))
    if change == "inline egress":
        only_resource(body["resource"]["aws_security_group"], "proxy_access")["egress"] = []
    else:
        only_resource(body["resource"]["aws_db_proxy"]).update(change)
    assert any(expected in violation for violation in policy_violations(body, "prod"))


# ---------------------------------------------------------------- no secret literal in ANY stack


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_literal_anywhere_in_the_synthesized_output(synthesized, env):
    # Every JSON file the synth wrote: each stack's cdk.tf.json and the manifest.
    files = sorted(synthesized(env).outdir.rglob("*.json"))
    assert len([f for f in files if f.name == "cdk.tf.json"]) == len(synthesized(env).stack_names()) >= 2
    for path in files:
        assert list(secret_literals(json.loads(path.read_text()))) == [], path


def test_secret_scanner_catches_planted_literals(synthesized):
    # GIVEN dev's clean output WHEN literals are planted THEN the scanner names each path.
    body = copy.deepcopy(synthesized("dev").stack("data"))
    db_name, db = only_item(body["resource"]["aws_db_instance"])
    version_name, version = only_item(body["resource"]["aws_secretsmanager_secret_version"])
    db["password"] = "Sup3rSecret!"
    version["secret_string"] = "hunter2hunter2hunter2"
    body["locals"] = {"ci": ["AKIAABCDEFGHIJKLMNOP"]}
    assert sorted(secret_literals(body)) == [
        "locals.ci[0]",
        f"resource.aws_db_instance.{db_name}.password",
        f"resource.aws_secretsmanager_secret_version.{version_name}.secret_string",
    ]


def test_secret_scanner_accepts_references_arns_and_settings():
    body = {
        "auth_token": "${aws_secretsmanager_secret_version.x.secret_string}",
        "master_user_secret_kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/abc",
        "auth_token_update_strategy": "ROTATE",
        "password_length": 64,
        "manage_master_user_password": True,
        "secret_string": "",
        "metadata_options": {"http_tokens": "required"},
        # CDKTF's metadata lists cross-stack output names once another stack (the app's) reads them.
        "//": {
            "outputs": {
                "duewin-dev-data": {"cross-stack-output-x.master_user_secret[0].secret_arn": "cross-stack-output-x"}
            }
        },
    }
    assert list(secret_literals(body)) == []
    assert list(secret_literals({"db_password": "prefix-${var.x}"})) == ["db_password"]


# ---------------------------------------------------------------- RDS MySQL


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_follows_its_environment(synthesized, env):
    config = load_environment(env).database
    db = only_resource(synthesized(env).resources("data", "aws_db_instance"))
    assert db["multi_az"] is config.multi_az
    assert db["deletion_protection"] is config.deletion_protection
    assert db["skip_final_snapshot"] is (not config.final_snapshot)
    assert db.get("final_snapshot_identifier") == (f"duewin-{env}-final" if config.final_snapshot else None)
    assert db["backup_retention_period"] == config.backup_retention_days >= 1
    assert (db["allocated_storage"], db["max_allocated_storage"]) == (
        config.allocated_storage_gb,
        config.max_allocated_storage_gb,
    )
    assert db["max_allocated_storage"] > db["allocated_storage"]
    assert db["instance_class"] == config.instance_class


def test_prod_is_protected_and_dev_is_cheap(synthesized):
    prod, dev = (only_resource(synthesized(env).resources("data", "aws_db_instance")) for env in ("prod", "dev"))
    assert (
        prod["multi_az"],
        prod["deletion_protection"],
        prod["skip_final_snapshot"],
        prod["copy_tags_to_snapshot"],
    ) == (True, True, False, True)
    assert (dev["multi_az"], dev["deletion_protection"], dev["skip_final_snapshot"]) == (False, False, True)
    assert prod["backup_retention_period"] > dev["backup_retention_period"]
    prod_redis = only_resource(synthesized("prod").resources("data", "aws_elasticache_replication_group"))
    dev_redis = only_resource(synthesized("dev").resources("data", "aws_elasticache_replication_group"))
    assert (
        prod_redis["num_cache_clusters"],
        prod_redis["automatic_failover_enabled"],
        prod_redis["multi_az_enabled"],
    ) == (2, True, True)
    assert (
        dev_redis["num_cache_clusters"],
        dev_redis["automatic_failover_enabled"],
        dev_redis["multi_az_enabled"],
    ) == (1, False, False)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_is_private_encrypted_and_its_password_is_rds_managed(synthesized, env):
    synth = synthesized(env)
    db = only_resource(synth.resources("data", "aws_db_instance"))
    keys = synth.resources("data", "aws_kms_key")
    storage_key, _ = only_item(keys, "storage-key")
    secrets_key, _ = only_item(keys, "secrets-key")
    assert db["publicly_accessible"] is False
    assert db["storage_encrypted"] is True and db["storage_type"] == "gp3"
    assert db["kms_key_id"] == f"${{aws_kms_key.{storage_key}.arn}}"
    assert db["manage_master_user_password"] is True and "password" not in db
    assert db["master_user_secret_kms_key_id"] == f"${{aws_kms_key.{secrets_key}.arn}}"
    assert all(key["enable_key_rotation"] is True for key in keys.values())
    subnets = only_resource(synth.resources("data", "aws_db_subnet_group"))
    assert db["db_subnet_group_name"].startswith("${aws_db_subnet_group.")
    assert len(subnets["subnet_ids"]) == load_environment(env).network.az_count
    assert all("vpc_data-" in subnet for subnet in subnets["subnet_ids"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_operations_settings(synthesized, env):
    synth = synthesized(env)
    config = load_environment(env).database
    db = only_resource(synth.resources("data", "aws_db_instance"))
    assert db["auto_minor_version_upgrade"] is True
    assert db["ca_cert_identifier"] == config.ca_cert_identifier
    assert (db["backup_window"], db["maintenance_window"]) == (config.backup_window, config.maintenance_window)
    assert db["enabled_cloudwatch_logs_exports"] == ["error", "slowquery"]
    assert db["performance_insights_enabled"] is config.performance_insights
    assert db["monitoring_interval"] == config.monitoring_interval == 60
    role = only_resource(synth.resources("data", "aws_iam_role"), "monitoring")
    assert "monitoring.rds.amazonaws.com" in str(synth.data("data", "aws_iam_policy_document"))
    assert db["monitoring_role_arn"].startswith("${aws_iam_role.database_monitoring-role")
    assert role["name"] == f"duewin-{env}-rds-monitoring"
    attachment = only_resource(synth.resources("data", "aws_iam_role_policy_attachment"))
    assert attachment["policy_arn"].endswith(":iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")
    # The export log groups exist before the instance, encrypted with the network's log key.
    groups = {g["name"]: g for g in synth.resources("data", "aws_cloudwatch_log_group").values()}
    for log in ("error", "slowquery"):
        group = groups[f"/aws/rds/instance/duewin-{env}/{log}"]
        assert "log-key" in group["kms_key_id"] and group["retention_in_days"] == config.log_retention_days
    assert len([d for d in db["depends_on"] if d.startswith("aws_cloudwatch_log_group.")]) == 2


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_parameter_group_carries_the_settings_the_backend_and_cutover_need(synthesized, env):
    group = only_resource(synthesized(env).resources("data", "aws_db_parameter_group"))
    settings = {p["name"]: p["value"] for p in group["parameter"]}
    assert group["family"] == "mysql8.0" and group["name"] == f"duewin-{env}-mysql8-0"
    assert group["lifecycle"] == {"create_before_destroy": True}
    assert settings["character_set_server"] == "utf8mb4" and settings["collation_server"].startswith("utf8mb4_")
    assert settings["require_secure_transport"] == "1"
    assert settings["log_bin_trust_function_creators"] == "1"
    assert settings["local_infile"] == "1"  # the cutover's fast path (migrate/load_data.py)
    assert settings["slow_query_log"] == "1" and settings["log_output"] == "FILE"
    # 64 MiB: above mysqldump's 24 MB client default and MariaDB's 16 MB server default.
    assert int(settings["max_allowed_packet"]) == 64 * 1024 * 1024
    assert all(isinstance(v, str) for v in settings.values())


def test_pure_helpers():
    assert mysql_family("8.0") == mysql_family("8.0.39") == "mysql8.0"
    assert mysql_family("8.4.3") == "mysql8.4"
    assert redis_family("7.1") == redis_family("7.0") == "redis7"
    assert redis_family("6.2") == "redis6.x"
    config = changed(load_environment("dev").database, {"max_allowed_packet_mb": 256, "slow_query_seconds": 0.5})
    assert parameters(config)["max_allowed_packet"] == str(256 * 1024 * 1024)
    assert parameters(config)["long_query_time"] == "0.5"


# ---------------------------------------------------------------- ElastiCache Redis


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_redis_follows_its_environment(synthesized, env):
    synth = synthesized(env)
    config = load_environment(env).cache
    redis = only_resource(synth.resources("data", "aws_elasticache_replication_group"))
    assert redis["num_cache_clusters"] == 1 + config.replicas
    assert redis["automatic_failover_enabled"] is redis["multi_az_enabled"] is (config.replicas >= 1)
    assert (redis["engine"], redis["engine_version"], redis["node_type"]) == (
        "redis",
        config.engine_version,
        config.node_type,
    )
    assert redis["snapshot_retention_limit"] == config.snapshot_retention_days >= 1
    assert redis["port"] == 6379
    parameter_group = only_resource(synth.resources("data", "aws_elasticache_parameter_group"))
    assert parameter_group["family"] == "redis7"
    # BullMQ's queues break when Redis evicts their keys: every environment refuses writes instead.
    assert parameter_group["parameter"] == [{"name": "maxmemory-policy", "value": "noeviction"}]
    (log_delivery,) = redis["log_delivery_configuration"]
    assert log_delivery == {
        "destination": log_delivery["destination"],
        "destination_type": "cloudwatch-logs",
        "log_format": "json",
        "log_type": "slow-log",
    }
    slow_log = only_resource(synth.resources("data", "aws_cloudwatch_log_group"), "slow-log")
    assert "log-key" in slow_log["kms_key_id"] and slow_log["retention_in_days"] == config.log_retention_days
    assert log_delivery["destination"].startswith("${aws_cloudwatch_log_group.cache_slow-log")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_redis_auth_token_is_generated_by_aws_and_kept_in_secrets_manager(synthesized, env):
    synth = synthesized(env)
    redis = only_resource(synth.resources("data", "aws_elasticache_replication_group"))
    source_name, source = only_item(synth.data("data", "aws_secretsmanager_random_password"))
    version_name, version = only_item(synth.resources("data", "aws_secretsmanager_secret_version"))
    secret = only_resource(synth.resources("data", "aws_secretsmanager_secret"), "auth-secret")
    # THEN the token flows data source → secret version → replication group, all references.
    assert version["secret_string"] == f"${{data.aws_secretsmanager_random_password.{source_name}.random_password}}"
    assert version["lifecycle"] == {"ignore_changes": ["secret_string"]}
    assert redis["auth_token"] == f"${{aws_secretsmanager_secret_version.{version_name}.secret_string}}"
    # ElastiCache: 16–128 printable characters without / " @.
    assert (
        16 <= source["password_length"] <= 128
        and source["exclude_punctuation"] is True
        and source["include_space"] is False
    )
    assert secret["name"] == f"duewin-{env}/redis/auth-token"
    assert secret["recovery_window_in_days"] == load_environment(env).cache.secret_recovery_days
    assert re.fullmatch(r"\$\{aws_kms_key\.secrets-key_\w+\.arn\}", secret["kms_key_id"])
    assert str(redis["at_rest_encryption_enabled"]) == "true" and redis["kms_key_id"].startswith(
        "${aws_kms_key.storage-key"
    )


# ---------------------------------------------------------------- network access


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_app_tier_reaches_mysql_and_redis_on_their_ports(synthesized, env):
    synth = synthesized(env)
    groups = synth.resources("data", "aws_security_group")
    assert sorted(g["name"] for g in groups.values()) == [f"duewin-{env}-mysql", f"duewin-{env}-redis"]
    assert all(g["egress"] == [] and "ingress" not in g for g in groups.values())
    ingress = synth.resources("data", "aws_vpc_security_group_ingress_rule")
    egress = synth.resources("data", "aws_vpc_security_group_egress_rule")
    for rules, own_side, app_side in (
        (ingress, "security_group_id", "referenced_security_group_id"),
        (egress, "referenced_security_group_id", "security_group_id"),
    ):
        by_group = {next(name for name in groups if name in rule[own_side]): rule for rule in rules.values()}
        assert {
            groups[name]["name"].rsplit("-", 1)[1]: (r["from_port"], r["to_port"], r["ip_protocol"])
            for name, r in by_group.items()
        } == {
            "mysql": (3306, 3306, "tcp"),
            "redis": (6379, 6379, "tcp"),
        }
        assert all(APP_SG_OUTPUT in rule[app_side] for rule in rules.values())
        assert not any("cidr_ipv4" in rule or "cidr_ipv6" in rule for rule in rules.values())


def test_a_replication_source_opens_one_flow_to_the_old_server_and_nothing_else(synthesized):
    # GIVEN database.replication_source (the EDGE variant; off in every shipped environment)
    synth = synthesized(EDGE)
    cidr, flow = REPLICATION_SOURCE["cidr"], {"protocol": "tcp", "from_port": 3306, "to_port": 3306}
    groups = {g["name"].rsplit("-", 1)[1]: g for g in synth.resources("data", "aws_security_group").values()}
    # THEN MySQL's group may open 3306 to the old server alone, Redis's still nothing
    [egress] = groups["mysql"]["egress"]
    assert {k: egress[k] for k in (*flow, "cidr_blocks")} == {**flow, "cidr_blocks": [cidr]}
    assert groups["redis"]["egress"] == []
    # AND the data route table sends that address, and only it, through the NAT gateway
    route = only_resource(synth.resources("data", "aws_route"))
    assert route["destination_cidr_block"] == cidr and "nat_gateway" in route["nat_gateway_id"]
    assert "data-rt" in route["route_table_id"]
    # AND the data subnets' NACL admits the flow and its answers
    [nacl] = [n for n in synth.resources("network", "aws_network_acl").values() if n["tags"]["Name"].endswith("-data")]
    outside = {(r["protocol"], r["from_port"], r["to_port"]) for r in nacl["egress"] if r["cidr_block"] == cidr}
    answers = {(r["from_port"], r["to_port"]) for r in nacl["ingress"] if r["cidr_block"] == cidr}
    assert outside == {("tcp", 3306, 3306)} and answers == {(1024, 3388), (3390, 65535)}
    # AND the replica applies the migrated database only
    group = only_resource(synth.resources("data", "aws_db_parameter_group"))
    assert {p["name"]: p["value"] for p in group["parameter"]}["replicate-wild-do-table"] == "duewin.%"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_without_a_replication_source_the_data_tier_has_no_way_out(synthesized, env):
    synth = synthesized(env)
    assert synth.resources("data", "aws_route") == {}
    group = only_resource(synth.resources("data", "aws_db_parameter_group"))
    assert "replicate-wild-do-table" not in {p["name"] for p in group["parameter"]}


def test_data_stack_depends_on_the_network_stack_only(synthesized):
    assert synthesized("prod").model.stacks["duewin-prod-data"].dependencies == ("duewin-prod-network",)
    body = synthesized("prod").stack("data")
    assert list(body["data"]["terraform_remote_state"]) == ["cross-stack-reference-input-duewin-prod-network"]


# ---------------------------------------------------------------- interface for the app stack


def test_interface_the_app_stack_codes_against_crosses_stacks(tmp_path):
    # GIVEN a stand-in for the app stack that uses every attribute of the contract
    from infra.app import build_app
    from infra.engine import TerraformOutput, TerraformStack, Token
    from infra.engine.aws.provider import AwsProvider

    app, stacks = build_app(load_environment("dev"), tmp_path)
    data = next(s for s in stacks if s.kind == "data")
    db, cache = data.database, data.cache
    tokens = {
        "address": db.address,
        "port": db.port,
        "master_secret_arn": db.master_secret_arn,
        "db_sg": db.security_group.id,
        "primary_endpoint": cache.primary_endpoint,
        "auth_secret_arn": cache.auth_secret_arn,
        "cache_sg": cache.security_group.id,
        "secrets_key_arn": data.secrets_key_arn,
        "app_user_secret_arn": data.app_user_secret.arn,
        "app_db_host": data.app_db_host,
    }
    assert all(Token.is_unresolved(token) for token in tokens.values())
    assert (db.db_name, db.username, cache.port, db.max_allowed_packet) == (
        "duewin",
        "duewin_admin",
        6379,
        64 * 1024 * 1024,
    )
    assert (
        type(db.instance).__name__ == "DbInstance"
        and type(cache.replication_group).__name__ == "ElasticacheReplicationGroup"
    )
    consumer = TerraformStack(app, "consumer")
    AwsProvider(consumer, "aws", region="us-east-1")
    for key, token in tokens.items():
        TerraformOutput(consumer, key, value=token)
    # WHEN synthesized THEN each value is a data-stack output that the consumer reads via remote state.
    app.synth()
    outputs = json.loads((tmp_path / "stacks" / "duewin-dev-data" / "cdk.tf.json").read_text())["output"]
    exported = {o["value"] for o in outputs.values()}
    # Logical ids are spelled out on purpose: a changed id means Terraform replaces the database.
    expected = {
        "${aws_db_instance.database_instance_D7FC2283.address}",
        "${aws_db_instance.database_instance_D7FC2283.port}",
        "${aws_db_instance.database_instance_D7FC2283.master_user_secret[0].secret_arn}",
        "${aws_elasticache_replication_group.cache_redis_F9D2CAF5.primary_endpoint_address}",
        "${aws_secretsmanager_secret.cache_auth-secret_17C4D2DF.arn}",
        "${aws_kms_key.secrets-key_83928A38.arn}",
        "${aws_secretsmanager_secret.app-user-secret_50DE1475.arn}",
    }
    # The monitoring stack reads two more: CloudWatch names the database and the Redis members by them.
    monitoring_reads = {
        "${aws_db_instance.database_instance_D7FC2283.identifier}",
        "${aws_elasticache_replication_group.cache_redis_F9D2CAF5.member_clusters}",
    }
    # The operator reads the app user secret's name (and ARN) for `migrate app-user`.
    operator_reads = {"${aws_secretsmanager_secret.app-user-secret_50DE1475.name}"}
    # Without RDS Proxy the app's host is the instance's address: one value, two attributes.
    assert data.app_db_host is db.address
    assert expected | monitoring_reads | operator_reads <= exported
    assert len(exported) == len(tokens) - 1 + len(monitoring_reads) + len(operator_reads)
    used = json.loads((tmp_path / "stacks" / "consumer" / "cdk.tf.json").read_text())["output"]
    assert all(
        "terraform_remote_state.cross-stack-reference-input-duewin-dev-data" in o["value"] for o in used.values()
    )


def test_toggles_bring_your_own_key_performance_insights_and_no_enhanced_monitoring(tmp_path):
    # GIVEN prod's class, which runs Performance Insights, a customer's own storage key and monitoring off (a
    # smaller class that runs it, db.t3.medium, is refused: prod's fleet would overrun its connection budget)
    from infra.app import build_app
    from infra.engine import Testing

    own_key = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-1111-2222-333344445555"
    database = {"performance_insights": True, "storage_kms_key_arn": own_key, "monitoring_interval": 0}
    _, stacks = build_app(changed(load_environment("prod"), {"database": database}), tmp_path)
    body = json.loads(Testing.synth(next(s for s in stacks if s.kind == "data")))
    # WHEN synthesized THEN storage and Performance Insights use that key; the cache keeps the stack's own.
    db = only_resource(body["resource"]["aws_db_instance"])
    assert db["kms_key_id"] == db["performance_insights_kms_key_id"] == own_key
    assert db["performance_insights_enabled"] is True and db["performance_insights_retention_period"] == 7
    redis = only_resource(body["resource"]["aws_elasticache_replication_group"])
    assert redis["kms_key_id"].startswith("${aws_kms_key.storage-key")
    # AND without Enhanced Monitoring there is no monitoring role.
    assert db["monitoring_interval"] == 0 and "monitoring_role_arn" not in db
    assert "aws_iam_role" not in body["resource"]
    assert list(secret_literals(body)) == []


# ---------------------------------------------------------------- the app user secret and RDS Proxy


def _holding(node, key: str):
    """Every object anywhere in ``node`` that has ``key``."""
    if isinstance(node, dict):
        if key in node:
            yield node
        for value in node.values():
            yield from _holding(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from _holding(value, key)


@pytest.mark.parametrize("env", [*ENVIRONMENTS, EDGE])
def test_app_user_secret_is_created_without_a_value_and_named_by_outputs(synthesized, env):
    synth = synthesized(env)
    secrets = synth.resources("data", "aws_secretsmanager_secret")
    name, secret = only_item(secrets, "app-user")
    assert secret["name"] == f"duewin-{synth.env}/mysql/app-user"
    assert re.fullmatch(r"\$\{aws_kms_key\.secrets-key_\w+\.arn\}", secret["kms_key_id"])
    assert secret["recovery_window_in_days"] == load_environment(synth.env).database.secret_recovery_days
    outputs = synth.stack("data")["output"]
    assert outputs["app_user_secret_arn"]["value"] == f"${{aws_secretsmanager_secret.{name}.arn}}"
    assert outputs["app_user_secret_name"]["value"] == f"${{aws_secretsmanager_secret.{name}.name}}"
    # Terraform never gives it a value: no secret_string (nor a version) anywhere mentions it, in any file.
    for path in synth.outdir.rglob("*.json"):
        body = json.loads(path.read_text())
        for key in ("secret_string", "secret_binary", "secret_string_wo"):
            assert not [h for h in _holding(body, key) if name in json.dumps(h)], (path, key)
        versions = resources_of_type(body, "aws_secretsmanager_secret_version").values()
        assert not [v for v in versions if name in json.dumps(v)], path


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_proxy_resources_exist_only_when_enabled(synthesized, env):
    synth = synthesized(env)
    assert load_environment(env).database.proxy is False
    assert not [t for t in PROXY_TYPES if synth.resources("data", t)]
    assert not [t for t in PROXY_TYPES[:3] for kind in ("network", "app", "monitoring") if synth.resources(kind, t)]
    assert sorted(g["name"] for g in synth.resources("data", "aws_security_group").values()) == [
        f"duewin-{env}-mysql",
        f"duewin-{env}-redis",
    ]
    assert synthesized(EDGE).resources("data", "aws_db_proxy")


def test_proxy_requires_tls_logs_in_as_the_app_user_and_targets_the_instance(synthesized):
    synth = synthesized(EDGE)
    config = edge_database()
    proxy = only_resource(synth.resources("data", "aws_db_proxy"))
    assert (proxy["name"], proxy["engine_family"], proxy["require_tls"]) == ("duewin-prod-proxy", "MYSQL", True)
    assert proxy["auth"] == [
        {
            "auth_scheme": "SECRETS",
            "client_password_auth_type": "MYSQL_NATIVE_PASSWORD",
            "iam_auth": "DISABLED",
            "description": "the app user (migrate app-user)",
            "secret_arn": "${aws_secretsmanager_secret.app-user-secret_50DE1475.arn}",
        }
    ]
    assert all("vpc_data-" in subnet for subnet in proxy["vpc_subnet_ids"]) and len(proxy["vpc_subnet_ids"]) == 3
    pool = only_resource(synth.resources("data", "aws_db_proxy_default_target_group"))["connection_pool_config"]
    assert pool["max_connections_percent"] == config.proxy_max_connections_percent == 90
    target = only_resource(synth.resources("data", "aws_db_proxy_target"))
    assert target["db_instance_identifier"] == "${aws_db_instance.database_instance_D7FC2283.identifier}"
    # Its role is RDS's, and reads the app user secret only (never the master's).
    role_name, role = only_item(synth.resources("data", "aws_iam_role"), "proxy")
    assert proxy["role_arn"] == f"${{aws_iam_role.{role_name}.arn}}" and role["name"] == "duewin-prod-rds-proxy"
    assert "rds.amazonaws.com" in str(synth.data("data", "aws_iam_policy_document"))
    documents = synth.data("data", "aws_iam_policy_document")
    (reads,) = [s for d in documents.values() for s in d.get("statement", []) if s.get("sid") == "ReadAppUserSecret"]
    assert reads["actions"] == ["secretsmanager:GetSecretValue"]
    assert reads["resources"] == ["${aws_secretsmanager_secret.app-user-secret_50DE1475.arn}"]
    assert "master_user_secret" not in json.dumps(documents)
    # Its log group exists before it, encrypted and expiring.
    log_name, log = only_item(synth.resources("data", "aws_cloudwatch_log_group"), "proxy")
    assert log["name"] == "/aws/rds/proxy/duewin-prod-proxy" and "log-key" in log["kms_key_id"]
    assert f"aws_cloudwatch_log_group.{log_name}" in proxy["depends_on"]


def test_proxy_admits_only_the_app_tier_and_reaches_only_mysql_and_its_secret(synthesized):
    synth = synthesized(EDGE)
    groups = synth.resources("data", "aws_security_group")
    group_id = {groups[n]["name"].removeprefix("duewin-prod-"): f"${{aws_security_group.{n}.id}}" for n in groups}
    assert sorted(group_id) == ["mysql", "rds-proxy", "redis", "secretsmanager"]
    ingress = [
        (r["security_group_id"], r["referenced_security_group_id"], r["from_port"])
        for r in synth.resources("data", "aws_vpc_security_group_ingress_rule").values()
    ]
    egress = [
        (r["security_group_id"], r["referenced_security_group_id"], r["from_port"])
        for r in synth.resources("data", "aws_vpc_security_group_egress_rule").values()
    ]
    into = {name: sorted((src, port) for dst, src, port in ingress if dst == group_id[name]) for name in group_id}
    app = next(src for _, src, _ in ingress if APP_SG_OUTPUT in src)
    assert into["rds-proxy"] == [(app, 3306)]
    assert into["mysql"] == sorted([(app, 3306), (group_id["rds-proxy"], 3306)])
    assert into["secretsmanager"] == sorted([(app, 443), (group_id["rds-proxy"], 443)])
    assert sorted((dst, port) for src, dst, port in egress if src == group_id["rds-proxy"]) == sorted(
        [(group_id["mysql"], 3306), (group_id["secretsmanager"], 443)]
    )
    # Its egress is exactly the two rules above: no inline list (which would delete them on every apply).
    assert "egress" not in only_resource(groups, "proxy_access")
    endpoint = only_resource(synth.resources("data", "aws_vpc_endpoint"))
    assert endpoint["service_name"].endswith(".secretsmanager") and endpoint["vpc_endpoint_type"] == "Interface"
    assert endpoint["private_dns_enabled"] is True and endpoint["security_group_ids"] == [group_id["secretsmanager"]]
    assert all("vpc_data-" in subnet for subnet in endpoint["subnet_ids"])


def edge_database():
    from tests.infra.variants import edge_config

    return edge_config().database
