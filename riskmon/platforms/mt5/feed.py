"""MT5Feed: polls one terminal and turns what it reads into AccountSnapshots."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from riskmon.backoff import Backoff
from riskmon.clock import Clock, SystemClock, TradingCalendar
from riskmon.errors import PlatformUnavailable
from riskmon.models import AccountSnapshot
from riskmon.platforms.mt5.parsing import (
    conversion_symbols,
    mt5_account_to_balance,
    mt5_order_to_order,
    mt5_position_to_position,
    position_notional,
    rate_to_account,
    realized_pnl_from_deals,
    server_ms_to_utc,
    symbol_suffix,
    utc_to_server_seconds,
)
from riskmon.platforms.mt5.servertime import ServerTime
from riskmon.platforms.mt5.terminal import (
    MT5Terminal,
    expect_login,
    fetch_all,
    fetch_optional,
)

log = logging.getLogger(__name__)

RECONNECT_BACKOFF = Backoff(1.0, 60.0).delay
DEALS_REFRESH = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TerminalState:
    """Everything one poll reads from the terminal, as plain records."""

    account: dict[str, Any]
    positions: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    symbols: dict[str, dict[str, Any]]
    ticks: dict[str, dict[str, Any]]

    @property
    def latest_tick_ms(self) -> int | None:
        """The freshest quote's time (server clock, ms), if any symbol has one."""
        return max((int(t["time_msc"]) for t in self.ticks.values()), default=None)

    @property
    def history_mark(self) -> tuple[Any, ...]:
        """Changes whenever a new deal can change today's realised P&L: every such deal moves the
        balance (profit, swap, commission, fee, charges) or opens, closes or resizes a position."""
        held = sorted((p["ticket"], p["volume"]) for p in self.positions)
        return (self.account["balance"], self.account.get("credit"), tuple(held))


def read_state(mt5: Any, login: int, reference_symbols: Sequence[str] = ()) -> TerminalState:
    """On the terminal's thread: account ``login``, its positions, orders, and the symbols and quotes
    needed to value the positions in the account currency (plus ``reference_symbols``, for server-time
    estimation)."""
    account = expect_login(mt5, login)
    positions = fetch_all(mt5, "positions_get")
    orders = fetch_all(mt5, "orders_get")
    symbols: dict[str, dict[str, Any]] = {}
    ticks: dict[str, dict[str, Any]] = {}

    def load(name: str) -> bool:
        if name not in symbols:
            info = fetch_optional(mt5, "symbol_info", name)
            if info is None:
                return False
            if not info.get("select", True):  # quotes only flow for symbols in Market Watch
                mt5.symbol_select(name, True)
            symbols[name] = info
            if (tick := fetch_optional(mt5, "symbol_info_tick", name)) is not None:
                ticks[name] = tick
        return True

    held = sorted({p["symbol"] for p in positions})
    for name in [*held, *reference_symbols]:
        load(name)
    for name in held:
        info = symbols.get(name)
        if info is None or info["currency_profit"] == account["currency"]:
            continue
        suffix = symbol_suffix(name, info)
        for pair, _ in conversion_symbols(info["currency_profit"], account["currency"], suffix):
            if load(pair):
                break
    return TerminalState(account, positions, orders, symbols, ticks)


def build_snapshot(
    state: TerminalState,
    *,
    account: str,
    offset: timedelta | None,
    realized_today: Decimal | None,
    received_at: datetime,
) -> AccountSnapshot:
    """Pure: one poll's records as a snapshot. ``offset`` None means server time is unknown (taken as UTC
    for position open times; the snapshot is then stamped with ``received_at``)."""
    figures = mt5_account_to_balance(state.account)
    shift = offset or timedelta(0)
    positions = []
    for pos in state.positions:
        info = state.symbols.get(pos["symbol"])
        notional = None
        if info is not None:
            rate = rate_to_account(
                info["currency_profit"], figures.currency, state.ticks, symbol_suffix(pos["symbol"], info)
            )
            notional = position_notional(pos, info, account_currency=figures.currency, rate=rate)
        positions.append(mt5_position_to_position(pos, notional=notional, offset=shift))
    ts = received_at
    if offset is not None and state.latest_tick_ms is not None:
        ts = min(received_at, server_ms_to_utc(state.latest_tick_ms, offset))
    return AccountSnapshot(
        account=account,
        balance=figures.balance,
        equity=figures.equity,
        ts=ts,
        platform="mt5",
        currency=figures.currency,
        margin=figures.margin,
        positions=tuple(positions),
        orders=tuple(mt5_order_to_order(o) for o in state.orders),
        received_at=received_at,
        realized_today=realized_today,
        leverage=figures.leverage,
    )


