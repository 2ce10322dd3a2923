"""What the user data embeds is the source without comments and docstrings, and nothing else changed."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from bootstrap.embed import stripped
from bootstrap.user_data import APP_SETTINGS_PATH, FLEET_LOCK_PATH, app_settings_source, fleet_lock_source

TRICKY = '''#!/usr/bin/env python3
"""Module docstring: the program's --help."""
# a comment line
import sys  # a trailing comment

TEMPLATE = """first line

# not a comment: inside a string, after a blank line
"""
HASH = "#"  # the '#' in the string stays


def only_a_docstring():
    """Leaves an empty body: becomes pass."""


def one_liner(): """kept: it shares its line with the def"""


class Holder:
    """Class docstring."""

    value = 'x # y'

    def method(self):
        """Method docstring
        over two lines."""
        return TEMPLATE + HASH  # comment


print(sys.argv[1:], only_a_docstring(), one_liner(), Holder().method(), Holder.value, __doc__)
'''


def _without_docstrings(source: str, keep_module_docstring: bool) -> str:
    """The syntax tree ``stripped`` must leave: the source's, docstrings removed (an emptied body holds pass)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if ast.get_docstring(node, clean=False) is None or (keep_module_docstring and isinstance(node, ast.Module)):
            continue
        first = node.body[0]
        if getattr(node, "lineno", None) == first.lineno:
            continue  # stripped keeps a docstring that shares its line with the def
        node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


@pytest.mark.parametrize("keep", [True, False])
def test_stripping_removes_comments_and_docstrings_and_keeps_what_runs(tmp_path, keep):
    out = stripped(TRICKY, keep_module_docstring=keep)
    assert ast.dump(ast.parse(out)) == _without_docstrings(TRICKY, keep)
    assert out.startswith("#!/usr/bin/env python3\n") and "# a comment line" not in out and "trailing" not in out
    assert "# not a comment: inside a string, after a blank line" in out and "first line\n\n#" in out
    assert ("Module docstring" in out) is keep and "Method docstring" not in out and "kept: it shares" in out
    original, embedded = tmp_path / "original.py", tmp_path / "embedded.py"
    original.write_text(TRICKY)
    embedded.write_text(out)
    runs = [
        subprocess.run([sys.executable, "-I", str(p), "arg"], capture_output=True, text=True, check=True).stdout
        for p in (original, embedded)
    ]
    # The same output, but for the docstrings themselves (module docstring printed only when kept).
    assert runs[1] == (runs[0] if keep else runs[0].replace("Module docstring: the program's --help.", "None"))


def test_the_embedded_programs_are_their_sources_without_docstrings():
    fleet_lock, app_settings = FLEET_LOCK_PATH.read_text(), APP_SETTINGS_PATH.read_text()
    assert ast.dump(ast.parse(fleet_lock_source())) == _without_docstrings(fleet_lock, keep_module_docstring=True)
    assert ast.dump(ast.parse(app_settings_source())) == _without_docstrings(app_settings, keep_module_docstring=False)
    assert len(fleet_lock_source()) < 0.9 * len(fleet_lock) and len(app_settings_source()) < 0.8 * len(app_settings)


def test_the_embedded_fleet_lock_prints_the_same_help(tmp_path):
    embedded = tmp_path / "fleet-lock"
    embedded.write_text(fleet_lock_source())
    helps = [
        subprocess.run([sys.executable, "-I", str(p), "--help"], capture_output=True, text=True).stdout
        for p in (FLEET_LOCK_PATH, embedded)
    ]
    assert helps[0] == helps[1] and "fleet-lock" in helps[0]
