#!/usr/bin/env bash
# Installs what the tests need from Debian's packages: redis-server (behind the Upstash REST front), PostgreSQL (the
# database node), MariaDB (an Astron MySQL database for the import script) and Chromium (the console's browser tests,
# driven by playwright-core). Idempotent; starts nothing (tests start their own servers on loopback).
# `--no-browser` (npm start): everything but Chromium, which only the tests use.
set -euo pipefail
browser=1
[ "${1:-}" = "--no-browser" ] && browser=0
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ ls /usr/lib/postgresql/*/bin/initdb && ls /usr/lib/postgresql/*/bin/pg_ctl; } >/dev/null 2>&1 || need+=(postgresql)
{ [ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db; } >/dev/null 2>&1 || need+=(mariadb-server)
[ "$browser" = 0 ] || [ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  echo "setup-system: redis-server, postgresql, mariadb-server$([ "$browser" = 1 ] && echo " and chromium") already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup-system: installing ${need[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
# Debian's postinst scripts start services unless policy-rc.d forbids it (101); tests start their own instances
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
echo "setup-system: apt-get update"
$SUDO apt-get update -qq
echo "setup-system: apt-get install ${need[*]}"
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# in case an image started them anyway
$SUDO service postgresql stop >/dev/null 2>&1 || true
$SUDO service redis-server stop >/dev/null 2>&1 || true
$SUDO service mariadb stop >/dev/null 2>&1 || true
echo "setup-system: done"
