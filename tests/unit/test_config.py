"""Configuration: the reference monitor's .env works unchanged; bad settings stop with one clear line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmon.cli import app
from riskmon.config import load_config
from riskmon.errors import ConfigError, ExitCode

REFERENCE_ENV = """\
PLATFORM=ctrader
ACCOUNT_ID=12345678
TELEGRAM_BOT_TOKEN=123456:ABC-secret-bot-token
TELEGRAM_CHAT_ID=987654
MAX_DAILY_LOSS_PERCENT=4.5
MAX_POSITION_SIZE_PERCENT=12
CTRADER_CLIENT_ID=client-id
CTRADER_CLIENT_SECRET=client-secret-value
CTRADER_ACCESS_TOKEN=access-token-value
MT5_PASSWORD=
MT5_SERVER=
MT5_PATH=
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Settings come only from the files each test writes; state (and token files) only in tmp_path."""
    for name in list(os.environ):
        if name.startswith(("PLATFORM", "ACCOUNT_", "MAX_", "TELEGRAM_", "CTRADER_", "MT5_", "RISKMON_", "PRESET")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RISKMON_DB", str(tmp_path / "state" / "riskmon.db"))
    yield


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reference_monitor_env_works_unchanged(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ".env", REFERENCE_ENV))
    (profile,) = config.profiles
    assert profile.account == "12345678"
    assert profile.platform == "ctrader"
    assert profile.rulebook.daily_loss.size == Decimal("4.5")
    assert profile.rulebook.position_size.max_percent == Decimal(12)
    assert config.settings.telegram_chat_ids == ["987654"]
    assert config.settings.telegram_bot_token is not None
    assert "ABC-secret-bot-token" not in repr(config.settings)
    assert config.settings.mt5_password is None  # empty lines in the reference .env mean "not set"


def test_nothing_configured_runs_the_simulator(tmp_path: Path) -> None:
    config = load_config(tmp_path / "missing.env")
    assert {a.platform for a in config.accounts} == {"sim"}
    assert len(config.profiles) >= 1


@pytest.mark.parametrize(
    ("line", "setting"),
    [
        ("MAX_DAILY_LOSS_PERCENT=-1", "MAX_DAILY_LOSS_PERCENT"),
        ("MAX_DAILY_LOSS_PERCENT=101", "MAX_DAILY_LOSS_PERCENT"),
        ("MAX_POSITION_SIZE_PERCENT=0", "MAX_POSITION_SIZE_PERCENT"),
        ("PLATFORM=ninjatrader", "PLATFORM"),
        ("CTRADER_PORT=notaport", "CTRADER_PORT"),
    ],
)
def test_bad_env_line_names_the_setting(tmp_path: Path, line: str, setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, ".env", REFERENCE_ENV + line + "\n"))
    assert caught.value.setting == setting
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("missing", "setting"),
    [
        ("CTRADER_ACCESS_TOKEN", "CTRADER_ACCESS_TOKEN"),
        ("CTRADER_CLIENT_SECRET", "CTRADER_CLIENT_SECRET"),
        ("ACCOUNT_ID", "ACCOUNT_ID"),
    ],
)
def test_missing_credentials_for_the_platform(tmp_path: Path, missing: str, setting: str) -> None:
    env = "\n".join(line for line in REFERENCE_ENV.splitlines() if not line.startswith(missing))
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, ".env", env))
    assert caught.value.setting == setting


def test_mt5_needs_password_and_server(tmp_path: Path) -> None:
    env = "PLATFORM=mt5\nACCOUNT_ID=5550001\nMT5_SERVER=Broker-Demo\n"
    with pytest.raises(ConfigError, match="MT5_PASSWORD"):
        load_config(write(tmp_path, ".env", env))
    assert load_config(write(tmp_path, "ok.env", env + "MT5_PASSWORD=pw123456\n")).profiles[0].account == "5550001"


def test_many_accounts_from_toml_with_preset_overrides(tmp_path: Path) -> None:
    toml = write(
        tmp_path,
        "riskmon.toml",
        """
[[accounts]]
id = 5550001
platform = "replay"
replay_file = "a.jsonl"
label = "FTMO 100k"
preset = "ftmo-2step"
initial_balance = 100000
[accounts.rules.daily_loss]
size = 4

[[accounts]]
id = "acc-2"
platform = "replay"
replay_file = "b.jsonl"
""",
    )
    config = load_config(tmp_path / "none.env", toml)
    ftmo, basic = config.profiles
    assert ftmo.account == "5550001" and ftmo.label == "FTMO 100k"
    assert ftmo.rulebook.daily_loss.size == Decimal(4)
    assert ftmo.rulebook.daily_loss.size_basis == "initial_pct"  # the rest of the preset is kept
    assert ftmo.rulebook.timezone == "Europe/Prague"
    assert basic.rulebook.daily_loss.size == Decimal(5)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('[[accounts]]\nid = "a"\nplatform = "replay"\nreplay_file = "x"\npreset = "nope"\n', "unknown preset"),
        (
            '[[accounts]]\nid = "a"\nplatform = "replay"\nreplay_file = "x"\n[accounts.rules.daily_loss]\nsize = -5\n',
            "size",
        ),
        ('[[accounts]]\nid = "a"\nplatform = "replay"\nreplay_file = "x"\npreset = "ftmo-2step"\n', "initial_balance"),
        (
            '[[accounts]]\nid = "a"\nplatform = "replay"\nreplay_file = "x"\nrules = { timezone = "Mars/Base" }\n',
            "Mars/Base",
        ),
        ('[[accounts]]\nid = "a"\nplatform = "replay"\nreplay_file = "x"\ncolour = "red"\n', "colour"),
        ("[[accounts]\n", "not valid TOML"),
    ],
)
def test_bad_toml_is_one_clear_line(tmp_path: Path, body: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "none.env", write(tmp_path, "riskmon.toml", body))
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.env", tmp_path / "absent.toml")


def test_cli_reports_config_errors_without_traceback(tmp_path: Path) -> None:
    env = write(tmp_path, ".env", "MAX_DAILY_LOSS_PERCENT=150\n")
    result = CliRunner().invoke(app, ["config", "--env-file", str(env)])
    assert result.exit_code == ExitCode.CONFIG
    assert "MAX_DAILY_LOSS_PERCENT" in result.output
    assert "Traceback" not in result.output


def test_config_command_masks_secrets(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "--env-file", str(write(tmp_path, ".env", REFERENCE_ENV))])
    assert result.exit_code == 0, result.output
    for secret in ("ABC-secret-bot-token", "client-secret-value", "access-token-value"):
        assert secret not in result.output
    assert "12345678" in result.output
