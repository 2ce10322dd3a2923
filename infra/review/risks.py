"""What a reviewer must not miss in a change, found in the two synthesized outputs.

Each detector compares *before* and *after*, so only what the change introduces is flagged: an ALB
listener that was already open to the internet is not news, one that becomes open is.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bootstrap.cutover_runner import RUNNER_ROLE
from infra.review.diff import ABSENT, BlockChange, flatten
from infra.review.stateful import STATEFUL
from infra.synthesized import Block, SynthDir, SynthStack, references

WORLD = ("0.0.0.0/0", "::/0")

# Arguments that protect data or access, and the value that protects. Matched at any depth (a launch
# template's block_device_mappings[0].ebs.encrypted, an S3 rule's bucket_key_enabled does not count).
PROTECTIVE = {
    "deletion_protection": True,
    "enable_deletion_protection": True,
    "prevent_destroy": True,
    "skip_final_snapshot": False,
    "storage_encrypted": True,
    "at_rest_encryption_enabled": True,
    "transit_encryption_enabled": True,
    "encrypted": True,
    "enable_key_rotation": True,
}
# Parameter-group settings that protect data in transit, and their protective value.
PROTECTIVE_PARAMETERS = {"require_secure_transport": ("1", "ON")}
PARAMETER_GROUP_TYPES = ("aws_db_parameter_group", "aws_rds_cluster_parameter_group")
# Resources whose only job is encryption: removing one turns encryption off for what it configured.
ENCRYPTION_RESOURCES = ("aws_s3_bucket_server_side_encryption_configuration", "aws_ebs_encryption_by_default")
KEY_POLICY_TYPES = ("aws_kms_key", "aws_kms_key_policy")
# Arguments naming the key or algorithm that encrypts something: set before, unset after = off, or
# down to the AWS-managed default (an SNS topic without kms_master_key_id is not encrypted at all).
ENCRYPTION_ARGUMENTS = ("kms_key_id", "kms_master_key_id", "kms_key_arn", "sse_algorithm")

# Order of the risk table: the irreversible first.
KINDS = {
    "destroy": "destroys a stateful resource",
    "replace": "likely replaces a stateful resource",
    "protection-off": "turns off deletion protection or encryption",
    "waf": "removes a WAF web ACL or switches its rules to count",
    "open-ingress": "opens a security group to the internet",
    "data-egress": "opens a way out of the data tier (the databases' subnets)",
    "iam-wildcard": "adds a wildcard to an IAM statement",
    "cutover-runner": "keeps a cutover runner (database secret and access): remove it after the cutover",
    "checkov": "new checkov finding",
}


@dataclass(frozen=True)
class Risk:
    kind: str  # a key of KINDS
    stack: str
    address: str
    detail: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "stack": self.stack, "address": self.address, "detail": self.detail}


def find_risks(changes: list[BlockChange], before: SynthDir, after: SynthDir) -> list[Risk]:
    risks = [
        *stateful_risks(changes),
        *protection_risks(changes),
        *waf_risks(changes),
        *_new(open_ingress, "open-ingress", before, after),
        *_new(data_tier_egress, "data-egress", before, after),
        *_new(iam_wildcards, "iam-wildcard", before, after),
        # Not only when added: a runner is flagged in every review for as long as it exists.
        *(
            Risk("cutover-runner", stack.name, address, detail)
            for stack in after.stacks.values()
            for address, detail in cutover_runners(stack)
        ),
    ]
    return sorted(risks, key=lambda r: (list(KINDS).index(r.kind), r.stack, r.address, r.detail))


def stateful_risks(changes: Iterable[BlockChange]) -> list[Risk]:
    risks = []
    for change in changes:
        if (
            change.kind == "provider"
            and change.action == "changed"
            and any(a.top == "region" for a in change.attributes)
        ):
            risks.append(
                Risk(
                    "replace",
                    change.stack,
                    change.address,
                    "region changes: every resource of the stack is re-created there",
                )
            )
        entry = STATEFUL.get(change.type) if change.kind == "resource" else None
        if entry is None:
            continue
        if change.action == "removed":
            risks.append(
                Risk(
                    "destroy",
                    change.stack,
                    change.address,
                    f"{entry.what} is destroyed. If it was only renamed, add a `moved` block.",
                )
            )
        elif change.action == "changed":
            forcing = sorted({a.top for a in change.attributes if a.top in entry.forces_replacement})
            if forcing:
                risks.append(
                    Risk(
                        "replace",
                        change.stack,
                        change.address,
                        f"{entry.what}: changing {', '.join(forcing)} forces a new resource.",
                    )
                )
    return risks


def protection_risks(changes: Iterable[BlockChange]) -> list[Risk]:
    risks = []
    for change in changes:
        if change.kind != "resource":
            continue
        if change.action == "removed" and change.type in ENCRYPTION_RESOURCES:
            risks.append(Risk("protection-off", change.stack, change.address, "encryption configuration removed"))
        if change.action == "changed" and change.type in PARAMETER_GROUP_TYPES:
            risks += _parameter_risks(change)
        if change.action == "changed":
            before, after = _leaves_by_name(change.before.body), _leaves_by_name(change.after.body)
            for name in ENCRYPTION_ARGUMENTS:
                if before.get(name) and not after.get(name):
                    risks.append(
                        Risk(
                            "protection-off",
                            change.stack,
                            change.address,
                            f"{name} removed: encryption with that key ends",
                        )
                    )
        for attribute in change.attributes:
            protects = PROTECTIVE.get(attribute.leaf)
            if protects is None:
                continue
            if _as_bool(attribute.before) == protects and _as_bool(attribute.after) != protects:
                after = "unset" if attribute.after is ABSENT else json.dumps(attribute.after)
                risks.append(
                    Risk(
                        "protection-off",
                        change.stack,
                        change.address,
                        f"{attribute.path}: {json.dumps(attribute.before)} → {after}",
                    )
                )
    return risks


def _parameter_risks(change: BlockChange) -> list[Risk]:
    """A protective server parameter turned off or removed (e.g. database.require_tls = false)."""

    def values(body: Any) -> dict[str, str]:
        return {str(p.get("name")): str(p.get("value")) for p in _list(body.get("parameter")) if isinstance(p, dict)}

    before, after = values(change.before.body), values(change.after.body)
    return [
        Risk(
            "protection-off",
            change.stack,
            change.address,
            f"{name}: {before[name]} → {after.get(name, 'unset')}: clients may connect without TLS",
        )
        for name, protective in PROTECTIVE_PARAMETERS.items()
        if before.get(name, "").upper() in protective and after.get(name, "").upper() not in protective
    ]


def waf_risks(changes: Iterable[BlockChange]) -> list[Risk]:
    """A web ACL or an attachment of one removed; a rule that blocked removed, or switched to count."""
    risks = []
    for change in changes:
        if change.kind != "resource":
            continue

        def flag(detail: str, change: BlockChange = change) -> None:
            risks.append(Risk("waf", change.stack, change.address, detail))

        if change.action == "removed" and change.type == "aws_wafv2_web_acl":
            flag(f"web ACL {change.before.body.get('name')!r} is destroyed")
        elif change.action == "removed" and change.type == "aws_wafv2_web_acl_association":
            flag("the resource it protected (the load balancer) loses its web ACL")
        elif change.action == "changed" and change.type == "aws_cloudfront_distribution":
            if change.before.body.get("web_acl_id") and not change.after.body.get("web_acl_id"):
                flag("CloudFront loses its web ACL (web_acl_id removed)")
        elif change.action == "changed" and change.type == "aws_wafv2_web_acl":
            before, after = _blocking_modes(change.before.body), _blocking_modes(change.after.body)
            for part in sorted(before.keys() | after.keys()):
                old, new = _mode(before, part), _mode(after, part)
                if old == "block" and new != "block":
                    what = "is removed" if new == "removed" else f"switches from block to {new}"
                    flag(f"{part} {what}")
    return risks


def _mode(modes: dict[str, str], part: str) -> str:
    """What ``part`` does; a rule of a group without an override of its own does what its group does."""
    if part in modes:
        return modes[part]
    group, override, _ = part.partition(": ")
    return modes.get(group, "removed") if override else "removed"


def _blocking_modes(web_acl: dict) -> dict[str, str]:
    """What each part of a web ACL does with a match: the default action, every rule, every rule override."""
    modes = {"default action": _first_key(web_acl.get("default_action"))}
    for rule in _list(web_acl.get("rule")):
        name = f"rule {rule.get('name')!r}"
        if rule.get("override_action") is not None:
            # A rule group: "none" keeps its rules' own actions; "count" makes every one of them count.
            modes[name] = "count" if _first_key(rule["override_action"]) == "count" else "block"
        else:
            modes[name] = _first_key(rule.get("action"))
        group = _one(_one(rule.get("statement")).get("managed_rule_group_statement"))
        for override in _list(group.get("rule_action_override")):
            modes[f"{name}: rule {override.get('name')!r}"] = _first_key(override.get("action_to_use"))
    return modes


def _one(block: Any) -> dict:
    """A nested block as Terraform JSON allows it: an object, or a list holding one."""
    if isinstance(block, list):
        return block[0] if block else {}
    return block if isinstance(block, dict) else {}


def _first_key(block: Any) -> str | None:
    return next(iter(_one(block)), None)


def _leaves_by_name(body: Any) -> dict[str, list]:
    """Set values by argument name at any depth (so a block moving position in a list is not a removal)."""
    found: dict[str, list] = {}
    for path, value in flatten(body).items():
        if value not in (None, "", []):
            found.setdefault(re.split(r"[.\[\]]+", path.rstrip("]"))[-1], []).append(value)
    return found


def _as_bool(value: Any) -> Any:
    # Nullable booleans (ElastiCache's at_rest_encryption_enabled) are strings in the 6.x bindings.
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


def _new(detector, kind: str, before: SynthDir, after: SynthDir) -> list[Risk]:
    """Findings of ``detector`` present after the change and absent before it."""
    old = {(stack.name, *finding) for stack in before.stacks.values() for finding in detector(stack)}
    return [
        Risk(kind, stack.name, address, detail)
        for stack in after.stacks.values()
        for address, detail in sorted(set(detector(stack)))
        if (stack.name, address, detail) not in old
    ]


def open_ingress(stack: SynthStack) -> list[tuple[str, str]]:
    """(address, "tcp 22-22 from 0.0.0.0/0") for every ingress rule open to the whole internet."""
    found = []
    for block in stack.of_kind("resource"):
        body = block.body
        if block.type in ("aws_security_group", "aws_default_security_group"):
            rules = [rule for rule in body.get("ingress") or [] if isinstance(rule, dict)]
            ranges = [(r, r.get("cidr_blocks"), r.get("ipv6_cidr_blocks"), r.get("protocol")) for r in rules]
        elif block.type == "aws_security_group_rule" and body.get("type") == "ingress":
            ranges = [(body, body.get("cidr_blocks"), body.get("ipv6_cidr_blocks"), body.get("protocol"))]
        elif block.type == "aws_vpc_security_group_ingress_rule":
            ranges = [(body, [body.get("cidr_ipv4")], [body.get("cidr_ipv6")], body.get("ip_protocol"))]
        else:
            continue
        for rule, ipv4, ipv6, protocol in ranges:
            for cidr in [*(ipv4 or []), *(ipv6 or [])]:
                if cidr in WORLD:
                    found.append(
                        (
                            block.address,
                            f"{protocol} {rule.get('from_port', 'all')}-{rule.get('to_port', 'all')} from {cidr}",
                        )
                    )
    return found


def data_tier_egress(stack: SynthStack) -> list[tuple[str, str]]:
    """(address, "route to 52.66.10.20/32 through a NAT gateway") for each way out of the data tier: a route or
    an egress rule to addresses in the data stack (whose services otherwise open no connection), and
    an egress rule of the data subnets' NACL to an internet address."""
    found = []
    blocks = stack.of_kind("resource")
    if stack.name.endswith("-data"):
        for block in blocks:
            body = block.body
            if block.type == "aws_route":
                via = "a NAT gateway" if body.get("nat_gateway_id") else "a gateway"
                found.append((block.address, f"route to {body.get('destination_cidr_block')} through {via}"))
            elif block.type == "aws_security_group":
                rules = [r for r in _list(body.get("egress")) if isinstance(r, dict)]
                found += [
                    (block.address, f"{r.get('protocol')} {r.get('from_port')}-{r.get('to_port')} to {cidr}")
                    for r in rules
                    for cidr in _list(r.get("cidr_blocks"))
                ]
            elif block.type == "aws_vpc_security_group_egress_rule" and body.get("cidr_ipv4"):
                found.append(
                    (
                        block.address,
                        f"{body.get('ip_protocol')} {body.get('from_port')}-{body.get('to_port')} "
                        f"to {body['cidr_ipv4']}",
                    )
                )
    for block in blocks:
        if block.type == "aws_network_acl" and str((block.body.get("tags") or {}).get("Name", "")).endswith("-data"):
            found += [
                (
                    block.address,
                    f"NACL egress {r.get('protocol')} {r.get('from_port')}-{r.get('to_port')} to {r.get('cidr_block')}",
                )
                for r in _list(block.body.get("egress"))
                if isinstance(r, dict) and _public(r.get("cidr_block"))
            ]
    return found


