"""Reading one stack's synthesized JSON in assertions: every infra test picks its resources these ways, so an
absent type reads as none and a lookup that expects one resource fails naming what it found."""

from __future__ import annotations

from collections.abc import Mapping


def resources_of_type(stack: dict, resource_type: str, block: str = "resource") -> dict[str, dict]:
    """The stack's ``block`` ("resource", or "data" for data sources) of ``resource_type`` by name; {} if none."""
    return stack.get(block, {}).get(resource_type, {})


def only_item(resources: Mapping[str, dict], containing: str = "") -> tuple[str, dict]:
    """``(name, body)`` of the one resource whose name contains ``containing``; fails unless exactly one does."""
    names = sorted(resources)
    matches = [name for name in names if containing in name]
    assert len(matches) == 1, f"expected one resource named *{containing}*, found {matches} among {names}"
    return matches[0], resources[matches[0]]


def only_resource(resources: Mapping[str, dict], containing: str = "") -> dict:
    """The body of the one resource whose name contains ``containing``; fails unless exactly one does."""
    return only_item(resources, containing)[1]
