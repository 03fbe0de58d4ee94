"""What riskmon remembers about an account between snapshots (and across restarts).

Only facts that cannot be derived from the current snapshot live here: the day's anchor figures,
high-water marks, the days traded, and which alerts are open. Floors are derived from these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from riskmon.models import ZERO, Severity


class _Slot(Protocol):
    def to_doc(self) -> dict[str, Any]: ...


class AnchorSource(StrEnum):
    OBSERVED = "observed"  # riskmon was watching at the reset
    REBUILT = "rebuilt"  # balance now − platform-reported realised P&L since the reset
    ESTIMATED = "estimated"  # after a gap with nothing better known: the larger of the last balance seen
    # before the gap and the first seen after it (never lower than the evidence allows)


@dataclass(frozen=True, slots=True)
class AccountState:
    account: str
    initial_balance: Decimal
    trading_day: date | None = None
    day_start: datetime | None = None  # UTC instant of the reset that began trading_day
    day_start_balance: Decimal = ZERO
    day_start_equity: Decimal = ZERO
    anchor_source: AnchorSource = AnchorSource.OBSERVED
    day_low_equity: Decimal = ZERO
    balance_high: Decimal = ZERO  # highest closed balance seen (never below initial)
    equity_high: Decimal = ZERO  # highest equity seen (never below initial)
    eod_balance_high: Decimal = ZERO  # highest balance at a reset (never below initial)
    last_balance: Decimal | None = None
    last_ts: datetime | None = None
    trading_days: frozenset[date] = frozenset()
    alerts: dict[str, Severity] = field(default_factory=dict)  # open alerts: rule → severity
    eod_high_before: Decimal | None = None  # while the anchor is estimated: eod_balance_high before the reset
    slots: dict[str, Any] = field(default_factory=dict)  # each stateful rule's own memory, by rule name

    @classmethod
    def fresh(cls, account: str, initial_balance: Decimal) -> AccountState:
        return cls(
            account=account,
            initial_balance=initial_balance,
            balance_high=initial_balance,
            equity_high=initial_balance,
            eod_balance_high=initial_balance,
        )

    @property
    def anchor_estimated(self) -> bool:
        return self.anchor_source is not AnchorSource.OBSERVED

    def with_alerts(self, alerts: dict[str, Severity]) -> AccountState:
        return self if alerts == self.alerts else replace(self, alerts=alerts)

    def durable_key(self) -> tuple[object, ...]:
        """Everything but the fields that move on every snapshot (last_ts, last_balance, day_low_equity)."""
        return (
            self.trading_day,
            self.day_start_balance,
            self.day_start_equity,
            self.anchor_source,
            self.balance_high,
            self.equity_high,
            self.eod_balance_high,
            self.trading_days,
            self.alerts,
            self.initial_balance,
            self.slots,
        )

    # -- persistence ------------------------------------------------------------------------------

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "account": self.account,
            "initial_balance": str(self.initial_balance),
            "trading_day": self.trading_day.isoformat() if self.trading_day else None,
            "day_start": self.day_start.isoformat() if self.day_start else None,
            "day_start_balance": str(self.day_start_balance),
            "day_start_equity": str(self.day_start_equity),
            "anchor_source": self.anchor_source.value,
            "day_low_equity": str(self.day_low_equity),
            "balance_high": str(self.balance_high),
            "equity_high": str(self.equity_high),
            "eod_balance_high": str(self.eod_balance_high),
            "last_balance": None if self.last_balance is None else str(self.last_balance),
            "last_ts": self.last_ts.isoformat() if self.last_ts else None,
            "trading_days": sorted(d.isoformat() for d in self.trading_days),
            "alerts": {rule: sev.value for rule, sev in sorted(self.alerts.items())},
            "eod_high_before": None if self.eod_high_before is None else str(self.eod_high_before),
            "slots": {rule: _doc(slot) for rule, slot in sorted(self.slots.items())},
        }
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AccountState:
        """Parse a saved state; anything unreadable or non-finite raises ValueError naming the problem."""
        try:
            state = cls._from_doc(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as exc:
            raise ValueError(f"{type(exc).__name__}: {exc}") from None
        figures = (state.initial_balance, state.day_start_balance, state.day_start_equity, state.day_low_equity,
                   state.balance_high, state.equity_high, state.eod_balance_high, state.last_balance)  # fmt: skip
        if any(value is not None and not value.is_finite() for value in figures):
            raise ValueError("a saved figure is not finite")
        for when in (state.day_start, state.last_ts):
            if when is not None and when.utcoffset() is None:
                raise ValueError("a saved time has no offset")
        return state

    @classmethod
    def _from_doc(cls, doc: Any) -> AccountState:

        def opt_dt(key: str) -> datetime | None:
            return datetime.fromisoformat(doc[key]) if doc.get(key) else None

        return cls(
            account=doc["account"],
            initial_balance=Decimal(doc["initial_balance"]),
            trading_day=date.fromisoformat(doc["trading_day"]) if doc.get("trading_day") else None,
            day_start=opt_dt("day_start"),
            day_start_balance=Decimal(doc["day_start_balance"]),
            day_start_equity=Decimal(doc["day_start_equity"]),
            anchor_source=AnchorSource(doc["anchor_source"]),
            day_low_equity=Decimal(doc["day_low_equity"]),
            balance_high=Decimal(doc["balance_high"]),
            equity_high=Decimal(doc["equity_high"]),
            eod_balance_high=Decimal(doc["eod_balance_high"]),
            last_balance=None if doc.get("last_balance") is None else Decimal(doc["last_balance"]),
            last_ts=opt_dt("last_ts"),
            trading_days=frozenset(date.fromisoformat(d) for d in doc["trading_days"]),
            alerts={rule: Severity(sev) for rule, sev in doc["alerts"].items()},
            eod_high_before=None if doc.get("eod_high_before") is None else Decimal(doc["eod_high_before"]),
            slots=dict(doc.get("slots", {})),  # documents: each rule restores its own slot when it next runs
        )


def _doc(slot: _Slot | dict[str, Any]) -> dict[str, Any]:
    return slot if isinstance(slot, dict) else slot.to_doc()
