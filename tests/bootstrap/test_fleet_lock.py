"""fleet-lock against a real redis-server, run the way instances run it: exactly the text the user data
installs (``bootstrap/embed.py``: comments and docstrings stripped), on its own and executed as a script
(``python3 -I fleet-lock run ...``), so nothing from this repo can leak in."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootstrap import fleet_lock
from bootstrap.user_data import fleet_lock_source
from tests.conftest import missing
from tests.servers.process import find_binary, free_port
from tests.servers.redis import RedisServer

SOURCE = Path(fleet_lock.__file__)
#: What /usr/local/bin/fleet-lock holds on an instance.
EMBEDDED = fleet_lock_source()
KEY = "fleet-lock:job"
# REDIS_URL in the environment would win over the env file the tests write.
ENV = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}


def install_embedded(path: Path) -> Path:
    path.write_text(EMBEDDED)
    path.chmod(0o755)
    return path


def wait_for(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return result


# A job that runs until the test creates ./go: timing under load cannot end it early.
UNTIL_GO = "while [ ! -e go ]; do sleep 0.02; done"


def gone(pid: int) -> bool:
    """Exited, or a zombie nobody reaped yet (a container's init may not reap)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class FleetLock:
    def __init__(self, root: Path, url: str, env: dict[str, str] = ENV):
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.script = root / "fleet-lock"
        install_embedded(self.script)
        self.env_file = root / "app.env"
        self.env_file.write_text(f"NODE_ENV=production\nREDIS_URL={url}\n")
        self.env = env
        self.started: list[subprocess.Popen] = []

    def start(self, *command: str, ttl: float = 1, options: tuple[str, ...] = ()) -> subprocess.Popen:
        args = [
            sys.executable,
            "-I",
            str(self.script),
            "run",
            "--name",
            "job",
            "--ttl",
            str(ttl),
            "--env-file",
            str(self.env_file),
            *options,
            "--",
            *command,
        ]
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.root
        )
        self.started.append(process)
        return process

    def run(self, *command: str, **kwargs) -> subprocess.CompletedProcess:
        process = self.start(*command, **kwargs)
        out, err = process.communicate(timeout=30)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def kill_leftovers(self) -> None:
        """After a failed test: no runner stays frozen or waiting, and (parent-death signal) no job."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def server(tmp_path):
    if find_binary("redis-server") is None:
        missing("redis-server")
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def lock(server, tmp_path):
    lock = FleetLock(tmp_path / "instance", server.url)
    yield lock
    lock.kill_leftovers()


def test_only_one_of_many_concurrent_runners_runs_the_job(lock, server):
    runners = [lock.start("sh", "-c", f"echo $$ >> ran; {UNTIL_GO}") for _ in range(4)]
    wait_for(lambda: sum(r.poll() is not None for r in runners) == 3, timeout=30, what="three runners to give up")
    (lock.root / "go").touch()
    results = [(r.wait(timeout=30), r.stderr.read()) for r in runners]
    assert [code for code, _ in results] == [0] * 4
    assert len((lock.root / "ran").read_text().splitlines()) == 1
    skipped = [err for _, err in results if f"{KEY} is held by" in err]
    assert len(skipped) == 3, results
    assert server.client().exists(KEY) == 0


def test_returns_the_commands_status_and_releases_the_lock_at_once(lock, server):
    # A 30 s TTL: only a release, not expiry, can free the lock before the next run.
    assert lock.run("sh", "-c", "exit 3", ttl=30).returncode == 3
    assert server.client().exists(KEY) == 0
    assert lock.run("sh", "-c", "echo $$ > ran", ttl=30).returncode == 0
    assert (lock.root / "ran").exists()


def test_renewal_keeps_a_job_that_outlives_its_ttl_exclusive(lock, server):
    # TTL 2 s, renewed every 0.67 s: a loaded test machine must not starve the holder past it.
    holder = lock.start("sh", "-c", f"{UNTIL_GO}; echo done > holder", ttl=2)
    wait_for(lambda: server.client().exists(KEY), what="the holder to take the lock")
    time.sleep(2.5)  # past the TTL
    contender = lock.run("sh", "-c", "echo $$ > contender", ttl=2)
    assert contender.returncode == 0
    assert "is held by" in contender.stderr
    assert not (lock.root / "contender").exists()
    (lock.root / "go").touch()
    assert holder.wait(timeout=30) == 0, holder.stderr.read()
    assert (lock.root / "holder").read_text() == "done\n"


def test_holder_killed_with_sigkill_blocks_only_until_the_ttl_and_takes_its_job_down(lock, server):
    holder = lock.start("sh", "-c", "echo $$ > pid; exec sleep 30", ttl=2)
    job = int(wait_for(lambda: (lock.root / "pid").exists() and (lock.root / "pid").read_text().strip(), what="pid"))
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    killed_at = time.monotonic()
    assert server.client().exists(KEY) == 1  # nobody released it: renewed < 0.67 s ago, it has > 1.3 s left
    wait_for(lambda: gone(job), timeout=2, what="the orphaned job to die with its holder")
    wait_for(lambda: not server.client().exists(KEY), timeout=4, what="the lock to expire")
    assert time.monotonic() - killed_at <= 3.5  # the 2 s TTL plus slack for a loaded machine
    assert lock.run("sh", "-c", "echo $$ > next", ttl=2).returncode == 0
    assert (lock.root / "next").exists()


def test_a_stolen_lock_stops_the_job_and_is_left_to_its_new_holder(lock, server):
    holder = lock.start("sh", "-c", "echo $$ > pid; exec sleep 30", ttl=1)
    job = int(wait_for(lambda: (lock.root / "pid").exists() and (lock.root / "pid").read_text().strip(), what="pid"))
    server.client().set(KEY, "other-host/42/feed", px=30_000)
    assert holder.wait(timeout=5) == fleet_lock.EXIT_LOCK_LOST
    err = holder.stderr.read()
    assert "LOCK LOST" in err and "other-host pid 42" in err
    assert server.client().get(KEY) == b"other-host/42/feed"
    wait_for(lambda: gone(job), timeout=2, what="the job to be terminated")


def test_an_expired_lock_taken_by_the_next_runner_is_never_deleted_by_its_former_owner(lock, server):
    # A holder frozen past its TTL (GC pause, stopped VM) wakes up after another runner took over.
    first = lock.start("sh", "-c", "exec sleep 30", ttl=1)
    wait_for(lambda: server.client().exists(KEY), what="the first runner to take the lock")
    first.send_signal(signal.SIGSTOP)
    wait_for(lambda: not server.client().exists(KEY), timeout=3, what="the frozen holder's lock to expire")
    second = lock.start("sh", "-c", f"{UNTIL_GO}; echo done > second", ttl=5)
    second_token = wait_for(lambda: server.client().get(KEY), what="the second runner to take the lock")
    first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=5) == fleet_lock.EXIT_LOCK_LOST
    assert "LOCK LOST" in first.stderr.read()
    assert server.client().get(KEY) == second_token
    (lock.root / "go").touch()
    assert second.wait(timeout=30) == 0
    assert (lock.root / "second").exists()


def test_release_leaves_a_lock_that_changed_hands_before_the_first_renewal(lock, server):
    # The job itself overwrites the key and ends long before the first renewal (TTL/3 = 10 s):
    # only the compare-and-delete release stands between it and deleting the new holder's lock.
    steal = f"import redis; redis.Redis(port={server.port}).set('{KEY}', 'other-host/7/beef', px=30000)"
    result = lock.run(sys.executable, "-c", steal, ttl=30)
    assert result.returncode == 0
    assert "was no longer held by this runner" in result.stderr
    assert server.client().get(KEY) == b"other-host/7/beef"


def test_redis_lost_mid_run_stops_the_job_once_the_ttl_can_no_longer_be_confirmed(lock, server):
    holder = lock.start("sh", "-c", "exec sleep 30", ttl=1)
    wait_for(lambda: server.client().exists(KEY), what="the holder to take the lock")
    server.stop()
    stopped = time.monotonic()
    assert holder.wait(timeout=5) == fleet_lock.EXIT_LOCK_LOST
    assert time.monotonic() - stopped <= 2.5  # the 1 s TTL plus slack for a loaded machine
    assert "did not confirm the lock within its TTL" in holder.stderr.read()


def test_sigterm_reaches_the_job_and_its_status_comes_back(lock, server):
    script = 'trap "echo term > got; exit 7" TERM; touch ready; sleep 30 & wait'
    holder = lock.start("sh", "-c", script, ttl=1)
    wait_for(lambda: (lock.root / "ready").exists(), what="the job to trap TERM")
    holder.send_signal(signal.SIGTERM)
    assert holder.wait(timeout=5) == 7
    assert (lock.root / "got").read_text() == "term\n"
    assert server.client().exists(KEY) == 0


def test_unreachable_redis_does_not_run_the_job_unless_fail_open(tmp_path):
    lock = FleetLock(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    refused = lock.run("sh", "-c", "echo $$ > ran; exit 3")
    assert refused.returncode == fleet_lock.EXIT_REDIS_UNAVAILABLE
    assert refused.stderr.count("\n") == 1 and "Redis unavailable" in refused.stderr
    assert not (tmp_path / "ran").exists()
    opened = lock.run("sh", "-c", "echo $$ > ran; exit 3", options=("--fail-open",))
    assert opened.returncode == 3
    assert "WITHOUT the lock" in opened.stderr
    assert (tmp_path / "ran").exists()


def test_tls_and_auth_token_as_on_elasticache(tmp_path):
    for binary in ("redis-server", "openssl"):
        if find_binary(binary) is None:
            missing(binary)
    server = RedisServer(tmp_path / "redis", password="auth-token-0123456789", tls=True)
    server.start()
    try:
        trusting = {**ENV, "SSL_CERT_FILE": str(server.ca_file)}
        assert server.url.startswith("rediss://")
        assert FleetLock(tmp_path / "ok", server.url, trusting).run("true").returncode == 0
        wrong = server.url.replace(server.password, "wrong-token")
        denied = FleetLock(tmp_path / "denied", wrong, trusting).run("touch", "ran")
        assert denied.returncode == fleet_lock.EXIT_REDIS_UNAVAILABLE
        assert "wrong-token" not in denied.stderr
        assert not (tmp_path / "denied" / "ran").exists()
    finally:
        server.stop()


def test_a_missing_command_is_reported_and_frees_the_lock(lock, server):
    result = lock.run("/nonexistent/job", ttl=30)
    assert result.returncode == 127
    assert "cannot run /nonexistent/job" in result.stderr
    assert server.client().exists(KEY) == 0


@pytest.mark.parametrize(
    ("argv", "env_text", "field"),
    [
        (["run", "--ttl", "1", "--", "true"], None, "--name"),
        (["run", "--name", "job", "--ttl", "soon", "--", "true"], None, "--ttl"),
        (["run", "--name", "job", "--ttl", "0", "--", "true"], None, "--ttl"),
        (["run", "--name", "two words", "--ttl", "1", "--", "true"], None, "--name"),
        (["run", "--name", "job", "--ttl", "1"], None, "COMMAND"),
        (["run", "--name", "job", "--ttl", "1", "--"], None, "COMMAND"),
        (["lock", "--name", "job", "--ttl", "1", "--", "true"], None, "invalid choice"),
        (["run", "--name", "job", "--ttl", "1", "--env-file", "/nonexistent/.env", "--", "true"], None, "--env-file"),
        (["run", "--name", "job", "--ttl", "1", "--", "true"], "NODE_ENV=production\n", "REDIS_URL"),
        (["run", "--name", "job", "--ttl", "1", "--", "true"], "REDIS_URL=http://:s3cret@h/0\n", "REDIS_URL"),
        (["run", "--name", "job", "--ttl", "1", "--", "true"], "REDIS_URL=redis://h:port/0\n", "REDIS_URL"),
    ],
)
def test_bad_input_is_one_line_naming_the_field_and_exit_2(argv, env_text, field, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    if env_text is not None:
        (tmp_path / ".env").write_text(env_text)
        argv = [*argv[:1], "--env-file", str(tmp_path / ".env"), *argv[1:]]
    assert fleet_lock.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err, err
    assert "s3cret" not in err


def test_env_file_reads_like_dotenv_and_the_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# app settings\n"
        "export PORT=3000\n"
        "REDIS_URL='rediss://:tok#en@cache:6379/0'\n"
        "SESSION_SECRET=abc # rotated monthly\n"
        "EMPTY=\n"
    )
    assert fleet_lock.read_env_file(env_file) == {
        "PORT": "3000",
        "REDIS_URL": "rediss://:tok#en@cache:6379/0",
        "SESSION_SECRET": "abc",
        "EMPTY": "",
    }
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert fleet_lock.redis_url(env_file) == "rediss://:tok#en@cache:6379/0"
    monkeypatch.setenv("REDIS_URL", "redis://from-environment:6379/0")
    assert fleet_lock.redis_url(env_file) == "redis://from-environment:6379/0"


def test_help_needs_no_command(capsys):
    with pytest.raises(SystemExit) as exited:
        fleet_lock.main(["run", "--help"])
    assert exited.value.code == 0
    assert "--fail-open" in capsys.readouterr().out


def test_the_script_needs_only_the_standard_library_and_redis_py():
    # Instances get it as one copied file with Ubuntu's python3-redis: nothing else is installed.
    tree = ast.parse(SOURCE.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - set(sys.stdlib_module_names) == {"redis"}
    assert SOURCE.read_text().startswith("#!/usr/bin/env python3\n")
    assert os.access(SOURCE, os.X_OK)
