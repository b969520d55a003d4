#!/usr/bin/env python3
"""Real IMAP clients against a real `corvid serve`: Python's imaplib, the `imapclient`
package, Cyrus's `imtest` and `cyradm`, and bad input over a raw socket.

One server (admins: admin; allowplaintext: no, so LOGIN needs STARTTLS or IMAPS) with users
alice, bob and admin. Each named check prints `ok NAME` or `FAIL NAME: detail`. A check that
needs a missing client (imapclient, imtest, cyradm) fails rather than being skipped: CI
installs them (.ci/run).

Usage: tests/integration/imap_clients.py [--keep]
Binary: $CORVID_BIN, else .build/debug/corvid, else .build/release/corvid.
The last line printed is 'N passed, M failed'; the exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import base64
import imaplib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corvid_harness import (  # noqa: E402
    CorvidServer, closing_checks, finish_run, LMTPClient, ProtocolError, ServerError, Tally, install_exit_cleanup)

# imaplib refuses commands it does not know; these are RFC 5464 METADATA's.
imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))

try:
    import imapclient  # type: ignore
except ImportError:  # reported as a failed check, not a skip
    imapclient = None

USERS = {"alice": "pw-alice", "bob": "pw-bob", "admin": "pw-admin"}
IMTEST = "/usr/lib/cyrus/bin/imtest"
HOST = "127.0.0.1"
DOMAIN = "example.com"


def tls_context() -> ssl.SSLContext:
    """The server's certificate is self-signed: encrypt, but do not verify."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# -- a small IMAP response parser (for FETCH items) --------------------------------------------


def flatten(data: list) -> bytes:
    """imaplib's FETCH data (tuples of (prefix ending in {n}, literal) and bytes) back into
    the bytes the server sent, literals inline."""
    out = b""
    for item in data:
        if isinstance(item, tuple):
            out += item[0] + b"\r\n" + item[1]
        elif item is not None:
            out += item
    return out


def parse_sexp(data: bytes, pos: int = 0):
    """Parses one IMAP value at pos: (value, next pos). Lists become Python lists, NIL None,
    strings/atoms bytes (quoted strings unescaped, literals taken verbatim)."""
    while pos < len(data) and data[pos:pos + 1] == b" ":
        pos += 1
    c = data[pos:pos + 1]
    if c == b"(":
        items = []
        pos += 1
        while True:
            while data[pos:pos + 1] == b" ":
                pos += 1
            if data[pos:pos + 1] == b")":
                return items, pos + 1
            value, pos = parse_sexp(data, pos)
            items.append(value)
    if c == b'"':
        out = b""
        pos += 1
        while data[pos:pos + 1] != b'"':
            if data[pos:pos + 1] == b"\\":
                pos += 1
            out += data[pos:pos + 1]
            pos += 1
        return out, pos + 1
    if c == b"{":
        end = data.index(b"}", pos)
        size = int(data[pos + 1:end].rstrip(b"+"))
        start = end + 3  # "}\r\n"
        return data[start:start + size], start + size
    match = re.compile(rb"[^ ()\r\n\[]+(\[[^\]]*\](<[0-9.]+>)?)?").match(data, pos)
    if not match:
        raise ValueError(f"cannot parse at {pos}: {data[pos:pos + 40]!r}")
    atom = match.group(0)
    return (None if atom.upper() == b"NIL" else atom), match.end()


def fetch_items(data: list) -> dict[bytes, object]:
    """One FETCH response ('N (NAME value ...)') as {NAME (upper case): value}."""
    raw = flatten(data)
    raw = raw[raw.index(b"("):]
    values, _ = parse_sexp(raw)
    return {values[i].upper(): values[i + 1] for i in range(0, len(values) - 1, 2)}


def norm(value):
    """Case-folds atoms and strings for structure comparison (IMAP is case-insensitive in
    BODYSTRUCTURE type names; byte-exactness is checked on the bodies themselves)."""
    if isinstance(value, list):
        return [norm(v) for v in value]
    if isinstance(value, bytes):
        return value.upper()
    return value


# -- the test ----------------------------------------------------------------------------------


