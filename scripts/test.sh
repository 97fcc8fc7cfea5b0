#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine and run them all:
#   Debian packages (the real tools the tests drive), a virtualenv with mamori and its test tools,
#   then lint, type checks, the import-layer contract, and pytest (unit, real captures, live network namespaces).
# Run as root: it installs Debian packages and the live tests create network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: run as root (sudo): it installs Debian packages and creates network namespaces" >&2
    exit 1
fi

# command -> Debian package
# (the Zabbix integration test runs its own PostgreSQL cluster, zabbix_server and the PHP frontend under
# `php -S` from a temporary folder, on loopback and Unix sockets: no system service is used or started)
declare -A packages=([soffice]=libreoffice-calc-nogui [nmap]=nmap [hping3]=hping3 [arping]=arping [tcpdump]=tcpdump [ip]=iproute2
                     [zabbix_server]=zabbix-server-pgsql [php]=php-cli [pg_ctlcluster]=postgresql
                     [rsyslogd]=rsyslog [openssl]=openssl)
# file pattern -> Debian package, for what has no command of its own
declare -A files=([/usr/share/zabbix/index.php]=zabbix-frontend-php [/usr/lib/php/*/pgsql.so]=php-pgsql
                  [/usr/lib/postgresql/*/bin/initdb]=postgresql [/usr/lib/*/rsyslog/lmnsd_gtls.so]=rsyslog-gnutls)
files[/usr/share/ieee-data/oui.csv]=ieee-data  # MAC vendor names in `mamori learn` proposals
files[/usr/lib/*/rsyslog/omrelp.so]=rsyslog-relp  # rsyslog forwarding over RELP in the syslog collector's test
# the dashboard's tests: Debian's chromium driven by Playwright (never `playwright install`), a Japanese font for its
# screenshots (the monthly PDF uses the font shipped in mamori), pdftotext to read the PDF back, msgfmt to compile the
# Japanese catalogue
# (openssl, above, makes the HTTPS test's certificate)
packages[nft]=nftables  # the zones test's router logs and rejects with nftables (tc, for its mirror port, is iproute2)
packages[restic]=restic  # the backup tests make real restic and borg repositories
# the central tests run their own NATS server (JetStream, mutual TLS) and PostgreSQL cluster (above) on loopback
packages[nats-server]=nats-server
packages[borg]=borgbackup
packages[chromium]=chromium
packages[pdftotext]=poppler-utils
packages[msgfmt]=gettext
files[/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf]=fonts-ipaexfont-gothic
# sslpsk3 (a test dependency: TLS-PSK to Zabbix before Python 3.13) is built from source, and so are mamori's own
# pcap walker and engine loop (optional for a user; the tests require them): gcc and the interpreter's headers
packages[gcc]=gcc
py_include="$("${PYTHON:-python3}" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
files["$py_include/Python.h"]=python3-dev
# deployment (issue 17): systemd-analyze verifies the units, dpkg-scanpackages makes the offline bundle's apt
# repository, setpriv runs the units' command lines with their capabilities
packages[systemd-analyze]=systemd
packages[dpkg-scanpackages]=dpkg-dev
packages[setpriv]=util-linux
files[/usr/include/openssl/ssl.h]=libssl-dev
# the LAN-threat test (issue 16): a real FTP server with a virtual user, DHCP servers, radvd, a DHCP client, curl
packages[pure-ftpd]=pure-ftpd
packages[pure-pw]=pure-ftpd
packages[dnsmasq]=dnsmasq-base
packages[radvd]=radvd
packages[busybox]=busybox
packages[curl]=curl
missing=()
for cmd in "${!packages[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${packages[$cmd]}")
done
for pattern in "${!files[@]}"; do
    compgen -G "$pattern" >/dev/null || missing+=("${files[$pattern]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    # The frontend needs a PHP SAPI: php-cgi listed first satisfies it, so apt does not pick apache2's module
    # (libapache2-mod-php and apache2-bin). php-cgi has no service; `php -S` is all the test serves with.
    case " ${missing[*]} " in *" zabbix-frontend-php "*) missing=(php-cgi "${missing[@]}") ;; esac
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
    echo "== installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Packages must not start their services (zabbix-server, postgresql's main cluster): the tests start
    # their own. Debian's invoke-rc.d asks policy-rc.d; exit 101 means "not now". Only if none is set already.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -n "$policy" ]; then rm -f "$policy"; trap - EXIT; fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    "$PYTHON" -m venv .venv
fi
echo "== installing mamori and its test tools"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

echo "== ruff";         .venv/bin/ruff check
                        .venv/bin/ruff format --check
echo "== mypy";         .venv/bin/mypy
echo "== import layers"; .venv/bin/lint-imports
echo "== pytest";       .venv/bin/pytest "$@"
