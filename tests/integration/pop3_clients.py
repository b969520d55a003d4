#!/usr/bin/env python3
"""Real POP3 clients against a real `corvid serve`: fetchmail (keep and no-keep modes) and
Python's poplib, a session cut mid-way, POP3 and IMAP on one INBOX, and bad input over a raw
socket.

One server (allowplaintext: no, so USER/PASS needs STLS or POP3S) with users alice, bob, carol
and dave. Each named check prints `ok NAME` or `FAIL NAME: detail`. A missing client (fetchmail)
is a failed check, not a skip: CI installs it (.ci/run).

Usage: tests/integration/pop3_clients.py [--keep]
Binary: $CORVID_BIN, else .build/debug/corvid, else .build/release/corvid.
The last line printed is 'N passed, M failed'; the exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import base64
import imaplib
import os
import poplib
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corvid_harness import (  # noqa: E402
    CorvidServer, closing_checks, finish_run, LMTPClient, ProtocolError, ServerError, Tally, install_exit_cleanup)

USERS = {"alice": "pw-alice", "bob": "pw-bob", "carol": "pw-carol", "dave": "pw-dave"}
HOST = "127.0.0.1"


def tls_context() -> ssl.SSLContext:
    """The server's certificate is self-signed: encrypt, but do not verify."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def make_message(user: str, index: int, size: int = 0) -> bytes:
    """A message with lines that need dot-stuffing; `size` pads the body to about that many bytes."""
    lines = [f"From: sender@example.org", f"To: {user}@example.com", f"Subject: pop3 test {index}",
             f"Message-ID: <pop3-{user}-{index}@example.org>", "", f"Body of message {index}",
             ".a line that starts with a dot", "..two dots", "."]
    body = "\r\n".join(lines) + "\r\n"
    while len(body) < size:
        body += f"padding line {len(body)} " + "x" * 60 + "\r\n"
    return body.encode()


