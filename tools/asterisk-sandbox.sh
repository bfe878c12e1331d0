#!/usr/bin/env bash
# A real Asterisk for the tests, in a Debian unstable chroot (Debian 12 has no Asterisk).
#
#   tools/asterisk-sandbox.sh build          build or reuse the cached chroot; prints its path
#   tools/asterisk-sandbox.sh start DIR AMI_PORT SIP_PORT AGI_PORT
#                                            run Asterisk from the chroot with its config in
#                                            DIR (created here), listening on 127.0.0.1 only
#   tools/asterisk-sandbox.sh stop DIR       stop the Asterisk started with DIR
#
# The package mirror is read from this machine's apt configuration. The chroot is cached
# under /var/cache/desbumi (override with DESBUMI_ASTERISK_CACHE) and rebuilt only when
# missing or broken. Needs root (debootstrap, chroot, mount).
set -euo pipefail

CACHE=${DESBUMI_ASTERISK_CACHE:-/var/cache/desbumi}
ROOT=$CACHE/asterisk-sid
STAMP=$ROOT/.desbumi-ready

mirror() {
    local uri
    uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
    if [ -z "$uri" ]; then
        uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')
    fi
    [ -n "$uri" ] || { echo "asterisk-sandbox: no apt mirror configured" >&2; exit 1; }
    echo "${uri%/}"
}

