"""Tier 4: the deploy rehearsal — terraform apply → re-plan → destroy against moto on loopback.

The pure parts (order, override files, diff allow-list) are tested in milliseconds; the e2e tests
start the emulator themselves and run the real terraform against the offline provider mirror.
"""

from __future__ import annotations

import json
import logging
import pkgutil
import time
import warnings
from pathlib import Path

import pytest

import infra.rehearsal
from infra.config import load_environment
from infra.rehearsal.checks import network_facts
from infra.rehearsal.cycle import Rehearsal, destroy_order_problems
from infra.rehearsal.diffs import (
    KNOWN_DIFFS_FILE,
    Diff,
    KnownDiff,
    load_known_diffs,
    plan_diffs,
    stale_known_diffs,
    unexplained_diffs,
)
from infra.rehearsal.emulator import Emulator
from infra.rehearsal.inventory import leftovers
from infra.rehearsal.profile import EMULATOR_GAPS, LITE_GAPS, LITE_ON, REHEARSED_ON, rehearsal_config
from infra.rehearsal.report import format_report
from infra.rehearsal.seeds import seeded_image_parameters, seeded_zones
from infra.rehearsal.stack_files import emulator_override, state_file, state_resources, teardown_override
from infra.synthesized import SynthStack, load
from tests.conftest import engine_modules_loaded_by

LITE_ENV = "dev"
#: The issue's budget for the rehearsal inside the suite.
LITE_BUDGET_SECONDS = 180


def _stack(tmp_path: Path, name: str, dependencies=(), reads=(), body: dict | None = None) -> SynthStack:
    """A stack in its own directory under ``tmp_path``, reading the state of the stacks in ``reads``."""
    directory = tmp_path / name
    directory.mkdir()
    remote = {f"cross-stack-reference-input-{r}": {"backend": "local"} for r in reads}
    body = body or {"data": {"terraform_remote_state": remote}}
    return SynthStack(name, body, tuple(dependencies), directory / "cdk.tf.json")


# ---------------------------------------------------------------- pure parts


def test_destroy_order_is_checked_against_dependencies_and_remote_state(tmp_path):
    network = _stack(tmp_path, "network")
    data = _stack(tmp_path, "data", ["network"], reads=["network"])
    app = _stack(tmp_path, "app", ["network", "data"], reads=["network", "data"])
    # GIVEN readers before what they read THEN nothing to report.
    assert destroy_order_problems([app, data, network]) == []
    # WHEN a stack goes before one that reads it THEN the order is refused (AWS would, moto does not).
    problems = destroy_order_problems([network, data, app])
    assert "network is destroyed before data, which depends on it" in problems
    assert "data is destroyed before app, which depends on it" in problems
    # WHEN a stack reads state the manifest does not declare THEN that is reported too.
    sneaky = _stack(tmp_path, "sneaky", ["network"], reads=["network", "data"])
    assert destroy_order_problems([sneaky, data, network]) == [
        "sneaky reads data's state without declaring the dependency"
    ]


