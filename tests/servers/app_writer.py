"""An application's write load, for the replicated-cutover tests and benchmark: bets booked in a
``ledger`` and their DECIMAL stakes moved on ``accounts``, one transaction each, at a steady pace.

It connects as the application's own user (no SUPER), so a frozen source (read_only) refuses its
commits as it would the real app's; those are counted, and it keeps trying.
"""

from __future__ import annotations

import random
import threading
import time

import pymysql

from tests.servers.mariadb import MariaDB

USER, PASSWORD = "app", "app-pw"
ACCOUNTS = 50
READ_ONLY = 1290  # ER_OPTION_PREVENTS_STATEMENT: --read-only


def create_schema(server: MariaDB, database: str) -> None:
    """The writer's tables and user in ``database`` (which exists), as root."""
    with server.root_connection(database) as conn, conn.cursor() as cur:
        for statement in (
            "CREATE TABLE accounts (id INT PRIMARY KEY, balance DECIMAL(14,2) NOT NULL, bets INT NOT NULL)",
            "CREATE TABLE ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, account INT NOT NULL, "
            "amount DECIMAL(12,2) NOT NULL, note VARCHAR(40), at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))",
            f"INSERT INTO accounts SELECT seq, 1000.00, 0 FROM seq_0_to_{ACCOUNTS - 1}",
            f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{USER}'@'127.0.0.1'",
        ):
            cur.execute(statement)


class Writer:
    """Remembers the last ledger id whose COMMIT returned, and when each commit landed. With
    ``orders`` > 0 each transaction also reprices a random one of that many existing orders (the
    benchmark's ``orders`` table), so old rows change too, not only new ones."""

    def __init__(self, server: MariaDB, database: str, rate: float, orders: int = 0) -> None:
        self.server, self.database, self.rate, self.orders = server, database, rate, orders
        self.last_id = 0
        self.commits: list[float] = []
        self.refused = 0  # commits the frozen source turned away
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Writer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._write()
        except BaseException as e:  # noqa: BLE001 - handed to the caller by stop()
            self.error = e

    def _write(self) -> None:
        conn = pymysql.connect(
            host="127.0.0.1",
            port=self.server.port,
            user=USER,
            password=PASSWORD,
            database=self.database,
            autocommit=False,
        )
        rnd = random.Random(18)
        n, due = 0, time.monotonic()
        while not self._stop.is_set():
            n += 1
            amount = f"{(n * 37) % 10000 / 100:.2f}"
            try:
                with conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO ledger (account, amount, note) VALUES (%s, %s, %s)",
                        (n % ACCOUNTS, amount, f"bet {n} ✓"),
                    )
                    booked = cur.lastrowid
                    cur.execute(
                        "UPDATE accounts SET balance = balance - %s, bets = bets + 1 WHERE id = %s",
                        (amount, n % ACCOUNTS),
                    )
                    if self.orders:
                        cur.execute("UPDATE orders SET total = %s WHERE id = %s", (amount, rnd.randint(1, self.orders)))
                conn.commit()
                self.last_id = booked
                self.commits.append(time.monotonic())
            except pymysql.err.OperationalError as e:
                conn.rollback()
                if e.args[0] != READ_ONLY:  # only a freeze may refuse a write
                    raise
                self.refused += 1
            due += 1 / self.rate
            time.sleep(max(0.0, due - time.monotonic()))
        conn.close()

    def achieved(self, since: float, until: float) -> float:
        """Commits per second between two ``time.monotonic()`` readings."""
        return sum(since <= t < until for t in self.commits) / (until - since)

    def wait(self, commits: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.commits) < commits:
            if time.monotonic() > deadline or self._thread is None or not self._thread.is_alive():
                raise RuntimeError(f"the writer committed {len(self.commits)} of {commits} transactions")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop, and raise what stopped the writer early, if anything did."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.error is not None:
            raise self.error
