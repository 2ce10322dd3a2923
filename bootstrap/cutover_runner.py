"""User data of the cutover runner (``[cutover] runner = true``): a pure function of its region and dump prefix.

The runner is a host inside the VPC from which an operator, over Session Manager, runs
``migrate run s3://…`` against RDS: the dump streams from S3 through the VPC's gateway endpoint and
the load never crosses the VPN. At boot it installs ``migrate`` from the project's wheel (built by
the operator and copied under ``<dump_prefix>wheels/``) with only migrate's own dependencies, the
region's RDS CA bundle, and a profile script that gives every session the database's address and
secret ARN (read from the instance's tags through IMDSv2, so no Terraform value is rendered here).

No CDKTF here (DESIGN §2).
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

from bootstrap.user_data import RDS_CA_BUNDLE_URL

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
#: What ``migrate`` imports at run time; the wheel's other dependencies (CDKTF, pydantic, …) serve infra.
MIGRATE_DEPENDENCIES = ("pymysql", "click", "boto3", "zstandard")
#: The ``Role`` tag that makes an instance a cutover runner (``infra review`` flags it while it exists).
RUNNER_ROLE = "cutover-runner"
VENV = "/opt/migrate"
PROFILE = "/etc/profile.d/migrate-cutover.sh"
#: Instance tags the runner's profile script reads (values are Terraform references, set by the construct).
DATABASE_TAGS = {
    "DB_HOST": "cutover-db-host",
    "DB_PORT": "cutover-db-port",
    "DB_NAME": "cutover-db-name",
    "DB_SECRET_ARN": "cutover-db-secret-arn",
}


def migrate_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """migrate's dependencies with the project's own version ranges, so the runner installs what the tests ran."""
    declared = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    by_name = {
        requirement.split(">")[0].split("=")[0].split("<")[0].strip().lower(): requirement for requirement in declared
    }
    return [by_name[name] for name in MIGRATE_DEPENDENCIES]


def render_runner_script(*, region: str, dump_prefix: str) -> str:
    """``dump_prefix``: the s3://bucket/prefix/ holding the dump, and the project's wheel under wheels/."""
    tag_exports = "\n".join(f'  printf "export {name}=%q\\n" "$(tag {key})"' for name, key in DATABASE_TAGS.items())
    script = _TEMPLATE
    for placeholder, value in {
        "__REGION__": shlex.quote(region),
        "__PREFIX__": shlex.quote(dump_prefix),
        "__VENV__": VENV,
        "__PROFILE__": PROFILE,
        "__REQUIREMENTS__": " ".join(shlex.quote(r) for r in migrate_requirements()),
        "__CA_URL__": RDS_CA_BUNDLE_URL.format(region="$REGION"),
        "__TAG_EXPORTS__": tag_exports,
    }.items():
        script = script.replace(placeholder, value)
    # Terraform would read these as its own interpolation in a plain user_data string.
    assert "${" not in script and "%{" not in script
    return script


_TEMPLATE = r"""#!/bin/bash
# duewin cutover runner: migrate from the project's wheel; reachable by Session Manager only.
# Rendered by bootstrap/cutover_runner.py; its output is in /var/log/cloud-init-output.log.
set -euo pipefail

readonly REGION=__REGION__
readonly PREFIX=__PREFIX__
readonly VENV=__VENV__
readonly IMDS=http://169.254.169.254/latest
# cloud-init runs this as root, perhaps without HOME (pip needs one).
export HOME=/root DEBIAN_FRONTEND=noninteractive AWS_DEFAULT_REGION="$REGION"

log() { echo "cutover-runner: $*"; }
# On first boot unattended-upgrades often holds the dpkg lock for a while: wait, don't fail.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -y -q "$@"; }

log "packages (the native client too, for checks by hand)"
apt_get update
apt_get install ca-certificates curl python3-venv mariadb-client

log "migrate's dependencies"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q __REQUIREMENTS__

log "the project's wheel: the newest under $PREFIX""wheels/"
wheel=$("$VENV/bin/python" - "$PREFIX" "$VENV/wheels" <<'PY'
import os, sys
import boto3

bucket, _, prefix = sys.argv[1].removeprefix("s3://").partition("/")
pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "wheels/")
wheels = [o for page in pages for o in page.get("Contents", [])
          if os.path.basename(o["Key"]).startswith("duewin_scaling-") and o["Key"].endswith(".whl")]
if not wheels:
    sys.exit(f"no duewin_scaling-*.whl under {sys.argv[1]}wheels/: build and copy it (README, cutover runbook)")
newest = max(wheels, key=lambda o: o["LastModified"])
os.makedirs(sys.argv[2], exist_ok=True)
path = os.path.join(sys.argv[2], os.path.basename(newest["Key"]))
boto3.client("s3").download_file(bucket, newest["Key"], path)
print(path)
PY
)
"$VENV/bin/pip" install -q --no-deps --force-reinstall "$wheel"
ln -sf "$VENV/bin/migrate" /usr/local/bin/migrate

log "RDS CA bundle"
curl -fsSL --retry 5 -o "$VENV/rds-ca-bundle.pem" "__CA_URL__"
grep -q -- '-----BEGIN CERTIFICATE-----' "$VENV/rds-ca-bundle.pem"

log "the database for every session: __PROFILE__"
token=$(curl -fsS --retry 5 -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
tag() { curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/tags/instance/$1"; }
{
  printf 'export AWS_DEFAULT_REGION=%q DUMP_PREFIX=%q RDS_CA_BUNDLE=%q\n' "$REGION" "$PREFIX" "$VENV/rds-ca-bundle.pem"
__TAG_EXPORTS__
} > __PROFILE__.tmp
mv __PROFILE__.tmp __PROFILE__

log "ready: $(migrate --help | head -1)"
"""
