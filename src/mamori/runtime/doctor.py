"""``mamori doctor``: is this box ready to watch? (docs/design.md §12)

Each check answers in Japanese and English what it found and, for a problem, the fix. The checks only look: they
capture a few seconds on the configured interfaces (the BPF filter lets through the configured servers' packets
only), ask the time service, measure folders, open the database read-write without changing it, verify the archive
and connect to the dashboard and the notification endpoints (a TCP connect, a TLS handshake for the dashboard:
nothing is sent, no secret is read). Where time comes from is injected (:class:`TimeSource`), so a test gives a
fake offset.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from mamori.config import Settings, ZabbixAction
from mamori.errors import MamoriError

__all__ = [
    "DoctorOptions",
    "Finding",
    "SystemTimeSource",
    "TimeSource",
    "TimeState",
    "check_blocks",
    "key_backup_record",
    "record_key_backup",
    "run_doctor",
]

OK, PROBLEM, WARNING, SKIPPED = "ok", "problem", "warning", "skipped"


@dataclass(frozen=True)
class Finding:
    """What one check found: ``status`` is ok, problem, warning or skipped; ``fix_*`` says what to do."""

    check: str
    status: str
    found_ja: str
    found_en: str
    fix_ja: str = ""
    fix_en: str = ""
    target: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "target": self.target,
            "status": self.status,
            "found_ja": self.found_ja,
            "found_en": self.found_en,
            "fix_ja": self.fix_ja,
            "fix_en": self.fix_en,
        }


@dataclass(frozen=True)
class DoctorOptions:
    capture_seconds: float = 3.0
    max_offset: float = 1.0  # seconds: beyond this the evidence's times are not reliable
    min_free_bytes: int = 512 * 1024 * 1024  # free space always kept, whatever the measured rate
    connect_timeout: float = 2.0
    skip_capture: bool = False


# -- time ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeState:
    """The time service's word: synchronised or not, the clock's offset from the reference (seconds; None when
    the service does not say), and which service answered."""

    synchronised: bool
    offset: float | None
    source: str


class TimeSource(Protocol):
    def state(self) -> TimeState | None:
        """The time service's state; None when no time service is found on this machine."""
        ...


Runner = Callable[[Sequence[str]], str | None]


