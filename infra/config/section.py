"""What every section of an environment file shares: its error types, strictness and shared checks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

#: Retention values CloudWatch Logs accepts; anything else fails at apply, so fail here.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class ConfigError(Exception):
    """A bad environment file. ``str()`` is the one line shown to the user."""


class FieldError(ValueError):
    """Raised by a validator of a section about one of its fields (or a deeper one): ``loc`` names it
    relative to the model that validates, so the error line points at the key, not the section."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def check_log_retention(field: str, days: int) -> None:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"{field} must be one of CloudWatch's values {LOG_RETENTION_DAYS}")


def check_secret_recovery(field: str, days: int) -> None:
    if days != 0 and not 7 <= days <= 30:
        raise ValueError(f"{field} must be 0 or 7–30 (Secrets Manager's range), not {days}")


class Section(BaseModel):
    # Unknown keys are typos until proven otherwise; frozen because stacks share one config.
    model_config = ConfigDict(extra="forbid", frozen=True)
