#!/usr/bin/env python3
"""Turns bench/mpi_scaling.sh's per-rank `mpi-stats` rows into a Markdown table, a CSV, an SVG plot
and the predicted speed-up at 2-64 nodes (standard library only).

    python3 bench/mpi_report.py ROWS --csv OUT.csv --svg OUT.svg --rate 10gbit --delay 50us

Each input line is `key=value,...` for one rank of one run (link, net, params, rank, size,
shards, steps, step_ms, comm_ms, compute_ms). A run's figures are the means over its ranks.

The prediction takes, per network, the measured compute of one step on one process (T1: all
shards) and a link model fitted to the measured exchange times on the shaped veth link (or on
loopback when veth was not run): exchange(N) = 2 (N-1)/N * S / B + 2 (N-1) * a, with S the
gradient bytes, fitted B and a by least squares. Strong scaling keeps the global batch
(compute T1/N per node); weak scaling keeps the batch per node (compute T1), as Horovod's
published figures do.
"""

import argparse
import collections
import csv
import statistics
import sys


def parse(path):
    runs = collections.defaultdict(list)
    for line in open(path):
        kv = dict(p.split("=", 1) for p in line.strip().split(",") if "=" in p)
        if not kv:
            continue
        runs[(kv["link"], kv["net"], int(kv["size"]))].append(kv)
    out = []
    for (link, net, n), ranks in sorted(runs.items(), key=lambda r: (r[0][0], r[0][1], r[0][2])):
        m = lambda k: statistics.mean(float(r[k]) for r in ranks)
        out.append(dict(link=link, net=net, n=n, params=int(ranks[0]["params"]), shards=int(ranks[0]["shards"]),
                        steps=int(ranks[0]["steps"]), step_ms=m("step_ms"), comm_ms=m("comm_ms"),
                        compute_ms=m("compute_ms")))
    return out


def fit_link(rows):
    """Least squares for comm_ms = x * (2 (N-1)/N * S) + y * 2 (N-1): x = 1/B in ms/byte, y = a in ms."""
    pts = [(2 * (r["n"] - 1) / r["n"] * 4 * r["params"], 2 * (r["n"] - 1), r["comm_ms"]) for r in rows if r["n"] > 1]
    if len(pts) < 2:
        return None
    sxx = sum(a * a for a, _, _ in pts)
    sxy = sum(a * b for a, b, _ in pts)
    syy = sum(b * b for _, b, _ in pts)
    sxz = sum(a * z for a, _, z in pts)
    syz = sum(b * z for _, b, z in pts)
    det = sxx * syy - sxy * sxy
    if abs(det) < 1e-30:
        return None
    x = (sxz * syy - syz * sxy) / det
    y = (sxx * syz - sxy * sxz) / det
    return max(x, 1e-12), max(y, 0.0)


def svg(rows, path):
    """Stacked bars: compute and exchange per step, per link, network and N."""
    groups = [(l, n) for l in sorted({r["link"] for r in rows}) for n in ("seed", "large")]
    groups = [g for g in groups if any(r["link"] == g[0] and r["net"] == g[1] for r in rows)]
    W, H, pad = 900, 360, 50
    pw = (W - pad) / max(1, len(groups))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
             f'<rect width="{W}" height="{H}" fill="white"/>']
    for gi, (link, net) in enumerate(groups):
        rs = [r for r in rows if r["link"] == link and r["net"] == net]
        top = max(r["compute_ms"] + r["comm_ms"] for r in rs) or 1
        x0 = pad + gi * pw
        bw = (pw - 30) / max(1, len(rs))
        for i, r in enumerate(rs):
            hc = (H - 90) * r["compute_ms"] / top
            hm = (H - 90) * r["comm_ms"] / top
            x = x0 + 10 + i * bw
            parts.append(f'<rect x="{x:.1f}" y="{H - 40 - hc:.1f}" width="{bw - 4:.1f}" height="{hc:.1f}" fill="#4878a8"/>')
            parts.append(f'<rect x="{x:.1f}" y="{H - 40 - hc - hm:.1f}" width="{bw - 4:.1f}" height="{hm:.1f}" fill="#e07b39"/>')
            parts.append(f'<text x="{x + bw / 2 - 6:.1f}" y="{H - 26}">{r["n"]}</text>')
        parts.append(f'<text x="{x0 + 10:.1f}" y="{H - 8}">{link}, {net} (max {top:.1f} ms)</text>')
    parts.append('<rect x="60" y="12" width="12" height="12" fill="#4878a8"/><text x="78" y="22">compute per step</text>')
    parts.append('<rect x="200" y="12" width="12" height="12" fill="#e07b39"/><text x="218" y="22">exchange per step</text>')
    parts.append('<text x="360" y="22">bars: ranks N; height: ms per step, each panel to its own scale</text></svg>')
    open(path, "w").write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows")
    ap.add_argument("--csv")
    ap.add_argument("--svg")
    ap.add_argument("--rate", default="")
    ap.add_argument("--delay", default="")
    ap.add_argument("--netem", default="1", help="0: the links had no added delay; the model adds --delay")
    ap.add_argument("--load", default="")
    ap.add_argument("--cores", default="")
    a = ap.parse_args()
    rows = parse(a.rows)
    if not rows:
        sys.exit("no mpi-stats rows: did the runs fail?")
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if a.svg:
        svg(rows, a.svg)
    p = print
    p(f"Measured {rows[0]['steps']} steps per run, {rows[0]['shards']} shards; load average {a.load} on {a.cores} cores; "
      f"veth links shaped to {a.rate}, {a.delay} one way.\n")
    p("| link | network | parameters | N | step (ms) | compute (ms) | exchange (ms) | exchange share |")
    p("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        share = r["comm_ms"] / max(1e-9, r["comm_ms"] + r["compute_ms"])
        p(f"| {r['link']} | {r['net']} | {r['params']:,} | {r['n']} | {r['step_ms']:.2f} | {r['compute_ms']:.2f} | "
          f"{r['comm_ms']:.2f} | {100 * share:.0f}% |")
    link = "veth" if any(r["link"] == "veth" for r in rows) else "loopback"
    fitted = fit_link([r for r in rows if r["link"] == link])
    if not fitted:
        return
    x, y = fitted
    p(f"\nLink fitted to the {link} exchange times: bandwidth {8 / x / 1e6:.2f} Gbit/s effective, "
      f"{1e3 * y:.0f} µs per message step.")
    if a.netem == "0" and a.delay:
        unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
        num = "".join(ch for ch in a.delay if ch.isdigit() or ch == ".")
        extra = float(num) * unit.get(a.delay[len(num):], 1e-3)
        y += extra
        p(f"The links carried no added delay (no sch_netem): the model adds {a.delay} per message step.")
    p("")
    p("| network | T1 compute (ms) | N | exchange (ms) | strong speed-up | weak efficiency |")
    p("|---|---:|---:|---:|---:|---:|")
    for net in ("seed", "large"):
        one = [r for r in rows if r["net"] == net and r["n"] == 1]
        if not one:
            continue
        t1, params = statistics.mean(r["compute_ms"] for r in one), one[0]["params"]
        for n in (2, 4, 8, 16, 32, 64):
            comm = x * 2 * (n - 1) / n * 4 * params + y * 2 * (n - 1)
            p(f"| {net} | {t1:.2f} | {n} | {comm:.2f} | {t1 / (t1 / n + comm):.2f}× | {100 * t1 / (t1 + comm):.0f}% |")


main()
