"""The one place that knows which CDK engine synthesizes the stacks, and how its AWS bindings load.

Two engines with one API (DESIGN §3, docs/engines.md):

- ``cdktf`` (default): CDKTF 0.21 — packages ``cdktf`` and ``cdktf_cdktf_provider_aws``; archived upstream.
- ``cdktn``: its maintained fork CDK Terrain — ``cdktn`` and ``cdktn_provider_aws``;
  ``pip install -e '.[cdktn]'``.

Constructs and stacks never name either package; they import the engine's names from here::

    from infra.engine import TerraformStack, Token        # any name of the engine's core package
    from infra.engine.aws.lb import Lb, LbAccessLogs      # any class of an AWS provider submodule
    from constructs import Construct                      # one package, shared by both engines

``infra.engine.aws.<submodule>`` *is* the active engine's ``<provider>.<submodule>`` (the same module
object, so classes keep their identity). ``tests/test_conventions.py`` fails on a direct import.

Which engine: ``select(name)`` (``infra synth --engine``), else ``$DUEWIN_ENGINE``, else the
environment file's ``engine`` (handed to ``activate``), else cdktf. The first name looked up fixes
it for the life of the process: the two engines' classes cannot meet in one app.

Fast provider import: the provider package's ``__init__`` (in the bindings pinned here) imports all
~2,200 resource submodules (~10 s, ~0.5 GB), yet every submodule loads the provider's jsii assembly
by itself (``from .._jsii import *``). ``activate()`` registers the package in ``sys.modules``
without executing its ``__init__``, so only the submodules the stacks use are loaded. It is called
explicitly by whatever synthesizes (``infra.app.build_app``, the test harness), never by importing a
construct or stack. Until then the engine's names refuse to load (``EngineError``): a construct
imported first would otherwise fix the engine before the environment file is read and pay the whole
provider import. Guarded: if the installed layout is not the one measured, or
``DUEWIN_PLAIN_PROVIDER_IMPORT=1`` (the benchmark's baseline), the normal import runs; a test proves
both paths synthesize byte-identical output.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from types import ModuleType

ENGINE_ENV = "DUEWIN_ENGINE"
PLAIN_IMPORT_ENV = "DUEWIN_PLAIN_PROVIDER_IMPORT"
DEFAULT_ENGINE = "cdktf"
#: Where the provider's submodules appear: ``infra.engine.aws.<submodule>``.
PROVIDER_ALIAS = f"{__name__}.aws"

# Makes this module a package in name only, so that ``infra.engine.aws.<submodule>`` can be imported
# (the import system looks for submodules only below a ``__path__``); nothing is ever found on disk.
__path__: list[str] = []


@dataclass(frozen=True)
class Engine:
    name: str
    title: str
    core: str  # App, TerraformStack, Token, Fn, the backends, Testing
    provider: str  # the prebuilt AWS bindings: one submodule per resource or data source type
    install: str

    def version(self) -> str:
        """The core's release (its PyPI distribution has the package's name)."""
        return importlib.metadata.version(self.core)

    def installed(self) -> bool:
        return all(importlib.util.find_spec(package) is not None for package in (self.core, self.provider))


ENGINES = {
    "cdktf": Engine("cdktf", "CDKTF", "cdktf", "cdktf_cdktf_provider_aws", "pip install -e ."),
    "cdktn": Engine("cdktn", "CDK Terrain", "cdktn", "cdktn_provider_aws", "pip install -e '.[cdktn]'"),
}


class EngineError(Exception):
    """Why the requested engine cannot be used, in one line: unknown, not installed, or another one in use."""


_selected: str | None = None
_active: Engine | None = None
_activated = False


def select(name: str) -> None:
    """Ask for ``name`` (the CLI's ``--engine``); overrides ``$DUEWIN_ENGINE`` and the environment file."""
    global _selected
    _known(name, "--engine")
    if _active is not None and _active.name != name:
        raise EngineError(f"engine {name!r} requested, but {_active.name!r} is already in use in this process")
    _selected = name


def current(configured: str | None = None) -> Engine:
    """The engine of this process, fixed on first call. ``configured``: the environment file's ``engine``."""
    global _active
    if _active is None:
        name, source = _requested(configured)
        engine = _known(name, source)
        if not engine.installed():
            raise EngineError(f"engine {name!r} ({engine.title}, from {source}) is not installed: {engine.install}")
        # jsii prints a banner for Node 20 when its kernel starts; Node 20 works (DESIGN §3).
        os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
        _active = engine
    elif configured is not None and _selected is None and not os.environ.get(ENGINE_ENV) and configured != _active.name:
        raise EngineError(f"the environment file asks for engine {configured!r}, but {_active.name!r} is in use")
    return _active


def activate(configured: str | None = None) -> str:
    """Fix the engine (see ``current``) and make its provider submodules cheap to import.

    Returns 'lazy' (the package was registered without running its ``__init__``), 'plain' (the
    normal import will run) or 'loaded' (the package was imported before). From then on the engine's
    names can be imported.
    """
    global _activated
    how = _register_provider(current(configured).provider)
    _activated = True
    return how


def _register_provider(package: str) -> str:
    if package in sys.modules:
        return "loaded"
    if os.environ.get(PLAIN_IMPORT_ENV) == "1":
        return "plain"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations or spec.origin is None:
        return "plain"
    package_dir = os.path.dirname(spec.origin)
    # The layout the shortcut relies on: the assembly loader and the provider class as submodules.
    expected = (os.path.join(package_dir, "_jsii", "__init__.py"), os.path.join(package_dir, "provider", "__init__.py"))
    if not all(os.path.isfile(path) for path in expected):
        return "plain"
    sys.modules[package] = importlib.util.module_from_spec(spec)
    return "lazy"


def _require_activation(name: str) -> None:
    if not _activated:
        raise EngineError(
            f"{name} imported before infra.engine.activate(): call it first, as infra.app.build_app and "
            "tests/infra/conftest.py do (it fixes the engine and makes the provider cheap to import)"
        )


def __getattr__(name: str) -> object:
    """``from infra.engine import Token``: a name of the active engine's core package."""
    if name.startswith("_") or name == "aws":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _require_activation(f"{__name__}.{name}")
    core = importlib.import_module(current().core)
    try:
        return getattr(core, name)
    except AttributeError:
        raise AttributeError(f"engine {current().name!r} ({current().core}) has no name {name!r}") from None


def _requested(configured: str | None) -> tuple[str, str]:
    if _selected is not None:
        return _selected, "--engine"
    if os.environ.get(ENGINE_ENV):
        return os.environ[ENGINE_ENV], f"${ENGINE_ENV}"
    if configured is not None:
        return configured, "the environment file"
    return DEFAULT_ENGINE, "the default"


def _known(name: str, source: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise EngineError(f"unknown engine {name!r} (from {source}); choose one of: {', '.join(ENGINES)}") from None


class _ProviderAliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``infra.engine.aws.<submodule>`` as the active engine's ``<provider>.<submodule>``."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if fullname == PROVIDER_ALIAS:
            return ModuleSpec(fullname, self, is_package=True)
        if fullname.startswith(PROVIDER_ALIAS + "."):
            return ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        if module.__name__ == PROVIDER_ALIAS:
            return  # only a parent for the submodules below
        _require_activation(module.__name__)
        submodule = module.__name__.removeprefix(PROVIDER_ALIAS)
        # The import system returns whatever sys.modules holds under the name once this returns: the
        # real module, whose own __spec__ and __name__ stay untouched.
        sys.modules[module.__name__] = importlib.import_module(current().provider + submodule)


# Answers only for names below infra.engine.aws, which nothing else provides.
if not any(type(finder).__name__ == _ProviderAliases.__name__ for finder in sys.meta_path):
    sys.meta_path.insert(0, _ProviderAliases())
