#!/usr/bin/env python3
"""Real IMAP sync clients against a real `corvid serve`: mbsync and offlineimap3 mirror a
folder tree both ways, then a third run changes nothing.

A user is seeded with a 3-level folder tree holding 1,000 messages (INBOX by LMTP, the rest
by IMAP APPEND; varied sizes, non-ASCII subjects, \\Seen \\Flagged \\Answered \\Draft and the
keyword $Label1). For each client, with its own Maildir and a fresh copy of that seed:

1. the first run pulls everything: every folder exists locally, every message is there with
   the server's bytes (modulo the client's line-ending conversion, checked exactly) and the
   maildir flag letters (S F R T D) match the server's system flags;
2. changes on both sides (locally: flags renamed, new messages, a new folder; on the server:
   STORE, LMTP delivery, CREATE + APPEND, UID EXPUNGE, UID MOVE), a second run, and both
   sides must equal the expected model (mbsync runs with "Expunge Both", so messages
   marked deleted on either side are gone from both; offlineimap with "expunge = no"): per
   folder the set of (Message-ID, flags) and the bytes of every message;
3. a third run must report nothing to do and leave the server (LIST; per folder MESSAGES,
   UIDNEXT, UIDVALIDITY, HIGHESTMODSEQ) and the Maildir (every message file's name, size
   and mtime) exactly as they were.

The IMAP connection is STARTTLS on `imap_listen` (mbsync) and implicit TLS on
`imaps_listen` (offlineimap), both verifying the server's generated self-signed certificate.
Keywords: mbsync 1.4 does not sync keywords, so there they are only checked to survive on
the server; offlineimap maps $Label1 to the maildir letter 'a' (customflag_a), from IMAP to
the maildir only (offlineimap3 8.0 pushes just S R F T D back), so keyword changes are made
on the server side only. mbsync adds an "X-TUID:" header line to each message it copies
(isync's crash-recovery marker); byte comparisons for mbsync remove exactly that one line.

Usage: tests/integration/imap_sync_clients.py [--keep] [--only mbsync|offlineimap]
Binary: $CORVID_BIN, else .build/debug/corvid, else .build/release/corvid.
The last line printed is 'N passed, M failed'; the exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import base64
import email.header
import imaplib
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corvid_harness import (  # noqa: E402
    CorvidServer, finish_run, LMTPClient, ProtocolError, ServerError, Tally, install_exit_cleanup)

DOMAIN = "example.com"
SENDER = "sync-seed@example.org"
TOTAL_MESSAGES = 1000
INBOX_MESSAGES = 300  # by LMTP; the rest by APPEND
# Folders that hold messages, and their share of the appended ones. Archive/Old is only an
# intermediate level (never created): Archive/Old/Deep is created directly.
# "Sent Items" has a space, "Lists/Caf&AOk-" is "Lists/Café" in modified UTF-7 (RFC 3501
# 5.1.3); both clients keep such names verbatim in the Maildir.
FOLDERS = ["INBOX", "Projects", "Projects/2026", "Projects/2026/Q1", "Archive", "Archive/Old/Deep",
           "Lists", "Lists/swift-evolution", "Sent Items", "Lists/Caf&AOk-"]
APPEND_SHARE = {"Projects": 120, "Projects/2026": 100, "Projects/2026/Q1": 90, "Archive": 100,
                "Archive/Old/Deep": 50, "Lists": 80, "Lists/swift-evolution": 120, "Sent Items": 25,
                "Lists/Caf&AOk-": 15}
assert INBOX_MESSAGES + sum(APPEND_SHARE.values()) == TOTAL_MESSAGES
KEYWORD = "$Label1"
SYSTEM_FLAGS = {"\\Seen": "S", "\\Flagged": "F", "\\Answered": "R", "\\Deleted": "T", "\\Draft": "D"}
LETTER_FLAGS = {letter: flag for flag, letter in SYSTEM_FLAGS.items()}
MESSAGE_ID = re.compile(rb"(?im)^Message-ID:[ \t]*(<[^>\r\n]+>)[ \t]*\r?$")
RUN_TIMEOUT = 240  # seconds, per client run
SUBJECTS = ["Quarterly numbers", "Réunion de lundi", "Grüße aus Köln", "会議の議事録", "Ωμέγα status",
            "Plain ASCII subject", "Ünïcödé ☃ snowman", "Re: release plan"]


PASSWORD = "sync-pw-1"


# -- messages ---------------------------------------------------------------------------------


class MessageFactory:
    """Unique messages of varied sizes; some subjects non-ASCII (RFC 2047, and raw UTF-8)."""

    def __init__(self, tag: str):
        self.tag = tag
        self.counter = 0

    def make(self, origin: str) -> tuple[str, bytes]:
        self.counter += 1
        n = self.counter
        message_id = f"<{self.tag}.{origin}.{n}@sync.corvid.test>"
        subject_text = f"{SUBJECTS[n % len(SUBJECTS)]} #{n}"
        if n % 5 == 0 and not subject_text.isascii():
            subject = subject_text.encode("utf-8")  # raw 8-bit header (RFC 6532 style)
        else:
            subject = email.header.Header(subject_text, "utf-8").encode().encode("ascii") \
                if not subject_text.isascii() else subject_text.encode()
        head = (b"From: Seed <" + SENDER.encode() + b">\r\n"
                b"To: <syncer@" + DOMAIN.encode() + b">\r\n"
                b"Subject: " + subject + b"\r\n"
                b"Date: Mon, 2 Mar 2026 10:%02d:%02d +0100\r\n" % (n // 60 % 60, n % 60) +
                b"Message-ID: " + message_id.encode() + b"\r\n"
                b"MIME-Version: 1.0\r\n")
        size_class = n % 10
        if size_class == 9:  # a multipart with a base64 attachment, 20-120 KB
            blob = bytes((i * 7 + n) % 256 for i in range(20_000 + (n % 5) * 20_000))
            encoded = base64.encodebytes(blob).replace(b"\n", b"\r\n")
            body = (b"Content-Type: multipart/mixed; boundary=\"b" + str(n).encode() + b"\"\r\n\r\n"
                    b"--b" + str(n).encode() + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                    b"See the attachment.\r\n"
                    b"--b" + str(n).encode() + b"\r\nContent-Type: application/octet-stream\r\n"
                    b"Content-Transfer-Encoding: base64\r\n"
                    b"Content-Disposition: attachment; filename=\"blob.bin\"\r\n\r\n" + encoded +
                    b"--b" + str(n).encode() + b"--\r\n")
        else:
            lines = 3 + (n * 37) % (40 if size_class < 7 else 400)
            text = b"".join(b"Line %d of message %d: caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac 0123456789\r\n" % (i, n)
                            for i in range(lines))
            body = (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text)
        return message_id, head + body


def message_id_of(data: bytes) -> str | None:
    match = MESSAGE_ID.search(data)
    return match.group(1).decode("ascii", "replace") if match else None


def seed_flags(n: int) -> set[str]:
    flags = set()
    if n % 3 == 0:
        flags.add("\\Seen")
    if n % 7 == 0:
        flags.add("\\Flagged")
    if n % 11 == 0:
        flags.add("\\Answered")
    if n % 13 == 0:
        flags.add(KEYWORD)
    if n % 97 == 5:
        flags.add("\\Draft")
    return flags


# -- IMAP (stdlib imaplib over TLS) -------------------------------------------------------------


@dataclass
class ServerMessage:
    uid: int
    flags: set[str]
    data: bytes


def quoted(folder: str) -> str:
    """An IMAP quoted string (imaplib sends arguments as they are)."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class IMAP:
    """A verified-TLS imaplib session with the few operations this test needs."""

    def __init__(self, server: CorvidServer, cafile: str, user: str):
        context = ssl.create_default_context(cafile=cafile)
        self.conn = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=120)
        self.conn.starttls(ssl_context=context)
        self.conn.login(user, PASSWORD)

    def close(self) -> None:
        try:
            self.conn.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def ok(self, result: tuple, what: str) -> list:
        typ, data = result
        if typ != "OK":
            raise ServerError(f"{what}: {typ} {data!r}")
        return data

    def list_folders(self) -> dict[str, set[str]]:
        """name -> attributes, for LIST "" "*"."""
        data = self.ok(self.conn.list('""', "*"), "LIST")
        folders = {}
        for item in data:
            if item is None:
                continue
            if isinstance(item, tuple):  # name sent as a literal
                head, name = item[0], item[1]
                attrs = re.match(rb"\(([^)]*)\)", head).group(1)
                folders[name.decode()] = set(attrs.decode().split())
                continue
            match = re.match(rb'\(([^)]*)\) (?:"[^"]*"|NIL) (.*)$', item)
            if not match:
                raise ServerError(f"unparsable LIST line {item!r}")
            name = match.group(2)
            if name.startswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
            folders[name.decode()] = set(match.group(1).decode().split())
        return folders

    def create(self, folder: str) -> None:
        self.ok(self.conn.create(quoted(folder)), f"CREATE {folder}")

    def append(self, folder: str, flags: set[str], data: bytes) -> None:
        flag_text = "(" + " ".join(sorted(flags)) + ")" if flags else None
        self.ok(self.conn.append(quoted(folder), flag_text, None, data), f"APPEND {folder}")

    def select(self, folder: str, readonly: bool = False) -> int:
        data = self.ok(self.conn.select(quoted(folder), readonly=readonly), f"SELECT {folder}")
        return int(data[0])

    def uid_store(self, uids: list[int], op: str, flags: str) -> None:
        if uids:
            self.ok(self.conn.uid("STORE", ",".join(map(str, uids)), op, flags), "UID STORE")

    def fetch_all(self, folder: str) -> list[ServerMessage]:
        """UID, FLAGS and BODY.PEEK[] of every message in the folder (read-only)."""
        exists = self.select(folder, readonly=True)
        if exists == 0:
            return []
        data = self.ok(self.conn.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])"), f"UID FETCH {folder}")
        return self._parse_fetch(data, folder)

    def fetch_flags(self, folder: str) -> list[ServerMessage]:
        """UID, FLAGS and the Message-ID header (as data) of every message (read-only)."""
        exists = self.select(folder, readonly=True)
        if exists == 0:
            return []
        data = self.ok(self.conn.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"),
                       f"UID FETCH {folder}")
        return self._parse_fetch(data, folder)

    @staticmethod
    def _parse_fetch(data: list, folder: str) -> list[ServerMessage]:
        parts: list[tuple[bytes, bytes]] = []  # (non-literal text, literal)
        for item in data:
            if isinstance(item, tuple):
                parts.append((item[0], item[1]))
            elif item is not None and parts:
                parts[-1] = (parts[-1][0] + b" " + item, parts[-1][1])
        messages = []
        for text, literal in parts:
            uid = re.search(rb"UID (\d+)", text)
            flags = re.search(rb"FLAGS \(([^)]*)\)", text)
            if not uid or not flags:
                raise ServerError(f"{folder}: FETCH response without UID/FLAGS: {text[:200]!r}")
            messages.append(ServerMessage(int(uid.group(1)), set(flags.group(1).decode().split()), literal))
        return messages

    def status(self, folder: str) -> dict[str, int]:
        data = self.ok(self.conn.status(quoted(folder), "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"),
                       f"STATUS {folder}")
        text = data[0].decode()
        return {key: int(value) for key, value in re.findall(r"([A-Z]+) (\d+)", text.split("(", 1)[1])}


