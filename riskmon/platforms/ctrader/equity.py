"""Unrealized P&L from prices, the way cTrader values an open position (pure functions).

A position closes at the opposite side of the book: a BUY at the bid, a SELL at the ask. Its P&L in the
symbol's quote asset is converted to the deposit asset along the conversion chain that
SymbolsForConversion (2119) returns: for each step whose base is the asset in hand, multiply by that
symbol's bid; for each step whose quote is the asset in hand, divide by its ask. Each position's P&L is
rounded to the account's moneyDigits, as the server reports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from riskmon.errors import ProtocolError
from riskmon.models import Side

from .parsing import LightSymbol

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Quote:
    bid: Decimal | None = None
    ask: Decimal | None = None

    def updated(self, bid: Decimal | None, ask: Decimal | None) -> Quote:
        """A side the event omits keeps its last value."""
        return Quote(self.bid if bid is None else bid, self.ask if ask is None else ask)


@dataclass(frozen=True, slots=True)
class ConversionStep:
    symbol_id: int
    invert: bool  # True: the asset in hand is the symbol's quote → divide by the ask


def conversion_steps(from_asset: int, to_asset: int, chain: Sequence[LightSymbol]) -> tuple[ConversionStep, ...]:
    """Turn a 2119 chain into ordered steps from ``from_asset`` to ``to_asset``."""
    steps: list[ConversionStep] = []
    asset: int | None = from_asset
    for symbol in chain:
        if asset is None:  # the previous symbol did not say its assets
            raise ProtocolError(f"conversion chain breaks before symbol {symbol.id}: assets unknown")
        if symbol.base_asset_id == asset:
            steps.append(ConversionStep(symbol.id, invert=False))
            asset = symbol.quote_asset_id
        elif symbol.quote_asset_id == asset:
            steps.append(ConversionStep(symbol.id, invert=True))
            asset = symbol.base_asset_id
        else:
            raise ProtocolError(f"conversion chain breaks at symbol {symbol.id} (holding asset {asset})")
    if asset != to_asset:
        raise ProtocolError(f"conversion chain ends at asset {asset}, not {to_asset}")
    return tuple(steps)


def conversion_rate(steps: Sequence[ConversionStep], quotes: Mapping[int, Quote]) -> Decimal | None:
    """Quote asset → deposit asset rate, or None while a needed price is unknown."""
    rate = ONE
    for step in steps:
        quote = quotes.get(step.symbol_id)
        if quote is None:
            return None
        if step.invert:
            if not quote.ask:
                return None
            rate /= quote.ask
        else:
            if quote.bid is None:
                return None
            rate *= quote.bid
    return rate


def close_price(side: Side, quote: Quote | None) -> Decimal | None:
    if quote is None:
        return None
    return quote.bid if side is Side.BUY else quote.ask


def gross_pnl(side: Side, volume: int, entry: Decimal, close: Decimal, rate: Decimal, money_digits: int) -> Decimal:
    """P&L in the deposit currency of ``volume`` cents of a unit opened at ``entry``, closed at ``close``."""
    units = Decimal(volume) / 100
    raw = (close - entry) * side.sign * units * rate
    return raw.quantize(Decimal(1).scaleb(-money_digits), rounding=ROUND_HALF_UP)


def notional(volume: int, price: Decimal, rate: Decimal, money_digits: int) -> Decimal:
    """Absolute exposure in the deposit currency."""
    raw = Decimal(volume) / 100 * price * rate
    return raw.quantize(Decimal(1).scaleb(-money_digits), rounding=ROUND_HALF_UP)
