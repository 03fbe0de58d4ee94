"""Every rule at and around its exact boundary: equal to the limit is not a breach, one cent more is."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from riskmon.models import Severity, Side
from riskmon.rules.daily_loss import DailyLossRule, DailyLossSpec
from riskmon.rules.leverage import LeverageRule, LeverageSpec
from riskmon.rules.margin_level import MarginLevelRule, MarginLevelSpec
from riskmon.rules.max_loss import MaxLossRule, MaxLossSpec
from riskmon.rules.max_lots import MaxLotsRule
from riskmon.rules.max_positions import MaxPositionsRule
from riskmon.rules.min_trading_days import MinTradingDaysRule
from riskmon.rules.position_size import PositionSizeRule, PositionSizeSpec
from riskmon.rules.profit_target import ProfitTargetRule, ProfitTargetSpec
from riskmon.state import AccountState
from tests.builders import D, position, snap

NOON = "2026-03-02 12:00"
STATE = replace(AccountState.fresh("acc-1", D(100000)), day_start_balance=D(100000), day_start_equity=D(100000))


@pytest.mark.parametrize(
    ("equity", "severity"),
    [
        ("96000.01", Severity.OK),  # 3,999.99 lost: 79.99 % used
        ("96000.00", Severity.WARNING),  # exactly 80 % of the limit used
        ("95000.00", Severity.WARNING),  # loss equal to the limit: not a breach
        ("94999.99", Severity.CRITICAL),  # one cent more
    ],
)
def test_daily_loss_boundaries(equity: str, severity: Severity) -> None:
    result = DailyLossRule(DailyLossSpec()).check(snap(NOON, "100000", equity), STATE)
    assert result.severity is severity
    assert result.limit == D(5000)
    assert result.floor == D(95000)
    assert result.room_left == D(equity) - D(95000)
    assert result.observed == D(100000) - D(equity)


def test_messages_are_built_when_read_and_say_the_same_each_time() -> None:
    # Rules defer formatting to ``message``; reading it twice, late, gives the figures of the check.
    results = [
        DailyLossRule(DailyLossSpec()).check(snap(NOON, "100000", "94999.99"), STATE),
        MaxLossRule(MaxLossSpec()).check(snap(NOON, "100000", "96000"), STATE),
        MarginLevelRule(MarginLevelSpec()).check(snap(NOON, "100000", "96000", margin="1000"), STATE),
    ]
    assert (
        results[0].message
        == results[0].message
        == (
            "daily loss 5,000.01 of 5,000.00 (100.0% used); BREACHED by 0.01: equity 94,999.99 below the floor "
            "95,000.00 (account failed)"
        )
    )
    assert results[1].message == "max loss 4,000.00 of 10,000.00 (40.0% used); 6,000.00 left before the floor 90,000.00"
    assert results[2].message.startswith("margin level 9600.0%")


def test_daily_loss_counts_floating_and_realised() -> None:
    # Balance already down 3,000 (realised) and 2,000.01 floating: 5,000.01 lost since the anchor.
    result = DailyLossRule(DailyLossSpec()).check(snap(NOON, "97000", "94999.99"), STATE)
    assert result.severity is Severity.CRITICAL
    assert result.observed == D("5000.01")


def test_daily_loss_warning_share_is_configurable() -> None:
    spec = DailyLossSpec(warn_at=D("0.5"))
    assert DailyLossRule(spec).check(snap(NOON, "100000", "97500"), STATE).severity is Severity.WARNING
    assert DailyLossRule(spec).check(snap(NOON, "100000", "97500.01"), STATE).severity is Severity.OK


@pytest.mark.parametrize(
    ("anchor", "basis", "size", "expected_floor"),
    [
        ("balance", "anchor_pct", "5", "96900"),  # 5 % of 102,000 below 102,000
        ("balance", "initial_pct", "5", "97000"),  # 5 % of 100,000 initial below 102,000 (FTMO)
        ("equity", "anchor_pct", "5", "95950"),  # 5 % of 101,000
        ("max_balance_equity", "anchor_pct", "5", "96900"),
        ("initial", "initial_pct", "5", "95000"),
        ("balance", "fixed", "1000", "101000"),
    ],
)
def test_daily_loss_anchor_and_size(anchor: str, basis: str, size: str, expected_floor: str) -> None:
    state = replace(STATE, day_start_balance=D(102000), day_start_equity=D(101000))
    spec = DailyLossSpec(anchor=anchor, size_basis=basis, size=D(size))  # type: ignore[arg-type]
    result = DailyLossRule(spec).check(snap(NOON, "102000"), state)
    assert result.floor == D(expected_floor)


def test_soft_and_hard_breach_say_what_happens_next() -> None:
    hard = DailyLossRule(DailyLossSpec()).check(snap(NOON, "100000", "90000"), STATE)
    soft = DailyLossRule(DailyLossSpec(breach="soft")).check(snap(NOON, "100000", "90000"), STATE)
    assert "account failed" in hard.message
    assert "blocked until the next reset" in soft.message


def test_max_loss_static_boundary() -> None:
    rule = MaxLossRule(MaxLossSpec(enabled=True))
    assert rule.check(snap(NOON, "95000", "90000.00"), STATE).severity is Severity.WARNING
    breached = rule.check(snap(NOON, "95000", "89999.99"), STATE)
    assert breached.severity is Severity.CRITICAL
    assert breached.floor == D(90000)
    assert breached.room_left == D("-0.01")


def test_trailing_floor_from_high_percent_variant() -> None:
    # "6 % of 103,000 → 96,820": the floor trails a percentage of the high-water mark.
    rule = MaxLossRule(
        MaxLossSpec(enabled=True, mode="trailing", trail="intraday_balance", size_basis="high_pct", size=D(6))
    )  # type: ignore[arg-type]
    state = replace(STATE, balance_high=D(103000))
    assert rule.floor(state).level == D(96820)


def test_trailing_equity_high_with_fixed_lock() -> None:
    spec = MaxLossSpec(
        enabled=True, mode="trailing", trail="intraday_equity", size_basis="fixed", size=D(2000), lock=D(100500)
    )  # type: ignore[arg-type]
    rule = MaxLossRule(spec)
    assert rule.floor(replace(STATE, equity_high=D(101000))).level == D(99000)
    assert rule.floor(replace(STATE, equity_high=D(104000))).level == D(100500)


def test_position_size_notional_boundary() -> None:
    rule = PositionSizeRule(PositionSizeSpec(max_percent=D(10)))
    at_limit = snap(NOON, "100000", positions=(position(notional="10000.00"),))
    above = snap(NOON, "100000", positions=(position(notional="10000.01"),))
    assert rule.check(at_limit, STATE).severity is Severity.OK
    result = rule.check(above, STATE)
    assert result.severity is Severity.WARNING
    assert result.observed == D("10.00001")
    assert "EURUSD #1" in result.message


def test_position_size_risk_basis_uses_stop_loss() -> None:
    rule = PositionSizeRule(PositionSizeSpec(basis="risk", max_percent=D(1)))
    # Buy 100,000 notional at 1.10000, stop 1.08900: 1 % adverse = 1,000 = 1 % of 100,000 equity.
    at_limit = position(notional="100000", price="1.10000", stop_loss="1.08900")
    assert rule.check(snap(NOON, "100000", positions=(at_limit,)), STATE).severity is Severity.OK
    beyond = position(notional="100000", price="1.10000", stop_loss="1.08899")
    assert rule.check(snap(NOON, "100000", positions=(beyond,)), STATE).severity is Severity.WARNING
    short = position(side=Side.SELL, notional="100000", price="1.10000", stop_loss="1.11100")
    assert rule.check(snap(NOON, "100000", positions=(short,)), STATE).severity is Severity.OK


def test_position_without_stop_is_unlimited_risk() -> None:
    rule = PositionSizeRule(PositionSizeSpec(basis="risk", max_percent=D(50)))
    result = rule.check(snap(NOON, "100000", positions=(position(stop_loss=None),)), STATE)
    assert result.severity is Severity.WARNING
    assert "unlimited" in result.message


@pytest.mark.parametrize(
    ("margin", "severity"),
    [
        ("100000", Severity.OK),  # 100 % exactly: not below 100
        ("100000.01", Severity.WARNING),
        ("200000", Severity.WARNING),  # 50 % exactly: not below 50
        ("200000.01", Severity.CRITICAL),
    ],
)
def test_margin_level_boundaries(margin: str, severity: Severity) -> None:
    result = MarginLevelRule(MarginLevelSpec()).check(snap(NOON, "100000", margin=margin), STATE)
    assert result.severity is severity


def test_no_margin_in_use_is_no_alert() -> None:
    result = MarginLevelRule(MarginLevelSpec()).check(snap(NOON, "100000", margin="0"), STATE)
    assert result.severity is Severity.OK


def test_leverage_levels() -> None:
    rule = LeverageRule(LeverageSpec(enabled=True, warning=D(2), emergency=D(3)))
    lev = lambda notional: rule.check(snap(NOON, "100000", positions=(position(notional=notional),)), STATE)  # noqa: E731
    assert lev("200000").severity is Severity.OK
    assert lev("200000.01").severity is Severity.WARNING
    assert lev("300000").severity is Severity.WARNING
    assert lev("300000.01").severity is Severity.CRITICAL


def test_max_positions_and_lots() -> None:
    two = snap(NOON, "100000", positions=(position("1", volume="1.5"), position("2", volume="0.5")))
    assert MaxPositionsRule(2).check(two, STATE).severity is Severity.OK
    assert MaxPositionsRule(1).check(two, STATE).severity is Severity.CRITICAL
    assert MaxLotsRule(D(2)).check(two, STATE).severity is Severity.OK
    assert MaxLotsRule(D("1.99")).check(two, STATE).severity is Severity.CRITICAL


def test_profit_target_needs_positions_closed() -> None:
    rule = ProfitTargetRule(ProfitTargetSpec(enabled=True, size=D(10)))
    assert rule.check(snap(NOON, "109999.99"), STATE).severity is Severity.OK
    assert rule.check(snap(NOON, "110000"), STATE).severity is Severity.INFO
    open_trade = rule.check(snap(NOON, "110000", positions=(position(),)), STATE)
    assert open_trade.severity is Severity.OK
    assert "close positions" in open_trade.message


def test_min_trading_days_progress() -> None:
    from datetime import date

    state = replace(STATE, trading_days=frozenset({date(2026, 3, 2), date(2026, 3, 3)}))
    assert MinTradingDaysRule(3).check(snap(NOON, "100000"), state).severity is Severity.OK
    assert MinTradingDaysRule(2).check(snap(NOON, "100000"), state).severity is Severity.INFO


def test_zero_equity_does_not_crash_ratios() -> None:
    broke = snap(NOON, "0", "0", positions=(position(notional="1000"),))
    assert PositionSizeRule(PositionSizeSpec()).check(broke, STATE).severity is Severity.WARNING
    assert LeverageRule(LeverageSpec(enabled=True)).check(broke, STATE).observed == Decimal("Infinity")
