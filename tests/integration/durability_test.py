#!/usr/bin/env python3
"""SIGKILL durability: deliver over LMTP while killing and restarting `corvid serve`, then
prove that every message acknowledged with 250 is stored with its exact bytes.

Default: 10,000 messages over 8 connections to 20 users, at least 5 SIGKILLs spread over
the run. After every kill, `corvid check` runs on the store exactly as the crash left it and
must report it healthy. At the end the server is stopped with SIGTERM (must exit 0), checked
again, and every user's INBOX is dumped and compared with what was acknowledged.

  durability_test.py [--messages N] [--connections N] [--users N] [--kills N] [--seed N] [--quick]
"""

import argparse
import hashlib
import random
import sys
import threading

from harness import LMTPClient, Server, Tally


def make_message(rng, serial):
    """A unique message with lines that need dot-stuffing and some 8-bit bytes."""
    size = rng.choice([200, 800, 2000, 4096, 9000, 16000])
    msgid = f"<dur-{serial}-{rng.getrandbits(64):016x}@it.test>"
    head = (f"From: Sender <sender@example.org>\r\nTo: someone@example.com\r\n"
            f"Subject: durability {serial}\r\nMessage-ID: {msgid}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n").encode()
    body = bytearray()
    while len(body) < size:
        kind = rng.random()
        if kind < 0.1:
            line = b"." + bytes(rng.choice(b"abc .") for _ in range(rng.randint(0, 40)))
        elif kind < 0.15:
            line = "café ünïcode ≠ ascii".encode()
        else:
            line = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(0, 78)))
        body += line + b"\r\n"
    return msgid, head + bytes(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--quick", action="store_true", help="1,000 messages, 2 kills")
    args = ap.parse_args()
    if args.quick:
        args.messages, args.kills = 1000, 2

    tally = Tally()
    server = Server()
    users = [f"user{i:02d}" for i in range(1, args.users + 1)]
    for user in users:
        server.cli("user", "add", user, "--password", "x")
    server.start()

    lock = threading.Condition()
    state = {"next": 0, "acked": {}, "unacked": 0, "done": 0, "stop": False, "errors": 0}
    kill_points = sorted(random.Random(args.seed).sample(
        range(args.messages // (args.kills + 2), args.messages - args.messages // (args.kills + 2)), args.kills))
    server_ok = threading.Event()
    server_ok.set()

    def worker(index):
        rng = random.Random(args.seed * 1000 + index)
        client = None
        while True:
            with lock:
                if state["next"] >= args.messages:
                    lock.notify_all()
                    break
                serial = state["next"]
                state["next"] += 1
            user = users[serial % len(users)]
            msgid, message = make_message(rng, serial)
            try:
                if client is None:
                    server_ok.wait(120)
                    client = LMTPClient(server.lmtp_port)
                    client.command("LHLO it.test")
                replies = client.deliver("sender@example.org", [f"{user}@example.com"], message)
                ok = len(replies) == 1 and replies[0].startswith("250")
            except (OSError, ConnectionError, AssertionError):
                ok = False
                if client:
                    client.close()
                client = None
            with lock:
                if ok:
                    state["acked"][msgid] = (user, message)
                else:
                    state["unacked"] += 1
                state["done"] += 1
                lock.notify_all()
        if client:
            try:
                client.command("QUIT")
            except (OSError, ConnectionError):
                pass
            client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.connections)]
    for t in threads:
        t.start()

    kills = 0
    for point in kill_points:
        with lock:
            lock.wait_for(lambda: state["done"] >= point or state["next"] >= args.messages)
        server_ok.clear()
        server.kill()
        kills += 1
        result = server.cli("check", check=False)
        tally.check(result.returncode == 0,
                    f"corvid check after kill {kills}: {result.stdout.decode()} {result.stderr.decode()}")
        server.start()
        server_ok.set()
        with lock:
            print(f"kill {kills}: at {state['done']} attempted, {len(state['acked'])} acked, check "
                  f"{'healthy' if result.returncode == 0 else 'FAILED'}", flush=True)
    for t in threads:
        t.join()

    code = server.terminate()
    tally.check(code == 0, f"SIGTERM exit code 0 (got {code})")
    result = server.cli("check", check=False)
    tally.check(result.returncode == 0, f"final corvid check: {result.stdout.decode()}")
    tally.check(kills >= args.kills, f"{kills} kills done, {args.kills} required")

    stored = {}
    uid_order_ok = True
    guid_ok = True
    for user in users:
        messages = server.dump(f"user.{user}")
        uids = [m["uid"] for m in messages]
        uid_order_ok &= uids == sorted(set(uids))
        for m in messages:
            guid_ok &= hashlib.sha1(m["bytes"]).hexdigest() == m["guid"]
            for line in m["bytes"].split(b"\r\n", 12):
                if line.lower().startswith(b"message-id:"):
                    stored.setdefault(line.split(b":", 1)[1].strip().decode(), []).append((user, m["bytes"]))
                    break
    missing = corrupted = 0
    for msgid, (user, sent) in state["acked"].items():
        copies = [b for (u, b) in stored.get(msgid, []) if u == user]
        if not copies:
            missing += 1
        elif not any(b.endswith(sent) and b.startswith(b"Return-Path:") for b in copies):
            corrupted += 1
    extra = sum(1 for msgid in stored if msgid not in state["acked"])
    tally.check(missing == 0, f"{missing} acknowledged messages missing")
    tally.check(corrupted == 0, f"{corrupted} acknowledged messages stored with wrong bytes")
    tally.check(uid_order_ok, "UIDs unique and increasing in every mailbox")
    tally.check(guid_ok, "every GUID is the SHA-1 of the stored bytes")

    print(f"sent {args.messages}, acknowledged {len(state['acked'])}, unacknowledged {state['unacked']} "
          f"(of which stored anyway: {extra}), kills {kills}, missing {missing}, corrupted {corrupted}")
    status = tally.finish()
    server.cleanup(keep=status != 0)
    if status != 0:
        print(f"kept {server.dir} for inspection")
    return status


if __name__ == "__main__":
    sys.exit(main())
