"""Fake webhook receivers on real HTTP/1.1 over loopback: Discord's "Execute Webhook" and a JSON receiver.

Discord, as its API documents it: ``POST /api/webhooks/{id}/{token}`` with a JSON body whose ``content``
is 1 to 2,000 characters, answered ``204 No Content``; a body without content or with a longer one is
``400`` with the offending field; an unknown webhook (wrong token, deleted) is ``404`` ``Unknown Webhook``;
rate limits are ``429`` with ``Retry-After`` (seconds) and a JSON body ``{"message", "retry_after",
"global"}``. The JSON receiver checks riskmon's signature as a firm's back office would (HMAC-SHA256 of
"<timestamp>.<body>", constant-time compare) and answers 401 to a bad one. Tests script faults (status,
Retry-After, a connection dropped before any answer) and read every request received.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

DISCORD_ID, DISCORD_TOKEN = "1234567890", "T0ken-0f-the-discord-webhook_abcdef"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Fault:
    status: int  # 0: drop the connection without answering
    retry_after: float | None = None
    body: dict[str, Any] | None = None


def verify(secret: bytes, headers: dict[str, str], body: bytes) -> bool:
    """A receiver's check of riskmon's signature (``X-Riskmon-Timestamp``, ``X-Riskmon-Signature``)."""
    stamp = headers.get("x-riskmon-timestamp", "")
    given = headers.get("x-riskmon-signature", "")
    expected = "sha256=" + hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return bool(stamp) and hmac.compare_digest(given, expected)


@dataclass
class FakeReceiver:
    kind: str  # "discord" or "json"
    secret: bytes = b""  # the JSON receiver's signing key
    requests: list[Request] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    down: bool = False  # refuse every connection's request (answer nothing, close)
    _server: asyncio.Server | None = None
    port: int = 0

    @property
    def url(self) -> str:
        path = f"/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}" if self.kind == "discord" else "/hooks/riskmon"
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered(self) -> list[Request]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def __aenter__(self) -> FakeReceiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, condition: Any, within_s: float = 10.0) -> None:
        deadline = time.monotonic() + within_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"condition not met within {within_s} s; answers: {[r.status for r in self.requests]}"
                )
            await asyncio.sleep(0.02)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode("latin-1").split()
            headers: dict[str, str] = {}
            while (raw := (await reader.readline()).decode("latin-1").strip()) != "":
                name, _, value = raw.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(line[0], line[1], headers, body)
            self.requests.append(request)
            if self.down:
                return
            status, extra, answer = self._answer(request)
            request.status = status
            if status == 0:
                return
            payload = b"" if answer is None else json.dumps(answer).encode()
            head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}", "Connection: close"]
            if answer is not None:
                head.append("Content-Type: application/json")
            head += [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, request: Request) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        if self.faults:
            fault = self.faults.popleft()
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            body = fault.body
            if fault.status == 429 and body is None and self.kind == "discord":
                body = {
                    "message": "You are being rate limited.",
                    "retry_after": fault.retry_after or 1.0,
                    "global": False,
                }
            return fault.status, headers, body
        if request.method != "POST" or request.headers.get("content-type") != "application/json":
            return 400, {}, {"message": "Cannot send an empty message", "code": 50006}
        if self.kind == "discord":
            return self._discord(request)
        if not verify(self.secret, request.headers, request.body):
            return 401, {}, {"error": "bad signature"}
        return 200, {}, {"ok": True}

    def _discord(self, request: Request) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        if request.path != f"/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}":
            return 404, {}, {"message": "Unknown Webhook", "code": 10015}
        try:
            doc = request.json()
        except ValueError:
            return 400, {}, {"message": "The request body contains invalid JSON.", "code": 50109}
        content = doc.get("content") if isinstance(doc, dict) else None
        if not isinstance(content, str) or not content:
            return 400, {}, {"message": "Cannot send an empty message", "code": 50006}
        if len(content) > 2000:
            return 400, {}, {"content": ["Must be 2000 or fewer in length."]}
        return 204, {}, None
