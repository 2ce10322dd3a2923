"""`fleet-lock lead` against real redis-servers: three contenders for one singleton, each child writing
``(who, time)`` to a Redis stream every 50 ms, so the stream's server-assigned ids order every write of
every host; the proof of "exactly one at a time" is that no two children's write spans interleave.

The lock lives on one redis-server (killed and restarted empty in the test), the stream on another.
Failover times are measured from the moment the leader dies to the new child's first write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
import redis

from bootstrap import fleet_lock
from tests.bootstrap.test_fleet_lock import ENV, gone, install_embedded, wait_for
from tests.conftest import missing
from tests.servers.process import find_binary
from tests.servers.redis import RedisServer

TTL = 3
STREAM = "writes"
# The bound the design promises (TTL + TTL/3), plus room for a child's start-up on a loaded 2-core machine.
FAILOVER_BOUND = TTL + TTL / 3 + 1.5

# Every child: who it is (host/pid), one XADD every 50 ms to the recorder, until killed.
WRITER = """
import os, sys, time, redis
recorder = redis.Redis(port=int(sys.argv[1]))
who = f"{os.environ['HOST']}/{os.getpid()}"
while True:
    recorder.xadd("writes", {"who": who, "t": repr(time.time())})
    time.sleep(0.05)
"""


@dataclass
class Write:
    who: str
    at: float  # the stream id's milliseconds: Redis's clock, the same machine's as time.time()


def writes(recorder: redis.Redis) -> list[Write]:
    return [
        Write(fields[b"who"].decode(), int(entry.split(b"-")[0]) / 1000) for entry, fields in recorder.xrange(STREAM)
    ]


def spans(history: list[Write]) -> list[tuple[str, int, int]]:
    """(child, index of its first write, index of its last write), in order of first write."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for index, write in enumerate(history):
        first.setdefault(write.who, index)
        last[write.who] = index
    return sorted(((who, first[who], last[who]) for who in first), key=lambda span: span[1])


def overlaps(history: list[Write]) -> list[tuple[str, str]]:
    """Pairs of children whose writes interleave: both ran at once."""
    ordered = spans(history)
    return [(a[0], b[0]) for a, b in pairwise(ordered) if b[1] < a[2]]


def test_overlap_detector_sees_interleaved_writers():
    history = [Write(w, i) for i, w in enumerate(["a/1", "a/1", "b/2", "a/1", "b/2", "c/3"])]
    assert overlaps(history) == [("a/1", "b/2")]
    assert overlaps([Write(w, i) for i, w in enumerate(["a/1", "b/2", "b/2", "a/3"])]) == []


