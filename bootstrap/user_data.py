"""EC2 user data for the app instances: a pure function of the environment's config.

What Terraform alone knows (database and Redis endpoints, secret ARNs) is NOT rendered into the
script: the launch template puts it on the instance as tags (``instance_tags``), and the script reads
them back through IMDSv2 (``instance_metadata_tags`` is enabled). So the script needs no Terraform
escaping (bash's ``${…}`` is Terraform's interpolation syntax too), it can be gzipped here, and the
bytes tested are the bytes shipped. A changed endpoint still changes the launch template (its tags),
which rolls the fleet through instance refresh. Secrets never appear in either: the instance fetches
them at boot through its role (``bootstrap/app_settings.py``) and writes them only to the app's
``.env`` (mode 0600).

What the script installs beside the app (the PM2 ecosystem file, the X-Instance-Id preload, the RDS
CA bundle) lives in ``RUNTIME_DIR``, outside the app's checkout.

This module imports no CDKTF (DESIGN §2): rendering and its tests take milliseconds. It takes the
environment as plain values (``AppBoot``, built by ``infra/boot.py``), not infra's config model.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath

from bootstrap.app_boot import AppBoot
from bootstrap.ecosystem import Paths, ecosystem
from bootstrap.embed import stripped

#: EC2 rejects user data above 16 KB (raw, before base64).
USER_DATA_LIMIT_BYTES = 16 * 1024
APP_USER = "app"
#: The app's checkout (git clone or unpacked artifact); ``app.directory`` is inside it.
CHECKOUT_DIR = "/opt/app"
APP_LOG_DIR = "/var/log/app"
RUNTIME_DIR = "/opt/app-runtime"
FLEET_LOCK_BIN = "/usr/local/bin/fleet-lock"
FLEET_LOCK_PATH = Path(__file__).with_name("fleet_lock.py")
APP_SETTINGS_PATH = Path(__file__).with_name("app_settings.py")
PRELOAD_PATH = Path(__file__).with_name("x_instance_id.js")
#: AWS's bundle of every RDS certificate authority of a region.
RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"


@dataclass(frozen=True)
class InstanceReferences:
    """Values from other stacks the instance needs; Terraform tokens in a stack, plain strings in tests."""

    db_host: str  # the instance's address, or RDS Proxy's endpoint in front of it
    db_port: str
    db_name: str
    db_secret_arn: str  # the app user secret (migrate app-user), never the RDS-managed master secret
    redis_host: str
    redis_port: str
    redis_auth_secret_arn: str


def instance_tags(refs: InstanceReferences) -> dict[str, str]:
    """Launch-template instance tags carrying ``refs``: key ``bootstrap:<field-with-dashes>``."""
    return {_tag_key(f.name): str(getattr(refs, f.name)) for f in fields(InstanceReferences)}


def fleet_lock_source(path: Path = FLEET_LOCK_PATH) -> str:
    """``bootstrap/fleet_lock.py`` as ``/usr/local/bin/fleet-lock`` is installed: without comments and
    docstrings but the module's own (its ``--help``), to fit EC2's 16 KB (``bootstrap/embed.py``)."""
    return stripped(path.read_text(encoding="utf-8"), keep_module_docstring=True)


def app_settings_source() -> str:
    """``bootstrap/app_settings.py`` as the boot runs it: without comments and docstrings."""
    return stripped(APP_SETTINGS_PATH.read_text(encoding="utf-8"))


def app_dir(boot: AppBoot, root: str = "") -> str:
    """The app's directory on the instance: its .env, npm install and every process's working directory."""
    return str(PurePosixPath(f"{root}{CHECKOUT_DIR}") / boot.directory)


def instance_paths(boot: AppBoot, root: str = "") -> Paths:
    directory = app_dir(boot, root)
    return Paths(
        app_dir=directory,
        log_dir=f"{root}{APP_LOG_DIR}",
        env_file=f"{directory}/.env",
        preload=f"{root}{RUNTIME_DIR}/x-instance-id.js",
        fleet_lock=f"{root}{FLEET_LOCK_BIN}",
    )


def settings_spec(boot: AppBoot, root: str = "") -> dict:
    """What ``bootstrap/app_settings.py`` needs besides the instance's tags: nothing secret."""
    return {
        "parameter_path": boot.parameter_path,
        "server_port": boot.port,
        "db_ssl_ca": f"{root}{RUNTIME_DIR}/rds-ca-bundle.pem",
        "env": dict(boot.env),
        "required_settings": list(boot.required_settings),
    }


