"""How a firm computes its limits, as configuration: one `Rulebook` per account.

Every field has the reference monitor's meaning by default (`basic`); presets and the user's
overrides change them. Validation here is what turns a bad config line into one clear message.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from riskmon.clock import TradingCalendar
from riskmon.units import Share, check_percent

Money = Annotated[Decimal, Field(gt=0)]


class DayAnchor(StrEnum):
    BALANCE = "balance"  # balance at the reset instant
    EQUITY = "equity"  # equity at the reset instant
    MAX_BALANCE_EQUITY = "max_balance_equity"
    INITIAL = "initial"  # the account's initial balance, every day


class DailySize(StrEnum):
    INITIAL_PCT = "initial_pct"  # % of the initial balance
    ANCHOR_PCT = "anchor_pct"  # % of the day's anchor
    FIXED = "fixed"  # money


class FloorMode(StrEnum):
    STATIC = "static"
    TRAILING = "trailing"


class TrailSource(StrEnum):
    EOD_BALANCE = "eod_balance"  # highest end-of-day balance
    INTRADAY_BALANCE = "intraday_balance"  # highest closed balance, updated at once
    INTRADAY_EQUITY = "intraday_equity"  # highest equity seen


# In a trader's words, for `riskmon presets` and the start-up line alike.
ANCHOR_WORDS = {
    DayAnchor.BALANCE: "the balance",
    DayAnchor.EQUITY: "the equity",
    DayAnchor.MAX_BALANCE_EQUITY: "the higher of balance and equity",
    DayAnchor.INITIAL: "the initial balance",
}
TRAIL_WORDS = {
    TrailSource.EOD_BALANCE: "the highest end-of-day balance",
    TrailSource.INTRADAY_BALANCE: "the highest balance",
    TrailSource.INTRADAY_EQUITY: "the highest equity",
}


class LossSize(StrEnum):
    INITIAL_PCT = "initial_pct"
    HIGH_PCT = "high_pct"  # % of the high-water mark the floor trails
    FIXED = "fixed"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Sized(_Spec):
    """A limit whose ``size`` is money or a percent, as its ``size_basis`` says: a percent basis is 0–100."""

    size_basis: str
    size: Money

    @model_validator(mode="after")
    def _size_in_its_unit(self) -> _Sized:
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


class DailyLossSpec(_Sized):
    enabled: bool = True
    anchor: DayAnchor = DayAnchor.BALANCE
    size_basis: DailySize = DailySize.ANCHOR_PCT
    size: Money = Decimal(5)
    warn_at: Share = Decimal("0.8")
    breach: Literal["hard", "soft"] = "hard"  # hard: account failed; soft: blocked until the next reset

    def _basis_text(self) -> str:
        if self.size_basis is DailySize.ANCHOR_PCT:
            return f"{ANCHOR_WORDS[self.anchor]} at the day's reset"
        return super()._basis_text()


class MaxLossSpec(_Sized):
    enabled: bool = False
    mode: FloorMode = FloorMode.STATIC
    trail: TrailSource = TrailSource.EOD_BALANCE
    size_basis: LossSize = LossSize.INITIAL_PCT
    size: Money = Decimal(10)
    lock: Literal["initial"] | Money | None = None  # level where a trailing floor stops rising
    warn_at: Share = Decimal("0.8")


class PositionSizeSpec(_Spec):
    enabled: bool = True
    basis: Literal["notional", "risk"] = "notional"
    max_percent: Annotated[Decimal, Field(gt=0)] = Decimal(10)


class MarginLevelSpec(_Spec):
    enabled: bool = True
    warning_below: Annotated[Decimal, Field(gt=0)] = Decimal(100)
    critical_below: Annotated[Decimal, Field(gt=0)] = Decimal(50)


class LeverageSpec(_Spec):
    enabled: bool = False
    warning: Annotated[Decimal, Field(gt=0)] = Decimal(2)
    emergency: Annotated[Decimal, Field(gt=0)] = Decimal(3)


class ProfitTargetSpec(_Sized):
    enabled: bool = False
    size_basis: Literal["initial_pct", "fixed"] = "initial_pct"
    size: Money = Decimal(10)


class Rulebook(_Spec):
    """Everything that decides when an account is in trouble."""

    timezone: str = "UTC"
    day_reset: str = "00:00"
    daily_loss: DailyLossSpec = DailyLossSpec()
    max_loss: MaxLossSpec = MaxLossSpec()
    position_size: PositionSizeSpec = PositionSizeSpec()
    margin_level: MarginLevelSpec = MarginLevelSpec()
    leverage: LeverageSpec = LeverageSpec()
    profit_target: ProfitTargetSpec = ProfitTargetSpec()
    max_positions: Annotated[int, Field(gt=0)] | None = None
    max_lots: Money | None = None
    min_trading_days: Annotated[int, Field(gt=0)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("day_reset")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        from datetime import time

        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day such as 00:00 or 17:00") from None
        return value

    @property
    def calendar(self) -> TradingCalendar:
        return TradingCalendar.of(self.timezone, self.day_reset)

    @property
    def needs_initial_balance(self) -> bool:
        dl, ml, pt = self.daily_loss, self.max_loss, self.profit_target
        return (
            (dl.enabled and (dl.anchor is DayAnchor.INITIAL or dl.size_basis is DailySize.INITIAL_PCT))
            or ml.enabled
            or pt.enabled
        )


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Overrides win, table by table: ``{"daily_loss": {"size": 4}}`` keeps the other daily_loss fields."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
