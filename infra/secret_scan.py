"""Find secret-looking literals in synthesized Terraform JSON.

A secret may reach the JSON only as a reference (``${...}``) to something AWS generates or keeps;
a literal under a password/token/secret-like key, or a string shaped like a credential anywhere,
is a leak into the repository's build output, CI logs and every reviewer's screen. Pure: no CDKTF.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

SECRET_KEY = re.compile(r"password|passwd|secret|token|api_?key|private_?key|credential", re.IGNORECASE)
# Keys whose names look secret but whose literal values never are (settings, not material).
NOT_SECRET_KEYS = frozenset(
    {"auth_token_update_strategy", "manage_master_user_password", "password_length", "http_tokens"}
)
# CDKTF's metadata block: Terraform reads "//" as a comment, and it lists cross-stack output names
# (e.g. "...master_user_secret[0].secret_arn") as plain strings.
METADATA_KEY = "//"
CREDENTIAL_SHAPES = (
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\b(ghp|gho|github_pat)_[A-Za-z0-9_]{20,}"),
)
REFERENCE = re.compile(r"^\$\{[^{}]*\}$")
# An ARN names a secret or key; it is not one.
ARN = re.compile(r"^arn:aws[a-z-]*:")


def secret_literals(node: object, path: str = "") -> Iterator[str]:
    """Dotted paths of every secret-looking literal under ``node`` (a parsed cdk.tf.json)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == METADATA_KEY:
                continue
            where = f"{path}.{key}" if path else str(key)
            if (
                isinstance(value, str)
                and SECRET_KEY.search(str(key))
                and key not in NOT_SECRET_KEYS
                and _is_literal(value)
            ):
                yield where
            elif isinstance(value, (dict, list)):
                yield from secret_literals(value, where)
            elif isinstance(value, str) and any(shape.search(value) for shape in CREDENTIAL_SHAPES):
                yield where
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from secret_literals(item, f"{path}[{index}]")
    elif isinstance(node, str) and any(shape.search(node) for shape in CREDENTIAL_SHAPES):
        yield path


def _is_literal(value: str) -> bool:
    return value != "" and not REFERENCE.match(value) and not ARN.match(value)
