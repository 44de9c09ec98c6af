#!/usr/bin/env python3
"""Draws muse-bench results as an SVG line chart, with the Python standard library only.

  plot.py RESULT.json... [-o chart.svg] [--title TEXT] [--throughput requests|images] [--x-scale auto|linear|log]

Each RESULT.json is one `muse-bench --json` object. Results are grouped into lines by their
--label (or api and mode when unlabelled); the x axis is the number of users (closed loop) or the
arrival rate (open loop). Two panels: throughput, and p95 latency, against that x.
"""
import argparse
import json
import math
import sys
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
          "#bcbd22"]
PANEL_W, PANEL_H = 460, 320
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 70, 20, 50, 50


class PlotError(Exception):
    pass


def load(paths):
    points = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                result = json.load(f)
        except (OSError, ValueError) as e:
            raise PlotError(f"{path}: {e}")
        try:
            settings = result["settings"]
            mode = settings["mode"]
            x = settings["users"] if mode == "closed" else settings["rate"]
            label = settings.get("label") or f"{settings['api']}, {mode} loop"
            point = {
                "file": path,
                "mode": mode,
                "label": label,
                "x": float(x),
                "requests": float(result["throughput"]["requests_per_s"]),
                "images": float(result["throughput"]["images_per_s"]),
                "p95": float(result["latency_ms"]["p95"]),
                "ok": int(result["requests"]["ok"]),
                "failed": int(result["requests"]["failed"]),
            }
        except (KeyError, TypeError, ValueError) as e:
            raise PlotError(f"{path}: not a muse-bench result (missing or bad {e})")
        points.append(point)
    if not points:
        raise PlotError("no results given")
    modes = {p["mode"] for p in points}
    if len(modes) > 1:
        raise PlotError("closed-loop and open-loop results have different x axes: plot them separately")
    return points, modes.pop()


def lines_of(points):
    lines = {}
    for p in points:
        lines.setdefault(p["label"], []).append(p)
    for label, pts in lines.items():
        pts.sort(key=lambda p: p["x"])
        xs = [p["x"] for p in pts]
        if len(set(xs)) != len(xs):
            dup = sorted({x for x in xs if xs.count(x) > 1})
            raise PlotError(f"line '{label}' has two results at x = {dup[0]:g}: give them different --label")
    return lines


def nice_step(span, count):
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def linear_ticks(lo, hi, count=5):
    if hi <= lo:
        hi = lo + 1
    step = nice_step(hi - lo, count)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def log_ticks(xs):
    distinct = sorted(set(xs))
    if len(distinct) <= 12:
        return distinct
    lo, hi = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    return [10 ** k for k in range(lo, hi + 1)]


def fmt(v):
    if v == 0:
        return "0"
    if abs(v) >= 10000:
        return f"{v / 1000:g}k"
    if abs(v) >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


class Axis:
    def __init__(self, lo, hi, pixels_lo, pixels_hi, log):
        self.lo, self.hi, self.p0, self.p1, self.log = lo, hi, pixels_lo, pixels_hi, log

    def __call__(self, v):
        if self.log:
            a, b, v = math.log10(self.lo), math.log10(self.hi), math.log10(v)
        else:
            a, b = self.lo, self.hi
        frac = 0.5 if b == a else (v - a) / (b - a)
        return self.p0 + frac * (self.p1 - self.p0)


