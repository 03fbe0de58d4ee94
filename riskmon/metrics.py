"""Prometheus metrics: what every account looks like now, and counts of what happened to it.

``StateCollector`` reads each monitor's latest ``Evaluation`` at scrape time, so a scrape always shows
the engine's own figures (``RuleResult``s, the snapshot, the account state) and nothing here computes a
limit. ``Metrics`` holds the counters: it observes evaluations (alerts fired, evaluation latency) and
offers ``record_enforcement`` / ``record_notification_failure`` to the components that own those
events. Both live on an explicit ``CollectorRegistry``: riskmon never touches the global one.

Rule state is 0 for ok, 1 for warning and 2 for critical. ``info`` (an objective reached, such as the
profit target) is not trouble and reads 0; the alerts counter still counts it with ``severity="info"``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from decimal import Decimal
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from riskmon.models import AlertEvent, AlertStatus, Severity, TradingState
from riskmon.monitor import AccountMonitor, AccountProfile, Evaluation
from riskmon.platforms.base import Feed, Outcome
from riskmon.rules.leverage import effective_leverage
from riskmon.rules.position_size import POSITION_SIZE

RULE_STATE = {Severity.OK: 0, Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
ALERT_SEVERITIES = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)
# The engine takes tens of microseconds to a few milliseconds per snapshot.
LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)

ACCOUNT = ("account", "platform")
TRADING_STATE = {TradingState.ACTIVE: 0.0, TradingState.REDUCING: 1.0, TradingState.HALTED: 2.0}
RULE = (*ACCOUNT, "rule")

# name, help, labels. Money is in the account currency; shares are ratios (1 = 100 %).
GAUGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("riskmon_account_info", "Configured account (always 1), with its label.", (*ACCOUNT, "label")),
    ("riskmon_balance", "Closed balance, in the account currency.", ACCOUNT),
    ("riskmon_equity", "Equity (balance plus floating P&L), in the account currency.", ACCOUNT),
    ("riskmon_day_start_balance", "Balance anchored at the start of the trading day.", ACCOUNT),
    ("riskmon_day_start_equity", "Equity anchored at the start of the trading day.", ACCOUNT),
    ("riskmon_daily_pnl", "Equity minus the day-start balance: the day's closed and floating P&L.", ACCOUNT),
    ("riskmon_margin_level_ratio", "Equity / used margin (1.5 = 150 %); absent while no margin is used.", ACCOUNT),
    ("riskmon_leverage_ratio", "Effective leverage: total open notional / equity.", ACCOUNT),
    ("riskmon_open_positions", "Open positions.", ACCOUNT),
    (
        "riskmon_largest_position_ratio",
        "Largest position / equity on the position_size rule's basis (notional or risk to stop); "
        "absent when that rule is off.",
        ACCOUNT,
    ),
    ("riskmon_last_snapshot_timestamp_seconds", "Unix time riskmon took the account's latest snapshot.", ACCOUNT),
    ("riskmon_account_stale", "1 when no data arrived within STALE_AFTER (as /healthz and stale_data).", ACCOUNT),
    ("riskmon_rule_state", "Rule verdict on the latest snapshot: 0 ok (or info), 1 warning, 2 critical.", RULE),
    ("riskmon_rule_used_ratio", "Share of the rule's limit used (1 = at the limit; negative in profit).", RULE),
    ("riskmon_rule_room_left", "Money that can still be lost before the rule's equity floor.", RULE),
    (
        "riskmon_rule_floor",
        "Equity floor of a money-floor rule (daily_loss, max_loss, …), in the account currency.",
        RULE,
    ),
    ("riskmon_trading_state", "Enforcement state: 0 active, 1 reducing, 2 halted.", ACCOUNT),
    ("riskmon_platform_up", "1 while the platform's feed is connected.", ("platform",)),
    ("riskmon_platform_consecutive_failures", "Feed failures since the last good snapshot.", ("platform",)),
)


class PlatformStatus(Protocol):
    """What the collector reads from a running platform (``riskmon.service.Platform``)."""

    @property
    def name(self) -> str: ...

    @property
    def feed(self) -> Feed: ...

    @property
    def failures(self) -> int: ...


def _families() -> dict[str, GaugeMetricFamily]:
    return {name: GaugeMetricFamily(name, doc, labels=labels) for name, doc, labels in GAUGES}


def _ratio(percent: Decimal | None) -> float | None:
    return None if percent is None else float(percent / 100)


class StateCollector:
    """Reads the current state of every account and platform at scrape time."""

    def __init__(
        self,
        monitors: Collection[AccountMonitor],
        platforms: Collection[PlatformStatus],
        trading_state: Callable[[str], TradingState] | None = None,
    ) -> None:
        self.monitors = monitors
        self.platforms = platforms
        self.trading_state = trading_state  # the enforcer's view, when there is one

    def describe(self) -> Iterable[Metric]:
        return _families().values()

    def collect(self) -> Iterable[Metric]:
        g = _families()
        for monitor in self.monitors:
            profile = monitor.profile
            ids = [profile.account, profile.platform]
            g["riskmon_account_info"].add_metric([*ids, profile.label], 1)
            g["riskmon_account_stale"].add_metric(ids, float(monitor.is_stale()))
            if self.trading_state is not None:
                state = self.trading_state(profile.account)
                g["riskmon_trading_state"].add_metric(ids, TRADING_STATE[state])
            if monitor.last is not None:
                self._account(g, ids, monitor.last)
        for platform in self.platforms:
            g["riskmon_platform_up"].add_metric([platform.name], float(platform.feed.connected))
            g["riskmon_platform_consecutive_failures"].add_metric([platform.name], platform.failures)
        return g.values()

    @staticmethod
    def _account(g: dict[str, GaugeMetricFamily], ids: list[str], ev: Evaluation) -> None:
        snap, state = ev.snapshot, ev.state
        position_size = ev.result(POSITION_SIZE)
        values: dict[str, float | None] = {
            "riskmon_balance": float(snap.balance),
            "riskmon_equity": float(snap.equity),
            "riskmon_day_start_balance": float(state.day_start_balance),
            "riskmon_day_start_equity": float(state.day_start_equity),
            "riskmon_daily_pnl": float(snap.equity - state.day_start_balance),
            "riskmon_margin_level_ratio": _ratio(snap.margin_level),
            "riskmon_leverage_ratio": float(effective_leverage(snap)),
            "riskmon_open_positions": len(snap.positions),
            "riskmon_largest_position_ratio": _ratio(position_size.observed) if position_size else None,
            "riskmon_last_snapshot_timestamp_seconds": (snap.received_at or snap.ts).timestamp(),
        }
        for name, value in values.items():
            if value is not None:
                g[name].add_metric(ids, value)
        for result in ev.results:
            labels = [*ids, result.rule]
            g["riskmon_rule_state"].add_metric(labels, RULE_STATE[result.severity])
            if result.used is not None:
                g["riskmon_rule_used_ratio"].add_metric(labels, float(result.used))
            if result.room_left is not None:
                g["riskmon_rule_room_left"].add_metric(labels, float(result.room_left))
            if result.floor is not None:
                g["riskmon_rule_floor"].add_metric(labels, float(result.floor))


class Metrics:
    """The counters and the latency histogram, and the observer that feeds them.

    Every account's label sets are created at zero up front, so ``increase()`` sees the first alert
    and dashboards show 0 rather than no data. Pass the notification ``channels`` in use likewise.
    """

    def __init__(
        self,
        profiles: Iterable[AccountProfile],
        registry: CollectorRegistry,
        channels: Iterable[str] = (),
    ) -> None:
        self.registry = registry
        self.alerts = Counter(
            "riskmon_alerts_fired",
            "Alerts raised: a rule starting to fail or changing severity (recoveries are not counted).",
            ["account", "rule", "severity"],
            registry=registry,
        )
        self.enforcement = Counter(
            "riskmon_enforcement_actions",
            "Enforcement actions (position closes, order cancels) by the platform's outcome.",
            ["account", "result"],
            registry=registry,
        )
        self.notification_failures = Counter(
            "riskmon_notification_failures",
            "Alert notifications a channel failed to deliver.",
            ["channel"],
            registry=registry,
        )
        self.latency = Histogram(
            "riskmon_snapshot_evaluation_seconds",
            "Time the engine spent on one snapshot (state advance, rules, alert tracking).",
            ["account"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        for profile in profiles:
            for rule in profile.rules:
                for severity in ALERT_SEVERITIES:
                    self.alerts.labels(profile.account, rule.name, severity.value)
            for outcome in Outcome:
                self.enforcement.labels(profile.account, outcome.value)
            self.latency.labels(profile.account)
        for channel in channels:
            self.notification_failures.labels(channel)

    def observe(self, evaluation: Evaluation) -> None:
        self.latency.labels(evaluation.profile.account).observe(evaluation.elapsed_s)
        self.notify(evaluation.events)

    def notify(self, events: Sequence[AlertEvent]) -> None:
        for event in events:
            if event.status is not AlertStatus.RESOLVED:
                self.alerts.labels(event.account, event.rule, event.severity.value).inc()

    def record_enforcement(self, account: str, result: Outcome) -> None:
        """One enforcement action finished with ``result`` (the enforcer calls this)."""
        self.enforcement.labels(account, result.value).inc()

    def record_notification_failure(self, channel: str) -> None:
        """A notification on ``channel`` (e.g. "telegram") could not be delivered."""
        self.notification_failures.labels(channel).inc()
