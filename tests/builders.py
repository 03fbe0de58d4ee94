"""Small builders for snapshots and monitors used across the tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from riskmon.models import AccountSnapshot, Position, Side
from riskmon.monitor import AccountMonitor, Observer
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store

D = Decimal


def ts(text: str) -> datetime:
    """'2026-03-02 09:30' or ISO with offset → aware UTC datetime."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def snap(
    at: str,
    balance: str | Decimal,
    equity: str | Decimal | None = None,
    account: str = "acc-1",
    margin: str = "0",
    positions: tuple[Position, ...] = (),
    **extra: Any,
) -> AccountSnapshot:
    return AccountSnapshot(
        account=account,
        balance=D(balance),
        equity=D(equity if equity is not None else balance),
        margin=D(margin),
        positions=positions,
        ts=ts(at),
        **extra,
    )


def position(
    pid: str = "1",
    symbol: str = "EURUSD",
    side: Side = Side.BUY,
    volume: str = "1",
    notional: str | None = "100000",
    price: str | None = "1.10000",
    stop_loss: str | None = None,
    opened_at: str | None = None,
) -> Position:
    return Position(
        id=pid,
        symbol=symbol,
        side=side,
        volume=D(volume),
        price=None if price is None else D(price),
        notional=None if notional is None else D(notional),
        stop_loss=None if stop_loss is None else D(stop_loss),
        opened_at=None if opened_at is None else ts(opened_at),
    )


def preset_monitor(
    preset: str,
    initial: str | None = None,
    store: Store | None = None,
    account: str = "acc-1",
    *,
    label: str = "",
    observers: Sequence[Observer] = (),
    **overrides: Any,
) -> AccountMonitor:
    book = PRESETS[preset].rulebook(overrides)
    initial_balance = D(initial) if initial is not None else PRESETS[preset].initial_balance
    profile = AccountProfile(account, book, label=label, initial_balance=initial_balance)
    return AccountMonitor(profile, store or Store(MEMORY), observers)