# -- Maildir ------------------------------------------------------------------------------------


@dataclass
class LocalMessage:
    path: str
    letters: str
    data: bytes


def maildir_folders(root: str) -> dict[str, str]:
    """Folder name ('/'-separated, relative to root) -> directory, for every maildir (cur+new+tmp)."""
    found = {}
    for directory, subdirs, _files in os.walk(root):
        if all(os.path.isdir(os.path.join(directory, sub)) for sub in ("cur", "new", "tmp")):
            name = os.path.relpath(directory, root).replace(os.sep, "/")
            found[name] = directory
        subdirs[:] = [d for d in subdirs if d not in ("cur", "new", "tmp")]
    return found


def maildir_messages(directory: str) -> list[LocalMessage]:
    messages = []
    for sub in ("new", "cur"):
        for name in sorted(os.listdir(os.path.join(directory, sub))):
            if name.startswith("."):
                continue
            path = os.path.join(directory, sub, name)
            letters = name.split(":2,", 1)[1] if ":2," in name else ""
            with open(path, "rb") as f:
                messages.append(LocalMessage(path, letters, f.read()))
    return messages


def maildir_listing(root: str) -> dict[str, tuple[int, int]]:
    """Every message file under root (relative path -> (size, mtime_ns)); state files excluded."""
    listing = {}
    for folder, directory in maildir_folders(root).items():
        for sub in ("new", "cur", "tmp"):
            for name in os.listdir(os.path.join(directory, sub)):
                st = os.stat(os.path.join(directory, sub, name))
                listing[f"{folder}/{sub}/{name}"] = (st.st_size, st.st_mtime_ns)
    return listing


