"""``mamori central init`` and ``add-site`` (docs/design.md §10, central: setup): the folder holding the group's CA,
the NATS server's and the central consumer's certificates, the nats-server configuration (JetStream, mutual TLS
mapped to users, one user per site allowed only its own subjects, the hub side for hospitals' leaf nodes) and a
central settings skeleton. What was asked for is kept in ``central.json`` so a site added later rewrites the same
configuration."""

from __future__ import annotations

import ipaddress
import json
import os
import pwd
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mamori.central.pki import fingerprint, issue, key_pem, load_cert, make_ca, new_key, write_file
from mamori.config.central import SITE_PATTERN
from mamori.errors import MamoriError

__all__ = [
    "CENTRAL_CN",
    "CentralFolder",
    "SetupError",
    "SetupState",
    "add_site",
    "check_site",
    "init_central",
    "nats_config",
]

CENTRAL_CN = "mamori-central"
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$")
_SITE = re.compile(SITE_PATTERN)
_UNSAFE_PATH = re.compile(r'["\\\n\r\t{}]')


class SetupError(MamoriError):
    """A request ``mamori central init``/``add-site`` cannot carry out (the reason in Japanese and English)."""


@dataclass
class SetupState:
    """What ``init`` was asked for; ``add-site`` extends ``sites`` and renders the configuration again."""

    server_names: list[str]
    server_ips: list[str]
    sites: list[str]
    listen: str = "0.0.0.0"  # noqa: S104 - the central server takes sensors from the network
    nats_port: int = 4222
    leaf_port: int = 7422  # 0: no leaf node listener
    enroll_port: int = 4223
    store_dir: str = "/var/lib/mamori/nats"
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    version: int = 1
    owner: list[int] | None = field(default=None)  # uid, gid of the files (the service user), or none


@dataclass(frozen=True)
class CentralFolder:
    """The files of the central server's folder."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "central.json"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def central_cert(self) -> Path:
        return self.root / f"{CENTRAL_CN}.crt"

    @property
    def central_key(self) -> Path:
        return self.root / f"{CENTRAL_CN}.key"

    @property
    def nats_conf(self) -> Path:
        return self.root / "nats-server.conf"

    @property
    def settings(self) -> Path:
        return self.root / "central.yaml"

    @property
    def codes(self) -> Path:
        return self.root / "enroll-codes.json"

    @property
    def issued(self) -> Path:
        return self.root / "enrolled.log"

    def load(self) -> SetupState:
        try:
            raw = json.loads(self.state.read_text(encoding="utf-8"))
            return SetupState(**raw)
        except FileNotFoundError:
            raise SetupError(
                f"{self.root}: 中央サーバーのフォルダではありません（先に mamori central init） / not a central "
                "server folder (run mamori central init first)"
            ) from None
        except (OSError, ValueError, TypeError) as exc:
            raise SetupError(f"{self.state}: 読めません（{exc}） / cannot read it ({exc})") from exc

    def save(self, state: SetupState) -> None:
        text = json.dumps(asdict(state), indent=2, ensure_ascii=False) + "\n"
        write_file(self.state, text.encode(), owner=_owner(state))


def _owner(state: SetupState) -> tuple[int, int] | None:
    return (state.owner[0], state.owner[1]) if state.owner else None


def check_site(site: str) -> str:
    if not _SITE.match(site):
        raise SetupError(
            f"拠点名 {site!r} は使えません（英数字と - _、64 文字まで） / site name {site!r} is not allowed "
            "(letters, digits, - and _, at most 64)"
        )
    if site == CENTRAL_CN:
        raise SetupError(f"拠点名 {CENTRAL_CN} は中央サーバー用です / the name {CENTRAL_CN} is the central server's")
    return site


def _check_names(names: list[str], ips: list[str]) -> None:
    for name in names:
        if not _HOST.match(name):
            raise SetupError(f"サーバー名 {name!r} はホスト名ではありません / server name {name!r} is not a host name")
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise SetupError(f"{ip!r} は IP アドレスではありません / {ip!r} is not an IP address") from None


def resolve_owner(user: str | None) -> tuple[int, int] | None:
    """The service user's uid and gid (the files are given to it, mode 0600 for keys), or none (``""``)."""
    if not user:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SetupError(f"利用者 {user!r} がいません / no user {user!r}") from None
    return entry.pw_uid, entry.pw_gid


