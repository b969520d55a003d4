#!/usr/bin/env python3
"""bench/sync: initial and incremental replication of one user, Cyrus 3.6 -> Cyrus 3.6 and
Corvid -> Corvid in the same run (see README.md). Run through bench/sync/run."""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from corvid_harness import CorvidServer, free_loopback_ports  # noqa: E402
from cyrus_peer import CyrusInstance  # noqa: E402

USER = "benchuser"
HOST = "127.0.0.1"


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def loopback_bytes() -> int:
    """Bytes through `lo` so far (each byte counted once; TCP/IP headers included)."""
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                return int(rest.split()[0])
    return 0


def populate(loadgen: str, lmtp_port: int, count: int, sizes: str, json_path: str) -> None:
    subprocess.run([loadgen, "populate", "--lmtp-port", str(lmtp_port), "--users", USER, "--count", str(count),
                    "--sizes", sizes, "--conns", "4", "--json", json_path], check=True, timeout=3600)


def imap_count(port: int, password: str) -> tuple[int, int]:
    """(messages, UIDVALIDITY) of the user's INBOX, as the user (a Cyrus admin may not read it)."""
    conn = imaplib.IMAP4(HOST, port, timeout=600)
    conn.login(USER, password)
    typ, data = conn.status("INBOX", "(MESSAGES UIDVALIDITY)")
    conn.logout()
    text = data[0].decode() if typ == "OK" and data and data[0] else ""
    messages = re.search(r"MESSAGES (\d+)", text)
    validity = re.search(r"UIDVALIDITY (\d+)", text)
    return (int(messages.group(1)) if messages else -1, int(validity.group(1)) if validity else -1)


def change_one_percent(port: int, password: str, count: int, deliver) -> None:
    """1% of the messages change: half get \\Flagged, as many new ones are delivered."""
    changed = max(count // 200, 1)
    conn = imaplib.IMAP4(HOST, port, timeout=600)
    conn.login(USER, password)
    conn.select("INBOX")
    conn.store(f"1:{changed}", "+FLAGS", "(\\Flagged)")
    conn.logout()
    deliver(changed)


def timed(label: str, run) -> dict:
    before = loopback_bytes()
    started = time.monotonic()
    result = run()
    seconds = time.monotonic() - started
    wire = loopback_bytes() - before
    if result.returncode != 0:
        tail = (result.stdout or b"")[-2000:].decode("utf-8", "replace")
        raise RuntimeError(f"{label}: exit {result.returncode}\n{tail}")
    return {"seconds": seconds, "loopback_bytes": wire}


def measure(name: str, scratch: str, loadgen: str, count: int, sizes: str, master_ports: tuple[int, int],
            replica_imap: int, password: str, command: list[str]) -> dict:
    """The rows for one pair: deliver, initial sync, change 1%, incremental sync; after each sync
    the replica's count and UIDVALIDITY beside the master's. `master_ports` is (LMTP, IMAP)."""
    lmtp, imap = master_ports
    log(f"{name}: delivering {count} messages")
    populate(loadgen, lmtp, count, sizes, os.path.join(scratch, f"{name}-populate.json"))

    def sync():
        return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=3600)

    def synced(label: str) -> dict:
        log(f"{name}: {label} sync")
        result = timed(f"{name} {label} sync", sync)
        result["replica"] = imap_count(replica_imap, password)
        result["master"] = imap_count(imap, password)
        return result

    initial = synced("initial")
    change_one_percent(imap, password, count,
                       lambda n: populate(loadgen, lmtp, n, "4096", os.path.join(scratch, f"{name}-populate2.json")))
    return {"initial": initial, "incremental": synced("incremental")}


def bench_cyrus(scratch: str, loadgen: str, count: int, sizes: str) -> dict:
    replica = CyrusInstance("replica", workdir=os.path.join(scratch, "cyrus-replica"))
    replica.start()
    master = CyrusInstance("master", workdir=os.path.join(scratch, "cyrus-master"), sync_target=(HOST, replica.sync_port))
    master.start()
    try:
        master.create_user(USER)
        # No -v: Cyrus's verbose log holds every uploaded message. Any password (alwaystrue).
        command = ["runuser", "-u", "cyrus", "--", "/usr/lib/cyrus/bin/sync_client", "-C", master.conf_path, "-u", USER]
        return measure("cyrus", scratch, loadgen, count, sizes, (master.lmtp_port, master.imap_port),
                       replica.imap_port, "any", command)
    finally:
        master.cleanup()
        replica.cleanup()


