import io

from migrate.classify import classify
from migrate.plan import DumpSummary, Step
from migrate.progress import Progress, human_bytes, human_duration
from migrate.rows import count_rows
from migrate.splitter import Statement


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def insert(table: str, offset: int, rows: int) -> Step:
    sql = f"INSERT INTO `{table}` VALUES " + ",".join(["(1)"] * rows)
    return Step(Statement(sql.encode(), offset, 1), classify(sql.encode()), sql.encode(), count_rows(sql.encode()))


def test_plain_lines_off_a_terminal_at_each_table_and_interval():
    out, clock, summary = io.StringIO(), Clock(), DumpSummary()
    progress = Progress(lambda offset: offset, 10_000, stream=out, tty=False, interval=10, clock=clock)
    for step, at in ((insert("a", 0, 50), 101), (insert("a", 200, 50), 102), (insert("b", 400, 100), 104)):
        clock.now = at
        summary.observe(step)
        progress(step, summary)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # one per table change; the interval suppressed the second "a" line
    # Done is where the executed statement ends (400 + 422 bytes), not how far the reader got.
    assert lines[1].endswith(" 8% 822 B/10.0 KB ETA 0:00:44  200 rows (50/s)  table b")
    assert "\r" not in out.getvalue()


def test_terminal_redraws_one_line():
    out, clock, summary = io.StringIO(), Clock(), DumpSummary()
    progress = Progress(lambda offset: offset, None, stream=out, tty=True, interval=0.2, clock=clock)
    step = insert("a", 0, 10)
    summary.observe(step)
    clock.now = 101
    progress(step, summary)
    progress.finish(summary)
    assert out.getvalue().startswith("\r\x1b[K")
    assert out.getvalue().endswith("10 rows (10/s)  table a\n")


def test_human_units():
    assert [human_bytes(n) for n in (999, 1000, 12_345_678, 5e12)] == ["999 B", "1.0 KB", "12.3 MB", "5000.0 GB"]
    assert human_duration(3725) == "1:02:05"
