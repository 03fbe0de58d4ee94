"""The fault suite: `riskmon run` as a real process against loopback fakes, one fault at a time.

Each test injects one fault (a dropped or silent cTrader link, a revoked token, garbage frames, slow
answers, a failing Telegram, a locked database, SIGKILL, SIGTERM) and asserts that riskmon comes
back whole: no alert lost, no day anchor lost, no position closed twice. What each one measured goes
into docs/faults.md (tests/faults/report.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from riskmon.clock import SystemClock
from tests.fakes.ctrader_server import FakeCTraderServer
from tests.fakes.telegram_api import FakeTelegram
from tests.faults.harness import Riskmon, account_state, eventually, query
from tests.faults.report import Outcome
from tests.processes import riskmon_env

pytestmark = pytest.mark.integration

CTID, LOGIN = 1001, 7001
ACCOUNT = str(LOGIN)
TOKEN = "123456789:AAH-fault-suite-token"
CHAT = "111"

Spawn = Callable[..., Riskmon]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start riskmon processes; every one is killed at the end, whatever happened."""
    started: list[Riskmon] = []

    def start(env: dict[str, str], config: Path | None = None) -> Riskmon:
        process = Riskmon(tmp_path, env, config)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


# ---- cTrader ---------------------------------------------------------------------------------------


class Market:
    """A live EURUSD: ticks every 0.1 s around ``bid`` so a healthy link always carries fresh data."""

    def __init__(self, server: FakeCTraderServer) -> None:
        self.server = server
        self.bid = Decimal("1.10000")
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        flip = 0
        while True:
            flip ^= 1
            bid = self.bid + Decimal("0.00001") * flip
            await self.server.set_price("EURUSD", bid=bid, ask=bid + Decimal("0.0001"))
            await asyncio.sleep(0.1)

    async def __aenter__(self) -> Market:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def ctrader() -> AsyncIterator[tuple[FakeCTraderServer, Market]]:
    server = FakeCTraderServer(heartbeat_interval=0.2)
    server.add_symbol("EURUSD", "EUR", "USD", bid="1.10000", ask="1.10010")
    server.add_account(ctid=CTID, login=LOGIN, currency="USD", balance="10000.00")
    async with server, Market(server) as market:
        yield server, market


