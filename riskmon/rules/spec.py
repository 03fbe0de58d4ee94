"""The building blocks of rule specs, and the rulebook's own fields (time zone and reset).

Each rule's spec lives in the rule's module; the registry (``riskmon.rules.registry``) assembles the
``Rulebook`` from them. Every field has the reference monitor's meaning by default (`basic`); presets and
the user's overrides change them. Validation here is what turns a bad config line into one clear message.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from riskmon.clock import TradingCalendar
from riskmon.rules.base import Level, Response
from riskmon.units import Share, check_percent

Money = Annotated[Decimal, Field(gt=0)]
Count = Annotated[int, Field(gt=0)]


def clock_time(value: str) -> str:
    """A wall-clock time of day (HH:MM); the zone is the rulebook's (or the rule's) ``timezone``."""
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day such as 00:00 or 17:00") from None
    if parsed.tzinfo is not None:  # an offset here would be a second, silent zone
        raise ValueError(f"{value!r}: give the wall-clock time only (e.g. 17:00); the zone is `timezone`")
    return value


def zone_name(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSpec(Spec):
    """A rule's table: on or off, and what happens when it fails (``response``; ``until`` for flatten_until)."""

    enabled: bool = False
    response: Response = Response.ALERT
    until: str | None = None  # HH:MM in the rulebook's zone, for response = flatten_until

    @field_validator("until")
    @classmethod
    def _until_time(cls, value: str | None) -> str | None:
        return None if value is None else clock_time(value)

    @model_validator(mode="after")
    def _until_needed(self) -> RuleSpec:
        if (self.response is Response.FLATTEN_UNTIL) != (self.until is not None):
            raise ValueError("until (a time such as 15:10) goes with response = flatten_until, and only with it")
        return self

    @property
    def level(self) -> Level:
        return Level(self.response, None if self.until is None else time.fromisoformat(self.until))


class Sized(RuleSpec):
    """A limit whose ``size`` is money or a percent, as its ``size_basis`` says: a percent basis is 0–100."""

    size_basis: str
    size: Money

    @model_validator(mode="after")
    def _size_in_its_unit(self) -> Sized:
        if self.size_basis != "fixed":
            try:
                check_percent(self.size)
            except ValueError as exc:
                problem = f"size: {exc} (size_basis = {self.size_basis}; for money use size_basis = fixed)"
                raise ValueError(problem) from None
        return self

    def size_text(self) -> str:
        """The size for people: ``3 % of the initial balance``, ``1000 (money)``."""
        if self.size_basis == "fixed":
            return f"{self.size} (money)"
        return f"{self.size} % of {self._basis_text()}"

    def _basis_text(self) -> str:
        return {"initial_pct": "the initial balance", "high_pct": "the high-water mark"}.get(
            self.size_basis, self.size_basis
        )


class FloorSpec(Sized):
    """A money floor: warn at a share of the allowance used; whether equity exactly on the floor is a breach
    is the firm's wording (``equal_breaches``): "reaching" or "hit" the limit breaches, "below" does not."""

    warn_at: Share = Decimal("0.8")
    equal_breaches: bool = False
    response: Response = Response.FLATTEN


class RulebookBase(Spec):
    """Everything that decides when an account is in trouble: the calendar here, each rule's field added
    by the registry (``riskmon.rules.registry.Rulebook``)."""

    timezone: str = "UTC"
    day_reset: str = "00:00"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return zone_name(value)

    @field_validator("day_reset")
    @classmethod
    def _reset_time(cls, value: str) -> str:
        return clock_time(value)

    @property
    def calendar(self) -> TradingCalendar:
        return TradingCalendar.of(self.timezone, self.day_reset)

    @property
    def needs_initial_balance(self) -> bool:
        """Some rule's limit is measured from the initial balance."""
        from riskmon.rules.registry import needs_initial_balance

        return needs_initial_balance(self)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Overrides win, table by table: ``{"daily_loss": {"size": 4}}`` keeps the other daily_loss fields."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
