"""Reading webhook deliveries: the documented Alertmanager and Grafana payloads and the generic body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from api.domain.core.errors import Invalid
from api.domain.messages.validate import MAX_DATA_BYTES, MAX_DATA_DEPTH, json_depth
from api.domain.webhooks.payloads import fingerprint, read_delivery

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def test_alertmanager_v4_is_read_with_its_group_key_and_summary() -> None:
    alert = read_delivery(payload("alertmanager_firing"))
    assert alert.source == "alertmanager" and alert.status == "firing" and alert.alert_count == 1
    assert alert.group_key == '{}/{severity="critical"}:{alertname="ProbeFailure"}'
    assert alert.title == "ProbeFailure: BlackBox Probe Failure: https://server.example.org"
    assert alert.severity == "critical"
    assert alert.text.splitlines()[0] == "[FIRING:1] ProbeFailure: BlackBox Probe Failure: https://server.example.org"
    assert "has been down for over 5m" in alert.text
    assert alert.data is not None and alert.data["alerts"][0]["generator_url"].startswith("http://prometheus")
    assert read_delivery(payload("alertmanager_resolved")).status == "resolved"


def test_grafana_values_are_kept_per_alert_and_at_the_top_for_charts() -> None:
    alert = read_delivery(payload("grafana_firing"))
    assert alert.source == "grafana" and alert.alert_count == 2 and alert.group_key == "{}:{}"
    assert alert.title == "High memory usage, High CPU usage"
    assert alert.data is not None
    assert alert.data["alerts"][1]["values"] == {"B": 44.23943737541908, "C": 1}
    assert alert.data["B"] == 44.23943737541908 and alert.data["C"] == 1


def test_a_huge_group_is_cut_to_the_incident_data_limits_and_says_so() -> None:
    body = payload("alertmanager_firing")
    template = body["alerts"][0]
    body["alerts"] = [
        dict(template, labels=dict(template["labels"], instance=f"https://node-{i}.example.org"), fingerprint=f"{i:016x}")
        for i in range(200)
    ]
    alert = read_delivery(body)
    assert alert.data is not None
    assert len(msgspec.json.encode(alert.data)) <= MAX_DATA_BYTES
    assert json_depth(alert.data, MAX_DATA_DEPTH) <= MAX_DATA_DEPTH
    assert alert.data["alerts_omitted"] == 200 - len(alert.data["alerts"]) > 0
    assert len(alert.text) <= 10_000


@pytest.mark.parametrize(
    "body",
    [
        {"version": "2", "groupKey": "k", "status": "firing", "alerts": [{}]},
        {"version": "1", "groupKey": "k", "status": "firing", "alerts": [{}]},  # Grafana's has orgId
        {"title": "t", "priority": "urgent"},
        {"severity": "critical"},
    ],
)
def test_unknown_or_incomplete_bodies_are_invalid(body: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        read_delivery(body)


def test_the_delivery_key_ignores_key_order() -> None:
    a = payload("grafana_firing")
    b = json.loads(json.dumps(a, sort_keys=True))
    assert list(a) != list(b) and fingerprint(a) == fingerprint(b)
    b["status"] = "resolved"
    assert fingerprint(a) != fingerprint(b)