class MT5Feed:
    """Polls one MT5 terminal every ``poll_interval`` seconds.

    ``server_utc_offset``: the broker server's offset from UTC in hours, or None to estimate it from
    fresh quotes (of held symbols and ``reference_symbols``). Until it is known ``realized_today`` is None.
    ``backoff(attempt)`` gives the delay before reconnect attempt ``attempt``; ``sleep`` waits.
    """

    def __init__(
        self,
        terminal: MT5Terminal,
        *,
        calendar: TradingCalendar,
        clock: Clock | None = None,
        poll_interval: float = 1.0,
        server_utc_offset: float | None = None,
        reference_symbols: Sequence[str] = ("EURUSD",),
        backoff: Callable[[int], float] = RECONNECT_BACKOFF,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._terminal = terminal
        self._calendar = calendar
        self._clock = clock or SystemClock()
        self._poll_interval = poll_interval
        self._server_time = ServerTime(server_utc_offset)
        self._reference_symbols = tuple(reference_symbols)
        self._backoff = backoff
        self._sleep = sleep
        self._connected = False
        self._warned_offset = False
        self._realized: tuple[tuple[Any, ...], datetime, Decimal] | None = None  # (mark, read at, value)

    @property
    def account(self) -> str:
        return self._terminal.account

    @property
    def connected(self) -> bool:
        return self._connected

    async def aclose(self) -> None:
        """Shut the terminal (and its worker thread) down; the trader shares it."""
        await self._terminal.close()

    async def snapshot(self) -> AccountSnapshot:
        """Poll once. Raises PlatformUnavailable / AuthenticationError as the terminal does."""
        login, symbols = self._terminal.login, self._reference_symbols
        state = await self._terminal.run(lambda mt5: read_state(mt5, login, symbols))
        now = self._clock.now()
        offset = self._server_time.observe(state.latest_tick_ms, now)
        realized = await self._realized_today(now, offset, state.history_mark)
        return build_snapshot(state, account=self.account, offset=offset, realized_today=realized, received_at=now)

    async def _realized_today(
        self, now: datetime, offset: timedelta | None, history_mark: tuple[Any, ...]
    ) -> Decimal | None:
        """Today's closed P&L from the deal history, re-read only when the account shows a new deal may
        exist (or the day, or offset, changed), and at least every DEALS_REFRESH in case history arrives
        late: reading a day of deals over the bridge costs round trips per deal."""
        if offset is None:
            if not self._warned_offset:
                log.warning(
                    "MT5 account %s: server time offset unknown (no fresh quotes); realised P&L today "
                    "unavailable until quotes flow or MT5_SERVER_UTC_OFFSET is set",
                    self.account,
                )
                self._warned_offset = True
            return None
        start = self._calendar.start_of(self._calendar.day_of(now))
        end = self._calendar.next_reset(now)
        mark = (start, offset, *history_mark)
        if self._realized is not None:
            last_mark, read_at, value = self._realized
            if last_mark == mark and timedelta(0) <= now - read_at < DEALS_REFRESH:
                return value
        window = (utc_to_server_seconds(start, offset), utc_to_server_seconds(end, offset))
        deals = await self._terminal.run(lambda mt5: fetch_all(mt5, "history_deals_get", *window))
        value = realized_pnl_from_deals(deals, start=start, end=end, offset=offset)
        self._realized = (mark, now, value)
        return value

    async def snapshots(self) -> AsyncIterator[AccountSnapshot]:
        failures = 0
        while True:
            try:
                snap = await self.snapshot()
            except PlatformUnavailable as exc:
                self._connected = False
                self._realized = None  # history is re-read in full after a reconnect
                delay = self._backoff(failures)
                if failures == 0:
                    log.warning(
                        "MT5 account %s: %s; reconnecting (first retry in %g s)",
                        self.account,
                        exc,
                        delay,
                        extra={"cause": f"MT5 account {self.account}: {exc}"},
                    )
                failures += 1
                await self._sleep(delay)
                continue
            if failures:
                log.info("MT5 account %s: snapshots resumed after %d failed attempts", self.account, failures)
                failures = 0
            self._connected = True
            yield snap
            await self._sleep(self._poll_interval)
