"""The status page and the JSON API over HTTP: every account, every rule, the day's chart, and the token."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from riskmon.config import load_config
from riskmon.errors import ConfigError
from riskmon.profile import AccountProfile
from riskmon.web import API_VERSION
from tests.builders import snap
from tests.statuspage import Desk, desk

TOKEN = "s3cret-token-0123456789"


@pytest.fixture
async def served() -> AsyncIterator[tuple[Desk, httpx.AsyncClient]]:
    d = desk()
    async with d.exporter() as exporter, httpx.AsyncClient(trust_env=False) as client:
        client.base_url = httpx.URL(f"http://127.0.0.1:{exporter.port}")
        yield d, client


async def test_the_api_lists_every_account_with_every_rule(served: tuple[Desk, httpx.AsyncClient]) -> None:
    d, client = served
    response = await client.get("/api/accounts")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["version"] == API_VERSION == 1
    accounts = {a["id"]: a for a in doc["accounts"]}
    assert list(accounts) == ["ftmo-100k", "calm", "html", "silent"]
    a = accounts["ftmo-100k"]
    monitor = d.monitor("ftmo-100k")
    assert monitor.last is not None
    assert [r["rule"] for r in a["rules"]] == [r.rule for r in monitor.last.results]
    daily = next(r for r in a["rules"] if r["rule"] == "daily_loss")
    assert (daily["observed"], daily["room_left"], daily["floor"], daily["severity"]) == (
        "4500",
        "500",
        "95000",
        "warning",
    )
    assert Decimal(daily["used"]) == Decimal("0.9")
    assert a["nearest_floor"]["rule"] == "daily_loss" and a["worst_rule"] == "daily_loss"
    assert (a["equity"], a["balance"], a["daily_pnl"], a["currency"]) == ("95500", "100000", "-4500", "USD")
    assert (a["trading_state"], a["freshness"], a["state_saved"], a["platform"]) == (
        "reducing",
        "fresh",
        True,
        "ctrader",
    )
    assert a["trading_day"] == "2026-03-02" and a["last_evaluation"] == "2026-03-02T11:00:00+00:00"
    assert "equity_today" not in a  # the list stays small; the chart's points are in the account's document
    silent = accounts["silent"]
    assert (silent["freshness"], silent["equity"], silent["rules"], silent["severity"]) == ("loading", None, [], "ok")


async def test_one_account_with_the_days_equity(served: tuple[Desk, httpx.AsyncClient]) -> None:
    _, client = served
    doc = (await client.get("/api/accounts/ftmo-100k")).json()
    assert doc["version"] == 1 and doc["account"]["id"] == "ftmo-100k"
    points = doc["account"]["equity_today"]
    assert points[0] == {
        "ts": "2026-03-02T08:00:00+00:00",
        "low": 99900.0,
        "close": 99900.0,
        "floors": {"daily_loss": 95000.0, "max_loss": 90000.0},
    }
    assert points[-1]["close"] == 95500.0
    missing = await client.get("/api/accounts/nobody")
    assert missing.status_code == 404 and missing.json() == {"version": 1, "error": "no such account"}


async def test_an_id_with_reserved_characters_is_found_by_its_quoted_form() -> None:
    d = desk()
    d.monitors[1].profile = AccountProfile("desk/1 a", d.monitors[1].profile.rulebook)
    d.trading["desk/1 a"] = d.trading["calm"]
    async with d.exporter() as exporter, httpx.AsyncClient(trust_env=False) as client:
        url = f"http://127.0.0.1:{exporter.port}/api/accounts/{quote('desk/1 a', safe='')}"
        response = await client.get(url)
    assert response.status_code == 200 and response.json()["account"]["id"] == "desk/1 a"


async def test_the_page_shows_every_account_every_rule_and_the_chart(served: tuple[Desk, httpx.AsyncClient]) -> None:
    d, client = served
    response = await client.get("/")
    assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert '<meta http-equiv="refresh" content="10">' in html and "<script" not in html
    cards = re.findall(r'<section class="card" data-account="([^"]+)" data-severity="(\w+)"', html)
    assert cards == [("ftmo-100k", "warning"), ("silent", "ok"), ("html", "ok"), ("calm", "ok")]  # blind second
    first = html[html.index('data-account="ftmo-100k"') : html.index('data-account="silent"')]
    rules = [rule.name for rule in d.monitor("ftmo-100k").profile.rules]
    assert len(rules) >= 3 and re.findall(r'class="rule" data-rule="(\w+)"', first) == rules  # every rule
    last = d.monitor("ftmo-100k").last
    assert last is not None
    shares = [r.rule for r in last.results if r.used is not None]  # a bar for each share of a limit
    assert len(shares) >= 2 and re.findall(r'aria-label="([\w ]+) room left"', first) == [
        rule.replace("_", " ") for rule in shares
    ]
    assert 'aria-label="daily loss room left" aria-valuemin="0" aria-valuemax="100" aria-valuenow="10"' in first
    assert 'data-trading="reducing"' in first and "room left 500.00" in first
    assert '<polyline class="floor" data-rule="daily_loss"' in first and 'data-rule="max_loss" points=' in first
    assert '<polyline class="equity"' in first
    assert "&lt;b&gt;Prop&lt;/b&gt; &amp; co" in html and "<b>Prop</b>" not in html  # labels are text
    silent = html[html.index('data-account="silent"') : html.index('data-account="html"')]
    assert "waiting for data" in silent and "loading" in silent and "No equity history for today yet." in silent


async def test_the_page_and_api_follow_the_monitors(served: tuple[Desk, httpx.AsyncClient]) -> None:
    d, client = served
    d.clock.advance(60)
    d.monitor("calm").process(snap(d.clock.now().isoformat(), "100000", "94000", account="calm"))
    calm = (await client.get("/api/accounts/calm")).json()["account"]
    assert calm["severity"] == "critical" and calm["worst_rule"] == "daily_loss" and calm["equity"] == "94000"
    assert re.search(r'data-account="calm" data-severity="critical"', (await client.get("/")).text)


async def test_a_token_guards_everything_but_health() -> None:
    d = desk()
    async with d.exporter(TOKEN) as exporter, httpx.AsyncClient(trust_env=False) as client:
        base = f"http://127.0.0.1:{exporter.port}"
        for path in ("/", "/api/accounts", "/api/accounts/calm", "/metrics"):
            refused = await client.get(base + path)
            assert refused.status_code == 401 and refused.text == "token required\n"
            wrong = await client.get(base + path, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
            assert wrong.status_code == 401
            bearer = await client.get(base + path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert bearer.status_code == 200
        page = await client.get(base + "/")
        assert page.headers["www-authenticate"].startswith('Basic realm="riskmon"')  # a browser asks
        basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
        assert (await client.get(base + "/", headers={"Authorization": f"Basic {basic}"})).status_code == 200
        bad = await client.get(base + "/", headers={"Authorization": "Basic not base64!"})
        assert bad.status_code == 401
        assert (await client.get(base + "/api/accounts")).headers["www-authenticate"] == 'Bearer realm="riskmon"'
        assert (await client.get(base + "/healthz")).status_code in (200, 503)  # open to probes
        assert (await client.get(base + "/nothing")).status_code == 404


async def test_the_token_never_shows_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with desk().exporter(TOKEN):
        pass
    assert "token required" in caplog.text and TOKEN not in caplog.text


def _config(tmp_path: Path, **env: str) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {"PLATFORM": "sim", **env}.items()))
    load_config(env_file, environ={})


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "riskmon.example"])
def test_a_listener_beyond_loopback_needs_a_token(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, METRICS_HOST=host)
    assert str(caught.value).startswith(f"configuration error: METRICS_HOST={host!r} (in ")
    assert "set METRICS_TOKEN" in str(caught.value) and "\n" not in str(caught.value)
    _config(tmp_path, METRICS_HOST=host, METRICS_TOKEN=TOKEN)
    _config(tmp_path, METRICS_HOST=host, METRICS_PORT="0")  # no listener, nothing to guard


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1"])
def test_loopback_needs_no_token(tmp_path: Path, host: str) -> None:
    _config(tmp_path, METRICS_HOST=host)


def test_a_short_token_is_refused_without_showing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, METRICS_HOST="0.0.0.0", METRICS_TOKEN="short-token-15c")
    assert "METRICS_TOKEN" in str(caught.value) and "short-token-15c" not in str(caught.value)
    assert "at least 16" in str(caught.value)
    _config(tmp_path, METRICS_TOKEN="exactly-16-chars")
