"""The rules about mamori itself: the parts an office relies on stopped doing their job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details

__all__ = ["ARCHIVE_ERROR", "RULES"]

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

RULES = (ARCHIVE_ERROR,)
