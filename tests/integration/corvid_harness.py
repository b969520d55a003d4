"""Shared helpers for Corvid's Python integration scripts (standard library only).

- locating the `corvid` binary (CORVID_BIN, else .build/debug/corvid, else .build/release/corvid)
- a scratch directory with an imapd.conf-style config on free loopback ports
- starting `corvid serve` and waiting (bounded) until LMTP greets; SIGKILL / SIGTERM
- the CLI wrappers used by the tests: `user add`, `check`, `mailbox dump`
- a small raw-socket LMTP client that reads whole (multi-line) replies
- dot-stuffing, a pass/fail tally, and "always kill the server at exit"
"""

from __future__ import annotations

import atexit
import base64
import glob
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Every live server, so an exit path (normal, exception, SIGINT/SIGTERM) can kill it.
_LIVE: set["CorvidServer"] = set()
_LIVE_LOCK = threading.Lock()
# A termination signal that arrived while a server was being spawned (before it was in _LIVE).
_PENDING_EXIT: list[int] = []
_SPAWNING = threading.Event()


def corvid_binary() -> str:
    """CORVID_BIN, else .build/debug/corvid, else .build/release/corvid (relative to the repo)."""
    env = os.environ.get("CORVID_BIN")
    if env:
        path = env if os.path.isabs(env) else os.path.join(REPO_ROOT, env)
        if not os.access(path, os.X_OK):
            raise SystemExit(f"CORVID_BIN={env!r} is not an executable file")
        return path
    for flavour in ("debug", "release"):
        path = os.path.join(REPO_ROOT, ".build", flavour, "corvid")
        if os.access(path, os.X_OK):
            return path
    raise SystemExit("no corvid binary: set CORVID_BIN or build .build/debug/corvid")


# Ports handed out by this process: never handed out twice, even after the
# probing socket is closed and before the server has bound the port.
_ISSUED_PORTS: set[int] = set()
_PORT_LOCK = threading.Lock()
# Below the kernel's ephemeral range (32768-60999 on Linux), so that no
# outgoing connection of any process can be given one of these ports as its
# local port between the probe and the server's bind.
_PORT_RANGE = (20000, 32767)


