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
from pathlib import Path

import pytest

from bootstrap.user_data import (
    USER_DATA_LIMIT_BYTES,
    InstanceReferences,
    cloudwatch_agent_config,
    fleet_lock_source,
    instance_tags,
    render_script,
    render_user_data,
)
from infra.config import load_environment
from tests.conftest import missing
from tests.infra.variants import ENVIRONMENTS

FLEET_LOCK = fleet_lock_source()

REFS = InstanceReferences(
    db_host="duewin-dev.abc123.us-east-1.rds.amazonaws.com",
    db_port="3306",
    db_name="duewin",
    db_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234-AbCdEf",
    redis_host="master.duewin-dev.abc123.use1.cache.amazonaws.com",
    redis_port="6379",
    redis_auth_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:duewin-dev-redis-auth-XyZ",
)
# Chosen to break naive quoting: a double quote, a hash (dotenv comment), a dollar, URL-reserved characters.
SECRETS = {"db_user": "duewin_admin", "db_pass": 'p@ss"w#rd$x', "redis_token": "tok/en+=?", "jwt": "jwt-secret-value"}


def _config(env: str = "dev", **app_changes):
    config = load_environment(env)
    if not app_changes:
        return config
    return config.model_copy(update={"app": config.app.model_copy(update=app_changes)})


S3_CHANGES = {"repository": None, "artifact": "s3://duewin-builds/backend.tar.gz"}


def test_user_data_is_the_gzipped_script_under_the_ec2_limit():
    for env in ENVIRONMENTS:
        config = _config(env)
        payload = base64.b64decode(render_user_data(config, fleet_lock=FLEET_LOCK))
        assert len(payload) <= USER_DATA_LIMIT_BYTES
        assert gzip.decompress(payload).decode() == render_script(config, fleet_lock=FLEET_LOCK)
        # Deterministic: the synthesized launch template must not change between identical synths.
        assert render_user_data(config, fleet_lock=FLEET_LOCK) == render_user_data(config, fleet_lock=FLEET_LOCK)


def test_user_data_over_the_limit_is_refused():
    # GIVEN an embedded file that does not compress WHEN rendered THEN the 16 KB limit is enforced here, not at launch.
    noise = base64.b64encode(os.urandom(20000)).decode()
    with pytest.raises(ValueError, match="bytes gzipped; EC2 accepts 16384"):
        render_user_data(_config(), fleet_lock=noise)


def test_script_depends_on_config_only_and_holds_no_reference_or_secret():
    script = render_script(_config(), fleet_lock=FLEET_LOCK)
    for value in [*SECRETS.values(), REFS.db_host, REFS.db_secret_arn, REFS.redis_auth_secret_arn]:
        assert value not in script
    # Nor any quoted literal assigned to something secret-sounding (the check a reviewer would do by eye).
    assert "arn:aws" not in script
    assert not re.search(r"(?i)\w*(pass|token|secret)\w*\s*=\s*['\"][^'\"$]{6,}['\"]", script)
    assert re.search(r"(?i)\w*(pass|token|secret)\w*\s*=\s*['\"][^'\"$]{6,}['\"]", "DB_PASS='hunter22'")


def test_instance_tags_carry_every_reference_the_script_reads():
    tags = instance_tags(REFS)
    script = render_script(_config(), fleet_lock=FLEET_LOCK)
    read = set(re.findall(r"imds tags/instance/(\S+?)\)", script))
    assert read == set(tags)
    # IMDS exposes only tag keys without spaces or '/'.
    assert all(re.fullmatch(r"[A-Za-z0-9+=.,_:@-]+", key) for key in tags)


