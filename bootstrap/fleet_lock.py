#!/usr/bin/env python3
"""fleet-lock: run a cron job on at most one instance of the fleet at a time.

    fleet-lock run --name NAME --ttl SECONDS [--fail-open] [--env-file PATH] -- COMMAND [ARG ...]

Every instance runs the same crontab; whichever instance takes the Redis lock first runs COMMAND,
the others exit 0 at once. The lock is renewed while COMMAND runs, so a job may outlive its TTL;
the TTL only bounds how long a crashed holder blocks the next run.

Settings: REDIS_URL (``redis://`` or ``rediss://`` for TLS; an AUTH token goes in the URL,
``rediss://:TOKEN@host:6379/0``) from the environment, else from the env file (default
/opt/app/.env, the app's own settings, so the lock uses the app's Redis).

Exit status:
    COMMAND's own status when it ran (128+N when killed by signal N)
    0    another runner holds the lock; COMMAND was not run
    2    bad arguments or settings
    75   Redis unreachable or refusing us (e.g. a wrong AUTH token); COMMAND was not run
         (with --fail-open it runs unlocked instead and its status is returned)
    76   the lock was lost while COMMAND ran (Redis could not confirm ownership within the TTL,
         or another runner holds it): COMMAND's process group was sent SIGTERM, then SIGKILL
         after 10 s, because a job that keeps running without the lock may be running twice
    126/127  COMMAND could not be executed / was not found

Deliberately self-contained (stdlib + redis-py, Debian/Ubuntu package python3-redis) so the
instance bootstrap can copy this one file to /usr/local/bin/fleet-lock.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

try:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # The renewal loop keeps its own deadline; the client's default retries with backoff
    # (seconds per attempt in redis-py >= 6) would silently run past it.
    _NO_CLIENT_RETRY = {"retry": Retry(NoBackoff(), 0)}
except ImportError:  # redis-py 3.x (Ubuntu 22.04's python3-redis) has no retry policy to disable
    _NO_CLIENT_RETRY = {}

DEFAULT_ENV_FILE = Path("/opt/app/.env")
KEY_PREFIX = "fleet-lock:"
EXIT_USAGE = 2
EXIT_REDIS_UNAVAILABLE = 75  # sysexits EX_TEMPFAIL: the next cron run may well succeed
EXIT_LOCK_LOST = 76
KILL_GRACE_SECONDS = 10.0
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PR_SET_PDEATHSIG = 1
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,200}")

# Both scripts run atomically on the server: checking the token and acting on the key in two
# round trips would let a lock that expired in between be extended or deleted for its new owner.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class UsageError(Exception):
    """Bad arguments or settings; the message names the field."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def _say(message: str) -> None:
    print(f"fleet-lock: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    # COMMAND is everything after the first "--", verbatim: argparse would try to read its options.
    split = argv.index("--") if "--" in argv else len(argv)
    options, command = argv[:split], argv[split + 1 :]
    parser = _Parser(prog="fleet-lock", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser(
        "run",
        help="run COMMAND if this runner gets the lock",
        usage="fleet-lock run --name NAME --ttl SECONDS [--fail-open] [--env-file PATH] -- COMMAND [ARG ...]",
    )
    run.add_argument("--name", required=True, help="lock name, the same on every instance")
    run.add_argument("--ttl", required=True, type=int, help="seconds a crashed holder blocks the lock")
    run.add_argument("--fail-open", action="store_true", help="run COMMAND unlocked when Redis is unreachable")
    run.add_argument("--env-file", type=Path, help=f"settings file (default {DEFAULT_ENV_FILE})")
    args = parser.parse_args(options)
    if not _NAME.fullmatch(args.name):
        raise UsageError("argument --name: use 1-200 of A-Z a-z 0-9 _ . : -")
    if args.ttl < 1:
        raise UsageError("argument --ttl: must be at least 1 second")
    if not command:
        raise UsageError("COMMAND: missing; put it after `--`")
    args.command = command
    return args


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as the app's dotenv reads them: comments, `export`, optional quotes."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        if not sep or line.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def redis_url(env_file: Path | None) -> str:
    """The environment wins over the file, as with the app's dotenv loader."""
    path = env_file or DEFAULT_ENV_FILE
    try:
        from_file = read_env_file(path)
    except OSError as exc:
        if env_file is not None:
            raise UsageError(f"argument --env-file: cannot read {path}: {exc.strerror}") from None
        from_file = {}
    url = os.environ.get("REDIS_URL") or from_file.get("REDIS_URL")
    if not url:
        raise UsageError(f"REDIS_URL: not set in the environment or in {path}")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        # Never echo the value: it carries the AUTH token.
        raise UsageError("REDIS_URL: must start with redis://, rediss:// (TLS) or unix://")
    return url


class Lock:
    def __init__(self, client: redis.Redis, name: str, ttl_seconds: int):
        self.client = client
        self.key = KEY_PREFIX + name
        self.ttl_ms = ttl_seconds * 1000
        # Host and pid make "held by" messages useful; the random part makes the token unique.
        self.token = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(16)}"
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    def acquire(self) -> bool:
        return bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def holder(self) -> str:
        try:
            value = self.client.get(self.key)
        except redis.RedisError:
            value = None
        if not value:
            return "another runner"
        return value.decode(errors="replace").rsplit("/", 1)[0].replace("/", " pid ")

    def extend(self) -> bool:
        return bool(self._extend(keys=[self.key], args=[self.token, self.ttl_ms]))

    def release(self) -> bool:
        return bool(self._release(keys=[self.key], args=[self.token]))


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


class Renewer(threading.Thread):
    """Extends the lock every TTL/3; on lost ownership, stops COMMAND's process group."""

    def __init__(self, lock: Lock, acquired_at: float, child: subprocess.Popen, child_exited: threading.Event):
        super().__init__(name="fleet-lock-renewer", daemon=True)
        self.lock = lock
        self.child = child
        self.child_exited = child_exited
        self.stopping = threading.Event()
        self.lost: str | None = None
        # Redis started the TTL no earlier than we sent SET, so until then the lock is surely ours.
        self.confirmed_until = acquired_at + lock.ttl_ms / 1000

    def run(self) -> None:
        interval = self.lock.ttl_ms / 3000
        wait = interval
        while not self.stopping.wait(wait):
            sent = time.monotonic()
            try:
                extended = self.lock.extend()
            except redis.RedisError as exc:
                remaining = self.confirmed_until - time.monotonic()
                if remaining <= 0:
                    return self._lose(f"Redis did not confirm the lock within its TTL ({exc})")
                wait = min(interval, remaining)
                continue
            if not extended:
                return self._lose(f"it expired or was taken by {self.lock.holder()}")
            self.confirmed_until = sent + self.lock.ttl_ms / 1000
            wait = interval

    def _lose(self, why: str) -> None:
        self.lost = why
        _say(
            f"LOCK LOST: {self.lock.key} is no longer held by this runner: {why}. "
            f"Another instance may now run the same job; terminating COMMAND (pid {self.child.pid})."
        )
        _signal_group(self.child.pid, signal.SIGTERM)
        if not self.child_exited.wait(KILL_GRACE_SECONDS):
            _signal_group(self.child.pid, signal.SIGKILL)


def _start(command: list[str]) -> subprocess.Popen:
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None

    def die_with_parent() -> None:
        # A holder killed with -9 cannot renew; its job must not run on past the lock's expiry.
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:
                os._exit(EXIT_LOCK_LOST)

    # Its own session, so signals reach COMMAND's whole process group (a shell and its children)
    # and a terminal's Ctrl-C reaches it once, through us.
    return subprocess.Popen(command, start_new_session=True, preexec_fn=die_with_parent)


def _supervise(command: list[str], lock: Lock | None = None, acquired_at: float = 0.0) -> int:
    try:
        child = _start(command)
    except OSError as exc:
        _say(f"cannot run {command[0]}: {exc.strerror}")
        if lock:
            _release(lock)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, lambda received, _frame: _signal_group(child.pid, received))
    child_exited = threading.Event()
    renewer = Renewer(lock, acquired_at, child, child_exited) if lock else None
    if renewer:
        renewer.start()
    status = child.wait()
    child_exited.set()
    code = status if status >= 0 else 128 - status
    if renewer:
        renewer.stopping.set()
        renewer.join()
        if renewer.lost:
            _say(f"COMMAND ended with status {code} after the lock was lost; exit {EXIT_LOCK_LOST}")
            return EXIT_LOCK_LOST
        _release(lock)
    return code


