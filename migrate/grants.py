"""What the app user may do, read back from the server, and the statements that make it exactly so.

Pure functions over ``SHOW GRANTS`` lines and plain values, so every case is tested in milliseconds;
``migrate/app_user.py`` runs the statements. Each statement carries its inverse: a run that fails
half-way (the secret cannot be written, a GRANT is refused) undoes what it did, in reverse order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from migrate.errors import BadInput
from migrate.text_table import aligned

_APP = ("SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE", "CREATE TEMPORARY TABLES", "LOCK TABLES")
#: For apps that migrate their own schema (Sequelize sync, migrations, views and triggers).
_DDL = ("CREATE", "ALTER", "INDEX", "DROP", "REFERENCES", "CREATE VIEW", "SHOW VIEW", "TRIGGER")
PRIVILEGE_SETS: dict[str, tuple[str, ...]] = {"app": _APP, "app+ddl": _APP + _DDL}
#: What MySQL shows for an account with no global privilege.
USAGE = "USAGE"
GLOBAL = "*.*"
#: Host part of the account: instances and the proxy connect from addresses the stack does not fix.
ANY_HOST = "%"
#: MySQL 8 limits user names to 32 characters (MariaDB to 80); letters, digits and _ need no quoting anywhere.
USER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
#: The password as statements are shown: never the value.
ELIDED = "'…'"

_NAME = r"(?:`(?:[^`]|``)*`|\*)"
_GRANT = re.compile(rf"^GRANT (?P<privileges>.+?) ON (?P<scope>{_NAME}\.{_NAME}) TO \S+(?P<rest>.*)$")


def privilege_set(name: str) -> tuple[str, ...]:
    try:
        return PRIVILEGE_SETS[name]
    except KeyError:
        raise BadInput(f"--privileges: unknown set {name!r} (known: {', '.join(PRIVILEGE_SETS)})") from None


def check_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise BadInput(
            f"--user: {name!r} is not a user name this tool creates (a letter, then up to 31 letters, digits or _)"
        )
    return name


def account(user: str) -> str:
    """``'user'@'%'``: literal, because ``check_user_name`` admits nothing that needs escaping."""
    return f"'{user}'@'{ANY_HOST}'"


def quote_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def schema_scope(database: str) -> str:
    return f"{quote_identifier(database)}.*"


@dataclass(frozen=True)
class Grant:
    """One ``SHOW GRANTS`` line that this tool understands: privileges on a scope (``*.*``, ``db.*``, ``db.t``)."""

    scope: str
    privileges: frozenset[str]
    grant_option: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"on": self.scope, "privileges": sorted(self.privileges), "grant_option": self.grant_option}


def parse_grants(lines: list[str]) -> tuple[list[Grant], list[str]]:
    """(grants, lines this tool does not manage: roles, PROXY, column privileges), in the server's order.

    Only the part before ``TO`` and a trailing ``WITH GRANT OPTION`` are read: MariaDB appends the
    password hash to the USAGE line, which is never kept or shown."""
    grants, unmanaged = [], []
    for line in lines:
        match = _GRANT.match(line)
        privileges = match and match["privileges"]
        if not match or "(" in privileges or privileges.startswith("PROXY"):
            unmanaged.append(_without_password(line))
            continue
        names = frozenset(p.strip() for p in privileges.split(","))
        grants.append(Grant(match["scope"], names, "WITH GRANT OPTION" in match["rest"]))
    return grants, unmanaged


def _without_password(line: str) -> str:
    return re.sub(r"(IDENTIFIED (?:BY PASSWORD|WITH \S+ AS|VIA \S+ USING)) '(?:[^']|'')*'", r"\1 '…'", line)


@dataclass(frozen=True)
class Statement:
    """One change: ``sql``, with ``%s`` placeholders for ``args`` (a password) and ``%%`` for a literal ``%``
    when there are args; shown with the password elided. ``undo`` puts back what it changed (None: it
    cannot be put back, e.g. a password nobody knows)."""

    sql: str
    args: tuple[str, ...] = ()
    undo: Statement | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        return self.sql.replace("%s", ELIDED).replace("%%", "%") if self.args else self.sql


def identified_by(verb: str, who: str, suffix: str = "") -> str:
    """``CREATE USER 'u'@'%%' IDENTIFIED BY %s`` (or ALTER): the password is an argument, never in the text."""
    return f"{verb} USER {who.replace('%', '%%')} IDENTIFIED BY %s{suffix}"


def _privileges(names) -> str:
    return ", ".join(sorted(names, key=_order))


def _order(name: str) -> tuple[int, str]:
    known = PRIVILEGE_SETS["app+ddl"]
    return (known.index(name), "") if name in known else (len(known), name)


def _grant(names, scope: str, who: str, grant_option: bool = False) -> str:
    return f"GRANT {_privileges(names)} ON {scope} TO {who}" + (" WITH GRANT OPTION" if grant_option else "")


def _revoke(names, scope: str, who: str) -> str:
    return f"REVOKE {_privileges(names)} ON {scope} FROM {who}"


def grant_changes(actual: list[Grant], scope: str, wanted: tuple[str, ...], who: str) -> list[Statement]:
    """Statements that leave ``who`` with USAGE on ``*.*``, exactly ``wanted`` on ``scope`` and nothing else.

    What is missing is granted before anything is revoked, so a live app never lacks a privilege it keeps."""
    by_scope = {grant.scope: grant for grant in actual}
    changes: list[Statement] = []
    held = by_scope.get(scope, Grant(scope, frozenset()))
    if "ALL PRIVILEGES" in held.privileges:
        changes.append(_revoking({"ALL PRIVILEGES"}, scope, who))
        held = Grant(scope, frozenset(), held.grant_option)
    missing = set(wanted) - held.privileges
    if missing:
        changes.append(Statement(_grant(missing, scope, who), undo=Statement(_revoke(missing, scope, who))))
    extra = held.privileges - set(wanted) - {USAGE}
    if extra:
        changes.append(_revoking(extra, scope, who))
    for grant in actual:
        if grant.scope == scope:
            continue
        extra = grant.privileges - {USAGE} if grant.scope == GLOBAL else grant.privileges
        if extra:
            changes.append(_revoking(extra, grant.scope, who))
    for grant in actual:
        if grant.grant_option:
            changes.append(
                Statement(
                    f"REVOKE GRANT OPTION ON {grant.scope} FROM {who}",
                    undo=Statement(_grant({USAGE}, grant.scope, who, grant_option=True)),
                )
            )
    return changes


def _revoking(names, scope: str, who: str) -> Statement:
    return Statement(_revoke(names, scope, who), undo=Statement(_grant(names, scope, who)))


def grants_table(grants: list[Grant]) -> list[str]:
    """``on`` / ``privileges`` columns, the way an operator compares them with what they asked for."""
    rows = [("on", "privileges")] + [
        (g.scope, _privileges(g.privileges) + (" WITH GRANT OPTION" if g.grant_option else "")) for g in grants
    ]
    return aligned(rows)
