"""Writes the app's ``.env`` at boot: connection settings, ``[app.env]`` and every Parameter Store setting.

    python3 app_settings.py SPEC.json ENV_FILE

Run once per boot by the instance bootstrap (the user data embeds this file verbatim), as root,
with the standard library only. Non-secret inputs arrive in SPEC (rendered from the environment
file) and as environment variables (read from the instance's tags): ``REGION``, ``INSTANCE_ID``,
``DB_HOST``, ``DB_PORT``, ``DB_NAME``, ``DB_SECRET_ARN`` (the app user secret, never the master's),
``REDIS_HOST``, ``REDIS_PORT``, ``REDIS_AUTH_SECRET_ARN``. Secrets are read through the instance role
with the ``aws`` CLI into memory and written only to ENV_FILE (created 0600 before a byte is written);
never to argv or a log.

Every problem is one line on stderr and exit status 1, and no ENV_FILE is written: the app user
secret without a value (``migrate app-user`` has not run), a parameter whose name is not a setting
name, a setting from two sources, every missing required setting.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse

#: What the app can read from its environment (and dotenv can hold as a key).
SETTING_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
#: Settings the bootstrap owns, under the names the app reads (REDIS_URL is fleet-lock's).
BOOTSTRAP_SETTINGS = (
    "INSTANCE_ID",
    "SERVER_PORT",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_USER",
    "DB_PASS",
    "DB_PASSWORD",
    "DB_SSL_CA",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
    "REDIS_TLS",
    "REDIS_DB",
    "REDIS_URL",
)
DEFAULT_NODE_ENV = "production"
#: A value dotenv reads back unquoted: no comment mark, newline or surrounding blank, no quote first.
_UNQUOTED = re.compile(r"[^#\s'\"`]([^#\r\n]*[^#\s])?")
#: Items per `aws` call; the CLI pages through the API (10 per request) and hands back a NextToken.
PAGE_ITEMS = 50


class SettingsError(Exception):
    """One line naming the setting(s) and what is wrong."""


def aws(*args: str) -> str:
    """Runs the AWS CLI and returns its stdout (never echoed: it may hold a secret)."""
    result = subprocess.run(["aws", *args], capture_output=True, text=True)
    if result.returncode != 0:
        said = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        raise SettingsError(f"aws {' '.join(args[:2])} failed: {said[-1]}")
    return result.stdout


def parameters_by_path(path: str, region: str) -> dict[str, str]:
    """Every parameter under ``path`` (recursive, SecureString decrypted): full name → value."""
    found: dict[str, str] = {}
    token = None
    while True:
        page = ["--starting-token", token] if token else []
        answer = json.loads(
            aws(
                "ssm",
                "get-parameters-by-path",
                "--region",
                region,
                "--path",
                path,
                "--recursive",
                "--with-decryption",
                "--max-items",
                str(PAGE_ITEMS),
                *page,
                "--output",
                "json",
            )
        )
        found.update({p["Name"]: p["Value"] for p in answer.get("Parameters", [])})
        token = answer.get("NextToken")
        if not token:
            return found


def secret_string(arn: str, region: str) -> str:
    return aws(
        "secretsmanager",
        "get-secret-value",
        "--region",
        region,
        "--secret-id",
        arn,
        "--query",
        "SecretString",
        "--output",
        "text",
    ).rstrip("\n")


def app_user(arn: str, region: str) -> dict:
    """The app user secret's username and password; Terraform creates it empty, ``migrate app-user`` fills it."""
    try:
        document = json.loads(secret_string(arn, region))
    except SettingsError as exc:
        if "can't find the specified secret value" not in str(exc):
            raise
        document = None
    except ValueError:
        document = None
    if not isinstance(document, dict) or not {"username", "password"} <= set(document):
        raise SettingsError(
            f"the app user secret {arn} holds no user: run `migrate app-user` (README: cutover "
            "runbook), then start an instance refresh"
        )
    return document


