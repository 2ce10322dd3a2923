"""Side-by-side load benchmark: native `mysql <`, myloader and `migrate run`, same dump, same server settings.

    python bench/migrate.py                        # ~30 MB dump, a few minutes
    python bench/migrate.py --size-mb 650          # the DESIGN §5 reference size
    python bench/migrate.py --size-mb 650 --rounds 3   # every client 3 times, interleaved; medians
    python bench/migrate.py --skip-myloader        # native vs migrate only (no mydumper package)
    python bench/migrate.py --crlf                 # also a CRLF copy of the dump (Windows, Workbench)
    python bench/migrate.py --rss-sizes 100,1000   # migrate's peak RSS per dump size: flat, or exit 1
    python bench/migrate.py --soak 200             # exactly-once soak: 200 kill -9 + --resume, then verify
    python bench/migrate.py --size-mb 92 --link 100mbit:20ms --link 20mbit:40ms --rounds 3 --rtt-cost
                                                   # mariadb <, mariadb --compress < and migrate run over
                                                   # emulated links (bench/link.py) and on loopback

Generates a deterministic mysqldump-style dump (one extended INSERT per line, ~1 MB each, raw
BLOB bytes, escapes, emoji, NULLs, a keyless table), starts a throwaway MariaDB with fixed
settings per client, loads the dump with each client into an empty database over TCP, and prints wall
time, rows/s, the client's peak RSS and CPU, the server's CPU, the ratios, migrate's phase timings
and the splitter's MB/s. myloader restores a mydumper export of the native load (made untimed),
with --enable-binlog like the others (RDS needs the binary log), and informationally without it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.link import Link, LinkSpec  # noqa: E402
from migrate.checkpoint import TABLE  # noqa: E402
from migrate.splitter import split  # noqa: E402
from migrate.verify import compare  # noqa: E402
from tests.servers.mariadb import PASSWORD, USER, CheckpointPoller, MariaDB, install_template, missing_binaries  # noqa: E402

SERVER_SETTINGS = (
    "--innodb-buffer-pool-size=1G",
    "--innodb-log-file-size=256M",
    "--innodb-flush-log-at-trx-commit=2",
    "--log-bin=binlog",
    "--server-id=1",
    "--max-allowed-packet=64M",
    "--log-bin-trust-function-creators=1",
)
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
MYDUMPER_BINARIES = ("mydumper", "myloader")
PHASES = ("prescan", "load", "verify")
RSS_LIMIT_MB = 150
SHARE = {"orders": 0.4, "events": 0.3, "blobs": 0.15, "logs": 0.15}
_ESCAPES = {b"\x00": b"\\0", b"'": b"\\'", b'"': b'\\"', b"\\": b"\\\\", b"\n": b"\\n", b"\r": b"\\r", b"\x1a": b"\\Z"}


def escape(value: bytes) -> bytes:
    return b"".join(_ESCAPES.get(value[i : i + 1], value[i : i + 1]) for i in range(len(value)))


def string_pool(rnd: random.Random, size: int, binary: bool) -> list[bytes]:
    words = [
        "order",
        "paid",
        "it's",
        'say "hi"',
        "back\\slash",
        "semi;colon",
        "naïve",
        "😀",
        "DEFINER=x",
        "line\nbreak",
        "tab\t",
        "50%",
        "(paren)",
        "),(",
        "-- dash",
    ]
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
        return b"(%d,%d,'%s',%s,'%s','%s')" % (
            n,
            rnd.randrange(1, 50000),
            (b"new", b"paid", b"shipped")[n % 3],
            total,
            rnd.choice(texts),
            day,
        )
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
    with stdin_path.open("rb") if stdin_path else open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as out:
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
            name = "migrate run" if args[0] == sys.executable else args[0]
            sys.exit(f"{name} failed:\n{out.read().decode(errors='replace')[-3000:]}")
    client_cpu = usage.ru_utime + usage.ru_stime - children.ru_utime - children.ru_stime
    return {
        "wall": wall,
        "rss_mb": rss,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu(server.process.pid) - cpu_before,
    }


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
        run_client(
            [
                "mariadb",
                "--no-defaults",
                f"--socket={server.socket_path}",
                "-uroot",
                "--default-character-set=utf8mb4",
                "reference",
            ],
            server,
            env,
            dump,
        )
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
            proc = subprocess.Popen(
                migrate_args(server, "soaked", dump, "--resume"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
            )
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
        final = subprocess.run(
            migrate_args(server, "soaked", dump, "--resume"), capture_output=True, env=env, check=False
        )
        if final.returncode != 0:
            sys.exit(f"final resume failed:\n{final.stdout.decode()}{final.stderr.decode()}")
        with server.root_connection("reference") as ref, server.root_connection("soaked") as got:
            verdicts = compare(ref, got)
        reference = server.table_definitions("reference")
        keys_differ = sorted(
            table
            for table, definition in server.table_definitions("soaked", (TABLE,)).items()
            if definition != reference.get(table)
        )
    finally:
        server.stop()
    bad = [v.table for v in verdicts if not v.match] + [f"{t} (definition)" for t in keys_differ]
    print(
        f"soak: {landed} kills over {cycles + 1} loads of a {total}-statement dump; {len(verdicts)} tables' "
        "rows and definitions compared with a native load: " + (f"MISMATCH in {bad}" if bad else "all equal")
    )
    if bad:
        sys.exit(1)


def missing_myloader() -> list[str]:
    """Checked on PATH, not in /usr/sbin: the Debian package puts both in /usr/bin."""
    return [name for name in MYDUMPER_BINARIES if shutil.which(name) is None]


@contextmanager
def fresh_server(name: str, root: Path, template: Path, keep: bool) -> Iterator[MariaDB]:
    """A fresh server per load: no load pays for an earlier one's purge and page flushing. Its
    directory goes when it stops, unless kept: at the reference size each one holds gigabytes."""
    server = MariaDB(name, root, SERVER_SETTINGS)
    server.start(template)
    try:
        yield server
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(root / name, ignore_errors=True)


def timed_load(
    server: MariaDB, database: str, args: list[str], env: dict[str, str], stdin_path: Path | None, rows: dict[str, int]
) -> dict[str, float]:
    server.create_database(database)
    result = run_client(args, server, env, stdin_path)
    check_counts(server, database, rows)
    return result


def native_args(server: MariaDB, database: str, *flags: str, port: int | None = None) -> list[str]:
    return [
        "mariadb",
        "--no-defaults",
        "--protocol=TCP",
        "-h127.0.0.1",
        f"-P{port or server.port}",
        f"-u{USER}",
        "--default-character-set=utf8mb4",
        *flags,
        database,
    ]


def migrate_args(
    server: MariaDB, database: str, dump: Path, *flags: str, port: int | None = None, checkout: Path | None = None
) -> list[str]:
    """``migrate run``, from ``checkout`` (another worktree, for a baseline) instead of this one if given."""
    code = "from migrate.cli import main; main()"
    if checkout is not None:
        code = f"import sys; sys.path.insert(0, {str(checkout)!r}); " + code
    return [
        sys.executable,
        "-c",
        code,
        "run",
        str(dump),
        "--target",
        f"mysql+pymysql://{USER}@127.0.0.1:{port or server.port}/{database}",
        *flags,
    ]


def myloader_args(server: MariaDB, directory: Path, database: str, jobs: int, binlog: bool) -> list[str]:
    """The password comes from MYSQL_PWD in the environment, never the command line."""
    return [
        "myloader",
        "-d",
        str(directory),
        "-t",
        str(jobs),
        "-B",
        database,
        "-h",
        "127.0.0.1",
        "-P",
        str(server.port),
        "-u",
        USER,
        *(["--enable-binlog"] if binlog else []),
    ]


def export(server: MariaDB, database: str, directory: Path) -> str:
    """mydumper ``database`` into ``directory`` as root over the socket (untimed); a line saying so."""
    started = time.perf_counter()
    done = subprocess.run(
        ["mydumper", "-S", server.socket_path, "-u", "root", "-B", database, "-o", str(directory), "-t", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"mydumper failed:\n{done.stdout.decode(errors='replace')[-3000:]}")
    files = [f for f in directory.iterdir() if f.is_file()]
    return (
        f"mydumper: exported `{database}` in {time.perf_counter() - started:.0f} s (untimed): "
        f"{len(files)} files, {sum(f.stat().st_size for f in files) / 1e6:.0f} MB"
    )


def crlf_copy(dump: Path, copy: Path) -> None:
    """``dump`` with CRLF line endings, as mysqldump on Windows and Workbench write it. The generated
    dump escapes every newline inside its values, so each raw LF is a line ending."""
    with dump.open("rb") as src, copy.open("wb") as out:
        while chunk := src.read(8 << 20):
            out.write(chunk.replace(b"\n", b"\r\n"))


def crlf_text(results: dict[str, dict[str, float]]) -> str:
    lf, crlf = results["migrate"]["wall"], results["migrate (CRLF)"]["wall"]
    return (
        f"CRLF line endings: {crlf:.1f} s against {lf:.1f} s for the same dump with LF "
        f"({100 * (crlf / lf - 1):+.1f} %; the target is within 5 %)"
    )


def phases_text(report: dict) -> str:
    """migrate's phase timings and LOAD DATA share, from its --report JSON."""
    timings, load_data = report["timings"], report["load_data"]
    total = sum(timings[name] for name in PHASES)
    return (
        "migrate phases: "
        + ", ".join(f"{name} {timings[name]:.1f} s" for name in PHASES)
        + f" (verification = {100 * timings['verify'] / total:.0f} % of the total, last round); "
        f"{load_data['rows']:,} rows as LOAD DATA LOCAL, {load_data['batches_resent']} batches re-sent as INSERTs"
    )


