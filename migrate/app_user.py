"""``migrate app-user``: the application's own database user, with exactly the privileges it needs on
its schema, its password kept only in the app user secret that the instances (and RDS Proxy) read.

Run with the master credentials after ``migrate verify`` and before the app stack. RDS rotates the
master password every 7 days; this user is untouched by that. The secret's current version is the
truth: a rerun makes the server match it and changes nothing when it already does.

Order of a run, so that bad input or a refusal changes nothing:
1. everything is read and checked first (privileges set, the secret and its value, the master
   login, the schema, the user's grants and TLS requirement);
2. the server is changed (CREATE/ALTER USER, GRANT, REVOKE), each statement with its inverse;
3. the new login is tried with the password about to be stored;
4. the secret version is written. A failure in 2–4 undoes 2 in reverse order and exits 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace

import pymysql

from migrate.connection import Endpoint, connect, error_text, resolve_login, tls_context
from migrate.errors import EXIT_OK, BadInput, ConnectionFailed, LoadFailed, MigrateError
from migrate.grants import (
    Grant,
    Statement,
    account,
    check_user_name,
    grant_changes,
    grants_table,
    identified_by,
    parse_grants,
    privilege_set,
    schema_scope,
)
from migrate.report import write_json
from migrate.secret_store import SecretStore

PASSWORD_ENV = "MIGRATE_TARGET_PASSWORD"
ACCESS_DENIED = 1045


@dataclass(frozen=True)
class AppUserOptions:
    target: Endpoint  # the master's URL; its database is the app schema
    secret_arn: str
    privileges: str = "app"
    username: str | None = None  # default: the secret's, else <database>_app
    rotate: bool = False
    password_secret_arn: str | None = None  # the master password's secret
    prompt: Callable[[str], str] | None = None
    ssl_ca: str | None = None
    allow_plaintext: bool = False
    report_path: str | None = None


@dataclass
class UserState:
    """The account as the server holds it (``exists`` False: no such account)."""

    exists: bool
    require_ssl: bool = False
    grants: tuple[Grant, ...] = ()


def default_user_name(database: str) -> str:
    return check_user_name(f"{database[:28]}_app")


class AppUserSession:
    def __init__(self, options: AppUserOptions, say: Callable[..., None]) -> None:
        self.options = options
        self.say = say
        self.applied: list[Statement] = []
        self.secrets: list[str] = []  # every password seen, scrubbed from any message

    def run(self) -> int:
        options = self.options
        wanted = privilege_set(options.privileges)
        database = options.target.database
        store = SecretStore(options.secret_arn)
        facts = store.describe()
        current = store.current() if facts.has_value else None
        if current:
            self.secrets.append(str(current["password"]))
        endpoint, master_password = resolve_login(
            options.target, PASSWORD_ENV, options.prompt, options.password_secret_arn
        )
        if master_password:
            self.secrets.append(master_password)
        user = self._user_name(current, endpoint)
        tls = tls_context(endpoint, options.ssl_ca, options.allow_plaintext)
        # No database in the login: a missing schema is then a check of its own, with its own message.
        with connect(replace(endpoint, database=None), master_password, tls) as conn:
            require_tls = self._check_target(conn, database)
            state = read_user(conn, user)
            password = str(current["password"]) if current and not options.rotate else store.random_password()
            self.secrets.append(password)
            password_works = state.exists and not options.rotate and self._logs_in(endpoint, user, password, tls)
            changes = self._changes(state, user, password, password_works, current, require_tls, database, wanted)
            document = {
                "engine": "mysql",
                "host": endpoint.host,
                "port": endpoint.port,
                "username": user,
                "password": password,
                "dbname": database,
            }
            version = None
            try:
                for change in changes:
                    self._execute(conn, change)
                if changes and not self._logs_in(endpoint, user, password, tls):
                    raise BadInput(f"{account(user)} cannot log in from here with the new password")
                if document != current:
                    version = store.put(document)
            except (MigrateError, pymysql.err.MySQLError) as e:
                raise self._undo(conn, e) from None
            final = read_user(conn, user)
        self._show(user, database, final, changes, facts.name, version)
        self._report(user, database, final, changes, version)
        if options.rotate:
            self._say_refresh(facts.tags, options.secret_arn)
        return EXIT_OK

    # -- checks, before anything is changed -------------------------------------------------------

    def _user_name(self, current: dict | None, master: Endpoint) -> str:
        held = str(current["username"]) if current else None
        user = check_user_name(self.options.username) if self.options.username else held
        if held and user != held:
            raise BadInput(f"--user {user}: the secret holds the user {held}; a new user needs a secret of its own")
        user = user or default_user_name(self.options.target.database)
        if user == master.user:
            raise BadInput(f"--user {user}: that is the master user, whose password RDS rotates; name another")
        return user

    def _check_target(self, conn: pymysql.Connection, database: str) -> bool:
        """The app schema exists; whether the server requires TLS (then so does the app user)."""
        with conn.cursor() as cur:
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
            if cur.fetchone() is None:
                raise BadInput(f"--target: the server has no database `{database}`: load it first (migrate run)")
            cur.execute("SELECT @@require_secure_transport")
            return str(cur.fetchone()[0]).upper() in ("1", "ON")

    def _logs_in(self, endpoint: Endpoint, user: str, password: str, tls) -> bool:
        """Whether ``user`` logs in with ``password`` (no database named: grants are checked on their own)."""
        try:
            connect(replace(endpoint, user=user, database=None), password, tls).close()
            return True
        except ConnectionFailed as e:
            if f"({ACCESS_DENIED})" in str(e):
                return False
            raise ConnectionFailed(self._scrub(str(e))) from None

    # -- the change -------------------------------------------------------------------------------

    def _changes(
        self,
        state: UserState,
        user: str,
        password: str,
        password_works: bool,
        current: dict | None,
        require_tls: bool,
        database: str,
        wanted: tuple[str, ...],
    ) -> list[Statement]:
        who = account(user)
        require = "REQUIRE SSL" if require_tls else "REQUIRE NONE"
        changes = []
        if not state.exists:
            create = identified_by("CREATE", who, " REQUIRE SSL" if require_tls else "")
            changes.append(Statement(create, (password,), undo=Statement(f"DROP USER {who}")))
        else:
            if not password_works:
                # The old password is known only when the secret held it (a rotation, or a drifted server).
                old = str(current["password"]) if current else None
                undo = Statement(identified_by("ALTER", who), (old,)) if old else None
                changes.append(Statement(identified_by("ALTER", who), (password,), undo=undo))
            if state.require_ssl != require_tls:
                previous = "REQUIRE SSL" if state.require_ssl else "REQUIRE NONE"
                changes.append(Statement(f"ALTER USER {who} {require}", undo=Statement(f"ALTER USER {who} {previous}")))
        return changes + grant_changes(list(state.grants), schema_scope(database), wanted, who)

    def _execute(self, conn: pymysql.Connection, change: Statement) -> None:
        try:
            with conn.cursor() as cur:
                cur.execute(change.sql, change.args or None)
        except pymysql.err.MySQLError as e:
            raise BadInput(f"the server refused {change.shown}: {self._scrub(error_text(e))}") from None
        self.applied.append(change)

    def _undo(self, conn: pymysql.Connection, cause: BaseException) -> MigrateError:
        """Put back what this run changed, newest first; the error to stop with."""
        reason = self._scrub(str(cause) if isinstance(cause, MigrateError) else error_text(cause))
        lost = []
        for change in reversed(self.applied):
            try:
                if change.undo is None:
                    raise pymysql.err.MySQLError("no way back")
                with conn.cursor() as cur:
                    cur.execute(change.undo.sql, change.undo.args or None)
            except pymysql.err.MySQLError:
                lost.append(change.shown)
        if lost:
            return LoadFailed(f"{reason}; the server keeps what could not be undone: {'; '.join(lost)}")
        undone = f" ({len(self.applied)} statement(s) undone)" if self.applied else ""
        return BadInput(f"{reason}; nothing changed{undone}")

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "…")
        return text

    # -- what the operator reads ------------------------------------------------------------------

    def _show(
        self,
        user: str,
        database: str,
        state: UserState,
        changes: list[Statement],
        secret_name: str,
        version: str | None,
    ) -> None:
        tls = "REQUIRE SSL" if state.require_ssl else "no TLS required (the server does not require it)"
        self.say(f"app user {account(user)} on `{database}` ({self.options.privileges}; {tls})")
        for change in changes:
            self.say(f"  {change.shown}")
        if not changes and version is None:
            self.say("  nothing to change: the user, its grants and the secret already match")
        self.say("grants:")
        for line in grants_table(list(state.grants)):
            self.say(f"  {line}")
        written = f"new version {version} (AWSCURRENT)" if version else "unchanged"
        self.say(f"secret {secret_name}: {written}")

    def _report(
        self, user: str, database: str, state: UserState, changes: list[Statement], version: str | None
    ) -> None:
        write_json(
            self.options.report_path,
            {
                "user": user,
                "host": "%",
                "database": database,
                "privileges": self.options.privileges,
                "require_ssl": state.require_ssl,
                "grants": [g.as_dict() for g in state.grants],
                "changes": [c.shown for c in changes],
                "rotated": self.options.rotate,
                "secret": {"arn": self.options.secret_arn, "version_id": version, "written": version is not None},
            },
        )

    def _say_refresh(self, tags: dict[str, str], arn: str) -> None:
        """Instances read the secret once, at boot: replace them. The group is the app stack's
        ``<project>-<env>-app``, named from the tags every stack puts on its resources."""
        group = (
            f"{tags['Project']}-{tags['Environment']}-app"
            if {"Project", "Environment"} <= set(tags)
            else "<project>-<env>-app"
        )
        preferences = json.dumps({"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200}, separators=(",", ":"))
        self.say(
            "password rotated: running instances keep their open connections, but new ones with the old "
            "password fail until each instance is replaced. Start an instance refresh now:"
        )
        self.say(
            f"  aws autoscaling start-instance-refresh --region {arn.split(':')[3]} "
            f"--auto-scaling-group-name {group} --preferences '{preferences}'"
        )


def read_user(conn: pymysql.Connection, user: str) -> UserState:
    with conn.cursor() as cur:
        cur.execute("SELECT ssl_type FROM mysql.user WHERE User = %s AND Host = '%%'", (user,))
        row = cur.fetchone()
        if row is None:
            return UserState(exists=False)
        cur.execute(f"SHOW GRANTS FOR {account(user)}")
        grants, unmanaged = parse_grants([line for (line,) in cur.fetchall()])
    if unmanaged:
        raise BadInput(
            f"{account(user)} has grants this tool does not manage: {'; '.join(unmanaged)}: revoke them, then run again"
        )
    ssl_type = row[0].decode() if isinstance(row[0], bytes) else str(row[0] or "")
    return UserState(exists=True, require_ssl=ssl_type.upper() == "ANY", grants=tuple(grants))
