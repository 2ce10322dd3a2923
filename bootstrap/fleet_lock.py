#!/usr/bin/env python3
"""fleet-lock: run a command on at most one instance of the fleet at a time.

    fleet-lock run --name NAME --ttl SECONDS [--fail-open] [--env-file PATH] -- COMMAND [ARG ...]
    fleet-lock lead --name NAME --ttl SECONDS [--env-file PATH] -- COMMAND [ARG ...]

run: a cron job. Every instance runs the same crontab; whichever instance takes the Redis lock first
runs COMMAND, the others exit 0 at once. The lock is renewed while COMMAND runs, so a job may
outlive its TTL; the TTL only bounds how long a crashed holder blocks the next run.

lead: a long-running singleton (a scheduler). Every instance runs it for ever; the lock holder runs
COMMAND, restarts it with backoff when it exits, and renews the lock every TTL/3; the others stand
by and try every TTL/3. A leader that cannot confirm its lock for 2/3 TTL stops COMMAND (SIGTERM,
then SIGKILL from a separate watchdog process at 5/6 TTL, so even a frozen fleet-lock cannot leave
it running) before doing anything else, well before the lock can expire for the others. After a
leader dies, a standby runs COMMAND within TTL + TTL/3. A runner that takes a lock which vanished
instead of expiring (Redis restarted, failed over or lost data) holds it for one TTL before
starting COMMAND, so a leader still running it has stopped by then. SIGTERM/SIGINT/SIGHUP stop
COMMAND and hand the lock over at once. Exit status 0 after such a signal, 2 on bad arguments.

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
import select
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
LEAD_MINIMUM_TTL = 3
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
# A leader whose key vanished (Redis restarted without it) takes it back unless another runner did.
_RENEW_OR_RETAKE = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
if not holder then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""
# The released key tells the next holder this lock was handed over, not lost: it may start at once.
_HAND_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('set', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 1
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
    for action, summary, ttl_help, extra in (
        (
            "run",
            "run COMMAND if this runner gets the lock",
            "seconds a crashed holder blocks the lock",
            " [--fail-open]",
        ),
        (
            "lead",
            "run COMMAND for ever on the one runner holding the lock; the others stand by",
            "seconds; a dead leader is replaced within TTL + TTL/3",
            "",
        ),
    ):
        sub = actions.add_parser(
            action,
            help=summary,
            usage=f"fleet-lock {action} --name NAME --ttl SECONDS{extra} [--env-file PATH] -- COMMAND [ARG ...]",
        )
        sub.add_argument("--name", required=True, help="lock name, the same on every instance")
        sub.add_argument("--ttl", required=True, type=int, help=ttl_help)
        if extra:
            sub.add_argument("--fail-open", action="store_true", help="run COMMAND unlocked when Redis is unreachable")
        sub.add_argument("--env-file", type=Path, help=f"settings file (default {DEFAULT_ENV_FILE})")
    args = parser.parse_args(options)
    if not _NAME.fullmatch(args.name):
        raise UsageError("argument --name: use 1-200 of A-Z a-z 0-9 _ . : -")
    minimum_ttl = LEAD_MINIMUM_TTL if args.action == "lead" else 1
    if args.ttl < minimum_ttl:
        raise UsageError(f"argument --ttl: must be at least {minimum_ttl} seconds")
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


def describe_token(token: str | None) -> str:
    """'host pid 42' from 'host/42/<random>'."""
    return token.rsplit("/", 1)[0].replace("/", " pid ") if token else "another runner"


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
        return describe_token(value.decode(errors="replace") if value else None)

    def extend(self) -> bool:
        return bool(self._extend(keys=[self.key], args=[self.token, self.ttl_ms]))

    def release(self) -> bool:
        return bool(self._release(keys=[self.key], args=[self.token]))

    @property
    def released_key(self) -> str:
        return self.key + ":released"

    def renew_or_retake(self) -> int:
        """1 renewed, 2 taken back after it vanished, 0 held by another runner."""
        script = self.client.register_script(_RENEW_OR_RETAKE)
        return int(script(keys=[self.key], args=[self.token, self.ttl_ms]))

    def hand_over(self) -> bool:
        script = self.client.register_script(_HAND_OVER)
        return bool(script(keys=[self.key, self.released_key], args=[self.token, self.ttl_ms]))

    def observe(self) -> tuple[str | None, int]:
        """(holder's token, milliseconds it has left; -2 gone, -1 no expiry)."""
        with self.client.pipeline(transaction=False) as pipe:
            value, left = pipe.get(self.key).pttl(self.key).execute()
        return (value.decode(errors="replace") if value else None), left

    def released_by(self) -> str | None:
        value = self.client.get(self.released_key)
        return value.decode(errors="replace") if value else None


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


def _client(env_file: Path | None, timeout: float) -> redis.Redis:
    url = redis_url(env_file)
    try:
        return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, **_NO_CLIENT_RETRY)
    except ValueError as exc:
        raise UsageError(f"REDIS_URL: {exc}") from None


