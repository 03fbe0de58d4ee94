"""A SignalR hub connection: the JSON hub protocol (version 1) over one WebSocket, as ProjectX uses it.

ProjectX documents its hubs with negotiation skipped and the WebSocket transport only, the token in the
``access_token`` query parameter. What is spoken on the socket is SignalR's documented hub protocol:

- handshake: the client sends ``{"protocol":"json","version":1}`` and the record separator ``0x1e``;
  the server answers ``{}`` (or ``{"error": ...}``), also ended by ``0x1e``;
- every message is one JSON object ended by ``0x1e`` (one WebSocket frame may hold several);
- ``type`` 1 invocation (``target``, ``arguments``, optional ``invocationId``), 3 completion
  (``invocationId`` with ``result`` or ``error``), 6 ping, 7 close (optional ``error``);
- each side pings when it has sent nothing for a while; a side that hears nothing for the server
  timeout (30 s by default) takes the connection as dead.

A frame that is not JSON is logged and skipped (``on_malformed`` is told, so the owner can re-read
state by REST); the connection survives it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect

from riskmon.errors import PlatformUnavailable, ProtocolError

log = logging.getLogger(__name__)

RS = "\x1e"
INVOCATION, STREAM_ITEM, COMPLETION, STREAM_INVOCATION, CANCEL_INVOCATION, PING, CLOSE = 1, 2, 3, 4, 5, 6, 7
HANDSHAKE = json.dumps({"protocol": "json", "version": 1}) + RS

EventHandler = Callable[[str, list[Any]], None]


class HubError(PlatformUnavailable):
    """The hub closed the connection, refused the handshake, or fell silent."""


class HubUnauthorized(HubError):
    """The hub refused the token (HTTP 401/403 on the upgrade): log in again, then reconnect."""


def hub_socket_url(url: str, token: str) -> str:
    """``https://host/hubs/user`` -> ``wss://host/hubs/user?access_token=...`` (negotiation skipped)."""
    parts = urlsplit(url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    query = "&".join(q for q in (parts.query, urlencode({"access_token": token})) if q)
    return urlunsplit((scheme, parts.netloc, parts.path, query, ""))


def records(text: str) -> list[str]:
    """The JSON records in one WebSocket text frame."""
    return [part for part in text.split(RS) if part.strip()]


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":")) + RS


class HubConnection:
    """One connection to one hub; ``run`` returns only by raising (HubError when the link is lost)."""

    def __init__(
        self,
        name: str,
        url: str,
        on_event: EventHandler,
        *,
        keepalive: float = 15.0,
        server_timeout: float = 30.0,
        on_malformed: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self._on_event = on_event
        self._on_malformed = on_malformed
        self._keepalive = keepalive
        self._server_timeout = server_timeout
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def run(self, token: str, on_open: Callable[[HubConnection], Awaitable[None]]) -> None:
        """Connect, shake hands, let ``on_open`` subscribe, then dispatch events until the link is lost."""
        try:
            async with connect(hub_socket_url(self.url, token), open_timeout=10, ping_interval=None) as ws:
                await ws.send(HANDSHAKE)
                await self._handshake(ws)
                self._ws = ws
                reader = asyncio.create_task(self._read(ws), name=f"{self.name} hub reader")
                pinger = asyncio.create_task(self._ping(ws), name=f"{self.name} hub ping")
                try:
                    await on_open(self)
                    await reader
                finally:
                    pinger.cancel()
                    reader.cancel()
                    await asyncio.gather(pinger, reader, return_exceptions=True)
        except websockets.InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise HubUnauthorized(f"{self.name} hub refused the token (HTTP {status})") from None
            raise HubError(f"{self.name} hub answered HTTP {status}") from None
        except (OSError, websockets.WebSocketException, TimeoutError) as exc:
            raise HubError(f"{self.name} hub connection lost ({type(exc).__name__}: {exc})") from None
        finally:
            self._ws = None
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(HubError(f"{self.name} hub connection lost"))
            self._pending.clear()

    async def invoke(self, target: str, *arguments: Any) -> Any:
        """Call a hub method and wait for its completion; a completion with ``error`` raises HubError."""
        ws = self._ws
        if ws is None:
            raise HubError(f"{self.name} hub not connected")
        invocation = str(next(self._ids))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[invocation] = future
        try:
            await ws.send(
                encode({"type": INVOCATION, "invocationId": invocation, "target": target, "arguments": list(arguments)})
            )
            async with asyncio.timeout(self._server_timeout):
                return await future
        except TimeoutError:
            raise HubError(f"{self.name} hub: no answer to {target} within {self._server_timeout:g} s") from None
        finally:
            self._pending.pop(invocation, None)

    async def _handshake(self, ws: ClientConnection) -> None:
        async with asyncio.timeout(self._server_timeout):
            frame = await ws.recv()
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        first, *rest = records(text) or [""]
        try:
            answer = json.loads(first)
        except ValueError:
            raise ProtocolError(f"{self.name} hub handshake answer is not JSON") from None
        if not isinstance(answer, dict) or answer.get("error"):
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise HubError(f"{self.name} hub refused the handshake: {error}")
        for record in rest:  # messages sent right behind the handshake answer
            self._dispatch(record)

    async def _read(self, ws: ClientConnection) -> None:
        while True:
            try:
                async with asyncio.timeout(self._server_timeout):
                    frame = await ws.recv()
            except TimeoutError:
                raise HubError(f"nothing from the {self.name} hub for {self._server_timeout:g} s") from None
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            for record in records(text):
                self._dispatch(record)

    def _dispatch(self, record: str) -> None:
        try:
            message = json.loads(record)
            kind = message["type"]
        except (ValueError, TypeError, KeyError):
            log.warning("%s hub: a message that is not a SignalR JSON record was skipped", self.name)
            if self._on_malformed is not None:
                self._on_malformed(self.name)
            return
        if kind == INVOCATION:
            arguments = message.get("arguments")
            self._on_event(str(message.get("target", "")), arguments if isinstance(arguments, list) else [])
        elif kind == COMPLETION:
            future = self._pending.get(str(message.get("invocationId")))
            if future is not None and not future.done():
                if message.get("error"):
                    future.set_exception(HubError(f"{self.name} hub: {message['error']}"))
                else:
                    future.set_result(message.get("result"))
        elif kind == CLOSE:
            error = message.get("error")
            raise HubError(f"{self.name} hub closed the connection" + (f": {error}" if error else ""))
        # PING and anything else: the arrival itself is the sign of life

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self._keepalive)
            await ws.send(encode({"type": PING}))
