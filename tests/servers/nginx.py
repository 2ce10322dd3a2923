"""A real nginx round-robin proxy for tests: its own config, prefix, logs and temp paths under a
temp dir, a loopback port, in the foreground (no root-only paths; as root its workers run as nobody).

Upstreams behave like targets of an AWS load balancer before its health check reacts: a request
routed to a dead upstream fails (502, no retry on another), and the upstream then leaves the
rotation (``max_fails=1``) for ``fail_timeout``.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.process import find_binary, free_port, stop_process, wait_ready

CONFIG = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream app {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_next_upstream off;
        }}
    }}
}}
"""


@dataclass
class RoundRobinProxy:
    root: Path
    upstream_ports: list[int]
    fail_timeout: str = "30s"
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 10) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        servers = "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout={self.fail_timeout};" for p in self.upstream_ports
        )
        config = self.root / "nginx.conf"
        config.write_text(CONFIG.format(root=self.root, servers=servers, port=self.port))
        log = self.root / "error.log"
        # -e: nginx opens its compiled-in /var/log path before reading the config otherwise.
        self.process = subprocess.Popen(
            [find_binary("nginx"), "-p", str(self.root), "-c", str(config), "-e", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_ready(
            self, lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close(), OSError, log, timeout
        )

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        self.process = None
