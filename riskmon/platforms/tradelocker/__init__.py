"""TradeLocker (forex and CFD firms): its public REST API, polled.

api.py      JWT login and refresh, accNum-scoped requests, answers checked, paced under published limits
feed.py     TradeLockerFeed: state, positions and orders every poll interval
trader.py   TradeLockerTrader: close (full or partial) and cancel, answers mapped onto the shared outcomes
plugin.py   TRADELOCKER_* settings, the [accounts.tradelocker] table, checks and builders
"""
