"""Configuration: environment / ``.env`` (compatible with the reference monitor) plus an optional
``riskmon.toml`` with one ``[[accounts]]`` table per account.

Any problem stops start-up with one ``ConfigError`` line naming the setting as the user wrote it and
showing the bad value (masked when secret); secrets are SecretStr. Every effective rule figure carries
its ``Source`` (preset, variable, riskmon.toml key or default), computed here once.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from riskmon.config_rules import Sources, account_profile
from riskmon.config_sources import EnvSource, did_you_mean, docker_keeps, plain, read_toml, toml_error
from riskmon.enforce.spec import EnforceSpec, Mode, Policy
from riskmon.errors import ConfigError, file_in_the_way
from riskmon.notify.policy import AlertPolicy, QuietHours
from riskmon.platforms.plugin import PlatformPlugin
from riskmon.platforms.registry import PLATFORMS
from riskmon.profile import AccountProfile
from riskmon.rules import daily_loss, leverage, max_loss, position_size
from riskmon.rules.presets import PRESETS
from riskmon.rules.registry import describe_rules
from riskmon.store import default_db_path
from riskmon.units import Percent, Seconds

DEFAULT_ENV_FILE = Path(".env")
M = TypeVar("M", bound=BaseModel)


def _str_id(value: Any) -> Any:
    return str(value) if isinstance(value, int) else value


def _platform_name(value: Any) -> Any:
    """A name the registry knows, in any case."""
    if not isinstance(value, str):
        return value
    name = value.strip().lower()
    if name not in PLATFORMS:
        raise ValueError(f"unknown platform{did_you_mean(name, PLATFORMS)}; choose one of {', '.join(PLATFORMS)}")
    return name


AccountId = Annotated[str, BeforeValidator(_str_id), Field(min_length=1)]
PlatformName = Annotated[str, BeforeValidator(_platform_name)]  # the registry's names


# The HTTP listener's default port: outside 9100-9999, the exporters' range of Prometheus' default port
# allocations (every port of it allocated), and outside 9090-9093 (Prometheus, Pushgateway, Alertmanager).
DEFAULT_PORT = 8465
# Names in the environment that are riskmon's but no setting: never "unknown setting ... did you mean".
NOT_SETTINGS = frozenset({"RISKMON_CI"})  # the test suite's CI switch (.ci/run sets it)
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """``host`` names this machine only: ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


