"""`infra check-scaling` against tiny HTTP servers on loopback behind a real nginx round robin."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from infra.check_scaling import percentile
from infra.cli import main
from tests.conftest import engine_modules_loaded_by, missing
from tests.servers.nginx import RoundRobinProxy
from tests.servers.process import find_binary


class Backend:
    """One app instance: answers GETs with its name in ``header``; 503 to every ``fail_every``-th."""

    def __init__(self, name: str, header: str = "X-Instance-Id", fail_every: int = 0):
        served = itertools.count(1)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                failing = fail_every and next(served) % fail_every == 0
                self.send_response(503 if failing else 200)
                self.send_header(header, name)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args):
                pass

        self.name = name
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.stopped = False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def backends():
    started = [Backend(f"backend-{n}") for n in (1, 2, 3)]
    yield started
    for backend in started:
        backend.stop()


@pytest.fixture
def proxy(backends, tmp_path):
    if find_binary("nginx") is None:
        missing("nginx")
    proxy = RoundRobinProxy(tmp_path / "nginx", [b.port for b in backends])
    proxy.start()
    yield proxy
    proxy.stop()


def check(*args: str):
    return CliRunner().invoke(main, ["check-scaling", *args], catch_exceptions=False)


def row(output: str, instance: str) -> list[str]:
    match = re.search(rf"^{re.escape(instance)}\s+(.*)$", output, re.M)
    assert match, output
    return match.group(1).split()


def test_round_robin_spreads_requests_evenly_over_every_instance(proxy):
    result = check("--url", proxy.url, "--requests", "90", "--concurrency", "6", "--expect-instances", "3")
    assert result.exit_code == 0, result.output
    for name in ("backend-1", "backend-2", "backend-3"):
        ok, share, errors = row(result.stdout, name)[:3]
        assert (ok, share, errors) == ("30", "33.3%", "0")
    assert "errors: 0 of 90 (0.0%)" in result.stdout
    assert re.search(r"latency of ok responses \(ms\): p50 [\d.]+  p95 [\d.]+  p99 [\d.]+  max [\d.]+", result.stdout)
    assert "stopped answering" not in result.stdout
    assert "3 instances answered" in result.stdout


def test_fewer_instances_than_expected_fails(proxy, backends):
    backends[1].stop()
    result = check("--url", proxy.url, "--requests", "60", "--concurrency", "4", "--expect-instances", "3")
    assert result.exit_code == 1
    assert "FAIL: 2 instances answered, expected at least 3" in result.stderr
    assert "backend-2" not in result.stdout
    assert re.search(r"errors: [1-9]\d* of 60 .*HTTP 502 x", result.stdout), result.stdout


def test_failover_window_shows_the_instance_that_stopped_and_the_errors_it_caused(proxy, backends):
    stopping, stopped = [], []

    def stop_backend_2():
        stopping.append(time.monotonic() - began)
        backends[1].stop()
        stopped.append(time.monotonic() - began)

    threading.Timer(1.2, stop_backend_2).start()
    began = time.monotonic()
    result = check("--url", proxy.url, "--requests", "300", "--concurrency", "4", "--failover", "3")
    assert time.monotonic() - began >= 2.9  # paced over the window (last request due at 2.99 s), not a burst
    assert result.exit_code == 0, result.output
    last_ok = float(
        re.search(r"stopped answering: backend-2 \(last ok response sent at t=([\d.]+)s\)", result.stdout).group(1)
    )
    assert stopping[0] - 1.0 < last_ok <= stopped[0]  # it answered until it was stopped, not after
    assert result.stdout.count("stopped answering") == 1
    errors = re.search(r"errors: (\d+) of 300 \([\d.]+%\), t=([\d.]+)s to ([\d.]+)s: HTTP 502 x\d+", result.stdout)
    assert errors, result.stdout
    assert int(errors.group(1)) >= 1 and float(errors.group(2)) >= last_ok
    oks = sum(int(row(result.stdout, b.name)[0]) for b in backends)
    assert oks + int(errors.group(1)) == 300
    assert float(row(result.stdout, "backend-1")[-1].rstrip("s")) > 2.5  # the others served to the end


def test_responses_without_the_instance_header_fail_and_say_why():
    backend = Backend("served-by-7", header="X-Served-By")
    try:
        url = f"http://127.0.0.1:{backend.port}/health"
        default = check("--url", url, "--requests", "5")
        assert default.exit_code == 1
        assert "(no X-Instance-Id header)" in default.stdout
        assert "the app must set it" in default.stdout
        custom = check("--url", url, "--requests", "5", "--header", "X-Served-By")
        assert custom.exit_code == 0, custom.output
        assert row(custom.stdout, "served-by-7")[:3] == ["5", "100.0%", "0"]
    finally:
        backend.stop()


def test_an_instance_answering_with_server_errors_is_charged_with_them():
    backend = Backend("flaky", fail_every=2)
    try:
        result = check("--url", f"http://127.0.0.1:{backend.port}/", "--requests", "10", "--concurrency", "1")
        assert result.exit_code == 0, result.output
        assert row(result.stdout, "flaky")[:3] == ["5", "100.0%", "5"]
        assert "errors: 5 of 10 (50.0%)" in result.stdout and "HTTP 503 x5" in result.stdout
    finally:
        backend.stop()


def test_nothing_listening_is_an_error_not_a_pass():
    backend = Backend("gone")
    backend.stop()
    result = check("--url", f"http://127.0.0.1:{backend.port}/", "--requests", "3")
    assert result.exit_code == 1
    assert "errors: 3 of 3 (100.0%)" in result.stdout and "connection refused x3" in result.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ([], "--url"),
        (["--url", "ftp://127.0.0.1/"], "--url"),
        (["--url", "http:///nohost"], "--url"),
        (["--url", "http://127.0.0.1:99999/"], "--url"),
        (["--url", "http://127.0.0.1/", "--requests", "0"], "--requests"),
        (["--url", "http://127.0.0.1/", "--requests", "many"], "--requests"),
        (["--url", "http://127.0.0.1/", "--concurrency", "0"], "--concurrency"),
        (["--url", "http://127.0.0.1/", "--expect-instances", "0"], "--expect-instances"),
        (["--url", "http://127.0.0.1/", "--header", "X Instance"], "--header"),
        (["--url", "http://127.0.0.1/", "--failover", "0"], "--failover"),
        (["--url", "http://127.0.0.1/", "--timeout", "-1"], "--timeout"),
        (["--url", "http://127.0.0.1/", "--no-such-option"], "--no-such-option"),
    ],
)
def test_bad_input_is_one_line_naming_the_option_and_exit_2(args, field):
    result = check(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and field in result.stderr, result.stderr


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, p) for p in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0


def test_the_command_loads_no_cdktf():
    # Operators run it against a live stack: it must not pay the provider's ~10 s import.
    assert engine_modules_loaded_by("import infra.cli") == []


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    # GIVEN a server that accepts connections and never answers WHEN the operator presses Ctrl-C
    # THEN check-scaling stops with one line and exit 130, not a traceback.
    import signal
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infra",
                "check-scaling",
                "--url",
                f"http://127.0.0.1:{port}/health",
                "--requests",
                "1",
                "--timeout",
                "60",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # An operator's terminal delivers Ctrl-C; a suite started in the background (`cmd &` in a
            # script) runs with SIGINT ignored, which the child would inherit and never see it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        listener.settimeout(30)
        connection, _ = listener.accept()  # the request is in flight
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        connection.close()
    finally:
        listener.close()
    assert proc.returncode == 130
    assert "Traceback" not in stderr and stderr.strip().startswith("interrupted")
