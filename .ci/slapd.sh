#!/usr/bin/env bash
# A throw-away OpenLDAP slapd for the LDAP tests (tests/ldap.rs).
#
#   eval "$(.ci/slapd.sh start)"   # writes config, certs and data; starts slapd; prints env vars
#   cargo test --features ldap --test ldap
#   .ci/slapd.sh stop              # stops exactly the slapd it started
#
# Listens on 127.0.0.1 only: ldap:// (StartTLS) on $SLAPD_PORT (13389) and
# ldaps:// on $SLAPD_TLS_PORT (13636). Everything lives in $SLAPD_DIR
# (/tmp/smtp-auth-slapd). Needs Debian's slapd and ldap-utils, and openssl.
set -euo pipefail

DIR=${SLAPD_DIR:-/tmp/smtp-auth-slapd}
PORT=${SLAPD_PORT:-13389}
TLS_PORT=${SLAPD_TLS_PORT:-13636}
SLAPD=${SLAPD_BIN:-/usr/sbin/slapd}
SUFFIX="dc=example,dc=org"
SERVICE_DN="cn=smtp-service,ou=services,$SUFFIX"
SERVICE_PW="service-secret"

log() { printf '%s\n' "slapd.sh: $*" >&2; }

stop() {
  local pidfile="$DIR/slapd.pid"
  [ -f "$pidfile" ] || { log "not running (no $pidfile)"; return 0; }
  local pid
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "slapd" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "slapd $pid did not stop in 5 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped slapd $pid"
  else
    log "slapd $pid is not running"
  fi
  rm -f "$pidfile"
}

b64() { printf '%s' "$1" | base64 -w0; }