class ClientTests:
    def __init__(self, server: CorvidServer, tally: Tally):
        self.server = server
        self.tally = tally

    # -- plumbing --------------------------------------------------------------------------

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        return self.tally.check(ok, name, detail)

    def run_check(self, name: str, body) -> None:
        """Runs one named check; an exception fails it with the traceback's last lines."""
        try:
            result = body()
        except Exception as error:  # noqa: BLE001 - every failure becomes a FAIL line
            tb = traceback.format_exc().strip().splitlines()
            self.check(False, name, f"{type(error).__name__}: {error} ({' | '.join(tb[-4:-1])})")
            return
        if result is None:
            return  # the body reported its own sub-checks
        ok, detail = result if isinstance(result, tuple) else (result, "")
        self.check(bool(ok), name, detail)

    def starttls(self, user: str = "alice") -> imaplib.IMAP4:
        m = imaplib.IMAP4(HOST, self.server.imap_port, timeout=30)
        m.starttls(tls_context())
        m.login(user, USERS[user])
        return m

    def deliver(self, user: str, subject: str, body: str = "Delivered by LMTP.\r\n") -> None:
        message = (f"From: <lmtp@example.org>\r\nTo: <{user}@{DOMAIN}>\r\nSubject: {subject}\r\n"
                   f"Message-ID: <{time.monotonic_ns()}@imap-clients.test>\r\n\r\n{body}").encode()
        client, greeting = LMTPClient.connect(self.server.lmtp_port, timeout=30)
        try:
            if greeting.code != 220:
                raise ProtocolError(f"LMTP greeting {greeting}")
            client.lhlo()
            result = client.transaction("lmtp@example.org", [f"{user}@{DOMAIN}"], message)
            if not result.acked(0):
                raise ProtocolError(f"LMTP delivery to {user} refused: {result.outcome(0)}")
            client.command("QUIT")
        finally:
            client.close()

    # -- imaplib ---------------------------------------------------------------------------

    def imaplib_tests(self) -> None:
        self.run_check("imaplib: greeting advertises STARTTLS and LOGINDISABLED", self.greeting_capabilities)
        self.run_check("imaplib: LOGIN before TLS is refused with NO [PRIVACYREQUIRED]", self.login_before_tls)
        self.run_check("imaplib: STARTTLS then LOGIN", self.starttls_login)
        self.run_check("imaplib: IMAPS (implicit TLS) LOGIN", self.imaps_login)
        self.run_check("imaplib: AUTHENTICATE PLAIN after STARTTLS (and a wrong password is NO)",
                       self.authenticate_plain)
        self.run_check("imaplib: APPEND with flags and internaldate, FETCH items exact", self.append_fetch)
        self.run_check("imaplib: 5 MiB APPEND fetched back byte-exact, with a partial BODY[]<n.m>",
                       self.big_append)
        self.run_check("imaplib: SEARCH", self.search)
        self.run_check("imaplib: STORE +FLAGS / -FLAGS", self.store_flags)
        self.run_check("imaplib: COPY and UID MOVE answer with COPYUID", self.copy_move)
        self.run_check("imaplib: EXPUNGE", self.expunge)
        self.run_check("imaplib: CREATE/RENAME/DELETE of a 3-level tree", self.mailbox_tree)
        self.run_check("imaplib: LIST/LSUB/STATUS", self.list_lsub_status)
        self.run_check("imaplib: IDLE sees an LMTP delivery as * n EXISTS within 2 s", self.idle_delivery)
        self.run_check("imaplib: two sessions see each other's flag changes and expunges on NOOP",
                       self.two_sessions)
        self.run_check("raw: COMPRESS=DEFLATE after IMAPS login: commands and a FETCH round-trip compressed",
                       self.compress_deflate)
        self.run_check("raw: plaintext pipelined after STARTTLS is dropped, never executed", self.starttls_injection)

    def compress_deflate(self):
        import zlib
        raw = socket.create_connection((HOST, self.server.imaps_port), timeout=30)
        sock = tls_context().wrap_socket(raw, server_hostname="localhost")
        buffer = b""

        def read_until(marker: bytes, decompress=None) -> bytes:
            nonlocal buffer
            while marker not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ProtocolError(f"connection closed waiting for {marker!r}: {buffer[-200:]!r}")
                buffer += decompress.decompress(chunk) if decompress else chunk
            head, _, rest = buffer.partition(marker)
            line_end = rest.find(b"\r\n")
            taken = head + marker + rest[: line_end + 2]
            buffer = rest[line_end + 2:]
            return taken

        read_until(b"\r\n")
        sock.sendall(b"a LOGIN alice " + USERS["alice"].encode() + b"\r\n")
        caps = read_until(b"a OK")
        if b"COMPRESS=DEFLATE" not in caps:
            return False, f"COMPRESS=DEFLATE not advertised: {caps!r}"
        sock.sendall(b"c COMPRESS DEFLATE\r\n")
        reply = read_until(b"c ")
        if b"c OK" not in reply:
            return False, f"COMPRESS refused: {reply!r}"
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        decompressor = zlib.decompressobj(-15)

        def send(text: bytes) -> None:
            sock.sendall(compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH))

        body = ("Compressed " * 2000).encode()
        message = b"Subject: compress\r\n\r\n" + body + b"\r\n"
        send(b"d APPEND INBOX {%d+}\r\n" % len(message) + message + b"\r\n")
        appended = read_until(b"d ", decompressor)
        send(b"e NOOP\r\n")
        noop = read_until(b"e ", decompressor)
        send(b"f SELECT INBOX\r\n")
        read_until(b"f ", decompressor)
        send(b"g UID SEARCH SUBJECT compress\r\n")
        search = read_until(b"g ", decompressor)
        uid = search.split(b"* SEARCH ")[1].split(b"\r\n")[0].split()[-1]
        send(b"h UID FETCH " + uid + b" BODY.PEEK[]\r\n")
        fetched = read_until(b"h OK", decompressor)
        send(b"i LOGOUT\r\n")
        sock.close()
        ok = b"d OK" in appended and b"e OK" in noop and message in fetched
        return ok, f"append {appended[-80:]!r}, noop {noop!r}, fetched {len(fetched)} bytes"

    def starttls_injection(self):
        raw = socket.create_connection((HOST, self.server.imap_port), timeout=30)
        raw.recv(4096)
        # The injected command rides in the same packet as STARTTLS.
        raw.sendall(b"a STARTTLS\r\nb LOGIN alice " + USERS["alice"].encode() + b"\r\n")
        reply = b""
        while b"a OK" not in reply:
            chunk = raw.recv(4096)
            if not chunk:
                return False, f"closed before STARTTLS reply: {reply!r}"
            reply += chunk
        sock = tls_context().wrap_socket(raw, server_hostname="localhost")
        sock.sendall(b"c NOOP\r\n")
        answer = b""
        while b"c " not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        sock.sendall(b"d LOGOUT\r\n")
        sock.close()
        # Had `b LOGIN` run, its tagged reply would precede c's; and c must be answered.
        return b"b " not in answer and b"c OK" in answer, f"after TLS: {answer!r}"

    def greeting_capabilities(self):
        m = imaplib.IMAP4(HOST, self.server.imap_port, timeout=30)
        caps = set(m.capabilities)
        m.logout()
        return {"STARTTLS", "LOGINDISABLED", "IMAP4REV1"} <= caps, f"capabilities {sorted(caps)}"

    def login_before_tls(self):
        m = imaplib.IMAP4(HOST, self.server.imap_port, timeout=30)
        try:
            m.login("alice", USERS["alice"])
        except imaplib.IMAP4.error as error:
            text = str(error)
            alive = m.noop()[0] == "OK"
            m.logout()
            return "[PRIVACYREQUIRED]" in text and alive, f"{text}; session alive: {alive}"
        m.logout()
        return False, "LOGIN succeeded without TLS"

    def starttls_login(self):
        m = imaplib.IMAP4(HOST, self.server.imap_port, timeout=30)
        typ, _ = m.starttls(tls_context())
        tls = isinstance(m.sock, ssl.SSLSocket)
        caps = set(m.capabilities)  # imaplib re-asks CAPABILITY after STARTTLS
        login = m.login("alice", USERS["alice"])
        select = m.select("INBOX")
        m.logout()
        return (typ == "OK" and tls and "STARTTLS" not in caps and "LOGINDISABLED" not in caps
                and "AUTH=PLAIN" in caps and login[0] == "OK" and select[0] == "OK",
                f"starttls {typ}, tls {tls}, caps {sorted(caps)}, login {login}, select {select}")

    def imaps_login(self):
        m = imaplib.IMAP4_SSL(HOST, self.server.imaps_port, ssl_context=tls_context(), timeout=30)
        caps = set(m.capabilities)
        login = m.login("bob", USERS["bob"])
        noop = m.noop()
        m.logout()
        return (login[0] == "OK" and noop[0] == "OK" and "STARTTLS" not in caps and "LOGINDISABLED" not in caps,
                f"caps {sorted(caps)}, login {login}")

    def authenticate_plain(self):
        m = imaplib.IMAP4(HOST, self.server.imap_port, timeout=30)
        m.starttls(tls_context())
        try:
            m.authenticate("PLAIN", lambda _: b"\0alice\0wrong-password")
            wrong = "accepted"
        except imaplib.IMAP4.error as error:
            wrong = f"refused: {error}"
        typ, data = m.authenticate("PLAIN", lambda _: b"\0alice\0" + USERS["alice"].encode())
        state = m.state
        m.logout()
        return (wrong.startswith("refused") and typ == "OK" and state == "AUTH",
                f"wrong password {wrong}; right password {typ} {data}, state {state}")

    def append_fetch(self):
        body = "Hello Bob,\r\n\r\nthis is the body.\r\nGrüße\r\n"
        message = ("Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
                   "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
                   "Subject: afternoon meeting\r\n"
                   "To: mooch@owatagu.siam.example\r\n"
                   "Cc: \"A. Person\" <a.person@example.net>, b@example.net\r\n"
                   "Message-ID: <B27397-0100000@Blurdybloop.example>\r\n"
                   "MIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=UTF-8\r\n"
                   "Content-Transfer-Encoding: 8bit\r\n"
                   "\r\n" + body).encode()
        body_bytes = body.encode()
        m = self.starttls()
        m.create("fetchbox")
        date = imaplib.Time2Internaldate(time.mktime((2021, 3, 4, 5, 6, 7, 0, 0, -1)))
        typ, data = m.append("fetchbox", r"(\Flagged $Label1)", date, message)
        if typ != "OK":
            return False, f"APPEND {typ} {data}"
        m.select("fetchbox")
        typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE BODY[] BODY.PEEK[HEADER.FIELDS (SUBJECT)] "
                                 "BODYSTRUCTURE ENVELOPE)")
        m.logout()
        items = fetch_items(data)
        problems = []
        flags = set(f.upper() for f in items.get(b"FLAGS", []))
        if flags != {b"\\FLAGGED", b"$LABEL1", b"\\SEEN"}:  # BODY[] sets \Seen
            problems.append(f"FLAGS {items.get(b'FLAGS')}")
        # Day of month may be space-padded (RFC 3501 date-day-fixed): compare the instants.
        got_date = items.get(b"INTERNALDATE")
        if not got_date or imaplib.Internaldate2tuple(b'INTERNALDATE "' + got_date + b'"') != \
                imaplib.Internaldate2tuple(b"INTERNALDATE " + date.encode()):
            problems.append(f"INTERNALDATE {items.get(b'INTERNALDATE')} != {date}")
        if items.get(b"RFC822.SIZE") != str(len(message)).encode():
            problems.append(f"RFC822.SIZE {items.get(b'RFC822.SIZE')} != {len(message)}")
        if items.get(b"BODY[]") != message:
            problems.append("BODY[] differs from the appended bytes")
        header = items.get(b"BODY[HEADER.FIELDS (SUBJECT)]")
        if header != b"Subject: afternoon meeting\r\n\r\n":
            problems.append(f"BODY[HEADER.FIELDS (SUBJECT)] {header!r}")
        lines = body_bytes.count(b"\r\n")
        expected_bs, _ = parse_sexp(f'("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "8BIT" {len(body_bytes)} {lines} '
                                    'NIL NIL NIL NIL)'.encode())
        if norm(items.get(b"BODYSTRUCTURE")) != norm(expected_bs):
            problems.append(f"BODYSTRUCTURE {items.get(b'BODYSTRUCTURE')}")
        expected_env, _ = parse_sexp(
            b'("Mon, 7 Feb 1994 21:52:25 -0800" "afternoon meeting" '
            b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
            b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
            b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
            b'((NIL NIL "mooch" "owatagu.siam.example")) '
            b'(("A. Person" NIL "a.person" "example.net") (NIL NIL "b" "example.net")) NIL NIL '
            b'"<B27397-0100000@Blurdybloop.example>")')
        if items.get(b"ENVELOPE") != expected_env:
            problems.append(f"ENVELOPE {items.get(b'ENVELOPE')}")
        return not problems, "; ".join(problems)

    def big_append(self):
        line = b"".join(bytes([0x41 + (i % 26)]) for i in range(70)) + b"\r\n"
        head = b"From: big@example.org\r\nSubject: five mebibytes\r\n\r\n"
        size = 5 * 1024 * 1024
        message = head + (line * (size // len(line) + 1))
        message = message[:size - 2] + b"\r\n"
        m = self.starttls()
        m.create("bigbox")
        started = time.monotonic()
        typ, data = m.append("bigbox", None, None, message)
        append_s = time.monotonic() - started
        m.select("bigbox")
        typ2, data2 = m.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
        typ3, data3 = m.fetch("1", "(BODY.PEEK[]<1000.5000>)")
        m.logout()
        items = fetch_items(data2)
        partial = fetch_items(data3)
        print(f"     5 MiB APPEND took {append_s:.2f}s", flush=True)
        ok = (typ == "OK" and items.get(b"RFC822.SIZE") == str(size).encode() and items.get(b"BODY[]") == message
              and partial.get(b"BODY[]<1000>") == message[1000:6000])
        return ok, (f"append {typ} {data}; size {items.get(b'RFC822.SIZE')}; body equal "
                    f"{items.get(b'BODY[]') == message}; partial keys {list(partial)} equal "
                    f"{partial.get(b'BODY[]<1000>') == message[1000:6000]}")

    def search(self):
        m = self.starttls()
        m.create("searchbox")
        m1 = ("From: Alice Example <alice@example.org>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n"
              "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: 8bit\r\n\r\nDie Straße ist lang.\r\n").encode()
        m2 = ("From: Bob <bob@example.net>\r\nSubject: plain hello\r\n\r\n" + "nothing special here\r\n" * 1000).encode()
        m3 = (b"From: Carol <carol@example.com>\r\nSubject: another one\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
              b"Eine Stra=C3=9Fe im Regen.\r\n")
        m.append("searchbox", r"(\Seen)", None, m1)
        m.append("searchbox", None, None, m2)
        m.append("searchbox", None, None, m3)
        m.select("searchbox")

        def run(*criteria: str, literal: bytes | None = None, charset: str | None = None) -> list[int]:
            if literal is not None:
                m.literal = literal
            typ, data = m.search(charset, *criteria)
            if typ != "OK":
                return [f"{typ} {data}"]  # type: ignore[list-item]
            return sorted(int(n) for n in data[0].split())

        cases = [
            ("FROM bob", run("FROM", "bob"), [2]),
            ("FROM example.com (address domain)", run("FROM", "example.com"), [3]),
            ("SUBJECT hello", run("SUBJECT", "hello"), [2]),
            ("CHARSET UTF-8 SUBJECT {literal Grüße} (encoded-word header)",
             run("SUBJECT", literal="Grüße".encode(), charset="UTF-8"), [1]),
            ("CHARSET UTF-8 BODY {literal Straße} (8bit and quoted-printable bodies)",
             run("BODY", literal="Straße".encode(), charset="UTF-8"), [1, 3]),
            ("UNSEEN", run("UNSEEN"), [2, 3]),
            ("LARGER 10000", run("LARGER", "10000"), [2]),
            ("OR FROM alice FROM carol", run("OR", "FROM", "alice", "FROM", "carol"), [1, 3]),
            ("NOT FROM bob", run("NOT", "FROM", "bob"), [1, 3]),
            ("NOT SEEN LARGER 100 SUBJECT plain", run("NOT", "SEEN", "LARGER", "100", "SUBJECT", "plain"), [2]),
        ]
        m.logout()
        for name, got, want in cases:
            self.check(got == want, f"imaplib: SEARCH {name}", f"got {got}, want {want}")
        return None

    def store_flags(self):
        m = self.starttls()
        m.select("searchbox")
        typ, data = m.store("2", "+FLAGS", r"(\Flagged $Important)")
        added = fetch_items(data) if typ == "OK" and data and data[0] else {}
        typ2, data2 = m.store("2", "-FLAGS", r"(\Flagged)")
        removed = fetch_items(data2) if typ2 == "OK" and data2 and data2[0] else {}
        typ3, data3 = m.store("2", "FLAGS.SILENT", r"($Important \Answered)")
        silent_untagged = data3 if data3 and data3[0] else []
        final = fetch_items(m.fetch("2", "(FLAGS)")[1])
        m.logout()
        up = lambda items: {f.upper() for f in items.get(b"FLAGS", [])}  # noqa: E731
        ok = (up(added) == {b"\\FLAGGED", b"$IMPORTANT"} and up(removed) == {b"$IMPORTANT"}
              and typ3 == "OK" and not silent_untagged and up(final) == {b"$IMPORTANT", b"\\ANSWERED"})
        return ok, f"+FLAGS {added}; -FLAGS {removed}; FLAGS.SILENT untagged {silent_untagged}; final {final}"

    def copy_move(self):
        m = self.starttls()
        m.create("copydest")
        m.select("copydest", readonly=True)
        uidvalidity = m.untagged_responses.get("UIDVALIDITY", [b"?"])[0].decode()
        m.select("searchbox")
        typ, data = m.copy("1:2", "copydest")
        copy_text = data[0].decode() if data and data[0] else ""
        src_uid = m.fetch("3", "(UID)")[1][0].decode()
        src_uid = re.search(r"UID (\d+)", src_uid).group(1)
        m.untagged_responses.clear()
        typ2, data2 = m.uid("MOVE", src_uid, "copydest")
        move_ok = [x.decode() for x in m.untagged_responses.get("OK", [])]
        expunged = m.untagged_responses.get("EXPUNGE", [])
        status = m.status("copydest", "(MESSAGES)")[1][0].decode()
        left = m.search(None, "ALL")[1][0].decode()
        m.logout()
        copy_good = typ == "OK" and re.fullmatch(rf"\[COPYUID {uidvalidity} 1:2 1:2\].*", copy_text) is not None
        move_good = (typ2 == "OK" and any(re.match(rf"\[COPYUID {uidvalidity} {src_uid} 3\]", t) for t in move_ok)
                     and expunged == [b"3"])
        return (copy_good and move_good and "MESSAGES 3" in status and left == "1 2",
                f"COPY {typ} {copy_text!r} (uidvalidity {uidvalidity}); UID MOVE {typ2} {data2} untagged OK "
                f"{move_ok} EXPUNGE {expunged}; {status}; left {left!r}")

    def expunge(self):
        m = self.starttls()
        m.select("copydest")
        m.store("1,3", "+FLAGS.SILENT", r"(\Deleted)")
        typ, data = m.expunge()
        left = m.search(None, "ALL")[1][0].decode()
        status = m.status("copydest", "(MESSAGES)")[1][0].decode()
        m.logout()
        # Expunging 1 then 3 (now 2) gives EXPUNGE 1 then EXPUNGE 2, or 3 then 1.
        return (typ == "OK" and sorted(data) in ([b"1", b"2"], [b"1", b"3"]) and left == "1"
                and "MESSAGES 1" in status, f"EXPUNGE {typ} {data}; left {left!r}; {status}")

    def mailbox_tree(self):
        m = self.starttls()
        created = [m.create(name)[0] for name in ("proj", "proj/2024", "proj/2024/q1")]
        m.append("proj/2024/q1", None, None, b"Subject: deep\r\n\r\nin the tree\r\n")
        before = sorted(x.decode().rsplit(' "/" ', 1)[1] for x in m.list('""', "proj*")[1])
        renamed = m.rename("proj", "archive")
        after = sorted(x.decode().rsplit(' "/" ', 1)[1] for x in m.list('""', "*")[1]
                       if b"proj" in x or b"archive" in x)
        moved = m.status("archive/2024/q1", "(MESSAGES)")
        deleted = [m.delete(name)[0] for name in ("archive/2024/q1", "archive/2024", "archive")]
        gone = [x for x in m.list('""', "archive*")[1] if x]
        m.logout()
        ok = (created == ["OK"] * 3 and before == ['"proj"', '"proj/2024"', '"proj/2024/q1"'] and renamed[0] == "OK"
              and after == ['"archive"', '"archive/2024"', '"archive/2024/q1"'] and b"MESSAGES 1" in moved[1][0]
              and deleted == ["OK"] * 3 and not gone)
        return ok, (f"create {created}; before {before}; rename {renamed}; after {after}; status {moved}; "
                    f"delete {deleted}; left {gone}")

    def list_lsub_status(self):
        m = self.starttls()
        listing = [x.decode() for x in m.list()[1]]
        sub = m.subscribe("searchbox")
        lsub = [x.decode() for x in m.lsub('""', "*")[1] if x]
        unsub = m.unsubscribe("searchbox")
        lsub2 = [x.decode() for x in m.lsub('""', "searchbox")[1] if x]
        typ, status = m.status("searchbox", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
        m.logout()
        text = status[0].decode() if status and status[0] else ""
        has = lambda name: any(line.endswith(f'"/" "{name}"') or line.endswith(f'"/" {name}')  # noqa: E731
                               for line in listing)
        ok = (has("INBOX") and has("searchbox") and has("fetchbox") and sub[0] == "OK"
              and any(line.endswith('searchbox') or line.endswith('searchbox"') for line in lsub)
              and unsub[0] == "OK" and not lsub2 and typ == "OK"
              and re.search(r"MESSAGES 2\b", text) and re.search(r"UNSEEN 1\b", text) and "UIDNEXT 4" in text
              and "UIDVALIDITY" in text)
        return bool(ok), f"LIST {listing}; LSUB {lsub}; after UNSUBSCRIBE {lsub2}; STATUS {typ} {text}"

    def idle_delivery(self):
        m = self.starttls("bob")
        typ, data = m.select("INBOX")
        exists_before = int(data[0])
        tag = m._new_tag()
        m.send(tag + b" IDLE\r\n")
        m.sock.settimeout(10)
        continuation = m.readline()
        if not continuation.startswith(b"+"):
            return False, f"IDLE answered {continuation!r}"
        started = time.monotonic()
        self.deliver("bob", "idle test")
        delivered = time.monotonic()
        m.sock.settimeout(5)  # blocks on the socket, bounded
        line = b""
        try:
            while not re.match(rb"\* \d+ EXISTS", line):
                line = m.readline()
                if not line:
                    break
        except (socket.timeout, TimeoutError):
            line = b"(timed out after 5 s)"
        seen = time.monotonic()
        m.send(b"DONE\r\n")
        end = b""
        while not end.startswith(tag):
            end = m.readline()
            if not end:
                break
        m.sock.settimeout(30)
        m.logout()
        latency = seen - started
        print(f"     IDLE: LMTP delivery took {delivered - started:.3f}s; "
              f"* EXISTS arrived {latency:.3f}s after it started", flush=True)
        want = f"* {exists_before + 1} EXISTS".encode()
        return (line.strip() == want and latency < 2 and b"OK" in end,
                f"got {line!r} (want {want!r}) after {latency:.3f}s; IDLE ended with {end!r}")

    def two_sessions(self):
        one = self.starttls()
        two = self.starttls()
        one.create("shared-view")
        for n in range(3):
            one.append("shared-view", None, None, f"Subject: m{n}\r\n\r\nbody {n}\r\n".encode())
        one.select("shared-view")
        two.select("shared-view")
        one.store("2", "+FLAGS.SILENT", r"(\Flagged)")
        two.untagged_responses.clear()
        two.noop()
        fetches = [x for x in two.untagged_responses.get("FETCH", [])]
        two.store("1", "+FLAGS.SILENT", r"(\Answered)")
        one.untagged_responses.clear()
        one.noop()
        fetches_one = [x for x in one.untagged_responses.get("FETCH", [])]
        one.store("3", "+FLAGS.SILENT", r"(\Deleted)")
        one.expunge()
        two.untagged_responses.clear()
        two.noop()
        expunges = two.untagged_responses.get("EXPUNGE", [])
        count = two.search(None, "ALL")[1][0].decode()
        one.logout()
        two.logout()
        ok = (any(f.startswith(b"2 (") and b"\\Flagged" in f for f in fetches)
              and any(f.startswith(b"1 (") and b"\\Answered" in f for f in fetches_one)
              and expunges == [b"3"] and count == "1 2")
        return ok, (f"session two saw FETCH {fetches}; session one saw FETCH {fetches_one}; "
                    f"two saw EXPUNGE {expunges}; two's messages {count!r}")

    # -- imapclient ------------------------------------------------------------------------

    def imapclient_tests(self) -> None:
        if imapclient is None:
            self.check(False, "imapclient: the package is installed", "import imapclient failed (pip install imapclient)")
            return
        self.run_check("imapclient: capabilities", self.ic_capabilities)
        self.run_check("imapclient: NAMESPACE", self.ic_namespace)
        self.run_check("imapclient: CONDSTORE (FETCH MODSEQ, CHANGEDSINCE)", self.ic_condstore)
        self.run_check("imapclient: ENABLE QRESYNC, SELECT (QRESYNC ...) with VANISHED (EARLIER)", self.ic_qresync)
        self.run_check("imapclient: MOVE", self.ic_move)
        self.run_check("imapclient: CREATE ... (USE (\\Sent)) appears in LIST as special-use", self.ic_special_use)
        self.run_check("imapclient: GETQUOTAROOT after an admin SETQUOTA", self.ic_quota)
        self.run_check("imapclient: SETACL/GETACL/MYRIGHTS and bob sees Other Users/alice", self.ic_acl)
        self.run_check("imapclient: SETMETADATA / GETMETADATA", self.ic_metadata)
        self.run_check("imapclient: ID", self.ic_id)
        self.run_check("imapclient: IDLE API sees an LMTP delivery", self.ic_idle)

    def ic(self, user: str = "alice", ssl_port: bool = False):
        if ssl_port:
            client = imapclient.IMAPClient(HOST, port=self.server.imaps_port, ssl=True, ssl_context=tls_context(),
                                           timeout=30)
        else:
            client = imapclient.IMAPClient(HOST, port=self.server.imap_port, ssl=False, timeout=30)
            client.starttls(tls_context())
        client.login(user, USERS[user])
        return client

    @staticmethod
    def raw(client, *args) -> tuple[str, list]:
        """A command imapclient has no method for, through its imaplib connection."""
        typ, data = client._imap._simple_command(*args)
        return typ, data

    def ic_capabilities(self):
        c = self.ic(ssl_port=True)
        caps = set(c.capabilities())
        c.logout()
        want = {b"IMAP4REV1", b"IDLE", b"NAMESPACE", b"UIDPLUS", b"MOVE", b"CONDSTORE", b"QRESYNC", b"ENABLE",
                b"SPECIAL-USE", b"CREATE-SPECIAL-USE", b"ACL", b"QUOTA", b"METADATA", b"ID", b"LIST-EXTENDED"}
        return want <= caps, f"missing {sorted(want - caps)}"

    def ic_namespace(self):
        c = self.ic()
        ns = c.namespace()
        c.logout()
        ok = (ns.personal == (("", "/"),) and ns.other == (("Other Users/", "/"),)
              and ns.shared == (("Shared Folders/", "/"),))
        return ok, f"{ns}"

    def ic_condstore(self):
        c = self.ic()
        c.create_folder("condstore")
        for n in range(3):
            c.append("condstore", f"Subject: cs{n}\r\n\r\nbody\r\n".encode())
        info = c.select_folder("condstore")
        highest = info.get(b"HIGHESTMODSEQ")
        first = c.fetch(c.search("ALL"), ["FLAGS", "MODSEQ"])
        modseqs = {uid: data.get(b"MODSEQ", (None,))[0] for uid, data in first.items()}
        baseline = max(modseqs.values())
        c.add_flags([2], [b"\\Flagged"])
        changed = c.fetch(c.search("ALL"), ["FLAGS"], modifiers=[f"CHANGEDSINCE {baseline}"])
        c.logout()
        ok = (highest is not None and len(modseqs) == 3 and all(isinstance(v, int) for v in modseqs.values())
              and list(changed) == [2] and changed[2][b"MODSEQ"][0] > baseline
              and b"\\Flagged" in changed[2][b"FLAGS"])
        return ok, f"HIGHESTMODSEQ {highest}; modseqs {modseqs}; CHANGEDSINCE {baseline} -> {changed}"

    def ic_qresync(self):
        c = self.ic()
        enabled = c.enable("QRESYNC")
        info = c.select_folder("condstore")
        uidvalidity, modseq = info[b"UIDVALIDITY"], info[b"HIGHESTMODSEQ"]
        c.delete_messages([1])
        c.expunge()
        c.unselect_folder()
        c._imap.untagged_responses.clear()
        typ, data = self.raw(c, "SELECT", "condstore", f"(QRESYNC ({uidvalidity} {modseq}))")
        vanished = [v.decode() for v in c._imap.untagged_responses.get("VANISHED", [])]
        fetched = c._imap.untagged_responses.get("FETCH", [])
        c.logout()
        ok = b"QRESYNC" in enabled and typ == "OK" and vanished == ["(EARLIER) 1"]
        return ok, f"ENABLE -> {enabled}; SELECT {typ} {data}; VANISHED {vanished}; FETCH {fetched}"

    def ic_move(self):
        c = self.ic()
        c.create_folder("moved-here")
        c.select_folder("condstore")
        uids = c.search("ALL")
        c.move(uids[:1], "moved-here")
        left = c.search("ALL")
        there = c.folder_status("moved-here", ["MESSAGES"])
        c.logout()
        return left == uids[1:] and there[b"MESSAGES"] == 1, f"before {uids}, after {left}, moved-here {there}"

    def ic_special_use(self):
        c = self.ic()
        typ, data = self.raw(c, "CREATE", '"Sent Items"', "(USE (\\Sent))")
        folders = {name: flags for flags, _, name in c.list_folders()}
        sent = c.find_special_folder(imapclient.imapclient.SENT)
        c.logout()
        ok = typ == "OK" and b"\\Sent" in folders.get("Sent Items", ()) and sent == "Sent Items"
        return ok, f"CREATE {typ} {data}; LIST flags {folders.get('Sent Items')}; find_special_folder {sent}"

    def ic_quota(self):
        admin = self.ic("admin")
        admin.set_quota([imapclient.imapclient.Quota("user/alice", "STORAGE", 0, 20000)])
        admin.logout()
        c = self.ic()
        roots, quotas = c.get_quota_root("INBOX")
        c.logout()
        storage = [q for q in quotas if q.resource.upper() == "STORAGE"]
        ok = (roots.quota_roots == ["INBOX"] or roots.quota_roots == ["user/alice"]) and storage and \
            storage[0].limit == 20000 and storage[0].usage > 0
        return bool(ok), f"roots {roots}; quotas {quotas}"

    def ic_acl(self):
        alice = self.ic()
        set_inbox = alice.setacl("INBOX", "bob", "lr")
        alice.create_folder("for-bob")
        alice.setacl("for-bob", "bob", "lrsw")
        acl = alice.getacl("for-bob")
        alice.logout()
        bob = self.ic("bob")
        typ, data = self.raw(bob, "MYRIGHTS", '"Other Users/alice/for-bob"')
        rights = [x.decode() for x in bob._imap.untagged_responses.get("MYRIGHTS", [])]
        names = [name for _, _, name in bob.list_folders()]
        selected = bob.select_folder("Other Users/alice", readonly=True)
        bob.logout()
        ok = (dict(acl).get(b"bob") == b"lrsw" and typ == "OK" and rights
              and rights[-1].split()[-1] == "lrsw" and "Other Users/alice" in names
              and "Other Users/alice/for-bob" in names and b"EXISTS" in selected)
        return ok, f"setacl {set_inbox}; GETACL {acl}; MYRIGHTS {typ} {rights}; bob's LIST {names}"

    def ic_metadata(self):
        c = self.ic()
        typ, data = self.raw(c, "SETMETADATA", "INBOX", '(/private/comment "my inbox" /shared/comment "everyone")')
        c._imap.untagged_responses.clear()
        typ2, data2 = self.raw(c, "GETMETADATA", "INBOX", "(/private/comment /shared/comment)")
        got = c._imap.untagged_responses.get("METADATA", [])
        c.logout()
        flat = flatten(got)
        ok = typ == "OK" and typ2 == "OK" and b"my inbox" in flat and b"everyone" in flat and \
            b"/private/comment" in flat
        return ok, f"SETMETADATA {typ} {data}; GETMETADATA {typ2} {got}"

    def ic_id(self):
        c = self.ic()
        server_id = c.id_({"name": "imap_clients.py", "version": "1"})
        c.logout()
        return isinstance(server_id, (tuple, list, dict)) and server_id, f"ID -> {server_id}"

    def ic_idle(self):
        c = self.ic("bob")
        info = c.select_folder("INBOX")
        before = info[b"EXISTS"]
        c.idle()
        started = time.monotonic()
        self.deliver("bob", "imapclient idle")
        responses = c.idle_check(timeout=5)
        latency = time.monotonic() - started
        c.idle_done()
        c.logout()
        print(f"     imapclient IDLE: {latency:.3f}s from delivery start to idle_check returning", flush=True)
        return (before + 1, b"EXISTS") in responses and latency < 2, f"idle_check -> {responses} after {latency:.3f}s"

    # -- Cyrus clients ---------------------------------------------------------------------

    def imtest_tests(self) -> None:
        if not os.access(IMTEST, os.X_OK):
            self.check(False, "imtest: installed", f"{IMTEST} missing (apt-get install cyrus-clients)")
            return
        self.run_check("imtest: STARTTLS, AUTHENTICATE PLAIN, a command from -f, exit 0", self.imtest_starttls)
        self.run_check("imtest: IMAPS (-s) with LOGIN (-m login)", self.imtest_imaps)

    def imtest(self, *args: str, commands: str) -> subprocess.CompletedProcess:
        path = os.path.join(self.server.workdir, "imtest.in")
        with open(path, "w") as f:
            f.write(commands)
        return subprocess.run([IMTEST, *args, "-f", path, HOST], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=60, text=True, errors="replace")

    def imtest_starttls(self):
        r = self.imtest("-t", "", "-m", "PLAIN", "-a", "alice", "-w", USERS["alice"], "-p", str(self.server.imap_port),
                        commands='x1 LIST "" "search*"\r\nx2 LOGOUT\r\n')
        out = r.stdout + r.stderr
        ok = (r.returncode == 0 and "TLS connection established" in out and "AUTHENTICATE PLAIN" in out
              and "Authenticated." in out and '* LIST (\\HasNoChildren) "/" searchbox' in out.replace('"searchbox"',
                                                                                                     "searchbox")
              and "x1 OK" in out)
        return ok, f"exit {r.returncode}; output:\n{out}"

    def imtest_imaps(self):
        r = self.imtest("-s", "-m", "login", "-a", "bob", "-w", USERS["bob"], "-p", str(self.server.imaps_port),
                        commands="y1 STATUS INBOX (MESSAGES)\r\ny2 LOGOUT\r\n")
        out = r.stdout + r.stderr
        ok = r.returncode == 0 and "Authenticated." in out and bool(re.search(r'\* STATUS "?INBOX"? \(MESSAGES \d+\)', out)) and "y1 OK" in out
        return ok, f"exit {r.returncode}; output:\n{out}"

    def cyradm_tests(self) -> None:
        if not shutil.which("cyradm"):
            self.check(False, "cyradm: installed", "cyradm missing (apt-get install cyrus-admin)")
            return
        steps = [
            ("cm user/carol", lambda out: out == ""),
            ("lm user/*", lambda out: "user/carol" in out and "user/alice" in out),
            ("sam user/carol bob lrs", lambda out: out == ""),
            ("lam user/carol", lambda out: re.search(r'^"?bob"? lrs$', out, re.M) is not None),
            ("setquota user/carol STORAGE 1000", lambda out: out == ""),
            ("lq user/carol", lambda out: re.search(r"STORAGE 0/1000\b", out) is not None),
            ("dm user/carol", lambda out: out == ""),
            ("lm user/*", lambda out: "user/carol" not in out and "user/alice" in out),
        ]
        for command, good in steps:
            self.run_check(f"cyradm: {command}", lambda: self.cyradm_step(command, good))

    def cyradm_step(self, command: str, good):
        r = subprocess.run(["cyradm", "--norc", "--user", "admin", "-w", USERS["admin"], "--auth", "PLAIN",
                            "--port", str(self.server.imap_port), HOST], input=command + "\n", capture_output=True,
                           timeout=60, text=True, errors="replace")
        # The prompt is echoed with each command; what follows it is the command's output.
        # OpenSSL's note on the self-signed certificate ("verify error:num=18") is not output.
        strip = lambda text: "\n".join(line for line in text.splitlines()  # noqa: E731
                                       if not line.startswith("verify error:")).strip()
        out = strip(r.stdout.replace(f"{HOST}> {command}", "").replace(f"{HOST}> ", ""))
        errors = strip(r.stderr)  # cyradm reports a failed command on stderr and still exits 0
        return r.returncode == 0 and not errors and good(out), f"exit {r.returncode}; stdout {out!r}; stderr {errors!r}"

    # -- bad input -------------------------------------------------------------------------

    def bad_input_tests(self) -> None:
        self.run_check("raw: a line over the limit gets BAD and the session goes on", self.long_line)
        self.run_check("raw: an oversized synchronizing literal gets NO/BAD without '+'", self.huge_literal)
        self.run_check("raw: malformed commands get BAD with text and the session goes on", self.malformed)
        self.run_check("raw: an unknown command gets BAD", self.unknown_command)
        self.run_check("raw: 25 consecutive errors end the session with BYE", self.error_storm)
        self.run_check("raw: failed logins are delayed (the 2nd takes >= 1 s)", self.login_delay)

    def raw_session(self, login: str | None = "alice") -> "RawIMAP":
        s = RawIMAP(self.server.imaps_port)
        if login:
            reply = s.command(f"LOGIN {login} {USERS[login]}")
            if not reply[-1].startswith(b"t") or b" OK" not in reply[-1]:
                raise ProtocolError(f"LOGIN: {reply}")
        return s

    def long_line(self):
        s = self.raw_session()
        reply = s.command("a1 NOOP " + "x" * 20000, tagged=True)
        after = s.command("NOOP")
        s.close()
        bad = reply[-1]
        return (re.match(rb"(a1|\*) BAD \S", bad) is not None and b" OK" in after[-1],
                f"long line -> {reply}; NOOP after -> {after}")

    def huge_literal(self):
        s = self.raw_session()
        s.send(b"a2 APPEND INBOX {999999999}\r\n")
        line = s.read_line()
        after = s.command("NOOP") if not line.startswith(b"+") else []
        s.close()
        return (re.match(rb"a2 (NO|BAD) ", line) is not None and after and b"OK" in after[-1],
                f"got {line!r}; NOOP after -> {after}")

    def malformed(self):
        s = self.raw_session()
        problems = []
        for command in ("m1 FETCH", "m2 SELECT", "m3 UID FROB 1", "m4 STORE 1 +FLAGS", "m5 SEARCH (", "m6 LOGIN",
                        'm7 LIST "unterminated'):
            reply = s.command(command, tagged=True)
            last = reply[-1]
            tag = command.split()[0].encode()
            if not re.match(tag + rb" BAD \S", last):
                problems.append(f"{command!r} -> {reply}")
        after = s.command("NOOP")
        s.close()
        if b" OK" not in after[-1]:
            problems.append(f"NOOP after -> {after}")
        return not problems, "; ".join(problems)

    def unknown_command(self):
        s = self.raw_session(login=None)
        pre = s.command("u1 FROBNICATE now", tagged=True)
        s.command("LOGIN alice " + USERS["alice"])
        post = s.command("u2 XYZZY", tagged=True)
        after = s.command("NOOP")
        s.close()
        ok = (re.match(rb"u1 BAD \S", pre[-1]) is not None and re.match(rb"u2 BAD \S", post[-1]) is not None
              and b" OK" in after[-1])
        return ok, f"before login {pre}; after login {post}; NOOP {after}"

    def error_storm(self):
        s = self.raw_session()
        replies = []
        bye = None
        for n in range(25):
            try:
                s.send(f"e{n} BOGUS{n}\r\n".encode())
                while True:
                    line = s.read_line()
                    replies.append(line)
                    if line.startswith(b"* BYE"):
                        bye = n
                    if line.startswith(f"e{n} ".encode()) or line.startswith(b"* BYE"):
                        break
            except (ProtocolError, OSError):
                break
            if bye is not None:
                break
        closed = s.closed_by_peer()
        s.close()
        return bye is not None and closed, f"BYE after error #{bye}; closed {closed}; last replies {replies[-3:]}"

    def login_delay(self):
        s = self.raw_session(login=None)
        times = []
        replies = []
        for n in range(2):
            started = time.monotonic()
            replies.append(s.command(f"f{n} LOGIN alice not-the-password", tagged=True)[-1])
            times.append(time.monotonic() - started)
        ok_login = s.command("f9 LOGIN alice " + USERS["alice"], tagged=True)[-1]
        s.close()
        print(f"     failed LOGIN took {times[0]:.2f}s, then {times[1]:.2f}s", flush=True)
        ok = all(re.match(rb"f\d NO ", r) for r in replies) and times[1] >= 1.0 and b"OK" in ok_login
        return ok, f"replies {replies} in {[round(t, 2) for t in times]}s; then right password -> {ok_login}"


class RawIMAP:
    """Exact bytes over implicit TLS, whole lines back (bounded reads)."""

    def __init__(self, port: int, timeout: float = 20):
        raw = socket.create_connection((HOST, port), timeout=timeout)
        self.sock = tls_context().wrap_socket(raw, server_hostname="localhost")
        self.buffer = b""
        self.counter = 0
        self.greeting = self.read_line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ProtocolError(f"connection closed (partial {self.buffer[:80]!r})")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def command(self, text: str, tagged: bool = False) -> list[bytes]:
        """Sends a command (a tag is added unless `tagged`) and reads up to its tagged reply."""
        if tagged:
            tag = text.split(" ", 1)[0]
        else:
            self.counter += 1
            tag = f"t{self.counter}"
            text = f"{tag} {text}"
        self.send(text.encode() + b"\r\n")
        lines = []
        while True:
            line = self.read_line()
            lines.append(line)
            if line.startswith(tag.encode() + b" ") or line.startswith(b"* BYE"):
                return lines

    def closed_by_peer(self, wait: float = 5) -> bool:
        self.sock.settimeout(wait)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except (ssl.SSLError, OSError):
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory even on success")
    args = parser.parse_args()
    install_exit_cleanup()
    tally = Tally()
    server = CorvidServer(extra_config={"admins": "admin"})
    print(f"imap_clients: binary {server.binary}\nscratch {server.workdir} "
          f"(imap {server.imap_port}, imaps {server.imaps_port}, lmtp {server.lmtp_port})", flush=True)
    started = time.monotonic()
    try:
        for user, password in USERS.items():
            server.add_user(user, password)
        server.start(ready_timeout=60)
        tests = ClientTests(server, tally)
        tests.imaplib_tests()
        tests.imapclient_tests()
        tests.imtest_tests()
        tests.cyradm_tests()
        tests.bad_input_tests()
        closing_checks(server, tally)
    except (ServerError, OSError, ProtocolError) as error:
        tally.check(False, "harness", str(error))
    except (KeyboardInterrupt, SystemExit) as interrupt:
        tally.check(False, "run to completion", f"interrupted ({interrupt!r})")
    finally:
        server.kill()
    print(f"imap_clients: {time.monotonic() - started:.1f}s", flush=True)
    return finish_run(server, tally, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
