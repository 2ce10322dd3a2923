"""Where a dump's objects land: the target URL's database, or the databases the dump names.

With a database in the URL, every object goes there and the dump's USE / CREATE DATABASE are
dropped (rewrite.RULES); an object that names another database of the dump (``db.s`` in
``DEFAULT nextval(db.s)``, a view over ``a.t`` in a ``--databases a b`` dump) would then point
elsewhere, so such a dump is refused before anything is written. Without one, the dump's own
statements choose, and ``--map-database old=new`` renames: in USE and CREATE DATABASE, and where
DDL qualifies a name with the old database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from migrate.classify import unquote
from migrate.errors import BadInput
from migrate.tokens import BQ, DQ, SQ

# Where the checkpoint lives when the URL names no database: the dump's databases may not exist yet.
CHECKPOINT_SCHEMA = "_migrate"

_IDENTIFIER = rb"`(?:[^`]|``)+`|(?<![\w$])[A-Za-z_$][\w$]*"
# Strings are skipped whole, and so are backticked names no '.' follows; group 1 is a qualifier.
_QUALIFIER = re.compile(rb"" + SQ + rb"|" + DQ + rb"|(" + _IDENTIFIER + rb")(?=\s*\.\s*[`\w$])|" + BQ, re.S)
_DATABASE_STATEMENT = re.compile(
    rb"(\s*(?:/\*!\d*\s*)?(?:USE|CREATE\s+(?:DATABASE|SCHEMA))\s+(?:/\*!\d*\s*)?(?:IF\s+NOT\s+EXISTS\s*(?:\*/)?\s*)?)"
    rb"(" + _IDENTIFIER + rb")",
    re.I,
)


def parse_map(pairs: Iterable[str], url_database: str | None) -> dict[str, str]:
    """``--map-database old=new`` options as a mapping; one line naming the bad one otherwise."""
    mapping: dict[str, str] = {}
    if pairs and url_database:
        raise BadInput(
            f"--map-database: the target URL names the database `{url_database}`, where everything "
            "loads; leave it out of the URL to load where the dump says, mapped"
        )
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new or "`" in old + new:
            raise BadInput(f"--map-database {pair}: expected OLD=NEW, two database names")
        if old in mapping and mapping[old] != new:
            raise BadInput(f"--map-database {pair}: `{old}` is already mapped to `{mapping[old]}`")
        mapping[old] = new
    return mapping


def qualifiers(sql: bytes) -> set[str]:
    """Names that qualify another name (``x`` in ``x.y``) outside strings: databases, or table aliases."""
    return {
        unquote(name.strip(b"`")) if name.startswith(b"`") else name.decode("utf-8", "replace")
        for name in (m.group(1) for m in _QUALIFIER.finditer(sql))
        if name is not None
    }


def _quoted(name: str) -> bytes:
    return b"`" + name.encode().replace(b"`", b"``") + b"`"


def map_names(sql: bytes, mapping: Mapping[str, str]) -> tuple[bytes, int]:
    """``sql`` with the mapped database names replaced: the name a USE or CREATE DATABASE gives, and
    every qualifier that is one of them. Returns the text and how many names changed."""
    changed = 0

    def rename(name: bytes) -> bytes:
        nonlocal changed
        text = unquote(name[1:-1]) if name.startswith(b"`") else name.decode("utf-8", "replace")
        if text not in mapping:
            return name
        changed += 1
        return _quoted(mapping[text])

    statement = _DATABASE_STATEMENT.match(sql)
    if statement is not None:
        sql = statement.group(1) + rename(statement.group(2)) + sql[statement.end() :]
    sql = _QUALIFIER.sub(lambda m: rename(m.group(1)) if m.group(1) is not None else m.group(0), sql)
    return sql, changed
