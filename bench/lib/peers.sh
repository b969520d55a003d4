# bench/lib/peers.sh — shared by bench/lmtp/run and bench/imap/run (source it, do not run it).
#
# Installs the peers, builds Corvid and a load generator, starts/stops private Cyrus 3.6,
# Dovecot 2.3 and Corvid instances on 127.0.0.1 with state under $WORK, and cleans up
# on exit. The caller sets, before sourcing:
#   BENCH_NAME      short name used in the /tmp state dir (e.g. lmtp, imap)
#   BENCH_SERVERS   servers to run
# and before calling start_<server>:
#   USERS=(...)     users to create
#   CYRUS_LMTP_PORT CYRUS_IMAP_PORT DOVECOT_LMTP_PORT CORVID_LMTP_PORT
#   optional: DOVECOT_IMAP_PORT (enables Dovecot IMAP), CORVID_IMAP_PORT (enables Corvid IMAP),
#             CYRUS_POP3_PORT, DOVECOT_POP3_PORT, CORVID_POP3_PORT (enable POP3 on each),
#             DOVECOT_IMAP_PROCESS_LIMIT (service imap's own process_limit; built-in default 1024),
#             CYRUS_IMAP_MAXCHILD (default 20), DOVECOT_EXTRA_CONF, CYRUS_EXTRA_CONF,
#             CORVID_EXTRA_CONF (text appended to the config files)
# start_<server> sets PIDS[<server>], LMTP_PORT and SERVER_NOTE.

READY_TIMEOUT=${READY_TIMEOUT:-30}
DOVECOT_EXTRA=/opt/dovecot-extra/usr/lib/dovecot   # dovecot-imapd, extracted (conflicts with cyrus-imapd)

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ----------------------------------------------------------------------------- state + cleanup
WORK=$(mktemp -d "/tmp/corvid-$BENCH_NAME-bench.XXXXXX")
chmod 755 "$WORK"                 # cyrus drops to the 'cyrus' user and must traverse it
RES=$WORK/results
mkdir -p "$RES"
declare -A PIDS=()                # server name -> pid of the process we started
FAILED=()
LOADGEN_PID=""

