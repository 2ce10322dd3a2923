"""``migrate run s3://…``: the object streams in ranged GETs, survives broken bodies, never grows in
memory, and a killed load resumes exactly once, reading the object from its restart point on (a
replaced object is refused). S3 is moto (in-process, or its server for a load in a process of its own)."""

from __future__ import annotations

import gzip
import os
import random
import signal
import subprocess
import sys
import tracemalloc
from io import BytesIO

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from migrate.checkpoint import TABLE
from migrate.errors import BadInput, ConnectionFailed
from migrate.restart import RestartPoint, decode
from migrate.s3_stream import S3Stream, parse
from migrate.source import HEAD_BYTES
from migrate.splitter import split
from tests.migrate.conftest import migrate, query, show_create
from tests.migrate.test_resume import start_run
from tests.servers.mariadb import PASSWORD, CheckpointPoller
from tests.servers.process import free_port

BUCKET = "cutover-dumps"


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def s3(aws_env):
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


@pytest.fixture(scope="module")
def dump_gz(tmp_path_factory):
    """The benchmark's generator at 4 MB, gzipped as the runbook's mysqldump | gzip does."""
    from bench.migrate import generate

    directory = tmp_path_factory.mktemp("s3dump")
    rows = generate(directory / "dump.sql", 4)
    path = directory / "dump.sql.gz"
    path.write_bytes(gzip.compress((directory / "dump.sql").read_bytes(), 1))
    return path, rows


def get_ranges(client) -> list[str]:
    """Every GetObject's Range header, as sent."""
    ranges: list[str] = []
    client.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: ranges.append(params["Range"])
    )
    return ranges


@pytest.mark.parametrize("url", ["s3://bucket", "s3://bucket/", "s3://bucket/dir/", "s3:///key", "http://b/k"])
def test_an_s3_url_must_name_an_object(url):
    with pytest.raises(BadInput, match="not an S3 object URL"):
        parse(url)


