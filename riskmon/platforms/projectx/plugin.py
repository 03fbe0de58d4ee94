"""ProjectX Gateway (TopstepX and the other firms on ProjectX) as a riskmon platform: PROJECTX_* settings,
the ``[accounts.projectx]`` table, credential checks and builders."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from riskmon.errors import ConfigError
from riskmon.platforms.base import STREAM_SILENCE, Platform
from riskmon.platforms.plugin import PlatformPlugin, WebAddress
from riskmon.units import Seconds

if TYPE_CHECKING:
    from riskmon.config import AccountConfig, AppConfig, Settings

# TopstepX's published connection URLs (other ProjectX firms publish their own).
TOPSTEPX_API = "https://api.topstepx.com"
TOPSTEPX_USER_HUB = "https://rtc.topstepx.com/hubs/user"
TOPSTEPX_MARKET_HUB = "https://rtc.topstepx.com/hubs/market"


class ProjectXSettings(BaseModel):
    """PROJECTX_* in .env: the user whose API key reads (and, with the enforcer, trades) the accounts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    username: str | None = None
    api_key: SecretStr | None = None
    api_url: WebAddress = TOPSTEPX_API
    user_hub_url: WebAddress = TOPSTEPX_USER_HUB
    market_hub_url: WebAddress = TOPSTEPX_MARKET_HUB
    mode: Literal["stream", "poll"] = "stream"
    poll_interval: Annotated[Seconds, Field(ge=2)] = 5.0  # REST reads per poll stay under 200 a minute
    silence_timeout: Annotated[Seconds, Field(gt=0)] = 30.0  # nothing from a hub this long: reconnect


class ProjectXAccountOptions(BaseModel):
    """``[accounts.projectx]`` in riskmon.toml: another user, or another firm's URLs, for this account."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    username: str | None = None
    api_key_env: str = "PROJECTX_API_KEY"  # the variable (environment or .env) holding this account's API key
    api_url: WebAddress | None = None
    user_hub_url: WebAddress | None = None
    market_hub_url: WebAddress | None = None


def _login(settings: Settings, account: AccountConfig) -> tuple[str, SecretStr, str, str, str]:
    """The account's user name, API key and URLs: its table's, else the PROJECTX_* settings'."""
    own, options = PROJECTX.of(settings), PROJECTX.options(account)
    username = options.username or own.username
    if username is None:
        raise ConfigError("PROJECTX_USERNAME", f"required for ProjectX account {account.id} (the platform login)")
    key = settings.named_secret(options.api_key_env) or (
        own.api_key if options.api_key_env == "PROJECTX_API_KEY" else None
    )
    if key is None:
        raise ConfigError(
            options.api_key_env, f"required for ProjectX account {account.id} (in .env or the environment)"
        )
    return (
        username,
        key,
        options.api_url or own.api_url,
        options.user_hub_url or own.user_hub_url,
        options.market_hub_url or own.market_hub_url,
    )


def _check(settings: Settings, account: AccountConfig) -> None:
    _login(settings, account)


def _secret_variables(account: AccountConfig) -> Iterable[str]:
    return (PROJECTX.options(account).api_key_env,)


def _build(config: AppConfig, accounts: list[AccountConfig]) -> list[Platform]:
    """One gateway session, feed and trader per user and set of URLs (a user's accounts share them)."""
    from .feed import ProjectXFeed
    from .gateway import Gateway
    from .trader import ProjectXTrader

    own = PROJECTX.of(config.settings)
    groups: dict[tuple[str, str, str, str], list[AccountConfig]] = {}
    keys: dict[tuple[str, str, str, str], SecretStr] = {}
    for account in accounts:
        username, key, api, user_hub, market_hub = _login(config.settings, account)
        groups.setdefault((username, api, user_hub, market_hub), []).append(account)
        keys[(username, api, user_hub, market_hub)] = key
    stale = STREAM_SILENCE if own.mode == "stream" else timedelta(seconds=3 * own.poll_interval)
    platforms = []
    for (username, api, user_hub, market_hub), members in groups.items():
        feed = ProjectXFeed(
            Gateway(api, username, keys[(username, api, user_hub, market_hub)]),
            {a.id: config.profile(a.id).calendar for a in members},
            user_hub_url=user_hub,
            market_hub_url=market_hub,
            mode=own.mode,
            poll_interval=own.poll_interval,
            server_timeout=own.silence_timeout,
        )
        name = "projectx" if len(groups) == 1 else f"projectx:{username}"
        platforms.append(Platform(name, feed, ProjectXTrader(feed), tuple(a.id for a in members), stale))
    return platforms


PROJECTX: PlatformPlugin[ProjectXSettings, ProjectXAccountOptions] = PlatformPlugin(
    name="projectx",
    env_prefix="PROJECTX_",
    settings=ProjectXSettings,
    build=_build,
    account_table=ProjectXAccountOptions,
    check=_check,
    secret_variables=_secret_variables,
)
