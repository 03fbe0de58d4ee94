"""The shipped dashboard and alert rules use only metrics riskmon exports, through the provisioned datasource."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from riskmon.metrics import GAUGES, Metrics, StateCollector
from riskmon.monitor import AccountMonitor, AccountProfile
from riskmon.store import MEMORY, Store

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "riskmon.json").read_text())
DATASOURCE_UID = "riskmon-prometheus"


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    Metrics([AccountProfile("acc-1")], registry, channels=["telegram"])
    samples = {s.name for family in registry.collect() for s in family.samples}
    state = StateCollector([AccountMonitor(AccountProfile("acc-1"), Store(MEMORY))], [])
    samples |= {s.name for family in state.collect() for s in family.samples}  # e.g. the refused counter
    return samples | {name for name, _, _ in GAUGES}


def test_dashboard_and_alerts_use_only_exported_metrics() -> None:
    used = set(
        re.findall(r"\briskmon_[a-z_]+", json.dumps(DASHBOARD) + (GRAFANA / "prometheus" / "alerts.yml").read_text())
    )
    used.discard("riskmon_")
    assert used, "no riskmon metric referenced"
    assert used <= exported_names(), used - exported_names()


def test_every_panel_reads_the_provisioned_datasource_and_says_what_it_shows() -> None:
    provisioned = (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    assert f"uid: {DATASOURCE_UID}" in provisioned
    panels = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        assert panel["description"], panel["title"]
        assert all(t["datasource"]["uid"] == DATASOURCE_UID and t["expr"] for t in panel["targets"]), panel["title"]


def test_account_variable_and_alert_annotations() -> None:
    (variable,) = [v for v in DASHBOARD["templating"]["list"] if v["name"] == "account"]
    assert variable["query"]["query"] == "label_values(riskmon_account_info, account)"
    assert variable["multi"] and variable["includeAll"]
    annotations = [a for a in DASHBOARD["annotations"]["list"] if "expr" in a]
    assert any(
        "riskmon_alerts_fired_total" in a["expr"] and a["datasource"]["uid"] == DATASOURCE_UID for a in annotations
    )
    # Every account-level query honours the variable.
    for panel in DASHBOARD["panels"]:
        for target in panel.get("targets", []):
            if "riskmon_" in target["expr"] and "platform_up" not in target["expr"]:
                assert "notification" in target["expr"] or "$account" in target["expr"], target["expr"]
