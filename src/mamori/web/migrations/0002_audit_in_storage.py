from django.db import migrations


class Migration(migrations.Migration):
    # The audit log's model now belongs to storage (storage 0016_audit took the same table over): the dashboard's
    # state forgets it, the table and its rows stay (docs/design.md, blocking).
    dependencies = [
        ("web", "0001_initial"),
        ("storage", "0016_audit"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="AuditEntry")]),
    ]
