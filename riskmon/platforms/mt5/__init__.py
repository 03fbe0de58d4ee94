"""MetaTrader 5: one terminal per account, through the official package or the mt5linux bridge.

terminal.py    module loading, login, the per-terminal worker thread, last_error() mapping
parsing.py     pure conversions of terminal records to riskmon models
servertime.py  the broker server's UTC offset (configured or estimated)
feed.py        MT5Feed: polling snapshots
trader.py      MT5Trader: closes and cancels

Wiring one account (each MT5 account has its own terminal, bridge and worker thread)::

    connect = lambda: load_mt5_module(bridge_host, bridge_port)   # bridge_host None: the official package
    terminal = MT5Terminal(connect, login=login, password=password, server=server, path=path)
    feed = MT5Feed(terminal, calendar=calendar, poll_interval=1.0, server_utc_offset=offset_hours)
    trader = MT5Trader(terminal)                                   # shares the terminal's thread
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from riskmon.clock import Clock, TradingCalendar
from riskmon.models import AccountSnapshot
from riskmon.platforms.mt5.feed import MT5Feed
from riskmon.platforms.mt5.terminal import MT5Terminal, load_mt5_module
from riskmon.platforms.mt5.trader import MT5Trader

__all__ = ["MT5Feed", "MT5Terminal", "MT5Trader", "load_mt5_module", "snapshot_once"]


async def snapshot_once(
    module: Any,
    *,
    login: int,
    password: SecretStr | None,
    server: str | None,
    calendar: TradingCalendar,
    path: str | None = None,
    server_utc_offset: float | None = None,
    login_timeout: float = 60.0,
    clock: Clock | None = None,
) -> AccountSnapshot:
    """Log in, take one snapshot and close the session (for ``riskmon check``).

    ``module`` as for MT5Terminal: the MetaTrader5 API object or a factory such as
    ``lambda: load_mt5_module(host, port)``. Raises AuthenticationError / PlatformUnavailable.
    """
    terminal = MT5Terminal(
        module, login=login, password=password, server=server, path=path, timeout=login_timeout
    )
    try:
        feed = MT5Feed(terminal, calendar=calendar, clock=clock, server_utc_offset=server_utc_offset)
        return await feed.snapshot()
    finally:
        await terminal.close()