def free_loopback_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1, never repeated within this process."""
    rng = random.Random()
    ports: list[int] = []
    with _PORT_LOCK:
        attempts = 0
        while len(ports) < count:
            attempts += 1
            if attempts > 10_000:
                raise RuntimeError("no free loopback port in the test range")
            port = rng.randint(*_PORT_RANGE)
            if port in _ISSUED_PORTS:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                s.close()
            _ISSUED_PORTS.add(port)
            ports.append(port)
    return ports


def _kill_all_live() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        server.kill()


def install_exit_cleanup() -> None:
    """Kill every started server at interpreter exit and on SIGTERM/SIGHUP/SIGINT."""
    atexit.register(_kill_all_live)

    def on_signal(signum, _frame):
        _kill_all_live()
        if _SPAWNING.is_set():
            _PENDING_EXIT.append(signum)  # start() kills the new child, then exits
            return
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)


class ServerError(RuntimeError):
    pass


class CorvidServer:
    """One store (config + directories) and the `corvid serve` process that serves it."""

    def __init__(self, workdir: str | None = None, extra_config: dict[str, str] | None = None,
                 servername: str = "corvid-it.test", binary: str | None = None):
        self.binary = binary or corvid_binary()
        self.workdir = workdir or tempfile.mkdtemp(prefix="corvid-lmtp-it-")
        (self.lmtp_port, self.http_port, self.imap_port, self.imaps_port, self.pop3_port,
         self.pop3s_port) = free_loopback_ports(6)
        self.config_path = os.path.join(self.workdir, "imapd.conf")
        self.log_dir = os.path.join(self.workdir, "logs")
        os.makedirs(self.log_dir, exist_ok=True)
        self.servername = servername
        self.extra_config = dict(extra_config or {})
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.log_path: str | None = None
        self._log_file = None
        self.write_config()

    # -- config ---------------------------------------------------------------------------

    def write_config(self) -> None:
        lines = [
            "# written by tests/integration/corvid_harness.py",
            f"configdirectory: {os.path.join(self.workdir, 'conf')}",
            f"partition-default: {os.path.join(self.workdir, 'spool')}",
            f"servername: {self.servername}",
            f"lmtp_listen: 127.0.0.1:{self.lmtp_port}",
            f"http_listen: 127.0.0.1:{self.http_port}",
            f"imap_listen: 127.0.0.1:{self.imap_port}",
            f"imaps_listen: 127.0.0.1:{self.imaps_port}",
            f"pop3_listen: 127.0.0.1:{self.pop3_port}",
            f"pop3s_listen: 127.0.0.1:{self.pop3s_port}",
        ]
        lines += [f"{key}: {value}" for key, value in self.extra_config.items()]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- CLI ------------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """Runs `corvid ARGS -C CONFIG` (bounded) and returns the completed process (bytes)."""
        return subprocess.run([self.binary, *args, "-C", self.config_path], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)

    def add_user(self, name: str, password: str = "secret-pw", inbox: bool = True) -> None:
        result = self.cli("user", "add", name, "--password", password, *([] if inbox else ["--no-inbox"]),
                          timeout=120)
        if result.returncode != 0:
            raise ServerError(f"corvid user add {name} exited {result.returncode}: "
                              f"{_text(result.stdout)}{_text(result.stderr)}")

    def check(self, timeout: float = 900) -> tuple[bool, str]:
        """`corvid check`: (exit status was 0, combined output)."""
        try:
            result = self.cli("check", timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, f"corvid check did not finish within {timeout:.0f}s"
        output = _text(result.stdout) + _text(result.stderr)
        return result.returncode == 0, f"exit {result.returncode}\n{output}"

    def dump(self, mailbox: str, timeout: float = 600) -> list[dict]:
        """`corvid mailbox dump MAILBOX`: one dict per message, plus 'bytes' (decoded data)."""
        result = self.cli("mailbox", "dump", mailbox, timeout=timeout)
        if result.returncode != 0:
            raise ServerError(f"corvid mailbox dump {mailbox} exited {result.returncode}: "
                              f"{_text(result.stdout)}{_text(result.stderr)}")
        messages = []
        for number, line in enumerate(result.stdout.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                item["bytes"] = base64.b64decode(item["data"], validate=True)
            except (ValueError, KeyError) as error:
                raise ServerError(f"mailbox dump {mailbox}: line {number} is not a message object "
                                  f"({error}): {line[:200]!r}")
            messages.append(item)
        return messages

    # -- process --------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, ready_timeout: float = 60) -> None:
        """Starts `corvid serve` and returns once LMTP greets with 220 (bounded)."""
        if self.alive():
            raise ServerError("server already running")
        self.starts += 1
        self.log_path = os.path.join(self.log_dir, f"serve.{self.starts}.log")
        if self._log_file:
            self._log_file.close()
        self._log_file = open(self.log_path, "wb")
        # No exit from a signal handler between fork and registration: that would orphan the child.
        _SPAWNING.set()
        try:
            self.proc = subprocess.Popen([self.binary, "serve", "-C", self.config_path], stdin=subprocess.DEVNULL,
                                         stdout=self._log_file, stderr=subprocess.STDOUT)
            with _LIVE_LOCK:
                _LIVE.add(self)
        finally:
            _SPAWNING.clear()
        if _PENDING_EXIT:
            self.kill()
            raise SystemExit(128 + _PENDING_EXIT[0])
        self.wait_ready(ready_timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while True:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise ServerError(f"corvid serve exited with status {code} before it was ready; "
                                  f"its output ({self.log_path}):\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.lmtp_port), timeout=5) as probe:
                    greeting = LMTPClient.from_socket(probe).read_reply()
                    if greeting.code == 220:
                        try:
                            probe.sendall(b"QUIT\r\n")
                        except OSError:
                            pass
                        return
                    last_error = f"greeting {greeting}"
            except (OSError, ProtocolError) as error:
                last_error = repr(error)
            if time.monotonic() >= deadline:
                raise ServerError(f"corvid serve not ready on 127.0.0.1:{self.lmtp_port} within {timeout:.0f}s "
                                  f"(last: {last_error}); its output:\n{self.log_tail()}")
            time.sleep(0.05)  # polling interval of a bounded readiness loop

    def kill(self) -> int | None:
        """SIGKILL and reap; returns the exit status (None if nothing was running)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            return None
        with _LIVE_LOCK:
            _LIVE.discard(self)
        return proc.returncode

    def terminate(self, timeout: float = 30) -> tuple[int | None, float]:
        """SIGTERM; (exit status or None if it had to be SIGKILLed after timeout, seconds taken)."""
        proc = self.proc
        if proc is None:
            return None, 0.0
        started = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None, time.monotonic() - started
        with _LIVE_LOCK:
            _LIVE.discard(self)
        return code, time.monotonic() - started

    def log_tail(self, limit: int = 4000) -> str:
        if not self.log_path or not os.path.exists(self.log_path):
            return "(no output)"
        if self._log_file:
            self._log_file.flush()
        with open(self.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return _text(f.read()) or "(no output)"

    def cleanup(self, keep: bool) -> None:
        self.kill()
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


# -- LMTP -------------------------------------------------------------------------------------


class ProtocolError(Exception):
    """The peer closed the connection or sent something that is not an SMTP reply."""


@dataclass
class Reply:
    code: int
    lines: list[str] = field(default_factory=list)

    @property
    def enhanced(self) -> str:
        """The RFC 3463 status code of the last line, or ''."""
        words = self.lines[-1][4:].split(" ", 1) if self.lines else []
        first = words[0] if words else ""
        parts = first.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            return first
        return ""

    def starts(self, prefix: str) -> bool:
        """True when the last line starts with prefix, e.g. '550 5.1.1'."""
        return bool(self.lines) and self.lines[-1].startswith(prefix)

    def __str__(self) -> str:
        return " | ".join(self.lines) if self.lines else f"{self.code}"


class LMTPClient:
    """Raw-socket LMTP client: exact bytes out, whole replies in."""

    MAX_REPLY_LINE = 64 * 1024

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    @classmethod
    def from_socket(cls, sock: socket.socket) -> "LMTPClient":
        return cls(sock)

    @classmethod
    def connect(cls, port: int, timeout: float = 60, host: str = "127.0.0.1") -> tuple["LMTPClient", Reply]:
        """Connects and reads the greeting; returns (client, greeting)."""
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(sock)
        try:
            greeting = client.read_reply()
        except BaseException:
            client.close()
            raise
        return client, greeting

    def settimeout(self, timeout: float) -> None:
        self.sock.settimeout(timeout)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode("latin-1") if isinstance(data, str) else data)

    def _read_line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
                return line
            if len(self.buffer) > self.MAX_REPLY_LINE:
                raise ProtocolError(f"reply line longer than {self.MAX_REPLY_LINE} bytes")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ProtocolError("connection closed by server"
                                    + (f" (partial line {self.buffer[:80]!r})" if self.buffer else ""))
            self.buffer += chunk

    def read_reply(self) -> Reply:
        """One whole reply: NNN-text lines up to the NNN text line."""
        lines: list[str] = []
        code = None
        while True:
            raw = self._read_line()
            text = raw.decode("utf-8", "replace")
            if len(raw) < 3 or not raw[:3].isdigit() or (len(raw) > 3 and raw[3:4] not in (b" ", b"-")):
                raise ProtocolError(f"malformed reply line {raw[:200]!r}")
            this_code = int(raw[:3])
            if code is not None and this_code != code:
                raise ProtocolError(f"reply code changed inside a multi-line reply: {lines + [text]}")
            code = this_code
            lines.append(text)
            if raw[3:4] != b"-":
                return Reply(code, lines)

    def command(self, line: bytes | str) -> Reply:
        """Sends one command line (CRLF appended) and reads its reply."""
        data = line.encode("latin-1") if isinstance(line, str) else line
        self.send(data + b"\r\n")
        return self.read_reply()

    def pending(self, wait: float) -> bytes:
        """Bytes the server sent that no reply has consumed, waiting up to `wait` seconds for more."""
        readable, _, _ = select.select([self.sock], [], [], wait)
        if readable:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            self.buffer += chunk
        return self.buffer

    def lhlo(self, name: str = "client.corvid-it.test") -> Reply:
        return self.command(f"LHLO {name}")

    def transaction(self, sender: str, recipients: list[str], message: bytes,
                    mail_params: str = "", pipeline: bool = True,
                    result: "TransactionResult | None" = None) -> "TransactionResult":
        """MAIL, RCPT..., DATA, message; per-recipient replies in order.

        The outcome for a recipient is its RCPT reply when that was refused, else its reply
        after the final dot (None when the transaction stopped before it). Pass `result` to
        keep the replies read so far when the connection fails part-way (the exception still
        propagates)."""
        if result is None:
            result = TransactionResult(recipients=list(recipients))
        mail = f"MAIL FROM:<{sender}>" + (f" {mail_params}" if mail_params else "")
        rcpts = [f"RCPT TO:<{r}>" for r in recipients]
        if pipeline:
            self.send(("\r\n".join([mail, *rcpts, "DATA"]) + "\r\n").encode("latin-1"))
            result.mail = self.read_reply()
            for _ in recipients:
                result.rcpt.append(self.read_reply())
            result.data = self.read_reply()
        else:
            result.mail = self.command(mail)
            if result.mail.code != 250:
                return result
            for r in rcpts:
                result.rcpt.append(self.command(r))
            if not any(r.code == 250 for r in result.rcpt):
                result.data = self.command("RSET")
                return result
            result.data = self.command("DATA")
        if result.data.code != 354:
            return result
        self.send(dot_stuff(message))
        accepted = [i for i, r in enumerate(result.rcpt) if r.code == 250]
        for i in accepted:
            result.final[i] = self.read_reply()
        return result


