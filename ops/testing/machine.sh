#!/usr/bin/env bash
# What the test suite needs on this machine beyond Python: Debian's packages for the real
# services and tools the tests use, installed if missing, and PostgreSQL running with the
# `test` database. Idempotent; asks sudo for root when not run as root. The README's test command and
# .ci/run both start with it, so a fresh machine runs the whole suite with nothing skipped.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then exec sudo bash "$0" "$@"; fi  # packages need root
export DEBIAN_FRONTEND=noninteractive

# package -> a file it installs (what tells us it is there)
needed=(
    "postgresql:/usr/bin/pg_isready"          # PostgreSQL on 127.0.0.1:5432
    "postgresql-client:/usr/bin/psql"
    "slapd:/usr/sbin/slapd"                   # the tests' throwaway OpenLDAP servers
    "ldap-utils:/usr/bin/ldapwhoami"
    "chromium:/usr/bin/chromium"              # the portal in a real browser (Playwright)
    "fonts-wqy-zenhei:/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"  # Chinese in pages, PDFs
    "poppler-utils:/usr/bin/pdftoppm"         # PDFs rendered by a second reader
    "poppler-data:/usr/share/poppler/cMap"    # ... including the built-in CJK font's maps
    "nginx:/usr/sbin/nginx"                   # the shipped reverse-proxy configuration
    "openssl:/usr/bin/openssl"                # its throwaway test certificate
)
missing=()
for entry in "${needed[@]}"; do
    [ -e "${entry#*:}" ] || missing+=("${entry%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PostgreSQL with the `test` database (trust auth on loopback, as this kind of machine has it).
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
pg_isready -h 127.0.0.1 -p 5432
psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'test'" \
    | grep -q 1 || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test"
