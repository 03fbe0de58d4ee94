"""ProjectXFeed: AccountSnapshots for every account of one ProjectX user, streamed or polled.

stream (default): the state is read by REST (accounts, open positions, open orders, today's trades,
    each held contract's tick size and value and its last price), then the user hub's events
    (GatewayUserAccount/Position/Order/Trade) and the market hub's GatewayQuote keep it current; every
    quote revalues the positions in its contract. A lost hub is reconnected (with backoff), the state
    read again and every subscription made again. Every ``reconcile_interval`` the state is re-read by
    REST anyway (events are not acknowledged, so one may be missed), and at once after a malformed frame.
poll: every ``poll_interval`` the same REST reads, prices from each held contract's last one-minute bar.

A quiet account is sent again every ``keepalive_interval`` while its hubs are alive, so silence means
riskmon is blind, not that nothing moved.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from riskmon.backoff import Backoff
from riskmon.clock import Clock, SystemClock, TradingCalendar
from riskmon.errors import PlatformError, PlatformUnavailable, ProtocolError
from riskmon.models import AccountSnapshot

from .book import AccountBook, Contract, FuturesPosition, Quote, identifier
from .gateway import Gateway, GatewayRefusal
from .signalr import HubConnection, HubUnauthorized

log = logging.getLogger(__name__)

Mode = Literal["stream", "poll"]
RECONNECT = Backoff(1.0, 60.0, jitter=0.2)
RECOVERABLE = (PlatformUnavailable, ProtocolError, GatewayRefusal, TimeoutError)


class ProjectXFeed:
    """Implements ``riskmon.platforms.base.Feed`` for the accounts of one gateway session."""

    def __init__(
        self,
        gateway: Gateway,
        calendars: Mapping[str, TradingCalendar],
        *,
        user_hub_url: str,
        market_hub_url: str,
        mode: Mode = "stream",
        poll_interval: float = 5.0,
        keepalive_interval: float = 10.0,
        reconcile_interval: float = 60.0,
        server_timeout: float = 30.0,
        clock: Clock | None = None,
        backoff: Backoff = RECONNECT,
    ) -> None:
        self.gateway = gateway
        self._calendars = dict(calendars)
        self._user_url = user_hub_url
        self._market_url = market_hub_url
        self._stream_mode = mode == "stream"
        self._poll_interval = poll_interval
        self._keepalive = keepalive_interval
        self._reconcile_interval = reconcile_interval
        self._server_timeout = server_timeout
        self._clock = clock or SystemClock()
        self._backoff = backoff
        self.books: dict[str, AccountBook] = {a: AccountBook(a) for a in calendars}
        self.contracts: dict[str, Contract] = {}
        self.quotes: dict[str, Quote] = {}
        self._gateway_ids: dict[str, int] = {}  # configured account -> the gateway's account id
        self._configured: dict[str, str] = {}  # the gateway's id (text) -> configured account
        self._dirty: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._stale_state = False  # a frame was malformed or an event unreadable: re-read by REST
        self._new_contracts: set[str] = set()
        self._market: HubConnection | None = None
        self._connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    async def aclose(self) -> None:
        await self.gateway.aclose()

    def gateway_id(self, account: str) -> int | None:
        return self._gateway_ids.get(account)

    def position(self, account: str, position_id: str) -> FuturesPosition | None:
        book = self.books.get(account)
        return book.positions.get(position_id) if book else None

    async def snapshots(self) -> AsyncIterator[AccountSnapshot]:
        failures = 0
        while True:
            try:
                async for snap in self._stream() if self._stream_mode else self._poll():
                    failures = 0
                    yield snap
            except HubUnauthorized as exc:
                self.gateway.forget_token()
                self._lost(exc, failures)
            except RECOVERABLE as exc:
                self._lost(exc, failures)
            else:
                continue
            await asyncio.sleep(self._backoff.delay(failures))
            failures += 1

    def _lost(self, exc: Exception, failures: int) -> None:
        self._connected = False
        log.warning(
            "ProjectX: %s; reconnecting in %.1f s (attempt %d)",
            exc,
            self._backoff.delay(failures),
            failures + 1,
            extra={"cause": f"ProjectX: {exc}"},  # `check`'s one line gives the cause alone (it does not retry)
        )

    # -- REST ---------------------------------------------------------------------------------------------

    async def load(self, bar_prices: bool = False) -> None:
        """Everything by REST: accounts, positions, orders, today's trades, contracts, missing prices."""
        answer = await self.gateway.call("/api/Account/search", {"onlyActiveAccounts": False})
        rows = [row for row in answer.get("accounts") or [] if isinstance(row, Mapping)]
        for account, book in self.books.items():
            row = next((r for r in rows if account in (str(r.get("id")), r.get("name"))), None)
            if row is None:
                known = ", ".join(f"{r.get('id')} ({r.get('name')})" for r in rows) or "none"
                raise PlatformError(f"ProjectX account {account} is not one of this user's accounts: {known}")
            book.apply_account(row)
            self._gateway_ids[account] = int(identifier(row))
            self._configured[identifier(row)] = account
        now = self._clock.now()
        for account, book in self.books.items():
            body = {"accountId": self._gateway_ids[account]}
            book.set_positions((await self.gateway.call("/api/Position/searchOpen", body)).get("positions") or [])
            book.set_orders((await self.gateway.call("/api/Order/searchOpen", body)).get("orders") or [])
            start = self._day_start(account, now)
            trades = await self.gateway.call("/api/Trade/search", body | {"startTimestamp": start.isoformat()})
            book.set_trades(trades.get("trades") or [])
        for contract_id in self._held() - self.contracts.keys():
            await self._contract(contract_id)
        for contract_id in self._held():
            if bar_prices or contract_id not in self.quotes:
                await self._bar_price(contract_id, now)

    async def _contract(self, contract_id: str) -> None:
        answer = await self.gateway.call("/api/Contract/searchById", {"contractId": contract_id})
        contract = answer.get("contract")
        if not isinstance(contract, Mapping):
            raise ProtocolError(f"ProjectX: no contract in the answer for {contract_id}")
        self.contracts[contract_id] = Contract.parse(contract)

    async def _bar_price(self, contract_id: str, now: datetime) -> None:
        """The close of the contract's latest one-minute bar (the partial one included): its last trade."""
        body = {
            "contractId": contract_id,
            "live": False,
            "startTime": (now - timedelta(minutes=30)).isoformat(),
            "endTime": now.isoformat(),
            "unit": 2,
            "unitNumber": 1,
            "limit": 1,
            "includePartialBar": True,
        }
        bars = (await self.gateway.call("/api/History/retrieveBars", body)).get("bars") or []
        if bars and isinstance(bars[0], Mapping) and bars[0].get("c") is not None:
            last = Quote().merged({"lastPrice": bars[0]["c"]}).last
            self.quotes[contract_id] = Quote(last=last)

    def _held(self) -> set[str]:
        return {c for book in self.books.values() for c in book.contracts_held()}

    def _day_start(self, account: str, now: datetime) -> datetime:
        calendar = self._calendars[account]
        return calendar.start_of(calendar.day_of(now))

    def snapshot(self, account: str) -> AccountSnapshot:
        now = self._clock.now()
        return self.books[account].snapshot(
            self.contracts, self.quotes, now=now, day_start=self._day_start(account, now)
        )

    # -- poll ---------------------------------------------------------------------------------------------

    async def _poll(self) -> AsyncIterator[AccountSnapshot]:
        while True:
            await self.load(bar_prices=True)
            self._connected = True
            for account in self.books:
                yield self.snapshot(account)
            await asyncio.sleep(self._poll_interval)

    # -- stream -------------------------------------------------------------------------------------------

    async def _stream(self) -> AsyncIterator[AccountSnapshot]:
        await self.load()
        self._stale_state = False
        token = await self.gateway.token()
        user = HubConnection(
            "user", self._user_url, self._on_user, server_timeout=self._server_timeout, on_malformed=self._malformed
        )
        market = HubConnection(
            "market",
            self._market_url,
            self._on_market,
            server_timeout=self._server_timeout,
            on_malformed=self._malformed,
        )
        hubs = [
            asyncio.create_task(user.run(token, self._subscribe_user), name="projectx user hub"),
            asyncio.create_task(market.run(token, self._subscribe_market), name="projectx market hub"),
        ]
        self._market = market
        try:
            self._connected = True
            for account in self.books:
                yield self.snapshot(account)
            reconciled = time.monotonic()
            while True:
                dirty = await self._next_dirty(hubs)
                if self._stale_state or time.monotonic() - reconciled >= self._reconcile_interval:
                    await self.load()
                    self._stale_state = False
                    reconciled = time.monotonic()
                    dirty = set(self.books)
                for contract_id in sorted(self._new_contracts):
                    await self._follow(contract_id)
                for account in dirty:
                    yield self.snapshot(account)
        finally:
            self._market = None
            for task in hubs:
                task.cancel()
            await asyncio.gather(*hubs, return_exceptions=True)

    async def _next_dirty(self, hubs: list[asyncio.Task[None]]) -> set[str]:
        """The accounts changed since the last call; every account when ``keepalive`` passed quietly.
        A hub task that ended raises what ended it."""
        getter = asyncio.create_task(self._dirty.get())
        try:
            done, _ = await asyncio.wait({getter, *hubs}, timeout=self._keepalive, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        for task in hubs:
            if task.done():
                task.result()  # raises: the link is lost
                raise PlatformUnavailable(f"{task.get_name()} ended")
        if getter not in done:
            return set(self.books)
        accounts = {getter.result()}
        while not self._dirty.empty():
            accounts.add(self._dirty.get_nowait())
        self._queued.clear()
        return accounts

    async def _follow(self, contract_id: str) -> None:
        """A position in a contract not seen before: learn its ticks and subscribe to its quotes."""
        self._new_contracts.discard(contract_id)
        if contract_id not in self.contracts:
            await self._contract(contract_id)
        if self._market is not None and self._market.connected:
            await self._market.invoke("SubscribeContractQuotes", contract_id)
        self._mark_holding(contract_id)

    async def _subscribe_user(self, hub: HubConnection) -> None:
        await hub.invoke("SubscribeAccounts")
        for gateway_id in self._gateway_ids.values():
            for method in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
                await hub.invoke(method, gateway_id)

    async def _subscribe_market(self, hub: HubConnection) -> None:
        for contract_id in sorted(self._held()):
            await hub.invoke("SubscribeContractQuotes", contract_id)

    def _malformed(self, hub: str) -> None:
        self._stale_state = True
        self._mark(next(iter(self.books)))

    def _mark(self, account: str) -> None:
        if account not in self._queued:
            self._queued.add(account)
            self._dirty.put_nowait(account)

    def _mark_holding(self, contract_id: str) -> None:
        for account, book in self.books.items():
            if contract_id in book.contracts_held():
                self._mark(account)

    def _on_user(self, target: str, arguments: list[Any]) -> None:
        handlers = {
            "gatewayuseraccount": AccountBook.apply_account,
            "gatewayuserposition": AccountBook.apply_position,
            "gatewayuserorder": AccountBook.apply_order,
            "gatewayusertrade": AccountBook.apply_trade,
        }
        handler = handlers.get(target.lower())
        if handler is None:
            return
        try:
            data = arguments[0]
            key = "id" if target.lower() == "gatewayuseraccount" else "accountId"
            account = self._configured.get(identifier(data, key))
            if account is None:
                return  # another account of the same user
            handler(self.books[account], data)
        except (ProtocolError, IndexError, TypeError, AttributeError) as exc:
            log.warning("ProjectX user hub: %s event unreadable (%s); state re-read by REST", target, exc)
            self._malformed("user")
            return
        for contract_id in self.books[account].contracts_held() - self.contracts.keys():
            self._new_contracts.add(contract_id)
        self._mark(account)

    def _on_market(self, target: str, arguments: list[Any]) -> None:
        if target.lower() != "gatewayquote":
            return
        try:
            contract_id, data = str(arguments[0]), arguments[1]
            self.quotes[contract_id] = self.quotes.get(contract_id, Quote()).merged(data)
        except (ProtocolError, IndexError, TypeError, AttributeError) as exc:
            log.warning("ProjectX market hub: quote unreadable (%s); skipped", exc)
            return
        self._mark_holding(contract_id)
