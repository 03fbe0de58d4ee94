"""Each account's rulebook: its preset, then the overrides (a variable or riskmon.toml), with the source of
every effective figure recorded once, as data, for `riskmon config` and the start-up log to print."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from riskmon.config_sources import EnvSource, plain, toml_error
from riskmon.errors import ConfigError
from riskmon.profile import AccountProfile
from riskmon.rules import daily_loss
from riskmon.rules.daily_loss import DailySize
from riskmon.rules.position_size import POSITION_SIZE
from riskmon.rules.presets import PRESETS, Preset
from riskmon.rules.registry import Rulebook

if TYPE_CHECKING:
    from riskmon.config import AccountConfig, Settings


@dataclass(frozen=True)
class Source:
    """Where one effective figure came from."""

    kind: Literal["preset", "variable", "file", "default", "snapshot", "simulator"]
    name: str = ""  # the preset, the variable as written, or the riskmon.toml key
    where: str = ""  # the variable's .env file or "environment"; the riskmon.toml path

    def __str__(self) -> str:
        if self.kind == "preset":
            return f"preset {self.name}"
        if self.kind in ("variable", "file"):
            return f"{self.name} in {self.where}"
        return {"default": "default", "snapshot": "first snapshot", "simulator": "simulator demo account"}[self.kind]


Sources = Mapping[str, Source]  # dotted rulebook field (and "initial_balance") -> its source


Override = tuple[str, Any, Source]  # dotted rulebook field, value, where it came from


def _variable(env: EnvSource, name: str) -> Source:
    value = env.get(name)
    return Source("variable", value.name, value.where) if value else Source("variable", name, "environment")


def _env_overrides(settings: Settings, env: EnvSource, preset: Preset) -> list[Override]:
    """MAX_DAILY_LOSS_PERCENT / MAX_POSITION_SIZE_PERCENT, when set, in the preset's own units."""
    overrides: list[Override] = []
    if settings.max_daily_loss_percent is not None:
        source = _variable(env, "MAX_DAILY_LOSS_PERCENT")
        daily = daily_loss.PLUGIN.of(preset.rulebook())
        if daily.size_basis is DailySize.FIXED:
            raise ConfigError(
                source.name,
                f"preset {preset.name}'s daily loss is a fixed amount ({daily.size}), not a percent: remove "
                "the variable, or set the amount in riskmon.toml ([accounts.rules.daily_loss] size)",
                value=str(settings.max_daily_loss_percent),
                where=source.where,
            )
        overrides.append((f"{daily_loss.DAILY_LOSS}.size", settings.max_daily_loss_percent, source))
    if settings.max_position_size_percent is not None:
        source = _variable(env, "MAX_POSITION_SIZE_PERCENT")
        overrides += [
            (f"{POSITION_SIZE}.enabled", True, source),
            (f"{POSITION_SIZE}.max_percent", settings.max_position_size_percent, source),
        ]
    return overrides


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        found += _leaves(value, f"{path}.") if isinstance(value, Mapping) else [(path, value)]
    return found


def _nest(overrides: list[Override]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, value, _ in overrides:
        *parents, last = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return tree


def account_profile(
    account: AccountConfig, index: int, settings: Settings, env: EnvSource, toml: tuple[Path, str] | None
) -> tuple[AccountProfile, dict[str, Source], list[str]]:
    """The account's profile, the source of each of its figures, and a line per variable overriding the preset."""
    preset = PRESETS[account.preset]
    key = f"accounts[{index}]"
    if toml is not None:
        overrides = [(p, v, Source("file", f"{key}.rules.{p}", str(toml[0]))) for p, v in _leaves(account.rules)]
    else:  # the .env account (no rules of its own) or a simulator demo account (rules built in)
        overrides = [(p, v, Source("simulator")) for p, v in _leaves(account.rules)]
        overrides += _env_overrides(settings, env, preset)
    try:
        rulebook = preset.rulebook(_nest(overrides))
    except ValidationError as exc:
        if toml is not None:
            raise toml_error(exc, toml[0], Rulebook, f"{key}.rules") from None
        variables = ", ".join(dict.fromkeys(s.name for _, _, s in overrides if s.kind == "variable"))
        raise ConfigError(variables or "PRESET", plain(exc.errors()[0]["msg"])) from None
    sources = {path: Source("preset", preset.name) for path, _ in _leaves(preset.rules)}
    sources |= {path: source for path, _, source in overrides}
    for path, _ in _leaves(rulebook.model_dump()):
        sources.setdefault(path, Source("default"))
    initial, sources["initial_balance"] = _initial_balance(account, preset, env, key, toml)
    if rulebook.needs_initial_balance and initial is None:
        setting = f"{key}.initial_balance" if toml else "INITIAL_BALANCE"
        raise ConfigError(setting, f"required by preset {account.preset} (its limits are % of the initial balance)")
    notices = _override_notices(preset, overrides) if toml is None else []
    announced = sources["initial_balance"]
    if announced.kind == "variable" and preset.initial_balance not in (None, initial):
        notices.append(
            f"{announced.name} (in {announced.where}) overrides preset {preset.name}: "
            f"initial_balance {preset.initial_balance} -> {initial}"
        )
    profile = AccountProfile(
        account=account.id, rulebook=rulebook, label=account.label, platform=account.platform, initial_balance=initial
    )
    return profile, sources, notices


def _initial_balance(
    account: AccountConfig, preset: Preset, env: EnvSource, key: str, toml: tuple[Path, str] | None
) -> tuple[Decimal | None, Source]:
    if account.initial_balance is not None:
        if toml is not None:
            return account.initial_balance, Source("file", f"{key}.initial_balance", str(toml[0]))
        variable = env.get("INITIAL_BALANCE")
        where = Source("variable", variable.name, variable.where) if variable else Source("simulator")
        return account.initial_balance, where
    if preset.initial_balance is not None:
        return preset.initial_balance, Source("preset", preset.name)
    return None, Source("snapshot")


def _override_notices(preset: Preset, overrides: list[Override]) -> list[str]:
    """One line per variable that changes a figure the preset sets."""
    before = dict(_leaves(preset.rulebook().model_dump()))
    changes: dict[Source, list[str]] = {}
    for path, value, source in overrides:
        if source.kind == "variable" and before.get(path) != value:
            changes.setdefault(source, []).append(f"{path} {before.get(path)} -> {value}")
    return [
        f"{source.name} (in {source.where}) overrides preset {preset.name}: {', '.join(items)}"
        for source, items in changes.items()
    ]
