"""Draws docs/issue11-goals.svg from bench/goals.json: each goal of issue 11 with the value
measured before the work on it and the latest one, as a share of the goal (1 = the goal;
bars are drawn so that longer is better, whether the goal is a floor or a ceiling).

    .venv/bin/python bench/plot_goals.py [--data bench/goals.json] [--out docs/issue11-goals.svg]

Plain SVG, written by hand: one chart does not justify a plotting library in the
requirements. The numbers in goals.json come from docs/benchmarks.md (each entry names
its section); update both together.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
ROW, LABEL, BAR, TOP = 34, 430, 420, 56
MAX_RATIO = 4.0  # bars are cut at 4x the goal (log scale)


def score(goal, value):
    """How far `value` is toward the goal: 1 at the goal, above 1 beyond it."""
    if value is None:
        return None
    if goal["kind"] == "max":  # a ceiling: lower is better
        return goal["goal"] / value if value else MAX_RATIO
    return value / goal["goal"]


def x_of(ratio):
    """Log scale from 1/MAX_RATIO to MAX_RATIO, the goal in the middle."""
    ratio = min(max(ratio, 1 / MAX_RATIO), MAX_RATIO)
    return LABEL + BAR * (math.log(ratio) / math.log(MAX_RATIO) + 1) / 2


def fmt(value, unit):
    return "—" if value is None else f"{value:,g} {unit}".strip()


def render(goals):
    height = TOP + ROW * len(goals) + 40
    width = LABEL + BAR + 360
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="20" font-size="15" font-weight="bold">Issue 11: each goal, '
           'before and now (1 = the goal; longer is better, log scale)</text>',
           '<text x="10" y="38" fill="#555">grey: before the work on it (bars are cut at '
           '0.25x and 4x); green: now, goal met; orange: now, goal not met</text>']
    for tick in (0.25, 0.5, 1, 2, 4):
        x = x_of(tick)
        out.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" '
                   f'y2="{TOP + ROW * len(goals)}" stroke="{"#000" if tick == 1 else "#ddd"}"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + ROW * len(goals) + 16}" '
                   f'text-anchor="middle">{tick:g}×</text>')
    for i, goal in enumerate(goals):
        y = TOP + ROW * i
        out.append(f'<text x="10" y="{y + 18}">{escape(goal["name"])}</text>')
        for value, colour, dy in ((goal.get("before"), "#bbb", 4), (goal["now"], None, 16)):
            ratio = score(goal, value)
            if ratio is None:
                continue
            colour = colour or ("#3a3" if ratio >= 1 else "#e80")
            # At least a stub: a value beyond the left edge is still a bar to see.
            width = max(4.0, x_of(ratio) - x_of(1 / MAX_RATIO))
            out.append(f'<rect x="{x_of(1 / MAX_RATIO):.1f}" y="{y + dy}" height="10" '
                       f'width="{width:.1f}" fill="{colour}"/>')
        out.append(f'<text x="{LABEL + BAR + 10}" y="{y + 18}">'
                   f'{escape(fmt(goal["now"], goal["unit"]))} (goal '
                   f'{"≤" if goal["kind"] == "max" else "≥"} '
                   f'{escape(fmt(goal["goal"], goal["unit"]))})'
                   f'<tspan fill="#888"> before: {escape(fmt(goal.get("before"), ""))}'
                   f'</tspan></text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / "bench" / "goals.json"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "issue11-goals.svg"))
    args = parser.parse_args()
    goals = json.loads(Path(args.data).read_text())["goals"]
    Path(args.out).write_text(render(goals))
    print(f"wrote {args.out} ({len(goals)} goals)")


if __name__ == "__main__":
    main()
