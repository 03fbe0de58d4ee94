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

from riskmon.platforms.mt5.feed import MT5Feed
from riskmon.platforms.mt5.terminal import MT5Terminal, load_mt5_module
from riskmon.platforms.mt5.trader import MT5Trader

__all__ = ["MT5Feed", "MT5Terminal", "MT5Trader", "load_mt5_module"]
