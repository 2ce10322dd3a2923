"""Reading ``environments/<env>.toml``: every error as one line naming the file, the line and the dotted field."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import ValidationError

from infra.config.environment import EnvironmentConfig
from infra.config.section import ConfigError, FieldError

ENVIRONMENTS_DIR = Path(__file__).resolve().parents[2] / "environments"
DEFAULT_ENVIRONMENT = "dev"


def available_environments(directory: Path = ENVIRONMENTS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.toml"))


def load_environment(name: str, directory: Path = ENVIRONMENTS_DIR) -> EnvironmentConfig:
    """Load and validate ``<directory>/<name>.toml``; raise ConfigError with one readable line."""
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(available_environments(directory)) or "none"
        raise ConfigError(f"unknown environment {name!r}: no {_shown(path)} (known: {known})")
    return load_file(path)


def load_file(path: Path) -> EnvironmentConfig:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_shown(path)}: invalid TOML: {exc}") from None
    if "name" in data:
        raise ConfigError(f"{_shown(path)}:{_line_of(text, ('name',))}: name: comes from the file name; remove it")
    if "rehearsal" in data:
        raise ConfigError(
            f"{_shown(path)}:{_line_of(text, ('rehearsal',))}: rehearsal: set by the deploy rehearsal's profile "
            "only; remove it"
        )
    try:
        return EnvironmentConfig.model_validate({**data, "name": path.stem})
    except ValidationError as exc:
        raise ConfigError(_describe(path, text, exc)) from None


def _describe(path: Path, text: str, exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    raised = error.get("ctx", {}).get("error")
    full_loc = (*error["loc"], *raised.loc) if isinstance(raised, FieldError) else tuple(error["loc"])
    # "[key]" marks an error in a mapping's key (waf.rule_groups.<group>): the key itself names the field.
    full_loc = tuple(part for part in full_loc if part != "[key]")
    dotted = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in full_loc)
    field = dotted.lstrip(".") or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif "input" in error and error["type"] not in ("model_type",) and not isinstance(error["input"], dict):
        message = f"{message} (got {error['input']!r})"
    line = _line_of(text, full_loc)
    where = f"{_shown(path)}:{line}" if line else _shown(path)
    return f"{where}: {field}: {message}"


def _line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Best-effort line of a key path (array indices included): the key's own line, else the
    header of the deepest table that holds it, e.g. the third ``[[app.processes]]`` for index 2."""
    wanted = tuple(str(part) for part in loc)
    arrays: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    depth, found = 0, None
    for number, line in enumerate(text.splitlines(), 1):
        if match := re.match(r"^\s*\[\[\s*([^\]]+?)\s*\]\]", line):
            name = _keys(match.group(1))
            arrays[name] = arrays.get(name, -1) + 1
            table = candidate = (*name, str(arrays[name]))
        elif match := re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line):
            table = candidate = _keys(match.group(1))
        elif match := re.match(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=""", line):
            candidate = (*table, *_keys(match.group(1)))
        else:
            continue
        if depth < len(candidate) <= len(wanted) and wanted[: len(candidate)] == candidate:
            depth, found = len(candidate), number
    return found


def _keys(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in re.findall(r"""("[^"]*"|'[^']*'|[^.]+)""", dotted))


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
