"""Settings → one MT5 terminal, feed and trader per MT5 account (one terminal serves one account)."""

from __future__ import annotations

from riskmon.clock import TradingCalendar
from riskmon.config import AccountConfig, Settings, mt5_password
from riskmon.platforms.mt5.feed import MT5Feed
from riskmon.platforms.mt5.terminal import MT5Terminal, load_mt5_module
from riskmon.platforms.mt5.trader import MT5Trader


def mt5_platform(
    settings: Settings, account: AccountConfig, calendar: TradingCalendar
) -> tuple[MT5Feed, MT5Trader, MT5Terminal]:
    options = account.mt5
    host = options.bridge_host or settings.mt5_bridge_host
    port = options.bridge_port or settings.mt5_bridge_port
    terminal = MT5Terminal(
        lambda: load_mt5_module(host, port),  # host None: the official MetaTrader5 package
        login=int(account.id),
        password=mt5_password(settings, account),
        server=options.server or settings.mt5_server,
        path=options.path or settings.mt5_path,
        timeout=settings.mt5_timeout / 1000,
    )
    feed = MT5Feed(
        terminal,
        calendar=calendar,
        poll_interval=settings.mt5_poll_interval,
        server_utc_offset=settings.mt5_server_utc_offset,
    )
    return feed, MT5Trader(terminal), terminal