@dataclass
class TransactionResult:
    recipients: list[str]
    mail: Reply | None = None
    rcpt: list[Reply] = field(default_factory=list)
    data: Reply | None = None
    final: dict[int, Reply] = field(default_factory=dict)

    def outcome(self, index: int) -> Reply | None:
        if index in self.final:
            return self.final[index]
        if index < len(self.rcpt) and self.rcpt[index].code != 250:
            return self.rcpt[index]
        if self.mail is not None and self.mail.code != 250:
            return self.mail
        return self.data if self.data is not None and self.data.code != 354 else None

    def acked(self, index: int) -> bool:
        reply = self.final.get(index)
        return reply is not None and reply.code == 250


def dot_stuff(message: bytes) -> bytes:
    """RFC 5321 4.5.2: double a leading '.', then append the end-of-data line.

    `message` must use CRLF line endings; a final line without CRLF gets one."""
    if message and not message.endswith(b"\r\n"):
        message += b"\r\n"
    out = []
    start = 0
    while start < len(message):
        end = message.index(b"\r\n", start) + 2
        line = message[start:end]
        out.append(b"." + line if line.startswith(b".") else line)
        start = end
    out.append(b".\r\n")
    return b"".join(out)


# -- results ----------------------------------------------------------------------------------


class Tally:
    """Counts assertion groups; `finish()` prints 'N passed, M failed' as the last line."""

    def __init__(self, verbose: bool = True):
        self.passed = 0
        self.failed = 0
        self.verbose = verbose
        self.lock = threading.Lock()

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        with self.lock:
            if ok:
                self.passed += 1
            else:
                self.failed += 1
        if ok:
            if self.verbose:
                print(f"ok   {name}", flush=True)
        else:
            print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
        return ok

    def finish(self) -> int:
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 else 1


