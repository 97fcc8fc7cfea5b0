"""Reports and output formats: alerts as JSON and text (CSV/XLSX/PDF reports come with the dashboard)."""

from mamori.reports.alert_format import alert_line, alert_to_dict, alert_to_json, iso_time, local_time

__all__ = ["alert_line", "alert_to_dict", "alert_to_json", "iso_time", "local_time"]
