"""Configuration: the reference monitor's .env works unchanged; bad settings stop with one clear line."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel, SecretStr
from typer.testing import CliRunner

from riskmon.cli import app
from riskmon.config import SETTING_NAMES, Settings, load_config
from riskmon.config_rules import Source
from riskmon.errors import ConfigError, ExitCode
from riskmon.platforms.ctrader.plugin import token_path
from riskmon.platforms.ctrader.tokens import Tokens, TokenStore
from riskmon.platforms.mt5.plugin import MT5, mt5_password
from riskmon.platforms.registry import PLATFORMS
from riskmon.rules.presets import PRESETS
from riskmon.service import build_platforms
from riskmon.units import MAX_SECONDS

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
    assert MT5.of(config.settings).password is None  # empty lines in the reference .env mean "not set"


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


# --- issue 12: the newcomer's .env, provenance, no silent fallback -------------------------------------

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def from_example(tmp_path: Path, **settings: str) -> Path:
    """`cp .env.example .env`, then fill in the given lines the way a user edits the file."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for name, value in settings.items():
        index = next((i for i, line in enumerate(lines) if line.startswith(f"{name}=")), None)
        if index is None:
            lines.append(f"{name}={value}")
        else:
            lines[index] = f"{name}={value}"
    return write(tmp_path, ".env", "\n".join(lines) + "\n")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_env_example_keeps_every_preset_exactly(tmp_path: Path, preset: str) -> None:
    initial = str(PRESETS[preset].initial_balance or 100000)  # topstep-50k: its own 50000, as published
    env = from_example(tmp_path, PLATFORM="sim", ACCOUNT_ID="acc-1", PRESET=preset, INITIAL_BALANCE=initial)
    config = load_config(env)
    (profile,) = config.profiles
    assert profile.rulebook == PRESETS[preset].rulebook()
    assert config.notices == ()  # nothing overrides the preset
    assert config.warnings == ()  # .env.example holds only known settings
    assert config.sources["acc-1"]["daily_loss.size"] == Source("preset", preset)


def test_env_example_copied_unchanged_runs_the_simulator_and_says_so(tmp_path: Path) -> None:
    config = load_config(from_example(tmp_path))
    assert config.simulated and {a.platform for a in config.accounts} == {"sim"}
    assert config.notices[0].startswith("SIMULATOR: nothing is configured")


def test_env_example_follows_dockers_env_file_rules() -> None:
    """`docker run --env-file` takes each line as NAME=VALUE verbatim: no inline comments, no quotes."""
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"line {number}: {line!r}"
        assert "#" not in value and '"' not in value and "'" not in value, f"line {number}: {line!r}"
        assert value == value.strip(), f"line {number}: {line!r}"
        assert name in SETTING_NAMES, f"line {number}: unknown setting {name}"


def test_a_variable_overriding_a_preset_is_announced_with_its_source(tmp_path: Path) -> None:
    env = write(tmp_path, ".env", "PLATFORM=sim\nACCOUNT_ID=a\nPRESET=ftmo-1step\nINITIAL_BALANCE=100000\n")
    with_override = write(tmp_path, "o.env", env.read_text() + "MAX_DAILY_LOSS_PERCENT=2.5\n")
    config = load_config(with_override)
    assert config.profiles[0].rulebook.daily_loss.size == Decimal("2.5")
    assert config.sources["a"]["daily_loss.size"] == Source("variable", "MAX_DAILY_LOSS_PERCENT", str(with_override))
    assert config.sources["a"]["max_loss.size"] == Source("preset", "ftmo-1step")
    assert config.sources["a"]["initial_balance"] == Source("variable", "INITIAL_BALANCE", str(with_override))
    assert config.sources["a"]["margin_level.warning_below"] == Source("default")
    (notice,) = config.notices
    assert notice == (
        f"MAX_DAILY_LOSS_PERCENT (in {with_override}) overrides preset ftmo-1step: daily_loss.size 3 -> 2.5"
    )
    assert config.limits("a") == (
        "a [sim, preset ftmo-1step]: "
        f"daily loss 2.5 % of the initial balance [MAX_DAILY_LOSS_PERCENT in {with_override}]; "
        "overall loss trailing 10 % of the initial balance below the highest end-of-day balance [preset ftmo-1step]; "
        f"initial balance 100000 [INITIAL_BALANCE in {with_override}]; "
        "also checked: margin level, profit target, consistency (riskmon config says each)"
    )


