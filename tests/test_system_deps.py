"""tools/system-deps: what a bare machine's `make test` does first.

Each test runs the script with PATH set to a sandbox directory holding only the tools it names (stand-ins:
the script only looks for them), a stand-in provider mirror, and SYSTEM_DEPS_INSTALL in place of apt-get:
empty for a machine that cannot install, or a recording installer that may or may not bring the tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, missing

SCRIPT = ROOT / "tools" / "system-deps"
BASH = shutil.which("bash") or "/bin/bash"
EVERY_TOOL = (
    "mariadbd",
    "mariadb",
    "mariadb-dump",
    "redis-server",
    "shellcheck",
    "nginx",
    "node",
    "npm",
    "openssl",
    "dot",
    "cc",
    "terraform",
)
#: What the recording installer puts on PATH per package, as Debian's would.
PACKAGE_TOOLS = {
    "shellcheck": ["shellcheck"],
    "nginx": ["nginx"],
    "graphviz": ["dot"],
    "mariadb-client": ["mariadb", "mariadb-dump"],
}


def sandbox(tmp_path: Path, absent: tuple[str, ...] = (), mirror: bool = True) -> dict[str, str]:
    """The environment of a machine that has every tool but ``absent``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    true = shutil.which("true")
    for tool in EVERY_TOOL:
        if tool not in absent:
            (bin_dir / tool).symlink_to(true)
    # A Python with venv and the C headers: silent, as the real check is on such a machine.
    (bin_dir / "python3").symlink_to(true)
    if mirror:
        (tmp_path / "mirror" / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    return {
        "PATH": str(bin_dir),
        "SYSTEM_DEPS_SBIN": "",
        "DUEWIN_TF_MIRROR": str(tmp_path / "mirror"),
        "PYTHON": "python3",
        "SYSTEM_DEPS_INSTALL": "",
    }


def recording_installer(tmp_path: Path, brings: bool = True, status: int = 0) -> str:
    """An installer that records the packages it was given and, if ``brings``, puts their tools on PATH."""
    script = tmp_path / "install"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(tmp_path / 'installed')!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"tools = {PACKAGE_TOOLS!r}\n"
        f"for package in sys.argv[1:] if {brings!r} else []:\n"
        "    for tool in tools[package]:\n"
        f"        os.symlink({shutil.which('true')!r}, os.path.join({str(tmp_path / 'bin')!r}, tool))\n"
        f"sys.exit({status})\n"
    )
    script.chmod(0o755)
    return str(script)


def run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)


def test_silent_and_quick_when_everything_is_there(tmp_path):
    started = time.monotonic()
    result = run(sandbox(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert time.monotonic() - started < 1.0


def test_this_machine_has_everything(tmp_path):
    # GIVEN this machine as it is, never installing THEN nothing is missing (in CI, where a miss fails) —
    # and the check takes well under the time a single test takes.
    env = {**os.environ, "SYSTEM_DEPS_INSTALL": "", "PYTHON": sys.executable}
    started = time.monotonic()
    result = run(env)
    if result.returncode != 0:
        missing(result.stderr.strip())
    assert (result.stdout, result.stderr) == ("", "")
    assert time.monotonic() - started < 3.0


def test_one_line_naming_the_missing_tools_and_the_command_when_it_cannot_install(tmp_path):
    # GIVEN a machine without shellcheck, nginx and Graphviz that cannot install (not root, or no apt-get)
    result = run(sandbox(tmp_path, absent=("shellcheck", "nginx", "dot")))
    # THEN it stops at once with one line: the tools, and the packages that bring them
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("system-deps: missing shellcheck, nginx, dot (not root, or no apt-get): ")
    assert line.endswith("apt-get install -y --no-install-recommends shellcheck nginx graphviz")


def test_installs_the_missing_packages_once_each_then_checks_again(tmp_path):
    env = sandbox(tmp_path, absent=("mariadb", "mariadb-dump", "dot"))
    env["SYSTEM_DEPS_INSTALL"] = recording_installer(tmp_path)
    result = run(env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "installed").read_text() == "mariadb-client graphviz\n"
    assert result.stderr == "system-deps: installing mariadb-client graphviz\n"


def test_an_install_that_brings_nothing_fails_naming_what_is_still_missing(tmp_path):
    env = sandbox(tmp_path, absent=("nginx",))
    env["SYSTEM_DEPS_INSTALL"] = recording_installer(tmp_path, brings=False)
    result = run(env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "system-deps: still missing after installing nginx: nginx"


def test_a_failed_install_says_so_with_the_command(tmp_path):
    env = sandbox(tmp_path, absent=("shellcheck",))
    env["SYSTEM_DEPS_INSTALL"] = recording_installer(tmp_path, status=100)
    result = run(env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("system-deps: installing failed: ")


def test_no_terraform_stops_before_installing_anything(tmp_path):
    # GIVEN no terraform and no provider mirror (what only the machine image brings), and nginx missing
    env = sandbox(tmp_path, absent=("terraform", "nginx"), mirror=False)
    env["SYSTEM_DEPS_INSTALL"] = recording_installer(tmp_path)
    result = run(env)
    # THEN one line names both and why, with the command for the rest; nothing was installed
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    mirror = tmp_path / "mirror"
    assert line.startswith(f"system-deps: missing terraform 1.11, the hashicorp/aws provider mirror ({mirror})")
    assert "ship with the machine image" in line and "DESIGN §4" in line
    sudo = "" if os.geteuid() == 0 else "sudo "
    assert line.endswith(f"; also missing nginx: {sudo}apt-get install -y --no-install-recommends nginx")
    assert not (tmp_path / "installed").exists()


def test_no_python_pieces_name_their_debian_packages(tmp_path):
    # GIVEN an interpreter without ensurepip and without C headers (Debian's python3 alone): a stand-in that
    # answers the script's probe the way such a Python does
    env = sandbox(tmp_path)
    (tmp_path / "bin" / "python3").unlink()
    bare = tmp_path / "bin" / "python3"
    bare.write_text(
        f"#!{sys.executable} -S\n"
        "import sys, types, importlib.util, sysconfig\n"
        "importlib.util.find_spec = lambda name: None\n"
        "sysconfig.get_paths = lambda: {'include': '/nonexistent'}\n"
        "exec(sys.argv[2])\n"
    )
    bare.chmod(0o755)
    result = run(env)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("system-deps: missing venv, Python.h (not root, or no apt-get): ")
    assert line.endswith("apt-get install -y --no-install-recommends python3-venv python3-dev")


def test_the_script_and_the_ci_entry_pass_shellcheck():
    if shutil.which("shellcheck") is None:
        missing("shellcheck")
    result = subprocess.run(["shellcheck", str(SCRIPT), str(ROOT / ".ci" / "run")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
