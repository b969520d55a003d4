"""Helpers shared by the rolling-replication integration tests (standard library only).

- a Corvid master/replica pair's configs (sync_log + sync_host; sync_listen)
- LMTP delivery and IMAP logins against a CorvidServer
- `corvid sync status` parsed (cursor, newest change, backlog, retrying, quarantined), and a
  bounded wait until the channel's cursor reaches a given change (or the end of the feed)
- /metrics read and one sample extracted
- a bounded wait until two servers' IMAP snapshots (store_snapshot.py) are equal
Every wait is a bounded polling loop that returns what it saw last, for the failure message.
"""

from __future__ import annotations

import imaplib
import os
import re
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable

from corvid_harness import CorvidServer, LMTPClient, Tally
from store_snapshot import diff

HOST = "127.0.0.1"
POLL = 0.1  # seconds between two looks in a bounded wait


def message(n: int, user: str, tag: str = "rolling") -> bytes:
    return (f"From: sender{n}@example.org\r\nTo: {user}@example.com\r\nSubject: {tag} {n}\r\n"
            f"Message-ID: <{tag}-{n}-{user}@example.org>\r\n\r\nBody of {tag} message {n}.\r\n").encode()


def lmtp_reply(port: int, user: str, data: bytes, timeout: float = 60) -> tuple[int, str]:
    """One LMTP transaction into user's INBOX: the final reply's code and text (0 when the
    server could not be reached or gave none)."""
    try:
        client, greeting = LMTPClient.connect(port, timeout=timeout)
    except OSError as error:
        return 0, f"connect: {error}"
    try:
        if greeting.code != 220:
            return 0, f"LMTP greeting {greeting}"
        client.lhlo()
        final = client.transaction("sender@example.org", [f"{user}@example.com"], data).outcome(0)
        return (final.code, str(final)) if final is not None else (0, "no reply")
    except OSError as error:
        return 0, str(error)
    finally:
        client.close()


def lmtp_deliver(port: int, user: str, data: bytes, timeout: float = 60) -> None:
    """One LMTP transaction into user's INBOX; raises unless the final reply is 250."""
    code, text = lmtp_reply(port, user, data, timeout)
    if code != 250:
        raise RuntimeError(f"LMTP delivery to {user}: {text}")


def finish(tally: Tally, scratch: str, servers: list[CorvidServer], keep: bool) -> int:
    """The end of a two-server scenario: kills what still runs, keeps the scratch directory
    when something failed (or asked to), removes it otherwise; returns the exit status."""
    failed = tally.failed > 0
    for server in servers:
        if server.alive():
            server.kill()
    if failed or keep:
        print(f"scratch directory kept: {scratch} (logs under */logs)")
    else:
        for server in servers:
            server.cleanup(keep=False)
        if os.path.isdir(scratch) and not os.listdir(scratch):
            os.rmdir(scratch)
    return tally.finish()


def imap_login(port: int, user: str, password: str, timeout: float = 60) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(HOST, port, timeout=timeout)
    conn.login(user, password)
    return conn


@dataclass
class ChannelStatus:
    channel: str
    cursor: int | None  # None: never replicated
    newest: int
    backlog: int
    retrying: int
    quarantined: int
    text: str


def sync_status(server: CorvidServer, channel: str = "default") -> ChannelStatus:
    """`corvid sync status` on a master, parsed for one channel (raises if it is not listed)."""
    result = server.cli("sync", "status", timeout=60)
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    block = re.search(rf"^channel {re.escape(channel)} .*?(?=^channel |\Z)", text, re.S | re.M)
    if block is None:
        raise RuntimeError(f"corvid sync status (exit {result.returncode}) lists no channel {channel}:\n{text}")
    part = block.group(0)
    counts = re.search(r"(\d+) quarantined, (\d+) retrying", part)
    cursor = re.search(r"cursor (\d+) of (\d+): backlog (\d+) changes", part)
    never = re.search(r"never replicated: .*change feed at (\d+)", part)
    if counts is None or (cursor is None and never is None):
        raise RuntimeError(f"corvid sync status: cannot read channel {channel}:\n{text}")
    if cursor:
        position, newest, backlog = (int(g) for g in cursor.groups())
    else:
        position, newest = None, int(never.group(1))
        backlog = newest
    return ChannelStatus(channel, position, newest, backlog, int(counts.group(2)), int(counts.group(1)), part)


def wait_caught_up(server: CorvidServer, through: int | None = None, timeout: float = 60,
                   channel: str = "default") -> tuple[bool, float, str]:
    """Polls `corvid sync status` (bounded) until the channel's cursor reaches `through` (default:
    the end of the feed, i.e. backlog 0) with nothing retrying. (ok, seconds, last status text)."""
    start = time.monotonic()
    last = "no status read yet"
    while time.monotonic() - start < timeout:
        try:
            status = sync_status(server, channel)
            last = status.text.strip()
            target = status.newest if through is None else through
            if status.cursor is not None and status.cursor >= target and status.retrying == 0:
                return True, time.monotonic() - start, last
        except Exception as error:  # noqa: BLE001 - a CLI hiccup is retried within the bound
            last = f"corvid sync status failed: {error!r}"
        time.sleep(POLL)  # polling interval of a bounded wait
    return False, time.monotonic() - start, last


def metrics(server: CorvidServer) -> str:
    with urllib.request.urlopen(f"http://{HOST}:{server.http_port}/metrics", timeout=30) as response:
        return response.read().decode("utf-8", "replace")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent), labels matched exactly and in any order."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = re.match(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if found == labels:
            return float(match.group(2))
    return 0.0


def wait_until(predicate: Callable[[], bool], timeout: float) -> tuple[bool, float]:
    """Polls predicate (bounded): (became true, seconds)."""
    start = time.monotonic()
    while True:
        if predicate():
            return True, time.monotonic() - start
        if time.monotonic() - start >= timeout:
            return False, time.monotonic() - start
        time.sleep(POLL)  # polling interval of a bounded wait


def wait_equal(snap_a: Callable[[], dict], snap_b: Callable[[], dict], timeout: float,
               names: tuple[str, str] = ("master", "replica"),
               ignore: tuple[str, ...] = ()) -> tuple[bool, float, list[str], dict | None]:
    """Polls both IMAP snapshots (bounded) until they are equal.
    (equal, seconds, last differences, the last snapshot of the first server)."""
    start = time.monotonic()
    problems: list[str] = ["not compared yet"]
    last = None
    while time.monotonic() - start < timeout:
        try:
            last = snap_a()
            problems = diff(last, snap_b(), *names, ignore=ignore)
        except (OSError, imaplib.IMAP4.error, RuntimeError) as error:
            problems = [f"snapshot failed: {error!r}"]
        if not problems:
            return True, time.monotonic() - start, [], last
        time.sleep(POLL * 3)  # polling interval of a bounded wait
    return False, time.monotonic() - start, problems, last


def message_count(snap: dict) -> int:
    return sum(len(f.get("messages", {})) for u in snap["users"].values() for f in u["folders"].values())
