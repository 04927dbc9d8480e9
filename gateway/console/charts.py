"""Charts as SVG drawn on the server: no script, no style attribute (the Content-Security-
Policy allows neither inline), presentation attributes and CSS classes only. Each chart is
an image with a text alternative, and every bar has a title (its figures) for the pointer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # under the bar (shown for every ``label_every``-th bar)
    title: str  # the bar's tooltip: its figures in words
    values: tuple[int, ...]  # stacked from the bottom, one per series


def _nice_ceiling(value: int) -> int:
    """2, 4, 10, 20, 40, 100, … at or above ``value``: even, so the middle line is whole."""
    step = 1
    while True:
        for m in (2, 4, 10):
            if step * m >= value:
                return step * m
        step *= 10


def stacked_bars(
    bars: Sequence[Bar],
    *,
    series: Sequence[str],
    label: str,
    width: int = 1160,
    height: int = 220,
    label_every: int = 3,
) -> Markup:
    """A stacked bar chart; ``series`` are CSS class names (``bar-delivered``, …), one per
    value of each bar, and ``label`` the chart's text alternative."""
    left, right, top, bottom = 40, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_ceiling(max((sum(b.values) for b in bars), default=0))
    slot = plot_w / max(len(bars), 1)
    gap = min(4.0, slot * 0.2)
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img"'
        f' aria-label={quoteattr(label)} xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for frac in (0.0, 0.5, 1.0):  # grid lines and the y axis figures
        y = top + plot_h * (1 - frac)
        out.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{peak * frac:.0f}</text>"
        )
    for i, bar in enumerate(bars):
        x = left + i * slot + gap / 2
        y = top + plot_h
        out.append(f"<g><title>{escape(bar.title)}</title>")
        for cls, value in zip(series, bar.values, strict=True):
            h = plot_h * value / peak
            if h > 0:
                y -= h
                out.append(
                    f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{slot - gap:.1f}"'
                    f' height="{h:.1f}"/>'
                )
        out.append("</g>")
        if i % label_every == 0:
            out.append(
                f'<text class="axis" x="{x + (slot - gap) / 2:.1f}" y="{height - 6}"'
                f' text-anchor="middle">{escape(bar.label)}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


__all__ = ["Bar", "stacked_bars"]
