"""Only the C accelerator lives here; everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

# optional: without a C compiler the install still succeeds and migrate reads VALUES lists with
# its regexes (rows.py), ~5 s more client CPU per 650 MB.
setup(ext_modules=[Extension("migrate._plain", ["migrate/_plain.c"], optional=True)])
