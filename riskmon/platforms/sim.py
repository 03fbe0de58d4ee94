"""A simulated broker: accounts holding positions on a seeded random-walk price feed.

Prices drift against the positions, so the demo shows a daily-loss warning after about 40 seconds
and a breach after about 50 (at one tick a second). Closes act on the same market, so the enforcer
can be tried without a broker.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field

from riskmon.clock import Clock, SystemClock
from riskmon.models import ZERO, AccountSnapshot, Position, Side
from riskmon.platforms.base import ActionResult, Outcome
from riskmon.platforms.base import Platform as PlatformConnection
from riskmon.platforms.plugin import NoOptions, PlatformPlugin
from riskmon.units import Seconds

if TYPE_CHECKING:
    from riskmon.config import AccountConfig, AppConfig

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Instrument:
    symbol: str
    price: Decimal
    contract_size: Decimal  # units per lot
    digits: int
    drift: float  # per tick, relative; signed
    volatility: float  # per tick, relative


INSTRUMENTS = (
    Instrument("EURUSD", Decimal("1.08500"), Decimal(100000), 5, -0.000105, 0.00004),
    Instrument("XAUUSD", Decimal("2650.00"), Decimal(100), 2, -0.000105, 0.00004),
    Instrument("GBPUSD", Decimal("1.27000"), Decimal(100000), 5, 0.000105, 0.00004),
)

# (symbol, side, lots, stop loss) opened by every simulated account, scaled per account.
BOOK = (
    ("EURUSD", Side.BUY, Decimal(4), Decimal("1.07000")),
    ("XAUUSD", Side.BUY, Decimal(1), Decimal("2600.00")),
    ("GBPUSD", Side.SELL, Decimal(2), Decimal("1.28500")),
)


@dataclass
class SimPosition:
    id: str
    instrument: Instrument
    side: Side
    volume: Decimal
    open_price: Decimal
    stop_loss: Decimal
    opened_at: datetime


@dataclass
class SimAccount:
    account: str
    balance: Decimal
    positions: dict[str, SimPosition]


class SimMarket:
    def __init__(
        self,
        accounts: Sequence[str],
        seed: int = 7,
        clock: Clock | None = None,
        balance: Decimal = Decimal(100000),
        leverage: Decimal = Decimal(100),
    ) -> None:
        self.clock = clock or SystemClock()
        self._rng = random.Random(seed)
        self.leverage = leverage
        self.prices = {i.symbol: i.price for i in INSTRUMENTS}
        by_symbol = {i.symbol: i for i in INSTRUMENTS}
        now = self.clock.now()
        self.accounts: dict[str, SimAccount] = {}
        self._opened = 0
        for n, account in enumerate(accounts):
            scale = 1 + Decimal(n % 4) * Decimal("0.1")
            positions = {}
            for k, (symbol, side, lots, stop) in enumerate(BOOK):
                position_id = f"{n + 1}{k + 1:03d}"
                instrument = by_symbol[symbol]
                positions[position_id] = SimPosition(
                    position_id, instrument, side, lots * scale, instrument.price, stop, now
                )
            self.accounts[account] = SimAccount(account, balance, positions)

    def step(self) -> None:
        """One tick: every price moves; positions whose stop loss is crossed are closed at the stop."""
        for instrument in INSTRUMENTS:
            move = instrument.drift + self._rng.gauss(0, instrument.volatility)
            price = self.prices[instrument.symbol] * (1 + Decimal(repr(move)))
            self.prices[instrument.symbol] = price.quantize(Decimal(1).scaleb(-instrument.digits))
        for account in self.accounts.values():
            for position in list(account.positions.values()):
                price = self.prices[position.instrument.symbol]
                if (price - position.stop_loss) * position.side.sign <= 0:
                    self._close(account, position, position.volume, position.stop_loss)

    def _pnl(self, position: SimPosition, volume: Decimal, price: Decimal) -> Decimal:
        units = volume * position.instrument.contract_size
        return ((price - position.open_price) * units * position.side.sign).quantize(CENT)

    def _close(self, account: SimAccount, position: SimPosition, volume: Decimal, price: Decimal) -> None:
        account.balance += self._pnl(position, volume, price)
        position.volume -= volume
        if position.volume <= 0:
            del account.positions[position.id]

    def snapshot(self, account_id: str) -> AccountSnapshot:
        account = self.accounts[account_id]
        now = self.clock.now()
        positions = []
        for p in account.positions.values():
            price = self.prices[p.instrument.symbol]
            positions.append(
                Position(
                    id=p.id,
                    symbol=p.instrument.symbol,
                    side=p.side,
                    volume=p.volume,
                    open_price=p.open_price,
                    price=price,
                    notional=(p.volume * p.instrument.contract_size * price).quantize(CENT),
                    unrealized_pnl=self._pnl(p, p.volume, price),
                    stop_loss=p.stop_loss,
                    opened_at=p.opened_at,
                )
            )
        floating = sum((p.unrealized_pnl for p in positions), ZERO)
        margin = sum(((p.notional or ZERO) / self.leverage for p in positions), ZERO).quantize(CENT)
        return AccountSnapshot(
            account=account_id,
            platform="sim",
            balance=account.balance,
            equity=account.balance + floating,
            margin=margin,
            positions=tuple(positions),
            ts=now,
            received_at=now,
            leverage=self.leverage,
        )

    def open_position(self, account_id: str, symbol: str, side: Side, volume: Decimal) -> str:
        """Open a position at the current price (a trader acting behind riskmon's back); returns its id."""
        account = self.accounts[account_id]
        instrument = next(i for i in INSTRUMENTS if i.symbol == symbol)
        self._opened += 1
        position_id = f"9{self._opened:05d}"
        price = self.prices[symbol]
        stop = price * (1 - Decimal("0.05") * side.sign)
        account.positions[position_id] = SimPosition(
            position_id, instrument, side, volume, price, stop, self.clock.now()
        )
        return position_id

    def close_position(self, account_id: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        account = self.accounts.get(account_id)
        position = account.positions.get(position_id) if account else None
        if account is None or position is None:
            return ActionResult(Outcome.NOT_FOUND, f"position {position_id} is not open")
        lots = position.volume if volume is None else min(volume, position.volume)
        self._close(account, position, lots, self.prices[position.instrument.symbol])
        return ActionResult(Outcome.DONE, "closed at market", closed_volume=lots)


class SimFeed:
    """Snapshots of every simulated account, one round per ``interval`` seconds."""

    def __init__(self, market: SimMarket, interval: float = 1.0) -> None:
        self.market = market
        self.interval = interval

    @property
    def connected(self) -> bool:
        return True

    async def aclose(self) -> None:
        """Nothing to release: the market lives in memory."""

    async def snapshots(self) -> AsyncIterator[AccountSnapshot]:
        while True:
            for account in self.market.accounts:
                yield self.market.snapshot(account)
            await asyncio.sleep(self.interval)
            self.market.step()


class SimTrader:
    def __init__(self, market: SimMarket) -> None:
        self.market = market

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        return self.market.close_position(account, position_id, volume)

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        return ActionResult(Outcome.NOT_FOUND, "the simulator has no pending orders")


class SimSettings(BaseModel):
    """SIM_* in .env: the demo's pace and its random walk."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    interval: Annotated[Seconds, Field(gt=0)] = 1.0
    seed: int = 7


def _build(config: AppConfig, accounts: list[AccountConfig]) -> list[PlatformConnection]:
    """All simulated accounts share one market."""
    own = SIM.of(config.settings)
    ids = tuple(a.id for a in accounts)
    market = SimMarket(ids, seed=own.seed)
    stale = timedelta(seconds=3 * own.interval)
    return [PlatformConnection("sim", SimFeed(market, own.interval), SimTrader(market), ids, stale)]


SIM: PlatformPlugin[SimSettings, NoOptions] = PlatformPlugin(
    name="sim", env_prefix="SIM_", settings=SimSettings, build=_build
)
