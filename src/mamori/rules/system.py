"""The rules about mamori itself: the parts an office relies on stopped doing their job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details

__all__ = ["ARCHIVE_ERROR", "CHECK_NAMES", "RULES", "SELF_CHECK", "SENSOR_SILENT", "SensorSilentDetails"]

_ENOSPC = 28


@dataclass(frozen=True, kw_only=True)
class ArchiveErrorDetails(Details):
    path: str | None = None
    error: str | None = None
    errno: int | None = None
    pending: int = 0
    recovered_at: float | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        full = self.errno == _ENOSPC
        if lang == "ja":
            return {
                "reason": "ディスクの空きがありません" if full else "書き込みエラー",
                "state": "（復旧済み）" if self.recovered_at else "",
            }
        return {"reason": "disk full" if full else "write error", "state": " (recovered)" if self.recovered_at else ""}


ARCHIVE_ERROR = Rule(
    id="archive-error",
    category="system",
    severity=Severity.CRITICAL,
    title=Text("ログ保管のエラー", "Log archive error"),
    short=Text(
        "受信したログを証跡アーカイブに書けません（ディスクの空き・I/O エラー）。",
        "Received logs cannot be written to the evidence archive (disk full, I/O error).",
    ),
    meaning=Text(
        "syslog の受信（mamori collect）が、受信したログを証跡アーカイブに書けません（ディスクの空きがない、I/O "
        "エラー、読み取り専用になった）。受信は止まらず、書けなかった行はメモリに保持して毎秒書き直します。その間 "
        "TCP・TLS・RELP の送信元は一時停止させ（送信側の機器が保持します）、UDP は上限を超えると破棄して件数を記録"
        "します。書けるようになると同じアラートに「復旧済み」が付きます。",
        "The syslog collector (mamori collect) cannot write received lines to the evidence archive (disk full, an "
        "I/O error, a read-only file system). It keeps receiving: the lines are held in memory and retried every "
        "second, TCP/TLS/RELP senders are paused (their devices hold the logs), and UDP beyond the backlog limit is "
        "dropped and counted. When writing works again the same alert is marked recovered.",
    ),
    response=Text(
        "アーカイブのディスク（syslog.archive.path）の空きと状態を確認し、古いログの移動や保存期間（retention_years）"
        "の見直し、ディスクの増設をします。復旧後に mamori verify で連鎖が続いていることを確かめます。",
        "Check the archive disk (syslog.archive.path): free space, health, mount state; move old files or revise "
        "retention_years, add space. Afterwards run mamori verify to confirm the chain goes on unbroken.",
    ),
    details=ArchiveErrorDetails,
    summaries=(
        Summary(
            ja="証跡アーカイブ {path} に書き込めません（{reason}）。受信したログ {pending:,} 件を保持して再試行中です"
            "（TCP の送信元は一時停止、UDP は上限を超えると破棄されます）{state}",
            en="The evidence archive {path} cannot be written ({reason}). {pending:,} received lines are held and "
            "retried (TCP senders are paused; UDP beyond the backlog limit is dropped){state}",
        ),
    ),
)


# The checks of `mamori doctor` (mamori.runtime.doctor), by id: (Japanese, English).
CHECK_NAMES: Mapping[str, tuple[str, str]] = {
    "interface": ("監視インタフェース", "capture interface"),
    "capture-permission": ("キャプチャの権限", "capture permission"),
    "traffic": ("サーバの通信が見えるか", "traffic of the servers"),
    "time-sync": ("時刻同期", "time synchronisation"),
    "disk-space": ("ディスクの空き", "disk space"),
    "database": ("データベース", "database"),
    "archive": ("証跡アーカイブ", "evidence archive"),
    "signing-key": ("署名鍵", "signing key"),
    "key-backup": ("署名鍵のバックアップ", "signing key backup"),
    "dashboard": ("ダッシュボード（TLS）", "dashboard (TLS)"),
    "endpoint": ("通知先", "notification endpoint"),
    "blocks": ("遮断中の機器", "blocked devices"),
}


@dataclass(frozen=True, kw_only=True)
class SelfCheckDetails(Details):
    checks: tuple[str, ...] = ()  # ids of the checks that found a problem (CHECK_NAMES)
    problems: int = 0
    machine: str | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        index = 1 if lang == "en" else 0
        names = [CHECK_NAMES.get(c, (c, c))[index] for c in self.checks]
        return {"names": ("、" if lang == "ja" else ", ").join(names) or "-"}


SELF_CHECK = Rule(
    id="self-check",
    category="system",
    severity=Severity.HIGH,
    title=Text("自己点検の問題", "Self-check problem"),
    short=Text(
        "mamori doctor の点検で、監視が正しく働かない原因が見つかりました。",
        "mamori doctor found something that keeps the monitoring from working properly.",
    ),
    meaning=Text(
        "定期的な自己点検（mamori doctor）が、この機械の準備に問題を見つけました: 監視インタフェースがない・"
        "サーバの通信が見えない、キャプチャの権限がない、時刻がずれている（証跡の時刻が信頼できない）、"
        "証跡の保存期間に足りるディスクの空きがない、データベースやアーカイブに書けない・検査に失敗した、"
        "署名鍵がない・バックアップされていない、ダッシュボードや通知先（Zabbix・メール・Webhook）に"
        "つながらない、のどれかです。放置すると、攻撃があっても検知や証跡の保管ができません。",
        "The periodic self-check (mamori doctor) found a problem with this machine's setup: a capture interface "
        "is missing or does not see the servers' traffic, capture permission is lacking, the clock is off (the "
        "evidence's times cannot be trusted), the disk has no room for the archive's retention, the database or "
        "archive cannot be written or failed verification, the signing key is missing or not backed up, or the "
        "dashboard or a notification endpoint (Zabbix, e-mail, webhook) cannot be reached. Left alone, attacks "
        "go undetected or their evidence is not kept.",
    ),
    response=Text(
        "ダッシュボードの概要ページの「自己点検」か、この機械で mamori doctor を実行して、項目ごとの問題と"
        "直し方を確認し、直してから mamori doctor をもう一度実行します（すべて OK ならアラートを解決にします）。",
        "Open the Self-check section of the dashboard's overview, or run mamori doctor on this machine: each "
        "problem is listed with its fix. Fix them, run mamori doctor again, and resolve the alert when all is OK.",
    ),
    details=SelfCheckDetails,
    summaries=(
        Summary(
            ja="自己点検で {problems} 件の問題が見つかりました: {names}",
            en="The self-check found {problems} problem(s): {names}",
            system=False,
        ),
    ),
)


@dataclass(frozen=True, kw_only=True)
class SensorSilentDetails(Details):
    site: str | None = None
    packet_source: str | None = None  # none: the whole site is silent (no message of any kind)
    last_message: str | None = None  # local time, minutes, with the offset
    silent_minutes: float | None = None
    threshold_minutes: float | None = None
    resumed_at: str | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        if self.packet_source:
            what = (
                f"拠点 {self.site} のセンサー「{self.packet_source}」"
                if lang == "ja"
                else (f"Site {self.site}'s sensor “{self.packet_source}”")
            )
        else:
            what = f"拠点 {self.site}" if lang == "ja" else f"Site {self.site}"
        return {"what": what}


SENSOR_SILENT = Rule(
    id="sensor-silent",
    category="system",
    severity=Severity.HIGH,
    title=Text("センサーの応答なし（中央）", "Sensor silent (central)"),
    short=Text(
        "中央サーバーに、ある拠点（またはその監視ポート）から設定した時間以上メッセージが届いていません。",
        "The central server has heard nothing from a site (or one of its capture sources) for longer than set.",
    ),
    meaning=Text(
        "中央サーバー（mamori central）は、各拠点のセンサーから届く最後のメッセージの時刻を見ています。拠点全体から"
        "何も届かない（センサーの機械が止まった、回線が切れた、mamori publish が止まった）か、拠点は届いているのに"
        "ある監視ポートの稼働状況だけが更新されない（キャプチャが止まった）まま、設定した時間（central.silent_after、"
        "既定 10 分）を過ぎると、このアラートを 1 件出します。黙っている間は同じアラートの時刻と件数が更新され、"
        "メッセージが再び届くと「再開」を記録して解決にします。その間、その拠点の攻撃は中央に見えていません。",
        "The central server (mamori central) watches the time of the last message from each site's sensor. When "
        "nothing at all arrives from a site (the sensor machine stopped, the line is cut, mamori publish stopped), "
        "or the site speaks but one capture source's health is no longer updated (its capture stopped), for longer "
        "than set (central.silent_after, 10 minutes by default), one alert is raised. While the silence lasts the "
        "same alert's time and count are updated; when messages come again it records the resumption and is "
        "resolved. Meanwhile attacks at that site are not seen centrally.",
    ),
    response=Text(
        "その拠点の担当者に連絡し、センサーの機械が動いているか、mamori publish と mamori watch が動いているか"
        "（systemctl status）、中央への回線（NATS、TLS の証明書の期限）を確認します。センサー側では記録が送信待ちとして"
        "残っており、つながれば欠けずに届きます。",
        "Contact the site's staff: check that the sensor machine is running, that mamori publish and mamori watch "
        "run (systemctl status), and the link to the center (NATS, the TLS certificates' expiry). The sensor keeps "
        "what it could not send in its outbox; once linked again it all arrives, nothing lost.",
    ),
    details=SensorSilentDetails,
    summaries=(
        Summary(
            ja="{what} からのメッセージが {resumed_at} に再開しました（解決）",
            en="{what}: messages resumed at {resumed_at} (resolved)",
            when=lambda a: bool(a.details.resumed_at),
            system=False,
        ),
        Summary(
            ja="{what} から {silent_minutes} 分メッセージが届いていません（最後: {last_message}、しきい値 "
            "{threshold_minutes} 分）",
            en="{what}: no message for {silent_minutes} minutes (last: {last_message}; threshold "
            "{threshold_minutes} minutes)",
            system=False,
        ),
    ),
)

RULES = (ARCHIVE_ERROR, SELF_CHECK, SENSOR_SILENT)
