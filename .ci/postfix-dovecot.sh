#!/usr/bin/env bash
# Postfix + Dovecot on loopback ports, for the client interop tests
# (tests/client_postfix.rs) and the probe's diagnosis tests.
#
#   .ci/postfix-dovecot.sh install        apt-get install the Debian packages
#   .ci/postfix-dovecot.sh start DIR      configure in DIR, start both, write DIR/env
#   .ci/postfix-dovecot.sh stop DIR       stop exactly the daemons started in DIR
#
# `start` prints the ports and writes DIR/env, a file of `export NAME=VALUE`
# lines for the tests (source it). Dovecot is only the SASL backend
# (auth service on a loopback TCP port); Postfix's smtpd services ask it
# through `smtpd_sasl_type = dovecot`. Mail is delivered by Postfix's
# `virtual` agent into the Maildir DIR/mail/inbox/.
#
# Listeners (all on 127.0.0.1):
#   SUBMISSION   587-like: STARTTLS, AUTH only after TLS (smtpd_tls_auth_only)
#   SUBMISSIONS  465-like: implicit TLS (smtpd_tls_wrappermode)
#   RELAY        25-like: STARTTLS, no AUTH at all
#   PLAINTEXT    no TLS at all, AUTH offered in the clear
#   NOCRAM       like SUBMISSION, but only PLAIN and LOGIN offered
#   LOCKED       like SUBMISSION, with a SASL backend that fails every
#                check temporarily (454 4.7.0)
#
# Users (passwd-file): alice/wonderland {PLAIN}, bob/builder {CRAM-MD5},
# carol/carolpass {SCRAM-SHA-256}.
set -euo pipefail

die() { echo "postfix-dovecot: $*" >&2; exit 1; }

cmd=${1:-}
dir=${2:-}

