"""MT5 figures from a hostile or broken terminal (issue 15 findings 8, 14): refused at the monitor's door."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from mt5_support import NOW, load_scenario

from riskmon.clock import ManualClock
from riskmon.monitor import AccountMonitor
from riskmon.platforms.mt5.feed import TerminalState, build_snapshot
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store

RECORDED = load_scenario()
OFFSET = timedelta(hours=RECORDED["server_offset_hours"])


def state(**account: Any) -> TerminalState:
    data = copy.deepcopy(RECORDED)
    symbols = {s["name"]: s for s in data["symbols"]}
    return TerminalState({**data["account_info"], **account}, data["positions"], data["orders"], symbols, data["ticks"])


def monitor() -> AccountMonitor:
    book = PRESETS["ftmo-2step"].rulebook({"position_size": {"enabled": True}, "leverage": {"enabled": True}})
    profile = AccountProfile(
        "mt5-1", book, platform="mt5", initial_balance=Decimal(str(RECORDED["account_info"]["balance"]))
    )
    return AccountMonitor(profile, Store(MEMORY), clock=ManualClock(NOW))


def test_infinite_or_nan_equity_is_refused_and_never_stored() -> None:
    for bad in (float("inf"), float("-inf"), float("nan")):
        m = monitor()
        snap = build_snapshot(state(equity=bad), account="mt5-1", offset=OFFSET, realized_today=None, received_at=NOW)
        assert m.process(snap) is None and m.refused == {"invalid": 1}
        assert m.store.load_state("mt5-1") is None


def test_a_negative_volume_is_refused() -> None:
    broken = state()
    broken.positions[0]["volume"] = -0.5
    snap = build_snapshot(broken, account="mt5-1", offset=OFFSET, realized_today=None, received_at=NOW)
    assert monitor().process(snap) is None


floats = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**20), 10**20)


@settings(max_examples=300, deadline=None)
@given(
    balance=floats, equity=floats, margin=floats, volume=floats, price=floats, profit=floats, sl=floats,
    leverage=st.integers(0, 10**6),
)  # fmt: skip
def test_fuzz_terminal_figures_are_evaluated_or_refused(
    balance: float, equity: float, margin: float, volume: float, price: float, profit: float, sl: float, leverage: int
) -> None:
    broken = state(balance=balance, equity=equity, margin=margin, leverage=leverage)
    position = broken.positions[0]
    position.update(volume=volume, price_current=price, profit=profit, sl=sl)
    snap = build_snapshot(broken, account="mt5-1", offset=OFFSET, realized_today=None, received_at=NOW)
    monitor().process(snap)  # evaluated or refused with one line: never an exception
