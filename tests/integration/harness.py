"""Shared pieces for Corvid's integration tests: a real `corvid serve` in a temporary
directory on free loopback ports, a small raw-socket LMTP client, and store inspection
through the CLI. Standard library only."""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def corvid_bin():
    if os.environ.get("CORVID_BIN"):
        return os.environ["CORVID_BIN"]
    for flavour in ("debug", "release"):
        path = os.path.join(REPO, ".build", flavour, "corvid")
        if os.path.exists(path):
            return path
    raise SystemExit("no corvid binary: build first or set CORVID_BIN")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A corvid serve process with its own data directory."""

    def __init__(self, extra_config=""):
        self.dir = tempfile.mkdtemp(prefix="corvid-it-")
        self.lmtp_port = free_port()
        self.http_port = free_port()
        self.config = os.path.join(self.dir, "corvid.conf")
        with open(self.config, "w") as f:
            f.write(
                f"configdirectory: {self.dir}/conf\n"
                f"partition-default: {self.dir}/spool\n"
                f"servername: it.test\n"
                f"lmtp_listen: 127.0.0.1:{self.lmtp_port}\n"
                f"http_listen: 127.0.0.1:{self.http_port}\n" + extra_config)
        self.proc = None
        self.log = open(os.path.join(self.dir, "serve.log"), "ab")

    def cli(self, *args, check=True):
        result = subprocess.run([corvid_bin(), *args, "-C", self.config], capture_output=True, timeout=600)
        if check and result.returncode != 0:
            raise RuntimeError(f"corvid {' '.join(args)} failed ({result.returncode}): "
                               f"{result.stdout.decode()} {result.stderr.decode()}")
        return result

    def start(self, deadline=60):
        env = dict(os.environ, CORVID_LOG_LEVEL=os.environ.get("CORVID_LOG_LEVEL", "warning"))
        self.proc = subprocess.Popen([corvid_bin(), "serve", "-C", self.config],
                                     stdout=self.log, stderr=self.log, env=env)
        self.wait_ready(deadline)

    def wait_ready(self, deadline):
        """Polls until the LMTP port answers with a 220 greeting (bounded)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"corvid serve exited early with {self.proc.returncode}; log in {self.dir}/serve.log")
            try:
                with socket.create_connection(("127.0.0.1", self.lmtp_port), timeout=2) as s:
                    if s.recv(64).startswith(b"220"):
                        return
            except OSError:
                pass
            time.sleep(0.05)  # polling interval while waiting for a port, not synchronisation by sleep
        raise RuntimeError("corvid serve did not become ready in time")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def terminate(self, deadline=30):
        """SIGTERM; returns the exit code (None if it had to be killed)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def dump(self, mailbox):
        out = self.cli("mailbox", "dump", mailbox).stdout.decode()
        messages = []
        for line in out.splitlines():
            item = json.loads(line)
            item["bytes"] = base64.b64decode(item["data"])
            messages.append(item)
        return messages

    def cleanup(self, keep=False):
        self.kill()
        self.log.close()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


class LMTPClient:
    """A raw-socket LMTP client that reads exact replies."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.expect("220")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One whole (possibly multi-line) reply; returns its last line."""
        while True:
            line = self.line()
            if len(line) < 4 or line[3] != "-":
                return line

    def expect(self, prefix):
        line = self.reply()
        if not line.startswith(prefix):
            raise AssertionError(f"expected {prefix}, got {line!r}")
        return line

    def command(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def deliver(self, sender, recipients, message):
        """One pipelined transaction; returns the per-recipient replies after DATA
        (or the refusal of MAIL/RCPT/DATA)."""
        self.send(f"MAIL FROM:<{sender}>\r\n" + "".join(f"RCPT TO:<{r}>\r\n" for r in recipients) + "DATA\r\n")
        mail = self.reply()
        rcpts = [self.reply() for _ in recipients]
        data = self.reply()
        if not data.startswith("354"):
            return [mail] + rcpts + [data]
        self.send(dot_stuff(message))
        return [self.reply() for r in rcpts if r.startswith("250")]


def dot_stuff(message):
    """RFC 5321 §4.5.2 transparency; message must use CRLF line endings."""
    lines = message.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines = lines[:-1]
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + b".\r\n"


class Tally:
    """Counts assertion groups; the last line it prints is 'N passed, M failed'."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}", flush=True)
        return ok

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 else 1