def _public(cidr: Any) -> bool:
    """An internet address range (the VPC's own range, like every private one, is not)."""
    try:
        return not ipaddress.ip_network(str(cidr)).is_private
    except ValueError:
        return False  # an expression, not a literal range


def cutover_runners(stack: SynthStack) -> list[tuple[str, str]]:
    """(address, what it may do) for every instance tagged as a cutover runner."""
    return [
        (
            block.address,
            "can read the database's master secret and reach the database: "
            "set [cutover] runner = false once the cutover is done",
        )
        for block in stack.of_kind("resource")
        if block.type == "aws_instance" and (block.body.get("tags") or {}).get("Role") == RUNNER_ROLE
    ]


def iam_wildcards(stack: SynthStack) -> list[tuple[str, str]]:
    """(address, 'statement "<sid or actions>": Resource "*"') for each wildcard in an Allow statement."""
    # In a KMS key policy "Resource": "*" means the key itself, not every resource: not a widening.
    key_policies = {
        address
        for block in stack.of_kind("resource")
        if block.type in KEY_POLICY_TYPES
        for address in {block.address} | references(block.body.get("policy"), stack.blocks)
    }
    found = []
    for block in stack.blocks.values():
        for statement in _statements(block):
            if str(statement.get("effect", "Allow")).lower() != "allow":
                continue
            key = statement.get("sid") or ",".join(sorted(statement["actions"])) or "(no actions)"
            wildcards = [f"Action {a!r}" for a in statement["actions"] if "*" in a]
            if block.address not in key_policies:
                wildcards += [f"Resource {r!r}" for r in statement["resources"] if r == "*"]
            wildcards += [f"Principal {p!r}" for p in statement["principals"] if p == "*"]
            found += [(block.address, f"statement {key!r}: {w}") for w in wildcards]
    return found


