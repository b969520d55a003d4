#!/usr/bin/env python3
"""Crash durability of LMTP delivery: every message acknowledged with 250 survives SIGKILL.

Starts `corvid serve` on a scratch store with 20 users, delivers --messages unique messages
over --connections concurrent LMTP connections, and meanwhile SIGKILLs the server at random
moments (--kills times, spread over the run). While the server is down after each kill,
`corvid check` must report a healthy store; then the server is restarted and delivery
continues. At the end the server is stopped with SIGTERM (must exit 0), `corvid check` runs
once more, and every INBOX is dumped: each acknowledged message must be stored exactly once,
in the right mailbox, as the prepended Return-Path/Received lines followed by exactly the
bytes sent, with guid == sha1(stored bytes); UIDs must be unique and strictly increasing.

Usage: tests/integration/lmtp_crash.py [--quick] [--messages N] [--kills K] [--seed S]
Binary: $CORVID_BIN, else .build/debug/corvid, else .build/release/corvid.
The last line printed is 'N passed, M failed'; the exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import collections
import email.utils
import hashlib
import math
import os
import random
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corvid_harness import (  # noqa: E402
    CorvidServer, finish_run, LMTPClient, ProtocolError, ServerError, Tally, TransactionResult, install_exit_cleanup)

SENDER = "crash-sender@example.org"
DOMAIN = "example.com"
RECONNECT_DEADLINE = 300.0  # seconds a delivery thread waits for the server to come back
REPLY_TIMEOUT = 120.0  # seconds to wait for any one reply
STALL_LIMIT = 600.0  # seconds without a finished transaction before the run is declared stuck

MESSAGE_ID = re.compile(rb"(?im)^Message-ID:[ \t]*(<[^>\r\n]+>)[ \t]*\r?$")
HEADER_NAME = re.compile(rb"^[!-9;-~]+:")


# -- messages ---------------------------------------------------------------------------------

def vocabulary(seed: str) -> list[str]:
    rng = random.Random(f"{seed}:vocabulary")
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(1, 11))) for _ in range(3000)}
    return sorted(words)


EIGHT_BIT_PHRASES = [
    "Grüße aus Köln".encode(), "naïve café déjà vu".encode(), "日本語のテキスト".encode(),
    "Ελληνικά γράμματα".encode(), "emoji \U0001F426 corvid".encode(), "Ångström, ½ € ±".encode(),
    "\u00a0non-breaking\u00a0spaces".encode(), "latin-1 bytes: caf\xe9 \xfc\xe4\xf6".encode("latin-1"),
]


@dataclass
class Outgoing:
    index: int
    message_id: str
    recipients: list[str]  # user names
    data: bytes  # exact message bytes (CRLF lines), before dot-stuffing
    mail_params: str


def make_message(index: int, seed: str, run_tag: str, users: list[str], vocab: list[str]) -> Outgoing:
    """Message number `index`: unique, deterministic for (seed, index)."""
    rng = random.Random(f"{seed}:message:{index}")
    count = 1 if rng.random() < 0.88 else rng.choice((2, 3))
    recipients = rng.sample(users, count)
    target = int(math.exp(rng.uniform(math.log(200), math.log(16 * 1024))))
    eight_bit = rng.random() < 0.35
    message_id = f"<{run_tag}.{index}.{rng.getrandbits(64):016x}@crash.corvid.test>"
    headers = [
        f"From: Crash Tester <{SENDER}>",
        "To: " + ", ".join(f"<{u}@{DOMAIN}>" for u in recipients),
        f"Subject: crash durability {index} " + " ".join(rng.choices(vocab, k=rng.randint(1, 6))),
        "Date: " + email.utils.formatdate(1_700_000_000 + index, localtime=False),
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=" + ("utf-8" if eight_bit else "us-ascii"),
        "Content-Transfer-Encoding: " + ("8bit" if eight_bit else "7bit"),
        f"X-Corvid-Crash-Index: {index}",
    ]
    out = bytearray("\r\n".join(headers).encode("ascii") + b"\r\n\r\n")
    body_lines = 0
    while len(out) < target or body_lines == 0:
        roll = rng.random()
        if roll < 0.03:
            line = b"." * rng.randint(1, 3)  # ".", "..", "..." alone on a line
        elif roll < 0.10:
            line = b"." + " ".join(rng.choices(vocab, k=rng.randint(0, 10))).encode()
        elif roll < 0.13:
            line = b""
        elif eight_bit and roll < 0.25:
            parts = [rng.choice(EIGHT_BIT_PHRASES), " ".join(rng.choices(vocab, k=rng.randint(0, 5))).encode()]
            if rng.random() < 0.5:
                parts.append(bytes(rng.randint(0x80, 0xFF) for _ in range(rng.randint(1, 24))))
            rng.shuffle(parts)
            line = b" ".join(parts)
        else:
            line = " ".join(rng.choices(vocab, k=rng.randint(1, 16))).encode()
            if rng.random() < 0.05:
                line = b"  " + line + b" \t"  # keep leading/trailing white space exactly
        out += line + b"\r\n"
        body_lines += 1
    params = []
    if eight_bit:
        params.append("BODY=8BITMIME")
    if rng.random() < 0.5:
        params.append(f"SIZE={len(out)}")
    return Outgoing(index, message_id, recipients, bytes(out), " ".join(params))


# -- shared state -----------------------------------------------------------------------------

class Ledger:
    """What was sent, what was acknowledged, and the progress the killer waits on."""

    def __init__(self, total: int):
        self.total = total
        self.cond = threading.Condition()
        self.next_index = 0
        self.completed = 0
        self.sent: dict[int, Outgoing] = {}
        self.by_message_id: dict[bytes, Outgoing] = {}
        self.acked: set[tuple[int, str]] = set()
        self.unacked: set[tuple[int, str]] = set()
        self.in_flight: set[int] = set()
        self.unexpected: collections.Counter[str] = collections.Counter()
        self.connection_failures = 0
        self.fatal: list[str] = []
        self.workers_done = 0
        self.last_progress = time.monotonic()

    def take(self) -> int | None:
        with self.cond:
            if self.next_index >= self.total or self.fatal:
                return None
            self.next_index += 1
            return self.next_index - 1

    def begin(self, message: Outgoing) -> None:
        with self.cond:
            self.sent[message.index] = message
            self.by_message_id[message.message_id.encode()] = message
            self.in_flight.add(message.index)

    def finish(self, message: Outgoing, acked: list[str], unacked: list[str],
               unexpected: list[str], connection_failed: bool) -> None:
        with self.cond:
            self.in_flight.discard(message.index)
            self.acked.update((message.index, u) for u in acked)
            self.unacked.update((message.index, u) for u in unacked)
            for reply in unexpected:
                self.unexpected[reply] += 1
            if connection_failed:
                self.connection_failures += 1
            self.completed += 1
            self.last_progress = time.monotonic()
            self.cond.notify_all()

    def fail(self, why: str) -> None:
        with self.cond:
            self.fatal.append(why)
            self.cond.notify_all()

    def worker_exit(self) -> None:
        with self.cond:
            self.workers_done += 1
            self.cond.notify_all()


class Deliverer(threading.Thread):
    def __init__(self, number: int, server: CorvidServer, ledger: Ledger, server_up: threading.Event,
                 stop: threading.Event, make):
        super().__init__(name=f"deliverer-{number}", daemon=True)
        self.server = server
        self.ledger = ledger
        self.server_up = server_up
        self.stop = stop
        self.make = make
        self.client: LMTPClient | None = None
        self.pipelining = True

    def run(self) -> None:
        try:
            self.deliver_all()
        except Exception as error:  # a bug in this script: make it visible, never hang
            self.ledger.fail(f"{self.name}: {error!r}")
        finally:
            if self.client:
                try:
                    self.client.settimeout(5)
                    self.client.command("QUIT")
                except (OSError, ProtocolError):
                    pass
                self.client.close()
            self.ledger.worker_exit()

    def connect(self) -> bool:
        """Connects (waiting, bounded, for the server to be back); False on give-up."""
        deadline = time.monotonic() + RECONNECT_DEADLINE
        last = "never tried"
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.ledger.fail(f"{self.name}: could not reconnect within {RECONNECT_DEADLINE:.0f}s (last: {last})")
                return False
            if not self.server_up.wait(timeout=min(remaining, 1.0)):
                continue
            try:
                client, greeting = LMTPClient.connect(self.server.lmtp_port, timeout=REPLY_TIMEOUT)
                if greeting.code != 220:
                    client.close()
                    last = f"greeting {greeting}"
                else:
                    hello = client.lhlo()
                    if hello.code == 250:
                        self.pipelining = any(line[4:].strip().upper() == "PIPELINING" for line in hello.lines)
                        self.client = client
                        return True
                    client.close()
                    last = f"LHLO reply {hello}"
            except (OSError, ProtocolError) as error:
                last = repr(error)
            self.stop.wait(0.05)  # back-off between connection attempts (bounded by the deadline)
        return False

    def deliver_all(self) -> None:
        while not self.stop.is_set():
            if self.client is None and not self.connect():
                return
            index = self.ledger.take()
            if index is None:
                return
            message = self.make(index)
            self.ledger.begin(message)
            addresses = [f"{u}@{DOMAIN}" for u in message.recipients]
            result = TransactionResult(recipients=addresses)
            connection_failed = False
            try:
                self.client.transaction(SENDER, addresses, message.data, mail_params=message.mail_params,
                                        pipeline=self.pipelining, result=result)
            except (OSError, ProtocolError):
                connection_failed = True
            acked, unacked, unexpected = [], [], []
            for i, user in enumerate(message.recipients):
                (acked if result.acked(i) else unacked).append(user)
                reply = result.outcome(i)
                if reply is not None and reply.code != 250:
                    unexpected.append(str(reply))
            if connection_failed or unexpected:
                self.client.close()
                self.client = None
            self.ledger.finish(message, acked, unacked, unexpected, connection_failed)


# -- verification -----------------------------------------------------------------------------

def stored_prefix_ok(prefix: bytes) -> str | None:
    """The bytes the server prepended: 'Return-Path: <sender>' and a (folded) Received header."""
    if not prefix.endswith(b"\r\n"):
        return "prepended header block does not end with CRLF"
    lines = prefix[:-2].split(b"\r\n")
    if lines[0] != f"Return-Path: <{SENDER}>".encode():
        return f"first line is {lines[0][:100]!r}, want Return-Path: <{SENDER}>"
    if not any(line.startswith(b"Received:") for line in lines[1:]):
        return "no Received: header prepended"
    for line in lines[1:]:
        if not (HEADER_NAME.match(line) or line[:1] in (b" ", b"\t")):
            return f"prepended line is neither a header nor a continuation: {line[:100]!r}"
    return None


def verify_store(server: CorvidServer, users: list[str], ledger: Ledger, tally: Tally) -> dict:
    stats = collections.Counter()
    problems: dict[str, list[str]] = collections.defaultdict(list)
    found: collections.Counter[tuple[int, str]] = collections.Counter()

    def problem(kind: str, text: str) -> None:
        stats[kind] += 1
        problems[kind].append(text)

    for user in users:
        mailbox = f"user.{user}"
        try:
            records = server.dump(mailbox)
        except (ServerError, OSError) as error:
            problem("dump_failed", f"{mailbox}: {error}")
            continue
        previous_uid = 0
        seen_uids = set()
        for record in records:
            data = record["bytes"]
            uid = record.get("uid")
            where = f"{mailbox} uid {uid}"
            stats["stored"] += 1
            if not isinstance(uid, int) or uid in seen_uids or uid <= previous_uid:
                problem("uid", f"{where}: not unique/strictly increasing (previous {previous_uid})")
            if isinstance(uid, int):
                seen_uids.add(uid)
                previous_uid = max(previous_uid, uid)
            digest = hashlib.sha1(data).hexdigest()
            if record.get("guid") != digest:
                problem("corrupted", f"{where}: guid {record.get('guid')} != sha1(stored bytes) {digest}")
            if record.get("size") != len(data):
                problem("corrupted", f"{where}: size {record.get('size')} != {len(data)} stored bytes")
            header_end = data.find(b"\r\n\r\n")
            match = MESSAGE_ID.search(data[:header_end if header_end >= 0 else len(data)])
            message = ledger.by_message_id.get(match.group(1)) if match else None
            if message is None:
                problem("corrupted", f"{where}: not a message this run sent "
                                     f"(Message-ID {match.group(1) if match else None!r}, {len(data)} bytes)")
                continue
            key = (message.index, user)
            if user not in message.recipients:
                problem("misdelivered", f"{where}: message {message.index} was for {message.recipients}")
                continue
            found[key] += 1
            if found[key] == 2:
                problem("duplicated", f"{where}: message {message.index} stored more than once")
            if not data.endswith(message.data):
                problem("corrupted", f"{where}: message {message.index}: stored bytes ({len(data)}) do not end "
                                     f"with the {len(message.data)} bytes sent")
                continue
            why = stored_prefix_ok(data[:len(data) - len(message.data)])
            if why:
                problem("corrupted", f"{where}: message {message.index}: {why}")
    for key in sorted(ledger.acked):
        if found[key] == 0:
            index, user = key
            problem("missing", f"acked message {index} ({ledger.sent[index].message_id}) not in user.{user}")
    stats["acked_present"] = sum(1 for k in ledger.acked if found[k])
    stats["unacked_present"] = sum(1 for k in ledger.unacked if found[k])
    stats["unacked_absent"] = sum(1 for k in ledger.unacked if not found[k])

    def show(kind: str) -> str:
        lines = problems.get(kind, [])
        more = f"\n    ... and {len(lines) - 10} more" if len(lines) > 10 else ""
        return "\n    " + "\n    ".join(lines[:10]) + more if lines else ""

    tally.check(stats["dump_failed"] == 0, "mailbox dump of every INBOX", show("dump_failed"))
    tally.check(stats["missing"] == 0, f"every acked delivery present ({len(ledger.acked)} acked)",
                f"{stats['missing']} missing" + show("missing"))
    tally.check(stats["corrupted"] == 0, "every stored message intact (exact bytes, Return-Path, guid, size)",
                f"{stats['corrupted']} corrupted" + show("corrupted"))
    tally.check(stats["duplicated"] + stats["misdelivered"] == 0, "no duplicated or misdelivered messages",
                f"{stats['duplicated']} duplicated, {stats['misdelivered']} misdelivered"
                + show("duplicated") + show("misdelivered"))
    tally.check(stats["uid"] == 0, "UIDs unique and strictly increasing in every INBOX", show("uid"))
    return stats


# -- main -------------------------------------------------------------------------------------

def plan_kills(total: int, kills: int, rng: random.Random) -> list[int]:
    """Completed-transaction counts at which to kill: one per equal slice of 5%..90% of the run."""
    if kills <= 0:
        return []
    width = 0.85 * total / kills
    return [max(1, int(0.05 * total + width * (i + rng.uniform(0.1, 0.9)))) for i in range(kills)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=None, help="messages to deliver (default 10000)")
    parser.add_argument("--kills", type=int, default=None, help="SIGKILLs during delivery (default 5)")
    parser.add_argument("--seed", default=None, help="RNG seed (default: random, printed)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1,000 messages and 2 kills")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory even on success")
    args = parser.parse_args()
    messages = args.messages if args.messages is not None else (1000 if args.quick else 10_000)
    kills = args.kills if args.kills is not None else (2 if args.quick else 5)
    seed = args.seed if args.seed is not None else str(random.SystemRandom().randrange(1 << 32))
    if messages < 1 or kills < 0 or args.connections < 1 or not 1 <= args.users <= 99:
        parser.error("need --messages >= 1, --kills >= 0, --connections >= 1, 1 <= --users <= 99")

    install_exit_cleanup()
    tally = Tally()
    started = time.monotonic()
    server = CorvidServer()
    print(f"lmtp_crash: {messages} messages, {args.connections} connections, {args.users} users, "
          f"{kills} kills, seed {seed}", flush=True)
    print(f"binary {server.binary}\nscratch {server.workdir} (lmtp {server.lmtp_port}, http {server.http_port})",
          flush=True)
    kill_log: list[str] = []
    checks_passed = checks_run = 0
    kills_done = 0
    stats: dict = {}
    ledger = Ledger(messages)
    stop = threading.Event()
    try:
        users = [f"user{n:02d}" for n in range(1, args.users + 1)]
        for user in users:
            server.add_user(user, f"pw-{user}")
        server.start(ready_timeout=60)

        vocab = vocabulary(seed)
        run_tag = f"r{seed}"
        server_up = threading.Event()
        server_up.set()
        workers = [Deliverer(n, server, ledger, server_up, stop,
                             lambda i: make_message(i, seed, run_tag, users, vocab))
                   for n in range(args.connections)]
        for worker in workers:
            worker.start()

        rng = random.Random(f"{seed}:killer")
        thresholds = plan_kills(messages, kills, rng)

        def all_workers_done() -> bool:
            return ledger.workers_done == len(workers)

        def restart_after(what: str) -> None:
            nonlocal checks_passed, checks_run
            ok, output = server.check()
            checks_run += 1
            checks_passed += ok
            tally.check(ok, f"corvid check after {what} exits 0", output.strip())
            server.start(ready_timeout=60)
            server_up.set()

        def handle_unprompted_exit() -> None:
            server_up.clear()
            code = server.kill()
            tally.check(False, "server stays up between kills",
                        f"corvid serve exited on its own with status {code}; output:\n{server.log_tail()}")
            restart_after("an unprompted exit")

        def wait_for(predicate) -> None:
            """Waits until predicate() (under ledger.cond), all workers are done or a fatal error,
            restarting (as a recorded failure) a server that dies on its own meanwhile."""
            while True:
                with ledger.cond:
                    while True:
                        if predicate() or all_workers_done() or ledger.fatal:
                            return
                        if time.monotonic() - ledger.last_progress > STALL_LIMIT:
                            ledger.fatal.append(f"no transaction finished for {STALL_LIMIT:.0f}s")
                            return
                        if not server.alive():
                            break
                        ledger.cond.wait(timeout=0.5)
                handle_unprompted_exit()

        for number, threshold in enumerate(thresholds, 1):
            wait_for(lambda: ledger.completed >= threshold)
            if ledger.fatal or all_workers_done():
                break
            with ledger.cond:
                remaining = messages - ledger.completed
            if remaining > 4 * args.connections:
                stop.wait(rng.uniform(0.0, 0.03))  # a random moment inside the transactions in flight
            if all_workers_done():
                break
            if not server.alive():
                handle_unprompted_exit()
                continue
            with ledger.cond:
                in_flight = len(ledger.in_flight)
                completed = ledger.completed
            server_up.clear()
            code = server.kill()
            if code != -signal.SIGKILL:
                tally.check(False, f"kill {number} hits a running server", f"exit status {code}")
            kills_done += 1
            kill_log.append(f"kill {number}: after {completed} transactions, {in_flight} in flight")
            print(f"  {kill_log[-1]}; running corvid check", flush=True)
            restart_after(f"kill {number}")

        while not all_workers_done() and not ledger.fatal:
            wait_for(lambda: False)
        stop.set()
        server_up.set()
        for worker in workers:
            worker.join(timeout=REPLY_TIMEOUT + 10)
        tally.check(not ledger.fatal and all(not w.is_alive() for w in workers) and ledger.completed == messages,
                    f"all {messages} transactions attempted",
                    "; ".join(ledger.fatal) or f"{ledger.completed} finished")
        deliveries = len(ledger.acked) + len(ledger.unacked)
        tally.check(deliveries > 0 and len(ledger.acked) >= 0.5 * deliveries,
                    "most deliveries acknowledged", f"{len(ledger.acked)} of {deliveries}")
        tally.check(kills_done >= kills, f"at least {kills} kills during delivery", f"only {kills_done}")

        if server.alive():
            code, seconds = server.terminate(timeout=30)
            tally.check(code == 0, "SIGTERM: corvid serve exits 0 within 30 s",
                        f"status {code} after {seconds:.1f}s; output:\n{server.log_tail()}")
        else:
            tally.check(False, "SIGTERM: corvid serve exits 0 within 30 s", "server was not running at the end")
        ok, output = server.check()
        checks_run += 1
        checks_passed += ok
        tally.check(ok, "final corvid check exits 0", output.strip())
        stats = verify_store(server, users, ledger, tally)
    except (ServerError, OSError) as error:
        tally.check(False, "harness", str(error))
    except (KeyboardInterrupt, SystemExit) as interrupt:
        tally.check(False, "run to completion", f"interrupted ({interrupt!r})")
    finally:
        stop.set()
        server.kill()

    elapsed = time.monotonic() - started
    deliveries = len(ledger.acked) + len(ledger.unacked)
    def stat(key: str):
        return stats.get(key, 0) if stats else "?"

    print("summary:")
    print(f"  messages sent       {len(ledger.sent)} ({deliveries} recipient deliveries) in {elapsed:.0f}s")
    print(f"  acked               {len(ledger.acked)}")
    print(f"  unacked             {len(ledger.unacked)} (present {stat('unacked_present')}, "
          f"absent {stat('unacked_absent')})")
    print(f"  connection failures {ledger.connection_failures}")
    for reply, count in ledger.unexpected.most_common(5):
        print(f"  unexpected reply    {count} x {reply}")
    print(f"  kills done          {kills_done} (wanted >= {kills})")
    for line in kill_log:
        print(f"    {line}")
    print(f"  checks passed       {checks_passed}/{checks_run}")
    print(f"  stored messages     {stat('stored')}")
    print(f"  missing             {stat('missing')}")
    print(f"  corrupted           {stat('corrupted')}")
    print(f"  duplicated          {stat('duplicated')}, misdelivered {stat('misdelivered')}")
    return finish_run(server, tally, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
