"""The rules beyond the two floors, each at its exact boundaries, through the monitor (state slots included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from riskmon.enforce.manual import acknowledge_failure
from riskmon.models import Order, Severity, Side
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.rules.consistency import CONSISTENCY
from riskmon.rules.daily_profit import DAILY_PROFIT
from riskmon.rules.flat import FLAT_BY, WEEKEND
from riskmon.rules.inactivity import INACTIVITY
from riskmon.rules.losing_streak import LOSING_STREAK
from riskmon.rules.period_loss import MONTHLY_LOSS, WEEKLY_LOSS
from riskmon.rules.size_limits import SIZE_LIMITS
from riskmon.rules.trade_count import TRADE_COUNT
from riskmon.store import Store
from tests.builders import D, position, preset_monitor, snap, ts

OK, INFO, WARN, CRIT = Severity.OK, Severity.INFO, Severity.WARNING, Severity.CRITICAL


def feed(monitor: AccountMonitor, at: str, balance: str, equity: str | None = None, **extra: Any) -> Evaluation:
    evaluation = monitor.process(snap(at, balance, equity, **extra))
    assert evaluation is not None
    return evaluation


def severity(ev: Evaluation, rule: str) -> Severity:
    result = ev.result(rule)
    assert result is not None, f"{rule} not evaluated"
    return result.severity


# -- consistency -----------------------------------------------------------------------------------


class TestConsistency:
    def test_ftmo_example_a_second_day_of_equal_profit_meets_fifty_percent(self) -> None:
        m = preset_monitor("ftmo-1step", "100000")
        feed(m, "2026-03-02 10:00", "100000")
        ev = feed(m, "2026-03-02 20:00", "105000")  # $5,000 on one day: 100 % of the profit
        assert severity(ev, CONSISTENCY) is WARN
        feed(m, "2026-03-02 22:59:59", "105000")
        feed(m, "2026-03-03 10:00", "105000")  # watched over Prague midnight
        result = feed(m, "2026-03-03 20:00", "110000").result(CONSISTENCY)  # +$5,000: exactly 50 %
        assert result is not None and result.severity is OK  # "more than 50 %" fails; 50 % does not
        assert result.observed == D(5000) and result.limit == D(5000)
        assert severity(feed(m, "2026-03-03 20:01", "109999.99"), CONSISTENCY) is WARN

    def test_days_before_riskmon_watched_are_said_to_be_unknown(self) -> None:
        fresh = preset_monitor("ftmo-1step", "100000")
        feed(fresh, "2026-03-02 10:00", "100000")
        message = feed(fresh, "2026-03-02 11:00", "100500").result(CONSISTENCY).message  # type: ignore[union-attr]
        assert "not known" not in message
        late = preset_monitor("ftmo-1step", "100000")
        ev = feed(late, "2026-03-02 10:00", "103000")  # 3,000 made before riskmon first looked
        assert "earlier days are not known" in ev.result(CONSISTENCY).message  # type: ignore[union-attr]

    def test_room_left_today_is_the_profit_today_can_still_make(self) -> None:
        # 2,000 closed before today; share 50 %: today may make up to 0.5 × 2,000 / 0.5 = 2,000.
        m = preset_monitor("ftmo-1step", "100000")
        feed(m, "2026-03-02 10:00", "100000")
        feed(m, "2026-03-02 22:59:59", "101000")
        feed(m, "2026-03-03 10:00", "101000")
        feed(m, "2026-03-03 22:59:59", "102000")
        start = feed(m, "2026-03-04 08:00", "102000").result(CONSISTENCY)
        assert start is not None and start.room_left == D(2000)
        at_cap = feed(m, "2026-03-04 12:00", "104000")
        assert severity(at_cap, CONSISTENCY) is OK
        assert at_cap.result(CONSISTENCY).room_left == 0  # type: ignore[union-attr]
        over = feed(m, "2026-03-04 12:01", "104000.01")
        assert severity(over, CONSISTENCY) is WARN

    @pytest.mark.parametrize(("last_day", "verdict"), [("1250", OK), ("1249.99", WARN)])
    def test_e8_forty_percent_example(self, last_day: str, verdict: Severity) -> None:
        # Their scenario B: a best day of 1,500 needs a total of 1,500 / 0.40 = 3,750 ("no more than 40 %").
        m = preset_monitor("e8-one", "100000")
        feed(m, "2026-03-02 12:00", "100000")
        feed(m, "2026-03-02 21:59:59", "101500")  # day one: +1,500
        feed(m, "2026-03-02 22:00:01", "101500")
        feed(m, "2026-03-03 21:59:59", "102500")  # day two: +1,000
        feed(m, "2026-03-03 22:00:01", "102500")
        ev = feed(m, "2026-03-04 12:00", str(D(102500) + D(last_day)))
        assert severity(ev, CONSISTENCY) is verdict

    def test_topstep_below_the_share_means_exactly_the_share_is_not_enough(self) -> None:
        m = preset_monitor("topstep-50k")
        feed(m, "2026-03-02 20:00", "50000")
        feed(m, "2026-03-02 22:59:59", "51000")  # best day: +1,000
        feed(m, "2026-03-02 23:00:01", "51000")
        feed(m, "2026-03-03 22:59:59", "51500")  # +500
        feed(m, "2026-03-03 23:00:01", "51500")
        assert severity(feed(m, "2026-03-04 15:00", "52000"), CONSISTENCY) is WARN  # exactly 50 % of 2,000
        assert severity(feed(m, "2026-03-04 15:01", "52000.01"), CONSISTENCY) is OK


# -- weekly and monthly loss -----------------------------------------------------------------------


class TestPeriodLoss:
    RULES: ClassVar[dict[str, Any]] = {
        "weekly_loss": {"enabled": True, "size": "1000"},
        "monthly_loss": {"enabled": True, "size": "3000"},
    }

    def test_weekly_floor_is_fixed_from_the_weeks_first_reset(self) -> None:
        m = preset_monitor("basic", "100000", **self.RULES)
        feed(m, "2026-03-01 23:59:59", "100000")  # Sunday
        monday = feed(m, "2026-03-02 00:00:01", "100000")
        weekly = monday.result(WEEKLY_LOSS)
        assert weekly is not None and weekly.floor == D(99000) and "estimated" not in weekly.message
        feed(m, "2026-03-02 23:59:59", "99500")
        tuesday = feed(m, "2026-03-03 00:00:01", "99500")
        assert tuesday.result(WEEKLY_LOSS).floor == D(99000)  # type: ignore[union-attr]
        assert severity(feed(m, "2026-03-03 10:00", "99500", "99000.00"), WEEKLY_LOSS) is WARN
        assert severity(feed(m, "2026-03-03 10:01", "99500", "98999.99"), WEEKLY_LOSS) is CRIT
        feed(m, "2026-03-08 23:59:59", "99000")
        next_week = feed(m, "2026-03-09 00:00:01", "99000")
        assert next_week.result(WEEKLY_LOSS).floor == D(98000)  # type: ignore[union-attr]
        assert next_week.result(MONTHLY_LOSS).floor == D(97000)  # type: ignore[union-attr]

    def test_a_week_first_seen_midweek_is_estimated(self) -> None:
        m = preset_monitor("basic", "100000", **self.RULES)
        ev = feed(m, "2026-03-04 10:00", "100000")  # Wednesday
        assert "[week anchor estimated]" in ev.result(WEEKLY_LOSS).message  # type: ignore[union-attr]
        assert "[month anchor estimated]" in ev.result(MONTHLY_LOSS).message  # type: ignore[union-attr]

    def test_the_period_survives_a_restart(self, tmp_path: Any) -> None:
        store = Store(tmp_path / "s.db")
        m = preset_monitor("basic", "100000", store=store, **self.RULES)
        feed(m, "2026-03-02 00:00:01", "100000")
        feed(m, "2026-03-02 23:59:59", "99500")
        feed(m, "2026-03-03 00:00:01", "99500")
        store.close()
        store = Store(tmp_path / "s.db")
        again = preset_monitor("basic", "100000", store=store, **self.RULES)
        ev = feed(again, "2026-03-03 00:00:30", "99500")
        assert ev.result(WEEKLY_LOSS).floor == D(99000)  # type: ignore[union-attr]
        store.close()


# -- daily profit target and lock ------------------------------------------------------------------


class TestDailyProfit:
    def test_target_reached_at_exactly_the_target(self) -> None:
        m = preset_monitor("basic", "100000", daily_profit={"enabled": True, "target": "500"})
        feed(m, "2026-03-02 00:00:01", "100000")
        assert severity(feed(m, "2026-03-02 10:00", "100000", "100499.99"), DAILY_PROFIT) is OK
        assert severity(feed(m, "2026-03-02 10:01", "100000", "100500"), DAILY_PROFIT) is CRIT

    def test_lock_arms_at_lock_from_and_trails_the_peak(self) -> None:
        rules = {"daily_profit": {"enabled": True, "lock_from": "300", "give_back": "100"}}
        m = preset_monitor("basic", "100000", **rules)
        feed(m, "2026-03-02 00:00:01", "100000")
        unarmed = feed(m, "2026-03-02 10:00", "100000", "100299.99")
        assert unarmed.result(DAILY_PROFIT).floor is None  # type: ignore[union-attr]
        armed = feed(m, "2026-03-02 10:01", "100000", "100350")
        assert armed.result(DAILY_PROFIT).floor == D(100250)  # type: ignore[union-attr]
        assert armed.result(DAILY_PROFIT).room_left == D(100)  # type: ignore[union-attr]
        assert severity(feed(m, "2026-03-02 10:02", "100000", "100250.01"), DAILY_PROFIT) is OK
        assert severity(feed(m, "2026-03-02 10:03", "100000", "100250.00"), DAILY_PROFIT) is CRIT
        # A new day starts without a lock.
        fresh = feed(m, "2026-03-03 00:00:01", "100250")
        assert fresh.result(DAILY_PROFIT).floor is None and severity(fresh, DAILY_PROFIT) is OK  # type: ignore[union-attr]

    def test_lock_needs_both_figures(self) -> None:
        with pytest.raises(ValueError, match="lock_from and give_back go together"):
            preset_monitor("basic", "100000", daily_profit={"enabled": True, "lock_from": "300"})


# -- trade count and losing streak ----------------------------------------------------------------


def held(*ids: str, pnl: str = "0") -> tuple[Any, ...]:
    return tuple(position(pid, volume="1") for pid in ids)


class TestTradeCount:
    def test_limit_reached_warns_one_more_is_critical(self) -> None:
        m = preset_monitor("basic", "100000", trade_count={"enabled": True, "per_day": 2})
        feed(m, "2026-03-02 00:00:01", "100000")
        assert severity(feed(m, "2026-03-02 09:00", "100000", positions=held("1")), TRADE_COUNT) is OK
        assert severity(feed(m, "2026-03-02 09:01", "100000", positions=held("1", "2")), TRADE_COUNT) is WARN
        feed(m, "2026-03-02 09:02", "100000")  # both closed: closing is not a new trade
        assert severity(feed(m, "2026-03-02 09:03", "100000"), TRADE_COUNT) is WARN
        assert severity(feed(m, "2026-03-02 09:04", "100000", positions=held("3")), TRADE_COUNT) is CRIT
        assert severity(feed(m, "2026-03-03 00:00:01", "100000", positions=held("3")), TRADE_COUNT) is OK

    def test_weekly_count_runs_across_days(self) -> None:
        m = preset_monitor("basic", "100000", trade_count={"enabled": True, "per_week": 2})
        feed(m, "2026-03-02 09:00", "100000", positions=held("1"))
        feed(m, "2026-03-03 09:00", "100000", positions=held("2"))
        ev = feed(m, "2026-03-04 09:00", "100000", positions=held("3"))
        assert severity(ev, TRADE_COUNT) is CRIT and ev.result(TRADE_COUNT).observed == 3  # type: ignore[union-attr]
        assert severity(feed(m, "2026-03-09 09:00", "100000"), TRADE_COUNT) is OK  # a new week

    def test_a_late_snapshot_counts_no_trade_twice(self) -> None:
        m = preset_monitor("basic", "100000", trade_count={"enabled": True, "per_day": 5})
        feed(m, "2026-03-02 09:00", "100000", positions=held("1"))
        feed(m, "2026-03-02 09:02", "100000", positions=held("1", "2"))
        late = feed(m, "2026-03-02 09:01", "100000", positions=held("1"))  # older than the newest: judged only
        assert late.result(TRADE_COUNT).observed == 2  # type: ignore[union-attr]
        again = feed(m, "2026-03-02 09:03", "100000", positions=held("1", "2"))
        assert again.result(TRADE_COUNT).observed == 2  # type: ignore[union-attr]

    def test_positions_held_from_before_the_reset_are_not_todays_trades(self) -> None:
        m = preset_monitor("basic", "100000", trade_count={"enabled": True, "per_day": 1})
        old = position("9", opened_at="2026-03-01 15:00")
        ev = feed(m, "2026-03-02 09:00", "100000", positions=(old,))
        assert ev.result(TRADE_COUNT).observed == 0  # type: ignore[union-attr]


class TestLosingStreak:
    RULES: ClassVar[dict[str, Any]] = {"losing_streak": {"enabled": True, "losses": 2, "minutes": 30}}

    def test_cooldown_after_the_streak_and_a_trade_in_it_is_critical(self) -> None:
        m = preset_monitor("basic", "100000", **self.RULES)
        feed(m, "2026-03-02 09:00", "100000", positions=held("1"))
        assert severity(feed(m, "2026-03-02 09:01", "99900"), LOSING_STREAK) is OK  # one loss
        feed(m, "2026-03-02 09:02", "99900", positions=held("2"))
        cooling = feed(m, "2026-03-02 09:03", "99800")  # two in a row
        assert severity(cooling, LOSING_STREAK) is WARN and "09:33" in cooling.result(LOSING_STREAK).message  # type: ignore[union-attr]
        assert severity(feed(m, "2026-03-02 09:10", "99800", positions=held("3")), LOSING_STREAK) is CRIT
        assert severity(feed(m, "2026-03-02 09:32:59", "99800", positions=held("3")), LOSING_STREAK) is CRIT
        assert severity(feed(m, "2026-03-02 09:33", "99800", positions=held("3")), LOSING_STREAK) is OK

    def test_a_winning_trade_ends_the_streak(self) -> None:
        m = preset_monitor("basic", "100000", **self.RULES)
        feed(m, "2026-03-02 09:00", "100000", positions=held("1"))
        feed(m, "2026-03-02 09:01", "99900")
        feed(m, "2026-03-02 09:02", "99900", positions=held("2"))
        feed(m, "2026-03-02 09:03", "100100")  # a win
        feed(m, "2026-03-02 09:04", "100100", positions=held("3"))
        ev = feed(m, "2026-03-02 09:05", "100000")
        assert severity(ev, LOSING_STREAK) is OK and ev.result(LOSING_STREAK).observed == 1  # type: ignore[union-attr]


# -- holding windows -------------------------------------------------------------------------------


class TestFlatBy:
    @pytest.mark.parametrize(
        ("utc", "verdict"),
        [
            ("2026-03-03 20:59:59", OK),  # 14:59:59 CST: 10 min 1 s before
            ("2026-03-03 21:00:00", WARN),  # 15:00 CST: 10 minutes ahead
            ("2026-03-03 21:09:59", WARN),
            ("2026-03-03 21:10:00", CRIT),  # 15:10 CST
            ("2026-03-03 22:59:59", CRIT),
            ("2026-03-03 23:00:00", OK),  # 17:00 CST: the next session
            ("2026-07-07 20:09:59", WARN),  # summer: 15:09:59 CDT
            ("2026-07-07 20:10:00", CRIT),  # 15:10 CDT
        ],
    )
    def test_topstep_flat_by_3_10_pm_chicago(self, utc: str, verdict: Severity) -> None:
        m = preset_monitor("topstep-50k")
        ev = feed(m, utc, "50000", positions=held("1"))
        assert severity(ev, FLAT_BY) is verdict

    def test_flat_is_fine_inside_the_window(self) -> None:
        assert severity(feed(preset_monitor("topstep-50k"), "2026-03-03 21:30", "50000"), FLAT_BY) is OK


class TestWeekend:
    @pytest.mark.parametrize(
        ("utc", "verdict"),
        [
            ("2026-03-06 21:29:59", OK),  # Friday 16:29:59 EST
            ("2026-03-06 21:30:00", WARN),  # 30 minutes before 17:00 New York
            ("2026-03-06 22:00:00", CRIT),  # Friday 17:00 EST
            ("2026-03-07 12:00:00", CRIT),  # Saturday
            ("2026-03-08 20:59:59", CRIT),  # Sunday 16:59:59 EDT (DST began that morning)
            ("2026-03-08 21:00:00", OK),  # Sunday 17:00 EDT
        ],
    )
    def test_ftmo_funded_flat_over_the_weekend(self, utc: str, verdict: Severity) -> None:
        m = preset_monitor("ftmo-2step-funded", "100000")
        assert severity(feed(m, utc, "100000", positions=held("1")), WEEKEND) is verdict


# -- size limits -----------------------------------------------------------------------------------


class TestSizeLimits:
    def test_per_order_limit_counts_pending_orders_too(self) -> None:
        m = preset_monitor("basic", "100000", size_limits={"enabled": True, "per_order": "2"})
        assert (
            severity(feed(m, "2026-03-02 09:00", "100000", positions=(position("1", volume="2"),)), SIZE_LIMITS) is OK
        )
        assert (
            severity(feed(m, "2026-03-02 09:01", "100000", positions=(position("1", volume="2.01"),)), SIZE_LIMITS)
            is CRIT
        )
        order = Order("7", "EURUSD", Side.BUY, D("2.5"))
        assert severity(feed(m, "2026-03-02 09:02", "100000", orders=(order,)), SIZE_LIMITS) is CRIT

    @pytest.mark.parametrize(("eod_profit", "allowed"), [("1500", 2), ("1500.01", 3), ("2000", 3), ("2000.01", 5)])
    def test_topstep_express_scaling_by_the_profit_at_the_days_start(self, eod_profit: str, allowed: int) -> None:
        """The source says 3 lots "above $1,500" and 5 "past $2,000": exactly $1,500 still allows 2."""
        m = preset_monitor("topstep-50k-express")
        balance = str(D(50000) + D(eod_profit))
        feed(m, "2026-03-02 22:59:59", balance)
        feed(m, "2026-03-02 23:00:01", balance)
        ok = feed(m, "2026-03-03 15:00", balance, positions=(position("1", volume=str(allowed)),))
        assert severity(ok, SIZE_LIMITS) is OK and ok.result(SIZE_LIMITS).limit == allowed  # type: ignore[union-attr]
        over = feed(m, "2026-03-03 15:01", balance, positions=(position("1", volume=str(allowed + 1)),))
        assert severity(over, SIZE_LIMITS) is CRIT

    def test_intraday_profit_does_not_raise_the_plan(self) -> None:
        m = preset_monitor("topstep-50k-express")
        feed(m, "2026-03-02 23:00:01", "50000")
        ev = feed(m, "2026-03-03 15:00", "53000", positions=(position("1", volume="3"),))
        assert severity(ev, SIZE_LIMITS) is CRIT  # still 2 allowed until the next day


# -- inactivity ------------------------------------------------------------------------------------


class TestInactivity:
    def test_days_without_a_trade(self) -> None:
        m = preset_monitor("basic", "100000", inactivity={"enabled": True, "days": 30, "warn_days": 5})
        feed(m, "2026-03-01 10:00", "100000", positions=held("1"))
        # Flat at 11:00: it closed after 10:00, the last time it was seen open, where the count starts.
        feed(m, "2026-03-01 11:00", "100100")
        assert severity(feed(m, "2026-03-26 09:59:59", "100100"), INACTIVITY) is OK
        assert severity(feed(m, "2026-03-26 10:00", "100100"), INACTIVITY) is WARN  # 25 days: 5 left
        assert severity(feed(m, "2026-03-31 09:59:59", "100100"), INACTIVITY) is WARN
        assert severity(feed(m, "2026-03-31 10:00", "100100"), INACTIVITY) is CRIT  # 30 days
        # The firm failed the account: a trade afterwards does not un-fail it (kept until acknowledged).
        late = feed(m, "2026-03-31 11:01", "100100", positions=held("2"))
        result = late.result(INACTIVITY)
        assert result is not None and result.severity is CRIT
        assert result.message.startswith("account failed at 2026-03-31 10:00:00 UTC (30 days without a trade)")

    def test_a_failure_for_inactivity_survives_a_restart_and_clears_on_acknowledgement(self, tmp_path: Path) -> None:
        store = Store(tmp_path / "s.db")
        m = preset_monitor("basic", "100000", store=store, inactivity={"enabled": True, "days": 30})
        feed(m, "2026-03-01 10:00", "100000", positions=held("1"))
        feed(m, "2026-03-31 10:00", "100000")
        again = preset_monitor("basic", "100000", store=store, inactivity={"enabled": True, "days": 30})
        assert severity(feed(again, "2026-03-31 10:05", "100000", positions=held("2")), INACTIVITY) is CRIT
        done, line = acknowledge_failure(again.profile, store, "cli:me", ts("2026-03-31 10:06"))
        assert done and "(inactivity)" in line
        fresh = preset_monitor("basic", "100000", store=store, inactivity={"enabled": True, "days": 30})
        assert severity(feed(fresh, "2026-03-31 10:07", "100000"), INACTIVITY) is OK
