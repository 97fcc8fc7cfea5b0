"""The rules about mamori itself: the parts an office relies on stopped doing their job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details

__all__ = ["ARCHIVE_ERROR", "CHECK_NAMES", "RULES", "SELF_CHECK"]

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

RULES = (ARCHIVE_ERROR, SELF_CHECK)
