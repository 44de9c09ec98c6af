#!/usr/bin/env python3
"""Where a UNet step's GPU time goes, from Chrome traces (Python standard library only).

  profile_table.py LABEL=TRACE.json [LABEL=TRACE.json ...] [--json OUT.json] [--top N]

Each trace is what `muse-generate --profile` or `random_pipeline.py profile` writes: GPU kernels and
CPU ranges named "muse::unet_step" around each UNet call. The kernels launched inside each range
(matched through the launch's correlation id, so CUDA-graph replays count too) are sorted into
classes by name, and the step's GPU span (first kernel start to last kernel end) is split into
those classes plus the gaps where the GPU ran nothing (launch and host overhead). Prints one
markdown table, milliseconds per step (mean over the traced steps), one column per trace; with
--top N, then the N kernels that took the most time in each trace, with their class; with
--outside N, the N costliest kernels launched outside the steps (text encoder, VAE decode,
scheduler: milliseconds in the whole trace) and their total by class.
"""
import argparse
import json
import re
import sys

STEP = "muse::unet_step"

# First match wins. Convolutions before matrix products: cuDNN's implicit-GEMM kernels have
# "gemm" in their names too.
CLASSES = [
    ("layout copies", r"nchwtonhwc|nhwctonchw|transpose|permute"),
    ("attention", r"flash|fmha|attention|sdpa|mha_|_mha|pytorch_flash"),
    ("convolutions", r"conv|fprop|implicit|winograd|dgrad|wgrad|xmma_.*nhwc"),
    ("matrix products", r"gemm|cutlass|cublas|xmma|s1688|s16816|hmma|wgmma|sm90_|sm80_|ampere_|splitk"),
    ("norms", r"norm|welford"),
    ("pointwise", r"elementwise|vectorized|unrolled|silu|gelu|geglu|cat|copy|fill|index|add|mul"),
]
ORDER = [name for name, _ in CLASSES] + ["other", "gaps (GPU idle)"]


def classify(name):
    lowered = name.lower()
    # Inductor names its generated kernels after every op fused into them
    # ("triton_poi_fused_convolution_native_group_norm_silu"): a fused norm is a norm.
    if lowered.startswith("triton_"):
        return "norms" if "norm" in lowered or lowered.startswith(("triton_red_", "triton_per_")) else "pointwise"
    for label, pattern in CLASSES:
        if re.search(pattern, lowered):
            return label
    return "other"


def union_length(intervals):
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def steps_of(path):
    with open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    ranges = [e for e in events if e.get("name") == STEP and e.get("ph") == "X"
              and e.get("cat") in ("user_annotation", "cpu_op", "record_param_comms", None)]
    if not ranges:
        sys.exit(f"{path}: no '{STEP}' ranges")
    launches = {}  # correlation id -> launch time on the CPU
    for e in events:
        if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {}):
            launches[e["args"]["correlation"]] = e["ts"]
    kernels = [e for e in events if e.get("cat") == "kernel" and e.get("ph") == "X"]
    steps = []
    for r in sorted(ranges, key=lambda e: e["ts"]):
        begin, end = r["ts"], r["ts"] + r["dur"]
        mine = [k for k in kernels
                if begin <= launches.get(k.get("args", {}).get("correlation"), -1) <= end]
        if not mine:
            continue
        first = min(k["ts"] for k in mine)
        last = max(k["ts"] + k["dur"] for k in mine)
        split = {label: 0.0 for label in ORDER}
        for k in mine:
            split[classify(k["name"])] += k["dur"]
        busy = union_length([(k["ts"], k["ts"] + k["dur"]) for k in mine])
        split["gaps (GPU idle)"] = (last - first) - busy
        by_name = {}
        for k in mine:
            by_name[k["name"]] = by_name.get(k["name"], 0.0) + k["dur"]
        steps.append({"span": last - first, "kernels": len(mine), "split": split, "by_name": by_name})
    if not steps:
        sys.exit(f"{path}: no kernels inside the '{STEP}' ranges")
    return steps


def outside_steps(path):
    """Kernels launched outside every step range: {name: ms} over the whole trace."""
    with open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    ranges = [(e["ts"], e["ts"] + e["dur"]) for e in events
              if e.get("name") == STEP and e.get("ph") == "X"]
    launches = {e["args"]["correlation"]: e["ts"] for e in events
                if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})}
    by_name = {}
    for k in events:
        if k.get("cat") != "kernel" or k.get("ph") != "X":
            continue
        launched = launches.get(k.get("args", {}).get("correlation"), -1)
        if any(begin <= launched <= end for begin, end in ranges):
            continue
        by_name[k["name"]] = by_name.get(k["name"], 0.0) + k["dur"] / 1000
    return by_name


def summarise(steps):
    n = len(steps)
    by_name = {}
    for s in steps:
        for name, us in s["by_name"].items():
            by_name[name] = by_name.get(name, 0.0) + us / n / 1000
    out = {"steps": n, "by_name_ms": by_name,
           "span_ms": sum(s["span"] for s in steps) / n / 1000,
           "kernels": sum(s["kernels"] for s in steps) / n,
           "split_ms": {label: sum(s["split"][label] for s in steps) / n / 1000 for label in ORDER}}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("traces", nargs="+", help="LABEL=TRACE.json")
    parser.add_argument("--json", help="also write the numbers here")
    parser.add_argument("--top", type=int, default=0, help="list the N costliest kernels of each trace")
    parser.add_argument("--outside", type=int, default=0,
                        help="list the N costliest kernels launched outside the steps")
    args = parser.parse_args()
    columns = []
    for item in args.traces:
        label, _, path = item.partition("=")
        if not path:
            sys.exit(f"expected LABEL=TRACE.json, got {item}")
        columns.append((label, summarise(steps_of(path))))
    print("| ms per UNet step | " + " | ".join(label for label, _ in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name in ORDER:
        print(f"| {name} | " + " | ".join(f"{c['split_ms'][name]:.2f}" for _, c in columns) + " |")
    print("| **GPU span of the step** | " + " | ".join(f"**{c['span_ms']:.2f}**" for _, c in columns) + " |")
    print("| kernels per step | " + " | ".join(f"{c['kernels']:.0f}" for _, c in columns) + " |")
    for label, c in columns if args.top else []:
        print(f"\n{label}: the {args.top} costliest kernels, ms per step")
        for name, ms in sorted(c["by_name_ms"].items(), key=lambda kv: -kv[1])[:args.top]:
            print(f"  {ms:7.3f}  {classify(name):16s} {name[:150]}")
    for item in args.traces if args.outside else []:
        label, _, path = item.partition("=")
        by_name = outside_steps(path)
        by_class = {}
        for name, ms in by_name.items():
            by_class[classify(name)] = by_class.get(classify(name), 0.0) + ms
        print(f"\n{label}: outside the steps, {sum(by_name.values()):.2f} ms in {len(by_name)} kernel names: "
              + ", ".join(f"{c} {ms:.2f}" for c, ms in sorted(by_class.items(), key=lambda kv: -kv[1])))
        for name, ms in sorted(by_name.items(), key=lambda kv: -kv[1])[:args.outside]:
            print(f"  {ms:7.3f}  {classify(name):16s} {name[:150]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({label: c for label, c in columns}, f, indent=1)


if __name__ == "__main__":
    main()
