"""Settings → a cTrader feed and trader sharing one session for every configured cTrader account."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import SecretStr

from riskmon.clock import TradingCalendar
from riskmon.config import Settings
from riskmon.errors import ConfigError

from .feed import CTraderFeed
from .session import CTraderSession, Timings
from .tokens import Tokens, TokenStore
from .trader import CTraderTrader
from .transport import endpoint_url


def token_store(settings: Settings) -> TokenStore:
    """Where refreshed tokens are kept: CTRADER_TOKEN_FILE, or beside the state database."""
    return TokenStore(settings.ctrader_token_path)


def current_tokens(settings: Settings, store: TokenStore) -> Tokens:
    """The newest tokens: the store's (refreshed in-band or saved by ctrader-login), else the settings'."""
    if store.path.exists():
        return store.load()
    if settings.ctrader_access_token is None:
        raise ConfigError("CTRADER_ACCESS_TOKEN", "required (or run `riskmon ctrader-login`)")
    return Tokens(settings.ctrader_access_token, settings.ctrader_refresh_token or SecretStr(""))


def ctrader_platform(settings: Settings, calendars: Mapping[str, TradingCalendar]) -> tuple[CTraderFeed, CTraderTrader]:
    if settings.ctrader_client_id is None or settings.ctrader_client_secret is None:
        raise ConfigError("CTRADER_CLIENT_ID", "and CTRADER_CLIENT_SECRET are required for cTrader accounts")
    store = token_store(settings)
    session = CTraderSession(
        client_id=settings.ctrader_client_id,
        client_secret=settings.ctrader_client_secret,
        tokens=current_tokens(settings, store),
        accounts=list(calendars),
        url=endpoint_url(settings.ctrader_host, settings.ctrader_port, settings.ctrader_tls),
        token_store=store,
        timings=Timings(silence_timeout=settings.ctrader_silence_timeout),
    )
    feed = CTraderFeed(
        session, calendar=calendars, mode=settings.ctrader_mode, poll_interval=settings.ctrader_poll_interval
    )
    return feed, CTraderTrader(session)