install_packages() {
    export DEBIAN_FRONTEND=noninteractive
    if command -v postfix >/dev/null && command -v dovecot >/dev/null && command -v openssl >/dev/null; then
        return 0
    fi
    # Preseed so the postfix package does not ask questions.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postfix dovecot-core openssl >/dev/null
    # Debian's packages would start services through systemd; there is none,
    # and nothing here depends on the system-wide instances.
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Eight consecutive free ports, from a base that differs per run.
pick_ports() {
    local tries=0 base
    while [ $tries -lt 50 ]; do
        base=$(( 20000 + (RANDOM % 4000) * 10 ))
        local ok=1 p
        for p in $(seq "$base" $((base + 7))); do
            port_free "$p" || { ok=0; break; }
        done
        if [ $ok = 1 ]; then echo "$base"; return 0; fi
        tries=$((tries + 1))
    done
    die "no free ports"
}

start() {
    [ -n "$dir" ] || die "usage: $0 start DIR"
    command -v postfix >/dev/null || die "postfix is not installed: run '$0 install'"
    command -v dovecot >/dev/null || die "dovecot is not installed: run '$0 install'"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # Postfix's delivery agent (nobody) and daemons (postfix) walk into DIR.
    chmod 755 "$dir"
    [ ! -e "$dir/postfix.pid" ] || die "$dir already has a running setup; stop it first"

    local base; base=$(pick_ports)
    local p_sub=$base p_subs=$((base + 1)) p_relay=$((base + 2)) p_plain=$((base + 3)) \
          p_nocram=$((base + 4)) p_auth=$((base + 5)) p_locked=$((base + 6)) p_auth2=$((base + 7))

    mkdir -p "$dir/postfix" "$dir/spool" "$dir/data" "$dir/dovecot/run" "$dir/mail/inbox"/{cur,new,tmp} "$dir/tls"

    # A private CA and a server certificate for localhost / 127.0.0.1 (the
    # tests trust the CA with --ca; webpki refuses a CA certificate used as
    # the server's own).
    local t="$dir/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=smtp-auth test CA" \
        -keyout "$t/ca-key.pem" -out "$t/ca.pem" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$t/key.pem" -out "$t/server.csr" >/dev/null 2>&1
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$t/ext.cnf"
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial \
        -days 30 -extfile "$t/ext.cnf" -out "$t/cert.pem" >/dev/null 2>&1
    chmod 600 "$t/key.pem" "$t/ca-key.pem"

    # ---- Dovecot: the auth service only ----
    local dv="$dir/dovecot"
    local cram scram
    cram=$(doveadm pw -s CRAM-MD5 -p builder)
    scram=$(doveadm pw -s SCRAM-SHA-256 -p carolpass)
    cat > "$dv/users" <<USERS
alice:{PLAIN}wonderland
bob:$cram
carol:$scram
USERS
    # The LOCKED listener has its own Dovecot whose every check takes its
    # auth process down (the checkpassword program kills its parent;
    # Dovecot's master starts a new one for the next connection). Postfix
    # reports a lost backend as 454 4.7.0, its only temporary
    # authentication failure: what a client sees from a backend outage or
    # a lock-out that answers "try later". A second instance keeps the
    # other listeners' authentications out of it.
    printf '#!/bin/sh\nkill -KILL "$PPID"\nexit 111\n' > "$dv/tempfail"
    chmod 755 "$dv/tempfail"
    cat > "$dv/dovecot.conf" <<CONF
protocols =
base_dir = $dv/run
instance_name = smtp-auth-ci-$base
listen = 127.0.0.1
log_path = $dv/dovecot.log
info_log_path = $dv/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-256
auth_failure_delay = 0
auth_verbose = yes
passdb {
  driver = passwd-file
  args = $dv/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  inet_listener {
    address = 127.0.0.1
    port = $p_auth
  }
}
# No auth penalty (Dovecot's growing delay after failures from one
# address, up to 15 s, longer than Postfix's 10 s wait for its SASL
# backend): the tests fail on purpose, from 127.0.0.1, again and again.
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
CONF
    mkdir -p "$dv/locked/run"
    sed -e "s|^base_dir = .*|base_dir = $dv/locked/run|" \
        -e "s|^instance_name = .*|instance_name = smtp-auth-ci-locked-$base|" \
        -e "s|^log_path = .*|log_path = $dv/locked/dovecot.log|" \
        -e "s|^info_log_path = .*|info_log_path = $dv/locked/dovecot.log|" \
        -e "s|port = $p_auth|port = $p_auth2|" \
        -e "s|driver = passwd-file|driver = checkpassword|" \
        -e "s|args = $dv/users|args = $dv/tempfail|" \
        "$dv/dovecot.conf" > "$dv/locked/dovecot.conf"
    dovecot -c "$dv/dovecot.conf" </dev/null >/dev/null 2>&1
    dovecot -c "$dv/locked/dovecot.conf" </dev/null >/dev/null 2>&1

    # ---- Postfix ----
    local pf="$dir/postfix"
    cp /etc/postfix/master.cf "$pf/master.cf.dist" 2>/dev/null || true
    local uid; uid=$(id -u nobody)
    cat > "$pf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.smtp-auth.test
mydomain = smtp-auth.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
biff = no
smtputf8_enable = yes
# Every recipient in example.test lands in one Maildir.
virtual_mailbox_domains = example.test
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$(id -g nobody)
virtual_minimum_uid = 1
# Nothing leaves this machine.
default_transport = error:no outside delivery in tests
relay_transport = error:no outside delivery in tests
smtpd_tls_cert_file = $dir/tls/cert.pem
smtpd_tls_key_file = $dir/tls/key.pem
smtpd_tls_security_level = may
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:$p_auth
smtpd_sasl_auth_enable = no
smtpd_recipient_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
CONF
    local submission="-o smtpd_sasl_auth_enable=yes -o smtpd_tls_security_level=may -o smtpd_tls_auth_only=yes -o smtpd_client_restrictions=permit_sasl_authenticated,reject"
    cat > "$pf/master.cf" <<CONF
127.0.0.1:$p_sub inet n - n - - smtpd $submission -o syslog_name=postfix/submission
127.0.0.1:$p_subs inet n - n - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes -o smtpd_client_restrictions=permit_sasl_authenticated,reject -o syslog_name=postfix/submissions
127.0.0.1:$p_relay inet n - n - - smtpd -o smtpd_sasl_auth_enable=no -o syslog_name=postfix/relay
127.0.0.1:$p_plain inet n - n - - smtpd -o smtpd_tls_security_level=none -o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=no -o syslog_name=postfix/plaintext
127.0.0.1:$p_nocram inet n - n - - smtpd $submission -o smtpd_sasl_mechanism_filter=plain,login -o syslog_name=postfix/nocram
127.0.0.1:$p_locked inet n - n - - smtpd $submission -o smtpd_sasl_path=inet:127.0.0.1:$p_auth2 -o syslog_name=postfix/locked
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CONF
    chown -R "$uid:$(id -g nobody)" "$dir/mail"
    chown postfix "$dir/data"
    postfix -c "$pf" check
    postfix -c "$pf" start </dev/null >"$dir/postfix-start.log" 2>&1 || { cat "$dir/postfix-start.log" >&2; die "postfix start failed"; }
    # master writes its PID file once it runs.
    local i=0
    while [ ! -s "$dir/spool/pid/master.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ -s "$dir/spool/pid/master.pid" ] || die "postfix did not start (see $dir/maillog)"
    tr -d ' ' < "$dir/spool/pid/master.pid" > "$dir/postfix.pid"
    cat "$dv/run/master.pid" > "$dir/dovecot.pid" 2>/dev/null || die "dovecot did not start (see $dv/dovecot.log)"
    cat "$dv/locked/run/master.pid" > "$dir/dovecot-locked.pid" 2>/dev/null || die "dovecot did not start (see $dv/locked/dovecot.log)"

    # Wait until every listener accepts.
    for p in $p_sub $p_subs $p_relay $p_plain $p_nocram $p_auth $p_locked $p_auth2; do
        i=0
        while port_free "$p" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        port_free "$p" && die "port $p is not listening"
    done

    cat > "$dir/env" <<ENV
export SMTP_AUTH_POSTFIX_SUBMISSION=127.0.0.1:$p_sub
export SMTP_AUTH_POSTFIX_SUBMISSIONS=127.0.0.1:$p_subs
export SMTP_AUTH_POSTFIX_RELAY=127.0.0.1:$p_relay
export SMTP_AUTH_POSTFIX_PLAINTEXT=127.0.0.1:$p_plain
export SMTP_AUTH_POSTFIX_NOCRAM=127.0.0.1:$p_nocram
export SMTP_AUTH_POSTFIX_LOCKED=127.0.0.1:$p_locked
export SMTP_AUTH_POSTFIX_CA=$dir/tls/ca.pem
export SMTP_AUTH_POSTFIX_MAILDIR=$dir/mail/inbox
ENV
    echo "postfix (pid $(cat "$dir/postfix.pid")) and dovecot (pids $(cat "$dir/dovecot.pid") $(cat "$dir/dovecot-locked.pid")) are running:"
    sed 's/^export /  /' "$dir/env"
}

stop() {
    [ -n "$dir" ] || die "usage: $0 stop DIR"
    local pid
    if [ -s "$dir/postfix.pid" ]; then
        pid=$(cat "$dir/postfix.pid")
        # `postfix stop` signals exactly this instance's master.
        postfix -c "$dir/postfix" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
        wait_gone "$pid"
        rm -f "$dir/postfix.pid"
    fi
    local f
    for f in "$dir/dovecot.pid" "$dir/dovecot-locked.pid"; do
        if [ -s "$f" ]; then
            pid=$(cat "$f")
            kill "$pid" 2>/dev/null || true
            wait_gone "$pid"
            rm -f "$f"
        fi
    done
    echo "stopped"
}

wait_gone() {
    local i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$1" 2>/dev/null; then kill -9 "$1" 2>/dev/null || true; fi
}

case "$cmd" in
    install) install_packages ;;
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
