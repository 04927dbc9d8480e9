"""Line charts of monthly trends as SVG, drawn on the server: no script, no external font or
file, readable in any browser or document viewer (people look at trends rather than read
tables). A suppressed value (``None``) breaks its line and is marked, never drawn as 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

#: Colour-blind-safe palette (Okabe-Ito), the total drawn in black.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
W, H = 760, 360
LEFT, RIGHT, TOP, BOTTOM = 60, 170, 40, 50


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10.0 ** len(str(int(value))) / 10
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * factor:
            return step * factor
    return value


def line_chart(
    title: str,
    months: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    y_label: str = "",
    total: str | None = "all",
) -> str:
    """An SVG document: one line per series over ``months``; ``total`` drawn black, dashed."""
    values = [v for s in series.values() for v in s if v is not None]
    top = _nice_max(max(values, default=0.0))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    step = plot_w / max(1, len(months) - 1)

    def x(i: int) -> float:
        return LEFT + (i * step if len(months) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h - (v / top) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for k in range(5):  # grid and y axis labels
        v = top * k / 4
        gy = y(v)
        out.append(
            f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{LEFT + plot_w}" y2="{gy:.1f}" stroke="#ddd"/>'
        )
        label = f"{v:g}"
        out.append(f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">{label}</text>')
    if y_label:
        out.append(
            f'<text x="14" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 14 '
            f'{TOP + plot_h / 2:.1f})" text-anchor="middle">{escape(y_label)}</text>'
        )
    every = max(1, len(months) // 12)
    for i, m in enumerate(months):
        if i % every == 0:
            out.append(
                f'<text x="{x(i):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
                f"{escape(m)}</text>"
            )
    out.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'stroke="#333"/>'
    )
    suppressed = False
    colours = iter(PALETTE * (len(series) // len(PALETTE) + 1))
    for n, (name, points) in enumerate(series.items()):
        is_total = name == total
        colour = "#000" if is_total else next(colours)
        dash = ' stroke-dasharray="5,3"' if is_total else ""
        runs: list[list[str]] = [[]]
        for i, point in enumerate(points):
            if point is None:
                suppressed = True
                out.append(
                    f'<text x="{x(i):.1f}" y="{TOP + plot_h - 4}" text-anchor="middle" '
                    f'fill="{colour}">×</text>'
                )
                runs.append([])
                continue
            runs[-1].append(f"{x(i):.1f},{y(point):.1f}")
        for run in runs:
            if len(run) > 1:
                out.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"{dash}><title>{escape(name)}</title></polyline>'
                )
            for p in run:
                cx, cy = p.split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
        ly = TOP + 14 * n
        out.append(
            f'<line x1="{W - RIGHT + 12}" y1="{ly}" x2="{W - RIGHT + 32}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{W - RIGHT + 38}" y="{ly + 4}">{escape(name[:22])}</text>')
    if suppressed:
        out.append(
            f'<text x="{LEFT}" y="{H - 8}" fill="#555">× suppressed: fewer than the cutoff '
            "(small cells are not shown)</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


__all__ = ["line_chart"]