def ctrader_env(server: FakeCTraderServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    return riskmon_env(
        tmp_path,
        PLATFORM="ctrader",
        ACCOUNT_ID=ACCOUNT,
        CTRADER_CLIENT_ID=server.client_id,
        CTRADER_CLIENT_SECRET=server.client_secret,
        CTRADER_ACCESS_TOKEN=server.access_token,
        CTRADER_REFRESH_TOKEN=server.refresh_token,
        CTRADER_HOST="127.0.0.1",
        CTRADER_PORT=server.url.rsplit(":", 1)[1],
        CTRADER_TLS="false",
        MAX_DAILY_LOSS_PERCENT="5",  # basic preset: 500.00 of 10,000; warning from 400.00
        **{"CTRADER_SILENCE_TIMEOUT": "1.5", **extra},
    )


def toml_env(env: dict[str, str]) -> dict[str, str]:
    """The connection settings only: with riskmon.toml the .env account's settings are refused, not ignored."""
    return {k: v for k, v in env.items() if k not in ("PLATFORM", "ACCOUNT_ID", "MAX_DAILY_LOSS_PERCENT")}


def position_ids(snapshot: dict[str, Any]) -> set[str]:
    return {p["id"] for p in snapshot.get("positions", [])}


def equity_near(rm: Riskmon, target: Decimal, tolerance: Decimal = Decimal(3)) -> Callable[[], bool]:
    def check() -> bool:
        snaps = rm.snapshots()
        return bool(snaps) and abs(Decimal(snaps[-1]["equity"]) - target) <= tolerance

    return check


def is_alert(line: str, severity: str, status: str, rule: str) -> bool:
    """A console alert line; ``severity`` "" matches any (a resolved event keeps the severity it had)."""
    return f"{severity} " in line and f" {status} " in line and f" {rule}:" in line


def alert_seen(rm: Riskmon, severity: str, status: str, rule: str, since: int = 0) -> Callable[[], bool]:
    return lambda: any(is_alert(a, severity, status, rule) for a in rm.alerts(since))


def count_alerts(rm: Riskmon, severity: str, status: str, rule: str, since: int = 0) -> int:
    return sum(1 for a in rm.alerts(since) if is_alert(a, severity, status, rule))


def logged(rm: Riskmon, text: str) -> list[dict[str, Any]]:
    return [r for r in rm.logs() if text in r["message"]]


def anchor(db: Path, account: str) -> Decimal:
    return Decimal(account_state(db, account)["day_start_balance"])


async def streaming(rm: Riskmon, count: int = 5) -> None:
    await rm.wait(lambda: len(rm.snapshots()) >= count, what=f"{count} snapshots")


async def test_a_dropped_cTrader_connection(tmp_path: Path, spawn: Spawn, outcome: Outcome) -> None:
    """cTrader connection dropped mid-stream."""
    async with ctrader() as (server, market):
        first = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
        rm = spawn(ctrader_env(server, tmp_path))
        await streaming(rm)
        since = len(rm.lines())

        outcome.fault_injected()
        await server.drop_connections()
        # While the link is down: a new position riskmon was never told about, and a loss into the warning zone.
        second = await server.open_position(CTID, "EURUSD", "BUY", lots="0.5", price="1.10000")
        market.bid = Decimal("1.09720")  # 1.5 lots x 28 pips = 420.00 of 500.00

        both = {str(first), str(second)}
        back = await rm.wait(lambda: position_ids(rm.snapshots()[-1]) == both, what="both positions after reconnect")
        recovery = outcome.recovered(back)
        await rm.wait(alert_seen(rm, "WARNING", "firing", "daily_loss", since), what="daily_loss warning")
        await rm.wait(equity_near(rm, server.equity(CTID)), what="riskmon's equity = the server's")

        assert server.connections_opened == 2
        await rm.wait(lambda: bool(logged(rm, "cTrader connection lost")), what="cTrader connection lost")
        assert anchor(tmp_path / "riskmon.db", ACCOUNT) == Decimal("10000.00")
        assert position_ids(rm.snapshots()[-1]) == {str(p) for p in server.positions}
        outcome.did(
            "reconnected with backoff, reconciled: the position opened while down appeared, "
            "the warning reached during the gap fired"
        )
        outcome.losses(alerts=0, anchors=0)
        assert recovery < 5


async def test_a_silent_cTrader_server(tmp_path: Path, spawn: Spawn, outcome: Outcome) -> None:
    """cTrader server goes silent (no heartbeats, no answers)."""
    async with ctrader() as (server, _market):
        await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
        rm = spawn(ctrader_env(server, tmp_path, STALE_AFTER="1", CTRADER_SILENCE_TIMEOUT="2"))
        await streaming(rm)
        since = len(rm.lines())

        outcome.fault_injected()
        server.go_silent()
        await rm.wait(alert_seen(rm, "CRITICAL", "firing", "stale_data", since), what="stale_data critical")
        await rm.wait(lambda: bool(logged(rm, "no message from cTrader for 2 s")), what="silence detected")
        resolved = await rm.wait(alert_seen(rm, "", "resolved", "stale_data", since), what="stale_data resolved")
        outcome.recovered(resolved)
        count = len(rm.snapshots())
        await streaming(rm, count + 5)

        assert server.connections_opened == 2
        assert count_alerts(rm, "CRITICAL", "firing", "stale_data", since) == 1
        assert count_alerts(rm, "", "resolved", "stale_data", since) == 1
        outcome.did(
            "silence timeout (2 s) dropped the link and reconnected; stale_data (1 s) fired once, "
            "resolved with the first fresh snapshot"
        )
        outcome.losses(alerts=0, anchors=0 if anchor(tmp_path / "riskmon.db", ACCOUNT) == Decimal("10000.00") else 1)
        assert outcome.row.anchors_lost == 0


class Ahead(SystemClock):
    """A server clock running an hour ahead of the machine's."""

    def now(self) -> datetime:
        return super().now() + timedelta(hours=1)


async def test_a_cTrader_server_clock_an_hour_ahead(tmp_path: Path, spawn: Spawn, outcome: Outcome) -> None:
    """cTrader server clock an hour ahead: every tick stamped in the future."""
    async with ctrader() as (server, _market):
        await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
        rm = spawn(ctrader_env(server, tmp_path, STALE_AFTER="1"))
        await streaming(rm)
        since = len(rm.lines())
        db = tmp_path / "riskmon.db"

        server.clock = Ahead()
        outcome.fault_injected()
        await rm.wait(alert_seen(rm, "CRITICAL", "firing", "stale_data", since), what="stale_data critical")
        refusals = logged(rm, "snapshot refused")
        assert refusals and "ahead of riskmon's clock" in refusals[-1]["message"]
        saved = account_state(db, ACCOUNT)["last_ts"]
        assert saved < (datetime.now(UTC) + timedelta(minutes=5)).isoformat()  # the future never saved
        outcome.fault_ended()
        server.clock = SystemClock()
        resolved = await rm.wait(alert_seen(rm, "", "resolved", "stale_data", since), what="stale_data resolved")
        outcome.recovered(resolved)
        assert len(logged(rm, "snapshot refused")) == len(refusals)  # one line for the episode, every tick counted
        assert count_alerts(rm, "CRITICAL", "firing", "stale_data", since) == 1
        outcome.did(
            "every future-stamped tick refused unevaluated and unsaved (one log line for the episode); the "
            "account had no fresh data, so stale_data (1 s) fired; resolved by the first tick on time"
        )
        outcome.losses(alerts=0, anchors=0 if anchor(db, ACCOUNT) == Decimal("10000.00") else 1)


async def test_an_invalidated_token(tmp_path: Path, spawn: Spawn, outcome: Outcome) -> None:
    """Access token invalidated (AccountsTokenInvalidatedEvent)."""
    async with ctrader() as (server, market):
        await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
        rm = spawn(ctrader_env(server, tmp_path))
        await streaming(rm)

        outcome.fault_injected()
        await server.invalidate_token([CTID])
        market.bid = Decimal("1.09900")  # only reaches riskmon once the account is authorised and subscribed again
        back = await rm.wait(equity_near(rm, Decimal("9900")), what="snapshots at the new price")
        outcome.recovered(back)

        assert server.account_auths == 2 and server.connections_opened == 1
        await rm.wait(lambda: bool(logged(rm, "token invalidated")), what="token invalidated")
        assert not logged(rm, "cTrader connection lost")
        outcome.did("re-authorised the account on the same connection, re-subscribed; snapshots continued")
        outcome.losses(alerts=0, anchors=0 if anchor(tmp_path / "riskmon.db", ACCOUNT) == Decimal("10000.00") else 1)
        assert outcome.row.anchors_lost == 0


MALFORMED = (
    "this is not JSON",
    "[1, 2, 3]",
    '{"payload": {}}',
    '{"payloadType": 2131, "payload": {"ctidTraderAccountId": "1001", "symbolId": "EUR", "bid": "cheap"}}',
    '{"payloadType": 2123, "payload": {"ctidTraderAccountId": 1001, "trader": {"balance": "lots"}}}',
    "[" * 100_000,  # RecursionError in the JSON parser, not a ValueError
)


async def test_malformed_frames(tmp_path: Path, spawn: Spawn, outcome: Outcome) -> None:
    """Malformed frames from the cTrader server."""
    async with ctrader() as (server, market):
        await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
        rm = spawn(ctrader_env(server, tmp_path))
        await streaming(rm)

        for frame in MALFORMED:
            await server.send_raw(frame)
        outcome.fault_injected()
        market.bid = Decimal("1.09800")
        back = await rm.wait(equity_near(rm, Decimal("9800")), what="snapshots after the garbage")
        outcome.recovered(back)
        await rm.wait(lambda: len(logged(rm, "skipped malformed cTrader frame")) >= len(MALFORMED), what="counted")

        assert logged(rm, f"skipped malformed cTrader frame #{len(MALFORMED)}")
        assert server.connections_opened == 1 and not logged(rm, "cTrader connection lost")
        assert Decimal(rm.snapshots()[-1]["balance"]) == Decimal("10000.00")  # the bad trader update changed nothing
        outcome.did(f"counted and skipped {len(MALFORMED)} bad frames; same session, next tick valued normally")
        outcome.losses(alerts=0, anchors=0)


async def test_slow_cTrader_responses(tmp_path: Path, spawn: Spawn, outcome: Outcome) -> None:
    """Slow cTrader responses (0.2 s per request)."""
    async with ctrader() as (server, market):
        server.response_delay = 0.2
        await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
        rm = spawn(ctrader_env(server, tmp_path))
        await streaming(rm)

        outcome.fault_injected()
        market.bid = Decimal("1.09580")  # 420.00 lost: warning
        await rm.wait(alert_seen(rm, "WARNING", "firing", "daily_loss"), what="warning")
        market.bid = Decimal("1.09490")  # 510.00 lost: through the floor
        critical = await rm.wait(alert_seen(rm, "CRITICAL", "escalated", "daily_loss"), what="critical")
        outcome.recovered(critical)

        assert server.connections_opened == 1 and not logged(rm, "cTrader connection lost")
        outcome.did("every request answered late; the stream kept flowing and both alerts fired on time")
        outcome.losses(alerts=0, anchors=0 if anchor(tmp_path / "riskmon.db", ACCOUNT) == Decimal("10000.00") else 1)
        assert outcome.row.anchors_lost == 0
        assert outcome.row.recovery_s is not None and outcome.row.recovery_s < 3


async def test_an_auth_refusal_on_reconnect(tmp_path: Path, spawn: Spawn, outcome: Outcome) -> None:
    """cTrader refuses the application (CH_CLIENT_AUTH_FAILURE) on a reconnect."""
    async with ctrader() as (server, market):
        await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
        rm = spawn(ctrader_env(server, tmp_path))
        await streaming(rm)
        outcome.fault_injected()
        server.fail_next(2100, "CH_CLIENT_AUTH_FAILURE")  # ApplicationAuthReq, once
        await server.drop_connections()
        await rm.wait(lambda: bool(logged(rm, "cTrader session stopped")), what="the refusal logged")
        market.bid = Decimal("1.09900")
        back = await rm.wait(equity_near(rm, Decimal("9900")), within=30, what="snapshots from a rebuilt session")
        outcome.recovered(back)
        assert server.connections_opened == 3  # the first, the refused one, the rebuilt one
        outcome.did("the supervisor rebuilt the session after its back-off (never re-raising the dead one); "
                    "streaming resumed")  # fmt: skip
        outcome.losses(alerts=0, anchors=0 if anchor(tmp_path / "riskmon.db", ACCOUNT) == Decimal("10000.00") else 1)
        assert outcome.row.anchors_lost == 0


# ---- replay-fed faults (Telegram, SQLite, restarts) ---------------------------------------------------

REPLAY_CONFIG = """
[[accounts]]
id = "acc-1"
platform = "replay"
replay_file = "{feed}"
label = "FTMO"
preset = "ftmo-2step"
initial_balance = 100000
"""


class Feed:
    """The replay file riskmon follows: each ``add`` is one snapshot, a second after the one before."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "feed.jsonl"
        self.path.touch()
        self.config = tmp_path / "riskmon.toml"
        self.config.write_text(REPLAY_CONFIG.format(feed=self.path))
        self.second = 0

    def add(self, balance: str, equity: str) -> None:
        self.second += 1
        ts = f"2026-03-02T09:{self.second // 60:02d}:{self.second % 60:02d}+00:00"
        with self.path.open("a") as handle:
            handle.write(json.dumps({"ts": ts, "account": "acc-1", "balance": balance, "equity": equity}) + "\n")

    def add_raw(self, *lines: bytes) -> None:
        """Lines as they are, however broken; each takes a second of the feed's time."""
        self.second += len(lines)
        with self.path.open("ab") as handle:
            handle.writelines(lines)


def telegram_env(tmp_path: Path, api: FakeTelegram, **extra: str) -> dict[str, str]:
    return riskmon_env(
        tmp_path,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_CHAT_ID=CHAT,
        TELEGRAM_API_BASE_URL=api.url,
        TELEGRAM_COOLDOWN_S="0",
        TELEGRAM_DAILY_SUMMARY="false",
        **extra,
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegram]:
    fake = await FakeTelegram(TOKEN).start()
    yield fake
    await fake.stop()


def outbox_states(db: Path) -> dict[str, int]:
    return {state: count for state, count in query(db, "SELECT state, COUNT(*) FROM outbox GROUP BY state")}


def deliveries(api: FakeTelegram) -> dict[str, int]:
    """Successful sendMessage requests per message text."""
    counts: dict[str, int] = {}
    for call in api.sent():
        counts[call.params["text"]] = counts.get(call.params["text"], 0) + 1
    return counts


async def test_telegram_429_storm_500s_and_timeouts(
    tmp_path: Path, spawn: Spawn, outcome: Outcome, api: FakeTelegram
) -> None:
    """Telegram times out, answers 500, then a 429 storm."""
    feed = Feed(tmp_path)
    feed.add("100000", "100000")
    api.slow("sendMessage", 1.5)  # longer than TELEGRAM_TIMEOUT: the send times out (Telegram accepted it)
    api.fail("sendMessage", 500)
    api.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, times=3)
    rm = spawn(telegram_env(tmp_path, api, TELEGRAM_TIMEOUT="1"), feed.config)
    await rm.wait(lambda: len(rm.snapshots()) == 1, what="first snapshot")

    outcome.fault_injected()
    latencies = []
    for equity, check in (
        ("95800", alert_seen(rm, "WARNING", "firing", "daily_loss")),
        ("94999.99", alert_seen(rm, "CRITICAL", "escalated", "daily_loss")),
        ("89999.99", alert_seen(rm, "CRITICAL", "firing", "max_loss")),  # a breach is kept: no "resolved"
    ):
        written = time.monotonic()
        feed.add("100000", equity)
        latencies.append(await rm.wait(check, what=f"console alert at {equity}") - written)
    assert max(latencies) < 2, latencies  # monitoring is never held up by Telegram

    await api.wait_for(lambda: sum(deliveries(api).values()) == 4, within_s=30)  # one twice (below)
    outcome.recovered()
    sent = deliveries(api)
    assert len(sent) == 3
    assert sum(1 for c in api.calls if c.method == "sendMessage" and c.status == 429) == 3
    assert sum(1 for c in api.calls if c.method == "sendMessage" and c.status == 500) == 1
    # The timed-out request had reached Telegram: the retry delivers it a second time (documented: at most
    # one duplicate, never a loss). Every other alert arrives exactly once.
    assert sorted(sent.values()) == [1, 1, 2], sent
    assert sent[api.sent()[0].params["text"]] == 2
    # Telegram's 200 is recorded as it leaves the fake; riskmon marks the row sent once it has read it.
    await rm.wait(lambda: outbox_states(tmp_path / "riskmon.db") == {"sent": 3}, what="outbox all sent")
    outcome.did(
        f"console alerts on time (worst {max(latencies):.2f} s); Telegram retried with backoff and retry_after; "
        "all 3 delivered, the one whose send timed out after Telegram took it twice"
    )
    outcome.losses(alerts=0)


