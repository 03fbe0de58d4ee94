"""The shipped dashboard imports anywhere (datasource, job and instance variables, units) and, with the alert
rules, uses only metrics riskmon exports."""

from __future__ import annotations

import json
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry

from riskmon.metrics import GAUGES, Metrics, StateCollector
from riskmon.monitor import AccountMonitor
from riskmon.profile import AccountProfile
from riskmon.store import MEMORY, Store
from riskmon.view import ReadModel

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "riskmon.json").read_text())
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PROVISIONED_UID = "riskmon-prometheus"
MONEY = ("riskmon_balance", "riskmon_equity", "riskmon_daily_pnl", "riskmon_rule_room_left", "riskmon_rule_floor")


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    Metrics([AccountProfile("acc-1")], registry, channels=["telegram"])
    samples = {s.name for family in registry.collect() for s in family.samples}
    state = StateCollector(ReadModel([AccountMonitor(AccountProfile("acc-1"), Store(MEMORY))]))
    samples |= {s.name for family in state.collect() for s in family.samples}  # e.g. the refused counter
    return samples | {name for name, _, _ in GAUGES}


def test_dashboard_and_alerts_use_only_exported_metrics() -> None:
    used = set(
        re.findall(r"\briskmon_[a-z_]+", json.dumps(DASHBOARD) + (GRAFANA / "prometheus" / "alerts.yml").read_text())
    )
    used.discard("riskmon_")
    assert used, "no riskmon metric referenced"
    assert used <= exported_names(), used - exported_names()


def test_every_panel_reads_the_chosen_datasource_and_says_what_it_shows() -> None:
    provisioned = (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    assert f"uid: {PROVISIONED_UID}" in provisioned
    assert PROVISIONED_UID not in json.dumps(DASHBOARD)  # no hard-coded uid: it imports into any Grafana
    panels = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["description"], panel["title"]
        assert all(t["datasource"] == DATASOURCE and t["expr"] for t in panel["targets"]), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], f"{panel['title']}: no unit"


def test_variables_choose_the_datasource_job_instance_and_accounts() -> None:
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert list(variables)[:3] == ["datasource", "job", "instance"]
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    assert variables["job"]["query"]["query"] == "label_values(riskmon_build_info, job)"
    assert variables["instance"]["query"]["query"] == 'label_values(riskmon_build_info{job=~"$job"}, instance)'
    account = variables["account"]["query"]["query"]
    assert account == 'label_values(riskmon_account_info{job=~"$job", instance=~"$instance"}, account)'
    for name in ("job", "instance", "account"):
        assert variables[name]["datasource"] == DATASOURCE and variables[name]["includeAll"]
    expressions = [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]
    expressions += [a["expr"] for a in DASHBOARD["annotations"]["list"] if "expr" in a]
    for expr in expressions:  # every series selector is scoped to the chosen job and instance
        for selector in re.findall(r"\b(?:riskmon_[a-z_]+|up)\{[^}]*\}|\briskmon_[a-z_]+\b(?!\{)", expr):
            assert 'job=~"$job"' in selector and 'instance=~"$instance"' in selector, (selector, expr)


def test_money_panels_name_their_currency() -> None:
    labels = {name: labels for name, _, labels in GAUGES}
    for name in MONEY:
        assert "currency" in labels[name], name
    money_panels = [p for p in DASHBOARD["panels"] if any(m in t["expr"] for t in p.get("targets", []) for m in MONEY)]
    assert len(money_panels) >= 3
    for panel in money_panels:
        units = {o["properties"][0]["value"] for o in panel["fieldConfig"]["overrides"]}
        assert {"currencyUSD", "currencyEUR", "currencyGBP"} <= units, panel["title"]
        for target in panel["targets"]:
            if any(m in target["expr"] for m in MONEY):
                assert "{{currency}}" in target["legendFormat"], (panel["title"], target["expr"])


def test_build_info_and_process_metrics_on_the_private_registry_without_created_series() -> None:
    registry = CollectorRegistry()
    Metrics([AccountProfile("acc-1")], registry, channels=["telegram"])
    names = {s.name for family in registry.collect() for s in family.samples}
    assert (
        registry.get_sample_value(
            "riskmon_build_info", {"version": metadata.version("riskmon"), "python": platform.python_version()}
        )
        == 1
    )
    assert "python_info" in names and "python_gc_objects_collected_total" in names
    if sys.platform == "linux":
        assert "process_resident_memory_bytes" in names and "process_open_fds" in names
    assert not [n for n in names if n.endswith("_created")]
    assert REGISTRY.get_sample_value("riskmon_build_info") is None  # never the global registry


def test_account_variable_and_alert_annotations() -> None:
    (variable,) = [v for v in DASHBOARD["templating"]["list"] if v["name"] == "account"]
    assert variable["multi"] and variable["includeAll"]
    annotations = [a for a in DASHBOARD["annotations"]["list"] if "expr" in a]
    assert any("riskmon_alerts_fired_total" in a["expr"] and a["datasource"] == DATASOURCE for a in annotations)
    # Every account-level query honours the variable.
    for panel in DASHBOARD["panels"]:
        for target in panel.get("targets", []):
            if "riskmon_" in target["expr"] and "platform_up" not in target["expr"]:
                assert "notification" in target["expr"] or "$account" in target["expr"], target["expr"]