def test_cloudwatch_agent_publishes_memory_per_auto_scaling_group():
    agent = cloudwatch_agent_config(_config())
    metrics = agent["metrics"]
    assert metrics["namespace"] == "CWAgent"
    assert metrics["metrics_collected"]["mem"]["measurement"] == ["mem_used_percent"]
    assert ["AutoScalingGroupName"] in metrics["aggregation_dimensions"]
    assert metrics["append_dimensions"]["AutoScalingGroupName"] == "${aws:AutoScalingGroupName}"
    files = agent["logs"]["logs_collected"]["files"]["collect_list"]
    assert {f["log_group_name"] for f in files} == {"/duewin/dev/app"}
    assert {f["file_path"] for f in files} == {"/var/log/app/out.log", "/var/log/app/error.log", "/var/log/cloud-init-output.log"}


def test_a_value_with_a_quote_is_refused():
    with pytest.raises(ValueError, match="single quote"):
        render_script(_config(entrypoint="it's.js"), fleet_lock=FLEET_LOCK)


def test_embedded_text_containing_its_heredoc_delimiter_is_refused():
    with pytest.raises(ValueError, match="FLEET_LOCK contains its heredoc delimiter"):
        render_script(_config(), fleet_lock="x = 1\nFLEET_LOCK\n")


