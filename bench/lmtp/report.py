#!/usr/bin/env python3
"""Assemble bench/lmtp results: table, ratios, stored-vs-acknowledged, JSON file.

usage: report.py RESULTS_DIR OUT_JSON "ROWS" [FAILURE ...]
RESULTS_DIR holds meta.json, row-<server>-<row>.json (written by lmtp-loadgen --json)
and stored-<server>.json (written by bench/lmtp/run).
"""
import glob
import json
import os
import sys

res_dir, out_path, rows_spec = sys.argv[1], sys.argv[2], sys.argv[3]
failures = sys.argv[4:]

meta = json.load(open(os.path.join(res_dir, "meta.json")))
row_names = []
for r in rows_spec.split():
    row_names.append(f"{r[:-1]}c-1mbx" if r.endswith("s") else f"{r}c-20u")

rows = []
for path in sorted(glob.glob(os.path.join(res_dir, "row-*.json"))):
    d = json.load(open(path))
    server, _, row = os.path.basename(path)[4:-5].partition("-")
    d["server"], d["row"] = server, row
    busy_file = os.path.join(res_dir, f"busy-{server}-{row}.txt")
    if os.path.exists(busy_file):
        d["competing_processes"] = open(busy_file).read().strip()
    rows.append(d)
stored = {}
for path in glob.glob(os.path.join(res_dir, "stored-*.json")):
    d = json.load(open(path))
    stored[d["server"]] = d

servers = []
for r in rows:
    if r["server"] not in servers:
        servers.append(r["server"])
order = {"cyrus": 0, "dovecot": 1, "corvid": 2, "sink": 3}
servers.sort(key=lambda s: order.get(s, 9))
by = {(r["server"], r["row"]): r for r in rows}


def describe(row):
    conns, _, kind = row.partition("c-")
    return f"{conns} conn{'s' if conns != '1' else ''}, " + ("1 mailbox" if kind == "1mbx" else "20 users")


def lg_cpu(r):
    """Load generator CPU use as % of one core over the row."""
    if not r.get("wall_s"):
        return "-"
    return f"{100 * r['loadgen_cpu_s'] / r['wall_s']:.0f}%"


def num(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


print()
print("LMTP delivery, %d-byte messages, %ss per row (+%ss warmup), %s cores, /tmp on %s"
      % (meta["params"]["message_size"], meta["params"]["duration_s"], meta["params"]["warmup_s"],
         meta["host"]["nproc"], meta["host"]["tmp_fs"]))
hdr = (f"{'server':<9} {'row':<20} {'conns':>5} {'msg/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'acked':>8} {'non-250':>8}"
       f" {'loadgen cpu':>11} {'compilers':>9}")
print(hdr)
print("-" * len(hdr))
for s in servers:
    for rn in row_names:
        r = by.get((s, rn))
        if r is None:
            print(f"{s:<9} {describe(rn):<20} {'':>5} {'(no result)':>10}")
            continue
        print(f"{s:<9} {describe(rn):<20} {r['conns']:>5} {num(r['msgs_per_s']):>10} {num(r['p50_ms'], 2):>9} "
              f"{num(r['p99_ms'], 2):>9} {r['acked']:>8} {r['non250']:>8}"
              f" {lg_cpu(r):>11} {r.get('competing_processes', '-'):>9}")
        for k, v in sorted(r.get("errors", {}).items()):
            print(f"{'':<9}   non-250/error: {k} x{v}")

busy = [r for r in rows if r.get("competing_processes", "0/0") != "0/0"]
if busy:
    print("WARNING: compiler/linker processes were running before/after %d row(s) (column 'compilers' ="
          " count before/after the row): those figures are noisy and not comparable." % len(busy))

print()
print("stored vs acknowledged (cumulative over each server's rows):")
for s in servers:
    st = stored.get(s)
    if not st:
        continue
    if st["stored"] is None:
        verdict = st["stored_note"]
    else:
        verdict = ("OK" if st["stored"] == st["acked"] else
                   f"MISMATCH ({st['stored'] - st['acked']:+d})") + f"  [{st['stored_note']}]"
    print(f"  {s:<9} acked={st['acked']:<9} stored={'-' if st['stored'] is None else st['stored']:<9} {verdict}")

ratios = []
if "corvid" in servers:
    print()
    print("throughput ratios (msg/s; >1 = Corvid faster) and p99 ratios (<1 = Corvid lower latency):")
    print(f"  {'row':<20} {'corvid/cyrus':>13} {'corvid/dovecot':>15} {'corvid/better-peer':>19} {'better peer':>12} {'p99 corvid/better':>18}")
    for rn in row_names:
        c = by.get(("corvid", rn))
        peers = {p: by.get((p, rn)) for p in ("cyrus", "dovecot")}
        entry = {"row": rn}

        def ratio(a, b):
            return a / b if a is not None and b not in (None, 0) else None

        cr = c["msgs_per_s"] if c else None
        entry["corvid/cyrus"] = ratio(cr, peers["cyrus"]["msgs_per_s"] if peers["cyrus"] else None)
        entry["corvid/dovecot"] = ratio(cr, peers["dovecot"]["msgs_per_s"] if peers["dovecot"] else None)
        present = {p: v for p, v in peers.items() if v}
        best = max(present, key=lambda p: present[p]["msgs_per_s"]) if present else None
        entry["better_peer"] = best
        entry["corvid/better-peer"] = ratio(cr, present[best]["msgs_per_s"]) if best else None
        entry["p99 corvid/better-peer"] = ratio(c["p99_ms"] if c else None, present[best]["p99_ms"]) if best else None
        ratios.append(entry)
        f = lambda x: "-" if x is None else f"{x:.2f}x"
        print(f"  {describe(rn):<20} {f(entry['corvid/cyrus']):>13} {f(entry['corvid/dovecot']):>15} "
              f"{f(entry['corvid/better-peer']):>19} {best or '-':>12} {f(entry['p99 corvid/better-peer']):>18}")

if failures:
    print()
    print("problems:", " ".join(failures))

out = {
    "meta": meta,
    "rows": [{k: r[k] for k in ("server", "row", "conns", "users", "single_user", "message_size", "measured_s",
                                "measured_msgs", "acked", "attempted", "msgs_per_s", "p50_ms", "p90_ms", "p99_ms",
                                "p999_ms", "max_ms", "mean_ms", "non250", "errors", "pipelined_connections",
                                "loadgen_cpu_s", "wall_s", "loadavg_1m_at_start", "competing_processes") if k in r}
             for s in servers for rn in row_names for r in [by.get((s, rn))] if r],
    "stored": [stored[s] for s in servers if s in stored],
    "ratios": ratios,
    "problems": failures,
}
with open(out_path, "w") as fh:
    json.dump(out, fh, indent=2)
    fh.write("\n")
