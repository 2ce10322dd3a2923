"""Python files as the user data embeds them: without comments and docstrings, which only their readers need.

EC2 accepts 16 KB of (here gzipped) user data and ``fleet_lock.py`` alone is more than half of it.
What is removed cannot change what runs: comments are found by ``tokenize`` (a ``#`` inside a string
is a string), docstrings by ``ast``, and a body left empty gets ``pass``. The module docstring stays
when the program prints it (fleet-lock's ``--help``), and so does the ``#!`` line. The tests run
fleet-lock in exactly this form, and check that its syntax tree equals the source's without docstrings.
"""

from __future__ import annotations

import ast
import io
import tokenize


def stripped(source: str, *, keep_module_docstring: bool = False) -> str:
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    docstrings = [node for node in ast.walk(tree) if _docstring_of(node) is not None]
    if keep_module_docstring:
        docstrings = [node for node in docstrings if not isinstance(node, ast.Module)]
    removed: set[int] = set()  # 0-based line numbers
    replacements: dict[int, str] = {}
    for owner in docstrings:
        expression = owner.body[0]
        span = range(expression.lineno - 1, expression.end_lineno)
        before = lines[span.start].encode()[: expression.col_offset]
        after = lines[span[-1]].encode()[expression.end_col_offset :]
        if before.strip() or after.strip():
            continue  # shares a line with code (``def f(): """…"""``): left as it is
        removed.update(span)
        if len(owner.body) == 1:
            indent = lines[span.start][: len(lines[span.start]) - len(lines[span.start].lstrip())]
            replacements[span.start] = f"{indent}pass\n"
    inside_strings: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        row = token.start[0] - 1
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            inside_strings.update(range(row + 1, token.end[0]))
        elif token.type == tokenize.COMMENT and not (row == 0 and token.string.startswith("#!")):
            lines[row] = lines[row][: token.start[1]].rstrip() + "\n"
    kept = []
    for number, line in enumerate(lines):
        if number in replacements:
            kept.append(replacements[number])
        elif number in removed or (not line.strip() and number not in inside_strings):
            continue
        else:
            kept.append(line)
    return "".join(kept)


def _docstring_of(node: ast.AST) -> str | None:
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return ast.get_docstring(node, clean=False)
    return None
