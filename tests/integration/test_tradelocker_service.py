"""riskmon itself (configuration, service, engine, CLI) against the fake TradeLocker backend on loopback,
with a TradeLocker firm's preset (Diamond Hands 2-Step: 5 % of the starting balance a day)."""

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
from tests.fakes.tradelocker_server import PASSWORD, FakeTradeLocker
from tests.integration.test_ctrader_service import Events
from tests.platforms.mt5.mt5_support import until
from tests.processes import check_problems, riskmon_env

ACCOUNT, EURUSD = 551201, 11


@asynccontextmanager
async def backend() -> AsyncIterator[FakeTradeLocker]:
    async with FakeTradeLocker() as fake:
        fake.add_account(ACCOUNT, 1, "100000")
        fake.add_instrument(EURUSD, "EURUSD", "1.10000", "1.10010")
        yield fake
        assert fake.violations == []


def env_for(fake: FakeTradeLocker, tmp_path: Path, **extra: str) -> dict[str, str]:
    settings = {
        "PLATFORM": "tradelocker",
        "ACCOUNT_ID": str(ACCOUNT),
        "PRESET": "diamondhands-2step",
        "INITIAL_BALANCE": "100000",
    }
    return riskmon_env(tmp_path, **settings | fake.settings() | extra)


@asynccontextmanager
async def running(fake: FakeTradeLocker, tmp_path: Path, **extra: str) -> AsyncIterator[Events]:
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


async def test_a_tick_through_the_daily_floor_warns_at_the_limit_and_is_critical_past_it(tmp_path: Path) -> None:
    async with backend() as fake, running(fake, tmp_path) as events:
        fake.open_position(ACCOUNT, EURUSD, buy=True, qty="1", price="1.10000")
        fake.set_price(EURUSD, bid="1.05000", ask="1.05010")  # 5,000.00 lost: 5 % of 100,000, the limit itself
        warning = await events.wait_for("daily_loss", Severity.WARNING)
        assert warning.observed == Decimal("5000.00")
        assert not [e for e in events.seen if e.severity is Severity.CRITICAL]
        fake.set_price(EURUSD, bid="1.04999", ask="1.05009")  # one point more
        critical = await events.wait_for("daily_loss", Severity.CRITICAL)
        assert critical.observed == Decimal("5001.00") and fake.equity(ACCOUNT) == Decimal("94999.00")


async def test_the_stale_data_alarm_fires_when_the_backend_stops_answering_and_resolves_after(tmp_path: Path) -> None:
    async with backend() as fake, running(fake, tmp_path, STALE_AFTER="1") as events:
        await until(lambda: len(fake.calls) > 10)  # polling
        fake.hang()
        stale = await events.wait_for("stale_data", Severity.CRITICAL, within=5)
        assert stale.status is AlertStatus.FIRING
        fake.hang(False)
        await until(lambda: any(e.rule == "stale_data" and e.status is AlertStatus.RESOLVED for e in events.seen))


async def test_check_json_prints_the_snapshot_and_no_secret(tmp_path: Path) -> None:
    async with backend() as fake:
        fake.open_position(ACCOUNT, EURUSD, buy=False, qty="0.5", price="1.10110")  # +50.00 at the ask
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "riskmon.cli", "check", "--json", "--env-file", os.devnull,
            env=env_for(fake, tmp_path), cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        (record,) = [json.loads(line) for line in out.decode().splitlines()]
        assert record["account"] == str(ACCOUNT) and record["platform"] == "tradelocker"
        assert Decimal(record["equity"]) == fake.equity(ACCOUNT) == Decimal("100050.00")
        assert record["positions"][0]["symbol"] == "EURUSD"
        assert PASSWORD not in err.decode() + out.decode()


async def test_check_against_a_backend_that_cannot_be_reached_is_one_line_with_the_cause(tmp_path: Path) -> None:
    """As for cTrader and MT5: the cause once, in check's own line, without the service's 'retrying in ...'."""
    async with backend() as fake:
        env = env_for(fake, tmp_path, TRADELOCKER_BASE_URL="http://127.0.0.1:1")  # nothing listens on port 1
    code, (line,) = check_problems(env, tmp_path)
    assert code == ExitCode.UNREACHABLE, line
    assert line.startswith("riskmon: tradelocker: no data for") and "(last error: TradeLocker: " in line, line
    assert "retrying" not in line and PASSWORD not in line
