"""Shared set-up: a fake cTrader server on loopback with a USD account and cross-currency symbols."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from riskmon.clock import TradingCalendar
from riskmon.models import AccountSnapshot
from riskmon.platforms.ctrader import Backoff, CTraderFeed, CTraderSession, Timings, Tokens
from tests.fakes.ctrader_server import FakeCTraderServer

CTID, LOGIN = 1001, 7001
FAST = Timings(
    request_timeout=1.0,
    heartbeat_interval=0.2,
    silence_timeout=0.6,
    backoff=Backoff(initial=0.01, maximum=0.05),
)
CALENDAR = TradingCalendar.of("UTC")


def build_server(**options: Any) -> FakeCTraderServer:
    """Heartbeats every 0.2 s, as the real proxy sends them, so an idle test never looks silent."""
    server = FakeCTraderServer(**{"heartbeat_interval": 0.2, **options})
    server.add_symbol("EURUSD", "EUR", "USD", bid="1.10000", ask="1.10010")
    server.add_symbol("GBPUSD", "GBP", "USD", bid="1.25000", ask="1.25020")
    server.add_symbol("EURGBP", "EUR", "GBP", bid="0.86000", ask="0.86012")
    server.add_symbol("USDJPY", "USD", "JPY", bid="150.000", ask="150.021", digits=3)
    server.add_account(ctid=CTID, login=LOGIN, currency="USD", balance="10000.00")
    return server


NUMERIC = {"enum_names": False, "int64_as_strings": False}  # the other encoding the decoder must take


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncGenerator[FakeCTraderServer, None]:
    """Enums as names and int64 as strings by default; parametrize indirectly with NUMERIC for numbers."""
    async with build_server(**getattr(request, "param", {})) as srv:
        yield srv


def make_session(
    server: FakeCTraderServer,
    accounts: Sequence[str] = (str(CTID),),
    *,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    **options: Any,
) -> CTraderSession:
    """A session on the fake server with its current credentials (override one to make it wrong)."""
    return CTraderSession(
        client_id=server.client_id,
        client_secret=SecretStr(client_secret or server.client_secret),
        tokens=Tokens(SecretStr(server.access_token), SecretStr(refresh_token or server.refresh_token)),
        accounts=accounts,
        **{"url": server.url, "timings": FAST, **options},
    )


async def next_snapshot(
    snaps: AsyncIterator[AccountSnapshot],
    where: Callable[[AccountSnapshot], bool] = lambda s: True,
    within: float = 3.0,
) -> AccountSnapshot:
    async with asyncio.timeout(within):
        async for snap in snaps:
            if where(snap):
                return snap
    raise AssertionError("feed ended")


class Running:
    """A session + feed whose snapshot iterator is closed (and session too) at the end of the test."""

    def __init__(self, session: CTraderSession, feed: CTraderFeed) -> None:
        self.session, self.feed = session, feed
        self.snaps = feed.snapshots()

    async def aclose(self) -> None:
        await self.snaps.aclose()
        await self.session.close()


@pytest.fixture
async def running(server: FakeCTraderServer) -> AsyncGenerator[Callable[..., Running], None]:
    started: list[Running] = []

    def start(session: CTraderSession | None = None, **feed_options: object) -> Running:
        session = session or make_session(server)
        run = Running(session, CTraderFeed(session, calendar=CALENDAR, **feed_options))  # type: ignore[arg-type]
        started.append(run)
        return run

    yield start
    for run in started:
        await run.aclose()
