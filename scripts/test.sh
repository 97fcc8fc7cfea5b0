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
declare -A packages=([nmap]=nmap [hping3]=hping3 [arping]=arping [tcpdump]=tcpdump [ip]=iproute2)
missing=()
for cmd in "${!packages[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