class POP3Tests:
    def __init__(self, server: CorvidServer, tally: Tally):
        self.server = server
        self.tally = tally
        self.check = tally.check

    # -- helpers -----------------------------------------------------------------------------

    def deliver(self, user: str, messages: list[bytes]) -> None:
        client, greeting = LMTPClient.connect(self.server.lmtp_port)
        client.lhlo()
        for message in messages:
            result = client.transaction("sender@example.org", [user], message)
            if not result.acked(0):
                raise ServerError(f"LMTP delivery to {user} failed: {result}")
        client.command("QUIT")
        client.sock.close()

    def stls(self, user: str) -> poplib.POP3:
        pop = poplib.POP3(HOST, self.server.pop3_port, timeout=30)
        pop.stls(tls_context())
        pop.user(user)
        pop.pass_(USERS[user])
        return pop

    def stored(self, user: str) -> list[dict]:
        return self.server.dump(f"user.{user}")

    # -- poplib --------------------------------------------------------------------------------

    def poplib_tests(self) -> None:
        sent = [make_message("alice", i) for i in range(5)] + [make_message("alice", 5, size=3 * 1024 * 1024)]
        self.deliver("alice", sent)
        pop = poplib.POP3(HOST, self.server.pop3_port, timeout=30)
        self.check(pop.getwelcome().startswith(b"+OK"), "poplib: greeting", repr(pop.getwelcome()))
        capa = pop.capa()
        self.check("STLS" in capa and "USER" not in capa and "SASL" not in capa,
                   "poplib: before TLS, CAPA offers STLS and no plaintext login", repr(capa))
        try:
            pop.user("alice")
            refused = False
        except poplib.error_proto as error:
            refused = b"[AUTH]" in error.args[0]
        self.check(refused, "poplib: USER refused without TLS (allowplaintext: no)")
        pop.stls(tls_context())
        capa = pop.capa()
        self.check("USER" in capa and capa.get("SASL") == ["PLAIN", "LOGIN"] and "STLS" not in capa,
                   "poplib: after STLS, CAPA offers USER and SASL PLAIN LOGIN", repr(capa))
        pop.user("alice")
        welcome = pop.pass_(USERS["alice"])
        self.check(welcome.startswith(b"+OK"), "poplib: USER/PASS after STLS", repr(welcome))
        count, size = pop.stat()
        stored = self.stored("alice")
        self.check(count == 6 and size == sum(m["size"] for m in stored),
                   "poplib: STAT counts the INBOX", f"{count} {size} vs {len(stored)}")
        uidl = [line.split() for line in pop.uidl()[1]]
        validity = self.imap_uidvalidity("alice")
        expected = [[str(n + 1).encode(), f"{validity}.{m['uid']}".encode()] for n, m in enumerate(stored)]
        self.check(uidl == expected, "poplib: UIDL is UIDVALIDITY.UID", f"{uidl[:3]} vs {expected[:3]}")
        exact = True
        for number, message in enumerate(stored, 1):
            lines = pop.retr(number)[1]
            if b"\r\n".join(lines) + b"\r\n" != message["bytes"]:
                exact = False
        self.check(exact, "poplib: RETR returns every message byte-exact (3 MiB one included)")
        top = pop.top(1, 1)[1]
        self.check(top[-2:] == [b"", b"Body of message 0"], "poplib: TOP 1 1 is the header and one body line",
                   repr(top[-3:]))
        pop.dele(1)
        pop.dele(2)
        reply = pop.quit()
        self.check(reply.startswith(b"+OK"), "poplib: QUIT", repr(reply))
        left = self.stored("alice")
        self.check([m["uid"] for m in left] == [m["uid"] for m in stored[2:]],
                   "poplib: QUIT expunged exactly the deleted messages")
        pop = poplib.POP3_SSL(HOST, self.server.pop3s_port, context=tls_context(), timeout=30)
        pop.user("alice")
        pop.pass_(USERS["alice"])
        uidl_after = [line.split()[1] for line in pop.uidl()[1]]
        self.check(uidl_after == [e[1] for e in expected[2:]],
                   "POP3S: the remaining messages keep their UIDL values", f"{uidl_after}")
        pop.quit()
        # AUTH PLAIN with an initial response, over a raw TLS socket.
        with socket.create_connection((HOST, self.server.pop3s_port), timeout=30) as raw:
            conn = tls_context().wrap_socket(raw)
            reader = conn.makefile("rb")
            reader.readline()
            token = base64.b64encode(b"\0alice\0" + USERS["alice"].encode()).decode()
            conn.sendall(f"AUTH PLAIN {token}\r\nSTAT\r\nQUIT\r\n".encode())
            replies = [reader.readline() for _ in range(3)]
            self.check(replies[0].startswith(b"+OK") and replies[1].startswith(b"+OK 4 "),
                       "POP3S: AUTH PLAIN with initial response, pipelined", repr(replies))

    def imap_uidvalidity(self, user: str) -> int:
        imap = imaplib.IMAP4_SSL(HOST, self.server.imaps_port, ssl_context=tls_context())
        imap.login(user, USERS[user])
        typ, data = imap.status("INBOX", "(UIDVALIDITY)")
        imap.logout()
        return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))

    def uidl_survives_restart(self) -> None:
        pop = self.stls("alice")
        before = pop.uidl()[1]
        pop.quit()
        self.server.terminate(timeout=30)
        self.server.start(ready_timeout=60)
        pop = self.stls("alice")
        after = pop.uidl()[1]
        pop.quit()
        self.check(before == after and before, "UIDL values survive a server restart", f"{before} vs {after}")

    # -- fetchmail -------------------------------------------------------------------------------

    def fetchmail(self, user: str, mode: str, workdir: str, extra: str = "") -> tuple[int, str, list[bytes]]:
        """Runs fetchmail once over STLS; returns (status, output, messages it delivered this run)."""
        outdir = os.path.join(workdir, "out")
        os.makedirs(outdir, exist_ok=True)
        before = set(os.listdir(outdir))
        mda = os.path.join(workdir, "mda.sh")
        with open(mda, "w") as f:
            f.write(f"#!/bin/sh\nexec cat > \"{outdir}/$(date +%s%N)-$$\"\n")
        os.chmod(mda, 0o755)
        rc = os.path.join(workdir, "fetchmailrc")
        with open(rc, "w") as f:
            # No `ssl`: fetchmail uses STLS (allowplaintext is off, so a login proves it did).
            f.write(f'poll {HOST} service {self.server.pop3_port} protocol POP3 uidl\n'
                    f'  user "{user}" password "{USERS[user]}" is "{user}" here\n'
                    f'  sslproto "TLS1.2+" no sslcertck {mode} {extra}\n'
                    f'  mda "{mda}" no rewrite\n')
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=workdir, FETCHMAILHOME=workdir)
        result = subprocess.run(["fetchmail", "-f", rc, "-i", os.path.join(workdir, "fetchids"), "--nodetach",
                                 "--nosyslog", "--invisible", "-v"], env=env, capture_output=True, timeout=300)
        new = sorted(set(os.listdir(outdir)) - before)
        messages = []
        for name in new:
            with open(os.path.join(outdir, name), "rb") as f:
                messages.append(f.read())
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        # fetchmail exits 1 when there was no mail: that is a success here.
        return result.returncode, output, messages

    def fetchmail_tests(self) -> None:
        if not shutil.which("fetchmail"):
            self.check(False, "fetchmail installed", "fetchmail not found (CI installs it)")
            return
        workdir = os.path.join(self.server.workdir, "fetchmail-bob")
        os.makedirs(workdir)
        sent = [make_message("bob", i) for i in range(20)] + [make_message("bob", 20, size=1024 * 1024)]
        self.deliver("bob", sent)
        stored = self.stored("bob")
        # Keep mode: fetch everything once, then nothing, then only what is new (UIDL).
        code, output, got = self.fetchmail("bob", "keep", workdir)
        normalized = sorted(m["bytes"].replace(b"\r\n", b"\n") for m in stored)
        self.check(code == 0 and sorted(got) == normalized,
                   "fetchmail keep: all 21 messages fetched, byte-exact (LF line ends)",
                   f"exit {code}, {len(got)} messages\n{output[-2000:]}")
        self.check(len(self.stored("bob")) == 21, "fetchmail keep: the server still has every message")
        code, output, got = self.fetchmail("bob", "keep", workdir)
        self.check(code == 1 and not got, "fetchmail keep, second run: nothing new is fetched (UIDL)",
                   f"exit {code}, {len(got)} messages\n{output[-1500:]}")
        more = [make_message("bob", 100 + i) for i in range(3)]
        self.deliver("bob", more)
        known = {m["uid"] for m in stored}
        new_stored = [m["bytes"].replace(b"\r\n", b"\n") for m in self.stored("bob") if m["uid"] not in known]
        code, output, got = self.fetchmail("bob", "keep", workdir)
        self.check(code == 0 and len(new_stored) == 3 and sorted(got) == sorted(new_stored),
                   "fetchmail keep, third run: exactly the 3 new messages",
                   f"exit {code}, {len(got)} messages\n{output[-1500:]}")
        # No-keep mode: fetch all and delete them on the server.
        workdir2 = os.path.join(self.server.workdir, "fetchmail-bob-nokeep")
        os.makedirs(workdir2)
        code, output, got = self.fetchmail("bob", "nokeep fetchall", workdir2)
        self.check(code == 0 and len(got) == 24, "fetchmail nokeep: all 24 messages fetched",
                   f"exit {code}, {len(got)} messages\n{output[-1500:]}")
        self.check(self.stored("bob") == [], "fetchmail nokeep: the server INBOX is empty afterwards")
        code, output, got = self.fetchmail("bob", "nokeep fetchall", workdir2)
        self.check(code == 1 and not got, "fetchmail nokeep, second run: nothing left", f"exit {code}")

    # -- cut sessions, durability, IMAP consistency ----------------------------------------------

    def cut_session_tests(self) -> None:
        self.deliver("carol", [make_message("carol", i) for i in range(10)])
        before = [m["uid"] for m in self.stored("carol")]
        # The client marks everything deleted, reads half a message and vanishes.
        pop = self.stls("carol")
        for number in range(1, 11):
            pop.dele(number)
        pop.sock.sendall(b"RETR 1\r\n")
        pop.file.readline()
        pop.file.close()   # the file holds a reference: both must go for the socket to close
        pop.sock.close()
        ended = self.wait_for_metric("corvid_pop3_connections_active", 0)
        self.check(ended and [m["uid"] for m in self.stored("carol")] == before,
                   "a session cut after DELE (mid-RETR) deletes nothing, once the server has ended it",
                   f"session ended: {ended}")
        # The server is SIGKILLed while a session has deletions pending: nothing is lost.
        pop = self.stls("carol")
        for number in range(1, 6):
            pop.dele(number)
        self.server.kill()
        self.server.start(ready_timeout=60)
        self.check([m["uid"] for m in self.stored("carol")] == before,
                   "SIGKILL with deletions pending: nothing deleted, nothing lost")
        # An acknowledged QUIT is durable: SIGKILL right after it keeps the expunge.
        pop = self.stls("carol")
        pop.dele(1)
        pop.dele(2)
        reply = pop.quit()
        self.server.kill()
        self.server.start(ready_timeout=60)
        self.check(reply.startswith(b"+OK") and [m["uid"] for m in self.stored("carol")] == before[2:],
                   "deletions acknowledged by QUIT survive a SIGKILL", repr(reply))

    def metric(self, name: str) -> float | None:
        with urllib.request.urlopen(f"http://{HOST}:{self.server.http_port}/metrics", timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return None

    def wait_for_metric(self, name: str, value: float, timeout: float = 20) -> bool:
        """Polls /metrics (bounded) until `name` has `value`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.metric(name) == value:
                return True
            time.sleep(0.05)  # polling interval of a bounded wait
        return False

    def imap_consistency_tests(self) -> None:
        self.deliver("dave", [make_message("dave", i) for i in range(6)])
        imap = imaplib.IMAP4_SSL(HOST, self.server.imaps_port, ssl_context=tls_context())
        imap.login("dave", USERS["dave"])
        typ, data = imap.select("INBOX")
        self.check(typ == "OK" and data[0] == b"6", "IMAP sees the 6 messages")
        pop = self.stls("dave")
        # IMAP expunges message 6 while POP3 is in session: the POP3 snapshot is unchanged.
        imap.store("6", "+FLAGS", "\\Deleted")
        imap.expunge()
        count, _ = pop.stat()
        self.check(count == 6, "POP3 keeps its login snapshot while IMAP expunges", f"STAT {count}")
        pop.dele(1)
        pop.dele(6)
        reply = pop.quit()
        self.check(reply.startswith(b"+OK"), "POP3 QUIT succeeds although one DELE'd message was already gone",
                   repr(reply))
        typ, data = imap.noop()
        untagged = [d for d in imap.untagged_responses.get("EXPUNGE", [])]
        typ, data = imap.search(None, "ALL")
        self.check(data[0].split() == [b"1", b"2", b"3", b"4"],
                   "IMAP sees POP3's deletion announced and the mailbox renumbered", f"{data} {untagged}")
        imap.logout()
        pop = self.stls("dave")
        count, _ = pop.stat()
        self.check(count == 4, "a new POP3 session sees the same 4 messages", f"STAT {count}")
        pop.quit()

    # -- bad input -------------------------------------------------------------------------------

    def bad_input_tests(self) -> None:
        with socket.create_connection((HOST, self.server.pop3_port), timeout=30) as conn:
            reader = conn.makefile("rb")
            reader.readline()
            conn.sendall(b"X" * 20000 + b"\r\n")
            long_reply = reader.readline()
            conn.sendall(b"\x00\xff\xfe garbage\r\n")
            garbage_reply = reader.readline()
            conn.sendall(b"RETR 1\r\nTOP\r\nUSER\r\n")
            replies = [reader.readline() for _ in range(3)]
            conn.sendall(b"STLS\r\nCAPA\r\n")   # the CAPA is pipelined plaintext: dropped
            stls_reply = reader.readline()
            tls = tls_context().wrap_socket(conn)
            tls_reader = tls.makefile("rb")
            tls.sendall(b"NOOP\r\n")
            after = tls_reader.readline()
        self.check(long_reply.startswith(b"-ERR Line too long"), "bad input: an overlong line gets -ERR",
                   repr(long_reply))
        self.check(garbage_reply.startswith(b"-ERR"), "bad input: binary garbage gets -ERR", repr(garbage_reply))
        self.check(replies[0].startswith(b"-ERR RETR is not valid before login") and
                   replies[1].startswith(b"-ERR Missing argument") and replies[2].startswith(b"-ERR Missing"),
                   "bad input: wrong-state and malformed commands get -ERR", repr(replies))
        self.check(stls_reply.startswith(b"+OK Begin TLS") and after.startswith(b"-ERR NOOP is not valid before"),
                   "STLS: plaintext pipelined after STLS is dropped, the TLS session goes on",
                   f"{stls_reply!r} {after!r}")
        # A wrong password is refused and the password never reaches the log.
        pop = poplib.POP3(HOST, self.server.pop3_port, timeout=30)
        pop.stls(tls_context())
        pop.user("alice")
        try:
            pop.pass_("Sekrit-Not-In-Logs-42")
            refused = False
        except poplib.error_proto as error:
            refused = error.args[0].startswith(b"-ERR [AUTH]")
        pop.quit()
        self.check(refused, "a wrong password gets -ERR [AUTH]")
        with open(self.server.log_path, "rb") as log:
            text = log.read()
        self.check(b"Sekrit-Not-In-Logs-42" not in text, "the password is not in the log")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory even on success")
    args = parser.parse_args()
    install_exit_cleanup()
    tally = Tally()
    server = CorvidServer()
    print(f"pop3_clients: binary {server.binary}\nscratch {server.workdir} "
          f"(pop3 {server.pop3_port}, pop3s {server.pop3s_port}, lmtp {server.lmtp_port})", flush=True)
    started = time.monotonic()
    try:
        for user, password in USERS.items():
            server.add_user(user, password)
        server.start(ready_timeout=60)
        tests = POP3Tests(server, tally)
        tests.poplib_tests()
        tests.uidl_survives_restart()
        tests.fetchmail_tests()
        tests.cut_session_tests()
        tests.imap_consistency_tests()
        tests.bad_input_tests()
        closing_checks(server, tally)
    except (ServerError, OSError, ProtocolError, poplib.error_proto, imaplib.IMAP4.error) as error:
        tally.check(False, "harness", repr(error))
    except (KeyboardInterrupt, SystemExit) as interrupt:
        tally.check(False, "run to completion", f"interrupted ({interrupt!r})")
    finally:
        server.kill()
    print(f"pop3_clients: {time.monotonic() - started:.1f}s", flush=True)
    return finish_run(server, tally, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