def _run(argv: Sequence[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


_CHRONY_OFFSET = re.compile(r"^System time\s*:\s*([0-9.]+) seconds (fast|slow)", re.MULTILINE)
_CHRONY_LEAP = re.compile(r"^Leap status\s*:\s*(.+)$", re.MULTILINE)
_TIMESYNC_OFFSET = re.compile(r"^\s*Offset:\s*([+-]?[0-9.]+)(us|ms|s)\b", re.MULTILINE)


class SystemTimeSource:
    """chrony (``chronyc tracking``) when present, else systemd-timesyncd (``timedatectl``)."""

    def __init__(self, run: Runner = _run) -> None:
        self._run = run

    def state(self) -> TimeState | None:
        tracking = self._run(["chronyc", "tracking"])
        if tracking is not None:
            offset_match = _CHRONY_OFFSET.search(tracking)
            leap = _CHRONY_LEAP.search(tracking)
            offset = None
            if offset_match:
                offset = float(offset_match.group(1)) * (1 if offset_match.group(2) == "fast" else -1)
            synchronised = leap is not None and leap.group(1).strip() != "Not synchronised"
            return TimeState(synchronised, offset, "chrony")
        show = self._run(["timedatectl", "show"])
        if show is not None:
            values = dict(line.split("=", 1) for line in show.splitlines() if "=" in line)
            synchronised = values.get("NTPSynchronized") == "yes"
            offset = None
            status = self._run(["timedatectl", "timesync-status"])
            match = _TIMESYNC_OFFSET.search(status or "")
            if match:
                scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0}[match.group(2)]
                offset = float(match.group(1)) * scale
            return TimeState(synchronised, offset, "systemd-timesyncd")
        return None


def check_time(source: TimeSource, max_offset: float) -> Finding:
    state = source.state()
    if state is None:
        return Finding(
            "time-sync",
            PROBLEM,
            "時刻同期のサービス（chrony・systemd-timesyncd）が見つかりません",
            "no time synchronisation service (chrony, systemd-timesyncd) was found",
            "院内の NTP サーバに同期させます: apt install chrony、/etc/chrony/chrony.conf に server 行を書き、"
            "systemctl enable --now chrony",
            "synchronise with the hospital's NTP server: apt install chrony, add a server line to "
            "/etc/chrony/chrony.conf, systemctl enable --now chrony",
        )
    offset_text = "不明 / unknown" if state.offset is None else f"{state.offset:+.3f} s"
    fix_ja = (
        f"{state.source} の同期先（院内の NTP サーバ）に届くか確かめ、同期させます（chronyc sources / timedatectl）"
    )
    fix_en = f"check that {state.source} reaches its server (the hospital's NTP server) and syncs (chronyc sources)"
    if not state.synchronised:
        return Finding(
            "time-sync",
            PROBLEM,
            f"時刻が同期していません（{state.source}、ずれ {offset_text}）",
            f"the clock is not synchronised ({state.source}, offset {offset_text})",
            fix_ja,
            fix_en,
        )
    if state.offset is not None and abs(state.offset) > max_offset:
        return Finding(
            "time-sync",
            PROBLEM,
            f"時刻が {state.offset:+.3f} 秒ずれています（許容 ±{max_offset:g} 秒、{state.source}）",
            f"the clock is off by {state.offset:+.3f} s (allowed ±{max_offset:g} s, {state.source})",
            fix_ja,
            fix_en,
        )
    return Finding(
        "time-sync",
        OK,
        f"時刻は同期しています（{state.source}、ずれ {offset_text}）",
        f"the clock is synchronised ({state.source}, offset {offset_text})",
    )


# -- capture ------------------------------------------------------------------------------------------------------


def _servers(settings: Settings) -> list[str]:
    return sorted({server.ip for system in settings.site.systems for server in system.servers})


def check_capture(settings: Settings, seconds: float) -> list[Finding]:
    """The interfaces exist, can be opened for capture, and see packets to or from the configured servers."""
    from mamori.capture.interfaces import available_interfaces, missing_interface
    from mamori.capture.sources import LiveSource, wait_readable
    from mamori.errors import CaptureError

    interfaces = settings.capture.interfaces
    if not interfaces:
        return [
            Finding(
                "interface",
                PROBLEM,
                "監視するインタフェースが設定されていません",
                "no capture interface is configured",
                "設定ファイルの capture.interfaces にミラーポートにつないだインタフェースを書きます",
                "list the interface wired to the mirror port under capture.interfaces in the settings file",
            )
        ]
    findings: list[Finding] = []
    available = available_interfaces()
    servers = _servers(settings)
    bpf = " or ".join(f"host {ip}" for ip in servers)
    opened: list[LiveSource] = []
    for name in interfaces:
        if name not in available:
            message = missing_interface(name, available)
            ja, _, en = message.partition(" / ")
            findings.append(
                Finding(
                    "interface",
                    PROBLEM,
                    ja,
                    en,
                    "capture.interfaces を実在するインタフェースに直すか、ケーブル（ミラーポート）を確かめます",
                    "correct capture.interfaces to an existing interface, or check the mirror port's cable",
                    name,
                )
            )
            continue
        source = LiveSource(name, bpf, snaplen=96, buffer_bytes=4 * 1024 * 1024)
        try:
            source.open()
        except CaptureError as exc:
            text = str(exc)
            permission = "権限" in text or "permission" in text.lower()
            ja, _, en = text.partition(" / ")
            findings.append(
                Finding(
                    "capture-permission" if permission else "interface",
                    PROBLEM,
                    ja,
                    en or ja,
                    "センサーのサービス（mamori-sensor.service）は AmbientCapabilities=CAP_NET_RAW で動かします。"
                    "手で実行するなら root か setcap cap_net_raw を使います"
                    if permission
                    else f"ip link set {name} up を実行し、ケーブルを確かめます",
                    "run the sensor as its service (mamori-sensor.service gives AmbientCapabilities=CAP_NET_RAW), "
                    "or as root"
                    if permission
                    else f"bring the interface up (ip link set {name} up) and check its cable",
                    name,
                )
            )
            continue
        findings.append(
            Finding("capture-permission", OK, f"{name} でキャプチャできます", f"capture works on {name}", target=name)
        )
        opened.append(source)
    deadline = time.monotonic() + seconds
    try:
        while opened and (left := deadline - time.monotonic()) > 0:
            for source in wait_readable(opened, min(left, 0.2)):
                with contextlib.suppress(CaptureError):
                    source.read_batch()
        for source in opened:
            seen = source.refresh_stats().received
            what_ja = "設定したサーバ（" + ", ".join(servers) + "）" if servers else "パケット"
            what_en = "the configured servers (" + ", ".join(servers) + ")" if servers else "packets"
            if seen:
                findings.append(
                    Finding(
                        "traffic",
                        OK,
                        f"{source.interface} で {seconds:g} 秒間に{what_ja}のパケットを {seen} 個見ました",
                        f"{source.interface} saw {seen} packet(s) of {what_en} in {seconds:g} s",
                        target=source.interface,
                    )
                )
            else:
                findings.append(
                    Finding(
                        "traffic",
                        PROBLEM,
                        f"{source.interface} で {seconds:g} 秒間、{what_ja}のパケットが 1 つも見えません",
                        f"{source.interface} saw no packet of {what_en} in {seconds:g} s",
                        "スイッチのミラーポート（SPAN）の設定（監視元のポート・VLAN）、ケーブル、"
                        "サーバの IP を確かめます",
                        "check the switch's mirror port (SPAN) source ports and VLANs, the cable, and the servers' IPs",
                        source.interface,
                    )
                )
    finally:
        for source in opened:
            source.close()
    return findings


# -- disk, database, archive, key ---------------------------------------------------------------------------------


def _try_write(folder: Path) -> str | None:
    """None when a file can be created, written, synced and removed in ``folder``; else the reason."""
    try:
        fd, name = tempfile.mkstemp(prefix=".mamori-doctor-", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        os.write(fd, b"\0" * 4096)
        os.fsync(fd)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)
    return None


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mib(size: float) -> str:
    return f"{size / 1024 / 1024:,.1f} MiB"


def _archive_rate(root: Path) -> tuple[float, int]:
    """Bytes a day the archive has grown by (its files over the days they cover), and the days kept."""
    from mamori.storage.archive_format import list_day_files

    days = list_day_files(root)
    total = 0
    for files in days.values():
        for path in files:
            with contextlib.suppress(OSError):
                total += path.stat().st_size
    return (total / len(days) if days else 0.0), len(days)


def check_disk(settings: Settings, min_free: int) -> list[Finding]:
    """Room for the database and the archive's whole retention at the rate measured so far."""
    from mamori.runtime.collector import archive_root
    from mamori.storage.archive_maintenance import retention_days

    needs: dict[int, tuple[Path, float, list[str], list[str]]] = {}

    def need(folder: Path, amount: float, ja: str, en: str) -> None:
        existing = _existing(folder)
        dev = existing.stat().st_dev
        place, total, jas, ens = needs.get(dev, (existing, float(min_free), [], []))
        needs[dev] = (place, total + amount, [*jas, ja], [*ens, en])

    need(settings.database_path.parent, 0.0, "データベース", "the database")
    if settings.syslog is not None:
        root = archive_root(settings)
        rate, kept = _archive_rate(root)
        days = retention_days(settings.syslog.archive.retention_years)
        need(
            root,
            rate * max(0, days - kept),
            f"証跡アーカイブ（1 日 {_mib(rate)} × 残り {max(0, days - kept)} 日）",
            f"the archive ({_mib(rate)} a day x {max(0, days - kept)} more days of retention)",
        )
    findings = []
    for place, total, jas, ens in needs.values():
        free = shutil.disk_usage(place).free
        what_ja, what_en = "・".join(jas), ", ".join(ens)
        if free < total:
            findings.append(
                Finding(
                    "disk-space",
                    PROBLEM,
                    f"{place} の空き {_mib(free)} は、{what_ja}に必要な {_mib(total)}（最低 {_mib(min_free)} を含む）"
                    "に足りません",
                    f"{place} has {_mib(free)} free; {what_en} need {_mib(total)} (with {_mib(min_free)} kept free)",
                    "ディスクを増設するか、保存期間（syslog.archive.retention_years）を見直すか、古い証跡を別の媒体へ"
                    "移します",
                    "add disk space, revise syslog.archive.retention_years, or move old evidence to other media",
                    str(place),
                )
            )
        else:
            findings.append(
                Finding(
                    "disk-space",
                    OK,
                    f"{place} の空き {_mib(free)}（{what_ja}に必要な {_mib(total)} 以上）",
                    f"{place} has {_mib(free)} free ({what_en} need {_mib(total)})",
                    target=str(place),
                )
            )
    return findings


def _code_migrations() -> dict[str, list[str]]:
    from importlib import resources

    folder = resources.files("mamori.storage") / "migrations"
    names = sorted(p.name[:-3] for p in folder.iterdir() if p.name[:4].isdigit() and p.name.endswith(".py"))
    return {"storage": names}


def check_database(settings: Settings) -> Finding:
    from mamori.storage.upgrade import applied_migrations, newer_schema

    path = settings.database_path
    fix_path_ja = f"{path.parent} をサービスの利用者 mamori が書けるようにします（chown mamori: {path.parent}）"
    fix_path_en = f"let the service user write {path.parent} (chown mamori: {path.parent})"
    if not path.exists():
        reason = _try_write(_existing(path.parent))
        return Finding(
            "database",
            PROBLEM,
            f"データベース {path} がまだありません" + (f"（フォルダに書けません: {reason}）" if reason else ""),
            f"the database {path} does not exist yet"
            + (f" (its folder cannot be written: {reason})" if reason else ""),
            fix_path_ja if reason else "mamori upgrade --config で作るか、センサーを起動します",
            fix_path_en if reason else "create it with mamori upgrade --config, or start the sensor",
            str(path),
        )
    reason = _try_write(path.parent)
    if reason is None:
        try:
            connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=5)
            try:
                connection.execute("BEGIN IMMEDIATE")  # takes the write lock: proves a write would go through
                connection.execute("ROLLBACK")
                verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                connection.close()
            if verdict != "ok":
                reason = f"quick_check: {verdict}"
        except sqlite3.Error as exc:
            reason = str(exc)
    if reason is None:
        newer = newer_schema(applied_migrations(path), _code_migrations())
        if newer:
            reason = "schema newer than this program: " + ", ".join(n[-1] for n in newer.values())
    if reason is not None:
        return Finding(
            "database",
            PROBLEM,
            f"データベース {path} に書けないか、検査に失敗しました（{reason}）",
            f"the database {path} cannot be written or failed its check ({reason})",
            fix_path_ja + "。壊れている場合は mamori upgrade --rollback で更新前のコピーに戻します",
            fix_path_en + "; if it is damaged, restore the copy taken before the upgrade (mamori upgrade --rollback)",
            str(path),
        )
    return Finding(
        "database",
        OK,
        f"データベース {path} は書き込めて、検査に合格しました",
        f"the database {path} is writable and sound",
        target=str(path),
    )


