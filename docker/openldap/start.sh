#!/bin/sh
# Entrypoint of the authbridge OpenLDAP test image. Renders the same slapd.conf.template and
# loads the same LDIF as the native harness (packages/testkit/src/slapd-native.ts), with sed
# and slapadd instead of TypeScript, then runs slapd in the foreground.
#
# Environment:
#   LDAP_ADMIN_PASSWORD  rootdn password ([A-Za-z0-9_-] only); default: random, written to
#                        /run/authbridge/admin.pw
#   LDAP_SEED            default | none (only the base entry)        default: default
#   LDAP_LOG_LEVEL       slapd -d level                                default: stats
#   LDAP_SERVER_NAME     extra DNS name in the server certificate      default: ldap.test
#   LDAP_URLS            slapd -h listeners                  default: ldap:/// ldaps:///
#   AUTHBRIDGE_APP_DIR, AUTHBRIDGE_RUN_DIR, AUTHBRIDGE_DATA_DIR   image paths (to run the
#                        script outside the image, e.g. to test it)
# Extra LDIF files may be placed in /opt/authbridge/extra/ (loaded after the seed, in name
# order). The test CA is at /run/authbridge/certs/ca.crt.
set -eu

APP="${AUTHBRIDGE_APP_DIR:-/opt/authbridge}"
RUN="${AUTHBRIDGE_RUN_DIR:-/run/authbridge}"
CERTS="$RUN/certs"
DATA="${AUTHBRIDGE_DATA_DIR:-/var/lib/authbridge}"
URLS="${LDAP_URLS:-ldap:/// ldaps:///}"
SEED="${LDAP_SEED:-default}"
LOG_LEVEL="${LDAP_LOG_LEVEL:-stats}"
SERVER_NAME="${LDAP_SERVER_NAME:-ldap.test}"

# First start only: a restarted container keeps its config, certificates and data, just as the
# native harness's restart() does.
if [ ! -f "$RUN/slapd.conf" ]; then
  mkdir -p "$CERTS" "$DATA"
  chmod 700 "$RUN"

  ADMIN_PW="${LDAP_ADMIN_PASSWORD:-$(openssl rand -hex 18)}"
  case "$ADMIN_PW" in
    '' | *[!A-Za-z0-9_-]*)
      echo "LDAP_ADMIN_PASSWORD may only contain A-Z a-z 0-9 _ -" >&2
      exit 64
      ;;
  esac
  printf '%s' "$ADMIN_PW" >"$RUN/admin.pw"
  chmod 600 "$RUN/admin.pw"

  # Throwaway CA and server certificate, as packages/testkit/src/tls-material.ts makes them.
  EC="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
  # shellcheck disable=SC2086 # $EC is a list of options
  openssl req -x509 $EC -keyout "$CERTS/ca.key" -out "$CERTS/ca.crt" -days 7 \
    -subj "/CN=authbridge test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  # shellcheck disable=SC2086
  openssl req -new $EC -keyout "$CERTS/server.key" -out "$CERTS/server.csr" \
    -subj "/CN=$SERVER_NAME" 2>/dev/null
  cat >"$CERTS/server.ext" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:$SERVER_NAME
EXT
  openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 7 -extfile "$CERTS/server.ext" \
    -out "$CERTS/server.crt" 2>/dev/null
  rm -f "$CERTS/ca.key" "$CERTS/server.csr" "$CERTS/server.ext"
  chmod 600 "$CERTS/server.key"

  sed -e "s#{{SCHEMA_DIR}}#/etc/ldap/schema#g" \
    -e "s#{{MODULE_DIR}}#/usr/lib/ldap#g" \
    -e "s#{{RUN_DIR}}#$RUN#g" \
    -e "s#{{DATA_DIR}}#$DATA#g" \
    -e "s#{{ROOT_PW}}#$ADMIN_PW#g" \
    -e "s#{{CA_CERT}}#$CERTS/ca.crt#g" \
    -e "s#{{SERVER_CERT}}#$CERTS/server.crt#g" \
    -e "s#{{SERVER_KEY}}#$CERTS/server.key#g" \
    "$APP/slapd.conf.template" >"$RUN/slapd.conf.new"
  if grep -q '{{[A-Z_]*}}' "$RUN/slapd.conf.new"; then
    echo "slapd.conf.template has a placeholder start.sh does not fill" >&2
    exit 70
  fi

  # Seed: every file followed by a blank line (LDIF separates records with one), without the
  # "version: 1" lines that may only open a file.
  : >"$RUN/seed.ldif"
  if [ "$SEED" = none ]; then
    printf 'dn: dc=example,dc=org\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: authbridge test directory\n\n' >>"$RUN/seed.ldif"
  else
    for f in "$APP"/ldif/*.ldif; do
      grep -v '^version:' "$f" >>"$RUN/seed.ldif" || true
      printf '\n\n' >>"$RUN/seed.ldif"
    done
  fi
  for f in "$APP"/extra/*.ldif; do
    [ -e "$f" ] || continue
    grep -v '^version:' "$f" >>"$RUN/seed.ldif" || true
    printf '\n\n' >>"$RUN/seed.ldif"
  done
  # A previous first start may have died half way through slapadd.
  rm -rf "$DATA" && mkdir -p "$DATA"
  slapadd -f "$RUN/slapd.conf.new" -l "$RUN/seed.ldif"
  # Renamed last, so a failed first start is retried from scratch instead of half-seeded.
  mv "$RUN/slapd.conf.new" "$RUN/slapd.conf"
fi

# Foreground (-d), so slapd is the container's main process and its log is the container log.
# It runs as root to bind 389/636; this is a throwaway test image.
exec slapd -f "$RUN/slapd.conf" -h "$URLS" -d "$LOG_LEVEL" -s 0
