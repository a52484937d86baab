#!/usr/bin/env bash
# A Postfix submission server on 127.0.0.1:10587 (STARTTLS required, SASL
# PLAIN/LOGIN through a private Dovecot auth service, user alice/wonderland,
# every message discarded), as the peer for `cargo bench --bench e2e`.
# Everything lives under $DIR; nothing of the system's own instances is
# touched. Needs root and Debian's postfix, dovecot-core and openssl.
#
#   benches/postfix-peer.sh start   # prints the --peer and --peer-pid flags
#   benches/postfix-peer.sh stop
set -euo pipefail
DIR=${DIR:-/tmp/smtp-auth-postfix-peer}
PORT=${PORT:-10587}

stop() {
  postfix -c "$DIR/postfix" stop >/dev/null 2>&1 || true
  if [ -f "$DIR/dovecot-run/master.pid" ]; then
    kill "$(cat "$DIR/dovecot-run/master.pid")" 2>/dev/null || true
  fi
}

start() {
  mkdir -p "$DIR"/{postfix,spool/private,data,dovecot-run,dovecot-state}
  cd "$DIR"
  [ -f key.pem ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost 2>/dev/null
  echo 'alice:{PLAIN}wonderland' > users
  cat > dovecot.conf <<CONF
base_dir = $DIR/dovecot-run
state_dir = $DIR/dovecot-state
protocols = none
listen = 127.0.0.1
log_path = $DIR/dovecot.log
ssl = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DIR/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/tmp
}
service auth {
  unix_listener $DIR/spool/private/auth {
    mode = 0666
  }
}
CONF
  # The stock master.cf, with the port-25 listener replaced by submission.
  awk -v port="$PORT" '
    /^smtp[ \t]+inet[ \t]/ {
      print "127.0.0.1:" port " inet n - n - - smtpd"
      print "  -o syslog_name=postfix/submission"
      print "  -o smtpd_tls_security_level=encrypt"
      print "  -o smtpd_sasl_auth_enable=yes"
      print "  -o smtpd_tls_auth_only=yes"
      print "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject"
      print "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"
      next
    }
    { print }' /etc/postfix/master.cf > postfix/master.cf
  cat > postfix/main.cf <<CONF
compatibility_level = 3.6
queue_directory = $DIR/spool
data_directory = $DIR/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = peer.localdomain
mydestination =
mynetworks = 127.0.0.1/32
smtpd_tls_cert_file = $DIR/cert.pem
smtpd_tls_key_file = $DIR/key.pem
smtpd_tls_security_level = may
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
maillog_file_prefixes = $DIR
maillog_file = $DIR/postfix.log
default_transport = discard
relay_transport = discard
local_transport = discard
smtpd_relay_restrictions = permit_sasl_authenticated, reject
CONF
  chown postfix "$DIR/data" "$DIR/spool/private"
  dovecot -c "$DIR/dovecot.conf" </dev/null >/dev/null 2>&1
  postfix -c "$DIR/postfix" start </dev/null >/dev/null 2>&1
  for _ in $(seq 1 50); do
    [ -f "$DIR/spool/pid/master.pid" ] && break
    sleep 0.2
  done
  local pf dv
  pf=$(tr -d ' ' < "$DIR/spool/pid/master.pid")
  dv=$(cat "$DIR/dovecot-run/master.pid")
  echo "--peer 127.0.0.1:$PORT --peer-pid $pf,$dv"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