def key_backup_record(key: Path) -> Path:
    """Where the record that ``key`` was backed up is kept: beside it, ``<key>.backup.json``."""
    return key.with_name(key.name + ".backup.json")


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_key_backup(key: Path, where: str, now: float | None = None) -> Path:
    """Record that ``key`` as it is now was copied to ``where`` (the operator's words: "USB key in the safe"). The
    record holds the key's SHA-256, so a new key is not taken as backed up."""
    record = key_backup_record(key)
    data = {"sha256": _fingerprint(key), "recorded": time.time() if now is None else now, "where": where}
    record.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return record


def check_archive(settings: Settings) -> list[Finding]:
    """The archive's folder writable and its chain verified; the signing key present, usable and backed up."""
    from mamori.runtime.collector import archive_root, key_path
    from mamori.storage.archive_keys import load_signer, load_verifier
    from mamori.storage.archive_maintenance import retention_days
    from mamori.storage.archive_verify import verify_archive

    if settings.syslog is None:
        return [
            Finding(
                check,
                SKIPPED,
                "syslog の受信を設定していないため、証跡アーカイブと署名鍵は使っていません",
                "syslog is not configured: no evidence archive or signing key is used",
            )
            for check in ("archive", "signing-key")
        ]
    findings = []
    root = archive_root(settings)
    reason = _try_write(root) if root.is_dir() else "no such folder"
    report = None
    if reason is None:
        key = key_path(settings)
        verifier = None
        for candidate in (settings.syslog.archive.public_key, key, key.with_suffix(".pub")):
            if candidate is not None:
                with contextlib.suppress(MamoriError, OSError):
                    verifier = load_verifier(candidate)
                    break
        report = verify_archive(root, verifier, keep_days=retention_days(settings.syslog.archive.retention_years))
    if reason is not None:
        findings.append(
            Finding(
                "archive",
                PROBLEM,
                f"証跡アーカイブ {root} に書けません（{reason}）",
                f"the evidence archive {root} cannot be written ({reason})",
                f"{root} を作り、サービスの利用者 mamori が書けるようにし、読み取り専用でないか確かめます"
                f"（install -d -o mamori -g mamori {root}）",
                f"create {root}, let the service user write it, check it is not mounted read-only "
                f"(install -d -o mamori -g mamori {root})",
                str(root),
            )
        )
    elif report is not None and not report.ok:
        shown = "; ".join(str(f) for f in report.errors[:3])
        findings.append(
            Finding(
                "archive",
                PROBLEM,
                f"証跡アーカイブ {root} の検査で {len(report.errors)} 件の改ざん・欠落が見つかりました: {shown}",
                f"verifying the evidence archive {root} found {len(report.errors)} problem(s): {shown}",
                "mamori verify --config で詳細を確かめ、医療情報システム安全管理責任者に報告します",
                "run mamori verify --config for the details and report to the person responsible for security",
                str(root),
            )
        )
    else:
        records = report.records if report is not None else 0
        findings.append(
            Finding(
                "archive",
                OK,
                f"証跡アーカイブ {root} は書き込めて、検査に合格しました（{records} 件）",
                f"the evidence archive {root} is writable and verified ({records} record(s))",
                target=str(root),
            )
        )
    key = key_path(settings)
    try:
        load_signer(key)
    except (MamoriError, OSError) as exc:
        findings.append(
            Finding(
                "signing-key",
                PROBLEM,
                f"署名鍵 {key} を使えません（{exc}）",
                f"the signing key {key} cannot be used ({exc})",
                "mamori archive keygen --config で作り、chown root:mamori・chmod 640 にします",
                "make it with mamori archive keygen --config; chown root:mamori and chmod 640",
                str(key),
            )
        )
        return findings
    findings.append(
        Finding("signing-key", OK, f"署名鍵 {key} があります", f"the signing key {key} is present", target=str(key))
    )
    findings.append(check_key_backup(key))
    return findings


