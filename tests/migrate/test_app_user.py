"""``migrate app-user`` against a real MariaDB that requires TLS (as RDS does here), Secrets Manager in moto.

The app user's powers are proved by logging in as it: it reads and writes its schema and is refused
everywhere else. The password is proved absent from argv, output, logs, the report and errors.
"""

from __future__ import annotations

import json
import logging
import re

import pymysql
import pytest
from click.testing import CliRunner
from moto.core import set_initial_no_auth_action_count

from migrate.cli import cli
from migrate.errors import BadInput
from migrate.grants import PRIVILEGE_SETS, Grant, grant_changes, parse_grants, privilege_set
from tests.conftest import missing
from tests.servers.mariadb import MariaDB, missing_binaries, start_requiring_tls
from tests.servers.process import find_binary

MASTER_PASSWORD = "m4ster-pw!"
TAGS = [{"Key": "Project", "Value": "duewin"}, {"Key": "Environment", "Value": "prod"}]
#: As SHOW GRANTS lists them (the server's order, not the order asked for).
APP_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE"
APP_DDL_PRIVILEGES = (
    "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, ALTER, "
    "CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, TRIGGER"
)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A MariaDB with require_secure_transport=ON, and the CA file clients pass as --ssl-ca."""
    absent = missing_binaries() + ([] if find_binary("openssl") else ["openssl"])
    if absent:
        missing(", ".join(absent))
    server, cert = start_requiring_tls("tls", tmp_path_factory.mktemp("app-user"))
    yield server, cert
    server.stop()


@pytest.fixture
def setup(tls_server, aws, request):
    """A fresh schema, a master user of its own (test_master_password_change changes its password),
    and an empty app user secret, as the data stack creates it."""
    server, cert = tls_server
    name = re.sub(r"\W", "_", request.node.name)[:40]
    server.create_database(name)
    master = f"m_{abs(hash(name)) % 10**8}"
    with server.root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{name[:28]}_app'@'%'")
        cur.execute(f"DROP USER IF EXISTS '{master}'@'127.0.0.1'")
        cur.execute(f"CREATE USER '{master}'@'127.0.0.1' IDENTIFIED BY %s", (MASTER_PASSWORD,))
        cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{master}'@'127.0.0.1' WITH GRANT OPTION")
    arn = aws.create_secret(Name=f"duewin-prod/mysql/app-user-{name}", Tags=TAGS)["ARN"]
    return Setup(server, cert, aws, name, master, arn)


class Setup:
    def __init__(self, server: MariaDB, cert, aws, database: str, master: str, arn: str) -> None:
        self.server, self.cert, self.aws = server, cert, aws
        self.database, self.master, self.arn = database, master, arn
        self.user = f"{database[:28]}_app"

    def url(self, database: str | None = None) -> str:
        return f"mysql+pymysql://{self.master}@127.0.0.1:{self.server.port}/{database or self.database}"

    def run(self, *extra: str, env: dict | None = None, url: str | None = None, arn: str | None = None):
        args = [
            "app-user",
            "--target",
            url or self.url(),
            "--secret-arn",
            arn or self.arn,
            "--ssl-ca",
            str(self.cert),
            *extra,
        ]
        return CliRunner().invoke(cli, args, env={"MIGRATE_TARGET_PASSWORD": MASTER_PASSWORD, **(env or {})})

    def secret(self) -> dict:
        return json.loads(self.aws.get_secret_value(SecretId=self.arn)["SecretString"])

    def versions(self) -> dict[str, list[str]]:
        listed = self.aws.list_secret_version_ids(SecretId=self.arn)["Versions"]
        return {v["VersionId"]: sorted(v.get("VersionStages", [])) for v in listed}

    def login(self, password: str, database: str | None = None, tls: bool = True) -> pymysql.Connection:
        # pymysql tries TLS unasked (PREFERRED); without it, TLS is switched off outright.
        tls_options = {"ssl": {"ca": str(self.cert)}} if tls else {"ssl_disabled": True}
        return pymysql.connect(
            host="127.0.0.1",
            port=self.server.port,
            user=self.user,
            password=password,
            database=database,
            autocommit=True,
            **tls_options,
        )

    def show_grants(self) -> list[str]:
        with self.server.root_connection() as conn, conn.cursor() as cur:
            cur.execute(f"SHOW GRANTS FOR '{self.user}'@'%'")
            return [re.sub(r"PASSWORD '\*[0-9A-F]{40}'", "PASSWORD '*HASH'", line) for (line,) in cur.fetchall()]

    def user_exists(self) -> bool:
        with self.server.root_connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (self.user,))
            return cur.fetchone()[0] == 1


def _refused(conn: pymysql.Connection, sql: str) -> int:
    with pytest.raises(pymysql.err.MySQLError) as raised, conn.cursor() as cur:
        cur.execute(sql)
    return raised.value.args[0]


def _expected_grants(s: Setup, privileges: str = APP_PRIVILEGES) -> list[str]:
    return [
        f"GRANT USAGE ON *.* TO `{s.user}`@`%` IDENTIFIED BY PASSWORD '*HASH' REQUIRE SSL",
        f"GRANT {privileges} ON `{s.database}`.* TO `{s.user}`@`%`",
    ]


def test_creates_the_user_with_exactly_the_app_privileges_and_stores_its_password(setup, tmp_path):
    s = setup
    with s.server.root_connection(s.database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE bets (id INT PRIMARY KEY, amount DECIMAL(10,2))")
    # WHEN run once, as at cutover
    result = s.run("--report", str(tmp_path / "report.json"))
    assert result.exit_code == 0, result.output
    # THEN the server holds exactly the listed privileges, on the app schema only, and TLS is required of it
    assert s.show_grants() == _expected_grants(s)
    # AND the secret's only version holds what RDS and RDS Proxy read, the password among it
    document = s.secret()
    assert sorted(document) == ["dbname", "engine", "host", "password", "port", "username"]
    assert (document["username"], document["dbname"], document["host"], document["port"], document["engine"]) == (
        s.user,
        s.database,
        "127.0.0.1",
        s.server.port,
        "mysql",
    )
    assert len(document["password"]) == 32 and document["password"].isalnum()
    assert list(s.versions().values()) == [["AWSCURRENT"]]
    # AND the user reads and writes its schema with that password, over TLS only
    with s.login(document["password"], s.database) as app, app.cursor() as cur:
        cur.execute("INSERT INTO bets VALUES (1, 10.50)")
        cur.execute("UPDATE bets SET amount = 11 WHERE id = 1")
        cur.execute("CREATE TEMPORARY TABLE scratch (a INT)")
        cur.execute("LOCK TABLES bets WRITE")
        cur.execute("UNLOCK TABLES")
        cur.execute("SELECT amount FROM bets")
        assert cur.fetchall() == ((11,),)
        cur.execute("DELETE FROM bets")
        # AND is refused on mysql.*, another schema, CREATE USER and (with `app`) DDL
        assert _refused(app, "SELECT * FROM mysql.user") == 1142
        assert _refused(app, "SELECT * FROM information_schema.TABLES t, mysql.db d LIMIT 1") == 1142
        assert _refused(app, "CREATE DATABASE elsewhere") == 1044
        assert _refused(app, "USE mysql") == 1044
        assert _refused(app, "CREATE USER 'x'@'%' IDENTIFIED BY 'y'") == 1227
        assert _refused(app, "CREATE TABLE more (a INT)") == 1142
        assert _refused(app, "DROP TABLE bets") == 1142
    with pytest.raises(pymysql.err.OperationalError) as plain:
        s.login(document["password"], tls=False)
    assert plain.value.args[0] in (1045, 3159, 4151)
    # AND the operator sees the user and a grants table, never the password
    asked = "SELECT, INSERT, UPDATE, DELETE, EXECUTE, CREATE TEMPORARY TABLES, LOCK TABLES"
    assert f"GRANT {asked} ON `{s.database}`.* TO '{s.user}'@'%'" in result.output
    assert re.search(rf"^  `{s.database}`\.\*\s+{re.escape(asked)}$", result.output, re.M)
    assert "REQUIRE SSL" in result.output and document["password"] not in result.output
    report = (tmp_path / "report.json").read_text()
    assert document["password"] not in report and json.loads(report)["require_ssl"] is True


def test_a_rerun_changes_nothing_and_rotate_replaces_the_password(setup):
    s = setup
    assert s.run().exit_code == 0
    first, versions, grants = s.secret()["password"], s.versions(), s.show_grants()
    # WHEN run again THEN nothing changes: no statement, no secret version, the same password works
    again = s.run()
    assert again.exit_code == 0, again.output
    assert "nothing to change" in again.output
    assert (s.versions(), s.show_grants(), s.secret()["password"]) == (versions, grants, first)
    s.login(first).close()
    # WHEN rotated THEN a new version is current, the old password fails and the new one works
    rotated = s.run("--rotate")
    assert rotated.exit_code == 0, rotated.output
    second = s.secret()["password"]
    assert second != first and len(s.versions()) == 2
    assert sorted(s.versions().values()) == [["AWSCURRENT"], ["AWSPREVIOUS"]]
    with pytest.raises(pymysql.err.OperationalError) as old:
        s.login(first)
    assert old.value.args[0] == 1045
    s.login(second).close()
    assert s.show_grants() == grants
    # AND the operator is told to replace the instances, with the command
    assert (
        "aws autoscaling start-instance-refresh --region eu-west-1 --auto-scaling-group-name duewin-prod-app "
        """--preferences '{"MinHealthyPercentage":100,"MaxHealthyPercentage":200}'"""
    ) in rotated.output
    assert first not in rotated.output and second not in rotated.output


def test_a_changed_master_password_does_not_touch_the_app_user(setup):
    s = setup
    assert s.run().exit_code == 0
    app_password = s.secret()["password"]
    # WHEN the master password changes (RDS's 7-day rotation)
    with s.server.root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"ALTER USER '{s.master}'@'127.0.0.1' IDENTIFIED BY 'rotated-by-rds'")
    # THEN the app user still logs in with its own, and a rerun with the new master password changes nothing
    with s.login(app_password, s.database) as app, app.cursor() as cur:
        cur.execute("SELECT 1")
    rerun = s.run(env={"MIGRATE_TARGET_PASSWORD": "rotated-by-rds"})
    assert rerun.exit_code == 0 and "nothing to change" in rerun.output, rerun.output


def test_privileges_follow_the_set_asked_for_and_strays_are_revoked(setup):
    s = setup
    assert s.run("--privileges", "app+ddl").exit_code == 0
    assert s.show_grants() == _expected_grants(s, APP_DDL_PRIVILEGES)
    with s.login(s.secret()["password"], s.database) as app, app.cursor() as cur:
        cur.execute("CREATE TABLE migrations (id INT)")
        cur.execute("CREATE VIEW v AS SELECT id FROM migrations")
    # GIVEN grants someone added by hand WHEN run with `app` again THEN only the app set remains
    with s.server.root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"GRANT SELECT ON mysql.* TO '{s.user}'@'%'")
        cur.execute(f"GRANT PROCESS ON *.* TO '{s.user}'@'%'")
        cur.execute(f"GRANT SELECT ON `{s.database}`.`migrations` TO '{s.user}'@'%' WITH GRANT OPTION")
    result = s.run()
    assert result.exit_code == 0, result.output
    assert s.show_grants() == _expected_grants(s)
    assert "REVOKE SELECT ON `mysql`.* FROM" in result.output and "REVOKE PROCESS ON *.* FROM" in result.output


def test_a_target_that_does_not_require_tls_gets_a_user_without_require_ssl(servers, aws):
    target = servers.target
    target.create_database("plain_app_user")
    arn = aws.create_secret(Name="plain/app-user")["ARN"]
    result = CliRunner().invoke(
        cli,
        ["app-user", "--target", target.url("plain_app_user"), "--secret-arn", arn],
        env={"MIGRATE_TARGET_PASSWORD": "s3cret-pw!"},
    )
    assert result.exit_code == 0, result.output
    with target.root_connection() as conn, conn.cursor() as cur:
        cur.execute("SHOW GRANTS FOR 'plain_app_user_app'@'%'")
        usage = cur.fetchone()[0]
    assert "REQUIRE SSL" not in usage and "no TLS required" in result.output
    password = json.loads(aws.get_secret_value(SecretId=arn)["SecretString"])["password"]
    pymysql.connect(host="127.0.0.1", port=target.port, user="plain_app_user_app", password=password).close()


# --- bad input: exit 2, one line, nothing changed ------------------------------------------------


def _weak_master(s: Setup) -> dict:
    """A master that may do anything in the schema but create users."""
    with s.server.root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{s.master}'@'127.0.0.1'")
        cur.execute(f"GRANT ALL PRIVILEGES ON `{s.database}`.* TO '{s.master}'@'127.0.0.1'")
        cur.execute(f"GRANT SELECT ON mysql.* TO '{s.master}'@'127.0.0.1'")
    return {}


def _secret_put_denied(s: Setup) -> dict:
    """Credentials that may read the secret and ask for a password, but not write a version."""
    iam = __import__("boto3").client("iam", region_name="us-east-1")
    iam.create_user(UserName="operator")
    read_only = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:GetRandomPassword"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": read_only, "Resource": "*"}]}
    iam.put_user_policy(UserName="operator", PolicyName="read-only", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


BAD_INPUT = {
    "unknown privileges set": (lambda s: {}, ["--privileges", "admin"], {}, "--privileges: unknown set 'admin'"),
    "target without the schema": (lambda s: {}, [], {"url": "nowhere"}, "the server has no database `nowhere`"),
    "secret not found": (lambda s: {}, [], {"arn": "gone"}, "--secret-arn: no secret"),
    "no permission on the server": (_weak_master, [], {}, "the server refused CREATE USER"),
    "no permission to write the secret": (_secret_put_denied, [], {}, "no permission to PutSecretValue"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(setup, case):
    s = setup
    prepare, extra, where, message = BAD_INPUT[case]
    url = s.url(where["url"]) if "url" in where else None
    arn = s.arn.replace("app-user-", "gone-") if "arn" in where else None

    def attempt():
        return s.run(*extra, url=url, arn=arn, env=prepare(s))

    # IAM is enforced by moto only after the first three calls (the user, its policy and key are made with them).
    enforced = case == "no permission to write the secret"
    result = set_initial_no_auth_action_count(3)(attempt)() if enforced else attempt()
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migrate: error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert not s.user_exists()
    assert s.aws.describe_secret(SecretId=s.arn).get("VersionIdsToStages", {}) == {}


def test_a_refused_secret_write_undoes_the_user_it_created(setup):
    # The no-permission case above, from the operator's side: the message says nothing changed.
    s = setup
    result = set_initial_no_auth_action_count(3)(lambda: s.run(env=_secret_put_denied(s)))()
    assert "nothing changed (2 statement(s) undone)" in result.output, result.output


# --- the password goes nowhere but the secret --------------------------------------------------


def test_the_password_is_in_no_argument_output_log_report_or_error(setup, tmp_path, caplog):
    s = setup
    caplog.set_level(logging.DEBUG)
    report = tmp_path / "report.json"
    outputs = [s.run("--report", str(report)), s.run("--rotate", "--report", str(report))]
    passwords = [
        v["SecretString"]
        for v in (s.aws.get_secret_value(SecretId=s.arn, VersionStage=stage) for stage in ("AWSPREVIOUS", "AWSCURRENT"))
    ]
    passwords = [json.loads(p)["password"] for p in passwords]
    # A failing run (the grant refused after the user exists) must not say it in its error either.
    _weak_master(s)
    outputs.append(s.run("--rotate"))
    assert outputs[-1].exit_code == 2
    everything = "".join(r.output for r in outputs) + caplog.text + report.read_text()
    assert caplog.records, "DEBUG logging was on"
    assert not [p for p in passwords if p in everything]
    # No option takes a password as its value, and a URL carrying one is refused.
    command = cli.commands["app-user"]
    valued = [p.name for p in command.params if not getattr(p, "is_flag", False)]
    assert [name for name in valued if "password" in name] == ["password_secret_arn"]
    refused = s.run(url=s.url().replace(f"{s.master}@", f"{s.master}:{MASTER_PASSWORD}@"))
    assert refused.exit_code == 2 and "carries a password" in refused.output
    assert MASTER_PASSWORD not in refused.output


# --- the pure parts ----------------------------------------------------------------------------


def test_privilege_sets_are_the_documented_ones():
    assert PRIVILEGE_SETS["app"] == (
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "EXECUTE",
        "CREATE TEMPORARY TABLES",
        "LOCK TABLES",
    )
    assert PRIVILEGE_SETS["app+ddl"][7:] == (
        "CREATE",
        "ALTER",
        "INDEX",
        "DROP",
        "REFERENCES",
        "CREATE VIEW",
        "SHOW VIEW",
        "TRIGGER",
    )
    with pytest.raises(BadInput, match="unknown set 'root'"):
        privilege_set("root")


def test_show_grants_lines_parse_and_the_password_hash_is_never_kept():
    lines = [
        "GRANT USAGE ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*0123456789ABCDEF0123456789ABCDEF01234567' REQUIRE SSL",
        "GRANT SELECT, INSERT ON `app`.* TO `u`@`%` WITH GRANT OPTION",
        "GRANT SELECT (`a`, `b`) ON `app`.`t` TO `u`@`%`",
        "GRANT `reader` TO `u`@`%`",
    ]
    grants, unmanaged = parse_grants(lines)
    assert grants == [Grant("*.*", frozenset({"USAGE"})), Grant("`app`.*", frozenset({"SELECT", "INSERT"}), True)]
    assert unmanaged == ["GRANT SELECT (`a`, `b`) ON `app`.`t` TO `u`@`%`", "GRANT `reader` TO `u`@`%`"]


def test_grant_changes_grant_before_they_revoke_and_each_has_its_inverse():
    who = "'u'@'%'"
    actual = [Grant("*.*", frozenset({"USAGE", "PROCESS"})), Grant("`app`.*", frozenset({"SELECT", "DROP"}))]
    changes = grant_changes(actual, "`app`.*", ("SELECT", "INSERT"), who)
    assert [(c.sql, c.undo.sql) for c in changes] == [
        (f"GRANT INSERT ON `app`.* TO {who}", f"REVOKE INSERT ON `app`.* FROM {who}"),
        (f"REVOKE DROP ON `app`.* FROM {who}", f"GRANT DROP ON `app`.* TO {who}"),
        (f"REVOKE PROCESS ON *.* FROM {who}", f"GRANT PROCESS ON *.* TO {who}"),
    ]
    exact = [Grant("*.*", frozenset({"USAGE"})), Grant("`app`.*", frozenset({"SELECT", "INSERT"}))]
    assert grant_changes(exact, "`app`.*", ("SELECT", "INSERT"), who) == []
    everything = [Grant("`app`.*", frozenset({"ALL PRIVILEGES"}))]
    assert [c.sql for c in grant_changes(everything, "`app`.*", ("SELECT",), who)] == [
        f"REVOKE ALL PRIVILEGES ON `app`.* FROM {who}",
        f"GRANT SELECT ON `app`.* TO {who}",
    ]


def test_the_master_secret_or_a_foreign_value_is_never_overwritten(setup, aws):
    s = setup
    redis = aws.create_secret(Name="duewin-prod/redis/auth-token", SecretString="0123456789abcdef" * 4)["ARN"]
    result = s.run(arn=redis)
    assert result.exit_code == 2 and "holds something other than an app user document" in result.output
    assert aws.get_secret_value(SecretId=redis)["SecretString"] == "0123456789abcdef" * 4
    named_master = s.run("--user", s.master)
    assert named_master.exit_code == 2 and "that is the master user" in named_master.output
