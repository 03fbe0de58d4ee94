"""TradeLockerFeed: AccountSnapshots for the accounts of one TradeLocker user, polled over REST.

Every ``poll_interval`` each account's state (balance, projected balance = equity, margin, today's net
realised P&L), open positions and working orders are read. The interval is never shorter than the
rate limits ``/trade/config`` publishes for those routes allow (told once when it is raised).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from riskmon.backoff import Backoff
from riskmon.clock import Clock, SystemClock
from riskmon.errors import PlatformError, PlatformUnavailable, ProtocolError
from riskmon.models import ZERO, AccountSnapshot, Order, Position, Side

from .api import Refused, TradeLockerApi, rate_limits

log = logging.getLogger(__name__)

RECONNECT = Backoff(1.0, 60.0, jitter=0.2)
POLLED_ROUTES = ("GET_ACCOUNTS_STATE", "GET_POSITIONS", "GET_ORDERS")
RECOVERABLE = (PlatformUnavailable, ProtocolError, Refused, TimeoutError)


@dataclass(frozen=True)
class Columns:
    """The column names ``/trade/config`` gives for each kind of row."""

    state: tuple[str, ...]
    positions: tuple[str, ...]
    orders: tuple[str, ...]

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> Columns:
        def names(key: str) -> tuple[str, ...]:
            columns = (config.get(key) or {}).get("columns")
            if not isinstance(columns, list) or not columns:
                raise ProtocolError(f"TradeLocker: /trade/config has no {key} columns")
            return tuple(str(column.get("id")) for column in columns if isinstance(column, dict))

        return cls(names("accountDetailsConfig"), names("positionsConfig"), names("ordersConfig"))


@dataclass(frozen=True)
class Link:
    """A configured account as the server knows it."""

    account_id: int
    acc_num: int
    currency: str


def decimal(row: Mapping[str, Any], key: str, required: bool = True) -> Decimal | None:
    value = row.get(key)
    if value is None or value == "":
        if required:
            raise ProtocolError(f"TradeLocker: {key} missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ProtocolError(f"TradeLocker: {key} is not a number: {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ProtocolError(f"TradeLocker: {key} is not a number: {value!r}") from None


def rows(columns: Sequence[str], data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise ProtocolError(f"TradeLocker: {what} is not a list")
    out = []
    for row in data:
        if not isinstance(row, list) or len(row) != len(columns):
            raise ProtocolError(f"TradeLocker: a {what} row does not have the {len(columns)} configured columns")
        out.append(dict(zip(columns, row, strict=True)))
    return out


def build_snapshot(
    account: str,
    link: Link,
    state: Mapping[str, Any],
    positions: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    names: Mapping[str, str],
    now: datetime,
) -> AccountSnapshot:
    """One snapshot from the three reads (pure)."""
    balance, equity = decimal(state, "balance"), decimal(state, "projectedBalance")
    assert balance is not None and equity is not None
    stops = {str(o.get("id")): decimal(o, "stopPrice", False) or decimal(o, "price", False) for o in orders}
    return AccountSnapshot(
        account=account,
        balance=balance,
        equity=equity,
        ts=now,
        platform="tradelocker",
        currency=link.currency,
        margin=decimal(state, "initialMarginReq", False) or ZERO,
        positions=tuple(_position(p, names, stops) for p in positions),
        orders=tuple(_order(o, names) for o in orders),
        received_at=now,
        realized_today=decimal(state, "todayNet", False),
    )


def _side(row: Mapping[str, Any]) -> Side:
    side = str(row.get("side", "")).lower()
    if side not in ("buy", "sell"):
        raise ProtocolError(f"TradeLocker: side {row.get('side')!r}")
    return Side.BUY if side == "buy" else Side.SELL


def _position(row: Mapping[str, Any], names: Mapping[str, str], stops: Mapping[str, Decimal | None]) -> Position:
    instrument = str(row.get("tradableInstrumentId"))
    opened = row.get("openDate")
    qty = decimal(row, "qty")
    assert qty is not None
    return Position(
        id=str(row.get("id")),
        symbol=names.get(instrument, instrument),
        side=_side(row),
        volume=qty,
        open_price=decimal(row, "avgPrice", False),
        unrealized_pnl=decimal(row, "unrealizedPl", False) or ZERO,
        stop_loss=stops.get(str(row.get("stopLossId"))),
        opened_at=datetime.fromtimestamp(int(opened) / 1000, UTC) if isinstance(opened, int | str) and opened else None,
    )


def _order(row: Mapping[str, Any], names: Mapping[str, str]) -> Order:
    instrument = str(row.get("tradableInstrumentId"))
    qty = decimal(row, "qty")
    assert qty is not None
    filled = decimal(row, "filledQty", False) or ZERO
    return Order(
        id=str(row.get("id")),
        symbol=names.get(instrument, instrument),
        side=_side(row),
        volume=qty - filled,
        kind=str(row.get("type") or "limit"),
        price=decimal(row, "price", False) or decimal(row, "stopPrice", False),
    )


class TradeLockerFeed:
    """Implements ``riskmon.platforms.base.Feed``."""

    def __init__(
        self,
        api: TradeLockerApi,
        accounts: Sequence[str],
        *,
        poll_interval: float = 2.0,
        clock: Clock | None = None,
        backoff: Backoff = RECONNECT,
    ) -> None:
        self.api = api
        self._accounts = tuple(accounts)
        self._asked_interval = poll_interval
        self.poll_interval = poll_interval
        self._clock = clock or SystemClock()
        self._backoff = backoff
        self.links: dict[str, Link] = {}
        self._columns: Columns | None = None
        self._names: dict[str, str] = {}
        self._connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    async def aclose(self) -> None:
        await self.api.aclose()

    async def snapshots(self) -> AsyncIterator[AccountSnapshot]:
        failures = 0
        while True:
            try:
                if self._columns is None:
                    await self.load()
                for account in self._accounts:
                    snap = await self.snapshot(account)
                    failures = 0
                    self._connected = True
                    yield snap
                await asyncio.sleep(self.poll_interval)
            except RECOVERABLE as exc:
                self._connected = False
                delay = self._backoff.delay(failures)
                log.warning(
                    "TradeLocker: %s; retrying in %.1f s (attempt %d)",
                    exc,
                    delay,
                    failures + 1,
                    extra={"cause": f"TradeLocker: {exc}"},  # `check`'s one line gives the cause alone
                )
                failures += 1
                await asyncio.sleep(delay)

    async def load(self) -> None:
        """The accounts' ids and accNum, the column names, the rate limits and the instruments' names."""
        known = await self.api.accounts()
        for account in self._accounts:
            row = next((r for r in known if account == str(r.get("id"))), None)
            if row is None:
                listed = ", ".join(f"{r.get('id')} ({r.get('name')})" for r in known) or "none"
                raise PlatformError(f"TradeLocker account {account} is not one of this login's accounts: {listed}")
            self.links[account] = Link(int(row["id"]), int(row["accNum"]), str(row.get("currency") or "USD"))
        first = self.links[self._accounts[0]]
        config = await self.api.get("/trade/config", first.acc_num, "GET_CONFIG")
        self._columns = Columns.parse(config)
        limits = rate_limits(config)
        self.api.pace(limits)
        self._set_interval([limits[r].min_interval for r in POLLED_ROUTES if r in limits])
        for link in self.links.values():
            path = f"/trade/accounts/{link.account_id}/instruments"
            instruments = (await self.api.get(path, link.acc_num, "GET_INSTRUMENTS")).get("instruments") or []
            for item in instruments:
                if isinstance(item, dict):
                    self._names[str(item.get("tradableInstrumentId"))] = str(item.get("name"))

    def _set_interval(self, minimums: list[float]) -> None:
        floor = max(minimums, default=0.0) * len(self._accounts)
        self.poll_interval = max(self._asked_interval, floor)
        if self.poll_interval > self._asked_interval:
            log.warning(
                "TradeLocker: TRADELOCKER_POLL_INTERVAL %g s is faster than the server's published rate limits "
                "allow for %d account(s); polling every %g s",
                self._asked_interval,
                len(self._accounts),
                self.poll_interval,
            )

    async def snapshot(self, account: str) -> AccountSnapshot:
        columns, link = self._columns, self.links[account]
        assert columns is not None
        base = f"/trade/accounts/{link.account_id}"
        state = await self.api.get(f"{base}/state", link.acc_num, "GET_ACCOUNTS_STATE")
        values = state.get("accountDetailsData")
        if not isinstance(values, list) or len(values) != len(columns.state):
            raise ProtocolError("TradeLocker: accountDetailsData does not have the configured columns")
        positions = await self.api.get(f"{base}/positions", link.acc_num, "GET_POSITIONS")
        orders = await self.api.get(f"{base}/orders", link.acc_num, "GET_ORDERS")
        return build_snapshot(
            account,
            link,
            dict(zip(columns.state, values, strict=True)),
            rows(columns.positions, positions.get("positions"), "positions"),
            rows(columns.orders, orders.get("orders"), "orders"),
            self._names,
            self._clock.now(),
        )
