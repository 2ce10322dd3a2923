"""One rehearsal of one environment: init → apply → re-plan → checks → destroy, every stack against one emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from infra.config import EnvironmentConfig
from infra.rehearsal.checks import FACTS
from infra.rehearsal.diffs import Diff, KnownDiff, load_known_diffs, plan_diffs, stale_known_diffs, unexplained_diffs
from infra.rehearsal.emulator import Emulator
from infra.rehearsal.inventory import leftovers
from infra.rehearsal.report import Report
from infra.rehearsal.seeds import put_public_parameter, seeded_image_parameters, seeded_zones
from infra.rehearsal.stack_files import TEARDOWN_OVERRIDE_FILE, state_resources, teardown_override, write_overrides
from infra.synthesized import SynthStack, load
from infra.terraform_cli import OfflineTerraform

PLAN_FILE = "rehearsal.tfplan"
#: Resource types terraform cannot destroy on moto → where ``leftovers`` finds them: removed from state
#: before destroy and reported as abandoned, not as left behind. ElastiCache: moto does not implement
#: DeleteCacheSubnetGroup, so destroy would wait for the provider's timeout.
ABANDONED_TYPES = {"aws_elasticache_subnet_group": "elasticache.describe_cache_subnet_groups"}


class RehearsalFailed(RuntimeError):
    """A step of the cycle failed; the message names the stack, the step and terraform's output tail."""


def destroy_order_problems(order: list[SynthStack]) -> list[str]:
    """Why destroying in ``order`` would be refused by AWS: a stack goes before one that still reads it.

    moto does not enforce DependencyViolation, so a wrong order would pass the rehearsal and fail
    for real. Checked against both the manifest's dependencies and the remote state each stack reads
    (a read the manifest does not declare would let the two run in either order).
    """
    problems = []
    for index, stack in enumerate(order):
        readers = sorted(
            {s.name for s in order[index + 1 :] if stack.name in (*s.dependencies, *s.remote_state_reads.values())}
        )
        problems += [f"{stack.name} is destroyed before {reader}, which depends on it" for reader in readers]
        undeclared = sorted(set(stack.remote_state_reads.values()) - set(stack.dependencies))
        problems += [f"{stack.name} reads {name}'s state without declaring the dependency" for name in undeclared]
    return problems


