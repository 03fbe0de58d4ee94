"""A fake ``MetaTrader5`` module: the official API's names, constants and record types over an
in-memory terminal that tests control through the module-level ``_fake`` object.

Importable as ``MetaTrader5`` when ``tests/fakes/mt5`` is on ``sys.path`` (directly, or inside an rpyc
classic server, where ``mt5linux`` reaches it exactly as it would reach the real package under Wine).
Times are broker server time: ``_fake.now`` is UTC epoch seconds and ``server_offset_hours`` shifts
every tick and deal time the terminal reports.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter, namedtuple
from collections.abc import Callable
from datetime import datetime
from typing import Any

__version__ = "5.0.0-fake"

# --- constants (values as in the official package) -------------------------------------------------
RES_S_OK = 1
RES_E_FAIL = -1
RES_E_INVALID_PARAMS = -2
RES_E_NO_MEMORY = -3
RES_E_NOT_FOUND = -4
RES_E_INVALID_VERSION = -5
RES_E_AUTH_FAILED = -6
RES_E_UNSUPPORTED = -7
RES_E_AUTO_TRADING_DISABLED = -8
RES_E_INTERNAL_FAIL = -10000
RES_E_INTERNAL_FAIL_SEND = -10001
RES_E_INTERNAL_FAIL_RECEIVE = -10002
RES_E_INTERNAL_FAIL_INIT = -10003
RES_E_INTERNAL_FAIL_CONNECT = -10004
RES_E_INTERNAL_FAIL_TIMEOUT = -10005

ORDER_TYPE_BUY, ORDER_TYPE_SELL = 0, 1
ORDER_TYPE_BUY_LIMIT, ORDER_TYPE_SELL_LIMIT, ORDER_TYPE_BUY_STOP, ORDER_TYPE_SELL_STOP = 2, 3, 4, 5
ORDER_TYPE_BUY_STOP_LIMIT, ORDER_TYPE_SELL_STOP_LIMIT, ORDER_TYPE_CLOSE_BY = 6, 7, 8
POSITION_TYPE_BUY, POSITION_TYPE_SELL = 0, 1
TRADE_ACTION_DEAL, TRADE_ACTION_PENDING, TRADE_ACTION_SLTP = 1, 5, 6
TRADE_ACTION_MODIFY, TRADE_ACTION_REMOVE, TRADE_ACTION_CLOSE_BY = 7, 8, 10
ORDER_FILLING_FOK, ORDER_FILLING_IOC, ORDER_FILLING_RETURN, ORDER_FILLING_BOC = 0, 1, 2, 3
ORDER_TIME_GTC, ORDER_TIME_DAY, ORDER_TIME_SPECIFIED, ORDER_TIME_SPECIFIED_DAY = 0, 1, 2, 3
DEAL_TYPE_BUY, DEAL_TYPE_SELL, DEAL_TYPE_BALANCE, DEAL_TYPE_CREDIT, DEAL_TYPE_CHARGE = 0, 1, 2, 3, 4
DEAL_TYPE_CORRECTION, DEAL_TYPE_BONUS, DEAL_TYPE_COMMISSION = 5, 6, 7
DEAL_ENTRY_IN, DEAL_ENTRY_OUT, DEAL_ENTRY_INOUT, DEAL_ENTRY_OUT_BY = 0, 1, 2, 3
SYMBOL_TRADE_EXECUTION_REQUEST, SYMBOL_TRADE_EXECUTION_INSTANT = 0, 1
SYMBOL_TRADE_EXECUTION_MARKET, SYMBOL_TRADE_EXECUTION_EXCHANGE = 2, 3
SYMBOL_TRADE_MODE_DISABLED, SYMBOL_TRADE_MODE_FULL = 0, 4

TRADE_RETCODE_REQUOTE = 10004
TRADE_RETCODE_REJECT = 10006
TRADE_RETCODE_PLACED = 10008
TRADE_RETCODE_DONE = 10009
TRADE_RETCODE_DONE_PARTIAL = 10010
TRADE_RETCODE_TIMEOUT = 10012
TRADE_RETCODE_INVALID = 10013
TRADE_RETCODE_INVALID_VOLUME = 10014
TRADE_RETCODE_TRADE_DISABLED = 10017
TRADE_RETCODE_MARKET_CLOSED = 10018
TRADE_RETCODE_NO_MONEY = 10019
TRADE_RETCODE_PRICE_CHANGED = 10020
TRADE_RETCODE_PRICE_OFF = 10021
TRADE_RETCODE_SERVER_DISABLES_AT = 10026
TRADE_RETCODE_CLIENT_DISABLES_AT = 10027
TRADE_RETCODE_INVALID_FILL = 10030
TRADE_RETCODE_CONNECTION = 10031
TRADE_RETCODE_POSITION_CLOSED = 10036
TRADE_RETCODE_FIFO_CLOSE = 10045

# --- record types (official field order) ------------------------------------------------------------
AccountInfo = namedtuple(
    "AccountInfo",
    "login trade_mode leverage limit_orders margin_so_mode trade_allowed trade_expert margin_mode "
    "currency_digits fifo_close balance credit profit equity margin margin_free margin_level "
    "margin_so_call margin_so_so margin_initial margin_maintenance assets liabilities "
    "commission_blocked name server currency company",
)
TradePosition = namedtuple(
    "TradePosition",
    "ticket time time_msc time_update time_update_msc type magic identifier reason volume price_open "
    "sl tp price_current swap profit symbol comment external_id",
)
TradeOrder = namedtuple(
    "TradeOrder",
    "ticket time_setup time_setup_msc time_done time_done_msc time_expiration type type_time "
    "type_filling state magic position_id position_by_id reason volume_initial volume_current "
    "price_open sl tp price_current price_stoplimit symbol comment external_id",
)
TradeDeal = namedtuple(
    "TradeDeal",
    "ticket order time time_msc type entry magic position_id reason volume price commission swap "
    "profit fee symbol comment external_id",
)
Tick = namedtuple("Tick", "time bid ask last volume time_msc flags volume_real")
# A subset of the real SymbolInfo fields (the real record has ~100), under their real names.
SymbolInfo = namedtuple(
    "SymbolInfo",
    "select visible digits spread trade_calc_mode trade_mode trade_exemode filling_mode time bid ask "
    "point trade_tick_value trade_tick_size trade_contract_size volume_min volume_max volume_step "
    "currency_base currency_profit currency_margin description name",
)
TradeRequest = namedtuple(
    "TradeRequest",
    "action magic order symbol volume price stoplimit sl tp deviation type type_filling type_time "
    "expiration comment position position_by",
)
# MqlTradeRequest (https://www.mql5.com/en/docs/constants/structures/mqltraderequest): its fields and
# their types, and what each trade action requires. Anything else is refused as the terminal would.
_REQUEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "action": int, "magic": int, "order": int, "symbol": str, "volume": float, "price": float,
    "stoplimit": float, "sl": float, "tp": float, "deviation": int, "type": int, "type_filling": int,
    "type_time": int, "expiration": int, "comment": str, "position": int, "position_by": int,
}  # fmt: skip
_REQUIRED = {
    TRADE_ACTION_DEAL: {"action", "symbol", "volume", "type", "type_filling"},
    TRADE_ACTION_REMOVE: {"action", "order"},
}
OrderSendResult = namedtuple(
    "OrderSendResult",
    "retcode deal order volume price bid ask comment request_id retcode_external request",
)

_MSG = {
    TRADE_RETCODE_REQUOTE: "Requote",
    TRADE_RETCODE_PLACED: "Order placed",
    TRADE_RETCODE_DONE: "Request executed",
    TRADE_RETCODE_DONE_PARTIAL: "Request executed partially",
    TRADE_RETCODE_TIMEOUT: "Request canceled by timeout",
    TRADE_RETCODE_CONNECTION: "No connection with the trade server",
    TRADE_RETCODE_FIFO_CLOSE: "Position closing is allowed only by FIFO rule",
    TRADE_RETCODE_INVALID: "Invalid request",
    TRADE_RETCODE_INVALID_VOLUME: "Invalid volume",
    TRADE_RETCODE_TRADE_DISABLED: "Trade disabled",
    TRADE_RETCODE_MARKET_CLOSED: "Market closed",
    TRADE_RETCODE_NO_MONEY: "No money",
    TRADE_RETCODE_PRICE_CHANGED: "Price changed",
    TRADE_RETCODE_PRICE_OFF: "No prices",
    TRADE_RETCODE_CLIENT_DISABLES_AT: "AutoTrading disabled by client",
    TRADE_RETCODE_INVALID_FILL: "Unsupported filling mode",
    TRADE_RETCODE_POSITION_CLOSED: "Position already closed",
}
_ERRORS = {
    RES_S_OK: "Success",
    RES_E_INVALID_PARAMS: "Invalid params",
    RES_E_AUTH_FAILED: "Authorization failed",
    RES_E_INTERNAL_FAIL_INIT: "IPC initialize failed, MetaTrader 5 x64 not found",
    RES_E_INTERNAL_FAIL_CONNECT: "IPC connect failed",
    RES_E_INTERNAL_FAIL_TIMEOUT: "IPC timeout",
}


class FakeTerminal:
    """The terminal's state and the test controls. Every method is safe to call through rpyc."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.load({})

    # ---- control API ---------------------------------------------------------------------------
    def load(self, scenario: dict[str, Any]) -> None:
        """Replace the whole state with a scenario (the format of tests/data/mt5/*.json)."""
        with self._lock:
            self.credentials = dict(scenario.get("credentials", {}))
            self.now = float(scenario.get("now", 1_700_000_000))
            self.server_offset_hours = float(scenario.get("server_offset_hours", 0))
            self.account = dict(scenario.get("account_info", {}))
            self.symbols = {s["name"]: dict(s) for s in scenario.get("symbols", [])}
            self.ticks = {name: dict(t) for name, t in scenario.get("ticks", {}).items()}
            self.positions = [dict(p) for p in scenario.get("positions", [])]
            self.orders = [dict(o) for o in scenario.get("orders", [])]
            self.deals = [dict(d) for d in scenario.get("deals", [])]
            self.sent_requests: list[dict[str, Any]] = []
            self.initialize_calls = 0
            self.initialized = False
            self._failure: str | None = None
            self._rejects: list[int] = []
            self.market_closed: set[str] = set()  # symbols whose trades are refused with MARKET_CLOSED
            self.fill_at_most: float | None = None  # a close fills at most this many lots: DONE_PARTIAL
            self._error = (RES_S_OK, _ERRORS[RES_S_OK])
            self._next_ticket = 900_000
            self.delay = 0.0
            self.calls: Counter[str] = Counter()  # official function name → times called

    def set_failure(self, kind: str | None) -> None:
        """``"terminal_gone"`` (everything returns None, IPC connect failed), ``"auth_failed"``,
        ``"send_lost"`` (only order_send fails, as when the link drops mid-request), or None."""
        with self._lock:
            self._failure = kind
            if kind == "terminal_gone":
                self.initialized = False

    def reject_orders(self, retcode: int, times: int = 1) -> None:
        """Answer the next ``times`` order_send calls with ``retcode`` instead of executing them."""
        with self._lock:
            self._rejects.extend([int(retcode)] * int(times))

    def set_market_closed(self, symbol: str, closed: bool = True) -> None:
        """Refuse (or accept again) every trade on ``symbol`` with TRADE_RETCODE_MARKET_CLOSED."""
        with self._lock:
            (self.market_closed.add if closed else self.market_closed.discard)(symbol)

    def set_profit(self, ticket: int, profit: float) -> None:
        """A position's floating profit moves (the market moved): the account's equity follows."""
        with self._lock:
            position = next(p for p in self.positions if p["ticket"] == ticket)
            position["profit"] = round(float(profit), 2)
            equity, margin = round(self.equity(), 2), self.account["margin"]
            self.account.update(
                equity=equity,
                profit=round(equity - self.account["balance"], 2),
                margin_free=round(equity - margin, 2),
                margin_level=round(equity / margin * 100, 2) if margin else 0.0,
            )

    def set_time(self, utc_epoch: float, quotes_flow: bool = True) -> None:
        """Move the terminal's clock; with ``quotes_flow`` every symbol gets a tick stamped now."""
        with self._lock:
            self.now = float(utc_epoch)
            if quotes_flow:
                for symbol, tick in list(self.ticks.items()):
                    self.set_price(symbol, tick["bid"], tick["ask"])

    def set_price(self, symbol: str, bid: float, ask: float) -> None:
        """A new quote, stamped with the current server time."""
        with self._lock:
            server = self._server_now()
            self.ticks[symbol] = {
                "time": int(server), "bid": bid, "ask": ask, "last": 0.0, "volume": 0,
                "time_msc": int(server * 1000), "flags": 6, "volume_real": 0.0,
            }  # fmt: skip

    def open_position(self, **fields: Any) -> int:
        with self._lock:
            ticket = int(fields.pop("ticket", self._ticket()))
            server = self._server_now()
            position = {
                "ticket": ticket, "time": int(server), "time_msc": int(server * 1000),
                "time_update": int(server), "time_update_msc": int(server * 1000), "type": 0, "magic": 0,
                "identifier": ticket, "reason": 0, "volume": 0.1, "price_open": 1.0, "sl": 0.0, "tp": 0.0,
                "price_current": 1.0, "swap": 0.0, "profit": 0.0, "symbol": "EURUSD", "comment": "",
                "external_id": "",
            }  # fmt: skip
            position.update(fields)
            self.positions.append(position)
            return ticket

    def add_deal(self, **fields: Any) -> None:
        with self._lock:
            self.deals.append(self._deal(fields))

    # ---- terminal behaviour ----------------------------------------------------------------------
    def _server_now(self) -> float:
        return self.now + self.server_offset_hours * 3600

    def _ticket(self) -> int:
        self._next_ticket += 1
        return self._next_ticket

    def _deal(self, fields: dict[str, Any]) -> dict[str, Any]:
        server = self._server_now()
        deal = {
            "ticket": self._ticket(), "order": 0, "time": int(server), "time_msc": int(server * 1000),
            "type": DEAL_TYPE_BUY, "entry": DEAL_ENTRY_IN, "magic": 0, "position_id": 0, "reason": 0,
            "volume": 0.0, "price": 0.0, "commission": 0.0, "swap": 0.0, "profit": 0.0, "fee": 0.0,
            "symbol": "", "comment": "", "external_id": "",
        }  # fmt: skip
        deal.update(fields)
        return deal

    def fail(self, code: int) -> None:
        self._error = (code, _ERRORS.get(code, "Error"))

    def ready(self) -> bool:
        """Whether data calls may answer; sets last_error when not."""
        if self._failure == "terminal_gone":
            self.fail(RES_E_INTERNAL_FAIL_CONNECT)
            return False
        if not self.initialized:
            self.fail(RES_E_INTERNAL_FAIL_INIT)
            return False
        self._error = (RES_S_OK, _ERRORS[RES_S_OK])
        return True

    def initialize(self, path: str | None, login: int | None, password: str | None, server: str | None) -> bool:
        with self._lock:
            self.initialize_calls += 1
            if self._failure == "terminal_gone":
                self.fail(RES_E_INTERNAL_FAIL_INIT)
                return False
            expected = self.credentials
            given = {"login": login, "password": password, "server": server}
            if self._failure == "auth_failed" or any(key in expected and given[key] != expected[key] for key in given):
                self.fail(RES_E_AUTH_FAILED)
                return False
            self.initialized = True
            self._error = (RES_S_OK, _ERRORS[RES_S_OK])
            return True

    def equity(self) -> float:
        return float(self.account["balance"]) + sum(p["profit"] + p["swap"] for p in self.positions)

    def order_send(self, request: dict[str, Any]) -> OrderSendResult | None:
        with self._lock:
            if not all(isinstance(v, int | float | str) for v in request.values()):
                raise TypeError(f"request values must be plain int/float/str: {request!r}")
            self.sent_requests.append(dict(request))
            if not self.ready():
                return None
            if not _valid_request(request):
                self.fail(RES_E_INVALID_PARAMS)
                return None
            if not _REQUIRED.get(request["action"], {"action"}) <= request.keys():
                return self._result(TRADE_RETCODE_INVALID, request)
            if self._failure == "send_lost":
                self.fail(RES_E_INTERNAL_FAIL_CONNECT)
                return None
            if self._rejects:
                return self._result(self._rejects.pop(0), request)
            if request.get("symbol") in self.market_closed:
                return self._result(TRADE_RETCODE_MARKET_CLOSED, request)
            if request["action"] == TRADE_ACTION_REMOVE:
                return self._remove(request)
            if request["action"] == TRADE_ACTION_DEAL and request.get("position"):
                return self._close(request)
            return self._result(TRADE_RETCODE_INVALID, request)

    def _result(self, retcode: int, request: dict[str, Any], **fields: Any) -> OrderSendResult:
        tick = self.ticks.get(request.get("symbol", ""), {})
        values = {
            "retcode": retcode, "deal": 0, "order": 0, "volume": 0.0, "price": 0.0,
            "bid": tick.get("bid", 0.0), "ask": tick.get("ask", 0.0), "comment": _MSG.get(retcode, "Error"),
            "request_id": len(self.sent_requests), "retcode_external": 0,
        }  # fmt: skip
        values.update(fields)
        known = {k: request.get(k, 0) for k in TradeRequest._fields}
        return OrderSendResult(**values, request=TradeRequest(**known))

    def _remove(self, request: dict[str, Any]) -> OrderSendResult:
        for order in self.orders:
            if order["ticket"] == request["order"]:
                self.orders.remove(order)
                return self._result(TRADE_RETCODE_DONE, request, order=order["ticket"])
        return self._result(TRADE_RETCODE_INVALID, request)

    def _close(self, request: dict[str, Any]) -> OrderSendResult:
        position = next((p for p in self.positions if p["ticket"] == request["position"]), None)
        if position is None:
            return self._result(TRADE_RETCODE_POSITION_CLOSED, request)
        symbol, tick = self.symbols[position["symbol"]], self.ticks[position["symbol"]]
        closing_buy = position["type"] == POSITION_TYPE_BUY
        if request["type"] != (ORDER_TYPE_SELL if closing_buy else ORDER_TYPE_BUY):
            return self._result(TRADE_RETCODE_INVALID, request)
        allowed = {
            ORDER_FILLING_FOK: symbol["filling_mode"] & 1,
            ORDER_FILLING_IOC: symbol["filling_mode"] & 2,
        }
        allowed[ORDER_FILLING_RETURN] = symbol["trade_exemode"] == SYMBOL_TRADE_EXECUTION_EXCHANGE
        if not allowed.get(request.get("type_filling", ORDER_FILLING_FOK)):
            return self._result(TRADE_RETCODE_INVALID_FILL, request)
        volume = float(request["volume"])
        steps = volume / symbol["volume_step"]
        too_big = volume > min(position["volume"], symbol["volume_max"]) + 1e-9
        if too_big or volume < symbol["volume_min"] or abs(steps - round(steps)) > 1e-6:
            return self._result(TRADE_RETCODE_INVALID_VOLUME, request)
        if self.account.get("fifo_close") and self._older_than(position):
            return self._result(TRADE_RETCODE_FIFO_CLOSE, request)
        retcode = TRADE_RETCODE_DONE
        if self.fill_at_most is not None and volume > self.fill_at_most:
            volume, retcode = self.fill_at_most, TRADE_RETCODE_DONE_PARTIAL
        price = tick["bid"] if closing_buy else tick["ask"]
        share = volume / position["volume"]
        profit, swap = round(position["profit"] * share, 2), round(position["swap"] * share, 2)
        deal = self._deal(
            {"order": self._ticket(), "type": request["type"], "entry": DEAL_ENTRY_OUT,
             "position_id": position["ticket"], "volume": volume, "price": price, "swap": swap,
             "profit": profit, "symbol": position["symbol"], "magic": request.get("magic", 0),
             "comment": request.get("comment", "")}
        )  # fmt: skip
        self.deals.append(deal)
        self.account["balance"] = round(self.account["balance"] + profit + swap, 2)
        remaining = round(position["volume"] - volume, 8)
        margin_share = volume / sum(p["volume"] for p in self.positions)
        self.account["margin"] = round(self.account["margin"] * (1 - margin_share), 2)
        if remaining > 0:
            position.update(volume=remaining, profit=position["profit"] - profit, swap=position["swap"] - swap)
        else:
            self.positions.remove(position)
        equity = self.equity()
        margin = self.account["margin"]
        self.account.update(
            equity=round(equity, 2),
            profit=round(equity - self.account["balance"], 2),
            margin_free=round(equity - margin, 2),
            margin_level=round(equity / margin * 100, 2) if margin else 0.0,
        )
        return self._result(retcode, request, deal=deal["ticket"], order=deal["order"], volume=volume, price=price)

    def _older_than(self, position: dict[str, Any]) -> bool:
        """FIFO: another open position on the symbol was opened before this one."""
        same = [p for p in self.positions if p["symbol"] == position["symbol"]]
        return any(p["time_msc"] < position["time_msc"] for p in same)


