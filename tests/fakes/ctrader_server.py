"""A fake cTrader Open API server: the JSON protocol over a real WebSocket on 127.0.0.1.

Control API (all money in Decimal account currency, prices in Decimal, volumes in lots)::

    server = FakeCTraderServer()                       # enum_names / int64_as_strings vary the encoding
    url = await server.start()                         # ws://127.0.0.1:<port>
    server.add_symbol("EURUSD", "EUR", "USD", bid="1.10000", ask="1.10010")
    server.add_account(ctid=1001, login=555, currency="USD", balance="10000")
    pid = await server.open_position(1001, "EURUSD", "BUY", lots="1", price="1.09")
    oid = server.add_order(1001, "EURUSD", "SELL", lots="0.5", kind="LIMIT", price="1.2")
    await server.set_price("EURUSD", bid="1.1010")      # SpotEvent to every subscribed account
    await server.send_spot(1001, "EURUSD", bid=..., ask=...)  # one tick to one account (benchmarks)
    await server.deposit(1001, "500")                   # ExecutionEvent DEPOSIT_WITHDRAW
    server.add_deal(1001, when=ts, gross="120")         # history for DealList (opening=True: commission only)
    server.equity(1001), server.unrealized(1001)        # the server's own figures (cTrader's definition)
    server.balance(1001), server.margin(1001)

Account events: ``set_margin(pid, m)`` (2141), ``set_leverage(ctid, n)`` (2123), ``charge_swap(pid, x)``.
Timestamps come from ``clock`` (a riskmon Clock; ManualClock in tests). Like the real proxy it sends
heartbeats, every ``heartbeat_interval`` seconds (10 by default; None for tests that want full control).

As the definitions describe the server: a close is answered ORDER_ACCEPTED, then ORDER_FILLED with the
order, the deal and its closePositionDetail (``fill_client_msg_id = False``: the fill without the
request's clientMsgId; ``fill_parts = n``: filled in n deals, ORDER_PARTIAL_FILL for each but the last,
the order's executedVolume counting them all); an opening fill carries its opening deal with the deal's
own commission, which moves no balance (the close realises both sides); DealList honours maxRows (and
``max_deal_rows``) with hasMore, pages the oldest or the newest deals, in order or shuffled
(``deal_order``); a refreshed token ends, with AccountsTokenInvalidatedEvent (2147), every account session
authorised with the old one. Accounts may have any ``money_digits`` (0, 2, 8); ``omit_money_digits``
leaves the optional moneyDigits out of positions, deals, margin and cash events.
``add_symbol(max_lots=...)`` sets maxVolume (a larger close is refused with TRADING_BAD_VOLUME),
``bare=True`` lists a symbol without its optional fields.

Every frame either way is checked against Spotware's message definitions (``tests/fakes/ctrader_schema``);
``stop()`` fails the test if any broke them (``schema_errors``; ``check_frames=False`` only in benchmarks).

Faults: ``drop_connections()``, ``go_silent()``, ``invalidate_token(ctids)``, ``disconnect_account(ctid)``,
``end_application_session()``, ``expire_access_token()``, ``fail_next(payload_type, code, carrier,
retry_after, after=n)``, ``send_raw(text)`` (not checked: malformed on purpose), ``market_closed`` and
``holidays`` (sets of symbol names), ``response_delay`` (seconds), ``response_delays`` (seconds per request
payload type, overriding ``response_delay``).
Records: ``close_requests`` / ``cancel_requests`` (``Received`` with a monotonic receive time),
``requests`` (payload types, in order), ``account_requests`` ((payload type, ctid or 0), in order),
``await received(payload_type)``, ``await arrived(payload_type)``
(on the wire, before ``response_delay``), ``connections_opened``, ``open_connections``,
``account_auths``, ``heartbeats_received``.

Valuation (shared definition with the client, computed here independently by graph search): a BUY closes
at the bid, a SELL at the ask; quote → deposit along the shortest symbol path, multiplying by the bid when
the asset in hand is a symbol's base and dividing by the ask when it is its quote; each position rounded
half-up to moneyDigits. net = gross + swap + commission.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from riskmon.clock import Clock, SystemClock
from tests.fakes.ctrader_schema import check_frame

SIDES = {"BUY": 1, "SELL": 2}
EXEC = {
    "ORDER_ACCEPTED": 2,
    "ORDER_FILLED": 3,
    "ORDER_CANCELLED": 5,
    "ORDER_REJECTED": 7,
    "ORDER_PARTIAL_FILL": 11,
    "SWAP": 9,
    "DEPOSIT_WITHDRAW": 10,
}
ORDER_TYPES = {"MARKET": 1, "LIMIT": 2, "STOP": 3}
POSITION_STATUS = {"POSITION_STATUS_OPEN": 1, "POSITION_STATUS_CLOSED": 2}
ORDER_STATUS = {"ORDER_STATUS_ACCEPTED": 1, "ORDER_STATUS_FILLED": 2, "ORDER_STATUS_CANCELLED": 5}
UNIT_CENTS = 100


def D(x: Any) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


@dataclass
class FakeSymbol:
    id: int
    name: str
    base: str
    quote: str
    bid: Decimal
    ask: Decimal
    lot_size: int = 10_000_000  # cents of a unit: 100,000 units; min and step volume are 0.01 lot
    digits: int = 5
    max_volume: int | None = None  # maxVolume in cents of a unit: a larger close is refused
    bare: bool = False  # lists only what the proto requires: no base/quote asset, no lotSize


@dataclass
class FakeAccount:
    ctid: int
    login: int
    currency: str
    balance: int  # raw, 10^-money_digits
    money_digits: int = 2
    leverage_in_cents: int = 10_000
    is_live: bool = False


@dataclass
class FakePosition:
    id: int
    ctid: int
    symbol_id: int
    side: str
    volume: int  # cents of a unit
    price: Decimal
    swap: int = 0
    commission: int = 0
    used_margin: int = 0
    opened_ms: int = 0


@dataclass
class FakeOrder:
    id: int
    ctid: int
    symbol_id: int
    side: str
    volume: int
    kind: str
    price: Decimal


@dataclass
class Received:
    ctid: int
    target_id: int
    volume: int | None
    received_at: float  # time.monotonic()
    client_msg_id: str | None


@dataclass
class _Conn:
    ws: ServerConnection
    app_authed: bool = False
    accounts: set[int] = field(default_factory=set)
    spots: dict[int, set[int]] = field(default_factory=dict)  # ctid → symbol ids
    tokens: dict[int, str] = field(default_factory=dict)  # ctid → the access token it was authorised with
    silent: bool = False


class FakeCTraderServer:
    def __init__(
        self,
        *,
        client_id: str = "app-id",
        client_secret: str = "app-secret",
        access_token: str = "access-0",
        refresh_token: str = "refresh-0",
        enum_names: bool = True,
        int64_as_strings: bool = True,
        heartbeat_interval: float | None = 10.0,
        clock: Clock | None = None,
        check_frames: bool = True,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.access_token, self.refresh_token = access_token, refresh_token
        self.enum_names, self.int64_as_strings = enum_names, int64_as_strings
        self.heartbeat_interval = heartbeat_interval
        self.clock = clock or SystemClock()
        self.assets: dict[str, int] = {}
        self.symbols: dict[int, FakeSymbol] = {}
        self.accounts: dict[int, FakeAccount] = {}
        self.positions: dict[int, FakePosition] = {}
        self.orders: dict[int, FakeOrder] = {}
        self.deals: dict[int, list[dict[str, Any]]] = {}
        self.market_closed: set[str] = set()
        self.holidays: set[str] = set()  # symbol names whose closes are refused with SYMBOL_HAS_HOLIDAY
        self.fill_client_msg_id = True  # False: ORDER_FILLED comes without the request's clientMsgId
        self.fill_parts = 1  # a close filled in this many deals: ORDER_PARTIAL_FILL for each but the last
        self.omit_money_digits = False  # positions, deals, margin and cash events leave moneyDigits out
        self.deal_order = "oldest_first"  # DealList pages: oldest_first, newest_first or shuffled (newest)
        self.max_deal_rows: int | None = None  # the server's own page limit, under the request's maxRows
        self.response_delay = 0.0
        self.response_delays: dict[int, float] = {}
        self.close_requests: list[Received] = []
        self.cancel_requests: list[Received] = []
        self.requests: list[int] = []
        self.account_requests: list[tuple[int, int]] = []
        self._seen: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self._arrived: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.check_frames = check_frames  # off only in benchmarks, where the check's time would count
        self.schema_errors: list[str] = []  # frames, either way, that the official definitions refuse
        self.connections_opened = 0
        self.account_auths = 0
        self.heartbeats_received = 0
        self._failures: dict[int, deque[list[Any]]] = {}  # [requests to serve first, code, carrier, retryAfter]
        self._conns: list[_Conn] = []
        self._ids = itertools.count(1)  # positions and pending orders
        self._history_ids = itertools.count(500_001)  # market orders, deals, balance operations
        self._token_serial = itertools.count(1)
        self._server: Server | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.url = ""

    # ---- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> str:
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None, max_size=None)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        if self.heartbeat_interval:
            self._heartbeat_task = asyncio.create_task(self._heartbeats(self.heartbeat_interval))
        return self.url

    async def stop(self) -> None:
        """Stop serving; fail (AssertionError) if any frame either way broke the official definitions."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.schema_errors:
            raise AssertionError("frames that break the Open API definitions:\n" + "\n".join(self.schema_errors))

    def _check(self, direction: str, text: str | bytes) -> None:
        if self.check_frames:
            self.schema_errors += [f"{direction}: {problem}" for problem in check_frame(text)]

    async def __aenter__(self) -> FakeCTraderServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- set-up ---------------------------------------------------------------------------------
    def asset(self, name: str) -> int:
        return self.assets.setdefault(name, len(self.assets) + 1)

    def add_symbol(
        self,
        name: str,
        base: str,
        quote: str,
        *,
        bid: Any,
        ask: Any,
        lot_size: int = 10_000_000,
        digits: int = 5,
        max_lots: Any = None,
        bare: bool = False,
    ) -> int:
        self.asset(base), self.asset(quote)
        sid = len(self.symbols) + 1
        max_volume = None if max_lots is None else int(D(max_lots) * lot_size)
        self.symbols[sid] = FakeSymbol(sid, name, base, quote, D(bid), D(ask), lot_size, digits, max_volume, bare)
        return sid

    def add_account(
        self,
        *,
        ctid: int,
        login: int,
        currency: str = "USD",
        balance: Any = "10000",
        money_digits: int = 2,
        leverage: int = 100,
        is_live: bool = False,
    ) -> FakeAccount:
        self.asset(currency)
        account = FakeAccount(
            ctid, login, currency, self._raw(D(balance), money_digits), money_digits, leverage * 100, is_live
        )
        self.accounts[ctid] = account
        self.deals[ctid] = []
        return account

    def symbol(self, name: str) -> FakeSymbol:
        return next(s for s in self.symbols.values() if s.name == name)

    async def open_position(
        self,
        ctid: int,
        symbol: str,
        side: str,
        *,
        lots: Any,
        price: Any,
        swap: Any = 0,
        commission: Any = 0,
        margin: Any = 0,
    ) -> int:
        """Open (as if filled) and tell subscribed connections with an ORDER_FILLED ExecutionEvent with the
        order and its opening deal. ``commission`` is charged per side: the opening deal carries it, the
        position holds it unrealised, and the close realises it and the closing side's share together."""
        sym, acc = self.symbol(symbol), self.accounts[ctid]
        digits = acc.money_digits
        pid = next(self._ids)
        position = FakePosition(
            pid,
            ctid,
            sym.id,
            side,
            int(D(lots) * sym.lot_size),
            D(price),
            self._raw(D(swap), digits),
            self._raw(D(commission), digits),
            self._raw(D(margin), digits),
            self._now_ms(),
        )
        self.positions[pid] = position
        order = self._market_order(position, position.volume, closing=False)
        deal = self._deal(position, order, position.volume, position.price, closing_side=False)
        deal["commission"] = self._i64(position.commission)
        self.deals[ctid].append(deal)
        event = self._execution(ctid, "ORDER_FILLED", position=position, order=order, deal=deal)
        await self._to_account(ctid, event)
        return pid

    def add_order(self, ctid: int, symbol: str, side: str, *, lots: Any, kind: str = "LIMIT", price: Any) -> int:
        sym = self.symbol(symbol)
        oid = next(self._ids)
        self.orders[oid] = FakeOrder(oid, ctid, sym.id, side, int(D(lots) * sym.lot_size), kind, D(price))
        return oid

    def add_deal(
        self, ctid: int, *, when: datetime, gross: Any, swap: Any = 0, commission: Any = 0, opening: bool = False
    ) -> None:
        """A deal in history (for DealList), money in account currency: a closing deal whose detail
        realises ``gross + swap + commission``, or (``opening``) an opening deal charging ``commission``."""
        acc = self.accounts[ctid]
        digits = acc.money_digits
        stub = FakePosition(next(self._history_ids), ctid, 1, "BUY", 100_000, Decimal(1))
        order = self._market_order(stub, stub.volume, closing=not opening)
        deal = self._deal(stub, order, stub.volume, Decimal(1), closing_side=not opening)
        ms = self._i64(int(when.timestamp() * 1000))
        deal.update(createTimestamp=ms, executionTimestamp=ms, commission=self._i64(self._raw(D(commission), digits)))
        if not opening:
            raw = [self._raw(D(x), digits) for x in (gross, swap, commission)]
            deal["closePositionDetail"] = self._close_detail(Decimal(1), *raw, stub.volume, acc)
        self.deals[ctid].append(deal)

    # ---- market and account events ---------------------------------------------------------------
    async def set_price(self, symbol: str, *, bid: Any = None, ask: Any = None) -> float:
        """Move a price; send a SpotEvent (only the sides given) to every subscribed account.
        Returns the monotonic time just before sending."""
        sym = self.symbol(symbol)
        sym.bid = sym.bid if bid is None else D(bid)
        sym.ask = sym.ask if ask is None else D(ask)
        sent = time.perf_counter()
        for conn in list(self._conns):
            for ctid, subscribed in conn.spots.items():
                if sym.id in subscribed:
                    await self._send(conn, 2131, self._spot(ctid, sym, bid is not None, ask is not None))
        return sent

    async def send_spot(self, ctid: int, symbol: str, *, bid: Any, ask: Any) -> float:
        """One tick to one account only (benchmarks: spread ticks evenly over accounts)."""
        sym = self.symbol(symbol)
        sym.bid, sym.ask = D(bid), D(ask)
        sent = time.perf_counter()
        for conn in list(self._conns):
            if sym.id in conn.spots.get(ctid, ()):
                await self._send(conn, 2131, self._spot(ctid, sym, True, True))
        return sent

    async def deposit(self, ctid: int, amount: Any) -> None:
        acc = self.accounts[ctid]
        delta = self._raw(D(amount), acc.money_digits)
        acc.balance += delta
        kind = "BALANCE_DEPOSIT" if delta >= 0 else "BALANCE_WITHDRAW"
        cash = {
            "operationType": self._enum(kind, 0 if delta >= 0 else 1),
            "balanceHistoryId": self._i64(next(self._history_ids)),
            "balance": self._i64(acc.balance),
            "delta": self._i64(abs(delta)),
            "changeBalanceTimestamp": self._now_ms(),
        }
        cash = self._with_digits(cash, acc)
        await self._to_account(ctid, self._execution(ctid, "DEPOSIT_WITHDRAW", depositWithdraw=cash))

    async def set_margin(self, pid: int, margin: Any) -> None:
        position = self.positions[pid]
        digits = self.accounts[position.ctid].money_digits
        position.used_margin = self._raw(D(margin), digits)
        payload = {
            "ctidTraderAccountId": self._i64(position.ctid),
            "positionId": self._i64(pid),
            "usedMargin": self._i64(position.used_margin),
        }
        payload = self._with_digits(payload, self.accounts[position.ctid])
        await self._to_account(position.ctid, (2141, payload))

    async def set_leverage(self, ctid: int, leverage: int) -> None:
        """Change the account's leverage: TraderUpdatedEvent (2123)."""
        self.accounts[ctid].leverage_in_cents = leverage * 100
        payload = {"ctidTraderAccountId": self._i64(ctid), "trader": self._trader_payload(ctid)}
        await self._to_account(ctid, (2123, payload))

    async def charge_swap(self, pid: int, amount: Any) -> None:
        """Add (signed) swap to an open position: ExecutionEvent SWAP with the position."""
        position = self.positions[pid]
        position.swap += self._raw(D(amount), self.accounts[position.ctid].money_digits)
        await self._to_account(position.ctid, self._execution(position.ctid, "SWAP", position=position))

    # ---- the server's own figures ---------------------------------------------------------------
    def unrealized(self, ctid: int) -> dict[int, tuple[Decimal, Decimal]]:
        """position id → (gross, net) in the deposit currency."""
        acc = self.accounts[ctid]
        out = {}
        for p in self.positions.values():
            if p.ctid == ctid:
                gross = self._gross(p, p.volume)
                scale = Decimal(1).scaleb(-acc.money_digits)
                out[p.id] = (gross, gross + (p.swap + p.commission) * scale)
        return out

    def equity(self, ctid: int) -> Decimal:
        acc = self.accounts[ctid]
        balance = Decimal(acc.balance).scaleb(-acc.money_digits)
        return balance + sum((net for _, net in self.unrealized(ctid).values()), Decimal(0))

    def balance(self, ctid: int) -> Decimal:
        acc = self.accounts[ctid]
        return Decimal(acc.balance).scaleb(-acc.money_digits)

    def margin(self, ctid: int) -> Decimal:
        acc = self.accounts[ctid]
        raw = sum(p.used_margin for p in self.positions.values() if p.ctid == ctid)
        return Decimal(raw).scaleb(-acc.money_digits)

    @property
    def open_connections(self) -> int:
        """Connections whose handler is still running (a delayed request keeps a closed one here)."""
        return len(self._conns)

    async def received(self, payload_type: int) -> None:
        """Wait until a request of this type has arrived (it is answered after ``response_delay``)."""
        await self._seen[payload_type].wait()

    async def arrived(self, payload_type: int) -> None:
        """Wait until a request of this type has reached the server, before its ``response_delay``."""
        await self._arrived[payload_type].wait()

    # ---- faults ---------------------------------------------------------------------------------
    async def drop_connections(self) -> None:
        """Cut every connection abruptly (no close frame), as a network failure would."""
        for conn in list(self._conns):
            conn.ws.transport.abort()

    def go_silent(self) -> None:
        """Current connections stop answering and sending (no heartbeats); new ones behave."""
        for conn in self._conns:
            conn.silent = True

    async def invalidate_token(self, ctids: list[int]) -> None:
        """AccountsTokenInvalidatedEvent: the accounts' sessions end; the connection stays."""
        for conn in list(self._conns):
            ended = [c for c in ctids if c in conn.accounts]
            if ended:
                for ctid in ended:
                    conn.accounts.discard(ctid)
                    conn.spots.pop(ctid, None)
                payload = {"ctidTraderAccountIds": [self._i64(c) for c in ended], "reason": "token revoked"}
                await self._send(conn, 2147, payload)

    async def _end_sessions_of_token(self, token: str) -> None:
        """A refreshed token is invalid: every account session authorised with it ends (2147)."""
        for conn in list(self._conns):
            ended = [c for c, t in conn.tokens.items() if t == token and c in conn.accounts]
            for ctid in ended:
                conn.accounts.discard(ctid)
                conn.spots.pop(ctid, None)
                conn.tokens.pop(ctid, None)
            if ended:
                payload = {"ctidTraderAccountIds": [self._i64(c) for c in ended], "reason": "access token refreshed"}
                await self._send(conn, 2147, payload)

    async def disconnect_account(self, ctid: int) -> None:
        """AccountDisconnectEvent (2164): the account's session ends; the connection stays."""
        for conn in list(self._conns):
            if ctid in conn.accounts:
                conn.accounts.discard(ctid)
                conn.spots.pop(ctid, None)
                await self._send(conn, 2164, {"ctidTraderAccountId": self._i64(ctid)})

    async def end_application_session(self, reason: str = "maintenance") -> None:
        """ClientDisconnectEvent (2148), then close: every account session on the connection ends."""
        for conn in list(self._conns):
            await self._send(conn, 2148, {"reason": reason})
            await conn.ws.close()

    def expire_access_token(self) -> None:
        """The access token stops working; the refresh token still gets a new pair."""
        self.access_token = f"expired-{next(self._token_serial)}"

    def fail_next(
        self,
        payload_type: int,
        code: str,
        carrier: str = "error_res",
        retry_after: int | None = None,
        *,
        after: int = 0,
    ) -> None:
        """Answer the next request of this type (after ``after`` more are served) with ``code`` through
        ``carrier``: error_res (2142, ``retry_after`` as its retryAfter), common (50), order_error (2132)
        or execution (ExecutionEvent ORDER_REJECTED)."""
        self._failures.setdefault(payload_type, deque()).append([after, code, carrier, retry_after])

    async def send_raw(self, text: str) -> None:
        for conn in list(self._conns):
            await conn.ws.send(text)

    # ---- protocol -------------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        conn = _Conn(ws)
        self._conns.append(conn)
        self.connections_opened += 1
        try:
            async for text in ws:
                self._check("client → server", text)
                if conn.silent:
                    continue
                frame = json.loads(text)
                if frame["payloadType"] == 51:
                    self.heartbeats_received += 1
                    continue
                self._arrived[frame["payloadType"]].set()
                delay = self.response_delays.get(frame["payloadType"], self.response_delay)
                if delay:
                    await asyncio.sleep(delay)
                await self._answer(conn, frame["payloadType"], frame.get("payload", {}), frame.get("clientMsgId"))
        except ConnectionClosed:
            pass
        finally:
            self._conns.remove(conn)

    async def _answer(self, conn: _Conn, pt: int, p: dict[str, Any], mid: str | None) -> None:
        self.requests.append(pt)
        self.account_requests.append((pt, int(p.get("ctidTraderAccountId", 0))))
        self._seen[pt].set()
        if pt == 2111:  # every close and cancel that arrived, refused or not
            self.close_requests.append(self._received(p, "positionId", p.get("volume"), mid))
        elif pt == 2108:
            self.cancel_requests.append(self._received(p, "orderId", None, mid))
        failures = self._failures.get(pt)
        if failures and failures[0][0] > 0:
            failures[0][0] -= 1
        elif failures:
            _, code, carrier, retry_after = failures.popleft()
            await self._fail(conn, mid, code, carrier, p, retry_after)
            return
        if pt == 2100:
            if (p.get("clientId"), p.get("clientSecret")) != (self.client_id, self.client_secret):
                return await self._error(conn, mid, "CH_CLIENT_AUTH_FAILURE")
            conn.app_authed = True
            return await self._send(conn, 2101, {}, mid)
        if not conn.app_authed:
            return await self._error(conn, mid, "CH_CLIENT_NOT_AUTHENTICATED")
        if pt == 2149:
            if p.get("accessToken") != self.access_token:
                return await self._error(conn, mid, "CH_ACCESS_TOKEN_INVALID")
            refs = [
                {
                    "ctidTraderAccountId": self._i64(a.ctid),
                    "isLive": a.is_live,
                    "traderLogin": self._i64(a.login),
                }
                for a in self.accounts.values()
            ]
            return await self._send(conn, 2150, {"accessToken": p["accessToken"], "ctidTraderAccount": refs}, mid)
        if pt == 2173:
            if p.get("refreshToken") != self.refresh_token:
                return await self._error(conn, mid, "CH_ACCESS_TOKEN_INVALID")
            n = next(self._token_serial)
            old = self.access_token
            self.access_token, self.refresh_token = f"access-{n}", f"refresh-{n}"
            payload = {
                "accessToken": self.access_token,
                "tokenType": "bearer",
                "expiresIn": 2628000,
                "refreshToken": self.refresh_token,
            }
            await self._send(conn, 2174, payload, mid)
            return await self._end_sessions_of_token(old)
        ctid = int(p.get("ctidTraderAccountId", 0))
        if pt == 2102:
            if p.get("accessToken") != self.access_token:
                return await self._error(conn, mid, "CH_ACCESS_TOKEN_INVALID", ctid)
            if ctid not in self.accounts:
                return await self._error(conn, mid, "CH_CTID_TRADER_ACCOUNT_NOT_FOUND", ctid)
            conn.accounts.add(ctid)
            conn.tokens[ctid] = self.access_token
            self.account_auths += 1
            return await self._send(conn, 2103, {"ctidTraderAccountId": self._i64(ctid)}, mid)
        if ctid not in conn.accounts:
            return await self._error(conn, mid, "ACCOUNT_NOT_AUTHORIZED", ctid)
        handler = {
            2112: self._assets,
            2114: self._symbols_list,
            2116: self._symbol_by_id,
            2118: self._conversion,
            2121: self._trader,
            2124: self._reconcile,
            2127: self._subscribe,
            2133: self._deal_list,
            2187: self._pnl,
            2111: self._close,
            2108: self._cancel,
        }.get(pt)
        if handler is None:
            return await self._error(conn, mid, "INVALID_REQUEST", ctid)
        await handler(conn, ctid, p, mid)

    @staticmethod
    def _received(p: dict[str, Any], target: str, volume: Any, mid: str | None) -> Received:
        ctid, target_id = int(p.get("ctidTraderAccountId", 0)), int(p.get(target, 0))
        return Received(ctid, target_id, None if volume is None else int(volume), time.monotonic(), mid)

    async def _assets(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        assets = [{"assetId": i, "name": n, "displayName": n, "digits": 2} for n, i in self.assets.items()]
        await self._send(conn, 2113, {"ctidTraderAccountId": self._i64(ctid), "asset": assets}, mid)

    async def _symbols_list(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        light = [self._light(s) for s in self.symbols.values()]
        await self._send(conn, 2115, {"ctidTraderAccountId": self._i64(ctid), "symbol": light}, mid)

    async def _symbol_by_id(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        found = [self.symbols[int(i)] for i in p.get("symbolId", []) if int(i) in self.symbols]
        full = [self._full_symbol(s) for s in found]
        await self._send(conn, 2117, {"ctidTraderAccountId": self._i64(ctid), "symbol": full}, mid)

    def _full_symbol(self, s: FakeSymbol) -> dict[str, Any]:
        full: dict[str, Any] = {"symbolId": self._i64(s.id), "digits": s.digits, "pipPosition": s.digits - 1}
        if not s.bare:
            step = self._i64(s.lot_size // 100)
            full.update(lotSize=self._i64(s.lot_size), minVolume=step, stepVolume=step)
        if s.max_volume is not None:
            full["maxVolume"] = self._i64(s.max_volume)
        return full

    async def _conversion(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        names = {i: n for n, i in self.assets.items()}
        path = self._path(names[int(p["firstAssetId"])], names[int(p["lastAssetId"])])
        chain = [self._light(self.symbols[sid]) for sid, _ in path]
        await self._send(conn, 2119, {"ctidTraderAccountId": self._i64(ctid), "symbol": chain}, mid)

    async def _trader(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        trader = self._trader_payload(ctid)
        await self._send(conn, 2122, {"ctidTraderAccountId": self._i64(ctid), "trader": trader}, mid)

    def _trader_payload(self, ctid: int) -> dict[str, Any]:
        a = self.accounts[ctid]
        return {
            "ctidTraderAccountId": self._i64(ctid),
            "balance": self._i64(a.balance),
            "depositAssetId": self._i64(self.assets[a.currency]),
            "leverageInCents": a.leverage_in_cents,
            "traderLogin": self._i64(a.login),
            "moneyDigits": a.money_digits,
            "accessRights": self._enum("FULL_ACCESS", 0),
            "accountType": self._enum("HEDGED", 0),
        }

    async def _reconcile(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        positions = [self._position(x) for x in self.positions.values() if x.ctid == ctid]
        orders = [self._order(o) for o in self.orders.values() if o.ctid == ctid]
        await self._send(
            conn, 2125, {"ctidTraderAccountId": self._i64(ctid), "position": positions, "order": orders}, mid
        )

    async def _pnl(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        acc = self.accounts[ctid]
        rows = [
            {
                "positionId": self._i64(pid),
                "grossUnrealizedPnL": self._i64(self._raw(g, acc.money_digits)),
                "netUnrealizedPnL": self._i64(self._raw(n, acc.money_digits)),
            }
            for pid, (g, n) in self.unrealized(ctid).items()
        ]
        await self._send(
            conn,
            2188,
            {
                "ctidTraderAccountId": self._i64(ctid),
                "positionUnrealizedPnL": rows,
                "moneyDigits": acc.money_digits,
            },
            mid,
        )

    async def _deal_list(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        """Deals in [from, to], at most maxRows (and the server's own limit): the oldest or the newest of
        them (``deal_order``), in that order or shuffled; hasMore when some were left out."""
        start, end = int(p.get("fromTimestamp", 0)), int(p.get("toTimestamp", 2147483646000))
        deals = sorted(
            (d for d in self.deals[ctid] if start <= int(d["executionTimestamp"]) <= end),
            key=lambda d: (int(d["executionTimestamp"]), int(d["dealId"])),
            reverse=self.deal_order != "oldest_first",
        )
        limits = [n for n in (p.get("maxRows"), self.max_deal_rows) if n]
        rows = min(limits) if limits else len(deals)
        page = deals[:rows]
        if self.deal_order == "shuffled":
            random.Random(len(page)).shuffle(page)
        payload = {"ctidTraderAccountId": self._i64(ctid), "deal": page, "hasMore": len(deals) > rows}
        await self._send(conn, 2134, payload, mid)

    async def _subscribe(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        ids = [int(i) for i in p.get("symbolId", [])]
        subscribed = conn.spots.setdefault(ctid, set())
        if any(i in subscribed for i in ids):
            return await self._error(conn, mid, "ALREADY_SUBSCRIBED", ctid)
        subscribed.update(ids)
        await self._send(conn, 2128, {"ctidTraderAccountId": self._i64(ctid)}, mid)
        for sid in ids:
            await self._send(conn, 2131, self._spot(ctid, self.symbols[sid], True, True))

    async def _close(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        pid, volume = int(p["positionId"]), int(p["volume"])
        position = self.positions.get(pid)
        if position is None or position.ctid != ctid:
            return await self._error(conn, mid, "POSITION_NOT_FOUND", ctid)
        sym = self.symbols[position.symbol_id]
        refusal = (
            ("MARKET_CLOSED", "Market is closed")
            if sym.name in self.market_closed
            else ("SYMBOL_HAS_HOLIDAY", "Trading disabled because symbol has holiday")
            if sym.name in self.holidays
            else ("TRADING_BAD_VOLUME", "Volume is above maxVolume")
            if sym.max_volume is not None and volume > sym.max_volume
            else None
        )
        if refusal is not None:
            payload = {
                "ctidTraderAccountId": self._i64(ctid),
                "errorCode": refusal[0],
                "positionId": self._i64(pid),
                "description": refusal[1],
            }
            return await self._send(conn, 2132, payload, mid)
        volume = min(volume, position.volume)
        acc = self.accounts[ctid]
        order = self._market_order(position, volume, closing=True)
        accepted = self._execution(ctid, "ORDER_ACCEPTED", position=position, order=order)
        await self._to_account(ctid, accepted, mid)
        parts = [volume // self.fill_parts] * (self.fill_parts - 1)
        parts.append(volume - sum(parts))
        executed = 0
        for number, part in enumerate(parts, 1):
            share = Decimal(part) / position.volume
            gross = self._raw(self._gross(position, part), acc.money_digits)
            swap = int((position.swap * share).to_integral_value(ROUND_HALF_UP))
            opening = int((position.commission * share).to_integral_value(ROUND_HALF_UP))
            closing = opening  # the same rate per side
            acc.balance += gross + swap + opening + closing
            position.volume -= part
            position.swap -= swap
            position.commission -= opening
            deal = self._deal(position, order, part, self._close_price(position), closing_side=True)
            deal["volume"] = self._i64(volume)  # sent for execution; filledVolume is this deal's part
            deal["commission"] = self._i64(closing)
            deal["closePositionDetail"] = self._close_detail(position.price, gross, swap, opening + closing, part, acc)
            self.deals[ctid].append(deal)
            executed += part
            last = number == len(parts)
            if last and position.volume == 0:
                del self.positions[pid]
            status = "ORDER_STATUS_FILLED" if last else "ORDER_STATUS_ACCEPTED"
            state = dict(
                order, orderStatus=self._enum(status, ORDER_STATUS[status]), executedVolume=self._i64(executed)
            )
            kind = "ORDER_FILLED" if last else "ORDER_PARTIAL_FILL"
            event = self._execution(ctid, kind, position=position, order=state, deal=deal)
            await self._to_account(ctid, event, mid if self.fill_client_msg_id else None)

    async def _cancel(self, conn: _Conn, ctid: int, p: dict[str, Any], mid: str | None) -> None:
        oid = int(p["orderId"])
        order = self.orders.get(oid)
        if order is None or order.ctid != ctid:
            payload = {
                "ctidTraderAccountId": self._i64(ctid),
                "errorCode": "ORDER_NOT_FOUND",
                "orderId": self._i64(oid),
                "description": "Order not found",
            }
            return await self._send(conn, 2132, payload, mid)
        del self.orders[oid]
        cancelled = dict(self._order(order), orderStatus=self._enum("ORDER_STATUS_CANCELLED", 5))
        await self._to_account(ctid, self._execution(ctid, "ORDER_CANCELLED", order=cancelled), mid)

    async def _fail(
        self, conn: _Conn, mid: str | None, code: str, carrier: str, p: dict[str, Any], retry_after: int | None
    ) -> None:
        ctid = int(p.get("ctidTraderAccountId", 0))
        if carrier == "common":
            await self._send(conn, 50, {"errorCode": code, "description": f"fake {code}"}, mid)
        elif carrier == "order_error":
            await self._send(conn, 2132, {"ctidTraderAccountId": ctid, "errorCode": code}, mid)
        elif carrier == "execution":
            await self._send(
                conn,
                2126,
                {
                    "ctidTraderAccountId": ctid,
                    "executionType": self._enum("ORDER_REJECTED", 7),
                    "errorCode": code,
                },
                mid,
            )
        else:
            await self._error(conn, mid, code, ctid, retry_after)

    # ---- encoding -------------------------------------------------------------------------------
    def _i64(self, value: int) -> int | str:
        return str(value) if self.int64_as_strings else value

    def _enum(self, name: str, number: int) -> int | str:
        return name if self.enum_names else number

    def _raw(self, amount: Decimal, digits: int) -> int:
        return int(amount.scaleb(digits).to_integral_value(ROUND_HALF_UP))

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def _light(self, s: FakeSymbol) -> dict[str, Any]:
        light: dict[str, Any] = {"symbolId": self._i64(s.id), "symbolName": s.name, "enabled": True}
        if not s.bare:
            light.update(baseAssetId=self._i64(self.assets[s.base]), quoteAssetId=self._i64(self.assets[s.quote]))
        return light

    def _trade(self, position: FakePosition, volume: int) -> dict[str, Any]:
        return {
            "symbolId": self._i64(position.symbol_id),
            "volume": self._i64(volume),
            "tradeSide": self._enum(position.side, SIDES[position.side]),
            "openTimestamp": self._i64(position.opened_ms),
        }

    def _position(self, x: FakePosition) -> dict[str, Any]:
        status = "POSITION_STATUS_OPEN" if x.volume else "POSITION_STATUS_CLOSED"
        position = {
            "positionId": self._i64(x.id),
            "tradeData": self._trade(x, x.volume),
            "positionStatus": self._enum(status, POSITION_STATUS[status]),
            "swap": self._i64(x.swap),
            "price": float(x.price),
            "commission": self._i64(x.commission),
            "usedMargin": self._i64(x.used_margin),
            "utcLastUpdateTimestamp": self._i64(self._now_ms()),
        }
        return self._with_digits(position, self.accounts[x.ctid])

    def _order(self, o: FakeOrder) -> dict[str, Any]:
        key = "limitPrice" if o.kind == "LIMIT" else "stopPrice"
        return {
            "orderId": self._i64(o.id),
            "orderType": self._enum(o.kind, ORDER_TYPES[o.kind]),
            "orderStatus": self._enum("ORDER_STATUS_ACCEPTED", 1),
            key: float(o.price),
            "tradeData": {
                "symbolId": self._i64(o.symbol_id),
                "volume": self._i64(o.volume),
                "tradeSide": self._enum(o.side, SIDES[o.side]),
            },
        }

    def _spot(self, ctid: int, s: FakeSymbol, with_bid: bool, with_ask: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "ctidTraderAccountId": self._i64(ctid),
            "symbolId": self._i64(s.id),
            "timestamp": self._i64(self._now_ms()),
        }
        if with_bid:
            payload["bid"] = self._i64(int(s.bid * 100000))
        if with_ask:
            payload["ask"] = self._i64(int(s.ask * 100000))
        return payload

    def _execution(
        self, ctid: int, kind: str, *, position: FakePosition | None = None, **parts: Any
    ) -> tuple[int, dict[str, Any]]:
        payload = {
            "ctidTraderAccountId": self._i64(ctid),
            "executionType": self._enum(kind, EXEC[kind]),
            **parts,
        }
        if position is not None:
            payload["position"] = self._position(position)
        return 2126, payload

    def _market_order(self, position: FakePosition, volume: int, *, closing: bool) -> dict[str, Any]:
        side = position.side if not closing else ("SELL" if position.side == "BUY" else "BUY")
        trade = dict(self._trade(position, volume), tradeSide=self._enum(side, SIDES[side]))
        return {
            "orderId": self._i64(next(self._history_ids)),
            "tradeData": trade,
            "orderType": self._enum("MARKET", 1),
            "orderStatus": self._enum("ORDER_STATUS_ACCEPTED", 1),
            "executedVolume": self._i64(0),
            "closingOrder": closing,
            "positionId": self._i64(position.id),
        }

    def _deal(
        self, position: FakePosition, order: dict[str, Any], volume: int, price: Decimal, *, closing_side: bool
    ) -> dict[str, Any]:
        when = self._now_ms()
        side = position.side if not closing_side else ("SELL" if position.side == "BUY" else "BUY")
        deal = {
            "dealId": self._i64(next(self._history_ids)),
            "orderId": order["orderId"],
            "positionId": self._i64(position.id),
            "volume": self._i64(volume),
            "filledVolume": self._i64(volume),
            "symbolId": self._i64(position.symbol_id),
            "createTimestamp": self._i64(when),
            "executionTimestamp": self._i64(when),
            "executionPrice": float(price),
            "tradeSide": self._enum(side, SIDES[side]),
            "dealStatus": self._enum("FILLED", 2),
        }
        return self._with_digits(deal, self.accounts[position.ctid])

    def _close_detail(
        self, entry: Decimal, gross: int, swap: int, commission: int, volume: int, acc: FakeAccount
    ) -> dict[str, Any]:
        """ProtoOAClosePositionDetail: commission is the closed volume's whole commission, both sides."""
        detail = {
            "entryPrice": float(entry),
            "grossProfit": self._i64(gross),
            "swap": self._i64(swap),
            "commission": self._i64(commission),
            "balance": self._i64(acc.balance),
            "closedVolume": self._i64(volume),
        }
        return self._with_digits(detail, acc)

    def _with_digits(self, payload: dict[str, Any], acc: FakeAccount) -> dict[str, Any]:
        return payload if self.omit_money_digits else dict(payload, moneyDigits=acc.money_digits)

    # ---- valuation ------------------------------------------------------------------------------
    def _close_price(self, p: FakePosition) -> Decimal:
        sym = self.symbols[p.symbol_id]
        return sym.bid if p.side == "BUY" else sym.ask

    def _gross(self, p: FakePosition, volume: int) -> Decimal:
        sym, acc = self.symbols[p.symbol_id], self.accounts[p.ctid]
        units = Decimal(volume) / UNIT_CENTS
        sign = 1 if p.side == "BUY" else -1
        rate = Decimal(1)
        for sid, multiply in self._path(sym.quote, acc.currency):
            conv = self.symbols[sid]
            rate = rate * conv.bid if multiply else rate / conv.ask
        amount = (self._close_price(p) - p.price) * sign * units * rate
        return amount.quantize(Decimal(1).scaleb(-acc.money_digits), rounding=ROUND_HALF_UP)

    def _path(self, start: str, goal: str) -> list[tuple[int, bool]]:
        """Shortest symbol path from one asset to another: (symbol id, multiply-by-bid?) steps."""
        queue: deque[tuple[str, list[tuple[int, bool]]]] = deque([(start, [])])
        seen = {start}
        while queue:
            asset, path = queue.popleft()
            if asset == goal:
                return path
            for s in self.symbols.values():
                for here, there, multiply in ((s.base, s.quote, True), (s.quote, s.base, False)):
                    if here == asset and there not in seen:
                        seen.add(there)
                        queue.append((there, [*path, (s.id, multiply)]))
        raise LookupError(f"no conversion path {start} → {goal}")

    # ---- sending --------------------------------------------------------------------------------
    async def _to_account(self, ctid: int, message: tuple[int, dict[str, Any]], mid: str | None = None) -> None:
        for conn in list(self._conns):
            if ctid in conn.accounts:
                await self._send(conn, *message, mid)

    async def _error(
        self, conn: _Conn, mid: str | None, code: str, ctid: int | None = None, retry_after: int | None = None
    ) -> None:
        payload: dict[str, Any] = {"errorCode": code, "description": f"fake {code}"}
        if ctid:
            payload["ctidTraderAccountId"] = self._i64(ctid)
        if retry_after is not None:
            payload["retryAfter"] = self._i64(retry_after)
        await self._send(conn, 2142, payload, mid)

    async def _send(self, conn: _Conn, pt: int, payload: dict[str, Any], mid: str | None = None) -> None:
        if conn.silent:
            return
        frame: dict[str, Any] = {"payloadType": pt, "payload": payload}
        if mid is not None:
            frame["clientMsgId"] = mid
        text = json.dumps(frame)
        self._check("server → client", text)
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(text)

    async def _heartbeats(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            for conn in list(self._conns):
                await self._send(conn, 51, {})
