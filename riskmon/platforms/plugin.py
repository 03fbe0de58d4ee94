"""What a platform plug-in is: everything riskmon knows about one venue, in one object.

A platform is a folder ``riskmon/platforms/<name>/`` (with its own README.md) whose plug-in object says:

- ``settings``: its .env settings, a pydantic model whose field ``f`` is read from ``<ENV_PREFIX><F>``
  (``CTRADER_HOST`` is ``host`` of cTrader's model), with the same checks and messages as riskmon's own;
- ``account_table``: the keys of its ``[accounts.<name>]`` table in riskmon.toml (one account's options);
- ``check``: the credential checks run at start-up (one ``ConfigError`` line for what is missing);
- ``build``: its feeds and traders for the configured accounts (imports its heavy parts only then);
- ``secret_variables``: extra variables an account names for its secrets (MT5's ``password_env``).

``riskmon.platforms.registry`` lists the plug-ins; the configuration composes their settings and never
names a venue's field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar, cast, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr

if TYPE_CHECKING:
    from riskmon.config import AccountConfig, AppConfig, Settings
    from riskmon.platforms.base import Platform


def _web_address(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an address starting with https:// (or http://), e.g. https://host/path")
    return value


WebAddress = Annotated[str, AfterValidator(_web_address)]
"""A venue's REST or hub address: checked at start-up, so a typo is one line naming the setting."""


class NoOptions(BaseModel):
    """A platform without an ``[accounts.<name>]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)


S = TypeVar("S", bound=BaseModel)
O = TypeVar("O", bound=BaseModel)  # noqa: E741


def _no_check(settings: Settings, account: AccountConfig) -> None:
    return None


def _no_secrets(account: AccountConfig) -> Iterable[str]:
    return ()


@dataclass(frozen=True)
class PlatformPlugin(Generic[S, O]):
    name: str  # the PLATFORM value and the riskmon.toml ``platform``
    env_prefix: str  # "CTRADER_": the .env name of settings field ``host`` is CTRADER_HOST
    settings: type[S]
    build: Callable[[AppConfig, list[AccountConfig]], list[Platform]]
    account_table: type[O] = NoOptions  # type: ignore[assignment]
    check: Callable[[Settings, AccountConfig], None] = _no_check
    secret_variables: Callable[[AccountConfig], Iterable[str]] = _no_secrets
    account_settings: tuple[str, ...] = ()  # its settings that describe the .env account (REPLAY_FILE)
    account_keys: Mapping[str, str] = field(default_factory=dict)  # top-level [[accounts]] key -> table key

    def env_name(self, field_name: str) -> str:
        return f"{self.env_prefix}{field_name.upper()}"

    @property
    def env_names(self) -> dict[str, str]:
        """Every .env name of its settings -> the settings field."""
        return {self.env_name(name): name for name in self.settings.model_fields}

    @property
    def secret_fields(self) -> frozenset[str]:
        return frozenset(name for name, f in self.settings.model_fields.items() if _is_secret(f.annotation))

    def of(self, settings: Settings) -> S:
        """This platform's settings (its defaults when none of its variables is set)."""
        return cast(S, settings.venue(self.name))

    def options(self, account: AccountConfig) -> O:
        """The account's ``[accounts.<name>]`` table (its defaults when the table is absent)."""
        return cast(O, account.venue) if account.venue is not None else self.account_table()

    def accounts(self, config: AppConfig) -> list[AccountConfig]:
        return [a for a in config.accounts if a.platform == self.name]


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)
