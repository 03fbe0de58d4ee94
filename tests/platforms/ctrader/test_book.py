"""AccountBook: a tick touches only the positions it prices or converts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from riskmon.clock import TradingCalendar
from riskmon.models import Side
from riskmon.platforms.ctrader.book import AccountBook
from riskmon.platforms.ctrader.equity import ConversionStep
from riskmon.platforms.ctrader.parsing import PositionState, SymbolSpec, TraderInfo

USD, EUR, GBP, JPY = 1, 2, 3, 4
EURGBP, GBPUSD, USDJPY = 10, 11, 12
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def position(pid: int, symbol_id: int, side: Side, entry: str) -> PositionState:
    zero = Decimal(0)
    return PositionState(pid, symbol_id, side, 10_000_000, Decimal(entry), zero, zero, zero, None, None, True)


def test_a_tick_revalues_only_the_positions_it_prices_or_converts() -> None:
    info = TraderInfo(1, Decimal("10000.00"), 2, USD, Decimal(100), 7)
    book = AccountBook("7", info, "USD", TradingCalendar.of("UTC"))
    book.load(info, [position(1, EURGBP, Side.BUY, "0.85"), position(2, USDJPY, Side.SELL, "151")],
              [], {}, Decimal(0), NOW.date(), NOW)  # fmt: skip
    book.add_symbol(SymbolSpec(EURGBP, "EURGBP", 10_000_000, 5, EUR, GBP), (ConversionStep(GBPUSD, False),))
    book.add_symbol(SymbolSpec(USDJPY, "USDJPY", 10_000_000, 3, USD, JPY), (ConversionStep(USDJPY, True),))
    assert book.price_symbols() == {EURGBP, GBPUSD, USDJPY}
    for sid, bid, ask in [(EURGBP, "0.86", "0.8601"), (GBPUSD, "1.25", "1.2502"), (USDJPY, "150", "150.02")]:
        book.apply_spot(sid, Decimal(bid), Decimal(ask), NOW)
    before = {p.id: p for p in book.snapshot(NOW).positions}
    assert before["1"].unrealized_pnl == Decimal("1250.00")  # 100,000 × 0.01 GBP × 1.25
    assert book.apply_spot(GBPUSD, Decimal("1.30"), None, NOW)  # converts EURGBP only
    after = {p.id: p for p in book.snapshot(NOW).positions}
    assert after["2"] is before["2"]  # untouched: not even rebuilt
    assert after["1"].unrealized_pnl == Decimal("1300.00")
    assert not book.apply_spot(99, Decimal(1), Decimal(1), NOW)  # a symbol nobody holds
    assert book.equity == Decimal("10000.00") + Decimal("1300.00") + after["2"].unrealized_pnl
