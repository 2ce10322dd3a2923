"""npm packages a test needs (the stand-in app's socket.io, pm2, mysql2, ioredis, dotenv), installed
once per machine from the npm registry into a cache keyed by the package.json's content, so a fresh
CI machine (node + npm + the registry) gets them and later runs reuse them."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "duewin-tests"


class NpmUnavailable(Exception):
    pass


def installed_node_modules(package_json: Path, timeout: float = 600) -> Path:
    """The ``node_modules`` directory holding ``package_json``'s dependencies (installing them if needed)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise NpmUnavailable("node and npm")
    digest = hashlib.sha256(package_json.read_bytes()).hexdigest()[:16]
    home = CACHE / f"node-{digest}"
    done = home / ".installed"
    if done.exists():
        return home / "node_modules"
    staging = CACHE / f"node-{digest}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy(package_json, staging / "package.json")
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=staging,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise NpmUnavailable(f"npm install failed: {result.stderr.strip()[-500:]}")
    (staging / ".installed").touch()
    try:
        staging.rename(home)
    except OSError:  # another run finished first: use its copy
        shutil.rmtree(staging, ignore_errors=True)
    return home / "node_modules"
