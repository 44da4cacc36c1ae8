"""Incident-data series and their charts, drawn on the server as SVG with pygal.

Every numeric leaf of every `incident_data` message is a series, named by its path
(`oven.zone4` for nested objects). A series keeps exact statistics (count, min, max, last) and
at most `MAX_POINTS` points to draw: when full, every other point is dropped and only every
second later point is kept (the stride doubles), so a series of any length costs a fixed amount
of memory and its chart still spans the whole incident. At most `MAX_FIELDS` series are kept;
later new fields are counted and named in the report as not charted.

pygal (pure Python, a few hundred KB, LGPL, maintained) draws the SVG; the same SVG goes into
the HTML, the PDF (WeasyPrint draws SVG images) and the Markdown, so every format shows one chart.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

MAX_POINTS = 400
MAX_FIELDS = 40
MAX_DEPTH = 8
# An incident_data object may name its readings' units: {"temp": 85, "_units": {"temp": "°C"}}.
UNITS_KEY = "_units"
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def numeric_leaves(data: Any) -> dict[str, float]:
    """Finite numeric leaves of a JSON object by dotted path (booleans are not numbers here)."""
    return {
        path: float(value)
        for path, value in all_leaves(data).items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def all_leaves(data: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Every scalar leaf of a JSON object by dotted path (lists kept whole), for the CSV columns.

    The units (`_units`) are not readings and get no column: the charts and the JSON name them."""
    out: dict[str, Any] = {}
    if not isinstance(data, dict) or depth > MAX_DEPTH:
        return out
    for key, value in data.items():
        path = f"{prefix}{key}"
        if depth == 0 and key == UNITS_KEY:
            continue
        if isinstance(value, dict):
            out.update(all_leaves(value, path + ".", depth + 1))
        else:
            out[path] = value
    return out


@dataclass(slots=True)
class Series:
    name: str
    unit: str | None = None
    count: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    last: float = 0.0
    first_at: datetime | None = None
    last_at: datetime | None = None
    stride: int = 1
    points: list[tuple[datetime, float]] = field(default_factory=list)

    def add(self, at: datetime, value: float) -> None:
        if self.count % self.stride == 0:
            self.points.append((at, value))
            if len(self.points) > MAX_POINTS:
                del self.points[1::2]
                self.stride *= 2
        self.count += 1
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        self.last = value
        self.first_at = self.first_at or at
        self.last_at = at

    def drawn(self) -> list[tuple[datetime, float]]:
        """The kept points, with the very last value always shown."""
        if self.points and self.last_at is not None and self.points[-1][0] != self.last_at:
            return [*self.points, (self.last_at, self.last)]
        return list(self.points)


@dataclass(slots=True)
class SeriesSet:
    series: dict[str, Series] = field(default_factory=dict)
    dropped_fields: set[str] = field(default_factory=set)

    def add(self, at: datetime, data: Any) -> None:
        units = data.get(UNITS_KEY) if isinstance(data, dict) else None
        for name, value in numeric_leaves(data).items():
            s = self.series.get(name)
            if s is None:
                if len(self.series) >= MAX_FIELDS:
                    if len(self.dropped_fields) < MAX_FIELDS:
                        self.dropped_fields.add(name)
                    continue
                s = self.series[name] = Series(name)
            if isinstance(units, dict) and isinstance(units.get(name), str):
                s.unit = units[name]  # the latest posted unit wins, as in the app
            s.add(at, value)

    def ordered(self) -> list[Series]:
        return [self.series[k] for k in sorted(self.series)]


@dataclass(frozen=True, slots=True)
class Chart:
    series: Series
    svg: str

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()


def render_chart(series: Series, tz: tzinfo, *, width: int = 760, height: int = 300) -> Chart:
    """One line chart (value over time in the display time zone) as a standalone SVG document."""
    import pygal
    from pygal.style import Style

    style = Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#1f2933",
        foreground_strong="#1f2933",
        foreground_subtle="#9aa5b1",
        colors=("#c2410c",),
        font_family="'Noto Sans CJK SC', 'Noto Sans', 'DejaVu Sans', sans-serif",
        title_font_size=16,
        label_font_size=11,
        major_label_font_size=11,
    )
    span = (series.last_at - series.first_at).total_seconds() if series.first_at and series.last_at else 0
    pattern = "%H:%M:%S" if span < 3600 else "%H:%M" if span < 86400 else "%m-%d %H:%M"
    chart = pygal.DateTimeLine(
        width=width,
        height=height,
        style=style,
        title=f"Chart: {series.name}" + (f" ({series.unit})" if series.unit else ""),
        show_legend=False,
        js=[],  # no script: the SVG is a picture in HTML and PDF alike
        disable_xml_declaration=False,
        x_label_rotation=20,
        x_value_formatter=lambda d: d.astimezone(tz).strftime(pattern),
        show_minor_y_guides=False,
        show_dots=len(series.points) <= 60,
        dots_size=2,
        truncate_label=-1,
        print_values=False,
    )
    chart.add(series.name, [(at, value) for at, value in series.drawn()])
    # pygal always writes a config <script>; a picture needs none (and an <img> runs none).
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    return Chart(series, svg)