def connection_settings(env: dict[str, str], spec: dict, db_secret: dict, redis_token: str) -> dict[str, str]:
    """The bootstrap's own settings (``BOOTSTRAP_SETTINGS``), in that order."""
    token = urllib.parse.quote(redis_token, safe="")
    redis_url = f"rediss://:{token}@{env['REDIS_HOST']}:{env['REDIS_PORT']}/0"
    values = {
        "INSTANCE_ID": env["INSTANCE_ID"],
        "SERVER_PORT": str(spec["server_port"]),
        "DB_HOST": env["DB_HOST"],
        "DB_PORT": env["DB_PORT"],
        "DB_NAME": env["DB_NAME"],
        "DB_USER": db_secret["username"],
        "DB_PASS": db_secret["password"],
        "DB_PASSWORD": db_secret["password"],
        "DB_SSL_CA": spec["db_ssl_ca"],
        "REDIS_HOST": env["REDIS_HOST"],
        "REDIS_PORT": env["REDIS_PORT"],
        "REDIS_PASSWORD": redis_token,
        # ElastiCache here always requires TLS (transit encryption "required").
        "REDIS_TLS": "true",
        "REDIS_DB": "0",
        "REDIS_URL": redis_url,
    }
    return {name: values[name] for name in BOOTSTRAP_SETTINGS}


def setting_name(parameter: str) -> str:
    """A parameter's setting name: the last segment of its path."""
    return parameter.rsplit("/", 1)[-1]


def placement_problems(parameter_path: str, parameters: list[str], app_env: list[str]) -> list[str]:
    """Every reason the settings cannot all be placed in .env: parameters whose last segment is no
    setting name, and a name that two sources set. Names only: ``infra app-settings`` asks the same."""
    bad = sorted(p for p in parameters if not SETTING_NAME.fullmatch(setting_name(p)))
    problems = []
    if bad:
        problems.append(
            f"Parameter Store names under {parameter_path}/ that are not setting names ([A-Z_][A-Z0-9_]*): "
            + ", ".join(bad)
        )
    origin = {**{name: "the bootstrap" for name in BOOTSTRAP_SETTINGS}, **{name: "[app.env]" for name in app_env}}
    for parameter in sorted(set(parameters) - set(bad)):
        name = setting_name(parameter)
        if origin.get(name, "").startswith("/"):
            problems.append(f"{name}: set twice in Parameter Store, as {origin[name]} and {parameter}")
        elif name in origin:
            problems.append(f"{name}: set by both {origin[name]} and Parameter Store {parameter}")
        origin[name] = parameter
    return problems


def missing_required(required: list[str], present: set[str]) -> list[str]:
    return [name for name in required if name not in present]


def merge(connection: dict[str, str], app_env: dict[str, str], parameters: dict[str, str]) -> dict[str, str]:
    """.env's settings in order: the connection settings, [app.env], Parameter Store's by full name."""
    merged = {**connection, **app_env, **{setting_name(p): parameters[p] for p in sorted(parameters)}}
    merged.setdefault("NODE_ENV", DEFAULT_NODE_ENV)
    return merged


def dotenv_line(name: str, value: str) -> str:
    """``NAME='value'`` that the app's dotenv (and fleet-lock) read back verbatim, newlines included."""
    # dotenv expands \\n inside double quotes only, and reads a backslash before a closing quote as an escape.
    for quote in ("'", "`", '"'):
        if quote not in value and not value.endswith("\\") and (quote != '"' or "\\" not in value):
            return f"{name}={quote}{value}{quote}\n"
    if _UNQUOTED.fullmatch(value):
        return f"{name}={value}\n"
    raise SettingsError(f"{name}: dotenv cannot hold its value (it has the quotes ' ` \" or ends with a backslash)")


def write_env_file(path: str, settings: dict[str, str]) -> None:
    text = "".join(dotenv_line(name, value) for name, value in settings.items())
    temporary = path + ".new"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def main(argv: list[str]) -> int:
    spec_path, env_path = argv
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    env = os.environ
    region, path = env["REGION"], spec["parameter_path"]
    try:
        db_secret = app_user(env["DB_SECRET_ARN"], region)
        redis_token = secret_string(env["REDIS_AUTH_SECRET_ARN"], region)
        parameters = parameters_by_path(path, region)
        problems = placement_problems(path, list(parameters), list(spec["env"]))
        if problems:
            raise SettingsError("; ".join(problems))
        settings = merge(connection_settings(env, spec, db_secret, redis_token), spec["env"], parameters)
        missing = missing_required(spec["required_settings"], {name for name, value in settings.items() if value})
        if missing:
            raise SettingsError(
                f"missing required settings (store each as {path}/NAME in Parameter Store): {', '.join(missing)}"
            )
        write_env_file(env_path, settings)
    except SettingsError as exc:
        print(f"app-settings: {exc}", file=sys.stderr)
        return 1
    names = [n for n in settings if n not in BOOTSTRAP_SETTINGS]
    print(f"app-settings: wrote {env_path}: {len(settings)} settings ({len(names)} besides the connection settings)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
