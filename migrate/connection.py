"""Where the target is and how to log in: URL, password source, TLS, and the connection itself.

The password never travels on the command line or into a log: it comes from an environment
variable, a prompt, or AWS Secrets Manager, and a URL that carries one is refused.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql
from pymysql.constants import CLIENT

from migrate.compression import CompressingConnection
from migrate.errors import BadInput, ConnectionFailed

# The server or the network went away: the load can continue from the checkpoint.
CONNECTION_REFUSED = 2003
CONNECTION_LOST = {CONNECTION_REFUSED, 2006, 2013, 2055}


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str | None
    database: str | None  # None: the dump's USE statements choose (migrate run only)
    unix_socket: str | None = None

    def __str__(self) -> str:
        where = self.unix_socket or f"{self.host}:{self.port}"
        return f"{self.user or ''}@{where}/{self.database or ''}"


def parse_url(url: str, what: str = "--target", database_required: bool = True) -> Endpoint:
    """A SQLAlchemy-style URL, parsed here: importing SQLAlchemy to read one costs ~1 s per run."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise BadInput(f"{what}: not a SQLAlchemy URL (expected mysql+pymysql://user@host:port/db)")
    if not parts.scheme.startswith(("mysql", "mariadb")):
        raise BadInput(f"{what}: unsupported dialect {parts.scheme!r}; use mysql+pymysql://")
    if parts.password is not None:
        raise BadInput(
            f"{what}: the URL carries a password; pass it with MIGRATE_TARGET_PASSWORD, "
            "--password-prompt or --password-secret-arn instead"
        )
    database = unquote(parts.path.lstrip("/"))
    if not database and database_required:
        raise BadInput(f"{what}: the URL names no database (…/dbname)")
    try:
        port = parts.port or 3306
    except ValueError:
        raise BadInput(f"{what}: the port is not a number") from None
    socket = parse_qs(parts.query).get("unix_socket", [None])[0]
    return Endpoint(
        host=parts.hostname or "localhost",
        port=port,
        user=unquote(parts.username) if parts.username else None,
        database=database or None,
        unix_socket=socket,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(endpoint: Endpoint, ssl_ca: str | None, allow_plaintext: bool) -> ssl.SSLContext | None:
    """TLS is on for every non-loopback host unless explicitly waived; --ssl-ca pins the CA bundle
    (RDS certificates are not in the system store)."""
    if ssl_ca:
        try:
            return ssl.create_default_context(cafile=ssl_ca)
        except (OSError, ssl.SSLError) as e:
            raise BadInput(f"--ssl-ca {ssl_ca}: cannot load CA bundle ({e})") from None
    if endpoint.unix_socket or is_loopback(endpoint.host) or allow_plaintext:
        return None
    return ssl.create_default_context()


def secret_password(arn: str) -> tuple[str, str | None]:
    """(password, username) from a Secrets Manager secret: plain text, or RDS's JSON shape."""
    import boto3  # deferred: costs ~0.3 s and only this option needs it
    from botocore.exceptions import BotoCoreError, ClientError

    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "secretsmanager":
        raise BadInput(f"--password-secret-arn: not a Secrets Manager ARN: {arn}")
    try:
        value = boto3.client("secretsmanager", region_name=parts[3]).get_secret_value(SecretId=arn)
    except (BotoCoreError, ClientError) as e:
        raise ConnectionFailed(f"--password-secret-arn: cannot read the secret: {e}") from None
    text = value.get("SecretString")
    if text is None:
        raise BadInput("--password-secret-arn: the secret holds binary data, not a password")
    try:
        document = json.loads(text)
    except ValueError:
        return text, None
    if isinstance(document, dict) and isinstance(document.get("password"), str):
        return document["password"], document.get("username")
    raise BadInput('--password-secret-arn: the secret\'s JSON has no "password" field')


def resolve_login(
    endpoint: Endpoint, env_var: str, prompt: Callable[[str], str] | None, secret_arn: str | None
) -> tuple[Endpoint, str | None]:
    """The password from a secret, a prompt or the environment, in that order of precedence; a
    secret that names the user supplies it when the URL does not."""
    if secret_arn:
        password, username = secret_password(secret_arn)
        if endpoint.user is None and username:
            endpoint = replace(endpoint, user=username)
        return endpoint, password
    if prompt is not None:
        return endpoint, prompt(f"password for {endpoint}")
    return endpoint, os.environ.get(env_var)


def remote(endpoint: Endpoint) -> bool:
    return endpoint.unix_socket is None and not is_loopback(endpoint.host)


def connect(
    endpoint: Endpoint,
    password: str | None,
    tls: ssl.SSLContext | None,
    *,
    autocommit: bool = True,
    local_data: bool = False,
    compress: str = "off",
) -> CompressingConnection:
    """Connect or fail with one line naming where (never the password).

    ``local_data`` tells the server this client may send LOAD DATA LOCAL rows. pymysql's own
    handler stays off (``local_infile=False``): it would open any file the server names, while
    load_data.send answers only the statement it sent, from memory. ``compress`` is one of
    compression.MODES. Multi-statements let a checkpoint and its COMMIT share one round trip.
    """
    flags = CLIENT.MULTI_STATEMENTS | (CLIENT.LOCAL_FILES if local_data else 0)
    try:
        conn = CompressingConnection(
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.user or "",
            password=password or "",
            database=endpoint.database,
            unix_socket=endpoint.unix_socket,
            ssl=tls,
            charset="utf8mb4",
            autocommit=autocommit,
            connect_timeout=15,
            local_infile=False,
            client_flag=flags,
            compress=compress,
            remote=remote(endpoint),
        )
    except pymysql.err.MySQLError as e:
        raise ConnectionFailed(f"cannot connect to {endpoint}: {error_text(e)}") from None
    if tls is not None:
        with conn.cursor() as cur:
            cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            row = cur.fetchone()
        if not row or not row[1]:
            conn.close()
            raise ConnectionFailed(
                f"cannot connect to {endpoint}: the server does not offer TLS "
                "(pass --allow-plaintext only on a trusted network)"
            )
    return conn


class ScriptFailed(pymysql.err.MySQLError):
    """Statement ``index`` of a script failed (the server's error code and message as ``args``); the
    server ran none after it."""

    def __init__(self, index: int, error: pymysql.err.MySQLError) -> None:
        super().__init__(*error.args)
        self.index = index


def run_script(conn: pymysql.Connection, statements: list[bytes]) -> tuple | None:
    """Run ``statements`` in order as one multi-statement query: one round trip, where each would
    cost one over a link. The server stops at the first that fails (ScriptFailed says which). Returns
    the last statement's first row, if it has rows.

    They are joined by a newline before each ``;``: a statement may end in a ``-- comment``.
    """
    done = 0
    try:
        with conn.cursor() as cur:
            cur.execute(b"\n;\n".join(statements))
            done = 1
            while cur.nextset():
                done += 1
            return cur.fetchone() if cur.description else None
    except pymysql.err.MySQLError as e:
        raise ScriptFailed(done, e) from None


def error_code(e: pymysql.err.MySQLError) -> int | None:
    return e.args[0] if e.args and isinstance(e.args[0], int) else None


def rollback(conn: pymysql.Connection) -> None:
    try:
        conn.rollback()
    except pymysql.err.MySQLError:
        pass  # the connection is gone; the server rolled back for us


def error_text(e: BaseException) -> str:
    """A pymysql error as '(code) message', the way the mysql client prints it."""
    args = getattr(e, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return f"({args[0]}) {args[1]}"
    return str(e) or type(e).__name__