def check_key_backup(key: Path) -> Finding:
    record = key_backup_record(key)
    fix_ja = (
        f"鍵 {key} を院外に持ち出さない媒体（金庫の USB メモリなど）にコピーし、"
        f"mamori doctor --config ... --key-backed-up 'コピーの場所' で記録します"
    )
    fix_en = (
        f"copy {key} to offline media (a USB key kept in the safe), then record it with "
        "mamori doctor --config ... --key-backed-up 'where the copy is'"
    )
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        recorded_sha, where, when = str(data["sha256"]), str(data["where"]), float(data["recorded"])
    except (OSError, ValueError, KeyError, TypeError):
        return Finding(
            "key-backup",
            PROBLEM,
            f"署名鍵 {key} のバックアップの記録がありません",
            f"no record that the signing key {key} was backed up",
            fix_ja,
            fix_en,
            str(key),
        )
    if recorded_sha != _fingerprint(key):
        return Finding(
            "key-backup",
            PROBLEM,
            f"記録されたバックアップ（{where}）は今の署名鍵 {key} のものではありません",
            f"the recorded backup ({where}) is of another key than the signing key {key}",
            fix_ja,
            fix_en,
            str(key),
        )
    day = time.strftime("%Y-%m-%d", time.localtime(when))
    return Finding(
        "key-backup",
        OK,
        f"署名鍵のバックアップ: {where}（{day} 記録）",
        f"signing key backed up: {where} (recorded {day})",
        target=str(key),
    )


