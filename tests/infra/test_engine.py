"""infra/engine.py: which engine is chosen, what its names resolve to, and the fast provider import on each."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from typing import get_args

import pytest

from infra import engine
from infra.config import ConfigError, EnvironmentConfig, load_file
from infra.engine import ENGINES, EngineError
from infra.synthesized import load
from tests.conftest import ROOT, missing


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; the engine comes from ``env`` or the defaults, not this session."""
    inherited = {name: value for name, value in os.environ.items() if name != engine.ENGINE_ENV}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**inherited, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def fresh(monkeypatch):
    """The engine module as in a new process (monkeypatch restores this session's engine afterwards)."""
    monkeypatch.setattr(engine, "_active", None)
    monkeypatch.setattr(engine, "_selected", None)
    monkeypatch.delenv(engine.ENGINE_ENV, raising=False)
    return monkeypatch


def test_the_flag_beats_the_variable_beats_the_environment_file_beats_the_default(fresh):
    assert engine.current().name == "cdktf"
    fresh.setattr(engine, "_active", None)
    assert engine.current(configured="cdktn").name == "cdktn"
    fresh.setattr(engine, "_active", None)
    fresh.setenv(engine.ENGINE_ENV, "cdktf")
    assert engine.current(configured="cdktn").name == "cdktf"
    fresh.setattr(engine, "_active", None)
    engine.select("cdktn")
    assert engine.current(configured="cdktf").name == "cdktn"


def test_one_engine_per_process(fresh):
    # GIVEN constructs already bound to cdktf's classes THEN nothing can switch the process to cdktn.
    engine.current()
    with pytest.raises(EngineError, match="'cdktf' is already in use"):
        engine.select("cdktn")
    with pytest.raises(EngineError, match="environment file asks for engine 'cdktn', but 'cdktf' is in use"):
        engine.current(configured="cdktn")
    engine.select("cdktf")  # the one in use: fine


def test_unknown_or_missing_engine_is_one_line_naming_its_source(fresh):
    fresh.setenv(engine.ENGINE_ENV, "cdk")
    unknown = r"^unknown engine 'cdk' \(from \$DUEWIN_ENGINE\); choose one of: cdktf, cdktn$"
    with pytest.raises(EngineError, match=unknown):
        engine.current()
    fresh.delenv(engine.ENGINE_ENV)
    fresh.setitem(ENGINES, "cdktn", replace(ENGINES["cdktn"], provider="no_such_bindings"))
    absent = (
        r"^engine 'cdktn' \(CDK Terrain, from the environment file\) is not installed: "
        r"pip install -e '\.\[cdktn\]'$"
    )
    with pytest.raises(EngineError, match=absent):
        engine.current(configured="cdktn")


def test_the_environment_file_names_the_known_engines(tmp_path):
    literal, unset = get_args(EnvironmentConfig.model_fields["engine"].annotation)
    assert set(get_args(literal)) == set(ENGINES) and unset is type(None)
    path = tmp_path / "dev.toml"
    dev = (ROOT / "environments" / "dev.toml").read_text()
    path.write_text(dev.replace('region = "us-east-1"', 'region = "us-east-1"\nengine = "cdktm"'))
    with pytest.raises(ConfigError, match=r"dev\.toml:4: engine: Input should be 'cdktf' or 'cdktn'"):
        load_file(path)


def test_the_environment_file_switches_the_engine(tmp_path):
    # GIVEN dev.toml with the one documented line added WHEN the CLI synthesizes it THEN CDK Terrain did.
    if not ENGINES["cdktn"].installed():
        missing(f"engine cdktn: {ENGINES['cdktn'].install}")
    environments = tmp_path / "environments"
    environments.mkdir()
    dev = (ROOT / "environments" / "dev.toml").read_text()
    (environments / "dev.toml").write_text(
        dev.replace('\nregion = "us-east-1"', '\nregion = "us-east-1"\nengine = "cdktn"')
    )
    proc = _python(
        f"""
        from pathlib import Path
        from infra.app import synth
        from infra.config import load_environment
        synth(load_environment("dev", Path({str(environments)!r})), Path({str(tmp_path / "out")!r}))
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load(tmp_path / "out").version == ENGINES["cdktn"].version()


def test_cli_refuses_an_unknown_engine_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "infra", "synth", "--env", "dev", "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), engine.ENGINE_ENV: "terraform"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr == "error: unknown engine 'terraform' (from $DUEWIN_ENGINE); choose one of: cdktf, cdktn\n"


@pytest.mark.parametrize("name", list(ENGINES))
def test_engine_names_are_the_chosen_engines_own(name):
    # GIVEN an engine WHEN a stack imports a core class and a provider class through infra.engine THEN
    # they are that engine's very objects (no copies: jsii and isinstance see one class).
    chosen = ENGINES[name]
    if not chosen.installed():
        missing(f"engine {name}: {chosen.install}")
    proc = _python(
        """
        import sys
        from infra import engine
        print(engine.activate())
        from infra.engine import TerraformStack
        from infra.engine.aws.vpc import Vpc
        from infra.engine.aws import provider
        core, bindings = engine.current().core, engine.current().provider
        print(TerraformStack is getattr(sys.modules[core], "TerraformStack"))
        print(sys.modules["infra.engine.aws.vpc"] is sys.modules[bindings + ".vpc"], Vpc.__module__)
        print(provider is sys.modules[bindings + ".provider"], hasattr(sys.modules[bindings], "s3_bucket"))
        """,
        DUEWIN_ENGINE=name,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 'lazy' and no s3_bucket: the package's __init__ (which imports every submodule) did not run.
    assert proc.stdout.split() == ["lazy", "True", "True", f"{chosen.provider}.vpc", "True", "False"]


def test_constructs_and_stacks_refuse_to_load_before_activation():
    # GIVEN a fresh process WHEN every construct and stack module is imported without the app builder
    # THEN each fails with one line saying what to call first, and no engine package was imported or
    # planted: importing a construct neither fixes the engine nor pays the provider's whole import.
    proc = _python(
        """
        import importlib, pkgutil, sys
        import infra.constructs, infra.stacks
        from infra import engine

        modules, refused, refusals = 0, 0, set()
        for package in (infra.constructs, infra.stacks):
            for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
                modules += 1
                try:
                    importlib.import_module(info.name)
                except engine.EngineError as exc:
                    refused += 1
                    refusals.add(str(exc).split(" ", 1)[1])
        packages = {name for e in engine.ENGINES.values() for name in (e.core, e.provider)}
        print(modules, refused, sorted(packages & set(sys.modules)) or "none", engine._active)
        print(*refusals, sep="\\n")
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary, *refusals = proc.stdout.splitlines()
    modules, refused, loaded, active = summary.split()
    assert int(modules) >= 30 and refused == modules and loaded == "none" and active == "None"
    assert refusals == [
        "imported before infra.engine.activate(): call it first, as infra.app.build_app and tests/infra/conftest.py "
        "do (it fixes the engine and makes the provider cheap to import)"
    ]
    # ... and once activated, they import.
    proc = _python("from infra import engine; engine.activate(); import infra.stacks.app; print('ok')")
    assert proc.stdout.split() == ["ok"], proc.stderr[-3000:]


def test_the_benchmarks_baseline_takes_the_plain_import():
    proc = _python("from infra import engine; print(engine.activate())", DUEWIN_PLAIN_PROVIDER_IMPORT="1")
    assert proc.stdout.strip() == "plain", proc.stderr[-3000:]
