"""The user data: rendered without CDKTF, linted by shellcheck, and run under bash against stub commands."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bootstrap import fleet_lock
from bootstrap.app_boot import AppBoot
from bootstrap.ecosystem import ecosystem
from bootstrap.user_data import (
    PRELOAD_PATH,
    USER_DATA_LIMIT_BYTES,
    InstanceReferences,
    cloudwatch_agent_config,
    fleet_lock_source,
    instance_paths,
    instance_tags,
    render_script,
    render_user_data,
)
from infra.boot import app_boot
from infra.config import load_environment
from tests.conftest import missing
from tests.infra.variants import ENVIRONMENTS

FLEET_LOCK = fleet_lock_source()

REFS = InstanceReferences(
    db_host="duewin-dev.abc123.us-east-1.rds.amazonaws.com",
    db_port="3306",
    db_name="duewin",
    db_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:duewin-dev/mysql/app-user-AbCdEf",
    redis_host="master.duewin-dev.abc123.use1.cache.amazonaws.com",
    redis_port="6379",
    redis_auth_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:duewin-dev-redis-auth-XyZ",
)
# Chosen to break naive quoting: a double quote, a hash (dotenv comment), a dollar, URL-reserved characters.
SECRETS = {"db_user": "duewin_app", "db_pass": 'p@ss"w#rd$x', "redis_token": "tok/en+=?"}
#: What the AWS CLI says for a secret that Terraform created and `migrate app-user` has not filled yet.
NO_VALUE = (
    "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager "
    "can't find the specified secret value for staging label: AWSCURRENT"
)


def _boot(environment: str = "dev", **app_changes) -> AppBoot:
    """The environment as the renderers take it, ``app_changes`` applied past the config's validation (so that
    the renderer's own refusals can be reached)."""
    return replace(app_boot(load_environment(environment)), **app_changes)


S3_CHANGES = {"repository": None, "artifact": "s3://duewin-builds/backend.tar.gz"}


def test_user_data_is_the_gzipped_script_under_the_ec2_limit():
    for env in ENVIRONMENTS:
        boot = _boot(env)
        payload = base64.b64decode(render_user_data(boot, fleet_lock=FLEET_LOCK))
        assert len(payload) <= USER_DATA_LIMIT_BYTES
        assert gzip.decompress(payload).decode() == render_script(boot, fleet_lock=FLEET_LOCK)
        # Deterministic: the synthesized launch template must not change between identical synths.
        assert render_user_data(boot, fleet_lock=FLEET_LOCK) == render_user_data(boot, fleet_lock=FLEET_LOCK)


def test_user_data_over_the_limit_is_refused():
    # GIVEN an embedded file that does not compress WHEN rendered THEN the 16 KB limit is enforced here, not at launch.
    noise = base64.b64encode(os.urandom(20000)).decode()
    with pytest.raises(ValueError, match="bytes gzipped; EC2 accepts 16384"):
        render_user_data(_boot(), fleet_lock=noise)


def test_script_depends_on_config_only_and_holds_no_reference_or_secret():
    script = render_script(_boot(), fleet_lock=FLEET_LOCK)
    for value in [*SECRETS.values(), REFS.db_host, REFS.db_secret_arn, REFS.redis_auth_secret_arn, "jwt-secret-value"]:
        assert value not in script
    # Nor any quoted literal assigned to something secret-sounding (the check a reviewer would do by eye).
    assert "arn:aws" not in script
    assert not re.search(r"(?i)\w*(pass|token|secret)\w*\s*=\s*['\"][^'\"$]{6,}['\"]", script)
    assert re.search(r"(?i)\w*(pass|token|secret)\w*\s*=\s*['\"][^'\"$]{6,}['\"]", "DB_PASS='hunter22'")


def test_instance_tags_carry_every_reference_the_script_reads():
    tags = instance_tags(REFS)
    script = render_script(_boot(), fleet_lock=FLEET_LOCK)
    read = set(re.findall(r"imds tags/instance/(\S+?)\)", script))
    assert read == set(tags)
    # IMDS exposes only tag keys without spaces or '/'.
    assert all(re.fullmatch(r"[A-Za-z0-9+=.,_:@-]+", key) for key in tags)


