import os
import subprocess
import sys
import textwrap


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
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path / "test_x.py")]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ci = subprocess.run(args, env={**env_ci, "PYTHONPATH": root}, capture_output=True, text=True, cwd=tmp_path)
    dev = subprocess.run(args, env={**env_dev, "PYTHONPATH": root}, capture_output=True, text=True, cwd=tmp_path)
    assert ci.returncode == 1, ci.stdout
    assert "1 failed" in ci.stdout
    assert dev.returncode == 0, dev.stdout
    assert "1 skipped" in dev.stdout