def bench_corvid(scratch: str, binary: str, loadgen: str, count: int, sizes: str) -> dict:
    replica = CorvidServer(workdir=os.path.join(scratch, "corvid-replica"), binary=binary,
                           extra_config={"admins": "repl", "allowplaintext": "yes"})
    sync_port = free_loopback_ports(1)[0]
    replica.extra_config["sync_listen"] = f"{HOST}:{sync_port}"
    replica.write_config()
    replica.add_user("repl", "replpw")
    replica.add_user(USER, "pw", inbox=False)  # the account; the mailboxes come by replication
    replica.start()
    master = CorvidServer(workdir=os.path.join(scratch, "corvid-master"), binary=binary,
                          extra_config={"admins": "repl", "allowplaintext": "yes", "sync_host": f"{HOST}:{sync_port}",
                                        "sync_authname": "repl", "sync_password": "replpw"})
    master.add_user("repl", "replpw")
    master.add_user(USER, "pw")
    master.start()
    try:
        return measure("corvid", scratch, loadgen, count, sizes, (master.lmtp_port, master.imap_port),
                       replica.imap_port, "pw", [binary, "sync", "-C", master.config_path, "-u", USER])
    finally:
        master.cleanup(keep=False)
        replica.cleanup(keep=False)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--sizes", default=",".join(["4096"] * 35 + ["65536"] * 10 + ["262144"] * 4 + ["1048576"]))
    parser.add_argument("--servers", default="cyrus corvid")
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--corvid", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    mean = sum(sizes) / len(sizes)
    results: dict = {"messages": args.messages, "sizes": args.sizes, "mean_size": mean,
                     "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    failures = []
    for server in args.servers.split():
        scratch = tempfile.mkdtemp(prefix=f"corvid-sync-bench-{server}-")
        os.chmod(scratch, 0o755)
        try:
            if server == "cyrus":
                results[server] = bench_cyrus(scratch, args.loadgen, args.messages, args.sizes)
            else:
                results[server] = bench_corvid(scratch, args.corvid, args.loadgen, args.messages, args.sizes)
        except Exception as error:  # a failed leg is reported, the other still runs
            log(f"{server}: FAILED: {error}")
            failures.append(f"{server}: {error}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    results["failures"] = failures
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    total_bytes = args.messages * mean

    def row(label, key, fmt):
        values = {}
        for server in ("cyrus", "corvid"):
            leg = results.get(server, {}).get(key)
            values[server] = fmt(leg) if leg else "—"
        return values

    print()
    print(f"csync replication of one user, {args.messages:,} messages (mean {mean / 1024:.0f} KiB, "
          f"{total_bytes / 1e6:,.0f} MB), {os.cpu_count()} cores")
    print(f"{'':36} {'Cyrus 3.6 -> Cyrus':>20} {'Corvid -> Corvid':>20} {'Corvid faster by':>18}")
    for key, label in (("initial", "initial sync"), ("incremental", "incremental (1% changed)")):
        c = results.get("cyrus", {}).get(key)
        v = results.get("corvid", {}).get(key)
        def t(x):
            return f"{x['seconds']:.2f} s" if x else "—"
        ratio = f"{c['seconds'] / v['seconds']:.2f}x" if c and v and v["seconds"] > 0 else "—"
        print(f"{label + ', time':36} {t(c):>20} {t(v):>20} {ratio:>18}")
        if key == "initial":
            def rate(x):
                return f"{args.messages / x['seconds']:,.0f} msg/s" if x else "—"
            def mbps(x):
                return f"{total_bytes / 1e6 / x['seconds']:,.1f} MB/s" if x else "—"
            print(f"{'  messages/s':36} {rate(c):>20} {rate(v):>20}")
            print(f"{'  MB/s':36} {mbps(c):>20} {mbps(v):>20}")
        def w(x):
            return f"{x['loopback_bytes'] / 1e6:,.1f} MB" if x else "—"
        print(f"{'  bytes on the wire (loopback)':36} {w(c):>20} {w(v):>20}")
        def check(x):
            return "yes" if x and x["replica"][0] == x["master"][0] and x["replica"][1] == x["master"][1] else "NO"
        print(f"{'  replica = master (count, UIDVALIDITY)':36} {check(c):>20} {check(v):>20}")
    if failures:
        print("problems: " + "; ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