def _statements(block: Block) -> list[dict]:
    """A block's IAM statements, normalized: {sid, effect, actions, resources, principals} of strings."""
    if block.kind == "data" and block.type == "aws_iam_policy_document":
        return [
            {
                "sid": s.get("sid"),
                "effect": s.get("effect", "Allow"),
                "actions": [*_list(s.get("actions")), *_list(s.get("not_actions"))],
                "resources": [*_list(s.get("resources")), *_list(s.get("not_resources"))],
                "principals": [i for p in _list(s.get("principals")) for i in _list(p.get("identifiers"))],
            }
            for s in _list(block.body.get("statement"))
        ]
    statements = []
    for path, value in flatten(block.body).items():
        if not path.endswith("policy") or not isinstance(value, str) or not value.lstrip().startswith("{"):
            continue
        try:
            document = json.loads(value)
        except json.JSONDecodeError:
            continue  # an HCL expression (jsonencode(...)): not a literal document
        for s in _list(document.get("Statement")):
            principal = s.get("Principal", s.get("NotPrincipal"))
            statements.append(
                {
                    "sid": s.get("Sid"),
                    "effect": s.get("Effect", "Allow"),
                    "actions": [*_list(s.get("Action")), *_list(s.get("NotAction"))],
                    "resources": [*_list(s.get("Resource")), *_list(s.get("NotResource"))],
                    "principals": [principal]
                    if isinstance(principal, str)
                    else [i for v in (principal or {}).values() for i in _list(v)],
                }
            )
    return statements


def _list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def checkov_risks(before: Iterable, after: Iterable) -> list[Risk]:
    """Unexplained checkov findings (``infra.checkov_scan.Finding``) that the change introduces."""
    old = {(f.check_id, f.stack, f.resource) for f in before}
    return [
        Risk("checkov", f.stack, f.resource, f"{f.check_id}: {f.check_name}")
        for f in sorted(set(after), key=lambda f: (f.stack, f.resource, f.check_id))
        if (f.check_id, f.stack, f.resource) not in old
    ]
