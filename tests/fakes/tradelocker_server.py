"""A fake TradeLocker backend on loopback: the public REST API (JSON over HTTP/1.1) as its reference
documents it.

How it follows the definitions: ``POST /auth/jwt/token`` (email, password, server) answers 201 with
``accessToken`` and ``refreshToken``; ``POST /auth/jwt/refresh`` renews them; ``GET /auth/jwt/all-accounts``
lists ``id``, ``name``, ``currency``, ``accNum``, ``accountBalance``. Every ``/trade`` route needs the bearer
token and the ``accNum`` header and answers ``{"s": "ok", "d": ...}``; state, positions and orders are
arrays in the column order ``/trade/config`` publishes (the column names of the official client),
with ``rateLimits`` per route. ``DELETE /trade/positions/{id}`` takes ``{"qty": ...}`` (0: all of it);
``DELETE /trade/orders/{id}`` cancels. Anything else is recorded in ``violations`` and refused.

Faults: ``expire_access`` (401 until refreshed), ``revoke`` (refresh refused too: log in again),
``rate_limit`` (429), ``malformed`` (a body that is not JSON), ``hang`` (answers withheld), ``market_closed``,
``busy`` (a position whose closing order is still being executed: its close is refused).
The server's refusal texts are not enumerated in the reference; the fake's are plain English.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http_server import JsonHttpServer

EMAIL, PASSWORD, SERVER = "trader@example.com", "tl-pass-5521", "FIRM-DEMO"
STATE_COLUMNS = [
    "balance",
    "projectedBalance",
    "availableFunds",
    "blockedBalance",
    "cashBalance",
    "unsettledCash",
    "withdrawalAvailable",
    "stocksValue",
    "optionValue",
    "initialMarginReq",
    "maintMarginReq",
    "marginWarningLevel",
    "blockedForStocks",
    "stockOrdersReq",
    "stopOutLevel",
    "warningMarginReq",
    "marginBeforeWarning",
    "todayGross",
    "todayNet",
    "todayFees",
    "todayVolume",
    "todayTradesCount",
    "openGrossPnL",
    "openNetPnL",
    "positionsCount",
    "ordersCount",
]
POSITION_COLUMNS = [
    "id",
    "tradableInstrumentId",
    "routeId",
    "side",
    "qty",
    "avgPrice",
    "stopLossId",
    "takeProfitId",
    "openDate",
    "unrealizedPl",
    "strategyId",
]
ORDER_COLUMNS = [
    "id",
    "tradableInstrumentId",
    "routeId",
    "qty",
    "side",
    "type",
    "status",
    "filledQty",
    "avgPrice",
    "price",
    "stopPrice",
    "validity",
    "expireDate",
    "createdDate",
    "lastModified",
    "isOpen",
    "positionId",
    "stopLoss",
    "stopLossType",
    "takeProfit",
    "takeProfitType",
    "strategyId",
]
RATE_LIMITS = [
    {"rateLimitType": route, "measure": "SECONDS", "intervalNum": 1, "limit": 10}
    for route in ("GET_ACCOUNTS_STATE", "GET_POSITIONS", "GET_ORDERS", "GET_INSTRUMENTS", "GET_CONFIG")
]
TRADE_ROUTES = [
    ("GET", re.compile(r"/trade/config")),
    ("GET", re.compile(r"/trade/accounts/(\d+)/(state|positions|orders|instruments)")),
    ("DELETE", re.compile(r"/trade/positions/(\d+)")),
    ("DELETE", re.compile(r"/trade/orders/(\d+)")),
]


def _f(value: Decimal) -> float:
    return float(value)


@dataclass
class Instrument:
    id: int
    name: str
    lot_size: Decimal
    bid: Decimal
    ask: Decimal


@dataclass
class TLAccount:
    id: int
    acc_num: int
    name: str
    balance: Decimal
    today_net: Decimal = Decimal(0)


@dataclass
class TLPosition:
    id: int
    account_id: int
    instrument: int
    buy: bool
    qty: Decimal
    price: Decimal
    stop_loss_id: int | None = None


@dataclass
class TLOrder:
    id: int
    account_id: int
    instrument: int
    buy: bool
    qty: Decimal
    kind: str
    price: Decimal


@dataclass
class FakeTradeLocker:
    accounts: dict[int, TLAccount] = field(default_factory=dict)
    instruments: dict[int, Instrument] = field(default_factory=dict)
    positions: dict[int, TLPosition] = field(default_factory=dict)
    orders: dict[int, TLOrder] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    close_requests: list[tuple[int, Decimal]] = field(default_factory=list)  # refused or not
    cancel_requests: list[int] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    market_closed: set[int] = field(default_factory=set)
    busy: set[int] = field(default_factory=set)  # position ids with a closing order under execution
    access: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)
    logins: int = 0
    _flowing: asyncio.Event = field(default_factory=asyncio.Event)
    _rate_limited: int = 0
    _malformed: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(70001))
    _http: JsonHttpServer | None = None

    async def __aenter__(self) -> FakeTradeLocker:
        self._flowing.set()
        self._http = JsonHttpServer(self._handle)
        await self._http.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._flowing.set()
        if self._http is not None:
            await self._http.stop()

    @property
    def base_url(self) -> str:
        assert self._http is not None
        return f"{self._http.url}/backend-api"

    def settings(self) -> dict[str, str]:
        return {
            "TRADELOCKER_EMAIL": EMAIL,
            "TRADELOCKER_PASSWORD": PASSWORD,
            "TRADELOCKER_SERVER": SERVER,
            "TRADELOCKER_BASE_URL": self.base_url,
            "TRADELOCKER_POLL_INTERVAL": "0.1",
        }

    # -- test controls -----------------------------------------------------------------------------------

    def add_account(self, account_id: int, acc_num: int, balance: str) -> None:
        self.accounts[account_id] = TLAccount(account_id, acc_num, f"#{account_id}", Decimal(balance))

    def add_instrument(self, instrument_id: int, name: str, bid: str, ask: str, lot_size: str = "100000") -> None:
        self.instruments[instrument_id] = Instrument(instrument_id, name, Decimal(lot_size), Decimal(bid), Decimal(ask))

    def open_position(self, account_id: int, instrument: int, buy: bool, qty: str, price: str) -> int:
        position = TLPosition(next(self._ids), account_id, instrument, buy, Decimal(qty), Decimal(price))
        self.positions[position.id] = position
        return position.id

    def add_order(self, account_id: int, instrument: int, buy: bool, qty: str, kind: str, price: str) -> int:
        order = TLOrder(next(self._ids), account_id, instrument, buy, Decimal(qty), kind, Decimal(price))
        self.orders[order.id] = order
        return order.id

    def set_price(self, instrument: int, bid: Decimal | str, ask: Decimal | str) -> None:
        self.instruments[instrument].bid, self.instruments[instrument].ask = Decimal(bid), Decimal(ask)

    def pnl(self, position: TLPosition, qty: Decimal | None = None) -> Decimal:
        item = self.instruments[position.instrument]
        exit_price = item.bid if position.buy else item.ask
        move = (exit_price - position.price) * (1 if position.buy else -1)
        return (move * (qty or position.qty) * item.lot_size).quantize(Decimal("0.01"))

    def equity(self, account_id: int) -> Decimal:
        account = self.accounts[account_id]
        held = [p for p in self.positions.values() if p.account_id == account_id]
        return account.balance + sum((self.pnl(p) for p in held), Decimal(0))

    def expire_access(self) -> None:
        self.access.clear()

    def revoke(self) -> None:
        self.access.clear()
        self.refresh.clear()

    def hang(self, hanging: bool = True) -> None:
        """Withhold every answer (the connection stays open) until called with False."""
        (self._flowing.clear if hanging else self._flowing.set)()

    def rate_limit(self, times: int) -> None:
        self._rate_limited = times

    def malformed(self, times: int = 1) -> None:
        self._malformed = times

    # -- HTTP ----------------------------------------------------------------------------------------------

    async def _handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        await self._flowing.wait()
        parts = urlsplit(target)
        path = parts.path.removeprefix("/backend-api")
        self.calls.append((method, path))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self.violations.append(f"{method} {path}: body is not JSON")
            return 400, {"s": "error", "errmsg": "bad body"}, {}
        if self._rate_limited > 0:
            self._rate_limited -= 1
            return 429, {"s": "error", "errmsg": "Too many requests"}, {"Retry-After": "0.2"}
        if path == "/auth/jwt/token" and method == "POST":
            return self._login(body)
        if path == "/auth/jwt/refresh" and method == "POST":
            if not isinstance(body, dict) or body.get("refreshToken") not in self.refresh:
                return 401, {"s": "error", "errmsg": "Invalid refresh token"}, {}
            return 201, self._tokens(), {}
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.access:
            return 401, {"s": "error", "errmsg": "Unauthorized"}, {}
        if self._malformed > 0:
            self._malformed -= 1
            return 200, b"<html>upstream error</html>", {}
        if path == "/auth/jwt/all-accounts" and method == "GET":
            return 200, {"accounts": [self._account_row(a) for a in self.accounts.values()]}, {}
        for verb, pattern in TRADE_ROUTES:
            match = pattern.fullmatch(path)
            if match and verb == method:
                acc_num = headers.get("accnum", "")
                if not acc_num.isdigit():
                    self.violations.append(f"{method} {path}: no accNum header")
                    return 400, {"s": "error", "errmsg": "accNum header required"}, {}
                return self._trade(method, path, match.groups(), int(acc_num), body, parse_qs(parts.query))
        self.violations.append(f"{method} {path}: not a documented route")
        return 404, {"s": "error", "errmsg": "Not Found"}, {}

    def _login(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or set(body) != {"email", "password", "server"}:
            self.violations.append(f"/auth/jwt/token body {sorted(body or {})}")
            return 400, {"s": "error", "errmsg": "Bad Request"}, {}
        if (body["email"], body["password"], body["server"]) != (EMAIL, PASSWORD, SERVER):
            return 400, {"s": "error", "errmsg": "Invalid credentials"}, {}
        self.logins += 1
        return 201, self._tokens(), {}

    def _tokens(self) -> dict[str, Any]:
        access, refresh = secrets.token_hex(12), secrets.token_hex(12)
        self.access.add(access)
        self.refresh.add(refresh)
        return {"accessToken": access, "refreshToken": refresh, "expireDate": "2099-01-01T00:00:00.000Z"}

    @staticmethod
    def _account_row(a: TLAccount) -> dict[str, Any]:
        return {
            "id": str(a.id),
            "name": a.name,
            "currency": "USD",
            "accNum": str(a.acc_num),
            "accountBalance": str(a.balance),
            "status": "ACTIVE",
        }

    def _trade(
        self, method: str, path: str, groups: tuple[str, ...], acc_num: int, body: Any, query: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        if path == "/trade/config":
            return 200, {"s": "ok", "d": self._config()}, {}
        if method == "GET":
            account = self.accounts.get(int(groups[0]))
            if account is None or account.acc_num != acc_num:
                return 404, {"s": "error", "errmsg": "Account not found"}, {}
            return 200, {"s": "ok", "d": self._read(account, groups[1])}, {}
        if path.startswith("/trade/orders/"):
            order_id = int(groups[0])
            self.cancel_requests.append(order_id)
            if self.orders.pop(order_id, None) is None:
                return 404, {"s": "error", "errmsg": "Order not found"}, {}
            return 200, {"s": "ok"}, {}
        position_id = int(groups[0])
        if not isinstance(body, dict) or set(body) != {"qty"}:
            self.violations.append(f"DELETE {path}: body {body!r}, documented {{'qty': ...}}")
            return 400, {"s": "error", "errmsg": "qty required"}, {}
        qty = Decimal(str(body["qty"]))
        position = self.positions.get(position_id)
        self.close_requests.append((position_id, qty if qty else (position.qty if position else Decimal(0))))
        if position is None:
            return 404, {"s": "error", "errmsg": "Position not found"}, {}
        if position.instrument in self.market_closed:
            return 400, {"s": "error", "errmsg": "Market is closed"}, {}
        if position_id in self.busy:
            return 400, {"s": "error", "errmsg": "Position is locked: a closing order is pending execution"}, {}
        qty = qty or position.qty
        pnl = self.pnl(position, qty)
        account = self.accounts[position.account_id]
        account.balance += pnl
        account.today_net += pnl
        position.qty -= qty
        if position.qty <= 0:
            del self.positions[position.id]
        return 200, {"s": "ok"}, {}

    def _config(self) -> dict[str, Any]:
        def columns(names: list[str]) -> dict[str, Any]:
            return {"id": "x", "title": "x", "columns": [{"id": n, "description": n} for n in names]}

        return {
            "accountDetailsConfig": columns(STATE_COLUMNS),
            "positionsConfig": columns(POSITION_COLUMNS),
            "ordersConfig": columns(ORDER_COLUMNS),
            "rateLimits": RATE_LIMITS,
            "limits": [{"limitType": "QUOTES_HISTORY_BARS", "limit": 30000}],
        }

    def _read(self, account: TLAccount, what: str) -> dict[str, Any]:
        held = [p for p in self.positions.values() if p.account_id == account.id]
        working = [o for o in self.orders.values() if o.account_id == account.id]
        if what == "state":
            open_pnl = sum((self.pnl(p) for p in held), Decimal(0))
            values = dict.fromkeys(STATE_COLUMNS, 0.0) | {
                "balance": _f(account.balance),
                "projectedBalance": _f(account.balance + open_pnl),
                "todayNet": _f(account.today_net),
                "openNetPnL": _f(open_pnl),
                "positionsCount": len(held),
                "ordersCount": len(working),
            }
            return {"accountDetailsData": [values[c] for c in STATE_COLUMNS]}
        if what == "positions":
            rows = [
                [str(p.id), str(p.instrument), "1", "buy" if p.buy else "sell", str(p.qty), str(p.price),
                 str(p.stop_loss_id) if p.stop_loss_id else None, None,
                 str(int(datetime.now(UTC).timestamp() * 1000)), str(self.pnl(p)), None]
                for p in held
            ]  # fmt: skip
            return {"positions": rows}
        if what == "orders":
            rows = [
                [str(o.id), str(o.instrument), "1", str(o.qty), "buy" if o.buy else "sell", o.kind, "New", "0",
                 None, str(o.price) if o.kind == "limit" else None, str(o.price) if o.kind == "stop" else None,
                 "GTC", None, "0", "0", "true", None, None, None, None, None, None]
                for o in working
            ]  # fmt: skip
            return {"orders": rows}
        return {
            "instruments": [
                {"tradableInstrumentId": i.id, "name": i.name, "id": i.id} for i in self.instruments.values()
            ]
        }
