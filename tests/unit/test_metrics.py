"""Metrics: every exported figure is the engine's own, read from a replayed recording."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from riskmon.clock import ManualClock
from riskmon.metrics import Metrics, StateCollector
from riskmon.models import AccountSnapshot, AlertStatus, Severity, TradingState
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.platforms.base import Outcome
from riskmon.platforms.replay import parse_line, snapshot_to_line
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store
from riskmon.view import ReadModel
from tests.builders import D, position, snap, ts

ACCOUNT = "acc-1"
IDS = {"account": ACCOUNT, "platform": "mt5"}
MONEY = {**IDS, "currency": "USD"}  # money gauges say their currency

# A day on an FTMO 2-step 100k account: a losing position walks through warning into a breach,
# then the next day closes flat above the profit target (info). Leverage and position size are on.
RECORDING = [
    snap("2026-03-02 08:00", "100000", margin="1000", positions=(position(notional="100000"),)),
    snap("2026-03-02 10:00", "100000", "98000", margin="1000", positions=(position(notional="98000"),)),
    snap("2026-03-02 11:00", "100000", "95800", margin="99000", positions=(position(notional="350000"),)),
    snap("2026-03-02 12:00", "100000", "94900", margin="1000", positions=(position(notional="94000"),)),
    snap("2026-03-03 09:00", "111000", received_at=ts("2026-03-03 09:00:02")),
]


def profile() -> AccountProfile:
    book = PRESETS["ftmo-2step"].rulebook({"leverage": {"enabled": True}, "position_size": {"enabled": True}})
    return AccountProfile(ACCOUNT, book, label="FTMO", platform="mt5", initial_balance=D(100000))


def replay(monitor: AccountMonitor, recording: list[AccountSnapshot]) -> list[Evaluation]:
    """Through the replay format, as `riskmon replay` reads a recording, the clock following the recording."""
    evaluations = []
    for s in recording:
        if isinstance(monitor.clock, ManualClock):
            monitor.clock.set(max(monitor.clock.now(), s.ts))
        evaluations.append(monitor.process(parse_line(snapshot_to_line(s))))
    return evaluations


@dataclass
class FakeFeed:
    connected: bool


@dataclass
class FakePlatform:
    name: str
    feed: FakeFeed
    failures: int = 0


class Scrape:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def __call__(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


def setup(clock: ManualClock | None = None) -> tuple[AccountMonitor, Metrics, Scrape]:
    registry = CollectorRegistry()
    metrics = Metrics([profile()], registry, channels=["telegram"])
    clock = clock or ManualClock(ts("2026-03-02 08:00"))
    monitor = AccountMonitor(profile(), Store(MEMORY), [metrics], clock=clock, stale_after=timedelta(seconds=30))
    platforms = [FakePlatform("mt5", FakeFeed(True)), FakePlatform("ctrader", FakeFeed(False), failures=3)]
    registry.register(StateCollector(ReadModel([monitor], platforms)))
    return monitor, metrics, Scrape(registry)


def expect_account(scrape: Scrape, ev: Evaluation) -> None:
    s, state = ev.snapshot, ev.state
    assert scrape("riskmon_balance", **MONEY) == float(s.balance)
    assert scrape("riskmon_equity", **MONEY) == float(s.equity)
    assert scrape("riskmon_day_start_balance", **MONEY) == float(state.day_start_balance)
    assert scrape("riskmon_day_start_equity", **MONEY) == float(state.day_start_equity)
    assert scrape("riskmon_daily_pnl", **MONEY) == float(s.equity - state.day_start_balance)
    level = s.margin_level
    assert scrape("riskmon_margin_level_ratio", **IDS) == (None if level is None else pytest.approx(float(level) / 100))
    leverage = ev.result("leverage")
    assert leverage is not None
    assert scrape("riskmon_leverage_ratio", **IDS) == float(leverage.observed)
    size = ev.result("position_size")
    assert size is not None
    assert scrape("riskmon_largest_position_ratio", **IDS) == pytest.approx(float(size.observed) / 100)
    assert scrape("riskmon_open_positions", **IDS) == len(s.positions)
    taken = s.received_at or s.ts
    assert scrape("riskmon_last_snapshot_timestamp_seconds", **IDS) == taken.timestamp()
    state_values = {Severity.OK: 0, Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
    for r in ev.results:
        labels = {**IDS, "rule": r.rule}
        assert scrape("riskmon_rule_state", **labels) == state_values[r.severity], r.rule
        for name, figure, money in (
            ("used_ratio", r.used, False),
            ("room_left", r.room_left, True),
            ("floor", r.floor, True),
        ):
            named = {**labels, "currency": s.currency} if money else labels
            assert scrape(f"riskmon_rule_{name}", **named) == (None if figure is None else float(figure)), name


def test_every_gauge_is_the_engines_figure_after_each_replayed_snapshot() -> None:
    monitor, _, scrape = setup()
    severities = set()
    for recorded in RECORDING:
        (ev,) = replay(monitor, [recorded])
        expect_account(scrape, ev)
        severities |= {r.severity for r in ev.results}
    # The recording exercises every state the gauges encode.
    assert severities == set(Severity)
    assert scrape("riskmon_account_info", account=ACCOUNT, platform="mt5", label="FTMO") == 1


def test_money_floors_are_the_rule_results() -> None:
    monitor, _, scrape = setup()
    evaluations = replay(monitor, RECORDING[:4])
    breach = evaluations[-1].result("daily_loss")
    assert breach is not None and breach.severity is Severity.CRITICAL
    assert scrape("riskmon_rule_floor", **MONEY, rule="daily_loss") == 95000.0
    assert scrape("riskmon_rule_room_left", **MONEY, rule="daily_loss") == -100.0
    assert scrape("riskmon_rule_used_ratio", **IDS, rule="daily_loss") == 1.02
    assert scrape("riskmon_rule_floor", **MONEY, rule="max_loss") == 90000.0
    assert scrape("riskmon_rule_room_left", **MONEY, rule="max_loss") == 4900.0


def test_alerts_fired_counts_firing_and_escalation_by_severity() -> None:
    monitor, _, scrape = setup()
    evaluations = replay(monitor, RECORDING)
    raised = Counter(
        (e.rule, e.severity.value) for ev in evaluations for e in ev.events if e.status is not AlertStatus.RESOLVED
    )
    assert raised[("daily_loss", "warning")] == 1 and raised[("daily_loss", "critical")] == 1
    assert raised[("profit_target", "info")] == 1
    for rule in (r.rule for r in evaluations[0].results):
        for severity in ("info", "warning", "critical"):
            labels = {"account": ACCOUNT, "rule": rule, "severity": severity}
            assert scrape("riskmon_alerts_fired_total", **labels) == raised[(rule, severity)]


def test_evaluation_latency_histogram_holds_every_elapsed_time() -> None:
    monitor, _, scrape = setup()
    evaluations = replay(monitor, RECORDING)
    assert scrape("riskmon_snapshot_evaluation_seconds_count", account=ACCOUNT) == len(RECORDING)
    assert scrape("riskmon_snapshot_evaluation_seconds_sum", account=ACCOUNT) == pytest.approx(
        sum(ev.elapsed_s for ev in evaluations)
    )


def test_nothing_about_an_account_before_its_first_snapshot_but_its_info() -> None:
    _, _, scrape = setup()
    assert scrape("riskmon_account_info", account=ACCOUNT, platform="mt5", label="FTMO") == 1
    assert scrape("riskmon_account_stale", **IDS) == 0
    assert scrape("riskmon_balance", **MONEY) is None
    assert scrape("riskmon_rule_state", **IDS, rule="daily_loss") is None
    # Counters start at zero so the first increase is visible to increase().
    assert scrape("riskmon_alerts_fired_total", account=ACCOUNT, rule="daily_loss", severity="critical") == 0
    assert scrape("riskmon_enforcement_actions_total", account=ACCOUNT, result="done") == 0
    assert scrape("riskmon_notification_failures_total", channel="telegram") == 0


def test_counters_other_components_call() -> None:
    _, metrics, scrape = setup()
    metrics.record_enforcement(ACCOUNT, Outcome.DONE)
    metrics.record_enforcement(ACCOUNT, Outcome.DONE)
    metrics.record_enforcement(ACCOUNT, Outcome.MARKET_CLOSED)
    metrics.record_notification_failure("telegram")
    assert scrape("riskmon_enforcement_actions_total", account=ACCOUNT, result="done") == 2
    assert scrape("riskmon_enforcement_actions_total", account=ACCOUNT, result="market_closed") == 1
    assert scrape("riskmon_enforcement_actions_total", account=ACCOUNT, result="unknown") == 0
    assert scrape("riskmon_notification_failures_total", channel="telegram") == 1


def test_platform_connection_and_failures() -> None:
    _, _, scrape = setup()
    assert scrape("riskmon_platform_up", platform="mt5") == 1
    assert scrape("riskmon_platform_up", platform="ctrader") == 0
    assert scrape("riskmon_platform_consecutive_failures", platform="ctrader") == 3


def test_stale_gauge_follows_the_injected_clock() -> None:
    clock = ManualClock(ts("2026-03-02 08:00"))
    monitor, _, scrape = setup(clock)
    clock.advance(300)
    assert scrape("riskmon_account_loading", **IDS) == 1  # no data yet: loading, within 10 × STALE_AFTER
    assert scrape("riskmon_account_stale", **IDS) == 0
    clock.advance(1)
    assert scrape("riskmon_account_stale", **IDS) == 1
    monitor.process(snap("2026-03-02 08:05:01", "100000", account=ACCOUNT, received_at=clock.now()))
    assert scrape("riskmon_account_stale", **IDS) == scrape("riskmon_account_loading", **IDS) == 0
    clock.advance(30)
    assert scrape("riskmon_account_stale", **IDS) == 0  # exactly STALE_AFTER is still fresh
    clock.advance(1)
    assert scrape("riskmon_account_stale", **IDS) == 1


def test_margin_level_absent_while_no_margin_is_used() -> None:
    monitor, _, scrape = setup()
    monitor.process(snap("2026-03-02 08:00", "100000"))
    assert scrape("riskmon_margin_level_ratio", **IDS) is None
    assert scrape("riskmon_open_positions", **IDS) == 0


def test_trading_state_is_the_enforcers() -> None:
    registry = CollectorRegistry()
    monitor = AccountMonitor(profile(), Store(MEMORY))
    states = {ACCOUNT: TradingState.ACTIVE}
    registry.register(StateCollector(ReadModel([monitor], [], states.__getitem__)))
    scrape = Scrape(registry)
    assert scrape("riskmon_trading_state", **IDS) == 0
    states[ACCOUNT] = TradingState.HALTED
    assert scrape("riskmon_trading_state", **IDS) == 2