def run(args: argparse.Namespace) -> int:
    # Every call must return well within the renewal interval (TTL/3), or renewal falls behind.
    lock = Lock(_client(args.env_file, min(5.0, args.ttl / 4)), args.name, args.ttl)
    shown = " ".join(args.command)
    acquired_at = time.monotonic()
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        if not args.fail_open:
            _say(
                f"Redis unavailable, not running `{shown}`: {exc} "
                f"(exit {EXIT_REDIS_UNAVAILABLE}; --fail-open runs it anyway)"
            )
            return EXIT_REDIS_UNAVAILABLE
        _say(f"Redis unavailable, running `{shown}` WITHOUT the lock (--fail-open): {exc}")
        return _supervise(args.command)
    if not acquired:
        _say(f"{lock.key} is held by {lock.holder()}; not running `{shown}`")
        return 0
    return _supervise(args.command, lock, acquired_at)


# --- lead: a singleton that runs for ever on whichever runner holds the lock -----------------------

RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 30.0
#: A COMMAND that ran this long before exiting is restarted after the first delay again.
RESTART_RESET_AFTER = 60.0


class Watchdog:
    """A forked process in a session of its own that SIGKILLs COMMAND's process group at the
    deadline unless fleet-lock pushes it back. A frozen fleet-lock (SIGSTOP, a stuck interpreter)
    cannot renew the lock, and without this its COMMAND would run on after the lock expired."""

    def __init__(self, group: int, deadline: float) -> None:
        read_end, self._write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self._write_end)
            self._watch(read_end, group, deadline)
        os.close(read_end)

    @staticmethod
    def _watch(read_end: int, group: int, deadline: float) -> None:
        try:
            signal.set_wakeup_fd(-1)
            for signum in (*FORWARDED_SIGNALS, signal.SIGCHLD):
                signal.signal(signum, signal.SIG_IGN if signum in FORWARDED_SIGNALS else signal.SIG_DFL)
            os.setsid()
            pending = b""
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([read_end], [], [], left)[0]:
                    break
                chunk = os.read(read_end, 4096)
                if not chunk:  # fleet-lock is gone: its COMMAND must not outlive it
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if b"done" in lines:
                    os._exit(0)
                if lines:
                    deadline = float(lines[-1])
            _signal_group(group, signal.SIGKILL)
        finally:
            os._exit(0)

    def extend(self, deadline: float) -> None:
        os.write(self._write_end, f"{deadline}\n".encode())

    def stop(self) -> None:
        try:
            os.write(self._write_end, b"done\n")
        finally:
            os.close(self._write_end)
            os.waitpid(self.pid, 0)