def test_cloudwatch_agent_publishes_memory_per_auto_scaling_group():
    agent = cloudwatch_agent_config(_boot())
    metrics = agent["metrics"]
    assert metrics["namespace"] == "CWAgent"
    assert metrics["metrics_collected"]["mem"]["measurement"] == ["mem_used_percent"]
    assert ["AutoScalingGroupName"] in metrics["aggregation_dimensions"]
    assert metrics["append_dimensions"]["AutoScalingGroupName"] == "${aws:AutoScalingGroupName}"
    files = agent["logs"]["logs_collected"]["files"]["collect_list"]
    assert {f["log_group_name"] for f in files} == {"/duewin/dev/app"}
    assert {f["log_stream_name"] for f in files} >= {
        "{instance_id}/web",
        "{instance_id}/web-error",
        "{instance_id}/bootstrap",
    }


def test_a_value_with_a_quote_is_refused():
    with pytest.raises(ValueError, match="single quote"):
        render_script(_boot(branch="it's"), fleet_lock=FLEET_LOCK)


def test_embedded_text_containing_its_heredoc_delimiter_is_refused():
    with pytest.raises(ValueError, match="FLEET_LOCK contains its heredoc delimiter"):
        render_script(_boot(), fleet_lock="x = 1\nFLEET_LOCK\n")


