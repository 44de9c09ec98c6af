#!/usr/bin/env python3
"""plot.py on made-up muse-bench results: one polyline per setting and panel, points in x order,
and clear failures for input it cannot plot."""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

PLOT = sys.argv[1]
SVG = "{http://www.w3.org/2000/svg}"


def result(label, users, rps, p95, mode="closed"):
    settings = {"mode": mode, "api": "native", "label": label}
    settings["users" if mode == "closed" else "rate"] = users
    return {"tool": "muse-bench", "settings": settings, "throughput": {"requests_per_s": rps, "images_per_s": 2 * rps},
            "latency_ms": {"p95": p95}, "requests": {"ok": 10, "failed": 0}}


def run(files, *extra):
    return subprocess.run([sys.executable, PLOT, *files, *extra], capture_output=True, text=True)


def write(folder, name, obj):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def check(condition, message):
    if not condition:
        print("FAILED:", message)
        sys.exit(1)


with tempfile.TemporaryDirectory() as d:
    files = [write(d, f"{k}-{u}.json", result(label, u, u * k, 100.0 * u))
             for label, k in (("off", 1), ("on <2>", 3)) for u in (300, 1, 50, 10)]
    out = os.path.join(d, "chart.svg")
    proc = run(files, "-o", out, "--title", "t & u")
    check(proc.returncode == 0, proc.stderr)
    root = ET.parse(out).getroot()
    lines = root.findall(f".//{SVG}polyline")
    check(len(lines) == 4, f"{len(lines)} polylines, want 2 settings x 2 panels")
    check({l.get("data-line") for l in lines} == {"off", "on <2>"}, "line names")
    for line in lines:
        xs = [float(p.split(",")[0]) for p in line.get("points").split()]
        check(xs == sorted(xs) and len(xs) == 4, "points in increasing x")
    check(len(root.findall(f".//{SVG}circle")) == 16, "one marker per point and panel")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    check("concurrent users (log)" in texts, "a wide users range is drawn on a log axis")
    check("t & u" in texts, "the title")
    check("images/s" in texts, "images/s by default")

    proc = run(files, "--throughput", "requests", "--x-scale", "linear")
    check(proc.returncode == 0 and "requests/s" in proc.stdout and "(log)" not in proc.stdout, "linear, requests")

    bad = write(d, "bad.json", {"settings": {}})
    proc = run([bad])
    check(proc.returncode == 1 and "not a muse-bench result" in proc.stderr, proc.stderr)
    proc = run([write(d, "broken.json", "{")])
    check(proc.returncode == 1 and "broken.json" in proc.stderr, proc.stderr)
    proc = run([files[0], write(d, "open.json", result("x", 5, 1, 1, mode="open"))])
    check(proc.returncode == 1 and "plot them separately" in proc.stderr, proc.stderr)
    proc = run([files[0], write(d, "dup.json", result("off", 300, 1, 1))])
    check(proc.returncode == 1 and "different --label" in proc.stderr, proc.stderr)
print("plot_test: all checks passed")