class Settings(BaseSettings):
    """Process-wide settings. ``load_config`` reads them from the environment over ``.env``
    (``EnvSource``); constructing ``Settings`` reads nothing but its arguments."""

    model_config = SettingsConfigDict(extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    # The reference monitor's settings, same names. Unset limits keep the preset's (basic: 5 % and 10 %).
    # Each platform's own (CTRADER_*, MT5_*, ...) are its plug-in's settings model, composed by ``_settings``.
    platform: PlatformName | None = None
    account_id: AccountId | None = None
    max_daily_loss_percent: Percent | None = None
    max_position_size_percent: Percent | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None

    # riskmon's own.
    riskmon_config: Path | None = None  # riskmon.toml with [[accounts]]
    riskmon_db: Path | None = None  # state database (default: the user's data directory)
    preset: str | None = None
    initial_balance: Annotated[Decimal, Field(gt=0)] | None = None
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    telegram_admin_ids: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org"

    stale_after: Annotated[Seconds, Field(gt=0)] | None = None  # seconds without data before stale_data fires

    # --- enforcement ---
    dry_run: bool = False  # true: enforcement only logs and alerts what it would do, whatever an account's mode
    enforce_mode: Mode | None = None  # the .env account's enforcement (riskmon.toml: [accounts.enforce] mode)
    emergency_leverage_threshold: Annotated[Decimal, Field(gt=0)] = Decimal("3.0")
    target_leverage: Annotated[Decimal, Field(gt=0)] = Decimal("1.4")

    # --- telegram ---
    telegram_cooldown_s: Annotated[Seconds, Field(ge=0)] = 120.0  # a recovery is announced once it held this long
    telegram_quiet_hours: str | None = None  # e.g. "22:00-07:00": non-critical messages wait until the end
    telegram_quiet_tz: str = "UTC"  # zone of TELEGRAM_QUIET_HOURS
    telegram_daily_summary: bool = True  # a summary at each account's trading-day end
    telegram_flatten_confirm_s: Annotated[int, Field(gt=0, le=600)] = 60  # /flatten confirmation window
    telegram_timeout: Annotated[Seconds, Field(gt=0)] = 15.0  # seconds per Bot API request before it is retried

    # --- Discord and JSON webhooks (same outbox, retries, quiet hours and cooldown as Telegram) ---
    discord_webhook_url: SecretStr | None = None  # https://discord.com/api/webhooks/<id>/<token>
    webhook_url: SecretStr | None = None  # a JSON POST per alert, signed with WEBHOOK_SECRET
    webhook_secret: SecretStr | None = None  # HMAC-SHA256 key of X-Riskmon-Signature (at least 16 characters)

    # --- metrics ---
    metrics_host: str = "127.0.0.1"  # beyond loopback (0.0.0.0, an address, a name) only with METRICS_TOKEN
    metrics_port: Annotated[int, Field(ge=0, lt=65536)] = DEFAULT_PORT  # 0: no listener (page, API, metrics)
    metrics_token: SecretStr | None = None  # asked of every request but /healthz; required beyond loopback

    # --- shards (riskmon run --shard) ---
    riskmon_shard: str | None = None  # I/N, or auto: the StatefulSet pod ordinal of RISKMON_SHARDS
    riskmon_shards: Annotated[int, Field(gt=0)] | None = None  # the shard count, for auto
    riskmon_uvloop: bool = True  # uvloop's event loop when the fast extra installed it

    _named_secrets: dict[str, SecretStr] = PrivateAttr(default_factory=dict)  # riskmon.toml's password_env values
    _venues: dict[str, BaseModel] = PrivateAttr(default_factory=dict)  # each platform's settings, by its name

    @field_validator("preset", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("riskmon_db")
    @classmethod
    def _a_database_file(cls, value: Path | None) -> Path | None:
        if value is not None and value.is_dir():
            raise ValueError(f"{value} is a folder; give a file, e.g. {value / 'riskmon.db'}")
        if value is not None and (blocker := file_in_the_way(value)) is not None:
            raise ValueError(f"{blocker} is a file, not a folder")
        return value

    @property
    def db_path(self) -> Path:
        return self.riskmon_db or default_db_path()

    def venue(self, name: str) -> BaseModel:
        """Platform ``name``'s settings (its defaults when none of its variables is set); read them through
        the plug-in (``CTRADER.of(settings)``), which knows their type."""
        if name not in self._venues:
            self._venues[name] = PLATFORMS[name].settings()
        return self._venues[name]

    @property
    def telegram_chat_ids(self) -> list[str]:
        return _csv(self.telegram_chat_id)

    @property
    def telegram_admin_id_list(self) -> list[str]:
        return _csv(self.telegram_admin_ids)

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None and bool(self.telegram_bot_token.get_secret_value())

    def telegram_quiet(self) -> QuietHours | None:
        """The quiet hours, with Telegram's settings checked as `run` needs them (a ConfigError if not)."""
        if self.telegram_enabled and not self.telegram_chat_ids:
            raise ConfigError("TELEGRAM_CHAT_ID", "required when TELEGRAM_BOT_TOKEN is set")
        return self.alert_policy().quiet if self.telegram_enabled else None

    def alert_policy(self) -> AlertPolicy:
        """When alerts may go out, on every channel (Telegram, Discord, webhooks): the recovery cooldown and
        the quiet hours (a ConfigError for quiet hours that cannot be read)."""
        window = self.telegram_quiet_hours
        quiet = QuietHours.parse(window, self.telegram_quiet_tz) if window else None
        return AlertPolicy(timedelta(seconds=self.telegram_cooldown_s), quiet)

    def named_secret(self, name: str) -> SecretStr | None:
        """A secret riskmon.toml names (``password_env``), read with the settings."""
        return self._named_secrets.get(name)

    def secret_values(self) -> list[str]:
        """Every configured secret in clear, for log redaction only."""
        values = [getattr(self, name) for name in CORE_SECRETS] + list(self._named_secrets.values())
        values += [getattr(self.venue(p.name), name) for p in PLATFORMS.values() for name in p.secret_fields]
        return [value.get_secret_value() for value in values if value is not None]


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


CORE_SECRETS = frozenset(
    name for name, f in Settings.model_fields.items() if SecretStr in (f.annotation, *get_args(f.annotation))
)
# Every variable riskmon reads -> (its platform or None for riskmon's own, the field it sets).
VARIABLES: dict[str, tuple[PlatformPlugin[Any, Any] | None, str]] = {
    name.upper(): (None, name) for name in Settings.model_fields
} | {env: (plugin, name) for plugin in PLATFORMS.values() for env, name in plugin.env_names.items()}
SETTING_NAMES = frozenset(VARIABLES)
SECRET_SETTINGS = frozenset(name.upper() for name in CORE_SECRETS) | {
    plugin.env_name(name) for plugin in PLATFORMS.values() for name in plugin.secret_fields
}  # as variables
# What describes the one account of a .env: any of these set means "monitor my account", never the simulator.
ACCOUNT_SETTINGS = (
    "PLATFORM",
    "ACCOUNT_ID",
    "PRESET",
    "INITIAL_BALANCE",
    "MAX_DAILY_LOSS_PERCENT",
    "MAX_POSITION_SIZE_PERCENT",
    "ENFORCE_MODE",
    *(plugin.env_name(name) for plugin in PLATFORMS.values() for name in plugin.account_settings),
)


class _AccountFields(BaseModel):
    """What every ``[[accounts]]`` table has, whatever its platform."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: AccountId
    platform: PlatformName
    label: str = ""
    preset: str = "basic"
    initial_balance: Annotated[Decimal, Field(gt=0)] | None = None
    rules: dict[str, Any] = Field(default_factory=dict)
    enforce: EnforceSpec = EnforceSpec()

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(
                f"unknown preset {value!r}{did_you_mean(value, PRESETS)}; choose one of {', '.join(PRESETS)}"
            )
        return value


class AccountConfig(_AccountFields):
    """One account: its ``[[accounts]]`` table, or the .env account."""

    venue: BaseModel | None = None  # its ``[accounts.<platform>]`` table, read through the plug-in (``MT5.options``)


# riskmon.toml as written: each platform's table is a key of the account (``[accounts.mt5]``).
_AccountTable: type[BaseModel] = create_model(
    "AccountTable",
    __base__=_AccountFields,
    **{name: (plugin.account_table | None, None) for name, plugin in PLATFORMS.items()},  # type: ignore[call-overload]
)
FileConfig: type[BaseModel] = create_model(
    "FileConfig",
    __config__=ConfigDict(extra="forbid"),
    accounts=(list[_AccountTable], Field(default_factory=list)),  # type: ignore[valid-type]
)


@dataclass(frozen=True)
class AppConfig:
    settings: Settings
    accounts: tuple[AccountConfig, ...]
    profiles: tuple[AccountProfile, ...]
    sources: Mapping[str, Sources]  # per account id: the source of every effective rule figure
    notices: tuple[str, ...] = ()  # start-up lines: a variable overriding a preset, the simulator
    warnings: tuple[str, ...] = ()  # unknown settings and other things --strict refuses

    @property
    def simulated(self) -> bool:
        return self.accounts == SIM_ACCOUNTS

    def only(self, keep: Callable[[str], bool]) -> AppConfig:
        """The configuration of the accounts ``keep`` accepts (by id): one shard's."""
        return replace(
            self,
            accounts=tuple(a for a in self.accounts if keep(a.id)),
            profiles=tuple(p for p in self.profiles if keep(p.account)),
            sources={k: v for k, v in self.sources.items() if keep(k)},
        )

    def enforcement(self) -> dict[str, Policy]:
        """Each account's effective enforcement policy (DRY_RUN and the leverage defaults applied)."""
        s = self.settings
        return {
            a.id: a.enforce.resolve(s.dry_run, s.emergency_leverage_threshold, s.target_leverage) for a in self.accounts
        }

    @cached_property
    def _by_name(self) -> tuple[dict[str, AccountProfile], dict[str, AccountProfile], dict[str, AccountConfig]]:
        """Profiles by id and by label, accounts by id: built once (start-up asks for each of thousands)."""
        by_id = {p.account: p for p in self.profiles}
        return by_id, {p.label: p for p in self.profiles if p.label}, {a.id: a for a in self.accounts}

    def profile(self, account: str) -> AccountProfile:
        """An account by id, else by label (ids and labels are unique across the configuration)."""
        by_id, by_label, _ = self._by_name
        found = by_id.get(account) or by_label.get(account)
        if found is None:
            known = ", ".join(p.account + (f" ({p.label})" if p.label else "") for p in self.profiles)
            raise ConfigError("ACCOUNT", f"no configured account {account!r}; configured: {known}")
        return found

    def limits(self, account: str) -> str:
        """One start-up line: the account's effective daily and overall limits and where each came from."""
        profile = self.profile(account)
        book, src = profile.rulebook, self.sources[account]
        dl, ml = daily_loss.PLUGIN.of(book), max_loss.PLUGIN.of(book)
        daily = (
            f"daily loss {dl.size_text()} [{src[f'{daily_loss.DAILY_LOSS}.size']}]"
            if dl.enabled
            else "no daily loss limit"
        )
        overall = "no overall loss limit"
        if ml.enabled:
            trail = ""
            if ml.mode is max_loss.FloorMode.TRAILING:
                trail = f" below {max_loss.TRAIL_WORDS[ml.trail]}"
                if (lock := max_loss.lock_words(ml)) is not None:
                    trail += f", stops rising at {lock}"
            overall = f"overall loss {ml.mode.value} {ml.size_text()}{trail} [{src[f'{max_loss.MAX_LOSS}.size']}]"
        initial = "" if profile.initial_balance is None else f" {profile.initial_balance}"
        preset = self._by_name[2][account].preset
        floors = (daily_loss.DAILY_LOSS, max_loss.MAX_LOSS)
        others = [name.replace("_", " ") for name, _ in describe_rules(book) if name not in floors]
        also = f"; also checked: {', '.join(others)} (riskmon config says each)" if others else ""
        return (
            f"{profile.name} [{profile.platform}, preset {preset}]: {daily}; {overall}; "
            f"initial balance{initial} [{src['initial_balance']}]{also}"
        )


SIM_ACCOUNTS = (
    AccountConfig(
        id="sim-ftmo", platform="sim", label="FTMO 100k (sim)", preset="ftmo-2step", initial_balance=Decimal(100000)
    ),
    AccountConfig(
        id="sim-basic", platform="sim", label="Basic (sim)", rules={position_size.POSITION_SIZE: {"basis": "risk"}}
    ),
)
SIMULATOR_BANNER = (
    "SIMULATOR: nothing is configured, so riskmon watches simulated accounts, not yours "
    "(set PLATFORM and ACCOUNT_ID in .env, or RISKMON_CONFIG)"
)


def load_config(
    env_file: Path | None = DEFAULT_ENV_FILE,
    config_file: Path | None = None,
    *,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> AppConfig:
    """The whole configuration, checked. ``env_file`` may be absent (the implicit ``.env``); ``strict``
    turns the warnings (unknown settings) into an error."""
    env = EnvSource.read(os.environ if environ is None else environ, env_file)
    settings = _settings(env)
    toml = _toml_path(settings, env, config_file)
    if toml is not None:
        _refuse_single_account_settings(env, toml[1])
        accounts = _accounts_from_file(*toml)
    else:
        accounts = _accounts_from_env(settings, env)
    settings._named_secrets = _named_secrets(env, accounts)
    warnings = env.unknown(SETTING_NAMES | _secret_variables(accounts) | NOT_SETTINGS)
    warnings += [
        f"{v.name} (in {v.where}) {kept}, unless that is part of the secret"
        for name in SECRET_SETTINGS | set(settings._named_secrets)
        if (v := env.get(name.upper())) is not None and (kept := docker_keeps(v.text)) is not None
    ]
    if strict and warnings:
        raise ConfigError("--strict", "; ".join(warnings))
    _check_names(accounts)
    settings.telegram_quiet()
    settings.alert_policy()  # quiet hours for the webhooks too
    for index, account in enumerate(accounts):
        _check_credentials(settings, account, f"accounts[{index}]" if toml else None)
    built = [account_profile(a, i, settings, env, toml) for i, a in enumerate(accounts)]
    config = AppConfig(
        settings,
        tuple(accounts),
        tuple(profile for profile, _, _ in built),
        {a.id: sources for a, (_, sources, _) in zip(accounts, built, strict=True)},
        tuple(line for _, _, lines in built for line in lines),
        tuple(warnings),
    )
    if config.simulated:
        config = replace(config, notices=(SIMULATOR_BANNER, *config.notices))
    policies = config.enforcement()  # once: resolving every account's policy per account was quadratic
    for index, (account, profile) in enumerate(zip(accounts, config.profiles, strict=True)):
        _check_enforcement(policies[account.id], profile, f"accounts[{index}]")
    return config


def load_settings(env_file: Path | None = DEFAULT_ENV_FILE, *, environ: Mapping[str, str] | None = None) -> Settings:
    """The process settings alone, for commands that need no account (`ctrader-login`, `audit`):
    checked the same way, but no account has to be configured yet."""
    return _settings(EnvSource.read(os.environ if environ is None else environ, env_file))


def _settings(env: EnvSource) -> Settings:
    """riskmon's own settings, then each platform's from the variables with its prefix."""
    given = {variable: value for variable in VARIABLES if (value := env.get(variable)) is not None}
    for variable, value in given.items():
        if variable not in SECRET_SETTINGS and (kept := docker_keeps(value.text)) is not None:
            raise ConfigError(value.name, kept, value=value.text, where=value.where)
    groups: dict[str, dict[str, str]] = {}  # platform name ("" for riskmon's own) -> field -> text
    for variable, value in given.items():
        owner, name = VARIABLES[variable]
        groups.setdefault(owner.name if owner else "", {})[name] = value.text
    settings = _validated(Settings, groups.pop("", {}), "", given)
    for name, values in groups.items():
        plugin = PLATFORMS[name]
        settings._venues[name] = _validated(plugin.settings, values, plugin.env_prefix, given)
    _check_listener(settings, env)
    _check_webhooks(settings, env)
    return settings


def _validated(model: type[M], values: dict[str, str], prefix: str, given: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = f"{prefix}{error['loc'][0]}".upper()
        value = given[variable]
        raise ConfigError(
            value.name, plain(error["msg"]), value=value.text, where=value.where, secret=variable in SECRET_SETTINGS
        ) from None


def _check_webhooks(settings: Settings, env: EnvSource) -> None:
    """A webhook URL that cannot work, or a JSON webhook without its signing key: one line, at start-up."""
    for name in ("discord_webhook_url", "webhook_url"):
        url: SecretStr | None = getattr(settings, name)
        if url is not None and not url.get_secret_value().startswith(("https://", "http://")):
            given = env.get(name.upper())
            raise ConfigError(name.upper(), "must be an http(s):// address", where=given.where if given else "")
    secret = settings.webhook_secret
    if settings.webhook_url is not None and (secret is None or len(secret.get_secret_value()) < MIN_TOKEN_CHARS):
        given = env.get("WEBHOOK_SECRET")
        raise ConfigError(
            "WEBHOOK_SECRET",
            f"required with WEBHOOK_URL, at least {MIN_TOKEN_CHARS} random characters: every request is signed with it",
            where=given.where if given else "",
        )


def _check_listener(settings: Settings, env: EnvSource) -> None:
    """A listener beyond loopback shows every account to whoever reaches it: only with a token."""
    token = settings.metrics_token
    if token is not None and len(token.get_secret_value()) < MIN_TOKEN_CHARS:
        where = env.get("METRICS_TOKEN")
        raise ConfigError(
            "METRICS_TOKEN",
            f"is too short: use at least {MIN_TOKEN_CHARS} random characters (e.g. `openssl rand -hex 24`)",
            where=where.where if where else "",
        )
    if settings.metrics_port == 0 or is_loopback(settings.metrics_host) or token is not None:
        return
    host = env.get("METRICS_HOST")
    raise ConfigError(
        "METRICS_HOST",
        "is beyond loopback, so the status page, API and metrics would be open to the network: set METRICS_TOKEN "
        "(at least 16 random characters) or bind 127.0.0.1",
        value=settings.metrics_host,
        where=host.where if host else "",
    )


def _toml_path(settings: Settings, env: EnvSource, flag: Path | None) -> tuple[Path, str] | None:
    """riskmon.toml and the name the user gave it by: ``--config``, or RISKMON_CONFIG and where it was set."""
    if flag is not None:
        return flag, "--config"
    if settings.riskmon_config is not None:
        value = env.get("RISKMON_CONFIG")
        return settings.riskmon_config, f"{value.name} (in {value.where})" if value else "RISKMON_CONFIG"
    return None


def _refuse_single_account_settings(env: EnvSource, flag: str) -> None:
    """With riskmon.toml the .env account settings would be ignored: a limit that silently does not apply."""
    ignored = [v for name in ACCOUNT_SETTINGS if (v := env.get(name))]
    if ignored:
        names = ", ".join(f"{v.name} (in {v.where})" for v in ignored)
        raise ConfigError(
            names,
            f"set for the single .env account, but the accounts come from {flag}; "
            "move them into its [[accounts]] tables (e.g. [accounts.rules.daily_loss] size) or remove them",
        )


def _accounts_from_file(path: Path, flag: str) -> list[AccountConfig]:
    document = read_toml(path, flag)
    for table in document.get("accounts", []) if isinstance(document.get("accounts"), list) else []:
        if isinstance(table, dict):
            _move_platform_keys(table)
    try:
        tables = FileConfig.model_validate(document).accounts  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise toml_error(exc, path, FileConfig) from None
    if not tables:
        raise ConfigError(flag, f"{path} has no [[accounts]] tables")
    return [_account(table, index) for index, table in enumerate(tables)]


def _move_platform_keys(table: dict[str, Any]) -> None:
    """A platform's top-level keys (``replay_file``) into its own table (``[accounts.replay] file``)."""
    for name, plugin in PLATFORMS.items():
        for key, field in plugin.account_keys.items():
            if key in table:
                own = table.setdefault(name, {})
                if isinstance(own, dict):
                    own.setdefault(field, table.pop(key))


def _account(table: BaseModel, index: int) -> AccountConfig:
    """An account as validated, with its own platform's table; another platform's table is a mistake."""
    platform = str(getattr(table, "platform"))  # noqa: B009
    for name in PLATFORMS:
        if name != platform and getattr(table, name) is not None:
            raise ConfigError(
                f"accounts[{index}].{name}", f"is for {name} accounts; this account's platform is {platform}"
            )
    common = {field: getattr(table, field) for field in _AccountFields.model_fields}
    return AccountConfig(**common, venue=getattr(table, platform))


def _accounts_from_env(settings: Settings, env: EnvSource) -> list[AccountConfig]:
    given = [env.get(name) for name in ACCOUNT_SETTINGS]
    asked = [v for v in given if v is not None and not (v.name.upper() == "PLATFORM" and settings.platform == "sim")]
    if settings.account_id is None:
        if not asked:
            return list(SIM_ACCOUNTS)
        *first, last = [f"{v.name}={v.text} (in {v.where})" for v in asked]
        names, verb, them = (f"{', '.join(first)} and {last}", "are", "them") if first else (last, "is", "it")
        raise ConfigError(
            "ACCOUNT_ID",
            f"not set, but {names} {verb}: set ACCOUNT_ID and PLATFORM for your account, or remove {them} for the "
            "simulator",
        )
    preset = settings.preset or "basic"
    if preset not in PRESETS:
        value = env.get("PRESET")
        raise ConfigError(
            value.name if value else "PRESET",
            f"unknown preset{did_you_mean(preset, PRESETS)}; choose one of {', '.join(PRESETS)}",
            value=preset,
            where=value.where if value else "",
        )
    return [
        AccountConfig(
            id=settings.account_id,
            platform=settings.platform or "sim",
            preset=preset,
            initial_balance=settings.initial_balance,
            enforce=EnforceSpec(mode=settings.enforce_mode or (Mode.DRY_RUN if settings.dry_run else Mode.OFF)),
        )
    ]


def _secret_variables(accounts: list[AccountConfig]) -> set[str]:
    """The variables the accounts name for their secrets (riskmon.toml's ``password_env``)."""
    return {name for a in accounts for name in PLATFORMS[a.platform].secret_variables(a)}


def _named_secrets(env: EnvSource, accounts: list[AccountConfig]) -> dict[str, SecretStr]:
    return {name: SecretStr(value.text) for name in _secret_variables(accounts) if (value := env.get(name)) is not None}


def _check_names(accounts: list[AccountConfig]) -> None:
    """Ids and labels name one account each, so `riskmon flatten NAME` can never pick the wrong one."""
    owner: dict[str, str] = {}
    for index, account in enumerate(accounts):
        for name in dict.fromkeys(n for n in (account.id, account.label) if n):
            if name in owner:
                raise ConfigError(
                    f"accounts[{index}]",
                    f"{name!r} already names account {owner[name]} (ids and labels are unique)",
                )
            owner[name] = account.id


def _check_enforcement(policy: Policy, profile: AccountProfile, key: str) -> None:
    if policy.deleverage and not leverage.PLUGIN.of(profile.rulebook).enabled:
        raise ConfigError(f"{key}.enforce.deleverage", "needs rules.leverage.enabled = true (it acts on its figure)")
    if policy.deleverage and policy.target_leverage >= policy.emergency_leverage:
        raise ConfigError(
            f"{key}.enforce.deleverage",
            f"target leverage {policy.target_leverage} must be below the emergency level {policy.emergency_leverage}",
        )


def _check_credentials(settings: Settings, account: AccountConfig, key: str | None) -> None:
    """The account's platform checks its credentials; it names the .env account's variables, and a
    riskmon.toml account (``key``: ``accounts[0]``) is told its own keys instead (``accounts[0].id``)."""
    plugin = PLATFORMS[account.platform]
    try:
        plugin.check(settings, account)
    except ConfigError as exc:
        own = {"ACCOUNT_ID": "id"} | {plugin.env_name(field): name for name, field in plugin.account_keys.items()}
        if key is None or exc.setting not in own:
            raise
        raise ConfigError(f"{key}.{own[exc.setting]}", exc.problem) from None
