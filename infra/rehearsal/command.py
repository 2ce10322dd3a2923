"""``infra rehearse``: synthesize one environment with the rehearsal profile into a scratch directory, rehearse it."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from infra import engine
from infra.config import EnvironmentConfig
from infra.rehearsal.cycle import Rehearsal, RehearsalFailed
from infra.rehearsal.diffs import load_known_diffs
from infra.rehearsal.emulator import Emulator
from infra.rehearsal.profile import rehearsal_config
from infra.rehearsal.report import format_report
from infra.terraform_cli import OfflineTerraform

#: Plugin cache and CLI config kept between manual runs (``.tools/`` is ignored by git).
TERRAFORM_HOME = Path(__file__).resolve().parents[2] / ".tools" / "terraform"


def rehearse_environment(config: EnvironmentConfig, *, lite: bool, echo: Callable[[str], None]) -> int:
    """Rehearse ``config`` with the rehearsal profile (``lite``: the test suite's); 0 when the report is clean."""
    from infra.app import synth

    config = rehearsal_config(config, lite=lite)
    # werkzeug logs every request moto serves; the report is what matters.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    terraform = OfflineTerraform.create(TERRAFORM_HOME)
    known = load_known_diffs()
    with tempfile.TemporaryDirectory(prefix=f"rehearsal-{config.name}-") as scratch:
        outdir = Path(scratch) / "cdktf.out"
        began = time.monotonic()
        synth(config, outdir)
        used = engine.current()
        echo(f"{config.name}: synthesized by {used.name} {used.version()} in {time.monotonic() - began:.1f}s")
        with Emulator(region=config.region).running() as emulator:
            rehearsal = Rehearsal(config, outdir, terraform, emulator, known_diffs=known, log=echo)
            try:
                report = rehearsal.run()
            except RehearsalFailed as exc:
                echo(f"FAILED: {exc}")
                echo(f"left behind: {rehearsal.left_behind() or 'nothing'}")
                return 1
    for line in format_report(report, known):
        echo(line)
    return 0 if report.ok else 1
