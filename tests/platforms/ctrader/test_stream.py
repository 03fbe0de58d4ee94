"""Stream mode: equity from ticks against the server's own figures, across currencies."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from riskmon.models import Side
from tests.fakes.ctrader_server import FakeCTraderServer

from .conftest import CTID, Running, next_snapshot


def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"))


async def test_equity_from_ticks_matches_server_across_currencies(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    await server.open_position(CTID, "EURGBP", "BUY", lots="1.5", price="0.85500", swap="-3.20", commission="-7.5")
    await server.open_position(CTID, "USDJPY", "SELL", lots="0.7", price="151.250", margin="140")
    await server.open_position(CTID, "EURUSD", "SELL", lots="0.3", price="1.09000")
    run = running()
    snap = await next_snapshot(run.snaps, lambda s: len(s.positions) == 3)
    assert snap.account == str(CTID) and snap.currency == "USD" and snap.platform == "ctrader"
    for bid, ask in [("0.86123", "0.86135"), ("0.85987", None), (None, "0.86001")]:
        await server.set_price("EURGBP", bid=bid, ask=ask)
        await server.set_price("GBPUSD", bid="1.2" + (bid or ask or "0")[-4:])
        await server.set_price("USDJPY", bid="149.873", ask="149.891")
        expected = server.equity(CTID)
        snap = await next_snapshot(run.snaps, lambda s, e=expected: cents(s.equity) == cents(e))  # type: ignore[misc]
    assert cents(snap.equity) == cents(server.equity(CTID))
    by_symbol = {p.symbol: p for p in snap.positions}
    eurgbp = by_symbol["EURGBP"]
    assert eurgbp.side is Side.BUY and eurgbp.volume == Decimal("1.5")
    assert eurgbp.price == server.symbol("EURGBP").bid  # a BUY is valued at the bid
    assert by_symbol["USDJPY"].price == server.symbol("USDJPY").ask  # a SELL at the ask
    assert eurgbp.swap == Decimal("-3.20") and eurgbp.commission == Decimal("-7.50")
    unrealized = server.unrealized(CTID)
    assert sorted(p.unrealized_pnl for p in snap.positions) == sorted(g for g, _ in unrealized.values())
    assert by_symbol["USDJPY"].notional == Decimal("70000.00")  # 70,000 USD base units
    assert snap.margin == Decimal("140.00")
    assert snap.leverage == Decimal(100)
    assert snap.balance == Decimal("10000.00")
