"""Resuming a load from S3 that was killed half-way: bytes S3 sends and wall time, reading the object
again from byte 0 against starting at the checkpoint's restart point (migrate/restart.py).

    python bench/s3_resume.py                          # ~200 MB plain dump
    python bench/s3_resume.py --gzip                   # the same dump gzipped (level 1)
    python bench/s3_resume.py --baseline /work/main    # also another checkout's migrate (before restart points)

S3 is moto's server on loopback, behind bench/link.py's proxy (no cap, no delay: ``--s3-link`` sets
one), which counts the bytes S3 sends. Per mode, on a fresh database: ``migrate run s3://…`` killed
(SIGKILL) once the statement past the middle of the dump is committed, then ``migrate run … --resume``
timed. "from byte 0" clears the checkpoint's restart point first, as a checkpoint an older migrate
wrote reads; "baseline" runs both with the other checkout's code.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.link import Link, LinkSpec  # noqa: E402
from bench.migrate import SERVER_SETTINGS, check_counts, generate, migrate_args  # noqa: E402
from migrate.checkpoint import TABLE  # noqa: E402
from migrate.splitter import split  # noqa: E402
from tests.servers.mariadb import PASSWORD, CheckpointPoller, MariaDB, install_template, missing_binaries  # noqa: E402
from tests.servers.process import free_port  # noqa: E402

BUCKET = "bench-dumps"
REGION = "eu-west-1"
DATABASE = "resumed"


def half_way(dump: Path) -> int:
    """The ordinal of the first statement that starts past the middle of the (decompressed) dump."""
    with gzip.open(dump) if dump.suffix == ".gz" else dump.open("rb") as f:
        size = sum(len(chunk) for chunk in iter(lambda: f.read(1 << 20), b""))
        f.seek(0)
        for ordinal, statement in enumerate(split(f.read), 1):
            if statement.offset >= size // 2:
                return ordinal
    raise SystemExit(f"{dump}: no statement past the middle")


def killed_load(server: MariaDB, url: str, env: dict[str, str], statement: int, checkout: Path | None) -> int:
    """A fresh load of ``url`` killed once ``statement`` is committed; the committed statement."""
    server.create_database(DATABASE)
    proc = subprocess.Popen(
        migrate_args(server, DATABASE, url, checkout=checkout),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    poller = CheckpointPoller(server, DATABASE)
    if not poller.wait(proc, statement):
        sys.exit(f"the load finished before statement {statement}:\n{proc.stderr.read().decode()}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return poller.statement()


def resume(
    server: MariaDB, url: str, env: dict[str, str], link: Link, report: Path, checkout: Path | None
) -> dict[str, object]:
    sent = link.bytes_down
    started = time.perf_counter()
    proc = subprocess.run(
        migrate_args(server, DATABASE, url, "--resume", "--report", str(report), checkout=checkout),
        env=env,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"resume failed:\n{proc.stdout.decode()}{proc.stderr.decode()}")
    said = [line for line in proc.stderr.decode().splitlines() if "resuming reads" in line]
    timings = json.loads(report.read_text())["timings"]
    return {
        "s3_bytes": link.bytes_down - sent,
        "wall": wall,
        "load": timings["load"],
        "prescan": timings.get("prescan", 0.0),
        "said": said[0] if said else "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="dump size before compression (default 200)")
    parser.add_argument("--gzip", action="store_true", help="put the dump in S3 gzipped (level 1)")
    parser.add_argument(
        "--s3-link",
        type=LinkSpec.parse,
        default=LinkSpec.parse("unlimited:0ms"),
        metavar="RATE:RTT",
        help="the path to S3 (default unlimited:0ms), e.g. 1gbit:2ms",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="also kill and resume with another checkout's migrate (e.g. main, before restart points)",
    )
    options = parser.parse_args()
    if missing_binaries():
        sys.exit(f"missing: {', '.join(missing_binaries())}")
    root = Path(tempfile.mkdtemp(prefix="bench-s3-resume-"))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    server = MariaDB("s3resume", root, SERVER_SETTINGS)
    try:
        dump = root / "dump.sql"
        rows = generate(dump, options.size_mb)
        if options.gzip:
            with dump.open("rb") as plain, gzip.open(root / "dump.sql.gz", "wb", compresslevel=1) as packed:
                shutil.copyfileobj(plain, packed, 8 << 20)
            dump = root / "dump.sql.gz"
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{moto._port}",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.upload_file(str(dump), BUCKET, dump.name)
        url = f"s3://{BUCKET}/{dump.name}"
        size = dump.stat().st_size
        kill_at = half_way(dump)
        print(
            f"dump: {url}, {size / 1e6:.0f} MB ({sum(rows.values()):,} rows); killed once statement {kill_at} "
            f"(the first past the middle) is committed; S3 through {options.s3_link}"
        )
        server.start(install_template(root))
        results = []
        with Link(options.s3_link, ("127.0.0.1", moto._port)) as link:
            env = {
                **os.environ,
                **aws,
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{link.port}",
                "MIGRATE_TARGET_PASSWORD": PASSWORD,
            }
            modes = [("baseline", options.baseline)] if options.baseline else []
            for mode, checkout in [*modes, ("from byte 0", None), ("restart point", None)]:
                committed = killed_load(server, url, env, kill_at, checkout)
                if mode == "from byte 0":
                    with server.root_connection(DATABASE) as conn, conn.cursor() as cur:
                        cur.execute(f"UPDATE `{TABLE}` SET anchor = NULL")
                        conn.commit()
                result = resume(server, url, env, link, root / "report.json", checkout)
                check_counts(server, DATABASE, rows)
                results.append({"mode": mode, "committed": committed, **result})
    finally:
        server.stop()
        moto.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{'resume':<14} {'killed after':>12} {'S3 bytes':>14} {'of object':>9} {'wall s':>7} {'load s':>7}")
    for r in results:
        print(
            f"{r['mode']:<14} {r['committed']:>12,} {r['s3_bytes']:>14,} {r['s3_bytes'] / size:>9.2f} "
            f"{r['wall']:>7.1f} {r['load']:>7.1f}"
        )
    for r in results:
        print(f"{r['mode']}: {r['said']}")


if __name__ == "__main__":
    main()