async def test_sqlite_locked_by_another_process(
    tmp_path: Path, spawn: Spawn, outcome: Outcome, api: FakeTelegram
) -> None:
    """SQLite file locked by another process (BEGIN EXCLUSIVE for 2.5 s)."""
    feed = Feed(tmp_path)
    db = tmp_path / "riskmon.db"
    feed.add("100000", "100000")
    rm = spawn(telegram_env(tmp_path, api), feed.config)  # Telegram's outbox lives in the same file
    await rm.wait(lambda: bool(logged(rm, "telegram: connected")), what="started")
    await rm.wait(lambda: bool(query(db, "SELECT 1 FROM account_state")), what="state saved")

    # Another process (not this one: its own file locks) holds the database for 2.5 s.
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCK_HOLDER, str(db), "2.5", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert (await asyncio.wait_for(holder.stdout.readline(), 10)).strip() == b"locked"
        outcome.fault_injected()
        latencies = []
        for equity in ("99000", "95800", "95700", "95600"):  # the warning fires while the file is locked
            written = time.monotonic()
            feed.add("100000", equity)
            count = len(rm.snapshots())
            latencies.append(await rm.wait(lambda c=count: len(rm.snapshots()) > c, what="a snapshot") - written)
        await rm.wait(alert_seen(rm, "WARNING", "firing", "daily_loss"), what="warning while locked")
        assert max(latencies) < 1.5, latencies  # monitoring does not wait for the database
        assert await asyncio.wait_for(holder.wait(), 15) == 0
        outcome.fault_ended()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()

    def persisted() -> bool:
        state = account_state(db, "acc-1")
        return state["alerts"] == {"daily_loss": "warning"} and state["day_start_balance"] == "100000"

    feed.add("100000", "95600")  # the next snapshot after the lock is gone writes the state
    saved = await rm.wait(persisted, what="state persisted after the lock")
    outcome.recovered(saved)
    errors = logged(rm, "could not save state")
    assert len(errors) == 1, errors  # one clear line, not one per snapshot
    assert "locked" in errors[0]["message"]
    await rm.wait(lambda: bool(logged(rm, "state saved again")), what="the recovery logged")
    # The alert raised while the outbox could not be written was kept in memory, then sent once.
    await api.wait_for(lambda: len(api.sent()) == 1, within_s=10)
    await rm.wait(lambda: outbox_states(db) == {"sent": 1}, what="outbox sent")
    assert list(deliveries(api).values()) == [1]
    assert len(logged(rm, "telegram: cannot queue alerts")) == 1
    await rm.wait(lambda: bool(logged(rm, "alerts held during a database outage queued")), what="queued logged")
    assert rm.process.proc.poll() is None
    outcome.did(
        f"one log line each (state, Telegram outbox); kept monitoring (worst snapshot latency {max(latencies):.2f} s); "
        "wrote the state and queued the held alert with the first snapshot after the lock; alert sent once"
    )
    outcome.losses(alerts=0, anchors=0)