def ratio_text(results: dict[str, dict[str, float]]) -> str:
    migrate = results["migrate"]["wall"]
    text = f"speed-up (wall time of the other / migrate's): {results['native']['wall'] / migrate:.2f}x native"
    if "myloader" in results:
        text += f", {results['myloader']['wall'] / migrate:.2f}x myloader (--enable-binlog)"
    return text + "; migrate's time includes its prescan and the COUNT(*) verification"


def side_by_side(
    dump: Path, rows: dict[str, int], root: Path, template: Path, options: argparse.Namespace, env: dict[str, str]
) -> None:
    exported, report = root / "mydumper", root / "migrate-report.json"
    rounds: list[dict[str, dict[str, float]]] = []
    for round_ in range(1, options.rounds + 1):
        # Each round loads with every client in turn, so a slow spell of the shared machine lands on
        # all of them alike; the table shows medians.
        results: dict[str, dict[str, float]] = {}
        with fresh_server(f"native-{round_}", root, template, options.keep) as server:
            results["native"] = timed_load(server, "native", native_args(server, "native"), env, dump, rows)
            if not options.skip_myloader and round_ == 1:
                print(export(server, "native", exported))
        if not options.skip_myloader:
            for label, name, binlog in (
                ("myloader", "myloader", True),
                ("myloader (binlog off)", "myloader-nobinlog", False),
            ):
                with fresh_server(f"{name}-{round_}", root, template, options.keep) as server:
                    args = myloader_args(server, exported, "myloader", options.jobs, binlog)
                    results[label] = timed_load(server, "myloader", args, env, None, rows)
        loads = [("migrate", "migrate", dump, ("--report", str(report)))]
        if options.crlf:
            # Whichever load follows the native server's shutdown shares the disk with its cleanup:
            # the order alternates per round so that neither line ending always pays for it.
            loads.insert(round_ % 2, ("migrate (CRLF)", "migrate-crlf", root / "dump-crlf.sql", ()))
        for label, name, path, flags in loads:
            with fresh_server(f"{name}-{round_}", root, template, options.keep) as server:
                args = migrate_args(server, "migrate", path, "--jobs", str(options.jobs), *flags)
                results[label] = timed_load(server, "migrate", args, env, None, rows)
        if options.rounds > 1:
            print(
                f"round {round_}: "
                + ratio_text(results).split(";")[0]
                + (f"; {crlf_text(results).split(' (')[0]}" if options.crlf else ""),
                flush=True,
            )
        rounds.append(results)
    results = {
        name: {metric: statistics.median(r[name][metric] for r in rounds) for metric in rounds[0][name]}
        for name in rounds[0]
    }

    total_rows = sum(rows.values())
    print(
        "server: a fresh MariaDB per client, " + " ".join(SERVER_SETTINGS) + "; all over TCP loopback; "
        f"migrate --jobs {options.jobs}" + ("" if options.skip_myloader else f", myloader -t {options.jobs}")
    )
    if options.skip_myloader:
        print("myloader: the comparison did not run (--skip-myloader)")
    else:
        print(
            "myloader: --enable-binlog keeps the restore in the binary log, as `mariadb <` and `migrate run` do "
            'and as RDS requires; "binlog off" is its default (SET SQL_LOG_BIN=0, which RDS\'s master user '
            "cannot do), for information only"
        )
    if options.rounds > 1:
        print(f"median of {options.rounds} rounds:")
    print(f"{'client':<21} {'wall s':>8} {'rows/s':>10} {'peak RSS MB':>12} {'client CPU s':>13} {'server CPU s':>13}")
    for name, r in results.items():
        print(
            f"{name:<21} {r['wall']:>8.1f} {total_rows / r['wall']:>10,.0f} {r['rss_mb']:>12.0f} "
            f"{r['client_cpu']:>13.1f} {r['server_cpu']:>13.1f}"
        )
    print(ratio_text(results))
    if options.crlf:
        print(crlf_text(results))
    print(phases_text(json.loads(report.read_text())))


