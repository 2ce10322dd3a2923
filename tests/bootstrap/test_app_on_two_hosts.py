"""The rendered bootstrap boots a stand-in shaped like duewin on two "hosts", for real.

Each host is the user data rendered for its own scratch root and port, run under bash with only the
machine-level commands stubbed (apt, snap, IMDS, the aws CLI, git clone, systemd); PM2, node, the
generated ecosystem file, fleet-lock, the X-Instance-Id preload and the app are real, against a real
MariaDB that requires TLS and a real redis-server with TLS and AUTH (self-signed certificates).

The stand-in (``standin_app/Backend``) reads exactly the names the real app reads, through dotenv:
its web role serves /health and Socket.IO polling, its workers heartbeat on every host, its two
schedulers append to Redis streams and must run once in the fleet.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from operator import itemgetter
from pathlib import Path
from unittest import mock

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from bootstrap.user_data import InstanceReferences, instance_tags, render_script
from infra.boot import app_boot
from infra.config import load_environment
from migrate.cli import cli
from tests.bootstrap.test_fleet_lock import gone, wait_for
from tests.bootstrap.test_user_data import STUBS as USER_DATA_STUBS
from tests.conftest import missing
from tests.node_packages import NpmUnavailable, installed_node_modules
from tests.servers.mariadb import PASSWORD, USER, MariaDB, missing_binaries, start_requiring_tls
from tests.servers.process import find_binary, free_port
from tests.servers.redis import RedisServer

STANDIN = Path(__file__).with_name("standin_app")
TTL = 3
REDIS_TOKEN = "auth-token-0123456789abcdefABCDEF"
# Settings the stand-in needs at start, and one that dotenv must read back verbatim.
PARAMETERS = {
    **{
        f"/duewin/dev/app/{name}": f"{name.lower()}-value"
        for name in (
            "PRELUDE_API_KEY",
            "SPRIBE_CLIENT_ID",
            "SPRIBE_CLIENT_SECRET",
            "CASINO_AGENCY_UID",
            "JWT_SECRET",
            "JWT_REFRESH_SECRET",
            "ENCRYPTION_KEY",
        )
    },
    "/duewin/dev/app/ADMIN_JWT_SECRET": 'ad"min#sec$ret',
    "/duewin/dev/app/casino/CASINO_AES_KEY": "k'ey\"with`all quotes $x",
    "/duewin/dev/app/payments/WEPAY_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nMIIBVQ==\n-----END PRIVATE KEY-----",
}

# The bootstrap test's IMDS, runuser and gpg stubs; the rest point at the real servers, app and PM2.
STUBS = {
    **{name: USER_DATA_STUBS[name] for name in ("curl", "runuser", "gpg")},
    "aws": r"""
case "$*" in
  *"secretsmanager get-secret-value"*db-secret*) cat "$STUB_DATA/db-secret" ;;
  *"secretsmanager get-secret-value"*redis-auth*) cat "$STUB_DATA/redis-token" ;;
  *"ssm get-parameters-by-path"*) cat "$STUB_DATA/parameters.json" ;;
  *) echo "unexpected aws call: $*" >&2; exit 1 ;;
