from django.db import migrations, models

from mamori.storage.migrations._audit_table import create_if_absent


class Migration(migrations.Migration):
    # The audit log moves from the dashboard's app to storage, so the sensor can write its blocks in it; the
    # table keeps its name and rows. The chain's current end; a merge re-points this (docs/design.md, blocking).
    dependencies = [
        ("storage", "0015_central"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEntry",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("ts", models.DateTimeField(auto_now_add=True)),
                        ("user", models.CharField(max_length=150)),
                        ("action", models.CharField(max_length=64)),
                        ("target", models.CharField(blank=True, default="", max_length=255)),
                        ("detail", models.TextField(blank=True, default="")),
                        ("ip", models.CharField(blank=True, default="", max_length=45)),
                    ],
                    options={
                        "db_table": "mamori_audit",
                        "indexes": [models.Index(fields=["ts"], name="mamori_audit_ts")],
                    },
                ),
            ],
        ),
        migrations.RunPython(create_if_absent("storage"), migrations.RunPython.noop),
    ]
