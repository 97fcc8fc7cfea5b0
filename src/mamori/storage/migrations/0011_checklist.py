# The asset ledger from observation and the Ministry's checklist answers (issue 13).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("storage", "0010_backups"),
    ]

    operations = [
        migrations.CreateModel(
            name="AssetRecord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("mac", models.CharField(max_length=17, unique=True)),
                ("ips", models.JSONField(default=list)),
                ("services", models.JSONField(default=list)),
                ("many_ips", models.BooleanField(default=False)),
                ("first_seen", models.DateTimeField()),
                ("last_seen", models.DateTimeField()),
                (
                    "status",
                    models.CharField(
                        choices=[("unreviewed", "Unreviewed"), ("confirmed", "Confirmed"), ("retired", "Retired")],
                        default="unreviewed",
                        max_length=16,
                    ),
                ),
                ("name", models.CharField(blank=True, default="", max_length=200)),
                ("note", models.TextField(blank=True, default="")),
                ("reviewed_by", models.CharField(blank=True, default="", max_length=150)),
                ("reviewed_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "db_table": "mamori_asset",
                "indexes": [models.Index(fields=["last_seen"], name="mamori_asset_seen")],
            },
        ),
        migrations.CreateModel(
            name="AssetComparison",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("ts", models.DateTimeField()),
                ("user", models.CharField(max_length=150)),
                ("devices", models.PositiveIntegerField(default=0)),
                ("unknown", models.PositiveIntegerField(default=0)),
                ("missing", models.PositiveIntegerField(default=0)),
                ("note", models.TextField(blank=True, default="")),
            ],
            options={
                "db_table": "mamori_asset_comparison",
                "indexes": [models.Index(fields=["ts"], name="mamori_asset_cmp_ts")],
            },
        ),
        migrations.CreateModel(
            name="ChecklistAnswer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("form", models.CharField(max_length=200)),
                ("item", models.CharField(max_length=16)),
                ("answer", models.CharField(max_length=8)),
                ("checked_on", models.DateField()),
                ("target_on", models.DateField(blank=True, null=True)),
                ("answered_by", models.CharField(max_length=150)),
                ("answered_at", models.DateTimeField()),
                ("proposed", models.CharField(blank=True, default="", max_length=8)),
                ("note", models.TextField(blank=True, default="")),
                ("evidence", models.JSONField(default=list)),
            ],
            options={
                "db_table": "mamori_checklist_answer",
                "indexes": [models.Index(fields=["form", "item", "answered_at"], name="mamori_checklist_item")],
            },
        ),
    ]
