#!/usr/bin/env python3
"""A split brain over real processes: both sides of a rolling pair take writes while apart.

Two `corvid serve` processes: the master (`sync_log: 1`) reaches the replica's `sync_listen`
through link_proxy.LinkProxy. Seeded (alice: INBOX, Work, Notes; bob: INBOX) and converged, the
link is cut; then, on BOTH sides:
  - LMTP deliveries into alice's and bob's INBOX (the same UIDs are taken on both sides),
  - IMAP STORE flag changes (the master flags INBOX 1:2 $MasterSide, the replica 3:4 $ReplicaSide),
  - IMAP APPEND into the pre-existing folder Work,
  - IMAP CREATE of a new folder with APPENDs (MasterOnly on the master, ReplicaOnly on the replica),
and on the replica only, a flag change and an APPEND in Notes, a folder the master leaves alone.
The link is restored; after convergence (bounded polls: `corvid sync status` until the backlog is
replicated, then IMAP snapshots until equal) these checks run, each on its own:
  - every message of either side is on both sides exactly once (by Message-ID, per folder);
  - the UIDVALIDITY of every folder that existed before the split is unchanged, on both sides;
  - both sides' flag changes survive ($MasterSide and $ReplicaSide on both);
  - Notes, changed only on the replica, has the replica's changes on the master too;
  - the folder created on the replica (ReplicaOnly) exists on both with its messages;
  - both stores compare equal over IMAP (store_snapshot.py).

Known gaps (none at present): a check listed in KNOWN_GAPS is reported as
`XFAIL` when it fails (not counted as a failure) and as `ok ... (known gap closed)` when it
passes; remove its name from KNOWN_GAPS, or run with --strict, to make it an ordinary check.
The store comparison leaves out the folders of the known gaps while they are gaps, so it still
checks everything else.

Usage: tests/integration/rolling_split_brain.py [--keep] [--strict]
Binary: $CORVID_BIN, else .build/debug/corvid, else .build/release/corvid.
The last line printed is 'N passed, M failed'; the exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import re
import sys
import tempfile
import time
import traceback
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corvid_harness import CorvidServer, Tally, free_loopback_ports, install_exit_cleanup  # noqa: E402
from link_proxy import LinkProxy  # noqa: E402
from rolling_common import (  # noqa: E402
    finish,
    HOST, imap_login, lmtp_deliver, message, sync_status, wait_caught_up, wait_equal)
from store_snapshot import Raw, quote, snapshot, summary  # noqa: E402

ADMIN = "cyrus"
ADMIN_PASSWORD = "repl-secret"
USER_PASSWORD = "x"
USERS = ["alice", "bob"]
CONVERGE = 60.0  # seconds

# Checks that fail today for a known reason; none: both former gaps (a folder made only on the
# replica, writes the replica took in a folder the master left alone) are closed by the
# verification each rolling session starts with (sync_verify).
KNOWN_GAPS: dict[str, str] = {}
GAP_FOLDERS = {"replica-only folder": "ReplicaOnly", "replica-only changes": "Notes"}


def inventory(server: CorvidServer, user: str) -> dict[str, Counter]:
    """{folder: Counter(Message-ID)} over every folder the user can list."""
    conn = imap_login(server.imap_port, user, USER_PASSWORD)
    raw = Raw(conn)
    out: dict[str, Counter] = {}
    try:
        names = []
        for resp in raw.command("LIST", b'""', b'"*"'):
            if resp and resp[0].upper() == b"LIST" and not any(a.lower() == b"\\noselect" for a in resp[1]):
                names.append(resp[3].decode())
        for name in names:
            raw.command("EXAMINE", quote(name))
            ids: Counter = Counter()
            for resp in raw.command("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])") if _exists(raw, name) else []:
                if len(resp) >= 3 and resp[1].upper() == b"FETCH":
                    kv = resp[2]
                    for k, v in zip(kv[0::2], kv[1::2]):
                        if k.upper().startswith(b"BODY["):
                            found = re.search(rb"<([^>]+)>", v or b"")
                            ids[found.group(1).decode() if found else "(none)"] += 1
            raw.command("CLOSE")
            out[name] = ids
    finally:
        conn.logout()
    return out


def _exists(raw: Raw, name: str) -> bool:
    for resp in raw.command("STATUS", quote(name), b"(MESSAGES)"):
        if resp and resp[0].upper() == b"STATUS":
            return int(resp[2][1]) > 0
    return False


def uidvalidities(state: dict) -> dict[tuple[str, str], int]:
    return {(user, name): folder.get("uidvalidity") for user, data in state["users"].items()
            for name, folder in data["folders"].items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--strict", action="store_true", help="known gaps count as failures")
    args = parser.parse_args()
    install_exit_cleanup()
    tally = Tally()
    started = time.monotonic()
    gaps = {} if args.strict else dict(KNOWN_GAPS)
    scratch = tempfile.mkdtemp(prefix="corvid-split-brain-")
    sync_port = free_loopback_ports(1)[0]
    replica = CorvidServer(workdir=os.path.join(scratch, "replica"), extra_config={
        "admins": ADMIN, "allowplaintext": "yes", "sync_listen": f"{HOST}:{sync_port}",
    })
    proxy = LinkProxy((HOST, sync_port)).start()
    master = CorvidServer(workdir=os.path.join(scratch, "master"), extra_config={
        "admins": ADMIN, "allowplaintext": "yes",
        "sync_log": "1", "sync_host": f"{HOST}:{proxy.port}",
        "sync_authname": ADMIN, "sync_password": ADMIN_PASSWORD,
        "sync_repeat_interval": "100ms", "sync_reconnect_maxwait": "1s",
    })

    def snap(server: CorvidServer) -> dict:
        return snapshot(lambda u: imap_login(server.imap_port, u, USER_PASSWORD),
                        lambda: imap_login(server.imap_port, ADMIN, ADMIN_PASSWORD), users=USERS)

    def as_user(server: CorvidServer, user: str, body) -> None:
        conn = imap_login(server.imap_port, user, USER_PASSWORD)
        try:
            body(conn)
        finally:
            conn.logout()

    def expect_ok(result, what: str) -> None:
        typ, data = result
        if typ != "OK":
            raise RuntimeError(f"{what}: {typ} {data}")

    def append(conn: imaplib.IMAP4, folder: str, data: bytes, flags: str | None = None) -> None:
        expect_ok(conn.append(folder, flags, None, data), f"APPEND {folder}")

    def gap_check(key: str, ok: bool, name: str, detail: str) -> None:
        if key not in gaps:
            tally.check(ok, name, detail)
        elif ok:
            tally.check(True, f"{name} (known gap closed: remove {key!r} from KNOWN_GAPS)")
        else:
            print(f"XFAIL {name}: known gap: {gaps[key]}; {detail}", flush=True)

    expected: dict[str, dict[str, set[str]]] = {u: {} for u in USERS}  # user -> folder -> Message-IDs

    def note(user: str, folder: str, data: bytes) -> bytes:
        expected[user].setdefault(folder, set()).add(re.search(rb"<([^>]+)>", data).group(1).decode())
        return data

    try:
        os.makedirs(replica.workdir, exist_ok=True)
        replica.add_user(ADMIN, ADMIN_PASSWORD)
        master.add_user(ADMIN, ADMIN_PASSWORD, inbox=False)
        for user in USERS:
            replica.add_user(user, USER_PASSWORD, inbox=False)
            master.add_user(user, USER_PASSWORD)
        replica.start()
        master.start()

        # Seed and converge.
        for n in range(5):
            lmtp_deliver(master.lmtp_port, "alice", note("alice", "INBOX", message(n, "alice", "seed")))
        for n in range(4):
            lmtp_deliver(master.lmtp_port, "bob", note("bob", "INBOX", message(n, "bob", "seed")))

        def seed(c):
            for folder, count in (("Work", 3), ("Notes", 2)):
                expect_ok(c.create(folder), f"CREATE {folder}")
                for n in range(count):
                    append(c, folder, note("alice", folder, message(n, "alice", f"seed-{folder.lower()}")))
        as_user(master, "alice", seed)
        ok, seconds, last = wait_caught_up(master, timeout=CONVERGE)
        tally.check(ok, f"seeded: the master's backlog is replicated ({seconds:.1f}s)", last)
        equal, seconds, problems, before = wait_equal(lambda: snap(master), lambda: snap(replica), CONVERGE)
        tally.check(equal, f"seeded: master and replica equal ({seconds:.1f}s; {summary(before or {'users': {}})})",
                    "\n".join(problems[:20]))
        before_replica = snap(replica)

        # Apart.
        proxy.cut()
        for side, server, tag in (("master", master, "m"), ("replica", replica, "r")):
            for n in range(3):
                lmtp_deliver(server.lmtp_port, "alice", note("alice", "INBOX", message(n, "alice", f"split-{tag}")))
            for n in range(2 if side == "master" else 1):
                lmtp_deliver(server.lmtp_port, "bob", note("bob", "INBOX", message(n, "bob", f"split-{tag}")))
            own = "MasterOnly" if side == "master" else "ReplicaOnly"
            keyword, uids = ("$MasterSide", "1:2") if side == "master" else ("$ReplicaSide", "3:4")

            def apart(c, own=own, keyword=keyword, uids=uids, tag=tag, side=side):
                c.select("INBOX")
                expect_ok(c.uid("STORE", uids, "+FLAGS", f"({keyword})"), f"STORE {keyword}")
                c.close()
                append(c, "Work", note("alice", "Work", message(0, "alice", f"split-work-{tag}")), "(\\Flagged)")
                expect_ok(c.create(own), f"CREATE {own}")
                for n in range(2):
                    append(c, own, note("alice", own, message(n, "alice", f"split-own-{tag}")))
                if side == "replica":
                    c.select("Notes")
                    expect_ok(c.uid("STORE", "1", "+FLAGS", "($ReplicaNote)"), "STORE Notes")
                    c.close()
                    append(c, "Notes", note("alice", "Notes", message(0, "alice", "split-notes-r")))
            as_user(server, "alice", apart)
        status = sync_status(master)
        tally.check(status.backlog > 0, f"apart: the master's backlog waits ({status.backlog} changes)", status.text)

        # Together again.
        proxy.restore()
        ok, seconds, last = wait_caught_up(master, timeout=CONVERGE)
        tally.check(ok, f"reconnected: the master's backlog is replicated ({seconds:.1f}s)", last)
        ignored_folders = {GAP_FOLDERS[k] for k in gaps if k in GAP_FOLDERS}

        def without_gaps(state: dict) -> dict:
            return {**state, "users": {u: {**d, "folders": {n: f for n, f in d["folders"].items()
                                                            if n not in ignored_folders},
                                           "subscriptions": [s for s in d["subscriptions"]
                                                             if s not in ignored_folders]}
                                       for u, d in state["users"].items()},
                    "admin_mailboxes": [m for m in state["admin_mailboxes"]
                                        if m.split("/")[-1] not in ignored_folders]}
        equal, seconds, problems, after = wait_equal(lambda: without_gaps(snap(master)),
                                                     lambda: without_gaps(snap(replica)), CONVERGE)
        tally.check(equal, f"master and replica compare equal over IMAP ({seconds:.1f}s"
                    + (f"; leaving out {sorted(ignored_folders)}, known gaps" if ignored_folders else "") + ")",
                    "\n".join(problems[:30]))

        # Every message exactly once, on both sides.
        sides = {"master": master, "replica": replica}
        inventories = {name: {u: inventory(server, u) for u in USERS} for name, server in sides.items()}
        for name in sides:
            problems = []
            for user in USERS:
                for folder, ids in expected[user].items():
                    if folder in ignored_folders:
                        continue
                    have = inventories[name][user].get(folder)
                    if have is None:
                        problems.append(f"{user} {folder}: missing")
                        continue
                    for mid in sorted(ids):
                        if have[mid] != 1:
                            problems.append(f"{user} {folder} <{mid}>: {have[mid]} copies")
                    extra = set(have) - ids
                    if extra:
                        problems.append(f"{user} {folder}: unexpected {sorted(extra)[:5]}")
            tally.check(not problems, f"{name}: every message of both sides exactly once "
                        f"({sum(len(i) for u in expected.values() for f, i in u.items() if f not in ignored_folders)})",
                        "; ".join(problems[:20]))

        # UIDVALIDITY of the folders that existed before the split.
        now_master, now_replica = snap(master), snap(replica)
        for name, old, new in (("master", before, now_master), ("replica", before_replica, now_replica)):
            old_v, new_v = uidvalidities(old), uidvalidities(new)
            changed = {k: (v, new_v.get(k)) for k, v in old_v.items() if new_v.get(k) != v}
            tally.check(not changed, f"{name}: UIDVALIDITY unchanged for the {len(old_v)} pre-existing folders",
                        f"changed: {changed}")

        # Both sides' flags survive.
        for name, state in (("master", now_master), ("replica", now_replica)):
            inbox = state["users"]["alice"]["folders"]["INBOX"]["messages"]
            marks = {k: sum(1 for m in inbox.values() if k in m["flags"]) for k in ("$MasterSide", "$ReplicaSide")}
            tally.check(marks == {"$MasterSide": 2, "$ReplicaSide": 2},
                        f"{name}: the flag changes of both sides survive in INBOX {marks}")

        # Notes: changed only on the replica while apart.
        notes = now_master["users"]["alice"]["folders"].get("Notes", {}).get("messages", {})
        gap_check("replica-only changes", len(notes) == 3 and any("$ReplicaNote" in m["flags"] for m in notes.values()),
                  "Notes, changed only on the replica while apart: its APPEND and flag reach the master",
                  f"master's Notes: {[(uid, m['flags']) for uid, m in notes.items()]}")

        # The folder created only on the replica.
        for name, state, inv in (("master", now_master, inventories["master"]),
                                 ("replica", now_replica, inventories["replica"])):
            have = inv["alice"].get("ReplicaOnly", Counter())
            wanted = expected["alice"]["ReplicaOnly"]
            (gap_check if name == "master" else lambda _key, *rest: tally.check(*rest))(
                "replica-only folder", set(have) == wanted and all(v == 1 for v in have.values()),
                f"{name}: the folder created only on the replica exists with its {len(wanted)} messages",
                f"ReplicaOnly on the {name}: {dict(have) if have else 'absent'}")
        gap_check("replica-only folder", not uidvalidities(now_master).keys() ^ uidvalidities(now_replica).keys(),
                  "both sides list the same folders",
                  f"master only: {sorted(uidvalidities(now_master).keys() - uidvalidities(now_replica).keys())}, "
                  f"replica only: {sorted(uidvalidities(now_replica).keys() - uidvalidities(now_master).keys())}")

        for server, name in ((master, "master"), (replica, "replica")):
            code, stopped = server.terminate(timeout=30)
            tally.check(code == 0, f"SIGTERM: the {name} exits 0 ({stopped:.1f}s)", server.log_tail())
            healthy, output = server.check()
            tally.check(healthy, f"corvid check on the {name}", output.strip())
    except Exception:
        tally.check(False, "scenario ran to the end", traceback.format_exc())
    finally:
        proxy.stop()
        print(f"runtime {time.monotonic() - started:.1f}s", flush=True)
        exit_status = finish(tally, scratch, [master, replica], args.keep)
    return exit_status


if __name__ == "__main__":
    sys.exit(main())
