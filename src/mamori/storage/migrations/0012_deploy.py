# Written for issue 17 (deployment): the findings of the last `mamori doctor` run.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("storage", "0011_checklist"),
    ]

    operations = [
        migrations.CreateModel(
            name="SelfCheckRecord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("item", models.CharField(max_length=32)),
                ("target", models.CharField(blank=True, default="", max_length=255)),
                ("status", models.CharField(max_length=8)),
                ("found_ja", models.TextField()),
                ("found_en", models.TextField()),
                ("fix_ja", models.TextField(blank=True, default="")),
                ("fix_en", models.TextField(blank=True, default="")),
                ("checked_at", models.DateTimeField()),
            ],
            options={
                "db_table": "mamori_self_check",
                "ordering": ["id"],
            },
        ),
    ]
