"""ProjectX Gateway (TopstepX and other futures firms): REST for state and actions, SignalR hubs for events.

gateway.py   API-key login, token renewal, one checked call, request pacing
signalr.py   the SignalR JSON hub protocol over a WebSocket (negotiation skipped, as ProjectX documents)
book.py      one account's state and its futures valuation (tick size and tick value)
feed.py      ProjectXFeed: streamed (user and market hubs) or polled snapshots
trader.py    ProjectXTrader: close (full or partial) and cancel, answers mapped onto the shared outcomes
plugin.py    PROJECTX_* settings, the [accounts.projectx] table, checks and builders
"""
