"""A real Prometheus scraping a real riskmon (`riskmon run` on the simulator) over loopback.

promtool must accept the shipped Prometheus config and alert rules, and the rules' own unit tests
(alerts_test.yml) must pass. Then every dashboard query and every alert expression runs through
Prometheus's HTTP API and must return data. Alert rules are all ``<measure> <comparison> <threshold>``
and most should stay quiet in the demo (riskmon is up, data is fresh), so for each rule the test
evaluates the measure alone, which must return data, and the whole expression, which Prometheus
must accept; the rule must also report health "ok" after its evaluations.

Needs the ``prometheus`` and ``promtool`` binaries (Debian package ``prometheus``): skipped without
them, except under ``RISKMON_CI=1`` where their absence fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "riskmon.json"
ALERTS = GRAFANA / "prometheus" / "alerts.yml"
SIM_ACCOUNTS = ("sim-ftmo", "sim-basic")
# What Grafana puts in place of its variables, for a 1 s scrape interval and every account selected.
GRAFANA_VARIABLES = {
    "$__rate_interval": "4s",
    "$__range": "1m",
    "$account": "(" + "|".join(SIM_ACCOUNTS) + ")",
    "$job": "riskmon",
    "$instance": ".+",
}
ALERT_EXPR = re.compile(r"^(?P<measure>.+?)\s*(?:==|!=|>=|<=|>|<)\s*[0-9.]+$")
DEADLINE_S = 30.0


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"`{name}` is not on PATH (apt-get install prometheus)"
        if os.environ.get("RISKMON_CI") == "1":
            pytest.fail(f"{reason}; RISKMON_CI=1 requires the Prometheus integration tests to run")
        pytest.skip(reason)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SECRET = "/run/secrets/metrics_token"  # where compose hands Prometheus riskmon's token


def test_promtool_accepts_the_shipped_configuration(tmp_path: Path) -> None:
    """promtool checks that the token file exists: the compose secret's path points at a file here instead."""
    token = tmp_path / "metrics_token"
    token.write_text("0123456789abcdef0123")
    shipped = (GRAFANA / "prometheus" / "prometheus.yml").read_text()
    assert f"credentials_file: {SECRET}" in shipped
    config = tmp_path / "prometheus.yml"
    config.write_text(shipped.replace(SECRET, str(token)).replace("alerts.yml", str(ALERTS)))
    done = subprocess.run(
        [tool("promtool"), "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", str(ALERTS)],
        ["test", "rules", str(Path(__file__).with_name("alerts_test.yml"))],
    ],
    ids=["check-rules", "test-rules"],
)
def test_promtool_accepts_the_shipped_files(args: list[str]) -> None:
    done = subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and annotation, Grafana's variables substituted."""
    doc = json.loads(DASHBOARD.read_text())
    found = [(f"panel {p['title']!r} {t['refId']}", t["expr"]) for p in doc["panels"] for t in p.get("targets", [])]
    found += [(f"annotation {a['name']!r}", a["expr"]) for a in doc["annotations"]["list"] if "expr" in a]
    queries = []
    for where, expr in found:
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{where}: unsubstituted variable in {expr}"
        queries.append((where, expr))
    return queries


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Prometheus first (so it sees every counter at zero before it moves), then riskmon."""
    prometheus = tool("prometheus")
    riskmon_port, prometheus_port = free_port(), free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [{"job_name": "riskmon", "static_configs": [{"targets": [f"127.0.0.1:{riskmon_port}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKMON_", "METRICS_", "PLATFORM", "ACCOUNT"))}
    env |= {
        "PLATFORM": "sim",
        "SIM_INTERVAL": "0.15",
        "RISKMON_DB": str(tmp_path / "riskmon.db"),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(riskmon_port),
    }
    with (tmp_path / "prometheus.log").open("wb") as prom_log, (tmp_path / "riskmon.log").open("wb") as riskmon_log:
        prom = subprocess.Popen(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            cwd=tmp_path,
            stdout=prom_log,
            stderr=subprocess.STDOUT,
        )
        riskmon = subprocess.Popen(
            [sys.executable, "-m", "riskmon.cli", "run", "--no-table"],
            cwd=tmp_path,  # no stray .env
            env=env,
            stdout=riskmon_log,
            stderr=subprocess.STDOUT,
        )
        try:
            with (
                httpx.Client(base_url=f"http://127.0.0.1:{prometheus_port}", trust_env=False, timeout=5) as api,
                httpx.Client(base_url=f"http://127.0.0.1:{riskmon_port}", trust_env=False, timeout=5) as exporter,
            ):
                yield api, exporter
        finally:
            stop(riskmon)
            stop(prom)
            for name in ("riskmon.log", "prometheus.log"):
                sys.stderr.write(f"--- {name} (tail)\n{(tmp_path / name).read_text()[-2000:]}\n")


def query(api: httpx.Client, expr: str) -> list[Any]:
    """The result vector; any query Prometheus rejects fails the test at once."""
    try:
        response = api.get("/api/v1/query", params={"query": expr})
    except httpx.TransportError:
        return []  # Prometheus still starting
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    assert response.status_code != 400, f"Prometheus rejected {expr!r}: {body.get('error')}"
    return list(body.get("data", {}).get("result", [])) if response.status_code == 200 else []


def alert_rules(api: httpx.Client) -> dict[str, dict[str, Any]]:
    try:
        groups = api.get("/api/v1/rules", params={"type": "alert"}).json()["data"]["groups"]
    except (httpx.TransportError, ValueError, KeyError):
        return {}
    return {rule["name"]: rule for group in groups for rule in group["rules"]}


def test_every_dashboard_query_and_alert_rule_returns_data(stack: tuple[httpx.Client, httpx.Client]) -> None:
    api, exporter = stack
    shipped = dict(re.findall(r"^\s*- alert: (\w+)\n\s*expr: (.+)$", ALERTS.read_text(), re.MULTILINE))
    assert set(shipped) == {
        "RiskmonDown",
        "RiskmonAccountDataStale",
        "RiskmonAccountLoading",
        "RiskmonStateUnsaved",
        "RiskmonSnapshotsRefused",
        "RiskmonClockSkew",
        "RiskmonDailyLossRoomLow",
        "RiskmonCriticalBreach",
    }
    pending = dict(dashboard_queries())
    for name, expr in shipped.items():
        match = ALERT_EXPR.match(expr)
        assert match, f"alert {name}: {expr!r} is not '<measure> <comparison> <threshold>'"
        pending[f"alert {name} measure"] = match["measure"]
    rules: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if set(rules) != set(shipped) or any(rule["health"] != "ok" for rule in rules.values()):
            rules = alert_rules(api)
        pending = {where: expr for where, expr in pending.items() if not query(api, expr)}
        if not pending and set(rules) == set(shipped) and all(r["health"] == "ok" for r in rules.values()):
            break
        time.sleep(0.5)
    assert not pending, "no data from:\n" + "\n".join(f"  {where}: {expr}" for where, expr in pending.items())
    assert {name: rule["health"] for name, rule in rules.items()} == dict.fromkeys(shipped, "ok")
    for expr in shipped.values():
        query(api, expr)  # the whole expression is accepted too (quiet rules return nothing)

    # The dashboard's `account` variable: label_values(riskmon_account_info, account).
    values = api.get("/api/v1/label/account/values", params={"match[]": "riskmon_account_info"}).json()["data"]
    assert sorted(values) == sorted(SIM_ACCOUNTS)
    assert exporter.get("/healthz").status_code == 200