@pytest.mark.parametrize("variant", ["git", "s3"])
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_shellcheck_passes(env, variant, tmp_path):
    if not shutil.which("shellcheck"):
        missing("shellcheck")
    script = tmp_path / "user-data.sh"
    script.write_text(render_script(_boot(env, **(S3_CHANGES if variant == "s3" else {})), fleet_lock=FLEET_LOCK))
    result = subprocess.run(
        ["shellcheck", "--shell=bash", "--severity=style", str(script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


# --- the script under bash, every external command replaced by a stub that records its call ------------

# get-parameters-by-path as the AWS CLI answers it: --max-items per call, a NextToken to resume with.
SSM_PAGES = r"""
import json, sys
args = sys.argv[1:]
def option(name, default=None):
    return args[args.index(name) + 1] if name in args else default
assert {"--recursive", "--with-decryption"} <= set(args) and option("--path") == sys.argv[0].rsplit("|", 1)[-1], args
parameters = json.load(open(sys.argv[0].rsplit("|", 1)[0]))
start = int(option("--starting-token", "0"))
end = start + int(option("--max-items"))
answer = {"Parameters": parameters[start:end]}
if end < len(parameters):
    answer["NextToken"] = str(end)
print(json.dumps(answer))
"""

STUBS = {
    "curl": r"""
url=; out=
while (($#)); do case $1 in -o) out=$2; shift ;; http*) url=$1 ;; esac; shift; done
case $url in
  */api/token) printf imds-token ;;
  */meta-data/instance-id) cat "$STUB_DATA/instance-id" ;;
  */meta-data/tags/instance/*) cat "$STUB_DATA/tags/${url##*/}" ;;
  https://truststore.pki.rds.amazonaws.com/*) cp "$STUB_DATA/rds-ca-bundle.pem" "$out" ;;
  *) if [[ -n $out ]]; then echo package > "$out"; else echo KEY; fi ;;
esac""",
    "aws": r"""
case "$*" in
  *"secretsmanager get-secret-value"*"--secret-id $STUB_DB_SECRET_ARN "*)
    if [[ -f $STUB_DATA/db-secret.error ]]; then echo >&2; cat "$STUB_DATA/db-secret.error" >&2; exit 254; fi
    cat "$STUB_DATA/db-secret" ;;
  *"secretsmanager get-secret-value"*"--secret-id $STUB_REDIS_SECRET_ARN "*) cat "$STUB_DATA/redis-token" ;;
  *"ssm get-parameters-by-path"*) python3 -c "$(cat "$STUB_DATA/ssm_pages.py")" "$@" ;;
  *"s3 cp"*) src=$(mktemp -d); mkdir "$src/Backend"; echo '{}' > "$src/Backend/package.json"
             tar -czf "${@: -1}" -C "$src" . ;;
  *) echo "unexpected aws call: $*" >&2; exit 1 ;;
esac""",
    "runuser": r"""
while [[ $1 != -- ]]; do shift; done; shift; exec "$@" """,
    "git": r"""
if [[ $1 == clone ]]; then mkdir -p "${!#}/Backend"; echo '{}' > "${!#}/Backend/package.json"; fi""",
    "gpg": "cat > /dev/null",
    "pm2": r"""if [[ $1 == start ]]; then echo "INSTANCE_ID=$INSTANCE_ID" >> "$STUB_LOG"; fi""",
}
RECORD_ONLY = ("apt-get", "snap", "npm", "useradd", "chown", "systemctl")

#: Parameter Store under /duewin/dev/app, as the API lists it (nested paths too): every required setting,
#: values that break naive quoting (quotes, '#', '$', a PEM key over several lines), and enough payment
#: settings to need two pages.
PARAMETERS = {
    "/duewin/dev/app/JWT_SECRET": "jwt-secret-value",
    "/duewin/dev/app/JWT_REFRESH_SECRET": "refresh'secret",
    "/duewin/dev/app/ADMIN_JWT_SECRET": 'ad"min#$x',
    "/duewin/dev/app/ENCRYPTION_KEY": "enc-key-7f3a",
    "/duewin/dev/app/PRELUDE_API_KEY": "prelude-key",
    "/duewin/dev/app/casino/CASINO_AGENCY_UID": "agency-7",
    "/duewin/dev/app/casino/CASINO_AES_KEY": "aes`key'\"x",
    "/duewin/dev/app/spribe/SPRIBE_CLIENT_ID": "spribe-id",
    "/duewin/dev/app/spribe/SPRIBE_CLIENT_SECRET": "spribe-secret",
    "/duewin/dev/app/payments/WEPAY_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nMIIBVQ==\n-----END PRIVATE KEY-----",
    **{f"/duewin/dev/app/payments/WOWPAY_SETTING_{n:02d}": f"value-{n}" for n in range(50)},
}
CONNECTION_LINES = (
    "INSTANCE_ID='{instance}'\n"
    "SERVER_PORT='3000'\n"
    f"DB_HOST='{REFS.db_host}'\n"
    "DB_PORT='3306'\n"
    "DB_NAME='duewin'\n"
    "DB_USER='duewin_app'\n"
    """DB_PASS='p@ss"w#rd$x'\n"""
    """DB_PASSWORD='p@ss"w#rd$x'\n"""
    "DB_SSL_CA='{root}/opt/app-runtime/rds-ca-bundle.pem'\n"
    f"REDIS_HOST='{REFS.redis_host}'\n"
    "REDIS_PORT='6379'\n"
    "REDIS_PASSWORD='tok/en+=?'\n"
    "REDIS_TLS='true'\n"
    "REDIS_DB='0'\n"
    f"REDIS_URL='rediss://:tok%2Fen%2B%3D%3F@{REFS.redis_host}:6379/0'\n"
)


def _install_stubs(tmp_path: Path, root: Path, parameters: dict[str, str], instance_id: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ctl = root / "opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
    ctl.parent.mkdir(parents=True)
    for path, body in [
        *((bin_dir / n, b) for n, b in STUBS.items()),
        *((bin_dir / n, "") for n in RECORD_ONLY),
        (ctl, ""),
    ]:
        path.write_text(f'#!/bin/bash\nprintf "%s\\n" "{path.name} $*" >> "$STUB_LOG"\n{body}\n')
        path.chmod(0o755)
    data = tmp_path / "data"
    (data / "tags").mkdir(parents=True)
    for key, value in instance_tags(REFS).items():
        (data / "tags" / key).write_text(value)
    (data / "instance-id").write_text(instance_id)
    (data / "rds-ca-bundle.pem").write_text("-----BEGIN CERTIFICATE-----\nRDS\n-----END CERTIFICATE-----\n")
    # The app user secret as `migrate app-user` writes it.
    (data / "db-secret").write_text(
        json.dumps(
            {
                "engine": "mysql",
                "host": REFS.db_host,
                "port": 3306,
                "username": SECRETS["db_user"],
                "password": SECRETS["db_pass"],
                "dbname": "duewin",
            }
        )
    )
    (data / "redis-token").write_text(SECRETS["redis_token"])
    listed = [{"Name": name, "Type": "SecureString", "Value": value} for name, value in parameters.items()]
    (data / "parameters.json").write_text(json.dumps(listed))
    # The stub's sys.argv[0] ("-c") is replaced by "<parameters file>|<expected path>".
    (data / "ssm_pages.py").write_text(
        f"import sys; sys.argv[0] = {str(data / 'parameters.json') + '|/duewin/dev/app'!r}\n" + SSM_PAGES
    )
    for directory in ("usr/local/bin", "etc/cron.d"):
        (root / directory).mkdir(parents=True)
    return bin_dir


def _run(tmp_path: Path, parameters=PARAMETERS, instance_id="i-0123456789abcdef0", break_stubs=None, **app_changes):
    """Render for a scratch root, install the stubs (``break_stubs(data_dir)`` may sabotage them), run
    bash: (result, recorded calls, root)."""
    root = tmp_path / "root"
    bin_dir = _install_stubs(tmp_path, root, parameters, instance_id)
    if break_stubs:
        break_stubs(tmp_path / "data")
    script = tmp_path / "user-data.sh"
    script.write_text(render_script(_boot(**app_changes), root=str(root), fleet_lock=FLEET_LOCK))
    log = tmp_path / "calls.log"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "STUB_LOG": str(log),
        "STUB_DATA": str(tmp_path / "data"),
        "STUB_DB_SECRET_ARN": REFS.db_secret_arn,
        "STUB_REDIS_SECRET_ARN": REFS.redis_auth_secret_arn,
    }
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    return result, log.read_text().splitlines() if log.exists() else [], root


def _position(calls: list[str], pattern: str) -> int:
    matches = [i for i, call in enumerate(calls) if re.search(pattern, call)]
    assert matches, f"no call matches {pattern!r}:\n" + "\n".join(calls)
    return matches[0]


@pytest.mark.parametrize("variant", ["git", "s3"])
def test_script_writes_env_and_starts_pm2_in_order(tmp_path, variant):
    # GIVEN stubbed AWS, IMDS and package tools, and plain settings in [app.env] WHEN the rendered script runs THEN:
    plain = {
        "ALLOWED_ORIGINS": "https://duewin.example.com,https://admin.duewin.example.com",
        "FRONTEND_URL": "https://duewin.example.com",
    }
    result, calls, root = _run(tmp_path, env=plain, **(S3_CHANGES if variant == "s3" else {}))
    assert result.returncode == 0, result.stderr + "\n".join(calls)

    # ... .env sits in the app's directory (Backend/), holds every setting, quoted so dotenv reads each
    # back verbatim, the connection settings under the names the app reads; mode 0600.
    env_file = root / "opt/app/Backend/.env"
    generated = "".join(f"WOWPAY_SETTING_{n:02d}='value-{n}'\n" for n in range(50))
    assert env_file.read_text() == (
        CONNECTION_LINES.format(instance="i-0123456789abcdef0", root=root)
        + "ALLOWED_ORIGINS='https://duewin.example.com,https://admin.duewin.example.com'\n"
        "FRONTEND_URL='https://duewin.example.com'\n"
        """ADMIN_JWT_SECRET='ad"min#$x'\n"""
        "ENCRYPTION_KEY='enc-key-7f3a'\n"
        "JWT_REFRESH_SECRET=`refresh'secret`\n"
        "JWT_SECRET='jwt-secret-value'\n"
        "PRELUDE_API_KEY='prelude-key'\n"
        "CASINO_AES_KEY=aes`key'\"x\n"
        "CASINO_AGENCY_UID='agency-7'\n"
        "WEPAY_PRIVATE_KEY='-----BEGIN PRIVATE KEY-----\nMIIBVQ==\n-----END PRIVATE KEY-----'\n"
        + generated
        + "SPRIBE_CLIENT_ID='spribe-id'\n"
        "SPRIBE_CLIENT_SECRET='spribe-secret'\n"
        "NODE_ENV='production'\n"
    )
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert not (root / "opt/app/Backend/.env.new").exists()
    # Sixty parameters, fifty per call: the second call resumed where the first stopped.
    pages = [c for c in calls if c.startswith("aws ssm get-parameters-by-path")]
    assert len(pages) == 2 and "--starting-token" not in pages[0] and "--starting-token 50" in pages[1]

    # ... no secret reached any command line or the output.
    everything = "\n".join(calls) + result.stdout + result.stderr
    secrets = [SECRETS["db_pass"], SECRETS["redis_token"], *PARAMETERS.values()]
    assert not [s for s in secrets if s in everything]

    # ... IMDS was asked with a v2 token, and the steps ran in this order.
    assert any("X-aws-ec2-metadata-token: imds-token" in c and "instance-id" in c for c in calls)
    fetch = (
        r"^git clone .*--branch main https://github.com/duewin/backend.git"
        if variant == "git"
        else r"^aws s3 cp .*s3://duewin-builds/backend.tar.gz"
    )
    order = [
        r"^curl .*-X PUT .*/api/token",
        r"^apt-get -o DPkg::Lock::Timeout=600 -y -q install .*python3-redis",
        r"^snap wait system seed.loaded",
        r"^snap install aws-cli",
        r"^apt-get .* install nodejs",
        r"^npm install -g .*pm2@5",
        r"^apt-get .* install /\S+/amazon-cloudwatch-agent.deb",
        r"^amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s",
        fetch,
        r"^npm (ci|install) --omit=dev",
        r"^curl .*https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem",
        r"^aws secretsmanager get-secret-value",
        r"^aws ssm get-parameters-by-path --region us-east-1 --path /duewin/dev/app --recursive --with-decryption",
        r"^pm2 start \S+/opt/app-runtime/ecosystem.json$",
        r"^pm2 startup systemd -u app",
        r"^pm2 save",
    ]
    positions = [_position(calls, pattern) for pattern in order]
    assert positions == sorted(positions), list(zip(order, positions, strict=True))
    assert f"chown app:app {root}/opt/app/Backend/.env" in calls
    assert calls[_position(calls, r"^pm2 start") + 1] == "INSTANCE_ID=i-0123456789abcdef0"

    # ... the runtime files: the ecosystem the config describes, the preload and the CA bundle .env names.
    runtime = root / "opt/app-runtime"
    boot = _boot(env=plain)
    expected = ecosystem(boot.processes, instance_paths(boot, str(root)))
    assert json.loads((runtime / "ecosystem.json").read_text()) == expected
    assert (runtime / "x-instance-id.js").read_text() == PRELOAD_PATH.read_text()
    assert (runtime / "rds-ca-bundle.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")

    # ... fleet-lock is the embedded module, executable; the agent config is valid JSON.
    lock = root / "usr/local/bin/fleet-lock"
    assert lock.read_text() == FLEET_LOCK and lock.stat().st_mode & stat.S_IXUSR
    agent = json.loads((root / "opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json").read_text())
    assert agent["metrics"]["metrics_collected"]["mem"]["measurement"] == ["mem_used_percent"]


def test_ecosystem_runs_every_role_and_wraps_the_one_in_fleet_ones_in_fleet_lock_lead():
    boot = _boot()
    paths = instance_paths(boot, "/scratch")
    apps = {app["name"]: app for app in ecosystem(boot.processes, paths)["apps"]}
    assert list(apps) == ["web", "workers", "scheduler", "precalc-5d"]
    assert all(app["cwd"] == "/scratch/opt/app/Backend" and app["exec_mode"] == "fork" for app in apps.values())
    web, workers = apps["web"], apps["workers"]
    assert (web["script"], web["instances"], web["env"]) == (
        "index.js",
        1,
        {"NODE_OPTIONS": "--require /scratch/opt/app-runtime/x-instance-id.js"},
    )
    assert (workers["script"], workers["instances"], "env" in workers) == ("workers/workerManager.js", 2, False)
    for name, script in (("scheduler", "scripts/start-scheduler.js"), ("precalc-5d", "scripts/5dPreCalcScheduler.js")):
        lead = apps[name]
        assert (lead["script"], lead["interpreter"], lead["instances"], lead["treekill"]) == (
            "/scratch/usr/local/bin/fleet-lock",
            "none",
            1,
            False,
        )
        assert lead["args"] == [
            "lead",
            "--name",
            name,
            "--ttl",
            "15",
            "--env-file",
            "/scratch/opt/app/Backend/.env",
            "--",
            "node",
            script,
        ]
        assert lead["kill_timeout"] > fleet_lock.KILL_GRACE_SECONDS * 1000
    assert {app["out_file"] for app in apps.values()} == {f"/scratch/var/log/app/{n}.out.log" for n in apps}
    # The CloudWatch agent ships exactly the files PM2 writes.
    shipped = {f["file_path"] for f in cloudwatch_agent_config(boot)["logs"]["logs_collected"]["files"]["collect_list"]}
    assert shipped - {"/var/log/cloud-init-output.log"} == {
        path.removeprefix("/scratch")
        for app in ecosystem(boot.processes, paths)["apps"]
        for path in (app["out_file"], app["error_file"])
    }


def test_missing_required_settings_stop_the_boot_naming_every_one(tmp_path):
    # GIVEN Parameter Store lacks two required settings WHEN the script runs THEN one line names both,
    # nothing is written and PM2 never starts.
    short = {k: v for k, v in PARAMETERS.items() if not k.endswith(("/JWT_REFRESH_SECRET", "/CASINO_AES_KEY"))}
    result, calls, root = _run(tmp_path, parameters=short)
    assert result.returncode != 0
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("app-settings:")]
    assert line == (
        "app-settings: missing required settings (store each as /duewin/dev/app/NAME in Parameter Store): "
        "CASINO_AES_KEY, JWT_REFRESH_SECRET"
    )
    assert not (root / "opt/app/Backend/.env").exists()
    assert not [c for c in calls if c.startswith("pm2 ")]


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        (
            {"/duewin/dev/app/payments/bad-name": "x", "/duewin/dev/app/9LIVES": "y"},
            {},
            "Parameter Store names under /duewin/dev/app/ that are not setting names ([A-Z_][A-Z0-9_]*): "
            "/duewin/dev/app/9LIVES, /duewin/dev/app/payments/bad-name",
        ),
        (
            {"/duewin/dev/app/DB_HOST": "elsewhere"},
            {},
            "DB_HOST: set by both the bootstrap and Parameter Store /duewin/dev/app/DB_HOST",
        ),
        (
            {"/duewin/dev/app/FRONTEND_URL": "x"},
            {"FRONTEND_URL": "y"},
            "FRONTEND_URL: set by both [app.env] and Parameter Store",
        ),
        ({"/duewin/dev/app/other/JWT_SECRET": "x"}, {}, "JWT_SECRET: set twice in Parameter Store"),
    ],
)
def test_a_setting_that_cannot_be_placed_stops_the_boot(tmp_path, extra, env, message):
    result, calls, root = _run(tmp_path, parameters={**PARAMETERS, **extra}, env=env)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (root / "opt/app/Backend/.env").exists()
    assert not [c for c in calls if c.startswith("pm2 ")]