class Rehearsal:
    """One environment's stacks, one emulator: ``run()`` is init → plan → apply → re-plan → facts → destroy."""

    def __init__(
        self,
        config: EnvironmentConfig,
        outdir: Path,
        terraform: OfflineTerraform,
        emulator: Emulator,
        *,
        known_diffs: list[KnownDiff] | None = None,
        log: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.config = config
        self.stacks = list(load(outdir).stacks.values())
        self.terraform = terraform
        self.emulator = emulator
        self.known = load_known_diffs() if known_diffs is None else known_diffs
        self.log = log
        self.report = Report()

    def run(self) -> Report:
        started = time.monotonic()
        destroy = list(reversed(self.stacks))
        self.report.order_problems = destroy_order_problems(destroy)
        self.report.seconds = {stack.name: {} for stack in self.stacks}  # the report lists them in apply order
        write_overrides(self.stacks, self.config.region)
        self._seed()
        for stack in self.stacks:
            # One at a time: terraform's shared plugin cache is not safe for concurrent inits.
            self._step(stack, "init", "init")
        for stack in self.stacks:
            # apply plans first; a separate `plan -out` would load the provider's schema once more.
            self._step(stack, "apply", "apply", "-auto-approve")
        self._replan()
        for kind, check in FACTS.items():
            if any(s.name == self.config.stack_name(kind) for s in self.stacks):
                self.report.fact_problems += [f"{kind}: {p}" for p in check(self.config, self.emulator)]
        for stack in destroy:
            self._teardown(stack)
        self.report.leftovers = self.left_behind()
        self.report.wall_seconds = time.monotonic() - started
        return self.report

    def left_behind(self) -> dict[str, list[str]]:
        """What the emulator holds beyond what was seeded or knowingly abandoned."""
        found = {}
        for call, names in leftovers(self.emulator).items():
            names = [n for n in names if n not in self.report.expected.get(call, ())]
            if names:
                found[call] = names
        return found

    def _replan(self) -> None:
        """Second plan of every stack once all are applied, so a later stack's drift on an earlier one shows.

        Each terraform call spends seconds loading the provider's schema, and plans of different
        stacks do not depend on one another, so they overlap."""

        def replan(stack: SynthStack) -> list[tuple[str, Diff]]:
            result = self._step(stack, "replan", "plan", "-detailed-exitcode", f"-out={PLAN_FILE}", ok=(0, 2))
            if result.returncode == 0:
                return []
            shown = self.terraform.run(stack.directory, "show", "-json", PLAN_FILE)
            return [(stack.name, d) for d in plan_diffs(json.loads(shown.stdout))]

        diffs = [diff for found in self._each(replan) for diff in found]
        applied: set[str] = set()
        for stack in self.stacks:
            held = state_resources(stack)
            applied |= set(held)
            self.report.resources[stack.name] = len(held)
        for stack_name, diff in diffs:
            explained = not unexplained_diffs([diff], self.known)
            (self.report.accepted_diffs if explained else self.report.unexplained_diffs).append((stack_name, diff))
        self.report.stale_known_diffs = stale_known_diffs(self.known, applied, [d for _, d in diffs])

    def _seed(self) -> None:
        """What a real account has before the first deploy: the hosted zone, AWS's public AMI parameters."""
        route53 = self.emulator.client("route53")
        for zone in seeded_zones(self.stacks):
            route53.create_hosted_zone(Name=zone, CallerReference=f"rehearsal-{zone}")
            self.report.seeded.append(f"hosted zone {zone}")
            self.report.expected.setdefault("route53.list_hosted_zones", set()).add(zone.rstrip(".") + ".")
        parameters = seeded_image_parameters(self.stacks)
        if parameters:
            ssm = self.emulator.client("ssm")
            image = self.emulator.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            for name in parameters:
                if not ssm.get_parameters(Names=[name])["Parameters"]:
                    # Under /aws/ moto refuses PutParameter, so the seed goes in through the backend.
                    put_public_parameter(self.emulator.region, name, image)
                    self.report.seeded.append(f"parameter {name} = {image}")
                    self.report.expected.setdefault("ssm.describe_parameters", set()).add(name)

    def _each(self, step: Callable[[SynthStack], object]) -> list:
        with ThreadPoolExecutor(max_workers=len(self.stacks)) as pool:
            return list(pool.map(step, self.stacks))

    def _teardown(self, stack: SynthStack) -> None:
        """destroy, after the documented workarounds: protection lifted, undeletable resources abandoned."""
        override = teardown_override(stack.body)
        if override:
            (stack.directory / TEARDOWN_OVERRIDE_FILE).write_text(json.dumps(override, indent=2) + "\n")
            self._step(stack, "unprotect", "apply", "-auto-approve")
        for address, attributes in state_resources(stack).items():
            call = ABANDONED_TYPES.get(address.split(".")[0])
            if call:
                self._step(stack, "abandon", "state", "rm", address)
                name = attributes.get("name") or attributes["id"]
                self.report.abandoned.append(f"{address} ({name})")
                self.report.expected.setdefault(call, set()).add(name)
        # The second plan refreshed every resource moments ago; a destroy-time refresh would repeat it.
        self._step(stack, "destroy", "destroy", "-auto-approve", "-refresh=false")

    def _step(self, stack: SynthStack, step: str, *args: str, ok: tuple[int, ...] = (0,)):
        began = time.monotonic()
        result = self.terraform.run(stack.directory, *args, extra_env=self.emulator.terraform_env(), timeout=900)
        elapsed = time.monotonic() - began
        self.report.seconds.setdefault(stack.name, {})[step] = elapsed
        self.log(f"{stack.name}: {step} {elapsed:.1f}s (exit {result.returncode})")
        if result.returncode not in ok:
            output = (result.stdout + result.stderr)[-4000:]
            raise RehearsalFailed(f"{stack.name}: terraform {step} failed (exit {result.returncode}):\n{output}")
        return result