def init_central(
    folder: CentralFolder,
    *,
    server_names: list[str],
    server_ips: list[str],
    sites: list[str],
    force: bool = False,
    owner: tuple[int, int] | None = None,
    listen: str = "0.0.0.0",  # noqa: S104 - the central server takes sensors from the network
    nats_port: int = 4222,
    leaf_port: int = 7422,
    enroll_port: int = 4223,
    store_dir: Path | None = None,
    postgres: tuple[str, int] = ("127.0.0.1", 5432),
) -> SetupState:
    """Make the CA and the certificates, write the NATS configuration and the central settings skeleton."""
    if not server_names and not server_ips:
        raise SetupError("--server-name か --server-ip が必要です / --server-name or --server-ip is required")
    _check_names(server_names, server_ips)
    ipaddress.ip_address(listen)  # raises ValueError, reported by the CLI's option check
    for site in sites:
        check_site(site)
    if len(set(sites)) != len(sites):
        raise SetupError("同じ拠点名が 2 回あります / a site is named twice")
    root = folder.root.resolve()
    folder = CentralFolder(root)
    if _UNSAFE_PATH.search(str(root)) or (store_dir is not None and _UNSAFE_PATH.search(str(store_dir))):
        raise SetupError(f"{root}: フォルダ名に使えない文字があります / the folder name has a character not allowed")
    if folder.ca_key.exists() and not force:
        raise SetupError(
            f"{folder.ca_key} があります。作り直すと全センサーの再登録が必要です（--force で上書き） / a CA exists "
            "already; making a new one means enrolling every sensor again (--force overwrites it)"
        )
    root.mkdir(parents=True, exist_ok=True, mode=0o750)
    state = SetupState(
        server_names=list(server_names),
        server_ips=list(server_ips),
        sites=list(sites),
        listen=listen,
        nats_port=nats_port,
        leaf_port=leaf_port,
        enroll_port=enroll_port,
        store_dir=str(store_dir.resolve() if store_dir is not None else "/var/lib/mamori/nats"),
        postgres_host=postgres[0],
        postgres_port=postgres[1],
        owner=list(owner) if owner else None,
    )
    if owner is not None:
        os.chown(root, *owner)
    ca_key, ca_cert = make_ca(f"mamori CA {root.name}")
    from cryptography.hazmat.primitives import serialization

    pem = serialization.Encoding.PEM
    write_file(folder.ca_key, key_pem(ca_key), private=True, owner=owner)
    write_file(folder.ca_cert, ca_cert.public_bytes(pem), owner=owner)
    # the server is reached by its names and addresses, and by the central consumer on the same box over loopback
    names = list(dict.fromkeys([*server_names, "localhost"]))
    ips = list(dict.fromkeys([*server_ips, "127.0.0.1"]))
    server_key = new_key()
    server = issue(ca_key, ca_cert, server_key.public_key(), names[0], server_names=names, server_ips=ips)
    write_file(folder.server_key, key_pem(server_key), private=True, owner=owner)
    write_file(folder.server_cert, server.public_bytes(pem), owner=owner)
    central_key = new_key()
    central = issue(ca_key, ca_cert, central_key.public_key(), CENTRAL_CN)
    write_file(folder.central_key, key_pem(central_key), private=True, owner=owner)
    write_file(folder.central_cert, central.public_bytes(pem), owner=owner)
    folder.save(state)
    write_file(folder.nats_conf, nats_config(folder, state).encode(), private=True, owner=owner)
    write_file(folder.settings, central_settings(folder, state).encode(), private=True, owner=owner)
    return state


