"""`infra app-settings` against moto's Parameter Store: names only, the boot's own rules, exit 0/1/2."""

from __future__ import annotations

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from infra.cli import main
from infra.config import DUEWIN_REQUIRED_SETTINGS

REQUIRED = {name: f"/duewin/dev/app/{name}" for name in DUEWIN_REQUIRED_SETTINGS}


@pytest.fixture
def ssm(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def app_user(ssm):
    """The app user secret as the data stack creates it (no value); ``filled()`` is `migrate app-user` having run."""
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="duewin-dev/mysql/app-user")["ARN"]

    class AppUser:
        @staticmethod
        def filled():
            value = '{"username": "duewin_app", "password": "pw-never-shown"}'
            secrets.put_secret_value(SecretId=arn, SecretString=value)

    return AppUser


def _put(ssm, names, key="alias/duewin-dev-data-secrets"):
    for name in names:
        ssm.put_parameter(Name=name, Value="s3cret-value-never-shown", Type="SecureString", KeyId=key)


def _check(env: str = "dev"):
    return CliRunner().invoke(main, ["app-settings", "--env", env])


def test_every_required_setting_present_across_pages_and_subpaths_exits_0(ssm, app_user):
    # GIVEN every required setting (some in sub-paths) and more than one page of others, and a parameter of
    # another environment WHEN checked THEN exit 0, each named with its source, and no value printed.
    _put(ssm, [*REQUIRED.values()][:5])
    _put(ssm, [f"/duewin/dev/app/casino/{name}" for name in DUEWIN_REQUIRED_SETTINGS[5:]], key="alias/aws/ssm")
    _put(ssm, [f"/duewin/dev/app/payments/PAY_{n:02d}" for n in range(60)])
    _put(ssm, ["/duewin/prod/app/JWT_SECRET", "/duewin/dev/application/X"])
    app_user.filled()
    result = _check()
    assert result.exit_code == 0, result.output
    assert "Parameter Store /duewin/dev/app/ (us-east-1): 69 parameters" in result.output
    assert "JWT_SECRET" in result.output and "/duewin/dev/app/casino/JWT_SECRET (SecureString)" in result.output
    assert "every required setting is present" in result.output
    assert "s3cret" not in result.output and "pw-never-shown" not in result.output


def test_the_app_user_secret_without_a_value_or_missing_exits_1(ssm):
    # GIVEN every required setting WHEN the data stack is not deployed, then deployed but `migrate app-user`
    # has not run THEN the boot would stop, and the check says why.
    _put(ssm, REQUIRED.values())
    result = _check()
    assert result.exit_code == 1
    assert "no app user secret duewin-dev/mysql/app-user: deploy the data stack first" in result.output
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="duewin-dev/mysql/app-user")
    result = _check()
    assert result.exit_code == 1, result.output
    assert "the app user secret duewin-dev/mysql/app-user has no value: run `migrate app-user`" in result.output


def test_gaps_and_misplaced_settings_exit_1_naming_each(ssm):
    # GIVEN two required settings missing, a bad name, a connection setting, a duplicate and a foreign key
    _put(ssm, [p for name, p in REQUIRED.items() if name not in ("CASINO_AES_KEY", "ENCRYPTION_KEY")])
    _put(ssm, ["/duewin/dev/app/bad-name", "/duewin/dev/app/DB_HOST", "/duewin/dev/app/other/JWT_SECRET"])
    _put(ssm, ["/duewin/dev/app/SLACK_WEBHOOK_URL"], key="alias/someone-elses-key")
    result = _check()
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.split() == ["CASINO_AES_KEY", "MISSING"] for line in lines), result.output
    for expected in (
        "missing required settings: CASINO_AES_KEY, ENCRYPTION_KEY",
        "not setting names ([A-Z_][A-Z0-9_]*): /duewin/dev/app/bad-name",
        "DB_HOST: set by both the bootstrap and Parameter Store /duewin/dev/app/DB_HOST",
        "JWT_SECRET: set twice in Parameter Store, as /duewin/dev/app/JWT_SECRET and /duewin/dev/app/other/JWT_SECRET",
        "/duewin/dev/app/SLACK_WEBHOOK_URL: encrypted with alias/someone-elses-key, which the instances cannot decrypt",
    ):
        assert expected in result.output, result.output


def test_a_setting_from_app_env_counts_as_present(ssm, app_user, tmp_path, monkeypatch):
    from infra import config as config_module

    text = (config_module.ENVIRONMENTS_DIR / "dev.toml").read_text()
    (tmp_path / "dev.toml").write_text(
        text.replace("[load_balancer]", '[app.env]\nENCRYPTION_KEY = "not-secret-in-dev"\n\n[load_balancer]')
    )
    monkeypatch.setattr(config_module, "ENVIRONMENTS_DIR", tmp_path)
    monkeypatch.setattr(config_module.load_environment, "__defaults__", (tmp_path,))
    _put(ssm, [p for name, p in REQUIRED.items() if name != "ENCRYPTION_KEY"])
    app_user.filled()
    result = _check()
    assert result.exit_code == 0, result.output
    assert any(line.split() == ["ENCRYPTION_KEY", "[app.env]"] for line in result.output.splitlines()), result.output


def test_no_credentials_or_bad_environment_exit_2(monkeypatch):
    result = _check("qa")
    assert result.exit_code == 2 and "unknown environment 'qa'" in result.output
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    result = _check()
    assert result.exit_code == 2 and "cannot list /duewin/dev/app/ in Parameter Store" in result.output