esac""",
    "git": r"""[[ $1 == clone ]] && cp -r "$STUB_DATA/checkout/." "${!#}" """,
    # npm ci/install in the app: the packages installed once per machine; a global install: nothing to do.
    "npm": r"""[[ $* == *" -g "* ]] || ln -sfn "$STUB_NODE_MODULES" node_modules""",
    # The real PM2 (from the stand-in's packages), except the systemd hook.
    "pm2": r"""[[ $1 == startup ]] || exec "$STUB_NODE_MODULES/.bin/pm2" "$@" """,
}
RECORD_ONLY = ("apt-get", "snap", "useradd", "chown", "systemctl")


class Host:
    """One instance: its own scratch root, port, instance id, PM2 daemon (PM2_HOME)."""

    def __init__(
        self,
        root: Path,
        instance_id: str,
        node_modules: Path,
        mariadb: MariaDB,
        redis_server: RedisServer,
        db_ca: Path,
        db_secret: str,
    ) -> None:
        self.root, self.instance_id = root, instance_id
        self.port = free_port()
        self.scratch = root / "root"
        self.pm2_home = root / "pm2"
        data = root / "data"
        (data / "tags").mkdir(parents=True)
        refs = InstanceReferences(
            db_host="127.0.0.1",
            db_port=str(mariadb.port),
            db_name="duewin",
            db_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:app-user-db-secret",
            redis_host="127.0.0.1",
            redis_port=str(redis_server.port),
            redis_auth_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-auth",
        )
        for key, value in instance_tags(refs).items():
            (data / "tags" / key).write_text(value)
        (data / "db-secret").write_text(db_secret)
        (data / "redis-token").write_text(REDIS_TOKEN)
        (data / "parameters.json").write_text(
            json.dumps({"Parameters": [{"Name": k, "Type": "SecureString", "Value": v} for k, v in PARAMETERS.items()]})
        )
        # The MariaDB's self-signed certificate stands in for the region's RDS CA bundle.
        shutil.copy(db_ca, data / "rds-ca-bundle.pem")
        (data / "instance-id").write_text(instance_id)
        shutil.copytree(STANDIN, data / "checkout")
        bin_dir = root / "bin"
        bin_dir.mkdir()
        for name, body in [*STUBS.items(), *((n, "") for n in RECORD_ONLY)]:
            (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
            (bin_dir / name).chmod(0o755)
        # fleet-lock's `#!/usr/bin/env python3` finds an interpreter with redis-py, as python3-redis gives it on Ubuntu.
        (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        (bin_dir / "python3").chmod(0o755)
        for directory in ("usr/local/bin", "etc/cron.d", "opt/aws/amazon-cloudwatch-agent/bin"):
            (self.scratch / directory).mkdir(parents=True, exist_ok=True)
        ctl = self.scratch / "opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
        ctl.write_text("#!/bin/bash\n")
        ctl.chmod(0o755)
        boot = app_boot(load_environment("dev"))
        processes = tuple(replace(p, lock_ttl=TTL) if p.one_in_fleet else p for p in boot.processes)
        self.app_boot = replace(boot, port=self.port, processes=processes)
        self.env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "STUB_DATA": str(data),
            "STUB_NODE_MODULES": str(node_modules),
            "PM2_HOME": str(self.pm2_home),
            # The self-signed Redis certificate stands in for ElastiCache's public one: trusted by node and Python.
            "NODE_EXTRA_CA_CERTS": str(redis_server.ca_file),
            "SSL_CERT_FILE": str(redis_server.ca_file),
        }

    def boot(self) -> subprocess.CompletedProcess:
        script = self.root / "user-data.sh"
        script.write_text(render_script(self.app_boot, root=str(self.scratch)))
        return subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, env=self.env, cwd=self.root, timeout=180
        )

    @property
    def app_dir(self) -> Path:
        return self.scratch / "opt/app/Backend"

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()

    def healthy(self) -> bool:
        try:
            return self.get("/health")[0] == 200
        except OSError:
            return False

    def processes(self) -> list[int]:
        """The PM2 daemon and every process below it (the host's whole process tree)."""
        pid_file = self.pm2_home / "pm2.pid"
        if not pid_file.exists():
            return []
        daemon = int(pid_file.read_text())
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, frontier = [daemon], [daemon]
        while frontier:
            children = [pid for pid, parent in parents.items() if parent in frontier]
            tree += children
            frontier = children
        return [pid for pid in tree if not gone(pid)]

    def die(self) -> None:
        """As a host dies: every process at once, nothing graceful (frozen first, so none reacts)."""
        tree = self.processes()
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in tree:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    def shut_down(self) -> None:
        if (self.pm2_home / "pm2.pid").exists():
            subprocess.run(
                [self.env["STUB_NODE_MODULES"] + "/.bin/pm2", "kill"], env=self.env, capture_output=True, timeout=60
            )
        self.die()


@pytest.fixture(scope="module")
def node_modules():
    try:
        return installed_node_modules(STANDIN / "Backend" / "package.json")
    except NpmUnavailable as exc:
        missing(str(exc))


@pytest.fixture(scope="module")
def data_servers(tmp_path_factory, node_modules):
    absent = missing_binaries() + [b for b in ("redis-server", "openssl") if find_binary(b) is None]
    if absent:
        missing(", ".join(absent))
    root = tmp_path_factory.mktemp("app-data")
    mariadb, db_cert = start_requiring_tls("db", root)
    mariadb.create_database("duewin")
    redis_server = RedisServer(root / "redis", password=REDIS_TOKEN, tls=True)
    redis_server.start()
    yield mariadb, redis_server, db_cert, _app_user_secret(mariadb, db_cert)
    redis_server.stop()
    mariadb.stop()


def _app_user_secret(mariadb: MariaDB, db_ca: Path) -> str:
    """The app user secret's value after `migrate app-user` ran as the runbook says (Secrets Manager in moto):
    the hosts log in as that least-privilege user, REQUIRE SSL, never as the master."""
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_PROFILE": None}
    with mock.patch.dict(os.environ, {k: v for k, v in credentials.items() if v}), mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name="duewin-dev/mysql/app-user")["ARN"]
        arguments = ["app-user", "--target", mariadb.url("duewin"), "--secret-arn", arn, "--ssl-ca", str(db_ca)]
        made = CliRunner().invoke(cli, arguments, env={"MIGRATE_TARGET_PASSWORD": PASSWORD, **credentials})
        assert made.exit_code == 0, made.output
        return client.get_secret_value(SecretId=arn)["SecretString"]


def _beats(client, stream: str) -> list[tuple[int, str]]:
    return [(int(entry.split(b"-")[0]), fields[b"who"].decode()) for entry, fields in client.xrange(stream)]


