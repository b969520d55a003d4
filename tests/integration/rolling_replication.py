#!/usr/bin/env python3
"""Rolling replication between two real `corvid serve` processes, with no `corvid sync` command.

The master runs with `sync_log: 1` and `sync_host` pointing at the replica's `sync_listen`.
  1. The replica is absent when the master starts; mail is delivered by LMTP meanwhile. When the
     replica starts, it catches up by itself.
  2. More deliveries, a folder created, an APPEND and flag changes over IMAP on the master: the
     replica follows within seconds (time to the first converged snapshot is printed).
  3. The replica is SIGKILLed; mail keeps arriving at the master; the replica is restarted and
     converges with no command from anyone. Then the master is SIGKILLed right after
     acknowledged deliveries and restarted: nothing is lost.
  4. /metrics has the channel's gauges; `corvid sync status` on the master reports the channel with no backlog and nothing
     quarantined; both servers stop cleanly on SIGTERM and `corvid check` passes on both.
Convergence is checked by snapshotting both servers over IMAP (store_snapshot.py) and diffing.

Usage: tests/integration/rolling_replication.py [--keep]
Binary: $CORVID_BIN, else .build/debug/corvid, else .build/release/corvid.
The last line printed is 'N passed, M failed'; the exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import sys
import tempfile
import time
import traceback
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corvid_harness import (  # noqa: E402
    CorvidServer,
    LMTPClient,
    Tally,
    free_loopback_ports,
    install_exit_cleanup,
)
from rolling_common import finish  # noqa: E402
from store_snapshot import diff, snapshot, summary  # noqa: E402

HOST = "127.0.0.1"
ADMIN = "cyrus"
ADMIN_PASSWORD = "repl-secret"
USER_PASSWORD = "x"
USERS = ["alice", "bob"]
CONVERGE_TIMEOUT = 60.0  # seconds; rolling replication normally converges well under one


def message(n: int, user: str) -> bytes:
    return (f"From: sender{n}@example.org\r\nTo: {user}@example.com\r\nSubject: rolling {n}\r\n"
            f"Message-ID: <rolling-{n}-{user}@example.org>\r\n\r\nBody of message {n}.\r\n").encode()


def deliver(server: CorvidServer, user: str, n: int) -> None:
    client, _ = LMTPClient.connect(server.lmtp_port)
    try:
        client.lhlo()
        result = client.transaction("sender@example.org", [f"{user}@example.com"], message(n, user))
        final = result.outcome(0)
        if final is None or final.code != 250:
            raise RuntimeError(f"LMTP delivery to {user}: {final}")
    finally:
        client.close()


def imap(server: CorvidServer, user: str) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(HOST, server.imap_port, timeout=60)
    conn.login(user, ADMIN_PASSWORD if user == ADMIN else USER_PASSWORD)
    return conn


def snap(server: CorvidServer) -> dict:
    return snapshot(lambda user: imap(server, user), lambda: imap(server, ADMIN), users=USERS)


def wait_converged(master: CorvidServer, replica: CorvidServer, timeout: float = CONVERGE_TIMEOUT
                   ) -> tuple[bool, float, list[str]]:
    """Polls both snapshots (bounded) until they are equal: (converged, seconds, last diff)."""
    start = time.monotonic()
    problems: list[str] = ["not compared yet"]
    while time.monotonic() - start < timeout:
        try:
            problems = diff(snap(master), snap(replica))
        except (OSError, imaplib.IMAP4.error) as error:
            problems = [f"snapshot failed: {error!r}"]
        if not problems:
            return True, time.monotonic() - start, []
        time.sleep(0.1)  # polling interval of a bounded wait
    return False, time.monotonic() - start, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    install_exit_cleanup()
    tally = Tally()
    scratch = tempfile.mkdtemp(prefix="corvid-rolling-")
    sync_port = free_loopback_ports(1)[0]
    replica = CorvidServer(workdir=os.path.join(scratch, "replica"), extra_config={
        "admins": ADMIN, "allowplaintext": "yes", "sync_listen": f"{HOST}:{sync_port}",
    })
    master = CorvidServer(workdir=os.path.join(scratch, "master"), extra_config={
        "admins": ADMIN, "allowplaintext": "yes",
        "sync_log": "1", "sync_host": f"{HOST}:{sync_port}",
        "sync_authname": ADMIN, "sync_password": ADMIN_PASSWORD,
        "sync_repeat_interval": "100ms", "sync_reconnect_maxwait": "1s",
    })
    try:
        # The replica's admin (the sync login) and the users' accounts only: their mailboxes
        # arrive by replication. The master's admin has no INBOX, so nothing of it replicates.
        os.makedirs(replica.workdir, exist_ok=True)
        replica.add_user(ADMIN, ADMIN_PASSWORD, inbox=False)
        for user in USERS:
            replica.add_user(user, USER_PASSWORD, inbox=False)
        master.add_user(ADMIN, ADMIN_PASSWORD, inbox=False)
        for user in USERS:
            master.add_user(user, USER_PASSWORD)

        # 1. The replica is absent at the master's start.
        master.start()
        for n in range(5):
            deliver(master, USERS[n % 2], n)
        replica.start()
        ok, seconds, problems = wait_converged(master, replica)
        tally.check(ok, f"replica absent at start: converges once it runs ({seconds:.1f}s)",
                    "\n".join(problems[:20]))

        # 2. Live changes follow within seconds.
        for n in range(5, 15):
            deliver(master, USERS[n % 2], n)
        conn = imap(master, "alice")
        try:
            conn.create("Projects")
            conn.append("Projects", "(\\Flagged)", None, message(100, "alice"))
            conn.select("INBOX")
            conn.store("1:3", "+FLAGS", "(\\Seen $Label1)")
            conn.store("4", "+FLAGS", "(\\Deleted)")
            conn.expunge()
            conn.subscribe("Projects")
        finally:
            conn.logout()
        ok, seconds, problems = wait_converged(master, replica)
        tally.check(ok, f"deliveries, a new folder, APPEND, flags and expunge replicate ({seconds:.2f}s)",
                    "\n".join(problems[:20]))
        state = snap(replica)
        tally.check("Projects" in state["users"]["alice"]["folders"], "the new folder is on the replica",
                    summary(state))

        # 3. The replica is killed; mail keeps coming; it restarts and converges by itself.
        replica.kill()
        for n in range(15, 35):
            deliver(master, USERS[n % 2], n)
        conn = imap(master, "bob")
        try:
            conn.create("Archive")
            conn.select("INBOX")
            conn.copy("1:2", "Archive")
        finally:
            conn.logout()
        replica.start()
        ok, seconds, problems = wait_converged(master, replica)
        tally.check(ok, f"replica SIGKILLed and restarted: converges with no command ({seconds:.1f}s)",
                    "\n".join(problems[:20]))
        final = snap(master)
        messages = sum(len(f.get("messages", {})) for u in final["users"].values() for f in u["folders"].values())
        tally.check(messages >= 35, f"every delivered message is there ({summary(final)})")

        # 3b. The master is SIGKILLed right after deliveries it acknowledged; restarted, it
        # resumes from its durable cursor and the replica gets every acknowledged message.
        for n in range(35, 45):
            deliver(master, USERS[n % 2], n)
        master.kill()
        master.start()
        ok, seconds, problems = wait_converged(master, replica)
        tally.check(ok, f"master SIGKILLed after acknowledging: converges after its restart ({seconds:.1f}s)",
                    "\n".join(problems[:20]))
        state = snap(replica)
        count = sum(len(f.get("messages", {})) for u in state["users"].values() for f in u["folders"].values())
        tally.check(count == messages + 10, f"the replica has every acknowledged message ({summary(state)})")
        with open(master.log_path, "rb") as f:
            restart_log = f.read().decode("utf-8", "replace")
        tally.check("did not shut down cleanly" in restart_log and "full sync" in restart_log,
                    "after the SIGKILL the master verifies the whole replica before following the feed",
                    restart_log[-2000:])
        result = master.cli("check", "--replica", timeout=300)
        text = (result.stdout + result.stderr).decode("utf-8", "replace")
        tally.check(result.returncode == 0 and " 0 difference(s)" in text,
                    "corvid check --replica: no difference after the crash and catch-up", text[-1500:])

        # 4. Metrics, status, clean stops, healthy stores.
        with urllib.request.urlopen(f"http://{HOST}:{master.http_port}/metrics", timeout=30) as response:
            metrics = response.read().decode("utf-8", "replace")
        wanted = ['corvid_sync_backlog_entries{channel="default"} 0', 'corvid_sync_quarantined_items{channel="default"} 0',
                  'corvid_sync_lag_seconds{channel="default"}', 'corvid_sync_last_success_timestamp_seconds{channel="default"}']
        missing = [line for line in wanted if line not in metrics]
        tally.check(not missing, "/metrics has the channel's backlog, lag, last success and quarantined items",
                    f"missing {missing}:\n" + "\n".join(l for l in metrics.splitlines() if "corvid_sync" in l))
        status = master.cli("sync", "status", timeout=60)
        text = (status.stdout + status.stderr).decode("utf-8", "replace")
        tally.check(status.returncode == 0 and "channel default" in text and "backlog 0 changes" in text
                    and "0 quarantined" in text, "corvid sync status: channel default, no backlog, nothing quarantined",
                    f"exit {status.returncode}\n{text}")
        for server, name in ((master, "master"), (replica, "replica")):
            code, stopped = server.terminate(timeout=30)
            tally.check(code == 0, f"SIGTERM: the {name} exits 0 ({stopped:.1f}s)", server.log_tail())
            healthy, output = server.check()
            tally.check(healthy, f"corvid check on the {name}", output.strip())
    except Exception:
        tally.check(False, "scenario ran to the end", traceback.format_exc())
    finally:
        exit_status = finish(tally, scratch, [master, replica], args.keep)
    return exit_status


if __name__ == "__main__":
    sys.exit(main())
