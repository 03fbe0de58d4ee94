"""TradeLocker as a riskmon platform: TRADELOCKER_* settings, the ``[accounts.tradelocker]`` table, checks
and builders."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from riskmon.errors import ConfigError
from riskmon.platforms.base import Platform
from riskmon.platforms.plugin import PlatformPlugin, WebAddress
from riskmon.units import Seconds

from .api import LIVE_URL

if TYPE_CHECKING:
    from riskmon.config import AccountConfig, AppConfig, Settings


class TradeLockerSettings(BaseModel):
    """TRADELOCKER_* in .env: the login that reads (and, with the enforcer, trades) the accounts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    email: str | None = None
    password: SecretStr | None = None
    server: str | None = None  # the server name shown on TradeLocker's login screen
    base_url: WebAddress = LIVE_URL  # demo accounts: https://demo.tradelocker.com/backend-api
    poll_interval: Annotated[Seconds, Field(gt=0)] = 2.0


class TradeLockerAccountOptions(BaseModel):
    """``[accounts.tradelocker]`` in riskmon.toml: another login, server or environment for this account."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    email: str | None = None
    password_env: str = "TRADELOCKER_PASSWORD"  # the variable (environment or .env) holding its password
    server: str | None = None
    base_url: WebAddress | None = None


def _login(settings: Settings, account: AccountConfig) -> tuple[str, SecretStr, str, str]:
    if not account.id.isdigit():
        raise ConfigError("ACCOUNT_ID", f"a TradeLocker account id is a number, got {account.id!r}")
    own, options = TRADELOCKER.of(settings), TRADELOCKER.options(account)
    email, server = options.email or own.email, options.server or own.server
    if email is None:
        raise ConfigError("TRADELOCKER_EMAIL", f"required for TradeLocker account {account.id}")
    if server is None:
        raise ConfigError("TRADELOCKER_SERVER", f"required for TradeLocker account {account.id} (shown at login)")
    name = options.password_env
    password = settings.named_secret(name) or (own.password if name == "TRADELOCKER_PASSWORD" else None)
    if password is None:
        raise ConfigError(name, f"required for TradeLocker account {account.id} (in .env or environment)")
    return email, password, server, options.base_url or own.base_url


def _check(settings: Settings, account: AccountConfig) -> None:
    _login(settings, account)


def _secret_variables(account: AccountConfig) -> Iterable[str]:
    return (TRADELOCKER.options(account).password_env,)


def _build(config: AppConfig, accounts: list[AccountConfig]) -> list[Platform]:
    """One session, feed and trader per login (a login's accounts share them)."""
    from .api import TradeLockerApi
    from .feed import TradeLockerFeed
    from .trader import TradeLockerTrader

    own = TRADELOCKER.of(config.settings)
    groups: dict[tuple[str, str, str], list[AccountConfig]] = {}
    passwords: dict[tuple[str, str, str], SecretStr] = {}
    for account in accounts:
        email, password, server, url = _login(config.settings, account)
        groups.setdefault((email, server, url), []).append(account)
        passwords[(email, server, url)] = password
    platforms = []
    for (email, server, url), members in groups.items():
        api = TradeLockerApi(url, email, passwords[(email, server, url)], server)
        feed = TradeLockerFeed(api, [a.id for a in members], poll_interval=own.poll_interval)
        name = "tradelocker" if len(groups) == 1 else f"tradelocker:{email}"
        stale = timedelta(seconds=max(30.0, 3 * own.poll_interval))
        platforms.append(Platform(name, feed, TradeLockerTrader(feed), tuple(a.id for a in members), stale))
    return platforms


TRADELOCKER: PlatformPlugin[TradeLockerSettings, TradeLockerAccountOptions] = PlatformPlugin(
    name="tradelocker",
    env_prefix="TRADELOCKER_",
    settings=TradeLockerSettings,
    build=_build,
    account_table=TradeLockerAccountOptions,
    check=_check,
    secret_variables=_secret_variables,
)
