"""The synthesized stacks as a Graphviz DOT diagram, so a reviewer sees the architecture without JSON.

Nodes are resources (data sources are folded into the edges that pass through them), clustered by
stack and, inside a stack, by subnet tier. A resource belongs to a tier when it names that tier's
subnets (tagged ``Tier``), directly or through a ``*subnet_group``. Edges are references:
``${aws_x.y.attr}`` tokens and ``depends_on`` inside a stack (solid), and CDKTF's remote-state
outputs across stacks (dashed).
"""

from __future__ import annotations

from infra.synthesized import Block, SynthDir, SynthStack, references, remote_outputs

TIER_COLOURS = {"public": "#e8f4fd", "app": "#eaf7ea", "data": "#fdf1e6"}


def node_id(stack: SynthStack | str, block: Block | str) -> str:
    return f"{getattr(stack, 'name', stack)}/{getattr(block, 'address', block)}"


def edges(synth: SynthDir) -> set[tuple[str, str, bool]]:
    """(from node, to node, crosses stacks) for every reference between resources."""
    found: set[tuple[str, str, bool]] = set()
    for stack in synth.stacks.values():
        for block in stack.of_kind("resource"):
            for target_stack, target, cross in _targets(synth, stack, block.body, block.body.get("depends_on", ())):
                if target != block.address or cross:
                    found.add((node_id(stack, block), node_id(target_stack, target), cross))
    return found


def _targets(synth: SynthDir, stack: SynthStack, value, depends_on=()):
    """Resources ``value`` refers to, looking through data sources and remote-state outputs."""
    direct = references(value, stack.blocks) | {d for d in depends_on if d in stack.blocks}
    for address in direct:
        block = stack.blocks[address]
        if block.kind == "resource":
            yield stack.name, address, False
        elif block.kind == "data":
            for inner in references(block.body, stack.blocks):
                if stack.blocks[inner].kind == "resource":
                    yield stack.name, inner, False
    for output_name in remote_outputs(value):
        producer = synth.output(output_name)
        if producer is None:
            continue
        producer_stack, output = producer
        for _, address, _ in _targets(synth, producer_stack, output.body):
            yield producer_stack.name, address, True


def tiers(synth: SynthDir) -> dict[str, str]:
    """node id → subnet tier, for the resources that are placed in one tier."""
    placed = {
        node_id(stack, block): block.body["tags"]["Tier"]
        for stack in synth.stacks.values()
        for block in stack.of_kind("resource")
        if block.type == "aws_subnet" and isinstance(block.body.get("tags"), dict) and "Tier" in block.body["tags"]
    }
    links = edges(synth)
    for through_subnet_groups in (False, True):
        found: dict[str, set[str]] = {}
        for source, target, _ in links:
            if source in placed or target not in placed:
                continue
            if through_subnet_groups and not target.split("/", 1)[1].split(".")[0].endswith("subnet_group"):
                continue
            found.setdefault(source, set()).add(placed[target])
        placed.update({node: next(iter(t)) for node, t in found.items() if len(t) == 1})
    return placed


def to_dot(synth: SynthDir, title: str = "") -> str:
    tier_of = tiers(synth)
    lines = [
        "digraph architecture {",
        f"  graph [rankdir=LR, fontname=Helvetica, label={_quote(title)}, labelloc=t, compound=true];",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname=Helvetica, fontsize=10];',
        '  edge [color="#888888"];',
    ]
    for index, stack in enumerate(synth.stacks.values()):
        lines += [f"  subgraph cluster_{index} {{", f'    label={_quote(stack.name)}; style=rounded; color="#333333";']
        resources = stack.of_kind("resource")
        for tier in TIER_COLOURS:
            members = [b for b in resources if tier_of.get(node_id(stack, b)) == tier]
            if members:
                lines += [
                    f"    subgraph cluster_{index}_{tier} {{",
                    f'      label={_quote(tier + " subnets")}; style="rounded,filled"; '
                    f'fillcolor="{TIER_COLOURS[tier]}";',
                    *(f"      {_node(stack, b)}" for b in members),
                    "    }",
                ]
        lines += [f"    {_node(stack, b)}" for b in resources if node_id(stack, b) not in tier_of]
        lines.append("  }")
    for source, target, cross in sorted(edges(synth)):
        style = ' [style=dashed, color="#1f6feb"]' if cross else ""
        lines.append(f"  {_quote(source)} -> {_quote(target)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node(stack: SynthStack, block: Block) -> str:
    name = (block.construct_path or block.name).removeprefix(f"{stack.name}/")
    return f"{_quote(node_id(stack, block))} [label={_quote(block.type.removeprefix('aws_') + chr(10) + name)}];"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