LOCK_HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


async def test_sigkill_and_restart_mid_day(tmp_path: Path, spawn: Spawn, outcome: Outcome) -> None:
    """SIGKILL the instant an alert fires, restart mid-day."""
    feed = Feed(tmp_path)
    db = tmp_path / "riskmon.db"
    feed.add("100000", "100000")
    feed.add("100000", "95800")  # 4,200 of 5,000 lost: warning
    first = spawn(riskmon_env(tmp_path), feed.config)
    await first.wait(alert_seen(first, "WARNING", "firing", "daily_loss"), what="warning")
    assert await first.kill() == -signal.SIGKILL
    before = account_state(db, "acc-1")

    outcome.fault_injected()
    feed.add("97000", "96000")  # the trader closed losers while riskmon was down: 97,000 is not the anchor
    second = spawn(riskmon_env(tmp_path), feed.config)
    resumed = await second.wait(lambda: bool(logged(second, "resumed state")), what="state resumed")
    outcome.recovered(resumed)
    feed.add("97000", "94999.99")
    breach = await second.wait_line(lambda line: "CRITICAL" in line and "daily_loss" in line)
    assert "escalated" in breach and "floor 95,000.00" in breach
    assert count_alerts(second, "WARNING", "firing", "daily_loss") == 0  # no second "firing" for the open alert
    after = account_state(db, "acc-1")
    assert before["day_start_balance"] == after["day_start_balance"] == "100000"
    assert before["alerts"] == {"daily_loss": "warning"} and after["alerts"] == {"daily_loss": "critical"}
    outcome.did("state was durable before the alert was printed; restart resumed anchor and open alert, escalated")
    outcome.losses(alerts=0, anchors=0)


