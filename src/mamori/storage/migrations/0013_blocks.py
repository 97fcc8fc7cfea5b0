from django.db import migrations, models


class Migration(migrations.Migration):
    # The chain's current end; the merge re-points this to the migration before it (docs/design.md, blocking).
    dependencies = [
        ("storage", "0012_deploy"),
    ]

    operations = [
        migrations.CreateModel(
            name="BlockRow",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("block_id", models.CharField(max_length=32, unique=True)),
                ("method", models.CharField(max_length=16)),
                ("action", models.CharField(max_length=64)),
                ("alert_uid", models.CharField(max_length=64)),
                ("rule", models.CharField(max_length=64)),
                ("mac", models.CharField(max_length=17)),
                ("ip", models.CharField(blank=True, max_length=45, null=True)),
                ("state", models.CharField(max_length=16)),
                ("place", models.CharField(blank=True, default="", max_length=512)),
                ("port_name", models.CharField(blank=True, default="", max_length=255)),
                ("port_descr", models.CharField(blank=True, default="", max_length=255)),
                ("reason", models.CharField(blank=True, default="", max_length=32)),
                ("detail", models.TextField(blank=True, default="")),
                ("created_at", models.DateTimeField()),
                ("release_at", models.DateTimeField(blank=True, null=True)),
                ("released_at", models.DateTimeField(blank=True, null=True)),
                ("released_by", models.CharField(blank=True, default="", max_length=150)),
                ("release_requested_at", models.DateTimeField(blank=True, null=True)),
                ("release_requested_by", models.CharField(blank=True, default="", max_length=150)),
                ("restore", models.JSONField(default=dict)),
            ],
            options={
                "db_table": "mamori_block",
                "indexes": [
                    models.Index(fields=["state"], name="mamori_block_state"),
                    models.Index(fields=["created_at"], name="mamori_block_created"),
                ],
            },
        ),
    ]
