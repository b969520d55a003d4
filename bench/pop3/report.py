#!/usr/bin/env python3
"""Assemble bench/pop3 results: one table (Corvid, Cyrus, Dovecot, Corvid / better peer), JSON file.

usage: report.py RESULTS_DIR OUT_JSON [FAILURE ...]
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
    try:
        return json.load(open(os.path.join(res_dir, f"{server}-{name}.json")))
    except (OSError, ValueError):
        return None


def value(server, row, key):
    d = load(server, row)
    if not d or d.get("errors"):
        return None
    return d.get(key)


ROWS = [
    ("row1", "mb_per_s", "RETR, 1 connection", "MB/s"),
    ("row1", "msgs_per_s", "RETR, 1 connection", "msg/s"),
    ("row2", "mb_per_s", "RETR, 4 connections", "MB/s"),
    ("row2", "msgs_per_s", "RETR, 4 connections", "msg/s"),
    ("row3", "sessions_per_s", f"polling sessions, {P['poll_conns']} connections", "sessions/s"),
    ("row3", "p99_ms", f"polling session p99, {P['poll_conns']} connections", "ms (lower is better)"),
]

table = []
for row, key, label, unit in ROWS:
    values = {s: value(s, row, key) for s in SERVERS}
    peers = [values[s] for s in ("cyrus", "dovecot") if values[s]]
    lower_better = key.endswith("_ms")
    ratio = None
    if values["corvid"] and peers:
        best = min(peers) if lower_better else max(peers)
        ratio = best / values["corvid"] if lower_better else values["corvid"] / best
    table.append({"row": label, "unit": unit, **values, "corvid_vs_better_peer": ratio})


def fmt(v):
    if v is None:
        return "—"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


print()
print(f"POP3, {P['messages']} messages per maildrop (sizes {P['sizes']}), {P['duration_s']} s per row, "
      f"{meta['host']['nproc']} cores, corvid {meta['corvid_git']}")
print(f"{'row':<44} {'unit':<22} {'Cyrus 3.6':>10} {'Dovecot 2.3':>12} {'Corvid':>10} {'Corvid/best':>12}")
for t in table:
    ratio = f"{t['corvid_vs_better_peer']:.2f}×" if t["corvid_vs_better_peer"] else "—"
    print(f"{t['row']:<44} {t['unit']:<22} {fmt(t['cyrus']):>10} {fmt(t['dovecot']):>12} {fmt(t['corvid']):>10} "
          f"{ratio:>12}")
if failures:
    print("problems: " + ", ".join(failures))
configs = {s: load(s, "config") for s in SERVERS}
raw = {s: {r: load(s, r) for r in ("row1", "row2", "row3", "populate-popuser1")} for s in SERVERS}
json.dump({"meta": meta, "table": table, "configs": configs, "raw": raw, "failures": failures},
          open(out_path, "w"), indent=1)