# ---- enforcement ---------------------------------------------------------------------------------------

ENFORCE_CONFIG = """
[[accounts]]
id = "{account}"
platform = "ctrader"
label = "cT"
rules = {{ daily_loss = {{ size = 5 }} }}
[accounts.enforce]
mode = "live"
[accounts.enforce.flatten]
at_used = 0.9
"""


async def test_sigkill_during_enforcement(tmp_path: Path, spawn: Spawn, outcome: Outcome) -> None:
    """SIGKILL between a close request and its answer (live flatten)."""
    config = tmp_path / "riskmon.toml"
    config.write_text(ENFORCE_CONFIG.format(account=ACCOUNT))
    db = tmp_path / "riskmon.db"
    async with ctrader() as (server, market):
        pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
        env = toml_env(ctrader_env(server, tmp_path, DRY_RUN="false"))
        first = spawn(env, config)
        await streaming(first)

        server.response_delay = 0.5  # the close request waits at the broker ...
        market.bid = Decimal("1.09530")  # 470.00 of 500.00 lost: past the 90 % flatten line
        await asyncio.wait_for(server.arrived(2111), 10)
        assert await first.kill() == -signal.SIGKILL  # ... and riskmon dies before the answer
        outcome.fault_injected()
        await asyncio.wait_for(server.received(2111), 10)  # the broker executes it all the same
        server.response_delay = 0
        await eventually(lambda: not server.positions, what="the broker closed the position")

        second = spawn(env, config)
        done = await second.wait(lambda: bool(logged(second, "confirmed by a fresh snapshot")), what="confirmed")
        outcome.recovered(done)
        await asyncio.sleep(0.5)  # a window for any wrongful second request to show up at the broker

        closes = [r for r in server.close_requests if r.target_id == pid]
        assert len(closes) == 1, server.close_requests
        assert not server.positions and not position_ids(second.snapshots()[-1])
        (state,) = query(db, "SELECT state FROM enforcement_status WHERE account = ?", ACCOUNT)
        assert state == ("halted",)
        actions = query(db, "SELECT status, attempts FROM enforcement_action WHERE account = ?", ACCOUNT)
        assert actions == [("done", 1)]
        audit = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "riskmon.cli", "audit", "--env-file", os.devnull,
            env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(audit.communicate(), 30)
        assert audit.returncode == 0
        steps = [json.loads(line)["step"] for line in out.decode().splitlines()]
        assert steps.count("request") == 1 and "verify" in steps
        outcome.did("restart loaded the unanswered close, verified it against a fresh snapshot: flat and HALTED")
        outcome.losses(double_closes=len(closes) - 1)