def test_the_object_streams_in_ranges_in_constant_memory(s3):
    data = random.Random(5).randbytes(6 << 20)
    s3.put_object(Bucket=BUCKET, Key="big.bin", Body=data)
    ranges = get_ranges(s3)
    stream = S3Stream(f"s3://{BUCKET}/big.bin", client=s3, range_size=512 << 10)
    tracemalloc.start()
    try:
        chunks, peak = [], 0
        while chunk := stream.read(64 << 10):
            chunks.append(len(chunk))
            tracemalloc.reset_peak()  # what one read holds, not what the test keeps
            peak = max(peak, tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    assert sum(chunks) == len(data) and stream.size == len(data)
    assert ranges[:2] == ["bytes=0-524287", "bytes=524288-1048575"] and len(ranges) == 12
    assert peak < 4 << 20  # a few ranges' worth at most, whatever the object's size


class BreaksOnce:
    """A GetObject body that breaks off after ``after`` bytes, the first time only."""

    def __init__(self, body, after: int) -> None:
        self.body, self.after = body, after

    def read(self, n: int) -> bytes:
        if self.after <= 0:
            raise ConnectionResetError("connection reset by peer")
        data = self.body.read(min(n, self.after))
        self.after -= len(data)
        return data

    def close(self) -> None:
        self.body.close()


def test_a_body_that_breaks_off_is_read_again_from_where_it_stopped(s3):
    data = random.Random(6).randbytes(3 << 20)
    s3.put_object(Bucket=BUCKET, Key="flaky.bin", Body=data)
    ranges = get_ranges(s3)
    broken = []

    def break_first(http_response, parsed, **_):
        if not broken:
            broken.append(True)
            parsed["Body"] = BreaksOnce(parsed["Body"], 300_000)

    s3.meta.events.register("after-call.s3.GetObject", break_first)
    naps: list[float] = []
    stream = S3Stream(f"s3://{BUCKET}/flaky.bin", client=s3, range_size=1 << 20, sleep=naps.append)
    got = b"".join(iter(lambda: stream.read(100_000), b""))
    assert got == data
    assert stream.retries == 1 and naps == [1]
    assert ranges[:2] == ["bytes=0-1048575", "bytes=300000-1348575"]


def test_an_object_replaced_mid_stream_stops_the_read(s3):
    s3.put_object(Bucket=BUCKET, Key="moving.bin", Body=b"a" * 3_000_000)
    stream = S3Stream(f"s3://{BUCKET}/moving.bin", client=s3, range_size=1_000_000, sleep=lambda _: None)
    stream.read(1_000_000)
    s3.put_object(Bucket=BUCKET, Key="moving.bin", Body=b"b" * 3_000_000)
    with pytest.raises(ConnectionFailed, match="PreconditionFailed"):
        stream.read(1_000_000)


def test_a_missing_object_is_bad_input_naming_it(s3):
    with pytest.raises(BadInput, match=f"s3://{BUCKET}/nope.sql.gz: cannot open"):
        S3Stream(f"s3://{BUCKET}/nope.sql.gz", client=s3)


def test_migrate_run_and_inspect_read_the_dump_from_s3(s3, target, dbname, dump_gz):
    path, rows = dump_gz
    s3.upload_file(str(path), BUCKET, "cutover/dump.sql.gz")
    url = f"s3://{BUCKET}/cutover/dump.sql.gz"
    inspected = migrate("inspect", url)
    assert inspected.exit_code == 0, inspected.output
    assert f"rows: {sum(rows.values()):,}" in inspected.output
    result = migrate("run", url, "--target", target.url(dbname))
    assert result.exit_code == 0, result.output
    assert "4 tables, all match" in result.output
    assert query(target, dbname, "SELECT COUNT(*) FROM events") == [(rows["events"],)]


@pytest.fixture
def moto_server(aws_env, monkeypatch):
    """moto as a server on loopback, for a load in a process of its own."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server._port}")
    yield boto3.client("s3")
    server.stop()


def test_a_load_from_s3_killed_mid_way_resumes_exactly_once(moto_server, target, dump_gz):
    path, rows = dump_gz
    moto_server.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    moto_server.upload_file(str(path), BUCKET, "dump.sql.gz")
    url = f"s3://{BUCKET}/dump.sql.gz"
    database = "s3_killed"
    target.create_database(database)
    proc = start_run(target, database, url, "--jobs", "1")
    assert CheckpointPoller(target, database).wait(proc, 12), proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = query(target, database, f"SELECT statement FROM `{TABLE}`")[0][0]
    assert 12 <= committed and query(target, database, f"SELECT complete FROM `{TABLE}`") == [(0,)]
    resumed = migrate("run", url, "--target", target.url(database), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming after line" in resumed.output and "4 tables, all match" in resumed.output
    for table, count in rows.items():
        assert query(target, database, f"SELECT COUNT(*) FROM `{table}`") == [(count,)]
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


@pytest.fixture(scope="module")
def dump_8mb(tmp_path_factory):
    """The benchmark's generator at 8 MB (1 MB statements), plain and gzipped; rows per table."""
    from bench.migrate import generate

    directory = tmp_path_factory.mktemp("s3resume")
    rows = generate(directory / "dump.sql", 8)
    (directory / "dump.sql.gz").write_bytes(gzip.compress((directory / "dump.sql").read_bytes(), 1))
    return directory, rows


def half_way(path) -> int:
    """The ordinal of the statement that ends past the middle of the (decompressed) dump."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    for ordinal, statement in enumerate(split(BytesIO(data).read), 1):
        if statement.offset >= len(data) // 2:
            return ordinal
    raise AssertionError("no statement past the middle")


def killed_s3_load(client, target, database: str, path) -> str:
    """``path`` put in the bucket and loaded from it by ``migrate run`` in a process of its own, killed
    (SIGKILL) once half the dump is committed; its URL."""
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    client.upload_file(str(path), BUCKET, path.name)
    url = f"s3://{BUCKET}/{path.name}"
    target.create_database(database)
    proc = start_run(target, database, url, "--jobs", "1")
    assert CheckpointPoller(target, database).wait(proc, half_way(path)), proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert query(target, database, f"SELECT complete FROM `{TABLE}`") == [(0,)]
    return url


def restart_point(target, database: str) -> RestartPoint:
    blob = query(target, database, f"SELECT anchor FROM `{TABLE}`")[0][0]
    assert blob is not None, "the killed load stored no restart point"
    point = decode(blob, None)
    assert point is not None
    return point


@pytest.fixture
def s3_gets(moto_server, monkeypatch):
    """(Content-Range, Content-Length) of every GetObject answer to the S3 clients this process makes:
    the bytes S3 sent."""
    answers: list[tuple[str, int]] = []
    make = boto3.client

    def client(*args, **kwargs):
        made = make(*args, **kwargs)
        made.meta.events.register(
            "after-call.s3.GetObject",
            lambda parsed, **_: answers.append((parsed["ContentRange"], parsed["ContentLength"])),
        )
        return made

    monkeypatch.setattr(boto3, "client", client)
    return answers


@pytest.mark.parametrize("name", ["dump.sql", "dump.sql.gz"])
def test_a_resumed_s3_load_reads_from_its_restart_point_not_byte_0(moto_server, s3_gets, target, dump_8mb, name):
    directory, rows = dump_8mb
    path = directory / name
    database = "s3_restart_" + name.replace(".", "_")
    url = killed_s3_load(moto_server, target, database, path)
    point = restart_point(target, database)
    committed = query(target, database, f"SELECT statement FROM `{TABLE}`")[0][0]
    assert 0 < point.statement <= committed
    size = path.stat().st_size
    start = point.restart.raw
    assert start > 0 and (point.restart.point is not None) == name.endswith(".gz")
    resumed = migrate("run", url, "--target", target.url(database), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"reads {url} from byte {start:,} of {size:,}" in resumed.output
    assert "4 tables, all match" in resumed.output
    # The dump's first megabyte again (for the coordinates a dump tool writes at its head), then the
    # rest of the object from the restart point, and nothing else.
    head = min(HEAD_BYTES, size)
    assert s3_gets == [(f"bytes 0-{head - 1}/{size}", head), (f"bytes {start}-{size - 1}/{size}", size - start)]
    for table, count in rows.items():
        assert query(target, database, f"SELECT COUNT(*) FROM `{table}`") == [(count,)]
    assert "KEY `customer`" in show_create(target, database)["orders"]  # built after its rows, once resumed
    assert query(target, database, f"SELECT complete FROM `{TABLE}`") == [(1,)]


def test_a_replaced_object_is_refused_naming_it(moto_server, target, dump_8mb):
    directory, _ = dump_8mb
    database = "s3_replaced"
    url = killed_s3_load(moto_server, target, database, directory / "dump.sql")
    before = query(target, database, f"SELECT statement, line FROM `{TABLE}`")
    moto_server.put_object(Bucket=BUCKET, Key="dump.sql", Body=(directory / "dump.sql").read_bytes() + b"-- v2\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from migrate.cli import main; main()",
            "run",
            url,
            "--target",
            target.url(database),
            "--resume",
        ],
        capture_output=True,
        env={**os.environ, "MIGRATE_TARGET_PASSWORD": PASSWORD},
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    message = err.strip().splitlines()[-1]
    assert message.startswith(f"migrate: error: {url}: the object changed since the interrupted load read it"), err
    assert "refusing to resume" in message and "Traceback" not in err
    assert query(target, database, f"SELECT statement, line FROM `{TABLE}`") == before
