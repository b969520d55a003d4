#!/usr/bin/env python3
"""Assemble bench/imap results: one table (Corvid, Cyrus, Dovecot, Corvid / better peer), JSON file.

usage: report.py RESULTS_DIR OUT_JSON [FAILURE ...]
RESULTS_DIR holds meta.json and <server>-row<N>[...].json written by bench/imap/run.
"""
import json
import os
import sys

res_dir, out_path = sys.argv[1], sys.argv[2]
failures = sys.argv[3:]
meta = json.load(open(os.path.join(res_dir, "meta.json")))
SERVERS = ["corvid", "cyrus", "dovecot"]
P = meta["params"]


def load(server, name):
    path = os.path.join(res_dir, f"{server}-{name}.json")
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def get(d, *keys):
    for k in keys:
        if d is None:
            return None
        d = d[k] if isinstance(d, dict) and k in d else (d[k] if isinstance(d, list) and isinstance(k, int) and k < len(d) else None)
    return d


def mixed_cmd(server, cmd, key):
    d = load(server, "row5")
    for c in (d or {}).get("commands", []):
        if c["command"] == cmd:
            return c[key] if c["count"] else None
    return None


def idle_mem(server, what):
    d = load(server, "row6")
    if not d or not d.get("loadgen"):
        return None
    n = d["loadgen"]["established"]
    after, before = d["with_connections"], d["before"]
    if what == "conns":
        return n
    if what == "rss_mb":
        return after["rss_kb"] / 1024
    if what == "pss_mb":
        return after["pss_kb"] / 1024
    if what == "rss_kb_per_conn":
        return (after["rss_kb"] - before["rss_kb"]) / n if n else None
    if what == "pss_kb_per_conn":
        return (after["pss_kb"] - before["pss_kb"]) / n if n else None
    if what == "procs":
        return after["processes"]


# (row id, label, unit, better: "low"|"high", extractor(server) -> value)
METRICS = [
    ("1", f"SELECT, {P['big']} msgs (median of {P['repeat']})", "ms", "low", lambda s: get(load(s, "row1"), "select_median_ms")),
    ("1", f"UID FETCH 1:* (FLAGS), {P['big']} msgs", "ms", "low", lambda s: get(load(s, "row1"), "fetch_flags_median_ms")),
    ("2", f"UID FETCH n:m (BODY.PEEK[]), {P['fetch_msgs']} msgs 4-256 KiB, 4 conns", "MB/s", "high", lambda s: get(load(s, "row2"), "mb_per_s")),
    ("2", "  same, messages", "msgs/s", "high", lambda s: get(load(s, "row2"), "msgs_per_s")),
    ("3", f"SEARCH TEXT <absent word>, {P['search_msgs']} msgs", "ms", "low", lambda s: get(load(s, "row3"), "absent_median_ms")),
    ("3", f"SEARCH TEXT <word in 1%>, {P['search_msgs']} msgs", "ms", "low", lambda s: get(load(s, "row3"), "present_median_ms")),
    ("4", "APPEND 4 KiB, 1 conn", "msgs/s", "high", lambda s: get(load(s, "row4-1c"), "msgs_per_s")),
    ("4", "APPEND 4 KiB, 8 conns (8 users)", "msgs/s", "high", lambda s: get(load(s, "row4-8c"), "msgs_per_s")),
    ("5", f"mixed, {P['mixed_conns']} sessions / 20 users, all commands", "ops/s", "high", lambda s: get(load(s, "row5"), "ops_per_s")),
    ("5", "  all commands p50", "ms", "low", lambda s: get(load(s, "row5"), "p50_ms")),
    ("5", "  all commands p99", "ms", "low", lambda s: get(load(s, "row5"), "p99_ms")),
]
for cmd in ["LOGIN", "SELECT", "FETCH_FLAGS", "FETCH_HEADERS", "FETCH_BODY", "STORE", "SEARCH", "APPEND", "EXPUNGE", "NOOP", "IDLE", "LOGOUT"]:
    METRICS.append(("5", f"  {cmd} p50 / p99", "ms", "low",
                    (lambda c: lambda s: (mixed_cmd(s, c, "p50_ms"), mixed_cmd(s, c, "p99_ms")))(cmd)))
METRICS += [
    ("6", f"IDLE connections established (of {P['idle_conns']})", "conns", "high", lambda s: idle_mem(s, "conns")),
    ("6", "  server RSS total (all processes)", "MB", "low", lambda s: idle_mem(s, "rss_mb")),
    ("6", "  server RSS per connection (delta / conns)", "KB", "low", lambda s: idle_mem(s, "rss_kb_per_conn")),
    ("6", "  server PSS total (shared pages split)", "MB", "low", lambda s: idle_mem(s, "pss_mb")),
    ("6", "  server PSS per connection", "KB", "low", lambda s: idle_mem(s, "pss_kb_per_conn")),
    ("6", "  server processes", "procs", "low", lambda s: idle_mem(s, "procs")),
]


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, tuple):
        return "/".join(fmt(x) for x in v)
    if abs(v) >= 1000:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def scalar(v):
    return v[0] if isinstance(v, tuple) else v


