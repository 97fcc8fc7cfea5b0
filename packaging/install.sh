#!/usr/bin/env bash
# Install mamori from its offline bundle, with no network: run as root from the unpacked bundle (docs/design.md §12).
#   sudo ./install.sh [--blocking] [--no-start]
# What it does, in order: checks the bundle's checksums and that this machine's Python is the bundle's; installs
# the Debian packages (nmap, python3-venv...) from the bundle's own apt repository; creates the system user
# `mamori`; makes /opt/mamori (a venv: pip install --no-index from the bundle's wheels), /etc/mamori and
# /var/lib/mamori; installs the systemd units; if a configuration exists, stops the services, runs
# `mamori upgrade` (a consistent copy of the database and keys first) and starts them again.
# Options for tests and unusual layouts: --prefix DIR, --units-dir DIR, --config-dir DIR, --data-dir DIR, --no-debs.
set -euo pipefail
bundle="$(cd "$(dirname "$0")" && pwd)"
prefix=/opt/mamori
units=/etc/systemd/system
config_dir=/etc/mamori
data_dir=/var/lib/mamori
blocking=0
start=1
debs=1
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --units-dir) units="$2"; shift 2 ;;
        --config-dir) config_dir="$2"; shift 2 ;;
        --data-dir) data_dir="$2"; shift 2 ;;
        --blocking) blocking=1; shift ;;
        --no-start) start=0; shift ;;
        --no-debs) debs=0; shift ;;
        *) echo "install.sh: unknown option $1 / 不明なオプション" >&2; exit 2 ;;
    esac
done
say() { echo "== $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "root で実行してください / run as root (sudo ./install.sh)"

say "検査 / checking the bundle"
(cd "$bundle" && sha256sum --quiet -c SHA256SUMS) || die "バンドルが壊れています / the bundle is damaged (SHA256SUMS)"
read -r want_python want_arch < "$bundle/TARGET"
have_python="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
[ "$have_python" = "$want_python" ] && [ "$(uname -m)" = "$want_arch" ] ||
    die "このバンドルは Python $want_python / $want_arch 用です（この機械: Python $have_python / $(uname -m)） / " \
        "the bundle is for Python $want_python on $want_arch; this machine has Python $have_python on $(uname -m)"

if [ "$debs" = 1 ]; then
    say "Debian パッケージ / Debian packages: $(tr '\n' ' ' < "$bundle/debs/wanted.txt")"
    apt_dir="$(mktemp -d)"
    trap 'rm -rf "$apt_dir"' EXIT
    mkdir -p "$apt_dir/lists/partial"
    echo "deb [trusted=yes] file:$bundle/debs ./" > "$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$apt_dir/lists" -o APT::Sandbox::User=root -o Acquire::Languages=none)
    apt-get "${apt_opts[@]}" update -qq
    mapfile -t wanted < "$bundle/debs/wanted.txt"
    # the bundle's repository is apt's only source here: nothing is fetched from a network
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${wanted[@]}"
fi

say "利用者 mamori / the service user mamori"
if ! getent passwd mamori >/dev/null; then
    if command -v systemd-sysusers >/dev/null && [ -d /run/systemd/system ]; then
        install -D -m 644 "$bundle/sysusers.d-mamori.conf" /usr/lib/sysusers.d/mamori.conf
        systemd-sysusers /usr/lib/sysusers.d/mamori.conf
    else
        useradd --system --user-group --home-dir "$data_dir" --no-create-home --shell /usr/sbin/nologin mamori
    fi
fi

say "プログラム / the program: $prefix"
[ -x "$prefix/bin/python" ] || python3 -m venv "$prefix"
"$prefix/bin/python" -m pip install -q --no-index --find-links "$bundle/wheels" --upgrade pip
"$prefix/bin/python" -m pip install -q --no-index --find-links "$bundle/wheels" --upgrade mamori
install -D -m 644 "$bundle/README.md" "$prefix/share/README.md"

say "フォルダ / folders: $config_dir $data_dir"
install -d -m 750 -o root -g mamori "$config_dir"
install -d -m 750 -o mamori -g mamori "$data_dir"
if [ ! -e "$config_dir/mamori.yaml" ]; then
    install -m 640 -o root -g mamori "$bundle/mamori.yaml.example" "$config_dir/mamori.yaml"
    fresh=1
else
    fresh=0
fi

say "サービス / systemd units: $units"
mkdir -p "$units"
install -m 644 "$bundle"/systemd/*.service "$bundle"/systemd/*.timer "$units/"
if [ "$prefix" != /opt/mamori ] || [ "$config_dir" != /etc/mamori ] || [ "$data_dir" != /var/lib/mamori ]; then
    sed -i -e "s#/opt/mamori/#$prefix/#g" -e "s#/etc/mamori/#$config_dir/#g" -e "s#/var/lib/mamori#$data_dir#g" \
        "$units"/mamori-*.service
fi
if [ "$blocking" = 1 ]; then
    install -D -m 644 "$bundle/systemd/mamori-sensor.service.d/blocking.conf" \
        "$units/mamori-sensor.service.d/blocking.conf"
fi
systemd_running=0
[ -d /run/systemd/system ] && systemctl daemon-reload && systemd_running=1

if [ "$fresh" = 0 ]; then
    say "データベースの更新 / upgrading the database (a copy is taken first)"
    services=(mamori-sensor mamori-collector mamori-web)
    [ "$systemd_running" = 1 ] && systemctl stop "${services[@]}" 2>/dev/null || true
    runuser -u mamori -- env MAMORI_DATA_DIR="$data_dir" "$prefix/bin/mamori" upgrade --config "$config_dir/mamori.yaml"
    if [ "$systemd_running" = 1 ] && [ "$start" = 1 ]; then
        for service in "${services[@]}"; do
            systemctl is-enabled --quiet "$service" 2>/dev/null && systemctl start "$service"
        done
    fi
fi
say "完了 / done: $("$prefix/bin/mamori" --version)"
if [ "$fresh" = 1 ]; then
    cat <<NEXT
次に / next:
  1. $config_dir/mamori.yaml を編集 / edit it; check: $prefix/bin/mamori check --config $config_dir/mamori.yaml
  2. runuser -u mamori -- $prefix/bin/mamori upgrade --config $config_dir/mamori.yaml
  3. runuser -u mamori -- $prefix/bin/mamori user add --config $config_dir/mamori.yaml admin --role admin
  4. systemctl enable --now mamori-sensor mamori-web mamori-doctor.timer mamori-verify.timer
  5. $prefix/bin/mamori doctor --config $config_dir/mamori.yaml
NEXT
fi
