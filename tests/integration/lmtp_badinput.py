#!/usr/bin/env python3
"""Bad LMTP input against a real `corvid serve`: each gets the right reply, and the session
goes on delivering.

Over raw sockets it sends unknown commands, malformed MAIL/RCPT, commands out of order,
unknown recipients, SIZE= and bodies over maxmessagesize, over-long command lines, NUL and
binary bytes, deliveries over quota (autocreate_quota), mixed good/unknown recipients in one
transaction, and a session dropped in the middle of DATA. After each bad input a normal
delivery on the SAME session must still work. At the end the server must stop on SIGTERM
with status 0, `corvid check` must pass, and `corvid mailbox dump` must show exactly the
accepted messages (exact bytes after the prepended Return-Path/Received lines) and none of
the refused ones.

Usage: tests/integration/lmtp_badinput.py [--keep]
Binary: $CORVID_BIN, else .build/debug/corvid, else .build/release/corvid.
The last line printed is 'N passed, M failed'; the exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corvid_harness import (  # noqa: E402
    CorvidServer, finish_run, LMTPClient, ProtocolError, Reply, ServerError, Tally, TransactionResult, dot_stuff,
    install_exit_cleanup)

MAX_SIZE = 32 * 1024  # maxmessagesize
QUOTA_KIB = 64  # autocreate_quota: every user below gets this STORAGE quota
SENDER = "bad-input@example.org"
DOMAIN = "example.com"
USERS = ["alice", "bob", "quser"]
IDLE_TIMEOUT = 10  # lmtp_timeout for this server, seconds (the smallest the config allows)
MESSAGE_ID = re.compile(rb"(?im)^Message-ID:[ \t]*(<[^>\r\n]+>)[ \t]*\r?$")


class BadInputTest:
    def __init__(self, server: CorvidServer, tally: Tally):
        self.server = server
        self.tally = tally
        self.client: LMTPClient | None = None
        self.counter = 0
        # user -> {message-id: (bytes sent, sender)} that must be stored; message-ids that must not be.
        self.expected: dict[str, dict[bytes, tuple[bytes, str]]] = collections.defaultdict(dict)
        self.refused: set[bytes] = set()

    # -- plumbing --------------------------------------------------------------------------

    def message(self, tag: str, size: int = 400, body_lines: list[bytes] | None = None) -> tuple[bytes, bytes]:
        """A unique message of about `size` bytes: (message-id, bytes)."""
        self.counter += 1
        message_id = f"<bad.{tag}.{self.counter}.{time.monotonic_ns()}@badinput.corvid.test>".encode()
        head = (b"From: <" + SENDER.encode() + b">\r\nTo: <alice@" + DOMAIN.encode() + b">\r\n"
                b"Subject: bad input test " + tag.encode() + b"\r\nMessage-ID: " + message_id +
                b"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: 8bit\r\n\r\n")
        body = b"".join(line + b"\r\n" for line in (body_lines or [b"Hello from the bad input test."]))
        filler = b"filler line for size padding 0123456789 abcdefghijklmnopqrstuvwxyz\r\n"
        data = head + body
        while len(data) + len(filler) <= size:
            data += filler
        return message_id, data

    def connect(self) -> LMTPClient:
        client, greeting = LMTPClient.connect(self.server.lmtp_port, timeout=30)
        if greeting.code != 220:
            client.close()
            raise ProtocolError(f"greeting {greeting}")
        return client

    def session(self) -> LMTPClient:
        """The shared session (opened with LHLO on first use or after a failure)."""
        if self.client is None:
            client = self.connect()
            hello = client.lhlo()
            if hello.code != 250:
                client.close()
                raise ProtocolError(f"LHLO reply {hello}")
            self.client = client
        return self.client

    def drop_session(self) -> None:
        if self.client:
            self.client.close()
        self.client = None

    def case(self, name: str, body) -> None:
        """Runs one case; a dropped connection or protocol error fails it and opens a new session."""
        try:
            body(self.session())
        except (OSError, ProtocolError) as error:
            self.tally.check(False, name, f"session failed: {error!r}")
            self.drop_session()

    def expect(self, reply: Reply, wants: tuple[str, ...] | str, name: str) -> bool:
        wants = (wants,) if isinstance(wants, str) else wants
        ok = any(reply.starts(w) for w in wants)
        return self.tally.check(ok, f"{name} -> {' or '.join(wants)}", f"got {reply}")

    def deliver(self, client: LMTPClient, recipients: list[str], tag: str, size: int = 400,
                params: str = "", sender: str = SENDER) -> TransactionResult:
        """One pipelined transaction; records what must (not) be stored. `params` may use {size}."""
        message_id, data = self.message(tag, size)
        result = TransactionResult(recipients=[f"{u}@{DOMAIN}" for u in recipients])
        try:
            client.transaction(sender, result.recipients, data, mail_params=params.format(size=len(data)),
                               result=result)
        finally:
            acked = [user for i, user in enumerate(recipients) if result.acked(i)]
            for user in acked:
                self.expected[user][message_id] = (data, sender)
            if not acked and not result.final and not (result.data and result.data.code == 354):
                self.refused.add(message_id)  # refused before DATA: certainly not stored
            elif not acked and all(r.code != 250 for r in result.final.values()) and result.final:
                self.refused.add(message_id)  # refused after the dot for every recipient
        return result

    def then_delivers(self, client: LMTPClient, after: str) -> None:
        """After a bad input: a normal (pipelined) delivery on the same session gets 250."""
        result = self.deliver(client, ["alice"], "after-" + re.sub(r"[^A-Za-z0-9]+", "-", after)[:40],
                              params="SIZE={size}")
        self.tally.check(result.acked(0), f"{after}: then a normal delivery on the same session gets 250",
                         f"MAIL {result.mail}, RCPT {[str(r) for r in result.rcpt]}, DATA {result.data}, "
                         f"final {result.outcome(0)}")

    def reset(self, client: LMTPClient, name: str) -> None:
        self.expect(client.command("RSET"), "250", f"{name}: RSET")

    # -- cases -----------------------------------------------------------------------------

    def run(self) -> None:
        self.case("greeting and LHLO", self.lhlo_before_anything)
        self.case("unknown command", self.unknown_command)
        for line in ("MAIL FROM:badinput@example.org", "MAIL FROM:<badinput@example.org",
                     "MAIL FROM badinput@example.org", "MAIL FROM:", "MAIL", "MAIL TO:<badinput@example.org>",
                     "MAIL FROM:<bad input@example.org>"):
            self.case(f"bad MAIL {line!r}", lambda c, line=line: self.bad_mail(c, line))
        self.case("RCPT before MAIL", self.rcpt_before_mail)
        self.case("DATA before MAIL", self.data_before_mail)
        self.case("DATA before RCPT", self.data_before_rcpt)
        self.case("bad RCPT syntax", self.bad_rcpt)
        self.case("unknown user", self.unknown_user)
        self.case("mixed recipients", self.mixed_recipients)
        self.case("null reverse-path", self.null_sender)
        self.case("SIZE over maxmessagesize", self.size_param_too_big)
        self.case("body over maxmessagesize", self.body_too_big)
        self.case("over-long command line", self.long_line)
        self.case("binary bytes in commands", self.binary_garbage)
        self.case("quota", self.quota)
        self.case("dump while serving", self.dump_while_serving)
        self.case("QUIT", self.quit)
        self.dropped_in_data()

    def lhlo_before_anything(self, _shared: LMTPClient) -> None:
        # The shared session already said LHLO; look at its capabilities on a fresh one.
        client = self.connect()
        try:
            self.expect(client.command(f"MAIL FROM:<{SENDER}>"), "503", "MAIL before LHLO")
            hello = client.lhlo()
            self.expect(hello, "250", "LHLO")
            keywords = {}
            for line in hello.lines[1:]:
                words = line[4:].split()
                if words:
                    keywords[words[0].upper()] = words[1:]
            missing = [k for k in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE") if k not in keywords]
            self.tally.check(not missing, "LHLO lists PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, SIZE",
                             f"missing {missing}; reply {hello}")
            size = keywords.get("SIZE")
            self.tally.check(not size or size == [str(MAX_SIZE)], f"LHLO SIZE value is maxmessagesize {MAX_SIZE}",
                             f"SIZE {size}")
            self.then_delivers(client, "fresh session after LHLO")
            self.expect(client.command("QUIT"), "221", "QUIT")
        finally:
            client.close()

    def unknown_command(self, client: LMTPClient) -> None:
        self.expect(client.command("FROBNICATE now"), "500", "unknown command FROBNICATE")
        self.then_delivers(client, "unknown command")

    def bad_mail(self, client: LMTPClient, line: str) -> None:
        self.expect(client.command(line), "501", f"bad MAIL {line!r}")
        self.then_delivers(client, f"bad MAIL {line!r}")

    def rcpt_before_mail(self, client: LMTPClient) -> None:
        self.expect(client.command(f"RCPT TO:<alice@{DOMAIN}>"), "503", "RCPT before MAIL")
        self.then_delivers(client, "RCPT before MAIL")

    def data_before_mail(self, client: LMTPClient) -> None:
        self.expect(client.command("DATA"), "503", "DATA before MAIL")
        self.then_delivers(client, "DATA before MAIL")

    def data_before_rcpt(self, client: LMTPClient) -> None:
        self.expect(client.command(f"MAIL FROM:<{SENDER}>"), "250", "MAIL")
        self.expect(client.command("DATA"), "503", "DATA before RCPT")
        self.reset(client, "DATA before RCPT")
        self.then_delivers(client, "DATA before RCPT")

    def bad_rcpt(self, client: LMTPClient) -> None:
        self.expect(client.command(f"MAIL FROM:<{SENDER}>"), "250", "MAIL")
        self.expect(client.command(f"RCPT TO:alice@{DOMAIN}"), "501", "RCPT TO without <...>")
        self.expect(client.command(f"RCPT TO:<alice@{DOMAIN}"), "501", "RCPT TO unterminated <...")
        self.reset(client, "bad RCPT")
        self.then_delivers(client, "bad RCPT")

    def unknown_user(self, client: LMTPClient) -> None:
        self.expect(client.command(f"MAIL FROM:<{SENDER}>"), "250", "MAIL")
        self.expect(client.command(f"RCPT TO:<nosuchuser@{DOMAIN}>"), "550 5.1.1", "RCPT unknown user")
        self.reset(client, "unknown user")
        self.then_delivers(client, "unknown user")

    def mixed_recipients(self, client: LMTPClient) -> None:
        result = self.deliver(client, ["alice", "nosuchuser", "bob"], "mixed")
        name = "RCPT alice, nosuchuser, bob (pipelined)"
        self.tally.check(result.mail is not None and result.mail.code == 250 and len(result.rcpt) == 3
                         and result.rcpt[0].code == 250 and result.rcpt[1].starts("550 5.1.1")
                         and result.rcpt[2].code == 250 and result.data is not None and result.data.code == 354,
                         f"{name}: 250, 550 5.1.1, 250, DATA 354",
                         f"MAIL {result.mail}, RCPT {[str(r) for r in result.rcpt]}, DATA {result.data}")
        self.tally.check(sorted(result.final) == [0, 2] and result.acked(0) and result.acked(2),
                         f"{name}: one 250 after the dot for each accepted recipient",
                         f"{ {i: str(r) for i, r in result.final.items()} }")
        extra = client.pending(0.5)
        self.tally.check(extra == b"", f"{name}: no reply for the refused recipient after the dot",
                         f"extra bytes {extra[:200]!r}")
        if extra:
            self.drop_session()
            return
        self.then_delivers(client, "mixed recipients")

    def null_sender(self, client: LMTPClient) -> None:
        result = self.deliver(client, ["bob"], "null-sender", sender="")
        ok = self.tally.check(result.acked(0), "MAIL FROM:<> (null reverse-path) is delivered",
                              f"MAIL {result.mail}, final {result.outcome(0)}")
        if not ok and result.mail is not None and result.mail.code == 250 and result.data and result.data.code != 354:
            self.reset(client, "null sender")

    def size_param_too_big(self, client: LMTPClient) -> None:
        self.expect(client.command(f"MAIL FROM:<{SENDER}> SIZE={MAX_SIZE + 7232}"), "552 5.3.4",
                    f"MAIL SIZE={MAX_SIZE + 7232} (> maxmessagesize)")
        # The refused MAIL opened no transaction, so a new MAIL must be accepted.
        self.then_delivers(client, "SIZE over maxmessagesize")

    def body_too_big(self, client: LMTPClient) -> None:
        result = self.deliver(client, ["alice"], "too-big", size=MAX_SIZE + 8000)
        self.tally.check(result.data is not None and result.data.code == 354,
                         "body over maxmessagesize: MAIL/RCPT/DATA accepted (size unknown up front)",
                         f"MAIL {result.mail}, RCPT {[str(r) for r in result.rcpt]}, DATA {result.data}")
        reply = result.outcome(0)
        self.tally.check(reply is not None and reply.starts("552 5.3.4"),
                         f"body of {MAX_SIZE + 8000} bytes (> {MAX_SIZE}) -> 552 5.3.4 at end of data", f"got {reply}")
        if result.data is not None and result.data.code != 354:
            self.reset(client, "body too big")
        self.then_delivers(client, "body over maxmessagesize")

    def long_line(self, client: LMTPClient) -> None:
        self.expect(client.command(b"NOOP " + b"x" * 5000), "500", "5,005-byte NOOP line")
        self.expect(client.command("NOOP"), "250", "NOOP after the long line")
        # An over-long line with the next command in the same segment: both answered, in order.
        client.send(b"RCPT TO:<" + b"a" * 8000 + b"@example.com>\r\nNOOP\r\n")
        self.expect(client.read_reply(), "500", "8,000-byte RCPT line pipelined with NOOP")
        self.expect(client.read_reply(), "250", "the pipelined NOOP after it")
        self.expect(client.command(b"MAIL FROM:<" + b"b" * 300_000 + b"@example.org>"), "500",
                    "300,000-byte MAIL line")
        self.then_delivers(client, "over-long lines")

    def binary_garbage(self, client: LMTPClient) -> None:
        for line, what in ((b"\x00\x01\x02\x7f\xff\xfe garbage \x00", "NUL and binary bytes"),
                           (b"\xff\xfe\xfd\xfc", "non-UTF-8 bytes"),
                           (b"NO\x00OP", "NUL inside NOOP"),
                           (b"MAIL FROM:<ba\x00d@example.org>", "NUL inside MAIL address"),
                           (b"MAIL FROM:<\xc3\x28\xa0@example.org>", "invalid UTF-8 in MAIL address")):
            reply = client.command(line)
            self.expect(reply, ("500", "501"), f"command with {what} {line[:30]!r}")
            if reply.code == 250:  # a MAIL that was accepted would leave a transaction open
                self.reset(client, what)
            self.then_delivers(client, what)

    def quota(self, client: LMTPClient) -> None:
        """quser has QUOTA_KIB KiB: three 20,000-byte messages fit, a fourth does not; a small one still does."""
        for n in range(3):
            result = self.deliver(client, ["quser"], f"quota-{n}", size=20_000)
            self.tally.check(result.acked(0), f"quota: 20,000-byte message {n + 1} of 3 fits in {QUOTA_KIB} KiB",
                             f"got {result.outcome(0)}")
        for params, what in (("", "without SIZE"), ("SIZE=20000", "with SIZE=20000")):
            result = self.deliver(client, ["quser"], "over-quota", size=20_000, params=params)
            reply = result.outcome(0)
            self.tally.check(reply is not None and reply.starts("552 5.2.2"),
                             f"quota: message over the quota ({what}) -> 552 5.2.2 at RCPT or after DATA",
                             f"got {reply}")
            if result.data is not None and result.data.code != 354:
                client.command("RSET")
        result = self.deliver(client, ["quser"], "quota-small", size=1000)
        self.tally.check(result.acked(0), "quota: a 1,000-byte message still fits", f"got {result.outcome(0)}")
        self.then_delivers(client, "over-quota refusals")

    def dump_while_serving(self, client: LMTPClient) -> None:
        missing = []
        for user in USERS:
            stored = {message_id for message_id, _ in identify(self.server.dump(f"user.{user}"))}
            missing += [f"{user} {mid.decode()}" for mid in self.expected[user] if mid not in stored]
        self.tally.check(not missing, "mailbox dump while serving shows every accepted message",
                         f"missing {missing[:5]}")
        self.then_delivers(client, "dump while serving")

    def quit(self, client: LMTPClient) -> None:
        self.expect(client.command("QUIT"), "221", "QUIT")
        self.tally.check(client.pending(5.0) == b"" and _closed(client), "QUIT closes the connection")
        self.drop_session()

    def dropped_in_data(self) -> None:
        """A session that disconnects inside DATA stores nothing."""
        name = "session dropped inside DATA"
        try:
            client = self.connect()
            try:
                self.expect(client.lhlo(), "250", f"{name}: LHLO")
                message_id, data = self.message("dropped", size=4000)
                self.refused.add(message_id)
                client.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<alice@{DOMAIN}>\r\nDATA\r\n".encode())
                replies = [client.read_reply() for _ in range(3)]
                self.tally.check([r.code for r in replies] == [250, 250, 354], f"{name}: MAIL, RCPT, DATA",
                                 str([str(r) for r in replies]))
                client.send(dot_stuff(data)[: len(data) // 2])
            finally:
                client.close()
        except (OSError, ProtocolError) as error:
            self.tally.check(False, name, repr(error))
        # A fresh session still works after the drop.
        try:
            client = self.connect()
            try:
                self.expect(client.lhlo(), "250", f"after {name}: LHLO on a new session")
                self.then_delivers(client, f"new session after {name}")
                client.command("QUIT")
            finally:
                client.close()
        except (OSError, ProtocolError) as error:
            self.tally.check(False, f"new session after {name}", repr(error))

    # -- final verification ----------------------------------------------------------------

    def verify_store(self) -> None:
        for user in USERS:
            try:
                records = self.server.dump(f"user.{user}")
            except (ServerError, OSError) as error:
                self.tally.check(False, f"dump user.{user}", str(error))
                continue
            problems = []
            seen = collections.Counter()
            previous_uid = 0
            for record, (message_id, data) in zip(records, identify(records)):
                uid = record.get("uid")
                if not isinstance(uid, int) or uid <= previous_uid:
                    problems.append(f"uid {uid} after {previous_uid}")
                previous_uid = uid if isinstance(uid, int) else previous_uid
                if record.get("guid") != hashlib.sha1(data).hexdigest() or record.get("size") != len(data):
                    problems.append(f"uid {uid}: guid/size do not match the stored bytes")
                if message_id in self.refused:
                    problems.append(f"uid {uid}: refused message {message_id.decode()} was stored")
                    continue
                if message_id not in self.expected[user]:
                    problems.append(f"uid {uid}: unexpected message {message_id!r}")
                    continue
                seen[message_id] += 1
                sent, sender = self.expected[user][message_id]
                prefix = data[: len(data) - len(sent)]
                if not data.endswith(sent):
                    problems.append(f"uid {uid}: stored bytes do not end with the bytes sent")
                elif not prefix.startswith(f"Return-Path: <{sender}>\r\n".encode()) or b"\r\nReceived:" not in b"\r\n" + prefix:
                    problems.append(f"uid {uid}: prepended lines are not Return-Path: <{sender}> + Received: "
                                    f"{prefix[:120]!r}")
            for message_id in self.expected[user]:
                if seen[message_id] != 1:
                    problems.append(f"{message_id.decode()} stored {seen[message_id]} times, want 1")
            self.tally.check(not problems, f"user.{user}: exactly the {len(self.expected[user])} accepted messages, "
                                           f"byte for byte, none of the refused ones",
                             "\n    " + "\n    ".join(problems[:15]))


def identify(records: list[dict]) -> list[tuple[bytes, bytes]]:
    """(Message-ID, stored bytes) of each dumped record."""
    out = []
    for record in records:
        data = record["bytes"]
        end = data.find(b"\r\n\r\n")
        match = MESSAGE_ID.search(data[: end if end >= 0 else len(data)])
        out.append((match.group(1) if match else b"?", data))
    return out


def _closed(client: LMTPClient) -> bool:
    try:
        client.settimeout(5)
        return client.sock.recv(1) == b""
    except OSError:
        return True


def live_administration(server: CorvidServer, tally: Tally) -> None:
    """`corvid user add/delete` beside a running server are seen at the next RCPT."""
    server.add_user("carol", "pw-carol")
    client, _ = LMTPClient.connect(server.lmtp_port)
    try:
        client.lhlo()
        message = b"Subject: hello carol\r\nMessage-ID: <live-admin@it.test>\r\n\r\nhi\r\n"
        outcome = client.transaction("admin@example.org", [f"carol@{DOMAIN}"], message).outcome(0)
        tally.check(outcome is not None and outcome.code == 250, "user added while serving receives mail at once",
                    str(outcome))
        server.cli("user", "delete", "carol")
        client.command("MAIL FROM:<admin@example.org>")
        reply = client.command(f"RCPT TO:<carol@{DOMAIN}>")
        tally.check(reply.starts("550 5.1.1"), "user deleted while serving is unknown at the next RCPT", str(reply))
        client.command("QUIT")
    finally:
        client.close()
    listing = server.cli("user", "list").stdout.decode()
    tally.check("carol" not in listing and all(user in listing for user in USERS), "corvid user list", listing)


def observability(server: CorvidServer, tally: Tally) -> None:
    """/metrics counts what happened; the status page answers."""
    base = f"http://127.0.0.1:{server.http_port}"
    metrics = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    values = {}
    for line in metrics.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    delivered = values.get('corvid_lmtp_deliveries_total{result="ok"}', 0)
    tally.check(delivered >= 30, "/metrics counts successful deliveries", f"{delivered}")
    tally.check(values.get('corvid_lmtp_errors_total{code="500"}', 0) >= 1
                and values.get('corvid_lmtp_errors_total{code="552"}', 0) >= 1,
                "/metrics counts error replies by code", metrics[:2000])
    tally.check(values.get("corvid_store_commit_batches_total", 0) >= 1, "/metrics counts commit batches")
    status = urllib.request.urlopen(base + "/", timeout=10).read().decode()
    tally.check("Corvid" in status and "lmtp" in status, "status page", status)


def idle_timeout(server: CorvidServer, tally: Tally) -> None:
    """A silent session is told 421 4.4.2 and closed after lmtp_timeout seconds."""
    client, _ = LMTPClient.connect(server.lmtp_port)
    try:
        client.lhlo()
        started = time.monotonic()
        client.settimeout(IDLE_TIMEOUT * 3)  # a deadline for the read, not a sleep
        reply = client.read_reply()
        waited = time.monotonic() - started
        tally.check(reply.starts("421 4.4.2") and IDLE_TIMEOUT - 1 <= waited <= IDLE_TIMEOUT * 3,
                    "idle session closed with 421 4.4.2 after lmtp_timeout", f"{reply} after {waited:.1f}s")
        tally.check(_closed(client), "connection closed after the idle timeout")
    except (OSError, ProtocolError) as error:
        tally.check(False, "idle timeout", repr(error))
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory even on success")
    args = parser.parse_args()
    install_exit_cleanup()
    tally = Tally()
    server = CorvidServer(extra_config={
        "maxmessagesize": str(MAX_SIZE), "autocreate_quota": str(QUOTA_KIB), "lmtp_timeout": str(IDLE_TIMEOUT)})
    print(f"lmtp_badinput: binary {server.binary}\nscratch {server.workdir} (lmtp {server.lmtp_port})", flush=True)
    try:
        for user in USERS:
            server.add_user(user, f"pw-{user}")
        server.start(ready_timeout=60)
        test = BadInputTest(server, tally)
        test.run()
        live_administration(server, tally)
        observability(server, tally)
        idle_timeout(server, tally)
        code, seconds = server.terminate(timeout=30)
        tally.check(code == 0, "SIGTERM: corvid serve exits 0 within 30 s",
                    f"status {code} after {seconds:.1f}s; output:\n{server.log_tail()}")
        ok, output = server.check()
        tally.check(ok, "corvid check exits 0", output.strip())
        test.verify_store()
    except (ServerError, OSError, ProtocolError) as error:
        tally.check(False, "harness", str(error))
    except (KeyboardInterrupt, SystemExit) as interrupt:
        tally.check(False, "run to completion", f"interrupted ({interrupt!r})")
    finally:
        server.kill()
    return finish_run(server, tally, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
