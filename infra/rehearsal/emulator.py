"""moto's server on a free 127.0.0.1 port, and the fence that keeps terraform from reaching anything else."""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

# Straight to the emulator, whatever proxy the caller's environment names.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_refusing_port() -> socket.socket:
    """A loopback port that is bound but never listens: every connection to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Emulator:
    """moto's server on a free 127.0.0.1 port; ``endpoint``, ``client(service)``, ``terraform_env()``."""

    region: str
    endpoint: str = ""
    _server: object = None
    _fence: socket.socket | None = None

    @contextmanager
    def running(self) -> Iterator[Emulator]:
        from moto.server import ThreadedMotoServer

        # IAM's backend reads this when it is created: AWS-managed policy ARNs exist only with it.
        previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        self._fence = _free_refusing_port()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        try:
            # moto's backends are process-wide: a server started earlier in this process left its state.
            _direct.open(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10)
            yield self
        finally:
            self._server.stop()
            self._fence.close()
            if previous is None:
                os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
            else:
                os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous

    @property
    def fence(self) -> str:
        return f"http://127.0.0.1:{self._fence.getsockname()[1]}"

    def terraform_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            **FAKE_CREDENTIALS,
            "HTTPS_PROXY": self.fence,
            "HTTP_PROXY": self.fence,
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
