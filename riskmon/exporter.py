"""riskmon over HTTP on the service's own event loop: ``/metrics``, ``/healthz``, the status page ``/`` and the
JSON API ``/api/accounts`` and ``/api/accounts/{id}`` (``riskmon.web``).

A minimal HTTP/1.1 server on ``asyncio.start_server`` (one request per connection). A scrape captures an
immutable view of the monitors on the loop thread that updates them (so no account is ever seen half-updated),
then renders and encodes the text in a worker thread: the loop is held only for the capture, a few
milliseconds at 10,000 accounts (benchmarks/RESULTS.md). The page and the API are rendered from the same
capture (the read model, ``riskmon.view``) in a worker thread too. ``/metrics`` negotiates the exposition
format (Prometheus text or OpenMetrics) and gzip like prometheus_client's own server; ``/healthz`` answers 200
while every account's data is fresh and its state saved, and 503 listing the stale or unsaved accounts
otherwise.

With ``token`` set, everything but ``/healthz`` asks for it: ``Authorization: Bearer <token>`` (Prometheus'
``authorization`` setting, scripts), or HTTP Basic with the token as the password (a browser asks for it).
It is compared in constant time. ``Settings`` refuses a listener beyond loopback without a token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import hashlib
import hmac
import json
import logging
import socket
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import unquote, urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, gzip_accepted
from pydantic import SecretStr

from riskmon.config import DEFAULT_PORT, Settings
from riskmon.errors import ConfigError
from riskmon.metrics import Metrics, render
from riskmon.offloop import render_off_loop, without_cyclic_gc
from riskmon.view import ReadModel, View
from riskmon.web import API_VERSION, account_json, accounts_json, page_html

log = logging.getLogger(__name__)

MAX_HEADERS = 100
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
ACCOUNT_PATH = "/api/accounts/"
CHUNK = 256 * 1024  # a rendered page or document is written in pieces of about this size


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    body: bytes | tuple[bytes, ...] = b""  # pieces are written one by one, never joined on the loop
    content_type: str = TEXT
    headers: dict[str, str] = field(default_factory=dict)

    def head(self) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {self.reason}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body) if isinstance(self.body, bytes) else sum(map(len, self.body))}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Scrape(CollectorRegistry):
    """One scrape's collectors: the registry's (thread-safe counters) and the captured account view."""

    def __init__(self, registry: CollectorRegistry, view: View | None) -> None:
        super().__init__(auto_describe=False)
        self.registry, self.view = registry, view

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
        if self.view is not None:
            yield from render(self.view)


class _Family(CollectorRegistry):
    """One metric family, encoded on its own: the text of 10,000 accounts is joined family by family,
    never in one call that would hold the interpreter (and with it the event loop) for ~100 ms."""

    def __init__(self, family: Metric) -> None:
        super().__init__(auto_describe=False)
        self.family = family

    def collect(self) -> Iterator[Metric]:
        yield self.family


SIMULATED = "simulator running: these accounts are simulated, not real"


class Exporter:
    """Serves ``/metrics`` from ``registry`` plus the read model, ``/healthz``, ``/`` and ``/api/…`` from the
    read model on ``host:port``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        model: ReadModel,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        read_timeout: float = 5.0,
        token: SecretStr | None = None,
    ) -> None:
        self.registry = registry
        self.model = model
        self._token = None if token is None else token.get_secret_value().encode()
        self.host = host
        self.port = port
        self.read_timeout = read_timeout
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Exporter:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            # an unknown name or an address this machine does not have is the host's fault, the rest the port's
            host_fault = isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL
            setting = "METRICS_HOST" if host_fault else "METRICS_PORT"
            raise ConfigError(setting, f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        self.port = self._server.sockets[0].getsockname()[1]  # the real one when asked for port 0
        log.info(
            "status page on http://%s:%d/ (API /api/accounts, metrics /metrics, health /healthz)%s",
            self.host,
            self.port,
            ", token required" if self._token is not None else "",
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self.read_timeout):
                request_line = (await reader.readline()).decode("latin-1")
                headers: dict[str, str] = {}
                for _ in range(MAX_HEADERS):
                    line = (await reader.readline()).decode("latin-1")
                    if not line.strip():
                        break
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            response, with_body = await self.respond(request_line, headers)
            writer.write(response.head())
            if with_body:  # not joined to the head: a copy of megabytes on the loop
                for piece in (response.body,) if isinstance(response.body, bytes) else response.body:
                    writer.write(piece)
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass  # slow, broken or oversized request: drop the connection
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    async def respond(self, request_line: str, headers: dict[str, str]) -> tuple[Response, bool]:
        """The response to one request, and whether to send its body (not for HEAD)."""
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return Response(400, "Bad Request", b"bad request\n"), True
        method, path = parts[0], urlsplit(parts[1]).path
        if method not in ("GET", "HEAD"):
            return Response(405, "Method Not Allowed", b"GET or HEAD only\n", headers={"Allow": "GET, HEAD"}), True
        with_body = method == "GET"
        if path == "/healthz":
            return self._health(self.model.capture()), with_body
        if path not in ("/", "/metrics", "/api/accounts") and not path.startswith(ACCOUNT_PATH):
            return Response(404, "Not Found", b"try /, /api/accounts, /metrics or /healthz\n"), with_body
        if not self._authorised(headers.get("authorization", "")):
            challenge = 'Basic realm="riskmon", charset="UTF-8"' if path == "/" else 'Bearer realm="riskmon"'
            return Response(401, "Unauthorized", b"token required\n", headers={"WWW-Authenticate": challenge}), True
        if path == "/metrics":
            return await self._metrics(headers), with_body
        try:
            return await self._view(path), with_body
        except Exception:
            log.exception("%s could not be rendered", path)
            return Response(500, "Internal Server Error", b"rendering failed\n"), with_body

    def _authorised(self, header: str) -> bool:
        """No token configured, or the right one: ``Bearer <token>`` or Basic with it as the password."""
        if self._token is None:
            return True
        scheme, _, credentials = header.strip().partition(" ")
        given = b""
        if scheme.lower() == "bearer":
            given = credentials.strip().encode("utf-8", "replace")
        elif scheme.lower() == "basic":
            try:
                given = base64.b64decode(credentials.strip(), validate=True).partition(b":")[2]
            except (binascii.Error, ValueError):
                return False
        # Digests of equal length: the comparison takes the same time whatever was sent, its length included.
        return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(self._token).digest())

    async def _view(self, path: str) -> Response:
        """The page or an API document, rendered off the loop from one capture."""
        view = self.model.capture()
        if path == "/":
            return await _rendered(lambda: page_html(view), HTML)
        if path == "/api/accounts":
            return await _rendered(lambda: accounts_json(view), JSON)
        account = view.find(unquote(path.removeprefix(ACCOUNT_PATH)))
        if account is None:
            body = json.dumps({"version": API_VERSION, "error": "no such account"}).encode()
            return Response(404, "Not Found", body, JSON)
        return await _rendered(lambda: account_json(view, account), JSON)

    async def _metrics(self, headers: dict[str, str]) -> Response:
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        scrape = _Scrape(self.registry, self.model.capture())
        compress = gzip_accepted(headers.get("accept-encoding", ""))
        try:
            body = await asyncio.to_thread(_encode, encoder, scrape, compress)
        except Exception:
            log.exception("metrics collection failed")
            return Response(500, "Internal Server Error", b"metrics collection failed\n")
        return Response(200, "OK", body, content_type, {"Content-Encoding": "gzip"} if compress else {})

    @staticmethod
    def _health(view: View) -> Response:
        problems = []
        blind = [a for a in view.accounts if a.stale]
        stale = [a.account for a in blind if not a.loading]
        if stale:
            problems.append(f"stale (no data within STALE_AFTER): {', '.join(stale)}")
        loading = [a.account for a in blind if a.loading]
        if loading:
            problems.append(f"no data since start-up (loading longer than 10 × STALE_AFTER): {', '.join(loading)}")
        unsaved = [a.account for a in view.accounts if a.unsaved]
        if unsaved:
            problems.append(f"state not saved (database unwritable): {', '.join(unsaved)}")
        simulated = any(a.platform == "sim" for a in view.accounts)
        if simulated:  # said on every answer: a healthy simulator must never pass for a watched account
            problems.append(SIMULATED)
        if problems in ([], [SIMULATED]):
            return Response(200, "OK", f"ok{f' ({SIMULATED})' if simulated else ''}\n".encode())
        return Response(503, "Service Unavailable", "".join(f"{p}\n" for p in problems).encode())


