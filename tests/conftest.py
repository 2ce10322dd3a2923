"""Suite-wide conventions.

``missing(what)``: a test that needs a binary or server that is not there skips on a developer's
machine and FAILS in CI (``DUEWIN_REQUIRE_TOOLS=1``, set by .ci/run), so a check that did not run is
never reported as passed.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_TOOLS = os.environ.get("DUEWIN_REQUIRE_TOOLS") == "1"


def missing(what: str) -> None:
    """Skip (locally) or fail (CI) because ``what`` is unavailable. Never returns."""
    if REQUIRE_TOOLS:
        pytest.fail(f"required in CI but unavailable: {what}", pytrace=False)
    pytest.skip(f"unavailable: {what}")