def test_initial_balance_overriding_a_presets_own_is_announced(tmp_path: Path) -> None:
    """topstep-50k publishes its 50,000 (its trailing floor locks there): another INITIAL_BALANCE is said aloud."""
    env = write(tmp_path, ".env", "PLATFORM=sim\nACCOUNT_ID=a\nPRESET=topstep-50k\nINITIAL_BALANCE=100000\n")
    config = load_config(env)
    assert config.profiles[0].initial_balance == Decimal(100000)
    assert config.sources["a"]["initial_balance"] == Source("variable", "INITIAL_BALANCE", str(env))
    assert config.notices == (
        f"INITIAL_BALANCE (in {env}) overrides preset topstep-50k: initial_balance 50000 -> 100000",
    )
    same = write(tmp_path, "same.env", "PLATFORM=sim\nACCOUNT_ID=a\nPRESET=topstep-50k\nINITIAL_BALANCE=50000.00\n")
    assert load_config(same).notices == ()


@pytest.mark.parametrize(
    ("preset", "words"),
    [
        ("the5ers-highstakes", "daily loss 5 % of the higher of balance and equity at the day's reset [preset"),
        (
            "e8-one",
            "trailing 6 % of the initial balance below the highest balance, stops rising at the initial balance",
        ),
        ("topstep-50k", "trailing 2000 (money) below the highest end-of-day balance, stops rising at the initial"),
    ],
)
def test_the_start_up_line_says_each_limit_in_a_traders_words(tmp_path: Path, preset: str, words: str) -> None:
    """What the floor is measured from and trails, never an internal name such as max_balance_equity."""
    env = write(tmp_path, ".env", f"PLATFORM=sim\nACCOUNT_ID=a\nPRESET={preset}\nINITIAL_BALANCE=50000\n")
    line = load_config(env).limits("a")
    assert words in line and not re.search(r"\b[a-z]+_[a-z_]+\b", line.replace(str(env), "")), line