def _valid_request(request: dict[str, Any]) -> bool:
    """Only MqlTradeRequest fields, each of its type (an int is a valid double)."""
    for key, value in request.items():
        kind = _REQUEST_TYPES.get(key)
        if kind is None or isinstance(value, bool):
            return False
        if not isinstance(value, kind) and not (kind is float and isinstance(value, int)):
            return False
    return "action" in request


_fake = FakeTerminal()


def _filtered(records: list[dict[str, Any]], kind: Any, **filters: Any) -> tuple[Any, ...] | None:
    if not _fake.ready():
        return None
    ticket, symbol = filters.get("ticket"), filters.get("symbol")
    chosen = [
        r for r in records if (ticket is None or r["ticket"] == ticket) and (symbol is None or r["symbol"] == symbol)
    ]
    return tuple(kind(**r) for r in chosen)


def _epoch(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _api(function: Callable[..., Any]) -> Callable[..., Any]:
    """An official function: answers after ``_fake.delay`` seconds (a slow or hung terminal)."""

    @functools.wraps(function)
    def answer(*args: Any, **kwargs: Any) -> Any:
        time.sleep(_fake.delay)
        _fake.calls[function.__name__] += 1
        return function(*args, **kwargs)

    return answer


# --- the official functions ------------------------------------------------------------------------
@_api
def initialize(
    path: str | None = None,
    *,
    login: int | None = None,
    password: str | None = None,
    server: str | None = None,
    timeout: int = 60_000,
    portable: bool = False,
) -> bool:
    return _fake.initialize(path, login, password, server)


@_api
def login(login: int, password: str | None = None, server: str | None = None, timeout: int = 60_000) -> bool:
    return _fake.initialize(None, login, password, server)


@_api
def shutdown() -> bool:
    with _fake._lock:
        _fake.initialized = False
    return True


@_api
def last_error() -> tuple[int, str]:
    return _fake._error


@_api
def version() -> tuple[int, int, str] | None:
    return (500, 4000, "01 Jan 2026") if _fake.ready() else None


@_api
def account_info() -> AccountInfo | None:
    with _fake._lock:
        return AccountInfo(**_fake.account) if _fake.ready() else None


@_api
def symbol_info(symbol: str) -> SymbolInfo | None:
    with _fake._lock:
        if not _fake.ready() or symbol not in _fake.symbols:
            return None
        tick = _fake.ticks.get(symbol, {})
        return SymbolInfo(**{**_fake.symbols[symbol], "bid": tick.get("bid", 0.0), "ask": tick.get("ask", 0.0)})


@_api
def symbol_select(symbol: str, enable: bool = True) -> bool:
    with _fake._lock:
        if not _fake.ready() or symbol not in _fake.symbols:
            return False
        _fake.symbols[symbol].update(select=enable, visible=enable)
        return True


@_api
def symbol_info_tick(symbol: str) -> Tick | None:
    with _fake._lock:
        if not _fake.ready():
            return None
        if symbol not in _fake.ticks or not _fake.symbols.get(symbol, {}).get("select", True):
            _fake.fail(RES_E_FAIL)  # unknown, or not in Market Watch
            return None
        return Tick(**_fake.ticks[symbol])


@_api
def positions_get(**filters: Any) -> tuple[TradePosition, ...] | None:
    with _fake._lock:
        return _filtered(_fake.positions, TradePosition, **filters)


@_api
def positions_total() -> int | None:
    with _fake._lock:
        return len(_fake.positions) if _fake.ready() else None


@_api
def orders_get(**filters: Any) -> tuple[TradeOrder, ...] | None:
    with _fake._lock:
        return _filtered(_fake.orders, TradeOrder, **filters)


@_api
def orders_total() -> int | None:
    with _fake._lock:
        return len(_fake.orders) if _fake.ready() else None


@_api
def history_deals_get(
    date_from: datetime | float | None = None, date_to: datetime | float | None = None, **filters: Any
) -> tuple[TradeDeal, ...] | None:
    with _fake._lock:
        if not _fake.ready():
            return None
        deals = _fake.deals
        if date_from is not None and date_to is not None:
            start, end = _epoch(date_from), _epoch(date_to)
            deals = [d for d in deals if start <= d["time"] <= end]
        if "position" in filters:
            deals = [d for d in deals if d["position_id"] == filters["position"]]
        return tuple(TradeDeal(**d) for d in deals)


@_api
def order_send(request: dict[str, Any]) -> OrderSendResult | None:
    return _fake.order_send(request)
