"""Suite-wide conventions.

``missing(what)``: a test that needs a binary or server that is not there skips on a developer's
machine and FAILS in CI (``DUEWIN_REQUIRE_TOOLS=1``, set by .ci/run), so a check that did not run is
never reported as passed.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REQUIRE_TOOLS = os.environ.get("DUEWIN_REQUIRE_TOOLS") == "1"
ROOT = Path(__file__).resolve().parent.parent


def missing(what: str) -> None:
    """Skip (locally) or fail (CI) because ``what`` is unavailable. Never returns."""
    if REQUIRE_TOOLS:
        pytest.fail(f"required in CI but unavailable: {what}", pytrace=False)
    pytest.skip(f"unavailable: {what}")


def engine_modules_loaded_by(code: str, *also: str) -> list[str]:
    """Top-level packages of either CDK engine (core, AWS bindings, jsii, constructs) and of ``also``
    that running ``code`` in a fresh interpreter leaves in ``sys.modules``: what a cheap command must not pay."""
    from infra.engine import ENGINES

    watched = {"jsii", "constructs", *also, *(name for e in ENGINES.values() for name in (e.core, e.provider))}
    probe = f"{code}\nimport sys\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(watched)!r})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])
