"""Configuration: environment / ``.env`` (compatible with the reference monitor) plus an optional
``riskmon.toml`` with one ``[[accounts]]`` table per account.

Any problem stops start-up with one ``ConfigError`` line naming the setting; secrets are SecretStr.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from riskmon.enforce.spec import EnforceSpec, Mode, Policy
from riskmon.errors import ConfigError
from riskmon.monitor import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.rules.spec import deep_merge
from riskmon.store import default_db_path

Platform = Literal["ctrader", "mt5", "sim", "replay"]
PercentSetting = Annotated[Decimal, Field(gt=0, le=100)]


def _str_id(value: Any) -> Any:
    return str(value) if isinstance(value, int) else value


AccountId = Annotated[str, BeforeValidator(_str_id), Field(min_length=1)]


class Settings(BaseSettings):
    """Process-wide settings, read from the environment and ``.env``."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    # The reference monitor's settings, same names and defaults.
    platform: Platform | None = None
    account_id: AccountId | None = None
    max_daily_loss_percent: PercentSetting = Decimal("5.0")
    max_position_size_percent: PercentSetting = Decimal("10.0")
    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    ctrader_client_id: str | None = None
    ctrader_client_secret: SecretStr | None = None
    ctrader_access_token: SecretStr | None = None
    mt5_password: SecretStr | None = None
    mt5_server: str | None = None
    mt5_path: str | None = None

    # riskmon's own.
    riskmon_config: Path | None = None  # riskmon.toml with [[accounts]]
    riskmon_db: Path | None = None  # state database (default: the user's data directory)
    preset: str | None = None
    initial_balance: Annotated[Decimal, Field(gt=0)] | None = None
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    telegram_admin_ids: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org"

    ctrader_refresh_token: SecretStr | None = None
    ctrader_host: str = "live.ctraderapi.com"
    ctrader_port: Annotated[int, Field(gt=0, lt=65536)] = 5036
    ctrader_tls: bool = True
    ctrader_mode: Literal["poll", "stream"] = "stream"
    ctrader_poll_interval: Annotated[float, Field(gt=0)] = 5.0
    ctrader_token_file: Path | None = None  # refreshed tokens (default: beside the state database)
    ctrader_silence_timeout: Annotated[float, Field(gt=0)] = 45.0  # nothing received this long: reconnect

    mt5_bridge_host: str | None = None
    mt5_bridge_port: Annotated[int, Field(gt=0, lt=65536)] = 18812
    mt5_server_utc_offset: Annotated[float, Field(ge=-14, le=14)] | None = None
    mt5_poll_interval: Annotated[float, Field(gt=0)] = 1.0
    mt5_timeout: Annotated[int, Field(gt=0)] = 60000

    sim_interval: Annotated[float, Field(gt=0)] = 1.0
    sim_seed: int = 7
    replay_file: Path | None = None  # PLATFORM=replay: a JSONL snapshot file, followed as it grows
    stale_after: Annotated[float, Field(gt=0)] | None = None  # seconds without data before stale_data fires

    # --- enforcement ---
    dry_run: bool = False  # true: enforcement only logs and alerts what it would do, whatever an account's mode
    enforce_mode: Mode | None = None  # the .env account's enforcement (riskmon.toml: [accounts.enforce] mode)
    emergency_leverage_threshold: Annotated[Decimal, Field(gt=0)] = Decimal("3.0")
    target_leverage: Annotated[Decimal, Field(gt=0)] = Decimal("1.4")

    # --- telegram ---
    telegram_cooldown_s: Annotated[float, Field(ge=0)] = 120.0  # a recovery is announced once it held this long
    telegram_quiet_hours: str | None = None  # e.g. "22:00-07:00": non-critical messages wait until the end
    telegram_quiet_tz: str = "UTC"  # zone of TELEGRAM_QUIET_HOURS
    telegram_daily_summary: bool = True  # a summary at each account's trading-day end
    telegram_flatten_confirm_s: Annotated[int, Field(gt=0, le=600)] = 60  # /flatten confirmation window
    telegram_timeout: Annotated[float, Field(gt=0)] = 15.0  # seconds per Bot API request before it is retried

    @field_validator("platform", "preset", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def db_path(self) -> Path:
        return self.riskmon_db or default_db_path()

    @property
    def telegram_chat_ids(self) -> list[str]:
        return _csv(self.telegram_chat_id)

    @property
    def telegram_admin_id_list(self) -> list[str]:
        return _csv(self.telegram_admin_ids)

    # --- metrics ---
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 only where a firewall or container network guards the port
    metrics_port: Annotated[int, Field(ge=0, lt=65536)] = 9465  # 0: no /metrics or /healthz listener


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class MT5AccountOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str | None = None
    server: str | None = None
    password_env: str = "MT5_PASSWORD"  # name of the environment variable holding this account's password
    bridge_host: str | None = None
    bridge_port: Annotated[int, Field(gt=0, lt=65536)] | None = None


class AccountConfig(BaseModel):
    """One ``[[accounts]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: AccountId
    platform: Platform
    label: str = ""
    preset: str = "basic"
    initial_balance: Annotated[Decimal, Field(gt=0)] | None = None
    rules: dict[str, Any] = Field(default_factory=dict)
    mt5: MT5AccountOptions = MT5AccountOptions()
    replay_file: Path | None = None  # platform "replay": the JSONL file this account's snapshots come from
    enforce: EnforceSpec = EnforceSpec()

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset {value!r}; choose one of {', '.join(PRESETS)}")
        return value


class FileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accounts: list[AccountConfig] = Field(default_factory=list)


@dataclass(frozen=True)
class AppConfig:
    settings: Settings
    accounts: tuple[AccountConfig, ...]
    profiles: tuple[AccountProfile, ...]

    def enforcement(self) -> dict[str, Policy]:
        """Each account's effective enforcement policy (DRY_RUN and the leverage defaults applied)."""
        s = self.settings
        return {
            a.id: a.enforce.resolve(s.dry_run, s.emergency_leverage_threshold, s.target_leverage) for a in self.accounts
        }

    def profile(self, account: str) -> AccountProfile:
        for profile in self.profiles:
            if account in (profile.account, profile.label):
                return profile
        raise ConfigError("account", f"no configured account {account!r}")


SIM_ACCOUNTS = (
    AccountConfig(
        id="sim-ftmo", platform="sim", label="FTMO 100k (sim)", preset="ftmo-2step", initial_balance=Decimal(100000)
    ),
    AccountConfig(id="sim-basic", platform="sim", label="Basic (sim)", rules={"position_size": {"basis": "risk"}}),
)


def load_config(env_file: Path | None = Path(".env"), config_file: Path | None = None) -> AppConfig:
    if env_file is not None and env_file.exists() and not _readable(env_file):
        raise ConfigError(str(env_file), "file exists but cannot be read")
    try:
        settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise _config_error(exc, env_names=True) from None
    path = config_file or settings.riskmon_config
    accounts = _accounts_from_file(path) if path is not None else _accounts_from_env(settings)
    if not accounts:
        raise ConfigError(str(path), "no [[accounts]] tables")
    seen: set[str] = set()
    for account in accounts:
        if account.id in seen:
            raise ConfigError(f"accounts.{account.id}", "account id listed twice")
        seen.add(account.id)
        _check_credentials(settings, account)
    profiles = tuple(_profile(a, settings, explicit=path is not None) for a in accounts)
    config = AppConfig(settings, tuple(accounts), profiles)
    for account, profile in zip(accounts, profiles, strict=True):
        _check_enforcement(config.enforcement()[account.id], profile, account.id)
    return config


def _readable(path: Path) -> bool:
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False


def _accounts_from_file(path: Path) -> list[AccountConfig]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("RISKMON_CONFIG", f"{path} does not exist") from None
    except OSError as exc:
        raise ConfigError("RISKMON_CONFIG", f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    try:
        return FileConfig.model_validate(document).accounts
    except ValidationError as exc:
        raise _config_error(exc, env_names=False, source=str(path)) from None


def _accounts_from_env(settings: Settings) -> list[AccountConfig]:
    platform = settings.platform or "sim"
    if platform == "sim" and settings.account_id is None:
        return list(SIM_ACCOUNTS)
    if settings.account_id is None:
        raise ConfigError("ACCOUNT_ID", f"required when PLATFORM={platform}")
    preset = settings.preset or "basic"
    if preset not in PRESETS:
        raise ConfigError("PRESET", f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return [
        AccountConfig(
            id=settings.account_id,
            platform=platform,
            preset=preset,
            initial_balance=settings.initial_balance,
            mt5=MT5AccountOptions(path=settings.mt5_path, server=settings.mt5_server),
            replay_file=settings.replay_file,
            enforce=EnforceSpec(mode=settings.enforce_mode or (Mode.DRY_RUN if settings.dry_run else Mode.OFF)),
        )
    ]


def _env_overrides(settings: Settings, preset: str) -> dict[str, Any]:
    """MAX_DAILY_LOSS_PERCENT / MAX_POSITION_SIZE_PERCENT: always for `basic`, for presets only if set."""
    given = settings.model_fields_set
    overrides: dict[str, Any] = {}
    if preset == "basic" or "max_daily_loss_percent" in given:
        overrides["daily_loss"] = {"size": settings.max_daily_loss_percent}
    if preset == "basic" or "max_position_size_percent" in given:
        overrides["position_size"] = {"enabled": True, "max_percent": settings.max_position_size_percent}
    return overrides


def _profile(account: AccountConfig, settings: Settings, explicit: bool) -> AccountProfile:
    preset = PRESETS[account.preset]
    overrides = account.rules if explicit else deep_merge(_env_overrides(settings, account.preset), account.rules)
    where = f"accounts.{account.id}.rules" if explicit else "MAX_DAILY_LOSS_PERCENT"
    try:
        rulebook = preset.rulebook(overrides)
    except ValidationError as exc:
        raise _config_error(exc, env_names=False, source=where) from None
    initial = account.initial_balance or preset.initial_balance
    if rulebook.needs_initial_balance and initial is None:
        setting = f"accounts.{account.id}.initial_balance" if explicit else "INITIAL_BALANCE"
        raise ConfigError(setting, f"required by preset {account.preset} (its limits are % of the initial balance)")
    return AccountProfile(
        account=account.id,
        rulebook=rulebook,
        label=account.label,
        platform=account.platform,
        initial_balance=initial,
    )


def _check_enforcement(policy: Policy, profile: AccountProfile, account: str) -> None:
    if policy.deleverage and not profile.rulebook.leverage.enabled:
        raise ConfigError(
            f"accounts.{account}.enforce.deleverage", "needs rules.leverage.enabled = true (it acts on its figure)"
        )
    if policy.deleverage and policy.target_leverage >= policy.emergency_leverage:
        raise ConfigError(
            f"accounts.{account}.enforce.deleverage",
            f"target leverage {policy.target_leverage} must be below the emergency level {policy.emergency_leverage}",
        )


def _check_credentials(settings: Settings, account: AccountConfig) -> None:
    if account.platform == "ctrader":
        for name in ("ctrader_client_id", "ctrader_client_secret", "ctrader_access_token"):
            if getattr(settings, name) is None:
                raise ConfigError(name.upper(), f"required for cTrader account {account.id}")
    elif account.platform == "replay" and account.replay_file is None:
        raise ConfigError("REPLAY_FILE", f"required for replay account {account.id}")
    elif account.platform == "mt5":
        if not account.id.isdigit():
            raise ConfigError("ACCOUNT_ID", f"MT5 login must be a number, got {account.id!r}")
        mt5_password(settings, account)
        if (account.mt5.server or settings.mt5_server) is None:
            raise ConfigError("MT5_SERVER", f"required for MT5 account {account.id}")


def mt5_password(settings: Settings, account: AccountConfig) -> SecretStr:
    """The account's MT5 password: MT5_PASSWORD, or the variable its ``password_env`` names."""
    if account.mt5.password_env == "MT5_PASSWORD" and settings.mt5_password is not None:
        return settings.mt5_password
    value = os.environ.get(account.mt5.password_env)
    if not value:
        raise ConfigError(account.mt5.password_env, f"required for MT5 account {account.id}")
    return SecretStr(value)


def _config_error(exc: ValidationError, env_names: bool, source: str = "") -> ConfigError:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    setting = location.upper() if env_names else location
    if source:
        setting = f"{source}: {setting}"
    return ConfigError(setting, _plain(error["msg"]))


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")