# -- the dashboard and the endpoints ------------------------------------------------------------------------------


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


def check_dashboard(settings: Settings, timeout: float) -> Finding:
    from mamori.config.web import parse_listen

    host, port = parse_listen(settings.web.listen)
    address = ipaddress.ip_address(host)
    if address.is_unspecified:
        host = "::1" if address.version == 6 else "127.0.0.1"
    shown = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    tls = settings.web.tls is not None
    try:
        with _connect(host, port, timeout) as sock:
            if tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # the hospital's own certificate: TLS served is what is checked
                with context.wrap_socket(sock, server_hostname=host) as wrapped:
                    version = wrapped.version()
    except (OSError, ssl.SSLError) as exc:
        return Finding(
            "dashboard",
            PROBLEM,
            f"ダッシュボード {shown} に{'TLS で' if tls else ''}つながりません（{exc}）",
            f"the dashboard {shown} cannot be reached{' with TLS' if tls else ''} ({exc})",
            "systemctl status mamori-web で状態とログを確かめ、systemctl start mamori-web で起動します",
            "look at systemctl status mamori-web and its log; start it with systemctl start mamori-web",
            shown,
        )
    if tls:
        return Finding(
            "dashboard",
            OK,
            f"ダッシュボード {shown} は TLS（{version}）で応答します",
            f"the dashboard {shown} answers with TLS ({version})",
            target=shown,
        )
    if not address.is_loopback:
        return Finding(
            "dashboard",
            PROBLEM,
            f"ダッシュボード {shown} は TLS なしで院内に公開されています（パスワードが平文で流れます）",
            f"the dashboard {shown} is served to the LAN without TLS (passwords cross it in clear)",
            "設定ファイルの web.tls に証明書（cert）と鍵（key）を書きます",
            "set web.tls (cert, key) in the settings file",
            shown,
        )
    return Finding(
        "dashboard",
        OK,
        f"ダッシュボード {shown} は応答します（この機械の中だけ、TLS なし）",
        f"the dashboard {shown} answers (on this machine only, without TLS)",
        target=shown,
    )


