"""A fake ProjectX Gateway on loopback: the REST API (HTTP/1.1, JSON) and the user and market hubs
(SignalR's JSON hub protocol over a real WebSocket), built from the gateway's published documentation.

How it follows the definitions: every REST call is a POST with a JSON body of exactly the documented
request fields and types (``REQUESTS``), a bearer token on all but ``Auth/loginKey``, and answers with
``success``/``errorCode``/``errorMessage`` and the documented payload field; each endpoint uses its own
error-code enum. A hub connection must carry ``access_token`` in its query (negotiation skipped), open
with the handshake ``{"protocol":"json","version":1}`` + 0x1e, and invoke only the documented methods
with their documented arguments; events are ``GatewayUserAccount/Position/Order/Trade`` (one argument)
and ``GatewayQuote`` (contract id, data). Anything else is recorded in ``violations`` (tests assert it
stays empty) and refused.

Faults: ``expire_tokens`` (every token answers 401), ``drop_hubs`` (close every hub socket),
``rate_limit`` (the next calls answer 429 with Retry-After), ``send_malformed`` (a record that is not
JSON), ``go_silent`` (no pings, no events), ``market_closed`` (closes refused as the docs describe).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from tests.fakes.http_server import JsonHttpServer

RS = "\x1e"
USERNAME, API_KEY = "trader-one", "key-8f2c9d1e7a"

# The documented request models: field -> type; every field required unless listed in OPTIONAL.
REQUESTS: dict[str, dict[str, type]] = {
    "/api/Auth/loginKey": {"userName": str, "apiKey": str},
    "/api/Auth/validate": {},
    "/api/Account/search": {"onlyActiveAccounts": bool},
    "/api/Contract/searchById": {"contractId": str},
    "/api/History/retrieveBars": {
        "contractId": str,
        "live": bool,
        "startTime": str,
        "endTime": str,
        "unit": int,
        "unitNumber": int,
        "limit": int,
        "includePartialBar": bool,
    },
    "/api/Order/searchOpen": {"accountId": int},
    "/api/Order/cancel": {"accountId": int, "orderId": int},
    "/api/Position/searchOpen": {"accountId": int},
    "/api/Position/closeContract": {"accountId": int, "contractId": str},
    "/api/Position/partialCloseContract": {"accountId": int, "contractId": str, "size": int},
    "/api/Trade/search": {"accountId": int, "startTimestamp": str, "endTimestamp": str},
}
OPTIONAL = {"/api/Trade/search": {"endTimestamp"}}
USER_METHODS = {
    "SubscribeAccounts": (),
    "UnsubscribeAccounts": (),
    **{f"{verb}{what}": (int,) for verb in ("Subscribe", "Unsubscribe") for what in ("Orders", "Positions", "Trades")},
}
MARKET_METHODS = {
    f"{verb}{what}": (str,)
    for verb in ("Subscribe", "Unsubscribe")
    for what in ("ContractQuotes", "ContractTrades", "ContractMarketDepth")
}


def _iso(at: datetime) -> str:
    return at.isoformat()


def _num(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class FakeContract:
    id: str
    name: str
    tick_size: Decimal
    tick_value: Decimal
    bid: Decimal
    ask: Decimal
    last: Decimal


@dataclass
class FakeAccount:
    id: int
    name: str
    balance: Decimal
    can_trade: bool = True


@dataclass
class FakePosition:
    id: int
    account_id: int
    contract_id: str
    long: bool
    size: int
    average_price: Decimal
    created: datetime


@dataclass
class FakeOrder:
    id: int
    account_id: int
    contract_id: str
    side: int
    size: int
    limit_price: Decimal
    status: int = 1


@dataclass
class Hub:
    kind: str  # "user" | "market"
    ws: ServerConnection
    subscriptions: set[tuple[str, Any]] = field(default_factory=set)


@dataclass
class FakeProjectX:
    fee_per_contract: Decimal = Decimal(0)  # charged on each fill (a round turn pays it twice)
    ping_interval: float = 0.2
    accounts: dict[int, FakeAccount] = field(default_factory=dict)
    contracts: dict[str, FakeContract] = field(default_factory=dict)
    positions: dict[int, FakePosition] = field(default_factory=dict)
    orders: dict[int, FakeOrder] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    close_requests: list[tuple[int, int]] = field(default_factory=list)  # (position id, contracts), refused or not
    violations: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    market_closed: set[str] = field(default_factory=set)
    hubs: list[Hub] = field(default_factory=list)
    hub_connections: int = 0
    silent: bool = False
    _rate_limited: int = 0
    _retry_after: float = 0.2
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(9001))
    _http: JsonHttpServer | None = None
    _ws_server: Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeProjectX:
        self._http = JsonHttpServer(self._rest)
        await self._http.start()
        self._ws_server = await serve(self._hub, "127.0.0.1", 0, process_request=self._upgrade, ping_interval=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._ws_server is not None:
            self._ws_server.close()
            with contextlib.suppress(Exception):
                await self._ws_server.wait_closed()
        if self._http is not None:
            await self._http.stop()

    @property
    def api_url(self) -> str:
        assert self._http is not None
        return self._http.url

    @property
    def rtc_url(self) -> str:
        assert self._ws_server is not None
        port = next(iter(self._ws_server.sockets)).getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def settings(self) -> dict[str, str]:
        return {
            "PROJECTX_USERNAME": USERNAME,
            "PROJECTX_API_KEY": API_KEY,
            "PROJECTX_API_URL": self.api_url,
            "PROJECTX_USER_HUB_URL": f"{self.rtc_url}/hubs/user",
            "PROJECTX_MARKET_HUB_URL": f"{self.rtc_url}/hubs/market",
        }

    # -- test controls -----------------------------------------------------------------------------------

    def add_account(self, account_id: int, name: str, balance: str) -> None:
        self.accounts[account_id] = FakeAccount(account_id, name, Decimal(balance))

    def add_contract(self, contract_id: str, name: str, tick_size: str, tick_value: str, price: str) -> None:
        p = Decimal(price)
        self.contracts[contract_id] = FakeContract(
            contract_id, name, Decimal(tick_size), Decimal(tick_value), p, p + Decimal(tick_size), p
        )

    async def open_position(self, account_id: int, contract_id: str, long: bool, size: int, price: str) -> int:
        position = FakePosition(next(self._ids), account_id, contract_id, long, size, Decimal(price), datetime.now(UTC))
        self.positions[position.id] = position
        self._fill(account_id, contract_id, 0 if long else 1, size, Decimal(price), None)
        await self._push_position(position)
        await self._push_account(account_id)
        return position.id

    async def add_order(self, account_id: int, contract_id: str, side: int, size: int, price: str) -> int:
        order = FakeOrder(next(self._ids), account_id, contract_id, side, size, Decimal(price))
        self.orders[order.id] = order
        await self._push_user("GatewayUserOrder", "SubscribeOrders", account_id, self._order(order))
        return order.id

    async def set_price(self, contract_id: str, bid: Decimal | str, ask: Decimal | str | None = None) -> None:
        contract = self.contracts[contract_id]
        contract.bid = Decimal(bid)
        contract.ask = Decimal(ask) if ask is not None else contract.bid + contract.tick_size
        contract.last = contract.bid
        quote = {
            "symbol": contract_id.removeprefix("CON.").rsplit(".", 1)[0],
            "symbolName": "/" + contract.name[:-2],
            "lastPrice": _num(contract.last),
            "bestBid": _num(contract.bid),
            "bestAsk": _num(contract.ask),
            "timestamp": _iso(datetime.now(UTC)),
            "lastUpdated": _iso(datetime.now(UTC)),
        }
        for hub in self._hubs("market", ("SubscribeContractQuotes", contract_id)):
            await self._send(hub, {"type": 1, "target": "GatewayQuote", "arguments": [contract_id, quote]})

    def equity(self, account_id: int) -> Decimal:
        account = self.accounts[account_id]
        return account.balance + sum(
            (self._pnl(p, p.size) for p in self.positions.values() if p.account_id == account_id), Decimal(0)
        )

    async def touch_account(self, account_id: int) -> None:
        """A GatewayUserAccount event with nothing changed: a streaming client sends a fresh snapshot."""
        await self._push_account(account_id)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    async def drop_hubs(self) -> None:
        for hub in list(self.hubs):
            await hub.ws.close(1011, "server restart")

    def rate_limit(self, times: int, retry_after: float = 0.2) -> None:
        self._rate_limited, self._retry_after = times, retry_after

    async def send_malformed(self) -> None:
        for hub in list(self.hubs):
            if hub.kind == "user":
                await hub.ws.send('{"type": 1, "target": "GatewayUserPosition", "arguments": [' + RS)

    def go_silent(self) -> None:
        self.silent = True

    def subscriptions(self, kind: str) -> list[tuple[str, Any]]:
        return sorted(s for hub in self.hubs if hub.kind == kind for s in hub.subscriptions)

    def closes(self) -> list[tuple[str, dict[str, Any]]]:
        return [(p, b) for p, b in self.calls if p.startswith("/api/Position/") and "close" in p.lower()]

    def cancels(self) -> list[int]:
        return [b["orderId"] for p, b in self.calls if p == "/api/Order/cancel"]

    # -- REST ----------------------------------------------------------------------------------------------

    async def _rest(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        if method != "POST" or path not in REQUESTS:
            self.violations.append(f"{method} {path}: not a documented endpoint")
            return 404, {"title": "Not Found"}, {}
        if not headers.get("content-type", "").startswith("application/json"):
            self.violations.append(f"{path}: Content-Type {headers.get('content-type')!r}, not JSON")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self.violations.append(f"{path}: body is not JSON")
            return 400, {"title": "Bad Request"}, {}
        problem = _check_body(path, body)
        if problem:
            self.violations.append(f"{path}: {problem}")
            return 400, {"title": "Bad Request", "detail": problem}, {}
        self.calls.append((path, body))
        if self._rate_limited > 0:
            self._rate_limited -= 1
            return 429, {"title": "Too Many Requests"}, {"Retry-After": f"{self._retry_after:g}"}
        if path == "/api/Auth/loginKey":
            if (body["userName"].lower(), body["apiKey"]) != (USERNAME, API_KEY):
                return 200, {"token": None, "success": False, "errorCode": 3, "errorMessage": None}, {}
            return 200, self._ok(token=self._issue()), {}
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            return 401, {"title": "Unauthorized"}, {}
        return 200, self._answer(path, body), {}

    def _issue(self) -> str:
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return token

    @staticmethod
    def _ok(**payload: Any) -> dict[str, Any]:
        return {**payload, "success": True, "errorCode": 0, "errorMessage": None}

    @staticmethod
    def _refused(code: int, message: str | None = None) -> dict[str, Any]:
        return {"success": False, "errorCode": code, "errorMessage": message}

    def _answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/api/Auth/validate":
            return self._ok(newToken=self._issue())
        if path == "/api/Account/search":
            return self._ok(accounts=[self._account(a) for a in self.accounts.values()])
        if path == "/api/Contract/searchById":
            contract = self.contracts.get(body["contractId"])
            if contract is None:
                return self._refused(1)
            return self._ok(contract=self._contract(contract))
        if path == "/api/History/retrieveBars":
            contract = self.contracts.get(body["contractId"])
            if contract is None:
                return self._refused(1)
            p = _num(contract.last)
            bar = {"t": _iso(datetime.now(UTC).replace(second=0, microsecond=0)), "o": p, "h": p, "l": p, "c": p}
            return self._ok(bars=[bar | {"v": 1}])
        account_id = body["accountId"]
        if account_id not in self.accounts:
            return self._refused(1)
        if path == "/api/Position/searchOpen":
            return self._ok(
                positions=[self._position(p) for p in self.positions.values() if p.account_id == account_id]
            )
        if path == "/api/Order/searchOpen":
            return self._ok(orders=[self._order(o) for o in self.orders.values() if o.account_id == account_id])
        if path == "/api/Trade/search":
            start = datetime.fromisoformat(body["startTimestamp"].replace("Z", "+00:00"))
            return self._ok(trades=[t for t in self.trades if t["accountId"] == account_id and _at(t) >= start])
        if path == "/api/Order/cancel":
            order = self.orders.get(body["orderId"])
            if order is None or order.account_id != account_id:
                return self._refused(2)
            del self.orders[order.id]
            order.status = 3
            self._later(self._push_user("GatewayUserOrder", "SubscribeOrders", account_id, self._order(order)))
            return self._ok()
        # closeContract / partialCloseContract
        partial = path.endswith("partialCloseContract")
        position = next(
            (p for p in self.positions.values() if p.account_id == account_id and p.contract_id == body["contractId"]),
            None,
        )
        if position is None:
            return self._refused(2)
        size = body["size"] if partial else position.size
        self.close_requests.append((position.id, size))
        if partial and not 0 < size <= position.size:
            return self._refused(5)
        if position.contract_id in self.market_closed:
            return self._refused(6 if partial else 5)
        self._close(position, size)
        return self._ok()

    def _close(self, position: FakePosition, size: int) -> None:
        contract = self.contracts[position.contract_id]
        pnl = self._pnl(position, size)
        exit_price = contract.bid if position.long else contract.ask
        self._fill(position.account_id, position.contract_id, 1 if position.long else 0, size, exit_price, pnl)
        position.size -= size
        if position.size == 0:
            del self.positions[position.id]
        self._later(self._push_position(position))
        self._later(self._push_user("GatewayUserTrade", "SubscribeTrades", position.account_id, self.trades[-1]))
        self._later(self._push_account(position.account_id))

    def _pnl(self, position: FakePosition, size: int) -> Decimal:
        contract = self.contracts[position.contract_id]
        exit_price = contract.bid if position.long else contract.ask
        ticks = (exit_price - position.average_price) / contract.tick_size * (1 if position.long else -1)
        return (ticks * contract.tick_value * size).quantize(Decimal("0.01"))

    def _fill(self, account_id: int, contract_id: str, side: int, size: int, price: Decimal, pnl: Decimal | None):
        fees = self.fee_per_contract * size
        self.accounts[account_id].balance += (pnl or Decimal(0)) - fees
        self.trades.append(
            {
                "id": next(self._ids),
                "accountId": account_id,
                "contractId": contract_id,
                "creationTimestamp": _iso(datetime.now(UTC)),
                "price": _num(price),
                "profitAndLoss": None if pnl is None else _num(pnl),
                "fees": _num(fees),
                "side": side,
                "size": size,
                "voided": False,
                "orderId": next(self._ids),
            }
        )

    # -- documented shapes ----------------------------------------------------------------------------------

    @staticmethod
    def _account(a: FakeAccount) -> dict[str, Any]:
        return {"id": a.id, "name": a.name, "balance": _num(a.balance), "canTrade": a.can_trade, "isVisible": True}

    @staticmethod
    def _contract(c: FakeContract) -> dict[str, Any]:
        return {
            "id": c.id,
            "name": c.name,
            "description": c.name,
            "tickSize": _num(c.tick_size),
            "tickValue": _num(c.tick_value),
            "activeContract": True,
            "symbolId": c.id.removeprefix("CON.").rsplit(".", 1)[0],
        }

    @staticmethod
    def _position(p: FakePosition) -> dict[str, Any]:
        return {
            "id": p.id,
            "accountId": p.account_id,
            "contractId": p.contract_id,
            "creationTimestamp": _iso(p.created),
            "type": 1 if p.long else 2,
            "size": p.size,
            "averagePrice": _num(p.average_price),
        }

    @staticmethod
    def _order(o: FakeOrder) -> dict[str, Any]:
        now = _iso(datetime.now(UTC))
        return {
            "id": o.id,
            "accountId": o.account_id,
            "contractId": o.contract_id,
            "creationTimestamp": now,
            "updateTimestamp": now,
            "status": o.status,
            "type": 1,
            "side": o.side,
            "size": o.size,
            "limitPrice": _num(o.limit_price),
            "stopPrice": None,
            "filledPrice": None,
        }

    # -- hubs ----------------------------------------------------------------------------------------------

    def _upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        if parts.path not in ("/hubs/user", "/hubs/market"):
            self.violations.append(f"hub path {parts.path}")
            return connection.respond(404, "Not Found\n")
        token = parse_qs(parts.query).get("access_token", [""])[0]
        if token not in self.tokens:
            return connection.respond(401, "Unauthorized\n")
        return None

    async def _hub(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        hub = Hub("user" if ws.request.path.startswith("/hubs/user") else "market", ws)
        self.hub_connections += 1
        try:
            first = await ws.recv()
            if first != json.dumps({"protocol": "json", "version": 1}) + RS and not _is_handshake(first):
                self.violations.append(f"{hub.kind} hub: handshake {first!r}")
                await ws.send(json.dumps({"error": "Handshake was canceled."}) + RS)
                return
            await ws.send("{}" + RS)
            self.hubs.append(hub)
            pinger = asyncio.create_task(self._ping(hub))
            try:
                async for frame in ws:
                    for record in str(frame).split(RS):
                        if record.strip():
                            await self._on_record(hub, record)
            finally:
                pinger.cancel()
        except Exception:
            pass
        finally:
            if hub in self.hubs:
                self.hubs.remove(hub)

    async def _on_record(self, hub: Hub, record: str) -> None:
        try:
            message = json.loads(record)
        except ValueError:
            self.violations.append(f"{hub.kind} hub: record is not JSON: {record[:60]!r}")
            return
        kind = message.get("type")
        if kind == 6:
            return
        if kind != 1:
            self.violations.append(f"{hub.kind} hub: unexpected message type {kind}")
            return
        target, arguments = message.get("target"), message.get("arguments")
        methods = USER_METHODS if hub.kind == "user" else MARKET_METHODS
        types = methods.get(target)
        if (
            types is None
            or not isinstance(arguments, list)
            or len(arguments) != len(types)
            or not all(isinstance(a, t) and not isinstance(a, bool) for a, t in zip(arguments, types, strict=False))
        ):
            self.violations.append(f"{hub.kind} hub: {target}({arguments}) is not a documented invocation")
            error: dict[str, Any] = {"error": f"Unknown hub method '{target}'"}
        else:
            subscription = (target.replace("Unsubscribe", "Subscribe"), arguments[0] if arguments else None)
            if target.startswith("Subscribe"):
                hub.subscriptions.add(subscription)
            else:
                hub.subscriptions.discard(subscription)
            error = {"result": None}
        if "invocationId" in message:
            await self._send(hub, {"type": 3, "invocationId": message["invocationId"], **error})

    async def _ping(self, hub: Hub) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            if not self.silent:
                with contextlib.suppress(Exception):
                    await hub.ws.send(json.dumps({"type": 6}) + RS)

    def _hubs(self, kind: str, subscription: tuple[str, Any]) -> Iterable[Hub]:
        return [h for h in self.hubs if h.kind == kind and subscription in h.subscriptions]

    async def _send(self, hub: Hub, message: dict[str, Any]) -> None:
        if self.silent:
            return
        with contextlib.suppress(Exception):
            await hub.ws.send(json.dumps(message) + RS)

    async def _push_user(self, target: str, subscription: str, account_id: int, data: dict[str, Any]) -> None:
        for hub in self._hubs("user", (subscription, account_id)):
            await self._send(hub, {"type": 1, "target": target, "arguments": [data]})

    async def _push_position(self, position: FakePosition) -> None:
        await self._push_user(
            "GatewayUserPosition", "SubscribePositions", position.account_id, self._position(position)
        )

    async def _push_account(self, account_id: int) -> None:
        data = self._account(self.accounts[account_id]) | {"simulated": True}
        for hub in self._hubs("user", ("SubscribeAccounts", None)):
            await self._send(hub, {"type": 1, "target": "GatewayUserAccount", "arguments": [data]})

    def _later(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _is_handshake(frame: Any) -> bool:
    try:
        return str(frame).endswith(RS) and json.loads(str(frame)[:-1]) == {"protocol": "json", "version": 1}
    except ValueError:
        return False


def _at(trade: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(trade["creationTimestamp"])


def _check_body(path: str, body: Any) -> str:
    if not isinstance(body, dict):
        return "body is not a JSON object"
    fields = REQUESTS[path]
    optional = OPTIONAL.get(path, set())
    extra = set(body) - set(fields)
    if extra:
        return f"undocumented fields {sorted(extra)}"
    for name, kind in fields.items():
        if name not in body:
            if name in optional:
                continue
            return f"{name} missing"
        value = body[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"{name} is {type(value).__name__}, documented {kind.__name__}"
    return ""
