"""Builds the CDKTF app of one environment and synthesizes it to Terraform JSON."""

from __future__ import annotations

import shutil
from pathlib import Path

from infra.config import EnvironmentConfig
from infra.synthesized import SynthDir, is_synth_dir, load


def build_app(config: EnvironmentConfig, outdir: Path):
    """Wire every stack of ``config`` into a fresh engine ``App``; returns (app, stacks in dependency order).

    Raises ``engine.EngineError`` if the engine asked for cannot be used.
    """
    from infra import engine

    # Before any stack module is imported: they bind the engine's classes, and cheaply only after this.
    engine.activate(config.engine)
    from infra.engine import App
    from infra.stacks.app import AppStack
    from infra.stacks.data import DataStack
    from infra.stacks.edge import EdgeStack
    from infra.stacks.monitoring import MonitoringStack
    from infra.stacks.network import NetworkStack

    app = App(outdir=str(outdir))
    network = NetworkStack(app, config)
    data = DataStack(app, config, network)
    app_stack = AppStack(app, config, network, data)
    monitoring = MonitoringStack(app, config, app=app_stack, data=data)
    stacks = [network, data, app_stack, monitoring]
    if config.edge.enabled:
        stacks.append(
            EdgeStack(
                app,
                config,
                load_balancer=app_stack.load_balancer,
                alarm_topic_arn=monitoring.alarm_topic.topic.arn,
                log_key_arn=network.log_key.key.arn,
            )
        )
    return app, stacks


def synth(config: EnvironmentConfig, outdir: Path) -> SynthDir:
    """Synthesize every stack into ``outdir`` (replacing an earlier synth there) and read it back."""
    outdir = Path(outdir)
    if is_synth_dir(outdir):
        # Stale stacks from a previous run (another environment, a removed stack) must not linger.
        shutil.rmtree(outdir)
    # The engine creates the directory itself, but not its parents.
    outdir.parent.mkdir(parents=True, exist_ok=True)
    app, _ = build_app(config, outdir)
    app.synth()
    return load(outdir)
