"""CTraderFeed: AccountSnapshots for every account on one Open API session, streamed or polled.

stream (default): after a reconcile, prices arrive as SpotEvents; each tick revalues the positions it
    touches and the account is queued for a snapshot. Executions, trader and margin updates apply at
    once. Every ``reconcile_interval`` the book is checked against the server's own figures (2187) and
    the drift corrected is logged.
poll: every ``poll_interval`` the server's figures (2121 + 2124 + 2187 + 2133) make the snapshot.

Snapshots are built when the consumer takes them: a consumer slower than the ticks gets each account's
latest state rather than a backlog.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import AsyncGenerator, Mapping
from typing import Literal

from riskmon.clock import Clock, SystemClock, TradingCalendar
from riskmon.errors import PlatformUnavailable, ProtocolError
from riskmon.models import AccountSnapshot

from . import api
from .book import AccountBook
from .codec import PT, Message, opt_int, req_int, sub
from .parsing import LightSymbol, ctrader_spot_price, ctrader_timestamp
from .session import CTraderApiError, CTraderSession
from .tasks import BackgroundTasks

log = logging.getLogger(__name__)

Mode = Literal["stream", "poll"]
LOAD_ATTEMPTS = 3
RECOVERABLE = (PlatformUnavailable, CTraderApiError, TimeoutError, ProtocolError)


class CTraderFeed:
    """Implements ``riskmon.platforms.base.Feed``. The session may be shared with a CTraderTrader; it
    is started by ``snapshots()`` and closed by whoever created it."""

    def __init__(
        self,
        session: CTraderSession,
        *,
        calendar: TradingCalendar | Mapping[str, TradingCalendar],
        mode: Mode = "stream",
        poll_interval: float = 2.0,
        reconcile_interval: float = 60.0,
        keepalive_interval: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self._session = session
        self._calendars = calendar  # one for all accounts, or each account's own firm calendar
        self._stream = mode == "stream"
        self._poll_interval = poll_interval
        self._reconcile_interval = reconcile_interval
        self._keepalive_interval = keepalive_interval
        self._clock = clock or SystemClock()
        self.books: dict[str, AccountBook] = {}
        self._light: dict[str, dict[int, LightSymbol]] = {}
        self._subscribed: defaultdict[str, set[int]] = defaultdict(set)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._dirty: asyncio.Queue[str | Exception] = asyncio.Queue()
        self._queued: set[str] = set()
        self._fresh: set[str] = set()  # accounts with news since their last snapshot
        self._synced: set[str] = set()  # accounts whose book was loaded on the current connection
        self._executions: defaultdict[str, int] = defaultdict(int)  # per account, to detect racing loads
        self._tasks = BackgroundTasks("feed task")
        session.add_listener(self._on_message)
        session.add_ready_hook(self._on_ready)
        session.add_fatal_hook(self._dirty.put_nowait)

    @property
    def connected(self) -> bool:
        return self._session.connected

    async def aclose(self) -> None:
        """Close the connection this feed (and its trader) use."""
        await self._session.close()

    def _calendar(self, account: str) -> TradingCalendar:
        calendars = self._calendars
        return calendars if isinstance(calendars, TradingCalendar) else calendars[account]

    async def snapshots(self) -> AsyncGenerator[AccountSnapshot, None]:
        await self._session.start()
        self._tasks.spawn(self._refresh_loop())
        if self._stream:
            self._tasks.spawn(self._keepalive_loop())
        try:
            while True:
                item = await self._dirty.get()
                if isinstance(item, Exception):
                    raise item
                self._queued.discard(item)
                keepalive = item not in self._fresh
                self._fresh.discard(item)
                yield self.books[item].snapshot(self._clock.now(), keepalive=keepalive)
        finally:
            await self._tasks.cancel()

    # ---- loading -------------------------------------------------------------------------------
    async def _on_ready(self, account: str) -> None:
        self._subscribed[account].clear()  # a new account session starts with no subscriptions
        self._synced.discard(account)  # frozen until reloaded: what it missed while away is unknown
        await self._refresh(account, with_deals=True)

    async def _keepalive_loop(self) -> None:
        """A quiet market sends no events: re-emit every book now and then, for the time-driven rules.

        Such a snapshot is fresh data only when the server has just spoken on the connection whose events
        keep the book in sync (loaded on it): the ordered stream then proves nothing changed. Any other
        re-emission (a book frozen since a reconnect, a silent link) is a keepalive: not fresh.
        """
        while True:
            await asyncio.sleep(self._keepalive_interval)
            heard = time.monotonic() - self._session.last_received < 2 * self._keepalive_interval
            if self._session.connected:
                for account in self.books:
                    self._mark(account, fresh=heard and account in self._synced)

    async def _refresh_loop(self) -> None:
        interval = self._reconcile_interval if self._stream else self._poll_interval
        while True:
            await asyncio.sleep(interval)
            for account in self._session.accounts:  # also those whose first load failed
                if not self._session.connected:
                    break
                try:
                    await self._refresh(account, with_deals=not self._stream)
                except RECOVERABLE as exc:
                    log.warning("cTrader refresh of %s failed: %s", account, exc)

    async def _refresh(self, account: str, *, with_deals: bool) -> None:
        session = self._session
        async with self._locks[account]:
            ctid = session.ctid(account)
            for _ in range(LOAD_ATTEMPTS):  # an execution landing mid-load could be undone by it: reload
                executions = self._executions[account]
                now = self._clock.now()
                day = self._calendar(account).day_of(now)
                info = await api.fetch_trader(session, ctid)
                positions, orders = await api.fetch_open(session, ctid, info.money_digits)
                pnl = await api.fetch_unrealized(session, ctid)
                book = self.books.get(account)
                if book is not None and not with_deals and book.day == day:
                    realized = book.realized_today
                else:
                    since = self._calendar(account).start_of(day)
                    realized = await api.fetch_realized(session, ctid, since, now, info.money_digits)
                if self._executions[account] == executions:
                    break
            if book is None:
                assets = await api.fetch_asset_names(session, ctid)
                currency = assets.get(info.deposit_asset_id, str(info.deposit_asset_id))
                book = self.books[account] = AccountBook(account, info, currency, self._calendar(account))
                before = None
            else:
                before = book.equity
            book.load(info, positions, orders, pnl, realized, day, now)
            await self._complete(account, book, ctid)
            self._synced.add(account)
        if self._stream and before is not None and before != book.equity:
            log.info(
                "cTrader %s reconciled: equity %s → %s (drift %s %s corrected)",
                account, before, book.equity, book.equity - before, book.currency,
            )  # fmt: skip
        self._mark(account)

    async def _complete(self, account: str, book: AccountBook, ctid: int) -> None:
        """Learn the specs and conversion chains of symbols the book lacks; subscribe to their prices."""
        session = self._session
        missing = book.missing_symbols()
        if missing:
            if account not in self._light:
                self._light[account] = await api.fetch_light_symbols(session, ctid)
            for spec in await api.fetch_symbol_specs(session, ctid, missing, self._light[account]):
                steps = book.steps.get(spec.quote_asset_id)
                if steps is None:
                    steps = await api.fetch_conversion(session, ctid, spec.quote_asset_id, book.info.deposit_asset_id)
                book.add_symbol(spec, steps)
        wanted = book.price_symbols() - self._subscribed[account]
        if wanted:
            await api.subscribe_spots(session, ctid, wanted)
            self._subscribed[account] |= wanted

    async def _complete_locked(self, account: str, book: AccountBook) -> None:
        async with self._locks[account]:
            await self._complete(account, book, self._session.ctid(account))
        self._mark(account)

    # ---- events (called synchronously by the session's reader) ---------------------------------
    def _on_message(self, msg: Message) -> None:
        payload = msg.payload
        ctid = opt_int(payload, "ctidTraderAccountId")
        account = None if ctid is None else self._session.account_of(ctid)
        if account is None:
            return
        pt = msg.payload_type
        if pt == PT.EXECUTION_EVENT:
            self._executions[account] += 1
        book = self.books.get(account)
        if book is None:
            return
        if pt == PT.SPOT_EVENT:
            bid, ask, stamp = opt_int(payload, "bid"), opt_int(payload, "ask"), opt_int(payload, "timestamp")
            changed = book.apply_spot(
                req_int(payload, "symbolId"),
                None if bid is None else ctrader_spot_price(bid),
                None if ask is None else ctrader_spot_price(ask),
                self._clock.now() if stamp is None else ctrader_timestamp(stamp),
            )
            if changed and self._stream:
                self._mark(account)
            return
        if pt == PT.EXECUTION_EVENT:
            book.apply_execution(payload, self._clock.now())
            if book.missing_symbols() or book.price_symbols() - self._subscribed[account]:
                self._tasks.spawn(self._complete_locked(account, book))  # snapshots once lots can be told
                return
        elif pt == PT.TRADER_UPDATED_EVENT:
            book.apply_trader(sub(payload, "trader"), self._clock.now())
        elif pt == PT.MARGIN_CHANGED_EVENT:
            book.apply_margin(payload, self._clock.now())
        else:
            return
        if self._stream:
            self._mark(account)

    def _mark(self, account: str, fresh: bool = True) -> None:
        if fresh:
            self._fresh.add(account)
        if account not in self._queued:
            self._queued.add(account)
            self._dirty.put_nowait(account)
