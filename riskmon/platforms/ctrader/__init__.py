"""cTrader Open API platform (JSON over WebSocket): one session, many accounts.

session = CTraderSession(client_id=..., client_secret=SecretStr(...), tokens=TokenStore(path).load(),
                         accounts=["1234567"], url=endpoint_url(DEMO_HOST), token_store=TokenStore(path))
feed = CTraderFeed(session, calendar=TradingCalendar.of("Europe/Prague"), mode="stream")
trader = CTraderTrader(session)            # shares the feed's connection
async for snap in feed.snapshots(): ...
await session.close()
"""

from riskmon.backoff import Backoff

from .feed import CTraderFeed
from .session import CTraderApiError, CTraderSession, Timings
from .tokens import Tokens, TokenStore
from .trader import CTraderTrader
from .transport import DEMO_HOST, JSON_PORT, LIVE_HOST, endpoint_url

__all__ = [
    "DEMO_HOST",
    "JSON_PORT",
    "LIVE_HOST",
    "Backoff",
    "CTraderApiError",
    "CTraderFeed",
    "CTraderSession",
    "CTraderTrader",
    "Timings",
    "TokenStore",
    "Tokens",
    "endpoint_url",
]
