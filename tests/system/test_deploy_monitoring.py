"""deploy/prometheus and deploy/grafana: the alert rules pass promtool and fire when they should, and every metric
and label the rules and the dashboard query is one a real /metrics page exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import respx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AUTH, REPO, TRACK_URL, event, make_settings, open_client, tiktok_answer, wait_for

PROMETHEUS = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "forwarder.json"
ADMIN = {"Authorization": "Bearer monitoring-admin"}
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is not installed: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool is not installed (apt-get install prometheus); CI runs this test")
    return found


def alert_expressions() -> list[str]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_alert_rules_pass_promtool_check() -> None:
    checked = subprocess.run([promtool(), "check", "rules", "alerts.yml"], cwd=PROMETHEUS, capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    names = {rule["alert"] for group in groups for rule in group["rules"]}
    expected = {"ForwarderDestinationPaused", "ForwarderOldestPendingTooOld", "ForwarderTikTokFailureRate"}
    assert expected | {"ForwarderDeadLettersGrowing", "ForwarderReloadRefused"} <= names


def test_alert_rules_fire_when_they_should() -> None:
    """alerts_test.yml feeds each alert its situation (and a look-alike that must stay quiet)."""
    tested = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=PROMETHEUS, capture_output=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard query, fed to it as a recording rule (Grafana's interval made concrete)."""
    rules = [
        {"record": f"dashboard:query_{index}", "expr": expr.replace("$__rate_interval", "5m")}
        for index, expr in enumerate(dashboard_expressions())
    ]
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run([promtool(), "check", "rules", "dashboard.yml"], cwd=tmp_path, capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def exported(tmp_path: Path) -> tuple[set[str], dict[str, set[str]]]:
    """Series names and, per name, label names of a real app's /metrics after events flowed and a reload was
    refused and then applied."""
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    router = respx.Router()
    router.post(TRACK_URL).mock(
        side_effect=[tiktok_answer(40100, "Too many requests."), tiktok_answer(0, "OK"), tiktok_answer(40002, "bad")]
    )
    settings = make_settings(tmp_path, admin_token="monitoring-admin", mappings_dir=tmp_path / "mappings")
    with open_client(settings, router) as client:

        def stat(name: str) -> int:
            figure: int = client.get("/v1/stats", headers=ADMIN).json()["destinations"]["app_main"][name]
            return figure

        batch = [event(event_id="a"), event(event_id="b", event="NOPE"), event(event=5)]
        client.post("/v1/events", json={"events": batch}, headers=AUTH)
        client.post("/v1/events", json=event(event_id="a"), headers=AUTH)
        wait_for(lambda: stat("delivered") == 1)
        client.post("/v1/events", json=event(event_id="c"), headers=AUTH)
        wait_for(lambda: stat("dead") == 1)
        table = tmp_path / "mappings" / "default.toml"
        good = table.read_text()
        table.write_text("[events]\nSTART_TRIAL = 5\n")
        assert client.post("/v1/admin/reload", json={}, headers=ADMIN).status_code == 422
        refused = client.get("/metrics", headers=ADMIN).text
        table.write_text(good)
        assert client.post("/v1/admin/reload", json={}, headers=ADMIN).status_code == 200
        text = client.get("/metrics", headers=ADMIN).text
    assert "forwarder_config_last_reload_refused 1.0" in refused
    assert "forwarder_config_last_reload_refused 0.0" in text
    assert 'forwarder_config_reloads_total{outcome="invalid",trigger="admin_api"} 1.0' in text
    assert 'forwarder_dead_letters{destination="app_main"} 1.0' in text
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        names |= {family.name, *(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))}
        for sample in family.samples:
            names.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
    return names, labels


def queried(expressions: list[str]) -> list[tuple[str, set[str], str]]:
    """(metric, label names grouped by or matched on, expression) for every forwarder metric each query names."""
    found = []
    for expr in expressions:
        grouped = {label.strip() for group in re.findall(r"\bby \(([^)]*)\)", expr) for label in group.split(",")}
        matched = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"", expr))
        for metric in set(re.findall(r"\bforwarder_[a-z0-9_]+\b", expr)):
            found.append((metric, (grouped | matched) - {"le", ""}, expr))
    return found


def test_every_metric_and_label_queried_is_exported(tmp_path: Path) -> None:
    names, labels = exported(tmp_path)
    queries = queried(alert_expressions() + dashboard_expressions())
    assert len({metric for metric, _, _ in queries}) >= 15  # the queries cover what we export
    unknown = [(metric, expr) for metric, _, expr in queries if metric not in names]
    assert unknown == []
    for metric, wanted, expr in queries:
        # A query grouping by a label the metric lacks draws one unlabelled line: a quiet, misleading panel.
        missing = wanted - labels.get(metric, set()) if metric in labels else set()
        if len(re.findall(r"\bforwarder_[a-z0-9_]+\b", expr)) == 1:
            assert not missing, (metric, missing, expr)


def test_the_dashboard_is_importable_grafana_json() -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    [variable] = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
