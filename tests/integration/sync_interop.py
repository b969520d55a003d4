#!/usr/bin/env python3
"""Replication interop scenario: a master's mail state must arrive intact on a replica over csync.

    tests/integration/sync_interop.py --master cyrus --replica cyrus     (works today)
    tests/integration/sync_interop.py --master cyrus --replica corvid    (Corvid's sync server)
    tests/integration/sync_interop.py --master corvid --replica cyrus    (`corvid sync`)

The master is changed over standard IMAP (and LMTP for INBOX deliveries), replicated one-shot per
user (Cyrus: `sync_client -u alice bob`; Corvid: `corvid sync -C conf -S host:port -u USER`), and
after every pass both servers are snapshotted over IMAP (store_snapshot.py) and must be equal.

Passes:
  1. initial: users alice and bob; a 3-level tree (Projects/2026/Q4), "Sent Items", a non-ASCII
     folder (Entwürfe, modified UTF-7 on the wire), an empty folder; ~50 messages of assorted
     sizes (LMTP into INBOX, APPEND with flags and INTERNALDATE elsewhere) and one 20 MiB message;
     \\Seen \\Flagged \\Answered $Label1 Custom; bob has lrs on alice's "Shared" and marks some
     seen (per-user \\Seen of a non-owner); subscriptions; ACLs; a quota on alice; METADATA.
  2. incremental: flag changes, expunges, rename of a subtree, a folder delete, delete and
     re-create of one name, new deliveries, unsubscribe, ACL/quota/metadata changes.
  3. empty mailboxes: a folder emptied by EXPUNGE, a new user carol with only an empty INBOX.
  4. no changes: a repeated sync must change nothing on the replica.
Finally the replica's UIDVALIDITYs must never have changed for a surviving folder (renames
included), and the harness proves it can see a difference: an unsynced flag change on the master
must be the diff's only line, and pass 5 must clear it. Each step is a named check:
`ok NAME` / `FAIL NAME: detail`; timings are printed. Snapshots of every pass are written to the
scratch directory (kept on failure or with --keep), and each sync_client run's `-v -v` output
to cyrus-master/sync_client.N.log.

    tests/integration/sync_interop.py --imap-parity
feeds the same operations to a Cyrus and a Corvid server without replication and diffs them,
ignoring values each server picks itself: the IMAP-level differences a cross-implementation
replication comparison will also see.

Plugging Corvid in: CorvidPeer. A replica is a CorvidServer with `sync_listen`, `admins: cyrus`,
`allowplaintext: yes`, user `cyrus` with the master's sync_password, and the scenario's users
(password "x") for the snapshot's IMAP logins; it counts as available once sync_listen answers
with a csync banner (a line starting `* OK`). A master runs `corvid sync -C conf -S host:port
-u USER` per user and counts as available once `corvid --help` lists a `sync` subcommand.

Needs root (Cyrus runs as the cyrus user) and the Debian packages cyrus-imapd,
cyrus-replication, sasl2-bin (.ci/run installs them).
The last line printed is 'N passed, M failed'; the exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import imaplib
import json
import os
import poplib
import re
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corvid_harness import (  # noqa: E402
    CorvidServer, LMTPClient, Tally, free_loopback_ports, install_exit_cleanup)
from cyrus_peer import ADMIN, ADMIN_PASSWORD, HOST, CyrusError, CyrusInstance, cyrus_missing  # noqa: E402
from store_snapshot import Raw, diff, mutf7_encode, quote, snapshot, summary  # noqa: E402

USER_PASSWORD = "x"  # Cyrus accepts anything (alwaystrue); Corvid users are created with it
ENTWUERFE = mutf7_encode("Entwürfe")  # "Entw&APw-rfe"


class NotAvailable(Exception):
    """This side of the scenario cannot run yet (reported as one FAIL, not a crash)."""


# -- peers ----------------------------------------------------------------------------------
#
# A peer offers: start(), stop(keep), imap(user), admin(), create_user(name), deliver(user, bytes),
# and a replica additionally `sync_address` (host, port); a master `sync(users, replica)`.


class CyrusPeer:
    def __init__(self, role: str, scratch: str, replica_address: tuple[str, int] | None = None,
                 delete_mode: str = "delayed", expunge_mode: str = "delayed", imap_flavour: bool = False):
        missing = cyrus_missing()
        if missing:
            raise NotAvailable(f"Cyrus cannot run: {missing}")
        self.name = f"cyrus-{role}"
        self.inst = CyrusInstance(role, workdir=os.path.join(scratch, self.name),
                                  sync_target=replica_address,
                                  telemetry_users=(ADMIN,) if role == "replica" else (),
                                  delete_mode=delete_mode, expunge_mode=expunge_mode,
                                  sync_try_imap=imap_flavour)

    @property
    def sync_address(self) -> tuple[str, int]:
        return HOST, self.inst.sync_port

    @property
    def imap_address(self) -> tuple[str, int]:
        return HOST, self.inst.imap_port

    def start(self) -> None:
        self.inst.start()

    def stop(self, keep: bool) -> None:
        self.inst.cleanup(keep=keep)

    def imap(self, user: str) -> imaplib.IMAP4:
        return self.inst.imap(user)

    def admin(self) -> imaplib.IMAP4:
        return self.inst.admin()

    def create_user(self, name: str) -> None:
        self.inst.create_user(name)

    def prepare_replica_user(self, name: str) -> None:
        """Nothing: a Cyrus replica creates mailboxes from the stream; alwaystrue lets anyone in."""

    def deliver(self, user: str, message: bytes) -> None:
        self.inst.deliver(user, message)

    def sync(self, users: list[str], replica) -> tuple[bool, str]:
        result = self.inst.run_sync_client(["-u", *users])
        # -v -v output: '>' sent / '<' received lines, message literals, syslog-style lines
        errors = [line[:300] for line in result.stdout.splitlines()
                  if (line.startswith("<") and "<NO " in line) or line.startswith(("cyrus/sync_client[", "Error"))]
        errors = [e for e in errors if "skipstamp" not in e]  # harmless first-run DBERROR
        return result.returncode == 0, (f"sync_client exit {result.returncode} "
                                        f"(full output: {self.inst.sync_runs[-1]['log']}); "
                                        "errors:\n  " + "\n  ".join(errors[:12]))


class CorvidPeer:
    """A Corvid `serve` as replica (sync_listen) or master (`corvid sync`).

    Replica: CorvidServer with `sync_listen: 127.0.0.1:PORT`, `admins: cyrus`, `allowplaintext:
    yes`; user `cyrus` (password = the master's sync_password) and the scenario's users (for IMAP
    logins of the snapshot) are added with `corvid user add` before the first sync.
    Master: CorvidServer with `admins: cyrus`; replicates with
    `corvid sync -C conf -S host:port -u USER` (one run per user)."""

    def __init__(self, role: str, scratch: str, replica_address: tuple[str, int] | None = None, **_cyrus_only):
        self.name = f"corvid-{role}"
        self.role = role
        self.replica_address = replica_address
        self.sync_port = free_loopback_ports(1)[0]
        extra = {"admins": ADMIN, "allowplaintext": "yes"}
        if role == "replica":
            extra["sync_listen"] = f"{HOST}:{self.sync_port}"
        else:  # `corvid sync` logs in to the replica as its admin, as a Cyrus master does
            extra.update({"sync_authname": ADMIN, "sync_password": ADMIN_PASSWORD})
            if replica_address is not None:  # for `corvid check --replica` (no sync_log: no rolling)
                extra["sync_host"] = f"{replica_address[0]}:{replica_address[1]}"
        try:
            self.server = CorvidServer(workdir=os.path.join(scratch, self.name), extra_config=extra)
        except SystemExit as error:  # corvid_binary() exits when there is no binary
            raise NotAvailable(f"Corvid {role} not available yet: {error}")

    @property
    def sync_address(self) -> tuple[str, int]:
        return HOST, self.sync_port

    @property
    def imap_address(self) -> tuple[str, int]:
        return HOST, self.server.imap_port

    def start(self, probe_sync: bool = True) -> None:
        os.makedirs(self.server.workdir, exist_ok=True)
        self.server.add_user(ADMIN, ADMIN_PASSWORD, inbox=False)  # an admin account, no mail
        self.server.start()
        if not probe_sync:
            return
        if self.role == "replica":
            banner = self._csync_banner()
            if banner is None:
                raise NotAvailable("Corvid replica not available yet: no csync banner on "
                                   f"sync_listen {HOST}:{self.sync_port} (Corvid's sync server is not in this build)")
        else:
            # `corvid sync --help` exits 0 with the top-level help when there is no such
            # subcommand, so look for it in the SUBCOMMANDS list instead.
            probe = subprocess.run([self.server.binary, "--help"], capture_output=True, timeout=60)
            listed = any(line.split()[:1] == [b"sync"] for line in probe.stdout.splitlines())
            if not listed:
                raise NotAvailable("Corvid master not available yet: `corvid --help` lists no `sync` "
                                   "subcommand (`corvid sync` is not in this build)")

    def _csync_banner(self, timeout: float = 10) -> bytes | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.sync_port), timeout=3) as s:
                    data = b""
                    while b"\r\n* OK" not in b"\r\n" + data:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if b"* OK" in data:
                        return data
            except OSError:
                pass
            time.sleep(0.1)  # polling interval of a bounded readiness loop
        return None

    def stop(self, keep: bool) -> None:
        self.server.cleanup(keep=keep)

    def imap(self, user: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(HOST, self.server.imap_port, timeout=120)
        conn.login(user, ADMIN_PASSWORD if user == ADMIN else USER_PASSWORD)
        return conn

    def admin(self) -> imaplib.IMAP4:
        return self.imap(ADMIN)

    def create_user(self, name: str) -> None:
        self.server.add_user(name, USER_PASSWORD)

    def prepare_replica_user(self, name: str) -> None:
        # The account only: the user's mailboxes arrive by replication (an INBOX made here
        # would carry another uniqueid than the master's).
        self.server.add_user(name, USER_PASSWORD, inbox=False)

    def deliver(self, user: str, message: bytes) -> None:
        client, greeting = LMTPClient.connect(self.server.lmtp_port)
        try:
            client.lhlo()
            result = client.transaction("sender@example.org", [f"{user}@example.com"], message)
            final = result.outcome(0)
            if final is None or final.code != 250:
                raise RuntimeError(f"LMTP delivery to {user}: {final}")
        finally:
            client.close()

    def sync(self, users: list[str], replica) -> tuple[bool, str]:
        host, port = replica.sync_address
        outputs, ok = [], True
        for user in users:
            result = self.server.cli("sync", "-S", f"{host}:{port}", "-u", user, timeout=600)
            text = (result.stdout + result.stderr).decode("utf-8", "replace")
            outputs.append(f"$ corvid sync -u {user}: exit {result.returncode}\n{text[-1500:]}")
            ok = ok and result.returncode == 0
        return ok, "\n".join(outputs)


    def check_replica(self, repair: bool = False) -> tuple[int, str]:
        """`corvid check --replica [--repair]`: (exit status, output)."""
        result = self.server.cli("check", "--replica", *(["--repair"] if repair else []), timeout=600)
        return result.returncode, (result.stdout + result.stderr).decode("utf-8", "replace")

    def sync_all(self, replica) -> tuple[bool, str]:
        """`corvid sync -A`: every user, shared mailboxes, server annotations."""
        host, port = replica.sync_address
        result = self.server.cli("sync", "-S", f"{host}:{port}", "-A", timeout=600)
        text = (result.stdout + result.stderr).decode("utf-8", "replace")
        return result.returncode == 0, f"$ corvid sync -A: exit {result.returncode}\n{text[-1500:]}"


PEERS = {"cyrus": CyrusPeer, "corvid": CorvidPeer}


# -- IMAP helpers for changing the master ----------------------------------------------------


def cmd(conn: imaplib.IMAP4, *parts) -> list:
    """One raw IMAP command on an imaplib connection; raises on NO/BAD."""
    return Raw(conn).command(*parts)


def literal(data: bytes) -> bytes:
    """A non-synchronising literal (LITERAL+, RFC 7888) usable inside a raw command line."""
    return b"{%d+}\r\n" % len(data) + data


def append(conn: imaplib.IMAP4, folder: str, message: bytes, flags: str = "", date: int | None = None) -> None:
    parts = [b"APPEND", quote(folder)]
    if flags:
        parts.append(f"({flags})".encode())
    if date is not None:
        parts.append(imaplib.Time2Internaldate(date).encode())
    parts.append(literal(message))
    cmd(conn, *parts)


def make_message(rnd: random.Random, tag: str, size: int, eight_bit: bool = False) -> bytes:
    head = (f"From: Sender {tag} <sender@example.org>\r\nTo: someone@example.com\r\n"
            f"Subject: {tag}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{tag}.{rnd.getrandbits(48):x}@example.org>\r\nMIME-Version: 1.0\r\n")
    if eight_bit:
        head += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    head += "\r\n"
    out = bytearray(head.encode())
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 " + ("äöüßé€" if eight_bit else "")
    while len(out) < size:
        out += ("".join(rnd.choice(alphabet) for _ in range(76)) + "\r\n").encode("utf-8")
    return bytes(out)


def big_message(mib: int) -> bytes:
    """A deterministic MIME message of about `mib` MiB (base64 lines of a SHA-1 stream)."""
    head = (b"From: Big <big@example.org>\r\nTo: alice@example.com\r\nSubject: big attachment\r\n"
            b"Message-ID: <big.20mib@example.org>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    line_count = (mib * 1024 * 1024) // 78
    seed = hashlib.sha1(b"big").digest()
    lines = []
    block = b""
    for i in range(line_count):
        if len(block) < 57:
            seed = hashlib.sha1(seed).digest()
            block += seed * 3
        lines.append(base64.b64encode(block[:57]) + b"\r\n")
        block = block[57:]
    return head + b"".join(lines)


# -- the scenario ----------------------------------------------------------------------------


class Scenario:
    def __init__(self, master, replica, tally: Tally, scratch: str, big_mib: int):
        self.m = master
        self.r = replica
        self.t = tally
        self.scratch = scratch
        self.big_mib = big_mib
        self.rnd = random.Random(20261123)
        self.users = ["alice", "bob"]
        self.replica_snaps: list[dict] = []
        self.timings: list[tuple[str, float]] = []
        self.counter = 0

    # helpers
    def step(self, name: str, fn, *args) -> bool:
        started = time.monotonic()
        try:
            fn(*args)
            ok, detail = True, ""
        except Exception as error:  # noqa: BLE001 - a failed step is a failed check
            ok, detail = False, f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}"
        self.timings.append((name, time.monotonic() - started))
        return self.t.check(ok, name, detail)

    def msg(self, tag: str, size: int | None = None, eight_bit: bool = False) -> bytes:
        self.counter += 1
        if size is None:
            size = self.rnd.choice([300, 700, 1500, 4000, 9000, 30000, 120000, 400000])
        return make_message(self.rnd, f"{tag} #{self.counter}", size, eight_bit)

    def as_user(self, user: str, fn) -> None:
        conn = self.m.imap(user)
        try:
            fn(conn)
        finally:
            conn.logout()

    def as_admin(self, fn) -> None:
        conn = self.m.admin()
        try:
            fn(conn)
        finally:
            conn.logout()

    # pass 1 ------------------------------------------------------------------------------
    def create_users(self) -> None:
        for user in self.users:
            self.m.create_user(user)
            self.r.prepare_replica_user(user)

    ALICE_FOLDERS = ["Sent Items", "Projects", "Projects/2026", "Projects/2026/Q4", ENTWUERFE,
                     "Empty", "Shared", "Archive", "Archive/Old", "Trash"]

    def create_folders(self) -> None:
        def alice(c):
            for f in self.ALICE_FOLDERS:
                cmd(c, "CREATE", quote(f))

        def bob(c):
            for f in ("Sent Items", "Notes"):
                cmd(c, "CREATE", quote(f))
        self.as_user("alice", alice)
        self.as_user("bob", bob)

    def fill(self) -> None:
        for i in range(16):
            self.m.deliver("alice", self.msg("alice inbox"))
        for i in range(4):
            self.m.deliver("bob", self.msg("bob inbox"))
        base = 1790000000
        plan = [("Sent Items", 6, "\\Seen"), ("Projects", 3, ""), ("Projects/2026", 3, "\\Flagged"),
                ("Projects/2026/Q4", 4, "$Label1"), (ENTWUERFE, 3, "\\Draft"), ("Shared", 6, ""),
                ("Archive", 5, "\\Seen \\Answered"), ("Archive/Old", 2, "\\Seen"), ("Trash", 2, "\\Deleted")]

        def alice(c):
            n = 0
            for folder, count, flags in plan:
                for _ in range(count):
                    n += 1
                    append(c, folder, self.msg(f"alice {folder}", eight_bit=(folder == ENTWUERFE)),
                           flags, base + n * 3600)

        def bob(c):
            for k in range(3):
                append(c, "Sent Items", self.msg("bob sent"), "\\Seen", base + k * 7200)
            append(c, "Notes", self.msg("bob note", 2000, eight_bit=True), "Custom", base)
        self.as_user("alice", alice)
        self.as_user("bob", bob)

    def big(self) -> None:
        self.m.deliver("alice", big_message(self.big_mib))

    def flags(self) -> None:
        def alice(c):
            cmd(c, "SELECT", "INBOX")
            cmd(c, "UID STORE 1:5 +FLAGS.SILENT (\\Seen)")
            cmd(c, "UID STORE 2,4 +FLAGS.SILENT (\\Flagged)")
            cmd(c, "UID STORE 3 +FLAGS.SILENT (\\Answered \\Seen)")
            cmd(c, "UID STORE 6:8 +FLAGS.SILENT ($Label1)")
            cmd(c, "UID STORE 7,9,11 +FLAGS.SILENT (Custom)")
            cmd(c, "CLOSE")
        self.as_user("alice", alice)

    def shared_seen(self) -> None:
        def alice(c):
            cmd(c, "SETACL", quote("Shared"), "bob", "lrs")
        self.as_user("alice", alice)

        def bob(c):
            cmd(c, "SELECT", quote("Other Users/alice/Shared"))
            cmd(c, "UID STORE 1,3,5 +FLAGS.SILENT (\\Seen)")
            cmd(c, "CLOSE")
        self.as_user("bob", bob)

    def subscriptions(self) -> None:
        def alice(c):
            for f in ("INBOX", "Sent Items", "Projects/2026", ENTWUERFE, "Archive"):
                cmd(c, "SUBSCRIBE", quote(f))

        def bob(c):
            for f in ("INBOX", "Notes", "Other Users/alice/Shared"):
                cmd(c, "SUBSCRIBE", quote(f))
        self.as_user("alice", alice)
        self.as_user("bob", bob)

    def acls(self) -> None:
        def alice(c):
            cmd(c, "SETACL", quote("Projects"), "bob", "lr")
            cmd(c, "SETACL", quote("Projects/2026"), "bob", "lrswi")
            cmd(c, "SETACL", quote("Archive"), "anyone", "l")
        self.as_user("alice", alice)

    def quota(self) -> None:
        self.as_admin(lambda c: cmd(c, "SETQUOTA", quote("user/alice"), "(STORAGE 300000)"))

    def metadata(self) -> None:
        def alice(c):
            cmd(c, "SETMETADATA", "INBOX", '(/private/comment "inbox, private" /shared/comment "inbox, shared")')
            cmd(c, "SETMETADATA", quote("Projects/2026"),
                b"(/shared/comment " + literal("Planung für 2026 – Entwürfe".encode()) + b")")
            cmd(c, "SETMETADATA", quote(ENTWUERFE), '(/private/comment "drafts")')

        def bob(c):
            cmd(c, "SETMETADATA", "INBOX", '(/private/comment "bob private")')
            cmd(c, "SETMETADATA", quote("Other Users/alice/Shared"), '(/private/comment "bob on alice")')
        self.as_user("alice", alice)
        self.as_user("bob", bob)

    # pass 2 ------------------------------------------------------------------------------
    def flag_changes(self) -> None:
        def alice(c):
            cmd(c, "SELECT", "INBOX")
            cmd(c, "UID STORE 1,2 -FLAGS.SILENT (\\Seen)")
            cmd(c, "UID STORE 6 -FLAGS.SILENT ($Label1)")
            cmd(c, "UID STORE 7 -FLAGS.SILENT (Custom)")
            cmd(c, "UID STORE 10:12 +FLAGS.SILENT ($Label1 \\Flagged)")
            cmd(c, "CLOSE")
        self.as_user("alice", alice)

        def bob(c):
            cmd(c, "SELECT", quote("Other Users/alice/Shared"))
            cmd(c, "UID STORE 1 -FLAGS.SILENT (\\Seen)")
            cmd(c, "UID STORE 2,6 +FLAGS.SILENT (\\Seen)")
            cmd(c, "CLOSE")
        self.as_user("bob", bob)

    def expunges(self) -> None:
        def alice(c):
            cmd(c, "SELECT", "INBOX")
            cmd(c, "UID STORE 3,8,13 +FLAGS.SILENT (\\Deleted)")
            cmd(c, "EXPUNGE")
            cmd(c, "CLOSE")
            cmd(c, "SELECT", "Archive")
            cmd(c, "UID STORE 1 +FLAGS.SILENT (\\Deleted)")
            cmd(c, "CLOSE")  # CLOSE expunges too
        self.as_user("alice", alice)

    def rename_subtree(self) -> None:
        self.as_user("alice", lambda c: cmd(c, "RENAME", quote("Projects"), quote("Clients")))

    def delete_folder(self) -> None:
        self.as_user("alice", lambda c: cmd(c, "DELETE", quote("Trash")))

    def delete_recreate(self) -> None:
        def alice(c):
            cmd(c, "DELETE", quote("Archive/Old"))
            cmd(c, "CREATE", quote("Archive/Old"))
            append(c, "Archive/Old", self.msg("alice re-created"), "", 1790500000)
        self.as_user("alice", alice)

    def new_deliveries(self) -> None:
        for _ in range(5):
            self.m.deliver("alice", self.msg("alice new"))
        for _ in range(2):
            self.m.deliver("bob", self.msg("bob new"))

    def unsubscribe(self) -> None:
        self.as_user("alice", lambda c: cmd(c, "UNSUBSCRIBE", quote("Sent Items")))
        self.as_user("bob", lambda c: cmd(c, "UNSUBSCRIBE", quote("Notes")))

    def acl_quota_metadata_changes(self) -> None:
        def alice(c):
            cmd(c, "DELETEACL", quote("Clients"), "bob")
            cmd(c, "SETACL", quote("Shared"), "bob", "lrsw")
            cmd(c, "SETMETADATA", "INBOX", '(/shared/comment "inbox, shared v2" /private/comment NIL)')
        self.as_user("alice", alice)
        self.as_admin(lambda c: cmd(c, "SETQUOTA", quote("user/alice"), "(STORAGE 400000)"))

    # pass 3 ------------------------------------------------------------------------------
    def empty_folder(self) -> None:
        def bob(c):
            cmd(c, "SELECT", quote("Sent Items"))
            cmd(c, "UID STORE 1:* +FLAGS.SILENT (\\Deleted)")
            cmd(c, "CLOSE")
        self.as_user("bob", bob)

    def new_empty_user(self) -> None:
        self.m.create_user("carol")
        self.r.prepare_replica_user("carol")
        self.users.append("carol")

    # sync + compare ------------------------------------------------------------------------
    def sync_and_compare(self, label: str, expect_unchanged: dict | None = None) -> dict | None:
        started = time.monotonic()
        ok, detail = self.m.sync(self.users, self.r)
        seconds = time.monotonic() - started
        self.timings.append((f"{label}: sync {' '.join(self.users)}", seconds))
        self.t.check(ok, f"{label}: sync of {', '.join(self.users)} succeeds ({seconds:.2f}s)", detail)
        started = time.monotonic()
        try:
            sm = snapshot(self.m.imap, self.m.admin, self.users)
            sr = snapshot(self.r.imap, self.r.admin, self.users)
        except Exception as error:  # noqa: BLE001
            self.t.check(False, f"{label}: snapshots of both servers",
                         f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=4)}")
            return None
        self.timings.append((f"{label}: snapshot both", time.monotonic() - started))
        for side, snap in (("master", sm), ("replica", sr)):
            with open(os.path.join(self.scratch, f"{label.replace(' ', '_')}.{side}.json"), "w") as f:
                json.dump(snap, f, indent=1, ensure_ascii=False, sort_keys=True)
        problems = diff(sm, sr, self.m.name, self.r.name)
        shown = "\n  ".join(problems[:20]) + (f"\n  ... {len(problems) - 20} more" if len(problems) > 20 else "")
        self.t.check(not problems, f"{label}: replica equals master ({summary(sm)})",
                     f"{len(problems)} differences:\n  {shown}")
        if expect_unchanged is not None:
            same = diff(expect_unchanged, sr, "replica before", "replica after")
            self.t.check(not same, f"{label}: a sync without changes changes nothing on the replica",
                         "\n  ".join(same[:20]))
        self.replica_snaps.append(sr)
        return sr

    def pop3_uidl_after_failover(self) -> None:
        """A Corvid replica's POP3 UIDL values are the master's (Cyrus's UIDVALIDITY.UID form), so a
        client that leaves mail on the server downloads nothing twice after a failover."""
        server = getattr(self.r, "server", None)
        if server is None or not hasattr(server, "pop3_port"):
            return
        conn = self.m.imap("alice")
        try:
            typ, data = conn.select("INBOX", readonly=True)
            validity = re.search(rb"UIDVALIDITY (\d+)", b" ".join(conn.untagged_responses.get("OK", [])))
            typ, uids = conn.uid("SEARCH", None, "ALL")
        finally:
            conn.logout()
        expected = [f"{validity.group(1).decode()}.{uid.decode()}" for uid in uids[0].split()] if validity else []
        pop = poplib.POP3(HOST, server.pop3_port, timeout=60)
        try:
            pop.user("alice")
            pop.pass_(USER_PASSWORD)
            listed = [line.split()[1].decode() for line in pop.uidl()[1]]
        finally:
            pop.quit()
        self.t.check(bool(expected) and listed == expected,
                     "pass 1: POP3 UIDL on the replica equals the master's UIDVALIDITY.UID (nothing fetched twice after failover)",
                     f"replica {listed[:5]}... master {expected[:5]}...")

    def uidvalidity_stable(self) -> None:
        """Replica UIDVALIDITY per surviving folder never changes across passes; renamed folders
        keep theirs (Projects/... became Clients/...); the re-created Archive/Old is exempt."""
        renames = {"Projects": "Clients", "Projects/2026": "Clients/2026", "Projects/2026/Q4": "Clients/2026/Q4"}
        exempt = {("alice", "Archive/Old")}
        problems, compared = [], 0
        for before, after in zip(self.replica_snaps, self.replica_snaps[1:]):
            for user, data in before["users"].items():
                later = after["users"].get(user)
                if later is None:
                    problems.append(f"user {user} vanished")
                    continue
                for name, folder in data["folders"].items():
                    if (user, name) in exempt or "uidvalidity" not in folder:
                        continue
                    new_name = renames.get(name, name) if user == "alice" else name
                    other = later["folders"].get(new_name)
                    if other is None:
                        continue  # deleted on purpose (Trash) - the snapshot diff covers it
                    compared += 1
                    if other.get("uidvalidity") != folder["uidvalidity"]:
                        problems.append(f"{user} {name} -> {new_name}: {folder['uidvalidity']} -> "
                                        f"{other.get('uidvalidity')}")
        self.t.check(not problems and compared > 0,
                     f"replica UIDVALIDITY unchanged across {len(self.replica_snaps)} passes "
                     f"({compared} folder comparisons, renames included)",
                     "; ".join(problems) or "nothing compared")

    def detects_differences(self) -> None:
        """The harness itself: an unsynced change on the master must show up in the diff, naming
        the flag, and the next sync must clear it."""
        def alice(c):
            cmd(c, "SELECT", "INBOX")
            cmd(c, "UID STORE 1 +FLAGS.SILENT ($HarnessProbe)")
            cmd(c, "CLOSE")
        if not self.step("harness: unsynced flag change on the master", self.as_user, "alice", alice):
            return
        try:
            problems = diff(snapshot(self.m.imap, self.m.admin, self.users),
                            snapshot(self.r.imap, self.r.admin, self.users), self.m.name, self.r.name)
        except Exception as error:  # noqa: BLE001
            self.t.check(False, "harness: the diff reports the unsynced change", repr(error))
            return
        self.t.check(len(problems) == 1 and "$HarnessProbe" in problems[0],
                     "harness: the diff reports exactly the unsynced change",
                     f"{len(problems)} differences: {problems[:5]}")
        self.sync_and_compare("pass 5 (after the probe)")

    def split_brain(self) -> None:
        """Both sides take writes while apart (sync-protocol §5.4, replication-scenarios): the
        replica gets an APPEND under the UID the master also uses next (split brain), a message
        in another folder, and a newer flag; the master gets its own APPEND and flag. The next
        sync must keep every message on both sides, exactly once, without changing UIDVALIDITY."""
        before = snapshot(self.m.imap, self.m.admin, self.users)
        self.split_messages = {
            "replica-inbox": self.msg("split brain, replica side", 900),
            "master-inbox": self.msg("split brain, master side", 900),
            "replica-sent": self.msg("replica only, Sent Items", 700),
        }

        def on(peer, user, fn):
            conn = peer.imap(user)
            try:
                fn(conn)
            finally:
                conn.logout()

        # A Corvid master also copies back folders made only on the replica (issue 6 (e)); a
        # Cyrus master leaves those to an administrator, so only Corvid masters are given one.
        self.split_folder = "Made on replica" if hasattr(self.m, "sync_all") else None
        if self.split_folder:
            self.split_messages["replica-folder"] = self.msg("replica only, new folder", 500)

        def replica(c):
            if self.split_folder:
                cmd(c, b"CREATE", quote(self.split_folder))
                append(c, self.split_folder, self.split_messages["replica-folder"], "\\Flagged", 1_790_000_300)
            append(c, "INBOX", self.split_messages["replica-inbox"], "\\Seen", 1_790_000_000)
            append(c, "Sent Items", self.split_messages["replica-sent"], "", 1_790_000_100)
            cmd(c, "SELECT", "INBOX")
            cmd(c, "UID STORE 1:* +FLAGS.SILENT ($ReplicaSide)")
            cmd(c, "CLOSE")

        def master(c):
            append(c, "INBOX", self.split_messages["master-inbox"], "\\Flagged", 1_790_000_200)
            cmd(c, b"SELECT", quote("Sent Items"))
            cmd(c, "UID STORE 1:* +FLAGS.SILENT ($MasterSide)")
            cmd(c, "CLOSE")

        on(self.r, "alice", replica)
        on(self.m, "alice", master)
        self.split_before = before

    def split_brain_outcome(self, after: dict | None) -> None:
        if after is None or not hasattr(self, "split_before"):
            return
        master = snapshot(self.m.imap, self.m.admin, self.users)
        wanted = {tag: hashlib.sha1(body).hexdigest() for tag, body in self.split_messages.items()}
        alice = master["users"]["alice"]["folders"]
        counts = {tag: sum(1 for folder in alice.values() for m in folder.get("messages", {}).values()
                           if m.get("sha1") == sha) for tag, sha in wanted.items()}
        self.t.check(all(n == 1 for n in counts.values()),
                     "pass 6: every message of both sides is on the master exactly once (copy-back, renumbering)",
                     f"{counts}")
        old = self.split_before["users"]["alice"]["folders"]
        changed = [name for name in ("INBOX", "Sent Items")
                   if old.get(name, {}).get("uidvalidity") != alice.get(name, {}).get("uidvalidity")]
        self.t.check(not changed, "pass 6: UIDVALIDITY unchanged by the split-brain merge", f"changed: {changed}")
        inbox = alice.get("INBOX", {}).get("messages", {})
        flagged = [uid for uid, m in inbox.items() if "$ReplicaSide" in m.get("flags", [])]
        self.t.check(len(flagged) >= 1, "pass 6: the replica's newer flags reached the master",
                     f"{len(flagged)} INBOX messages carry $ReplicaSide")

    def run(self) -> None:
        s = self.step
        s("setup: users alice, bob", self.create_users)
        s("setup: folder tree (3 levels, Sent Items, Entwürfe, empty folder)", self.create_folders)
        s("setup: ~50 messages of assorted sizes (LMTP + APPEND with flags and dates)", self.fill)
        s(f"setup: one {self.big_mib} MiB message over LMTP", self.big)
        s("setup: \\Seen \\Flagged \\Answered $Label1 Custom", self.flags)
        s("setup: bob lrs on alice's Shared, bob marks messages seen", self.shared_seen)
        s("setup: subscriptions", self.subscriptions)
        s("setup: ACLs", self.acls)
        s("setup: quota on alice", self.quota)
        s("setup: METADATA /shared/comment and /private/comment", self.metadata)
        self.sync_and_compare("pass 1 (initial)")
        self.pop3_uidl_after_failover()

        s("change: flags (alice's and bob's per-user \\Seen)", self.flag_changes)
        s("change: expunges (EXPUNGE, CLOSE)", self.expunges)
        s("change: rename subtree Projects -> Clients", self.rename_subtree)
        s("change: delete folder Trash (with messages)", self.delete_folder)
        s("change: delete and re-create Archive/Old", self.delete_recreate)
        s("change: new deliveries", self.new_deliveries)
        s("change: unsubscribe", self.unsubscribe)
        s("change: ACL, quota, metadata", self.acl_quota_metadata_changes)
        self.sync_and_compare("pass 2 (incremental)")

        s("change: empty bob's Sent Items", self.empty_folder)
        s("change: new user carol with an empty INBOX", self.new_empty_user)
        last = self.sync_and_compare("pass 3 (empty mailboxes)")

        self.sync_and_compare("pass 4 (no changes)", expect_unchanged=last)
        self.uidvalidity_stable()
        self.detects_differences()

        if s("change: split brain (writes on both sides while apart)", self.split_brain):
            self.split_brain_outcome(self.sync_and_compare("pass 6 (split brain)"))
        if hasattr(self.m, "sync_all"):
            self.server_metadata()
            self.replica_check()

    def replica_check(self) -> None:
        """`corvid check --replica`: nothing to report on a synced pair (so Corvid's SYNC_CRCs
        and records agree with the replica's, Cyrus's included); a change made on the replica
        alone is reported by mailbox and UID; `--repair` settles it and the stores are equal."""
        status, out = self.m.check_replica()
        self.t.check(status == 0 and " 0 difference(s)" in out,
                     "pass 8: corvid check --replica finds no difference after a sync", out[-1500:])

        def replica(c):
            cmd(c, "SELECT", "INBOX")
            cmd(c, "UID STORE 1:* +FLAGS.SILENT ($OnlyOnReplica)")
            cmd(c, "CLOSE")
        conn = self.r.imap("alice")
        try:
            replica(conn)
        finally:
            conn.logout()
        status, out = self.m.check_replica()
        reported = [line for line in out.splitlines() if line.startswith("difference: user.alice:")]
        self.t.check(status == 1 and reported and all("$OnlyOnReplica" in line or "HIGHESTMODSEQ" in line
                                                      for line in reported),
                     "pass 8: a flag set only on the replica is reported, mailbox and UID",
                     out[-1500:])
        status, out = self.m.check_replica(repair=True)
        self.t.check(status == 0 and "0 after repair" in out, "pass 8: corvid check --replica --repair settles it",
                     out[-1500:])
        self.sync_and_compare("pass 8 (after repair)")

    def server_metadata(self) -> None:
        """`corvid sync -A` carries server-level METADATA (csync `ANNOTATION ""`): set by an
        admin on the master, readable by a user on the replica."""
        value = "server note " + str(self.counter)
        if not self.step("change: server METADATA /shared/comment on the master", self.as_admin,
                         lambda c: cmd(c, b"SETMETADATA", quote(""), f'(/shared/comment "{value}")'.encode())):
            return
        ok, detail = self.m.sync_all(self.r)
        self.t.check(ok, "pass 7: corvid sync -A succeeds", detail)
        conn = self.r.imap("alice")
        try:
            lines = cmd(conn, b"GETMETADATA", quote(""), b"/shared/comment")
        finally:
            conn.logout()
        def flat(item) -> list[bytes]:
            return [item] if isinstance(item, bytes) else [b for part in item for b in flat(part)]
        text = b" ".join(flat(lines)).decode("utf-8", "replace")
        self.t.check(value in text, "pass 7: the replica serves the master's server METADATA", f"replica said {text!r}")


class _NoReplica:
    name = "none"

    def prepare_replica_user(self, name: str) -> None:
        pass


# Values each server picks for itself when fed the same operations independently.
PER_SERVER_KEYS = ("uidvalidity", "internaldate", "sha1", "size", "body_bytes", "STORAGE")


def imap_parity(tally: Tally, scratch: str) -> None:
    """No replication: the scenario's setup and change steps go to a Cyrus and to a Corvid
    server independently, and their snapshots are diffed without the values each server picks
    itself (PER_SERVER_KEYS; LMTP adds server-specific trace headers, so message bytes differ).
    What remains is IMAP-visible behaviour in which Corvid differs from Cyrus; the replication
    comparisons (Corvid replica of a Cyrus master and vice versa) will see the same differences."""
    peers = []
    try:
        cyrus = CyrusPeer("parity", scratch)
        cyrus.start()
        peers.append(cyrus)
        corvid = CorvidPeer("parity", scratch)
        corvid.start(probe_sync=False)
        peers.append(corvid)
    except (NotAvailable, CyrusError, OSError, RuntimeError) as error:
        tally.check(False, "imap parity: start Cyrus and Corvid", f"{type(error).__name__}: {error}")
        for peer in peers:
            peer.stop(keep=True)
        return
    snaps = []
    steps = ["create_users", "create_folders", "fill", "flags", "shared_seen", "subscriptions", "acls",
             "quota", "metadata", "flag_changes", "expunges", "rename_subtree", "delete_folder",
             "delete_recreate", "new_deliveries", "unsubscribe", "acl_quota_metadata_changes"]
    for peer in peers:
        scenario = Scenario(peer, _NoReplica(), tally, scratch, 1)
        for step in steps:
            scenario.step(f"imap parity: {peer.name}: {step}", getattr(scenario, step))
        try:
            snaps.append(snapshot(peer.imap, peer.admin, ["alice", "bob"]))
        except Exception as error:  # noqa: BLE001
            tally.check(False, f"imap parity: snapshot {peer.name}", f"{type(error).__name__}: {error}")
    if len(snaps) == 2:
        problems = diff(snaps[0], snaps[1], peers[0].name, peers[1].name, ignore=PER_SERVER_KEYS)
        tally.check(not problems, "imap parity: Corvid shows the same state as Cyrus after the same operations",
                    f"{len(problems)} differences:\n  " + "\n  ".join(problems[:40]))
    failed = tally.failed > 0
    for peer in peers:
        peer.stop(keep=failed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", choices=sorted(PEERS), default="cyrus",
                        help="cyrus: sync_client -u; corvid: `corvid sync` (FAILs 'not available yet' until it exists)")
    parser.add_argument("--replica", choices=sorted(PEERS), default="cyrus",
                        help="cyrus: sync_server; corvid: `corvid serve` with sync_listen (FAILs 'not available yet' "
                             "until it answers with a csync banner)")
    parser.add_argument("--big-mib", type=int, default=20, help="size of the large message (default 20)")
    parser.add_argument("--delete-mode", choices=["delayed", "immediate"], default="delayed",
                        help="Cyrus delete_mode (default delayed; immediate breaks delete + re-create, "
                             "see cyrus_peer.py)")
    parser.add_argument("--expunge-mode", choices=["delayed", "semidelayed", "immediate"],
                        default="delayed", help="Cyrus expunge_mode (default delayed)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory even on success")
    parser.add_argument("--imap-flavour", action="store_true",
                        help="a Cyrus master replicates over the replica's IMAP port (sync_try_imap: yes, "
                             "SYNCGET/SYNCAPPLY after X-REPLICATION) instead of csync")
    parser.add_argument("--imap-parity", action="store_true",
                        help="instead of replicating: feed the same operations to Cyrus and Corvid "
                             "and diff their snapshots (what a cross-implementation comparison will see)")
    args = parser.parse_args()

    install_exit_cleanup()  # Corvid servers die with us (Cyrus instances: cyrus_peer's atexit)
    tally = Tally()
    scratch = tempfile.mkdtemp(prefix="sync-interop-")
    os.chmod(scratch, 0o755)  # Cyrus (user cyrus) lives below it
    mode = "imap parity (Cyrus vs Corvid, no replication)" if args.imap_parity else \
        f"master {args.master}, replica {args.replica}" + (" (IMAP flavour)" if args.imap_flavour else "")
    print(f"sync_interop: {mode}; scratch {scratch}", flush=True)
    started = time.monotonic()
    replica = master = None
    if args.imap_parity:
        try:
            imap_parity(tally, scratch)
        finally:
            if tally.failed or args.keep:
                print(f"scratch directory kept: {scratch}")
            else:
                shutil.rmtree(scratch, ignore_errors=True)
        return tally.finish()
    try:
        try:
            modes = {"delete_mode": args.delete_mode, "expunge_mode": args.expunge_mode}
            replica = PEERS[args.replica]("replica", scratch, **modes)
            replica.start()
            address = replica.imap_address if args.imap_flavour else replica.sync_address
            extra = {"imap_flavour": True} if args.imap_flavour else {}
            master = PEERS[args.master]("master", scratch, replica_address=address, **modes, **extra)
            master.start()
            ready = tally.check(True, f"start {master.name} and {replica.name}")
        except NotAvailable as error:
            ready = tally.check(False, f"start {args.master} master and {args.replica} replica", str(error))
        except (CyrusError, OSError, RuntimeError) as error:
            ready = tally.check(False, f"start {args.master} master and {args.replica} replica",
                                f"{type(error).__name__}: {error}")
        if ready:
            scenario = Scenario(master, replica, tally, scratch, args.big_mib)
            scenario.run()
            print("timings:")
            for name, seconds in scenario.timings:
                print(f"  {seconds:7.2f}s  {name}")
            print(f"  {time.monotonic() - started:7.2f}s  total", flush=True)
    finally:
        keep = tally.failed > 0 or args.keep
        for peer in (master, replica):
            if peer is not None:
                try:
                    peer.stop(keep=keep)
                except Exception as error:  # noqa: BLE001
                    print(f"stopping {peer.name}: {error}", flush=True)
        if keep:
            print(f"scratch directory kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