build() {
    if [ -f "$STAMP" ] && [ -x "$ROOT/usr/sbin/asterisk" ]; then
        echo "$ROOT"
        return
    fi
    [ "$(id -u)" -eq 0 ] || { echo "asterisk-sandbox: building needs root" >&2; exit 1; }
    command -v debootstrap >/dev/null || {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    umount "$ROOT/proc" 2>/dev/null || true
    rm -rf --one-file-system "$ROOT"
    mkdir -p "$CACHE"
    echo "asterisk-sandbox: debootstrap sid into $ROOT (about 30 s)" >&2
    debootstrap --variant=minbase sid "$ROOT" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 || {
        tail -20 "$CACHE/debootstrap.log" >&2
        exit 1
    }
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod +x "$ROOT/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    mount -t proc proc "$ROOT/proc"
    trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
    # The unstable Release file may be past its Valid-Until on these machines.
    chroot "$ROOT" apt-get -qq -o Acquire::Check-Valid-Until=false update
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends asterisk asterisk-modules asterisk-core-sounds-en-gsm \
        sox procps >"$CACHE/apt.log" 2>&1 || { tail -20 "$CACHE/apt.log" >&2; exit 1; }
    chroot "$ROOT" apt-get clean
    umount "$ROOT/proc"
    trap - EXIT
    touch "$STAMP"
    echo "$ROOT"
}

write_config() {
    local dir=$1 ami=$2 sip=$3 agi=$4 etc=$1/etc
    mkdir -p "$etc" "$dir/run" "$dir/log" "$dir/spool" "$dir/lib"
    cat >"$etc/asterisk.conf" <<EOF
[directories]
astetcdir => $etc
astmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules
astvarlibdir => /var/lib/asterisk
astdbdir => $dir/lib
astkeydir => $dir/lib
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => $dir/spool
astrundir => $dir/run
astlogdir => $dir/log
[options]
transmit_silence = yes
maxcalls = 1000
EOF
    cat >"$etc/modules.conf" <<'EOF'
[modules]
autoload = no
load => res_speech.so
load => res_agi.so
load => pbx_config.so
load => chan_local.so
load => res_pjproject.so
load => res_sorcery_astdb.so
load => res_sorcery_config.so
load => res_sorcery_memory.so
load => res_pjsip.so
load => res_pjsip_pubsub.so
load => res_pjsip_session.so
load => chan_pjsip.so
load => format_wav.so
load => format_gsm.so
load => format_pcm.so
load => format_sln.so
load => codec_ulaw.so
load => codec_alaw.so
load => codec_gsm.so
load => codec_resample.so
load => app_playback.so
load => app_record.so
load => app_senddtmf.so
load => app_read.so
load => app_dial.so
; Dial bridges the caller with the counsellor (a transfer).
load => bridge_simple.so
load => app_exec.so
load => app_echo.so
load => app_userevent.so
load => func_channel.so
load => func_callerid.so
load => func_env.so
load => func_logic.so
; The console's "channel originate", for the README's test call.
load => res_clioriginate.so
EOF
    cat >"$etc/manager.conf" <<EOF
[general]
enabled = yes
bindaddr = 127.0.0.1
port = $ami
[desbumi]
secret = desbumi-test-secret
read = system,call,agi,command,reporting,user,originate
write = all
EOF
    cat >"$etc/pjsip.conf" <<EOF
[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:$sip
EOF
    cat >"$etc/extensions.conf" <<EOF
[ivr]
exten => s,1,AGI(agi://127.0.0.1:$agi/ivr)
 ; Reached only when the FastAGI server is down or returned without hanging up.
 same => n,UserEvent(DesbumiFallback,Reason: \${AGISTATUS})
 same => n,Playback(vm-goodbye)
 same => n,Hangup()
[caller]
exten => s,1,Answer()
 same => n,Wait(30)
 same => n,Hangup()
; A caller the test drives over FastAGI (script "caller"): keys, speech, hangup.
[scripted]
exten => s,1,Answer()
 same => n,AGI(agi://127.0.0.1:$agi/caller)
 same => n,Hangup()
; The phone a callback rings: answered by a scripted caller.
[callee]
exten => _[+0-9].,1,Answer()
 same => n,AGI(agi://127.0.0.1:$agi/caller)
 same => n,Hangup()
; Callback numbers that are busy, or ring and are never answered.
[busy]
exten => _[+0-9].,1,Busy(5)
[unanswered]
exten => _[+0-9].,1,Ringing()
 same => n,Wait(60)
; The hotline's own contexts, rendered by desbumi asterisk-config (the tests write it).
#include extensions_desbumi.conf
EOF
    : >"$etc/extensions_desbumi.conf"
    printf '[general]\nenable = no\n' >"$etc/cdr.conf"
    printf '[general]\nenable = no\n' >"$etc/cel.conf"
    printf '[logfiles]\nmessages => notice,warning,error\n' >"$etc/logger.conf"
}

start() {
    local dir=$1 ami=$2 sip=$3 agi=$4
    root=$(build)
    # The config lives inside the chroot so Asterisk can read it. The name carries a hash
    # of DIR's full path: every test session's DIR is "asterisk0" in its own temp folder,
    # and two sessions (two worktrees, a benchmark beside the tests) must not share it.
    local inner
    inner=/tmp/desbumi-$(basename "$dir")-$(realpath -m "$dir" | sha1sum | cut -c1-12)
    mkdir -p "$root$inner"
    write_config "$root$inner" "$ami" "$sip" "$agi"
    # asterisk.conf paths are as seen from inside the chroot.
    sed -i "s|$root||g" "$root$inner/etc/asterisk.conf"
    mkdir -p "$dir"
    echo "$root$inner" >"$dir/inner"
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    # ASTERISK_HIGHPRIORITY=1: real-time scheduling (-p), as Debian's asterisk.service runs it.
    local flags=(-f -n)
    [ "${ASTERISK_HIGHPRIORITY:-0}" = 1 ] && flags+=(-p)
    setsid chroot "$root" /usr/sbin/asterisk "${flags[@]}" -C "$inner/etc/asterisk.conf" \
        >"$dir/asterisk.out" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 1 100); do
        if chroot "$root" /usr/sbin/asterisk -C "$inner/etc/asterisk.conf" \
            -rx 'core waitfullybooted' >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "asterisk-sandbox: Asterisk did not boot; see $dir/asterisk.out" >&2
    exit 1
}

stop() {
    local dir=$1 root inner
    root=$(build)
    inner=$(cat "$dir/inner" 2>/dev/null || true)
    if [ -n "$inner" ]; then
        # Bounded: an Asterisk that no longer answers its console is killed below.
        timeout --kill-after=2 10 chroot "$root" /usr/sbin/asterisk -C "${inner#"$root"}/etc/asterisk.conf" \
            -rx 'core stop now' >/dev/null 2>&1 || true
    fi
    if [ -f "$dir/pid" ]; then
        local pid
        pid=$(cat "$dir/pid")
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    [ -n "$inner" ] && rm -rf --one-file-system "$inner"
    return 0
}

case "${1:-}" in
    build) build ;;
    start) start "$2" "$3" "$4" "$5" ;;
    stop) stop "$2" ;;
    *) echo "usage: $0 build | start DIR AMI_PORT SIP_PORT AGI_PORT | stop DIR" >&2; exit 2 ;;
esac