class Contender:
    """One "host": its own copy of fleet-lock running `lead`, its own child writer."""

    def __init__(self, root: Path, host: str, lock_url: str, recorder_port: int, ttl: int = TTL) -> None:
        root.mkdir(parents=True)
        self.root, self.host = root, host
        script = root / "fleet-lock"
        install_embedded(script)
        (root / "writer.py").write_text(WRITER)
        (root / "app.env").write_text(f"REDIS_URL={lock_url}\n")
        self.log = (root / "stderr").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-I",
                str(script),
                "lead",
                "--name",
                "scheduler",
                "--ttl",
                str(ttl),
                "--env-file",
                str(root / "app.env"),
                "--",
                sys.executable,
                "-I",
                str(root / "writer.py"),
                str(recorder_port),
            ],
            cwd=root,
            env={**ENV, "HOST": host},
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )

    @property
    def stderr(self) -> str:
        return (self.root / "stderr").read_text()

    def children(self) -> list[int]:
        """Pids whose parent is this fleet-lock (the writer and, while it runs, the watchdog)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if int((entry / "stat").read_text().split(")")[-1].split()[1]) == self.process.pid:
                        found.append(int(entry.name))
                except (FileNotFoundError, ProcessLookupError):
                    continue
        return found

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def servers(tmp_path):
    if find_binary("redis-server") is None:
        missing("redis-server")
    lock_server, recorder = RedisServer(tmp_path / "lock-redis"), RedisServer(tmp_path / "recorder-redis")
    lock_server.start()
    recorder.start()
    yield lock_server, recorder
    lock_server.stop()
    recorder.stop()


@pytest.fixture
def fleet(servers, tmp_path):
    lock_server, recorder = servers
    contenders: list[Contender] = []

    def start(host: str, **kwargs) -> Contender:
        contender = Contender(tmp_path / host, host, lock_server.url, recorder.port, **kwargs)
        contenders.append(contender)
        return contender

    yield start
    for contender in contenders:
        contender.kill()


def _current_writer(recorder: redis.Redis, after: float = 0.0) -> str:
    """The child that wrote last, once it has written after ``after`` (epoch seconds)."""

    def latest():
        history = writes(recorder)
        return history and history[-1].at > after and history[-1].who

    return wait_for(latest, timeout=3 * TTL + 5, what="a leader's child to write")


def _first_write_of_another(recorder: redis.Redis, than: str, after: float) -> Write:
    def found():
        return next((w for w in writes(recorder) if w.at >= after and w.who.split("/")[0] != than.split("/")[0]), None)

    return wait_for(found, timeout=3 * TTL + 5, what="another host's child to write")


def _leader(contenders: dict[str, Contender], who: str) -> Contender:
    return contenders[who.split("/")[0]]


def test_one_child_at_a_time_through_kill_freeze_and_redis_restarts(servers, fleet):
    lock_server, recorder_server = servers
    recorder = recorder_server.client()
    contenders = {host: fleet(host) for host in ("h1", "h2", "h3")}
    failovers: dict[str, float] = {}

    # GIVEN three contenders WHEN the first takes the lock
    # THEN it settles one TTL (nothing seen yet) and runs its child.
    first = _current_writer(recorder)
    time.sleep(1)

    # WHEN the leader's fleet-lock is killed -9 (its child dies with it)
    # THEN another host's child writes within the bound.
    killed_at = time.time()
    _leader(contenders, first).process.kill()
    second = _first_write_of_another(recorder, than=first, after=killed_at)
    failovers["kill -9"] = second.at - killed_at
    wait_for(lambda: gone(int(first.split("/")[1])), timeout=2, what="the killed leader's child to die")

    # WHEN the new leader's fleet-lock is frozen (SIGSTOP) THEN its watchdog kills its child before the lock can
    # expire, and the last host takes over; once thawed, the frozen one says LOCK LOST and stands by.
    frozen = _leader(contenders, second.who)
    time.sleep(1)
    frozen_at = time.time()
    frozen.process.send_signal(signal.SIGSTOP)
    third = _first_write_of_another(recorder, than=second.who, after=frozen_at)
    failovers["SIGSTOP"] = third.at - frozen_at
    assert gone(int(second.who.split("/")[1])), "the frozen leader's child outlived the lock"
    frozen.process.send_signal(signal.SIGCONT)
    wait_for(lambda: "LOCK LOST" in frozen.stderr, timeout=5, what="the thawed leader to notice")

    # WHEN Redis restarts empty after a short outage THEN one leader goes on (the same, having taken its
    # vanished lock back, or another after one TTL of settling): never two.
    time.sleep(1)
    lock_server.restart(down_for=0.5)
    time.sleep(TTL + 1)
    after_short = _current_writer(recorder, after=time.time())

    # WHEN Redis is down for longer than a leader may go unconfirmed THEN the leader stops its child, and
    # after the restart a leader (settling one TTL: the lock vanished) starts a child again.
    outage_at = time.time()
    lock_server.restart(down_for=TTL)
    back_at = time.time()
    resumed = _current_writer(recorder, after=back_at)
    failovers["Redis back after 3 s down"] = next(w.at for w in writes(recorder) if w.at > back_at) - back_at

    # THEN no two children ever wrote in overlapping spans, over the whole run.
    history = writes(recorder)
    assert overlaps(history) == [], [(s, history[s[1]].at, history[s[2]].at) for s in spans(history)]
    assert failovers["kill -9"] <= FAILOVER_BOUND, failovers
    assert failovers["SIGSTOP"] <= FAILOVER_BOUND, failovers
    assert resumed and after_short and len({w.who for w in history}) >= 4
    # Unconfirmed for 2/3 TTL, the leader stopped its child; after Redis came back, whoever took the lock
    # could not tell it from a lost one and settled a whole TTL.
    silent = [w for w in history if outage_at + 2 * TTL / 3 + 0.5 < w.at < back_at + TTL - 0.2]
    assert silent == [], silent
    print(
        f"\nfailover (TTL {TTL}s, bound {TTL + TTL / 3:g}s): "
        + ", ".join(f"{k} {v:.2f}s" for k, v in failovers.items())
    )


def test_a_leader_restarts_its_command_with_backoff_and_keeps_the_lock(servers, tmp_path):
    lock_server, _ = servers
    root = tmp_path / "leader"
    root.mkdir()
    script = root / "fleet-lock"
    install_embedded(script)
    (root / "app.env").write_text(f"REDIS_URL={lock_server.url}\n")
    # The command records each start and exits at once.
    process = subprocess.Popen(
        [
            sys.executable,
            "-I",
            str(script),
            "lead",
            "--name",
            "crashy",
            "--ttl",
            "3",
            "--env-file",
            str(root / "app.env"),
            "--",
            "sh",
            "-c",
            "date +%s.%N >> starts; exit 3",
        ],
        cwd=root,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        starts = root / "starts"
        wait_for(lambda: starts.exists() and len(starts.read_text().split()) >= 3, timeout=20, what="three starts")
        times = [float(t) for t in starts.read_text().split()]
        gaps = [b - a for a, b in pairwise(times)]
        assert gaps[1] > gaps[0] * 1.5, gaps  # 1 s, then 2 s
        token = lock_server.client().get("fleet-lock:crashy")
        assert token and token.decode().split("/")[1] == str(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert "exited with status 3" in process.stderr.read()
    # Handed over: the lock is free at once and marked as released, not lost.
    client = lock_server.client()
    assert client.get("fleet-lock:crashy") is None and client.get("fleet-lock:crashy:released") == token


def test_a_signal_hands_the_lock_over_and_the_standby_starts_without_settling(servers, fleet):
    _, recorder_server = servers
    recorder = recorder_server.client()
    leader_host = fleet("a")
    first = _current_writer(recorder)
    assert first.startswith("a/")
    standby = fleet("b")
    wait_for(lambda: "standing by; held by" in standby.stderr, timeout=TTL + 2, what="the standby to see the leader")
    stopped_at = time.time()
    leader_host.process.send_signal(signal.SIGTERM)
    assert leader_host.process.wait(timeout=15) == 0
    wait_for(lambda: gone(int(first.split("/")[1])), timeout=2, what="the child to stop")
    handover = _first_write_of_another(recorder, than=first, after=stopped_at)
    # No settling: the next poll (≤ TTL/3) takes the lock and starts at once.
    assert handover.at - stopped_at <= TTL / 3 + 1.0, handover.at - stopped_at
    assert "waiting" not in standby.stderr
    assert overlaps(writes(recorder)) == []


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["lead", "--name", "job", "--ttl", "2", "--", "true"], "--ttl"),
        (["lead", "--ttl", "5", "--", "true"], "--name"),
        (["lead", "--name", "job", "--ttl", "5"], "COMMAND"),
    ],
)
def test_lead_bad_input_is_one_line_and_exit_2(argv, field, capsys, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert fleet_lock.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err, err


def test_the_watchdog_kills_the_group_when_fleet_lock_dies(tmp_path):
    # GIVEN a command group watched until far in the future WHEN its fleet-lock goes away (pipe closed) THEN
    # the watchdog kills the whole group at once.
    group = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60; wait"], start_new_session=True)
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); import fleet_lock\n"
        "w = fleet_lock.Watchdog(int(sys.argv[2]), time.monotonic() + 600); print(w.pid, flush=True)\n"
    )
    install_embedded(tmp_path / "fleet_lock.py")
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, str(tmp_path), str(group.pid)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert group.wait(timeout=5) == -signal.SIGKILL
    assert os.getpgid(os.getpid()) != group.pid