def test_a_percent_never_becomes_money(tmp_path: Path) -> None:
    env = write(tmp_path, ".env", "PLATFORM=sim\nACCOUNT_ID=a\nPRESET=topstep-50k\nMAX_DAILY_LOSS_PERCENT=2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert caught.value.setting == "MAX_DAILY_LOSS_PERCENT"
    assert "fixed amount (1000), not a percent" in str(caught.value)
    assert f"=2' (in {env})" in str(caught.value) or f"='2' (in {env})" in str(caught.value)


def test_config_command_shows_where_each_figure_came_from(tmp_path: Path) -> None:
    env = write(tmp_path, ".env", "PLATFORM=sim\nACCOUNT_ID=a\nPRESET=topstep-50k\nMAX_POSITION_SIZE_PERCENT=7\n")
    result = CliRunner().invoke(app, ["config", "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    (account,) = json.loads(result.stdout)["accounts"]
    sources = account["sources"]
    assert sources["daily_loss.size"] == "preset topstep-50k"
    assert sources["position_size.max_percent"] == f"MAX_POSITION_SIZE_PERCENT in {env}"
    assert sources["initial_balance"] == "preset topstep-50k"
    assert sources["leverage.warning"] == "default"
    assert set(sources) >= {f"daily_loss.{field}" for field in account["rules"]["daily_loss"]}
    # The newer rules' figures carry their source the same way, and every rule says what it does in words.
    assert sources["flat_by.at"] == "preset topstep-50k" and sources["weekly_loss.size"] == "default"
    words = account["rules_in_words"]
    assert "15:10" in words["flat_by"] and "7% of equity" in words["position_size"]
    assert "weekly_loss" not in words  # off


def test_a_new_rule_set_in_riskmon_toml_names_its_key_as_the_source(tmp_path: Path) -> None:
    table = "[accounts.rules.weekly_loss]\nenabled = true\nsize = 750\n"
    toml = write(tmp_path, "riskmon.toml", '[[accounts]]\nid = "a"\nplatform = "sim"\n' + table)
    config = load_config(tmp_path / "none.env", toml)
    assert str(config.sources["a"]["weekly_loss.size"]) == f"accounts[0].rules.weekly_loss.size in {toml}"
    assert config.profile("a").rulebook.weekly_loss.size == Decimal(750)


# --- No silent fallback -----------------------------------------------------------------------------------


def test_an_explicit_env_file_must_exist_the_default_may_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["config", "--env-file", str(tmp_path / "typo.env")])
    assert result.exit_code == ExitCode.CONFIG
    assert result.stderr == f"riskmon: configuration error: --env-file='{tmp_path / 'typo.env'}': no such file\n"
    monkeypatch.chdir(tmp_path)  # no .env here: the simulator, as documented
    assert CliRunner().invoke(app, ["config"]).exit_code == 0


def test_a_missing_config_file_names_the_flag_or_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "none.env", tmp_path / "absent.toml")
    assert caught.value.setting == "--config"
    env = write(tmp_path, ".env", f"RISKMON_CONFIG={tmp_path / 'absent.toml'}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert caught.value.setting == f"RISKMON_CONFIG (in {env})"
    assert "absent.toml does not exist" in str(caught.value)


def test_unknown_settings_warn_with_a_suggestion_and_fail_under_strict(tmp_path: Path) -> None:
    env = write(tmp_path, ".env", "MAX_DAILY_LOSS_PERCNT=2\nTELEGRAM_CHAT_IDS=5\n")
    config = load_config(env, environ={"CTRADER_HOTS": "demo.ctraderapi.com", "HOME": "/home/x", "LANG": "C"})
    assert config.warnings == (
        f"unknown setting MAX_DAILY_LOSS_PERCNT in {env} (did you mean MAX_DAILY_LOSS_PERCENT?)",
        f"unknown setting TELEGRAM_CHAT_IDS in {env} (did you mean TELEGRAM_CHAT_ID?)",
        "unknown setting CTRADER_HOTS in the environment (did you mean CTRADER_HOST?)",
    )
    with pytest.raises(ConfigError, match="--strict: unknown setting MAX_DAILY_LOSS_PERCNT"):
        load_config(env, strict=True, environ={})
    result = CliRunner().invoke(app, ["config", "--strict", "--env-file", str(env)])
    assert result.exit_code == ExitCode.CONFIG and "did you mean MAX_DAILY_LOSS_PERCENT?" in result.stderr
    result = CliRunner().invoke(app, ["config", "--env-file", str(env)])
    assert result.exit_code == 0 and "did you mean MAX_DAILY_LOSS_PERCENT?" in result.stderr


@pytest.mark.parametrize("line", ["PRESET=ftmo-2step", "MAX_DAILY_LOSS_PERCENT=3", "INITIAL_BALANCE=100000"])
def test_account_settings_without_an_account_are_an_error_not_the_simulator(tmp_path: Path, line: str) -> None:
    result = CliRunner().invoke(app, ["config", "--env-file", str(write(tmp_path, ".env", line + "\n"))])
    assert result.exit_code == ExitCode.CONFIG
    assert "ACCOUNT_ID" in result.stderr and line in result.stderr and "simulator" in result.stderr


def test_a_misspelt_preset_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"PRESET='ftmo-2stp' .*did you mean ftmo-2step\?"):
        load_config(write(tmp_path, ".env", "PLATFORM=sim\nACCOUNT_ID=a\nPRESET=ftmo-2stp\n"))


def test_env_account_settings_beside_riskmon_toml_are_refused(tmp_path: Path) -> None:
    toml = write(tmp_path, "riskmon.toml", '[[accounts]]\nid = "a"\nplatform = "sim"\n')
    env = write(tmp_path, ".env", "MAX_DAILY_LOSS_PERCENT=2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env, toml)
    assert caught.value.setting == f"MAX_DAILY_LOSS_PERCENT (in {env})"
    assert "accounts come from --config" in str(caught.value)


# --- Docker, bad values, secrets -----------------------------------------------------------------------


def test_a_value_carrying_an_inline_comment_is_named_with_its_value(tmp_path: Path) -> None:
    """What `docker run --env-file` hands over for `PLATFORM=ctrader   # ctrader | mt5`."""
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "none.env", environ={"PLATFORM": "ctrader   # ctrader | mt5"})
    assert str(caught.value).startswith(
        "configuration error: PLATFORM='ctrader   # ctrader | mt5' (in environment): looks like it carries an inline"
    )


def test_a_bad_value_is_shown_and_a_secret_one_masked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "none.env", environ={"METRICS_PORT": "94650"})
    assert "METRICS_PORT='94650' (in environment): " in str(caught.value)
    config = load_config(
        write(tmp_path, ".env", REFERENCE_ENV), environ={"CTRADER_CLIENT_SECRET": "s3cr3t-value  # from the portal"}
    )
    (warning,) = config.warnings
    assert "CTRADER_CLIENT_SECRET (in environment) looks like it carries an inline comment" in warning
    assert "s3cr3t" not in warning


def test_missing_ctrader_settings_are_reported_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, ".env", "PLATFORM=ctrader\nACCOUNT_ID=1\n"))
    assert caught.value.setting == "CTRADER_CLIENT_ID, CTRADER_CLIENT_SECRET, CTRADER_ACCESS_TOKEN"
    assert "riskmon ctrader-login" in str(caught.value)


