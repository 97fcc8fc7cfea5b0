"""The dashboard's addresses."""

from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from mamori.web.views import (
    account,
    admin,
    alerts,
    assets,
    backups,
    blocks,
    checklist,
    exposure,
    incidents,
    maintenance,
    overview,
    reports,
    terminals,
    zones,
)

urlpatterns = [
    path("", overview.overview_view, name="overview"),
    path("login/", account.login_view, name="login"),
    path("logout/", account.logout_view, name="logout"),
    path("lang/", account.set_language, name="set_language"),
    path("alerts/", alerts.alert_list, name="alerts"),
    path("alerts/export/", reports.alerts_export, name="alerts_export"),
    path("alerts/<str:uid>/", alerts.alert_detail_view, name="alert"),
    path("alerts/<str:uid>/action/", alerts.alert_action, name="alert_action"),
    path("alerts/<str:uid>/register/", alerts.register_terminal, name="register_terminal"),
    path("incidents/", incidents.incident_list, name="incidents"),
    path("incidents/<str:uid>/", incidents.incident_detail_view, name="incident"),
    path("terminals/", terminals.terminal_list, name="terminals"),
    path("terminals/edit/", terminals.terminal_edit, name="terminal_edit"),
    path("terminals/retire/", terminals.terminal_retire, name="terminal_retire"),
    path("terminals/import/", terminals.terminal_import, name="terminal_import"),
    path("terminals/export/", terminals.terminal_export, name="terminal_export"),
    path("blocks/", blocks.blocks_view, name="blocks"),
    path("blocks/release/", blocks.block_release, name="block_release"),
    path("exposure/", exposure.exposure_view, name="exposure"),
    path("exposure/approve/", exposure.exposure_approve, name="exposure_approve"),
    path("exposure/export/", exposure.exposure_export, name="exposure_export"),
    path("exposure/host/<str:host>/", exposure.exposure_host, name="exposure_host"),
    path("zones/", zones.zone_map_view, name="zones"),
    path("zones/map.svg", zones.map_download, {"fmt": "svg"}, name="zone_map_svg"),
    path("zones/map.png", zones.map_download, {"fmt": "png"}, name="zone_map_png"),
    path("zones/matrix/", zones.matrix_view, name="zone_matrix"),
    path("zones/matrix/export/", zones.matrix_export, name="zone_matrix_export"),
    path("backups/", backups.backup_list, name="backups"),
    path("backups/restore-test/", backups.restore_test, name="restore_test"),
    path("assets/", assets.asset_list, name="assets"),
    path("assets/review/", assets.asset_review, name="asset_review"),
    path("assets/compare/", assets.asset_compare, name="asset_compare"),
    path("assets/export/", assets.asset_export, name="asset_export"),
    path("checklist/", checklist.checklist_view, name="checklist"),
    path("checklist/answer/", checklist.checklist_answer, name="checklist_answer"),
    path("checklist/export/", checklist.checklist_export, name="checklist_export"),
    path("checklist/pack.zip", checklist.checklist_pack, name="checklist_pack"),
    path("reports/", reports.reports_view, name="reports"),
    path("reports/monthly.pdf", reports.monthly_pdf, name="monthly_pdf"),
    path("maintenance/", maintenance.work_report, name="work_report"),
    path("maintenance/report.pdf", maintenance.work_report_pdf, name="work_report_pdf"),
    path("maintenance/access/", maintenance.access_export, name="access_export"),
    path("maintenance/plans/", maintenance.work_plans, name="work_plans"),
    path("maintenance/plans/add/", maintenance.work_plan_add, name="work_plan_add"),
    path("maintenance/plans/cancel/", maintenance.work_plan_cancel, name="work_plan_cancel"),
    path("maintenance/vendors/export/", maintenance.vendors_export, name="vendors_export"),
    path("admin/audit/", admin.audit_view, name="audit"),
    path("admin/security/", admin.security_view, name="security"),
    path("api/overview/", overview.overview_api, name="overview_api"),
    # Browsers ask for /favicon.ico whatever the page says: answer it rather than log a 404 on every page.
    path("favicon.ico", RedirectView.as_view(url=static("mamori/favicon.svg"), permanent=True), name="favicon"),
]

handler403 = "mamori.web.views.account.forbidden"
handler404 = "mamori.web.views.account.not_found"