def set_letters(message: LocalMessage, letters: str) -> None:
    """Renames a maildir message to carry exactly these flag letters (moving it to cur/)."""
    directory = os.path.dirname(os.path.dirname(message.path))
    base = os.path.basename(message.path).split(":2,", 1)[0]
    target = os.path.join(directory, "cur", base + ":2," + "".join(sorted(letters)))
    os.rename(message.path, target)
    message.path = target
    message.letters = "".join(sorted(letters))


def deliver_to_maildir(directory: str, data: bytes, letters: str | None, counter: list[int]) -> None:
    """Writes a new message the way a local MUA/MDA would (tmp/ then rename); LF line endings."""
    counter[0] += 1
    base = f"{time.time_ns()}.P{os.getpid()}Q{counter[0]}.corvid-it"
    tmp = os.path.join(directory, "tmp", base)
    with open(tmp, "wb") as f:
        f.write(data.replace(b"\r\n", b"\n"))
    if letters is None:
        os.rename(tmp, os.path.join(directory, "new", base))
    else:
        os.rename(tmp, os.path.join(directory, "cur", base + ":2," + "".join(sorted(letters))))


def make_maildir(directory: str) -> None:
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)


# -- the model and the comparison -----------------------------------------------------------------


@dataclass
class Model:
    """What must be true on both sides: folder -> Message-ID -> flags (system flags + keywords)."""
    folders: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    # Message-ID -> exact bytes where the test knows them (APPENDed or written locally); LMTP
    # deliveries gain a Return-Path/Received prefix, so only their suffix is known.
    sent: dict[str, bytes] = field(default_factory=dict)

    def add(self, folder: str, message_id: str, flags: set[str], data: bytes) -> None:
        self.folders.setdefault(folder, {})[message_id] = set(flags)
        self.sent[message_id] = data