def test_the_ctrader_login_token_file_satisfies_the_credential_check(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    env = "PLATFORM=ctrader\nACCOUNT_ID=1\nCTRADER_CLIENT_ID=id\nCTRADER_CLIENT_SECRET=secret\n"
    env += f"CTRADER_TOKEN_FILE={tokens}\n"
    with pytest.raises(ConfigError, match="CTRADER_ACCESS_TOKEN"):
        load_config(write(tmp_path, ".env", env))
    TokenStore(tokens).save(Tokens(SecretStr("access"), SecretStr("refresh")))
    assert token_path(load_config(write(tmp_path, ".env", env)).settings) == tokens


def test_the_default_token_file_sits_beside_the_database(tmp_path: Path) -> None:
    """Where `riskmon ctrader-login` writes without CTRADER_TOKEN_FILE (RISKMON_DB is set by the fixture)."""
    env = write(tmp_path, ".env", "PLATFORM=ctrader\nACCOUNT_ID=1\nCTRADER_CLIENT_ID=id\nCTRADER_CLIENT_SECRET=s\n")
    TokenStore(tmp_path / "state" / "ctrader-tokens.json").save(Tokens(SecretStr("a"), SecretStr("r")))
    assert load_config(env).profiles[0].account == "1"


def test_password_env_is_read_from_the_env_file(tmp_path: Path) -> None:
    toml = write(
        tmp_path,
        "riskmon.toml",
        '[[accounts]]\nid = 5550001\nplatform = "mt5"\n'
        '[accounts.mt5]\nserver = "B"\npassword_env = "MT5_PASSWORD_E8"\n',
    )
    env = write(tmp_path, ".env", "MT5_PASSWORD_E8=pw-from-dotenv\n")
    config = load_config(env, toml)
    assert mt5_password(config.settings, config.accounts[0]).get_secret_value() == "pw-from-dotenv"
    assert config.warnings == ()  # a variable riskmon.toml names is not unknown
    assert "pw-from-dotenv" in config.settings.secret_values()  # so logs redact it
    result = CliRunner().invoke(app, ["config", "--config", str(toml), "--env-file", str(env)])
    assert result.exit_code == 0 and "pw-from-dotenv" not in result.output
    with pytest.raises(ConfigError, match="MT5_PASSWORD_E8: required for MT5 account 5550001"):
        load_config(write(tmp_path, "empty.env", ""), toml)


# --- Shares and percents -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ("[accounts.enforce.flatten]\nat_used = 90\n", "90 is not a share: a share is above 0 and at most 1"),
        ("[accounts.enforce.flatten]\nat_used = 90\n", "did you mean 0.9 for 90 %?"),
        ("[accounts.rules.daily_loss]\nwarn_at = 80\n", "did you mean 0.8 for 80 %?"),
        ("[accounts.rules.max_loss]\nwarn_at = 0\n", "0 is not a share"),
        ("[accounts.rules.daily_loss]\nsize = 500\n", "500 is not a percent"),
        ("[accounts.rules.daily_loss]\nsize = 500\n", "for money use size_basis = fixed"),
        ("[accounts.rules.consistency]\nenabled = true\nmax_share = 50\n", "did you mean 0.5 for 50 %?"),
        ('[accounts.rules.weekly_loss]\nenabled = true\nsize_basis = "anchor_pct"\nsize = 400\n', "not a percent"),
        ('[accounts.rules.flat_by]\nenabled = true\nat = "25:00"\n', "'25:00' is not a time of day"),
        ('[accounts.rules.flat_by]\nenabled = true\nresponse = "flatten_until"\n', "until (a time such as"),
        ("[accounts.rules.daily_profit]\nenabled = true\n", "set target, or lock_from with give_back"),
        ("[accounts.rules.size_limits]\nenabled = true\nper_order = 0\n", "per_order"),
    ],
)
def test_shares_and_percents_say_which_unit_they_expect(tmp_path: Path, table: str, needle: str) -> None:
    toml = write(tmp_path, "riskmon.toml", '[[accounts]]\nid = "a"\nplatform = "sim"\n' + table)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "none.env", toml)
    assert needle in str(caught.value)


@pytest.mark.parametrize(("at_used", "ok"), [("1", True), ("0.9", True), ("1.01", False), ("0.0001", True)])
def test_the_share_boundaries(tmp_path: Path, at_used: str, ok: bool) -> None:
    table = f"[accounts.enforce.flatten]\nat_used = {at_used}\n"
    toml = write(tmp_path, "riskmon.toml", '[[accounts]]\nid = "a"\nplatform = "sim"\n' + table)
    if ok:
        assert load_config(tmp_path / "none.env", toml).enforcement()["a"].flatten_at_used == Decimal(at_used)
    else:
        with pytest.raises(ConfigError, match="is not a share"):
            load_config(tmp_path / "none.env", toml)


def test_percent_boundaries(tmp_path: Path) -> None:
    base = "PLATFORM=sim\nACCOUNT_ID=a\n"
    assert load_config(write(tmp_path, "a.env", base + "MAX_DAILY_LOSS_PERCENT=100\n")).profiles[0].rulebook
    with pytest.raises(ConfigError, match=r"100\.5 is not a percent"):
        load_config(write(tmp_path, "b.env", base + "MAX_DAILY_LOSS_PERCENT=100.5\n"))