def cloudwatch_agent_config(boot: AppBoot, root: str = "") -> dict:
    """Memory and disk metrics per Auto Scaling group (the alarms use ``mem_used_percent`` in
    ``CWAgent`` with only the ``AutoScalingGroupName`` dimension), and the logs worth keeping."""
    group = boot.log_group_name

    def ship(path: str, stream: str) -> dict:
        return {"file_path": f"{root}{path}", "log_group_name": group, "log_stream_name": f"{{instance_id}}/{stream}"}

    app_logs = [
        ship(f"{APP_LOG_DIR}/{process.name}.{stream}.log", f"{process.name}" + ("-error" if stream == "error" else ""))
        for process in boot.processes
        for stream in ("out", "error")
    ]
    return {
        "agent": {"metrics_collection_interval": 60},
        "metrics": {
            "namespace": "CWAgent",
            "append_dimensions": {
                "AutoScalingGroupName": "${aws:AutoScalingGroupName}",
                "InstanceId": "${aws:InstanceId}",
            },
            # Also publish the series aggregated over the group alone: that is what an alarm can name.
            "aggregation_dimensions": [["AutoScalingGroupName"]],
            "metrics_collected": {
                "mem": {"measurement": ["mem_used_percent"]},
                "disk": {"measurement": ["used_percent"], "resources": ["/"], "drop_device": True},
            },
        },
        "logs": {
            "logs_collected": {
                "files": {"collect_list": [*app_logs, ship("/var/log/cloud-init-output.log", "bootstrap")]}
            }
        },
    }


def render_script(boot: AppBoot, *, root: str = "", fleet_lock: str | None = None) -> str:
    """The bash script cloud-init runs once as root. ``root`` prefixes every path written (tests run
    the script in a scratch directory); ``fleet_lock`` defaults to ``bootstrap/fleet_lock.py``'s text."""
    if boot.repository:
        source = f"--branch {_quote(boot.branch)} {_quote(boot.repository)}"
        fetch = f'as_app git clone --quiet --depth 1 {source} "$CHECKOUT_DIR"'
    else:
        fetch = (
            f'aws s3 cp --only-show-errors --region "$REGION" {_quote(str(boot.artifact))} "$work/app.tar.gz"\n'
            'tar -xzf "$work/app.tar.gz" -C "$CHECKOUT_DIR"\n'
            'chown -R "$APP_USER:$APP_USER" "$CHECKOUT_DIR"'
        )
    values = {
        "PREFIX": boot.prefix,
        "ENV": boot.environment,
        "REGION": _quote(boot.region),
        "ROOT": _quote(root),
        "APP_USER": _quote(APP_USER),
        "CHECKOUT_DIR": CHECKOUT_DIR,
        "APP_DIR": _quote(app_dir(boot)),
        "APP_LOG_DIR": APP_LOG_DIR,
        "RUNTIME_DIR": RUNTIME_DIR,
        "FLEET_LOCK_BIN": FLEET_LOCK_BIN,
        "SERVER_PORT": str(boot.port),
        "NODE_MAJOR": boot.node_version,
        "PM2_SPEC": _quote(f"pm2@{boot.pm2_version}"),
        "RDS_CA_BUNDLE_URL": RDS_CA_BUNDLE_URL.format(region="$REGION"),
        "FETCH_APP": fetch,
        "TAG_READS": "\n".join(
            f"{f.name.upper()}=$(imds tags/instance/{_tag_key(f.name)})" for f in fields(InstanceReferences)
        ),
        "TAG_VALUES": " ".join(f'{f.name.upper()}="${f.name.upper()}"' for f in fields(InstanceReferences)),
        "CWAGENT_CONFIG": json.dumps(cloudwatch_agent_config(boot, root), indent=1, sort_keys=True),
        "ECOSYSTEM": json.dumps(ecosystem(boot.processes, instance_paths(boot, root)), indent=1),
        "SETTINGS_SPEC": json.dumps(settings_spec(boot, root), indent=1),
        "PRELOAD": PRELOAD_PATH.read_text(encoding="utf-8").rstrip("\n"),
        "APP_SETTINGS": app_settings_source().rstrip("\n"),
        "FLEET_LOCK": (fleet_lock_source() if fleet_lock is None else fleet_lock).rstrip("\n"),
    }
    for name in _HEREDOCS:
        if re.search(rf"^{_HEREDOCS[name]}$", values[name], re.MULTILINE):
            raise ValueError(f"{name} contains its heredoc delimiter {_HEREDOCS[name]}")
    # One pass: text substituted in (the embedded files) is never scanned for placeholders again.
    unknown = sorted(set(re.findall(r"__([A-Z0-9_]+)__", _TEMPLATE)) - set(values))
    if unknown:
        raise ValueError(f"unrendered placeholders: {unknown}")
    return re.sub(r"__([A-Z0-9_]+)__", lambda match: values[match.group(1)], _TEMPLATE)