@dataclass
class ClientSpec:
    name: str
    maps_keywords: bool  # whether $Label1 <-> maildir letter 'a'
    eol_lf: bool = True  # the maildir copy uses LF where the server has CRLF
    # mbsync inserts (or replaces) one "X-TUID: <12 chars>" line as the last header line of
    # every message it propagates, to find it again after an interrupted run (isync's sync.c).
    tuid_header: bool = False
    # The client expunges \Deleted messages on both sides at the end of a run (mbsync
    # "Expunge Both"); offlineimap runs with "expunge = no" and leaves them flagged.
    expunges: bool = False


TUID_LINE = re.compile(rb"\nX-TUID: [A-Za-z0-9+/]{12}\r?\n(?=\r?\n)")


def without_tuid(data: bytes, spec: ClientSpec) -> bytes:
    """The message without the one X-TUID line the client may have added at the end of the header."""
    if not spec.tuid_header:
        return data
    header_end = data.find(b"\r\n\r\n") if b"\r\n\r\n" in data else data.find(b"\n\n")
    match = TUID_LINE.search(data, 0, header_end + 8) if header_end >= 0 else None
    return data[:match.start() + 1] + data[match.end():] if match else data


def local_flags(letters: str, spec: ClientSpec) -> set[str]:
    flags = {LETTER_FLAGS[c] for c in letters if c in LETTER_FLAGS}
    if spec.maps_keywords and "a" in letters:
        flags.add(KEYWORD)
    return flags


def comparable(flags: set[str], spec: ClientSpec) -> set[str]:
    """The flags a client mirrors into a maildir."""
    keep = set(SYSTEM_FLAGS)
    if spec.maps_keywords:
        keep.add(KEYWORD)
    return {f for f in flags if f in keep}


def to_server_bytes(local: bytes, spec: ClientSpec) -> bytes:
    return local.replace(b"\n", b"\r\n") if spec.eol_lf else local


