"""``migrate cutover``: switch from the old server to its caught-up replica with writes frozen for seconds.

Steps, each recorded in the target's checkpoint row (the ``cutover`` part of its ``replication``
document) before the next begins, so a rerun after a crash or ``kill -9`` continues where it stopped:

1. wait until the replica is at most ``max_lag`` seconds behind (nothing frozen yet);
   ``ahead``: verify every table exactly at one position of the source's binary log while the app still
   writes (``verify_ahead``); a difference there refuses the cutover before any freeze;
2. ``freezing``: note the source's read_only settings, then freeze it (read_only, and super_read_only
   on MySQL); a user without the privilege is asked to stop the app instead, and confirm;
3. ``frozen`` → ``final``: record the source's final position once its binary log stops moving;
4. ``applied``: wait until the target has executed exactly that position;
5. ``stopped``: stop replication (not yet reset: a failed verify can still resume it);
6. ``verified``: exact counts and checksums of the tables the binary log shows written since the check
   ahead (of every table when there was none, or when the log holds a statement naming no table);
7. ``done``: reset replication; the target is a server of its own. The write freeze ends here.

Any failure before ``done`` puts the source back as it was (read-write), resumes replication if this
command stopped it, forgets the attempt and says so: the next run starts a fresh attempt.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pymysql

from migrate import binlog_source, replica, verify_ahead
from migrate.connection import error_text
from migrate.coordinates import Coordinates
from migrate.errors import EXIT_MISMATCH, EXIT_OK, MigrateError, PreflightFailed
from migrate.replication import Link, behind
from migrate.report import verdict_table, write_json
from migrate.verify import TableVerdict

CONFIRMATION = "frozen"
IN_FLIGHT = 1 << 20  # bytes of the source's binary log a current replica may not have fetched yet
STEPS = ("freezing", "frozen", "final", "applied", "stopped", "verified", "done")
AHEAD = "ahead"  # before the freeze: the target's applier may be stopped at the check's position
ABORTING = (
    MigrateError,
    replica.ReplicationBroken,
    binlog_source.NotPermitted,
    pymysql.err.MySQLError,
    KeyboardInterrupt,
)


class CutoverRefused(MigrateError):
    """The cutover stopped before the switch; the message says what was put back."""

    exit_code = EXIT_MISMATCH


@dataclass(frozen=True)
class CutoverOptions:
    max_lag: float = 1.0
    timeout: float = 300.0
    ask: Callable[[str], str] = input  # the operator's answer to a question
    report_path: str | None = None


class Cutover:
    def __init__(self, link: Link, options: CutoverOptions, say: Callable[..., None]) -> None:
        self.link = link
        self.options = options
        self.say = say
        self.verdicts: list[TableVerdict] = []
        self.cut: dict = {}  # the attempt as last recorded in the target

    def run(self) -> int:
        link = self.link
        cut = link.state().get("cutover") or {}
        if cut.get("step") == "done":
            self.say("the cutover is already done")
            return self._report(cut)
        if not cut or cut["step"] == AHEAD:
            if cut:
                replica.run(link.target, replica.start(link.target_facts))
                self.say(
                    "migrate: the last attempt stopped in its check ahead, where the target's applier may "
                    "have stayed stopped: replication resumed, checking again",
                    err=True,
                )
            self._catch_up()
            try:
                ahead = self._ahead()
                if ahead:  # the applier stood still while the check ran: let it catch up before freezing
                    self._catch_up()
            except ABORTING as e:
                self._abort(self.cut, _reason(e))
            previous = binlog_source.read_only_state(link.source, link.source_facts)
            cut = self._save({"step": "freezing", "previous": previous, "started_at": time.time(), "ahead": ahead})
        else:
            self.cut = cut
            self.say(f"migrate: continuing the cutover from step {cut['step']!r}", err=True)
        steps = {
            "freezing": self._freeze,
            "frozen": self._final,
            "final": self._applied,
            "applied": self._stop,
            "stopped": self._verify,
            "verified": self._switch,
        }
        try:
            if cut["step"] != "freezing":
                cut = self._refreeze(cut)
            while cut["step"] != "done":
                cut = self._save(steps[cut["step"]](cut))
        except ABORTING as e:
            self._abort(self.cut, _reason(e))
        return self._report(cut)

    # -- before the freeze -------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """Wait until the replica is within ``max_lag`` seconds; nothing is frozen while this runs."""
        link, options = self.link, self.options
        deadline, shown, lag = time.monotonic() + options.timeout, 0.0, Lag()
        while True:
            source = binlog_source.position(link.source, link.source_facts)
            now = link.status()
            if now is None or not link.ours(now):
                raise PreflightFailed(
                    "the target does not replicate from the source: run migrate replicate start "
                    "first; nothing was frozen, the source stays read-write"
                )
            if now.error:
                raise CutoverRefused(
                    f"replication fails on the target: {now.error}; nothing was frozen, the source stays read-write"
                )
            if now.sql_running != "Yes" or now.io_running == "No":
                raise CutoverRefused(
                    "replication is stopped on the target: start it with migrate replicate start; "
                    "nothing was frozen, the source stays read-write"
                )
            seconds = lag.observe(time.monotonic(), (source.log_file, source.log_pos), (now.exec_file, now.exec_pos))
            read_all = now.read_file == source.log_file and source.log_pos - now.read_pos <= IN_FLIGHT
            if seconds is None and read_all:
                seconds = now.seconds_behind  # meaningful once the replica has fetched what the source wrote
            if now.running and seconds is not None and seconds <= options.max_lag:
                return
            if time.monotonic() > deadline:
                raise CutoverRefused(
                    f"the target is still {_seconds(seconds)} behind after {options.timeout:.0f} s "
                    "(--timeout); nothing was frozen, the source stays read-write"
                )
            if time.monotonic() - shown >= 5:
                behind_now = behind(link, now)
                self.say(
                    f"catching up: {_seconds(seconds)} behind"
                    + (f", {behind_now.transactions:,} transactions" if behind_now.transactions is not None else ""),
                    err=True,
                )
                shown = time.monotonic()
            time.sleep(0.2)

    def _ahead(self) -> dict | None:
        """The check ahead, recorded; None (every table verified in the freeze) where it cannot run."""
        why_not = verify_ahead.unsupported(self.link)
        if why_not:
            self.say(f"migrate: no check ahead ({why_not}): every table is verified with writes frozen", err=True)
            return None
        self._save({"step": AHEAD})
        ahead = verify_ahead.check(self.link, self.options.timeout)
        where = f"{ahead.position.log_file}:{ahead.position.log_pos}"
        self.say(verdict_table(ahead.verdicts, f"rows at {where}"))
        bad = [v.table for v in ahead.verdicts if not v.match]
        if bad:
            raise CutoverRefused(
                f"the target differs from the source at {where} (checked ahead, writes on) in {', '.join(bad)}"
            )
        self.say(
            f"checked ahead at {where}, writes on: {len(ahead.verdicts)} tables equal in {ahead.seconds:.2f} s",
            err=True,
        )
        return ahead.as_dict()

    # -- the steps -----------------------------------------------------------------------------------

    def _freeze(self, cut: dict) -> dict:
        try:
            binlog_source.freeze(self.link.source, self.link.source_facts)
            return {**cut, "step": "frozen", "how": "read_only", "frozen_at": time.time()}
        except binlog_source.NotPermitted as e:
            # Measured from the question: the app stops after it, so the figure errs long, never short.
            asked = time.time()
            cut = self._save({**cut, "how": "operator"})
            answer = self.options.ask(
                f"the source user may not set read_only ({e}). Stop every writer of the old server now (the app: "
                f"pm2 stop all; check SHOW PROCESSLIST), then type '{CONFIRMATION}' to continue, anything else to stop"
            )
            if answer.strip().lower() != CONFIRMATION:
                raise CutoverRefused("stopped at the operator's answer") from None
            return {**cut, "step": "frozen", "how": "operator", "frozen_at": asked}

    def _refreeze(self, cut: dict) -> dict:
        """A rerun: freeze again (a restarted source forgets read_only), and if the source moved past the
        recorded final position meanwhile, take a new one, resuming replication if this command stopped it."""
        link = self.link
        if cut.get("how") == "read_only":
            binlog_source.freeze(link.source, link.source_facts)
        final = cut.get("final")
        if final is None:
            return cut
        now = binlog_source.position(link.source, link.source_facts)
        if (now.log_file, now.log_pos) == (final["log_file"], final["log_pos"]):
            return cut
        self.say(
            f"migrate: the source moved past the recorded final position ({final['log_file']}:{final['log_pos']} "
            f"→ {now.log_file}:{now.log_pos}) while no cutover ran: taking a new one",
            err=True,
        )
        if cut["step"] in ("stopped", "verified"):
            replica.run(link.target, replica.start(link.target_facts))
        return self._save({**cut, "step": "frozen", "final": None})

    def _final(self, cut: dict) -> dict:
        final = binlog_source.settled_position(self.link.source, self.link.source_facts, min(self.options.timeout, 30))
        return {**cut, "step": "final", "final": final.as_dict()}

    def _applied(self, cut: dict) -> dict:
        final = Coordinates.from_dict(cut["final"])
        replica.wait_applied(self.link.target, self.link.target_facts, final, self.link.mode, self.options.timeout)
        return {**cut, "step": "applied", "applied_at": time.time()}

    def _stop(self, cut: dict) -> dict:
        replica.run(self.link.target, replica.stop(self.link.target_facts))
        return {**cut, "step": "stopped", "stopped_at": time.time()}

    def _verify(self, cut: dict) -> dict:
        started = time.time()
        only = None
        if cut.get("ahead"):
            only, why = verify_ahead.freeze_scope(self.link, cut["ahead"], Coordinates.from_dict(cut["final"]))
            if only is None:
                self.say(f"migrate: verifying every table with writes frozen: {why}", err=True)
        self.verdicts = self.link.compare(only)
        self.say(verdict_table(self.verdicts, "rows in source"))
        bad = [v.table for v in self.verdicts if not v.match]
        if bad:
            raise CutoverRefused(f"the target differs from the frozen source in {', '.join(bad)}")
        return {
            **cut,
            "step": "verified",
            "verify_started_at": started,
            "verified_at": time.time(),
            "tables": len(self.verdicts),
            "rows": sum(v.actual or 0 for v in self.verdicts),
            "scope": "every table" if only is None else "written since the check ahead",
        }

    def _switch(self, cut: dict) -> dict:
        link, facts = self.link, self.link.target_facts
        replica.run(link.target, replica.reset(facts))
        if link.state().get("filters"):
            replica.run(link.target, replica.clear_filters(facts))
        return {**cut, "step": "done", "done_at": time.time()}

    # -- bookkeeping ---------------------------------------------------------------------------------

    def _save(self, cut: dict) -> dict:
        state = self.link.state()
        self.link.save({**state, "cutover": cut})
        self.cut = cut
        return cut

    def _abort(self, cut: dict, reason: str) -> None:
        """Put back what the attempt changed, forget it, and stop with why."""
        link, told = self.link, [reason]
        frozen = cut.get("step") in STEPS[:-1]
        if frozen and cut.get("how", "read_only") == "read_only":
            try:
                binlog_source.thaw(link.source, cut["previous"])
                told.append("the source is read-write again")
            except pymysql.err.MySQLError as e:
                told.append(
                    f"the source could NOT be put back read-write ({error_text(e)}): run SET GLOBAL "
                    "read_only = OFF on it by hand"
                )
        elif frozen:
            told.append("writes may resume on the old server: start the app there again")
        else:
            told.append("nothing was frozen, the source stays read-write")
        if cut.get("step") in ("stopped", "verified", AHEAD):
            try:
                replica.run(link.target, replica.start(link.target_facts))
                told.append("replication resumed")
            except pymysql.err.MySQLError as e:
                told.append(f"replication could not be resumed ({error_text(e)})")
        try:
            state = link.state()
            link.save({**state, "cutover": None, "last_abort": {"reason": reason, "at": time.time()}})
        except pymysql.err.MySQLError:
            told.append("the target could not record the abort: the next run continues this attempt")
        raise CutoverRefused("cutover refused: " + "; ".join(told))

    def _report(self, cut: dict) -> int:
        freeze = cut["done_at"] - cut["frozen_at"]
        applied = cut["applied_at"] - cut["frozen_at"]
        verify = cut["verified_at"] - cut["verify_started_at"]
        ahead = cut.get("ahead")
        checked = (
            ""
            if not ahead
            else (
                f"; before it, {ahead['tables']} tables checked ahead at {ahead['position']['log_file']}:"
                f"{ahead['position']['log_pos']} in {ahead['seconds']:.2f} s, writes on"
            )
        )
        self.say(
            f"write freeze: {freeze:.2f} s, from the source frozen at {_clock(cut['frozen_at'])} to the target "
            f"verified and on its own at {_clock(cut['done_at'])} (final position "
            f"{cut['final']['log_file']}:{cut['final']['log_pos']} applied after {applied:.2f} s; exact verify "
            f"of {cut['tables']} tables ({cut.get('scope', 'every table')}), {cut['rows']:,} rows, "
            f"{verify:.2f} s{checked})"
        )
        self.say("switch the app to the target now; the old server stays read-only (keep it so for rollback)")
        write_json(
            self.options.report_path,
            {
                "freeze_seconds": round(freeze, 3),
                "applied_seconds": round(applied, 3),
                "verify_seconds": round(verify, 3),
                "final": cut["final"],
                "how": cut["how"],
                "verified_in_freeze": cut.get("scope", "every table"),
                "ahead": ahead,
                "verdicts": [v.as_dict() for v in self.verdicts],
            },
        )
        return EXIT_OK


class Lag:
    """How far behind the replica is in time: how long ago the source stood at the newest of its sampled
    positions the replica has executed. Seconds_Behind_Master alone cannot say: it reads 0 whenever the
    applier has emptied its relay log, also while a backlog is still being fetched (right after a
    start); it is used only until the first sample is applied, and only once the replica has fetched
    nearly all the source wrote."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, tuple[str, int]]] = deque(maxlen=10_000)

    def observe(self, at: float, source: tuple[str, int], executed: tuple[str, int]) -> float | None:
        """Record where the source stands ``at``; the lag, or None while the replica has executed none of
        the sampled positions yet. Binary-log names sort in order (zero-padded numbers)."""
        self.samples.append((at, source))
        applied = [t for t, position in self.samples if position <= executed]
        return at - max(applied) if applied else None


def _seconds(value: float | None) -> str:
    return "an unknown time" if value is None else f"{value:.1f} s"


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S.%f")[:-3] + " UTC"


def _reason(e: BaseException) -> str:
    if isinstance(e, KeyboardInterrupt):
        return "interrupted"
    if isinstance(e, pymysql.err.MySQLError):
        return error_text(e)
    return str(e)
