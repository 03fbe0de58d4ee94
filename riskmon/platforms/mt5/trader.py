"""MT5Trader: closes positions and removes pending orders on one terminal, for the enforcer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from riskmon.backoff import Backoff
from riskmon.errors import PlatformError
from riskmon.platforms.base import ActionResult, Outcome
from riskmon.platforms.mt5 import constants as c
from riskmon.platforms.mt5.parsing import Record, money
from riskmon.platforms.mt5.terminal import (
    MT5Terminal,
    TerminalTimeout,
    expect_login,
    explain,
    fetch,
    fetch_all,
    last_error,
)

log = logging.getLogger(__name__)

REQUOTE_BACKOFF = Backoff(0.2, 2.0).delay

Request = dict[str, int | float | str]
Sent = tuple[int | None, ActionResult]  # (retcode when the server answered, result)

RETRY_WITH_FRESH_PRICE = {c.TRADE_RETCODE_REQUOTE, c.TRADE_RETCODE_PRICE_CHANGED, c.TRADE_RETCODE_PRICE_OFF}
# Every documented trade server return code, classified; an undocumented one is UNKNOWN (verify first).
_RETCODES: dict[int, tuple[Outcome, str]] = {
    c.TRADE_RETCODE_DONE: (Outcome.DONE, "done"),
    c.TRADE_RETCODE_DONE_PARTIAL: (Outcome.PARTIAL, "only part of the request was done"),
    c.TRADE_RETCODE_PLACED: (Outcome.UNKNOWN, "order placed, not yet executed"),
    c.TRADE_RETCODE_ERROR: (Outcome.UNKNOWN, "request processing error"),
    c.TRADE_RETCODE_ORDER_CHANGED: (Outcome.UNKNOWN, "order state changed"),
    c.TRADE_RETCODE_CLOSE_ORDER_EXIST: (Outcome.UNKNOWN, "a close order for this position already exists"),
    # "Request locked for processing": it may still execute, so resending before a fresh snapshot could close twice
    c.TRADE_RETCODE_LOCKED: (Outcome.UNKNOWN, "request locked for processing"),
    c.TRADE_RETCODE_REQUOTE: (Outcome.RETRY, "requoted: the price kept moving"),
    c.TRADE_RETCODE_PRICE_CHANGED: (Outcome.RETRY, "the price kept changing"),
    c.TRADE_RETCODE_PRICE_OFF: (Outcome.RETRY, "no quotes to close at"),
    c.TRADE_RETCODE_INVALID_PRICE: (Outcome.RETRY, "invalid price"),
    c.TRADE_RETCODE_TIMEOUT: (Outcome.RETRY, "request cancelled by timeout"),
    c.TRADE_RETCODE_TOO_MANY_REQUESTS: (Outcome.RETRY, "too many requests"),
    c.TRADE_RETCODE_FROZEN: (Outcome.RETRY, "order or position frozen"),
    c.TRADE_RETCODE_CONNECTION: (Outcome.RETRY, "no connection with the trade server"),
    c.TRADE_RETCODE_FIFO_CLOSE: (Outcome.RETRY, "FIFO: an older position on this symbol must close first"),
    c.TRADE_RETCODE_MARKET_CLOSED: (Outcome.MARKET_CLOSED, "market closed"),
    c.TRADE_RETCODE_TRADE_DISABLED: (Outcome.TRADING_DISABLED, "trading disabled for this symbol or account"),
    c.TRADE_RETCODE_SERVER_DISABLES_AT: (Outcome.TRADING_DISABLED, "auto-trading disabled by the server"),
    c.TRADE_RETCODE_CLIENT_DISABLES_AT: (
        Outcome.TRADING_DISABLED,
        "auto-trading disabled in the terminal (enable Algo Trading)",
    ),
    c.TRADE_RETCODE_ONLY_REAL: (Outcome.TRADING_DISABLED, "only real accounts may trade"),
    c.TRADE_RETCODE_POSITION_CLOSED: (Outcome.NOT_FOUND, "position already closed"),
    c.TRADE_RETCODE_REJECT: (Outcome.REJECTED, "request rejected"),
    c.TRADE_RETCODE_CANCEL: (Outcome.REJECTED, "request cancelled by the trader"),
    c.TRADE_RETCODE_INVALID: (Outcome.REJECTED, "invalid request"),
    c.TRADE_RETCODE_INVALID_VOLUME: (Outcome.REJECTED, "invalid volume"),
    c.TRADE_RETCODE_INVALID_STOPS: (Outcome.REJECTED, "invalid stops"),
    c.TRADE_RETCODE_NO_MONEY: (Outcome.REJECTED, "not enough money"),
    c.TRADE_RETCODE_INVALID_EXPIRATION: (Outcome.REJECTED, "invalid expiration"),
    c.TRADE_RETCODE_NO_CHANGES: (Outcome.REJECTED, "no changes in request"),
    c.TRADE_RETCODE_INVALID_FILL: (Outcome.REJECTED, "the broker does not accept this filling mode for the symbol"),
    c.TRADE_RETCODE_LIMIT_ORDERS: (Outcome.REJECTED, "pending order limit reached"),
    c.TRADE_RETCODE_LIMIT_VOLUME: (Outcome.REJECTED, "volume limit reached"),
    c.TRADE_RETCODE_INVALID_ORDER: (Outcome.REJECTED, "invalid or prohibited order type"),
    c.TRADE_RETCODE_INVALID_CLOSE_VOLUME: (Outcome.REJECTED, "close volume exceeds the position"),
    c.TRADE_RETCODE_LIMIT_POSITIONS: (Outcome.REJECTED, "position limit reached"),
    c.TRADE_RETCODE_REJECT_CANCEL: (Outcome.REJECTED, "pending order activation rejected"),
    c.TRADE_RETCODE_LONG_ONLY: (Outcome.REJECTED, "only long positions allowed"),
    c.TRADE_RETCODE_SHORT_ONLY: (Outcome.REJECTED, "only short positions allowed"),
    c.TRADE_RETCODE_CLOSE_ONLY: (Outcome.REJECTED, "only closing allowed"),
    c.TRADE_RETCODE_HEDGE_PROHIBITED: (Outcome.REJECTED, "hedging prohibited"),
}


def filling_for(filling_mode: int) -> int:
    """The order filling type a symbol accepts: FOK if allowed, else IOC, else RETURN."""
    if filling_mode & c.SYMBOL_FILLING_FOK:
        return c.ORDER_FILLING_FOK
    if filling_mode & c.SYMBOL_FILLING_IOC:
        return c.ORDER_FILLING_IOC
    return c.ORDER_FILLING_RETURN


def close_volume(open_volume: Decimal, requested: Decimal | None, info: Record) -> Decimal | None:
    """Lots to close: the request (or everything) capped at the open volume and volume_max, rounded down
    to volume_step; None when that falls below volume_min."""
    step, smallest, largest = (money(info[k]) for k in ("volume_step", "volume_min", "volume_max"))
    lots = min(open_volume if requested is None else requested, open_volume, largest)
    if step > 0:
        lots = (lots / step).to_integral_value(rounding=ROUND_FLOOR) * step
    return lots if lots > 0 and lots >= smallest else None


def close_request(
    position: Record, info: Record, tick: Record, lots: Decimal, *, deviation: int, magic: int, comment: str
) -> Request:
    """An opposite market deal against ``position``: only plain values, so it survives the bridge's repr()."""
    closing_buy = position["type"] == c.POSITION_TYPE_BUY
    return {
        "action": c.TRADE_ACTION_DEAL,
        "position": int(position["ticket"]),
        "symbol": str(position["symbol"]),
        "volume": float(lots),
        "type": c.ORDER_TYPE_SELL if closing_buy else c.ORDER_TYPE_BUY,
        "price": float(tick["bid"] if closing_buy else tick["ask"]),
        "deviation": deviation,
        "magic": magic,
        "comment": comment,
        "type_time": c.ORDER_TIME_GTC,
        "type_filling": filling_for(int(info["filling_mode"])),
    }