LINK_GOAL = 1.5  # issue 21: migrate run at least this much faster than mariadb --compress on every link


def link_clients(
    options: argparse.Namespace, dump: Path, report: Path, remote: bool
) -> list[tuple[str, Callable[[MariaDB, int], list[str]], Path | None]]:
    """(label, args for a server reached at a port, stdin) of each client timed on one path. Through
    the emulator the target is a loopback port, so migrate is told what --compress auto would pick
    for a remote MariaDB."""
    jobs = ("--jobs", str(options.jobs)) if options.jobs else ()
    clients = [
        ("mariadb <", lambda server, port: native_args(server, "db", port=port), dump),
        ("mariadb --compress <", lambda server, port: native_args(server, "db", "--compress", port=port), dump),
        (
            "migrate run",
            lambda server, port: migrate_args(
                server,
                "db",
                dump,
                *jobs,
                "--compress",
                "zlib" if remote else "auto",
                "--report",
                str(report),
                port=port,
            ),
            None,
        ),
    ]
    if not remote and options.baseline:
        clients.append(
            (
                "migrate run (baseline)",
                lambda server, port: migrate_args(server, "db", dump, *jobs, port=port, checkout=options.baseline),
                None,
            )
        )
    return clients


def link_load(
    server: MariaDB,
    spec: LinkSpec | None,
    args: Callable[[MariaDB, int], list[str]],
    stdin: Path | None,
    env: dict[str, str],
    rows: dict[str, int],
) -> dict[str, float]:
    """One timed load, through a fresh emulated link unless ``spec`` is None (loopback)."""
    if spec is None:
        return {**timed_load(server, "db", args(server, server.port), env, stdin, rows), "up": 0.0, "down": 0.0}
    with Link(spec, ("127.0.0.1", server.port)) as link:
        result = timed_load(server, "db", args(server, link.port), env, stdin, rows)
        return {**result, "up": link.bytes_up / 1e6, "down": link.bytes_down / 1e6}