class Sleeper:
    """Sleeps until a timeout, a forwarded signal or COMMAND's exit (SIGCHLD), whichever comes first."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._read_end, write_end = os.pipe()
        os.set_blocking(self._read_end, False)
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end)
        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, self._stop)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def _stop(self, signum: int, _frame) -> None:
        self.signal = signum

    def sleep(self, seconds: float) -> None:
        if seconds > 0 and select.select([self._read_end], [], [], seconds)[0]:
            try:
                os.read(self._read_end, 4096)
            except BlockingIOError:
                pass


class Leader:
    """The lock, held: renews it, runs and restarts COMMAND, and stops COMMAND the moment the lock
    cannot be confirmed. Times are ``time.monotonic()``; with TTL T, from the last confirmed renewal:
    T/3 next renewal, 2T/3 lost (SIGTERM), 5T/6 the watchdog's SIGKILL, T the earliest expiry."""

    def __init__(self, lock: Lock, command: list[str], sleeper: Sleeper, acquired_at: float, settle: bool) -> None:
        self.lock, self.command, self.sleeper = lock, command, sleeper
        self.ttl = lock.ttl_ms / 1000
        self.confirmed_at = acquired_at
        self.start_at = acquired_at + (self.ttl if settle else 0.0)
        self.child: subprocess.Popen | None = None
        self.watchdog: Watchdog | None = None
        self.started_at = 0.0
        self.delay = RESTART_FIRST_DELAY
        self.stop_signal: int | None = None
        self.kill_at = 0.0

    @property
    def kill_deadline(self) -> float:
        return self.confirmed_at + self.ttl * 5 / 6

    def hold(self) -> None:
        """Returns once COMMAND is stopped: the lock was lost, or a signal asked to stop (lock handed over)."""
        next_renewal = self.confirmed_at + self.ttl / 3
        while True:
            now = time.monotonic()
            if self.confirmed_at + self.ttl * 2 / 3 <= now:
                return self._lose(f"Redis did not confirm it for {self.ttl * 2 / 3:.1f}s")
            if now >= next_renewal:
                outcome = self._renew(now)
                if outcome == 0:
                    return self._lose(None)
                next_renewal = time.monotonic() + (self.ttl / 3 if outcome else self.ttl / 12)
            if self.sleeper.signal is not None and self._stopped():
                return self._hand_over()
            self._tend_child()
            wake = [next_renewal, self.confirmed_at + self.ttl * 2 / 3]
            if self.child is None and self.stop_signal is None:
                wake.append(self.start_at)
            if self.stop_signal is not None:
                wake.append(self.kill_at)
            # SIGCHLD wakes the sleep when COMMAND exits; the 0.5 s cap is a safety net.
            until_next = min(wake) - time.monotonic()
            self.sleeper.sleep(until_next if self.child is None else min(until_next, 0.5))

    def _renew(self, sent: float) -> int | None:
        try:
            outcome = self.lock.renew_or_retake()
        except redis.RedisError as exc:
            _say(f"{self.lock.key}: renewal failed, retrying: {exc}")
            return None
        if outcome:
            if outcome == 2:
                _say(f"{self.lock.key} had vanished (Redis restarted or lost data); took it back")
            self.confirmed_at = sent
            if self.watchdog:
                self.watchdog.extend(self.kill_deadline)
        return outcome

    def _tend_child(self) -> None:
        """Starts COMMAND when due; notes its exit and schedules the restart with backoff."""
        now = time.monotonic()
        if self.child is not None:
            status = self.child.poll()
            if status is None:
                return
            self._reap()
            if self.stop_signal is not None:
                return
            ran = now - self.started_at
            self.delay = RESTART_FIRST_DELAY if ran >= RESTART_RESET_AFTER else self.delay
            _say(
                f"{self.lock.key}: COMMAND exited with status {status} after {ran:.1f}s; restarting in {self.delay:g}s"
            )
            self.start_at = now + self.delay
            self.delay = min(self.delay * 2, RESTART_MAX_DELAY)
        elif self.stop_signal is None and now >= self.start_at:
            try:
                self.child = _start(self.command)
            except OSError as exc:
                _say(f"{self.lock.key}: cannot run {self.command[0]}: {exc.strerror}; retrying in {self.delay:g}s")
                self.start_at = now + self.delay
                self.delay = min(self.delay * 2, RESTART_MAX_DELAY)
                return
            self.started_at = now
            self.watchdog = Watchdog(self.child.pid, self.kill_deadline)
            _say(f"{self.lock.key}: leader; started COMMAND (pid {self.child.pid})")

    def _reap(self) -> None:
        self.child = None
        if self.watchdog:
            self.watchdog.stop()
            self.watchdog = None

    def _stopped(self) -> bool:
        """Asked to stop: forwards the signal once, SIGKILL after the grace; True once COMMAND is gone."""
        if self.child is None:
            return True
        if self.stop_signal is None:
            self.stop_signal = self.sleeper.signal
            self.kill_at = time.monotonic() + KILL_GRACE_SECONDS
            _signal_group(self.child.pid, self.stop_signal)
        elif time.monotonic() >= self.kill_at:
            _signal_group(self.child.pid, signal.SIGKILL)
        self._tend_child()
        return self.child is None

    def _lose(self, why: str | None) -> None:
        """``why`` None: another runner holds it (named once COMMAND has been told to stop)."""
        if self.child is not None:
            _signal_group(self.child.pid, signal.SIGTERM)
        why = why or f"it is held by {self.lock.holder()}"
        _say(f"LOCK LOST: {self.lock.key}: {why}; stopping COMMAND and standing by")
        if self.child is not None:
            while self.child.poll() is None:
                if time.monotonic() >= self.kill_deadline:
                    _signal_group(self.child.pid, signal.SIGKILL)
                self.sleeper.sleep(0.05)
            self._reap()

    def _hand_over(self) -> None:
        try:
            self.lock.hand_over()
        except redis.RedisError as exc:
            _say(f"could not hand {self.lock.key} over (it expires within {self.ttl:g}s): {exc}")


