"""`infra check-scaling`: does traffic to a deployed stack really spread over its instances?

Sends a bounded number of GET requests (stdlib HTTP client, one thread per concurrent request)
and reports, per instance, how many answered, read from a response header the app sets on every
response (default ``X-Instance-Id``, the EC2 instance id); plus error rate and latency percentiles.
With ``--failover SECONDS`` the requests are spread evenly over that window while an operator
terminates an instance, and the report says when it stopped answering and what failed meanwhile.

Loads no CDKTF: operators run it against a live stack and it must start in milliseconds.
"""

from __future__ import annotations

import http.client
import math
import re
import ssl
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

import click

from migrate.text_table import aligned

DEFAULT_HEADER = "X-Instance-Id"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 header name


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int | None
    path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected http://HOST[:PORT]/PATH or https://...")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the port is not a number from 0 to 65535") from None
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port, path)

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


@dataclass(frozen=True)
class Result:
    started: float  # seconds after the run began
    latency: float
    instance: str | None
    error: str | None  # None for a 1xx-3xx answer

    @property
    def ok(self) -> bool:
        return self.error is None


def _describe(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        return "connection reset"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    return exc.strerror or type(exc).__name__


def fetch(target: Target, header: str, timeout: float, started: float) -> Result:
    # A fresh connection per request: each request is balanced on its own, as a new client's would
    # be, and a keep-alive connection closed while idle is never mistaken for a failed instance.
    # No cookies are sent, so load-balancer stickiness cannot pin the check to one instance.
    began = time.monotonic()
    connection = target.connection(timeout)
    try:
        connection.request("GET", target.path, headers={"User-Agent": "duewin-check-scaling"})
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        error = _describe(exc) if isinstance(exc, OSError) else f"bad response: {type(exc).__name__}"
        return Result(started, time.monotonic() - began, None, error)
    finally:
        connection.close()
    error = None if response.status < 400 else f"HTTP {response.status}"
    return Result(started, time.monotonic() - began, response.getheader(header), error)


def send(target: Target, requests: int, concurrency: int, header: str, timeout: float, window: float) -> list[Result]:
    """Sends ``requests`` GETs, request i due ``i * window / requests`` seconds after the start."""
    spacing = window / requests
    next_index = iter(range(requests))
    taking = threading.Lock()
    per_worker: list[list[Result]] = [[] for _ in range(min(concurrency, requests))]
    start = time.monotonic()

    def work(results: list[Result]) -> None:
        while True:
            with taking:
                index = next(next_index, None)
            if index is None:
                return
            delay = start + index * spacing - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            results.append(fetch(target, header, timeout, time.monotonic() - start))

    threads = [threading.Thread(target=work, args=(results,), daemon=True) for results in per_worker]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Ctrl-C may be delivered to a worker thread, and a main thread blocked in a plain join()
        # would not see it until that worker's request timed out; waking often lets it see it.
        while thread.is_alive():
            thread.join(0.2)
    return sorted((r for results in per_worker for r in results), key=lambda r: r.started)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)]


@dataclass
class Instance:
    name: str
    ok: int = 0
    errors: int = 0
    first: float = math.inf
    last: float = -math.inf


def spread(results: list[Result]) -> dict[str, Instance]:
    instances: dict[str, Instance] = {}
    for result in results:
        if result.instance is None:
            continue
        instance = instances.setdefault(result.instance, Instance(result.instance))
        if result.ok:
            instance.ok += 1
            instance.first = min(instance.first, result.started)
            instance.last = max(instance.last, result.started)
        else:
            instance.errors += 1
    return {name: instance for name, instance in instances.items() if instance.ok}


def stopped_answering(results: list[Result], instances: dict[str, Instance]) -> list[Instance]:
    """Instances missing from the tail of the run.

    Round robin gives every healthy instance one request in N; once 3 x N answers (at least 10) came
    from the others since an instance's last answer, it has left the rotation.
    """
    enough = max(10, 3 * len(instances))
    ok_starts = [r.started for r in results if r.ok]
    return [i for i in instances.values() if sum(1 for t in ok_starts if t > i.last) >= enough]