class SyncScenario:
    """One client, one user, one Maildir: seed, run 1, both-side changes, run 2, run 3."""

    def __init__(self, server: CorvidServer, tally: Tally, spec: ClientSpec, user: str, workdir: str):
        self.server = server
        self.tally = tally
        self.spec = spec
        self.user = user
        self.workdir = workdir
        self.maildir = os.path.join(workdir, "Maildir")
        self.cafile = os.path.join(server.workdir, "conf", "tls", "server-cert.pem")
        self.model = Model()
        self.factory = MessageFactory(f"{spec.name}")
        self.local_counter = [0]
        self.timings: list[tuple[str, float]] = []

    def label(self, text: str) -> str:
        return f"{self.spec.name}: {text}"

    def imap(self) -> IMAP:
        return IMAP(self.server, self.cafile, self.user)

    def created_on_server(self, folder: str) -> None:
        """CREATE makes the superior names too (RFC 3501 6.3.3 SHOULD; the server does)."""
        parts = folder.split("/")
        for depth in range(1, len(parts) + 1):
            self.model.folders.setdefault("/".join(parts[:depth]), {})

    # -- seed --------------------------------------------------------------------------------

    def seed(self) -> None:
        started = time.monotonic()
        inbox = []
        client, greeting = LMTPClient.connect(self.server.lmtp_port, timeout=60)
        try:
            if greeting.code != 220 or client.lhlo().code != 250:
                raise ProtocolError("LMTP greeting/LHLO failed")
            for _ in range(INBOX_MESSAGES):
                message_id, data = self.factory.make("lmtp")
                result = client.transaction(SENDER, [f"{self.user}@{DOMAIN}"], data)
                if not result.acked(0):
                    raise ProtocolError(f"LMTP delivery refused: {result.outcome(0)}")
                inbox.append((message_id, data, seed_flags(self.factory.counter)))
        finally:
            client.close()
        imap = self.imap()
        try:
            for folder in FOLDERS[1:]:
                imap.create(folder)
                self.created_on_server(folder)
            # LMTP deliveries arrive unflagged: set the seed flags with STORE.
            imap.select("INBOX")
            by_id = {message_id_of(m.data): m.uid for m in imap.fetch_flags("INBOX")}
            imap.select("INBOX")
            for flag in sorted(SYSTEM_FLAGS) + [KEYWORD]:
                uids = [by_id[mid] for mid, _, flags in inbox if flag in flags]
                imap.uid_store(uids, "+FLAGS.SILENT", f"({flag})")
            for message_id, data, flags in inbox:
                self.model.add("INBOX", message_id, flags, data)
            for folder, count in APPEND_SHARE.items():
                for _ in range(count):
                    message_id, data = self.factory.make("append")
                    flags = seed_flags(self.factory.counter)
                    imap.append(folder, flags, data)
                    self.model.add(folder, message_id, flags, data)
            total = sum(len(v) for v in self.model.folders.values())
            listed = imap.list_folders()
        finally:
            imap.close()
        self.tally.check(total == TOTAL_MESSAGES and all(f in listed for f in FOLDERS),
                         self.label(f"seeded {total} messages in {len(FOLDERS)} folders "
                                    f"({time.monotonic() - started:.1f}s)"),
                         f"total {total}, listed {sorted(listed)}")
        self.verify_server("seed")

    # -- verification ------------------------------------------------------------------------

    def server_state(self) -> dict[str, list[ServerMessage]]:
        imap = self.imap()
        try:
            folders = imap.list_folders()
            return {name: imap.fetch_all(name) for name, attrs in sorted(folders.items())
                    if "\\Noselect" not in attrs and "\\NonExistent" not in attrs}
        finally:
            imap.close()

    def verify_server(self, stage: str) -> dict[str, list[ServerMessage]]:
        """The server holds exactly the model: folders, (Message-ID, flags), known bytes."""
        state = self.server_state()
        self.tally.check(set(state) == set(self.model.folders), self.label(f"{stage}: server folders = model"),
                         f"server {sorted(state)}\nmodel  {sorted(self.model.folders)}")
        problems = []
        for folder, expected in sorted(self.model.folders.items()):
            messages = state.get(folder, [])
            seen: dict[str, set[str]] = {}
            for m in messages:
                mid = message_id_of(m.data)
                if mid in seen:
                    problems.append(f"{folder}: {mid} twice")
                seen[mid] = {f for f in m.flags if f != "\\Recent"}
                sent = self.model.sent.get(mid)
                data = without_tuid(m.data, self.spec)
                if sent is not None and not (data == sent or (folder == "INBOX" and data.endswith(sent))):
                    problems.append(f"{folder}: {mid} bytes differ (server {len(m.data)}, expected {len(sent)})")
            if seen != expected:
                missing = sorted(set(expected) - set(seen))[:5]
                extra = sorted(set(seen) - set(expected))[:5]
                wrong = sorted((mid, sorted(seen[mid]), sorted(expected[mid]))
                               for mid in set(seen) & set(expected) if seen[mid] != expected[mid])[:5]
                problems.append(f"{folder}: missing {missing} extra {extra} flags (server, model) {wrong}")
        self.tally.check(not problems, self.label(f"{stage}: server messages, flags and bytes = model"),
                         "\n  ".join(problems[:20]))
        return state

    def verify_maildir(self, stage: str, server: dict[str, list[ServerMessage]]) -> None:
        """The Maildir mirrors the server: folders, (Message-ID, flags) and bytes per message."""
        local = maildir_folders(self.maildir)
        self.tally.check(set(local) == set(server), self.label(f"{stage}: maildir folders = server folders"),
                         f"maildir {sorted(local)}\nserver  {sorted(server)}")
        problems = []
        for folder, server_messages in sorted(server.items()):
            if folder not in local:
                continue
            by_id = {message_id_of(m.data): m for m in server_messages}
            seen = {}
            for lm in maildir_messages(local[folder]):
                mid = message_id_of(lm.data)
                if mid in seen:
                    problems.append(f"{folder}: {mid} twice in the maildir")
                seen[mid] = local_flags(lm.letters, self.spec)
                sm = by_id.get(mid)
                if sm is None:
                    continue
                if self.spec.eol_lf and b"\r" in lm.data:
                    problems.append(f"{folder}: {mid} maildir copy has CR bytes")
                if without_tuid(to_server_bytes(lm.data, self.spec), self.spec) != without_tuid(sm.data, self.spec):
                    problems.append(f"{folder}: {mid} maildir bytes differ from the server's "
                                    f"({len(lm.data)} vs {len(sm.data)}): {first_difference(lm.data, sm.data)}")
            expected = {mid: comparable(m.flags, self.spec) for mid, m in by_id.items()}
            if seen != expected:
                missing = sorted(set(expected) - set(seen))[:5]
                extra = sorted(set(seen) - set(expected))[:5]
                wrong = sorted((mid, sorted(seen[mid]), sorted(expected[mid]))
                               for mid in set(seen) & set(expected) if seen[mid] != expected[mid])[:5]
                problems.append(f"{folder}: maildir missing {missing} extra {extra} "
                                f"flags (maildir, server) {wrong}")
        self.tally.check(not problems, self.label(f"{stage}: maildir messages, flags and bytes = server"),
                         "\n  ".join(problems[:20]))

    def snapshot(self) -> tuple[dict, dict, dict]:
        imap = self.imap()
        try:
            folders = imap.list_folders()
            status = {name: imap.status(name) for name, attrs in sorted(folders.items())
                      if "\\Noselect" not in attrs and "\\NonExistent" not in attrs}
        finally:
            imap.close()
        return folders, status, maildir_listing(self.maildir)

    # -- changes -----------------------------------------------------------------------------

    def change_local(self) -> None:
        """Flags renamed, new messages (new/ and cur/), a new folder (nested) with messages."""
        local = maildir_folders(self.maildir)
        # Projects: add S to 6 unseen, drop S from 6 seen, add F to 4, mark 2 trashed (T).
        messages = maildir_messages(local["Projects"])
        unseen = [m for m in messages if "S" not in m.letters][:6]
        seen = [m for m in messages if "S" in m.letters and "F" not in m.letters][:6]
        others = [m for m in messages if m not in unseen and m not in seen]
        for m in unseen:
            set_letters(m, m.letters + "S")
        for m in seen:
            set_letters(m, m.letters.replace("S", ""))
        for m in others[:4]:
            set_letters(m, m.letters + "F" if "F" not in m.letters else m.letters.replace("F", ""))
        for m in others[4:6]:
            set_letters(m, m.letters + "T")
        # No local keyword-letter edits: offlineimap3 8.0 maps keywords from IMAP to the maildir
        # only (its flagsmaildir2imap knows S R F T D), so a local 'a' would be dropped by design.
        for m in unseen + seen + others[:6]:
            mid = message_id_of(m.data)
            flags = self.model.folders["Projects"][mid]
            keywords = {f for f in flags if f not in SYSTEM_FLAGS}
            if self.spec.maps_keywords:
                keywords.discard(KEYWORD)
            self.model.folders["Projects"][mid] = local_flags(m.letters, self.spec) | keywords
        # New mail: 5 into INBOX/new (no flags), 3 into Projects/2026/Q1/cur with S.
        for folder, count, letters in (("INBOX", 5, None), ("Projects/2026/Q1", 3, "S")):
            for _ in range(count):
                mid, data = self.factory.make("local")
                deliver_to_maildir(local[folder], data, letters, self.local_counter)
                self.model.add(folder, mid, local_flags(letters or "", self.spec), data)
        # New folders: one top-level, one nested two levels under an existing folder.
        for folder, letters in (("Local-Made", "F"), ("Projects/2026/Local-Sub", "")):
            directory = os.path.join(self.maildir, *folder.split("/"))
            make_maildir(directory)
            self.model.folders[folder] = {}
            for _ in range(2):
                mid, data = self.factory.make("localfolder")
                deliver_to_maildir(directory, data, letters, self.local_counter)
                self.model.add(folder, mid, local_flags(letters, self.spec), data)

    def change_server(self) -> None:
        """STORE on other messages than the local changes, LMTP delivery, CREATE + APPEND."""
        imap = self.imap()
        try:
            for folder, op, flag, count in (("Archive/Old/Deep", "+FLAGS", "\\Seen", 6),
                                            ("INBOX", "-FLAGS", "\\Seen", 5),
                                            ("Lists", "+FLAGS", "\\Flagged", 4),
                                            ("Lists/swift-evolution", "+FLAGS", "\\Answered", 4),
                                            ("Projects/2026", "+FLAGS", KEYWORD, 3),
                                            ("Archive", "+FLAGS", "\\Deleted", 2)):
                messages = imap.fetch_flags(folder)
                has = (lambda m: flag in m.flags) if op == "-FLAGS" else (lambda m: flag not in m.flags)
                chosen = [m for m in messages if has(m)][:count]
                imap.select(folder)
                imap.uid_store([m.uid for m in chosen], op, f"({flag})")
                for m in chosen:
                    flags = self.model.folders[folder][message_id_of(m.data)]
                    flags.add(flag) if op == "+FLAGS" else flags.discard(flag)
            # Expunged on the server (UID EXPUNGE, RFC 4315) and moved (UID MOVE, RFC 6851): the
            # clients must delete their copies, and fetch the moved ones into the target folder.
            messages = imap.fetch_flags("Lists/swift-evolution")
            imap.select("Lists/swift-evolution")
            gone, moved = messages[10:13], messages[20:22]
            imap.uid_store([m.uid for m in gone], "+FLAGS.SILENT", "(\\Deleted)")
            imap.ok(imap.conn.uid("EXPUNGE", ",".join(str(m.uid) for m in gone)), "UID EXPUNGE")
            imap.ok(imap.conn.uid("MOVE", ",".join(str(m.uid) for m in moved), "Archive"), "UID MOVE")
            for m in gone + moved:
                mid = message_id_of(m.data)
                flags = self.model.folders["Lists/swift-evolution"].pop(mid)
                if m in moved:
                    self.model.folders["Archive"][mid] = flags
            for folder in ("Server-Made", "Archive/Old/Deep/Server-Sub"):
                imap.create(folder)
                self.created_on_server(folder)
                for i in range(3):
                    mid, data = self.factory.make("serverfolder")
                    flags = {"\\Seen"} if i == 0 else set()
                    imap.append(folder, flags, data)
                    self.model.add(folder, mid, flags, data)
        finally:
            imap.close()
        client, _ = LMTPClient.connect(self.server.lmtp_port, timeout=60)
        try:
            client.lhlo()
            for _ in range(8):
                mid, data = self.factory.make("lmtp2")
                result = client.transaction(SENDER, [f"{self.user}@{DOMAIN}"], data)
                if not result.acked(0):
                    raise ProtocolError(f"LMTP delivery refused: {result.outcome(0)}")
                self.model.add("INBOX", mid, set(), data)
        finally:
            client.close()

    # -- the scenario ------------------------------------------------------------------------

    def run_client(self, run: int) -> tuple[int, str, float]:
        raise NotImplementedError

    def quiet_run(self, output: str) -> tuple[bool, str]:
        raise NotImplementedError

    def timed_run(self, run: int) -> tuple[int, str]:
        code, output, seconds = self.run_client(run)
        self.timings.append((f"run {run}", seconds))
        print(f"   {self.spec.name} run {run}: exit {code} in {seconds:.1f}s", flush=True)
        return code, output

    def run(self) -> None:
        self.seed()
        code, output = self.timed_run(1)
        self.tally.check(code == 0, self.label("run 1 (initial pull) exits 0"), f"exit {code}\n{tail(output)}")
        self.verify_maildir("run 1", self.verify_server("run 1"))

        self.change_local()
        self.change_server()
        if self.spec.expunges:
            for messages in self.model.folders.values():
                for mid in [mid for mid, flags in messages.items() if "\\Deleted" in flags]:
                    del messages[mid]
        code, output = self.timed_run(2)
        self.tally.check(code == 0, self.label("run 2 (two-way changes) exits 0"), f"exit {code}\n{tail(output)}")
        # The run-3 "nothing to do" detector must see run 2's propagation, or it proves nothing.
        self.tally.check(not self.quiet_run(output)[0], self.label("run 2 output shows changes (detector self-check)"),
                         tail(output))
        self.verify_maildir("run 2", self.verify_server("run 2"))

        before = self.snapshot()
        keys = {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ"}
        self.tally.check(all(set(st) == keys for st in before[1].values()),
                         self.label("STATUS reports MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ for every folder"),
                         repr(before[1]))
        code, output = self.timed_run(3)
        after = self.snapshot()
        self.tally.check(code == 0, self.label("run 3 (nothing to do) exits 0"), f"exit {code}\n{tail(output)}")
        quiet, detail = self.quiet_run(output)
        self.tally.check(quiet, self.label("run 3 output reports no changes"), detail)
        self.tally.check(before[0] == after[0], self.label("run 3: server LIST unchanged"),
                         f"{before[0]}\n{after[0]}")
        self.tally.check(before[1] == after[1],
                         self.label("run 3: per folder MESSAGES/UIDNEXT/UIDVALIDITY/HIGHESTMODSEQ unchanged"),
                         "\n  ".join(f"{k}: {before[1].get(k)} -> {after[1].get(k)}"
                                     for k in sorted(set(before[1]) | set(after[1]))
                                     if before[1].get(k) != after[1].get(k)))
        changed = sorted(k for k in set(before[2]) | set(after[2]) if before[2].get(k) != after[2].get(k))
        self.tally.check(not changed, self.label("run 3: maildir message files unchanged (name, size, mtime)"),
                         "\n  ".join(changed[:20]))
        self.verify_maildir("run 3", self.verify_server("run 3"))


def first_difference(a: bytes, b: bytes) -> str:
    b = b.replace(b"\r\n", b"\n")
    a = a.replace(b"\r\n", b"\n")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"at {i}: maildir {a[max(0, i - 40):i + 40]!r} server {b[max(0, i - 40):i + 40]!r}"
    return f"one is a prefix of the other (lengths {len(a)}, {len(b)} after LF normalisation)"


def tail(text: str, limit: int = 3000) -> str:
    return text[-limit:]


# -- mbsync -------------------------------------------------------------------------------------


class MbsyncScenario(SyncScenario):
    def __init__(self, server: CorvidServer, tally: Tally, workdir: str):
        super().__init__(server, tally, ClientSpec("mbsync", maps_keywords=False, tuid_header=True, expunges=True), "syncer",
                         workdir)
        self.rc = os.path.join(workdir, "mbsyncrc")
        os.makedirs(self.maildir, exist_ok=True)
        with open(self.rc, "w") as f:
            f.write(f"""# written by tests/integration/imap_sync_clients.py
IMAPAccount corvid
Host 127.0.0.1
Port {server.imap_port}
User {self.user}
Pass {PASSWORD}
SSLType STARTTLS
CertificateFile {self.cafile}
PipelineDepth 10

IMAPStore corvid-far
Account corvid

MaildirStore corvid-near
Path {self.maildir}/
Inbox {self.maildir}/INBOX
SubFolders Verbatim

Channel corvid
Far :corvid-far:
Near :corvid-near:
Patterns *
Create Both
Remove None
Expunge Both
Sync All
SyncState *
CopyArrivalDate yes
""")

    def run_client(self, run: int) -> tuple[int, str, float]:
        started = time.monotonic()
        result = subprocess.run(["mbsync", "-c", self.rc, "-Ddn", "-a"], stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=RUN_TIMEOUT)
        seconds = time.monotonic() - started
        output = result.stdout.decode("utf-8", "replace") + result.stderr.decode("utf-8", "replace")
        with open(os.path.join(self.workdir, f"mbsync.run{run}.log"), "w") as f:
            f.write(output)
        return result.returncode, output, seconds

    # -Ddn: driver calls (metadata only) on both sides and the IMAP protocol (no payloads).
    # Anything that would change a side shows up as one of these. Not close_box: with
    # "Expunge Both" mbsync closes every box with CLOSE (an implicit expunge) on every run;
    # that it removed nothing is what the unchanged STATUS and maildir listing show.
    MUTATIONS = re.compile(r"(\] Enter (store_msg|set_msg_flags|trash_msg|create_box|delete_box|finish_delete_box)\b|"
                           r">>> \d+ (UID )?(APPEND|STORE|CREATE|DELETE|RENAME|EXPUNGE|COPY|MOVE)\b|"
                           r"^Creating (near|far) side box|error)", re.IGNORECASE)

    def quiet_run(self, output: str) -> tuple[bool, str]:
        busy = [line for line in output.splitlines() if self.MUTATIONS.search(line)]
        return not busy, "\n".join(busy[:20])


# -- offlineimap --------------------------------------------------------------------------------


class OfflineIMAPScenario(SyncScenario):
    def __init__(self, server: CorvidServer, tally: Tally, workdir: str):
        super().__init__(server, tally, ClientSpec("offlineimap", maps_keywords=True), "offliner", workdir)
        self.config = os.path.join(workdir, "offlineimaprc")
        os.makedirs(self.maildir, exist_ok=True)
        with open(self.config, "w") as f:
            f.write(f"""# written by tests/integration/imap_sync_clients.py
[general]
accounts = corvid
metadata = {os.path.join(workdir, "metadata")}
maxsyncaccounts = 1

[Account corvid]
localrepository = corvid-local
remoterepository = corvid-remote

[Repository corvid-local]
type = Maildir
localfolders = {self.maildir}
sep = /
customflag_a = {KEYWORD}

[Repository corvid-remote]
type = IMAP
# imaplib2 matches the certificate's DNS names only (not its 127.0.0.1 IP address entry).
remotehost = localhost
remoteport = {server.imaps_port}
remoteuser = {self.user}
remotepass = {PASSWORD}
ssl = yes
sslcacertfile = {self.cafile}
expunge = no
maxconnections = 2
""")

    def run_client(self, run: int) -> tuple[int, str, float]:
        started = time.monotonic()
        result = subprocess.run(["offlineimap", "-c", self.config, "-o", "-u", "basic"], stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=RUN_TIMEOUT)
        seconds = time.monotonic() - started
        output = result.stdout.decode("utf-8", "replace") + result.stderr.decode("utf-8", "replace")
        with open(os.path.join(self.workdir, f"offlineimap.run{run}.log"), "w") as f:
            f.write(output)
        return result.returncode, output, seconds

    def quiet_run(self, output: str) -> tuple[bool, str]:
        busy = [line for line in output.splitlines()
                if re.search(r"(?i)(copy message|adding flag|deleting flag|deleting \d+ message|"
                             r"creating folder|label|IGNORED|ERROR|WARNING)", line)]
        return not busy, "\n".join(busy[:20])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory even on success")
    parser.add_argument("--only", choices=["mbsync", "offlineimap"], help="run one client only")
    args = parser.parse_args()
    install_exit_cleanup()
    tally = Tally()
    server = CorvidServer()
    print(f"imap_sync_clients: binary {server.binary}\nscratch {server.workdir} "
          f"(imap {server.imap_port}, imaps {server.imaps_port}, lmtp {server.lmtp_port})", flush=True)
    scenarios: list[SyncScenario] = []
    try:
        missing = [tool for tool in ("mbsync", "offlineimap") if shutil.which(tool) is None
                   and args.only in (None, tool)]
        if missing:
            tally.check(False, "sync clients installed", f"missing {missing} (Debian: isync, offlineimap3)")
            return finish_run(server, tally, keep=args.keep)
        server.add_user("syncer", PASSWORD)
        server.add_user("offliner", PASSWORD)
        server.start(ready_timeout=60)
        if args.only in (None, "mbsync"):
            scenarios.append(MbsyncScenario(server, tally, os.path.join(server.workdir, "mbsync")))
        if args.only in (None, "offlineimap"):
            scenarios.append(OfflineIMAPScenario(server, tally, os.path.join(server.workdir, "offlineimap")))
        for scenario in scenarios:
            try:
                scenario.run()
            except (ServerError, OSError, ProtocolError, imaplib.IMAP4.error, subprocess.TimeoutExpired,
                    KeyError) as error:
                tally.check(False, scenario.label("scenario ran to completion"), repr(error))
        code, seconds = server.terminate(timeout=30)
        tally.check(code == 0, "SIGTERM: corvid serve exits 0 within 30 s",
                    f"status {code} after {seconds:.1f}s; output:\n{server.log_tail()}")
        ok, output = server.check()
        tally.check(ok, "corvid check exits 0", output.strip())
    except (ServerError, OSError, ProtocolError) as error:
        tally.check(False, "harness", str(error))
    except (KeyboardInterrupt, SystemExit) as interrupt:
        tally.check(False, "run to completion", f"interrupted ({interrupt!r})")
    finally:
        server.kill()
        for scenario in scenarios:
            print(f"timings {scenario.spec.name}: " + ", ".join(f"{n} {s:.1f}s" for n, s in scenario.timings))
    return finish_run(server, tally, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
