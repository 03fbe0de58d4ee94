"""Faults the session survives: drops, silence, invalidated tokens, malformed frames, expired tokens."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from riskmon.errors import AuthenticationError
from riskmon.platforms.ctrader import TokenStore
from tests.fakes.ctrader_server import FakeCTraderServer

from .conftest import CTID, Running, make_session, next_snapshot


async def test_reconnect_after_drop_resumes_with_all_positions(
    server: FakeCTraderServer, running: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09")
    await server.open_position(CTID, "USDJPY", "SELL", lots="0.5", price="150.5")
    run = running()
    await next_snapshot(run.snaps, lambda s: len(s.positions) == 2)
    await server.drop_connections()
    # while we are away a position opens; after the reconnect it is there and prices flow again
    pid = await server.open_position(CTID, "EURGBP", "BUY", lots="0.2", price="0.855")
    snap = await next_snapshot(run.snaps, lambda s: len(s.positions) == 3)
    assert server.connections_opened == 2 and run.session.reconnects == 1
    assert str(pid) in {p.id for p in snap.positions}
    await server.set_price("EURGBP", bid="0.87000", ask="0.87010")
    snap = await next_snapshot(run.snaps, lambda s: s.equity == server.equity(CTID))
    assert len(snap.positions) == 3
    assert any("reconnecting" in r.getMessage() for r in caplog.records)


async def test_silence_counts_as_a_dead_connection(
    server: FakeCTraderServer, running: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09")
    run = running()
    await next_snapshot(run.snaps)
    server.go_silent()
    await server.set_price("EURUSD", bid="1.11")  # not delivered: the old connection is silent
    snap = await next_snapshot(run.snaps, lambda s: s.equity == Decimal("12000.00"), within=5)
    assert server.connections_opened == 2
    assert any("no message from cTrader for 0.6 s" in r.getMessage() for r in caplog.records)
    assert snap.positions[0].price == Decimal("1.11")


async def test_heartbeats_keep_an_idle_link(server: FakeCTraderServer) -> None:
    import asyncio

    session = make_session(server)  # heartbeat_interval 0.2 s
    await session.start()
    await asyncio.sleep(0.5)
    assert server.heartbeats_received >= 2
    await session.close()


async def test_server_heartbeats_are_answered(server: FakeCTraderServer) -> None:
    import asyncio
    from dataclasses import replace

    from .conftest import FAST

    session = make_session(server, timings=replace(FAST, heartbeat_interval=60))  # never idle-driven here
    await session.start()
    await server.send_raw(json.dumps({"payloadType": 51}))
    await server.send_raw(json.dumps({"payloadType": 51, "payload": {}}))
    await asyncio.sleep(0.1)
    assert server.heartbeats_received >= 2  # ours are only answers: our idle interval is 60 s
    await session.close()


async def test_token_invalidated_reauthorises_and_snapshots_continue(
    server: FakeCTraderServer, running: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09")
    run = running()
    await next_snapshot(run.snaps)
    assert server.account_auths == 1
    await server.invalidate_token([CTID])
    # spots resume only after re-auth and re-subscription (the server dropped our subscriptions)
    for bid in ("1.10100", "1.10200", "1.10300"):
        await server.set_price("EURUSD", bid=bid)
    snap = await next_snapshot(run.snaps, lambda s: s.positions[0].price == Decimal("1.103"))
    assert server.account_auths == 2 and server.connections_opened == 1
    await server.set_price("EURUSD", bid="1.12")
    snap = await next_snapshot(run.snaps, lambda s: s.positions[0].price == Decimal("1.12"))
    assert snap.equity == server.equity(CTID)
    assert any("token invalidated for 1001; re-authorising" in r.getMessage() for r in caplog.records)


async def test_account_disconnect_reauthorises_that_account(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09")
    run = running()
    await next_snapshot(run.snaps)
    await server.disconnect_account(CTID)
    for bid in ("1.10100", "1.10200"):
        await server.set_price("EURUSD", bid=bid)
    await next_snapshot(run.snaps, lambda s: s.positions[0].price == Decimal("1.102"))
    assert server.account_auths == 2 and server.connections_opened == 1


async def test_client_disconnect_event_reconnects(
    server: FakeCTraderServer, running: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    run = running()
    await next_snapshot(run.snaps)
    await server.end_application_session("server restart")
    await server.deposit(CTID, "1")  # not seen until the new connection reconciles
    snap = await next_snapshot(run.snaps, lambda s: s.balance == Decimal("10001.00"))
    assert server.connections_opened == 2 and snap.equity == server.equity(CTID)
    assert "ended the application session: server restart" in caplog.text


async def test_history_requests_are_rate_limited(server: FakeCTraderServer) -> None:
    import asyncio
    import time
    from datetime import UTC, datetime

    from riskmon.platforms.ctrader.api import fetch_realized

    session = make_session(server, history_rate_limit=20)
    await session.start()
    began = time.monotonic()
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    await asyncio.gather(*(fetch_realized(session, CTID, since, until, 2) for _ in range(30)))
    assert time.monotonic() - began >= 0.4  # 20 at once, then 20 per second
    await session.close()


@pytest.mark.parametrize(
    "frame",
    [
        "not json at all",
        json.dumps({"payload": {}}),  # no payloadType
        json.dumps({"payloadType": "spot", "payload": {}}),
        json.dumps({"payloadType": 2131, "payload": {"ctidTraderAccountId": CTID, "symbolId": "x", "bid": 1}}),
        json.dumps({"payloadType": 2131, "payload": {"ctidTraderAccountId": CTID, "symbolId": 1, "bid": [1]}}),
        json.dumps({"payloadType": 2126, "payload": {"ctidTraderAccountId": CTID, "executionType": "??"}}),
        json.dumps([1, 2, 3]),
    ],
)
async def test_malformed_frame_is_counted_and_skipped(
    server: FakeCTraderServer, running: Callable[..., Running], caplog: pytest.LogCaptureFixture, frame: str
) -> None:
    await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09")
    run = running()
    await next_snapshot(run.snaps)
    await server.send_raw(frame)
    await server.set_price("EURUSD", bid="1.11")
    snap = await next_snapshot(run.snaps, lambda s: s.positions[0].price == Decimal("1.11"))
    assert snap.equity == server.equity(CTID)
    assert run.session.malformed_frames == 1 and run.session.connected
    (line,) = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert "\n" not in line


async def test_expired_token_is_refreshed_in_band_persisted_and_never_logged(
    server: FakeCTraderServer,
    running: Callable[..., Running],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = TokenStore(tmp_path / "tokens" / "ctrader.json")
    stale_access = server.access_token
    session = make_session(server, token_store=store)  # holds the token about to expire
    server.expire_access_token()
    run = running(session)
    snap = await next_snapshot(run.snaps)
    assert snap.balance == Decimal("10000.00")
    saved = json.loads(store.path.read_text())
    assert saved == {"accessToken": server.access_token, "refreshToken": server.refresh_token}
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    loaded = store.load()
    assert loaded.access.get_secret_value() == server.access_token
    secrets = {stale_access, server.access_token, server.refresh_token, "refresh-0", server.client_secret}
    text = caplog.text + repr(loaded) + str(loaded)
    assert not [s for s in secrets if s in text]
    assert "access token refreshed and saved" in caplog.text


async def test_refused_refresh_token_is_fatal(server: FakeCTraderServer) -> None:
    session = make_session(server, refresh_token="wrong")
    server.expire_access_token()
    with pytest.raises(AuthenticationError, match="refresh token"):
        await session.start()
    await session.close()


async def test_wrong_client_secret_is_fatal(server: FakeCTraderServer) -> None:
    session = make_session(server, client_secret="nope")
    with pytest.raises(AuthenticationError, match="CH_CLIENT_AUTH_FAILURE"):
        await session.start()
    await session.close()


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    import random

    from riskmon.platforms.ctrader import Backoff

    backoff, rng = Backoff(initial=1, maximum=8, factor=2, jitter=0.25), random.Random(7)
    delays = [backoff.delay(attempt, rng) for attempt in range(6)]
    for attempt, delay in enumerate(delays):
        base = min(8, 2**attempt)
        assert 0.75 * base <= delay <= 1.25 * base
    assert backoff.delay(10_000, rng) <= 10  # no overflow, still capped


async def test_unreachable_server_is_retried_until_it_answers(
    server: FakeCTraderServer, running: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    from riskmon.errors import PlatformUnavailable
    from riskmon.platforms.ctrader.transport import Connection, websocket_connect

    failures = 3

    async def flaky_connect(url: str) -> Connection:
        nonlocal failures
        if failures:
            failures -= 1
            raise PlatformUnavailable(f"cannot connect to {url}: refused")
        return await websocket_connect(url)

    run = running(make_session(server, connect=flaky_connect))
    snap = await next_snapshot(run.snaps)
    assert snap.balance == Decimal("10000.00") and run.session.reconnects == 3
    assert caplog.text.count("cannot connect to") == 3


async def test_failed_reauthorisation_falls_back_to_a_reconnect(
    server: FakeCTraderServer, running: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    run = running()
    await next_snapshot(run.snaps)
    server.fail_next(2102, "CANT_ROUTE_REQUEST")  # the re-auth after the event is refused once
    await server.invalidate_token([CTID])
    await server.deposit(CTID, "5")  # seen only once the account is authorised again
    snap = await next_snapshot(run.snaps, lambda s: s.balance == Decimal("10005.00"))
    assert server.connections_opened == 2 and snap.equity == server.equity(CTID)
    assert "re-authorisation failed (cTrader error CANT_ROUTE_REQUEST" in caplog.text


async def test_transient_refusal_at_login_is_retried(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    server.fail_next(2100, "SERVER_IS_UNDER_MAINTENANCE", "common")
    run = running()
    snap = await next_snapshot(run.snaps)
    assert snap.balance == Decimal("10000.00") and server.connections_opened == 2