async def test_sigkill_during_enforcement_restart_before_the_broker_answers(
    tmp_path: Path, spawn: Spawn, outcome: Outcome
) -> None:
    """SIGKILL between a close request and its answer, restarted before the broker executes it."""
    config = tmp_path / "riskmon.toml"
    config.write_text(ENFORCE_CONFIG.format(account=ACCOUNT))
    db = tmp_path / "riskmon.db"
    async with ctrader() as (server, market):
        pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.10000")
        env = toml_env(ctrader_env(server, tmp_path, DRY_RUN="false"))
        first = spawn(env, config)
        await streaming(first)

        server.response_delays[2111] = 2.5  # the broker takes 2.5 s to execute a close
        market.bid = Decimal("1.09530")
        await asyncio.wait_for(server.arrived(2111), 10)
        assert await first.kill() == -signal.SIGKILL
        outcome.fault_injected()
        second = spawn(env, config)  # up again while the broker still works on the first request
        done = await second.wait(lambda: bool(logged(second, "confirmed by a fresh snapshot")), what="confirmed")
        outcome.recovered(done)
        await asyncio.sleep(0.5)

        closes = [r for r in server.close_requests if r.target_id == pid]
        assert len(closes) == 1, server.close_requests
        assert not server.positions and not position_ids(second.snapshots()[-1])
        assert query(db, "SELECT state FROM enforcement_status WHERE account = ?", ACCOUNT) == [("halted",)]
        assert query(db, "SELECT status, attempts FROM enforcement_action WHERE account = ?", ACCOUNT) == [("done", 1)]
        raced = bool(logged(second, "still open after"))
        outcome.did(
            "restart saw the position still open (unconfirmed alert, resend scheduled); the broker's fill "
            "confirmed it before the resend was due: one request, flat and HALTED"
            if raced
            else "the restart took longer than the broker: the first snapshot already showed it closed"
        )
        outcome.losses(double_closes=len(closes) - 1)


