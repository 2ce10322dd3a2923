"""The review's pure parts on hand-made and mutated synth output: diff, each risk detector, the report."""

from __future__ import annotations

import copy
import json
import subprocess

from infra.checkov_scan import Finding
from infra.review.diff import ABSENT, diff
from infra.review.report import (
    COMMENT_MARKER,
    DIGEST_MARKER,
    CheckovDelta,
    EnvironmentReview,
    Review,
    to_json,
    to_markdown,
)
from infra.review.risks import checkov_risks, find_risks
from infra.synthesized import SynthDir, SynthStack, digest
from tests.conftest import engine_modules_loaded_by
from tests.infra.assertions import only_resource
from tests.infra.variants import EDGE, changed

SG = "aws_security_group"


def _synth(**stacks: dict) -> SynthDir:
    return SynthDir({name.replace("_", "-"): SynthStack(name.replace("_", "-"), body) for name, body in stacks.items()})


def _risks(before: dict, after: dict) -> list[tuple[str, str, str]]:
    old, new = _synth(s=before), _synth(s=after)
    return [(r.kind, r.address, r.detail) for r in find_risks(diff(old, new), old, new)]


def _resource(type_: str, name: str, body: dict) -> dict:
    return {"resource": {type_: {name: body}}}


def test_diff_reports_attributes_and_ignores_cdktf_metadata():
    before = _resource(
        SG,
        "web",
        {
            "//": {"metadata": {"path": "a"}},
            "name": "web",
            "ingress": [{"from_port": 80, "cidr_blocks": ["10.0.0.0/8"]}],
        },
    )
    moved = _resource(
        SG,
        "web",
        {
            "//": {"metadata": {"path": "b/c"}},
            "name": "web",
            "ingress": [{"from_port": 80, "cidr_blocks": ["10.0.0.0/8"]}],
        },
    )
    assert diff(_synth(s=before), _synth(s=moved)) == []

    after = _resource(
        SG, "web", {"name": "web", "ingress": [{"from_port": 443, "cidr_blocks": ["10.0.0.0/8"]}], "tags": {"a": "b"}}
    )
    after["resource"]["aws_eip"] = {"nat": {"domain": "vpc"}}
    changes = diff(_synth(s=before, gone={"resource": {"aws_vpc": {"v": {}}}}), _synth(s=after))
    assert [(c.stack, c.action, c.address) for c in changes] == [
        ("s", "added", "aws_eip.nat"),
        ("s", "changed", "aws_security_group.web"),
        ("gone", "removed", "aws_vpc.v"),
    ]
    assert [(a.path, a.before, a.after) for a in changes[1].attributes] == [
        ("ingress[0].from_port", 80, 443),
        ("tags.a", ABSENT, "b"),
    ]


def test_stateful_destroy_and_replacement_but_not_an_in_place_change():
    db = {"identifier": "duewin-prod", "instance_class": "db.t3.micro", "storage_encrypted": True}
    base = {"resource": {"aws_db_instance": {"db": db}, "aws_s3_bucket": {"logs": {"bucket": "logs"}}}}
    resized = copy.deepcopy(base)
    resized["resource"]["aws_db_instance"]["db"]["instance_class"] = "db.t3.large"
    assert _risks(base, resized) == []

    renamed = copy.deepcopy(base)
    renamed["resource"]["aws_db_instance"]["db"]["identifier"] = "duewin-prod-2"
    del renamed["resource"]["aws_s3_bucket"]
    kinds = [(kind, address) for kind, address, _ in _risks(base, renamed)]
    assert kinds == [("destroy", "aws_s3_bucket.logs"), ("replace", "aws_db_instance.db")]
    assert "identifier forces a new resource" in _risks(base, renamed)[1][2]

    moved = {**copy.deepcopy(base), "provider": {"aws": [{"region": "eu-west-1"}]}}
    assert _risks({**base, "provider": {"aws": [{"region": "us-east-1"}]}}, moved) == [
        ("replace", "provider.aws", "region changes: every resource of the stack is re-created there")
    ]


