"""A private Cyrus IMAP 3.6 instance (Debian packages) for interop tests (standard library only).

`CyrusInstance` writes its own imapd.conf + cyrus.conf under a scratch directory, runs
`cyrmaster` in the foreground as a child of this process (so its PID is ours to stop), and serves
IMAP and LMTP, plus csync (`sync_server`) when it is a replica, on free loopback ports.

Settings chosen on purpose (see also the runbook, /work/shared/peers/runbook.md §3):

* admin `cyrus`; `sasl_pwcheck_method: alwaystrue` (any password is accepted for any user),
  `allowplaintext: yes`, `sasl_mech_list: PLAIN LOGIN`.
* `altnamespace: yes`, `unixhierarchysep: yes` (the 3.6 defaults, written out): users see
  `INBOX`, `Sent Items`, `Other Users/alice/Shared`; the admin sees `user/alice/Sent Items`.
* `delete_mode: delayed` (the 3.6 default, written out; `delete_mode=` selects another). We tried
  `immediate` first (DELETE replicates as APPLY UNMAILBOX, no `DELETED.*` leftovers), but with
  one-shot `sync_client -u` a DELETE followed by a CREATE of the same name before the next sync
  makes the replica answer `NO IMAP_MAILBOX_MOVED` to the new mailbox's APPLY MAILBOX (same name,
  other UNIQUEID, replica copy not empty): sync_client bails out of the whole user, on every later
  run too. With `delayed`, the DELETE is a rename to `DELETED.user.alice.X.<hex time>` (APPLY
  RENAME, same UNIQUEID), so the re-created name arrives clean. `DELETED.*` mailboxes are
  invisible to users and outside the admin's `user/*`, so snapshots are unaffected. (Delayed
  mode's own trap: two DELETEs of one name within one second collide on the DELETED name.)
* `expunge_mode: delayed` (the 3.6 default, written out). Expunged messages stay in the index as
  `\\Expunged` records until cyr_expire, and travel to the replica as such records. That is the
  wire shape a Corvid replica must handle in production; IMAP never shows expunged records, so
  snapshots are unaffected either way.
* `duplicatesuppression: 0`: Cyrus would otherwise silently store one copy of messages that share
  a Message-ID.
* master only: `sync_host`, `sync_port`, `sync_authname: cyrus`, `sync_password`,
  `sync_try_imap: no` (the default `yes` first probes the csync port with `C01 CAPABILITY` and
  stalls until a read timeout), and no `sync_log` (one-shot `sync_client -u/-m/-A` only).

Everything that runs Cyrus must run as root (cyrmaster drops to `cyrus`; sync_client is run with
`runuser -u cyrus`), as CI does.
"""

from __future__ import annotations

import atexit
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from corvid_harness import LMTPClient, free_loopback_ports

CYRUS_BIN = "/usr/lib/cyrus/bin"
CYRMASTER = "/usr/sbin/cyrmaster"
SYNC_CLIENT = os.path.join(CYRUS_BIN, "sync_client")
ADMIN = "cyrus"
ADMIN_PASSWORD = "secret"
HOST = "127.0.0.1"

_LIVE: set["CyrusInstance"] = set()
_LIVE_LOCK = threading.Lock()


def _stop_all_live() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for instance in live:
        try:
            instance.stop(timeout=10)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_stop_all_live)


def cyrus_missing() -> str | None:
    """Why Cyrus cannot run here (None when it can)."""
    for path in (CYRMASTER, os.path.join(CYRUS_BIN, "imapd"), os.path.join(CYRUS_BIN, "lmtpd"),
                 os.path.join(CYRUS_BIN, "sync_server"), SYNC_CLIENT):
        if not os.access(path, os.X_OK):
            return f"{path} missing (apt-get install cyrus-imapd cyrus-replication sasl2-bin)"
    try:
        pwd.getpwnam("cyrus")
    except KeyError:
        return "no 'cyrus' system user"
    if os.geteuid() != 0:
        return "must run as root (cyrmaster drops to the cyrus user; sync_client runs via runuser)"
    return None


class CyrusError(RuntimeError):
    pass


