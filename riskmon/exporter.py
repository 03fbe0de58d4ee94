"""The HTTP side of the metrics: ``GET /metrics`` and ``GET /healthz`` on the service's own event loop.

A minimal HTTP/1.1 server on ``asyncio.start_server`` (one request per connection). A scrape captures an
immutable view of the monitors on the loop thread that updates them (so no account is ever seen
half-updated), then renders and encodes the text in a worker thread: the loop is held only for the
capture, a few milliseconds at 10,000 accounts (benchmarks/RESULTS.md). ``/metrics`` negotiates the exposition format
(Prometheus text or OpenMetrics) and gzip like prometheus_client's own server; ``/healthz`` answers 200
while every account's data is fresh and its state saved, and 503 listing the stale or unsaved accounts
otherwise.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import socket
import threading
import zlib
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, gzip_accepted

from riskmon.config import Settings
from riskmon.errors import ConfigError
from riskmon.metrics import Metrics, StateCollector, StateView, render
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

    def head(self) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {self.reason}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Scrape(CollectorRegistry):
    """One scrape's collectors: the registry's (thread-safe counters) and the captured account view."""

    def __init__(self, registry: CollectorRegistry, view: StateView | None) -> None:
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
    """Serves ``/metrics`` from ``registry`` plus ``state`` and ``/healthz`` from the monitors on ``host:port``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        monitors: Collection[AccountMonitor],
        host: str = "127.0.0.1",
        port: int = 9465,
        read_timeout: float = 5.0,
        state: StateCollector | None = None,
    ) -> None:
        self.registry = registry
        self.monitors = monitors
        self.state = state
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
            response, with_body = await self.respond(request_line, headers)
            writer.write(response.head())
            if with_body:
                writer.write(response.body)  # not joined to the head: a copy of megabytes on the loop
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
        if path == "/metrics":
            return await self._metrics(headers), with_body
        if path == "/healthz":
            return self._health(), with_body
        return Response(404, "Not Found", b"try /metrics or /healthz\n"), with_body

    async def _metrics(self, headers: dict[str, str]) -> Response:
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        scrape = _Scrape(self.registry, None if self.state is None else self.state.capture())
        compress = gzip_accepted(headers.get("accept-encoding", ""))
        try:
            body = await asyncio.to_thread(_encode, encoder, scrape, compress)
        except Exception:
            log.exception("metrics collection failed")
            return Response(500, "Internal Server Error", b"metrics collection failed\n")
        return Response(200, "OK", body, content_type, {"Content-Encoding": "gzip"} if compress else {})

    def _health(self) -> Response:
        problems = []
        blind = [m for m in self.monitors if m.is_stale()]
        stale = [m.profile.account for m in blind if not m.loading]
        if stale:
            problems.append(f"stale (no data within STALE_AFTER): {', '.join(stale)}")
        loading = [m.profile.account for m in blind if m.loading]
        if loading:
            problems.append(f"no data since start-up (loading longer than 10 × STALE_AFTER): {', '.join(loading)}")
        unsaved = [m.profile.account for m in self.monitors if m.unsaved]
        if unsaved:
            problems.append(f"state not saved (database unwritable): {', '.join(unsaved)}")
        simulated = any(m.profile.platform == "sim" for m in self.monitors)
        if simulated:  # said on every answer: a healthy simulator must never pass for a watched account
            problems.append(SIMULATED)
        if problems in ([], [SIMULATED]):
            return Response(200, "OK", f"ok{f' ({SIMULATED})' if simulated else ''}\n".encode())
        return Response(503, "Service Unavailable", "".join(f"{p}\n" for p in problems).encode())


_rendering = 0
_rendering_lock = threading.Lock()


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """No cyclic garbage collection while a scrape renders.

    A scrape of 10,000 accounts builds hundreds of thousands of short-lived sample objects (the counter
    families come whole from prometheus_client); left alone they trigger full collections of the
    process's millions of objects, which pause every thread, the event loop's included, for up to a
    second. The samples hold no cycles: reference counting frees them all the same.
    """
    global _rendering
    with _rendering_lock:
        ours = _rendering > 0 or gc.isenabled()  # someone else turned it off: leave it so
        if ours:
            _rendering += 1
            gc.disable()
    try:
        yield
    finally:
        if ours:
            with _rendering_lock:
                _rendering -= 1
                if _rendering == 0:
                    gc.enable()


EOF = b"# EOF\n"  # OpenMetrics' last line, once per exposition


def _encode(encoder: Callable[[CollectorRegistry], bytes], scrape: _Scrape, compress: bool) -> bytes:
    with _without_cyclic_gc():
        parts = [encoder(_Family(family)).removesuffix(EOF) for family in scrape.collect()]
    if encoder(_Family(GaugeMetricFamily("riskmon_probe", ""))).endswith(EOF):
        parts.append(EOF)
    if not compress:
        return b"".join(parts)
    packer = zlib.compressobj(wbits=31)  # gzip; the compression itself runs outside the interpreter lock
    return b"".join([*(packer.compress(part) for part in parts), packer.flush()])


def build_exporter(
    service: Service, metrics: Metrics, settings: Settings, trading_state: Callable[[str], TradingState] | None = None
) -> Exporter | None:
    """The exporter for a service whose observers include ``metrics``; None when METRICS_PORT is 0."""
    if settings.metrics_port == 0:
        return None
    monitors = service.monitors.values()
    state = StateCollector(monitors, service.platforms, trading_state)
    return Exporter(metrics.registry, monitors, settings.metrics_host, settings.metrics_port, state=state)
