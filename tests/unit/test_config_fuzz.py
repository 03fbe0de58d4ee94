"""Configuration against hostile input, by fuzzing (issue 15): whatever a `.env` or a riskmon.toml holds,
loading it gives a valid configuration or one ConfigError line, never a traceback."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskmon.config import SETTING_NAMES, AppConfig, load_config
from riskmon.errors import ConfigError
from riskmon.rules.presets import PRESETS
from riskmon.service import build_platforms

CREDENTIALS = {
    "CTRADER_CLIENT_ID": "client",
    "CTRADER_CLIENT_SECRET": "secret-value",
    "CTRADER_ACCESS_TOKEN": "access-token",
    "MT5_PASSWORD": "mt5-password",
    "MT5_SERVER": "Broker-Demo",
}

numbers_text = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity", "1e300", "-0", "0", "1", "5", "0.5", "100", "1e-300"]),
    st.floats().map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)
words = st.sampled_from(
    ["ctrader", "mt5", "sim", "replay", "stream", "poll", "json", "plain", "DEBUG", "true", "no", "ftmo-2step",
     "basic", "dry_run", "live", "off", "22:00-07:00", "Europe/Prague", "17:00+00:00", "[phase 1]", "a,b", ""]
)  # fmt: skip
values = st.one_of(numbers_text, words, st.text(max_size=30).filter(lambda t: "\n" not in t and "\r" not in t))
names = st.one_of(st.sampled_from(sorted(SETTING_NAMES)), st.text(min_size=1, max_size=12))


def env_line(name: str, value: str, form: int) -> str:
    forms = [f"{name}={value}", f'{name}="{value}"', f"export {name}={value}", f"{name} = {value}  # note", name]
    return forms[form]


env_lines = st.tuples(names, values, st.integers(0, 4)).map(lambda t: env_line(*t))
env_files = st.lists(st.one_of(env_lines, st.text(max_size=40)), max_size=8).map("\n".join)


def judge(load: Any) -> AppConfig | None:
    """The one contract: a configuration that answers, or one ConfigError line."""
    try:
        config: AppConfig = load()
    except ConfigError as exc:
        text = str(exc)
        assert text.startswith("configuration error: ") and "\n" not in text and "\r" not in text, text
        return None
    for profile in config.profiles:  # what `run` does next with it must not raise either
        assert "\n" not in config.limits(profile.account)
    config.enforcement()
    build_platforms(config)  # the timers and feeds built from the settings (STALE_AFTER=inf broke here)
    return config


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env_files)
def test_fuzz_env_files_load_or_are_one_config_line(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = Path(folder) / ".env"
        env.write_text(text, encoding="utf-8", errors="surrogatepass")
        environ = {**CREDENTIALS, "RISKMON_DB": str(Path(folder) / "riskmon.db")}
        judge(lambda: load_config(env, environ=environ))


# ---- riskmon.toml -----------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return basic_string(value)


def basic_string(text: str) -> str:
    """A TOML basic string: JSON's escapes, and DEL escaped too (TOML refuses it raw)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_document(accounts: list[dict[str, Any]]) -> str:
    """[[accounts]] tables with dotted keys for nested tables (TOML's own, so any nesting stays one table)."""
    lines: list[str] = []

    def emit(prefix: str, table: dict[str, Any]) -> None:
        for key, value in table.items():
            dotted = f"{prefix}{basic_string(key)}"
            if isinstance(value, dict):
                emit(dotted + ".", value)
            else:
                lines.append(f"{dotted} = {toml_value(value)}")

    for account in accounts:
        lines.append("[[accounts]]")
        emit("", account)
    return "\n".join(lines) + "\n"


scalars = st.one_of(
    st.floats(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    numbers_text,
    words,
    st.text(max_size=12),
)
rule_names = st.sampled_from(
    ["daily_loss", "max_loss", "position_size", "margin_level", "leverage", "max_positions", "max_lots",
     "profit_target", "min_trading_days", "calendar", "nonsense"]
)  # fmt: skip
rule_keys = st.sampled_from(
    ["enabled", "size", "warn_at", "mode", "basis", "trail", "size_basis", "lock", "max_percent", "warning_below",
     "critical_below", "warning", "emergency", "timezone", "day_reset", "reset", "max", "days", "extra"]
)  # fmt: skip
rules = st.dictionaries(rule_names, st.dictionaries(rule_keys, scalars, max_size=4), max_size=3)
enforce = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["off", "dry_run", "live", "on"]) | scalars,
        "flatten": st.dictionaries(st.sampled_from(["at_used", "room_below", "extra"]), scalars, max_size=2),
        "deleverage": st.dictionaries(st.sampled_from(["enabled", "lot_step"]), scalars, max_size=2),
    },
)
accounts = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=8), st.integers(0, 10**9).map(str), st.integers(0, 10**9)),
     "platform": st.sampled_from(["ctrader", "mt5", "sim", "replay", "ninjatrader"])},
    optional={"label": st.text(max_size=12), "preset": st.sampled_from([*PRESETS, "ftmo"]) | st.text(max_size=5),
              "initial_balance": scalars, "rules": rules, "enforce": enforce, "replay_file": st.text(max_size=8),
              "mt5": st.dictionaries(st.sampled_from(["server", "path", "password_env", "bridge_port"]), scalars,
                                     max_size=2),
              "unknown_key": scalars},
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(accounts, max_size=3))
def test_fuzz_toml_documents_load_or_are_one_config_line(documents: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "riskmon.toml"
        path.write_text(toml_document(documents), encoding="utf-8")
        environ = {**CREDENTIALS, "RISKMON_DB": str(Path(folder) / "riskmon.db")}
        judge(lambda: load_config(None, path, environ=environ))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_fuzz_arbitrary_toml_text_is_one_config_line(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "riskmon.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        judge(lambda: load_config(None, path, environ=dict(CREDENTIALS)))


def test_the_generated_toml_is_what_it_says() -> None:
    """The fuzzer's own writer: a document it writes reads back as the tables it was given."""
    import tomllib

    document = [{"id": 'a"b\x7f😀', "platform": "sim", "rules": {"daily_loss": {"size": float("inf")}}}]
    parsed = tomllib.loads(toml_document(document))
    assert parsed["accounts"][0]["id"] == 'a"b\x7f😀'
    assert math.isinf(parsed["accounts"][0]["rules"]["daily_loss"]["size"])
