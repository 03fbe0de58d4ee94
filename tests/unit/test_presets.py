"""Each preset replayed day by day from the firm's published rules and worked examples: the exact
snapshot at which each limit warns and breaches, floors hit exactly and missed by one cent."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from riskmon.models import Severity
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.rules import daily_loss, max_loss
from riskmon.rules.base import Plugin
from riskmon.rules.presets import BASIC, CALENDAR, PRESETS, RISKMON_OWN
from riskmon.rules.registry import describe_rules
from tests.builders import D, preset_monitor, snap

OK, WARN, CRIT = Severity.OK, Severity.WARNING, Severity.CRITICAL


def feed(monitor: AccountMonitor, at: str, balance: str, equity: str | None = None) -> Evaluation:
    evaluation = monitor.process(snap(at, balance, equity))
    assert evaluation is not None
    return evaluation


def figures(ev: Evaluation, rule: str) -> tuple[Severity, Decimal | None, Decimal | None]:
    result = ev.result(rule)
    assert result is not None, f"{rule} not evaluated"
    return result.severity, result.floor, result.room_left


def test_every_preset_names_its_source_and_date() -> None:
    for preset in PRESETS.values():
        assert preset.source and preset.rules_as_of and preset.firm
        preset.rulebook()  # valid


def test_basic_is_five_percent_of_the_day_start_balance() -> None:
    m = preset_monitor("basic")
    feed(m, "2026-03-02T23:59:59+00:00", "102000")
    assert figures(feed(m, "2026-03-03T00:00:01+00:00", "102000"), "daily_loss") == (OK, D(96900), D(5100))
    assert figures(feed(m, "2026-03-03T10:00:00+00:00", "102000", "97920.00"), "daily_loss")[0] is WARN
    assert figures(feed(m, "2026-03-03T10:01:00+00:00", "102000", "96900.00"), "daily_loss")[0] is WARN
    assert figures(feed(m, "2026-03-03T10:02:00+00:00", "102000", "96899.99"), "daily_loss")[0] is CRIT


class TestFtmo2Step:
    """Floor = balance at Prague midnight − 5 % of the INITIAL balance; max loss static at 90 %."""

    def test_profitable_yesterday_raises_the_floor_by_initial_percent_not_balance_percent(self) -> None:
        m = preset_monitor("ftmo-2step", "100000")
        feed(m, "2026-03-02T22:59:00+00:00", "103000")  # 23:59 Prague, 03-02
        ev = feed(m, "2026-03-02T23:00:30+00:00", "103000")  # 00:00:30 Prague, 03-03
        assert figures(ev, "daily_loss") == (OK, D(98000), D(5000))  # not 103,000 − 5,150
        assert figures(feed(m, "2026-03-03T08:00:00+00:00", "103000", "99000.00"), "daily_loss")[0] is WARN
        assert figures(feed(m, "2026-03-03T09:00:00+00:00", "103000", "98000.00"), "daily_loss")[0] is WARN
        assert figures(feed(m, "2026-03-03T09:00:01+00:00", "103000", "97999.99"), "daily_loss")[0] is CRIT

    def test_static_max_loss_binds_before_the_daily_floor(self) -> None:
        m = preset_monitor("ftmo-2step", "100000")
        feed(m, "2026-03-09T22:59:00+00:00", "93000")
        ev = feed(m, "2026-03-09T23:00:30+00:00", "93000")
        assert figures(ev, "daily_loss")[1] == D(88000)
        assert figures(ev, "max_loss") == (OK, D(90000), D(3000))  # 7,000 of 10,000 used: 70 %
        at_floor = feed(m, "2026-03-10T10:00:00+00:00", "93000", "90000.00")
        assert figures(at_floor, "max_loss")[0] is WARN and figures(at_floor, "daily_loss")[0] is OK
        below = feed(m, "2026-03-10T10:00:01+00:00", "93000", "89999.99")
        assert figures(below, "max_loss")[0] is CRIT and figures(below, "daily_loss")[0] is OK

    def test_profit_target_on_balance_with_positions_closed(self) -> None:
        m = preset_monitor("ftmo-2step", "100000")
        assert m.process(snap("2026-03-02T10:00:00+00:00", "109999.99")).result("profit_target").severity is OK  # type: ignore[union-attr]
        assert m.process(snap("2026-03-02T10:01:00+00:00", "110000")).result("profit_target").severity is Severity.INFO  # type: ignore[union-attr]


class TestFtmo1Step:
    """Daily 3 % of initial; max loss trails the highest END-OF-DAY balance by 10 % of initial."""

    def test_trailing_floor_moves_only_at_the_reset(self) -> None:
        m = preset_monitor("ftmo-1step", "100000")
        feed(m, "2026-03-02T10:00:00+00:00", "100000")
        intraday = feed(m, "2026-03-02T15:00:00+00:00", "105000", "108000")
        assert figures(intraday, "max_loss")[1] == D(90000)  # intraday highs do not move it
        feed(m, "2026-03-02T22:59:30+00:00", "105000")
        next_day = feed(m, "2026-03-02T23:00:30+00:00", "105000")
        assert figures(next_day, "max_loss") == (OK, D(95000), D(10000))
        assert figures(next_day, "daily_loss")[1] == D(102000)  # 105,000 − 3 % of 100,000
        assert figures(feed(m, "2026-03-03T09:00:00+00:00", "105000", "95000.00"), "max_loss")[0] is WARN
        assert figures(feed(m, "2026-03-03T09:00:01+00:00", "105000", "94999.99"), "max_loss")[0] is CRIT


class TestThe5ers:
    """Daily loss 5 % of the higher of balance and equity at 5 PM New York."""

    def test_floating_profit_at_the_reset_raises_the_anchor(self) -> None:
        m = preset_monitor("the5ers-highstakes", "100000")
        feed(m, "2026-03-03T21:59:30+00:00", "100000", "102000")  # 16:59:30 EST
        ev = feed(m, "2026-03-03T22:00:01+00:00", "100000", "102000")  # 17:00:01 EST: day of 03-04
        assert ev.state.trading_day.isoformat() == "2026-03-04"  # type: ignore[union-attr]
        assert figures(ev, "daily_loss") == (OK, D(96900), D(5100))
        # "Reaching any of these limits" terminates the account: exactly on the floor is the breach.
        assert figures(feed(m, "2026-03-04T10:00:00+00:00", "100000", "96900.01"), "daily_loss")[0] is WARN
        assert figures(feed(m, "2026-03-04T10:00:01+00:00", "100000", "96900.00"), "daily_loss")[0] is CRIT


class TestFundedNext:
    def test_closed_profit_raises_the_days_allowance(self) -> None:
        # Their example: +$2k closed by noon raises that day's allowance to $7k.
        m = preset_monitor("fundednext-stellar-2step", "100000")
        feed(m, "2026-03-03T21:59:30+00:00", "100000")
        feed(m, "2026-03-03T22:00:01+00:00", "100000")
        noon = feed(m, "2026-03-04T17:00:00+00:00", "102000")
        assert figures(noon, "daily_loss") == (OK, D(95000), D(7000))
        assert figures(feed(m, "2026-03-04T18:00:00+00:00", "102000", "94999.99"), "daily_loss")[0] is CRIT


class TestE8One:
    """Floor trails the closed-balance high by 6 % of initial at once, locking at the initial balance."""

    @pytest.mark.parametrize(
        ("balance", "floor"),
        [("100000", "94000"), ("101000", "95000"), ("106000", "100000"), ("107000", "100000")],
    )
    def test_published_example(self, balance: str, floor: str) -> None:
        m = preset_monitor("e8-one", "100000")
        ev = feed(m, "2026-03-04T12:00:00+00:00", balance)
        assert figures(ev, "max_loss")[1] == D(floor)

    def test_open_profit_does_not_move_it_and_it_never_falls(self) -> None:
        m = preset_monitor("e8-one", "100000")
        assert figures(feed(m, "2026-03-04T12:00:00+00:00", "101000", "110000"), "max_loss")[1] == D(95000)
        assert figures(feed(m, "2026-03-04T12:01:00+00:00", "99000", "99000"), "max_loss")[1] == D(95000)
        assert figures(feed(m, "2026-03-04T12:02:00+00:00", "99000", "95000.00"), "max_loss")[0] is WARN
        assert figures(feed(m, "2026-03-04T12:03:00+00:00", "99000", "94999.99"), "max_loss")[0] is CRIT


class TestTopstep50k:
    """$2,000 trailing the end-of-day balance high, locked at $50,000; $1,000 soft daily loss, 5 PM Chicago."""

    def test_end_of_day_trailing_with_lock(self) -> None:
        m = preset_monitor("topstep-50k")
        feed(m, "2026-03-03T20:00:00+00:00", "50000")
        feed(m, "2026-03-03T22:59:30+00:00", "51000")  # 16:59:30 CST
        day2 = feed(m, "2026-03-03T23:00:01+00:00", "51000")
        assert figures(day2, "max_loss")[1] == D(49000)
        feed(m, "2026-03-04T18:00:00+00:00", "52500", "53500")  # intraday highs do not move it
        feed(m, "2026-03-04T22:59:30+00:00", "52500")
        day3 = feed(m, "2026-03-04T23:00:01+00:00", "52500")
        assert figures(day3, "max_loss")[1] == D(50000)  # 52,500 − 2,000 = 50,500, locked at 50,000
        # A net P&L that hits the Daily Loss Limit is the soft breach; one cent less loss is not.
        assert figures(feed(m, "2026-03-05T15:00:00+00:00", "52500", "51500.01"), "daily_loss")[0] is WARN
        assert figures(feed(m, "2026-03-05T15:00:01+00:00", "52500", "51500.00"), "daily_loss")[0] is CRIT
        soft = feed(m, "2026-03-05T15:00:02+00:00", "52500", "51600")  # back up: still blocked until the reset
        daily = soft.result("daily_loss")
        assert daily is not None and daily.severity is CRIT and "until the next reset" in daily.message


@pytest.mark.parametrize("plugin", [daily_loss.PLUGIN, max_loss.PLUGIN], ids=lambda p: p.name)
def test_presets_say_when_the_floor_is_breached_as_the_engine_checks_it(plugin: Plugin[Any]) -> None:
    """The firm's words decide equality ("below": equal is not a breach; "reaching": it is); never "touching"."""
    for preset in PRESETS.values():
        book = preset.rulebook()
        spec = plugin.of(book)
        text = plugin.describe(spec, book)
        if text is None:
            continue
        said = "reaching it" if spec.equal_breaches else "going below it"
        assert "touching" not in text and said in text, (preset.name, text)


def test_every_firm_rule_cites_a_page_and_the_day_it_was_read() -> None:
    """A trader must be able to open the page a number comes from: a full https address with its path (not a
    site name) and the day it was read (not a year)."""
    for preset in PRESETS.values():
        if preset.firm == BASIC.firm:
            continue
        for rule in [CALENDAR, *(name for name, _ in describe_rules(preset.rulebook()))]:
            cite = preset.cite(rule)
            if cite is RISKMON_OWN:
                continue
            url = urlsplit(cite.url.split()[0])
            where = f"{preset.name} {rule}: {cite}"
            assert url.scheme == "https" and url.netloc and (url.path.strip("/") or url.query), where
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", cite.read), where