EOF = b"# EOF\n"  # OpenMetrics' last line, once per exposition


def _encode(encoder: Callable[[CollectorRegistry], bytes], scrape: _Scrape, compress: bool) -> bytes:
    with without_cyclic_gc():
        parts = [encoder(_Family(family)).removesuffix(EOF) for family in scrape.collect()]
    if encoder(_Family(GaugeMetricFamily("riskmon_probe", ""))).endswith(EOF):
        parts.append(EOF)
    if not compress:
        return b"".join(parts)
    packer = zlib.compressobj(wbits=31)  # gzip; the compression itself runs outside the interpreter lock
    return b"".join([*(packer.compress(part) for part in parts), packer.flush()])


async def _rendered(render: Callable[[], Iterable[str]], content_type: str) -> Response:
    """A page or document rendered and encoded piece by piece in a worker thread."""

    def encode() -> tuple[bytes, ...]:
        chunks: list[bytes] = []
        pending: list[bytes] = []
        size = 0
        for piece in render():
            pending.append(piece.encode())
            size += len(pending[-1])
            if size >= CHUNK:  # joined here, in the thread: the loop writes a few large chunks
                chunks.append(b"".join(pending))
                pending, size = [], 0
        return (*chunks, b"".join(pending))

    return Response(200, "OK", await render_off_loop(encode), content_type, {"Cache-Control": "no-store"})


def build_exporter(model: ReadModel, metrics: Metrics, settings: Settings) -> Exporter | None:
    """The exporter for a service whose observers include ``metrics``; None when METRICS_PORT is 0."""
    if settings.metrics_port == 0:
        return None
    return Exporter(metrics.registry, model, settings.metrics_host, settings.metrics_port, token=settings.metrics_token)
