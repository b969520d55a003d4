#!/usr/bin/env python3
"""Bad LMTP input against a real `corvid serve`: each gets its reply, the session goes on,
a normal delivery on the same session still works, and nothing accepted is lost."""

import sys

from harness import LMTPClient, Server, Tally

MAX_SIZE = 8192  # maxmessagesize for this server
QUOTA_KIB = 8    # autocreate_quota: 8 KiB per user


def message(tag, size=300):
    head = f"Subject: {tag}\r\nMessage-ID: <{tag}@it.test>\r\n\r\n".encode()
    return head + b"x" * max(0, size - len(head) - 2) + b"\r\n"


def main():
    tally = Tally()
    server = Server(extra_config=f"maxmessagesize: {MAX_SIZE}\nautocreate_quota: {QUOTA_KIB}\n")
    server.cli("user", "add", "alice", "--password", "x")
    server.cli("user", "add", "bob", "--password", "x")
    server.start()
    try:
        c = LMTPClient(server.lmtp_port)
        c.send("LHLO it.test\r\n")
        lines = []
        while True:
            line = c.line()
            lines.append(line)
            if line[3] == " ":
                break
        features = {l[4:].split(" ")[0] for l in lines[1:]}
        tally.check({"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE"} <= features, f"LHLO features {features}")

        def good_delivery(tag):
            replies = c.deliver("s@example.org", ["alice@example.com"], message(tag))
            return replies == [r for r in replies if r.startswith("250 2.1.5")] and len(replies) == 1

        cases = [
            ("unknown command", "XYZZY", "500 5.5.2"),
            ("MAIL without <>", "MAIL FROM:a@b", "501 5.5.4"),
            ("MAIL garbage", "MAIL FROM:<a@b> SIZE=", "501 5.5.4"),
            ("RCPT before MAIL", "RCPT TO:<alice@example.com>", "503 5.5.1"),
            ("DATA before MAIL", "DATA", "503 5.5.1"),
            ("over-long line", "NOOP " + "A" * 5000, "500 5.5.2"),
            ("binary garbage", "\x00\x01\x02garbage\xff", "501 5.5.4"),
            ("HELO is not LMTP", "HELO x", "500 5.5.2"),
        ]
        for n, (what, line, expected) in enumerate(cases):
            reply = c.command(line)
            tally.check(reply.startswith(expected), f"{what}: expected {expected}, got {reply!r}")
            tally.check(good_delivery(f"after-{n}"), f"delivery after {what}")

        c.command("MAIL FROM:<s@example.org>")
        reply = c.command("DATA")
        tally.check(reply.startswith("503 5.5.1"), f"DATA before RCPT: {reply!r}")
        reply = c.command("RCPT TO:<nobody@example.com>")
        tally.check(reply.startswith("550 5.1.1"), f"unknown user: {reply!r}")
        c.command("RSET")

        reply = c.command(f"MAIL FROM:<s@example.org> SIZE={MAX_SIZE + 1}")
        tally.check(reply.startswith("552 5.3.4"), f"declared SIZE over limit: {reply!r}")
        replies = c.deliver("s@example.org", ["alice@example.com", "bob@example.com"], message("big", MAX_SIZE * 2))
        tally.check(replies == ["552 5.3.4 Message size exceeds fixed maximum message size"] * 2,
                    f"body over limit, one 552 per recipient: {replies}")

        replies = c.deliver("s@example.org", ["alice@example.com", "nobody@example.com", "bob@example.com"],
                            message("multi"))
        tally.check(len(replies) == 2 and all(r.startswith("250 2.1.5") for r in replies),
                    f"mixed recipients: a reply per accepted recipient {replies}")

        # Quota: 8 KiB each; fill bob up, then he is refused with 552 5.2.2.
        refused = None
        for i in range(10):
            replies = c.deliver("s@example.org", ["bob@example.com"], message(f"fill-{i}", 3000))
            if not replies[-1].startswith("250"):
                refused = replies[-1]
                break
        tally.check(refused is not None and "552 5.2.2" in refused, f"over quota: {refused!r}")
        tally.check(good_delivery("after-quota"), "delivery to alice still works after bob's quota refusal")
        tally.check(c.command("QUIT").startswith("221"), "QUIT")
        c.close()

        alice = server.dump("user.alice")
        subjects = {m["bytes"].split(b"Subject: ")[1].split(b"\r\n")[0].decode() for m in alice}
        expected = {f"after-{n}" for n in range(len(cases))} | {"multi", "after-quota"}
        tally.check(subjects == expected, f"alice holds exactly the accepted messages: {sorted(subjects ^ expected)}")
        bob = server.dump("user.bob")
        tally.check(sum(m["size"] for m in bob) <= QUOTA_KIB * 1024, "bob within quota")
        tally.check(server.cli("check", check=False).returncode == 0, "store healthy")

        # The server survives many sessions that end abruptly.
        for _ in range(20):
            s = LMTPClient(server.lmtp_port)
            s.send("LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nhalf a message")
            s.close()
        s = LMTPClient(server.lmtp_port)
        s.command("LHLO x")
        tally.check(s.deliver("s@example.org", ["alice@example.com"], message("survivor"))[0].startswith("250"),
                    "server still delivers after 20 dropped sessions")
        s.close()
        tally.check(len(server.dump("user.alice")) == len(expected) + 1, "dropped sessions stored nothing")

        # Administration while serving is seen at once: a new user receives mail on the next
        # RCPT, a deleted one is unknown on the next RCPT.
        server.cli("user", "add", "carol", "--password", "x")
        s = LMTPClient(server.lmtp_port)
        s.command("LHLO x")
        replies = s.deliver("s@example.org", ["carol@example.com"], message("hello-carol"))
        tally.check(replies and replies[0].startswith("250"), f"user added while serving receives mail: {replies}")
        server.cli("user", "delete", "carol")
        s.command("MAIL FROM:<s@example.org>")
        reply = s.command("RCPT TO:<carol@example.com>")
        tally.check(reply.startswith("550 5.1.1"), f"user deleted while serving is unknown at once: {reply!r}")
        s.command("QUIT")
        s.close()
        listing = server.cli("user", "list").stdout.decode()
        tally.check("carol" not in listing and "alice" in listing, f"user list: {listing!r}")
        tally.check(server.terminate() == 0, "SIGTERM exits 0")
    finally:
        status = tally.finish()
        server.cleanup(keep=status != 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