# ---- shutdown --------------------------------------------------------------------------------------------


async def test_sigterm_with_telegram_down(tmp_path: Path, spawn: Spawn, outcome: Outcome, api: FakeTelegram) -> None:
    """SIGTERM during an outbox backlog (Telegram down); a second SIGTERM."""
    feed = Feed(tmp_path)
    db = tmp_path / "riskmon.db"
    feed.add("100000", "100000")
    feed.add("100000", "95800")
    feed.add("100000", "94999.99")
    api.fail("getMe", 500, times=1000)
    api.fail("sendMessage", 500, times=1000)
    env = telegram_env(tmp_path, api)
    first = spawn(env, feed.config)
    await first.wait(alert_seen(first, "CRITICAL", "escalated", "daily_loss"), what="critical alert")
    await first.wait(lambda: len(query(db, "SELECT id FROM outbox WHERE state = 'pending'")) == 2)

    stopping = time.monotonic()
    first.signal(signal.SIGTERM)
    assert await first.exit_code(12) == 0
    stop_s = time.monotonic() - stopping
    assert stop_s < 11
    pending = query(db, "SELECT text FROM outbox WHERE state = 'pending' ORDER BY id")
    assert len(pending) == 2 and not api.sent()

    api.heal()
    outcome.fault_injected()
    second = spawn(env, feed.config)
    await api.wait_for(lambda: len(api.sent()) == 2, within_s=15)
    outcome.recovered()
    assert deliveries(api) == {text: 1 for (text,) in pending}

    # A second signal ends riskmon at once, even while the first one waits for a hanging Telegram.
    api.slow("getMe", 30)
    api.slow("getMe", 30)
    second.signal(signal.SIGTERM)
    await second.wait(lambda: bool(logged(second, "SIGTERM received")), what="first signal handled")
    hurried = time.monotonic()
    second.signal(signal.SIGTERM)
    assert await second.exit_code(3) == 1
    assert time.monotonic() - hurried < 1.5
    outcome.did(
        f"exit 0 in {stop_s:.1f} s with 2 messages kept on disk, each sent once on the next start; "
        "a second SIGTERM exited at once"
    )
    outcome.losses(alerts=0)


# ---- hostile input and broken storage (issue 15) ------------------------------------------------------


