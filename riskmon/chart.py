"""The day's equity against every money floor: one geometry, drawn as inline SVG (the status page) or as a
PNG (Telegram's daily summary and ``/chart``), so the two can never differ.

``day_chart`` lays the chart out in a ``W`` × ``H`` box: the trading day from its start to its end on the x
axis, the equity (the close of each bucket; the bucket lows fainter, so a dip is never smoothed away) and a
step line per floor (a trailing floor moves in steps), labelled with the rule and its last value.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape

from riskmon.history import Point
from riskmon.notify.format import rule_name

W, H, LEFT, PAD, BOTTOM = 360, 150, 54, 4, 16
EQUITY, LOWS, GRID, FRAME, TEXT = "#1565c0", "#90caf9", "#ddd", "#fafafa", "#666"
FLOOR_COLOURS = ("#c62828", "#6a1b9a", "#ad1457", "#4e342e")

XY = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Line:
    kind: str  # "equity", "low" or "floor"
    rule: str  # the floor's rule ("" for equity)
    points: tuple[XY, ...]
    colour: str
    width: float
    dashed: bool = False


@dataclass(frozen=True, slots=True)
class Label:
    at: XY
    text: str
    colour: str
    size: int
    anchor: str  # "start", "middle" or "end"


@dataclass(frozen=True, slots=True)
class Chart:
    lines: tuple[Line, ...]
    labels: tuple[Label, ...]
    now: XY  # the latest equity


def _axis(value: float) -> str:
    return f"{value:,.0f}".replace("-", "−")


def _steps(values: list[tuple[float, float | None]], start: float, end: float) -> list[XY]:
    """A floor as a step line over the whole day: each value holds until the next; the first reaches back to
    the day's start, the last on to its end."""
    out: list[XY] = []
    for ts, value in values:
        if value is None:
            continue
        out.append((ts, out[-1][1]) if out else (start, value))
        out.append((ts, value))
    if out:
        out.append((end, out[-1][1]))
    return out


def day_chart(points: Sequence[Point], day_start: datetime) -> Chart | None:
    """The chart of a day's points (None without any)."""
    if not points:
        return None
    start = day_start.timestamp()
    end = max(start + timedelta(days=1).total_seconds(), points[-1].ts + 1)
    names = list(dict.fromkeys(rule for p in points for rule, _ in p.floors))
    values = [v for p in points for v in (p.low, p.close, *(f for _, f in p.floors))]
    low, high = min(values), max(values)
    span = (high - low) or max(abs(high), 1.0) * 0.01
    low, high = low - span * 0.08, high + span * 0.08

    def x(ts: float) -> float:
        return LEFT + (ts - start) / (end - start) * (W - LEFT - PAD)

    def y(value: float) -> float:
        return PAD + (high - value) / (high - low) * (H - PAD - BOTTOM)

    lines: list[Line] = []
    labels = [
        Label((LEFT - 3, y(high - span * 0.08) + 3), _axis(high - span * 0.08), TEXT, 9, "end"),
        Label((LEFT - 3, y(low + span * 0.08) + 3), _axis(low + span * 0.08), TEXT, 9, "end"),
    ]
    for hours in range(0, 25, 6):
        at = start + hours * 3600
        anchor = "start" if hours == 0 else "end" if hours == 24 else "middle"
        labels.append(Label((x(at), H - 4), f"{datetime.fromtimestamp(at, UTC):%H:%M}", TEXT, 9, anchor))
    for n, rule in enumerate(names):
        steps = _steps([(p.ts, dict(p.floors).get(rule)) for p in points], start, end)
        colour = FLOOR_COLOURS[n % len(FLOOR_COLOURS)]
        coords = tuple((x(ts), y(v)) for ts, v in steps)
        lines.append(Line("floor", rule, coords, colour, 1.5, dashed=True))
        text = f"{rule_name(rule)} floor {_axis(steps[-1][1])}"
        labels.append(Label((W - PAD - 2, coords[-1][1] - 3), text, colour, 10, "end"))
    closes = tuple((x(p.ts), y(p.close)) for p in points)
    lines.append(Line("low", "", tuple((x(p.ts), y(p.low)) for p in points), LOWS, 1))
    lines.append(Line("equity", "", closes, EQUITY, 2))
    return Chart(tuple(lines), tuple(labels), closes[-1])


