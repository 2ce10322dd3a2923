"""Passwords from Secrets Manager (moto), prompts and the environment; TLS policy; preflight rules."""

from __future__ import annotations

import json
import ssl

import pytest
from click.testing import CliRunner

from migrate.cli import cli
from migrate.connection import Endpoint, parse_url, tls_context
from migrate.errors import BadInput
from migrate.plan import DumpSummary, Largest
from migrate.preflight import problems
from migrate.target_facts import TargetFacts
from tests.migrate.conftest import migrate, query
from tests.servers.mariadb import PASSWORD, USER

DUMP = b"CREATE TABLE t (a INT);\nINSERT INTO t VALUES (1),(2);\n"


@pytest.mark.parametrize(
    "secret", [json.dumps({"username": USER, "password": PASSWORD}), PASSWORD], ids=["rds-json", "plain"]
)
def test_password_from_secrets_manager(aws, target, dbname, tmp_path, secret):
    arn = aws.create_secret(Name=f"db-{dbname}", SecretString=secret)["ARN"]
    (tmp_path / "d.sql").write_bytes(DUMP)
    # RDS's secret names the user too: a URL without one takes it from there.
    url = target.url(dbname).replace(f"{USER}@", "@") if secret.startswith("{") else target.url(dbname)
    result = migrate("run", str(tmp_path / "d.sql"), "--target", url, "--password-secret-arn", arn, password=None)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert query(target, dbname, "SELECT COUNT(*) FROM t") == [(2,)]


def test_secret_without_password_field_or_unknown_secret_is_one_line(aws, target, dbname):
    arn = aws.create_secret(Name="nopass", SecretString=json.dumps({"user": "x"}))["ARN"]
    result = migrate("run", "-", "--target", target.url(dbname), "--password-secret-arn", arn, password=None)
    assert result.exit_code == 2 and 'no "password" field' in result.output
    missing_arn = arn.replace("nopass", "gone")
    result = migrate("run", "-", "--target", target.url(dbname), "--password-secret-arn", missing_arn, password=None)
    assert result.exit_code == 2 and "cannot read the secret" in result.output


def test_password_prompt(target, dbname, tmp_path):
    (tmp_path / "d.sql").write_bytes(DUMP)
    result = CliRunner().invoke(
        cli,
        ["run", str(tmp_path / "d.sql"), "--target", target.url(dbname), "--password-prompt"],
        input=PASSWORD + "\n",
        env={"MIGRATE_TARGET_PASSWORD": None},
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output


def test_tls_is_required_off_loopback_unless_waived(tmp_path):
    remote = parse_url("mysql+pymysql://admin@db.abc.eu-west-1.rds.amazonaws.com:3306/app")
    context = tls_context(remote, None, allow_plaintext=False)
    assert isinstance(context, ssl.SSLContext) and context.verify_mode is ssl.CERT_REQUIRED
    assert tls_context(remote, None, allow_plaintext=True) is None
    for host in ("127.0.0.1", "localhost", "::1"):
        assert tls_context(Endpoint(host, 3306, "u", "d"), None, allow_plaintext=False) is None
    with pytest.raises(BadInput, match="cannot load CA bundle"):
        tls_context(remote, str(tmp_path / "missing.pem"), allow_plaintext=False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u@h/db", "unsupported dialect"),
        ("mysql+pymysql://u@h:3306", "names no database"),
        ("not a url", "not a SQLAlchemy URL"),
    ],
)
def test_bad_urls(url, message):
    with pytest.raises(BadInput, match=message):
        parse_url(url)


FACTS = TargetFacts("8.0.35", 64 << 20, True, False, True, ())


def summary(largest: int = 1000, routines: int = 0) -> DumpSummary:
    s = DumpSummary(largest=Largest(largest, 42, 0))
    s.routines = [f"r{i}" for i in range(routines)]
    return s


def test_preflight_passes_a_clean_target():
    assert problems(FACTS, "app", summary(), force=False) == []


def test_preflight_names_every_problem_with_its_fix():
    facts = TargetFacts("10.11.6-MariaDB", 4 << 20, True, False, False, tuple(f"t{i}" for i in range(7)))
    found = problems(facts, "app", summary(largest=5 << 20, routines=2), force=False)
    assert len(found) == 3
    assert found[0].startswith("target database `app` is not empty (7 tables: t0, t1, t2, t3, t4, …)")
    assert "line 42 is 5242880 bytes" in found[1] and "max_allowed_packet to at least 8388608" in found[1]
    assert "2 routines/triggers" in found[2] and "log_bin_trust_function_creators=1" in found[2]
    assert problems(facts, "app", summary(largest=5 << 20, routines=2), force=True)[0].startswith("statement")


def test_preflight_routines_fine_when_trusted_or_no_binlog():
    trusted = TargetFacts("8.0", 64 << 20, True, True, True, ())
    no_binlog = TargetFacts("8.0", 64 << 20, False, False, True, ())
    assert problems(trusted, "a", summary(routines=3), False) == []
    assert problems(no_binlog, "a", summary(routines=3), False) == []
