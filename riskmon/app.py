"""What `riskmon run` is made of, put together in one place.

The service supervises feeds and monitors; around it sit the observers (console, recorder, metrics,
Telegram, enforcer) and the components that run beside it (enforcer lanes, Telegram sender and
poller). The metrics exporter wraps the whole run so a taken port fails start-up in one clear line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from prometheus_client import CollectorRegistry
from rich.console import Console

from riskmon.clock import SystemClock
from riskmon.config import AppConfig
from riskmon.enforce import Enforcer
from riskmon.exporter import Exporter, build_exporter
from riskmon.history import EquityHistory
from riskmon.metrics import Metrics
from riskmon.models import AccountSnapshot, AlertEvent
from riskmon.monitor import Observer
from riskmon.notify.console import ConsoleAlerts
from riskmon.notify.webhook import build_webhooks
from riskmon.service import Component, Service, build_platforms
from riskmon.store import Store
from riskmon.view import ReadModel


@dataclass
class App:
    service: Service
    exporter: Exporter | None
    enforcer: Enforcer
    model: ReadModel  # what the exporter, the console table and Telegram read


def build_app(
    config: AppConfig,
    store: Store,
    console: Console,
    first: Observer | None = None,
    tap: Callable[[AccountSnapshot], None] | None = None,
) -> App:
    """Everything wired; ``first`` sees each evaluation before anyone reports on it, and ``tap`` (the recorder)
    every snapshot of a configured account before it is evaluated (the fast path's too, which no observer
    sees one by one)."""
    settings = config.settings
    platforms = build_platforms(config)
    traders = {account: p.trader for p in platforms for account in p.accounts}
    service: Service  # alerts raised outside the engine (enforcement) go to the same observers
    channels = [
        name
        for name, setting in (
            ("telegram", settings.telegram_bot_token),
            ("discord", settings.discord_webhook_url),
            ("webhook", settings.webhook_url),
        )
        if setting is not None
    ]
    metrics = Metrics(config.profiles, CollectorRegistry(), channels=channels)
    enforcer = Enforcer(
        store,
        config.enforcement(),
        traders.__getitem__,
        on_event=lambda event: service.publish(event),
        on_outcome=metrics.record_enforcement,
    )
    history = EquityHistory(store, [p.account for p in config.profiles])
    observers: list[Any] = [first] if first is not None else []
    observers += [ConsoleAlerts(console), metrics, history, enforcer]
    components: list[Component] = [enforcer, history]
    model: ReadModel  # built with the service; read only once it runs
    from riskmon.notify.telegram import build_telegram  # python-telegram-bot only when it is used

    telegram = build_telegram(
        settings,
        store,
        lambda: service.monitors,
        views=lambda: model.capture(),
        history=history,
        flattener=enforcer,
        on_failure=lambda: metrics.record_notification_failure("telegram"),
    )
    if telegram is not None:
        observers.append(telegram)
        components.append(telegram)
    clock = SystemClock()
    calendars = {p.account: p.calendar for p in config.profiles}

    def day_of(event: AlertEvent) -> date | None:
        calendar = calendars.get(event.account)
        return None if calendar is None else calendar.day_of(event.ts)

    webhooks = build_webhooks(
        settings, store, clock, settings.alert_policy(), day_of, metrics.record_notification_failure
    )
    observers += webhooks
    components += webhooks
    service = Service(config, store, platforms, observers, components=components, annotators=[enforcer], tap=tap)
    model = ReadModel(service.monitors.values(), service.platforms, enforcer.trading_state, history, service.clock)
    return App(service, build_exporter(model, metrics, settings), enforcer, model)