_DEFAULT_PORTS = {"smtp": 587, "smtps": 465, "smtp+plain": 25, "http": 80, "https": 443, "tcp": 514, "tls": 6514}


def _endpoints(settings: Settings) -> Iterator[tuple[str, str | None, int | None]]:
    """(action name, host, port) of every action that talks to a server; host None: cannot be checked (UDP)."""
    for action in settings.actions:
        if isinstance(action, ZabbixAction):
            yield action.name, action.server, action.port
        elif action.type in ("email", "webhook", "syslog"):
            url = {"email": "smtp", "webhook": "url", "syslog": "target"}[action.type]
            parts = urlsplit(str(getattr(action, url)))
            if parts.scheme == "udp":
                yield action.name, None, None
                continue
            yield action.name, parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)


def check_endpoints(settings: Settings, timeout: float) -> list[Finding]:
    findings = []
    for name, host, port in _endpoints(settings):
        if host is None or port is None:
            findings.append(
                Finding(
                    "endpoint",
                    SKIPPED,
                    f"{name}: UDP の送り先は接続では確かめられません",
                    f"{name}: a UDP destination cannot be checked by connecting",
                    target=name,
                )
            )
            continue
        # The name and address only: a webhook's URL path may be its secret, and is never shown.
        shown = f"{name} ({host}:{port})"
        try:
            with _connect(host, port, timeout):
                pass
        except OSError as exc:
            findings.append(
                Finding(
                    "endpoint",
                    PROBLEM,
                    f"通知先 {shown} につながりません（{exc.strerror or exc}）",
                    f"the notification endpoint {shown} cannot be reached ({exc.strerror or exc})",
                    "相手のサーバが動いているか、ファイアウォールがこの機械からの接続を通すか、アドレスを確かめます",
                    "check that the server runs, that firewalls let this machine through, and the address",
                    name,
                )
            )
        else:
            findings.append(
                Finding(
                    "endpoint",
                    OK,
                    f"通知先 {shown} につながります",
                    f"the endpoint {shown} accepts connections",
                    target=name,
                )
            )
    return findings


# -- blocks still in force ------------------------------------------------------------------------------------------

_OVERDUE = 120.0  # seconds past its release time (or a release request) after which the sensor is not releasing


