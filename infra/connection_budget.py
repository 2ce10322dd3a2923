"""How many MySQL connections the fleet can open, against how many the database accepts.

Pure functions of plain numbers: the config model checks the budget at load time and derives the
``db-connections`` alarm threshold from the same limit, so both always agree.

RDS sets MySQL's ``max_connections`` by default to ``{DBInstanceClassMemory/12582880}``.
``DBInstanceClassMemory`` is the class's memory less what RDS keeps for the operating system and its
own agents, which AWS does not publish. ``RESERVED_FRACTION`` and ``RESERVED_FLOOR`` model it so that
the estimate errs low against values real instances report (db.t3.micro 64, db.t4g.micro 60,
db.t2.small 150, db.t2.medium 312, and AWS's own 8 GiB example ≈ 630): this gives 60, 60, 145, 312, 624.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The divisor of AWS's default ``max_connections`` formula for MySQL and MariaDB.
BYTES_PER_CONNECTION = 12_582_880
RESERVED_FLOOR = 300 * 1024**2
RESERVED_FRACTION = 0.085
#: Above this share of ``max_connections`` the config is refused: the rest is for admin sessions,
#: the cutover tool, and replacement instances that overlap the ones they replace during a rollout.
BUDGET_SHARE = 0.90
#: The ``db-connections`` alarm fires above this share unless ``alarms.thresholds.db_connections`` is set.
ALARM_SHARE = 0.80

_SIZES_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32, "4xlarge": 64}
_LARGE = ("large", "xlarge", "2xlarge", "4xlarge")
#: Memory (GiB) of every RDS MySQL class the config accepts: burstable, general purpose, memory optimized.
CLASS_MEMORY_GIB: dict[str, int] = {
    **{f"db.{family}.{size}": _SIZES_GIB[size] for family in ("t3", "t4g") for size in list(_SIZES_GIB)[:6]},
    **{f"db.{family}.{size}": _SIZES_GIB[size] for family in ("m5", "m6g", "m6i", "m7g") for size in _LARGE},
    **{f"db.{family}.{size}": 2 * _SIZES_GIB[size] for family in ("r5", "r6g", "r6i", "r7g") for size in _LARGE},
}


def max_connections(instance_class: str) -> int:
    """The default ``max_connections`` of ``instance_class`` (KeyError for a class outside the table)."""
    memory = CLASS_MEMORY_GIB[instance_class] * 1024**3
    reserved = max(RESERVED_FLOOR, int(memory * RESERVED_FRACTION))
    return (memory - reserved) // BYTES_PER_CONNECTION


@dataclass(frozen=True)
class Consumer:
    """Processes that hold a connection pool: ``copies`` of them, each with up to ``pool`` connections."""

    name: str
    copies: int
    pool: int

    @property
    def connections(self) -> int:
        return self.copies * self.pool


@dataclass(frozen=True)
class ConnectionBudget:
    """``hosts`` × the per-host consumers + the once-in-fleet consumers, against ``limit``.

    Every place a connection can come from is a ``Consumer``. With RDS Proxy in front
    (``proxy_percent``), the fleet's connections end at the proxy, which multiplexes them onto a pool of
    at most ``proxy_percent`` % of ``limit``: that pool is what the instance sees, and what is checked.
    """

    hosts: int
    per_host: tuple[Consumer, ...]
    once_in_fleet: tuple[Consumer, ...]
    limit: int
    limit_source: str
    proxy_percent: int | None = None

    @property
    def per_host_connections(self) -> int:
        return sum(c.connections for c in self.per_host)

    @property
    def once_in_fleet_connections(self) -> int:
        return sum(c.connections for c in self.once_in_fleet)

    @property
    def fleet_connections(self) -> int:
        return self.hosts * self.per_host_connections + self.once_in_fleet_connections

    @property
    def total(self) -> int:
        """What the instance can be asked for: the fleet's pools, or the proxy's pool in front of them."""
        if self.proxy_percent is None:
            return self.fleet_connections
        return self.limit * self.proxy_percent // 100

    @property
    def share(self) -> float:
        return self.total / self.limit

    @property
    def fits(self) -> bool:
        return self.total <= BUDGET_SHARE * self.limit

    def largest_fleet(self) -> int:
        """The most hosts that fit (0 if not even one does)."""
        room = int(BUDGET_SHARE * self.limit) - self.once_in_fleet_connections
        return max(0, room // self.per_host_connections) if self.per_host_connections else self.hosts

    def describe(self) -> str:
        """'10 hosts × 30 (web 1×10, workers 2×10) + 20 once in the fleet (…) = 320 of 624 (51 %)'."""

        def terms(consumers: tuple[Consumer, ...]) -> str:
            return ", ".join(f"{c.name} {c.copies}×{c.pool}" for c in consumers)

        text = f"{self.hosts} hosts × {self.per_host_connections} ({terms(self.per_host)})"
        if self.once_in_fleet:
            text += f" + {self.once_in_fleet_connections} once in the fleet ({terms(self.once_in_fleet)})"
        if self.proxy_percent is not None:
            return (
                f"{text} = {self.fleet_connections} client connections to RDS Proxy, whose pool is "
                f"{self.proxy_percent} % of {self.limit_source}'s {self.limit} = {self.total} ({self.share:.0%})"
            )
        return f"{text} = {self.total} of {self.limit_source}'s {self.limit} ({self.share:.0%})"


def smallest_class_that_fits(budget: ConnectionBudget, family_of: str) -> str | None:
    """The class of ``family_of``'s family (else any) with the least memory whose default limit fits ``budget``."""
    family = family_of.split(".")[1]
    candidates = sorted(CLASS_MEMORY_GIB, key=lambda c: (c.split(".")[1] != family, CLASS_MEMORY_GIB[c], c))
    for candidate in candidates:
        if budget.total <= BUDGET_SHARE * max_connections(candidate):
            return candidate
    return None