def report(results: list[Result], header: str, elapsed: float) -> tuple[list[str], int]:
    """The report's lines and how many instances answered."""
    lines = []
    instances = spread(results)
    ok = [r for r in results if r.ok]
    unnamed = sum(1 for r in ok if r.instance is None)
    rows = [(f"instance ({header})", "ok", "share", "errors", "first ok", "last ok")]
    for i in sorted(instances.values(), key=lambda i: i.name):
        rows.append((i.name, str(i.ok), f"{i.ok / len(ok):.1%}", str(i.errors), f"{i.first:.2f}s", f"{i.last:.2f}s"))
    if unnamed:
        rows.append((f"(no {header} header)", str(unnamed), f"{unnamed / len(ok):.1%}", "", "", ""))
    if len(rows) > 1:
        lines += aligned(rows, right=range(1, len(rows[0])))
    failed = [r for r in results if not r.ok]
    line = f"errors: {len(failed)} of {len(results)} ({len(failed) / len(results):.1%})"
    if failed:
        kinds = Counter(r.error for r in failed).most_common()
        line += f", t={failed[0].started:.2f}s to {failed[-1].started:.2f}s: " + ", ".join(
            f"{k} x{n}" for k, n in kinds
        )
    lines.append(line)
    if ok:
        latencies = sorted(r.latency * 1000 for r in ok)
        lines.append(
            "latency of ok responses (ms): "
            + "  ".join(
                f"{name} {percentile(latencies, p):.1f}"
                for name, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
            )
        )
    for gone in stopped_answering(results, instances):
        lines.append(f"stopped answering: {gone.name} (last ok response sent at t={gone.last:.2f}s)")
    if unnamed == len(ok) and ok:
        lines.append(f"no response carried {header}: the app must set it (docs/operations.md, check-scaling)")
    lines.append(
        f"{len(results)} requests in {elapsed:.2f}s ({len(results) / elapsed:.0f}/s); "
        f"{len(instances)} instances answered"
    )
    return lines, len(instances)


class _OneLineErrors(click.Command):
    """Bad input is one line naming the option, not click's usage block."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(2)


def _target(_ctx, _param, value: str) -> Target:
    try:
        return Target.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _header_name(_ctx, _param, value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise click.BadParameter("not a valid HTTP header name")
    return value


@click.command("check-scaling", cls=_OneLineErrors)
@click.option(
    "--url",
    "target",
    required=True,
    callback=_target,
    help="URL behind the load balancer, e.g. https://api.example.com/health",
)
@click.option(
    "--requests",
    "requests",
    type=click.IntRange(1, 1_000_000),
    default=200,
    show_default=True,
    help="How many requests in all.",
)
@click.option(
    "--concurrency", type=click.IntRange(1, 512), default=10, show_default=True, help="Requests in flight at once."
)
@click.option("--expect-instances", type=click.IntRange(min=1), help="Exit 1 when fewer instances answer.")
@click.option(
    "--header",
    default=DEFAULT_HEADER,
    show_default=True,
    callback=_header_name,
    help="Response header naming the instance.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds per request.",
)
@click.option(
    "--failover",
    "window",
    type=click.FloatRange(min=0, max=3600, min_open=True),
    help="Spread the requests over SECONDS while an instance is terminated.",
)
def check_scaling(
    target: Target,
    requests: int,
    concurrency: int,
    expect_instances: int | None,
    header: str,
    timeout: float,
    window: float | None,
) -> None:
    """Send REQUESTS GETs to URL and report how they spread over the instances.

    Exit 0 when at least one instance (and --expect-instances, if given) answered, 1 otherwise.
    """
    started = time.monotonic()
    try:
        results = send(target, requests, concurrency, header, timeout, window or 0.0)
    except KeyboardInterrupt:
        click.echo("interrupted: no report (requests in flight were abandoned)", err=True)
        sys.exit(130)
    lines, answered = report(results, header, time.monotonic() - started)
    for line in lines:
        click.echo(line)
    if answered == 0 or (expect_instances and answered < expect_instances):
        click.echo(f"FAIL: {answered} instances answered, expected at least {expect_instances or 1}", err=True)
        sys.exit(1)
