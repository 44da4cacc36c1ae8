"""Reading a webhook delivery: Alertmanager (payload version 4), Grafana alerting, or a generic body.

Each format is read as its project documents it (Alertmanager's `webhook_config`, Grafana's
webhook contact point). Anything that does not match is refused with `Invalid` before anything
is stored. The result is one `Alert`: a text summary, the incident data (labels, annotations and
values of every alert) and the group key that `room_per_alert` mode deduplicates rooms by.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

from api.domain.core.errors import Invalid, TooLarge
from api.domain.messages.validate import MAX_DATA_BYTES, MAX_TEXT, check_data

MAX_TITLE = 200
MAX_SEVERITY = 32
MAX_GROUP_KEY = 2000
STATUSES = ("firing", "resolved")
GENERIC_FIELDS = frozenset({"title", "text", "incident_data", "severity"})
_enc = msgspec.json.Encoder(order="sorted")


@dataclass(slots=True)
class Alert:
    """One delivery, read: what to post and where it belongs."""

    source: str  # alertmanager | grafana | generic
    status: str  # firing | resolved
    title: str
    text: str
    data: dict[str, Any] | None
    group_key: str | None
    severity: str | None
    alert_count: int


def fingerprint(body: dict[str, Any]) -> str:
    """A stable hash of a delivery's body (key order does not matter): the same retry, the same key."""
    return hashlib.sha256(_enc.encode(body)).hexdigest()


def read_delivery(body: dict[str, Any]) -> Alert:
    """The `Alert` in a delivery's JSON object (Invalid when it is no known format or malformed)."""
    if "alerts" in body or "groupKey" in body or "version" in body:
        version = body.get("version")
        if version == "4":
            return _read_group(body, "alertmanager")
        if version == "1" and "orgId" in body:
            return _read_group(body, "grafana")
        raise Invalid(
            "unsupported alert payload: expected Alertmanager's version 4 or Grafana's webhook payload "
            "(version 1 with orgId)"
        )
    return _read_generic(body)


# ---------------------------------------------------------------------- Alertmanager and Grafana


def _str(value: Any, where: str, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{where} must be a string")
    return value


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise Invalid(f"{where} must be an object of strings")
    return value


def _values(value: Any, where: str) -> dict[str, float | int | None]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in value.values()
    ):
        raise Invalid(f"{where} must be an object of numbers")
    return value


def _status(value: Any, where: str) -> str:
    if value not in STATUSES:
        raise Invalid(f"{where} must be firing or resolved")
    return str(value)


def _read_group(body: dict[str, Any], source: str) -> Alert:
    """An Alertmanager (v4) or Grafana group notification; both share Alertmanager's shape."""
    status = _status(body.get("status"), "status")
    group_key = _str(body.get("groupKey"), "groupKey")
    if not group_key or len(group_key) > MAX_GROUP_KEY:
        raise Invalid(f"groupKey must be a non-empty string of at most {MAX_GROUP_KEY} characters")
    raw_alerts = body.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise Invalid("alerts must be a non-empty list")
    common_labels = _str_map(body.get("commonLabels"), "commonLabels")
    common_annotations = _str_map(body.get("commonAnnotations"), "commonAnnotations")
    group_labels = _str_map(body.get("groupLabels"), "groupLabels")
    truncated = body.get("truncatedAlerts", 0)
    if truncated is None:
        truncated = 0
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise Invalid("truncatedAlerts must be a non-negative integer")
    alerts = [_read_alert(raw, f"alerts[{i}]", source) for i, raw in enumerate(raw_alerts)]

    alertname, title = _group_title(alerts, common_labels, common_annotations, group_labels)
    severity = common_labels.get("severity") or alerts[0]["labels"].get("severity") or None
    counted = sum(1 for a in alerts if a["status"] == status)
    lines = [f"[{status.upper()}:{counted}] {title}"]
    lines += [_alert_line(alert, common_labels) for alert in alerts]
    if truncated:
        lines.append(f"(+{truncated} more alerts left out by the sender)")
    text = _clip("\n".join(lines), MAX_TEXT)

    data: dict[str, Any] = {
        "source": source,
        "status": status,
        "alertname": alertname,
        "group_key": group_key,
        "labels": common_labels,
        "annotations": common_annotations,
        "firing": sum(1 for a in alerts if a["status"] == "firing"),
        "resolved": sum(1 for a in alerts if a["status"] == "resolved"),
    }
    if severity:
        data["severity"] = severity
    _add_values(data, alerts)
    external = body.get("externalURL")
    if isinstance(external, str) and external:
        data["external_url"] = external
    if truncated:
        data["truncated_alerts"] = truncated
    data["alerts"] = alerts
    data = _fit(data)
    return Alert(source, status, _clip(title, MAX_TITLE), text, data, group_key, severity, len(alerts))


# Optional string fields of one alert, by payload name → stored name; Grafana adds its own.
_ALERT_LINKS = (("fingerprint", "fingerprint"), ("generatorURL", "generator_url"))
_GRAFANA_LINKS = (("silenceURL", "silence_url"), ("dashboardURL", "dashboard_url"), ("panelURL", "panel_url"))