start() {
  [ -x "$SLAPD" ] || { log "$SLAPD not found: apt-get install -y slapd ldap-utils"; exit 1; }
  command -v openssl >/dev/null || { log "openssl not found"; exit 1; }
  if [ -f "$DIR/slapd.pid" ]; then stop; fi
  rm -rf "$DIR"
  mkdir -p "$DIR/db"

  # Certificates: a CA, and a server certificate for 127.0.0.1 / localhost.
  (
    cd "$DIR"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -days 2 -subj "/CN=smtp-auth test LDAP CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out ca.pem 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out server.key.ec 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in server.key.ec -out server.key
    openssl req -new -key server.key -subj "/CN=localhost" -out server.csr 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.pem 2>/dev/null
    chmod 600 ca.key server.key server.key.ec
  )

  # A small schema for the tests: a mail-enabled flag and AD's
  # userAccountControl (its real OID), on an auxiliary class. 32473 is the
  # documentation enterprise number (RFC 5612).
  cat > "$DIR/smtp-auth-test.schema" <<'EOF'
attributetype ( 1.3.6.1.4.1.32473.1.1.1 NAME 'mailEnabled'
  DESC 'smtp-auth tests: may this account submit mail'
  EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  DESC 'Active Directory account flags (0x2: ACCOUNTDISABLE)'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.32473.1.2.1 NAME 'smtpAuthTestAccount'
  DESC 'smtp-auth tests' SUP top AUXILIARY MAY ( mailEnabled $ userAccountControl ) )
EOF

  cat > "$DIR/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/misc.schema
include $DIR/smtp-auth-test.schema

pidfile $DIR/slapd.pid
argsfile $DIR/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
loglevel stats

TLSCACertificateFile $DIR/ca.pem
TLSCertificateFile $DIR/server.pem
TLSCertificateKeyFile $DIR/server.key

# A DN with an empty password binds as anonymous ("unauthenticated bind",
# RFC 4513 5.1.2): the tests prove the authenticator never sends one.
allow bind_anon_dn

database mdb
maxsize 67108864
suffix "$SUFFIX"
rootdn "cn=admin,$SUFFIX"
rootpw admin-root-secret
directory $DIR/db

access to attrs=userPassword
  by anonymous auth
  by self write
  by * none
access to *
  by dn.exact="$SERVICE_DN" read
  by self read
  by anonymous read
  by * read
EOF

  pw() { /usr/sbin/slappasswd -h '{SSHA}' -s "$1"; }
  person() { # uid-dn-value uid password extra-lines...
    local dnval=$1 uid=$2 password=$3; shift 3
    printf 'dn:: %s\n' "$(b64 "uid=$dnval,ou=people,$SUFFIX")"
    printf 'objectClass: inetOrgPerson\nobjectClass: inetLocalMailRecipient\nobjectClass: smtpAuthTestAccount\n'
    printf 'uid:: %s\ncn:: %s\nsn: Test\n' "$(b64 "$uid")" "$(b64 "$uid")"
    printf 'userPassword: %s\n' "$(pw "$password")"
    local line
    for line in "$@"; do printf '%s\n' "$line"; done
    printf '\n'
  }
  {
    printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n' "$SUFFIX"
    for ou in people services other; do
      printf 'dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n' "$ou" "$SUFFIX" "$ou"
    done
    printf 'dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: smtp-service\nuserPassword: %s\n\n' \
      "$SERVICE_DN" "$(pw "$SERVICE_PW")"
    person alice alice wonderland "mail: alice@example.org" \
      "mailLocalAddress: a.liddell@example.org" "mailLocalAddress: Sales@Example.org"
    person bob bob builder "mail: bob@example.org"
    person carol carol carol-pw "mail: carol@example.org" "userAccountControl: 514"
    person dave dave dave-pw "mail: dave@example.org" "mailEnabled: FALSE"
    person erin erin erin-pw "mail: erin@example.org" "mailEnabled: TRUE" "userAccountControl: 512"
    person admin admin admin-pw "mail: admin@example.org"
    person '*)(uid\=*' '*)(uid=*' star-pw "mail: star@example.org"
    person 'x\,\+\"\\\<\>\;\=y' 'x,+"\<>;=y' special-pw "mail: special@example.org"
    person 'jürgen' 'jürgen' jürgen-pw "mail: juergen@example.org"
    person twin twin twin-pw "mail: twin@example.org"
    # A second "twin" elsewhere: a filter over the whole suffix is ambiguous.
    printf 'dn: uid=twin,ou=other,%s\nobjectClass: inetOrgPerson\nuid: twin\ncn: twin\nsn: Other\nuserPassword: %s\n\n' \
      "$SUFFIX" "$(pw twin-pw)"
  } > "$DIR/data.ldif"

  "${SLAPD%/slapd}/slapadd" -q -f "$DIR/slapd.conf" -l "$DIR/data.ldif" 2>"$DIR/slapadd.log" \
    || { log "slapadd failed:"; cat "$DIR/slapadd.log" >&2; exit 1; }
  printf '%s' "$SERVICE_PW" > "$DIR/service.password"
  chmod 600 "$DIR/service.password"

  # -d 0: stay in the foreground (no fork), so $! is slapd itself.
  "$SLAPD" -f "$DIR/slapd.conf" -h "ldap://127.0.0.1:$PORT/ ldaps://127.0.0.1:$TLS_PORT/" -d 0 \
    </dev/null >"$DIR/slapd.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$DIR/slapd.pid"
  for _ in $(seq 1 100); do
    if LDAPTLS_CACERT="$DIR/ca.pem" ldapsearch -x -H "ldaps://127.0.0.1:$TLS_PORT" -b "" -s base \
        namingContexts >/dev/null 2>&1; then
      log "slapd $pid listening on 127.0.0.1:$PORT (ldap, StartTLS) and 127.0.0.1:$TLS_PORT (ldaps)"
      cat <<EOF
export SMTP_AUTH_LDAP_URL=ldap://127.0.0.1:$PORT
export SMTP_AUTH_LDAPS_URL=ldaps://127.0.0.1:$TLS_PORT
export SMTP_AUTH_LDAP_CA=$DIR/ca.pem
export SMTP_AUTH_LDAP_BASE=ou=people,$SUFFIX
export SMTP_AUTH_LDAP_SUFFIX=$SUFFIX
export SMTP_AUTH_LDAP_BIND_DN=$SERVICE_DN
export SMTP_AUTH_LDAP_BIND_PASSWORD_FILE=$DIR/service.password
EOF
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "slapd exited at start:"; tail -20 "$DIR/slapd.log" >&2; rm -f "$DIR/slapd.pid"; exit 1
    fi
    sleep 0.1
  done
  log "slapd did not answer within 10 s"; tail -20 "$DIR/slapd.log" >&2
  stop
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