def outcome_of(retcode: int, comment: str, volume: Decimal | None = None) -> ActionResult:
    """A trade server answer as an ActionResult, keeping the retcode verbatim."""
    code = str(retcode)
    outcome, reason = _RETCODES.get(retcode, (Outcome.UNKNOWN, "undocumented return code"))
    if outcome in (Outcome.DONE, Outcome.PARTIAL):
        return ActionResult(outcome, comment, code, volume)
    return ActionResult(outcome, f"{reason} (retcode {retcode}: {comment})", code)


def _send(mt5: Any, request: Request, lots: Decimal | None = None) -> Sent:
    """order_send on the terminal's thread: (retcode or None, result)."""
    answer = mt5.order_send(request)
    if answer is None:
        code, text = last_error(mt5)
        # The request may have reached the trade server before the link failed: verify before resending.
        outcome = Outcome.TRADING_DISABLED if code == c.RES_E_AUTO_TRADING_DISABLED else Outcome.UNKNOWN
        return None, ActionResult(outcome, f"order_send failed: {explain(code, text)}", str(code))
    retcode, comment = int(answer.retcode), str(answer.comment)
    if lots is not None and retcode == c.TRADE_RETCODE_DONE_PARTIAL:
        lots = money(answer.volume)
    return retcode, outcome_of(retcode, comment, lots)


