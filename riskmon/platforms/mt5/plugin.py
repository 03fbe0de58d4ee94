"""MetaTrader 5 as a riskmon platform: its settings (MT5_*), the [accounts.mt5] table, checks and builders."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from riskmon.errors import ConfigError
from riskmon.platforms.base import Platform
from riskmon.platforms.plugin import PlatformPlugin
from riskmon.units import Seconds

if TYPE_CHECKING:
    from riskmon.config import AccountConfig, AppConfig, Settings


class MT5Settings(BaseModel):
    """MT5_* in .env: the .env account's terminal, and the defaults of every MT5 account."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    password: SecretStr | None = None
    server: str | None = None
    path: str | None = None
    bridge_host: str | None = None
    bridge_port: Annotated[int, Field(gt=0, lt=65536)] = 18812
    server_utc_offset: Annotated[float, Field(ge=-14, le=14, allow_inf_nan=False)] | None = None
    poll_interval: Annotated[Seconds, Field(gt=0)] = 1.0
    timeout: Annotated[int, Field(gt=0)] = 60000


class MT5AccountOptions(BaseModel):
    """``[accounts.mt5]`` in riskmon.toml: one terminal's options (unset: the MT5_* settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str | None = None
    server: str | None = None
    password_env: str = "MT5_PASSWORD"  # name of the variable (environment or .env) holding this account's password
    bridge_host: str | None = None
    bridge_port: Annotated[int, Field(gt=0, lt=65536)] | None = None


def mt5_password(settings: Settings, account: AccountConfig) -> SecretStr:
    """The account's MT5 password: the variable its ``password_env`` names (MT5_PASSWORD by default),
    from the environment or the .env file."""
    name = MT5.options(account).password_env
    value = settings.named_secret(name) or (MT5.of(settings).password if name == "MT5_PASSWORD" else None)
    if value is None:
        raise ConfigError(name, f"required for MT5 account {account.id} (in .env or the environment)")
    return value


def _check(settings: Settings, account: AccountConfig) -> None:
    if not account.id.isdigit():
        raise ConfigError("ACCOUNT_ID", f"an MT5 login is a number, got {account.id!r}")
    mt5_password(settings, account)
    if (MT5.options(account).server or MT5.of(settings).server) is None:
        raise ConfigError("MT5_SERVER", f"required for MT5 account {account.id}")


def _secret_variables(account: AccountConfig) -> Iterable[str]:
    return (MT5.options(account).password_env,)


def _build(config: AppConfig, accounts: list[AccountConfig]) -> list[Platform]:
    """One terminal, feed and trader per MT5 account (one terminal serves one account)."""
    from .feed import MT5Feed
    from .terminal import MT5Terminal, load_mt5_module
    from .trader import MT5Trader

    own = MT5.of(config.settings)
    stale = timedelta(seconds=3 * own.poll_interval)
    platforms = []
    for account in accounts:
        options = MT5.options(account)
        host = options.bridge_host or own.bridge_host
        port = options.bridge_port or own.bridge_port
        terminal = MT5Terminal(
            lambda host=host, port=port: load_mt5_module(host, port),  # host None: the official MetaTrader5 package
            login=int(account.id),
            password=mt5_password(config.settings, account),
            server=options.server or own.server,
            path=options.path or own.path,
            timeout=own.timeout / 1000,
        )
        feed = MT5Feed(
            terminal,
            calendar=config.profile(account.id).calendar,
            poll_interval=own.poll_interval,
            server_utc_offset=own.server_utc_offset,
        )
        platforms.append(Platform(f"mt5:{account.id}", feed, MT5Trader(terminal), (account.id,), stale))
    return platforms


MT5: PlatformPlugin[MT5Settings, MT5AccountOptions] = PlatformPlugin(
    name="mt5",
    env_prefix="MT5_",
    settings=MT5Settings,
    build=_build,
    account_table=MT5AccountOptions,
    check=_check,
    secret_variables=_secret_variables,
)
