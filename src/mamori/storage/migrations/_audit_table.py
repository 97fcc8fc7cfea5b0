"""The audit table (``mamori_audit``) is created by whichever app's migration runs first on a database: the
dashboard's 0001 (before the table moved to storage) or storage's 0014 (a sensor that never ran the dashboard).
Each creates it only when it is absent (docs/design.md, blocking)."""

from typing import Any


def create_if_absent(app_label: str) -> Any:
    def create(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(app_label, "AuditEntry")
        if model._meta.db_table not in schema_editor.connection.introspection.table_names():
            schema_editor.create_model(model)

    return create
