"""cTrader as a riskmon platform: its settings (CTRADER_*), credential checks and builders."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from riskmon.errors import ConfigError
from riskmon.platforms.base import STREAM_SILENCE, Platform
from riskmon.platforms.plugin import NoOptions, PlatformPlugin
from riskmon.units import Seconds

if TYPE_CHECKING:
    from riskmon.config import AccountConfig, AppConfig, Settings

    from .tokens import Tokens, TokenStore


class CTraderSettings(BaseModel):
    """CTRADER_* in .env: one Open API application and session for every cTrader account."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    client_id: str | None = None
    client_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    host: str = "live.ctraderapi.com"
    port: Annotated[int, Field(gt=0, lt=65536)] = 5036
    tls: bool = True
    mode: Literal["poll", "stream"] = "stream"
    poll_interval: Annotated[Seconds, Field(gt=0)] = 5.0
    token_file: Path | None = None  # refreshed tokens (default: beside the state database)
    silence_timeout: Annotated[Seconds, Field(gt=0)] = 45.0  # nothing received this long: reconnect


def token_path(settings: Settings) -> Path:
    """Where `riskmon ctrader-login` saves tokens and the session keeps them fresh."""
    return CTRADER.of(settings).token_file or settings.db_path.with_name("ctrader-tokens.json")


def token_store(settings: Settings) -> TokenStore:
    from .tokens import TokenStore

    return TokenStore(token_path(settings))


def current_tokens(settings: Settings, store: TokenStore) -> Tokens:
    """The newest tokens: the store's (refreshed in-band or saved by ctrader-login), else the settings'."""
    from .tokens import Tokens

    if store.path.exists():
        return store.load()
    own = CTRADER.of(settings)
    if own.access_token is None:
        raise ConfigError("CTRADER_ACCESS_TOKEN", "required (or run `riskmon ctrader-login`)")
    return Tokens(own.access_token, own.refresh_token or SecretStr(""))


def _check(settings: Settings, account: AccountConfig) -> None:
    if not account.id.isdigit():
        raise ConfigError(
            "ACCOUNT_ID", f"a cTrader account (ctidTraderAccountId or trader login) is a number, got {account.id!r}"
        )
    own = CTRADER.of(settings)
    missing = [
        CTRADER.env_name(name) for name in ("client_id", "client_secret", "access_token") if getattr(own, name) is None
    ]
    tokens = token_path(settings)
    if tokens.exists() and "CTRADER_ACCESS_TOKEN" in missing:
        missing.remove("CTRADER_ACCESS_TOKEN")  # `riskmon ctrader-login` saved one
    if missing:
        login = f" (or run `riskmon ctrader-login`, which saves the tokens to {tokens})"
        raise ConfigError(
            ", ".join(missing),
            f"required for cTrader account {account.id}" + (login if "CTRADER_ACCESS_TOKEN" in missing else ""),
        )


def _build(config: AppConfig, accounts: list[AccountConfig]) -> list[Platform]:
    """One session (one connection) for every cTrader account."""
    from .feed import CTraderFeed
    from .session import CTraderSession, Timings
    from .trader import CTraderTrader
    from .transport import endpoint_url

    own = CTRADER.of(config.settings)
    if own.client_id is None or own.client_secret is None:
        raise ConfigError("CTRADER_CLIENT_ID", "and CTRADER_CLIENT_SECRET are required for cTrader accounts")
    calendars = {a.id: config.profile(a.id).calendar for a in accounts}
    store = token_store(config.settings)
    session = CTraderSession(
        client_id=own.client_id,
        client_secret=own.client_secret,
        tokens=current_tokens(config.settings, store),
        accounts=list(calendars),
        url=endpoint_url(own.host, own.port, own.tls),
        token_store=store,
        timings=Timings(silence_timeout=own.silence_timeout),
    )
    feed = CTraderFeed(session, calendar=calendars, mode=own.mode, poll_interval=own.poll_interval)
    stale = STREAM_SILENCE if own.mode == "stream" else timedelta(seconds=3 * own.poll_interval)
    return [Platform("ctrader", feed, CTraderTrader(session), tuple(calendars), stale)]


CTRADER: PlatformPlugin[CTraderSettings, NoOptions] = PlatformPlugin(
    name="ctrader",
    env_prefix="CTRADER_",
    settings=CTraderSettings,
    build=_build,
    check=_check,
)