def eprint(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def closing_checks(server: "CorvidServer", tally: "Tally") -> None:
    """The checks every client harness ends with: the server survived every client, stops
    cleanly on SIGTERM, logged no warning/error/critical line (in any of its runs' logs), and
    `corvid check` finds the store healthy."""
    tally.check(server.alive(), "corvid serve is still running after every client", server.log_tail())
    code, seconds = server.terminate(timeout=30)
    tally.check(code == 0, "SIGTERM: corvid serve exits 0 within 30 s",
                f"status {code} after {seconds:.1f}s; output:\n{server.log_tail()}")
    bad_lines = []
    for path in sorted(glob.glob(os.path.join(server.log_dir, "serve.*.log"))):
        with open(path, "rb") as log:
            bad_lines += [line for line in log.read().decode("utf-8", "replace").splitlines()
                          if re.search(r" (error|critical|warning) corvid", line)]
    tally.check(not bad_lines, "corvid serve logged no warning, error or critical line", "\n".join(bad_lines[:20]))
    ok, output = server.check()
    tally.check(ok, "corvid check exits 0 after every client", output.strip())


def finish_run(server: "CorvidServer", tally: "Tally", keep: bool) -> int:
    """Removes the scratch directory unless something failed or `keep`; prints the closing
    'N passed, M failed' line and returns the exit status."""
    failed = tally.failed > 0
    server.cleanup(keep=failed or keep)
    if failed or keep:
        print(f"scratch directory kept: {server.workdir}")
    return tally.finish()