def _instance(who: str) -> str:
    return who.split("/")[0]


def test_two_hosts_run_the_app_every_role_where_it_belongs_and_fail_over(tmp_path, node_modules, data_servers):
    mariadb, redis_server, db_ca, db_secret = data_servers
    hosts = [
        Host(tmp_path / f"host{n}", f"i-0000000000000000{n}", node_modules, mariadb, redis_server, db_ca, db_secret)
        for n in (1, 2)
    ]
    redis = redis_server.client()
    try:
        # GIVEN two hosts booted by the rendered user data
        for host in hosts:
            booted = host.boot()
            assert booted.returncode == 0, booted.stdout[-3000:] + booted.stderr[-3000:]
        for host in hosts:
            wait_for(host.healthy, timeout=30, what=f"{host.instance_id}'s /health")

        # THEN /health answers 200 on both, each naming its instance (the preload, not the app, sets the header)
        for host in hosts:
            status, headers, body = host.get("/health")
            assert (status, headers["x-instance-id"], json.loads(body)) == (200, host.instance_id, {"status": "ok"})
            # ... and Socket.IO's polling transport opens a session, through the same header.
            status, headers, body = host.get("/socket.io/?EIO=4&transport=polling")
            assert status == 200 and headers["x-instance-id"] == host.instance_id
            assert json.loads(re.sub(rb"^\d+", b"", body, count=1))["sid"]

        # ... the app read every setting as written, including quotes, '#', '$' and a multi-line key, and
        # spoke TLS to a MariaDB requiring it (DB_SSL_CA), TLS + AUTH to Redis.
        for host in hosts:
            seen = json.loads((host.app_dir / "web-seen.json").read_text())
            assert seen["env"]["CASINO_AES_KEY"] == PARAMETERS["/duewin/dev/app/casino/CASINO_AES_KEY"]
            assert seen["env"]["ADMIN_JWT_SECRET"] == PARAMETERS["/duewin/dev/app/ADMIN_JWT_SECRET"]
            assert seen["env"]["WEPAY_PRIVATE_KEY"] == PARAMETERS["/duewin/dev/app/payments/WEPAY_PRIVATE_KEY"]
            assert (seen["env"]["INSTANCE_ID"], seen["env"]["SERVER_PORT"]) == (host.instance_id, str(host.port))
            assert seen["env"]["DB_SSL_CA"].endswith("/opt/app-runtime/rds-ca-bundle.pem") and seen["dbCipher"]
            # ... as the app user `migrate app-user` made, not the master.
            app_user = itemgetter("username", "password")(json.loads(db_secret))
            assert (seen["env"]["DB_USER"], seen["env"]["DB_PASS"]) == app_user
            assert seen["env"]["DB_USER"] == "duewin_app" != USER
            assert "x-instance-id.js" in seen["nodeOptions"]

        # ... the workers run on both hosts, two each; each scheduler on exactly one host (once it settled).
        def workers_by_host():
            keys = [k.decode() for k in redis.keys("worker:*")]
            return {h.instance_id: sum(k.startswith(f"worker:{h.instance_id}:") for k in keys) for h in hosts}

        wait_for(
            lambda: workers_by_host() == {h.instance_id: 2 for h in hosts}, timeout=15, what="two workers per host"
        )
        wait_for(
            lambda: _beats(redis, "scheduler-beats") and _beats(redis, "precalc-beats"),
            timeout=3 * TTL + 10,
            what="both schedulers to beat",
        )
        time.sleep(2)
        for stream in ("scheduler-beats", "precalc-beats"):
            assert len({_instance(who) for _, who in _beats(redis, stream)}) == 1, stream

        # WHEN the scheduler's host dies (every process killed at once)
        leader_id = _instance(_beats(redis, "scheduler-beats")[-1][1])
        leader = next(h for h in hosts if h.instance_id == leader_id)
        survivor = next(h for h in hosts if h is not leader)
        died_at = time.time()
        leader.die()

        # THEN the survivor's scheduler takes over within TTL + TTL/3 (plus node's start-up), and it keeps serving.
        def takeover():
            return next(
                (ms for ms, who in _beats(redis, "scheduler-beats") if _instance(who) == survivor.instance_id), None
            )

        failover = wait_for(takeover, timeout=3 * TTL + 10, what="the survivor's scheduler") / 1000 - died_at
        assert failover <= TTL + TTL / 3 + 2, failover
        assert not leader.healthy() and survivor.healthy()
        # ... and the scheduler never ran on both hosts at once: each run's beats form one unbroken span.
        beats = [who for _, who in _beats(redis, "scheduler-beats")]
        runs = [who for i, who in enumerate(beats) if i == 0 or beats[i - 1] != who]
        assert len(runs) == len(set(runs)), runs
        print(f"\nscheduler failover after host death (TTL {TTL}s): {failover:.2f}s")
    finally:
        for host in hosts:
            host.shut_down()
