"""riskmon itself (configuration, service, engine, CLI) against the fake cTrader server on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from riskmon.app import build_app
from riskmon.config import load_config
from riskmon.errors import ExitCode
from riskmon.models import AlertEvent, Severity
from riskmon.monitor import Evaluation
from riskmon.service import serve
from riskmon.store import Store
from tests.fakes.ctrader_server import FakeCTraderServer
from tests.processes import riskmon_env

CTID, LOGIN = 1001, 7001


def fake_server() -> FakeCTraderServer:
    server = FakeCTraderServer(heartbeat_interval=0.2)
    server.add_symbol("EURUSD", "EUR", "USD", bid="1.10000", ask="1.10010")
    server.add_account(ctid=CTID, login=LOGIN, currency="USD", balance="10000.00")
    return server


def env_for(server: FakeCTraderServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    port = server.url.rsplit(":", 1)[1]
    return riskmon_env(
        tmp_path,
        PLATFORM="ctrader",
        ACCOUNT_ID=str(LOGIN),  # the trader login shown in the cTrader app works as well as the ctid
        CTRADER_CLIENT_ID=server.client_id,
        CTRADER_CLIENT_SECRET=server.client_secret,
        CTRADER_ACCESS_TOKEN=server.access_token,
        CTRADER_REFRESH_TOKEN=server.refresh_token,
        CTRADER_HOST="127.0.0.1",
        CTRADER_PORT=port,
        CTRADER_TLS="false",
        MAX_DAILY_LOSS_PERCENT="5",
        **extra,
    )


class Events:
    def __init__(self) -> None:
        self.seen: list[AlertEvent] = []
        self.changed = asyncio.Event()

    def observe(self, evaluation: Evaluation) -> None:
        self.notify(evaluation.events)

    def notify(self, events: Sequence[AlertEvent]) -> None:
        self.seen += events
        self.changed.set()

    async def wait_for(self, rule: str, severity: Severity, within: float = 5.0) -> AlertEvent:
        async with asyncio.timeout(within):
            while True:
                for event in self.seen:
                    if (event.rule, event.severity) == (rule, severity):
                        return event
                self.changed.clear()
                await self.changed.wait()


async def test_a_tick_through_the_daily_loss_floor_raises_the_critical_alert(tmp_path: Path) -> None:
    async with fake_server() as server:
        await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
        (tmp_path / ".env").write_text("\n".join(f"{k}={v}" for k, v in env_for(server, tmp_path).items()))
        config = load_config(tmp_path / ".env")
        store = Store(config.settings.db_path)
        events = Events()
        app = build_app(config, store, Console(file=io.StringIO()), first=events)
        running = asyncio.create_task(serve(app.service))
        try:
            await server.set_price("EURUSD", bid="1.09500")  # 500.00 lost: exactly the limit, a warning
            warning = await events.wait_for("daily_loss", Severity.WARNING)
            assert warning.observed == Decimal("500.00") and warning.limit == Decimal("500.0000")
            assert not [e for e in events.seen if e.severity is Severity.CRITICAL]
            await server.set_price("EURUSD", bid="1.09499")  # one pip-tenth more: 501.00
            critical = await events.wait_for("daily_loss", Severity.CRITICAL)
            assert critical.observed == Decimal("501.00")
            assert server.equity(CTID) == Decimal("9499.00")
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await app.service.aclose(2)
            store.close()


async def test_check_json_prints_the_snapshot_in_the_replay_format(tmp_path: Path) -> None:
    async with fake_server() as server:
        await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09000")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "riskmon.cli",
            "check",
            "--json",
            "--env-file",
            os.devnull,
            env=env_for(server, tmp_path),
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        (record,) = [json.loads(line) for line in out.decode().splitlines()]
        assert record["account"] == str(LOGIN) and record["platform"] == "ctrader"
        assert Decimal(record["equity"]) == server.equity(CTID) == Decimal("11000.00")
        assert record["positions"][0]["symbol"] == "EURUSD"
        assert server.access_token not in err.decode() + out.decode()


async def test_check_fails_clearly_when_the_server_cannot_be_reached(tmp_path: Path) -> None:
    async with fake_server() as server:
        env = env_for(server, tmp_path)
    env["CTRADER_PORT"] = "1"  # nothing listens there
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "riskmon.cli", "check", "--timeout", "3", "--env-file", os.devnull,
        env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == ExitCode.UNREACHABLE
    assert "riskmon: ctrader: no data for 7001 within 3 s" in err.decode()
    assert "Traceback" not in err.decode()
