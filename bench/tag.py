#!/usr/bin/env python3
"""Adds `"key": value` pairs to the JSON lines on stdin, appends them to a file, and prints a one-line summary of each.

    ... | python bench/tag.py OUT.jsonl run=3 [axis=batch]
"""

import json
import sys

out, pairs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
with open(out, "a") as f:
    for line in sys.stdin:
        if not line.strip().startswith("{"):
            continue
        d = json.loads(line)
        for k, v in pairs:
            d[k] = int(v) if v.isdigit() else v
        f.write(json.dumps(d) + "\n")
        if "epoch_seconds" in d:
            v = f"{d['median_epoch_s']:.3f} s/epoch (epochs {' '.join(f'{s:.2f}' for s in d['epoch_seconds'])}), acc {d['test_acc']:.4f}"
        elif "rows_per_s" in d:
            v = f"{d['rows_per_s']:.0f} rows/s, batch-1 {d['latency_us_median']:.1f} us"
        elif "median_ms" in d:
            v = f"{d['median_ms']:.1f} ms"
        elif "peak_gflops" in d:
            v = f"peak {d['peak_gflops']:.1f} GFLOP/s"
        else:
            v = d.get("na", "")
        tags = " ".join(f"{k}={v}" for k, v in pairs)
        noise = d.get("other_cores")
        noise = "" if noise is None else f"   [other cores {noise:.2f}, load {d.get('loadavg')}]"
        print(f"   {d['impl']:8} {d['workload']:7} {tags}: {v}{noise}", file=sys.stderr)
