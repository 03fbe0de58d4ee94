"""A fake Telegram Bot API on real HTTP/1.1 over loopback, for python-telegram-bot's httpx client.

Serves getMe, sendMessage, getUpdates (long polling, offsets confirm), answerCallbackQuery and
editMessageText under ``/bot<token>/<method>``; records every request; tests enqueue updates (commands,
button presses) and script faults: 429 with ``retry_after``, 5xx, slow responses, unknown or blocked chats.
Like the real API, a text longer than 4,096 characters (after entity parsing) is refused: 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.http_server import JsonHttpServer

BOT_ID = 4242
MAX_TEXT = 4096  # the Bot API's limit on a message's text, counted after entity parsing


def _visible_length(params: dict[str, Any]) -> int:
    """The text's length as Telegram counts it: with HTML parse mode, tags dropped and entities decoded."""
    text = str(params.get("text", ""))
    if params.get("parse_mode") == "HTML":
        text = html.unescape(re.sub(r"<[^>]*>", "", text))
    return len(text)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class Fault:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    delay_s: float = 0.0


@dataclass
class FakeTelegram:
    token: str
    calls: list[Call] = field(default_factory=list)
    unknown_chats: set[str] = field(default_factory=set)
    blocked_chats: set[str] = field(default_factory=set)
    _faults: deque[Fault] = field(default_factory=deque)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    _http: JsonHttpServer | None = None

    # -- test controls --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._http is not None, "start() first"
        return self._http.url

    def fail(self, method: str, status: int, description: str = "", retry_after: int | None = None, times: int = 1):
        for _ in range(times):
            self._faults.append(Fault(method, status, description or f"error {status}", retry_after))

    def heal(self) -> None:
        """Forget every scripted fault not yet served: Telegram is back."""
        self._faults.clear()

    def slow(self, method: str, delay_s: float, times: int = 1) -> None:
        for _ in range(times):
            self._faults.append(Fault(method, 200, "", None, delay_s))

    def command(self, chat_id: int, user_id: int, text: str) -> None:
        self._push(
            {
                "message": {
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private"},
                    "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
                    "text": text,
                    "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
                }
            }
        )

    def press(self, chat_id: int, user_id: int, data: str, message_id: int) -> None:
        self._push(
            {
                "callback_query": {
                    "id": f"cbq{message_id}-{user_id}",
                    "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
                    "chat_instance": "1",
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"},
                        "text": "prompt",
                    },
                }
            }
        )

    def sent(self, method: str = "sendMessage") -> list[Call]:
        """Requests of ``method`` that were answered with success."""
        return [c for c in self.calls if c.method == method and c.status == 200]

    async def wait_for(self, predicate: Any, within_s: float = 5.0) -> None:
        deadline = time.monotonic() + within_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {within_s} s; calls: {self.summary()}")
            await asyncio.sleep(0.02)

    def summary(self) -> list[tuple[str, int]]:
        return [(c.method, c.status) for c in self.calls]

    # -- server ---------------------------------------------------------------------------------

    async def start(self) -> FakeTelegram:
        self._http = JsonHttpServer(self._handle)
        await self._http.start()
        return self

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.stop()

    def _push(self, body: dict[str, Any]) -> None:
        self._updates.append({"update_id": next(self._update_ids), **body})
        self._new_update.set()

    async def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        status, payload = await self._dispatch(path, headers.get("content-type", ""), body)
        return status, payload, {}

    async def _dispatch(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path[len(prefix) :]
        params = _params(content_type, body)
        call = Call(method, params, time.monotonic())
        self.calls.append(call)
        fault = next((f for f in self._faults if f.method == method), None)
        if fault is not None:
            self._faults.remove(fault)
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            else:
                call.status = fault.status
                error: dict[str, Any] = {"ok": False, "error_code": fault.status, "description": fault.description}
                if fault.retry_after is not None:
                    error["parameters"] = {"retry_after": fault.retry_after}
                return fault.status, error
        chat = str(params.get("chat_id", ""))
        if chat in self.unknown_chats:
            call.status = 400
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        if chat in self.blocked_chats:
            call.status = 403
            return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
        if method in ("sendMessage", "editMessageText") and _visible_length(params) > MAX_TEXT:
            call.status = 400
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
        if method == "sendPhoto":
            problem = _photo_problem(params)
            if problem:
                call.status = 400
                return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {problem}"}
        return 200, {"ok": True, "result": await self._result(method, params)}

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        match method:
            case "getMe":
                return {"id": BOT_ID, "is_bot": True, "first_name": "riskmon", "username": "riskmon_test_bot"}
            case "sendMessage" | "editMessageText":
                message_id = int(params.get("message_id") or next(self._message_ids))
                return {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": int(params["chat_id"]), "type": "private"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "riskmon"},
                    "text": params.get("text", ""),
                }
            case "sendPhoto":
                width, height = _png_size(params["photo"])
                return {
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": {"id": int(params["chat_id"]), "type": "private"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "riskmon"},
                    "photo": [{"file_id": "p1", "file_unique_id": "u1", "width": width, "height": height}],
                    "caption": params.get("caption", ""),
                }
            case "getUpdates":
                return await self._get_updates(params)
            case _:
                return True

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while not self._updates and time.monotonic() < deadline:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deadline - time.monotonic()):
                    await self._new_update.wait()
        return list(self._updates)


MAX_CAPTION = 1024  # the Bot API's limit on a photo's caption, after entity parsing
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # sendPhoto: at most 10 MB, width + height at most 10,000, ratio at most 20


def _png_size(data: Any) -> tuple[int, int]:
    if not isinstance(data, bytes) or data[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, 0
    return struct.unpack(">II", data[16:24])


def _photo_problem(params: dict[str, Any]) -> str:
    """Why the Bot API would refuse this sendPhoto (an uploaded file, as riskmon sends it), or ""."""
    photo = params.get("photo")
    if not isinstance(photo, bytes):
        return "there is no photo in the request"
    width, height = _png_size(photo)
    if not width or not height:
        return "IMAGE_PROCESS_FAILED"
    if len(photo) > MAX_PHOTO_BYTES or width + height > 10_000 or max(width, height) / min(width, height) > 20:
        return "PHOTO_INVALID_DIMENSIONS"
    caption = {"text": params.get("caption", ""), "parse_mode": params.get("parse_mode")}
    if _visible_length(caption) > MAX_CAPTION:
        return "message caption is too long"
    return ""


def _params(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return dict(json.loads(body))
    if content_type.startswith("multipart/form-data"):  # a file upload: files as bytes, fields as values
        message = BytesParser(policy=policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if part.get_filename() is not None:
                fields[str(name)] = payload
            else:
                text = payload.decode() if isinstance(payload, bytes) else str(payload)
                try:
                    fields[str(name)] = json.loads(text)
                except ValueError:
                    fields[str(name)] = text
        return fields
    params: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode()):
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params
