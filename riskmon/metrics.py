"""Prometheus metrics: what every account looks like now, and counts of what happened to it.

A scrape reads the read model (``riskmon.view``), like the console, Telegram and the status page, so it always
shows the engine's own figures and nothing here computes a limit. A scrape is split in two: the read model's
``capture`` takes an immutable ``View`` of every account on the event loop (references to frozen evaluations
and a few scalars: cheap), and ``render`` turns it into metric families anywhere (the exporter does it in a
worker thread), so rendering 10,000 accounts never holds up the snapshots of the loop. ``Metrics`` holds the
counters: it observes evaluations (alerts fired, evaluation latency) and offers ``record_enforcement`` /
``record_notification_failure`` to the components that own those events. Both live on an explicit
``CollectorRegistry``: riskmon never touches the global one.

Rule state is 0 for ok, 1 for warning and 2 for critical. ``info`` (an objective reached, such as the
profit target) is not trouble and reads 0; the alerts counter still counts it with ``severity="info"``.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from importlib import metadata

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from riskmon.models import AlertEvent, AlertStatus, RuleResult, Severity, TradingState
from riskmon.monitor import Evaluation
from riskmon.platforms.base import Outcome
from riskmon.profile import AccountProfile
from riskmon.rules.leverage import effective_leverage
from riskmon.rules.position_size import POSITION_SIZE
from riskmon.view import AccountView, ReadModel, View

# No ``*_created`` series: one more series per counter label set (300,000 at 10,000 accounts) that no
# dashboard or alert reads. prometheus_client keeps this switch process-wide; riskmon's registry is its only user.
disable_created_metrics()  # type: ignore[no-untyped-call]

RULE_STATE = {Severity.OK: 0, Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
ALERT_SEVERITIES = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)
# The engine takes tens of microseconds to a few milliseconds per snapshot.
LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)

ACCOUNT = ("account", "platform")
MONEY = (*ACCOUNT, "currency")  # money gauges say their currency (riskmon never converts)
TRADING_STATE = {TradingState.ACTIVE: 0.0, TradingState.REDUCING: 1.0, TradingState.HALTED: 2.0}
RULE = (*ACCOUNT, "rule")
MONEY_RULE = (*RULE, "currency")

# name, help, labels. Money is in the account currency; shares are ratios (1 = 100 %).
GAUGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("riskmon_account_info", "Configured account (always 1), with its label.", (*ACCOUNT, "label")),
    ("riskmon_balance", "Closed balance, in the account currency.", MONEY),
    ("riskmon_equity", "Equity (balance plus floating P&L), in the account currency.", MONEY),
    ("riskmon_day_start_balance", "Balance anchored at the start of the trading day.", MONEY),
    ("riskmon_day_start_equity", "Equity anchored at the start of the trading day.", MONEY),
    ("riskmon_daily_pnl", "Equity minus the day-start balance: the day's closed and floating P&L.", MONEY),
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
    (
        "riskmon_account_loading",
        "1 until the account's first fresh data since start-up (neither fresh nor stale).",
        ACCOUNT,
    ),
    (
        "riskmon_clock_skew_seconds",
        "riskmon's clock minus the platform's timestamp when the latest fresh data arrived (delivery delay plus "
        "clock difference; negative: the platform's clock is ahead).",
        ACCOUNT,
    ),
    ("riskmon_state_unsaved", "1 while the account's state cannot be saved (the same check as /healthz).", ACCOUNT),
    ("riskmon_rule_state", "Rule verdict on the latest snapshot: 0 ok (or info), 1 warning, 2 critical.", RULE),
    ("riskmon_rule_used_ratio", "Share of the rule's limit used (1 = at the limit; negative in profit).", RULE),
    ("riskmon_rule_room_left", "Money that can still be lost before the rule's equity floor.", MONEY_RULE),
    (
        "riskmon_rule_floor",
        "Equity floor of a money-floor rule (daily_loss, max_loss, …), in the account currency.",
        MONEY_RULE,
    ),
    ("riskmon_trading_state", "Enforcement state: 0 active, 1 reducing, 2 halted.", ACCOUNT),
    ("riskmon_platform_up", "1 while the platform's feed is connected.", ("platform",)),
    ("riskmon_platform_consecutive_failures", "Feed failures since the last good snapshot.", ("platform",)),
)


REFUSED = "riskmon_snapshots_refused"
REFUSAL_REASONS = ("invalid", "future", "old")


def _families() -> dict[str, GaugeMetricFamily]:
    return {name: GaugeMetricFamily(name, doc, labels=labels) for name, doc, labels in GAUGES}


def _refused_family() -> CounterMetricFamily:
    doc = (
        "Snapshots refused unevaluated and unsaved: invalid figures or times (invalid), stamped too far in the "
        "future (future) or far older than the newest seen (old)."
    )
    return CounterMetricFamily(REFUSED, doc, labels=(*ACCOUNT, "reason"))


def _ratio(percent: Decimal | None) -> float | None:
    return None if percent is None else float(percent / 100)


IN_CURRENCY = frozenset(name for name, _, labels in GAUGES if "currency" in labels)


class StateCollector:
    """Registers the read model's accounts and platforms on a registry: read at scrape time."""

    def __init__(self, model: ReadModel) -> None:
        self.model = model

    def describe(self) -> Iterable[Metric]:
        return [*_families().values(), _refused_family()]

    def collect(self) -> Iterable[Metric]:
        return render(self.model.capture())


