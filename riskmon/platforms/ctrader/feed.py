"""CTraderFeed: AccountSnapshots for every account on one Open API session, streamed or polled.

stream (default): after a reconcile, prices arrive as SpotEvents; each tick revalues the positions it
    touches and the account is queued for a snapshot. Executions, trader and margin updates apply at
    once. Every ``reconcile_interval`` the book is checked against the server's own figures (2187) and
    the drift corrected is logged.
poll: every ``poll_interval`` the server's figures (2121 + 2124 + 2187 + 2133) make the snapshot.

Snapshots are built when the consumer takes them: a consumer slower than the ticks gets each account's
latest state rather than a backlog, but never at the cost of a fall: a state with less equity than any
the consumer has been given since is kept when the next event changes the book, and handed over before
the latest (a dip and its recovery between two takes would otherwise never be evaluated). States in the
middle of a trade (between its execution events) are never kept: they are no state the account was in.

Loads after a (re)connect wait for the server's rate limits (50 requests a second, 5 for history), so a
few workers take them, a few accounts at a time, in order of need (``prioritise``): accounts riskmon
knows nothing of, then the closest to a floor; the session serves requests at the limits in the same
order. Books thaw steadily, the most urgent first, instead of all together at the end. A book already
loaded on an earlier connection is reloaded without its deal history first (trader, positions, P&L: the
figures the rules read) and its realised P&L is refreshed from the history afterwards, when the more
urgent loads are done.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import AsyncGenerator, Mapping
from decimal import Decimal
from enum import IntEnum
from typing import Literal

from riskmon.clock import Clock, SystemClock, TradingCalendar
from riskmon.errors import PlatformUnavailable, ProtocolError
from riskmon.models import AccountSnapshot
from riskmon.platforms.base import RoomLeft

from . import api
from .book import AccountBook
from .codec import PT, Message, opt_int, req_int, sub
from .parsing import LightSymbol, ctrader_spot_price, ctrader_timestamp
from .session import CTraderApiError, CTraderSession
from .tasks import BackgroundTasks

log = logging.getLogger(__name__)

Mode = Literal["stream", "poll"]
LOAD_ATTEMPTS = 3
LOAD_WORKERS = 4  # loads in flight at once: enough to keep the rate limits busy, few enough to keep the order


class Load(IntEnum):
    """What a queued load fetches, in order of precedence."""

    BOOK = 0  # the account's figures: its first load, or a reload after a reconnect
    HISTORY = 1  # today's deals again (realised P&L), for a book reloaded without them


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
        self._given: dict[str, Decimal] = {}  # equity of the last snapshot handed over, per account
        self._lows: dict[str, AccountSnapshot] = {}  # a fall the consumer has not taken yet, kept by the next event
        self._traded: set[str] = set()  # accounts with an execution since their last snapshot (a state in between)
        self._synced: set[str] = set()  # accounts whose book was loaded on the current connection
        self._executions: defaultdict[str, int] = defaultdict(int)  # per account, to detect racing loads
        self._room_left: RoomLeft = lambda account: None
        self._loads: list[tuple[Load, float, int, str]] = []  # heap: what, how urgent, arrival order, account
        self._load_wanted: dict[str, Load] = {}  # the load each queued account is waiting for
        self._load_ready = asyncio.Semaphore(0)  # one release per queued load
        self._arrivals = itertools.count()
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

    def prioritise(self, room_left: RoomLeft) -> None:
        """Authorise and load first the accounts with the least room left (``base.Prioritised``)."""
        self._room_left = room_left
        self._session.rank_by(self._need)

    def _need(self, account: str) -> float:
        """Lower first: nothing known, then the least room left before a floor."""
        room = self._room_left(account)
        return float("-inf") if room is None else float(room)

    async def snapshots(self) -> AsyncGenerator[AccountSnapshot, None]:
        for _ in range(LOAD_WORKERS):  # before the session starts: accounts are ready one by one as authorised
            self._tasks.spawn(self._load_worker())
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
                snapshot = self.books[item].snapshot(self._clock.now(), keepalive=keepalive)
                low = self._lows.pop(item, None)
                self._traded.discard(item)
                if low is not None and low.equity < snapshot.equity:
                    yield low
                self._given[item] = snapshot.equity
                yield snapshot
        finally:
            await self._tasks.cancel()

    # ---- loading -------------------------------------------------------------------------------
    async def _on_ready(self, account: str) -> None:
        self._subscribed[account].clear()  # a new account session starts with no subscriptions
        self._synced.discard(account)  # frozen until reloaded: what it missed while away is unknown
        self._want(account, Load.BOOK)

    def _want(self, account: str, load: Load) -> None:
        """Queue a load of ``account``, ranked by need: unknown accounts first, then the least room left."""
        queued = self._load_wanted.get(account)
        if queued is not None and queued <= load:
            return  # already waiting for this load or a fuller one
        self._load_wanted[account] = load
        heapq.heappush(self._loads, (load, self._need(account), next(self._arrivals), account))
        self._load_ready.release()

    async def _load_worker(self) -> None:
        while True:
            await self._load_ready.acquire()
            load, _, _, account = heapq.heappop(self._loads)
            if self._load_wanted.get(account) is not load:
                continue  # superseded by a fuller load of the same account
            del self._load_wanted[account]
            if not self._session.connected:
                continue  # the reconnect queues every account again
            try:
                deals = await self._refresh(account, with_deals=load is Load.HISTORY)
            except RECOVERABLE as exc:
                log.warning("cTrader load of %s failed (%s); the next reconcile retries it", account, exc)
                continue
            if not deals:
                self._want(account, Load.HISTORY)

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
                if self._load_wanted.get(account) is Load.BOOK:
                    continue  # still queued for its load, by need: the workers will get to it
                try:
                    await self._refresh(account, with_deals=not self._stream)
                except RECOVERABLE as exc:
                    log.warning("cTrader refresh of %s failed: %s", account, exc)

    async def _refresh(self, account: str, *, with_deals: bool) -> bool:
        """Load the account's book from the server; True when today's deals were read for it too."""
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
                deals = book is None or with_deals or book.day != day
                if book is not None and not deals:
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
        return deals

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
        book = self.books.get(account)
        if account in self._queued and book is not None and account not in self._traded:
            self._keep_low(account, book)
        if pt == PT.EXECUTION_EVENT:
            self._executions[account] += 1
            self._traded.add(account)
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

    def _keep_low(self, account: str, book: AccountBook) -> None:
        """Before an event changes a book whose snapshot is still waiting for the consumer: keep the state
        as it is if its equity is below all the consumer was given or kept since, so a recovery cannot hide it.
        Not once a trade has begun to change the book: a close comes as several events, and the state between
        them (the position gone, the balance not yet credited) is no state the account was ever in."""
        low = self._lows.get(account)
        given = self._given.get(account)
        equity = book.equity
        if (low is None or equity < low.equity) and (given is None or equity < given):
            self._lows[account] = book.snapshot(self._clock.now())

    def _mark(self, account: str, fresh: bool = True) -> None:
        if fresh:
            self._fresh.add(account)
        if account not in self._queued:
            self._queued.add(account)
            self._dirty.put_nowait(account)
