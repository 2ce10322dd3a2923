"""Throwaway redis-server for tests (DESIGN §6): its own loopback port and temp dir, nothing saved.

``RedisServer(root, password=..., tls=True)`` also serves AUTH and TLS the way ElastiCache does
(TLS only, no plain port); its self-signed certificate is the CA clients must trust.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.servers.process import find_binary, free_port, self_signed_certificate, wait_ready


@dataclass
class RedisServer:
    root: Path
    password: str | None = None
    tls: bool = False
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def ca_file(self) -> Path:
        return self.root / "cert.pem"

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"{'rediss' if self.tls else 'redis'}://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, **({"ssl_ca_certs": str(self.ca_file)} if self.tls else {}))

    def _tls_args(self) -> list[str]:
        _, key = self_signed_certificate(self.root)  # the certificate is ca_file: cert.pem in root
        return [
            "--port",
            "0",
            "--tls-port",
            str(self.port),
            "--tls-cert-file",
            str(self.ca_file),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(self.ca_file),
            "--tls-auth-clients",
            "no",
        ]

    def start(self, timeout: float = 10) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self._launch(timeout)

    def restart(self, down_for: float = 0.0, timeout: float = 10) -> None:
        """Kill and start again on the same port, empty (nothing is saved), as a node replacement would."""
        self.stop()
        time.sleep(down_for)
        self._launch(timeout)

    def _launch(self, timeout: float) -> None:
        listen = self._tls_args() if self.tls else ["--port", str(self.port)]
        auth = ["--requirepass", self.password] if self.password else []
        log = self.root / "redis.log"
        self.process = subprocess.Popen(
            [
                find_binary("redis-server"),
                *listen,
                *auth,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--logfile",
                str(log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_ready(self, lambda: self.client().ping(), redis.ConnectionError, log, timeout)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        self.process = None
