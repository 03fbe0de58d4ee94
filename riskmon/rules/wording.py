"""A rulebook in a trader's words (``riskmon presets``): what each limit is, never our field names. Pure."""

from __future__ import annotations

from decimal import Decimal

from riskmon.rules.base import money
from riskmon.rules.spec import ANCHOR_WORDS, TRAIL_WORDS, DailySize, FloorMode, LossSize, Rulebook


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}"


def daily_loss(book: Rulebook) -> str:
    dl = book.daily_loss
    if not dl.enabled:
        return "none"
    anchor = ANCHOR_WORDS[dl.anchor]
    size = {
        DailySize.FIXED: money(dl.size),
        DailySize.INITIAL_PCT: f"{_number(dl.size)}% of the initial balance",
        DailySize.ANCHOR_PCT: f"{_number(dl.size)}%",
    }[dl.size_basis]
    ends = "fails the account" if dl.breach == "hard" else "blocks trading for the day"
    breach = f"equity falling below it {ends}"
    return f"{size} below {anchor} at the day's start ({book.day_reset} {book.timezone}); {breach}"


def max_loss(book: Rulebook) -> str:
    ml = book.max_loss
    if not ml.enabled:
        return "none"
    size = {
        LossSize.FIXED: money(ml.size),
        LossSize.INITIAL_PCT: f"{_number(ml.size)}% of the initial balance",
        LossSize.HIGH_PCT: f"{_number(ml.size)}%",
    }[ml.size_basis]
    if ml.mode is FloorMode.STATIC:
        below = f"{_number(ml.size)}%" if ml.size_basis is LossSize.INITIAL_PCT else size
        return f"a fixed floor {below} below the initial balance"
    text = f"{size} below {TRAIL_WORDS[ml.trail]}, rising with it"
    if ml.lock == "initial":
        text += "; stops rising at the initial balance"
    elif ml.lock is not None:
        text += f"; stops rising at {money(ml.lock)}"
    return text


def other_rules(book: Rulebook) -> str:
    parts = []
    if book.profit_target.enabled:
        target = book.profit_target
        size = money(target.size) if target.size_basis == "fixed" else f"{_number(target.size)}% of the initial balance"
        parts.append(f"profit target {size}")
    if book.min_trading_days:
        parts.append(f"at least {book.min_trading_days} trading days")
    if book.position_size.enabled:
        what = "risk to the stop loss" if book.position_size.basis == "risk" else "position size"
        parts.append(f"{what} at most {_number(book.position_size.max_percent)}% of equity per position")
    if book.max_positions:
        parts.append(f"at most {book.max_positions} open positions")
    if book.max_lots:
        parts.append(f"at most {_number(book.max_lots)} lots open")
    if book.leverage.enabled:
        parts.append(f"leverage warning at {_number(book.leverage.warning)}x")
    return ", ".join(parts) or "none"
