"""Write freeze of a replicated cutover against the plain path's, same data, one run, side by side.

    python bench/cutover.py                  # ~30 MB database, a couple of minutes
    python bench/cutover.py --size-mb 650    # the DESIGN §5 reference size
    python bench/cutover.py --rate 300       # the application's transactions per second (default 300)

A source MariaDB (binary log ROW) gets bench/migrate.py's generated database, loaded natively and
untimed, and an application writing bets and DECIMAL balances (and repricing old orders) at
``--rate`` transactions/s. Then, on the same data:

- replicated: while the application writes, mariadb-dump --single-transaction --master-data=2,
  migrate run into the target, migrate replicate start, migrate cutover. Its freeze is what migrate
  cutover reports: from read_only on the source to the target verified and on its own.
- plain: the source stays frozen (as the cutover left it), and mariadb-dump + migrate run + migrate
  verify into a second database of the target: the plain path's freeze is their sum.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.migrate import SERVER_SETTINGS, generate  # noqa: E402
from tests.servers.app_writer import Writer, create_schema  # noqa: E402
from tests.servers.mariadb import PASSWORD, MariaDB, install_template, missing_binaries  # noqa: E402

DATABASE = "bench"
GOAL_SECONDS = 5.0
SOURCE_SETTINGS = (*SERVER_SETTINGS, "--binlog-format=ROW", "--binlog-row-image=FULL")
TARGET_SETTINGS = tuple("--server-id=2" if s.startswith("--server-id") else s for s in SERVER_SETTINGS)
ENV = {
    **os.environ,
    "MYSQL_PWD": PASSWORD,
    "MIGRATE_TARGET_PASSWORD": PASSWORD,
    "MIGRATE_SOURCE_PASSWORD": PASSWORD,
    "MIGRATE_REPLICATION_PASSWORD": "bench-repl-pw",
}


def timed(what: str, args: list[str], stdout: Path | None = None, stdin: Path | None = None) -> float:
    started = time.perf_counter()
    with (
        stdout.open("wb") if stdout else open(os.devnull, "wb") as out,
        stdin.open("rb") if stdin else open(os.devnull, "rb") as into,
    ):
        done = subprocess.run(
            args, stdin=into, stdout=out if stdout else subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, check=False
        )
    if done.returncode != 0:
        sys.exit(f"{what} failed ({done.returncode}):\n{done.stderr.decode(errors='replace')[-3000:]}")
    return time.perf_counter() - started


def migrate(*args: str) -> list[str]:
    return [sys.executable, "-c", "from migrate.cli import main; main()", *args]


def dump(source: MariaDB, *flags: str) -> list[str]:
    return ["mariadb-dump", *source.client_args(), "--single-transaction", "--routines", "--triggers", *flags, DATABASE]


def replicated(source: MariaDB, target: MariaDB, root: Path, writer: Writer) -> dict[str, float]:
    link = ["--source", source.url(DATABASE), "--target", target.url(DATABASE), "--allow-plaintext"]
    times = {"dump": timed("mariadb-dump", dump(source, "--master-data=2", "--gtid"), stdout=root / "replicated.sql")}
    target.create_database(DATABASE)
    times["load"] = timed("migrate run", migrate("run", str(root / "replicated.sql"), "--target", target.url(DATABASE)))
    (root / "replicated.sql").unlink()
    times["start"] = timed("migrate replicate start", migrate("replicate", "start", *link, "--create-replication-user"))
    writes_until = time.monotonic()
    report = root / "cutover.json"
    times["cutover"] = timed("migrate cutover", migrate("cutover", *link, "--report", str(report)))
    facts = json.loads(report.read_text())
    times.update(
        freeze=facts["freeze_seconds"],
        applied=facts["applied_seconds"],
        verify=facts["verify_seconds"],
        rate=writer.achieved(writer.commits[0], writes_until),
        refused=writer.refused,
        ahead=(facts["ahead"] or {}).get("seconds"),
        in_freeze=[v["table"] for v in facts["verdicts"]],
    )
    return times


def plain(source: MariaDB, target: MariaDB, root: Path) -> dict[str, float]:
    target.create_database("plain")
    times = {"dump": timed("mariadb-dump", dump(source), stdout=root / "plain.sql")}
    times["load"] = timed("migrate run", migrate("run", str(root / "plain.sql"), "--target", target.url("plain")))
    (root / "plain.sql").unlink()
    times["verify"] = timed(
        "migrate verify", migrate("verify", "--source", source.url(DATABASE), "--target", target.url("plain"))
    )
    times["freeze"] = times["dump"] + times["load"] + times["verify"]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=30, help="generated dump size (default 30; 650 for the figure)")
    parser.add_argument("--rate", type=float, default=300, help="application transactions/s (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (dumps, datadirs)")
    options = parser.parse_args()
    if missing_binaries():
        sys.exit(f"missing: {', '.join(missing_binaries())}")
    root = Path(tempfile.mkdtemp(prefix="bench-cutover-"))
    template = install_template(root)
    source, target = MariaDB("source", root, SOURCE_SETTINGS), MariaDB("target", root, TARGET_SETTINGS)
    writer = None
    try:
        source.start(template)
        target.start(template)
        rows = generate(root / "data.sql", options.size_mb)
        source.create_database(DATABASE)
        setup = timed("mariadb < dump", ["mariadb", *source.client_args(DATABASE)], stdin=root / "data.sql")
        (root / "data.sql").unlink()
        create_schema(source, DATABASE)
        print(
            f"data: {options.size_mb} MB dump, {sum(rows.values()):,} rows in {len(rows)} tables, loaded into the "
            f"source in {setup:.0f} s (untimed setup); servers: " + " ".join(SOURCE_SETTINGS),
            flush=True,
        )
        writer = Writer(source, DATABASE, options.rate, orders=rows["orders"]).start()
        writer.wait(10)
        r = replicated(source, target, root, writer)
        writer.stop()
        writer = None
        p = plain(source, target, root)
    finally:
        if writer is not None:
            writer.stop()
        source.stop()
        target.stop()
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"application: {r['rate']:.0f} transactions/s (asked {options.rate:.0f}) through the dump, load and "
        f"catch-up; {r['refused']:.0f} commits refused by the frozen source (it stays read-only after the switch)"
    )
    print(
        f"replicated, before the freeze (writes on): dump {r['dump']:.1f} s, load {r['load']:.1f} s, "
        f"replicate start {r['start']:.1f} s, "
        + ("no check ahead" if r["ahead"] is None else f"exact verify ahead {r['ahead']:.1f} s")
        + f"; migrate cutover ran {r['cutover']:.1f} s in all"
    )
    print("write freeze, same data:")
    print(
        f"  replicated cutover  {r['freeze']:7.2f} s  (final position applied after {r['applied']:.2f} s, "
        f"exact verify of {', '.join(r['in_freeze'])} {r['verify']:.2f} s)"
    )
    print(
        f"  plain freeze-and-load {p['freeze']:5.1f} s  (dump {p['dump']:.1f} s + load {p['load']:.1f} s + "
        f"verify {p['verify']:.1f} s)"
    )
    print(
        f"  ratio: the replicated freeze is {p['freeze'] / r['freeze']:.0f}x shorter; goal ≤ {GOAL_SECONDS:.0f} s: "
        + ("met" if r["freeze"] <= GOAL_SECONDS else "NOT met")
    )


if __name__ == "__main__":
    main()