def test_an_unknown_toml_key_suggests_the_known_one(tmp_path: Path) -> None:
    toml = write(
        tmp_path, "riskmon.toml", '[[accounts]]\nid = "a"\nplatform = "sim"\n[accounts.rules.daily_loss]\nsise = 4\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "none.env", toml)
    assert caught.value.setting == "accounts[0].rules.daily_loss.sise"
    assert "(did you mean size?)" in str(caught.value)
    toml = write(tmp_path, "riskmon.toml", '[[accounts]]\nid = "a"\nplatform = "sim"\nlable = "x"\n')
    with pytest.raises(ConfigError, match=r"accounts\[0\]\.lable: unknown key .*did you mean label\?"):
        load_config(tmp_path / "none.env", toml)


# --- Encodings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("PLATFORM=sim\n".encode("utf-16"), "is UTF-16 text; save it as UTF-8"),
        ("PLATFORM=sim\n".encode("utf-16-le"), "is UTF-16 text; save it as UTF-8"),
        ("TELEGRAM_QUIET_TZ=UTC\nMT5_SERVER=Brokér\n".encode("latin-1"), "is not UTF-8 (byte 0xe9 on line 2"),
    ],
)
def test_a_file_in_another_encoding_is_one_clear_line(tmp_path: Path, data: bytes, needle: str) -> None:
    env = tmp_path / ".env"
    env.write_bytes(data)
    result = CliRunner().invoke(app, ["config", "--env-file", str(env)])
    assert result.exit_code == ExitCode.CONFIG
    assert needle in result.stderr and "Traceback" not in result.output
    toml = tmp_path / "riskmon.toml"
    toml.write_bytes(data)
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        load_config(tmp_path / "none.env", toml)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"\xef\xbb\xbfPLATFORM=sim\nACCOUNT_ID=a\n")
    assert load_config(env).profiles[0].account == "a"
    toml = tmp_path / "riskmon.toml"
    toml.write_bytes(b'\xef\xbb\xbf[[accounts]]\nid = "b"\nplatform = "sim"\n')
    assert load_config(tmp_path / "none.env", toml).profiles[0].account == "b"


# --- Accounts by name --------------------------------------------------------------------------------------

TWO = '[[accounts]]\nid = "a1"\nplatform = "sim"\nlabel = "FTMO"\n[[accounts]]\nid = "a2"\nplatform = "sim"\n'


def test_flatten_of_an_unknown_account_lists_the_configured_ones(tmp_path: Path) -> None:
    config = load_config(tmp_path / "none.env", write(tmp_path, "riskmon.toml", TWO))
    with pytest.raises(ConfigError, match=r"no configured account 'nope'; configured: a1 \(FTMO\), a2$"):
        config.profile("nope")
    assert config.profile("FTMO").account == config.profile("a1").account == "a1"


@pytest.mark.parametrize(
    "extra",
    [
        '[[accounts]]\nid = "a3"\nplatform = "sim"\nlabel = "a2"\n',  # a label that is another account's id
        '[[accounts]]\nid = "a3"\nplatform = "sim"\nlabel = "FTMO"\n',  # a label twice
        '[[accounts]]\nid = "FTMO"\nplatform = "sim"\n',  # an id that is another account's label
    ],
)
def test_ids_and_labels_name_one_account_each(tmp_path: Path, extra: str) -> None:
    with pytest.raises(ConfigError, match=r"accounts\[2\]: '(a2|FTMO)' already names account"):
        load_config(tmp_path / "none.env", write(tmp_path, "riskmon.toml", TWO + extra))


def test_ctrader_login_needs_no_account_yet(tmp_path: Path) -> None:
    """It lists the accounts a newcomer then puts in ACCOUNT_ID: PLATFORM=ctrader alone must not stop it."""
    env = write(tmp_path, ".env", "PLATFORM=ctrader\nCTRADER_CLIENT_ID=id\nCTRADER_CLIENT_SECRET=s\n")
    result = CliRunner().invoke(app, ["ctrader-login", "--env-file", str(env)], input="")
    assert "Open this address, log in and approve riskmon" in result.stdout
    assert "configuration error" not in result.output


@pytest.mark.parametrize("line", ["MAX DAILY LOSS = 3", 'TELEGRAM_BOT_TOKEN="123:never-shown'])
def test_a_line_that_is_not_name_value_is_an_error_that_never_shows_it(tmp_path: Path, line: str) -> None:
    env = write(tmp_path, ".env", f"PLATFORM=sim\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert (
        str(caught.value) == f"configuration error: --env-file: line 2 of {env} is not NAME=VALUE (an unclosed quote?)"
    )


