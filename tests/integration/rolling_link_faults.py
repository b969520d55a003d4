#!/usr/bin/env python3
"""Rolling replication through a TCP proxy that cuts, refuses, resets and stalls the link.

Two real `corvid serve` processes: the master (`sync_log: 1`) reaches the replica's
`sync_listen` only through link_proxy.LinkProxy. A thread delivers mail to the master by LMTP
the whole time (alice and bob, about 20 messages a second), while the link is:
  1. up: the replica follows;
  2. cut (new connections refused, the open one reset): the master keeps retrying (counted in
     corvid_sync_failures_total{code="connect"}) and its backlog grows; restored, it catches up;
  3. refusing new connections only: the open session goes on replicating;
  4. reset while refusing, then restored;
  5. reset with the listener open: the master reconnects at once;
  6. stalled (nothing forwarded, nothing closed): the master must notice the silent replica
     within sync_timeout, drop the connection and try again (a new connection that gets no
     banner is given up too); restored, it catches up;
  7. stalled, then reset and restored.
Every "caught up" is a bounded poll of `corvid sync status` until the channel's cursor reaches
the change feed's end as it was when the link came back; at the end deliveries stop and both
stores are compared over IMAP (store_snapshot.py): equal, every acknowledged message exactly once.

Usage: tests/integration/rolling_link_faults.py [--keep]
Binary: $CORVID_BIN, else .build/debug/corvid, else .build/release/corvid.
The last line printed is 'N passed, M failed'; the exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corvid_harness import CorvidServer, Tally, free_loopback_ports, install_exit_cleanup  # noqa: E402
from link_proxy import LinkProxy  # noqa: E402
from rolling_common import (  # noqa: E402
    finish,
    HOST, imap_login, lmtp_deliver, message, metric, metrics, sync_status, wait_caught_up, wait_equal, wait_until)
from store_snapshot import snapshot, summary  # noqa: E402
from sync_interop import big_message  # noqa: E402

ADMIN = "cyrus"
ADMIN_PASSWORD = "repl-secret"
USER_PASSWORD = "x"
USERS = ["alice", "bob"]
SYNC_TIMEOUT = 3  # seconds: the master's sync_timeout, how long it waits for a silent replica
CATCH_UP = 60.0  # seconds allowed to catch up after the link comes back
DELIVERY_INTERVAL = 0.05  # pace of the delivery thread (a rate, not a synchronisation)
BIG_MIB = 8  # a message large enough to back up the master's writes when the link stalls


class Deliverer(threading.Thread):
    """Delivers to the master by LMTP until stopped; keeps what was acknowledged."""

    def __init__(self, server: CorvidServer):
        super().__init__(daemon=True, name="deliverer")
        self.server = server
        self.acked: list[tuple[int, str]] = []
        self.errors: list[str] = []
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def run(self) -> None:
        n = 0
        while not self.halt.is_set():
            user = USERS[n % len(USERS)]
            try:
                lmtp_deliver(self.server.lmtp_port, user, message(n, user, "link"))
                with self.lock:
                    self.acked.append((n, user))
            except Exception as error:  # noqa: BLE001 - reported by the test
                self.errors.append(f"message {n} to {user}: {error!r}")
            n += 1
            self.halt.wait(DELIVERY_INTERVAL)  # the delivery rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    install_exit_cleanup()
    tally = Tally()
    started = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="corvid-rolling-link-")
    sync_port = free_loopback_ports(1)[0]
    replica = CorvidServer(workdir=os.path.join(scratch, "replica"), extra_config={
        "admins": ADMIN, "allowplaintext": "yes", "sync_listen": f"{HOST}:{sync_port}",
    })
    proxy = LinkProxy((HOST, sync_port))
    proxy.start()
    master = CorvidServer(workdir=os.path.join(scratch, "master"), extra_config={
        "admins": ADMIN, "allowplaintext": "yes",
        "sync_log": "1", "sync_host": f"{HOST}:{proxy.port}",
        "sync_authname": ADMIN, "sync_password": ADMIN_PASSWORD,
        "sync_repeat_interval": "100ms", "sync_reconnect_maxwait": "1s",
        "sync_timeout": str(SYNC_TIMEOUT),
    })
    deliverer = Deliverer(master)

    def snap(server: CorvidServer) -> dict:
        return snapshot(lambda u: imap_login(server.imap_port, u, USER_PASSWORD),
                        lambda: imap_login(server.imap_port, ADMIN, ADMIN_PASSWORD), users=USERS)

    def more_deliveries(count: int, timeout: float = 60) -> bool:
        mark = deliverer.count()
        return wait_until(lambda: deliverer.count() >= mark + count, timeout)[0]

    def failures(code: str) -> float:
        return metric(metrics(master), "corvid_sync_failures_total", channel="default", code=code)

    def caught_up(name: str) -> bool:
        """The link is back: the cursor must reach the feed's end as it is now (bounded)."""
        through = sync_status(master).newest
        ok, seconds, last = wait_caught_up(master, through=through, timeout=CATCH_UP)
        return tally.check(ok, f"{name}: caught up to change {through} ({seconds:.1f}s)", last)

    try:
        os.makedirs(replica.workdir, exist_ok=True)
        replica.add_user(ADMIN, ADMIN_PASSWORD)
        master.add_user(ADMIN, ADMIN_PASSWORD, inbox=False)
        for user in USERS:
            replica.add_user(user, USER_PASSWORD, inbox=False)
            master.add_user(user, USER_PASSWORD)
        replica.start()
        master.start()
        deliverer.start()

        # 1. Up.
        tally.check(more_deliveries(10), "deliveries flow", "; ".join(deliverer.errors[:5]))
        caught_up("link up")

        # 2. Cut: refused and reset. The master retries with backoff; the backlog grows.
        before = failures("connect")
        proxy.cut()
        ok, seconds = wait_until(lambda: failures("connect") >= before + 2, 30)
        tally.check(ok and more_deliveries(20), f"link cut: the master keeps retrying "
                    f"({failures('connect') - before:.0f} refused attempts in {seconds:.1f}s) while mail arrives")
        status = sync_status(master)
        tally.check(status.backlog > 0, f"link cut: the backlog grows ({status.backlog} changes)", status.text)
        proxy.restore()
        caught_up("link restored after a cut")

        # 3. Refusing new connections only: the open session keeps replicating.
        accepted = proxy.accepted
        proxy.refuse()
        more_deliveries(10)
        caught_up("new connections refused, the open one kept")
        tally.check(proxy.accepted == accepted and proxy.open_connections() >= 1,
                    "the open session carried the changes (no new connection)",
                    f"accepted {accepted} -> {proxy.accepted}, open {proxy.open_connections()}")

        # 4. Then the open connection is reset too; restored later.
        proxy.drop()
        more_deliveries(20)
        proxy.restore()
        caught_up("reset while refusing, then restored")

        # 5. Reset with the listener open: the master reconnects at once.
        accepted = proxy.accepted
        proxy.drop()
        more_deliveries(5)
        ok, seconds = wait_until(lambda: proxy.accepted > accepted, 30)
        tally.check(ok, f"connection reset: the master reconnects ({seconds:.1f}s)")
        caught_up("after a reset")

        # 6. Stall: nothing forwarded, nothing closed. The master must give up on the silent
        # replica within sync_timeout and try again.
        closed, accepted = proxy.closed_by_client, proxy.accepted
        proxy.stall()
        stalled_at = time.monotonic()
        ok, seconds = wait_until(lambda: proxy.closed_by_client > closed, SYNC_TIMEOUT * 3 + 10)
        tally.check(ok, f"stalled link detected: the master dropped the silent connection after {seconds:.1f}s "
                    f"(sync_timeout {SYNC_TIMEOUT}s)",
                    f"no connection closed by the master within {seconds:.0f}s of the stall; "
                    f"{proxy.open_connections()} connections open, {proxy.accepted - accepted} new; "
                    f"master log:\n{master.log_tail(1500)}")
        if ok:
            ok, seconds = wait_until(lambda: proxy.accepted > accepted and proxy.closed_by_client > closed + 1,
                                     SYNC_TIMEOUT * 3 + 10)
            tally.check(ok, "stalled link: a new connection with no banner is given up too "
                        f"({time.monotonic() - stalled_at:.1f}s after the stall)",
                        f"{proxy.accepted - accepted} new connections, "
                        f"{proxy.closed_by_client - closed} closed by the master")
        status = sync_status(master)
        tally.check(status.backlog > 0, f"stalled link: the backlog grows ({status.backlog} changes)", status.text)
        proxy.restore()
        caught_up("stall lifted")

        # 6b. Stalled in the middle of a large upload: the master's writes back up (the proxy
        # reads nothing), and it must give up all the same.
        closed = proxy.closed_by_client
        proxy.stall_after(256 * 1024)
        lmtp_deliver(master.lmtp_port, "alice", big_message(BIG_MIB))
        with deliverer.lock:
            deliverer.acked.append((-1, "alice"))
        ok, _ = wait_until(lambda: proxy.stalled, 30)
        tally.check(ok, f"the link stalls {256} KiB into the {BIG_MIB} MiB upload")
        ok, seconds = wait_until(lambda: proxy.closed_by_client > closed, SYNC_TIMEOUT * 3 + 10)
        tally.check(ok, f"stalled during a {BIG_MIB} MiB upload: the master gave up after {seconds:.1f}s",
                    f"{proxy.open_connections()} connections open; master log:\n{master.log_tail(1500)}")
        proxy.restore()
        caught_up("stall during an upload lifted")

        # 7. Stalled, then reset and restored.
        proxy.stall()
        more_deliveries(10)
        proxy.cut()
        more_deliveries(5)
        proxy.restore()
        caught_up("stall ended by a reset")

        # Convergence: deliveries stop; both stores compare equal over IMAP.
        deliverer.halt.set()
        deliverer.join(timeout=60)
        tally.check(not deliverer.errors, f"every LMTP delivery to the master was acknowledged "
                    f"({len(deliverer.acked)})", "; ".join(deliverer.errors[:5]))
        ok, seconds, last = wait_caught_up(master, timeout=CATCH_UP)
        tally.check(ok, f"backlog 0, nothing retrying ({seconds:.1f}s)", last)
        equal, seconds, problems, state = wait_equal(lambda: snap(master), lambda: snap(replica), timeout=CATCH_UP)
        tally.check(equal, f"master and replica compare equal over IMAP ({seconds:.1f}s)", "\n".join(problems[:20]))
        if state is not None:
            for user in USERS:
                inbox = state["users"][user]["folders"].get("INBOX", {}).get("messages", {})
                wanted = sum(1 for _, u in deliverer.acked if u == user)
                distinct = len({m["sha1"] for m in inbox.values()})
                tally.check(len(inbox) == wanted and distinct == wanted,
                            f"{user}: every acknowledged message exactly once ({wanted})",
                            f"{len(inbox)} messages, {distinct} distinct, {wanted} acknowledged; {summary(state)}")
        text = metrics(master)
        codes = {code: metric(text, "corvid_sync_failures_total", channel="default", code=code)
                 for code in ("connect", "connectionClosed", "timedOut")}
        tally.check(all(v > 0 for v in codes.values()), f"/metrics counts the failures by code {codes}",
                    "\n".join(line for line in text.splitlines() if "corvid_sync_failures" in line))
        for server, name in ((master, "master"), (replica, "replica")):
            code, stopped = server.terminate(timeout=30)
            tally.check(code == 0, f"SIGTERM: the {name} exits 0 ({stopped:.1f}s)", server.log_tail())
            healthy, output = server.check()
            tally.check(healthy, f"corvid check on the {name}", output.strip())
    except Exception:
        tally.check(False, "scenario ran to the end", traceback.format_exc())
    finally:
        deliverer.halt.set()
        proxy.stop()
        print(f"proxy: {proxy.accepted} connections accepted, {proxy.closed_by_client} closed by the master, "
              f"{proxy.bytes_forwarded} bytes forwarded; runtime {time.monotonic() - started:.1f}s", flush=True)
        exit_status = finish(tally, scratch, [master, replica], args.keep)
    return exit_status


if __name__ == "__main__":
    sys.exit(main())
