"""The exporter over real HTTP on loopback: /metrics, /healthz with an injected clock, bad requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Metric
from prometheus_client.parser import text_string_to_metric_families

from riskmon.clock import ManualClock
from riskmon.config import AppConfig, Settings, load_config
from riskmon.errors import ConfigError
from riskmon.exporter import Exporter, build_exporter
from riskmon.metrics import Metrics, StateCollector
from riskmon.monitor import AccountMonitor
from riskmon.profile import AccountProfile
from riskmon.service import Service, build_platforms
from riskmon.store import MEMORY, Store
from riskmon.view import ReadModel
from tests.builders import snap, ts

START = ts("2026-03-02 08:00")


class Setup:
    def __init__(self, platform: str = "ctrader") -> None:
        self.clock = ManualClock(START)
        self.registry = CollectorRegistry()
        profiles = [AccountProfile("acc-1", platform=platform), AccountProfile("acc-2", platform=platform)]
        metrics = Metrics(profiles, self.registry)
        self.monitors = [
            AccountMonitor(p, Store(MEMORY), [metrics], clock=self.clock, stale_after=timedelta(seconds=30))
            for p in profiles
        ]
        self.model = ReadModel(self.monitors, clock=self.clock)
        self.exporter = Exporter(self.registry, self.model, port=0)

    def feed(self, account: str) -> None:
        monitor = next(m for m in self.monitors if m.profile.account == account)
        monitor.process(snap(self.clock.now().isoformat(), "100000", account=account, received_at=self.clock.now()))


@pytest.fixture
async def served() -> AsyncIterator[tuple[Setup, httpx.AsyncClient]]:
    setup = Setup()
    async with setup.exporter:
        base = f"http://127.0.0.1:{setup.exporter.port}"
        async with httpx.AsyncClient(base_url=base, trust_env=False) as client:
            yield setup, client


async def test_metrics_in_the_prometheus_text_format(served: tuple[Setup, httpx.AsyncClient]) -> None:
    setup, client = served
    setup.feed("acc-1")
    response = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    equity = [s for s in families["riskmon_equity"].samples if s.labels["account"] == "acc-1"]
    assert [s.value for s in equity] == [100000.0]
    assert families["riskmon_alerts_fired"].type == "counter"
    assert families["riskmon_snapshot_evaluation_seconds"].type == "histogram"


async def test_metrics_negotiates_openmetrics_and_gzip(served: tuple[Setup, httpx.AsyncClient]) -> None:
    _, client = served
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = await client.get("/metrics", headers={"Accept": accept, "Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.headers["content-encoding"] == "gzip"
    assert response.text.endswith("# EOF\n")  # httpx undid the gzip


async def test_healthz_lists_stale_accounts_by_the_injected_clock(served: tuple[Setup, httpx.AsyncClient]) -> None:
    setup, client = served
    assert (await client.get("/healthz")).status_code == 200  # start-up grace: 10 × STALE_AFTER to load
    setup.clock.advance(301)
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.text == "no data since start-up (loading longer than 10 × STALE_AFTER): acc-1, acc-2\n"
    setup.feed("acc-1")
    response = await client.get("/healthz")
    expected = "no data since start-up (loading longer than 10 × STALE_AFTER): acc-2\n"
    assert (response.status_code, response.text) == (503, expected)
    setup.feed("acc-2")
    response = await client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")
    setup.clock.advance(30.5)
    setup.feed("acc-2")
    response = await client.get("/healthz")
    assert (response.status_code, response.text) == (503, "stale (no data within STALE_AFTER): acc-1\n")


async def test_healthz_says_when_the_simulator_runs() -> None:
    setup = Setup(platform="sim")
    async with setup.exporter, httpx.AsyncClient(base_url=f"http://127.0.0.1:{setup.exporter.port}") as client:
        response = await client.get("/healthz")
    assert (response.status_code, response.text) == (
        200,
        "ok (simulator running: these accounts are simulated, not real)\n",
    )


async def test_head_unknown_paths_and_methods(served: tuple[Setup, httpx.AsyncClient]) -> None:
    _, client = served
    head = await client.head("/metrics")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    assert (await client.get("/nothing-here")).status_code == 404
    post = await client.post("/metrics")
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
    assert (await client.get("/metrics?name[]=x")).status_code == 200


async def test_garbage_and_silent_clients_are_dropped(served: tuple[Setup, httpx.AsyncClient]) -> None:
    setup, client = served
    setup.exporter.read_timeout = 0.2
    reader, writer = await asyncio.open_connection("127.0.0.1", setup.exporter.port)
    writer.write(b"hello\r\n\r\n")
    assert (await reader.read()).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", setup.exporter.port)
    assert await asyncio.wait_for(reader.read(), 2) == b""  # said nothing: closed after the timeout
    writer.close()
    assert (await client.get("/healthz")).status_code == 200  # still serving


class Broken:
    def collect(self) -> list[Metric]:
        raise RuntimeError("bug in a collector")


async def test_a_failing_collector_is_a_500_and_health_still_answers(served: tuple[Setup, httpx.AsyncClient]) -> None:
    setup, client = served
    setup.registry.register(Broken())
    response = await client.get("/metrics")
    assert (response.status_code, response.text) == (500, "metrics collection failed\n")
    assert (await client.get("/healthz")).status_code == 200


async def test_port_in_use_is_a_config_error() -> None:
    first, second = Setup(), Setup()
    async with first.exporter:
        second.exporter.port = first.exporter.port
        with pytest.raises(ConfigError, match=r"METRICS_PORT: cannot listen on 127\.0\.0\.1"):
            await second.exporter.start()


async def test_a_host_that_is_not_this_machines_names_metrics_host() -> None:
    setup = Setup()
    setup.exporter.host = "192.0.2.1"  # TEST-NET-1: never an address of this machine
    with pytest.raises(ConfigError, match=r"^configuration error: METRICS_HOST: cannot listen on 192\.0\.2\.1:"):
        await setup.exporter.start()


def sim_config(tmp_path: Path, **env: str) -> AppConfig:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return load_config(env_file)


def test_settings_default_to_loopback() -> None:
    fields = Settings.model_fields
    assert fields["metrics_host"].default == "127.0.0.1"
    assert fields["metrics_port"].default == 8465 and fields["metrics_token"].default is None


def test_build_exporter_for_the_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = sim_config(tmp_path, PLATFORM="sim", METRICS_PORT="0")
    registry = CollectorRegistry()
    metrics = Metrics(config.profiles, registry)
    service = Service(config, Store(MEMORY), build_platforms(config), [metrics])
    model = ReadModel(service.monitors.values(), service.platforms)
    assert build_exporter(model, metrics, config.settings) is None  # METRICS_PORT=0: no listener

    token = "0123456789abcdef0123"
    config = sim_config(tmp_path, PLATFORM="sim", METRICS_HOST="0.0.0.0", METRICS_PORT="9999", METRICS_TOKEN=token)
    exporter = build_exporter(model, metrics, config.settings)
    assert exporter is not None
    assert (exporter.host, exporter.port) == ("0.0.0.0", 9999)
    view = CollectorRegistry()
    view.register(StateCollector(exporter.model))
    assert view.get_sample_value("riskmon_platform_up", {"platform": "sim"}) == 1
    info = {"account": "sim-ftmo", "platform": "sim", "label": "FTMO 100k (sim)"}
    assert view.get_sample_value("riskmon_account_info", info) == 1