@pytest.mark.parametrize(
    ("extra", "setting", "problem"),
    [
        ("TELEGRAM_BOT_TOKEN=123:secret\n", "TELEGRAM_CHAT_ID", "required when TELEGRAM_BOT_TOKEN is set"),
        (
            "TELEGRAM_BOT_TOKEN=123:secret\nTELEGRAM_CHAT_ID=1\nTELEGRAM_QUIET_HOURS=late\n",
            "TELEGRAM_QUIET_HOURS",
            "'late'",
        ),
        (
            "TELEGRAM_BOT_TOKEN=123:secret\nTELEGRAM_CHAT_ID=1\nTELEGRAM_QUIET_HOURS=22:00-07:00\nTELEGRAM_QUIET_TZ=Mars\n",
            "TELEGRAM_QUIET_TZ",
            "'Mars'",
        ),
    ],
)
def test_config_and_check_refuse_the_telegram_settings_run_would_refuse(
    tmp_path: Path, extra: str, setting: str, problem: str
) -> None:
    """`riskmon config` said all was well and `run` then stopped: a check must see what run sees."""
    env = write(tmp_path, ".env", "PLATFORM=sim\nACCOUNT_ID=a\n" + extra)
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert caught.value.setting == setting and problem in str(caught.value)
    assert "secret" not in str(caught.value)
    result = CliRunner().invoke(app, ["config", "--env-file", str(env)])
    assert result.exit_code == ExitCode.CONFIG and result.stdout == ""


@pytest.mark.parametrize(
    ("given", "named"),
    [("", "CTRADER_CLIENT_ID, CTRADER_CLIENT_SECRET"), ("CTRADER_CLIENT_ID=app-id\n", "CTRADER_CLIENT_SECRET")],
)
def test_ctrader_login_names_exactly_the_missing_credentials(tmp_path: Path, given: str, named: str) -> None:
    env = write(tmp_path, ".env", given)
    result = CliRunner().invoke(app, ["ctrader-login", "--env-file", str(env)])
    assert result.exit_code == ExitCode.CONFIG
    assert result.stderr.splitlines() == [
        f"riskmon: configuration error: {named}: needed to log in (your Open API application's client id and secret)"
    ]