stop_pid() {                      # stop_pid NAME PID: TERM, wait (bounded), then KILL
    local name=$1 pid=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

stop_server() {
    local name=$1
    [[ -n ${PIDS[$name]:-} ]] || return 0
    stop_pid "$name" "${PIDS[$name]}"
    unset "PIDS[$name]"
    # children that outlived their master (lmtpd, imapd, dovecot lmtp/imap): only processes
    # whose command line names our private state dir, killed one by one by pid
    local p
    for p in $(pgrep -f -- "$WORK/$name" 2>/dev/null || true); do
        [[ $p == "$$" ]] && continue
        stop_pid "$name child" "$p"
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e                        # best effort from here on: never stop half-way
    local n
    [[ -n ${LOADGEN_PID:-} ]] && kill -TERM "$LOADGEN_PID" 2>/dev/null && wait "$LOADGEN_PID" 2>/dev/null
    for n in "${!PIDS[@]}"; do stop_server "$n"; done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "state kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# compilers/linkers running elsewhere on the box skew a 2-core benchmark; counted per row
COMPETITORS='swift-build|swift-frontend|swiftc|swift-driver|clang|clang-[0-9]+|cc1|cc1plus|gcc|ld|ld.gold|ld.lld|rustc|cargo|make'
competitors() { ps -eo comm= 2>/dev/null | grep -Ecx "$COMPETITORS" || true; }

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

wait_port() {                     # wait_port PORT PID: poll until the port accepts (bounded)
    local port=$1 pid=$2 deadline=$((SECONDS + READY_TIMEOUT))
    while ((SECONDS < deadline)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { log "process $pid exited before 127.0.0.1:$port accepted connections"; return 1; }
        sleep 0.1
    done
    log "127.0.0.1:$port did not accept connections within ${READY_TIMEOUT}s"
    return 1
}

want_server() { [[ " $BENCH_SERVERS " == *" $1 "* ]]; }

# ----------------------------------------------------------------------------- install
# install_packages [dovecot-imap] [dovecot-pop3]: apt-get what is missing; with
# "dovecot-imap" / "dovecot-pop3", also extract dovecot-imapd / dovecot-pop3d under
# /opt/dovecot-extra (apt refuses them next to cyrus-imapd / cyrus-pop3d). Set
# CYRUS_POP3=1 before calling to install cyrus-pop3d as well.
install_packages() {
    local pkgs=() p
    want_server cyrus && pkgs+=(cyrus-imapd cyrus-admin cyrus-clients sasl2-bin)
    want_server cyrus && [[ ${CYRUS_POP3:-0} == 1 ]] && pkgs+=(cyrus-pop3d)
    want_server dovecot && pkgs+=(dovecot-core dovecot-lmtpd)
    command -v python3 >/dev/null || pkgs+=(python3)
    command -v ss >/dev/null || pkgs+=(iproute2)
    command -v pgrep >/dev/null || pkgs+=(procps)
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    local extract=() want
    for want in "$@"; do
        case $want in
            dovecot-imap) want_server dovecot && [[ ! -x $DOVECOT_EXTRA/imap ]] && extract+=(dovecot-imapd) ;;
            dovecot-pop3) want_server dovecot && [[ ! -x $DOVECOT_EXTRA/pop3 ]] && extract+=(dovecot-pop3d) ;;
        esac
    done
    ((${#missing[@]} == 0 && ${#extract[@]} == 0)) && return 0
    [[ ${BENCH_SKIP_INSTALL:-0} == 1 ]] && die "missing packages: ${missing[*]} ${extract[*]} (BENCH_SKIP_INSTALL=1)"
    apt-get update -qq || die "apt-get update failed"
    if ((${#missing[@]})); then
        log "installing: ${missing[*]}"
        # The packages' maintainer scripts would start the system cyrus/dovecot daemons unless
        # policy-rc.d forbids it; install one for the duration if the machine has none.
        local own_policy=0
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
        fi
        local rc=0
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || rc=$?
        ((own_policy)) && rm -f /usr/sbin/policy-rc.d
        ((rc == 0)) || die "apt-get install failed"
    fi
    local pkg d
    for pkg in "${extract[@]+"${extract[@]}"}"; do
        log "extracting $pkg into /opt/dovecot-extra (it conflicts with Cyrus's package in apt)"
        d=$(mktemp -d /tmp/corvid-bench-debs.XXXXXX)
        (cd "$d" && apt-get download -qq "$pkg" >/dev/null) || die "apt-get download $pkg failed"
        mkdir -p /opt/dovecot-extra && dpkg-deb -x "$d"/"$pkg"_*.deb /opt/dovecot-extra || die "dpkg-deb -x failed"
        rm -rf "$d"
    done
    [[ " ${extract[*]-} " == *" dovecot-imapd "* && ! -x $DOVECOT_EXTRA/imap ]] && die "no $DOVECOT_EXTRA/imap after extraction"
    [[ " ${extract[*]-} " == *" dovecot-pop3d "* && ! -x $DOVECOT_EXTRA/pop3 ]] && die "no $DOVECOT_EXTRA/pop3 after extraction"
    return 0
}

# ----------------------------------------------------------------------------- builds
# build_loadgen PKG_DIR: release build; sets LOADGEN_BIN (the bin directory)
build_loadgen() {
    local pkg=$1
    log "building load generator $(basename "$(dirname "$pkg")")/$(basename "$pkg") (release)"
    swift build -c release --package-path "$pkg" --scratch-path "$pkg/.build" >"$WORK/loadgen-build.log" 2>&1 \
        || { cat "$WORK/loadgen-build.log" >&2; die "load generator build failed"; }
    LOADGEN_BIN=$(swift build -c release --package-path "$pkg" --scratch-path "$pkg/.build" --show-bin-path)
}

# build_corvid: sets CORVID and CORVID_NOTE (CORVID_BIN / CORVID_SCRATCH honoured)
CORVID=""
CORVID_NOTE=""
build_corvid() {
    want_server corvid || return 0
    if [[ -n ${CORVID_BIN:-} ]]; then
        CORVID=$CORVID_BIN
        CORVID_NOTE="prebuilt binary from CORVID_BIN=$CORVID_BIN"
        [[ -x $CORVID ]] || die "CORVID_BIN=$CORVID is not executable"
        return 0
    fi
    local scratch=()
    [[ -n ${CORVID_SCRATCH:-} ]] && scratch=(--scratch-path "$CORVID_SCRATCH")
    log "building corvid (swift build -c release --product corvid ${scratch[*]}); this can take several minutes"
    if (cd "$REPO" && swift build -c release --product corvid "${scratch[@]+"${scratch[@]}"}") >"$WORK/corvid-build.log" 2>&1; then
        CORVID=$(cd "$REPO" && swift build -c release "${scratch[@]+"${scratch[@]}"}" --show-bin-path)/corvid
        CORVID_NOTE="release build of the working tree"
    else
        tail -40 "$WORK/corvid-build.log" >&2
        log "corvid release build FAILED; continuing with the peers only"
        FAILED+=("corvid:build")
    fi
}

# ----------------------------------------------------------------------------- servers
start_cyrus() {
    local C=$WORK/cyrus
    mkdir -p "$C"/{conf,spool,sieve,run/proc,run/lock,run/socket} || return 1
    cat >"$C/imapd.conf" <<EOF
# private Cyrus 3.6 instance for bench/$BENCH_NAME (loopback only)
servername: bench-cyrus
configdirectory: $C/conf
proc_path: $C/run/proc
mboxname_lockpath: $C/run/lock
defaultpartition: default
partition-default: $C/spool
sievedir: $C/sieve
lmtpsocket: $C/run/socket/lmtp
idlesocket: $C/run/socket/idle
notifysocket: $C/run/socket/notify
admins: cyrus
allowplaintext: yes
sasl_mech_list: PLAIN LOGIN
sasl_pwcheck_method: alwaystrue
lmtp_downcase_rcpt: yes
# FAIRNESS: Cyrus answers 250 but stores only one copy of a repeated Message-ID by
# default. Every benchmark message has its own Message-ID anyway; turn it off too.
duplicatesuppression: 0
${CYRUS_EXTRA_CONF:-}
EOF
    local pop3_service=""
    if [[ -n ${CYRUS_POP3_PORT:-} ]]; then
        pop3_service="  pop3       cmd=\"/usr/lib/cyrus/bin/pop3d -C $C/imapd.conf\" listen=\"127.0.0.1:$CYRUS_POP3_PORT\" prefork=0 maxchild=${CYRUS_POP3_MAXCHILD:-50}"
    fi
    # every cmd= needs its own -C: cyrmaster does not pass it to its children
    cat >"$C/cyrus.conf" <<EOF
START {
  recover    cmd="/usr/lib/cyrus/bin/ctl_cyrusdb -C $C/imapd.conf -r"
}
SERVICES {
  imap       cmd="/usr/lib/cyrus/bin/imapd -C $C/imapd.conf" listen="127.0.0.1:$CYRUS_IMAP_PORT" prefork=0 maxchild=${CYRUS_IMAP_MAXCHILD:-20}
  lmtp       cmd="/usr/lib/cyrus/bin/lmtpd -C $C/imapd.conf -a" listen="127.0.0.1:$CYRUS_LMTP_PORT" prefork=0 maxchild=100
$pop3_service
}
EVENTS {
  checkpoint cmd="/usr/lib/cyrus/bin/ctl_cyrusdb -C $C/imapd.conf -c" period=30
}
EOF
    chown -R cyrus:mail "$C" || return 1
    /usr/sbin/cyrmaster -C "$C/imapd.conf" -M "$C/cyrus.conf" -p "$C/run/master.pid" -d -L "$C/master.log" || return 1
    local i
    for i in $(seq 100); do [[ -s $C/run/master.pid ]] && break; sleep 0.1; done
    [[ -s $C/run/master.pid ]] || { log "cyrmaster wrote no pid file"; return 1; }
    PIDS[cyrus]=$(cat "$C/run/master.pid")
    wait_port "$CYRUS_IMAP_PORT" "${PIDS[cyrus]}" && wait_port "$CYRUS_LMTP_PORT" "${PIDS[cyrus]}" || return 1
    if [[ -n ${CYRUS_POP3_PORT:-} ]]; then wait_port "$CYRUS_POP3_PORT" "${PIDS[cyrus]}" || return 1; fi
    # create the INBOXes as the admin over IMAP (alwaystrue: any password)
    python3 - "$CYRUS_IMAP_PORT" "${USERS[@]}" <<'EOF'
import imaplib, sys
port, users = int(sys.argv[1]), sys.argv[2:]
M = imaplib.IMAP4("127.0.0.1", port)
M.login("cyrus", "secret")
for u in users:
    typ, data = M.create("user/" + u)
    if typ != "OK":
        sys.exit(f"cyrus: CREATE user/{u} failed: {data}")
M.logout()
EOF
    [[ $? == 0 ]] || { log "cyrus: creating the INBOXes failed"; return 1; }
    LMTP_PORT=$CYRUS_LMTP_PORT
    SERVER_NOTE="Cyrus $(dpkg-query -W -f='${Version}' cyrus-imapd 2>/dev/null); duplicatesuppression: 0; lmtpd -a over TCP; prefork=0"
}

start_dovecot() {
    local D=$WORK/dovecot
    mkdir -p "$D"/{run,state,home} || return 1
    local protocols="lmtp" imap_conf=""
    if [[ -n ${DOVECOT_IMAP_PORT:-} ]]; then
        protocols="imap lmtp"
        imap_conf="disable_plaintext_auth = no
service imap-login {
  executable = $DOVECOT_EXTRA/imap-login
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service imap {
  executable = $DOVECOT_EXTRA/imap${DOVECOT_IMAP_PROCESS_LIMIT:+
  process_limit = $DOVECOT_IMAP_PROCESS_LIMIT}
}
# services whose binaries come from dovecot-imapd must point at /opt, or the master refuses to start
service imap-urlauth {
  executable = $DOVECOT_EXTRA/imap-urlauth
}
service imap-urlauth-login {
  executable = $DOVECOT_EXTRA/imap-urlauth-login
}
service imap-urlauth-worker {
  executable = $DOVECOT_EXTRA/imap-urlauth-worker
}
service imap-hibernate {
  executable = $DOVECOT_EXTRA/imap-hibernate
}"
    fi
    local pop3_conf=""
    if [[ -n ${DOVECOT_POP3_PORT:-} ]]; then
        protocols+=" pop3"
        pop3_conf="disable_plaintext_auth = no
service pop3-login {
  executable = $DOVECOT_EXTRA/pop3-login
  inet_listener pop3 {
    address = 127.0.0.1
    port = $DOVECOT_POP3_PORT
  }
  inet_listener pop3s {
    port = 0
  }
}
service pop3 {
  executable = $DOVECOT_EXTRA/pop3
}
protocol pop3 {
  # Cyrus's and Corvid's form (UIDVALIDITY.UID), so every server computes the same thing
  pop3_uidl_format = %v.%u
}"
    fi
    cat >"$D/dovecot.conf" <<EOF
# private Dovecot 2.3 instance for bench/$BENCH_NAME (loopback only)
instance_name = corvid-bench-$(basename "$WORK")
base_dir = $D/run
state_dir = $D/state
listen = 127.0.0.1
protocols = $protocols
log_path = $D/dovecot.log
ssl = no
auth_mechanisms = plain login
auth_username_format = %Ln
first_valid_uid = 8
first_valid_gid = 8
mail_uid = mail
mail_gid = mail
mail_location = maildir:~/Maildir
# FAIRNESS: mail_fsync stays at its default (optimized): maildir files are fsynced
# before the 250 / APPEND OK, i.e. the same durability promise Corvid makes.
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%Ln $D/users
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$D/home/%Ln
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $DOVECOT_LMTP_PORT
  }
}
$imap_conf
$pop3_conf
${DOVECOT_EXTRA_CONF:-}
EOF
    local u
    for u in "${USERS[@]}"; do echo "$u:{PLAIN}pass::::::"; done >"$D/users"
    chmod 644 "$D/users" && chown -R mail:mail "$D/home" || return 1
    doveconf -c "$D/dovecot.conf" -n >/dev/null 2>"$D/doveconf.err" || { cat "$D/doveconf.err" >&2; return 1; }
    dovecot -c "$D/dovecot.conf" || return 1
    local i
    for i in $(seq 100); do [[ -s $D/run/master.pid ]] && break; sleep 0.1; done
    [[ -s $D/run/master.pid ]] || { log "dovecot wrote no pid file"; return 1; }
    PIDS[dovecot]=$(cat "$D/run/master.pid")
    wait_port "$DOVECOT_LMTP_PORT" "${PIDS[dovecot]}" || return 1
    if [[ -n ${DOVECOT_IMAP_PORT:-} ]]; then wait_port "$DOVECOT_IMAP_PORT" "${PIDS[dovecot]}" || return 1; fi
    if [[ -n ${DOVECOT_POP3_PORT:-} ]]; then wait_port "$DOVECOT_POP3_PORT" "${PIDS[dovecot]}" || return 1; fi
    LMTP_PORT=$DOVECOT_LMTP_PORT
    SERVER_NOTE="Dovecot $(dovecot --version 2>/dev/null | head -1); maildir; mail_fsync=$(doveconf -c "$D/dovecot.conf" -h mail_fsync 2>/dev/null)"
}

CORVID_CONF=""
start_corvid() {
    [[ -n $CORVID ]] || { log "no corvid binary"; return 1; }
    local E=$WORK/corvid
    mkdir -p "$E"/{conf,spool} || return 1
    CORVID_CONF=$E/imapd.conf
    cat >"$CORVID_CONF" <<EOF
# private Corvid instance for bench/$BENCH_NAME (loopback only)
configdirectory: $E/conf
partition-default: $E/spool
servername: bench-corvid
lmtp_listen: 127.0.0.1:$CORVID_LMTP_PORT
maxmessagesize: 10485760
EOF
    if [[ -n ${CORVID_IMAP_PORT:-} ]]; then
        printf 'imap_listen: 127.0.0.1:%s\nallowplaintext: yes\n' "$CORVID_IMAP_PORT" >>"$CORVID_CONF"
    fi
    if [[ -n ${CORVID_POP3_PORT:-} ]]; then
        printf 'pop3_listen: 127.0.0.1:%s\n' "$CORVID_POP3_PORT" >>"$CORVID_CONF"
        [[ -z ${CORVID_IMAP_PORT:-} ]] && printf 'allowplaintext: yes\n' >>"$CORVID_CONF"
    fi
    [[ -n ${CORVID_EXTRA_CONF:-} ]] && printf '%s\n' "$CORVID_EXTRA_CONF" >>"$CORVID_CONF"
    local u
    for u in "${USERS[@]}"; do
        "$CORVID" user add "$u" --password pass -C "$CORVID_CONF" >>"$E/setup.log" 2>&1 \
            || { log "corvid user add $u failed:"; tail -5 "$E/setup.log" >&2; return 1; }
    done
    "$CORVID" serve -C "$CORVID_CONF" >"$E/serve.log" 2>&1 &
    PIDS[corvid]=$!
    wait_port "$CORVID_LMTP_PORT" "${PIDS[corvid]}" || { tail -20 "$E/serve.log" >&2; return 1; }
    if [[ -n ${CORVID_IMAP_PORT:-} ]]; then wait_port "$CORVID_IMAP_PORT" "${PIDS[corvid]}" || { tail -20 "$E/serve.log" >&2; return 1; }; fi
    if [[ -n ${CORVID_POP3_PORT:-} ]]; then wait_port "$CORVID_POP3_PORT" "${PIDS[corvid]}" || { tail -20 "$E/serve.log" >&2; return 1; }; fi
    LMTP_PORT=$CORVID_LMTP_PORT
    SERVER_NOTE="corvid: $CORVID_NOTE"
}

# host description for the results' meta.json
host_json() {
    echo "{\"nproc\": $(nproc), \"kernel\": \"$(uname -r)\", \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//;s/"//g')\", \"tmp_fs\": \"$(df -T /tmp | awk 'NR==2{print $2}')\"}"
}
corvid_git() {
    echo "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$REPO" status --porcelain 2>/dev/null | grep -q . && echo '+dirty')"
}