def _read_alert(raw: Any, where: str, source: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Invalid(f"{where} must be an object")
    alert: dict[str, Any] = {
        "status": _status(raw.get("status"), f"{where}.status"),
        "labels": _str_map(raw.get("labels"), f"{where}.labels"),
        "annotations": _str_map(raw.get("annotations"), f"{where}.annotations"),
        "starts_at": _str(raw.get("startsAt"), f"{where}.startsAt"),
    }
    ends_at = _str(raw.get("endsAt"), f"{where}.endsAt", optional=True)
    if ends_at and not ends_at.startswith("0001-01-01"):  # Alertmanager's "not ended"
        alert["ends_at"] = ends_at
    links: tuple[tuple[str, str], ...] = _ALERT_LINKS
    if source == "grafana":
        values = _values(raw.get("values"), f"{where}.values")
        if values:
            alert["values"] = values
        links += (("valueString", "value_string"), *_GRAFANA_LINKS)
    for key, out in links:
        value = _str(raw.get(key), f"{where}.{key}", optional=True)
        if value:
            alert[out] = value
    return alert


def _group_title(
    alerts: list[dict[str, Any]],
    common_labels: dict[str, str],
    common_annotations: dict[str, str],
    group_labels: dict[str, str],
) -> tuple[str, str]:
    """(alertname, title): the group's alert name(s), with the summary when there is one."""
    names = list(dict.fromkeys(a["labels"]["alertname"] for a in alerts if a["labels"].get("alertname")))
    alertname = (
        common_labels.get("alertname")
        or group_labels.get("alertname")
        or (", ".join(names[:3]) + (", …" if len(names) > 3 else ""))
        or "alert"
    )
    summary = common_annotations.get("summary") or (
        alerts[0]["annotations"].get("summary") if len(alerts) == 1 else None
    )
    return alertname, alertname if not summary else f"{alertname}: {summary}"


def _add_values(data: dict[str, Any], alerts: list[dict[str, Any]]) -> None:
    """Grafana's values (first alert's wins per key), also at the top level so they chart."""
    values_all: dict[str, Any] = {}
    for alert in alerts:
        for key, value in alert.get("values", {}).items():
            values_all.setdefault(key, value)
    if not values_all:
        return
    data["values"] = values_all
    # Numbers at the top level too, so `GET /api/rooms/{id}/incident-data?field=B` charts them.
    for key, value in values_all.items():
        if isinstance(value, int | float) and key not in data:
            data[key] = value


def _alert_line(alert: dict[str, Any], common_labels: dict[str, str]) -> str:
    own = {k: v for k, v in alert["labels"].items() if common_labels.get(k) != v and k != "alertname"}
    ann = alert["annotations"]
    what = ann.get("summary") or ann.get("description") or alert["labels"].get("alertname") or "alert"
    parts = [f"• {alert['status']}: {what}"]
    if own:
        parts.append("(" + ", ".join(f"{k}={v}" for k, v in sorted(own.items())) + ")")
    if "values" in alert:
        parts.append("values " + ", ".join(f"{k}={v}" for k, v in alert["values"].items()))
    line = " ".join(parts)
    if ann.get("summary") and ann.get("description"):
        line += f"\n  {ann['description']}"
    return line


def _fit(data: dict[str, Any]) -> dict[str, Any]:
    """Keep the incident data within the message limits: alerts past the size are counted, not kept."""
    alerts = data["alerts"]
    while len(_enc.encode(data)) > MAX_DATA_BYTES and alerts:
        alerts.pop()
        data["alerts_omitted"] = data.get("alerts_omitted", 0) + 1
    if len(_enc.encode(data)) > MAX_DATA_BYTES:
        data["labels"], data["annotations"] = {}, {}
    return data


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------- generic


def _read_generic(body: dict[str, Any]) -> Alert:
    unknown = set(body) - GENERIC_FIELDS
    if unknown:
        raise Invalid(
            f"unknown fields: {', '.join(sorted(unknown))} (expected title, text, incident_data, severity; "
            "or an Alertmanager or Grafana payload)"
        )
    title = body.get("title")
    text = body.get("text")
    data = body.get("incident_data")
    severity = body.get("severity")
    if title is not None and (not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE):
        raise Invalid(f"title must be a non-empty string of at most {MAX_TITLE} characters")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise Invalid("text must be a non-empty string")
    if severity is not None and (
        not isinstance(severity, str) or not severity.strip() or len(severity) > MAX_SEVERITY
    ):
        raise Invalid(f"severity must be a non-empty string of at most {MAX_SEVERITY} characters")
    if data is not None:
        try:
            check_data(data, "incident_data")
        except TooLarge as exc:
            # A webhook's body is refused as a whole (400), not as a message over a size (413).
            raise Invalid(exc.message) from None
    if title is None and text is None and data is None:
        raise Invalid("a delivery needs at least one of title, text or incident_data")
    lines = []
    if title is not None:
        lines.append(f"[{severity.upper()}] {title.strip()}" if severity else title.strip())
    elif severity:
        lines.append(f"[{severity.upper()}]")
    if text is not None:
        lines.append(text)
    summary = "\n".join(lines)
    if len(summary) > MAX_TEXT:
        raise Invalid(f"title and text together must be at most {MAX_TEXT} characters")
    return Alert(
        source="generic",
        status="firing",
        title=(title or "").strip(),
        text=summary,
        data=data,
        group_key=title.strip() if title else None,
        severity=severity,
        alert_count=1,
    )
