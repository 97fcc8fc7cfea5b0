# ruff: noqa: E501 - the HEASNET questions are kept one to a line, as the report words them
"""The forms: the Ministry's checklist (令和7年度版, 医療機関確認用 and 事業者確認用) and the HEASNET small-institution
construction checksheet, each item with its official number and text.

Where the text came from (docs/design.md §10, "The checklist"): the Ministry's own manual draft for 令和7年度
(資料2-3/2-4 of the 24th meeting of the 医療等情報利活用WG, 2025-03-13, https://www.mhlw.go.jp/stf/newpage_53554.html,
read through the copy at wic-net.com, material 19101/19102) gives the texts marked ``confirmed``. Items whose exact
words could not be read there are ``confirmed=False``: the product shows them with a marker (「文言未確認」) and the
note naming what was consulted, and words them from the Ministry's summary of the change, never as if quoted. No
令和8年度 edition was found in the sources consulted (searched 2026): the 令和7年度 texts are used. The HEASNET
items are copied from the HEASNET report (2007, 6.1 (2) 小規模機関型 チェックシート).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FORMS", "MEDICAL", "SOURCE_R7", "VENDOR", "Form", "Item", "form"]

SOURCE_R7 = (
    "厚生労働省「令和7年度版 医療機関におけるサイバーセキュリティ対策チェックリストマニュアル（案）」"
    "（医療等情報利活用WG 第24回 資料2-3/2-4、2025-03-13）"
)
_UNREAD = (
    "公表資料で項目の正確な文言を確認できませんでした（参照: "
    + SOURCE_R7
    + "、および令和6年度版の報道）。厚生労働省の様式で確認してください。"
    " / The exact wording could not be read in the sources consulted (the Ministry's 令和7年度 manual draft and "
    "reports of the 令和6年度 edition): check it against the Ministry's form."
)


@dataclass(frozen=True)
class Item:
    number: str  # the official number, e.g. "2-⑬" (HEASNET: "3-5-1")
    section: str
    text_ja: str
    text_en: str
    confirmed: bool = True
    note: str = ""  # where an unconfirmed text came from; what the item's scope is

    def text(self, lang: str) -> str:
        return self.text_ja if lang == "ja" else self.text_en


@dataclass(frozen=True)
class Form:
    key: str  # medical | vendor | heasnet-small
    title_ja: str
    title_en: str
    source: str
    items: tuple[Item, ...]
    target_year: str = "令和7年度"

    def title(self, lang: str) -> str:
        return self.title_ja if lang == "ja" else self.title_en

    def item(self, number: str) -> Item | None:
        return next((i for i in self.items if i.number == number), None)


_S1 = "1 体制構築 / Organisation"
_S2 = "2 医療情報システムの管理・運用 / Managing and running the systems"
_S3 = "3 インシデント発生に備えた対応 / Preparing for incidents"


def _common_2() -> list[Item]:
    return [
        Item(
            "2-①",
            _S2,
            "サーバ、端末PC、ネットワーク機器の台帳管理を行っている。（医療情報システム全般）",
            "Servers, terminal PCs and network devices are kept in a ledger. (all medical information systems)",
        ),
    ]


def _medical() -> tuple[Item, ...]:
    return (
        Item(
            "1-①",
            _S1,
            "医療情報システム安全管理責任者を設置している。",
            "A person responsible for the security of the medical information systems has been appointed.",
        ),
        *_common_2(),
        Item(
            "2-②",
            _S2,
            "リモートメンテナンス（保守）を利用している機器の有無を事業者に確認した。（医療情報システム全般）",
            "Asked the vendors which devices use remote maintenance. (all medical information systems)",
        ),
        Item(
            "2-③",
            _S2,
            "事業者から製造業者/サービス事業者による医療情報セキュリティ開示書（MDS/SDS）を提出してもらう。",
            "Have the vendors submit the manufacturer's/service provider's security disclosure (MDS/SDS).",
            note="文末（「提出してもらう」）は令和5年版の文言による / the ending follows the 2023 edition's wording",
        ),
        Item(
            "2-④",
            _S2,
            "利用者の職種・担当業務別の情報区分毎のアクセス利用権限を設定している（管理者権限の対象者を明確化）。",
            "Access rights are set per information class by the users' jobs and duties (who holds administrator "
            "rights is made clear).",
            confirmed=False,
            note=_UNREAD,
        ),
        Item(
            "2-⑤",
            _S2,
            "退職者や使用していないアカウント等、不要なアカウントを削除している。",
            "Unneeded accounts (people who left, accounts not used) are removed.",
            confirmed=False,
            note=_UNREAD,
        ),
        Item(
            "2-⑥",
            _S2,
            "セキュリティパッチ（最新ファームウェアや更新プログラム）を適用している。（医療情報システム全般）",
            "Security patches (the newest firmware and updates) are applied. (all medical information systems)",
        ),
        Item(
            "2-⑦",
            _S2,
            "パスワードは英数字、記号を混在させた8文字以上とし、定期的に変更している"
            "（二要素認証、または13文字以上の場合は定期的な変更は不要）。",
            "Passwords are 8 characters or more mixing letters, digits and symbols, and changed periodically (not "
            "needed with two-factor authentication or 13 characters or more).",
            confirmed=False,
            note=_UNREAD,
        ),
        Item(
            "2-⑧",
            _S2,
            "パスワードの使い回しを禁止している。（医療情報システム全般）",
            "Reusing passwords is forbidden. (all medical information systems)",
        ),
        Item(
            "2-⑨",
            _S2,
            "USBストレージ等の外部記録媒体の接続を制限している。",
            "Connecting external storage such as USB storage is restricted.",
            confirmed=False,
            note=_UNREAD,
        ),
        Item(
            "2-⑩",
            _S2,
            "二要素認証を実装している（令和9年度までの実装を目標）。",
            "Two-factor authentication is implemented (target: by 令和9年度, FY2027).",
            confirmed=False,
            note=_UNREAD,
        ),
        Item(
            "2-⑪",
            _S2,
            "運用管理規程等を整備している。",
            "Operating rules (運用管理規程) are in place.",
            confirmed=False,
            note="項目の番号と文言は令和7年度の追加項目の概要からの推定 / number and wording inferred from the "
            "summary of the items added in 令和7年度. " + _UNREAD,
        ),
        Item(
            "2-⑫",
            _S2,
            "バックグラウンドで動作している不要なソフトウェア及びサービスを停止している。（サーバ、端末PC）",
            "Unneeded software and services running in the background are stopped. (servers, terminal PCs)",
        ),
        Item(
            "2-⑬",
            _S2,
            "接続元制限を実施している。（ネットワーク機器）",
            "Connections are restricted by their source. (network devices)",
        ),
        Item(
            "3-①",
            _S3,
            "組織内と外部関係機関（事業者、厚生労働省、警察等）への連絡体制図がある。",
            "There is a contact chart within the organisation and to outside bodies (vendors, the Ministry, the "
            "police).",
            confirmed=False,
            note=_UNREAD,
        ),
        Item(
            "3-②",
            _S3,
            "インシデント発生時に診療を継続するために必要な情報を検討し、データやシステムのバックアップの実施と"
            "復旧手順を確認している。",
            "The information needed to keep treating patients in an incident has been worked out, backups of data "
            "and systems are taken and the restore procedure is confirmed.",
            confirmed=False,
            note="令和6年度版の報道（社会保険研究所, 2024-05-13）の文言 / wording as reported for the 令和6年度 "
            "edition. " + _UNREAD,
        ),
        Item(
            "3-③",
            _S3,
            "サイバー攻撃を想定した事業継続計画（BCP）を策定している。",
            "A business continuity plan (BCP) for a cyber attack has been drawn up.",
            confirmed=False,
            note=_UNREAD,
        ),
    )


def _vendor() -> tuple[Item, ...]:
    """The vendor form: the manual's items 1 and 2 are 【医療機関確認用・事業者確認用】; where the vendor's wording
    differs and could not be read, the item is marked unconfirmed."""
    by_number = {i.number: i for i in _medical()}
    vendor_note = (
        "事業者確認用の文言は確認できませんでした。医療機関確認用の文言を示します / the vendor form's own wording "
        "could not be read; the medical institution form's is shown. " + _UNREAD
    )
    out: list[Item] = []
    for item in _medical():
        if item.number == "2-②":
            out.append(
                Item(
                    "2-②",
                    _S2,
                    "リモートメンテナンス（保守）を利用している機器の有無を医療機関に報告した。",
                    "Told the medical institution which devices use remote maintenance.",
                    confirmed=False,
                    note=vendor_note,
                )
            )
        elif item.number == "2-③":
            out.append(
                Item(
                    "2-③",
                    _S2,
                    "医療機関に製造業者/サービス事業者による医療情報セキュリティ開示書（MDS/SDS）を提出した。",
                    "Submitted the manufacturer's/service provider's security disclosure (MDS/SDS) to the "
                    "medical institution.",
                    note="令和5年版の事業者確認用の文言 / the 2023 edition's vendor wording",
                )
            )
        elif item.number.startswith("3-"):
            out.append(Item(item.number, item.section, item.text_ja, item.text_en, confirmed=False, note=vendor_note))
        else:
            out.append(by_number[item.number])
    return tuple(out)


_H1 = "1 通信形態 / Connections"
_H2 = "2 通信ポリシー / Communication policy"
_H3 = "3 拠点内のセキュリティ / Security inside the site"
_H4 = "4 サービス運用例 / Services"


def _heasnet_small() -> tuple[Item, ...]:
    rows = (
        (
            "1-1-1",
            _H1,
            "異なる法人の大規模機関型拠点と接続する場合、接続する大規模機関型拠点は「大規模機関型 チェックシート」の項目を満たしていますか?",
            "When connecting to a large institution of another organisation, does it meet the large-institution checksheet?",
        ),
        (
            "1-1-2",
            _H1,
            "サービスプロバイダと接続する場合、接続するサービスプロバイダは「サービスプロバイダ チェックシート」の項目を満たしていますか?",
            "When connecting to a service provider, does it meet the service-provider checksheet?",
        ),
        (
            "1-1-3",
            _H1,
            "異なる法人の小規模機関型拠点と接続する場合、接続する小規模機関型拠点は「小規模機関型 チェックシート」の項目を満たしていますか?",
            "When connecting to a small institution of another organisation, does it meet the small-institution checksheet?",
        ),
        (
            "2-1-1",
            _H2,
            "アクセス回線または中継回線に共用型ネットワークが使用されていますか?",
            "Is a shared network used for the access or transit line?",
        ),
        (
            "2-2-1",
            _H2,
            "同一法人以外の複数拠点と接続する場合、不正な中継を禁止していますか?",
            "When connecting to several sites of other organisations, is unauthorised relaying forbidden?",
        ),
        ("2-2-2", _H2, "IKE でユーザ認証を行っていますか?", "Is user authentication done in IKE?"),
        (
            "2-2-3",
            _H2,
            "IKE の認証は公開鍵または自動鍵配送機能を持った共通鍵方式ですか?",
            "Is IKE authentication by public key or by shared key with automatic key distribution?",
        ),
        (
            "2-2-4",
            _H2,
            "セッション毎に共通鍵を自動決定していますか?",
            "Is a shared key decided automatically for each session?",
        ),
        ("2-2-5", _H2, "IPSec による暗号化を行っていますか?", "Is traffic encrypted with IPsec?"),
        ("2-2-6", _H2, "IPSec でメッセージ認証を行っていますか?", "Are messages authenticated with IPsec?"),
        (
            "2-3-1",
            _H2,
            "接続先拠点と通信に関して合意がなされていますか?",
            "Is there an agreement on the communication with the sites connected to?",
        ),
        (
            "2-3-2",
            _H2,
            "他拠点への接続先をアドレス・ポート等で制限していますか?",
            "Are destinations at other sites restricted by address and port?",
        ),
        (
            "2-3-3",
            _H2,
            "他拠点からの接続元をアドレス・ポート等で制限していますか?",
            "Are sources from other sites restricted by address and port?",
        ),
        (
            "2-3-4",
            _H2,
            "ロギングによりアクセス監視（接続先・接続元）を行っていますか?",
            "Is access monitored by logging (destinations and sources)?",
        ),
        (
            "3-1-1",
            _H3,
            "電子カルテ検査データ等の重要なデータを処理蓄積する機能は High Secure Zone に配置していますか?",
            "Are the functions that process and store important data (EMR, test data) placed in the High Secure Zone?",
        ),
        (
            "3-1-2",
            _H3,
            "業務用端末インターネット接続用端末は Secure Zone に配置していますか?",
            "Are business terminals and internet terminals placed in the Secure Zone?",
        ),
        (
            "3-2-1",
            _H3,
            "外部から High Secure Zone, Secure Zone への接続を禁止していますか?",
            "Are connections from outside to the High Secure Zone and the Secure Zone forbidden?",
        ),
        (
            "3-2-2",
            _H3,
            "他拠点との接続合意がなされている通信のみを許可していますか?",
            "Is only the communication agreed with other sites allowed?",
        ),
        (
            "3-3-1",
            _H3,
            "接続の起点を High Secure Zone とした Secure Zone への直接アクセスを禁止していますか?",
            "Is direct access started from the High Secure Zone to the Secure Zone forbidden?",
        ),
        (
            "3-3-2",
            _H3,
            "インターネット接続を禁止していますか?（High Secure Zone）",
            "Is connecting to the internet forbidden? (High Secure Zone)",
        ),
        (
            "3-3-3",
            _H3,
            "各ホストでウィルスチェックを行っていますか?（High Secure Zone）",
            "Does each host check for viruses? (High Secure Zone)",
        ),
        (
            "3-4-1",
            _H3,
            "インターネットへの HTTP 接続のサイト制限をしていますか?",
            "Are HTTP connections to the internet restricted to certain sites?",
        ),
        (
            "3-4-2",
            _H3,
            "各ホストでウィルスチェックを行っていますか?（Secure Zone）",
            "Does each host check for viruses? (Secure Zone)",
        ),
        (
            "3-5-1",
            _H3,
            "接続の起点を Secure Zone から行い、プロキシ機能を経由していますか?（High Secure Zone と Secure Zone 間の通信）",
            "Are connections started from the Secure Zone, through a proxy? (between the High Secure Zone and the Secure Zone)",
        ),
        (
            "3-5-2",
            _H3,
            "プロキシ機能でロギングを行い、アクセスを監視していますか?",
            "Does the proxy log and is access monitored?",
        ),
        (
            "3-5-3",
            _H3,
            "Secure Zone からの接続をアドレス・ポートで制限していますか?",
            "Are connections from the Secure Zone restricted by address and port?",
        ),
        (
            "3-6-1",
            _H3,
            "セキュリティパッチなどの更新機能を拠点内に装備していますか?",
            "Is there an update service for security patches inside the site?",
        ),
        (
            "4-1-1",
            _H4,
            "医療機関向けの情報（診療記録、検査データ、診療サマリ、健診データ等）の提供サービスを利用する場合、アクセスするホストを限定していますか?",
            "When using a service that provides information to medical institutions, are the hosts that access it limited?",
        ),
        (
            "4-1-2",
            _H4,
            "医療機関向けの情報の提供サービスを利用する場合、取得したデータは High Secure Zone に格納していますか?",
            "When using such a service, is the data obtained stored in the High Secure Zone?",
        ),
        (
            "4-2-1",
            _H4,
            "外部保存サービスプロバイダが起点の接続を禁止していますか?",
            "Are connections started by the external storage provider forbidden?",
        ),
        (
            "4-2-2",
            _H4,
            "外部保存を利用するホストは High Secure Zone から接続していますか?",
            "Do the hosts using external storage connect from the High Secure Zone?",
        ),
        (
            "4-3-1",
            _H4,
            "外部からの医療機器への接続をリモート保守サービスのみに制限していますか?",
            "Are connections from outside to medical devices limited to the remote maintenance service?",
        ),
    )
    return tuple(Item(n, s, ja, en) for n, s, ja, en in rows)


MEDICAL = Form(
    "medical",
    "医療機関におけるサイバーセキュリティ対策チェックリスト（医療機関確認用）",
    "Cybersecurity checklist for medical institutions (for the medical institution)",
    SOURCE_R7,
    _medical(),
)
VENDOR = Form(
    "vendor",
    "医療機関におけるサイバーセキュリティ対策チェックリスト（事業者確認用）",
    "Cybersecurity checklist for medical institutions (for the vendor)",
    SOURCE_R7,
    _vendor(),
)
HEASNET_SMALL = Form(
    "heasnet-small",
    "HEASNET 小規模機関型 チェックシート（構築時の確認事項）",
    "HEASNET construction checksheet, small institution",
    "HEASNET「医療情報システムの安全管理に関するガイドラインの実装事例に関する報告書」(2007) 6.1 (2)",
    _heasnet_small(),
    target_year="",
)
FORMS = {f.key: f for f in (MEDICAL, VENDOR, HEASNET_SMALL)}


def form(key: str) -> Form:
    """The form of ``key`` (``vendor:<name>`` is the vendor form); unknown keys fail with the known ones."""
    base = key.split(":", 1)[0]
    if base not in FORMS:
        raise KeyError(f"unknown checklist form {key!r}; known: {', '.join(FORMS)} (vendor:<name>)")
    return FORMS[base]
