#!/usr/bin/env python3
"""`sync_ack: replica`: LMTP's 250 and APPEND's OK only once a replica holds the message.

Two real `corvid serve` processes; the master runs rolling replication with `sync_ack: replica`
and `sync_ack_timeout: 1s`.
  1. With the replica up, each LMTP delivery's 250 comes only when the message is already on
     the replica: it is looked up there right after the 250, with no waiting.
  2. The master is SIGKILLed right after its last 250: the replica holds every acknowledged
     message (an acknowledged message survives the loss of the whole master).
  3. With the replica stopped, LMTP answers 451 4.3.0 after the timeout and APPEND answers
     NO [UNAVAILABLE]; the message is taken back out on the master, so the sender's retry
     leaves one copy. With the replica back, deliveries are acknowledged again.

Usage: tests/integration/sync_ack.py [--keep]
Binary: $CORVID_BIN, else .build/debug/corvid, else .build/release/corvid.
The last line printed is 'N passed, M failed'; the exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corvid_harness import CorvidServer, Tally, free_loopback_ports, install_exit_cleanup  # noqa: E402
from rolling_common import imap_login, lmtp_reply  # noqa: E402

HOST = "127.0.0.1"
ADMIN = "cyrus"
ADMIN_PASSWORD = "repl-secret"
USER_PASSWORD = "x"


def message(n: int) -> bytes:
    return (f"From: sender{n}@example.org\r\nTo: alice@example.com\r\nSubject: acked {n}\r\n"
            f"Message-ID: <acked-{n}@example.org>\r\n\r\nBody {n}.\r\n").encode()


def deliver(server: CorvidServer, n: int) -> tuple[int, str]:
    return lmtp_reply(server.lmtp_port, "alice", message(n))


def imap(server: CorvidServer, user: str = "alice") -> imaplib.IMAP4:
    return imap_login(server.imap_port, user, ADMIN_PASSWORD if user == ADMIN else USER_PASSWORD)


def holds(server: CorvidServer, n: int) -> int:
    """How many copies of message n the server's INBOX holds (one IMAP look, no waiting)."""
    conn = imap(server)
    try:
        conn.select("INBOX", readonly=True)
        typ, data = conn.uid("SEARCH", None, "HEADER", "Message-ID", f"<acked-{n}@example.org>")
        return len(data[0].split()) if typ == "OK" and data and data[0] else 0
    finally:
        conn.logout()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    install_exit_cleanup()
    tally = Tally()
    scratch = tempfile.mkdtemp(prefix="corvid-syncack-")
    sync_port = free_loopback_ports(1)[0]
    replica = CorvidServer(workdir=os.path.join(scratch, "replica"), extra_config={
        "admins": ADMIN, "allowplaintext": "yes", "sync_listen": f"{HOST}:{sync_port}",
    })
    master = CorvidServer(workdir=os.path.join(scratch, "master"), extra_config={
        "admins": ADMIN, "allowplaintext": "yes",
        "sync_log": "1", "sync_host": f"{HOST}:{sync_port}",
        "sync_authname": ADMIN, "sync_password": ADMIN_PASSWORD,
        "sync_reconnect_maxwait": "500ms", "sync_ack": "replica", "sync_ack_timeout": "1s",
    })
    try:
        os.makedirs(replica.workdir, exist_ok=True)
        replica.add_user(ADMIN, ADMIN_PASSWORD, inbox=False)
        replica.add_user("alice", USER_PASSWORD, inbox=False)
        master.add_user(ADMIN, ADMIN_PASSWORD, inbox=False)
        master.add_user("alice", USER_PASSWORD)
        replica.start()
        master.start()

        # 1. Every 250 means the replica already has it.
        codes, missing = [], []
        for n in range(20):
            code, text = deliver(master, n)
            codes.append(code)
            if code == 250 and holds(replica, n) != 1:
                missing.append(n)
        tally.check(codes == [250] * 20, "replica up: 20 deliveries acknowledged with 250", f"{codes}")
        tally.check(not missing, "each 250 came only once the message was on the replica",
                    f"not on the replica right after their 250: {missing}")

        # 2. The master dies right after its last 250: nothing acknowledged is lost.
        master.kill()
        present = [n for n in range(20) if holds(replica, n) == 1]
        tally.check(len(present) == 20, "master SIGKILLed: the replica holds all 20 acknowledged messages",
                    f"on the replica: {present}")
        master.start()

        # 3. The replica is away: 451 (and NO [UNAVAILABLE]) after the timeout, nothing kept.
        replica.terminate(timeout=30)
        started = time.monotonic()
        code, text = deliver(master, 100)
        waited = time.monotonic() - started
        tally.check(code == 451 and "4.3.0" in text and waited >= 1.0,
                    f"replica away: LMTP answers 451 4.3.0 after the timeout ({waited:.1f}s)", text)
        tally.check(holds(master, 100) == 0, "the refused delivery is not kept on the master (a retry leaves one copy)")
        conn = imap(master)
        try:
            typ, data = conn.append("INBOX", None, None, message(101))
            answer = (typ, b" ".join(d for d in data if isinstance(d, bytes)).decode())
        except imaplib.IMAP4.error as error:
            answer = ("NO", str(error))
        finally:
            conn.logout()
        tally.check(answer[0] == "NO" and "UNAVAILABLE" in answer[1], "replica away: APPEND answers NO [UNAVAILABLE]",
                    f"{answer}")
        tally.check(holds(master, 101) == 0, "the refused APPEND is not kept on the master")

        replica.start()
        deadline = time.monotonic() + 30
        code = 0
        while time.monotonic() < deadline and code != 250:  # bounded: the channel reconnects
            code, text = deliver(master, 102)
        tally.check(code == 250 and holds(replica, 102) >= 1, "replica back: acknowledged again", text)
        for server, name in ((master, "master"), (replica, "replica")):
            exit_code, _ = server.terminate(timeout=30)
            tally.check(exit_code == 0, f"SIGTERM: the {name} exits 0", server.log_tail())
    except Exception:  # noqa: BLE001 - a crash of the scenario is a failed check
        tally.check(False, "scenario ran to the end", traceback.format_exc())
    finally:
        if tally.failed or args.keep:
            print(f"scratch directory kept: {scratch} (logs under */logs)")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
