"""Run the real ``terraform`` binary offline, against the provider mirror that ships on the image.

No registry is reachable here (DESIGN §4): a CLI config of our own points provider installation at
the filesystem mirror, and a shared plugin cache makes every ``init`` after the first a symlink
instead of a 700 MB copy. The synthesized JSON pins the provider the bindings were generated for
(6.25.0); the mirror holds 5.100.0, so an override file — never an edit of the JSON — pins that
version for offline runs. Used by the validate tier of the tests and by the deploy rehearsal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIRROR_ENV = "DUEWIN_TF_MIRROR"
MIRROR_PROVIDER_VERSION = "5.100.0"
OVERRIDE_FILE = "zz_offline_override.tf.json"
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY")


class TerraformUnavailable(RuntimeError):
    """terraform or the provider mirror is missing; the message says which and where it looked."""


def find_mirror() -> Path:
    """The filesystem mirror: $DUEWIN_TF_MIRROR, else a ``tf-plugins`` directory two levels below /."""
    candidates = (
        [Path(os.environ[MIRROR_ENV])] if os.environ.get(MIRROR_ENV) else sorted(Path("/").glob("*/tf-plugins"))
    )
    for candidate in candidates:
        if (candidate / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return candidate
    raise TerraformUnavailable(f"no AWS provider mirror (looked in {[str(c) for c in candidates] or '/*/tf-plugins'})")


@dataclass
class OfflineTerraform:
    """A terraform runner whose every call is offline. ``home`` holds its CLI config and plugin cache."""

    home: Path
    mirror: Path
    binary: str = "terraform"

    @classmethod
    def create(cls, home: Path) -> OfflineTerraform:
        binary = shutil.which("terraform")
        if binary is None:
            raise TerraformUnavailable("terraform is not on PATH")
        runner = cls(home=Path(home), mirror=find_mirror(), binary=binary)
        runner.home.mkdir(parents=True, exist_ok=True)
        (runner.home / "plugin-cache").mkdir(exist_ok=True)
        runner.cli_config.write_text(
            f'provider_installation {{\n  filesystem_mirror {{\n    path = "{runner.mirror}"\n  }}\n}}\n'
            f'plugin_cache_dir = "{runner.home / "plugin-cache"}"\n'
        )
        return runner

    @property
    def cli_config(self) -> Path:
        return self.home / "terraform.rc"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        # The caller's AWS profile, keys or endpoints must never reach a run meant to be offline.
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.upper() not in PROXY_VARIABLES
        }
        return {
            **inherited,
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            **(extra or {}),
        }

    def run(
        self, stack_dir: Path, *args: str, extra_env: dict[str, str] | None = None, timeout: int = 600
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, *args, "-no-color"],
            cwd=stack_dir,
            env=self.env(extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def validate(self, stack_dir: Path) -> subprocess.CompletedProcess:
        """``init -backend=false`` then ``validate -json``; returns the first failing step's result."""
        pin_provider_version(stack_dir)
        init = self.run(stack_dir, "init", "-backend=false")
        if init.returncode != 0:
            return init
        return self.run(stack_dir, "validate", "-json")


def provider_pin(version: str = MIRROR_PROVIDER_VERSION) -> dict:
    """The override body that pins the AWS provider to the mirror's version (a fresh dict to extend)."""
    return {"terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": version}}}}


def pin_provider_version(stack_dir: Path, version: str = MIRROR_PROVIDER_VERSION) -> Path:
    """Write the override file that pins the AWS provider to the mirror's version."""
    path = Path(stack_dir) / OVERRIDE_FILE
    path.write_text(json.dumps(provider_pin(version), indent=2) + "\n")
    return path
