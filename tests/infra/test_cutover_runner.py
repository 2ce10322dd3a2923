"""The cutover runner ([cutover] runner = true): off in every shipped environment; where it is on
(the EDGE variant, which checkov scans and terraform validates with the rest), a Session-Manager-only
instance in an app subnet that reads one S3 prefix and the database secret and reaches MySQL."""

from __future__ import annotations

import subprocess

import pytest

from bootstrap.cutover_runner import DATABASE_TAGS, migrate_requirements, render_runner_script
from infra.config import ENVIRONMENTS_DIR, ConfigError, load_file
from tests.conftest import missing
from tests.infra.assertions import only_item, only_resource
from tests.infra.variants import EDGE, ENVIRONMENTS, RUNNER_PREFIX, edge_config

INSTANCE = "aws_instance"


def ref(name: str, attribute: str, type_: str) -> str:
    return f"${{{type_}.{name}.{attribute}}}"


def _runner_script() -> str:
    return render_runner_script(region=edge_config().region, dump_prefix=RUNNER_PREFIX)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_shipped_environment_has_a_runner(synthesized, env):
    synth = synthesized(env)
    for kind in ("network", "data", "app", "monitoring"):
        assert not synth.resources(kind, INSTANCE)
        assert not any("cutover" in name for name in synth.resources(kind, "aws_security_group"))


def test_the_runner_is_reachable_only_through_session_manager(synthesized):
    app = synthesized(EDGE)
    instance = only_resource(app.resources("app", INSTANCE), "cutover-runner_instance")
    assert instance["associate_public_ip_address"] is False and "key_name" not in instance
    assert instance["metadata_options"]["http_tokens"] == "required"
    assert instance["metadata_options"]["http_put_response_hop_limit"] == 1
    assert instance["root_block_device"]["encrypted"] is True
    assert "aws_subnetvpc_app-0" in instance["subnet_id"]  # an app subnet: a route out through NAT, none in
    sg_name, _ = only_item(app.resources("app", "aws_security_group"), "cutover-runner_sg")
    runner_sg = ref(sg_name, "id", "aws_security_group")
    assert instance["vpc_security_group_ids"] == [runner_sg]
    ingress = app.resources("app", "aws_vpc_security_group_ingress_rule")
    assert not [r for r in ingress.values() if r["security_group_id"] == runner_sg]
    egress = [
        r
        for r in app.resources("app", "aws_vpc_security_group_egress_rule").values()
        if r["security_group_id"] == runner_sg
    ]
    assert sorted((r["from_port"], r.get("cidr_ipv4", "database")) for r in egress) == [
        (80, "0.0.0.0/0"),
        (443, "0.0.0.0/0"),
        (3306, "database"),
    ]
    # MySQL admits the runner's group on its port: the one path into the data tier it adds.
    (into_db,) = [r for r in ingress.values() if r.get("referenced_security_group_id") == runner_sg]
    assert (into_db["from_port"], into_db["to_port"]) == (3306, 3306)
    assert "aws_security_groupdatabase_access_sg" in into_db["security_group_id"]


def test_the_runner_reads_one_prefix_and_the_database_secret_only(synthesized):
    app = synthesized(EDGE)
    document = only_resource(app.data("app", "aws_iam_policy_document"), "cutover-runner_policy-document")
    statements = {s["sid"]: s for s in document["statement"]}
    assert statements["ReadDumpPrefix"]["actions"] == ["s3:GetObject"]
    assert statements["ReadDumpPrefix"]["resources"] == [
        "arn:${data.aws_partition."
        + only_item(app.data("app", "aws_partition"), "cutover")[0]
        + ".partition}:s3:::duewin-cutover-dumps/prod/*"
    ]
    assert statements["ListDumpPrefix"]["condition"][0]["values"] == ["prod/*"]
    assert statements["ReadDatabaseSecret"]["resources"] == [
        "${data.terraform_remote_state.cross-stack-reference-input-duewin-prod-data.outputs."
        "cross-stack-output-aws_db_instancedatabase_instance_D7FC2283master_user_secret0secret_arn}"
    ]
    assert statements["DecryptDatabaseSecret"]["condition"][0]["variable"] == "kms:ViaService"
    every_action = {a for s in statements.values() for a in s["actions"]}
    assert not {a for a in every_action if a.startswith(("s3:Put", "s3:Delete", "ssm:GetParameter", "iam:", "ec2:"))}


def test_the_runner_boots_migrate_from_the_wheel_and_knows_the_database(synthesized):
    instance = only_resource(synthesized(EDGE).resources("app", INSTANCE), "cutover-runner_instance")
    assert instance["user_data"] == _runner_script()
    assert instance["user_data_replace_on_change"] is True
    assert instance["tags"]["Role"] == "cutover-runner"
    assert set(DATABASE_TAGS.values()) <= set(instance["tags"])
    script = instance["user_data"]
    assert f"readonly PREFIX={RUNNER_PREFIX}" in script
    assert "'pymysql>=1.1,<2'" in script and "cdktf" not in script  # migrate's dependencies, not infra's
    assert len(migrate_requirements()) == 4


def test_the_runners_script_passes_shellcheck(tmp_path):
    path = tmp_path / "runner.sh"
    path.write_text(_runner_script())
    try:
        result = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    except FileNotFoundError:
        missing("shellcheck")
    assert result.returncode == 0, result.stdout


def test_a_runner_without_a_prefix_is_refused_naming_the_field(tmp_path):
    path = tmp_path / "dev.toml"
    path.write_text((ENVIRONMENTS_DIR / "dev.toml").read_text() + "\n[cutover]\nrunner = true\n")
    with pytest.raises(ConfigError, match=r"dev.toml:\d+: cutover.dump_prefix: runner = true needs dump_prefix"):
        load_file(path)
    path.write_text(
        (ENVIRONMENTS_DIR / "dev.toml").read_text()
        + '\n[cutover]\nrunner = true\ndump_prefix = "s3://my-dumps/no-slash"\n'
    )
    with pytest.raises(ConfigError, match=r"dev.toml:\d+: cutover.dump_prefix"):
        load_file(path)