def test_override_points_at_the_emulator_only_through_the_environment(tmp_path):
    data = _stack(tmp_path, "duewin-dev-data", ["duewin-dev-network"], reads=["duewin-dev-network"])
    body = emulator_override(data, "us-east-1")
    provider = body["provider"]["aws"]
    assert "endpoints" not in provider, "an endpoints block sends every service it omits to real AWS"
    assert provider["skip_requesting_account_id"] is False
    assert (
        provider["skip_credentials_validation"]
        and provider["skip_metadata_api_check"]
        and provider["s3_use_path_style"]
    )
    assert body["terraform"]["backend"] == {"local": {"path": "terraform.duewin-dev-data.tfstate"}}
    assert body["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"
    remote = body["data"]["terraform_remote_state"]["cross-stack-reference-input-duewin-dev-network"]
    assert remote == {
        "backend": "local",
        "config": {"path": "../duewin-dev-network/terraform.duewin-dev-network.tfstate"},
    }


def test_teardown_lifts_protection_only_where_a_protected_type_exists(tmp_path):
    body = {"resource": {"aws_lb": {"alb": {"enable_deletion_protection": True}}, "aws_vpc": {"v": {}}}}
    assert teardown_override(body) == {"resource": {"aws_lb": {"alb": {"enable_deletion_protection": False}}}}
    assert teardown_override({"resource": {"aws_vpc": {"v": {}}}}) is None
    unprotected = {"deletion_protection": False, "skip_final_snapshot": True, "delete_automated_backups": True}
    assert teardown_override({"resource": {"aws_db_instance": {"db": unprotected}}}) is None


def test_what_a_real_account_already_has_is_seeded(tmp_path):
    ami = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
    body = {
        "data": {
            "aws_route53_zone": {"z": {"name": "example.com"}, "computed": {"name": "${var.x}"}},
            "aws_ssm_parameter": {"ami": {"name": ami}, "ours": {"name": "/duewin/dev/app/x"}},
        }
    }
    stack = _stack(tmp_path, "edge", body=body)
    assert seeded_zones([stack, _stack(tmp_path, "network")]) == ["example.com"]
    assert seeded_image_parameters([stack]) == [ami]


def test_state_resources_reads_managed_instances_from_the_local_state(tmp_path):
    stack = _stack(tmp_path, "data")
    state = {
        "resources": [
            {"mode": "data", "type": "aws_caller_identity", "name": "me", "instances": [{"attributes": {}}]},
            {
                "mode": "managed",
                "type": "aws_elasticache_subnet_group",
                "name": "cache",
                "instances": [{"attributes": {"name": "c"}}],
            },
            {
                "mode": "managed",
                "type": "aws_subnet",
                "name": "s",
                "instances": [{"index_key": 0, "attributes": {"id": "subnet-1"}}],
            },
        ]
    }
    (stack.directory / state_file(stack.name)).write_text(json.dumps(state))
    assert state_resources(stack) == {
        "aws_elasticache_subnet_group.cache": {"name": "c"},
        "aws_subnet.s[0]": {"id": "subnet-1"},
    }
    assert state_resources(_stack(tmp_path, "never-applied")) == {}


def test_known_diffs_accept_only_listed_updates_and_go_stale():
    known = [KnownDiff("aws_launch_template.*", frozenset({"tag_specifications"}), "moto")]
    listed = Diff("aws_launch_template.fleet_lt_1", ("update",), frozenset({"tag_specifications"}))
    assert unexplained_diffs([listed], known) == []
    for other in (
        Diff("aws_launch_template.fleet_lt_1", ("update",), frozenset({"tag_specifications", "user_data"})),
        Diff("aws_launch_template.fleet_lt_1", ("delete", "create"), frozenset({"tag_specifications"})),
        Diff("aws_lb.alb_1", ("update",), frozenset({"tag_specifications"})),
    ):
        assert unexplained_diffs([other], known) == [other]
    # GIVEN the resource was applied with no diff THEN the entry is stale; not applied THEN not judged.
    assert stale_known_diffs(known, {"aws_launch_template.fleet_lt_1"}, []) == known
    assert stale_known_diffs(known, {"aws_launch_template.fleet_lt_1"}, [listed]) == []
    assert stale_known_diffs(known, {"aws_vpc.vpc_1"}, []) == []


def test_plan_diffs_names_the_attributes_that_change():
    plan = {
        "resource_changes": [
            {"address": "aws_vpc.v", "change": {"actions": ["no-op"], "before": {"a": 1}, "after": {"a": 1}}},
            {"address": "data.aws_iam_policy_document.d", "change": {"actions": ["read"], "before": None, "after": {}}},
            {
                "address": "aws_db_parameter_group.p",
                "change": {
                    "actions": ["update"],
                    "before": {"parameter": [1], "name": "x", "tag": [{"k": 1}]},
                    "after": {"parameter": [1, 2], "name": "x", "tag": [{"k": 1}]},
                    "after_unknown": {"arn": True, "tag": [{}], "nested": [{"id": True}]},
                },
            },
        ],
        "output_changes": {"vpc_id": {"actions": ["update"]}, "same": {"actions": ["no-op"]}},
    }
    assert plan_diffs(plan) == [
        Diff("aws_db_parameter_group.p", ("update",), frozenset({"parameter", "arn", "nested"})),
        Diff("output.vpc_id", ("update",), frozenset()),
    ]


def test_known_diffs_file_loads_and_every_entry_has_a_reason(tmp_path):
    assert all(k.reason for k in load_known_diffs(KNOWN_DIFFS_FILE))
    bad = tmp_path / "diffs.toml"
    bad.write_text('[[diff]]\nresource = "aws_lb.*"\nattributes = ["x"]\nreason = " "\n')
    with pytest.raises(ValueError, match="needs attributes and a reason"):
        load_known_diffs(bad)


def test_emulator_and_lite_runs_set_exactly_their_profile():
    config = load_environment("staging")
    full, lite = rehearsal_config(config, lite=False), rehearsal_config(config, lite=True)
    # An environment file leaves nothing out; the profile leaves out what the emulator cannot deploy.
    assert config.rehearsal.model_dump() == dict.fromkeys(config.rehearsal.model_dump(), False)
    assert full.rehearsal.omit_replication_group and not full.rehearsal.omit_database_instance
    assert lite.rehearsal.omit_replication_group and lite.rehearsal.omit_database_instance
    assert full.rehearsal.omit_waf_data_protection and lite.rehearsal.omit_waf_data_protection
    assert (config.database.proxy, full.database.proxy, lite.database.proxy) == (False, False, True)
    assert set(EMULATOR_GAPS).isdisjoint(LITE_GAPS) and set(LITE_ON).isdisjoint({**EMULATOR_GAPS, **LITE_GAPS})
    assert lite.network == config.network
    assert lite.database.model_dump(exclude={"proxy"}) == config.database.model_dump(exclude={"proxy"})
    # WAF is rehearsed even where it is off (dev), as configured otherwise.
    dev = rehearsal_config(load_environment("dev"), lite=True)
    assert dev.waf.enabled and set(REHEARSED_ON) == {"waf.enabled"}
    assert dev.waf.model_dump(exclude={"enabled"}) == load_environment("dev").waf.model_dump(exclude={"enabled"})


@pytest.mark.engines
def test_lite_synth_leaves_out_only_the_toggled_services(lite_outdir, synthesized):
    # GIVEN the lite synth of dev and the real one THEN lite lacks the instance and the Redis servers, and
    # stands in for their addresses and the RDS-managed secret; every other resource is the same.
    def resources(path: Path) -> dict[str, set[str]]:
        body = json.loads(path.read_text())
        return {t: set(names) for t, names in body["resource"].items()}

    lite = resources(lite_outdir / "stacks" / f"duewin-{LITE_ENV}-data" / "cdk.tf.json")
    real = resources(synthesized(LITE_ENV).stack_dir("data") / "cdk.tf.json")
    missing_types = set(real) - set(lite)
    assert missing_types == {"aws_db_instance", "aws_elasticache_replication_group", "aws_elasticache_parameter_group"}
    assert [n for n in lite["aws_secretsmanager_secret"] if "stand-in" in n]
    # AND RDS Proxy, on in the lite run only, without its target (the instance is left out).
    proxy_types = {"aws_db_proxy", "aws_db_proxy_default_target_group", "aws_vpc_endpoint", "aws_iam_role_policy"}
    assert set(lite) - set(real) == proxy_types
    added = {n for names in lite.values() for n in names} - {n for names in real.values() for n in names}
    stand_ins = {n for n in lite["aws_secretsmanager_secret"] if "stand-in" in n}
    assert {n for n in added if not n.startswith("proxy_")} == stand_ins
    app_json = lite_outdir / "stacks" / f"duewin-{LITE_ENV}-app" / "cdk.tf.json"
    if app_json.is_file():
        text = app_json.read_text()
        assert "aws_db_proxyproxy_5B0EBCF1endpoint" in text and f"duewin-{LITE_ENV}-redis.rehearsal.invalid" in text


def test_harness_loads_without_the_engine_or_the_emulator():
    # `infra rehearse --help` and the pure helpers must not pay for cdktf/jsii (≈ 10 s) or moto.
    modules = [info.name for info in pkgutil.iter_modules(infra.rehearsal.__path__)]
    assert "cycle" in modules and "command" in modules
    assert engine_modules_loaded_by("".join(f"import infra.rehearsal.{m}\n" for m in modules), "moto") == []


# ---------------------------------------------------------------- against the emulator


@pytest.fixture
def emulator():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with Emulator(region="us-east-1").running() as running:
        yield running


def test_facts_and_leftovers_can_fail(emulator):
    # GIVEN an empty emulator THEN the network facts fail; WHEN something is left THEN it is reported.
    assert network_facts(load_environment(LITE_ENV), emulator)
    assert leftovers(emulator) == {}
    vpc = emulator.client("ec2").create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    emulator.client("logs").create_log_group(logGroupName="stray")
    found = leftovers(emulator)
    assert found["ec2.describe_vpcs"] == [vpc] and found["logs.describe_log_groups"] == ["stray"]


@pytest.mark.e2e
def test_a_request_for_any_other_host_fails_loudly(terraform, emulator, tmp_path):
    # GIVEN one service pointed away from loopback WHEN terraform plans THEN the loopback fence refuses it.
    (tmp_path / "cdk.tf.json").write_text(
        json.dumps(
            {
                "data": {"aws_caller_identity": {"me": {}}},
                "output": {"id": {"value": "${data.aws_caller_identity.me.account_id}"}},
            }
        )
    )
    stack = SynthStack("fence", {}, (), tmp_path / "cdk.tf.json")
    (tmp_path / "zz_override.tf.json").write_text(json.dumps(emulator_override(stack, "us-east-1")))
    assert terraform.run(tmp_path, "init", extra_env=emulator.terraform_env()).returncode == 0
    env = {**emulator.terraform_env(), "AWS_ENDPOINT_URL_STS": "https://sts.us-east-1.amazonaws.com"}
    result = terraform.run(tmp_path, "plan", extra_env=env, timeout=120)
    assert result.returncode != 0
    assert emulator.fence.removeprefix("http://") in result.stdout + result.stderr
    # The error names the fence's port: the request went to the refusing proxy, not to the internet.
    assert "connection refused" in result.stdout + result.stderr


@pytest.fixture(scope="session")
def lite_outdir(tmp_path_factory):
    """The lite run's synth of ``LITE_ENV``: one extra synth per session, for the toggles it turns off."""
    from infra.app import synth

    workdir = tmp_path_factory.mktemp("rehearsal") / "cdktf.out"
    synth(rehearsal_config(load_environment(LITE_ENV), lite=True), workdir)
    return workdir


@pytest.mark.e2e
@pytest.mark.engines
def test_lite_rehearsal_applies_replans_clean_and_destroys_everything(terraform, emulator, lite_outdir):
    config = rehearsal_config(load_environment(LITE_ENV), lite=True)
    started = time.monotonic()
    rehearsal = Rehearsal(config, lite_outdir, terraform, emulator)
    report = rehearsal.run()
    elapsed = time.monotonic() - started
    print("\n".join(format_report(report, rehearsal.known)))
    # THEN every stack of the manifest went through the whole cycle ...
    assert list(load(lite_outdir).stacks) == list(report.seconds)
    assert all(set(steps) >= {"init", "apply", "replan", "destroy"} for steps in report.seconds.values())
    assert report.resources[config.stack_name("network")] > 30
    # ... the second plan showed only known emulator gaps, the facts held, nothing was left behind.
    assert report.ok, "\n".join(report.problems())
    # The 3-minute budget is reported, not asserted: a wall-time assertion fails on a loaded
    # machine for reasons unrelated to the code (the brief keeps timing out of unit tests).
    if elapsed >= LITE_BUDGET_SECONDS:
        warnings.warn(f"lite rehearsal took {elapsed:.0f}s (budget {LITE_BUDGET_SECONDS}s)", stacklevel=2)