#: Embedded texts and the delimiter of the quoted heredoc each travels in.
_HEREDOCS = {
    "CWAGENT_CONFIG": "CWAGENT_JSON",
    "ECOSYSTEM": "ECOSYSTEM_JSON",
    "SETTINGS_SPEC": "SETTINGS_JSON",
    "PRELOAD": "PRELOAD_JS",
    "APP_SETTINGS": "APP_SETTINGS_PY",
    "FLEET_LOCK": "FLEET_LOCK",
}


def render_user_data(boot: AppBoot, *, fleet_lock: str | None = None) -> str:
    """Base64 of the gzipped script, as ``aws_launch_template.user_data`` wants it. cloud-init
    recognises gzip by its magic bytes; mtime=0 keeps the output (and so the synth) deterministic."""
    payload = gzip.compress(render_script(boot, fleet_lock=fleet_lock).encode(), compresslevel=9, mtime=0)
    if len(payload) > USER_DATA_LIMIT_BYTES:
        raise ValueError(f"user data is {len(payload)} bytes gzipped; EC2 accepts {USER_DATA_LIMIT_BYTES}")
    return base64.b64encode(payload).decode()


def _tag_key(field: str) -> str:
    return "bootstrap:" + field.replace("_", "-")


def _quote(value: str) -> str:
    """Single-quote for bash; config values are validated, but a quote would still end the string."""
    if "'" in value:
        raise ValueError(f"refusing to render a value with a single quote: {value!r}")
    return f"'{value}'"