def over_links(
    dump: Path, rows: dict[str, int], root: Path, template: Path, options: argparse.Namespace, env: dict[str, str]
) -> bool:
    """Every client on loopback and through every link, a fresh server per load, clients in a rotating
    order per round; medians. True when migrate meets the goal on every link."""
    report = root / "migrate-report.json"
    paths: list[tuple[str, LinkSpec | None]] = [("loopback", None)] + [(str(spec), spec) for spec in options.link]
    rounds: list[dict[tuple[str, str], dict[str, float]]] = []
    for round_ in range(options.rounds):
        results: dict[tuple[str, str], dict[str, float]] = {}
        for name, spec in paths:
            loads = [
                (label, spec, args, stdin)
                for label, args, stdin in link_clients(options, dump, report, spec is not None)
            ]
            if spec is not None and options.rtt_cost and spec.rtt:
                no_delay = LinkSpec(spec.rate_bps, 0.0)
                loads.append((f"migrate run @ {no_delay}", no_delay, *loads[-1][2:]))
            turn = round_ % len(loads)
            for label, load_spec, args, stdin in loads[turn:] + loads[:turn]:
                with fresh_server(f"link-{len(results)}-{round_}", root, template, options.keep) as server:
                    results[(name, label)] = link_load(server, load_spec, args, stdin, env, rows)
            print(
                f"round {round_ + 1} {name}: "
                + ", ".join(f"{label} {r['wall']:.1f} s" for (path, label), r in results.items() if path == name),
                flush=True,
            )
        rounds.append(results)
    medians = {
        key: {metric: statistics.median(r[key][metric] for r in rounds) for metric in rounds[0][key]}
        for key in rounds[0]
    }
    print(
        f"server: a fresh MariaDB per load, {' '.join(SERVER_SETTINGS)}; "
        f"migrate --jobs {options.jobs or '(its default)'}; "
        f"links emulated by bench/link.py (bandwidth shared per direction, RTT/2 each way)"
        + (f"; median of {options.rounds} rounds" if options.rounds > 1 else "")
    )
    met = True
    for name, spec in paths:
        print(f"\n{name}:")
        print(
            f"{'client':<34} {'wall s':>8} {'÷ migrate':>10} {'up MB':>8} {'down MB':>8} {'client CPU s':>13} "
            f"{'peak RSS MB':>12}"
        )
        own = {label: r for (path, label), r in medians.items() if path == name}
        migrate = own["migrate run"]["wall"]
        for label, r in own.items():
            print(
                f"{label:<34} {r['wall']:>8.1f} {r['wall'] / migrate:>10.2f} {r['up']:>8.1f} {r['down']:>8.1f} "
                f"{r['client_cpu']:>13.1f} {r['rss_mb']:>12.0f}"
            )
        if spec is None:
            continue
        speedup = own["mariadb --compress <"]["wall"] / migrate
        met &= speedup >= LINK_GOAL
        text = (
            f"migrate run is {speedup:.2f}x faster than mariadb --compress < (goal ≥ {LINK_GOAL}x: "
            f"{'met' if speedup >= LINK_GOAL else 'NOT met'})"
        )
        if spec.rate_bps:
            floor_s = own["migrate run"]["up"] * 1e6 * 8 / spec.rate_bps
            text += (
                f"; its bytes up take {floor_s:.1f} s at {spec.rate_bps / 1e6:g} Mbit/s: "
                f"wall = {migrate / floor_s:.2f}x that"
            )
        flat = own.get(f"migrate run @ {LinkSpec(spec.rate_bps, 0.0)}")
        if flat:
            text += f"; the {spec.rtt * 1000:g} ms RTT costs {100 * (migrate / flat['wall'] - 1):+.1f} % over 0 ms"
        print(text)
    loop = {label: r["wall"] for (path, label), r in medians.items() if path == "loopback"}
    if "migrate run (baseline)" in loop:
        now, before = loop["migrate run"], loop["migrate run (baseline)"]
        print(
            f"\nloopback: migrate run {now:.1f} s against the baseline's {before:.1f} s "
            f"({100 * (now / before - 1):+.1f} %)"
        )
    return met


