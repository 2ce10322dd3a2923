"""`infra graph`: valid SVG whose nodes are exactly the synthesized resources, grouped and linked."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from infra.cli import main
from infra.review.graph import edges, tiers, to_dot
from infra.synthesized import SynthDir, SynthStack, load
from tests.conftest import missing

SVG = "{http://www.w3.org/2000/svg}"


def _titles(root: ET.Element, kind: str) -> list[str]:
    return [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == kind]


def test_svg_nodes_are_the_synthesized_resources(synthesized, tmp_path):
    if shutil.which("dot") is None:
        missing("Graphviz dot (apt-get install graphviz)")
    synth = synthesized("dev")
    out = tmp_path / "dev.svg"
    result = CliRunner().invoke(main, ["graph", "--env", "dev", "--synth-dir", str(synth.outdir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    root = ET.parse(out).getroot()  # raises if the SVG is not well-formed XML
    assert root.tag == f"{SVG}svg"

    loaded = load(synth.outdir)
    expected = {
        f"{stack.name}/{block.address}" for stack in loaded.stacks.values() for block in stack.of_kind("resource")
    }
    assert set(_titles(root, "node")) == expected
    assert len(_titles(root, "edge")) == len(edges(loaded)) > len(expected) / 2
    clusters = set(_titles(root, "cluster"))
    assert {"cluster_0", "cluster_0_public", "cluster_0_app", "cluster_0_data"} <= clusters

    # Every subnet sits in its own tier's cluster, the NAT gateway in the public one, the databases in the data one.
    tier_of = tiers(loaded)
    for stack in loaded.stacks.values():
        for block in stack.of_kind("resource"):
            node = f"{stack.name}/{block.address}"
            if block.type == "aws_subnet":
                assert tier_of[node] == block.body["tags"]["Tier"]
            if block.type == "aws_nat_gateway":
                assert tier_of[node] == "public"
            if block.type in ("aws_db_instance", "aws_elasticache_replication_group"):
                assert tier_of[node] == "data", "placed through its subnet group, across stacks"
    assert sum(cross for _, _, cross in edges(loaded)) > 0, "the data stack's remote-state references are edges"


def test_cross_stack_references_and_subnet_groups_place_resources():
    # GIVEN a network stack exporting a data subnet and a data stack reading it through CDKTF's remote state
    network = {
        "resource": {"aws_subnet": {"data-0": {"tags": {"Tier": "data"}}}},
        "output": {"cross-stack-output-aws_subnetdata-0id": {"value": "${aws_subnet.data-0.id}"}},
    }
    remote = (
        "${data.terraform_remote_state.cross-stack-reference-input-net.outputs.cross-stack-output-aws_subnetdata-0id}"
    )
    data = {
        "data": {"terraform_remote_state": {"cross-stack-reference-input-net": {"backend": "local"}}},
        "resource": {
            "aws_db_subnet_group": {"g": {"subnet_ids": [remote]}},
            "aws_db_instance": {"db": {"db_subnet_group_name": "${aws_db_subnet_group.g.name}"}},
            "aws_sns_topic": {"alarms": {}},
        },
    }
    synth = SynthDir({"net": SynthStack("net", network), "db": SynthStack("db", data, ("net",))})
    # THEN the subnet group links across stacks (dashed) and the database lands in the data tier
    assert edges(synth) == {
        ("db/aws_db_subnet_group.g", "net/aws_subnet.data-0", True),
        ("db/aws_db_instance.db", "db/aws_db_subnet_group.g", False),
    }
    assert tiers(synth) == {
        "net/aws_subnet.data-0": "data",
        "db/aws_db_subnet_group.g": "data",
        "db/aws_db_instance.db": "data",
    }
    dot = to_dot(synth, "t")
    assert '"db/aws_db_subnet_group.g" -> "net/aws_subnet.data-0" [style=dashed' in dot
    assert dot.count("subgraph cluster_1_data") == 1 and '"db/aws_sns_topic.alarms"' in dot
