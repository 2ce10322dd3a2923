"""The PM2 ecosystem file for the app's process roles: a pure function of them.

Every-host roles run ``per_host`` copies directly. One-in-fleet roles run on every host as
``fleet-lock lead -- node SCRIPT``: the lock holder runs the script, the others stand by. Only the
``web`` role gets ``NODE_OPTIONS=--require <preload>`` (the X-Instance-Id header).
"""

from __future__ import annotations

from dataclasses import dataclass

from bootstrap.app_boot import ProcessRole

#: PM2 restarts a crashed process after 100 ms, doubling up to 15 s, and never gives up.
RESTART_BACKOFF_MS = 100
#: fleet-lock forwards PM2's stop signal to its command and kills it 10 s later; PM2 must wait for that.
LEAD_KILL_TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Paths:
    """Where things are on the instance (prefixed by a scratch root in tests)."""

    app_dir: str
    log_dir: str
    env_file: str
    preload: str
    fleet_lock: str


def ecosystem(processes: tuple[ProcessRole, ...], paths: Paths) -> dict:
    """``{"apps": [...]}`` as ``pm2 start ecosystem.json`` reads it, one app per process role."""
    return {"apps": [_app(process, paths) for process in processes]}


def _app(process: ProcessRole, paths: Paths) -> dict:
    common = {
        "name": process.name,
        "cwd": paths.app_dir,
        "exec_mode": "fork",
        "autorestart": True,
        "exp_backoff_restart_delay": RESTART_BACKOFF_MS,
        "out_file": f"{paths.log_dir}/{process.name}.out.log",
        "error_file": f"{paths.log_dir}/{process.name}.error.log",
        # Copies of one role share its log files; PM2 would otherwise suffix them with the copy's id.
        "merge_logs": True,
        "time": True,
    }
    if process.one_in_fleet:
        return {
            **common,
            "script": paths.fleet_lock,
            "interpreter": "none",
            "args": [
                "lead",
                "--name",
                process.name,
                "--ttl",
                str(process.lock_ttl),
                "--env-file",
                paths.env_file,
                "--",
                "node",
                process.script,
                *process.args,
            ],
            "instances": 1,
            # fleet-lock stops its command itself and hands the lock over; PM2 signals fleet-lock only.
            "treekill": False,
            "kill_timeout": LEAD_KILL_TIMEOUT_MS,
        }
    app = {**common, "script": process.script, "args": list(process.args), "instances": process.per_host}
    if process.web:
        app["env"] = {"NODE_OPTIONS": f"--require {paths.preload}"}
    return app
