"""A small desk of accounts with a day of equity history, served by a real exporter (status page, API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from riskmon.clock import ManualClock
from riskmon.exporter import Exporter
from riskmon.history import EquityHistory
from riskmon.metrics import Metrics
from riskmon.models import TradingState
from riskmon.monitor import AccountMonitor
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store
from riskmon.view import ReadModel
from tests.builders import snap, ts

START = ts("2026-03-02 08:00")
NOW = ts("2026-03-02 11:00")


@dataclass
class Desk:
    clock: ManualClock
    store: Store
    history: EquityHistory
    monitors: list[AccountMonitor]
    trading: dict[str, TradingState] = field(default_factory=dict)

    @property
    def model(self) -> ReadModel:
        return ReadModel(self.monitors, (), self.trading.__getitem__, self.history, self.clock)

    def monitor(self, account: str) -> AccountMonitor:
        return next(m for m in self.monitors if m.profile.account == account)

    def exporter(self, token: str | None = None) -> Exporter:
        registry = CollectorRegistry()
        Metrics([m.profile for m in self.monitors], registry)
        return Exporter(registry, self.model, port=0, token=None if token is None else SecretStr(token))


def desk(db: Path | str = MEMORY) -> Desk:
    """Three accounts on FTMO's 2-step rules: one losing through the morning (warning on the daily loss),
    one calm, one with a label that is HTML, and one that has sent nothing yet."""
    clock = ManualClock(START)
    store = Store(db)
    history = EquityHistory(store, ["ftmo-100k", "calm", "html", "silent"])
    book = PRESETS["ftmo-2step"].rulebook()
    profiles = [
        AccountProfile("ftmo-100k", book, label="FTMO 100k", platform="ctrader", initial_balance=Decimal(100000)),
        AccountProfile("calm", book, platform="mt5", initial_balance=Decimal(100000)),
        AccountProfile("html", book, label="<b>Prop</b> & co", initial_balance=Decimal(100000)),
        AccountProfile("silent", book, platform="mt5", initial_balance=Decimal(100000)),
    ]
    monitors = [AccountMonitor(p, store, [history], clock=clock, stale_after=timedelta(seconds=60)) for p in profiles]
    trading = {p.account: TradingState.ACTIVE for p in profiles}
    trading["ftmo-100k"] = TradingState.REDUCING
    d = Desk(clock, store, history, monitors, trading)
    equity = 100000
    for minute in range(0, 181, 2):  # 08:00 to 11:00, the 100k account falling 25 a minute
        clock.set(START + timedelta(minutes=minute))
        now = clock.now().isoformat()
        d.monitor("ftmo-100k").process(snap(now, "100000", str(equity), account="ftmo-100k", received_at=clock.now()))
        d.monitor("calm").process(snap(now, "100000", "100100", account="calm", received_at=clock.now()))
        d.monitor("html").process(snap(now, "100000", "99900", account="html", received_at=clock.now()))
        equity -= 50
    return d
