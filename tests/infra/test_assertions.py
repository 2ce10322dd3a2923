"""The shared readers of synthesized JSON fail where a lookup is ambiguous, so no test passes on the wrong resource."""

from __future__ import annotations

import pytest

from tests.infra.assertions import only_item, only_resource, resources_of_type

STACK = {"resource": {"aws_lb": {"app_alb_1A": {"internal": False}, "admin_alb_2B": {"internal": True}}}}


def test_only_resource_is_the_one_match_and_fails_on_none_or_two():
    lbs = resources_of_type(STACK, "aws_lb")
    assert only_item(lbs, "admin") == ("admin_alb_2B", {"internal": True})
    assert only_resource(lbs, "app_") == {"internal": False}
    with pytest.raises(AssertionError, match=r"found \['admin_alb_2B', 'app_alb_1A'\]"):
        only_resource(lbs)
    with pytest.raises(AssertionError, match=r"named \*nlb\*, found \[\] among"):
        only_resource(lbs, "nlb")


def test_an_absent_type_or_block_reads_as_none():
    assert resources_of_type(STACK, "aws_instance") == {} == resources_of_type(STACK, "aws_iam_policy_document", "data")
    assert resources_of_type(STACK, "aws_lb") is STACK["resource"]["aws_lb"]