class MT5Trader:
    """Carries out the enforcer's closes and cancels on one account's terminal.

    Requotes and price changes are retried up to ``max_attempts`` times, each with a fresh quote, waiting
    ``backoff(attempt)`` seconds in between. Broker refusals are returned, never raised.
    """

    def __init__(
        self,
        terminal: MT5Terminal,
        *,
        max_attempts: int = 5,
        backoff: Callable[[int], float] = REQUOTE_BACKOFF,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        deviation: int = 20,
        magic: int = 0,
        comment: str = "riskmon",
    ) -> None:
        self._terminal = terminal
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._sleep = sleep
        self._deviation = deviation
        self._magic = magic
        self._comment = comment

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        if (refusal := self._check(account, position_id)) is not None:
            return refusal
        ticket = int(position_id)
        for attempt in range(self._max_attempts):
            retcode, result = await self._run(lambda mt5: self._close_once(mt5, ticket, volume))
            if retcode not in RETRY_WITH_FRESH_PRICE or attempt + 1 == self._max_attempts:
                break
            log.info("MT5 account %s: closing %s: %s; retrying at a fresh price", account, ticket, result.message)
            await self._sleep(self._backoff(attempt))
        return result

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        if (refusal := self._check(account, order_id)) is not None:
            return refusal
        ticket = int(order_id)
        _, result = await self._run(lambda mt5: self._remove_once(mt5, ticket))
        return result

    def _check(self, account: str, ticket: str) -> ActionResult | None:
        if account != self._terminal.account:
            return ActionResult(Outcome.REJECTED, f"this MT5 trader serves account {self._terminal.account}")
        if not ticket.isdigit():
            return ActionResult(Outcome.NOT_FOUND, f"{ticket!r} is not an MT5 ticket")
        return None

    async def _run(self, work: Callable[[Any], Sent]) -> Sent:
        try:
            return await self._terminal.run(work)
        except TerminalTimeout as exc:
            return None, ActionResult(Outcome.UNKNOWN, f"{exc}: the request may still have gone through")
        except PlatformError as exc:
            return None, ActionResult(Outcome.RETRY, str(exc))

    def _close_once(self, mt5: Any, ticket: int, volume: Decimal | None) -> Sent:
        expect_login(mt5, self._terminal.login)
        positions = fetch_all(mt5, "positions_get", ticket=ticket)
        if not positions:
            return None, ActionResult(Outcome.NOT_FOUND, f"position {ticket} is not open")
        position = positions[0]
        info = fetch(mt5, "symbol_info", position["symbol"])
        lots = close_volume(money(position["volume"]), volume, info)
        if lots is None:
            return None, ActionResult(
                Outcome.REJECTED, f"close volume {volume} is below the symbol's minimum {info['volume_min']}"
            )
        tick = fetch(mt5, "symbol_info_tick", position["symbol"])
        request = close_request(
            position, info, tick, lots, deviation=self._deviation, magic=self._magic, comment=self._comment
        )
        retcode, result = _send(mt5, request, lots)
        asked = money(position["volume"]) if volume is None else min(volume, money(position["volume"]))
        if result.ok and money(info["volume_max"]) < asked:
            # capped at volume_max: the rest is planned again from the next snapshot, never silently dropped
            note = f"closed {result.closed_volume} of {asked} lots (volume_max {info['volume_max']})"
            result = ActionResult(Outcome.PARTIAL, note, result.code, result.closed_volume)
        return retcode, result

    def _remove_once(self, mt5: Any, ticket: int) -> Sent:
        expect_login(mt5, self._terminal.login)
        if not fetch_all(mt5, "orders_get", ticket=ticket):
            return None, ActionResult(Outcome.NOT_FOUND, f"order {ticket} is not pending")
        return _send(mt5, {"action": c.TRADE_ACTION_REMOVE, "order": ticket})