def add_site(folder: CentralFolder, site: str) -> SetupState:
    check_site(site)
    state = folder.load()
    if site in state.sites:
        raise SetupError(f"拠点 {site} はもうあります / site {site} exists already")
    state.sites.append(site)
    folder.save(state)
    write_file(folder.nats_conf, nats_config(folder, state).encode(), private=True, owner=_owner(state))
    return state


def ca_fingerprint(folder: CentralFolder) -> str:
    return fingerprint(load_cert(folder.ca_cert))


def nats_config(folder: CentralFolder, state: SetupState) -> str:
    """nats-server's configuration: JetStream, TLS with client certificates mapped to users (verify_and_map), one
    account MAMORI holding the stream, the central consumer's user and one user per site allowed to publish only
    to ``mamori.<site>.>`` and to hear only its own replies (``_INBOX_<site>.>``); hospitals' leaf nodes connect
    on ``leaf_port`` with their site's certificate into the same account."""

    def tls(indent: str) -> list[str]:
        return [
            f"{indent}tls {{",
            f'{indent}  cert_file: "{folder.server_cert}"',
            f'{indent}  key_file: "{folder.server_key}"',
            f'{indent}  ca_file: "{folder.ca_cert}"',
            f"{indent}  verify_and_map: true",
            f"{indent}  timeout: 5",
            f"{indent}}}",
        ]

    lines = [
        "# Made by `mamori central init` / `mamori central add-site`: edit those, not this file",
        "# (add-site writes it anew). After a change: systemctl reload mamori-nats",
        f"listen: {_hostport(state.listen, state.nats_port)}",
        f"server_name: {_server_name(state)}",
        f'jetstream {{ store_dir: "{state.store_dir}" }}',
        *tls(""),
    ]
    if state.leaf_port:
        lines += ["leafnodes {", f"  listen: {_hostport(state.listen, state.leaf_port)}", *tls("  ")]
        if state.sites:
            leaf_users = ", ".join(f'{{ user: "CN={site}", account: "MAMORI" }}' for site in state.sites)
            lines.append(f"  authorization {{ users: [ {leaf_users} ] }}")
        lines.append("}")
    lines += ["accounts {", "  MAMORI: {", "    jetstream: enabled", "    users: ["]
    lines.append(f'      {{ user: "CN={CENTRAL_CN}" }}')
    for site in state.sites:
        lines.append(
            f'      {{ user: "CN={site}", permissions: {{ publish: {{ allow: ["mamori.{site}.>"] }}, '
            f'subscribe: {{ allow: ["_INBOX_{site}.>"] }} }} }}'
        )
    lines += ["    ]", "  }", "}"]
    return "\n".join(lines) + "\n"


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _server_name(state: SetupState) -> str:
    name = (state.server_names or state.server_ips)[0]
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def central_settings(folder: CentralFolder, state: SetupState) -> str:
    """The central server's settings skeleton: the PostgreSQL store (its password file still to be made) and the
    NATS link over loopback with the central consumer's certificate."""
    q = json.dumps  # a JSON string is a YAML string: paths with any character stay one value
    server = "tls://" + _hostport("127.0.0.1", state.nats_port)
    return (
        "# mamori central server / 中央サーバーの設定 (made by `mamori central init`)\n"
        "# 1. PostgreSQL: createuser -P mamori; createdb -O mamori mamori; write the password to password_file\n"
        "#    (mode 600) / パスワードを password_file に書く（権限 600）\n"
        "# 2. systemctl enable --now mamori-nats mamori-central mamori-web\n"
        "storage:\n"
        f"  postgresql: {{host: {q(state.postgres_host)}, port: {state.postgres_port}, db: mamori, user: mamori,\n"
        f"               password_file: {q(str(folder.root / 'postgresql.pw'))}, sslmode: prefer}}\n"
        "central:\n"
        f"  servers: [{q(server)}]\n"
        f"  tls: {{ca: {q(str(folder.ca_cert))}, cert: {q(str(folder.central_cert))}, "
        f"key: {q(str(folder.central_key))}}}\n"
    )