def imap_quote(text: str) -> str:
    """An IMAP quoted string (names with spaces, empty strings)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _children(pid: int) -> list[int]:
    """PIDs whose parent is pid (cyrmaster's services), from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry))
        except (FileNotFoundError, IndexError, ValueError):
            continue
    return out


class CyrusInstance:
    """One private Cyrus: `role` is "master" or "replica" (a replica also runs sync_server)."""

    def __init__(self, role: str, workdir: str | None = None, sync_server: bool | None = None,
                 sync_target: tuple[str, int] | None = None, extra_config: dict[str, str] | None = None,
                 telemetry_users: tuple[str, ...] = (), delete_mode: str = "delayed",
                 expunge_mode: str = "delayed", sync_try_imap: bool = False, own_session: bool = False):
        self.role = role
        # own_session: cyrmaster in its own session. Needed when another Cyrus of ours keeps
        # running while this one stops: a stopping cyrmaster signals its whole process group
        # (what the cyrus user may signal in it: the other cyrmaster, its services, a
        # sync_client we started), observed with 3.6.1 as "graceful shutdown initiated by
        # unexpected process <the other cyrmaster>".
        self.own_session = own_session
        self.sync_try_imap = sync_try_imap  # master: the IMAP flavour (SYNCAPPLY) at sync_target
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"cyrus-{role}-it-")
        self.sync_server = (role == "replica") if sync_server is None else sync_server
        self.imap_port, self.lmtp_port, self.sync_port = free_loopback_ports(3)
        self.sync_target = sync_target  # master: (host, port) of the replica's csync service
        self.extra_config = dict(extra_config or {})
        self.telemetry_users = telemetry_users
        self.delete_mode = delete_mode
        self.expunge_mode = expunge_mode
        self.conf_path = os.path.join(self.workdir, "imapd.conf")
        self.cyrus_conf_path = os.path.join(self.workdir, "cyrus.conf")
        self.pid_path = os.path.join(self.workdir, "run", "master.pid")
        self.log_path = os.path.join(self.workdir, "cyrmaster.log")
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.sync_runs: list[dict] = []  # every sync_client run: args, status, seconds, output
        self.write_config()

    # -- config ---------------------------------------------------------------------------

    def path(self, *parts: str) -> str:
        return os.path.join(self.workdir, *parts)

    def config_lines(self) -> list[str]:
        w = self.path
        lines = [
            "# written by tests/integration/cyrus_peer.py",
            f"servername: cyrus-{self.role}",
            f"configdirectory: {w('conf')}",
            f"proc_path: {w('run', 'proc')}",
            f"mboxname_lockpath: {w('run', 'lock')}",
            "defaultpartition: default",
            f"partition-default: {w('spool')}",
            f"lmtpsocket: {w('run', 'socket', 'lmtp')}",
            f"idlesocket: {w('run', 'socket', 'idle')}",
            f"notifysocket: {w('run', 'socket', 'notify')}",
            f"admins: {ADMIN}",
            "allowplaintext: yes",
            "sasl_mech_list: PLAIN LOGIN",
            "sasl_pwcheck_method: alwaystrue",
            "altnamespace: yes",
            "unixhierarchysep: yes",
            "lmtp_downcase_rcpt: yes",
            "duplicatesuppression: 0",
            f"delete_mode: {self.delete_mode}",
            f"expunge_mode: {self.expunge_mode}",
        ]
        if self.sync_target is not None:
            host, port = self.sync_target
            lines += [
                f"sync_host: {host}",
                f"sync_port: {port}",
                f"sync_try_imap: {'yes' if self.sync_try_imap else 'no'}",
                f"sync_authname: {ADMIN}",
                f"sync_password: {ADMIN_PASSWORD}",
                f"sync_shutdown_file: {w('conf', 'sync', 'shutdown')}",
            ]
        lines += [f"{k}: {v}" for k, v in self.extra_config.items()]
        return lines

    def write_config(self) -> None:
        for d in ("conf/log", "spool", "run/proc", "run/lock", "run/socket"):
            os.makedirs(self.path(d), exist_ok=True)
        for user in self.telemetry_users:  # Cyrus logs every session of USER under conf/log/USER
            os.makedirs(self.path("conf", "log", user), exist_ok=True)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(self.config_lines()) + "\n")
        c = self.conf_path
        services = [
            f'  imap cmd="{CYRUS_BIN}/imapd -C {c}" listen="{HOST}:{self.imap_port}" prefork=0 maxchild=50',
            f'  lmtp cmd="{CYRUS_BIN}/lmtpd -C {c} -a" listen="{HOST}:{self.lmtp_port}" prefork=0 maxchild=20',
        ]
        if self.sync_server:
            services.append(f'  syncserver cmd="{CYRUS_BIN}/sync_server -C {c}" '
                            f'listen="{HOST}:{self.sync_port}" prefork=0 maxchild=5')
        with open(self.cyrus_conf_path, "w") as f:
            f.write("START {\n"
                    f'  recover cmd="{CYRUS_BIN}/ctl_cyrusdb -C {c} -r"\n'
                    "}\nSERVICES {\n" + "\n".join(services) + "\n}\n"
                    "EVENTS {\n"
                    f'  checkpoint cmd="{CYRUS_BIN}/ctl_cyrusdb -C {c} -c" period=30\n'
                    "}\n")
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "cyrus:mail", self.workdir], check=True)

    # -- process --------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30) -> None:
        """Runs cyrmaster in the foreground (our child) and waits, bounded, until IMAP and LMTP
        (and csync) greet."""
        if self.alive():
            raise CyrusError("already running")
        missing = cyrus_missing()
        if missing:
            raise CyrusError(missing)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CYRMASTER, "-C", self.conf_path, "-M", self.cyrus_conf_path,
                                      "-p", self.pid_path], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=self.own_session)
        with _LIVE_LOCK:
            _LIVE.add(self)
        deadline = time.monotonic() + timeout
        ports = [(self.imap_port, b"* OK"), (self.lmtp_port, b"220")]
        if self.sync_server:
            ports.append((self.sync_port, b"* OK"))
        for port, expect in ports:
            self._wait_greeting(port, expect, deadline)

    def _wait_greeting(self, port: int, expect: bytes, deadline: float) -> None:
        last = "no attempt"
        while True:
            if not self.alive():
                raise CyrusError(f"cyrmaster exited ({self.proc.returncode}) before 127.0.0.1:{port} "
                                 f"greeted; log {self.log_path}")
            try:
                with socket.create_connection((HOST, port), timeout=5) as s:
                    data = b""
                    s.settimeout(max(0.5, min(5.0, deadline - time.monotonic())))
                    while b"\n" not in data or not any(line.startswith(expect)
                                                       for line in data.split(b"\r\n")):
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if any(line.startswith(expect) for line in data.split(b"\r\n")):
                        return
                    last = f"greeting {data[:200]!r}"
            except OSError as error:
                last = repr(error)
            if time.monotonic() >= deadline:
                raise CyrusError(f"cyrus-{self.role}: no {expect!r} greeting on {HOST}:{port} "
                                 f"(last: {last}); log {self.log_path}")
            time.sleep(0.05)  # polling interval of a bounded readiness loop

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to our cyrmaster (by PID), bounded wait; then SIGKILL it and the services it
        spawned (found by parent PID). Waits until the ports are free."""
        proc = self.proc
        if proc is None:
            return
        kids = _children(proc.pid) if proc.poll() is None else []
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kids = sorted(set(kids) | set(_children(proc.pid)))
                proc.kill()
                proc.wait(timeout=30)
        deadline = time.monotonic() + timeout
        for pid in kids:
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)  # bounded wait for the service to exit with its master
            if _pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        ports = [self.imap_port, self.lmtp_port] + ([self.sync_port] if self.sync_server else [])
        while time.monotonic() < deadline and any(self._listening(p) for p in ports):
            time.sleep(0.05)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self._log:
            self._log.close()
            self._log = None

    @staticmethod
    def _listening(port: int) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return True
        except OSError:
            return False

    def cleanup(self, keep: bool = False) -> None:
        self.stop()
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- users and mail -------------------------------------------------------------------

    def imap(self, user: str = ADMIN, password: str | None = None) -> imaplib.IMAP4:
        """A logged-in imaplib connection (any password works: alwaystrue)."""
        conn = imaplib.IMAP4(HOST, self.imap_port, timeout=120)
        conn.login(user, password or (ADMIN_PASSWORD if user == ADMIN else "x"))
        return conn

    def admin(self) -> imaplib.IMAP4:
        return self.imap(ADMIN)

    def create_user(self, name: str) -> None:
        conn = self.admin()
        try:
            typ, data = conn.create(imap_quote(f"user/{name}"))
            if typ != "OK":
                raise CyrusError(f"CREATE user/{name}: {typ} {data}")
        finally:
            conn.logout()

    def deliver(self, user: str, message: bytes, folder: str | None = None,
                sender: str = "sender@example.org", flags: str = "",
                internaldate: str | None = None) -> None:
        """Delivers into INBOX over LMTP (lmtpd -a), or into `folder` (user's view, '/' separator,
        already modified UTF-7 when non-ASCII) with IMAP APPEND as the user.

        Why not LMTP `user+folder`: Cyrus 3.6 silently files `alice+Work` into INBOX unless the
        folder grants the post right (`p`) to the LMTP identity, and answers 550 "Mailbox unknown"
        for a quoted local part with a space (`"alice+Sent Items"`). APPEND also lets a test pick
        flags and INTERNALDATE."""
        if folder is not None:
            conn = self.imap(user)
            try:
                date = imaplib.Time2Internaldate(internaldate) if internaldate is not None else None
                typ, data = conn.append(imap_quote(folder), f"({flags})" if flags else None, date, message)
                if typ != "OK":
                    raise CyrusError(f"APPEND {folder} for {user}: {typ} {data}")
            finally:
                conn.logout()
            return
        client, greeting = LMTPClient.connect(self.lmtp_port, host=HOST)
        try:
            if greeting.code != 220:
                raise CyrusError(f"LMTP greeting {greeting}")
            client.lhlo()
            result = client.transaction(sender, [f"{user}@example.com"], message)
            final = result.outcome(0)
            if final is None or final.code != 250:
                raise CyrusError(f"LMTP delivery to {user}: {final} (mail {result.mail}, "
                                 f"rcpt {[str(r) for r in result.rcpt]}, data {result.data})")
            client.command("QUIT")
        finally:
            client.close()

    # -- replication ----------------------------------------------------------------------

    def run_sync_client(self, args: list[str], timeout: float = 300,
                        target: str | None = None) -> subprocess.CompletedProcess:
        """`sync_client -C <conf> -v -v [-S target] ARGS` as the cyrus user; stdout+stderr in
        .stdout (text), also written to <workdir>/sync_client.N.log and listed in self.sync_runs.

        Observed with 3.6.1: `-m` takes external names (`user/alice/Sent Items`; a dotted
        `user.alice.Sent Items` is converted to `user^alice^Sent Items` and silently matches
        nothing, exit 0), and `-m` of a user's sub-folder fails ("NO Unknown error", exit 1) until
        the user itself exists on the replica (`-u alice` first). `-A` syncs every user."""
        cmd = [SYNC_CLIENT, "-C", self.conf_path, "-v", "-v"]
        if target:
            cmd += ["-S", target]
        cmd += list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "cyrus", "--"] + cmd
        started = time.monotonic()
        try:
            result = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, timeout=timeout)
            out = result.stdout.decode("utf-8", "replace")
            done = subprocess.CompletedProcess(cmd, result.returncode, out, "")
        except subprocess.TimeoutExpired as error:
            out = (error.stdout or b"").decode("utf-8", "replace")
            done = subprocess.CompletedProcess(cmd, -1, out + f"\n(timed out after {timeout}s)", "")
        seconds = time.monotonic() - started
        log = self.path(f"sync_client.{len(self.sync_runs) + 1}.log")
        with open(log, "w") as f:
            f.write(" ".join(cmd) + f"\n# exit {done.returncode} in {seconds:.2f}s\n" + done.stdout)
        # The -v -v output holds every message uploaded (20 MiB and more): keep only the path here.
        self.sync_runs.append({"args": list(args), "status": done.returncode, "seconds": seconds, "log": log})
        return done