def _release(lock: Lock) -> None:
    try:
        if not lock.release():
            _say(
                f"WARNING: {lock.key} was no longer held by this runner when COMMAND finished "
                "(expired or taken): the job may have overlapped another run; left the lock alone"
            )
    except redis.RedisError as exc:
        _say(f"could not release {lock.key} (it expires within {lock.ttl_ms // 1000}s): {exc}")


def run(args: argparse.Namespace) -> int:
    url = redis_url(args.env_file)
    # Every call must return well within the renewal interval (TTL/3), or renewal falls behind.
    timeout = min(5.0, args.ttl / 4)
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, **_NO_CLIENT_RETRY)
    except ValueError as exc:
        raise UsageError(f"REDIS_URL: {exc}") from None
    lock = Lock(client, args.name, args.ttl)
    shown = " ".join(args.command)
    acquired_at = time.monotonic()
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        if not args.fail_open:
            _say(f"Redis unavailable, not running `{shown}`: {exc} (exit {EXIT_REDIS_UNAVAILABLE}; --fail-open runs it anyway)")
            return EXIT_REDIS_UNAVAILABLE
        _say(f"Redis unavailable, running `{shown}` WITHOUT the lock (--fail-open): {exc}")
        return _supervise(args.command)
    if not acquired:
        _say(f"{lock.key} is held by {lock.holder()}; not running `{shown}`")
        return 0
    return _supervise(args.command, lock, acquired_at)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        return run(args)
    except UsageError as exc:
        _say(f"error: {exc}")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
