"""Side-by-side load benchmark: native `mysql <` vs `migrate run`, same dump, same fresh server.

    python bench/migrate.py                 # ~30 MB dump, a couple of minutes
    python bench/migrate.py --size-mb 650   # the DESIGN §5 reference size
    python bench/migrate.py --soak 200      # exactly-once soak: 200 kill -9 + --resume, then verify

Generates a deterministic mysqldump-style dump (one extended INSERT per line, ~1 MB each, raw
BLOB bytes, escapes, emoji, NULLs, a keyless table), starts a throwaway MariaDB with fixed
settings, loads the dump with each client into its own empty database over TCP, and prints wall
time, rows/s, the client's peak RSS and CPU, the server's CPU, the ratio, and the splitter's MB/s.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from migrate.splitter import split  # noqa: E402
from migrate.verify import compare  # noqa: E402
from tests.servers.mariadb import (  # noqa: E402
    PASSWORD, USER, CheckpointPoller, MariaDB, install_template, missing_binaries)

SERVER_SETTINGS = ("--innodb-buffer-pool-size=1G", "--innodb-log-file-size=256M",
                   "--innodb-flush-log-at-trx-commit=2", "--log-bin=binlog", "--server-id=1",
                   "--max-allowed-packet=64M", "--log-bin-trust-function-creators=1")
STATEMENT_BYTES = 1_000_000
HEADER = b"""-- deterministic benchmark dump (bench/migrate.py)
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
"""
TABLES = {
    "orders": b"""CREATE TABLE `orders` (
  `id` bigint NOT NULL, `customer_id` int NOT NULL, `status` enum('new','paid','shipped') NOT NULL,
  `total` decimal(10,2) DEFAULT NULL, `note` varchar(200) DEFAULT NULL, `created` datetime NOT NULL,
  PRIMARY KEY (`id`), KEY `customer` (`customer_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    "events": b"""CREATE TABLE `events` (
  `id` bigint NOT NULL, `kind` varchar(20) NOT NULL, `payload` text, `at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    "blobs": b"""CREATE TABLE `blobs` (
  `id` bigint NOT NULL, `data` blob, PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    "logs": b"""CREATE TABLE `logs` (
  `ts` datetime NOT NULL, `level` tinyint NOT NULL, `message` varchar(255) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
}
SHARE = {"orders": 0.4, "events": 0.3, "blobs": 0.15, "logs": 0.15}
_ESCAPES = {b"\x00": b"\\0", b"'": b"\\'", b'"': b'\\"', b"\\": b"\\\\", b"\n": b"\\n", b"\r": b"\\r",
            b"\x1a": b"\\Z"}


def escape(value: bytes) -> bytes:
    return b"".join(_ESCAPES.get(value[i:i + 1], value[i:i + 1]) for i in range(len(value)))


def string_pool(rnd: random.Random, size: int, binary: bool) -> list[bytes]:
    words = ["order", "paid", "it's", 'say "hi"', "back\\slash", "semi;colon", "naïve", "😀", "DEFINER=x",
             "line\nbreak", "tab\t", "50%", "(paren)", "),(", "-- dash"]
    pool = []
    for _ in range(size):
        if binary:
            pool.append(escape(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(50, 300)))))
        else:
            pool.append(escape(" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 15))).encode()))
    return pool


def generate(path: Path, size_mb: int, seed: int = 20261129) -> dict[str, int]:
    """Write the dump; return rows per table. Same seed and size, same bytes."""
    rnd = random.Random(seed)
    texts, blobs = string_pool(rnd, 4000, False), string_pool(rnd, 2000, True)
    rows: dict[str, int] = {}
    target = size_mb * 1_000_000
    with path.open("wb") as out:
        out.write(HEADER)
        for table, ddl in TABLES.items():
            out.write(b"DROP TABLE IF EXISTS `%s`;\n%s;\n" % (table.encode(), ddl))
            out.write(b"LOCK TABLES `%s` WRITE;\n" % table.encode())
            budget, n = int(target * SHARE[table]), 0
            while budget > 0:
                tuples, size = [], 0
                while size < STATEMENT_BYTES:
                    n += 1
                    t = _row(table, n, rnd, texts, blobs)
                    tuples.append(t)
                    size += len(t) + 1
                line = b"INSERT INTO `%s` VALUES %s;\n" % (table.encode(), b",".join(tuples))
                out.write(line)
                budget -= len(line)
            out.write(b"UNLOCK TABLES;\n")
            rows[table] = n
        out.write(b"/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n")
    return rows


def _row(table: str, n: int, rnd: random.Random, texts: list[bytes], blobs: list[bytes]) -> bytes:
    day = b"2024-%02d-%02d %02d:%02d:%02d" % (n % 12 + 1, n % 28 + 1, n % 24, n % 60, (n * 7) % 60)
    if table == "orders":
        total = b"NULL" if n % 17 == 0 else b"%d.%02d" % (rnd.randrange(100000), n % 100)
        return b"(%d,%d,'%s',%s,'%s','%s')" % (n, rnd.randrange(1, 50000), (b"new", b"paid", b"shipped")[n % 3],
                                               total, rnd.choice(texts), day)
    if table == "events":
        return b"(%d,'kind%d','%s','%s')" % (n, n % 13, rnd.choice(texts), day)
    if table == "blobs":
        return b"(%d,'%s')" % (n, rnd.choice(blobs))
    return b"('%s',%d,'%s')" % (day, n % 5, rnd.choice(texts))


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's own high-water RSS. (wait4's ru_maxrss would include the pages this parent
    had when it forked the client.)"""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_client(args: list[str], server: MariaDB, env: dict[str, str], stdin_path: Path | None) -> dict[str, float]:
    """Run a client to completion: wall time, its peak RSS and CPU, and the server's CPU meanwhile."""
    cpu_before = server_cpu(server.process.pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with (stdin_path.open("rb") if stdin_path else open(os.devnull, "rb")) as stdin, \
            tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, env=env)
        rss = 0.0
        while proc.poll() is None:
            try:
                rss = max(rss, peak_rss_mb(proc.pid))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
            time.sleep(0.05)
        wall = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            out.seek(0)
            sys.exit(f"{args[0]} failed:\n{out.read().decode(errors='replace')[-3000:]}")
    client_cpu = usage.ru_utime + usage.ru_stime - children.ru_utime - children.ru_stime
    return {"wall": wall, "rss_mb": rss, "client_cpu": client_cpu,
            "server_cpu": server_cpu(server.process.pid) - cpu_before}


def splitter_speed(path: Path) -> float:
    """MB/s of CPU time, streaming from the file: this machine is shared, wall time is not ours."""
    started = time.process_time()
    with path.open("rb") as f:
        for _ in split(f.read):
            pass
    return path.stat().st_size / (time.process_time() - started) / 1e6


def check_counts(server: MariaDB, database: str, rows: dict[str, int]) -> None:
    with server.root_connection(database) as conn, conn.cursor() as cur:
        for table, expected in rows.items():
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            got = cur.fetchone()[0]
            if got != expected:
                sys.exit(f"{database}: {table} has {got} rows, expected {expected}")


def soak(dump: Path, root: Path, template: Path, kills: int, seed: int) -> None:
    """kill -9 ``migrate run`` at seeded points (chosen from its checkpoint, so they land wherever
    the load is), resume each time, and compare every table's content with a native load."""
    env = {**os.environ, "MYSQL_PWD": PASSWORD, "MIGRATE_TARGET_PASSWORD": PASSWORD}
    server = MariaDB("soak", root, SERVER_SETTINGS)
    server.start(template)
    try:
        server.create_database("reference")
        run_client(["mariadb", "--no-defaults", f"--socket={server.socket_path}", "-uroot",
                    "--default-character-set=utf8mb4", "reference"], server, env, dump)
        with dump.open("rb") as f:
            total = sum(1 for _ in split(f.read))
        rnd, landed, cycles = random.Random(seed), 0, 0
        poller = CheckpointPoller(server, "soaked")
        server.create_database("soaked")
        while landed < kills:
            done = poller.statement()
            if done >= total:  # killed after its last commit: nothing left to interrupt
                cycles += 1
                server.create_database("soaked")
                poller.conn = None
                continue
            proc = subprocess.Popen([sys.executable, "-c", "from migrate.cli import main; main()", "run", str(dump),
                                     "--target", server.url("soaked"), "--resume"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            if poller.wait(proc, rnd.randrange(done + 1, total + 1)):
                proc.send_signal(signal.SIGKILL)
                landed += 1
            _, err = proc.communicate()
            if proc.returncode not in (0, -signal.SIGKILL):
                sys.exit(f"resume failed after {landed} kills:\n{err.decode(errors='replace')}")
            if proc.returncode == 0:  # finished before the kill point: start over for more kills
                cycles += 1
                server.create_database("soaked")
                poller.conn = None
        final = subprocess.run([sys.executable, "-c", "from migrate.cli import main; main()", "run", str(dump),
                                "--target", server.url("soaked"), "--resume"], capture_output=True, env=env)
        if final.returncode != 0:
            sys.exit(f"final resume failed:\n{final.stdout.decode()}{final.stderr.decode()}")
        with server.root_connection("reference") as ref, server.root_connection("soaked") as got:
            verdicts = compare(ref, got)
    finally:
        server.stop()
    bad = [v.table for v in verdicts if not v.match]
    print(f"soak: {landed} kills over {cycles + 1} loads of a {total}-statement dump; "
          f"{len(verdicts)} tables compared with a native load: " + (f"MISMATCH in {bad}" if bad else "all equal"))
    if bad:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=30, help="dump size (default 30; ≥ 500 for the real figure)")
    parser.add_argument("--soak", type=int, metavar="KILLS", help="run the exactly-once soak instead")
    parser.add_argument("--dump", type=Path, help="with --soak: this dump instead of a generated one")
    parser.add_argument("--seed", type=int, default=1, help="with --soak: seed for the kill points")
    parser.add_argument("--jobs", type=int, default=2, help="migrate run --jobs (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (dump, datadir)")
    options = parser.parse_args()
    if missing_binaries():
        sys.exit(f"missing: {', '.join(missing_binaries())}")
    root = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    dump = options.dump or root / "dump.sql"
    if options.soak and options.dump:
        rows = {}
    else:
        started = time.perf_counter()
        rows = generate(dump, options.size_mb)
        print(f"dump: {dump.stat().st_size / 1e6:.0f} MB, {sum(rows.values()):,} rows in {len(rows)} tables "
              f"(generated in {time.perf_counter() - started:.0f} s)")
    if options.soak:
        try:
            soak(dump, root, install_template(root), options.soak, options.seed)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    total_rows = sum(rows.values())
    print(f"splitter: {splitter_speed(dump):.0f} MB/s of CPU time (in-process, streaming the file)")

    template = install_template(root)
    env = {**os.environ, "MYSQL_PWD": PASSWORD, "MIGRATE_TARGET_PASSWORD": PASSWORD}
    results = {}
    try:
        for name in ("native", "migrate"):
            # A fresh server per client: the second load must not pay for the first one's purge
            # and page flushing.
            server = MariaDB(name, root, SERVER_SETTINGS)
            server.start(template)
            try:
                server.create_database(name)
                if name == "native":
                    args = ["mariadb", "--no-defaults", "--protocol=TCP", "-h127.0.0.1", f"-P{server.port}",
                            f"-u{USER}", "--default-character-set=utf8mb4", name]
                    results[name] = run_client(args, server, env, dump)
                else:
                    args = [sys.executable, "-c", "from migrate.cli import main; main()", "run", str(dump),
                            "--target", server.url(name), "--jobs", str(options.jobs)]
                    results[name] = run_client(args, server, env, None)
                check_counts(server, name, rows)
            finally:
                server.stop()
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)

    print("server: a fresh MariaDB per client, " + " ".join(SERVER_SETTINGS) + "; both over TCP loopback; "
          f"migrate --jobs {options.jobs}")
    print(f"{'client':<8} {'wall s':>8} {'rows/s':>10} {'peak RSS MB':>12} {'client CPU s':>13} {'server CPU s':>13}")
    for name, r in results.items():
        print(f"{name:<8} {r['wall']:>8.1f} {total_rows / r['wall']:>10,.0f} {r['rss_mb']:>12.0f} "
              f"{r['client_cpu']:>13.1f} {r['server_cpu']:>13.1f}")
    ratio = results["migrate"]["wall"] / results["native"]["wall"]
    print(f"ratio migrate/native wall time: {ratio:.2f} ({1 / ratio:.2f}x the native speed); "
          "migrate's time includes its prescan and the COUNT(*) verification")


if __name__ == "__main__":
    main()