def test_config_prints_where_the_state_and_tokens_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README: `riskmon config` prints the database path, also when RISKMON_DB is left at its default."""
    monkeypatch.delenv("RISKMON_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the default, never the user's own
    env = write(tmp_path, ".env", "PLATFORM=sim\nACCOUNT_ID=a\n")
    result = CliRunner().invoke(app, ["config", "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)["settings"]
    assert settings["riskmon_db"] == str(tmp_path / "data" / "riskmon" / "riskmon.db")
    assert settings["ctrader"]["token_file"] == str(tmp_path / "data" / "riskmon" / "ctrader-tokens.json")
    assert not (tmp_path / "data").exists()  # printing the path creates nothing


@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_riskmon_db_on_a_folder_or_under_a_file_is_one_line_naming_it(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RISKMON_DB")  # the .env's own value is the one under test
    (tmp_path / "afile").write_text("")
    target = tmp_path if where == "folder" else tmp_path / "afile" / "riskmon.db"
    env = write(tmp_path, ".env", f"RISKMON_DB={target}\nMETRICS_PORT=0\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert caught.value.setting == "RISKMON_DB" and f"={str(target)!r} (in {env})" in str(caught.value)
    for command in (["config"], ["run", "--no-table"], ["audit"]):
        result = CliRunner().invoke(app, [*command, "--env-file", str(env)])
        assert result.exit_code == ExitCode.CONFIG, (command, result.output)
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("riskmon: configuration error: RISKMON_DB="), line


@pytest.mark.parametrize(
    ("platform", "source", "setting"),
    [
        ("ctrader", "env", "ACCOUNT_ID"),
        ("mt5", "env", "ACCOUNT_ID"),
        ("ctrader", "toml", "accounts[0].id"),
        ("mt5", "toml", "accounts[0].id"),
    ],
)
def test_an_account_id_that_is_not_a_number_is_refused_by_its_own_name(
    tmp_path: Path, platform: str, source: str, setting: str
) -> None:
    """cTrader ids (ctidTraderAccountId or trader login) are numbers like MT5 logins: `config` says so at once."""
    credentials = "CTRADER_CLIENT_ID=a\nCTRADER_CLIENT_SECRET=b\nCTRADER_ACCESS_TOKEN=c\nMT5_PASSWORD=p\nMT5_SERVER=s\n"
    if source == "env":
        env, toml = write(tmp_path, ".env", f"PLATFORM={platform}\nACCOUNT_ID=FTMO 123\n{credentials}"), None
    else:
        env = write(tmp_path, ".env", credentials)
        toml = write(tmp_path, "riskmon.toml", f'[[accounts]]\nid = "FTMO 123"\nplatform = "{platform}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(env, toml)
    assert caught.value.setting == setting and "'FTMO 123'" in str(caught.value)


def test_a_replay_account_in_riskmon_toml_is_told_its_own_key(tmp_path: Path) -> None:
    toml = write(tmp_path, "riskmon.toml", '[[accounts]]\nid = "rec"\nplatform = "replay"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, ".env", ""), toml)
    assert caught.value.setting == "accounts[0].replay_file"


@pytest.mark.parametrize("quoted", ['"987654"', "'987654'"])
def test_a_quoted_value_from_docker_or_the_environment_is_refused_not_used(tmp_path: Path, quoted: str) -> None:
    """`docker run --env-file` keeps quotes (python-dotenv strips them): alerts would go to no chat at all."""
    environ = {"TELEGRAM_BOT_TOKEN": "123:secret", "TELEGRAM_CHAT_ID": quoted}
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, ".env", ""), environ=environ)
    assert caught.value.setting == "TELEGRAM_CHAT_ID" and f"={quoted!r} (in environment)" in str(caught.value)
    assert "quotes" in str(caught.value)
    secret = load_config(
        write(tmp_path, ".env", ""),
        environ={"PLATFORM": "mt5", "ACCOUNT_ID": "1", "MT5_PASSWORD": quoted, "MT5_SERVER": "s"},
    )
    assert any("MT5_PASSWORD (in environment)" in w and "quotes" in w for w in secret.warnings), secret.warnings
    assert not any("987654" in w for w in secret.warnings)
    in_file = write(tmp_path, "q.env", f"TELEGRAM_BOT_TOKEN=123:secret\nTELEGRAM_CHAT_ID={quoted}\n")
    assert load_config(in_file).settings.telegram_chat_id == "987654"  # in .env, quotes are syntax


def test_account_settings_without_account_id_are_named_in_plain_english(tmp_path: Path) -> None:
    env = write(tmp_path, ".env", "PRESET=ftmo-2step\nINITIAL_BALANCE=100000\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert caught.value.setting == "ACCOUNT_ID"
    assert str(caught.value).endswith(
        f"not set, but PRESET=ftmo-2step (in {env}) and INITIAL_BALANCE=100000 (in {env}) are: set ACCOUNT_ID "
        "and PLATFORM for your account, or remove them for the simulator"
    )


def test_each_platforms_settings_are_known_names_with_suggestions_and_their_own_checks(tmp_path: Path) -> None:
    env = write(
        tmp_path,
        ".env",
        "PLATFORM=projectx\nACCOUNT_ID=4101\nPROJECTX_USERNAM=trader\nPROJECTX_API_KEY=k-123\nTRADELOCKER_SERVR=X\n",
    )
    with pytest.raises(ConfigError, match=r"PROJECTX_USERNAME: required for ProjectX account 4101"):
        load_config(env)
    with pytest.raises(ConfigError) as strict:
        load_config(write(tmp_path, ".env", env.read_text() + "PROJECTX_USERNAME=trader\n"), strict=True)
    assert "PROJECTX_USERNAM in" in str(strict.value) and "did you mean PROJECTX_USERNAME?" in str(strict.value)
    assert "did you mean TRADELOCKER_SERVER?" in str(strict.value)


def test_a_platform_setting_is_checked_by_its_own_model_and_named_as_written(tmp_path: Path) -> None:
    env = write(tmp_path, ".env", "PLATFORM=projectx\nACCOUNT_ID=4101\nprojectx_poll_interval=0.5\n")
    with pytest.raises(ConfigError, match=r"projectx_poll_interval='0.5' \(in .*\): Input should be greater than or"):
        load_config(env)
    env = write(tmp_path, ".env", "PLATFORM=tradelocker\nACCOUNT_ID=1\nTRADELOCKER_EMAIL=a@b.c\nTRADELOCKER_SERVER=S\n")
    config = load_config(env, environ={"TRADELOCKER_PASSWORD": "hunter2 # x"})  # a secret keeps its ' #'
    assert "hunter2 # x" in config.settings.secret_values()
    assert any("TRADELOCKER_PASSWORD" in w and "inline comment" in w for w in config.warnings)


def test_an_unknown_platform_suggests_a_registered_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown platform \(did you mean projectx\?\); choose one of .*tradelocker"):
        load_config(write(tmp_path, ".env", "PLATFORM=projectz\nACCOUNT_ID=1\n"))
    toml = write(tmp_path, "riskmon.toml", '[[accounts]]\nid = "1"\nplatform = "trade-locker"\n')
    with pytest.raises(ConfigError, match=r"accounts\[0\]\.platform.*did you mean tradelocker\?"):
        load_config(None, toml)


def test_a_platform_table_belongs_to_its_platform_and_reads_its_own_secret_variable(tmp_path: Path) -> None:
    toml = write(
        tmp_path,
        "riskmon.toml",
        '[[accounts]]\nid = "4101"\nplatform = "projectx"\n[accounts.projectx]\nusername = "a"\n'
        'api_key_env = "TOPSTEP_KEY_A"\n[[accounts]]\nid = "2"\nplatform = "replay"\nreplay_file = "x.jsonl"\n',
    )
    env = write(tmp_path, ".env", "TOPSTEP_KEY_A=key-a\n")
    config = load_config(env, toml)
    assert config.warnings == ()  # the named variable is a known setting
    assert "key-a" in config.settings.secret_values()
    wrong = write(
        tmp_path, "wrong.toml", '[[accounts]]\nid = "1"\nplatform = "mt5"\n[accounts.projectx]\nusername = "a"\n'
    )
    with pytest.raises(
        ConfigError, match=r"accounts\[0\]\.projectx: is for projectx accounts; this account's platform is mt5"
    ):
        load_config(env, wrong)


def float_fields(model: type[BaseModel]) -> list[str]:
    return [
        name
        for name, field in model.model_fields.items()
        if float in (field.annotation, *get_args(field.annotation))
        or any(float in get_args(arg) for arg in get_args(field.annotation))
    ]


FLOAT_SETTINGS = sorted(
    [name.upper() for name in float_fields(Settings)]
    + [plugin.env_name(name) for plugin in PLATFORMS.values() for name in float_fields(plugin.settings)]
)


def test_every_float_setting_is_found() -> None:
    assert {"STALE_AFTER", "SIM_INTERVAL", "TELEGRAM_COOLDOWN_S", "CTRADER_POLL_INTERVAL"} <= set(FLOAT_SETTINGS)


@pytest.mark.parametrize("setting", FLOAT_SETTINGS)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "1e300"])
def test_a_float_setting_that_is_not_a_finite_sensible_number_is_one_line(
    tmp_path: Path, setting: str, value: str
) -> None:
    """inf passed a bare "> 0" and then crashed the service building its timers (finding 12)."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, ".env", f"{setting}={value}\n"))
    assert caught.value.setting == setting
    assert repr(value) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("value", ["0.001", str(MAX_SECONDS)])
