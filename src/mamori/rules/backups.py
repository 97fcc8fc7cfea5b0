"""The backup rules: a backup not taken in time, too few generations kept, backups or shadow copies deleted (what
ransomware does first), and the copy meant to be offline seen on the network outside its window.

The Ministry's 2023 training (Osaka) asks for 3-2-1 backups with an offline or immutable copy; the Ministry's
checklist item 3-② asks for backups taken, several generations by more than one method, and a confirmed restore
procedure. Times in details are ISO 8601 text with the offset of the machine that checked (a person reads them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mamori.model import Severity
from mamori.rules.catalogue import Rule, Summary, Text
from mamori.rules.details import Details
from mamori.rules.windows import WindowsDetails
from mamori.rules.words import listed

__all__ = [
    "BACKUP_DELETED",
    "BACKUP_GENERATIONS",
    "BACKUP_MISSED",
    "BACKUP_OFFLINE_EXPOSED",
    "DELETION_KINDS",
    "KIND_WORDS",
    "RULES",
    "hours_text",
]

KIND_WORDS: dict[str, tuple[str, str]] = {
    "folder": ("フォルダ", "folder"),
    "restic": ("restic リポジトリ", "restic repository"),
    "borg": ("borg リポジトリ", "borg repository"),
    "wsb": ("Windows Server Backup", "Windows Server Backup"),
}

# What a deletion took away, by the code the backup-deleted rule writes.
DELETION_KINDS: dict[str, tuple[str, str]] = {
    "shadow-copies": ("シャドウコピーの削除", "shadow copies deleted"),
    "shadow-storage": ("シャドウコピー領域の縮小", "shadow copy storage shrunk"),
    "catalog": ("バックアップカタログの削除", "backup catalog deleted"),
    "system-state": ("システム状態バックアップの削除", "system state backups deleted"),
    "backups": ("バックアップの削除", "backups deleted"),
    "recovery": ("Windows 回復機能の無効化", "Windows recovery disabled"),
}


def hours_text(hours: float | None, lang: str) -> str:
    """``26.5`` -> "26.5 時間" / "26.5 h"; whole days from 48 h ("3 日" / "3 days")."""
    if hours is None:
        return "?"
    if 0 < hours < 1:
        minutes = max(1, round(hours * 60))
        return f"{minutes} 分" if lang == "ja" else f"{minutes} min"
    if hours >= 48 and abs(hours / 24 - round(hours / 24)) < 0.05:
        days = round(hours / 24)
        return f"{days} 日" if lang == "ja" else f"{days} days"
    value = f"{hours:,.1f}".removesuffix(".0")
    return f"{value} 時間" if lang == "ja" else f"{value} h"


def _kind(kind: str | None, lang: str) -> str:
    words = KIND_WORDS.get(kind or "", (kind or "?", kind or "?"))
    return words[0 if lang == "ja" else 1]


# -- backup-missed ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BackupMissedDetails(Details):
    job: str | None = None
    kind: str | None = None
    what: str | None = None
    every_hours: float | None = None
    margin_hours: float | None = None
    last_success: str | None = None
    age_hours: float | None = None
    last_failure: str | None = None
    failure: str | None = None
    error: str | None = None
    recovered_at: str | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        return {
            "every": hours_text(self.every_hours, lang),
            "age": hours_text(self.age_hours, lang),
            "how": _kind(self.kind, lang),
            "failed": (
                (
                    f"。最後の失敗: {self.last_failure}（{self.failure}）"
                    if lang == "ja"
                    else f"; last failure: {self.last_failure} ({self.failure})"
                )
                if self.last_failure
                else ""
            ),
        }


BACKUP_MISSED = Rule(
    id="backup-missed",
    category="backup",
    severity=Severity.HIGH,
    title=Text("バックアップの未実施", "Backup missed"),
    short=Text(
        "予定の間隔（と猶予）を過ぎても、バックアップの成功が確認できません。",
        "No successful backup within the job's schedule plus its margin.",
    ),
    meaning=Text(
        "設定したバックアップ（backups）について、予定の間隔（every）に猶予（margin）を足した時間を過ぎても、成功した"
        "バックアップが見つかりません。フォルダの最新ファイルの時刻、restic・borg のスナップショット、Windows Server "
        "Backup の成功イベント（ID 4）で確かめています。バックアップ先を読めない（NAS が外れている、パスワードが違う）"
        "場合もこのアラートになり、理由が「エラー」に出ます。バックアップがないと、ランサムウェアや故障のときに"
        "診療データを戻せません。成功が確認されると同じアラートに「回復」が付きます。",
        "For a declared backup job, no successful backup was found within its interval (every) plus its margin: "
        "mamori looks at the newest file of the folder, the restic or borg snapshots, or Windows Server Backup's "
        "success event (ID 4). When the evidence cannot be read (the NAS is not mounted, a wrong password) the alert "
        "says why under Error. Without a recent backup, patient data cannot be brought back after ransomware or a "
        "failure. When a success is seen again, the same alert is marked recovered.",
    ),
    response=Text(
        "バックアップソフトのログと、バックアップ先の空き容量・接続を確認し、手動でバックアップを取ります。失敗"
        "イベントが出ている場合はその番号で原因を調べます（517・521 など）。予定が変わったときは設定の every・margin "
        "を直します。",
        "Check the backup software's log, the destination's free space and connection, and run a backup by hand. If "
        "a failure event is shown, look up its number (517, 521...). If the schedule changed, adjust every/margin in "
        "the settings.",
    ),
    details=BackupMissedDetails,
    summaries=(
        Summary(
            ja="バックアップ「{job}」の成功を {recovered_at} に確認しました（回復）",
            en="Backup “{job}”: a success was seen at {recovered_at} (recovered)",
            when=lambda a: bool(a.details.recovered_at),
            system=False,
        ),
        Summary(
            ja="バックアップ「{job}」（{how}）を確認できません: {error}",
            en="Backup “{job}” ({how}) cannot be checked: {error}",
            when=lambda a: bool(a.details.error),
            system=False,
        ),
        Summary(
            ja="バックアップ「{job}」（{how}）の成功が一度も確認できません（{every} ごとの予定）{failed}",
            en="Backup “{job}” ({how}): no success seen at all (due every {every}){failed}",
            when=lambda a: not a.details.last_success,
            system=False,
        ),
        Summary(
            ja="バックアップ「{job}」（{how}）が {age} 成功していません（{every} ごとの予定、最後の成功 "
            "{last_success}）{failed}",
            en="Backup “{job}” ({how}) has not succeeded for {age} (due every {every}; last success "
            "{last_success}){failed}",
            system=False,
        ),
    ),
)


# -- backup-generations -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BackupGenerationsDetails(Details):
    job: str | None = None
    kind: str | None = None
    generations: int | None = None
    expected: int | None = None
    newest: str | None = None
    oldest: str | None = None
    recovered_at: str | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        return {"how": _kind(self.kind, lang)}


BACKUP_GENERATIONS = Rule(
    id="backup-generations",
    category="backup",
    severity=Severity.MEDIUM,
    title=Text("バックアップの世代不足", "Too few backup generations"),
    short=Text(
        "保存されているバックアップの世代が、設定した数より少ない。",
        "Fewer backup generations are kept than declared.",
    ),
    meaning=Text(
        "バックアップ先に残っている世代（フォルダの項目、スナップショット、アーカイブ）が、設定した世代数"
        "（generations）より少なくなっています。世代が少ないと、気づかないうちに壊れたり暗号化されたりしたデータしか"
        "残っていないことがあります（世代管理）。急に減った場合は、誰かが消した可能性があります。",
        "The backup destination holds fewer generations (folder entries, snapshots, archives) than declared "
        "(generations). With few generations, only data already damaged or encrypted may be left when it is "
        "noticed. A sudden drop may mean somebody deleted them.",
    ),
    response=Text(
        "バックアップの保持設定（何世代残すか）と、バックアップ先の空き容量を確認します。減った理由が分からない"
        "ときは、バックアップ先へのアクセス記録を調べ、ほかのアラート（バックアップの削除）と合わせて見ます。",
        "Check the backup's retention setting and the destination's free space. If the drop has no known reason, "
        "look at who accessed the destination, together with other alerts (backups deleted).",
    ),
    details=BackupGenerationsDetails,
    summaries=(
        Summary(
            ja="バックアップ「{job}」の世代数が {recovered_at} に戻りました（回復）",
            en="Backup “{job}”: generations back to the declared number at {recovered_at} (recovered)",
            when=lambda a: bool(a.details.recovered_at),
            system=False,
        ),
        Summary(
            ja="バックアップ「{job}」（{how}）の世代が {generations} 個しかありません（{expected} 世代を保つ設定）",
            en="Backup “{job}” ({how}) keeps only {generations} generation(s) ({expected} declared)",
            system=False,
        ),
    ),
)


# -- backup-deleted ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BackupDeletedDetails(WindowsDetails):
    actor: str | None = None
    deleted: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    commands_count: int | None = None
    event_ids: tuple[int, ...] = ()

    def words(self, lang: str) -> Mapping[str, Any]:
        names = [DELETION_KINDS.get(k, (k, k))[0 if lang == "ja" else 1] for k in self.deleted] or ["?"]
        return {"how": listed(names, len(names), lang, shown=4)}


BACKUP_DELETED = Rule(
    id="backup-deleted",
    category="windows",
    severity=Severity.CRITICAL,
    title=Text("バックアップ・シャドウコピーの削除", "Backups or shadow copies deleted"),
    short=Text(
        "シャドウコピーやバックアップカタログが削除されました（ランサムウェアの前触れ）。",
        "Shadow copies or the backup catalog were deleted (a ransomware precursor).",
    ),
    meaning=Text(
        "コンピュータでシャドウコピーの削除（vssadmin delete shadows、wmic shadowcopy delete）、バックアップカタログ"
        "やシステム状態バックアップの削除（wbadmin delete catalog / systemstatebackup）、Windows 回復機能の無効化"
        "（bcdedit recoveryenabled no）が行われたか、Windows Server Backup がカタログの削除（イベント 524）を記録"
        "しました。ランサムウェアは暗号化の直前に、戻せないようにこれらを消します。正規の作業で行うことはまれです。",
        "On a computer, shadow copies were deleted (vssadmin delete shadows, wmic shadowcopy delete), the backup "
        "catalog or system state backups were deleted (wbadmin delete catalog / systemstatebackup), Windows recovery "
        "was disabled (bcdedit recoveryenabled no), or Windows Server Backup logged its catalog deleted (event 524). "
        "Ransomware does this just before encrypting, so that nothing can be restored. Legitimate work rarely does.",
    ),
    response=Text(
        "すぐにそのコンピュータをネットワークから切り離し、オフラインのバックアップをネットワークから外したままに"
        "します。実行したアカウントを無効にし、セキュリティベンダーと医療情報システムの事業者に連絡します。正規の"
        "作業だった場合は、作業者と日時を記録します。",
        "Disconnect that computer from the network at once and keep the offline backup disconnected. Disable the "
        "account that ran it, and call your security vendor and the system's vendor. If it was planned work, record "
        "who did it and when.",
    ),
    details=BackupDeletedDetails,
    summaries=(
        Summary(
            ja="{computer} でバックアップが消されました: {how}",
            en="Backups deleted on {computer}: {how}",
            system=False,
        ),
    ),
)


# -- backup-offline-exposed -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BackupOfflineExposedDetails(Details):
    job: str | None = None
    host: str | None = None
    mac: str | None = None
    window: str | None = None
    seen_at: str | None = None
    how: str | None = None

    def words(self, lang: str) -> Mapping[str, Any]:
        window = self.window or ("なし（常にオフライン）" if lang == "ja" else "none (always offline)")
        return {"allowed": window}


BACKUP_OFFLINE_EXPOSED = Rule(
    id="backup-offline-exposed",
    category="backup",
    severity=Severity.HIGH,
    title=Text("オフラインのバックアップがネットワーク上に", "Offline backup seen online"),
    short=Text(
        "オフラインのはずのバックアップ先が、決めた時間帯の外でネットワーク上に見えました。",
        "The backup copy meant to be offline was seen on the network outside its window.",
    ),
    meaning=Text(
        "オフライン（ネットワークから切り離しておく）と設定したバックアップ先の機器が、オンラインにしてよい時間帯"
        "（online）の外で、ネットワーク上に見えました（ARP やパケットを送った）。つながったままのバックアップは、"
        "ランサムウェアに本体と一緒に暗号化されます。大阪の事例でもバックアップが暗号化され、復旧に時間がかかりました。",
        "The device holding the backup copy declared offline (kept disconnected) was seen on the network (it sent "
        "ARP or packets) outside the times it may be online. A backup left connected is encrypted by ransomware "
        "together with the rest; in the Osaka incident the backups were encrypted too, which made recovery long.",
    ),
    response=Text(
        "その機器をネットワークから外すか電源を切り、接続を自動で切り替える仕組み（スケジュール・スイッチ）が動いて"
        "いるか確認します。作業でつないだ場合は作業者と時刻を記録します。時間帯が変わったときは設定の online を"
        "直します。",
        "Disconnect or switch off the device, and check that whatever connects it on a schedule works. If it was "
        "connected for work, record who and when. If the window changed, adjust online in the settings.",
    ),
    details=BackupOfflineExposedDetails,
    summaries=(
        Summary(
            ja="オフラインのはずのバックアップ先 {host}（{job}）が {seen_at} にネットワーク上に見えました"
            "（オンラインにしてよい時間帯: {allowed}）",
            en="The offline backup {host} (“{job}”) was seen on the network at {seen_at} (allowed online: {allowed})",
            system=False,
        ),
    ),
)

RULES = (BACKUP_MISSED, BACKUP_GENERATIONS, BACKUP_DELETED, BACKUP_OFFLINE_EXPOSED)