@pytest.mark.parametrize("variant", ["git", "s3"])
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_shellcheck_passes(env, variant, tmp_path):
    if not shutil.which("shellcheck"):
        missing("shellcheck")
    script = tmp_path / "user-data.sh"
    script.write_text(render_script(_config(env, **(S3_CHANGES if variant == "s3" else {})), fleet_lock=FLEET_LOCK))
    result = subprocess.run(["shellcheck", "--shell=bash", "--severity=style", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# --- the script under bash, every external command replaced by a stub that records its call ------------

STUBS = {
    "curl": r"""
url=; out=
while (($#)); do case $1 in -o) out=$2; shift ;; http*) url=$1 ;; esac; shift; done
case $url in
  */api/token) printf imds-token ;;
  */meta-data/instance-id) printf i-0123456789abcdef0 ;;
  */meta-data/tags/instance/*) cat "$STUB_DATA/tags/${url##*/}" ;;
  *) if [[ -n $out ]]; then echo package > "$out"; else echo KEY; fi ;;
esac""",
    "aws": r"""
case "$*" in
  *"secretsmanager get-secret-value"*"--secret-id $STUB_DB_SECRET_ARN "*) cat "$STUB_DATA/db-secret" ;;
  *"secretsmanager get-secret-value"*"--secret-id $STUB_REDIS_SECRET_ARN "*) cat "$STUB_DATA/redis-token" ;;
  *"ssm get-parameter"*"--name /duewin/dev/app/JWT_SECRET "*"--with-decryption"*) cat "$STUB_DATA/jwt" ;;
  *"s3 cp"*) src=$(mktemp -d); echo '{}' > "$src/package.json"; tar -czf "${@: -1}" -C "$src" . ;;
  *) echo "unexpected aws call: $*" >&2; exit 1 ;;
esac""",
    "runuser": r"""
while [[ $1 != -- ]]; do shift; done; shift; exec "$@" """,
    "git": r"""
if [[ $1 == clone ]]; then mkdir -p "${!#}"; echo '{}' > "${!#}/package.json"; fi""",
    "gpg": "cat > /dev/null",
}
RECORD_ONLY = ("apt-get", "snap", "npm", "pm2", "useradd", "chown", "systemctl")


def _install_stubs(tmp_path: Path, root: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ctl = root / "opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
    ctl.parent.mkdir(parents=True)
    for path, body in [*((bin_dir / n, b) for n, b in STUBS.items()), *((bin_dir / n, "") for n in RECORD_ONLY), (ctl, "")]:
        path.write_text(f'#!/bin/bash\nprintf "%s\\n" "{path.name} $*" >> "$STUB_LOG"\n{body}\n')
        path.chmod(0o755)
    data = tmp_path / "data"
    (data / "tags").mkdir(parents=True)
    for key, value in instance_tags(REFS).items():
        (data / "tags" / key).write_text(value)
    (data / "db-secret").write_text(json.dumps({"username": SECRETS["db_user"], "password": SECRETS["db_pass"]}))
    (data / "redis-token").write_text(SECRETS["redis_token"])
    (data / "jwt").write_text(SECRETS["jwt"])
    for directory in ("usr/local/bin", "etc/cron.d"):
        (root / directory).mkdir(parents=True)
    return bin_dir


def _run(tmp_path: Path, break_stubs=None, **app_changes) -> tuple[subprocess.CompletedProcess, list[str], Path]:
    """Render for a scratch root, install the stubs (``break_stubs(data_dir)`` may sabotage them), run bash."""
    root = tmp_path / "root"
    bin_dir = _install_stubs(tmp_path, root)
    if break_stubs:
        break_stubs(tmp_path / "data")
    script = tmp_path / "user-data.sh"
    script.write_text(render_script(_config(**app_changes), root=str(root), fleet_lock=FLEET_LOCK))
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
    # GIVEN stubbed AWS, IMDS and package tools WHEN the rendered script runs THEN:
    result, calls, root = _run(tmp_path, **(S3_CHANGES if variant == "s3" else {}))
    assert result.returncode == 0, result.stderr + "\n".join(calls)

    # ... the .env holds every setting, quoted so dotenv reads the secrets back verbatim, mode 0600.
    env_file = root / "opt/app/.env"
    assert env_file.read_text() == (
        "INSTANCE_ID='i-0123456789abcdef0'\n"
        "NODE_ENV='production'\n"
        "SERVER_PORT='3000'\n"
        f"DB_HOST='{REFS.db_host}'\n"
        "DB_PORT='3306'\n"
        "DB_NAME='duewin'\n"
        "DB_USER='duewin_admin'\n"
        """DB_PASS='p@ss"w#rd$x'\n"""
        f"REDIS_URL='rediss://:tok%2Fen%2B%3D%3F@{REFS.redis_host}:6379/0'\n"
        "JWT_SECRET='jwt-secret-value'\n"
    )
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert not (root / "opt/app/.env.new").exists()

    # ... no secret reached any command line or the output.
    everything = "\n".join(calls) + result.stdout + result.stderr
    assert not [s for s in SECRETS.values() if s != "duewin_admin" and s in everything]

    # ... IMDS was asked with a v2 token, and the steps ran in this order.
    assert any("X-aws-ec2-metadata-token: imds-token" in c and "instance-id" in c for c in calls)
    fetch = r"^git clone .*--branch main https://github.com/duewin/backend.git" if variant == "git" else r"^aws s3 cp .*s3://duewin-builds/backend.tar.gz"
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
        r"^aws secretsmanager get-secret-value",
        r"^pm2 start server.js --name i-0123456789abcdef0 ",
        r"^pm2 startup systemd -u app",
        r"^pm2 save",
    ]
    positions = [_position(calls, pattern) for pattern in order]
    assert positions == sorted(positions), list(zip(order, positions))
    assert f"chown app:app {root}/opt/app/.env" in calls

    # ... fleet-lock is the embedded module, executable; the agent config is valid JSON.
    lock = root / "usr/local/bin/fleet-lock"
    assert lock.read_text() == FLEET_LOCK and lock.stat().st_mode & stat.S_IXUSR
    agent = json.loads((root / "opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json").read_text())
    assert agent["metrics"]["metrics_collected"]["mem"]["measurement"] == ["mem_used_percent"]


def test_script_stops_at_the_first_failure(tmp_path):
    # GIVEN Secrets Manager refuses WHEN the script runs THEN it fails before writing .env or starting PM2.
    result, calls, root = _run(tmp_path, break_stubs=lambda data: (data / "db-secret").unlink())
    assert result.returncode != 0
    assert not (root / "opt/app/.env").exists()
    _position(calls, r"^aws secretsmanager get-secret-value")  # it got as far as asking
    assert not [c for c in calls if c.startswith("pm2 ")]
