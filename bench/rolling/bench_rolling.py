#!/usr/bin/env python3
"""bench/rolling: rolling replication under steady LMTP load, Cyrus 3.6 -> Cyrus 3.6 and
Corvid -> Corvid in the same run (see README.md). Run through bench/rolling/run.

Three roles in one file, each its own process so that neither timing loop waits on the other's
Python lock:
  orchestrate (default)  starts each pair, runs the phases, prints the table, writes the JSON
  load                   delivers over LMTP to the master on a fixed schedule (open loop) and
                         writes one JSON line per message: scheduled, started, acknowledged
  watch                  polls the replica's INBOXes over IMAP every --poll-ms and writes one
                         JSON line per message the moment it is first seen
All timestamps are CLOCK_MONOTONIC (time.monotonic()), which is one clock for every process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
HOST = "127.0.0.1"
# stopping a replica: SIGTERM, then SIGKILL after this many seconds (how it stopped is reported)
STOP_TIMEOUT = 10.0
QUICKACK = getattr(socket, "TCP_QUICKACK", None)
MSGID = re.compile(rb"<(rb-[^>]+)@bench\.invalid>")


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Stop:
    """Set by SIGTERM/SIGINT in the load and watch processes."""
    flag = threading.Event()

    @classmethod
    def install(cls) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: cls.flag.set())


class LineWriter:
    """One JSON object per line, written and flushed at once (the orchestrator tails the file)."""

    def __init__(self, path: str):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def write(self, obj: dict) -> None:
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        with self.lock:
            self.f.write(line)

    def close(self) -> None:
        self.f.close()


class Tail:
    """Reads the complete lines appended to a JSON-lines file since the last call."""

    def __init__(self, path: str):
        self.path = path
        self.offset = 0
        self.rest = b""

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.rest + data
        lines = data.split(b"\n")
        self.rest = lines.pop()
        return [json.loads(line) for line in lines if line.strip()]


# ============================================================================ load (LMTP)

def make_message(token: str, user: str, size: int) -> bytes:
    head = (f"Received: from bench.invalid by bench.invalid; {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            f"From: Rolling Bench <sender@bench.invalid>\r\nTo: {user}@example.com\r\n"
            f"Subject: rolling replication probe {token}\r\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            f"Message-ID: <{token}@bench.invalid>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    body = []
    filler = "The quick brown fox jumps over the lazy dog while replication keeps up. "
    length = len(head)
    n = 0
    while length < size - 2:
        line = f"{n:05d} {filler}"[: max(1, min(76, size - 2 - length - 2))] + "\r\n"
        body.append(line)
        length += len(line)
        n += 1
    return (head + "".join(body)).encode()


class LMTPConn:
    def __init__(self, port: int):
        self.sock = socket.create_connection((HOST, port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.reply()  # 220
        self.sock.sendall(b"LHLO bench.invalid\r\n")
        code, text = self.reply()
        if code != 250:
            raise OSError(f"LHLO: {code} {text}")
        self.pipelining = b"PIPELINING" in text.upper()

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def reply(self) -> tuple[int, bytes]:
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"\n".join(lines)

    def deliver(self, user: str, message: bytes) -> tuple[int, bytes]:
        cmds = [b"MAIL FROM:<sender@bench.invalid>\r\n", f"RCPT TO:<{user}@example.com>\r\n".encode(), b"DATA\r\n"]
        if self.pipelining:
            self.sock.sendall(b"".join(cmds))
            replies = [self.reply() for _ in cmds]
        else:
            replies = []
            for c in cmds:
                self.sock.sendall(c)
                replies.append(self.reply())
                if replies[-1][0] >= 400:
                    break
        for (code, text), want in zip(replies, (250, 250, 354)):
            if code != want:
                if len(replies) == 3 and replies[2][0] == 354:
                    self.sock.sendall(b".\r\n")
                    self.reply()
                return code, text
        data = message.replace(b"\r\n.", b"\r\n..")
        self.sock.sendall(data + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        return self.reply()

    def close(self) -> None:
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.sock.close()


def cmd_load(args) -> int:
    """Open loop: message i is due at t0 + i/rate; connection j sends the messages i = j mod
    conns, to user i mod users. A connection that falls behind sends at once (the slip is
    recorded). Stops after --seconds (0: at SIGTERM) or --count messages."""
    Stop.install()
    users = args.users.split(",")
    out = LineWriter(args.out)
    t0 = time.monotonic() + 0.2
    deadline = t0 + args.seconds if args.seconds > 0 else float("inf")
    errors = []

    def worker(j: int) -> None:
        conn = None
        i = j
        while not Stop.flag.is_set() and (args.count <= 0 or i < args.count):
            due = t0 + i / args.rate
            if due >= deadline:
                break
            wait = due - time.monotonic()
            if wait > 0:
                if Stop.flag.wait(wait):
                    break
            user = users[i % len(users)]
            token = f"rb-{args.prefix}-{i}"
            msg = make_message(token, user, args.size)
            try:
                if conn is None:
                    conn = LMTPConn(args.port)
                start = time.monotonic()
                code, text = conn.deliver(user, msg)
                ack = time.monotonic()
            except OSError as error:
                errors.append(repr(error))
                out.write({"t": token, "u": user, "s": due, "b": time.monotonic(), "a": None, "c": 0,
                           "e": repr(error)[:200], "n": len(msg)})
                if conn is not None:
                    conn.sock.close()
                conn = None
                time.sleep(0.05)  # pacing after an I/O error: reconnect on the next message
                i += args.conns
                continue
            rec = {"t": token, "u": user, "s": due, "b": start, "a": ack, "c": code, "n": len(msg)}
            if code != 250:
                rec["e"] = text.decode("utf-8", "replace")[:200]
            out.write(rec)
            i += args.conns
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(j,), daemon=True) for j in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    out.close()
    return 0


# ============================================================================ watch (IMAP)

class IMAPWatch:
    """One user's INBOX on the replica: EXAMINE, then `UID FETCH next:*` for Message-IDs."""

    def __init__(self, user: str, password: str, port: int):
        self.user, self.password, self.port = user, password, port
        self.sock: socket.socket | None = None
        self.buf = b""
        self.next_uid = 1
        self.tag = 0
        self.prev_send = None  # when the previous poll was sent (lower bound of a new message's arrival)
        self.sent_at = None
        self.retry_at = 0.0
        self.reconnects = 0
        self.last_error = ""

    def _recv(self, n: int) -> bytes:
        chunk = self.sock.recv(n)
        # Acknowledge at once: a server that answers NOOP and UID FETCH in separate small writes
        # without TCP_NODELAY would otherwise wait for our delayed ACK (40 ms) before the second.
        if QUICKACK is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        return chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self._recv(262144)
            if not chunk:
                raise OSError("connection closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _bytes(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self._recv(max(262144, n - len(self.buf)))
            if not chunk:
                raise OSError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self) -> tuple[bytes, list[bytes]]:
        """One whole response: (text with literals replaced by {}, [literals])."""
        text, literals = b"", []
        while True:
            line = self._line()
            m = re.search(rb"\{(\d+)\}$", line)
            if not m:
                return text + line, literals
            text += line[: m.start()] + b"{}"
            literals.append(self._bytes(int(m.group(1))))

    def command(self, line: str) -> tuple[bytes, list[tuple[bytes, list[bytes]]]]:
        self.tag += 1
        tag = f"w{self.tag}".encode()
        self.sock.sendall(tag + b" " + line.encode() + b"\r\n")
        return self.finish(tag)

    def finish(self, tag: bytes):
        untagged = []
        while True:
            text, lits = self.response()
            if text.startswith(tag + b" "):
                return text[len(tag) + 1:], untagged
            untagged.append((text, lits))

    def connect(self) -> bool:
        try:
            self.sock = socket.create_connection((HOST, self.port), timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buf = b""
            self._line()  # greeting
            status, _ = self.command(f'LOGIN "{self.user}" "{self.password}"')
            if not status.startswith(b"OK"):
                raise OSError(f"LOGIN: {status[:200]!r}")
            status, _ = self.command("EXAMINE INBOX")
            if not status.startswith(b"OK"):
                raise OSError(f"EXAMINE: {status[:200]!r}")  # not replicated yet
            self.reconnects += 1
            self.prev_send = None
            return True
        except OSError as error:
            self.last_error = repr(error)[:200]
            self.drop()
            return False

    def drop(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def send_poll(self, noop: bool) -> None:
        self.tag += 1
        self.poll_tag = f"w{self.tag}".encode()
        cmd = f"UID FETCH {self.next_uid}:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n".encode()
        data = (b"n" + self.poll_tag + b" NOOP\r\n" if noop else b"") + self.poll_tag + b" " + cmd
        self.sent_at = time.monotonic()
        self.sock.sendall(data)

    def read_poll(self, noop: bool) -> list[tuple[int, str]]:
        if noop:
            self.finish(b"n" + self.poll_tag)
        status, untagged = self.finish(self.poll_tag)
        if not status.startswith(b"OK"):
            raise OSError(f"UID FETCH: {status[:200]!r}")
        found = []
        for text, lits in untagged:
            if b" FETCH " not in text:
                continue
            m = re.search(rb"UID (\d+)", text)
            if not m:
                continue
            uid = int(m.group(1))
            if uid < self.next_uid:
                continue  # `n:*` past the end names the last message
            token = None
            for lit in lits:
                t = MSGID.search(lit)
                if t:
                    token = t.group(1).decode()
            found.append((uid, token or f"uid:{uid}"))
        if found:
            self.next_uid = max(u for u, _ in found) + 1
        return found


def cmd_watch(args) -> int:
    """Every --poll-ms, pipelines one poll to each user's connection, then reads the answers.
    A message is recorded with `seen` = when the answer that first listed it was read and
    `prev` = when the previous poll on that connection was sent: it became visible in
    (prev, seen]. Connections lost (replica stopped) are retried every 20 ms."""
    Stop.install()
    out = LineWriter(args.out)
    watches = [IMAPWatch(u, args.password, args.port) for u in args.users.split(",")]
    interval = args.poll_ms / 1000.0
    polls = 0
    started = time.monotonic()
    busy = 0.0
    next_tick = time.monotonic()
    while not Stop.flag.is_set():
        now = time.monotonic()
        for w in watches:
            if w.sock is None and now >= w.retry_at:
                if not w.connect():
                    w.retry_at = time.monotonic() + 0.02  # retry pacing while the replica is down
        live = [w for w in watches if w.sock is not None]
        tick_start = time.monotonic()
        sent = []
        for w in live:
            try:
                w.send_poll(args.noop)
                sent.append(w)
            except OSError as error:
                w.last_error = repr(error)[:200]
                w.drop()
        for w in sent:
            try:
                found = w.read_poll(args.noop)
            except OSError as error:
                w.last_error = repr(error)[:200]
                w.drop()
                continue
            seen = time.monotonic()
            for uid, token in found:
                out.write({"t": token, "u": w.user, "uid": uid, "seen": seen,
                           "prev": w.prev_send if w.prev_send is not None else w.sent_at})
            w.prev_send = w.sent_at
        if sent:
            polls += 1
            busy += time.monotonic() - tick_start
        next_tick += interval
        wait = next_tick - time.monotonic()
        if wait > 0:
            Stop.flag.wait(wait)
        else:
            next_tick = time.monotonic()  # fell behind: no catch-up burst
    elapsed = time.monotonic() - started
    out.write({"summary": {"polls": polls, "seconds": elapsed, "busy_seconds": busy,
                           "reconnects": {w.user: w.reconnects for w in watches},
                           "last_errors": {w.user: w.last_error for w in watches if w.last_error}}})
    out.close()
    for w in watches:
        w.drop()
    return 0


# ============================================================================ orchestrate

def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def socket_queues(port: int) -> list[str]:
    """Every TCP socket with `port` at either end, with its send and receive queues (bytes
    written but not yet acknowledged / received but not yet read by the process), from
    /proc/net/tcp: what a stalled csync session looks like from outside."""
    states = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}
    out = []
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                local, remote = int(parts[1].rsplit(":", 1)[1], 16), int(parts[2].rsplit(":", 1)[1], 16)
                if port in (local, remote) and parts[3] != "0A":
                    tx, rx = (int(x, 16) for x in parts[4].split(":"))
                    out.append(f"{local}->{remote} {states.get(parts[3], parts[3])} send-q {tx} recv-q {rx}")
    except OSError:
        pass
    return out


def established(port: int) -> int:
    """ESTABLISHED TCP connections whose local port is `port` (the replica's csync side), from
    /proc/net/tcp: reading it does not touch either server."""
    count = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        count += 1
        except FileNotFoundError:
            pass
    return count


def competitors() -> int:
    """Compiler/linker processes elsewhere on the box (they skew a 2-core benchmark)."""
    names = re.compile(r"^(swift-build|swift-frontend|swiftc|swift-driver|clang|clang-[0-9]+|cc1|cc1plus|gcc|ld|"
                       r"ld\.gold|ld\.lld|rustc|cargo|make)$")
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if names.match(f.read().strip()):
                        n += 1
            except OSError:
                pass
    return n


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Pair:
    """A master and its replica with rolling replication between them."""
    name = ""
    password = ""

    def __init__(self, scratch: str, args):
        self.scratch = scratch
        self.args = args
        self.users = [f"rolluser{i}" for i in range(1, args.users + 1)]

    # set by subclasses
    master_lmtp = 0
    replica_imap = 0
    replica_sync = 0
    note = ""

    def start(self) -> None: ...
    def cpu(self) -> tuple[float, float]:
        """CPU seconds used so far by the master's and the replica's process trees."""
        return tree_cpu_seconds(self.master.proc.pid), tree_cpu_seconds(self.replica.proc.pid)
    def stop_replica(self) -> str: ...
    def start_replica(self) -> None: ...
    def problems(self) -> list[str]: return []
    def diagnose(self) -> dict:
        return {"csync_sockets": socket_queues(self.replica_sync)}
    def cleanup(self) -> None:
        for s in (getattr(self, "master", None), getattr(self, "replica", None)):
            if s is not None:
                try:
                    s.cleanup(keep=self.args.keep)
                except Exception as error:  # noqa: BLE001 - best effort
                    log(f"{self.name} cleanup: {error}")


class CorvidPair(Pair):
    name = "corvid"
    password = "pw"

    def start(self) -> None:
        sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
        from corvid_harness import CorvidServer, free_loopback_ports
        sync_port = free_loopback_ports(1)[0]
        self.replica = CorvidServer(workdir=os.path.join(self.scratch, "replica"), binary=self.args.corvid,
                                    extra_config={"admins": "repl", "allowplaintext": "yes",
                                                  "sync_listen": f"{HOST}:{sync_port}"})
        self.replica.add_user("repl", "replpw")
        for u in self.users:
            self.replica.add_user(u, self.password, inbox=False)  # mailboxes arrive by replication
        self.master = CorvidServer(workdir=os.path.join(self.scratch, "master"), binary=self.args.corvid,
                                   extra_config={"admins": "repl", "allowplaintext": "yes", "sync_log": "1",
                                                 "sync_host": f"{HOST}:{sync_port}", "sync_authname": "repl",
                                                 "sync_password": "replpw",
                                                 "sync_reconnect_maxwait": self.args.reconnect_maxwait,
                                                 **({"sync_repeat_interval": self.args.corvid_repeat_interval}
                                                    if self.args.corvid_repeat_interval else {})})
        self.master.add_user("repl", "replpw", inbox=False)
        for u in self.users:
            self.master.add_user(u, self.password)
        self.replica.start()
        self.master.start()
        self.master_lmtp = self.master.lmtp_port
        self.replica_imap = self.replica.imap_port
        self.replica_sync = sync_port
        self.note = (f"corvid serve, sync_log: 1, sync_repeat_interval: "
                     f"{self.args.corvid_repeat_interval or '(default, 100ms)'}, "
                     f"sync_reconnect_maxwait: {self.args.reconnect_maxwait}")

    def stop_replica(self) -> str:
        code, seconds = self.replica.terminate(timeout=STOP_TIMEOUT)
        if code is None:
            return f"SIGTERM, still running after {seconds:.1f}s: SIGKILLed"
        return f"SIGTERM, exited with status {code} in {seconds:.2f}s"

    def start_replica(self) -> None:
        self.replica.start()

    def problems(self) -> list[str]:
        out = []
        if not self.master.alive():
            out.append("corvid master exited")
        return out

    def diagnose(self) -> dict:
        result = super().diagnose()
        try:
            status = self.master.cli("sync", "status", timeout=60)
            result["corvid_sync_status"] = (status.stdout + status.stderr).decode("utf-8", "replace")[-2000:]
        except Exception as error:  # noqa: BLE001 - diagnostics only
            result["corvid_sync_status"] = repr(error)
        return result


def cyrus_instance_class():
    """CyrusInstance whose master runs the rolling sync_client from cyrus.conf's DAEMON section,
    the documented deployment: cyrmaster restarts it whenever it exits. It has to: sync_client -r
    exits (status 0, "Processing sync log file ... failed: LOGOUT received") when the replica
    shuts down cleanly."""
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
    from cyrus_peer import CyrusInstance, SYNC_CLIENT

    class RollingCyrus(CyrusInstance):
        def write_config(self) -> None:
            super().write_config()
            if self.sync_target is not None:
                with open(self.cyrus_conf_path, "a") as f:
                    f.write(f'DAEMON {{\n  syncclient cmd="{SYNC_CLIENT} -C {self.conf_path} -r"\n}}\n')

    return RollingCyrus


def children(pid: int) -> list[int]:
    """PIDs whose parent is pid, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a process, its live descendants, and the children already
    reaped by any of them (cutime/cstime), from /proc."""
    parent: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            pid = int(entry)
            parent[pid] = int(fields[1])
            times[pid] = sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    total, stack, seen = 0.0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen or pid not in times:
            continue
        seen.add(pid)
        total += times[pid]
        stack.extend(p for p, pp in parent.items() if pp == pid)
    return total


def sync_client_pids(conf_path: str) -> set[int]:
    """PIDs of sync_client processes started with this master's config (from /proc)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"sync_client") and conf_path.encode() in argv:
                pids.add(int(entry))
    return pids


class CyrusPair(Pair):
    name = "cyrus"
    password = "any"  # sasl_pwcheck_method: alwaystrue

    def start(self) -> None:
        cls = cyrus_instance_class()
        # own sessions: a stopping cyrmaster signals its whole process group (see cyrus_peer.py)
        self.replica = cls("replica", workdir=os.path.join(self.scratch, "cyrus-replica"), own_session=True)
        self.replica.start()
        extra = {"sync_log": "1", "sync_reconnect_maxwait": self.args.reconnect_maxwait}
        if self.args.cyrus_repeat_interval:
            extra["sync_repeat_interval"] = self.args.cyrus_repeat_interval
        self.master = cls("master", workdir=os.path.join(self.scratch, "cyrus-master"), own_session=True,
                          sync_target=(HOST, self.replica.sync_port), extra_config=extra)
        self.master.start()
        for u in self.users:
            self.master.create_user(u)
        self.client_pids: set[int] = set()
        self.sample()
        self.master_lmtp = self.master.lmtp_port
        self.replica_imap = self.replica.imap_port
        self.replica_sync = self.replica.sync_port
        self.note = (f"cyrmaster with sync_client -r in its DAEMON section, sync_log: 1, sync_repeat_interval: "
                     f"{self.args.cyrus_repeat_interval or '(default, 1s)'}, "
                     f"sync_reconnect_maxwait: {self.args.reconnect_maxwait} (Cyrus's default: 20m)")

    def sample(self) -> None:
        self.client_pids |= sync_client_pids(self.master.conf_path)

    def client_starts(self) -> int:
        return len(self.client_pids)

    def stop_replica(self) -> str:
        """SIGTERM to cyrmaster; what is left after STOP_TIMEOUT is named, then SIGKILLed."""
        proc = self.replica.proc
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
            note = f"SIGTERM to cyrmaster, exited with status {proc.returncode} in {time.monotonic() - started:.2f}s"
        except subprocess.TimeoutExpired:
            left = []
            for pid in [proc.pid] + children(proc.pid):  # our cyrmaster and its services, by pid
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        left.append(f.read().strip())
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            proc.wait(timeout=30)
            note = (f"SIGTERM to cyrmaster, still running after {STOP_TIMEOUT:g}s "
                    f"({', '.join(sorted(left))}): SIGKILLed")
        self.replica.stop(timeout=STOP_TIMEOUT)  # bookkeeping; waits until the ports are free
        return note

    def start_replica(self) -> None:
        self.replica.start()

    def problems(self) -> list[str]:
        self.sample()
        return [] if self.master.alive() else ["cyrus master (cyrmaster) exited"]


class Run:
    """The phases for one pair, with the load and watch processes and their files."""

    def __init__(self, pair: Pair, scratch: str, args):
        self.pair, self.scratch, self.args = pair, scratch, args
        self.sent: dict[str, dict] = {}
        self.seen: dict[str, dict] = {}
        self.load_tail = None
        self.watch_tail = None
        self.watcher = None
        self.watch_summary = None
        self.last_problems = ""

    def spawn(self, role: str, *extra: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, os.path.abspath(__file__), role, *extra],
                                stdin=subprocess.DEVNULL)

    def start_watch(self) -> None:
        path = os.path.join(self.scratch, "watch.jsonl")
        self.watch_tail = Tail(path)
        self.watcher = self.spawn("watch", "--port", str(self.pair.replica_imap), "--users",
                                  ",".join(self.pair.users), "--password", self.pair.password,
                                  "--poll-ms", str(self.args.poll_ms), "--out", path,
                                  *(["--noop"] if self.args.noop else []))

    def stop_watch(self) -> None:
        if self.watcher is not None and self.watcher.poll() is None:
            self.watcher.send_signal(signal.SIGTERM)
            self.watcher.wait(timeout=30)
        self.update()

    def load(self, prefix: str, seconds: float, count: int = 0, rate: float | None = None) -> subprocess.Popen:
        path = os.path.join(self.scratch, f"load-{prefix}.jsonl")
        self.load_tail = Tail(path)
        return self.spawn("load", "--port", str(self.pair.master_lmtp), "--users", ",".join(self.pair.users),
                          "--rate", str(rate or self.args.rate), "--conns", str(self.args.conns),
                          "--size", str(self.args.size), "--seconds", str(seconds), "--count", str(count),
                          "--prefix", prefix, "--out", path)

    def update(self) -> None:
        if self.load_tail is not None:
            for rec in self.load_tail.read():
                self.sent[rec["t"]] = rec
        if self.watch_tail is not None:
            for rec in self.watch_tail.read():
                if "summary" in rec:
                    self.watch_summary = rec["summary"]
                elif rec["t"] not in self.seen:
                    self.seen[rec["t"]] = rec

    def acked(self, prefix: str, before: float = float("inf")) -> list[dict]:
        return [r for t, r in self.sent.items() if t.startswith(f"rb-{prefix}-") and r["c"] == 250
                and r["a"] is not None and r["a"] < before]

    def wait_seen(self, tokens: list[str], timeout: float, label: str) -> float | None:
        """Until every token is seen on the replica (bounded): the time it completed, or None."""
        deadline = time.monotonic() + timeout
        while True:
            self.update()
            if all(t in self.seen for t in tokens):
                return max((self.seen[t]["seen"] for t in tokens), default=time.monotonic())
            if time.monotonic() >= deadline:
                missing = sum(1 for t in tokens if t not in self.seen)
                log(f"{self.pair.name}: {label}: {missing} of {len(tokens)} not on the replica after {timeout:.0f}s")
                return None
            problems = "; ".join(self.pair.problems())
            if problems and problems != self.last_problems:
                log(f"{self.pair.name}: {label}: {problems}")
            self.last_problems = problems
            time.sleep(0.05)  # orchestrator polling of the result files

    def delivery_stats(self, prefix: str, records: list[dict]) -> dict:
        ok = [r for r in records if r["c"] == 250 and r["a"] is not None]
        failed = [r for r in records if not (r["c"] == 250 and r["a"] is not None)]
        if not ok:
            return {"attempted": len(records), "acked": 0, "failed": len(failed)}
        first_due = min(r["s"] for r in records)
        last_ack = max(r["a"] for r in ok)
        slip = [(r["b"] - r["s"]) * 1000 for r in ok]
        latency = [(r["a"] - r["b"]) * 1000 for r in ok]
        return {"attempted": len(records), "acked": len(ok), "failed": len(failed),
                "failures": sorted({r.get("e", str(r["c"]))[:120] for r in failed})[:5],
                "seconds": last_ack - first_due, "rate": len(ok) / (last_ack - first_due) if last_ack > first_due else None,
                "bytes": sum(r["n"] for r in ok),
                "lmtp_ms_p50": pct(latency, 50), "lmtp_ms_p99": pct(latency, 99),
                "slip_ms_p50": pct(slip, 50), "slip_ms_p99": pct(slip, 99), "slip_ms_max": max(slip),
                "late_10ms": sum(1 for s in slip if s > 10)}

    # ---------------------------------------------------------------------- phases

    def warmup(self) -> None:
        log(f"{self.pair.name}: warm-up: {2 * len(self.pair.users)} messages, waiting for the replica")
        p = self.load("warm", 0, count=2 * len(self.pair.users), rate=20)
        p.wait(timeout=120)
        self.update()
        tokens = [r["t"] for r in self.acked("warm")]
        if len(tokens) != 2 * len(self.pair.users):
            raise RuntimeError(f"warm-up: only {len(tokens)} deliveries acknowledged")
        if self.wait_seen(tokens, 120, "warm-up") is None:
            raise RuntimeError("warm-up messages never reached the replica: " + "; ".join(self.pair.problems()))

    def prefill(self) -> dict:
        """--prefill N messages per user, as fast as the master takes them, then waits until the
        replica has them all: the lag phase then runs against mailboxes of that size."""
        n = self.args.prefill * len(self.pair.users)
        log(f"{self.pair.name}: prefill: {n} messages ({self.args.prefill} per user)")
        started = time.monotonic()
        p = self.load("fill", 0, count=n, rate=self.args.prefill_rate)
        p.wait(timeout=3600)
        self.update()
        acked = self.acked("fill")
        done = self.wait_seen([r["t"] for r in acked], 1800, "prefill")
        if done is None:
            raise RuntimeError("prefill: the replica did not get every message")
        return {"messages": len(acked), "seconds": time.monotonic() - started}

    def lag_phase(self) -> dict:
        log(f"{self.pair.name}: lag: {self.args.rate:g} msg/s for {self.args.lag_seconds:g}s")
        before = (competitors(), loadavg())
        cpu_before = self.pair.cpu()
        p = self.load("lag", self.args.lag_seconds)
        p.wait(timeout=self.args.lag_seconds + 120)
        cpu_after = self.pair.cpu()
        self.update()
        records = [r for t, r in self.sent.items() if t.startswith("rb-lag-")]
        acked = self.acked("lag")
        self.wait_seen([r["t"] for r in acked], self.args.drain_seconds, "lag drain")
        after = (competitors(), loadavg())
        upper = []
        lower = []
        for r in acked:
            s = self.seen.get(r["t"])
            if s:
                upper.append((s["seen"] - r["a"]) * 1000)
                lower.append(max(0.0, (s["prev"] - r["a"]) * 1000))
        return {"delivery": self.delivery_stats("lag", records), "replicated": len(upper),
                "not_replicated": len(acked) - len(upper),
                "lag_ms": {"p50": pct(upper, 50), "p95": pct(upper, 95), "p99": pct(upper, 99),
                           "max": max(upper) if upper else None,
                           "mean": sum(upper) / len(upper) if upper else None},
                "lag_ms_lower_bound": {"p50": pct(lower, 50), "p99": pct(lower, 99)},
                "competitors": [before[0], after[0]], "loadavg": [before[1], after[1]],
                "cpu_seconds": {"master": cpu_after[0] - cpu_before[0], "replica": cpu_after[1] - cpu_before[1]}}

    def catchup_phase(self) -> dict:
        a = self.args
        log(f"{self.pair.name}: catch-up: {a.rate:g} msg/s throughout, replica down for {a.outage_seconds:g}s")
        before = (competitors(), loadavg())
        p = self.load("cu", 0)
        try:
            time.sleep(a.settle_seconds)  # steady state before the outage
            self.update()
            t_stop = time.monotonic()
            stop_note = self.pair.stop_replica()
            t_stopped = time.monotonic()
            log(f"{self.pair.name}: replica stop: {stop_note}")
            log(f"{self.pair.name}: replica stopped ({t_stopped - t_stop:.1f}s); outage {a.outage_seconds:g}s")
            problems_during: list[str] = []
            outage_end = t_stop + a.outage_seconds  # the outage counts from the stop's start
            while time.monotonic() < outage_end:
                for problem in self.pair.problems():  # also samples Cyrus's sync_client pids
                    if problem not in problems_during:
                        problems_during.append(problem)
                time.sleep(min(0.5, max(0.0, outage_end - time.monotonic())))
            self.update()
            t_restart = time.monotonic()
            self.pair.start_replica()
            t_ready = time.monotonic()
            log(f"{self.pair.name}: replica restarted (ready after {t_ready - t_restart:.1f}s); catching up")
            # when the master's client is back on the csync port (from /proc/net/tcp, every 10 ms)
            t_conn = None
            timeout = max(a.catchup_timeout, a.outage_seconds)
            while time.monotonic() - t_restart < timeout:
                if established(self.pair.replica_sync) > 0:
                    t_conn = time.monotonic()
                    break
                if self.pair.problems():
                    break
                time.sleep(0.01)  # resolution of the reconnect time
            self.update()
            # The backlog: acknowledged before the restart and not on the replica when it
            # stopped. Nothing can reach the replica before the master reconnects, so what the
            # watcher saw before then was there already (the last few messages replicated just
            # before the stop are only seen once the watcher is back).
            cutoff = t_conn if t_conn is not None else t_restart
            backlog = [r for r in self.acked("cu", before=t_restart)
                       if not (r["t"] in self.seen and self.seen[r["t"]]["seen"] < cutoff)]
            left = max(1.0, timeout - (time.monotonic() - t_restart))
            t_done = self.wait_seen([r["t"] for r in backlog], left, "catch-up") if t_conn else None
            diagnostics = None
            if t_done is None:
                diagnostics = self.pair.diagnose()
                log(f"{self.pair.name}: catch-up did not finish; " + json.dumps(diagnostics))
            if t_done is not None:
                self.update()  # a late batch may have shown an earlier message too
                t_done = max(self.seen[r["t"]]["seen"] for r in backlog) if backlog else t_conn
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
        self.update()
        records = [r for t, r in self.sent.items() if t.startswith("rb-cu-")]
        all_acked = [r["t"] for r in self.acked("cu")]
        self.wait_seen(all_acked, a.drain_seconds, "catch-up drain")
        after = (competitors(), loadavg())
        seen_backlog = [r for r in backlog if r["t"] in self.seen]
        nbytes = sum(r["n"] for r in backlog)
        # everything the replica received while it caught up (the backlog and new deliveries)
        during = [r for r in self.seen.values()
                  if t_conn is not None and t_done is not None and t_conn <= r["seen"] <= t_done]
        first_seen = min((self.seen[r["t"]]["seen"] for r in seen_backlog), default=None)
        result = {"delivery": self.delivery_stats("cu", records),
                  "outage_seconds": t_restart - t_stop, "stop_seconds": t_stopped - t_stop, "stop": stop_note,
                  "restart_ready_seconds": t_ready - t_restart,
                  "backlog_messages": len(backlog), "backlog_bytes": nbytes,
                  "backlog_not_replicated": len(backlog) - len(seen_backlog),
                  "not_replicated_at_end": sum(1 for t in all_acked if t not in self.seen),
                  "reconnect_seconds": (t_conn - t_restart) if t_conn else None,
                  "first_backlog_seen_seconds": (first_seen - t_restart) if first_seen else None,
                  "seen_before_reconnect": sum(1 for r in self.acked("cu", before=t_restart)
                                               if r["t"] in self.seen and t_restart <= self.seen[r["t"]]["seen"] < cutoff),
                  "problems_during_outage": problems_during,
                  "diagnostics_at_timeout": diagnostics,
                  "sync_client_processes": (len(self.pair.client_pids) if hasattr(self.pair, "client_pids")
                                            else None),
                  "competitors": [before[0], after[0]], "loadavg": [before[1], after[1]]}
        if t_done is not None and t_conn is not None:
            total = t_done - t_restart
            transfer = t_done - t_conn
            result.update({"total_seconds": total, "transfer_seconds": transfer,
                           "total_msgs_per_s": len(backlog) / total if total > 0 else None,
                           "transfer_msgs_per_s": len(backlog) / transfer if transfer > 0 else None,
                           "transfer_mb_per_s": nbytes / 1e6 / transfer if transfer > 0 else None,
                           "replicated_while_catching_up": len(during),
                           "replica_msgs_per_s": len(during) / transfer if transfer > 0 else None,
                           "total_mb_per_s": nbytes / 1e6 / total if total > 0 else None})
        return result


def bench_pair(pair_cls, args) -> dict:
    scratch = tempfile.mkdtemp(prefix=f"corvid-rolling-bench-{pair_cls.name}-")
    os.chmod(scratch, 0o755)
    pair = pair_cls(scratch, args)
    run = Run(pair, scratch, args)
    try:
        log(f"{pair.name}: starting master and replica")
        pair.start()
        run.start_watch()
        run.warmup()
        result = {"setup": pair.note}
        if args.prefill > 0:
            result["prefill"] = run.prefill()
        result["lag"] = run.lag_phase()
        if args.outage_seconds > 0:
            result["catchup"] = run.catchup_phase()
        run.stop_watch()
        result["watch"] = run.watch_summary
        result["problems"] = pair.problems()
        return result
    finally:
        try:
            run.stop_watch()
        except Exception:  # noqa: BLE001 - best effort
            pass
        pair.cleanup()
        if args.keep:
            log(f"{pair.name}: state kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def fmt(value, spec: str, unit: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{unit}"


def report(results: dict, args) -> None:
    c = results.get("cyrus", {})
    v = results.get("corvid", {})
    w = 22

    def row(label: str, get, spec: str, unit: str = "", ratio=None) -> None:
        cv, vv = get(c), get(v)
        r = "—"
        if ratio and cv is not None and vv is not None:
            value = ratio(cv, vv)
            r = f"{value:.2f}x" if value is not None else "—"
        print(f"{label:38} {fmt(cv, spec, unit):>{w}} {fmt(vv, spec, unit):>{w}} {r:>14}")

    def g(*path):
        def get(d):
            for k in path:
                if not isinstance(d, dict) or d.get(k) is None:
                    return None
                d = d[k]
            return d
        return get

    def lag_ratio(cv, vv):  # Cyrus / Corvid: > 1 means Corvid's lag is lower
        return cv / vv if vv > 0 else None

    def rate_ratio(cv, vv):  # Corvid / Cyrus: > 1 means Corvid catches up faster
        return vv / cv if cv > 0 else None

    print()
    print(f"Rolling replication under {args.rate:g} msg/s LMTP ({args.size} B messages, {args.users} users, "
          f"{args.conns} connections), {os.cpu_count()} cores; mode: {args.mode}")
    print(f"replica polled over IMAP every {args.poll_ms:g} ms{' (NOOP + UID FETCH)' if args.noop else ' (UID FETCH)'}; "
          "lag = master's 250 -> first poll answer listing it")
    if args.prefill > 0:
        print(f"mailboxes prefilled with {args.prefill:,} messages each before the lag phase")
    print(f"{'':38} {'Cyrus 3.6 -> Cyrus':>{w}} {'Corvid -> Corvid':>{w}} {'ratio':>14}")
    print(f"-- lag, {args.lag_seconds:g}s at steady rate (ratio: Cyrus/Corvid)")
    row("  delivery rate achieved", g("lag", "delivery", "rate"), ",.1f", " msg/s")
    row("  LMTP 250 latency p50 / p99", lambda d: (None if g("lag", "delivery", "lmtp_ms_p50")(d) is None else
        f"{d['lag']['delivery']['lmtp_ms_p50']:.1f} / {d['lag']['delivery']['lmtp_ms_p99']:.1f}"), "", " ms")
    row("  sends >10 ms behind schedule", g("lag", "delivery", "late_10ms"), "d")
    for p in ("p50", "p95", "p99", "max"):
        row(f"  replication lag {p}", g("lag", "lag_ms", p), ",.0f", " ms", lag_ratio)
    row("  not replicated by the end", g("lag", "not_replicated"), "d")
    row("  master CPU (whole tree)", lambda d: None if g("lag", "cpu_seconds", "master")(d) is None
        else d["lag"]["cpu_seconds"]["master"] / d["lag"]["delivery"]["seconds"] * 100, ".0f", " % of a core")
    row("  replica CPU (incl. the watcher's polls)", lambda d: None if g("lag", "cpu_seconds", "replica")(d) is None
        else d["lag"]["cpu_seconds"]["replica"] / d["lag"]["delivery"]["seconds"] * 100, ".0f", " % of a core")
    row("  watcher: mean poll round trip", lambda d: None if not g("watch", "polls")(d)
        else d["watch"]["busy_seconds"] / d["watch"]["polls"] * 1000, ".1f", " ms")
    if args.outage_seconds > 0:
        print(f"-- catch-up after a {args.outage_seconds:g}s outage, delivery continuing (ratio: Corvid/Cyrus rate)")
        row("  backlog at restart", g("catchup", "backlog_messages"), ",d", " msgs")
        row("  backlog size", lambda d: None if g("catchup", "backlog_bytes")(d) is None
            else d["catchup"]["backlog_bytes"] / 1e6, ",.1f", " MB")
        row("  replica restart -> accepting", g("catchup", "restart_ready_seconds"), ".2f", " s")
        row("  restart -> master reconnected", g("catchup", "reconnect_seconds"), ".2f", " s")
        row("  reconnected -> backlog on replica", g("catchup", "transfer_seconds"), ".2f", " s")
        row("  catch-up speed (after reconnect)", g("catchup", "transfer_msgs_per_s"), ",.0f", " msg/s", rate_ratio)
        row("  catch-up MB/s (after reconnect)", g("catchup", "transfer_mb_per_s"), ",.2f", " MB/s", rate_ratio)
        row("  all msgs replicated meanwhile /s", g("catchup", "replica_msgs_per_s"), ",.0f", " msg/s", rate_ratio)
        row("  restart -> backlog on replica", g("catchup", "total_seconds"), ".2f", " s")
        row("  catch-up speed (from restart)", g("catchup", "total_msgs_per_s"), ",.0f", " msg/s", rate_ratio)
        row("  delivery rate during the phase", g("catchup", "delivery", "rate"), ",.1f", " msg/s")
        row("  not replicated by the end", g("catchup", "not_replicated_at_end"), "d")
        for name, d in (("Cyrus", c), ("Corvid", v)):
            diag = g("catchup", "diagnostics_at_timeout")(d)
            if diag:
                print(f"  {name}: catch-up did not finish within {args.catchup_timeout:g}s of the restart; "
                      f"csync sockets: {'; '.join(diag.get('csync_sockets', [])) or 'none'}")
    for name, d in (("cyrus", c), ("corvid", v)):
        comp = [d.get(k, {}).get("competitors") for k in ("lag", "catchup") if d.get(k)]
        busy = [x for pair in comp if pair for x in pair]
        if busy and max(busy) > 0:
            print(f"note: {name}: {max(busy)} compiler/linker processes were running elsewhere on the box: noisy figures")
    if results.get("failures"):
        print("problems: " + "; ".join(results["failures"]))


def cmd_orchestrate(args) -> int:
    global STOP_TIMEOUT
    STOP_TIMEOUT = args.stop_timeout
    args.mode = "quick" if args.quick else "full"
    if args.lag_seconds is None:
        args.lag_seconds = 20.0 if args.quick else 60.0
    if args.outage_seconds is None:
        args.outage_seconds = 60.0 if args.quick else 600.0
    if args.catchup_timeout is None:
        args.catchup_timeout = 300.0 if args.quick else 1200.0
    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "settings": {k: v for k, v in vars(args).items() if k not in ("func",)},
                     "host": {"nproc": os.cpu_count(), "kernel": os.uname().release}}
    try:
        results["corvid_git"] = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                                               capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    failures = []
    for server in args.servers.split():
        cls = {"cyrus": CyrusPair, "corvid": CorvidPair}.get(server)
        if cls is None:
            failures.append(f"{server}: unknown server")
            continue
        if server == "corvid" and not args.corvid:
            failures.append("corvid: no binary")
            continue
        try:
            results[server] = bench_pair(cls, args)
            if results[server].get("problems"):
                failures.extend(f"{server}: {p}" for p in results[server]["problems"])
            lost = results[server]["lag"].get("not_replicated", 0)
            if lost:
                failures.append(f"{server}: {lost} messages of the lag phase never reached the replica")
            catchup = results[server].get("catchup") or {}
            if catchup.get("diagnostics_at_timeout") is not None or catchup.get("total_seconds") is None and catchup:
                failures.append(f"{server}: the catch-up did not finish within {args.catchup_timeout:g}s of the restart")
        except Exception as error:  # a failed leg is reported, the other still runs
            log(f"{server}: FAILED: {error!r}")
            failures.append(f"{server}: {error!r}")
    results["failures"] = failures
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    report(results, args)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role")
    o = sub.add_parser("orchestrate")
    o.add_argument("--servers", default="cyrus corvid")
    o.add_argument("--corvid", default="")
    o.add_argument("--out", required=True)
    o.add_argument("--quick", action="store_true", help="20 s lag phase, 60 s outage (defaults: 60 s, 600 s)")
    o.add_argument("--rate", type=float, default=200.0)
    o.add_argument("--users", type=int, default=4)
    o.add_argument("--conns", type=int, default=16)
    o.add_argument("--size", type=int, default=2048)
    o.add_argument("--lag-seconds", type=float, default=None)
    o.add_argument("--prefill", type=int, default=0,
                   help="messages per user delivered (and replicated) before the lag phase")
    o.add_argument("--prefill-rate", type=float, default=1500.0)
    o.add_argument("--outage-seconds", type=float, default=None, help="0 skips the catch-up phase")
    o.add_argument("--settle-seconds", type=float, default=5.0)
    o.add_argument("--drain-seconds", type=float, default=60.0)
    o.add_argument("--catchup-timeout", type=float, default=None,
                   help="seconds from the restart (default: 300 quick, 1200 full)")
    o.add_argument("--poll-ms", type=float, default=10.0)
    o.add_argument("--no-noop", dest="noop", action="store_false",
                   help="poll with UID FETCH alone (default: NOOP and UID FETCH, pipelined)")
    o.add_argument("--reconnect-maxwait", default="20s")
    o.add_argument("--cyrus-repeat-interval", default="")
    o.add_argument("--corvid-repeat-interval", default="")
    o.add_argument("--stop-timeout", type=float, default=STOP_TIMEOUT,
                   help="seconds a stopping replica gets before SIGKILL")
    o.add_argument("--keep", action="store_true")
    o.set_defaults(func=cmd_orchestrate)
    ld = sub.add_parser("load")
    ld.add_argument("--port", type=int, required=True)
    ld.add_argument("--users", required=True)
    ld.add_argument("--rate", type=float, required=True)
    ld.add_argument("--conns", type=int, default=8)
    ld.add_argument("--size", type=int, default=2048)
    ld.add_argument("--seconds", type=float, default=0)
    ld.add_argument("--count", type=int, default=0)
    ld.add_argument("--prefix", required=True)
    ld.add_argument("--out", required=True)
    ld.set_defaults(func=cmd_load)
    w = sub.add_parser("watch")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--users", required=True)
    w.add_argument("--password", required=True)
    w.add_argument("--poll-ms", type=float, default=10.0)
    w.add_argument("--noop", action="store_true")
    w.add_argument("--out", required=True)
    w.set_defaults(func=cmd_watch)
    args = parser.parse_args()
    if not args.role:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