def _age(seconds: float) -> tuple[str, str]:
    hours = max(0, int(seconds // 3600))
    if hours >= 48:
        return f"{hours // 24} 日 {hours % 24} 時間", f"{hours // 24} d {hours % 24} h"
    if hours >= 1:
        return f"{hours} 時間", f"{hours} h"
    return f"{max(0, int(seconds // 60))} 分", f"{max(0, int(seconds // 60))} min"


def _utc_seconds(value: str | None) -> float | None:
    """A time as Django keeps it in SQLite (UTC, no zone) as seconds since the epoch."""
    if not value:
        return None
    import datetime as dt

    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC).timestamp()


def check_blocks(settings: Settings, now: float | None = None) -> list[Finding]:
    """Devices mamori has blocked and not released (``mamori_block``, read-only), each with its age: a switch port
    shut over SNMP stays shut while the sensor is stopped, and its timer runs only in the sensor. A block past its
    release time, or whose release was asked for, is a problem (the sensor is not carrying it out); otherwise a
    warning, so that nobody forgets a device cut off. Nothing when there is no table or nothing in force."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    path = settings.database_path
    now = time.time() if now is None else now
    if not path.exists():
        return []
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = connection.execute(
                "SELECT method, mac, ip, place, created_at, release_at, release_requested_at FROM mamori_block "
                "WHERE state = 'active' ORDER BY created_at"
            ).fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return []  # no table yet (a database older than blocking), or unreadable: check_database says so
    zone = ZoneInfo(settings.site.time_zone)
    findings: list[Finding] = []
    for method, mac, ip, place, created, release_at, requested in rows:
        since = _utc_seconds(created) or now
        due = _utc_seconds(release_at)
        asked = _utc_seconds(requested)
        age_ja, age_en = _age(now - since)
        when = dt.datetime.fromtimestamp(since, zone).strftime("%Y-%m-%d %H:%M")
        how_ja, how_en = ("スイッチのポート停止", "switch port shut") if method == "snmp-port" else ("ARP 隔離", "ARP")
        who = f"{mac} ({ip})" if ip else mac
        found_ja = f"{who} を遮断中です（{how_ja}、{place}、{when} から {age_ja}）"
        found_en = f"{who} is blocked ({how_en}, {place}, since {when}: {age_en})"
        overdue = (due is not None and now - due > _OVERDUE) or (asked is not None and now - asked > _OVERDUE)
        if overdue:
            found_ja += "。解除の時刻を過ぎても解除されていません（センサーが止まっている可能性があります）"
            found_en += "; it is past its release and still in force (is the sensor stopped?)"
        elif due is None:
            found_ja += "。自動では解除されません"
            found_en += "; it is not released automatically"
        fix_ja = (
            "センサー（mamori watch）を起動すると解除が行われます。機器を戻してよければダッシュボードの「遮断中の"
            "機器」で解除するか、正規の端末なら端末台帳に登録します"
        )
        fix_en = (
            "start the sensor (mamori watch), which carries releases out; to put the device back, release it on "
            "the dashboard's Blocked devices page, or register it in the terminal ledger if it is legitimate"
        )
        if not overdue:
            fix_ja = fix_ja.split("。", 1)[1]
            fix_en = fix_en.split("; ", 1)[1]
        findings.append(
            Finding("blocks", PROBLEM if overdue else WARNING, found_ja, found_en, fix_ja, fix_en, target=mac)
        )
    return findings


def run_doctor(
    settings: Settings, *, time_source: TimeSource | None = None, options: DoctorOptions | None = None
) -> list[Finding]:
    """Every check, in the order a person reads them."""
    options = options or DoctorOptions()
    findings: list[Finding] = []
    if not options.skip_capture:
        findings.extend(check_capture(settings, options.capture_seconds))
    findings.append(check_time(time_source or SystemTimeSource(), options.max_offset))
    findings.extend(check_disk(settings, options.min_free_bytes))
    findings.append(check_database(settings))
    findings.extend(check_blocks(settings))
    findings.extend(check_archive(settings))
    findings.append(check_dashboard(settings, options.connect_timeout))
    findings.extend(check_endpoints(settings, options.connect_timeout))
    return findings