async def test_hostile_replay_lines(tmp_path: Path, spawn: Spawn, outcome: Outcome) -> None:
    """Hostile replay lines: invalid UTF-8, a line nested 100,000 deep, a stamp ten years ahead."""
    feed = Feed(tmp_path)
    db = tmp_path / "riskmon.db"
    feed.add("100000", "100000")
    rm = spawn(riskmon_env(tmp_path), feed.config)
    await rm.wait(lambda: bool(logged(rm, "watching 1 account")), what="started")
    await rm.wait(lambda: bool(query(db, "SELECT 1 FROM account_state")), what="state saved")
    outcome.fault_injected()
    feed.add_raw(
        b'{"ts": "2026-03-02T09:00:02+00:00", "account": "\xff", "balance": "1", "equity": "1"}\n',
        b"[" * 100_000 + b"\n",
        b'{"ts": "2036-03-02T09:00:00+00:00", "account": "acc-1", "balance": "100000", "equity": "1"}\n',
    )
    feed.add("100000", "94000")  # a real breach after the garbage
    breach = await rm.wait(alert_seen(rm, "CRITICAL", "firing", "daily_loss"), what="the breach after the garbage")
    outcome.recovered(breach)
    assert logged(rm, "not valid UTF-8") and logged(rm, "nested too deeply")
    assert logged(rm, "snapshot refused") and not logged(rm, "feed failed")  # never a restart of the feed
    state = account_state(db, "acc-1")
    await rm.wait(lambda: account_state(db, "acc-1")["alerts"].get("daily_loss") == "critical", what="saved")
    assert account_state(db, "acc-1")["trading_day"] == "2026-03-02" and state["last_ts"] < "2027"
    outcome.did(
        "one log line each: two bad lines skipped, the future stamp refused unevaluated and unsaved; the feed "
        "was never restarted and the breach after them fired"
    )
    outcome.losses(alerts=0, anchors=0 if account_state(db, "acc-1")["day_start_balance"] == "100000" else 1)


def delete_database(folder: Path) -> None:
    for path in folder.glob("riskmon.db*"):
        if not path.name.endswith(".lock"):
            path.unlink()


async def test_database_deleted_while_running(
    tmp_path: Path, spawn: Spawn, outcome: Outcome, api: FakeTelegram
) -> None:
    """State database deleted while riskmon runs."""
    import httpx

    from tests.integration.test_prometheus import free_port

    feed = Feed(tmp_path)
    db = tmp_path / "riskmon.db"
    feed.add("100000", "100000")
    port = free_port()
    rm = spawn(telegram_env(tmp_path, api, METRICS_PORT=str(port)), feed.config)
    await rm.wait(lambda: bool(logged(rm, "telegram: connected")), what="started")
    await rm.wait(lambda: bool(query(db, "SELECT 1 FROM account_state")), what="state saved")
    outcome.fault_injected()
    delete_database(tmp_path)
    feed.add("100000", "94000")  # a breach, whose state and alert the database can no longer keep
    await api.wait_for(lambda: any("daily loss" in t for t in (c.params["text"] for c in api.sent())), within_s=15)
    outcome.recovered()
    texts = [c.params["text"] for c in api.sent()]
    assert any("state unsaved" in t and "cannot save" in t for t in texts)
    async with httpx.AsyncClient(trust_env=False) as client:
        health = await client.get(f"http://127.0.0.1:{port}/healthz")
    assert health.status_code == 503 and "state not saved" in health.text
    assert logged(rm, "could not save state") and "deleted" in logged(rm, "could not save state")[0]["message"]
    outcome.did(
        "the first write after the deletion failed loudly: /healthz 503, CRITICAL state_unsaved and the breach "
        "sent to Telegram directly (the outbox lived in the deleted file)"
    )
    outcome.losses(alerts=0)


async def test_a_thousand_accounts_scraped_non_stop_dips_and_a_reconnect(outcome: Outcome) -> None:
    """1,000 cTrader accounts, /metrics scraped non-stop: 50 dips past a floor, a reconnect as 50 more cross."""
    from tests.faults.scale import INVARIANT_S, report, run_scenario

    outcome.fault_injected()
    run = await run_scenario(accounts=1000, dips=50, endangered=50)
    print(report(run))
    assert len(run.crossings) == 100 and run.scrapes > 0 and run.scrape_failures == 0
    missed = [v for v in run.verdicts if v.outcome == "missed"]
    assert not missed, report(run)  # every crossing alerted, or blind-alarmed within the bound: none lost
    assert run.reload_s is not None
    outcome.row.recovery_s = run.reload_s
    timely = run.count("alerted") + run.count("blind")
    outcome.did(
        f"every crossing alerted ({timely} of {len(run.crossings)} within {INVARIANT_S:.0f} s; dips p99 "
        f"{max(run.latencies('dip')) * 1000:.0f} ms, each dip kept though a recovery followed it before it was "
        f"evaluated); after the drop the 50 accounts nearest a floor were authorised and reloaded first (their "
        f"crossings alerted in at most {max(run.latencies('reconnect')):.1f} s, back-off included), every book in "
        f"{run.reload_s:.1f} s; {run.scrapes} scrapes, none failed"
    )
    outcome.losses(alerts=len(missed))
