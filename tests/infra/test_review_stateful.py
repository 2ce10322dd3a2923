"""The stateful-resource table names only arguments that exist, settable, in the real provider schema.

ForceNew is not exported by ``terraform providers schema -json``, so the table is kept by hand
(infra/review/stateful.py); this keeps it from rotting when the provider renames or drops one.
"""

from __future__ import annotations

import json

import pytest

from infra.review.stateful import STATEFUL
from infra.terraform_cli import MIRROR_PROVIDER_VERSION, OfflineTerraform, TerraformUnavailable, pin_provider_version
from tests.conftest import missing


@pytest.fixture(scope="module")
def resource_schemas(tmp_path_factory):
    try:
        terraform = OfflineTerraform.create(tmp_path_factory.mktemp("terraform-home"))
    except TerraformUnavailable as exc:
        missing(str(exc))
    workdir = tmp_path_factory.mktemp("schema")
    pin_provider_version(workdir)
    init = terraform.run(workdir, "init", "-backend=false")
    assert init.returncode == 0, init.stderr[-3000:]
    proc = terraform.run(workdir, "providers", "schema", "-json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    schema = json.loads(proc.stdout)["provider_schemas"]["registry.terraform.io/hashicorp/aws"]
    return schema["resource_schemas"]


@pytest.mark.parametrize("resource_type", sorted(STATEFUL))
def test_replacement_forcing_arguments_exist_in_the_provider_schema(resource_schemas, resource_type):
    assert resource_type in resource_schemas, f"{resource_type} is not a resource of aws {MIRROR_PROVIDER_VERSION}"
    block = resource_schemas[resource_type]["block"]
    attributes, blocks = block.get("attributes", {}), block.get("block_types", {})
    for argument in sorted(STATEFUL[resource_type].forces_replacement):
        assert argument in attributes or argument in blocks, (
            f"{resource_type}.{argument} is not in aws {MIRROR_PROVIDER_VERSION}"
        )
        if argument in attributes:
            spec = attributes[argument]
            assert spec.get("optional") or spec.get("required"), (
                f"{resource_type}.{argument} is computed only: a config cannot change it"
            )


def test_the_schema_check_can_fail(resource_schemas):
    assert "not_an_argument" not in resource_schemas["aws_db_instance"]["block"]["attributes"]
    assert (
        "arn" in resource_schemas["aws_db_instance"]["block"]["attributes"]
    )  # computed-only exists and would be refused
    assert not resource_schemas["aws_db_instance"]["block"]["attributes"]["arn"].get("optional")
