#!/usr/bin/env bash
# Regenerates Tests/IMAPCodecTests/Fixtures/cyrus-bodystructure/*.{eml,cyrus} from a live
# Cyrus 3.6 (Debian's cyrus-imapd) on loopback: each .eml is APPENDed unchanged, and Cyrus's
# ENVELOPE, BODY and BODYSTRUCTURE for it are written to the matching .cyrus file. The unit
# test BodyStructureInteropTests compares Corvid's encoding with those answers.
#
# Run as root on a machine with cyrus-imapd installed (bench/lmtp/run installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
FIXTURES=Tests/IMAPCodecTests/Fixtures/cyrus-bodystructure
PORT=${CYRUS_IMAP_PORT:-25430}
C=$(mktemp -d /tmp/cyrus-bodystructure.XXXXXX)
mkdir -p "$C"/{conf,spool,sieve,run/proc,run/lock,run/socket}
cat >"$C/imapd.conf" <<CONF
servername: corvid-interop
configdirectory: $C/conf
proc_path: $C/run/proc
mboxname_lockpath: $C/run/lock
defaultpartition: default
partition-default: $C/spool
sievedir: $C/sieve
idlesocket: $C/run/socket/idle
notifysocket: $C/run/socket/notify
lmtpsocket: $C/run/socket/lmtp
admins: cyrus
allowplaintext: yes
sasl_mech_list: PLAIN LOGIN
sasl_pwcheck_method: alwaystrue
CONF
cat >"$C/cyrus.conf" <<CONF
START {
  recover cmd="/usr/lib/cyrus/bin/ctl_cyrusdb -C $C/imapd.conf -r"
}
SERVICES {
  imap cmd="/usr/lib/cyrus/bin/imapd -C $C/imapd.conf" listen="127.0.0.1:$PORT" prefork=0 maxchild=5
}
CONF
chown -R cyrus:mail "$C"
/usr/sbin/cyrmaster -C "$C/imapd.conf" -M "$C/cyrus.conf" -p "$C/run/master.pid" -d -L "$C/master.log"
trap 'kill "$(cat "$C/run/master.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$C"' EXIT
python3 - "$PORT" "$FIXTURES" <<'PY'
import glob, imaplib, os, re, socket, sys, time
port, fixtures = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 30
while True:  # bounded wait for the port
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("cyrus did not start")
        time.sleep(0.1)
admin = imaplib.IMAP4("127.0.0.1", port)
admin.login("cyrus", "x")
admin.create("user/interop")
admin.logout()
M = imaplib.IMAP4("127.0.0.1", port)
M.login("interop", "x")
M.select("INBOX")
for path in sorted(glob.glob(os.path.join(fixtures, "*.eml"))):
    data = open(path, "rb").read()
    typ, resp = M.append("INBOX", None, None, data)
    uid = re.search(rb"APPENDUID \d+ (\d+)", resp[0]).group(1).decode()
    out = {}
    for item in ("ENVELOPE", "BODY", "BODYSTRUCTURE"):
        typ, fetched = M.uid("FETCH", uid, f"({item})")
        text = b""
        for part in fetched:  # literals come as (prefix ending in {n}, bytes): put them back inline
            if isinstance(part, tuple):
                text += part[0] + b"\r\n" + part[1]
            elif part:
                text += part
        start = text.index(item.encode() + b" ") + len(item) + 1
        value = text[start:text.rindex(b")")]
        value = re.sub(rb" UID \d+$", b"", value)
        out[item] = value
    with open(path[:-4] + ".cyrus", "wb") as f:
        for item in ("ENVELOPE", "BODY", "BODYSTRUCTURE"):
            f.write(item.encode() + b" " + out[item] + b"\n")
    print("captured", os.path.basename(path))
M.logout()
PY