def svg(chart: Chart, account: str) -> str:
    def coords(points: Sequence[XY]) -> str:
        return " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in points)

    parts = [
        f'<svg viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="equity today against the floors" data-account="{escape(account)}">',
        f'<rect x="{LEFT}" y="{PAD}" width="{W - LEFT - PAD}" height="{H - PAD - BOTTOM}" fill="{FRAME}" '
        f'stroke="{GRID}"/>',
    ]
    for label in chart.labels:
        parts.append(
            f'<text x="{label.at[0]:.1f}" y="{label.at[1]:.1f}" font-size="{label.size}" fill="{label.colour}" '
            f'text-anchor="{label.anchor}">{escape(label.text)}</text>'
        )
    for line in chart.lines:
        rule = f' data-rule="{escape(line.rule)}"' if line.rule else ""
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        title = f"<title>{escape(line.rule)} floor</title>" if line.rule else f"<title>{line.kind}</title>"
        parts.append(
            f'<polyline class="{line.kind}"{rule} points="{coords(line.points)}" fill="none" stroke="{line.colour}" '
            f'stroke-width="{line.width:g}"{dash}>{title}</polyline>'
        )
    parts.append(f'<circle cx="{chart.now[0]:.1f}" cy="{chart.now[1]:.1f}" r="2.5" fill="{EQUITY}"/>')
    parts.append("</svg>")
    return "".join(parts)


def png(chart: Chart, title: str, scale: int = 3) -> bytes:
    """The same chart as a PNG, ``scale`` times the SVG's size, with a title above it (Pillow)."""
    from PIL import Image, ImageDraw, ImageFont  # only where a PNG is wanted (Telegram)

    head = 22
    image = Image.new("RGB", (W * scale, (H + head) * scale), "white")
    draw = ImageDraw.Draw(image)

    def at(point: XY) -> XY:
        return point[0] * scale, (point[1] + head) * scale

    draw.rectangle([at((LEFT, PAD)), at((W - PAD, H - BOTTOM))], fill=FRAME, outline=GRID, width=scale)
    draw.text((6 * scale, 4 * scale), title, fill="#1d1d1f", font=ImageFont.load_default(size=13 * scale))
    for line in chart.lines:
        points = [at(p) for p in line.points]
        width = max(1, round(line.width * scale))
        if line.dashed:
            for a, b in _dashes(points, 5 * scale, 3 * scale):
                draw.line([a, b], fill=line.colour, width=width)
        else:
            draw.line(points, fill=line.colour, width=width, joint="curve")
    cx, cy = at(chart.now)
    r = 2.5 * scale
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=EQUITY)
    for label in chart.labels:
        font = ImageFont.load_default(size=label.size * scale)
        anchor = {"start": "ls", "middle": "ms", "end": "rs"}[label.anchor]
        draw.text(at(label.at), label.text, fill=label.colour, font=font, anchor=anchor)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _dashes(points: Sequence[XY], on: float, off: float) -> list[tuple[XY, XY]]:
    """A polyline cut into dashes (Pillow draws no dashed lines)."""
    segments: list[tuple[XY, XY]] = []
    drawing, left = True, on
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        length = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
        done = 0.0
        while done < length:
            step = min(left, length - done)
            a = (x0 + (x1 - x0) * done / length, y0 + (y1 - y0) * done / length)
            b = (x0 + (x1 - x0) * (done + step) / length, y0 + (y1 - y0) * (done + step) / length)
            if drawing:
                segments.append((a, b))
            done += step
            left -= step
            if left <= 0:
                drawing, left = not drawing, off if drawing else on
    return segments


def chart_title(name: str, day: date) -> str:
    return f"{name} · equity on {day.isoformat()} against the floors"
