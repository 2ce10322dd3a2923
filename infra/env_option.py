"""The ``--env`` option every ``infra`` command that reads an environment file shares, and loading it.

Its own module so that the commands defined outside ``infra/cli.py`` (``infra/review/cli.py``) need not
import the CLI that registers them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

import click

from infra.config import DEFAULT_ENVIRONMENT, ConfigError, EnvironmentConfig, load_environment

ENV_VARIABLE = "DUEWIN_ENV"

Command = TypeVar("Command", bound=Callable)


def env_option(
    *, multiple: bool = False, help_text: str = "Environment file under environments/."
) -> Callable[[Command], Command]:
    """``--env NAME``, default ``$DUEWIN_ENV``, else dev: the parameter ``env_name``, or with ``multiple`` a
    repeatable option and the parameter ``envs`` (a tuple of names)."""

    def default() -> str | list[str]:
        name = os.environ.get(ENV_VARIABLE, DEFAULT_ENVIRONMENT)
        return [name] if multiple else name

    return click.option(
        "--env",
        "envs" if multiple else "env_name",
        multiple=multiple,
        default=default,
        show_default=f"${ENV_VARIABLE} or {DEFAULT_ENVIRONMENT}",
        help=help_text,
    )


def load_or_exit(env_name: str) -> EnvironmentConfig:
    """The environment named by ``--env``; a bad file is one line on stderr and exit status 2."""
    try:
        return load_environment(env_name)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
