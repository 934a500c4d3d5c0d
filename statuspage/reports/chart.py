"""The trend chart of the HTML report, laid out here and drawn as inline SVG by the template:
bars for the breaches of each period (left axis), a line for the share of targets met (right
axis, 0-100 %), axis titles and a legend, and a text equivalent for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from statuspage.domain.report import TrendPoint
from statuspage.reports.words import percent_text, plural

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM_SPACE = 64, 64, 44, 56


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int  # the x of the right axis
    top: int
    bottom: int  # the y of the horizontal axis
    bars: list[ChartBar]
    points: list[tuple[float, float, str]]  # attainment line: x, y, label
    labels: list[tuple[float, str]]
    max_breaches: int
    description: str

    @property
    def polyline(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.points)

    @property
    def middle_y(self) -> float:
        return (self.top + self.bottom) / 2


def trend_chart(trend: Sequence[TrendPoint], width: int = WIDTH, height: int = HEIGHT) -> Chart:
    top, bottom, left, right = TOP, height - BOTTOM_SPACE, LEFT, width - RIGHT
    slot = (right - left) / max(1, len(trend))
    most = max([p.breaches for p in trend] + [1])
    span = bottom - top
    bars, points, labels = [], [], []
    for index, point in enumerate(trend):
        middle = left + slot * (index + 0.5)
        bar_height = span * point.breaches / most
        bars.append(ChartBar(middle - slot * 0.3, bottom - bar_height, slot * 0.6, bar_height, point.month, point.breaches))
        if point.attainment_percent is not None:
            points.append((middle, bottom - span * point.attainment_percent / 100, percent_text(point.attainment_percent)))
        labels.append((middle, point.month))
    described = "; ".join(
        f"{p.month}: {plural(p.breaches, 'breach', 'breaches')}, targets met {percent_text(p.attainment_percent)}"
        for p in trend
    )
    return Chart(width, height, left, right, top, bottom, bars, points, labels, most, described + ".")