rows_out = []
width = 62
print()
print(f"IMAP benchmark, {meta['host']['nproc']} cores, /tmp on {meta['host']['tmp_fs']}, corvid {meta['corvid_git']}")
hdr = f"{'row':<3} {'metric':<{width}} {'unit':<6} {'corvid':>13} {'cyrus':>13} {'dovecot':>13} {'corvid/best':>11} {'advantage':>9}"
print(hdr)
print("-" * len(hdr))
for row, label, unit, better, fn in METRICS:
    vals = {s: fn(s) for s in SERVERS}
    peers = {s: scalar(vals[s]) for s in ("cyrus", "dovecot") if scalar(vals[s]) is not None}
    best = (max if better == "high" else min)(peers, key=peers.get) if peers else None
    c = scalar(vals["corvid"])
    ratio = c / peers[best] if best and c is not None and peers[best] else None
    adv = None
    if ratio is not None:
        adv = ratio if better == "high" else (1 / ratio if ratio else None)
    rows_out.append({"row": row, "metric": label, "unit": unit, "better": better,
                     **{s: vals[s] for s in SERVERS}, "better_peer": best,
                     "corvid_over_better_peer": ratio, "corvid_advantage": adv})
    print(f"{row:<3} {label:<{width}} {unit:<6} {fmt(vals['corvid']):>13} {fmt(vals['cyrus']):>13} {fmt(vals['dovecot']):>13}"
          f" {fmt(ratio):>11} {(fmt(adv) + 'x') if adv else '-':>9}")
print("corvid/best = Corvid value / better peer's value (p50 for the per-command rows); "
      "advantage = how many times better Corvid is (>1 = Corvid better, whichever direction the unit runs).")

# checks: stored == acknowledged, expected counts, errors
print()
notes = []
for s in SERVERS:
    for name in ("row4-1c", "row4-8c"):
        d = load(s, name)
        if d:
            ok = d["stored"] == d["acked"]
            notes.append(f"{s} {name}: APPEND acked {d['acked']}, stored (STATUS delta) {d['stored']} -> {'OK' if ok else 'MISMATCH'}"
                         + (f"; not OK: {d['not_ok']} (first: {d['first_not_ok']})" if d.get("not_ok") else "")
                         + (f"; errors: {d['errors']}" if d.get("errors") else ""))
    for name in ("row1", "row3"):
        d = load(s, name)
        if d and (d.get("problems") or d.get("error")):
            notes.append(f"{s} {name}: {d.get('problems') or d.get('error')}")
    d = load(s, "row2")
    if d:
        notes.append(f"{s} row2: load generator CPU {100 * d['loadgen_cpu_s'] / (d['measured_s'] + 1):.0f}% of a core")
    if d and d.get("errors"):
        notes.append(f"{s} row2: {d['errors']}")
    d = load(s, "row5")
    if d:
        bad = [f"{c['command']} x{c['not_ok']} ({c['first_not_ok']})" for c in d["commands"] if c["not_ok"]]
        notes.append(f"{s} row5: {d['visits']} visits, {d['lmtp_delivered']} LMTP deliveries in the background, "
                     f"load generator CPU {100 * d['loadgen_cpu_s'] / (d['measured_s'] + 2):.0f}% of a core"
                     + (f"; not OK: {', '.join(bad)}" if bad else "") + (f"; errors: {d['errors']}" if d.get("errors") else ""))
        busy = os.path.join(res_dir, f"{s}-row5-busy.txt")
        if os.path.exists(busy) and open(busy).read().strip() != "0/0":
            notes.append(f"{s} row5: compiler/linker processes running before/after: {open(busy).read().strip()} (noisy)")
    d = load(s, "row6")
    if d and d.get("loadgen"):
        lg = d["loadgen"]
        notes.append(f"{s} row6: {lg['established']} of {lg['attempted_target']} connections in IDLE after {lg['setup_s']:.0f} s"
                     + (f"; {lg['failures']} failed, first: {lg['first_error']}" if lg["failures"] else ""))
    cfg = load(s, "config")
    if cfg:
        notes.append(f"{s} config: {cfg['config']}")
for n in notes:
    print("  " + n)
if failures:
    print()
    print("problems:", " ".join(failures))

out = {"meta": meta, "table": rows_out, "notes": notes, "problems": failures, "raw": {}}
for s in SERVERS:
    for name in ("row1", "row2", "row3", "row4-1c", "row4-8c", "row5", "row6", "config"):
        d = load(s, name)
        if d is not None:
            out["raw"].setdefault(s, {})[name] = d
with open(out_path, "w") as fh:
    json.dump(out, fh, indent=2)
    fh.write("\n")
