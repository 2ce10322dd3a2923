"""The files the rehearsal keeps beside each stack's ``cdk.tf.json``: override files and local state (pure).

The synthesized JSON itself is never edited: terraform reads ``*_override.tf.json`` on top of it.
"""

from __future__ import annotations

import json

from infra.rehearsal.emulator import FAKE_CREDENTIALS
from infra.synthesized import SynthStack
from infra.terraform_cli import OVERRIDE_FILE, provider_pin

TEARDOWN_OVERRIDE_FILE = "zz_rehearsal_teardown_override.tf.json"
#: Resource type → the settings that let terraform destroy it; applied just before destroy, so the
#: rehearsal first proves the real (protected) values deploy and re-plan clean.
TEARDOWN_SETTINGS = {
    "aws_db_instance": {"deletion_protection": False, "skip_final_snapshot": True, "delete_automated_backups": True},
    "aws_rds_cluster": {"deletion_protection": False, "skip_final_snapshot": True},
    "aws_lb": {"enable_deletion_protection": False},
}


def state_file(stack_name: str) -> str:
    """The stack's local state, in its own directory."""
    return f"terraform.{stack_name}.tfstate"


def emulator_override(stack: SynthStack, region: str) -> dict:
    """The override body for one stack: backend, provider pin and settings, remote state paths."""
    body = provider_pin()
    body["terraform"]["backend"] = {"local": {"path": state_file(stack.name)}}
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
    sources = stack.remote_state_reads
    if sources:
        body["data"] = {
            "terraform_remote_state": {
                name: {"backend": "local", "config": {"path": f"../{source}/{state_file(source)}"}}
                for name, source in sources.items()
            }
        }
    return body


def write_overrides(stacks: list[SynthStack], region: str) -> None:
    for stack in stacks:
        override = emulator_override(stack, region)
        (stack.directory / OVERRIDE_FILE).write_text(json.dumps(override, indent=2) + "\n")


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


def state_resources(stack: SynthStack) -> dict[str, dict]:
    """Managed resource address → attributes, read from the stack's local state (no provider start)."""
    path = stack.directory / state_file(stack.name)
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
