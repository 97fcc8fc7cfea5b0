#!/usr/bin/env bash
# Build mamori's offline bundle on a machine that reaches the package registries (PyPI and Debian's archive):
#   one tar.gz with mamori's wheel and every dependency's wheel for the target Python and architecture, the Debian
#   packages the features need with their dependencies (a small local apt repository), the systemd units and the
#   install script. On the closed machine: copy it, unpack it, run `sudo ./install.sh` (docs/design.md §12).
#
# usage: packaging/build-bundle.sh [--python 3.11] [--arch x86_64|aarch64] [--relp] [--output DIR] [--wheel-cache DIR]
#   --python, --arch  the target's Python version and machine (default: this machine's python3)
#   --relp            also bundle rsyslog-relp (receivers that take RELP from rsyslog)
#   --wheel-cache     reuse wheels downloaded earlier (pip's --find-links); they are still checked by pip
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
python_version="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
arch="$(uname -m)"
output="$repo/dist"
relp=0
cache=""
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python_version="$2"; shift 2 ;;
        --arch) arch="$2"; shift 2 ;;
        --relp) relp=1; shift ;;
        --output) output="$2"; shift 2 ;;
        --wheel-cache) cache="$2"; shift 2 ;;
        *) echo "build-bundle.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$arch" in
    x86_64) deb_arch=amd64 ;;
    aarch64) deb_arch=arm64 ;;
    *) echo "build-bundle.sh: unsupported architecture $arch (x86_64, aarch64)" >&2; exit 2 ;;
esac
if [ "$deb_arch" != "$(dpkg --print-architecture)" ]; then
    echo "build-bundle.sh: the Debian packages are resolved for this machine's architecture; build on a $arch machine" >&2
    exit 2
fi
py_nodot="${python_version/./}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -1)"
name="mamori-$version-py$python_version-$arch"
root="$work/$name"
mkdir -p "$root/wheels" "$root/debs" "$root/systemd"

echo "== mamori's wheel"
python3 -m pip wheel -q --no-deps -w "$root/wheels" "$repo"
wheel="$(ls "$root"/wheels/mamori-*.whl)"

echo "== dependency wheels for Python $python_version on $arch"
platforms=()
for tag in manylinux_2_36 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_26 manylinux_2_17 manylinux2014; do
    platforms+=(--platform "${tag}_$arch")
done
# mamori's own wheel carries the compiled pcap walker when this machine has gcc and Python's headers: a wheel for
# this Python on this machine (linux_<arch>), which the target, of the same Python and architecture, installs.
platforms+=(--platform "linux_$arch")
find_links=()
[ -n "$cache" ] && find_links=(--find-links "$cache")
python3 -m pip download -q -d "$root/wheels" --only-binary=:all: --python-version "$python_version" \
    --implementation cp --abi "cp$py_nodot" --abi abi3 --abi none "${platforms[@]}" --platform any \
    "${find_links[@]}" "$wheel"
# pip, setuptools and wheel, so the target's venv can be brought up to date offline too
python3 -m pip download -q -d "$root/wheels" --only-binary=:all: --python-version "$python_version" \
    --implementation cp "${platforms[@]}" --platform any "${find_links[@]}" pip

echo "== Debian packages and their dependencies"
packages=(nmap "python$python_version-venv")
[ "$relp" = 1 ] && packages+=(rsyslog-relp)
command -v dpkg-scanpackages >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null; }
# The dependency closure, less what every Debian system has (Priority: required); the target's apt resolves the
# rest against what is installed there.
mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${packages[@]}" | grep -v '^ ' | grep -v '^<' | sort -u)
wanted=()
for pkg in "${closure[@]}"; do
    priority="$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Priority: //p' | head -1)"
    [ "$priority" = required ] || wanted+=("$pkg")
done
(cd "$root/debs" && apt-get download -qq "${wanted[@]}" >/dev/null)
(cd "$root/debs" && dpkg-scanpackages -m . /dev/null 2>/dev/null | gzip -9 > Packages.gz)
printf '%s\n' "${packages[@]}" > "$root/debs/wanted.txt"

echo "== units, install script, documents"
cp "$here"/systemd/*.service "$here"/systemd/*.timer "$root/systemd/"
cp -r "$here/systemd/mamori-sensor.service.d" "$root/systemd/"
cp "$here/sysusers.d-mamori.conf" "$here/install.sh" "$here/mamori.yaml.example" "$repo/README.md" "$root/"
chmod 755 "$root/install.sh"
echo "$python_version $arch" > "$root/TARGET"
(cd "$root" && find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS)
mkdir -p "$output"
tar -C "$work" -czf "$output/$name.tar.gz" "$name"
echo "$output/$name.tar.gz"