def _latest(figure: Callable[[Evaluation], float | None]) -> Callable[[AccountView], float | None]:
    return lambda a: None if a.last is None else figure(a.last)


def _position_ratio(ev: Evaluation) -> float | None:
    result = ev.result(POSITION_SIZE)
    return None if result is None else _ratio(result.observed)


# Each account gauge's figure; None leaves the account out of that family.
ACCOUNT_FIGURES: dict[str, Callable[[AccountView], float | None]] = {
    "riskmon_account_stale": lambda a: float(a.stale),
    "riskmon_account_loading": lambda a: float(a.loading),
    "riskmon_state_unsaved": lambda a: float(a.unsaved),
    "riskmon_clock_skew_seconds": lambda a: None if a.skew is None else a.skew.total_seconds(),
    "riskmon_trading_state": lambda a: None if a.trading is None else TRADING_STATE[a.trading],
    "riskmon_balance": _latest(lambda ev: float(ev.snapshot.balance)),
    "riskmon_equity": _latest(lambda ev: float(ev.snapshot.equity)),
    "riskmon_day_start_balance": _latest(lambda ev: float(ev.state.day_start_balance)),
    "riskmon_day_start_equity": _latest(lambda ev: float(ev.state.day_start_equity)),
    "riskmon_daily_pnl": lambda a: None if a.daily_pnl is None else float(a.daily_pnl),
    "riskmon_margin_level_ratio": _latest(lambda ev: _ratio(ev.snapshot.margin_level)),
    "riskmon_leverage_ratio": _latest(lambda ev: float(effective_leverage(ev.snapshot))),
    "riskmon_open_positions": _latest(lambda ev: len(ev.snapshot.positions)),
    "riskmon_largest_position_ratio": _latest(_position_ratio),
    "riskmon_last_snapshot_timestamp_seconds": _latest(
        lambda ev: (ev.snapshot.received_at or ev.snapshot.ts).timestamp()
    ),
}
RULE_FIGURES: dict[str, Callable[[RuleResult], float | None]] = {
    "riskmon_rule_state": lambda r: RULE_STATE[r.severity],
    "riskmon_rule_used_ratio": lambda r: None if r.used is None else float(r.used),
    "riskmon_rule_room_left": lambda r: None if r.room_left is None else float(r.room_left),
    "riskmon_rule_floor": lambda r: None if r.floor is None else float(r.floor),
}


def render(view: View) -> Iterator[Metric]:
    """The metric families of a captured view: pure, safe in any thread.

    One family at a time, each from a pass over the accounts: a family is encoded and dropped before the
    next is built, so a scrape of 10,000 accounts never holds millions of samples at once (whose garbage
    collection would pause every thread, the event loop's included).
    """
    g = _families()
    info = g["riskmon_account_info"]
    for a in view.accounts:
        info.add_metric([a.profile.account, a.profile.platform, a.profile.label], 1)
    yield info
    for name, figure in ACCOUNT_FIGURES.items():
        family, money = g[name], name in IN_CURRENCY
        for a in view.accounts:
            value = figure(a)
            if value is not None:
                family.add_metric(
                    [a.profile.account, a.profile.platform, *((a.currency or "",) if money else ())], value
                )
        yield family
    for name, rule_figure in RULE_FIGURES.items():
        family, money = g[name], name in IN_CURRENCY
        for a in view.accounts:
            for result in a.rules:
                value = rule_figure(result)
                if value is not None:
                    extra = (a.currency or "",) if money else ()
                    family.add_metric([a.profile.account, a.profile.platform, result.rule, *extra], value)
        yield family
    refused = _refused_family()
    for a in view.accounts:
        for reason in REFUSAL_REASONS:
            refused.add_metric([a.profile.account, a.profile.platform, reason], a.refused.get(reason, 0))
    yield refused
    for name, connected, failures in view.platforms:
        g["riskmon_platform_up"].add_metric([name], float(connected))
        g["riskmon_platform_consecutive_failures"].add_metric([name], failures)
    yield g["riskmon_platform_up"]
    yield g["riskmon_platform_consecutive_failures"]


def _version() -> str:
    try:
        return metadata.version("riskmon")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


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
        # The process (CPU, memory, open files; Linux only), the interpreter and its garbage collector, on
        # riskmon's own registry (never the global one), and the build, to tell versions apart in Grafana.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        Info("riskmon_build", "riskmon's version and the Python running it.", registry=registry).info(
            {"version": _version(), "python": platform.python_version()}
        )
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
