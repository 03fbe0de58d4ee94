"""One account's live state, updated in place by protocol events; snapshots are read from it.

A tick revalues only the positions that hold the ticked symbol or convert through it (``_watchers``);
running totals of net P&L and used margin are adjusted by differences, and the ``Position`` objects of
revalued positions are rebuilt only when a snapshot is taken. A tick costs O(positions affected) in
arithmetic and allocates nothing per position, whatever the size of the account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from riskmon.clock import TradingCalendar
from riskmon.models import ZERO, AccountSnapshot, Order, Position

from .codec import EXECUTION_TYPE, Payload, req_enum, req_int, sub
from .equity import ConversionStep, Quote, close_price, conversion_rate, gross_pnl, notional
from .parsing import (
    OrderState,
    PositionState,
    SymbolSpec,
    TraderInfo,
    UnrealizedPnl,
    ctrader_deal_balance,
    ctrader_deal_realized,
    ctrader_deal_time,
    ctrader_money,
    ctrader_order,
    ctrader_order_to_order,
    ctrader_position,
    ctrader_position_to_position,
    ctrader_trader_to_info,
    money_digits,
)

PLATFORM = "ctrader"
DEPOSIT_WITHDRAW = EXECUTION_TYPE["DEPOSIT_WITHDRAW"]


class Valuation(NamedTuple):
    price: Decimal | None  # the closing side of the book
    gross: Decimal
    notional: Decimal | None
    net: Decimal  # gross + swap + commission: what equity counts


class AccountBook:
    def __init__(self, account: str, info: TraderInfo, currency: str, calendar: TradingCalendar) -> None:
        self.account = account
        self.info = info
        self.currency = currency
        self.calendar = calendar
        self.symbols: dict[int, SymbolSpec] = {}
        self.steps: dict[int, tuple[ConversionStep, ...]] = {}  # quote asset id → chain to deposit
        self.quotes: dict[int, Quote] = {}
        self.positions: dict[int, PositionState] = {}
        self.orders: dict[int, OrderState] = {}
        self.realized_today = ZERO
        self.day: date | None = None
        self.ts: datetime | None = None
        self._server_pnl: dict[int, UnrealizedPnl] = {}
        self._values: dict[int, Valuation] = {}
        self._views: dict[int, Position] = {}
        self._stale: set[int] = set()  # positions revalued since their view was built
        self._order_views: dict[int, Order] = {}
        self._net_total = ZERO
        self._margin_total = ZERO
        self._watchers: defaultdict[int, set[int]] = defaultdict(set)

    # ---- whole-account loads (initial, reconcile, poll) -----------------------------------------
    def load(
        self,
        info: TraderInfo,
        positions: Iterable[PositionState],
        orders: Iterable[OrderState],
        server_pnl: Mapping[int, UnrealizedPnl],
        realized_today: Decimal,
        day: date,
        ts: datetime,
    ) -> None:
        """Replace the state with the server's; P&L is the server's until the next tick revalues it."""
        self.info = info
        for pid in list(self.positions):
            self._remove_position(pid)
        self._server_pnl = dict(server_pnl)
        for position in positions:
            self._put_position(position, use_server=True)
        self.orders.clear()
        self._order_views.clear()
        for order in orders:
            self._put_order(order)
        self.realized_today, self.day, self.ts = realized_today, day, ts

    def add_symbol(self, spec: SymbolSpec, steps: tuple[ConversionStep, ...]) -> None:
        """A symbol's spec and the conversion chain of its quote asset into the deposit asset."""
        self.symbols[spec.id] = spec
        self.steps[spec.quote_asset_id] = steps
        for pid in [p.id for p in self.positions.values() if p.symbol_id == spec.id]:
            self._put_position(self.positions[pid], use_server=True)
        for order in [o for o in self.orders.values() if o.symbol_id == spec.id]:
            self._put_order(order)

    def missing_symbols(self) -> set[int]:
        held = {p.symbol_id for p in self.positions.values()} | {o.symbol_id for o in self.orders.values()}
        return held - self.symbols.keys()

    def price_symbols(self) -> set[int]:
        """Symbols whose prices value the positions: their own and their conversion chains."""
        return {sid for sid, pids in self._watchers.items() if pids}

    @property
    def equity(self) -> Decimal:
        return self.info.balance + self._net_total

    # ---- events --------------------------------------------------------------------------------
    def apply_spot(self, symbol_id: int, bid: Decimal | None, ask: Decimal | None, ts: datetime) -> bool:
        """Record a price; revalue the positions it affects. True when any of them changed."""
        self.quotes[symbol_id] = self.quotes.get(symbol_id, Quote()).updated(bid, ask)
        self.ts = ts
        pids = self._watchers.get(symbol_id)
        if not pids:
            return False
        for pid in pids:
            self._revalue(pid, use_server=False)
        return True

    def apply_execution(self, event: Payload, ts: datetime) -> None:
        self.ts = ts
        if "position" in event:
            position = ctrader_position(sub(event, "position"), self.info.money_digits)
            if position.is_open and position.volume > 0:
                self._server_pnl.pop(position.id, None)
                self._put_position(position, use_server=False)
            else:
                self._remove_position(position.id)
        if "order" in event:
            self._put_order(ctrader_order(sub(event, "order")))
        if "deal" in event:
            deal = sub(event, "deal")
            self._roll_day(ts)
            if self.day is not None and self.calendar.day_of(ctrader_deal_time(deal)) == self.day:
                self.realized_today += ctrader_deal_realized(deal, self.info.money_digits)
            balance = ctrader_deal_balance(deal, self.info.money_digits)
            if balance is not None:
                self._set_balance(balance)
        if req_enum(event, "executionType", EXECUTION_TYPE) == DEPOSIT_WITHDRAW and "depositWithdraw" in event:
            cash = sub(event, "depositWithdraw")
            self._set_balance(ctrader_money(req_int(cash, "balance"), money_digits(cash, self.info.money_digits)))

    def apply_trader(self, trader: Payload, ts: datetime) -> None:
        self.info = ctrader_trader_to_info(trader)
        self.ts = ts

    def apply_margin(self, event: Payload, ts: datetime) -> None:
        pid = req_int(event, "positionId")
        position = self.positions.get(pid)
        if position is None:
            return
        margin = ctrader_money(req_int(event, "usedMargin"), money_digits(event, self.info.money_digits))
        self._margin_total += margin - position.used_margin
        self.positions[pid] = replace(position, used_margin=margin)
        self.ts = ts

    def snapshot(self, received_at: datetime, keepalive: bool = False) -> AccountSnapshot:
        self._roll_day(received_at)
        return AccountSnapshot(
            account=self.account,
            balance=self.info.balance,
            equity=self.equity,
            ts=self.ts or received_at,
            platform=PLATFORM,
            currency=self.currency,
            margin=self._margin_total,
            positions=self._positions(),
            orders=tuple(self._order_views.values()),
            received_at=received_at,
            realized_today=self.realized_today,
            leverage=self.info.leverage,
            keepalive=keepalive,
        )

    # ---- internals -----------------------------------------------------------------------------
    def _set_balance(self, balance: Decimal) -> None:
        self.info = replace(self.info, balance=balance)

    def _roll_day(self, now: datetime) -> None:
        day = self.calendar.day_of(now)
        if self.day is not None and day > self.day:
            self.day, self.realized_today = day, ZERO

    def _put_order(self, order: OrderState) -> None:
        if order.is_pending:
            self.orders[order.id] = order
            self._order_views[order.id] = ctrader_order_to_order(order, self.symbols.get(order.symbol_id))
        else:
            self.orders.pop(order.id, None)
            self._order_views.pop(order.id, None)

    def _chain(self, position: PositionState) -> tuple[int, ...]:
        spec = self.symbols.get(position.symbol_id)
        steps = () if spec is None else self.steps.get(spec.quote_asset_id, ())
        return (position.symbol_id, *(step.symbol_id for step in steps))

    def _put_position(self, position: PositionState, *, use_server: bool) -> None:
        old = self.positions.get(position.id)
        if old is not None:
            self._margin_total -= old.used_margin
            for sid in self._chain(old):
                self._watchers[sid].discard(old.id)
        self.positions[position.id] = position
        self._margin_total += position.used_margin
        for sid in self._chain(position):
            self._watchers[sid].add(position.id)
        self._revalue(position.id, use_server=use_server)

    def _remove_position(self, pid: int) -> None:
        position = self.positions.pop(pid, None)
        if position is None:
            return
        self._margin_total -= position.used_margin
        for sid in self._chain(position):
            self._watchers[sid].discard(pid)
        value = self._values.pop(pid, None)
        self._net_total -= ZERO if value is None else value.net
        self._views.pop(pid, None)
        self._stale.discard(pid)
        self._server_pnl.pop(pid, None)

    def _revalue(self, pid: int, *, use_server: bool) -> None:
        position = self.positions[pid]
        spec = self.symbols.get(position.symbol_id)
        price = close_price(position.side, self.quotes.get(position.symbol_id))
        steps = None if spec is None else self.steps.get(spec.quote_asset_id)
        rate = None if steps is None else conversion_rate(steps, self.quotes)
        server = self._server_pnl.get(pid)
        exposure = None
        gross = server.gross if server is not None else ZERO
        if price is not None and rate is not None:
            digits = self.info.money_digits
            exposure = notional(position.volume, price, rate, digits)
            if position.entry_price is not None and not (use_server and server is not None):
                gross = gross_pnl(position.side, position.volume, position.entry_price, price, rate, digits)
        net = server.net if use_server and server is not None else gross + position.swap + position.commission
        old = self._values.get(pid)
        self._net_total += net - (ZERO if old is None else old.net)
        self._values[pid] = Valuation(price, gross, exposure, net)
        self._stale.add(pid)

    def _positions(self) -> tuple[Position, ...]:
        for pid in self._stale:
            position, value = self.positions[pid], self._values[pid]
            self._views[pid] = ctrader_position_to_position(
                position,
                self.symbols.get(position.symbol_id),
                price=value.price,
                unrealized=value.gross,
                notional=value.notional,
            )
        self._stale.clear()
        return tuple(self._views.values())
