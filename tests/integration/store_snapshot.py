"""A server's mail state over standard IMAP, in a canonical form two servers can be compared in
(standard library only). Works against any server that speaks IMAP4rev1 + NAMESPACE, ACL
(RFC 4314), QUOTA (RFC 9208) and METADATA (RFC 5464): Cyrus 3.6 today, Corvid later.

    snap = snapshot(connect_user, connect_admin, users=["alice", "bob"])
    problems = diff(snap_master, snap_replica)        # [] when equal; readable lines otherwise

`connect_user(name)` / `connect_admin()` return logged-in `imaplib.IMAP4` connections. Only the
connection's socket is used (imaplib's `send`, `readline`, `read`): commands are written and
responses parsed here, so literals, quoted names and METADATA replies are handled exactly.

What is captured, per user (names exactly as the user's LIST returns them, i.e. modified UTF-7;
`display` holds the decoded form):
  folders[name] = {display, attributes (LIST attributes, sorted), uidvalidity, uidnext, exists,
                   (or status: "NO" when the user may list but not read the folder),
                   messages {uid: {flags (sorted, without \\Recent), internaldate, size, sha1}},
                   (a refused GETACL/GETQUOTAROOT/GETMETADATA is kept as {"refused": "NO ..."}),
                   metadata {/shared/comment, /private/comment} (as the user),
                   acl {identifier: rights} and quota {roots, resources} (as the admin; only for
                   the user's personal folders, whose admin name is user/NAME[/folder])}
  subscriptions = sorted LSUB names
and as the admin: `admin_mailboxes`, the sorted `LIST "" "user/*"` names of those users.
Canonical form: the namespace roots ("Other Users", "Shared Folders") and \\Noselect/\\NonExistent
hierarchy placeholders are skipped (they hold no state; servers differ in listing them);
\\HasChildren/\\HasNoChildren/\\Marked/\\Unmarked are dropped from attributes; a quota root with no
limits counts as no root.
Folders in other users' namespaces that the user can see (e.g. `Other Users/alice/Shared`) are
included with their messages and flags as *that user* sees them (per-user \\Seen).
"""

from __future__ import annotations

import base64
import hashlib
import imaplib
import json
from typing import Callable

PER_FOLDER_METADATA = ("/shared/comment", "/private/comment")
# LIST attributes that follow from the folder list itself, or from \Recent; servers differ in
# when they send them (RFC 3348/5258), so they are left out of the canonical form.
DERIVED_ATTRIBUTES = {"\\HASCHILDREN", "\\HASNOCHILDREN", "\\MARKED", "\\UNMARKED"}

# -- modified UTF-7 (RFC 3501 5.1.3) ----------------------------------------------------------


def mutf7_encode(text: str) -> str:
    out, pending = [], []

    def flush():
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in text:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "&":
            end = text.index("-", i)
            chunk = text[i + 1:end]
            if not chunk:
                out.append("&")
            else:
                b64 = chunk.replace(",", "/")
                b64 += "=" * (-len(b64) % 4)
                out.append(base64.b64decode(b64).decode("utf-16-be"))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def quote(text: str) -> bytes:
    return b'"' + text.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8") + b'"'


# -- raw IMAP over an imaplib connection ------------------------------------------------------


class SnapshotError(RuntimeError):
    pass


class Literal(bytes):
    """A string that arrived as a literal (kept apart from atoms only for clarity)."""


def _read_response(conn: imaplib.IMAP4) -> bytes:
    """One whole response line, literals inline as {n}CRLF<bytes>."""
    out = b""
    while True:
        line = conn.readline()
        if not line:
            raise SnapshotError("connection closed by server")
        out += line
        stripped = line.rstrip(b"\r\n")
        if stripped.endswith(b"}") and b"{" in stripped:
            count = stripped[stripped.rindex(b"{") + 1:-1].rstrip(b"+")
            if count.isdigit():
                out += conn.read(int(count))
                continue
        return out


