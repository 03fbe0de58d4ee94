"""riskmon itself (configuration, service, engine, CLI) against the fake ProjectX gateway on loopback,
with TopstepX's preset: the daily loss limit is a fixed $1,000 on the 50K Combine."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from riskmon.app import build_app
from riskmon.config import load_config
from riskmon.errors import ExitCode
from riskmon.models import AlertStatus, Severity
from riskmon.service import serve
from riskmon.store import Store
from tests.fakes.projectx_server import API_KEY, FakeProjectX
from tests.integration.test_ctrader_service import Events
from tests.platforms.mt5.mt5_support import until
from tests.processes import check_problems, riskmon_env

ACCOUNT = 4101
ES = "CON.F.US.EP.Z26"


@asynccontextmanager
async def gateway() -> AsyncIterator[FakeProjectX]:
    async with FakeProjectX() as fake:
        fake.add_account(ACCOUNT, "50KTC-V2-4101", "50000")
        fake.add_contract(ES, "ESZ6", "0.25", "12.5", "6000.00")
        yield fake
        assert fake.violations == []


def env_for(fake: FakeProjectX, tmp_path: Path, **extra: str) -> dict[str, str]:
    settings = {"PLATFORM": "projectx", "ACCOUNT_ID": str(ACCOUNT), "PRESET": "topstep-50k"} | fake.settings()
    return riskmon_env(tmp_path, **settings | extra)


@asynccontextmanager
async def running(fake: FakeProjectX, tmp_path: Path, **extra: str) -> AsyncIterator[Events]:
    (tmp_path / ".env").write_text("\n".join(f"{k}={v}" for k, v in env_for(fake, tmp_path, **extra).items()))
    config = load_config(tmp_path / ".env")
    store = Store(config.settings.db_path)
    events = Events()
    app = build_app(config, store, Console(file=io.StringIO()), first=events)
    task = asyncio.create_task(serve(app.service))
    try:
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await app.service.aclose(2)
        store.close()


async def test_a_tick_onto_topsteps_daily_loss_limit_is_critical_and_one_tick_before_it_warns(
    tmp_path: Path,
) -> None:
    async with gateway() as fake, running(fake, tmp_path) as events:
        await fake.open_position(ACCOUNT, ES, long=True, size=1, price="6000.00")
        await until(lambda: ("SubscribeContractQuotes", ES) in fake.subscriptions("market"))  # a new contract
        await fake.set_price(ES, bid="5980.25")  # 79 ticks x 12.50 = 987.50 lost: inside the buffer, a warning
        warning = await events.wait_for("daily_loss", Severity.WARNING)
        assert warning.observed == Decimal("987.50") and warning.limit == Decimal("1000")
        assert not [e for e in events.seen if e.severity is Severity.CRITICAL]
        await fake.set_price(ES, bid="5980.00")  # one tick more: 1,000.00, Topstep's "hit or exceed" breaches
        critical = await events.wait_for("daily_loss", Severity.CRITICAL)
        assert critical.observed == Decimal("1000.00")
        assert fake.equity(ACCOUNT) == Decimal("49000.00")


async def test_the_stale_data_alarm_fires_when_the_gateway_falls_silent_and_resolves_after_reconnecting(
    tmp_path: Path,
) -> None:
    async with gateway() as fake, running(fake, tmp_path, STALE_AFTER="1", PROJECTX_SILENCE_TIMEOUT="3") as events:
        await until(lambda: len(fake.hubs) == 2)
        fake.go_silent()  # no pings, no events; REST still answers
        stale = await events.wait_for("stale_data", Severity.CRITICAL, within=5)
        assert stale.status is AlertStatus.FIRING
        await until(lambda: fake.hub_connections > 2, within=10)  # the silent hubs were dropped after 3 s
        await until(
            lambda: any(e.rule == "stale_data" and e.status is AlertStatus.RESOLVED for e in events.seen), within=10
        )  # the state read again by REST on reconnecting


async def test_check_json_prints_the_snapshot_and_no_secret(tmp_path: Path) -> None:
    async with gateway() as fake:
        await fake.open_position(ACCOUNT, ES, long=False, size=2, price="6010.00")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "riskmon.cli", "check", "--json", "--env-file", os.devnull,
            env=env_for(fake, tmp_path), cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        (record,) = [json.loads(line) for line in out.decode().splitlines()]
        assert record["account"] == str(ACCOUNT) and record["platform"] == "projectx"
        # before any quote the position is valued at the last trade (the latest bar's close): 2 x 40 ticks x 12.50
        assert Decimal(record["equity"]) == Decimal("51000.00")
        assert record["positions"][0]["symbol"] == "ESZ6" and Decimal(record["positions"][0]["volume"]) == 2
        assert API_KEY not in err.decode() + out.decode()


async def test_check_names_a_refused_api_key_in_one_line(tmp_path: Path) -> None:
    async with gateway() as fake:
        env = env_for(fake, tmp_path, PROJECTX_API_KEY="wrong-key-123")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "riskmon.cli", "check", "--timeout", "3", "--env-file", os.devnull,
            env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == ExitCode.CONFIG  # credentials are configuration
    assert "user name and API key do not match an active key" in err.decode()
    assert "wrong-key-123" not in err.decode() and "Traceback" not in err.decode()


async def test_topstep_contract_limit_and_maximum_loss_read_projectx_contracts(tmp_path: Path) -> None:
    async with gateway() as fake, running(fake, tmp_path, PRESET="topstep-150k") as events:
        fake.accounts[ACCOUNT].balance = Decimal("150000")
        await fake.open_position(ACCOUNT, ES, long=True, size=16, price="6000.00")  # 16 contracts: one too many
        over = await events.wait_for("size_limits", Severity.CRITICAL)
        assert (over.observed, over.limit) == (Decimal(16), Decimal(15))
        await until(lambda: ("SubscribeContractQuotes", ES) in fake.subscriptions("market"))
        await fake.set_price(ES, bid="5994.50")  # 22 ticks x 12.50 x 16 = 4,400.00 lost: above the floor
        await events.wait_for("max_loss", Severity.WARNING)
        assert not [e for e in events.seen if e.rule == "max_loss" and e.severity is Severity.CRITICAL]
        await fake.set_price(ES, bid="5994.25")  # 23 ticks: 4,600.00, below 150,000 - 4,500
        await events.wait_for("max_loss", Severity.CRITICAL)


async def test_check_against_a_gateway_that_cannot_be_reached_is_one_line_with_the_cause(tmp_path: Path) -> None:
    """As for cTrader and MT5: the cause once, in check's own line, without the service's 'reconnecting in ...'."""
    async with gateway() as fake:
        env = env_for(fake, tmp_path, PROJECTX_API_URL="http://127.0.0.1:1")  # nothing listens on port 1
    code, (line,) = check_problems(env, tmp_path)
    assert code == ExitCode.UNREACHABLE, line
    assert line.startswith("riskmon: projectx: no data for") and "(last error: ProjectX: " in line, line
    assert "reconnecting" not in line and API_KEY not in line
