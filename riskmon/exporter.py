"""The HTTP side of the metrics: ``GET /metrics`` and ``GET /healthz`` on the service's own event loop.

A minimal HTTP/1.1 server on ``asyncio.start_server`` (one request per connection): scrapes read the
monitors on the loop thread that updates them, so no thread ever sees an account half-updated, and
nothing blocks the loop longer than rendering the text. ``/metrics`` negotiates the exposition format
(Prometheus text or OpenMetrics) and gzip like prometheus_client's own server; ``/healthz`` answers 200
while every account's data is fresh and 503 listing the stale accounts otherwise.
"""

from __future__ import annotations

import asyncio
import errno
import gzip
import logging
import socket
from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from riskmon.config import Settings
from riskmon.errors import ConfigError
from riskmon.metrics import Metrics, StateCollector
from riskmon.models import TradingState
from riskmon.monitor import AccountMonitor
from riskmon.service import Service

log = logging.getLogger(__name__)

MAX_HEADERS = 100
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    body: bytes = b""
    content_type: str = TEXT
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, with_body: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {self.reason}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.headers.items()),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + self.body if with_body else head


class Exporter:
    """Serves ``/metrics`` from ``registry`` and ``/healthz`` from the monitors' staleness on ``host:port``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        monitors: Collection[AccountMonitor],
        host: str = "127.0.0.1",
        port: int = 9465,
        read_timeout: float = 5.0,
    ) -> None:
        self.registry = registry
        self.monitors = monitors
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
        log.info("metrics on http://%s:%d/metrics, health on /healthz", self.host, self.port)

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
            response, with_body = self.respond(request_line, headers)
            writer.write(response.encode(with_body))
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass  # slow, broken or oversized request: drop the connection
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    def respond(self, request_line: str, headers: dict[str, str]) -> tuple[Response, bool]:
        """The response to one request, and whether to send its body (not for HEAD)."""
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return Response(400, "Bad Request", b"bad request\n"), True
        method, path = parts[0], urlsplit(parts[1]).path
        if method not in ("GET", "HEAD"):
            return Response(405, "Method Not Allowed", b"GET or HEAD only\n", headers={"Allow": "GET, HEAD"}), True
        with_body = method == "GET"
        if path == "/metrics":
            return self._metrics(headers), with_body
        if path == "/healthz":
            return self._health(), with_body
        return Response(404, "Not Found", b"try /metrics or /healthz\n"), with_body

    def _metrics(self, headers: dict[str, str]) -> Response:
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        try:
            body = encoder(self.registry)
        except Exception:
            log.exception("metrics collection failed")
            return Response(500, "Internal Server Error", b"metrics collection failed\n")
        extra = {}
        if gzip_accepted(headers.get("accept-encoding", "")):
            body, extra = gzip.compress(body), {"Content-Encoding": "gzip"}
        return Response(200, "OK", body, content_type, extra)

    def _health(self) -> Response:
        stale = [m.profile.account for m in self.monitors if m.is_stale()]
        simulated = any(m.profile.platform == "sim" for m in self.monitors)
        note = " (simulator running: these accounts are simulated, not real)" if simulated else ""
        if not stale:
            return Response(200, "OK", f"ok{note}\n".encode())
        body = f"stale (no data within STALE_AFTER): {', '.join(stale)}{note}\n"
        return Response(503, "Service Unavailable", body.encode())


def build_exporter(
    service: Service, metrics: Metrics, settings: Settings, trading_state: Callable[[str], TradingState] | None = None
) -> Exporter | None:
    """The exporter for a service whose observers include ``metrics``; None when METRICS_PORT is 0."""
    if settings.metrics_port == 0:
        return None
    monitors = service.monitors.values()
    metrics.registry.register(StateCollector(monitors, service.platforms, trading_state))
    return Exporter(metrics.registry, monitors, settings.metrics_host, settings.metrics_port)