def parse(data: bytes, pos: int = 0, end_at_paren: bool = False):
    """A response line (after '* ') into a list of values: lists, None (NIL), bytes (atoms and
    strings; literals as Literal). Atoms with [..] (BODY[]) keep their brackets."""
    items = []
    n = len(data)
    while pos < n:
        c = data[pos:pos + 1]
        if c in (b" ",):
            pos += 1
        elif c in (b"\r", b"\n"):
            pos += 1
        elif c == b"(":
            sub, pos = parse(data, pos + 1, end_at_paren=True)
            items.append(sub)
        elif c == b")":
            if end_at_paren:
                return items, pos + 1
            pos += 1
        elif c == b'"':
            pos += 1
            buf = bytearray()
            while data[pos:pos + 1] != b'"':
                if data[pos:pos + 1] == b"\\":
                    pos += 1
                buf += data[pos:pos + 1]
                pos += 1
            items.append(bytes(buf))
            pos += 1
        elif c == b"{":
            close = data.index(b"}", pos)
            count = int(data[pos + 1:close].rstrip(b"+"))
            start = data.index(b"\n", close) + 1
            items.append(Literal(data[start:start + count]))
            pos = start + count
        else:
            start = pos
            depth = 0
            while pos < n:
                ch = data[pos:pos + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in (b" ", b"(", b")", b"\r", b"\n"):
                    break
                pos += 1
            atom = data[start:pos]
            items.append(None if atom.upper() == b"NIL" else atom)
    if end_at_paren:
        raise SnapshotError(f"unbalanced parenthesis in {data[:200]!r}")
    return items, pos


class Raw:
    """Sends commands on an imaplib connection and collects parsed untagged responses."""

    def __init__(self, conn: imaplib.IMAP4):
        self.conn = conn
        self.counter = 0

    def command(self, *parts: bytes | str, allow_no: bool = False) -> list[list]:
        self.counter += 1
        tag = b"SNAP%04d" % self.counter
        line = b" ".join(p.encode("utf-8") if isinstance(p, str) else p for p in parts)
        self.conn.send(tag + b" " + line + b"\r\n")
        untagged = []
        while True:
            resp = _read_response(self.conn)
            if resp.startswith(tag + b" "):
                status = resp[len(tag) + 1:].split(b" ", 1)[0].upper()
                if status == b"OK" or (allow_no and status == b"NO"):
                    return untagged if status == b"OK" else [[b"__NO__", resp.strip()]]
                raise SnapshotError(f"{line.decode('utf-8', 'replace')[:200]} -> {resp.strip()[:300]!r}")
            if resp.startswith(b"* "):
                untagged.append(parse(resp[2:])[0])
            elif resp.startswith(b"+"):
                raise SnapshotError(f"unexpected continuation for {line[:200]!r}")


def _s(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def _upper(value) -> str:
    return _s(value).upper()


# -- snapshot ---------------------------------------------------------------------------------


def _namespaces(raw: Raw) -> dict[str, list[tuple[str, str]]]:
    """{'personal'|'other'|'shared': [(prefix, delimiter)]} from NAMESPACE."""
    out = {"personal": [], "other": [], "shared": []}
    for resp in raw.command("NAMESPACE"):
        if resp and _upper(resp[0]) == "NAMESPACE":
            for key, value in zip(("personal", "other", "shared"), resp[1:4]):
                for entry in value or []:
                    out[key].append((_s(entry[0]), _s(entry[1]) if entry[1] is not None else ""))
    return out


def _list(raw: Raw, command: str = "LIST", pattern: str = "*") -> list[tuple[str, list[str], str]]:
    """[(name, attributes, delimiter)] for LIST/LSUB "" pattern."""
    out = []
    for resp in raw.command(command, b'""', quote(pattern)):
        if resp and _upper(resp[0]) == command:
            attrs = sorted(_s(a) for a in resp[1])
            out.append((_s(resp[3]), attrs, _s(resp[2]) if resp[2] is not None else ""))
    return out


def _folder_messages(raw: Raw, name: str) -> dict:
    info: dict = {}
    status = raw.command("STATUS", quote(name), b"(MESSAGES UIDNEXT UIDVALIDITY)", allow_no=True)
    if status and status[0][0] == b"__NO__":
        # listed but not readable (e.g. only the `l` right, as for `anyone l`)
        return {"status": "NO"}
    for resp in status:
        if resp and _upper(resp[0]) == "STATUS":
            kv = resp[2]
            for k, v in zip(kv[0::2], kv[1::2]):
                info[_s(k).lower()] = int(v)
    info["exists"] = info.pop("messages", None)
    raw.command("EXAMINE", quote(name))
    messages = {}
    if info.get("exists"):
        for resp in raw.command("UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"):
            if len(resp) < 3 or _upper(resp[1]) != "FETCH":
                continue
            kv = resp[2]
            item = {}
            for k, v in zip(kv[0::2], kv[1::2]):
                key = _upper(k)
                if key == "UID":
                    item["uid"] = int(v)
                elif key == "FLAGS":
                    item["flags"] = sorted(_s(f) for f in v if _upper(f) != "\\RECENT")
                elif key == "INTERNALDATE":
                    item["internaldate"] = _s(v)
                elif key == "RFC822.SIZE":
                    item["size"] = int(v)
                elif key.startswith("BODY["):
                    body = v or b""
                    item["sha1"] = hashlib.sha1(body).hexdigest()
                    item["body_bytes"] = len(body)
            if "uid" in item:
                messages[str(item.pop("uid"))] = item
    raw.command("CLOSE")  # after EXAMINE, CLOSE expunges nothing
    info["messages"] = dict(sorted(messages.items(), key=lambda kv: int(kv[0])))
    return info


def _refused(resps: list) -> str | None:
    """The tagged NO line when Raw.command(allow_no=True) was refused, else None."""
    if resps and resps[0] and resps[0][0] == b"__NO__":
        return "NO " + _s(resps[0][1]).split(" NO ", 1)[-1]
    return None


def _metadata(raw: Raw, name: str) -> dict:
    out = {entry: None for entry in PER_FOLDER_METADATA}
    resps = raw.command("GETMETADATA", quote(name), "(" + " ".join(PER_FOLDER_METADATA) + ")", allow_no=True)
    if _refused(resps):
        return {"refused": _refused(resps)}
    for resp in resps:
        if resp and _upper(resp[0]) == "METADATA":
            kv = resp[2]
            for k, v in zip(kv[0::2], kv[1::2]):
                out[_s(k).lower()] = None if v is None else _s(v)
    return out


def _acl(admin: Raw, admin_name: str) -> dict:
    resps = admin.command("GETACL", quote(admin_name), allow_no=True)
    if _refused(resps):
        return {"refused": _refused(resps)}
    for resp in resps:
        if resp and _upper(resp[0]) == "ACL":
            pairs = resp[2:]
            return {_s(k): "".join(sorted(_s(v))) for k, v in zip(pairs[0::2], pairs[1::2])}
    return {}


def _quota(admin: Raw, admin_name: str) -> dict:
    roots: list[str] = []
    resources: dict = {}
    resps = admin.command("GETQUOTAROOT", quote(admin_name), allow_no=True)
    if _refused(resps):
        return {"refused": _refused(resps)}
    for resp in resps:
        if not resp:
            continue
        if _upper(resp[0]) == "QUOTAROOT":
            roots = sorted(_s(r) for r in resp[2:])
        elif _upper(resp[0]) == "QUOTA":
            triples = resp[2]
            resources[_s(resp[1])] = {_upper(triples[i]): [int(triples[i + 1]), int(triples[i + 2])]
                                      for i in range(0, len(triples) - 2, 3)}
    # A root without any limit is the same as no root (Cyrus lists none, others list an empty one).
    roots = [r for r in roots if resources.get(r)]
    return {"roots": roots, "resources": {r: v for r, v in resources.items() if v}}


def _admin_name(user: str, name: str, personal_delim: str) -> str:
    if name.upper() == "INBOX":
        return f"user/{user}"
    return f"user/{user}/" + name.replace(personal_delim, "/") if personal_delim else f"user/{user}/{name}"


def snapshot(connect_user: Callable[[str], imaplib.IMAP4], connect_admin: Callable[[], imaplib.IMAP4],
             users: list[str], admin_pattern: str = "user/*") -> dict:
    admin_conn = connect_admin()
    admin = Raw(admin_conn)
    # Only the snapshot's users: a server may hold others (e.g. a replica's sync admin).
    mine = tuple(f"user/{u}" for u in users)
    snap: dict = {"admin_mailboxes": sorted(name for name, _, _ in _list(admin, "LIST", admin_pattern)
                                            if name in mine or name.startswith(tuple(m + "/" for m in mine))),
                  "users": {}}
    try:
        for user in users:
            conn = connect_user(user)
            raw = Raw(conn)
            try:
                ns = _namespaces(raw)
                foreign = [p for p, _ in ns["other"] + ns["shared"] if p]
                # The namespace roots themselves ("Other Users", "Shared Folders"): some servers
                # list them as \Noselect placeholders, some do not; they hold no state.
                roots = {p[:-len(d)] if d and p.endswith(d) else p for p, d in ns["other"] + ns["shared"] if p}
                personal_delim = ns["personal"][0][1] if ns["personal"] else "/"
                folders = {}
                for name, attrs, _delim in sorted(_list(raw)):
                    upper = {a.upper() for a in attrs}
                    if name in roots or upper & {"\\NOSELECT", "\\NONEXISTENT"}:
                        continue  # namespace roots and hierarchy placeholders hold no state
                    attrs = [a for a in attrs if a.upper() not in DERIVED_ATTRIBUTES]
                    entry: dict = {"display": mutf7_decode(name), "attributes": attrs}
                    entry.update(_folder_messages(raw, name))
                    if entry.get("status") != "NO":
                        entry["metadata"] = _metadata(raw, name)
                    if not any(name.startswith(p) for p in foreign):
                        an = _admin_name(user, name, personal_delim)
                        entry["acl"] = _acl(admin, an)
                        entry["quota"] = _quota(admin, an)
                    folders[name] = entry
                # Subscriptions to names that no longer exist: Cyrus leaves them out of LSUB,
                # Corvid (like Dovecot) lists them \Noselect; either way they hold no mail.
                subs = sorted(name for name, attrs, _ in _list(raw, "LSUB")
                              if not {"\\noselect", "\\nonexistent"} & {a.lower() for a in attrs})
                snap["users"][user] = {"folders": folders, "subscriptions": subs}
            finally:
                try:
                    conn.logout()
                except Exception:  # noqa: BLE001
                    pass
    finally:
        try:
            admin_conn.logout()
        except Exception:  # noqa: BLE001
            pass
    return snap


# -- comparison -------------------------------------------------------------------------------


def _fmt(value) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."


def diff(a: dict, b: dict, a_name: str = "master", b_name: str = "replica",
         ignore: tuple[str, ...] = ()) -> list[str]:
    """Every difference as one readable line (path: a_name=... b_name=...). `ignore` lists keys
    to skip wherever they occur (e.g. ('uidvalidity', 'internaldate') to compare two servers
    that were fed the same operations independently)."""
    out: list[str] = []

    def walk(x, y, path: str):
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y), key=str):
                if key in ignore:
                    continue
                p = f"{path}[{json.dumps(key, ensure_ascii=False)}]"
                if key not in y:
                    out.append(f"{p}: only on {a_name}: {_fmt(x[key])}")
                elif key not in x:
                    out.append(f"{p}: only on {b_name}: {_fmt(y[key])}")
                else:
                    walk(x[key], y[key], p)
        elif x != y:
            out.append(f"{path}: {a_name}={_fmt(x)} {b_name}={_fmt(y)}")

    walk(a, b, "")
    return out


def summary(snap: dict) -> str:
    """e.g. 'alice: 9 folders, 52 messages; bob: 3 folders, 4 messages'."""
    parts = []
    for user, data in snap["users"].items():
        folders = data["folders"]
        count = sum(len(f.get("messages", {})) for f in folders.values())
        parts.append(f"{user}: {len(folders)} folders, {count} messages")
    return "; ".join(parts)
