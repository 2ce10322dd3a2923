"""Carve a VPC CIDR into per-AZ subnets for the three tiers (pure, no CDKTF).

Tiers: ``public`` (ALB, NAT gateways), ``app`` (EC2 fleet — the largest, it scales out),
``data`` (RDS, ElastiCache). Blocks are allocated largest first on their natural alignment,
and every tier reserves room for ``RESERVED_AZS`` zones, so raising ``az_count`` later adds
subnets without re-addressing (and so replacing) any existing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

TIERS = ("public", "app", "data")

#: Default prefix length of each tier's subnets: /24 public and data
#: (251 usable addresses per AZ is ample for ALB nodes, NAT, RDS and Redis ENIs), /20 for the
#: app tier so the fleet can grow far beyond the ASG's max without re-addressing.
DEFAULT_PREFIX = {"public": 24, "app": 20, "data": 24}


RESERVED_AZS = 4


class SubnetPlanError(ValueError):
    """A plan that cannot be carved; the message names the offending tier or CIDR."""


@dataclass(frozen=True)
class SubnetPlan:
    """Subnet CIDRs per tier, one per AZ, in AZ order."""

    public: tuple[IPv4Network, ...]
    app: tuple[IPv4Network, ...]
    data: tuple[IPv4Network, ...]

    def tier(self, name: str) -> tuple[IPv4Network, ...]:
        return getattr(self, name)

    def all(self) -> list[tuple[str, IPv4Network]]:
        return [(tier, net) for tier in TIERS for net in self.tier(tier)]


def carve(vpc: IPv4Network, az_count: int, prefixes: dict[str, int] | None = None) -> SubnetPlan:
    """Allocate ``az_count`` subnets per tier inside ``vpc``.

    Raises SubnetPlanError when the tiers do not fit or a prefix is outside AWS's /16–/28 range.
    """
    prefixes = {**DEFAULT_PREFIX, **(prefixes or {})}
    for tier, prefix in prefixes.items():
        if not 16 <= prefix <= 28:
            raise SubnetPlanError(f"{tier} subnets must be between /16 and /28 (got /{prefix})")
        if prefix < vpc.prefixlen:
            raise SubnetPlanError(f"{tier} subnets (/{prefix}) are larger than the VPC {vpc}")
    free = [vpc]
    allocated: dict[str, list[IPv4Network]] = {tier: [] for tier in TIERS}
    # Largest blocks first keeps every block aligned without fragmentation.
    slots = max(az_count, RESERVED_AZS)
    for tier in sorted(TIERS, key=lambda t: (prefixes[t], TIERS.index(t))):
        for _ in range(slots):
            block = _take(free, prefixes[tier])
            if block is None:
                raise SubnetPlanError(
                    f"VPC {vpc} is too small for /{prefixes['app']} app, /{prefixes['public']} public and "
                    f"/{prefixes['data']} data subnets in {slots} AZs (room for {RESERVED_AZS} is always "
                    f"reserved); use a larger VPC or longer *_subnet_prefix values"
                )
            allocated[tier].append(block)
    return SubnetPlan(**{tier: tuple(nets[:az_count]) for tier, nets in allocated.items()})


def check_explicit(vpc: IPv4Network, az_count: int, explicit: dict[str, list[IPv4Network]]) -> SubnetPlan:
    """Validate hand-written subnet lists: one per AZ, inside the VPC, no two overlapping."""
    defaults = carve(vpc, az_count) if any(tier not in explicit for tier in TIERS) else None
    tiers: dict[str, tuple[IPv4Network, ...]] = {}
    for tier in TIERS:
        nets = explicit.get(tier)
        if nets is None:
            tiers[tier] = defaults.tier(tier)
            continue
        if len(nets) != az_count:
            raise SubnetPlanError(f"{tier}: {len(nets)} subnets given for {az_count} AZs")
        for net in nets:
            if not net.subnet_of(vpc):
                raise SubnetPlanError(f"{tier}: subnet {net} is outside the VPC {vpc}")
            if net.prefixlen > 28:
                raise SubnetPlanError(f"{tier}: subnet {net} is smaller than AWS's minimum /28")
        tiers[tier] = tuple(nets)
    plan = SubnetPlan(**tiers)
    seen: list[tuple[str, IPv4Network]] = []
    for tier, net in plan.all():
        for other_tier, other in seen:
            if net.overlaps(other):
                raise SubnetPlanError(f"{tier} subnet {net} overlaps {other_tier} subnet {other}")
        seen.append((tier, net))
    return plan


def _take(free: list[IPv4Network], prefix: int) -> IPv4Network | None:
    """Remove and return the lowest free block of size /prefix, splitting larger ones."""
    candidates = sorted((b for b in free if b.prefixlen <= prefix), key=lambda b: (int(b.network_address), b.prefixlen))
    if not candidates:
        return None
    block = candidates[0]
    free.remove(block)
    if block.prefixlen == prefix:
        return block
    pieces = list(block.subnets(new_prefix=prefix))
    free.extend(block.address_exclude(pieces[0]))
    return pieces[0]
