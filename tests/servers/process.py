"""What every throwaway test server shares: finding its binary, a free loopback port, waiting until
it answers, and stopping it without leaking a process."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def find_binary(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(server, probe, errors, log: Path, timeout: float) -> None:
    """Polls ``probe`` until it stops raising ``errors``. On any failure (the server exits, time
    runs out, the probe itself is broken) stops the server, so no test leaks one, and raises."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                probe()
                return
            except errors:
                if server.process.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    raise RuntimeError(f"{type(server).__name__} did not start:\n{text}") from None
                time.sleep(0.05)
    except BaseException:
        server.stop()
        raise


def stop_process(process: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM, then SIGKILL if the server has not exited within ``timeout`` seconds."""
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for a server on 127.0.0.1, valid a day."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            find_binary("openssl"),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key