def panel(ox, oy, title, y_label, x_label, lines, key, x_log):
    out = []
    all_x = [p["x"] for pts in lines.values() for p in pts]
    all_y = [p[key] for pts in lines.values() for p in pts]
    left, right = ox + MARGIN_L, ox + PANEL_W - MARGIN_R
    top, bottom = oy + MARGIN_T, oy + PANEL_H - MARGIN_B
    if x_log:
        x_ticks = log_ticks(all_x)
        x = Axis(min(x_ticks + all_x), max(x_ticks + all_x), left, right, True)
    else:
        x_ticks = linear_ticks(0 if min(all_x) >= 0 else min(all_x), max(all_x))
        x = Axis(x_ticks[0], x_ticks[-1], left, right, False)
    y_ticks = linear_ticks(0, max(all_y) if max(all_y) > 0 else 1)
    y = Axis(y_ticks[0], y_ticks[-1], bottom, top, False)

    out.append(f'<text x="{(left + right) / 2}" y="{oy + 24}" class="title">{escape(title)}</text>')
    for t in y_ticks:
        py = y(t)
        out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{py + 4:.1f}" class="ytick">{fmt(t)}</text>')
    for t in x_ticks:
        px = x(t)
        out.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{bottom}" class="grid"/>')
        out.append(f'<text x="{px:.1f}" y="{bottom + 16}" class="xtick">{fmt(t)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" class="frame"/>')
    out.append(f'<text x="{(left + right) / 2}" y="{bottom + 36}" class="axis">{escape(x_label)}</text>')
    out.append(f'<text transform="translate({ox + 16},{(top + bottom) / 2}) rotate(-90)" class="axis">'
               f'{escape(y_label)}</text>')
    for i, (label, pts) in enumerate(lines.items()):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(f"{x(p['x']):.1f},{y(p[key]):.1f}" for p in pts)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2" '
                   f'data-line="{escape(label, {chr(34): "&quot;"})}"/>')
        for p in pts:
            failed = f", {p['failed']} failed" if p["failed"] else ""
            tip = f"{label}: x={p['x']:g}, {key}={p[key]:.4g} ({p['ok']} ok{failed})"
            out.append(f'<circle cx="{x(p["x"]):.1f}" cy="{y(p[key]):.1f}" r="3.5" fill="{color}">'
                       f'<title>{escape(tip)}</title></circle>')
    return out


def render(points, mode, title, throughput, x_scale):
    lines = lines_of(points)
    xs = [p["x"] for p in points]
    if x_scale == "auto":
        x_log = min(xs) > 0 and max(xs) / min(xs) >= 20
    else:
        x_log = x_scale == "log"
        if x_log and min(xs) <= 0:
            raise PlotError("a log x axis needs every x above zero")
    x_label = ("concurrent users" if mode == "closed" else "arrival rate (requests/s)") + (" (log)" if x_log else "")
    key = "requests" if throughput == "requests" else "images"
    legend_rows = math.ceil(len(lines) / 3)
    top = 30 if title else 10
    width, height = 2 * PANEL_W, top + PANEL_H + 30 + legend_rows * 20
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
            "<style>.title{font-size:15px;text-anchor:middle;font-weight:bold}"
            ".axis{font-size:12px;text-anchor:middle}.xtick{font-size:11px;text-anchor:middle}"
            ".ytick{font-size:11px;text-anchor:end}.grid{stroke:#e0e0e0}.frame{fill:none;stroke:#444}"
            ".legend{font-size:12px}</style>",
            f'<rect width="{width}" height="{height}" fill="white"/>']
    if title:
        body.append(f'<text x="{width / 2}" y="16" class="title">{escape(title)}</text>')
    body += panel(0, top, f"throughput ({key}/s)", f"{key}/s", x_label, lines, key, x_log)
    body += panel(PANEL_W, top, "p95 latency", "ms", x_label, lines, "p95", x_log)
    for i, label in enumerate(lines):
        lx = 70 + (i % 3) * 280
        ly = top + PANEL_H + 20 + (i // 3) * 20
        color = COLORS[i % len(COLORS)]
        body.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 24}" y2="{ly - 4}" stroke="{color}" stroke-width="3"/>')
        body.append(f'<text x="{lx + 30}" y="{ly}" class="legend">{escape(label)}</text>')
    body.append("</svg>")
    return "\n".join(body) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description="SVG chart of muse-bench JSON results")
    parser.add_argument("results", nargs="+", help="muse-bench --json files")
    parser.add_argument("-o", "--output", default="-", help="SVG file (default: stdout)")
    parser.add_argument("--title", default="")
    parser.add_argument("--throughput", choices=["requests", "images"], default="images")
    parser.add_argument("--x-scale", choices=["auto", "linear", "log"], default="auto")
    args = parser.parse_args(argv)
    try:
        points, mode = load(args.results)
        svg = render(points, mode, args.title, args.throughput, args.x_scale)
    except PlotError as e:
        print(f"plot.py: {e}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(svg)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