class Standby:
    """Tries the lock every TTL/3 and remembers what it saw, to tell an expired lock (its holder is
    gone: start at once) from a vanished one (its holder may still run COMMAND: settle one TTL first)."""

    def __init__(self, lock: Lock) -> None:
        self.lock = lock
        self.seen_token: str | None = None
        self.seen_until = 0.0
        self.blind = True  # nothing seen yet, or Redis failed since

    def try_acquire(self) -> tuple[bool, bool]:
        """(acquired, must settle)."""
        try:
            sent = time.monotonic()
            if self.lock.acquire():
                return True, not self._expired_or_handed_over(sent)
            token, left = self.lock.observe()
        except redis.RedisError as exc:
            if not self.blind:
                _say(f"{self.lock.key}: Redis unavailable, standing by: {exc}")
            self.blind = True
            return False, False
        # After the answer: an upper bound of the expiry, so a lock that vanished is never taken for expired.
        answered = time.monotonic()
        if token != self.seen_token:
            _say(f"{self.lock.key}: standing by; held by {describe_token(token)}")
        self.seen_token, self.blind = token, False
        self.seen_until = answered + left / 1000 if left >= 0 else float("inf")
        return False, False

    def _expired_or_handed_over(self, now: float) -> bool:
        if self.blind or self.seen_token is None:
            return False
        if now >= self.seen_until:
            return True
        try:
            return self.lock.released_by() == self.seen_token
        except redis.RedisError:
            return False


def lead(args: argparse.Namespace) -> int:
    ttl = args.ttl
    # Every call must return well within the time a leader has between its renewals' deadlines.
    lock = Lock(_client(args.env_file, min(5.0, ttl / 6)), args.name, ttl)
    sleeper = Sleeper()
    standby = Standby(lock)
    while sleeper.signal is None:
        acquired_at = time.monotonic()
        acquired, settle = standby.try_acquire()
        if acquired:
            if settle:
                _say(f"{lock.key}: taken after it vanished; waiting {ttl}s so a former leader has stopped")
            Leader(lock, args.command, sleeper, acquired_at, settle).hold()
            standby = Standby(lock)
            continue
        sleeper.sleep(acquired_at + ttl / 3 - time.monotonic())
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        return lead(args) if args.action == "lead" else run(args)
    except UsageError as exc:
        _say(f"error: {exc}")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