def test_the_longest_duration_is_accepted_and_builds_the_service(tmp_path: Path, value: str) -> None:
    config = load_config(write(tmp_path, ".env", f"STALE_AFTER={value}\nSIM_INTERVAL={value}\n"))
    platforms = build_platforms(config)
    assert all(p.stale_after.total_seconds() == float(value) for p in platforms)
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, ".env", f"STALE_AFTER={MAX_SECONDS + 1}\n"))


@pytest.mark.parametrize(
    ("platform", "setting", "value"),
    [
        ("projectx", "PROJECTX_API_URL", "api.topstepx.com"),
        ("projectx", "PROJECTX_USER_HUB_URL", "rtc.topstepx.com/hubs/user"),
        ("projectx", "PROJECTX_MARKET_HUB_URL", "wss//rtc.topstepx.com/hubs/market"),
        ("tradelocker", "TRADELOCKER_BASE_URL", "demo.tradelocker.com/backend-api"),
    ],
)
def test_a_platform_address_that_is_not_a_web_address_is_refused_at_once(
    tmp_path: Path, platform: str, setting: str, value: str
) -> None:
    """Not one line later and 20 s on ("no answer ... UnsupportedProtocol"): the setting is named at start-up."""
    logins = {
        "projectx": {"PROJECTX_USERNAME": "alice", "PROJECTX_API_KEY": "k" * 12},
        "tradelocker": {"TRADELOCKER_EMAIL": "a@b.c", "TRADELOCKER_PASSWORD": "pw123456", "TRADELOCKER_SERVER": "S"},
    }[platform]
    env = from_example(tmp_path, PLATFORM=platform, ACCOUNT_ID="4101", **logins, **{setting: value})
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert caught.value.setting == setting
    assert "http" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("preset", "others"),
    [
        ("topstep-50k", "consistency, size limits, flat by"),
        ("topstep-50k-topstepx", "consistency, size limits, flat by"),
        ("ftmo-2step-funded", "weekend"),
    ],
)
def test_the_start_up_line_names_every_other_rule_that_can_fail_the_day(
    tmp_path: Path, preset: str, others: str
) -> None:
    """Not only the two floors: being in a position at 15:10 Chicago or holding 6 lots fails a Topstep account
    as surely, so the line a trader reads at start-up names those rules too."""
    env = write(tmp_path, ".env", f"PLATFORM=sim\nACCOUNT_ID=a\nPRESET={preset}\nINITIAL_BALANCE=50000\n")
    line = load_config(env).limits("a")
    assert others in line.split("; also checked: ")[1], line