def link_spec(text: str) -> LinkSpec:
    try:
        return LinkSpec.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def size_list(text: str) -> list[int]:
    """argparse type for --rss-sizes: comma-separated MB, ascending, each once."""
    try:
        sizes = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of MB") from None
    if len(sizes) < 2 or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least two different sizes, each ≥ 1 MB")
    return sizes


def flat(rss_mb: list[float], limit_mb: float = RSS_LIMIT_MB) -> bool:
    """The highest peak within 15 % (or 15 MB, whichever is larger) of the lowest, and all within the limit."""
    low, high = min(rss_mb), max(rss_mb)
    return high <= low + max(0.15 * low, 15) and high <= limit_mb


def rss_sizes(sizes: list[int], root: Path, template: Path, options: argparse.Namespace, env: dict[str, str]) -> bool:
    """migrate alone at each size, one dump on disk at a time; prints the table as it goes; True if flat."""
    print(f"rss: migrate run --jobs {options.jobs} alone, a fresh MariaDB per size, " + " ".join(SERVER_SETTINGS))
    print(f"{'size MB':>8} {'peak RSS MB':>12} {'wall s':>8} {'rows':>12}")
    peaks = []
    for size in sizes:
        dump = root / f"dump-{size}mb.sql"
        try:
            rows = generate(dump, size)
            with fresh_server(f"rss-{size}mb", root, template, options.keep) as server:
                args = migrate_args(server, "migrate", dump, "--jobs", str(options.jobs))
                r = timed_load(server, "migrate", args, env, None, rows)
        finally:
            if not options.keep:
                dump.unlink(missing_ok=True)
        peaks.append(r["rss_mb"])
        print(f"{size:>8} {r['rss_mb']:>12.0f} {r['wall']:>8.1f} {sum(rows.values()):>12,}", flush=True)
    ok = flat(peaks)
    print(
        f"peak RSS {sizes[0]} MB → {sizes[-1]} MB: {peaks[0]:.0f} → {peaks[-1]:.0f} MB "
        f"(flat: {'yes' if ok else 'no'}, limit {RSS_LIMIT_MB} MB)"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=30, help="dump size (default 30; ≥ 500 for the real figure)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--soak", type=int, metavar="KILLS", help="run the exactly-once soak instead")
    mode.add_argument(
        "--rss-sizes",
        type=size_list,
        metavar="MB,MB,...",
        help=f"instead: migrate alone at each dump size; exit 1 unless its peak RSS is flat and ≤ {RSS_LIMIT_MB} MB",
    )
    parser.add_argument("--dump", type=Path, help="with --soak: this dump instead of a generated one")
    parser.add_argument("--seed", type=int, default=1, help="with --soak: seed for the kill points")
    parser.add_argument(
        "--jobs",
        type=int,
        help="migrate run --jobs and myloader -t (default 2; with --link, migrate's own default: 4 when it compresses)",
    )
    parser.add_argument("--skip-myloader", action="store_true", help="no myloader rows (mydumper not installed)")
    parser.add_argument("--crlf", action="store_true", help="also load a CRLF copy of the dump with migrate")
    parser.add_argument("--rounds", type=int, default=1, help="load with every client this often; report medians")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (dumps, datadirs, mydumper export)")
    parser.add_argument(
        "--link",
        type=link_spec,
        action="append",
        metavar="RATE:RTT[:JITTER]",
        help="instead of the loopback comparison: mariadb <, mariadb --compress < and migrate run on "
        "loopback and through each emulated link (repeatable), e.g. 20mbit:40ms; exit 1 "
        f"unless migrate is ≥ {LINK_GOAL}x faster than mariadb --compress on every link",
    )
    parser.add_argument(
        "--rtt-cost", action="store_true", help="with --link: also time migrate at each link's bandwidth with no delay"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="with --link: also time migrate run from another checkout on loopback "
        "(e.g. a git worktree of main with its C scanner built)",
    )
    options = parser.parse_args()
    if not options.link:
        options.jobs = options.jobs or 2
    if missing_binaries():
        sys.exit(f"missing: {', '.join(missing_binaries())}")
    if not (options.soak or options.rss_sizes or options.skip_myloader or options.link) and missing_myloader():
        sys.exit(
            f"missing on PATH: {', '.join(missing_myloader())}; install Debian's `mydumper` package "
            "(apt-get install mydumper), or pass --skip-myloader"
        )
    root = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    env = {**os.environ, "MYSQL_PWD": PASSWORD, "MIGRATE_TARGET_PASSWORD": PASSWORD}
    if options.rss_sizes:
        try:
            ok = rss_sizes(options.rss_sizes, root, install_template(root), options, env)
        finally:
            if not options.keep:
                shutil.rmtree(root, ignore_errors=True)
        if not ok:
            sys.exit(1)
        return
    dump = options.dump or root / "dump.sql"
    if options.soak and options.dump:
        rows = {}
    else:
        started = time.perf_counter()
        rows = generate(dump, options.size_mb)
        print(
            f"dump: {dump.stat().st_size / 1e6:.0f} MB, {sum(rows.values()):,} rows in {len(rows)} tables "
            f"(generated in {time.perf_counter() - started:.0f} s)"
        )
    if options.soak:
        try:
            soak(dump, root, install_template(root), options.soak, options.seed)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    print(
        f"splitter (statements and row counts): {splitter_speed(dump):.0f} MB/s of CPU time "
        "(in-process, streaming the file)"
    )
    if options.crlf:
        crlf_copy(dump, root / "dump-crlf.sql")
        print(f"splitter on the CRLF copy: {splitter_speed(root / 'dump-crlf.sql'):.0f} MB/s of CPU time")
    try:
        if options.link:
            met = over_links(dump, rows, root, install_template(root), options, env)
        else:
            side_by_side(dump, rows, root, install_template(root), options, env)
            met = True
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)
    if not met:
        sys.exit(1)


if __name__ == "__main__":
    main()
