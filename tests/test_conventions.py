import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from infra.engine import ENGINES
from tests.conftest import ROOT

#: Where the project's Python lives; infra/engine.py is the one module allowed to name an engine's package.
SOURCE_DIRS = ("infra", "tests", "bench", "bootstrap", "monitoring", "migrate")
ENGINE_MODULE = Path("infra/engine.py")


def test_missing_tool_fails_instead_of_skipping_when_required(tmp_path):
    # GIVEN a test that needs an absent tool WHEN CI requires tools THEN the run fails, not skips.
    (tmp_path / "test_x.py").write_text(
        textwrap.dedent(
            """
            from tests.conftest import missing
            def test_needs_tool():
                missing("no-such-binary")
            """
        )
    )
    env_ci = {"DUEWIN_REQUIRE_TOOLS": "1", "PATH": "/usr/bin:/bin"}
    env_dev = {"PATH": "/usr/bin:/bin"}
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        str(tmp_path / "test_x.py"),
    ]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ci = subprocess.run(args, env={**env_ci, "PYTHONPATH": root}, capture_output=True, text=True, cwd=tmp_path)
    dev = subprocess.run(args, env={**env_dev, "PYTHONPATH": root}, capture_output=True, text=True, cwd=tmp_path)
    assert ci.returncode == 1, ci.stdout
    assert "1 failed" in ci.stdout
    assert dev.returncode == 0, dev.stdout
    assert "1 skipped" in dev.stdout


def direct_engine_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of a CDK engine's own package (core or AWS bindings) in ``source``."""
    packages = {name for engine in ENGINES.values() for name in (engine.core, engine.provider)}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            modules = [str(node.args[0].value)]
        else:
            continue
        found += [(node.lineno, module) for module in modules if module.split(".")[0] in packages]
    return found


def test_engine_names_are_imported_only_through_infra_engine():
    # GIVEN every module of the project and its tests THEN none imports cdktf, cdktn or their AWS bindings
    # by name: constructs and stacks take the engine's names from infra.engine, so one switch picks the
    # engine. Reroute an offender: `from cdktf import Token` -> `from infra.engine import Token`,
    # `from cdktf_cdktf_provider_aws.lb import Lb` -> `from infra.engine.aws.lb import Lb`.
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for directory in SOURCE_DIRS
        for path in sorted((ROOT / directory).rglob("*.py"))
        if path.relative_to(ROOT) != ENGINE_MODULE
        for line, module in direct_engine_imports(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "import these from infra.engine instead:\n" + "\n".join(offenders)


def test_the_import_convention_can_fail():
    source = textwrap.dedent(
        """
        import cdktn
        from cdktf import Fn
        from cdktf_cdktf_provider_aws.vpc import Vpc
        from infra.engine.aws.lb import Lb
        from constructs import Construct
        importlib.import_module("cdktn_provider_aws.lb")
        """
    )
    assert direct_engine_imports(source) == [
        (2, "cdktn"),
        (3, "cdktf"),
        (4, "cdktf_cdktf_provider_aws.vpc"),
        (7, "cdktn_provider_aws.lb"),
    ]


#: The one module that reads a synth directory's manifest (stacks, files, dependency order).
SYNTH_MODEL = Path("infra/synthesized.py")
# The manifest named by its file name, or the model's constant opened or read.
_MANIFEST_READ = re.compile(r"manifest\.json|open\([^\n]*\bMANIFEST\b|\bMANIFEST\b[^\n]*\.read_(text|bytes)\(")


def manifest_reads(source: str) -> list[int]:
    """Lines of ``source`` that name or read a synth directory's manifest."""
    return [number for number, line in enumerate(source.splitlines(), 1) if _MANIFEST_READ.search(line)]


def test_the_manifest_is_read_by_infra_synthesized_alone():
    # GIVEN every module of the project and its tests THEN only infra/synthesized.py reads manifest.json:
    # everyone else takes stacks, their files, dependency order and remote-state reads from its SynthDir
    # (`infra.synthesized.load(outdir)`), so stack order and remote-state detection exist once.
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for directory in SOURCE_DIRS
        for path in sorted((ROOT / directory).rglob("*.py"))
        if path.relative_to(ROOT) not in (SYNTH_MODEL, Path(__file__).relative_to(ROOT))
        for line in manifest_reads(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "read the synth directory through infra.synthesized.load:\n" + "\n".join(offenders)


def test_the_manifest_convention_can_fail():
    source = textwrap.dedent(
        """
        manifest = json.loads((outdir / "manifest.json").read_text())
        with open(outdir / MANIFEST) as f:
        body = (outdir / MANIFEST).read_text()
        (outdir / MANIFEST).write_text("{}")
        stacks = load(outdir).stacks
        """
    )
    assert manifest_reads(source) == [2, 3, 4]
