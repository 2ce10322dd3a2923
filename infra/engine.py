"""The one place that knows how the CDKTF engine and the AWS provider bindings are loaded.

Why this exists (DESIGN §3): ``cdktf_cdktf_provider_aws/__init__.py`` imports all ~2,200 resource
submodules, so importing a single class costs ~10 s and ~0.5 GB. Every submodule loads the
provider's jsii assembly by itself (``from .._jsii import *``), so the package ``__init__`` is
not needed: we register the package in ``sys.modules`` without executing it and let each
``from cdktf_cdktf_provider_aws.<submodule> import X`` load only what the stacks use.

The shortcut is guarded: if the installed layout is not the one it was measured on, or
``DUEWIN_PLAIN_PROVIDER_IMPORT=1`` is set (the benchmark's baseline), the normal import runs.
A test proves both paths synthesize byte-identical output.

Portability: the maintained fork CDK Terrain ships the same API as ``cdktn``/``cdktn_provider_aws``;
switching means changing ``PROVIDER_PACKAGE`` and the ``cdktf``/``cdktf_cdktf_provider_aws``
import lines, all of which live in ``infra/constructs`` and ``infra/stacks``.
"""

from __future__ import annotations

import importlib.util
import os
import sys

PROVIDER_PACKAGE = "cdktf_cdktf_provider_aws"
PLAIN_IMPORT_ENV = "DUEWIN_PLAIN_PROVIDER_IMPORT"

# jsii prints a banner for Node 20 on every start; Node 20 works (DESIGN §3).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def prepare_provider_import() -> str:
    """Make ``cdktf_cdktf_provider_aws.<submodule>`` imports cheap. Returns 'lazy', 'plain' or 'loaded'."""
    if PROVIDER_PACKAGE in sys.modules:
        return "loaded"
    if os.environ.get(PLAIN_IMPORT_ENV) == "1":
        return "plain"
    spec = importlib.util.find_spec(PROVIDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations or spec.origin is None:
        return "plain"
    package_dir = os.path.dirname(spec.origin)
    # The layout the shortcut relies on: the assembly loader and the provider class as submodules.
    expected = (os.path.join(package_dir, "_jsii", "__init__.py"), os.path.join(package_dir, "provider", "__init__.py"))
    if not all(os.path.isfile(path) for path in expected):
        return "plain"
    module = importlib.util.module_from_spec(spec)
    sys.modules[PROVIDER_PACKAGE] = module
    return "lazy"