_TEMPLATE = r"""#!/bin/bash
# __PREFIX__ app instance bootstrap, rendered by bootstrap/user_data.py from environments/__ENV__.toml.
# cloud-init runs it once, as root; its output lands in /var/log/cloud-init-output.log, which the
# CloudWatch agent ships as the "<instance-id>/bootstrap" stream.
set -euo pipefail

readonly ROOT=__ROOT__
readonly REGION=__REGION__
readonly APP_USER=__APP_USER__
readonly APP_HOME="$ROOT/home/$APP_USER"
readonly CHECKOUT_DIR="$ROOT"__CHECKOUT_DIR__
readonly APP_DIR="$ROOT"__APP_DIR__
readonly LOG_DIR="$ROOT"__APP_LOG_DIR__
readonly RUNTIME_DIR="$ROOT"__RUNTIME_DIR__
readonly FLEET_LOCK="$ROOT"__FLEET_LOCK_BIN__
readonly SERVER_PORT=__SERVER_PORT__
readonly NODE_MAJOR=__NODE_MAJOR__
readonly IMDS=http://169.254.169.254/latest
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# cloud-init may run this without HOME, which npm and gpg need.
export HOME="${HOME:-/root}"

log() { echo "bootstrap: $*"; }
as_app() { runuser -u "$APP_USER" -- env HOME="$APP_HOME" PATH="$PATH" "$@"; }
# On first boot apt-daily/unattended-upgrades often hold the dpkg lock for a while: wait, don't fail.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -y -q "$@"; }

log "identity (IMDSv2)"
imds_token=$(curl -fsS --retry 5 -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
imds() { curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/meta-data/$1"; }
INSTANCE_ID=$(imds instance-id)
# Endpoints and secret ARNs arrive as instance tags set by the launch template (see user_data.py).
__TAG_READS__

log "packages"
export DEBIAN_FRONTEND=noninteractive
apt_get update
apt_get install ca-certificates curl gnupg git python3 python3-redis
# Ubuntu 24.04 ships no awscli package; the snap is AWS's own build. snapd refuses installs until seeded.
snap wait system seed.loaded
snap install aws-cli --classic
install -d -m 0755 "$ROOT/etc/apt/keyrings" "$ROOT/etc/apt/sources.list.d"
curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key \
  | gpg --dearmor --yes -o "$ROOT/etc/apt/keyrings/nodesource.gpg"
echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_${NODE_MAJOR}.x nodistro main" \
  > "$ROOT/etc/apt/sources.list.d/nodesource.list"
apt_get update
apt_get install nodejs
npm install -g --no-fund --no-audit __PM2_SPEC__

log "CloudWatch agent (before the app, so a failed boot still ships its log)"
curl -fsSL -o "$work/amazon-cloudwatch-agent.deb" \
  "https://amazoncloudwatch-agent-$REGION.s3.$REGION.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb"
apt_get install "$work/amazon-cloudwatch-agent.deb"
cwagent_config="$ROOT/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
install -d -m 0755 "$(dirname "$cwagent_config")"
cat > "$cwagent_config" <<'CWAGENT_JSON'
__CWAGENT_CONFIG__
CWAGENT_JSON
"$ROOT/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl" \
  -a fetch-config -m ec2 -s -c "file:$cwagent_config"

log "application"
id -u "$APP_USER" >/dev/null 2>&1 ||
  useradd --system --create-home --home-dir "$APP_HOME" --shell /usr/sbin/nologin "$APP_USER"
install -d -m 0750 "$CHECKOUT_DIR" "$LOG_DIR"
chown "$APP_USER:$APP_USER" "$CHECKOUT_DIR" "$LOG_DIR"
__FETCH_APP__
if [[ ! -f "$APP_DIR/package.json" ]]; then
  echo "bootstrap: no package.json in $APP_DIR: app.directory does not match the checkout" >&2
  exit 1
fi
cd "$APP_DIR"
if [[ -f package-lock.json ]]; then
  as_app npm ci --omit=dev --no-fund --no-audit
else
  as_app npm install --omit=dev --no-fund --no-audit
fi

log "runtime: PM2 ecosystem, X-Instance-Id preload, RDS CA bundle (DB_SSL_CA)"
install -d -m 0755 "$RUNTIME_DIR"
cat > "$RUNTIME_DIR/ecosystem.json" <<'ECOSYSTEM_JSON'
__ECOSYSTEM__
ECOSYSTEM_JSON
cat > "$RUNTIME_DIR/x-instance-id.js" <<'PRELOAD_JS'
__PRELOAD__
PRELOAD_JS
curl -fsSL --retry 5 -o "$RUNTIME_DIR/rds-ca-bundle.pem" "__RDS_CA_BUNDLE_URL__"
grep -q -- '-----BEGIN CERTIFICATE-----' "$RUNTIME_DIR/rds-ca-bundle.pem"
chmod 0644 "$RUNTIME_DIR"/*

log "settings (.env from Secrets Manager, Parameter Store and [app.env], through the instance role)"
cat > "$RUNTIME_DIR/settings.json" <<'SETTINGS_JSON'
__SETTINGS_SPEC__
SETTINGS_JSON
env REGION="$REGION" INSTANCE_ID="$INSTANCE_ID" __TAG_VALUES__ \
  python3 - "$RUNTIME_DIR/settings.json" "$APP_DIR/.env" <<'APP_SETTINGS_PY'
__APP_SETTINGS__
APP_SETTINGS_PY
chown "$APP_USER:$APP_USER" "$APP_DIR/.env"

log "fleet-lock (one-in-fleet processes and cron jobs)"
cat > "$FLEET_LOCK" <<'FLEET_LOCK'
__FLEET_LOCK__
FLEET_LOCK
chmod 0755 "$FLEET_LOCK"
cat > "$ROOT/etc/cron.d/fleet-lock-example" <<'CRON'
# Every instance runs the same crontab; fleet-lock lets one of them run the job. Example:
# 15 3 * * * app /usr/local/bin/fleet-lock run --name nightly-report --ttl 120 -- \
#   /usr/bin/node /opt/app/scripts/report.js 2>&1 | logger -t nightly-report
CRON

log "PM2"
as_app env INSTANCE_ID="$INSTANCE_ID" pm2 start "$RUNTIME_DIR/ecosystem.json"
pm2 startup systemd -u "$APP_USER" --hp "$APP_HOME"
as_app pm2 save
log "done: $INSTANCE_ID runs the app on port $SERVER_PORT"
"""
