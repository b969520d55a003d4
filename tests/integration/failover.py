#!/usr/bin/env python3
"""`corvid failover` under delivery load, between two real `corvid serve` processes.

A (master) and B (standby) are configured symmetrically: each has `sync_listen`, `sync_log: 1`
and the other as `sync_host`. B starts fenced (`corvid fence`), so only A takes writes and
replicates.
  1. Mail flows into A by LMTP and replicates to B.
  2. While a client keeps delivering to A, `corvid failover` runs on A: A stops taking writes,
     drains, verifies B, promotes it and fences itself. Every message A acknowledged with 250 is
     on B; nothing A refused is anywhere; B's INBOX UIDs have no gap.
  3. A refuses writes (LMTP 451 4.3.2, IMAP APPEND NO [UNAVAILABLE]), also after a restart
     (fencing); B takes them, and they replicate back into A.
  4. A failover that cannot be proven is refused: with A stopped, `corvid failover` on B says
     what would be lost, exits 1, and B keeps taking writes.

Usage: tests/integration/failover.py [--keep]
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
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corvid_harness import CorvidServer, Tally, free_loopback_ports, install_exit_cleanup  # noqa: E402
from rolling_common import imap_login, lmtp_reply  # noqa: E402
from store_snapshot import diff, snapshot  # noqa: E402

HOST = "127.0.0.1"
ADMIN = "cyrus"
ADMIN_PASSWORD = "repl-secret"
USER_PASSWORD = "x"


def message(n: int) -> bytes:
    return (f"From: load@example.org\r\nTo: alice@example.com\r\nSubject: load {n}\r\n"
            f"Message-ID: <load-{n}@example.org>\r\n\r\nBody {n}.\r\n").encode()


def deliver(server: CorvidServer, n: int) -> tuple[int, str]:
    return lmtp_reply(server.lmtp_port, "alice", message(n))


def imap(server: CorvidServer, user: str = "alice") -> imaplib.IMAP4:
    return imap_login(server.imap_port, user, ADMIN_PASSWORD if user == ADMIN else USER_PASSWORD)


def inbox_ids(server: CorvidServer) -> dict[int, int]:
    """Message number n (from its Message-ID) -> UID, for alice's INBOX."""
    conn = imap(server)
    try:
        conn.select("INBOX", readonly=True)
        typ, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        found = {}
        for item in data:
            if isinstance(item, tuple):
                uid = int(item[0].split(b"UID ")[1].split()[0])
                header = item[1].decode()
                if "<load-" in header:
                    found[int(header.split("<load-")[1].split("@")[0])] = uid
        return found
    finally:
        conn.logout()


