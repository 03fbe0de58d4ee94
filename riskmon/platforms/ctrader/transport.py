"""WebSocket transport: one JSON text frame per message, TLS unless told otherwise (tests use loopback)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from riskmon.errors import PlatformUnavailable

LIVE_HOST = "live.ctraderapi.com"
DEMO_HOST = "demo.ctraderapi.com"
JSON_PORT = 5036

# websockets logs frame contents at DEBUG; frames carry tokens, so this logger never goes below INFO.
WIRE_LOG = logging.getLogger("riskmon.platforms.ctrader.wire")
WIRE_LOG.setLevel(logging.INFO)


class Connection(Protocol):
    async def send(self, text: str) -> None: ...

    async def recv(self) -> str | bytes: ...

    async def close(self) -> None: ...


Connector = Callable[[str], Awaitable[Connection]]


def endpoint_url(host: str, port: int = JSON_PORT, tls: bool = True) -> str:
    return f"{'wss' if tls else 'ws'}://{host}:{port}"


class WebSocketConnection:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise PlatformUnavailable(f"cTrader connection closed: {exc}") from None

    async def recv(self) -> str | bytes:
        try:
            return await self._ws.recv()
        except ConnectionClosed as exc:
            raise PlatformUnavailable(f"cTrader connection closed: {exc}") from None

    async def close(self) -> None:
        await self._ws.close()


async def websocket_connect(url: str) -> Connection:
    try:
        # No permessage-deflate: spot frames are small, and inflating each one costs more CPU than it saves.
        ws = await connect(
            url, logger=WIRE_LOG, ping_interval=None, max_size=16 * 1024 * 1024, open_timeout=10, compression=None
        )
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise PlatformUnavailable(f"cannot connect to {url}: {exc}") from None
    return WebSocketConnection(ws)
