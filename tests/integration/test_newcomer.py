"""A trader's first hour, as real processes: `cp .env.example .env`, fill in three lines, `riskmon config`,
`riskmon run`, `riskmon check` with the tokens `riskmon ctrader-login` saved. Each process has its own
HOME, XDG directories and RISKMON_DB under tmp_path: the user's data directory is never touched."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from riskmon.errors import ExitCode
from riskmon.platforms.ctrader.tokens import Tokens, TokenStore
from riskmon.rules.presets import PRESETS
from tests.fakes.ctrader_server import FakeCTraderServer
from tests.processes import RiskmonProcess, riskmon_env

ROOT = Path(__file__).resolve().parents[2]


def newcomer_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A clean process environment: nothing of the developer's, every directory riskmon may use in tmp_path."""
    return riskmon_env(
        tmp_path,
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
        **settings,
    )


def copy_env_example(tmp_path: Path, **lines: str) -> Path:
    """`cp .env.example .env`, then fill in ``NAME=`` lines the way a user edits them."""
    env = tmp_path / ".env"
    shutil.copy(ROOT / ".env.example", env)
    text = env.read_text(encoding="utf-8").splitlines()
    for name, value in lines.items():
        index = next(i for i, line in enumerate(text) if line == f"{name}=")  # the blank the example offers
        text[index] = f"{name}={value}"
    env.write_text("\n".join(text) + "\n", encoding="utf-8")
    return env


def riskmon(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskmon.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_newcomer_gets_exactly_the_preset(tmp_path: Path, preset: str) -> None:
    firm = PRESETS[preset]
    lines = {
        "PLATFORM": "ctrader",
        "ACCOUNT_ID": "12345678",
        "PRESET": preset,
        "CTRADER_CLIENT_ID": "client-id",
        "CTRADER_CLIENT_SECRET": "client-secret",
        "CTRADER_ACCESS_TOKEN": "access-token",
    }
    if firm.initial_balance is None:
        lines["INITIAL_BALANCE"] = "100000"
    copy_env_example(tmp_path, **lines)
    done = riskmon(tmp_path, "config", "--strict", env=newcomer_env(tmp_path))  # reads ./.env, as documented
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr  # nothing unknown, nothing overridden
    (account,) = json.loads(done.stdout)["accounts"]
    assert account["rules"] == json.loads(firm.rulebook().model_dump_json())
    assert Decimal(account["initial_balance"]) == (firm.initial_balance or Decimal(100000))
    assert account["sources"]["daily_loss.size"] == f"preset {preset}"
    assert account["sources"]["max_loss.size"] in (f"preset {preset}", "default")
    assert not (tmp_path / "xdg-data").exists() or not any((tmp_path / "xdg-data").iterdir())


def test_run_announces_the_simulator_and_each_accounts_limits(tmp_path: Path) -> None:
    copy_env_example(tmp_path)
    process = RiskmonProcess(["run", "--no-table", "--strict"], newcomer_env(tmp_path, SIM_INTERVAL="0.05"), tmp_path)
    try:
        process.wait_for(lambda line: "watching 2 account(s)" in line)
    finally:
        assert process.stop(signal.SIGINT) == 0
    output = "\n".join(process.output())
    assert "SIMULATOR: nothing is configured, so riskmon watches simulated accounts, not yours" in output
    assert (
        "limits FTMO 100k (sim) [sim, preset ftmo-2step]: daily loss 5 % of the initial balance [preset ftmo-2step]"
        in output
    )


def test_run_says_when_a_variable_overrides_the_preset(tmp_path: Path) -> None:
    env = copy_env_example(tmp_path, PLATFORM="sim", ACCOUNT_ID="acc-1", PRESET="ftmo-1step", INITIAL_BALANCE="100000")
    env.write_text(env.read_text() + "MAX_DAILY_LOSS_PERCENT=2\n")
    process = RiskmonProcess(["run", "--no-table"], newcomer_env(tmp_path, SIM_INTERVAL="0.05"), tmp_path)
    try:
        process.wait_for(lambda line: "watching 1 account(s)" in line)
    finally:
        assert process.stop(signal.SIGINT) == 0
    output = "\n".join(process.output())
    assert f"MAX_DAILY_LOSS_PERCENT (in {env.name}) overrides preset ftmo-1step: daily_loss.size 3 -> 2" in output
    assert f"daily loss 2 % of the initial balance [MAX_DAILY_LOSS_PERCENT in {env.name}]" in output
    assert "SIMULATOR" not in output


def test_a_typo_is_a_warning_and_an_error_under_strict(tmp_path: Path) -> None:
    env = copy_env_example(tmp_path)
    env.write_text(env.read_text() + "MAX_DAILY_LOSS_PERCNT=2\n")
    warned = riskmon(tmp_path, "config", env=newcomer_env(tmp_path))
    assert warned.returncode == 0
    assert "unknown setting MAX_DAILY_LOSS_PERCNT in .env (did you mean MAX_DAILY_LOSS_PERCENT?)" in warned.stderr
    refused = riskmon(tmp_path, "run", "--strict", env=newcomer_env(tmp_path))
    assert refused.returncode == ExitCode.CONFIG
    assert refused.stderr.strip().splitlines() == [
        "riskmon: configuration error: --strict: "
        "unknown setting MAX_DAILY_LOSS_PERCNT in .env (did you mean MAX_DAILY_LOSS_PERCENT?)"
    ]


def test_docker_style_values_with_inline_comments_are_named(tmp_path: Path) -> None:
    """`docker run --env-file` with an old-style `.env` passes the comment on as part of the value."""
    done = riskmon(
        tmp_path, "check", env=newcomer_env(tmp_path, MAX_DAILY_LOSS_PERCENT="5.0        # daily loss limit")
    )
    assert done.returncode == ExitCode.CONFIG
    assert done.stderr.startswith(
        "riskmon: configuration error: MAX_DAILY_LOSS_PERCENT='5.0        # daily loss limit' (in environment): "
        "looks like it carries an inline comment"
    )


async def test_check_uses_the_tokens_ctrader_login_saved(tmp_path: Path) -> None:
    server = FakeCTraderServer(heartbeat_interval=0.2)
    server.add_symbol("EURUSD", "EUR", "USD", bid="1.10000", ask="1.10010")
    server.add_account(ctid=1001, login=7001, currency="USD", balance="10000.00")
    async with server:
        TokenStore(tmp_path / "ctrader-tokens.json").save(  # where ctrader-login saves beside RISKMON_DB
            Tokens(SecretStr(server.access_token), SecretStr(server.refresh_token))
        )
        copy_env_example(
            tmp_path,
            PLATFORM="ctrader",
            ACCOUNT_ID="7001",
            CTRADER_CLIENT_ID=server.client_id,
            CTRADER_CLIENT_SECRET=server.client_secret,
        )
        env = newcomer_env(
            tmp_path, CTRADER_HOST="127.0.0.1", CTRADER_PORT=server.url.rsplit(":", 1)[1], CTRADER_TLS="false"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "riskmon.cli", "check", "--json",
            env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    (record,) = [json.loads(line) for line in out.decode().splitlines()]
    assert record["account"] == "7001" and Decimal(record["balance"]) == Decimal("10000.00")
    assert server.access_token not in out.decode() + err.decode()