def converged(a: CorvidServer, b: CorvidServer, timeout: float = 60) -> list[str]:
    snap = lambda s: snapshot(lambda u: imap(s, u), lambda: imap(s, ADMIN), users=["alice"])  # noqa: E731
    deadline = time.monotonic() + timeout
    problems = ["not compared"]
    while time.monotonic() < deadline:
        try:
            problems = diff(snap(a), snap(b))
        except (OSError, imaplib.IMAP4.error) as error:
            problems = [repr(error)]
        if not problems:
            return []
        time.sleep(0.1)  # polling interval of a bounded wait
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    install_exit_cleanup()
    tally = Tally()
    scratch = tempfile.mkdtemp(prefix="corvid-failover-")
    port_a, port_b = free_loopback_ports(2)
    common = {"admins": ADMIN, "allowplaintext": "yes", "sync_log": "1", "sync_authname": ADMIN,
              "sync_password": ADMIN_PASSWORD, "sync_reconnect_maxwait": "500ms"}
    a = CorvidServer(workdir=os.path.join(scratch, "a"),
                     extra_config={**common, "sync_listen": f"{HOST}:{port_a}", "sync_host": f"{HOST}:{port_b}"})
    b = CorvidServer(workdir=os.path.join(scratch, "b"),
                     extra_config={**common, "sync_listen": f"{HOST}:{port_b}", "sync_host": f"{HOST}:{port_a}"})
    try:
        for server, inbox in ((a, True), (b, False)):
            os.makedirs(server.workdir, exist_ok=True)
            server.add_user(ADMIN, ADMIN_PASSWORD, inbox=False)
            server.add_user("alice", USER_PASSWORD, inbox=inbox)
        fence = b.cli("fence", timeout=60)
        tally.check(fence.returncode == 0, "B starts fenced (corvid fence)", fence.stdout.decode() + fence.stderr.decode())
        b.start()
        a.start()
        for n in range(10):
            deliver(a, n)
        problems = converged(a, b)
        tally.check(not problems, "A replicates to B", "\n".join(problems[:10]))

        # 2. Failover under load.
        results: dict[int, int] = {}
        stop = threading.Event()

        def load() -> None:
            n = 1000
            while not stop.is_set():
                code, _ = deliver(a, n)
                results[n] = code
                n += 1
                time.sleep(0.01)  # pacing of the load, not synchronisation

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        time.sleep(0.5)  # let the load run before the failover starts (pacing)
        started = time.monotonic()
        failover = a.cli("failover", timeout=180)
        seconds = time.monotonic() - started
        time.sleep(0.3)  # keep the load running after the failover (pacing)
        stop.set()
        loader.join(timeout=30)
        out = (failover.stdout + failover.stderr).decode("utf-8", "replace")
        tally.check(failover.returncode == 0, f"corvid failover on A succeeds under load ({seconds:.1f}s)", out)
        accepted = sorted(n for n, code in results.items() if code == 250)
        refused = sorted(n for n, code in results.items() if code == 451)
        other = sorted(n for n, code in results.items() if code not in (250, 451))
        tally.check(accepted and refused and not other,
                    f"A answered 250 ({len(accepted)}) until the failover, then 451 ({len(refused)})",
                    f"other replies: {[(n, results[n]) for n in other][:10]}")
        on_b = inbox_ids(b)
        lost = [n for n in accepted if n not in on_b]
        tally.check(not lost, f"every message A acknowledged is on B ({len(accepted)} + 10)", f"lost: {lost[:20]}")
        tally.check(not [n for n in refused if n in on_b], "nothing A refused was kept")
        uids = sorted(on_b.values())
        tally.check(uids == list(range(1, len(uids) + 1)), "B's INBOX UIDs have no gap", f"{uids[:5]}...{uids[-5:]}")

        # 3. A is fenced (also after a restart); B takes writes and replicates them back.
        code, text = deliver(a, 5000)
        tally.check(code == 451 and "4.3.2" in text, "A refuses LMTP with 451 4.3.2", text)
        conn = imap(a)
        try:
            typ, data = conn.append("INBOX", None, None, message(5001))
            answer = f"{typ} {data}"
        except imaplib.IMAP4.error as error:
            answer = f"NO {error}"
        finally:
            conn.logout()
        tally.check(answer.startswith("NO") and "UNAVAILABLE" in answer, "A refuses APPEND with NO [UNAVAILABLE]",
                    answer)
        code, text = deliver(b, 6000)
        tally.check(code == 250, "B, the new master, takes deliveries", text)
        a.terminate(timeout=30)
        a.start()
        code, text = deliver(a, 5002)
        tally.check(code == 451, "A is still fenced after a restart", text)
        problems = converged(b, a)
        tally.check(not problems, "B replicates into A (the old master is its replica)", "\n".join(problems[:10]))

        # 4. A failover that cannot be proven is refused, and changes nothing.
        a.terminate(timeout=30)
        deliver(b, 6001)
        refused_run = b.cli("failover", "--timeout", "3", timeout=120)
        text = (refused_run.stdout + refused_run.stderr).decode("utf-8", "replace")
        tally.check(refused_run.returncode != 0 and "would lose" in text and "refused" in text,
                    "with A away, corvid failover on B is refused and says what would be lost", text[-1500:])
        code, text = deliver(b, 6002)
        tally.check(code == 250, "after the refusal B takes writes again", text)
        exit_code, _ = b.terminate(timeout=30)
        tally.check(exit_code == 0, "B stops cleanly", b.log_tail())
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
