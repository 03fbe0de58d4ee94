"""Properties over random snapshot sequences: floors never fall, anchors never move within a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from riskmon.clock import TradingCalendar
from riskmon.engine import advance
from riskmon.rules.max_loss import MaxLossRule, MaxLossSpec
from riskmon.state import AccountState, AnchorSource
from tests.builders import snap

money = st.decimals(min_value=Decimal("50000"), max_value=Decimal("150000"), places=2)
steps = st.lists(
    st.tuples(st.integers(min_value=0, max_value=36 * 3600), money, money, st.booleans()), min_size=1, max_size=60
)
calendars = st.sampled_from(
    [
        TradingCalendar.of("Europe/Prague", "00:00"),
        TradingCalendar.of("America/New_York", "17:00"),
        TradingCalendar.of("America/Chicago", "17:00"),
        TradingCalendar.of("UTC", "00:30"),
    ]
)
floors = st.sampled_from(
    [
        MaxLossSpec.model_validate({"enabled": True, "mode": "trailing", "trail": trail, "size_basis": basis, **lock})
        for trail in ("eod_balance", "intraday_balance", "intraday_equity")
        for basis in ("initial_pct", "high_pct", "fixed")
        for lock in ({}, {"lock": "initial"})
    ]
)
START = datetime(2026, 3, 6, tzinfo=UTC)  # spans the US and EU spring DST changes within a month


@settings(max_examples=150, deadline=None)
@given(steps=steps, calendar=calendars, spec=floors)
def test_trailing_floor_never_decreases_and_anchor_is_fixed_within_a_day(
    steps: list[tuple[int, Decimal, Decimal, bool]], calendar: TradingCalendar, spec: MaxLossSpec
) -> None:
    rule = MaxLossRule(spec)
    state = AccountState.fresh("acc-1", Decimal(100000))
    at = START
    previous_floor: Decimal | None = None
    previous: AccountState | None = None
    for gap, balance, equity, with_realized in steps:
        at += timedelta(seconds=gap)
        extra = {"realized_today": balance - Decimal(100000)} if with_realized else {}
        state = advance(state, snap(at.isoformat(), balance, equity, **extra), calendar)
        floor = rule.floor(state).level
        # The one exception to both: an estimated anchor (and the end-of-day high taken from it) replaced by
        # the exact figure from the platform's history, once.
        replaced = (
            previous is not None
            and previous.trading_day == state.trading_day
            and (previous.anchor_source, state.anchor_source) == (AnchorSource.ESTIMATED, AnchorSource.REBUILT)
        )
        if previous_floor is not None and not replaced:
            assert floor >= previous_floor
        if previous is not None and previous.trading_day == state.trading_day and not replaced:
            assert (state.day_start_balance, state.day_start_equity) == (
                previous.day_start_balance,
                previous.day_start_equity,
            )
        if previous is not None:
            assert previous.trading_day is not None and state.trading_day is not None
            assert state.trading_day >= previous.trading_day
        previous_floor, previous = floor, state
