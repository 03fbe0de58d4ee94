"""The [accounts.enforce] table, DRY_RUN and the leverage settings: live needs an explicit per-account mode."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from riskmon.config import load_config
from riskmon.enforce import Mode
from riskmon.errors import ConfigError
from riskmon.state import AccountState

ACCOUNT = """
[[accounts]]
id = "a1"
platform = "sim"
preset = "ftmo-2step"
initial_balance = 100000
"""


def write(tmp_path: Path, toml: str, env: str = "") -> tuple[Path, Path]:
    (tmp_path / "riskmon.toml").write_text(toml)
    (tmp_path / ".env").write_text(env)
    return tmp_path / ".env", tmp_path / "riskmon.toml"


def test_enforcement_is_off_unless_asked_for(tmp_path: Path) -> None:
    policy = load_config(*write(tmp_path, ACCOUNT)).enforcement()["a1"]
    assert policy.mode is Mode.OFF


@pytest.mark.parametrize(
    ("mode", "env", "expected"),
    [
        ("live", "", Mode.LIVE),
        ("live", "DRY_RUN=true", Mode.DRY_RUN),  # DRY_RUN=true: nothing is ever sent
        ("dry-run", "DRY_RUN=false", Mode.DRY_RUN),
        ("off", "DRY_RUN=false", Mode.OFF),  # DRY_RUN=false alone never turns enforcement on
    ],
)
def test_live_needs_the_account_and_the_process(tmp_path: Path, mode: str, env: str, expected: Mode) -> None:
    toml = ACCOUNT + f'[accounts.enforce]\nmode = "{mode}"\n'
    assert load_config(*write(tmp_path, toml, env)).enforcement()["a1"].mode is expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("", Mode.OFF),
        ("DRY_RUN=true\n", Mode.DRY_RUN),  # as in the rebalancer's .env
        ("ENFORCE_MODE=live\n", Mode.LIVE),
        ("ENFORCE_MODE=live\nDRY_RUN=true\n", Mode.DRY_RUN),
    ],
)
def test_the_env_account_enforcement(tmp_path: Path, env: str, expected: Mode) -> None:
    (tmp_path / ".env").write_text("PLATFORM=sim\nACCOUNT_ID=solo\n" + env)
    assert load_config(tmp_path / ".env").enforcement()["solo"].mode is expected


def test_leverage_settings_fill_the_deleverage_defaults(tmp_path: Path) -> None:
    toml = ACCOUNT + (
        '[accounts.rules.leverage]\nenabled = true\n[accounts.enforce]\nmode = "live"\n'
        "[accounts.enforce.flatten]\nat_used = 0.85\nroom_below = 500\n"
        "[accounts.enforce.deleverage]\nenabled = true\nmargin_level_below = 150\n"
    )
    env = "DRY_RUN=false\nEMERGENCY_LEVERAGE_THRESHOLD=2.5\nTARGET_LEVERAGE=1.2\n"
    policy = load_config(*write(tmp_path, toml, env)).enforcement()["a1"]
    assert (policy.emergency_leverage, policy.target_leverage) == (Decimal("2.5"), Decimal("1.2"))
    assert (policy.flatten_at_used, policy.flatten_room_below) == (Decimal("0.85"), Decimal(500))
    assert policy.deleverage and policy.margin_level_below == Decimal(150)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[accounts.enforce.deleverage]\nenabled = true\n", "needs rules.leverage.enabled = true"),
        (
            "[accounts.rules.leverage]\nenabled = true\n[accounts.enforce.deleverage]\nenabled = true\n"
            "target_leverage = 3\n",
            "target leverage 3 must be below the emergency level 3.0",
        ),
        ('[accounts.enforce]\nmode = "yes"\n', "accounts[0].enforce.mode"),
        ("[accounts.enforce]\nflaten = {}\n", "accounts[0].enforce.flaten"),
    ],
)
def test_bad_enforce_tables_name_the_setting(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(*write(tmp_path, ACCOUNT + table))
    assert message in str(caught.value)


def test_state_saved_before_the_enforcer_owned_trading_state_still_loads() -> None:
    old = AccountState.fresh("a1", Decimal(100000)).to_json().replace("{", '{"trading_state": "halted", ', 1)
    assert AccountState.from_json(old) == AccountState.fresh("a1", Decimal(100000))