def test_an_app_user_secret_without_a_value_stops_the_boot_saying_to_run_migrate_app_user(tmp_path):
    # GIVEN the app stack deployed before `migrate app-user` ran: the secret exists, with no value
    result, calls, root = _run(tmp_path, break_stubs=lambda data: (data / "db-secret.error").write_text(NO_VALUE))
    # THEN one line says what to do, nothing is written and PM2 never starts
    assert result.returncode != 0
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("app-settings:")]
    assert line == (
        f"app-settings: the app user secret {REFS.db_secret_arn} holds no user: run `migrate app-user` "
        "(README: cutover runbook), then start an instance refresh"
    )
    assert "Traceback" not in result.stderr
    assert not (root / "opt/app/Backend/.env").exists()
    assert not [c for c in calls if c.startswith("pm2 ")]


def test_script_stops_at_the_first_failure(tmp_path):
    # GIVEN Secrets Manager refuses WHEN the script runs THEN it fails before writing .env or starting PM2.
    result, calls, root = _run(tmp_path, break_stubs=lambda data: (data / "db-secret").unlink())
    assert result.returncode != 0
    assert "app-settings: aws secretsmanager get-secret-value failed" in result.stderr
    assert not (root / "opt/app/Backend/.env").exists()
    _position(calls, r"^aws secretsmanager get-secret-value")  # it got as far as asking
    assert not [c for c in calls if c.startswith("pm2 ")]