def test_security_group_newly_open_to_the_internet_in_every_rule_form():
    closed = _resource(
        SG,
        "web",
        {
            "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/16"]}],
            "egress": [{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
        },
    )
    assert _risks(closed, closed) == []
    inline = copy.deepcopy(closed)
    inline["resource"][SG]["web"]["ingress"][0]["cidr_blocks"].append("0.0.0.0/0")
    assert _risks(closed, inline) == [("open-ingress", "aws_security_group.web", "tcp 443-443 from 0.0.0.0/0")]
    # Already open before: not news.
    assert _risks(inline, inline) == []

    rules = copy.deepcopy(closed)
    rules["resource"]["aws_security_group_rule"] = {
        "ssh": {"type": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22, "ipv6_cidr_blocks": ["::/0"]}
    }
    rules["resource"]["aws_vpc_security_group_ingress_rule"] = {"all": {"ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"}}
    rules["resource"]["aws_vpc_security_group_egress_rule"] = {"out": {"ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"}}
    assert [(k, a) for k, a, _ in _risks(closed, rules)] == [
        ("open-ingress", "aws_security_group_rule.ssh"),
        ("open-ingress", "aws_vpc_security_group_ingress_rule.all"),
    ]


def test_iam_statement_gaining_wildcards_in_documents_and_literal_policies():
    doc = "aws_iam_policy_document"
    narrow = {"data": {doc: {"p": {"statement": [{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::b/*"]}]}}}}
    wide = copy.deepcopy(narrow)
    wide["data"][doc]["p"]["statement"][0]["resources"] = ["*"]
    wide["data"][doc]["p"]["statement"].append({"effect": "Deny", "actions": ["*"], "resources": ["*"]})
    assert _risks(narrow, wide) == [
        ("iam-wildcard", "data.aws_iam_policy_document.p", "statement 's3:GetObject': Resource '*'")
    ]

    literal = {"Statement": [{"Sid": "Logs", "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "arn:x"}]}
    before = _resource("aws_iam_role_policy", "r", {"policy": json.dumps(literal)})
    literal["Statement"][0]["Action"] = ["logs:*"]
    literal["Statement"].append(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:y", "Principal": {"AWS": "*"}}
    )
    after = _resource("aws_iam_role_policy", "r", {"policy": json.dumps(literal)})
    assert [d for _, _, d in _risks(before, after)] == [
        "statement 'Logs': Action 'logs:*'",
        "statement 's3:GetObject': Principal '*'",
    ]


def test_deletion_protection_or_encryption_turned_off():
    base = {
        "resource": {
            "aws_db_instance": {
                "db": {"deletion_protection": True, "storage_encrypted": True, "skip_final_snapshot": False}
            },
            "aws_lb": {"alb": {"enable_deletion_protection": True, "lifecycle": {"prevent_destroy": True}}},
            "aws_elasticache_replication_group": {
                "redis": {"transit_encryption_enabled": True, "at_rest_encryption_enabled": "true"}
            },
            "aws_s3_bucket_server_side_encryption_configuration": {"sse": {"bucket": "b"}},
            "aws_cloudwatch_log_group": {"logs": {"name": "l", "kms_key_id": "${aws_kms_key.k.arn}"}},
            "aws_s3_bucket": {
                "old": {
                    "server_side_encryption_configuration": [
                        {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]}
                    ]
                }
            },
        }
    }
    off = copy.deepcopy(base)
    off["resource"]["aws_db_instance"]["db"] = {"deletion_protection": False, "skip_final_snapshot": True}
    off["resource"]["aws_lb"]["alb"] = {"enable_deletion_protection": False}
    off["resource"]["aws_elasticache_replication_group"]["redis"] = {
        "transit_encryption_enabled": False,
        "at_rest_encryption_enabled": "false",
    }
    del off["resource"]["aws_s3_bucket_server_side_encryption_configuration"]
    off["resource"]["aws_cloudwatch_log_group"]["logs"] = {"name": "l"}
    off["resource"]["aws_s3_bucket"]["old"] = {}
    found = [(a, d) for k, a, d in _risks(base, off) if k == "protection-off"]
    assert found == [
        ("aws_cloudwatch_log_group.logs", "kms_key_id removed: encryption with that key ends"),
        ("aws_db_instance.db", "deletion_protection: true → false"),
        ("aws_db_instance.db", "skip_final_snapshot: false → true"),
        ("aws_db_instance.db", "storage_encrypted: true → unset"),
        ("aws_elasticache_replication_group.redis", 'at_rest_encryption_enabled: "true" → "false"'),
        ("aws_elasticache_replication_group.redis", "transit_encryption_enabled: true → false"),
        ("aws_lb.alb", "enable_deletion_protection: true → false"),
        ("aws_lb.alb", "lifecycle.prevent_destroy: true → unset"),
        ("aws_s3_bucket.old", "sse_algorithm removed: encryption with that key ends"),
        ("aws_s3_bucket_server_side_encryption_configuration.sse", "encryption configuration removed"),
    ]
    # Turning protection on is not a risk.
    assert [k for k, _, _ in _risks(off, base) if k == "protection-off"] == []


def test_database_tls_requirement_turned_off_is_flagged(synthesized):
    # GIVEN the real data stack WHEN database.require_tls = false renders require_secure_transport "0" THEN the
    # review flags it, and turning it back on is not a risk.
    from infra.config import load_environment
    from infra.constructs.database import parameters

    config = load_environment("dev")
    assert parameters(changed(config.database, {"require_tls": False}))["require_secure_transport"] == "0"
    before = synthesized("dev").stack("data")
    after = copy.deepcopy(before)
    ((group_name, group),) = after["resource"]["aws_db_parameter_group"].items()
    for parameter in group["parameter"]:
        if parameter["name"] == "require_secure_transport":
            parameter["value"] = "0"
    found = [(k, a, d) for k, a, d in _risks(before, after) if k == "protection-off"]
    assert found == [
        (
            "protection-off",
            f"aws_db_parameter_group.{group_name}",
            "require_secure_transport: 1 → 0: clients may connect without TLS",
        )
    ]
    assert [k for k, _, _ in _risks(after, before) if k == "protection-off"] == []


def test_only_new_unexplained_checkov_findings_are_risks():
    old = Finding("CKV_AWS_24", "ssh open", "aws_security_group.a", "duewin-dev-app")
    new = Finding("CKV_AWS_260", "http open", "aws_security_group.a", "duewin-dev-app")
    assert [(r.kind, r.address, r.detail) for r in checkov_risks([old], [old, new])] == [
        ("checkov", "aws_security_group.a", "CKV_AWS_260: http open")
    ]


def test_detectors_can_fail_on_the_real_network_stack(synthesized):
    # GIVEN the real dev network stack, WHEN it is unchanged THEN nothing is flagged (the KMS key
    # policy's existing "*" is not news); WHEN the flow-log policy gains Resource "*", the app group
    # opens port 22 to the world and the VPC's CIDR changes THEN each is flagged.
    body = json.loads((synthesized("dev").stack_dir("network") / "cdk.tf.json").read_text())
    base = _synth(network=body)
    assert find_risks(diff(base, base), base, base) == []
    mutated = copy.deepcopy(body)
    write = only_resource(mutated["data"]["aws_iam_policy_document"], "flow-logs_write")
    write["statement"][0]["resources"].append("*")
    mutated["resource"][SG]["app-sg"]["ingress"] = [
        {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"]}
    ]
    only_resource(mutated["resource"]["aws_vpc"])["cidr_block"] = "10.99.0.0/16"
    after = _synth(network=mutated)
    assert sorted({r.kind for r in find_risks(diff(base, after), base, after)}) == [
        "iam-wildcard",
        "open-ingress",
        "replace",
    ]


def test_a_way_out_of_the_data_tier_is_flagged(synthesized):
    # GIVEN prod's network and data stacks WHEN a replication source is configured (EDGE's) THEN the
    # route through the NAT, MySQL's egress rule and the data NACL's rule are each flagged, once.
    def stacks(env: str) -> SynthDir:
        synth = synthesized(env)
        return _synth(**{f"duewin_prod_{kind}": synth.stack(kind) for kind in ("network", "data")})

    before, after = stacks("prod"), stacks(EDGE)
    assert [
        (r.stack.rsplit("-", 1)[1], r.address.split(".")[0], r.detail)
        for r in find_risks([], before, after)
        if r.kind == "data-egress"
    ] == [
        ("data", "aws_route", "route to 52.66.10.20/32 through a NAT gateway"),
        ("data", "aws_security_group", "tcp 3306-3306 to 52.66.10.20/32"),
        ("network", "aws_network_acl", "NACL egress tcp 3306-3306 to 52.66.10.20/32"),
    ]
    assert [r for r in find_risks([], before, before) if r.kind == "data-egress"] == []


def _review(changes_per_stack: int, risks: int) -> Review:
    before = _synth(s={"resource": {}})
    after = _synth(
        s={
            "resource": {
                "aws_eip": {f"ip{i}": {"domain": "vpc", "tags": {"n": "x" * 100}} for i in range(changes_per_stack)}
            }
        }
    )
    from infra.review.risks import Risk

    flagged = [Risk("destroy", "s", f"aws_s3_bucket.b{i}", "S3 bucket is destroyed") for i in range(risks)]
    return Review(
        "origin/main", "a" * 40, [EnvironmentReview("dev", diff(before, after), flagged, "d" * 64, CheckovDelta())]
    )


def test_markdown_puts_risks_first_and_fits_the_comment_limit():
    text = to_markdown(_review(5, 2))
    assert text.startswith(COMMENT_MARKER + "\n")
    assert (
        text.index("**2 flagged risks**") < text.index("| dev | s | `aws_s3_bucket.b0` |") < text.index("+ aws_eip.ip0")
    )
    assert f"{DIGEST_MARKER} dev={'d' * 64} -->" in text

    huge = to_markdown(_review(5000, 3000), max_chars=65_536)
    assert len(huge) <= 65_536
    assert "more risk rows not shown" in huge and "truncated to fit" not in huge.split("more risk rows")[0]
    assert huge.rstrip().endswith(f"{DIGEST_MARKER} dev={'d' * 64} -->"), "deploys need the digest even when truncated"

    details_cut = to_markdown(_review(5000, 1), max_chars=20_000)
    assert len(details_cut) <= 20_000 and "truncated to fit GitHub's comment limit" in details_cut
    assert details_cut.count("```") % 2 == 0 and details_cut.count("<details>") == details_cut.count("</details>")


def test_json_report_is_complete():
    data = json.loads(to_json(_review(2, 1)))
    assert data["risk_count"] == 1 and data["base_commit"] == "a" * 40
    dev = data["environments"]["dev"]
    assert [c["address"] for c in dev["changes"]] == ["aws_eip.ip0", "aws_eip.ip1"]
    assert dev["risks"][0]["kind"] == "destroy" and dev["checkov"] == {"new": [], "newly_accepted": [], "resolved": []}


def test_digest_matches_the_shell_pipeline_deploys_run(synthesized):
    outdir = synthesized("dev").outdir
    shell = subprocess.run(
        "find stacks -name cdk.tf.json | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1",
        shell=True,
        cwd=outdir,
        capture_output=True,
        text=True,
        check=True,
    )
    assert digest(outdir) == shell.stdout.strip()


def test_speculative_plans_follow_dependencies_and_summarize_terraform_output():
    from infra.review.plans import PlanSummary, summarize, to_markdown
    from infra.synthesized import dependency_order

    dependencies = {"app": ("network", "data"), "data": ("network",), "network": (), "edge": ("app",)}
    assert dependency_order(dependencies) == ["network", "data", "app", "edge"]
    url = "https://app.terraform.io/app/duewin/workspaces/duewin-dev-data/runs/run-AbC123"
    planned = summarize(
        0, f"To view this run in a browser, visit:\n{url}\n...\nPlan: 2 to add, 1 to change, 1 to destroy.\n"
    )
    assert planned == PlanSummary("planned", 2, 1, 1, url)
    assert summarize(0, "No changes. Your infrastructure matches the configuration.") == PlanSummary("no changes")
    assert summarize(1, "Error: Invalid credentials").status == "failed"
    text = to_markdown([("dev", "duewin-dev-data", planned)])
    assert f"| dev | duewin-dev-data | planned | 2 | 1 | **1** | [run]({url}) |" in text
    assert len(to_markdown([("dev", f"s{i}", planned) for i in range(500)])) <= 5_000


def test_resource_star_in_a_kms_key_policy_means_the_key_itself():
    # GIVEN a new key whose policy lets the account's IAM manage it (the AWS default statement)
    doc = {"statement": [{"sid": "Root", "actions": ["kms:*"], "resources": ["*"]}]}
    after = {
        "data": {"aws_iam_policy_document": {"key": doc, "role": copy.deepcopy(doc)}},
        "resource": {"aws_kms_key": {"k": {"policy": "${data.aws_iam_policy_document.key.json}"}}},
    }
    # THEN the key policy's Resource "*" is not flagged, its kms:* is, and the same document used elsewhere is
    assert _risks({}, after) == [
        ("iam-wildcard", "data.aws_iam_policy_document.key", "statement 'Root': Action 'kms:*'"),
        ("iam-wildcard", "data.aws_iam_policy_document.role", "statement 'Root': Action 'kms:*'"),
        ("iam-wildcard", "data.aws_iam_policy_document.role", "statement 'Root': Resource '*'"),
    ]


def test_pure_modules_import_no_cdktf():
    modules = ["diff", "equivalence", "graph", "plans", "report", "risks", "stateful"]
    imports = "import infra.synthesized\n" + "".join(f"import infra.review.{m}\n" for m in modules)
    assert engine_modules_loaded_by(imports) == []


def test_waf_weakening_is_flagged_in_either_json_block_form():
    # Terraform JSON allows a nested block as an object or as a list of one: both are read.
    statement = [{"managed_rule_group_statement": [{"name": "G"}]}]
    group = {"name": "common", "override_action": [{"none": {}}], "statement": statement}
    acl = {"name": "acl", "default_action": {"block": {}}, "rule": [group, {"name": "rate", "action": {"block": {}}}]}
    before = _resource("aws_wafv2_web_acl", "acl", acl)
    weaker = copy.deepcopy(before)
    body = weaker["resource"]["aws_wafv2_web_acl"]["acl"]
    body["default_action"] = {"allow": {}}
    body["rule"][0]["override_action"] = [{"count": {}}]
    body["rule"][1]["action"] = {"count": {}}
    assert _risks(before, weaker) == [
        ("waf", "aws_wafv2_web_acl.acl", "default action switches from block to allow"),
        ("waf", "aws_wafv2_web_acl.acl", "rule 'common' switches from block to count"),
        ("waf", "aws_wafv2_web_acl.acl", "rule 'rate' switches from block to count"),
    ]
    assert _risks(weaker, before) == []


def test_a_cutover_runner_is_flagged_in_every_review_while_it_exists():
    runner = _resource("aws_instance", "runner", {"instance_type": "t3.small", "tags": {"Role": "cutover-runner"}})
    other = _resource("aws_instance", "bastion", {"instance_type": "t3.small", "tags": {"Role": "bastion"}})
    flagged = [
        (
            "cutover-runner",
            "aws_instance.runner",
            "can read the database's master secret and reach the database: "
            "set [cutover] runner = false once the cutover is done",
        )
    ]
    assert _risks(other, runner) == flagged
    assert _risks(runner, runner) == flagged  # unchanged, still there: still flagged
    assert _risks(runner, other) == []
