"""plot_gpu.py: draws the CSV of perf/bench_gpu as a PNG.

Left: the time of each op on the CPU backend, on the GPU with the inputs in
host memory (streamed over the bus every call) and on the GPU with the inputs
kept on the device, on a log scale. Right: for the GPU with kept inputs, the
input bytes read per second as a fraction of the device-to-device copy
bandwidth measured in the same run, and for the Gram and the IRLS step the
FP64 rate as a fraction of the device's FP64 peak; the dashed line is the
design target (60 %).

usage: python3 perf/plot_gpu.py bench_gpu.csv [bench_gpu.png]
"""
import csv
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SERIES = [("cpu", "host", "CPU backend"), ("gpu", "host", "GPU, inputs in host memory"),
          ("gpu", "kept", "GPU, inputs kept on the device")]


def number(text):
    try:
        return float(text)
    except ValueError:
        return math.nan


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    out = argv[2] if len(argv) == 3 else argv[1].rsplit(".", 1)[0] + ".png"
    with open(argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        print(f"plot_gpu: {argv[1]} has no rows", file=sys.stderr)
        return 1
    ops = []
    for r in rows:
        if r["op"] not in ops:
            ops.append(r["op"])
    seconds = {(r["op"], r["backend"], r["mode"]): number(r["seconds"]) for r in rows}
    kept = {r["op"]: r for r in rows if r["backend"] == "gpu" and r["mode"] == "kept"}
    device = next((r["device"] for r in rows if r["device"]), "no GPU")
    copy_gbs = next((number(r["device_copy_gbs"]) for r in rows if r["device"]), math.nan)

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    width = 0.27
    for k, (backend, mode, label) in enumerate(SERIES):
        xs = [i + (k - 1) * width for i in range(len(ops))]
        ys = [1e3 * seconds.get((op, backend, mode), math.nan) for op in ops]
        left.bar(xs, ys, width, label=label)
    left.set_yscale("log")
    left.set_xticks(range(len(ops)))
    left.set_xticklabels(ops, rotation=30, ha="right")
    left.set_ylabel("time per call, ms (log scale)")
    left.set_title("time: median of the runs")
    left.legend(fontsize=8)

    if kept:
        bw = [number(kept[op]["bandwidth_fraction"]) if op in kept else math.nan for op in ops]
        fp = [number(kept[op]["fp64_fraction"]) if op in kept else math.nan for op in ops]
        xs = range(len(ops))
        right.bar([x - 0.2 for x in xs], [100 * v for v in bw], 0.4,
                  label=f"of copy bandwidth ({copy_gbs:.0f} GB/s measured)")
        right.bar([x + 0.2 for x in xs], [100 * v for v in fp], 0.4, label="of FP64 peak")
        right.axhline(60, color="black", linestyle="--", linewidth=1, label="target 60 %")
        right.set_xticks(list(xs))
        right.set_xticklabels(ops, rotation=30, ha="right")
        right.set_ylabel("% of the device's limit (GPU, inputs kept)")
        right.set_title("fraction of the bound")
        right.legend(fontsize=8)
    else:
        right.text(0.5, 0.5, "no GPU figures in this CSV", ha="center", va="center")
        right.set_axis_off()
    n_rows = next((int(r["rows"]) for r in rows), 0)
    fig.suptitle(f"sluice kernels, {n_rows:.0e} rows: {device}")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"plot_gpu: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
